"""Report-level 2x2 counts for every drug-event pair and analysis variant, today and at every past quarter.

Today's counts (``marts.drug_event_counts``) and the quarterly history (``marts.history_counts``) come from
one table of contributions (``marts.analysis_cases``): each case version counts over the quarters in which
a quarterly run would have analysed it. The history needs what the versions later replaced contained, so
the curated content models (drugs, terms, indications) are rendered again over those versions, and the
duplicate rules run again per quarter (``pv.dedup``); nothing is mapped twice.
"""

from __future__ import annotations

import duckdb

from pv.db import CONTENT_MODELS, run_content_model, run_sql_file
from pv.dedup import flag_duplicates_by_quarter

VARIANT_COLUMNS: tuple[str, ...] = ("role", "comparator", "duplicates")
PAIR_COLUMNS: tuple[str, ...] = ("drug", "drug_level", "event", "event_level")
DEFAULT_VARIANT: dict[str, str] = {"role": "suspect", "comparator": "all", "duplicates": "without"}
# The headline question: these event groups x every ingredient of these classes, and the classes.
HEADLINE_EVENTS: tuple[str, ...] = ("dm_narrow", "dm_broad")
TARGET_CLASSES: tuple[str, ...] = ("taxane", "anti_her2_antibody", "anti_her2_adc", "her2_tki")

# Today's and past versions' content side by side, as one relation per kind of content.
VERSION_VIEWS: dict[str, tuple[str, str]] = {
    "marts.version_drugs": ("curated.case_drugs", "marts.history_version_drugs"),
    "marts.version_events": ("curated.case_events", "marts.history_version_events"),
    "marts.version_indications": ("curated.case_indications", "marts.history_version_indications"),
    "marts.version_exposures": ("marts.case_exposures", "marts.history_version_exposures"),
    "marts.version_outcomes": ("marts.case_outcomes", "marts.history_version_outcomes"),
}
# Exposures and outcomes of a set of versions, from its drugs and its terms.
_EXPOSURES = "marts/case_exposures"
_OUTCOMES = "marts/case_outcomes"


def _union_view(con: duckdb.DuckDBPyConnection, view: str) -> None:
    today, past = VERSION_VIEWS[view]
    con.execute(
        f"create or replace view {view} as select * from {today} union all by name select * from {past}"
    )


def build_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """marts.drug_event_counts and marts.history_counts from the curated layer; row counts by table."""
    lists = {"headline_events": HEADLINE_EVENTS, "target_classes": TARGET_CLASSES}
    con.execute("create schema if not exists marts")
    run_sql_file(con, "marts/version_lifetimes")
    run_sql_file(con, "marts/history_versions")
    # The curated content models again, over the versions past quarters analysed that are not today's.
    for model, table in CONTENT_MODELS.items():
        past = table.replace("curated.case_", "marts.history_version_")
        run_content_model(con, model, past, "marts.history_versions")
    for source, prefix in (
        ("curated.case", "marts.case"),
        ("marts.history_version", "marts.history_version"),
    ):
        run_sql_file(con, _EXPOSURES, ident_table=f"{prefix}_exposures", ident_drugs=f"{source}_drugs")
        run_sql_file(con, _OUTCOMES, ident_table=f"{prefix}_outcomes", ident_events=f"{source}_events")
    for view in VERSION_VIEWS:
        _union_view(con, view)
    flag_duplicates_by_quarter(con)
    run_sql_file(con, "marts/analysis_cases")
    run_sql_file(con, "marts/analysis_variants")
    run_sql_file(con, "marts/drug_event_counts", **lists)
    run_sql_file(con, "marts/history_counts", **lists)
    return {
        table: con.sql(f"select count(*) from marts.{table}").fetchall()[0][0]
        for table in ("drug_event_counts", "history_counts")
    }
