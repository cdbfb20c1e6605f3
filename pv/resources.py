"""Where the files that ship with pv live: the SQL models and the reviewed vocabularies.

One place resolves them, so the pipeline finds them the same way in the repository and in an installed
package.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def sql_dir() -> Path:
    """The SQL models, one per file (``sql/<layer>/<name>.sql``)."""
    return REPOSITORY / "sql"


def data_dir() -> Path:
    """Reviewed data: FDA's manifest and row totals, and the vocabularies (``vocab/``)."""
    return REPOSITORY / "data"


def vocab_dir() -> Path:
    """The reviewed vocabularies (CSV) that Python and SQL both read."""
    return data_dir() / "vocab"


@cache
def read_vocabulary(name: str) -> tuple[dict[str, str], ...]:
    """The rows of ``vocab/<name>.csv`` in file order (cached: the files are part of the release)."""
    with (vocab_dir() / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))
