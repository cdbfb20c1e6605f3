"""Normalisation of FAERS drug names and MedDRA term text: one implementation for SQL and Python."""

from pv.normalize.drugs import build_drug_map, drug_names, unmapped_report
from pv.normalize.events import build_term_maps, event_terms, indication_terms, term_key

__all__ = [
    "build_drug_map",
    "build_term_maps",
    "drug_names",
    "event_terms",
    "indication_terms",
    "term_key",
    "unmapped_report",
]
