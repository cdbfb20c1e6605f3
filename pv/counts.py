"""Report-level 2x2 counts for every drug-event pair and analysis variant, today and at every past quarter.

Today's counts (``marts.drug_event_counts``) and the quarterly history (``marts.history_counts``) come from
one table of contributions (``marts.analysis_cases``): each case version counts over the quarters in which
a quarterly run would have analysed it. The history needs what the versions later replaced contained, so
the curated content models (drugs, terms, indications) are rendered again over those versions, and the
duplicate rules run again per quarter (``pv.dedup``); nothing is mapped twice. The steps are the ``counts``
layer of the build plan (``pv.build``); this module holds the names Python shares with those models, read
from the same reviewed lists the SQL reads (``vocab.analysis_variants``, ``vocab.headline_targets``).
"""

from __future__ import annotations

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
# The headline question: these event groups x every ingredient of these classes, and the classes.
HEADLINE_EVENTS: tuple[str, ...] = tuple(
    row["name"] for row in read_vocabulary("headline_targets") if row["kind"] == "event"
)
TARGET_CLASSES: tuple[str, ...] = tuple(
    row["name"] for row in read_vocabulary("headline_targets") if row["kind"] == "class"
)
