"""The DuckDB database: a catalogue of views over the Parquet lake, rebuilt whole and swapped in."""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from pathlib import Path

import duckdb

from pv.lake import LAKE_TABLES, table_glob
from pv.schema import COLUMNS, TABLES, UNIQUE_KEYS
from pv.sqlfiles import literal, render

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
    create_key_anomalies(con)


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


DATA_DIR = Path(__file__).resolve().parent.parent / "data"
OFFICIAL_ROW_TOTALS = DATA_DIR / "fda_official_row_totals.csv"
# Reviewed vocabularies the SQL models join on, loaded as vocab.<name> tables.
SQL_VOCABULARIES: dict[str, Path] = {
    "countries": DATA_DIR / "vocab" / "countries.csv",
    "ingredient_classes": DATA_DIR / "vocab" / "ingredient_classes.csv",
}
MACROS = ("macros/faers_values",)
STAGING_MODELS = (
    "staging/stg_demo",
    "staging/stg_drug",
    "staging/stg_reac",
    "staging/stg_indi",
    "staging/stg_ther",
    "staging/stg_outc",
    "staging/stg_deleted_cases",
)


def run_sql_file(con: duckdb.DuckDBPyConnection, name: str, **params: object) -> None:
    """Run every statement of ``sql/<name>.sql``."""
    con.execute(render(name, **params))


def create_staging(con: duckdb.DuckDBPyConnection) -> None:
    """vocab tables, value macros and the typed staging views over raw."""
    con.execute("create schema if not exists vocab")
    con.execute("create schema if not exists staging")
    for name, path in SQL_VOCABULARIES.items():
        con.execute(
            f"create or replace table vocab.{name} as "
            f"select * from read_csv({literal(str(path))}, header = true, all_varchar = true)"
        )
    for name in MACROS + STAGING_MODELS:
        run_sql_file(con, name)


CASE_MODELS = (
    "curated/case_versions",
    "curated/case_drugs",
    "curated/case_events",
    "curated/case_indications",
)
SUMMARY_MODELS = ("curated/cases", "curated/dedup_summary")


def create_curated(con: duckdb.DuckDBPyConnection) -> None:
    """Normalisation maps, FDA's de-duplication, the case tables and the cross-case duplicate flags."""
    from pv.dedup import flag_cross_case_duplicates
    from pv.normalize import build_drug_map, build_term_maps
    from pv.normalize.meddra import load_meddra, meddra_dir

    con.execute("create schema if not exists curated")
    build_drug_map(con, "select drugname, prod_ai, nda_num from staging.stg_drug")
    folder = meddra_dir()
    build_term_maps(
        con,
        "select pt as term from staging.stg_reac",
        "select indi_pt as term from staging.stg_indi",
        meddra=load_meddra(folder) if folder else None,
    )
    for name in CASE_MODELS:
        run_sql_file(con, name)
    flag_cross_case_duplicates(con)
    for name in SUMMARY_MODELS:
        run_sql_file(con, name)


def create_signals(con: duckdb.DuckDBPyConnection) -> None:
    """2x2 counts for every pair and variant, their statistics, and the quarterly signal history."""
    from pv.counts import build_counts
    from pv.signals import build_signals

    build_counts(con)
    build_signals(con)


def memory_limit() -> str:
    """DuckDB's memory cap for builds (``$PV_MEMORY_LIMIT``, default 4GB); beyond it DuckDB spills to disk."""
    return os.environ.get("PV_MEMORY_LIMIT", "4GB")


def build_database(
    db_path: Path, lake: Path, curated: bool = True, signals: bool = True, snapshot: bool = False
) -> Path:
    """Write a fresh database file next to ``db_path`` and swap it in with one atomic rename.

    Readers holding the old file keep reading it; nobody ever sees a half-built database.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = db_path.with_name(f".{db_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with duckdb.connect(str(temporary)) as con:
            # DuckDB's default is 80% of RAM; a laptop-size machine needs room for everything else too.
            con.execute(f"set memory_limit = '{memory_limit()}'")
            con.execute(f"set temp_directory = '{temporary.parent / (temporary.name + '.spill')}'")
            con.execute("set preserve_insertion_order = false")
            create_raw_views(con, lake, snapshot=snapshot)
            con.execute(render("raw/row_reconciliation", totals_csv=str(OFFICIAL_ROW_TOTALS)))
            create_staging(con)
            if curated:
                create_curated(con)
                if signals:
                    create_signals(con)
        os.replace(temporary, db_path)
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(temporary.parent / (temporary.name + ".spill"), ignore_errors=True)
    return db_path
