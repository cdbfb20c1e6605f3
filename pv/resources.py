"""Where the files that ship with pv live: the SQL models and the reviewed data, inside the package.

``pv/sql/`` and ``pv/data/`` are package data (pyproject.toml), so an installed pv finds them exactly as a
checkout does; nothing is resolved against the working directory or the repository.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def sql_dir() -> Path:
    """The SQL models, one per file (``pv/sql/<layer>/<name>.sql``)."""
    return PACKAGE / "sql"


def data_dir() -> Path:
    """Reviewed data: FDA's manifest and row totals, and the vocabularies (``vocab/``)."""
    return PACKAGE / "data"


def vocab_dir() -> Path:
    """The reviewed vocabularies (CSV) that Python and SQL both read."""
    return data_dir() / "vocab"


@cache
def read_vocabulary(name: str) -> tuple[dict[str, str], ...]:
    """The rows of ``vocab/<name>.csv`` in file order (cached: the files are part of the release)."""
    with (vocab_dir() / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))
