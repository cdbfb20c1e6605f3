"""Report-level 2x2 counts for every drug-event pair and analysis variant, today and at every past quarter.

Today's counts (``marts.drug_event_counts``) and the quarterly history (``marts.history_counts``) come from
one table of contributions (``marts.analysis_cases``): each case version counts over the quarters in which
a quarterly run would have analysed it. The history needs what the versions later replaced contained, so
the curated content models (drugs, terms, indications) are rendered again over those versions, and the
duplicate rules run again per quarter (``pv.dedup``); nothing is mapped twice. The steps are the ``counts``
layer of the build plan (``pv.build``); this module holds the names Python shares with those models, read
from the same reviewed lists the SQL reads (``vocab.analysis_variants``, ``vocab.headline_targets``), and the
one Python step of the layer: each headline event's maskers (``marts.event_maskers``), which the ``masked``
variant removes (``marts.target_variant_counts``).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from pv import stats
from pv.db import store_frame
from pv.resources import read_vocabulary

PAIR_COLUMNS: tuple[str, ...] = ("drug", "drug_level", "event", "event_level")
_VARIANTS = read_vocabulary("analysis_variants")
# The analysis variants' dimensions, the names each can take and the default variant (analysis_variants.csv).
VARIANT_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(row["dimension"] for row in _VARIANTS))
VARIANT_VALUES: dict[str, tuple[str, ...]] = {
    column: tuple(row["value"] for row in _VARIANTS if row["dimension"] == column)
    for column in VARIANT_COLUMNS
}
DEFAULT_VARIANT: dict[str, str] = {
    row["dimension"]: row["value"] for row in _VARIANTS if row["is_default"] == "true"
}
# The comparators whose population depends on the target drug (headline pairs only; no strata, no history).
TARGET_COMPARATORS: tuple[str, ...] = ("active", "masked")
# The headline question: these event groups x every ingredient of these classes, and the classes.
HEADLINE_EVENTS: tuple[str, ...] = tuple(
    row["name"] for row in read_vocabulary("headline_targets") if row["kind"] == "event"
)
TARGET_CLASSES: tuple[str, ...] = tuple(
    row["name"] for row in read_vocabulary("headline_targets") if row["kind"] == "class"
)


# marts.event_maskers: its columns after the keys, in order.
MASKER_COLUMNS: tuple[str, ...] = (
    "a",
    "n_drug",
    "n_event",
    "n_total",
    "prr",
    "prr_lower",
    "mr_prr",
    "masker",
    "rank",
    "masking_reason",
)
_MASKER_KEYS: tuple[str, ...] = ("event_level", "event", "role", "duplicates", "drug")


def event_maskers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every ingredient reported with a headline event in a base population (each role and duplicates
    setting, comparator all), with the masking rule's verdict (:func:`pv.stats.select_maskers`): the drugs
    the masked variant removes from that event's background. Target ingredients are protected."""
    comparator = DEFAULT_VARIANT["comparator"]
    candidates = con.execute(
        """
        select
            counts.event_level, counts.event, counts.role, counts.duplicates, counts.drug, counts.a,
            counts.a + counts.b as n_drug, counts.a + counts.c as n_event,
            counts.a + counts.b + counts.c + counts.d as n_total,
            counts.drug in (
                select name from marts.headline_targets where kind = 'drug' and level = 'ingredient'
            ) as protected
        from marts.drug_event_counts as counts
        where counts.comparator = $comparator and counts.drug_level = 'ingredient' and counts.a > 0
            and (counts.event_level, counts.event) in (
                select (level, name) from marts.headline_targets where kind = 'event'
            )
        order by all
        """,
        {"comparator": comparator},
    ).df()
    rule = stats.masking_rule()
    frames = []
    for _, group in candidates.groupby(["event_level", "event", "role", "duplicates"], sort=True):
        n_event, n_total = int(group["n_event"].iloc[0]), int(group["n_total"].iloc[0])
        frames.append(stats.select_maskers(group, n_event, n_total, rule))
    columns = [*_MASKER_KEYS, *MASKER_COLUMNS]
    if not frames:
        empty = pd.DataFrame({column: pd.Series(dtype="str") for column in _MASKER_KEYS})
        return empty.assign(
            **{column: pd.Series(dtype="int64") for column in ("a", "n_drug", "n_event", "n_total", "rank")},
            **{column: pd.Series(dtype="float64") for column in ("prr", "prr_lower", "mr_prr")},
            masker=pd.Series(dtype="bool"),
            masking_reason=pd.Series(dtype="str"),
        )[columns]
    chosen = pd.concat(frames, ignore_index=True)
    return chosen.astype({column: "int64" for column in ("a", "n_drug", "n_event", "n_total")})[columns]


def store_event_maskers(con: duckdb.DuckDBPyConnection) -> int:
    """Write marts.event_maskers (:func:`event_maskers`); rows written."""
    return store_frame(con, "marts.event_maskers", event_maskers(con))
