"""The Parquet lake: the durable store, one folder per quarter, replaced atomically.

Layout: ``<lake>/quarter=2023Q1/<table>/part-*.parquet`` for the seven FAERS tables plus
``deleted_cases``, ``rejects``, ``ingest_log`` and ``decoding``. A quarter is written in full under
``<lake>/.staging/`` and swapped into place with one rename, so a failed or killed ingest leaves the
previous state of that quarter intact and readable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pv.errors import UserError
from pv.quarters import Quarter
from pv.schema import TABLES

BOOKKEEPING_TABLES: tuple[str, ...] = ("deleted_cases", "rejects", "ingest_log", "decoding")
LAKE_TABLES: tuple[str, ...] = TABLES + BOOKKEEPING_TABLES
_STAGING = ".staging"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def quarter_dir(lake: Path, quarter: Quarter) -> Path:
    return lake / f"quarter={quarter}"


def table_glob(lake: Path, table: str) -> str:
    return str(lake.resolve() / "quarter=*" / table / "*.parquet")


def lake_quarters(lake: Path) -> list[Quarter]:
    """Quarters present in the lake, oldest first."""
    if not lake.is_dir():
        return []
    found = []
    for entry in lake.iterdir():
        if entry.is_dir() and entry.name.startswith("quarter="):
            found.append(Quarter.parse(entry.name.removeprefix("quarter=")))
    return sorted(found)


def new_staging_dir(lake: Path, quarter: Quarter) -> Path:
    staging = lake / _STAGING / f"quarter={quarter}-{uuid.uuid4().hex[:12]}"
    staging.mkdir(parents=True)
    return staging


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(first))


def publish(staging: Path, lake: Path, quarter: Quarter) -> None:
    """Make ``staging`` the quarter's folder; the old folder, if any, is swapped out and removed."""
    target = quarter_dir(lake, quarter)
    if not target.exists():
        os.rename(staging, target)
        return
    if not _exchange(staging, target):
        # Two renames: a crash between them leaves the old copy in .staging, restored by recover().
        retired = staging.with_name(staging.name + ".retired")
        os.rename(target, retired)
        os.rename(staging, target)
        staging = retired
    shutil.rmtree(staging, ignore_errors=True)


def recover(lake: Path) -> None:
    """Clear what an interrupted ingest left behind, restoring a quarter caught between two renames."""
    staging_root = lake / _STAGING
    if not staging_root.is_dir():
        return
    for entry in staging_root.iterdir():
        if entry.name.endswith(".retired"):
            quarter_name = entry.name.removesuffix(".retired").rsplit("-", 1)[0]
            target = lake / quarter_name
            if not target.exists():
                os.rename(entry, target)
                continue
        shutil.rmtree(entry, ignore_errors=True)


@contextmanager
def writer_lock(lake: Path) -> Iterator[None]:
    """One writer at a time: a second ingest into the same lake fails fast instead of interleaving."""
    lake.mkdir(parents=True, exist_ok=True)
    with open(lake / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"{lake}: another ingest is writing to this lake; try again when it ends"
            ) from None
        try:
            recover(lake)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
