"""Parse one FAERS/AERS table file into Parquet, accounting for every physical line.

The fast path is DuckDB's CSV reader with strict settings (``$`` delimiter, no quote, no escape, no
sniffing, explicit VARCHAR columns, rejects stored): a default-quoting read can swallow a whole file
after one stray ``"`` (``ecosystem.md`` §2). Lines DuckDB rejects go through a Python repair pass for
the defects FDA is known to have published; whatever cannot be repaired is kept verbatim as a reject.
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
from pv.schema import COLUMNS, LAYOUT_LEGACY, canonical_column, layout_of

CHUNK_BYTES = 16 << 20
_BOM = b"\xef\xbb\xbf"
# The 2004Q1 AERS copy shipped in the reference pack was re-written by R (data.table), which added a
# header column v23/v13/v3/v7 for the stray trailing "$" of every legacy data row (PROVENANCE.md).
_R_TRAILING_HEADER = re.compile(r"^v\d+$")
_TRAILING = "__trailing"
# DEMO12Q1 line 105917: mfr_num "JP-CUBIST-$E2B0000000182" holds a literal "$" (faers_format.md §2).
_DOLLAR_BEARING_COLUMN = {"demo": "mfr_num"}
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy"


@dataclass
class FileProfile:
    """What one streaming pass over a file's bytes tells before DuckDB reads it."""

    bytes: int = 0
    sha256: str = ""
    lines: int = 0  # physical lines after the header, a last line without newline included
    dollars: int = 0  # "$" characters after the header line
    encoding: str = "utf-8"
    header: str = ""  # first line, BOM and line end removed


class _Profiler:
    """Accumulates a FileProfile chunk by chunk so extraction and profiling share one pass."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True
        self._newlines = 0
        self._dollars = 0
        self._last_byte = b""
        self._head = bytearray()
        self._size = 0

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
        self._newlines += chunk.count(b"\n")
        self._dollars += chunk.count(b"$")
        self._last_byte = chunk[-1:]

    def finish(self) -> FileProfile:
        if self._utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._utf8 = False
        physical = self._newlines + (0 if self._last_byte in (b"\n", b"") else 1)
        first_line = bytes(self._head).split(b"\n", 1)[0]
        encoding = "utf-8" if self._utf8 else "latin-1"
        return FileProfile(
            bytes=self._size,
            sha256=self._hash.hexdigest(),
            lines=max(physical - 1, 0),
            dollars=self._dollars - first_line.count(b"$"),
            encoding=encoding,
            header=first_line.removeprefix(_BOM).rstrip(b"\r").decode(encoding),
        )


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

    @property
    def rows(self) -> int:
        return self.rows_direct + self.rows_from_repairs

    @property
    def lines_rejected(self) -> int:
        return len(self.rejects)

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


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select_list(table: str, header: HeaderMap, quarter: str) -> str:
    present = set(header.file_columns)
    parts = [f"{_sql_string(quarter)} as quarter", f"{_sql_string(header.layout)} as layout"]
    for column in COLUMNS[table]:
        parts.append(f'"{column}"' if column in present else f'null::varchar as "{column}"')
    return ", ".join(parts)


def parse_table_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    quarter: str,
    profile: FileProfile,
    out_dir: Path,
    file_label: str,
) -> ParseResult:
    """Write ``path``'s rows to ``out_dir/*.parquet`` (canonical columns) and account for every line."""
    header = map_header(table, profile.header, file_label)
    result = ParseResult(table=table, layout=header.layout, encoding=profile.encoding, profile=profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    rejects_table = f"rejects_{uuid.uuid4().hex}"
    scans_table = f"scans_{uuid.uuid4().hex}"
    column_spec = "{" + ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in header.file_columns) + "}"
    reader = (
        f"read_csv({_sql_string(str(path))}, delim='$', quote='', escape='', header=true, "
        f"auto_detect=false, columns={column_spec}, encoding={_sql_string(profile.encoding)}, "
        f"store_rejects=true, rejects_table={_sql_string(rejects_table)}, "
        f"rejects_scan={_sql_string(scans_table)})"
    )
    target = out_dir / "part-0.parquet"
    try:
        written = con.execute(
            f"copy (select {_select_list(table, header, quarter)} from {reader}) "
            f"to {_sql_string(str(target))} ({PARQUET_OPTIONS})"
        ).fetchall()
        result.rows_direct = int(written[0][0])
        rejected = con.execute(
            f"select line, any_value(csv_line), string_agg(distinct error_type, ', ') "
            f"from {rejects_table} group by line order by line"
        ).fetchall()
        if _TRAILING in header.file_columns:
            _refuse_data_in_trailing_column(con, reader, file_label)
        rejected += _silently_accepted_overwide_lines(
            con, path, header, profile, rejected, result.rows_direct, target, table, quarter
        )
        result.rows_direct -= sum(1 for line in rejected if line[2] == OVERWIDE)
        rejected.sort()
    except duckdb.Error as error:
        raise UserError(
            f"{file_label}: DuckDB could not read the file: {str(error).splitlines()[0]}"
        ) from None
    finally:
        con.execute(f"drop table if exists {rejects_table}")
        con.execute(f"drop table if exists {scans_table}")

    repaired_rows = _repair_rejected_lines(table, header, rejected, result)
    if repaired_rows:
        repaired = _rows_table(table, header, quarter, repaired_rows)
        pq.write_table(repaired, out_dir / "part-1-repaired.parquet", compression="snappy")
    result.settle_accounting(path, file_label)
    return result


OVERWIDE = "EXTRA EMPTY FIELDS"


def _expected_dollars(header: HeaderMap) -> int:
    """'$' per well-formed data line: legacy AERS rows end with one more than the header has."""
    legacy_trailing = header.layout == LAYOUT_LEGACY and _TRAILING not in header.file_columns
    return header.width if legacy_trailing else header.width - 1


def _silently_accepted_overwide_lines(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    header: HeaderMap,
    profile: FileProfile,
    rejected: list[tuple[int, str, str]],
    accepted: int,
    target: Path,
    table: str,
    quarter: str,
) -> list[tuple[int, str, str]]:
    """Lines DuckDB loaded although they had extra fields, taken back out of the Parquet file.

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
    overwide = [
        (line_no, raw)
        for line_no, raw in lines_with_many_fields(path, expected + 1, profile.encoding)
        if line_no not in in_rejects
    ]
    if not overwide:
        return []
    as_loaded = [raw.strip("\r\n").split("$")[: header.width] for _, raw in overwide]
    removal = _rows_table(table, header, quarter, as_loaded)
    con.register("overwide_rows", removal)
    kept = target.with_name("part-0.kept.parquet")
    # The staging path holds "quarter=…": hive detection would overwrite the quarter column.
    loaded = f"read_parquet({_sql_string(str(target))}, hive_partitioning = false)"
    try:
        remaining = con.execute(
            f"copy (select * from {loaded} except all select * from overwide_rows) "
            f"to {_sql_string(str(kept))} ({PARQUET_OPTIONS})"
        ).fetchall()[0][0]
    finally:
        con.unregister("overwide_rows")
    before = con.execute(f"select count(*) from {loaded}").fetchall()[0][0]
    if before - remaining != len(overwide):
        raise UserError(f"{path.name}: could not take {len(overwide)} over-wide lines back out of the load")
    kept.replace(target)
    return [(line_no, raw, OVERWIDE) for line_no, raw in overwide]


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


# What follows the stray "$" in DEMO12Q1's mfr_num ("E2B0000000182"): one token with a digit, unlike the
# sender name that would follow a real field boundary.
_MFR_NUM_TAIL = re.compile(r"^[A-Za-z0-9._/-]*\d[A-Za-z0-9._/-]*$")


def _repair_rejected_lines(
    table: str, header: HeaderMap, rejected: Iterable[tuple[int, str, str]], result: ParseResult
) -> list[list[str]]:
    """Repair the defects FDA is known to publish; keep everything else as a reject."""
    width = header.width
    dollar_column = _DOLLAR_BEARING_COLUMN.get(table)
    dollar_index = header.file_columns.index(dollar_column) if dollar_column in header.file_columns else None
    lines = [(line_no, raw.strip("\r\n"), reason) for line_no, raw, reason in rejected]
    repaired: list[list[str]] = []
    index = 0
    while index < len(lines):
        line_no, raw, reason = lines[index]
        fields = _fields_of(raw, header)
        # Run-on lines: a missing newline glues k whole records together (DRUG11Q2 line 322967,
        # DRUG11Q3 line 247896, DRUG11Q4 line 446738); legacy rows end in "$", so the glued line
        # has exactly k x width fields.
        if line_no and len(fields) >= 2 * width and len(fields) % width == 0:
            repaired.extend(fields[i : i + width] for i in range(0, len(fields), width))
            result.lines_repaired += 1
            index += 1
            continue
        # A literal "$" inside DEMO mfr_num (DEMO12Q1 line 105917).
        if (
            dollar_index is not None
            and len(fields) == width + 1
            and _MFR_NUM_TAIL.match(fields[dollar_index + 1])
        ):
            merged = fields[:dollar_index] + [fields[dollar_index] + "$" + fields[dollar_index + 1]]
            repaired.append(merged + fields[dollar_index + 2 :])
            result.lines_repaired += 1
            index += 1
            continue
        # Legacy DEMO records broken by an embedded newline; the continuation line starts with "$"
        # (the FDBS legacy DEMO load script re-joins them).
        if index + 1 < len(lines) and len(fields) < width:
            next_no, next_raw, _ = lines[index + 1]
            if next_no == line_no + 1 and next_raw.startswith("$"):
                joined = _fields_of(raw + next_raw, header)
                if len(joined) == width:
                    repaired.append(joined)
                    result.lines_repaired += 2
                    index += 2
                    continue
        result.rejects.append(Reject(line_no, raw, _reject_reason(reason, len(fields), width)))
        index += 1
    result.rows_from_repairs = len(repaired)
    return repaired


def _reject_reason(duckdb_reason: str, found: int, width: int) -> str:
    return f"{duckdb_reason}: {found} fields, header has {width}"


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


def iter_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Physical lines with 1-based numbers, line ends removed (for small files such as deleted lists)."""
    with open(path, encoding=encoding, newline="") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            yield number, text.removeprefix("\ufeff") if number == 1 else text
