"""Parse one FAERS/AERS table file into Parquet, accounting for every physical line.

Bytes first: every line is read as UTF-8 when it is valid UTF-8, otherwise as Windows-1252 (Latin-1 for the
five bytes Windows-1252 leaves undefined), one line at a time; NUL bytes and carriage returns that end no
line are removed. A file needing any of that is rewritten as UTF-8 for DuckDB, and every line it changes is
kept byte for byte (``raw.decoding``); a valid UTF-8 file is read as it is, at no extra cost.

The fast path is DuckDB's CSV reader with strict settings (``$`` delimiter, no quote, no escape, no
sniffing, explicit VARCHAR columns, rejects stored): a default-quoting read can swallow a whole file
after one stray ``"`` (``ecosystem.md`` §2). Lines DuckDB rejects go through a Python repair pass that
repairs only the defects FDA published, each recognised by its exact shape in the table and quarters it
comes from; whatever else, and every row whose key is not plain digits, is kept verbatim as a reject.
The loader then checks ``lines read = rows loaded directly + lines repaired + lines rejected + blank``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pv.errors import UserError
from pv.quarters import Quarter
from pv.schema import (
    BROKEN_RECORD,
    COLUMNS,
    DATE_COLUMNS,
    DOLLAR_IN_MFR_NUM,
    GLUED_RECORDS,
    KEY_DIGITS,
    LAYOUT_LEGACY,
    UNIQUE_KEYS,
    DocumentedDefect,
    canonical_column,
    is_key_header_name,
    key_problem,
    layout_of,
)

CHUNK_BYTES = 16 << 20
_BOM = b"\xef\xbb\xbf"
# The 2004Q1 AERS copy shipped in the reference pack was re-written by R (data.table), which added a
# header column v23/v13/v3/v7 for the stray trailing "$" of every legacy data row (PROVENANCE.md).
_R_TRAILING_HEADER = re.compile(r"^v\d+$")
_TRAILING = "__trailing"
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy"

# ------------------------------------------------------------------------------------ bytes -> text
# FDA promises printable ASCII (FAQ #28), but real files carry UTF-8 and Windows text in manufacturer and
# drug names (faers_format.md §2). Windows-1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined: those
# are read as Latin-1 (the C1 control of the same number), so every byte decodes.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_WINDOWS_1252 = "".join(
    chr(byte) if byte in _CP1252_UNDEFINED else bytes([byte]).decode("cp1252") for byte in range(256)
)
ENCODING_UTF8 = "utf-8"
ENCODING_PER_LINE = "utf-8|windows-1252"  # a file some of whose lines are not valid UTF-8
RULE_WINDOWS_1252 = "windows-1252"
RULE_WINDOWS_1252_LATIN1 = "windows-1252+latin-1"
RULE_NUL_REMOVED = "nul removed"
RULE_CR_REMOVED = "lone cr removed"
# What the profiler keeps of a chunk to count it: C0 controls, DEL and the "$" delimiter.
_NOT_COUNTED = bytes(byte for byte in range(256) if not (byte < 32 or byte == 127 or byte == ord("$")))
_DIGITS = b"0123456789"
# A NUL byte, or a carriage return that does not end a line: DuckDB's CSV reader stops at the latter.
_REMOVED_CONTROLS = re.compile(rb"\x00|\r(?!\n)")


def decode_line(body: bytes) -> tuple[str, str]:
    """One line's text (line end excluded) and the rule that changed it ("" for plain UTF-8).

    NUL bytes and carriage returns are removed (the caller has taken off a CRLF's CR): they are never text
    in FAERS, and DuckDB reads a lone CR as a line end. The rest is UTF-8 when valid, else Windows-1252.
    """
    rules = []
    if b"\x00" in body:
        body = body.replace(b"\x00", b"")
        rules.append(RULE_NUL_REMOVED)
    if b"\r" in body:
        body = body.replace(b"\r", b"")
        rules.append(RULE_CR_REMOVED)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = codecs.charmap_decode(body, "strict", _WINDOWS_1252)[0]
        undefined = any(byte in _CP1252_UNDEFINED for byte in body)
        rules.insert(0, RULE_WINDOWS_1252_LATIN1 if undefined else RULE_WINDOWS_1252)
    return text, ", ".join(rules)


@dataclass(frozen=True)
class DecodedLine:
    """A line whose stored text is not a plain UTF-8 reading of its bytes (``raw.decoding``)."""

    line_no: int
    raw: bytes  # the line's bytes, line end excluded
    text: str
    rule: str


@dataclass
class FileProfile:
    """What one streaming pass over a file's bytes tells before DuckDB reads it."""

    bytes: int = 0
    sha256: str = ""
    lines: int = 0  # physical lines after the header, a last line without newline included
    dollars: int = 0  # "$" characters after the header line
    encoding: str = ENCODING_UTF8
    header: str = ""  # first line, BOM and line end removed
    nul_bytes: int = 0  # removed
    lone_crs: int = 0  # carriage returns that end no line: removed
    control_chars: int = 0  # other C0 controls and DEL (tab, form feed, ...): kept as data
    key_fields: int = 0  # leading header fields that are key columns
    digit_key_lines: int = 0  # lines after the header whose first ``key_fields`` fields hold only digits

    @property
    def needs_transcoding(self) -> bool:
        return self.encoding != ENCODING_UTF8 or self.nul_bytes > 0 or self.lone_crs > 0


class _Profiler:
    """Accumulates a FileProfile chunk by chunk so extraction and profiling share one pass."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True
        self._newlines = 0
        self._dollars = 0
        self._nul = 0
        self._cr = 0
        self._crlf = 0
        self._controls = 0
        self._last_byte = b""
        self._head = bytearray()
        self._size = 0
        self._key_fields: int | None = None  # known once the header line is complete
        self._key_pattern = b""
        self._key_tail = b""
        self._digit_key_lines = 0

    def update(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._hash.update(chunk)
        self._size += len(chunk)
        if len(self._head) < 1 << 16:
            self._head += chunk[: (1 << 16) - len(self._head)]
        if self._utf8 and not chunk.isascii():
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self._utf8 = False
        counted = chunk.translate(None, _NOT_COUNTED)
        newlines, dollars = counted.count(b"\n"), counted.count(b"$")
        nul, cr = counted.count(b"\x00"), counted.count(b"\r")
        self._newlines += newlines
        self._dollars += dollars
        self._nul += nul
        self._cr += cr
        self._controls += len(counted) - newlines - dollars - nul - cr
        if cr:
            self._crlf += chunk.count(b"\r\n")
        if self._last_byte == b"\r" and chunk[:1] == b"\n":
            self._crlf += 1
        self._last_byte = chunk[-1:]
        self._count_digit_keys(chunk)

    def _count_digit_keys(self, chunk: bytes) -> None:
        """Lines whose leading key fields hold only digits: with digits deleted they start with k "$"."""
        if self._key_fields is None:
            if b"\n" not in self._head and len(self._head) < 1 << 16:
                return  # the header line is not complete yet, and holds no data line
            names = _header_line(bytes(self._head)).decode("latin-1").split("$")
            leading = 0
            while leading < len(names) and is_key_header_name(names[leading]):
                leading += 1
            self._key_fields = leading
            self._key_pattern = b"\n" + b"$" * leading if leading else b""
        if self._key_pattern:
            keyless = self._key_tail + chunk.translate(None, _DIGITS)
            self._digit_key_lines += keyless.count(self._key_pattern)
            self._key_tail = keyless[1 - len(self._key_pattern) :]

    def finish(self) -> FileProfile:
        if self._utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._utf8 = False
        physical = self._newlines + (0 if self._last_byte in (b"\n", b"") else 1)
        first_line = bytes(self._head).split(b"\n", 1)[0]
        return FileProfile(
            bytes=self._size,
            sha256=self._hash.hexdigest(),
            lines=max(physical - 1, 0),
            dollars=self._dollars - first_line.count(b"$"),
            encoding=ENCODING_UTF8 if self._utf8 else ENCODING_PER_LINE,
            header=decode_line(_header_line(first_line))[0],
            nul_bytes=self._nul,
            lone_crs=self._cr - self._crlf,
            control_chars=self._controls,
            key_fields=self._key_fields or 0,
            digit_key_lines=self._digit_key_lines,
        )


def _header_line(head: bytes) -> bytes:
    return head.split(b"\n", 1)[0].removeprefix(_BOM).removesuffix(b"\r")


def transcode(source: Path, target: Path, controls: bool = True) -> list[DecodedLine]:
    """Write ``source`` to ``target`` as UTF-8 DuckDB can read, line by line; returns the lines changed.

    Lines that are valid UTF-8 without NUL or lone CR are copied byte for byte, so line numbers, line ends
    and a leading BOM stay as they were. ``controls`` false skips the search for NUL and lone CR (the
    profile found none).
    """
    decoded: list[DecodedLine] = []
    line_no = 1  # the line the next block starts with
    carry = b""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while True:
            chunk = reader.read(CHUNK_BYTES)
            block = carry + chunk
            if chunk:
                cut = block.rfind(b"\n") + 1
                block, carry = block[:cut], block[cut:]
            if block:
                line_no = _transcode_block(block, line_no, writer, decoded, controls)
            if not chunk:
                return decoded


def _first_utf8_error(view: memoryview, start: int) -> int:
    """Offset of the first byte at or after ``start`` that is not valid UTF-8, or -1."""
    try:
        codecs.utf_8_decode(view[start:], "strict", True)
    except UnicodeDecodeError as error:
        return start + error.start
    return -1


def _transcode_block(
    block: bytes, line_no: int, writer: BinaryIO, decoded: list[DecodedLine], controls: bool
) -> int:
    """Copy whole lines, re-writing only those with a byte problem; returns the next block's line number."""
    view = memoryview(block)
    position = 0
    utf8_error = _first_utf8_error(view, 0)
    control = _REMOVED_CONTROLS.search(block) if controls else None
    while True:
        problems = [offset for offset in (utf8_error, control.start() if control else -1) if offset >= 0]
        if not problems:
            writer.write(view[position:])
            return line_no + block.count(b"\n", position)
        bad = min(problems)
        start = max(position, block.rfind(b"\n", position, bad) + 1)
        end = block.find(b"\n", bad)
        end = len(block) if end < 0 else end
        writer.write(view[position:start])
        line_no += block.count(b"\n", position, start)
        body, ending = block[start:end], b"\n" if end < len(block) else b""
        if ending and body.endswith(b"\r"):
            body, ending = body[:-1], b"\r\n"
        bom = _BOM if line_no == 1 and body.startswith(_BOM) else b""
        text, rule = decode_line(body[len(bom) :])
        writer.write(bom + text.encode("utf-8") + ending)
        decoded.append(DecodedLine(line_no, body, text, rule))
        if not ending:
            return line_no
        position, line_no = end + 1, line_no + 1
        if 0 <= utf8_error < position:
            utf8_error = _first_utf8_error(view, position)
        if control and control.start() < position:
            control = _REMOVED_CONTROLS.search(block, position)


def count_blank_lines(stream: BinaryIO) -> int:
    """Empty lines after the header: DuckDB skips them silently, so the accounting must count them."""
    blank = 0
    tail = b""  # the last two bytes already seen, for empty lines that span chunks
    while chunk := stream.read(CHUNK_BYTES):
        window = np.frombuffer(tail + chunk, dtype=np.uint8)
        newline = window == 10
        # An empty line is a "\n" right after "\n", or after "\r" that follows "\n" (CRLF files).
        lf = newline[1:] & newline[:-1]
        crlf = newline[2:] & (window[1:-1] == 13) & newline[:-2]
        skip = len(tail)  # matches ending inside the old tail were counted with the previous chunk
        blank += int(lf[max(skip - 1, 0) :].sum()) + int(crlf[max(skip - 2, 0) :].sum())
        tail = (tail + chunk)[-2:]
    return blank


def lines_with_many_fields(path: Path, min_dollars: int, encoding: str) -> list[tuple[int, str]]:
    """Data lines holding at least ``min_dollars`` "$" characters, with their 1-based line numbers."""
    found: list[tuple[int, int, int]] = []  # (line number, start offset, end offset)
    offset = 0  # file offset of the current chunk
    line_no = 1  # number of the line the current chunk starts in
    line_start = 0  # file offset where that line starts
    carried = 0  # "$" already seen in that line
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            data = np.frombuffer(chunk, dtype=np.uint8)
            newlines = np.flatnonzero(data == 10)
            dollar = (data == 36).astype(np.int32)
            if len(newlines) == 0:
                carried += int(dollar.sum())
            else:
                starts = np.concatenate(([0], newlines[:-1] + 1))
                per_line = np.add.reduceat(dollar, starts)
                per_line[-1] = int(dollar[starts[-1] : newlines[-1] + 1].sum())
                per_line[0] += carried
                for index in np.flatnonzero(per_line >= min_dollars):
                    start = line_start if index == 0 else offset + int(starts[index])
                    found.append((line_no + int(index), start, offset + int(newlines[index])))
                line_no += len(newlines)
                line_start = offset + int(newlines[-1]) + 1
                carried = int(dollar[newlines[-1] + 1 :].sum())
            offset += len(chunk)
        if carried >= min_dollars:
            found.append((line_no, line_start, offset))
        lines = []
        for number, start, end in found:
            if number == 1:
                continue  # the header
            stream.seek(start)
            lines.append((number, stream.read(end - start).decode(encoding).rstrip("\r\n")))
    return lines


def profile_stream(stream: BinaryIO, sink: BinaryIO | None = None) -> FileProfile:
    """Profile a byte stream, copying it to ``sink`` on the way (used to extract zip members)."""
    profiler = _Profiler()
    while chunk := stream.read(CHUNK_BYTES):
        profiler.update(chunk)
        if sink is not None:
            sink.write(chunk)
    return profiler.finish()


def profile_file(path: Path) -> FileProfile:
    with open(path, "rb") as stream:
        return profile_stream(stream)


@dataclass(frozen=True)
class HeaderMap:
    """How a file's header fields map onto our canonical columns."""

    layout: str
    file_columns: tuple[str, ...]  # one name per field of a data row, in file order

    @property
    def width(self) -> int:
        return len(self.file_columns)


def map_header(table: str, header: str, file_label: str) -> HeaderMap:
    """Rename FDA's header onto our columns; an unknown column is a hard error (faers_format.md §12)."""
    names = header.split("$")
    if not header.strip():
        raise UserError(f"{file_label}: empty header line")
    if len(names) > 1 and names[-1] == "":
        names = names[:-1]  # a header ending in "$" (seen only in tool re-writes)
    layout = layout_of(names)
    if layout is None:
        raise UserError(
            f"{file_label}: unknown layout (header starts {header[:40]!r}; expected a '$'-delimited "
            "FAERS header starting with primaryid or an AERS header starting with ISR)"
        )
    columns: list[str] = []
    for position, name in enumerate(names):
        if position == len(names) - 1 and layout == LAYOUT_LEGACY and _R_TRAILING_HEADER.match(name.strip()):
            columns.append(_TRAILING)
            continue
        column = canonical_column(table, name)
        if column is None:
            raise UserError(f"{file_label}: unknown column {name.strip()!r} in the {table.upper()} header")
        if column in columns:
            raise UserError(f"{file_label}: column {name.strip()!r} appears twice in the header")
        columns.append(column)
    return HeaderMap(layout=layout, file_columns=tuple(columns))


@dataclass
class Reject:
    line_no: int
    raw_line: str
    reason: str


@dataclass
class ParseResult:
    """Rows written and the line accounting for one table file."""

    table: str
    layout: str
    encoding: str
    profile: FileProfile
    rows_direct: int = 0
    rows_from_repairs: int = 0
    lines_repaired: int = 0
    blank_lines: int = 0
    rejects: list[Reject] = field(default_factory=list)
    decoded: list[DecodedLine] = field(default_factory=list)
    duplicate_rows: int = 0  # rows identical to another row of the file, beyond the first copy
    repeated_key_rows: int = 0  # rows repeating another row's key (schema.UNIQUE_KEYS) with other values

    @property
    def rows(self) -> int:
        return self.rows_direct + self.rows_from_repairs

    @property
    def lines_rejected(self) -> int:
        return len(self.rejects)

    def log_fields(self) -> dict[str, object]:
        """This file's ``raw.ingest_log`` columns about bytes and keys."""
        return byte_log_fields(self.profile, self.decoded) | {
            "duplicate_rows": self.duplicate_rows,
            "repeated_key_rows": self.repeated_key_rows,
        }

    def settle_accounting(self, path: Path, file_label: str) -> None:
        """Every physical line is loaded, repaired, rejected or blank, or the ingest stops.

        Blank lines are counted only when the other three leave lines unexplained, so the usual case
        costs no extra pass over the file.
        """
        explained = self.rows_direct + self.lines_repaired + self.lines_rejected
        if explained != self.profile.lines:
            with open(path, "rb") as stream:
                self.blank_lines = count_blank_lines(stream)
        accounted = explained + self.blank_lines
        if accounted != self.profile.lines:
            raise UserError(
                f"{file_label}: line accounting failed: {self.profile.lines} lines read but "
                f"{self.rows_direct} loaded + {self.lines_repaired} repaired + {self.lines_rejected} "
                f"rejected + {self.blank_lines} blank = {accounted}"
            )


def byte_log_fields(profile: FileProfile, decoded: list[DecodedLine]) -> dict[str, object]:
    """How a file's bytes were read: encoding, lines decoded by the fallback, control characters."""
    return {
        "encoding": profile.encoding,
        "lines_decoded_fallback": sum(1 for line in decoded if line.rule.startswith(RULE_WINDOWS_1252)),
        "nul_bytes_removed": profile.nul_bytes,
        "lone_cr_removed": profile.lone_crs,
        "control_chars_kept": profile.control_chars,
    }


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select_list(table: str, header: HeaderMap, quarter: str) -> str:
    present = set(header.file_columns)
    parts = [f"{_sql_string(quarter)} as quarter", f"{_sql_string(header.layout)} as layout"]
    for column in COLUMNS[table]:
        parts.append(f'"{column}"' if column in present else f'null::varchar as "{column}"')
    return ", ".join(parts)


def _parquet(path: Path | str) -> str:
    # Staging paths hold "quarter=…": hive detection would overwrite the quarter column.
    return f"read_parquet({_sql_string(str(path))}, hive_partitioning = false)"


def parse_table_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    quarter: str,
    profile: FileProfile,
    out_dir: Path,
    file_label: str,
    work_dir: Path | None = None,
) -> ParseResult:
    """Write ``path``'s rows to ``out_dir/*.parquet`` (canonical columns) and account for every line.

    A file that is not plain UTF-8 is first re-written as UTF-8 in ``work_dir`` (default ``out_dir``).
    """
    header = map_header(table, profile.header, file_label)
    result = ParseResult(table=table, layout=header.layout, encoding=profile.encoding, profile=profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    readable = path
    if profile.needs_transcoding:
        readable = (work_dir or out_dir) / f".{path.name}.{uuid.uuid4().hex[:8]}.utf8"
        result.decoded = transcode(path, readable, controls=profile.nul_bytes + profile.lone_crs > 0)
    try:
        _load(con, readable, table, Quarter.parse(quarter), header, result, out_dir, file_label)
    finally:
        if readable != path:
            readable.unlink(missing_ok=True)
    return result


def _load(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    quarter: Quarter,
    header: HeaderMap,
    result: ParseResult,
    out_dir: Path,
    file_label: str,
) -> None:
    """The strict DuckDB read of a UTF-8 file, then rejects, keys, repairs, accounting and duplicates."""
    profile = result.profile
    rejects_table = f"rejects_{uuid.uuid4().hex}"
    scans_table = f"scans_{uuid.uuid4().hex}"
    column_spec = "{" + ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in header.file_columns) + "}"
    reader = (
        f"read_csv({_sql_string(str(path))}, delim='$', quote='', escape='', header=true, "
        f"auto_detect=false, columns={column_spec}, encoding='utf-8', "
        f"store_rejects=true, rejects_table={_sql_string(rejects_table)}, "
        f"rejects_scan={_sql_string(scans_table)})"
    )
    target = out_dir / "part-0.parquet"
    try:
        written = con.execute(
            f"copy (select {_select_list(table, header, str(quarter))} from {reader}) "
            f"to {_sql_string(str(target))} ({PARQUET_OPTIONS})"
        ).fetchall()
        loaded = int(written[0][0])
        # DuckDB's csv_line is cut at 10,000 characters: the lines themselves are read from the file.
        reasons = con.execute(
            f"select line, string_agg(distinct error_type, ', ') from {rejects_table} group by line"
        ).fetchall()
        if _TRAILING in header.file_columns:
            _refuse_data_in_trailing_column(con, reader, file_label)
    except duckdb.Error as error:
        raise UserError(
            f"{file_label}: DuckDB could not read the file: {str(error).splitlines()[0]}"
        ) from None
    finally:
        con.execute(f"drop table if exists {rejects_table}")
        con.execute(f"drop table if exists {scans_table}")
    texts = read_lines(path, [line_no for line_no, _ in reasons])
    rejected = [(line_no, texts[line_no], reason) for line_no, reason in reasons]
    overwide = _silently_accepted_overwide_lines(path, header, profile, rejected, loaded)
    bad_keys: list[tuple[int, str, str]] = []
    if not _keys_proven(con, target, header, profile, [text for _, text, _ in rejected], loaded):
        skip = {line_no for line_no, _, _ in rejected + overwide}
        bad_keys = _lines_with_bad_keys(path, header, skip)
    taken_out = overwide + bad_keys
    if taken_out:
        _take_out_of_load(con, target, table, header, str(quarter), [raw for _, raw, _ in taken_out], path)
    result.rows_direct = loaded - len(taken_out)
    result.rejects += [Reject(line_no, raw, reason) for line_no, raw, reason in bad_keys]
    repaired_rows = _repair_rejected_lines(table, header, quarter, sorted(rejected + overwide), result)
    if repaired_rows:
        repaired = _rows_table(table, header, str(quarter), repaired_rows)
        pq.write_table(repaired, out_dir / "part-1-repaired.parquet", compression="snappy")
    result.rejects.sort(key=lambda reject: reject.line_no)
    result.settle_accounting(path, file_label)
    result.duplicate_rows, result.repeated_key_rows = _count_repeats(con, out_dir, table)


def read_lines(path: Path, numbers: list[int]) -> dict[int, str]:
    """The text of the given 1-based physical lines of a UTF-8 file, line ends removed, verbatim.

    Chunks holding none of them are only counted.
    """
    wanted = sorted(set(numbers))
    found: dict[int, str] = {}
    first = 1  # the line ``data`` starts with
    pending = b""
    index = 0
    with open(path, "rb") as stream:
        while index < len(wanted):
            chunk = stream.read(CHUNK_BYTES)
            data = pending + chunk
            newlines = data.count(b"\n")
            lines = newlines if chunk else newlines + (1 if data else 0)  # at the end the tail is a line
            offset, line_no = 0, first
            while index < len(wanted) and wanted[index] < first + lines:
                while line_no < wanted[index]:
                    offset = data.index(b"\n", offset) + 1
                    line_no += 1
                end = data.find(b"\n", offset)
                line = data[offset : len(data) if end < 0 else end]
                found[wanted[index]] = line.removesuffix(b"\r").decode("utf-8")
                index += 1
            if not chunk:
                break
            first += newlines
            pending = data[data.rfind(b"\n") + 1 :]
    if index < len(wanted):
        raise UserError(f"{path.name}: line {wanted[index]} is not in the file")
    return found


def _keys_proven(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    header: HeaderMap,
    profile: FileProfile,
    rejected_texts: list[str],
    loaded: int,
) -> bool:
    """Whether every loaded row's keys are plain digits of a plausible length, without reading lines.

    The profile counted the lines whose leading key fields hold only digits; once the lines DuckDB
    rejected are set aside, that count must equal the rows loaded. One aggregate over the key columns
    then shows none is empty or too long. When either check fails the file is scanned line by line.
    """
    keys = [column for column in header.file_columns if column in KEY_DIGITS]
    if not keys:
        return True
    if profile.key_fields != len(keys) or header.file_columns[: len(keys)] != tuple(keys):
        return False
    elsewhere = sum(1 for text in rejected_texts if _digit_key_prefix(text, len(keys)))
    if profile.digit_key_lines - elsewhere != loaded:
        return False
    measures = ", ".join(f'count(*) - count("{c}"), coalesce(max(strlen("{c}")), 0)' for c in keys)
    values = con.execute(f"select {measures} from {_parquet(target)}").fetchall()[0]
    return all(
        values[2 * i] == 0 and values[2 * i + 1] <= KEY_DIGITS[column] for i, column in enumerate(keys)
    )


def _digit_key_prefix(text: str, key_fields: int) -> bool:
    """The profile's test for one line: at least ``key_fields`` "$", and only digits before the last."""
    fields = text.split("$", key_fields)
    return len(fields) > key_fields and all(not f or (f.isascii() and f.isdigit()) for f in fields[:-1])


def _lines_with_bad_keys(path: Path, header: HeaderMap, skip: set[int]) -> list[tuple[int, str, str]]:
    """Loaded lines whose key columns are not plain digits of a plausible length, with the reason."""
    keys = [(position, column) for position, column in enumerate(header.file_columns) if column in KEY_DIGITS]
    last = max(position for position, _ in keys)
    found = []
    with open(path, "rb") as stream:
        stream.readline()  # the header
        for line_no, line in enumerate(stream, start=2):
            if line_no in skip or not line.strip(b"\r\n"):
                continue
            fields = line.split(b"$", last + 1)
            problems = [
                problem
                for position, column in keys
                if (problem := key_problem(column, fields[position].decode("utf-8").removesuffix("\r\n")))
            ]
            if problems:
                text = line.decode("utf-8").removesuffix("\n").removesuffix("\r")
                found.append((line_no, text, "BAD KEY: " + "; ".join(problems)))
    return found


def _take_out_of_load(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    table: str,
    header: HeaderMap,
    quarter: str,
    lines: list[str],
    path: Path,
) -> None:
    """Remove the rows DuckDB loaded from ``lines`` from the Parquet file, one copy per line."""
    as_loaded = [raw.split("$")[: header.width] for raw in lines]
    removal = _rows_table(table, header, quarter, as_loaded)
    con.register("rows_taken_out", removal)
    kept = target.with_name("part-0.kept.parquet")
    try:
        remaining = con.execute(
            f"copy (select * from {_parquet(target)} except all select * from rows_taken_out) "
            f"to {_sql_string(str(kept))} ({PARQUET_OPTIONS})"
        ).fetchall()[0][0]
    finally:
        con.unregister("rows_taken_out")
    before = con.execute(f"select count(*) from {_parquet(target)}").fetchall()[0][0]
    if before - remaining != len(lines):
        raise UserError(f"{path.name}: could not take {len(lines)} lines back out of the load")
    kept.replace(target)


def _count_repeats(con: duckdb.DuckDBPyConnection, out_dir: Path, table: str) -> tuple[int, int]:
    """Verbatim duplicate rows and rows repeating a key with other values, exactly.

    A hash of the key over every row shows whether any key repeats; only then are the rows of repeated
    keys compared column by column.
    """
    parts = _parquet(out_dir / "*.parquet")
    key = ", ".join(f'"{column}"' for column in UNIQUE_KEYS[table])
    rows, distinct_hashes = con.execute(
        f"select count(*), count(distinct hash({key})) from {parts}"
    ).fetchall()[0]
    if rows == distinct_hashes:
        return 0, 0
    every = ", ".join(f'"{column}"' for column in COLUMNS[table])
    same_key = " and ".join(f'p."{c}" is not distinct from r."{c}"' for c in UNIQUE_KEYS[table])
    in_groups, groups, distinct_rows = con.execute(
        f"with repeated as (select {key} from {parts} group by all having count(*) > 1), "
        f"candidates as (select p.* from {parts} p semi join repeated r on {same_key}) "
        f"select count(*), count(distinct row({key})), count(distinct row({every})) from candidates"
    ).fetchall()[0]
    return in_groups - distinct_rows, distinct_rows - groups


OVERWIDE = "EXTRA EMPTY FIELDS"


def _expected_dollars(header: HeaderMap) -> int:
    """'$' per well-formed data line: legacy AERS rows end with one more than the header has."""
    legacy_trailing = header.layout == LAYOUT_LEGACY and _TRAILING not in header.file_columns
    return header.width if legacy_trailing else header.width - 1


def _silently_accepted_overwide_lines(
    path: Path,
    header: HeaderMap,
    profile: FileProfile,
    rejected: list[tuple[int, str, str]],
    accepted: int,
) -> list[tuple[int, str, str]]:
    """Lines DuckDB loaded although they had extra fields; the caller takes them back out of the load.

    DuckDB 2.0 drops trailing empty fields beyond the schema without a reject, even in strict mode, so a
    line with a stray "$" and empty last fields loads shifted by one column. Each accepted line holds at
    least the expected number of "$"; when the file's "$" count shows none holds more (the usual FAERS
    case) nothing needs scanning, otherwise the lines are found exactly and re-examined like rejects.
    """
    expected = _expected_dollars(header)
    in_rejects = {line_no for line_no, _, _ in rejected}
    excess = profile.dollars - sum(raw.count("$") for _, raw, _ in rejected) - expected * accepted
    if excess == 0 and header.layout != LAYOUT_LEGACY:
        return []
    return [
        (line_no, raw, OVERWIDE)
        for line_no, raw in lines_with_many_fields(path, expected + 1, "utf-8")
        if line_no not in in_rejects
    ]


def _refuse_data_in_trailing_column(con: duckdb.DuckDBPyConnection, reader: str, file_label: str) -> None:
    filled = con.execute(f"select count(*) from {reader} where {_TRAILING} is not null").fetchall()[0][0]
    if filled:
        raise UserError(f"{file_label}: {filled} rows hold data in the header's extra trailing column")


def _fields_of(raw: str, header: HeaderMap) -> list[str]:
    fields = raw.split("$")
    # Legacy AERS data rows end with one stray "$" the header does not have (faers_format.md §2),
    # also when the line is over-wide for another reason (run-on lines, a "$" inside a value).
    # FAERS rows never do, so there an extra empty last field is left for the rules below to judge.
    if _expected_dollars(header) == header.width and len(fields) > header.width and fields[-1] == "":
        fields.pop()
    return fields


_DATE = re.compile(r"[0-9]{4}|[0-9]{6}|[0-9]{8}")
# DEMO12Q1 line 105917 reads "...$EXP$JP-CUBIST-$E2B0000000182$CUBIST PHARMACEUTICALS, INC.$...": the "$"
# follows the "CC-SENDER-" head of a manufacturer control number and precedes one token with a digit.
_MFR_NUM_HEAD = re.compile(r"[A-Z]{2}-[^$]*-")
_MFR_NUM_TAIL = re.compile(r"[A-Za-z0-9._/-]*[0-9][A-Za-z0-9._/-]*")


def _row_problem(header: HeaderMap, fields: list[str]) -> str | None:
    """Why a row rebuilt by a repair is not a plausible row: a bad key or a date that is not one."""
    for column, value in zip(header.file_columns, fields, strict=True):
        if column in KEY_DIGITS and (problem := key_problem(column, value)):
            return problem
        if column in DATE_COLUMNS and value and not _DATE.fullmatch(value):
            return f"{column} {value[:40]!r} is not a date"
    return None


def _glued_records(fields: list[str], header: HeaderMap) -> list[list[str]] | None:
    """k whole records on one line (a legacy row ends in "$", so exactly k x width fields), each plausible."""
    width = header.width
    if header.layout != LAYOUT_LEGACY or len(fields) < 2 * width or len(fields) % width:
        return None
    parts = [fields[i : i + width] for i in range(0, len(fields), width)]
    return None if any(_row_problem(header, part) for part in parts) else parts


def _dollar_in_mfr_num(fields: list[str], header: HeaderMap) -> list[str] | None:
    """One "$" too many, inside mfr_num exactly as in DEMO12Q1, and the re-joined row is plausible."""
    if (
        header.layout != LAYOUT_LEGACY
        or "mfr_num" not in header.file_columns
        or len(fields) != header.width + 1
    ):
        return None
    at = header.file_columns.index("mfr_num")
    if not (_MFR_NUM_HEAD.fullmatch(fields[at]) and _MFR_NUM_TAIL.fullmatch(fields[at + 1])):
        return None
    merged = fields[:at] + [fields[at] + "$" + fields[at + 1]] + fields[at + 2 :]
    return None if _row_problem(header, merged) else merged


def _broken_record(raw: str, continuation: str, header: HeaderMap) -> list[str] | None:
    """A legacy record cut by a newline, the continuation starting with "$", that re-joins to one row."""
    if header.layout != LAYOUT_LEGACY or not raw or not continuation.startswith("$"):
        return None
    if len(_fields_of(raw, header)) >= header.width:
        return None
    joined = _fields_of(raw + continuation, header)
    if len(joined) != header.width or _row_problem(header, joined):
        return None
    return joined


def _repair_rejected_lines(
    table: str,
    header: HeaderMap,
    quarter: Quarter,
    rejected: Iterable[tuple[int, str, str]],
    result: ParseResult,
) -> list[list[str]]:
    """Repair the defects FDA is known to publish, each where FDA published it; reject everything else.

    Each rule matches its defect's exact shape (field count, position, plausible keys and dates); a line
    of that shape in another table or quarter is rejected with a note saying so.
    """

    def in_scope(defect: DocumentedDefect, notes: list[str]) -> bool:
        if defect.applies(table, quarter):
            return True
        notes.append(
            f"shaped like {defect.kind.replace('_', ' ')}, repaired only in {defect.table.upper()} "
            f"{defect.first}" + (f"-{defect.last}" if defect.last != defect.first else "")
        )
        return False

    lines = [(line_no, raw, reason) for line_no, raw, reason in rejected]
    repaired: list[list[str]] = []
    index = 0
    while index < len(lines):
        line_no, raw, reason = lines[index]
        fields = _fields_of(raw, header)
        notes: list[str] = []
        # Run-on lines: a missing newline glued whole records together (faers_format.md §2).
        if (parts := _glued_records(fields, header)) and in_scope(GLUED_RECORDS, notes):
            repaired.extend(parts)
            result.lines_repaired += 1
            index += 1
            continue
        if (row := _dollar_in_mfr_num(fields, header)) and in_scope(DOLLAR_IN_MFR_NUM, notes):
            repaired.append(row)
            result.lines_repaired += 1
            index += 1
            continue
        if index + 1 < len(lines) and lines[index + 1][0] == line_no + 1:
            row = _broken_record(raw, lines[index + 1][1], header)
            if row and in_scope(BROKEN_RECORD, notes):
                repaired.append(row)
                result.lines_repaired += 2
                index += 2
                continue
        legacy_trailing = _expected_dollars(header) == header.width and raw.endswith("$")
        count = raw.count("$") + 1 - legacy_trailing
        reason = f"{reason}: {count} fields, header has {header.width}"
        result.rejects.append(Reject(line_no, raw, "; ".join([reason, *notes])))
        index += 1
    result.rows_from_repairs = len(repaired)
    return repaired


def _rows_table(table: str, header: HeaderMap, quarter: str, rows: list[list[str]]) -> pa.Table:
    """Rows split in Python, in the same columns and NULL convention as DuckDB's load."""
    by_column = dict(zip(header.file_columns, zip(*rows, strict=True), strict=True))
    arrays: dict[str, pa.Array] = {
        "quarter": pa.array([quarter] * len(rows), pa.string()),
        "layout": pa.array([header.layout] * len(rows), pa.string()),
    }
    for column in COLUMNS[table]:
        values = by_column.get(column)
        # DuckDB reads an empty field as NULL; repaired rows follow the same convention.
        arrays[column] = pa.array(
            [v if v != "" else None for v in values] if values else [None] * len(rows), pa.string()
        )
    return pa.table(arrays)


def iter_lines(path: Path) -> Iterator[tuple[int, str, DecodedLine | None]]:
    """Physical lines with 1-based numbers, decoded line by line, line ends removed (small files only).

    The third item is set when the line's text is not a plain UTF-8 reading of its bytes.
    """
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            body = line.removesuffix(b"\n")
            body = body.removesuffix(b"\r") if line.endswith(b"\n") else body
            bom = _BOM if number == 1 and body.startswith(_BOM) else b""
            text, rule = decode_line(body[len(bom) :])
            yield number, text, DecodedLine(number, body, text, rule) if rule else None
