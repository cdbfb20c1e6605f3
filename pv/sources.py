"""Find the quarter files in a zip or a folder, whatever FDA called them that quarter."""

from __future__ import annotations

import os
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pv.errors import UserError
from pv.quarters import Quarter, quarter_from_name
from pv.schema import TABLES

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
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile:
        raise UserError(f"{zip_path}: not a valid zip file (corrupt or truncated)") from None
    except OSError as error:
        raise UserError(f"{zip_path}: cannot read ({error.strerror or error})") from None
    zip_quarter = quarter_from_name(zip_path.name)
    found: list[tuple[str, Member]] = []
    ignored: list[str] = []
    member_quarters: set[Quarter] = set()
    for name in names:
        kind = classify(name)
        if kind is None:
            ignored.append(name)
            continue
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


def scan_folder(folder: Path, wanted: set[Quarter] | None = None) -> list[QuarterSource]:
    """Quarters (all, or ``wanted``) under a folder of zips and/or extracted files; a zip wins."""
    zips: dict[Quarter, list[QuarterSource]] = defaultdict(list)
    loose: dict[Quarter, list[tuple[str, Member]]] = defaultdict(list)
    loose_deleted: list[Member] = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        for file_name in sorted(files):
            path = Path(directory) / file_name
            if file_name.lower().endswith(".zip"):
                scanned = scan_zip(path)
                zips[scanned.quarter].append(scanned)
                continue
            kind = classify(file_name)
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
        if zips[quarter]:
            source = zips[quarter][0]
            source.ignored.extend(member.name for _, member in loose.get(quarter, []))
        else:
            source = _assemble(quarter, folder, loose[quarter], [])
            if not source.tables:
                raise UserError(
                    f"{folder}: a deleted-case list for {quarter} but no table files of that quarter"
                )
        sources.append(source)
    return sources


def discover(source: Path, quarters: list[Quarter] | None = None) -> list[QuarterSource]:
    """Quarter inputs in a zip or folder, restricted to ``quarters`` when given."""
    if not source.exists():
        raise UserError(f"{source}: no such file or folder")
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
