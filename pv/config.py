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
