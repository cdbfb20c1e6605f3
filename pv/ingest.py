"""Ingest FAERS/AERS quarters into the Parquet lake and the DuckDB catalogue, one atomic quarter at a time."""

from __future__ import annotations

import os
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
from pv.build import build_database
from pv.db import (
    BOOKKEEPING_COLUMNS,
    DISK_FULL_ERRNOS,
    clear_dead_builds,
    is_disk_full,
    refuse_another_lake,
)
from pv.errors import UserError
from pv.lake import QuarterState, new_staging_dir, publish, quarter_state, write_publication, writer_lock
from pv.locks import clear_dead, owned_id
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
from pv.sources import DELETED_PART, Member, QuarterSource, discover, member_bound, part_label

# Above this share of rejected lines a file is not FAERS data in a known layout: stop, keep the old state.
MAX_REJECT_FRACTION = 0.01
MIN_REJECTS_BEFORE_FAILING = 50
DUCKDB_MEMORY_LIMIT = "1500MB"
# Free space an ingest needs, estimated from the inflated sizes: the two members being extracted at once
# (one parsed while the next is extracted), and the quarter's Parquet copy, well under half its text.
PARQUET_SHARE_OF_TEXT = 0.5

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
    missing_parts: list[str] = field(default_factory=list)  # tables or the deleted-case list, by era
    empty_parts: list[str] = field(default_factory=list)  # present with no data row (header only)
    seconds: float = 0.0

    @property
    def partial(self) -> bool:
        return bool(self.missing_parts or self.empty_parts)

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
            bound = member_bound(archive.getinfo(member.name))
            profile = profile_stream(_Bounded(stream, bound, member.label), sink)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        target.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            raise  # a full disk, not a damaged zip: ingest_quarter says so
        raise UserError(f"{member.label}: cannot extract, the zip is damaged ({error})") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, profile


class _Bounded:
    """A member's inflated stream that stops with an error once it passes its bound (a zip bomb whose
    declared size lies is stopped here, before its extraction finishes)."""

    def __init__(self, stream, bound: int, label: str) -> None:
        self._stream, self._bound, self._label, self._seen = stream, bound, label, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._seen += len(chunk)
        if self._seen > self._bound:
            raise UserError(
                f"{self._label}: inflates beyond {self._bound:,} bytes (PV_MAX_MEMBER_BYTES, "
                "PV_MAX_ZIP_RATIO); refused as a possible zip bomb"
            )
        return chunk


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


def _refuse_losses(source: QuarterSource, lake: Path, new_rows: dict[str, int], force: bool) -> None:
    """Never replace a stored quarter by a copy lacking a table or deleted-case list it has, unless forced."""
    stored = quarter_state(lake, source.quarter)
    if stored is None or force:
        return
    lost = [part for part, rows in stored.rows.items() if rows > 0 and new_rows.get(part, 0) == 0]
    if lost:
        had = ", ".join(f"{part_label(part)} ({stored.rows[part]:,} rows)" for part in lost)
        raise UserError(
            f"{source.quarter}: {source.origin} has no data for what the stored copy has: {had}; "
            "pass --force to replace the stored quarter anyway"
        )


def check_source(source: QuarterSource, lake: Path, allow_partial: bool = False, force: bool = False) -> None:
    """Before anything is read: a quarter incomplete for its era needs ``allow_partial``, and one lacking
    what the stored copy of the quarter has needs ``force``."""
    missing = source.missing_parts
    if missing and not allow_partial:
        raise UserError(
            f"{source.quarter}: {source.origin} is not a complete quarter, it has no "
            f"{', '.join(part_label(part) for part in missing)}; pass --allow-partial to load it anyway"
        )
    offered = dict.fromkeys(source.tables, 1) | ({DELETED_PART: 1} if source.deleted else {})
    _refuse_losses(source, lake, offered, force)


def _check_free_space(source: QuarterSource, lake: Path, work_dir: Path) -> None:
    sizes = sorted(_member_sizes(source).values())
    needs = {
        work_dir: sum(sizes[-2:]) if source.is_zip else 0,
        lake: int(PARQUET_SHARE_OF_TEXT * sum(sizes)),
    }
    by_device: dict[int, tuple[Path, int]] = {}
    for folder, need in needs.items():
        device = os.stat(folder).st_dev
        previous = by_device.get(device, (folder, 0))
        by_device[device] = (previous[0], previous[1] + need)
    for folder, need in by_device.values():
        free = shutil.disk_usage(folder).free
        if free < need:
            raise UserError(
                f"{folder}: not enough free disk space to ingest {source.quarter} "
                f"({need / 1e6:,.1f} MB needed, {free / 1e6:,.1f} MB free); nothing was changed"
            )


def ingest_quarter(
    source: QuarterSource,
    lake: Path,
    work_dir: Path,
    manifest: dict[Quarter, download.ManifestEntry],
    progress: Progress | None = None,
    *,
    allow_partial: bool = False,
    force: bool = False,
) -> QuarterReport:
    """Stage every table of one quarter, check the line accounting and completeness, then publish it
    atomically with its ``publication.json`` (ingest id, partial or not). The caller holds the lake lock."""
    started = time.perf_counter()
    check_source(source, lake, allow_partial, force)
    work_dir.mkdir(parents=True, exist_ok=True)
    lake.mkdir(parents=True, exist_ok=True)
    clear_dead(work_dir)
    _check_free_space(source, lake, work_dir)
    status, source_sha, source_bytes = _manifest_status(source, manifest)
    report = QuarterReport(
        quarter=source.quarter,
        origin=str(source.origin),
        manifest_status=status,
        missing_tables=source.missing_tables,
        missing_parts=source.missing_parts,
    )
    quarter_work = work_dir / f"{source.quarter}-{owned_id()}"
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
        _check_complete_rows(source, report, lake, allow_partial, force)
        _write_bookkeeping(staging, "deleted_cases", deleted_rows)
        _write_bookkeeping(staging, "rejects", reject_rows)
        _write_bookkeeping(staging, "decoding", decoding_rows)
        _write_bookkeeping(staging, "ingest_log", log)
        write_publication(staging, _publication(source, report))
        publish(staging, lake, source.quarter)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if is_disk_full(error):
            problem = str(error).splitlines()[0]
            raise UserError(
                f"{source.quarter}: cannot write ({problem}); nothing of this quarter was stored: "
                "free disk space, then run again"
            ) from None
        raise
    finally:
        shutil.rmtree(quarter_work, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _rows_by_part(source: QuarterSource, report: QuarterReport) -> dict[str, int]:
    rows = {table: account.rows for table, account in report.tables.items()}
    return rows | ({DELETED_PART: report.deleted_cases} if source.deleted else {})


def _check_complete_rows(
    source: QuarterSource, report: QuarterReport, lake: Path, allow_partial: bool, force: bool
) -> None:
    """After parsing: a table (or deleted-case list) with no data row makes the quarter partial."""
    rows = _rows_by_part(source, report)
    report.empty_parts = [part for part, count in rows.items() if count == 0]
    if report.empty_parts and not allow_partial:
        names = ", ".join(part_label(part) for part in report.empty_parts)
        raise UserError(
            f"{source.quarter}: {names} in {source.origin} has no data rows (header only); "
            "pass --allow-partial to load it anyway"
        )
    _refuse_losses(source, lake, rows, force)


def _publication(source: QuarterSource, report: QuarterReport) -> QuarterState:
    return QuarterState(
        quarter=str(source.quarter),
        ingest_id=uuid.uuid4().hex,
        published_at=datetime.now(UTC).isoformat(),
        partial=report.partial,
        missing=tuple(report.missing_parts),
        empty=tuple(report.empty_parts),
        rows=_rows_by_part(source, report),
        source=str(source.origin),
        pipeline_version=pv.__version__,
        synthetic=source.synthetic,
    )


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


def _member_sizes(source: QuarterSource) -> dict[str, int]:
    """Inflated bytes of every input file of the quarter, by file label."""
    sizes = {}
    for member in [*source.tables.values(), *source.deleted]:
        if member.zip_path is None:
            sizes[member.label] = Path(member.name).stat().st_size
        else:
            with zipfile.ZipFile(member.zip_path) as archive:
                sizes[member.label] = archive.getinfo(member.name).file_size
    return sizes


def _total_bytes(source: QuarterSource) -> int:
    sizes = _member_sizes(source)
    return sum(sizes[member.label] for member in source.tables.values())


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
    allow_partial: bool = False,
    force: bool = False,
    incremental: bool = True,
    say: Callable[[str], None] | None = None,
) -> list[QuarterReport]:
    """Ingest every quarter found in ``source``; each quarter replaces its earlier copy atomically.

    Every quarter is checked (complete for its era unless ``allow_partial``; nothing the stored copy has
    is lost unless ``force``) before the first is read. The database is then brought up to date with the
    lake, with the curated layer unless ``curate`` is false and the signal tables unless ``signals`` is
    false: the new quarters are added to it (``incremental``, :mod:`pv.increment`) or, when that cannot
    apply or is not wanted, it is rebuilt in full (``say`` is told which, and why).
    """
    manifest = download.load_manifest()
    reports: list[QuarterReport] = []
    with writer_lock(lake):
        clear_leftovers(db_path, work_dir)
        refuse_another_lake(db_path, lake)  # before the lake changes
        sources = resolve_sources(source, quarters, downloads or work_dir, base_url)
        for quarter_source in sources:
            check_source(quarter_source, lake, allow_partial, force)
        for quarter_source in sources:
            try:
                report = ingest_quarter(
                    quarter_source,
                    lake,
                    work_dir,
                    manifest,
                    progress,
                    allow_partial=allow_partial,
                    force=force,
                )
            except UserError as error:
                if reports:
                    published = ", ".join(str(done.quarter) for done in reports)
                    raise UserError(
                        f"{error}; {published} already published: the lake is ahead of the database, "
                        "run `pv build`"
                    ) from None
                raise
            reports.append(report)
        build_database(db_path, lake, curated=curate, signals=signals, say=say, incremental=incremental)
    return reports


def clear_leftovers(db_path: Path, work_dir: Path) -> None:
    """What killed runs left: temporary databases beside ``db_path`` and work folders (dead PIDs only;
    the lake's staging area is cleared by its writer lock)."""
    clear_dead_builds(db_path)
    clear_dead(work_dir)


def check_sources(
    source: str | Path, quarters: Sequence[Quarter], lake: Path, allow_partial: bool, force: bool
) -> None:
    """``check_source`` for every wanted quarter of a local folder or zip, before any is ingested."""
    if quarters:
        for found in discover(Path(source), list(quarters)):
            check_source(found, lake, allow_partial, force)
