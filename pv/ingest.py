"""Ingest FAERS/AERS quarters into the Parquet lake and the DuckDB catalogue, one atomic quarter at a time."""

from __future__ import annotations

import shutil
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

import pv
from pv import download
from pv.db import BOOKKEEPING_COLUMNS, build_database
from pv.errors import UserError
from pv.lake import new_staging_dir, publish, writer_lock
from pv.parse import (
    DecodedLine,
    FileProfile,
    ParseResult,
    byte_log_fields,
    iter_lines,
    parse_table_file,
    profile_file,
    profile_stream,
)
from pv.quarters import Quarter
from pv.schema import key_problem
from pv.sources import Member, QuarterSource, discover

# Above this share of rejected lines a file is not FAERS data in a known layout: stop, keep the old state.
MAX_REJECT_FRACTION = 0.01
MIN_REJECTS_BEFORE_FAILING = 50
DUCKDB_MEMORY_LIMIT = "1500MB"

# progress(label, bytes_done_in_this_step, total_bytes_of_quarter)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LineAccount:
    """Where every physical line of one input file went."""

    layout: str
    lines: int
    blank_lines: int
    rows: int
    rows_from_repairs: int = 0
    lines_repaired: int = 0
    lines_rejected: int = 0

    @classmethod
    def of(cls, result: ParseResult) -> LineAccount:
        return cls(
            layout=result.layout,
            lines=result.profile.lines,
            blank_lines=result.blank_lines,
            rows=result.rows,
            rows_from_repairs=result.rows_from_repairs,
            lines_repaired=result.lines_repaired,
            lines_rejected=result.lines_rejected,
        )


@dataclass
class QuarterReport:
    """What one quarter's ingest loaded, repaired and rejected, file by file."""

    quarter: Quarter
    origin: str
    manifest_status: str
    tables: dict[str, LineAccount] = field(default_factory=dict)
    deleted_cases: int = 0
    missing_tables: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(account.rows for account in self.tables.values())

    @property
    def rejects(self) -> int:
        return sum(account.lines_rejected for account in self.tables.values())

    @property
    def repaired(self) -> int:
        return sum(account.lines_repaired for account in self.tables.values())


def _connect_for_parsing() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    # Row order inside a file carries no meaning in FAERS (faers_format.md §2); not preserving it lets
    # DuckDB stream the CSV-to-Parquet copy in parallel with bounded memory.
    con.execute("set preserve_insertion_order = false")
    return con


def _manifest_status(
    source: QuarterSource, manifest: dict[Quarter, download.ManifestEntry]
) -> tuple[str, str, int]:
    if not source.is_zip:
        return "not_a_zip", "", 0
    sha = download.sha256_file(source.origin)
    size = source.origin.stat().st_size
    entry = manifest.get(source.quarter)
    if entry is None:
        return "not_in_manifest", sha, size
    # FDA can replace a zip in place: a mismatch is recorded for investigation, not treated as corruption.
    return ("match" if (entry.sha256 == sha and entry.bytes == size) else "mismatch"), sha, size


def _materialise(member: Member, work_dir: Path) -> tuple[Path, FileProfile]:
    """A path DuckDB can read plus the file's profile; zip members are extracted in the same pass."""
    if member.zip_path is None:
        path = Path(member.name)
        try:
            return path, profile_file(path)
        except OSError as error:
            raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    target = work_dir / Path(member.name).name
    try:
        with (
            zipfile.ZipFile(member.zip_path) as archive,
            archive.open(member.name) as stream,
            open(target, "wb") as sink,
        ):
            profile = profile_stream(stream, sink)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        target.unlink(missing_ok=True)
        raise UserError(f"{member.label}: cannot extract, the zip is damaged ({error})") from None
    return target, profile


def _materialised_in_turn(
    members: dict[str, Member], work_dir: Path
) -> Iterator[tuple[str, Member, tuple[Path, FileProfile]]]:
    """Members with their readable path and profile, extracting the next one while the caller parses.

    DuckDB releases the GIL while it parses, so extracting and hashing file n+1 overlaps with parsing
    file n; at most one file runs ahead.
    """
    items = list(members.items())
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(_materialise, items[0][1], work_dir) if items else None
        for index, (table, member) in enumerate(items):
            current = upcoming.result()
            if index + 1 < len(items):
                upcoming = pool.submit(_materialise, items[index + 1][1], work_dir)
            yield table, member, current


def _check_rejects(result: ParseResult, label: str) -> None:
    limit = max(MIN_REJECTS_BEFORE_FAILING, MAX_REJECT_FRACTION * result.profile.lines)
    if result.lines_rejected > limit:
        first = result.rejects[0]
        raise UserError(
            f"{label}: {result.lines_rejected} of {result.profile.lines} lines rejected "
            f"(first: line {first.line_no}, {first.reason}); not a FAERS file of the expected layout?"
        )


def _parse_deleted(
    member: Member, path: Path, profile: FileProfile, quarter: Quarter
) -> tuple[list[dict], list[dict], list[DecodedLine], LineAccount]:
    """caseids of a deleted-case list; its first line may hold a single space (DELETE25Q4.txt).

    A line is a caseid when, spaces around it aside, it passes the caseid key rule; any other non-blank
    line is a reject, never a deletion.
    """
    rows, rejects, decoded, blank = [], [], [], 0
    for line_no, text, changed in iter_lines(path):
        if changed:
            decoded.append(changed)
        value = text.strip(" \t")
        if not value:
            blank += 1
        elif (problem := key_problem("caseid", value)) is None:
            rows.append(
                {"quarter": str(quarter), "caseid": value, "source_file": member.label, "line_no": line_no}
            )
        else:
            rejects.append(
                {
                    "quarter": str(quarter),
                    "table_name": "deleted_cases",
                    "source_file": member.label,
                    "line_no": line_no,
                    "raw_line": text,
                    "reason": f"not a caseid: {problem}",
                }
            )
    physical_lines = profile.lines + (1 if profile.bytes else 0)  # deleted lists have no header line
    if len(rows) + len(rejects) + blank != physical_lines:
        raise UserError(f"{member.label}: line accounting failed for the deleted-case list")
    account = LineAccount(
        layout="", lines=physical_lines, blank_lines=blank, rows=len(rows), lines_rejected=len(rejects)
    )
    return rows, rejects, decoded, account


def _decoding_rows(quarter: Quarter, table: str, member: Member, lines: list[DecodedLine]) -> list[dict]:
    return [
        {
            "quarter": str(quarter),
            "table_name": table,
            "source_file": member.label,
            "line_no": line.line_no,
            "raw_bytes": line.raw,
            "decoded_text": line.text,
            "rule": line.rule,
        }
        for line in lines
    ]


def _write_bookkeeping(staging: Path, table: str, records: list[dict]) -> None:
    """One bookkeeping table of the quarter as Parquet, typed as the database declares it.

    Written by DuckDB from plain lists: building pyarrow arrays from Python objects imports pandas,
    which costs more than the rest of a small quarter's bookkeeping.
    """
    columns = BOOKKEEPING_COLUMNS[table]
    select = ", ".join(
        f"unnest(${i}::{kind}[]) as {name}" for i, (name, kind) in enumerate(columns.items(), 1)
    )
    values = [[record.get(name) for record in records] for name in columns]
    (staging / table).mkdir(parents=True, exist_ok=True)
    target = str(staging / table / "part-0.parquet").replace("'", "''")
    with duckdb.connect() as con:
        con.execute(f"copy (select {select}) to '{target}' (format parquet, compression zstd)", values)


def ingest_quarter(
    source: QuarterSource,
    lake: Path,
    work_dir: Path,
    manifest: dict[Quarter, download.ManifestEntry],
    progress: Progress | None = None,
) -> QuarterReport:
    """Stage every table of one quarter, check the line accounting, then publish it atomically."""
    started = time.perf_counter()
    status, source_sha, source_bytes = _manifest_status(source, manifest)
    report = QuarterReport(
        quarter=source.quarter,
        origin=str(source.origin),
        manifest_status=status,
        missing_tables=source.missing_tables,
    )
    quarter_work = work_dir / f"{source.quarter}-{uuid.uuid4().hex[:8]}"
    quarter_work.mkdir(parents=True, exist_ok=True)
    staging = new_staging_dir(lake, source.quarter)
    file_facts = {
        "source_bytes": source_bytes or None,
        "source_sha256": source_sha or None,
        "manifest_status": status,
        "ingested_at": datetime.now(UTC),
    }
    log: list[dict] = []
    reject_rows: list[dict] = []
    decoding_rows: list[dict] = []
    total = _total_bytes(source)
    try:
        con = _connect_for_parsing()
        try:
            for table, member, (path, profile) in _materialised_in_turn(source.tables, quarter_work):
                result = parse_table_file(
                    con,
                    path,
                    table,
                    str(source.quarter),
                    profile,
                    staging / table,
                    member.label,
                    quarter_work,
                )
                _check_rejects(result, member.label)
                account = LineAccount.of(result)
                report.tables[table] = account
                reject_rows += [
                    {
                        "quarter": str(source.quarter),
                        "table_name": table,
                        "source_file": member.label,
                        "line_no": reject.line_no,
                        "raw_line": reject.raw_line,
                        "reason": reject.reason,
                    }
                    for reject in result.rejects
                ]
                decoding_rows += _decoding_rows(source.quarter, table, member, result.decoded)
                log.append(
                    _log_row(source, table, member, profile, account) | file_facts | result.log_fields()
                )
                if member.zip_path is not None:
                    path.unlink()
                if progress:
                    progress(f"{source.quarter} {table}", profile.bytes, total)
        finally:
            con.close()
        deleted_rows: list[dict] = []
        for member in source.deleted:
            path, profile = _materialise(member, quarter_work)
            rows, rejects, decoded, account = _parse_deleted(member, path, profile, source.quarter)
            deleted_rows += rows
            reject_rows += rejects
            decoding_rows += _decoding_rows(source.quarter, "deleted_cases", member, decoded)
            facts = file_facts | byte_log_fields(profile, decoded)
            log.append(_log_row(source, "deleted_cases", member, profile, account) | facts)
        report.deleted_cases = len(deleted_rows)
        _write_bookkeeping(staging, "deleted_cases", deleted_rows)
        _write_bookkeeping(staging, "rejects", reject_rows)
        _write_bookkeeping(staging, "decoding", decoding_rows)
        _write_bookkeeping(staging, "ingest_log", log)
        publish(staging, lake, source.quarter)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(quarter_work, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _log_row(
    source: QuarterSource, table: str, member: Member, profile: FileProfile, account: LineAccount
) -> dict:
    return {
        "quarter": str(source.quarter),
        "table_name": table,
        "source": str(source.origin),
        "source_file": member.label,
        "layout": account.layout,
        "encoding": profile.encoding,
        "bytes": profile.bytes,
        "sha256": profile.sha256,
        "lines": account.lines,
        "blank_lines": account.blank_lines,
        "rows": account.rows,
        "rows_from_repairs": account.rows_from_repairs,
        "lines_repaired": account.lines_repaired,
        "lines_rejected": account.lines_rejected,
        "pipeline_version": pv.__version__,
    }


def _total_bytes(source: QuarterSource) -> int:
    total = 0
    for member in source.tables.values():
        if member.zip_path is None:
            total += Path(member.name).stat().st_size
        else:
            with zipfile.ZipFile(member.zip_path) as archive:
                total += archive.getinfo(member.name).file_size
    return total


def pending_quarters(
    source: str | Path, lake: Path, quarters: Sequence[Quarter] | None = None
) -> list[Quarter]:
    """Quarters to ingest: the ones asked for, else every quarter the source offers that the lake lacks.

    For ``fda`` the offer is FDA's manifest plus the quarters after it up to today (FDA publishes a
    quarter some weeks after it ends; one not yet published fails its download with a 404).
    """
    from pv.lake import lake_quarters

    if quarters:
        return sorted(set(quarters))
    present = set(lake_quarters(lake))
    if str(source).lower() == "fda":
        offered = sorted(download.load_manifest())
        latest_possible = Quarter(datetime.now(UTC).year, (datetime.now(UTC).month - 1) // 3 + 1)
        while offered and offered[-1].next() < latest_possible:
            offered.append(offered[-1].next())
    else:
        offered = [found.quarter for found in discover(Path(source))]
    return [quarter for quarter in offered if quarter not in present]


def resolve_sources(
    source: str | Path,
    quarters: Sequence[Quarter] | None,
    downloads: Path,
    base_url: str | None = None,
    download_progress: Callable[[int, int | None], None] | None = None,
) -> list[QuarterSource]:
    """Turn ``fda`` (download), a zip or a folder into the quarters to ingest."""
    if str(source).lower() == "fda":
        if not quarters:
            raise UserError("ingesting from FDA needs --quarters (e.g. --quarters 2023Q1..2023Q4)")
        results = download.download_quarters(
            list(quarters), downloads, base_url=base_url, progress=download_progress
        )
        return [discover(result.path)[0] for result in results]
    return discover(Path(source), list(quarters) if quarters else None)


def ingest(
    source: str | Path,
    *,
    quarters: Sequence[Quarter] | None = None,
    db_path: Path,
    lake: Path,
    work_dir: Path,
    downloads: Path | None = None,
    base_url: str | None = None,
    progress: Progress | None = None,
    curate: bool = True,
    signals: bool = True,
) -> list[QuarterReport]:
    """Ingest every quarter found in ``source``; each quarter replaces its earlier copy atomically.

    The database is then rebuilt from the lake, with the curated layer unless ``curate`` is false and
    the signal tables unless ``signals`` is false.
    """
    manifest = download.load_manifest()
    reports = []
    with writer_lock(lake):
        sources = resolve_sources(source, quarters, downloads or work_dir, base_url)
        for quarter_source in sources:
            reports.append(ingest_quarter(quarter_source, lake, work_dir, manifest, progress))
        build_database(db_path, lake, curated=curate, signals=signals)
    return reports
