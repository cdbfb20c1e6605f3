"""The DuckDB database: a snapshot of the Parquet lake plus the curated layer, rebuilt whole and swapped in.

It records the lake state it was built from (``meta.build``, ``meta.lake_state``), so that a run can tell
when the lake moved on (``database_lag``) and a database is never silently behind its lake.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

import pv
from pv import resources
from pv.errors import UserError
from pv.lake import LAKE_TABLES, lake_id, lake_state, table_glob
from pv.locks import clear_dead, exclusive, owned_id
from pv.quarters import quarter_runs
from pv.schema import COLUMNS, TABLES, UNIQUE_KEYS
from pv.sqlfiles import literal, render

if TYPE_CHECKING:
    import pandas as pd

# Columns of the bookkeeping tables, for empty views before anything is ingested.
BOOKKEEPING_COLUMNS: dict[str, dict[str, str]] = {
    "deleted_cases": {
        "quarter": "varchar",
        "caseid": "varchar",
        "source_file": "varchar",
        "line_no": "bigint",
    },
    "rejects": {
        "quarter": "varchar",
        "table_name": "varchar",
        "source_file": "varchar",
        "line_no": "bigint",
        "raw_line": "varchar",
        "reason": "varchar",
    },
    "ingest_log": {
        "quarter": "varchar",
        "table_name": "varchar",
        "source": "varchar",
        "source_file": "varchar",
        "layout": "varchar",
        "encoding": "varchar",
        "bytes": "bigint",
        "sha256": "varchar",
        "source_bytes": "bigint",
        "source_sha256": "varchar",
        "manifest_status": "varchar",
        "lines": "bigint",
        "blank_lines": "bigint",
        "rows": "bigint",
        "rows_from_repairs": "bigint",
        "lines_repaired": "bigint",
        "lines_rejected": "bigint",
        "ingested_at": "timestamp with time zone",
        "pipeline_version": "varchar",
        "lines_decoded_fallback": "bigint",
        "nul_bytes_removed": "bigint",
        "lone_cr_removed": "bigint",
        "control_chars_kept": "bigint",
        "duplicate_rows": "bigint",
        "repeated_key_rows": "bigint",
    },
    "decoding": {
        "quarter": "varchar",
        "table_name": "varchar",
        "source_file": "varchar",
        "line_no": "bigint",
        "raw_bytes": "blob",
        "decoded_text": "varchar",
        "rule": "varchar",
    },
}


def table_columns(table: str) -> dict[str, str]:
    if table in BOOKKEEPING_COLUMNS:
        return BOOKKEEPING_COLUMNS[table]
    return {"quarter": "varchar", "layout": "varchar"} | {c: "varchar" for c in COLUMNS[table]}


def create_raw_views(con: duckdb.DuckDBPyConnection, lake: Path, snapshot: bool = False) -> None:
    """``raw.<table>`` over the lake: views, or tables when ``snapshot`` (empty and typed if no data yet).

    Views cost nothing but follow the live lake; the analyst database is a snapshot, so that a reader
    holding it open never sees quarters appear while a run is under way.
    """
    con.execute("create schema if not exists raw")
    for table in LAKE_TABLES:
        pattern = table_glob(lake, table)
        if glob.glob(pattern):
            kind = "table" if snapshot else "view"
            con.execute(render("raw/raw_table", ident_kind=kind, ident_table=table, parquet_glob=pattern))
        else:
            columns = ", ".join(f"null::{kind} as {name}" for name, kind in table_columns(table).items())
            con.execute(f"create or replace view raw.{table} as select {columns} where false")


def create_key_anomalies(con: duckdb.DuckDBPyConnection) -> None:
    """``raw.key_anomalies``: every key occurring on several rows of one quarter's table (``UNIQUE_KEYS``)."""
    branches = []
    for table in TABLES:
        key = UNIQUE_KEYS[table]
        branches.append(
            render(
                "raw/key_anomalies",
                table_name=table,
                key_columns=", ".join(key),
                ident_table=table,
                ident_key=", ".join(f'"{column}"' for column in key),
                ident_key_value=" || ', ' || ".join(
                    f"'{column}=' || coalesce(\"{column}\", '')" for column in key
                ),
                ident_row=", ".join(f'"{column}"' for column in COLUMNS[table]),
            )
        )
    con.execute("create or replace view raw.key_anomalies as\n" + "\nunion all\n".join(branches))


OFFICIAL_ROW_TOTALS = resources.data_dir() / "fda_official_row_totals.csv"
# Reviewed vocabularies the SQL models join on, loaded as vocab.<name> tables, with the grain of each.
SQL_VOCABULARIES: dict[str, tuple[Path, tuple[str, ...]]] = {
    "countries": (resources.vocab_dir() / "countries.csv", ("name",)),
    "ingredient_classes": (resources.vocab_dir() / "ingredient_classes.csv", ("ingredient",)),
    "analysis_variants": (resources.vocab_dir() / "analysis_variants.csv", ("dimension", "value")),
    "headline_targets": (resources.vocab_dir() / "headline_targets.csv", ("kind", "name")),
    "stratum_bands": (resources.vocab_dir() / "stratum_bands.csv", ("dimension", "band")),
    "dm_controls": (resources.vocab_dir() / "dm_controls.csv", ("drug_level", "drug", "event")),
    "active_comparators": (
        resources.vocab_dir() / "active_comparators.csv",
        ("target_class", "comparator_level", "comparator"),
    ),
}


def load_vocabularies(con: duckdb.DuckDBPyConnection) -> None:
    """The reviewed vocabularies as vocab.<name> tables (text as written in the CSV)."""
    con.execute("create schema if not exists vocab")
    for name, (path, _) in SQL_VOCABULARIES.items():
        con.execute(
            f"create or replace table vocab.{name} as "
            f"select * from read_csv({literal(str(path))}, header = true, all_varchar = true)"
        )


# The case content models; each is rendered over a list of versions: the retained one of every case, and
# again the versions past quarters analysed, for the signal history (both steps of pv.build.PLAN).
CONTENT_MODELS: dict[str, str] = {
    "curated/case_drugs": "curated.case_drugs",
    "curated/case_events": "curated.case_events",
    "curated/case_indications": "curated.case_indications",
}
# A content model aggregates terms into lists, and DuckDB cannot spill list aggregates to disk: above this
# many versions it runs in buckets of caseids (the full history ran out of memory under the 4 GB cap).
CONTENT_BUCKET_VERSIONS = 2_000_000


def run_content_model(con: duckdb.DuckDBPyConnection, model: str, table: str, versions: str) -> None:
    """``model`` over the versions listed in ``versions`` into ``table``, a bucket of caseids at a time."""
    count = con.sql(f"select count(*) from {versions}").fetchall()[0][0]
    buckets = max(1, -(-count // CONTENT_BUCKET_VERSIONS))
    if buckets == 1:
        con.execute(render(model, ident_table=table, ident_versions=versions))
        return
    part = "main.content_model_part"
    try:
        for bucket in range(buckets):
            con.execute(
                "create or replace temp view content_model_versions as "
                f"select * from {versions} where hash(caseid) % {buckets} = {bucket}"
            )
            target = table if bucket == 0 else part
            con.execute(render(model, ident_table=target, ident_versions="content_model_versions"))
            if bucket:
                con.execute(f"insert into {table} select * from {part}")
    finally:
        con.execute(f"drop table if exists {part}")
        con.execute("drop view if exists content_model_versions")


def store_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Create (or replace) ``table`` from a frame computed in Python, with the frame's column types; rows."""
    import pyarrow as pa

    view = "stored_frame_" + table.replace(".", "_")
    con.register(view, pa.Table.from_pandas(frame, preserve_index=False))
    try:
        con.execute(f"create or replace table {table} as select * from {view}")
    finally:
        con.unregister(view)
    return len(frame)


def memory_limit() -> str:
    """DuckDB's memory cap for builds (``$PV_MEMORY_LIMIT``, default 4GB); beyond it DuckDB spills to disk."""
    return os.environ.get("PV_MEMORY_LIMIT", "4GB")


# Write failures that mean "the disk (or the user's quota or file-size limit) is full".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_DUCKDB_MAGIC = b"DUCK"


def is_disk_full(error: BaseException) -> bool:
    """A write failed for want of space, quota or file-size limit (DuckDB reports it as an IO, transaction
    or fatal error depending on where the write was; its message carries the system's reason)."""
    if isinstance(error, OSError):
        return error.errno in DISK_FULL_ERRNOS
    return isinstance(error, duckdb.Error) and any(
        os.strerror(code) in str(error) for code in DISK_FULL_ERRNOS
    )


def clear_dead_builds(db_path: Path) -> None:
    """Remove the temporary database, WAL and spill folder that killed builds of ``db_path`` left (only
    those whose process is gone: the PID is in their name)."""
    clear_dead(db_path.parent, prefix=f".{db_path.name}.")


@contextmanager
def database_lock(db_path: Path) -> Iterator[None]:
    """One build of a database at a time (``.<name>.lock`` beside it, holding the builder's PID)."""
    with exclusive(db_path.with_name(f".{db_path.name}.lock"), f"{db_path}: the database is locked"):
        yield


def _built_from(db_path: Path) -> tuple[str, str] | None:
    """``(lake path, lake id)`` recorded in an existing database; None if it records none (older pv)."""
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error:
        with open(db_path, "rb") as handle:
            if handle.read(12)[8:12] == _DUCKDB_MAGIC:
                return None  # a DuckDB file we cannot open now (another process writes it)
        raise UserError(f"{db_path}: not a DuckDB database; refusing to replace it") from None
    with con:
        try:
            return con.sql("select lake, lake_id from meta.build").fetchall()[0]
        except duckdb.CatalogException:
            return None


def refuse_another_lake(db_path: Path, lake: Path) -> None:
    """Two lakes must not write one database: refuse when ``db_path`` was built from another lake."""
    if not db_path.exists():
        return
    built = _built_from(db_path)
    if built is not None and built[1] != lake_id(lake):
        raise UserError(
            f"{db_path}: built from another lake ({built[0]}), not {lake}; two lakes must not write one "
            "database: choose another --db, or delete this one"
        )


def write_meta(con: duckdb.DuckDBPyConnection, lake: Path, curated: bool, signals: bool) -> None:
    """The lake state the database is built from, read under the caller's lake lock."""
    con.execute("create schema if not exists meta")
    con.execute(
        "create or replace table meta.build as select ? as lake, ? as lake_id, ? as built_at, "
        "? as pipeline_version, ? as curated, ? as signals",
        [str(lake.resolve()), lake_id(lake), datetime.now(UTC), pv.__version__, curated, curated and signals],
    )
    con.execute(
        "create or replace table meta.lake_state (quarter varchar, ingest_id varchar, published_at varchar, "
        "partial boolean, missing varchar[], empty varchar[], source varchar, pipeline_version varchar, "
        "synthetic boolean)"
    )
    states = lake_state(lake).values()
    if states:
        con.executemany(
            "insert into meta.lake_state values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    s.quarter,
                    s.ingest_id,
                    s.published_at,
                    s.partial,
                    list(s.missing),
                    list(s.empty),
                    s.source,
                    s.pipeline_version,
                    s.synthetic,
                ]
                for s in states
            ],
        )


def provenance_line(con: duckdb.DuckDBPyConnection) -> str | None:
    """Where the database's quarters come from, in one sentence (``meta.provenance``); None for a database
    built before provenance was recorded. Synthetic data are always named so, first."""
    try:
        rows = con.sql(
            "select origin, count(*), list(quarter), count(*) filter (where partial) "
            "from meta.provenance group by origin"
        ).fetchall()
    except duckdb.CatalogException:
        return None
    if not rows:
        return "Data: no quarter ingested yet."
    words = {
        "generated": "SYNTHETIC (generated by pv synth, not FDA data: no finding is about a real drug)",
        "fda_verified": "FDA's published zips, verified against FDA's checksum manifest",
        "unverified": "FAERS-format files not verified against FDA's checksum manifest",
    }
    parts = []
    for origin, count, quarters, partial in sorted(rows, key=lambda row: list(words).index(row[0])):
        extracts = f", {partial} of them partial extracts" if partial else ""
        parts.append(
            f"{count} quarter{'s' if count > 1 else ''} ({quarter_runs(quarters)}) {words[origin]}{extracts}"
        )
    mixed = (
        " The generated quarters are analysed together with the others: every comparison population mixes"
        " them."
        if len(rows) > 1 and any(origin == "generated" for origin, *_ in rows)
        else ""
    )
    return "Data: " + "; ".join(parts) + "." + mixed


def _quarters(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 4 else f"{', '.join(names[:3])} and {len(names) - 3} more"


def lake_lag(db_path: Path, lake: Path | None = None) -> list[str]:
    """How the database is behind the lake it was built from (``lake`` or the one it records), as short
    clauses; empty when it is current or that lake cannot be reached (the database is self-contained)."""
    if not db_path.exists():
        return ["there is no database yet"] if lake is not None and lake_state(lake) else []
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error:
        return []
    with con:
        try:
            ((recorded_lake, _),) = con.sql("select lake, lake_id from meta.build").fetchall()
            stored = dict(con.sql("select quarter, ingest_id from meta.lake_state").fetchall())
        except duckdb.CatalogException:
            return ["it records no lake state (built by an older pv)"]
    lake = lake if lake is not None else Path(recorded_lake)
    if not lake.is_dir():
        return []
    current = {quarter: state.ingest_id for quarter, state in lake_state(lake).items()}
    added = sorted(set(current) - set(stored))
    changed = sorted(q for q in set(current) & set(stored) if current[q] != stored[q])
    removed = sorted(set(stored) - set(current))
    clauses = []
    if added:
        clauses.append(f"{_quarters(added)} published to the lake after it was built")
    if changed:
        clauses.append(f"{_quarters(changed)} re-ingested since")
    if removed:
        clauses.append(f"{_quarters(removed)} no longer in the lake")
    return clauses


def database_lag(db_path: Path, lake: Path | None = None) -> str | None:
    """One line saying the database is behind its lake and what to run, or None when it is not."""
    clauses = lake_lag(db_path, lake)
    return f"{db_path} is behind the lake ({'; '.join(clauses)}); run `pv build`" if clauses else None


def build_failure(db_path: Path, lake: Path, error: BaseException) -> UserError:
    problem = str(error).splitlines()[0] if str(error) else type(error).__name__
    clauses = lake_lag(db_path, lake)
    state = (
        f"the lake is ahead of the database ({'; '.join(clauses)})"
        if clauses
        else "the database is unchanged"
    )
    hint = (
        "raise PV_MEMORY_LIMIT or free disk space for spilling"
        if isinstance(error, duckdb.OutOfMemoryException)
        else "free disk space"
    )
    return UserError(
        f"{db_path}: cannot build the database ({problem}); {state}: {hint}, then run `pv build` "
        "(it resumes at the failed step)"
    )


def pending_build_path(db_path: Path) -> Path:
    """The half-built copy of ``db_path`` a build fills step by step and a failed build leaves to resume
    (``.<name>.pending``: no PID in its name, so :func:`clear_dead_builds` keeps it)."""
    return db_path.with_name(f".{db_path.name}.pending")


@contextmanager
def build_connection(path: Path, db_path: Path, lake: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the build file ``path`` of ``db_path``, capped in memory and spilling beside it.

    A full disk or exhausted memory ends in one line saying whether the lake is now ahead of the database
    (which is never touched here: the build is swapped in only when it is complete).
    """
    spill = path.with_name(f"{path.name}.{owned_id()}.spill")
    try:
        with duckdb.connect(str(path)) as con:
            # DuckDB's default is 80% of RAM; a laptop-size machine needs room for everything else too.
            con.execute(f"set memory_limit = '{memory_limit()}'")
            con.execute(f"set temp_directory = '{spill}'")
            con.execute("set preserve_insertion_order = false")
            yield con
    except Exception as error:
        if is_disk_full(error) or isinstance(error, (duckdb.IOException, duckdb.OutOfMemoryException)):
            raise build_failure(db_path, lake, error) from None
        raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def open_published(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published database, or a one-line :class:`UserError` saying why not
    (no database yet, or a file DuckDB cannot open)."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise UserError(f"{db_path}: no database; run `pv ingest` first")
    try:
        return duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as error:
        raise UserError(f"{db_path}: cannot open the database ({str(error).splitlines()[0]})") from None
