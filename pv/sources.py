"""Find the quarter files in a zip or a folder, whatever FDA called them that quarter.

A source offers each quarter once (one zip, or one folder of table files); it is read only through regular
files and folders: symbolic links are refused, never followed, and pipes, devices and sockets are refused
before anything opens them. A zip member whose inflated size is beyond the bound of ``member_bound`` is
refused before it is extracted.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pv import config
from pv.errors import UserError
from pv.quarters import Quarter, quarter_from_name
from pv.schema import TABLES

# FDA publishes a deleted-case list with every quarter from 2019Q1 (faers_format.md §1, FAQ #45).
FIRST_DELETED_LIST = Quarter(2019, 1)
DELETED_PART = "deleted_cases"
# Below this inflated size a member is too small to matter, whatever its compression ratio.
RATIO_FLOOR_BYTES = 1 << 20

# DEMO04Q1.TXT, demo12q4.txt, DEMO18Q1_new.txt (FDA's 2018Q1 reissue), and the head extracts in the
# reference pack (DRUG12Q4_head.txt, DEMO20Q3-10000.txt). PDFs and legacy STAT*/SIZE* files never match.
_TABLE_MEMBER = re.compile(
    r"^(demo|drug|reac|outc|rpsr|ther|indi)(\d{2})q([1-4])([_-][a-z0-9_-]*)?\.txt$", re.I
)
# Deleted-case lists from 2019Q1: ADR19Q1DeletedCases.txt, 21Q1DeletedCases.txt, DELETE26Q1.txt and the
# one-off AllDeletedCases.txt of 2019Q1 (faers_format.md §1).
_DELETED_MEMBER = re.compile(
    r"^(?:delete\d{2}q[1-4]|(?:adr)?\d{2}q[1-4]deletedcases|alldeletedcases)\.txt$", re.I
)


@dataclass(frozen=True)
class Member:
    """One input file: a path on disk, or a member inside a zip."""

    name: str  # the member path inside the zip, or the file path
    zip_path: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.zip_path.name}:{self.name}" if self.zip_path else self.name

    @property
    def depth(self) -> int:
        return len(PurePosixPath(self.name).parts)


@dataclass
class QuarterSource:
    """Everything found for one quarter."""

    quarter: Quarter
    origin: Path  # the zip, or the folder the files were found in
    tables: dict[str, Member] = field(default_factory=dict)
    deleted: list[Member] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def is_zip(self) -> bool:
        return self.origin.suffix.lower() == ".zip" and self.origin.is_file()

    @property
    def missing_tables(self) -> list[str]:
        return [table for table in TABLES if table not in self.tables]

    @property
    def missing_parts(self) -> list[str]:
        """What a complete quarter of this era has and this source lacks (``expected_parts``)."""
        present = set(self.tables) | ({DELETED_PART} if self.deleted else set())
        return [part for part in expected_parts(self.quarter) if part not in present]


def expected_parts(quarter: Quarter) -> tuple[str, ...]:
    """A complete quarter: the seven tables of its era, plus a deleted-case list from 2019Q1."""
    return TABLES + ((DELETED_PART,) if quarter >= FIRST_DELETED_LIST else ())


def part_label(part: str) -> str:
    """DEMO, DRUG, ... or "deleted-case list", as a user reads them."""
    return "deleted-case list" if part == DELETED_PART else part.upper()


def member_bound(info: zipfile.ZipInfo) -> int:
    """The most bytes a zip member may inflate to: ``PV_MAX_MEMBER_BYTES`` (default about 20x the largest
    table FDA has published), and, above 1 MiB, ``PV_MAX_ZIP_RATIO`` times its compressed size (FAERS text
    deflates 3-10x; a zip bomb several hundred times)."""
    by_ratio = max(RATIO_FLOOR_BYTES, config.max_zip_ratio() * info.compress_size)
    return min(config.max_member_bytes(), by_ratio)


def _check_member(zip_path: Path, info: zipfile.ZipInfo) -> None:
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UserError(f"{zip_path.name}:{info.filename}: a symbolic link inside the zip; refused")
    if info.file_size > member_bound(info):
        raise UserError(
            f"{zip_path.name}:{info.filename}: declares {info.file_size:,} bytes inflated from "
            f"{info.compress_size:,} (above the bound of {member_bound(info):,}: PV_MAX_MEMBER_BYTES, "
            "PV_MAX_ZIP_RATIO); refused as a possible zip bomb"
        )


def classify(name: str) -> tuple[str, Quarter | None] | None:
    """``(table, quarter)`` for a table file, ``("deleted", quarter|None)`` for a deleted list, else None."""
    base = PurePosixPath(name.replace("\\", "/")).name
    table_match = _TABLE_MEMBER.match(base)
    if table_match:
        quarter = Quarter(2000 + int(table_match.group(2)), int(table_match.group(3)))
        return table_match.group(1).lower(), quarter
    if _DELETED_MEMBER.match(base):
        return "deleted", quarter_from_name(base)
    return None


def _pick_shallowest(table: str, quarter: Quarter, candidates: list[Member]) -> Member:
    """FDA zips sometimes hold a nested duplicate folder: prefer the shallowest path, but never guess."""
    shallowest = min(member.depth for member in candidates)
    best = [member for member in candidates if member.depth == shallowest]
    if len(best) > 1:
        names = ", ".join(sorted(member.label for member in best))
        raise UserError(f"{quarter}: {len(best)} {table.upper()} files ({names}); pass only one of them")
    return best[0]


def _assemble(
    quarter: Quarter, origin: Path, found: list[tuple[str, Member]], ignored: list[str]
) -> QuarterSource:
    source = QuarterSource(quarter=quarter, origin=origin, ignored=ignored)
    by_table: dict[str, list[Member]] = defaultdict(list)
    for kind, member in found:
        if kind == "deleted":
            source.deleted.append(member)
        else:
            by_table[kind].append(member)
    for table, candidates in by_table.items():
        source.tables[table] = _pick_shallowest(table, quarter, candidates)
    source.deleted.sort(key=lambda member: member.name.lower())
    return source


def scan_zip(zip_path: Path) -> QuarterSource:
    """The quarter held by one FDA zip; the zip's name or its members give the quarter."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile:
        raise UserError(f"{zip_path}: not a valid zip file (corrupt or truncated)") from None
    except OSError as error:
        raise UserError(f"{zip_path}: cannot read ({error.strerror or error})") from None
    zip_quarter = quarter_from_name(zip_path.name)
    found: list[tuple[str, Member]] = []
    ignored: list[str] = []
    member_quarters: set[Quarter] = set()
    for info in infos:
        name = info.filename
        kind = classify(name)
        if kind is None:
            ignored.append(name)
            continue
        _check_member(zip_path, info)
        table, quarter = kind
        if table != "deleted" and quarter is not None:
            member_quarters.add(quarter)
        found.append((table, Member(name=name, zip_path=zip_path)))
    if not any(kind != "deleted" for kind, _ in found):
        raise UserError(
            f"{zip_path}: no FAERS/AERS table files inside (expected members like ASCII/DEMO23Q1.txt)"
        )
    if len(member_quarters) > 1:
        listed = ", ".join(str(q) for q in sorted(member_quarters))
        raise UserError(f"{zip_path}: table files of several quarters inside ({listed})")
    member_quarter = next(iter(member_quarters))
    if zip_quarter is not None and zip_quarter != member_quarter:
        raise UserError(f"{zip_path}: the zip is named for {zip_quarter} but its tables are {member_quarter}")
    return _assemble(member_quarter, zip_path, found, ignored)


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _refuse_unless_regular(path: Path, mode: int) -> None:
    if stat.S_ISLNK(mode):
        raise UserError(f"{path}: a symbolic link; links inside a source are refused, never followed")
    for test, kind in _NOT_REGULAR:
        if test(mode):
            raise UserError(f"{path}: {kind}, not a regular file; refused")


def _regular_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (hidden entries skipped); anything unreadable, any symbolic link
    and any pipe, device or socket is an error, never a silent skip."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as error:
        raise UserError(f"{folder}: cannot read this folder ({error.strerror or error})") from None
    files: list[Path] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as error:
            raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
        _refuse_unless_regular(path, mode)
        if stat.S_ISDIR(mode):
            files += _regular_files(path)
        elif not os.access(path, os.R_OK):
            raise UserError(f"{path}: cannot read this file (permission denied)")
        else:
            files.append(path)
    return files


def _one_folder_per_quarter(quarter: Quarter, items: list[tuple[str, Member]]) -> None:
    """A quarter's table files come from one folder; two folders are two copies, and which should win?"""
    folders = sorted({str(Path(member.name).parent) for kind, member in items if kind != "deleted"})
    if len(folders) > 1:
        raise UserError(f"{quarter}: offered by {len(folders)} folders ({', '.join(folders)}); pass only one")
    names = [Path(member.name).name.lower() for kind, member in items if kind == "deleted"]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserError(f"{quarter}: deleted-case list {twice[0]} found in several folders; pass only one")


def scan_folder(folder: Path, wanted: set[Quarter] | None = None) -> list[QuarterSource]:
    """Quarters (all, or ``wanted``) under a folder of zips and/or extracted files, each offered once."""
    zips: dict[Quarter, list[QuarterSource]] = defaultdict(list)
    loose: dict[Quarter, list[tuple[str, Member]]] = defaultdict(list)
    loose_deleted: list[Member] = []
    for path in _regular_files(folder):
        if path.name.lower().endswith(".zip"):
            scanned = scan_zip(path)
            zips[scanned.quarter].append(scanned)
            continue
        kind = classify(path.name)
        if kind is None:
            continue
        table, quarter = kind
        member = Member(name=str(path))
        if table == "deleted":
            loose_deleted.append(member)
        elif quarter is not None:
            loose[quarter].append((table, member))
    for member in loose_deleted:
        quarter = quarter_from_name(member.name)
        if quarter is None:  # AllDeletedCases.txt outside its zip belongs with the folder's quarter
            quarters = {
                q
                for q, items in loose.items()
                if any(Path(m.name).parent == Path(member.name).parent for _, m in items)
            }
            if len(quarters) != 1:
                raise UserError(f"{member.name}: cannot tell which quarter this deleted-case list belongs to")
            quarter = quarters.pop()
        loose[quarter].append(("deleted", member))

    sources: list[QuarterSource] = []
    for quarter in sorted(set(zips) | set(loose)):
        if wanted is not None and quarter not in wanted:
            continue
        if len(zips[quarter]) > 1:
            names = ", ".join(str(s.origin) for s in zips[quarter])
            raise UserError(f"{quarter}: {len(zips[quarter])} zips ({names}); pass only one of them")
        if zips[quarter] and loose.get(quarter):
            folders = sorted({str(Path(member.name).parent) for _, member in loose[quarter]})
            raise UserError(
                f"{quarter}: offered twice, by {zips[quarter][0].origin} and by {', '.join(folders)}; "
                "pass only one of them"
            )
        if zips[quarter]:
            sources.append(zips[quarter][0])
            continue
        _one_folder_per_quarter(quarter, loose[quarter])
        tables = [member for kind, member in loose[quarter] if kind != "deleted"]
        origin = Path(tables[0].name).parent if tables else folder
        source = _assemble(quarter, origin, loose[quarter], [])
        if not source.tables:
            raise UserError(f"{folder}: a deleted-case list for {quarter} but no table files of that quarter")
        sources.append(source)
    return sources


def discover(source: Path, quarters: list[Quarter] | None = None) -> list[QuarterSource]:
    """Quarter inputs in a zip or folder, restricted to ``quarters`` when given."""
    try:
        mode = source.stat().st_mode  # the path given may itself be a link; what is inside may not
    except FileNotFoundError:
        raise UserError(f"{source}: no such file or folder") from None
    except OSError as error:
        raise UserError(f"{source}: cannot read ({error.strerror or error})") from None
    _refuse_unless_regular(source, mode)
    if not stat.S_ISDIR(mode) and not os.access(source, os.R_OK):
        raise UserError(f"{source}: cannot read this file (permission denied)")
    if source.is_file():
        found = [scan_zip(source)] if source.suffix.lower() == ".zip" else scan_single_file(source)
    else:
        found = scan_folder(source, set(quarters) if quarters is not None else None)
    if quarters is not None:
        found = [item for item in found if item.quarter in set(quarters)]
    if not found:
        restriction = f" for {', '.join(str(q) for q in quarters)}" if quarters else ""
        raise UserError(f"{source}: no FAERS/AERS quarter files found{restriction}")
    return found


def scan_single_file(path: Path) -> list[QuarterSource]:
    """A single table file given directly: the quarter comes from its name."""
    kind = classify(path.name)
    if kind is None or kind[0] == "deleted" or kind[1] is None:
        raise UserError(f"{path}: not a FAERS/AERS zip or table file (expected e.g. faers_ascii_2023q1.zip)")
    table, quarter = kind
    return [QuarterSource(quarter=quarter, origin=path.parent, tables={table: Member(name=str(path))})]
