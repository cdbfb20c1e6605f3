"""Report-level 2x2 counts for every drug-event pair and analysis variant, built in DuckDB."""

from __future__ import annotations

import duckdb

from pv.sqlfiles import render

# Order matters: each model reads the ones before it.
COUNT_MODELS: tuple[str, ...] = (
    "marts/analysis_cases",
    "marts/case_exposures",
    "marts/case_outcomes",
    "marts/analysis_variants",
    "marts/drug_event_counts",
    "marts/history_counts",
)

VARIANT_COLUMNS: tuple[str, ...] = ("role", "comparator", "duplicates")
PAIR_COLUMNS: tuple[str, ...] = ("drug", "drug_level", "event", "event_level")
DEFAULT_VARIANT: dict[str, str] = {"role": "suspect", "comparator": "all", "duplicates": "without"}


def build_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """marts.drug_event_counts and marts.history_counts from the curated layer; row counts by table."""
    con.execute("create schema if not exists marts")
    for name in COUNT_MODELS:
        con.execute(render(name))
    return {
        table: con.sql(f"select count(*) from marts.{table}").fetchall()[0][0]
        for table in ("drug_event_counts", "history_counts")
    }
