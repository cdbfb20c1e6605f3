"""The Parquet lake: the durable store, one folder per quarter, replaced atomically.

Layout: ``<lake>/quarter=2023Q1/<table>/part-*.parquet`` for the seven FAERS tables plus
``deleted_cases``, ``rejects``, ``ingest_log`` and ``decoding``, and ``publication.json``: the quarter's
ingest id, when it was published, and whether it is partial. A quarter is written in full under
``<lake>/.staging/`` and swapped into place with one rename, so a failed or killed ingest leaves the
previous state of that quarter intact and readable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pv.locks import exclusive
from pv.quarters import Quarter
from pv.schema import TABLES
from pv.sources import expected_parts

BOOKKEEPING_TABLES: tuple[str, ...] = ("deleted_cases", "rejects", "ingest_log", "decoding")
LAKE_TABLES: tuple[str, ...] = TABLES + BOOKKEEPING_TABLES
_STAGING = ".staging"
PUBLICATION_FILE = "publication.json"
LAKE_ID_FILE = ".lake_id"
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
    """One writer at a time: a second ingest, run or build on the same lake fails at once, naming the
    holder's PID, instead of interleaving; what dead writers left in ``.staging`` is cleared."""
    lake.mkdir(parents=True, exist_ok=True)
    with exclusive(lake / ".lock", f"{lake}: the lake is locked"):
        lake_id(lake)
        recover(lake)
        yield


def lake_id(lake: Path) -> str:
    """The lake's identity (created on first use), so a database knows which lake it was built from."""
    path = lake / LAKE_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    identity = uuid.uuid4().hex
    temporary = path.with_name(f"{path.name}.{identity}")
    temporary.write_text(identity + "\n")
    try:
        os.link(temporary, path)  # never replaces an id another process wrote first
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class QuarterState:
    """What the lake holds for one quarter: which ingest published it, and how complete it is."""

    quarter: str
    ingest_id: str
    published_at: str
    partial: bool
    missing: tuple[str, ...] = ()  # tables (or the deleted-case list) the source did not have
    empty: tuple[str, ...] = ()  # tables present with no data row (header only)
    rows: dict[str, int] = field(default_factory=dict)  # data rows per table, deleted_cases included
    source: str = ""
    pipeline_version: str = ""
    synthetic: bool = False  # generated by `pv synth` (its marker was in the source), not FDA's data


def write_publication(folder: Path, state: QuarterState) -> None:
    """``publication.json`` of a staged quarter: published with it, atomically."""
    record = asdict(state) | {"missing": list(state.missing), "empty": list(state.empty)}
    (folder / PUBLICATION_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def quarter_state(lake: Path, quarter: Quarter) -> QuarterState | None:
    """The stored quarter's state; quarters published before ``publication.json`` existed get one derived
    from their ingest log (ingest id = hash of that log file, so it is stable)."""
    folder = quarter_dir(lake, quarter)
    if not folder.is_dir():
        return None
    try:
        record = json.loads((folder / PUBLICATION_FILE).read_text())
        known = {name: record[name] for name in QuarterState.__dataclass_fields__ if name in record}
        return QuarterState(**known | {"missing": tuple(record["missing"]), "empty": tuple(record["empty"])})
    except (FileNotFoundError, ValueError, TypeError, KeyError):  # absent (older lake) or unreadable
        return _derived_state(folder, quarter)


def _derived_state(folder: Path, quarter: Quarter) -> QuarterState:
    import pyarrow.parquet as pq

    logs = sorted((folder / "ingest_log").glob("*.parquet"))
    digest = hashlib.sha256()
    rows: dict[str, int] = {}
    published = ""
    for log in logs:
        digest.update(log.read_bytes())
        table = pq.read_table(log, columns=["table_name", "rows", "ingested_at"]).to_pylist()
        for record in table:
            rows[record["table_name"]] = rows.get(record["table_name"], 0) + (record["rows"] or 0)
            published = max(published, record["ingested_at"].isoformat() if record["ingested_at"] else "")
    missing = tuple(part for part in expected_parts(quarter) if part not in rows)
    empty = tuple(part for part in expected_parts(quarter) if rows.get(part) == 0)
    return QuarterState(
        quarter=str(quarter),
        ingest_id="log-" + digest.hexdigest()[:16],
        published_at=published,
        partial=bool(missing or empty),
        missing=missing,
        empty=empty,
        rows=rows,
    )


def lake_state(lake: Path) -> dict[str, QuarterState]:
    """Every published quarter's state, by quarter."""
    return {str(quarter): quarter_state(lake, quarter) for quarter in lake_quarters(lake)}
