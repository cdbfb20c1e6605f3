"""Where the pipeline keeps its files; every default can be overridden by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$PV_DATA_DIR``, else ``./data`` in the working directory."""
    return Path(os.environ.get("PV_DATA_DIR", "data"))


def default_db() -> Path:
    return Path(os.environ.get("PV_DB", data_dir() / "pv.duckdb"))


def default_lake() -> Path:
    return Path(os.environ.get("PV_LAKE", data_dir() / "lake"))


def default_downloads() -> Path:
    return data_dir() / "downloads"


def default_work_dir() -> Path:
    return data_dir() / "tmp"


# FDA's largest table is DRUG, about 2 M rows of about 100 bytes (faers_format.md §1 sizes): some 250 MB.
DEFAULT_MAX_MEMBER_BYTES = 5_000_000_000
DEFAULT_MAX_ZIP_RATIO = 100


def _positive_number(name: str, default: float) -> float:
    from pv.errors import UserError

    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise UserError(f"{name}={text!r}: expected a positive number")
    return value


def max_member_bytes() -> int:
    """``$PV_MAX_MEMBER_BYTES``: no zip member may inflate beyond this (default 5 GB, ~20x FDA's largest)."""
    return int(_positive_number("PV_MAX_MEMBER_BYTES", DEFAULT_MAX_MEMBER_BYTES))


def max_zip_ratio() -> float:
    """``$PV_MAX_ZIP_RATIO``: inflated/compressed size beyond which a member is taken for a zip bomb."""
    return _positive_number("PV_MAX_ZIP_RATIO", DEFAULT_MAX_ZIP_RATIO)
