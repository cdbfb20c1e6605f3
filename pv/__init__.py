"""pv: FAERS pharmacovigilance signal detection on DuckDB."""

__version__ = "0.1.0"
