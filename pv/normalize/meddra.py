"""A user's own licensed MedDRA release (the ``MedAscii`` folder): LLT → PT, codes and primary-SOC hierarchy.

MedDRA is licensed (vocabulary.md §7), so nothing of it ships with the project: the pipeline works on PT text
alone and only uses a release when the user points ``PV_MEDDRA_DIR`` (or a path argument) at their copy. The
ASCII files are ``$``-delimited, have no header, and every line ends with a ``$``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pv.errors import UserError

# Minimum number of fields per line (before the trailing ``$``), from the MSSO distribution file format:
# llt.asc   llt_code, llt_name, pt_code, llt_whoart_code, llt_harts_code, llt_costart_sym, llt_icd9_code,
#           llt_icd9cm_code, llt_icd10_code, llt_currency, llt_jart_code
# pt.asc    pt_code, pt_name, null_field, pt_soc_code, pt_whoart_code, ... pt_jart_code
# mdhier.asc pt_code, hlt_code, hlgt_code, soc_code, pt_name, hlt_name, hlgt_name, soc_name, soc_abbrev,
#           null_field, pt_soc_code, primary_soc_fg
# meddra_release.asc  version, language, ...
REQUIRED_FILES: dict[str, int] = {"meddra_release.asc": 1, "pt.asc": 2, "llt.asc": 10, "mdhier.asc": 12}
ENV_VAR = "PV_MEDDRA_DIR"


@dataclass(frozen=True)
class Llt:
    """One lowest level term; ``current`` is MedDRA's currency flag (non-current LLTs still map to a PT)."""

    code: int
    name: str
    pt_code: int
    current: bool


@dataclass(frozen=True)
class PrimaryPath:
    """The primary-SOC path of a PT (the mdhier.asc row flagged ``primary_soc_fg = Y``)."""

    hlt_code: int
    hlt: str
    hlgt_code: int
    hlgt: str
    soc_code: int
    soc: str
    soc_abbrev: str


@dataclass(frozen=True, eq=False)
class MeddraRelease:
    """One loaded release; compared by identity so it can key caches of derived lookup tables."""

    folder: Path
    version: str
    language: str
    pts: dict[int, str]
    llts: tuple[Llt, ...]
    primary: dict[int, PrimaryPath]


def meddra_dir() -> Path | None:
    """The user's MedDRA folder from ``PV_MEDDRA_DIR``; None when unset, because MedDRA is optional."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def load_meddra(folder: Path) -> MeddraRelease:
    """Read ``llt.asc``, ``pt.asc``, ``mdhier.asc`` and ``meddra_release.asc`` from a MedDRA ASCII folder.

    ``folder`` may be the ``MedAscii`` folder itself or the release folder that contains it. Any defect ends
    in a one-line :class:`UserError` naming the file (and line), never a traceback deep in the mapping.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(f"{folder}: MedDRA folder not found (set {ENV_VAR} to a MedDRA MedAscii folder)")
    base = _ascii_folder(folder)
    files = {name: _find_file(base, name) for name in REQUIRED_FILES}
    version, language = _read_release(files["meddra_release.asc"])
    pts = _read_pts(files["pt.asc"])
    llts = _read_llts(files["llt.asc"], pts)
    primary = _read_mdhier(files["mdhier.asc"], pts)
    return MeddraRelease(folder=base, version=version, language=language, pts=pts, llts=llts, primary=primary)


def _ascii_folder(folder: Path) -> Path:
    """Accept the release folder as well as its ``MedAscii`` subfolder (names compared case-insensitively)."""
    names = {child.name.lower(): child for child in folder.iterdir()}
    if "llt.asc" not in names and "medascii" in names and names["medascii"].is_dir():
        return names["medascii"]
    return folder


def _find_file(folder: Path, name: str) -> Path:
    """A file of the release; MedDRA 9.x used upper-case names, so names are compared case-insensitively."""
    for child in folder.iterdir():
        if child.name.lower() == name and child.is_file():
            return child
    raise UserError(
        f"{folder / name}: missing from the MedDRA folder "
        f"(expected {', '.join(sorted(REQUIRED_FILES))} of a MedDRA ASCII release)"
    )


def _lines(path: Path, min_fields: int) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line, after checking the trailing ``$`` and the field count."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if not line.endswith("$"):
            raise UserError(f"{path}: line {number} does not end with '$' (not a MedDRA ASCII file?)")
        fields = line[:-1].split("$")
        if len(fields) < min_fields:
            raise UserError(f"{path}: line {number} has {len(fields)} fields, expected at least {min_fields}")
        rows.append((number, fields))
    if not rows:
        raise UserError(f"{path}: file is empty")
    return rows


def _code(path: Path, number: int, value: str, column: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise UserError(f"{path}: line {number}: {column} {value!r} is not a MedDRA code")
    return int(text)


def _name(path: Path, number: int, value: str, column: str) -> str:
    text = value.strip()
    if not text:
        raise UserError(f"{path}: line {number}: {column} is empty")
    return text


def _read_release(path: Path) -> tuple[str, str]:
    number, fields = _lines(path, REQUIRED_FILES["meddra_release.asc"])[0]
    version = _name(path, number, fields[0], "version")
    language = fields[1].strip() if len(fields) > 1 else ""
    return version, language


def _read_pts(path: Path) -> dict[int, str]:
    pts: dict[int, str] = {}
    for number, fields in _lines(path, REQUIRED_FILES["pt.asc"]):
        code = _code(path, number, fields[0], "pt_code")
        if code in pts:
            raise UserError(f"{path}: line {number}: pt_code {code} appears twice")
        pts[code] = _name(path, number, fields[1], "pt_name")
    return pts


def _read_llts(path: Path, pts: dict[int, str]) -> tuple[Llt, ...]:
    llts: list[Llt] = []
    seen: set[int] = set()
    for number, fields in _lines(path, REQUIRED_FILES["llt.asc"]):
        code = _code(path, number, fields[0], "llt_code")
        pt_code = _code(path, number, fields[2], "pt_code")
        if code in seen:
            raise UserError(f"{path}: line {number}: llt_code {code} appears twice")
        if pt_code not in pts:
            raise UserError(f"{path}: line {number}: pt_code {pt_code} is not in pt.asc")
        currency = fields[9].strip().upper()
        if currency not in ("Y", "N"):
            raise UserError(f"{path}: line {number}: llt_currency {fields[9]!r} is not Y or N")
        seen.add(code)
        llts.append(Llt(code, _name(path, number, fields[1], "llt_name"), pt_code, currency == "Y"))
    return tuple(llts)


def _read_mdhier(path: Path, pts: dict[int, str]) -> dict[int, PrimaryPath]:
    primary: dict[int, PrimaryPath] = {}
    for number, fields in _lines(path, REQUIRED_FILES["mdhier.asc"]):
        flag = fields[11].strip().upper()
        if flag not in ("Y", "N"):
            raise UserError(f"{path}: line {number}: primary_soc_fg {fields[11]!r} is not Y or N")
        pt_code = _code(path, number, fields[0], "pt_code")
        if pt_code not in pts:
            raise UserError(f"{path}: line {number}: pt_code {pt_code} is not in pt.asc")
        if flag != "Y":
            continue
        if pt_code in primary:
            raise UserError(f"{path}: line {number}: PT {pt_code} has a second primary SOC")
        primary[pt_code] = PrimaryPath(
            hlt_code=_code(path, number, fields[1], "hlt_code"),
            hlt=_name(path, number, fields[5], "hlt_name"),
            hlgt_code=_code(path, number, fields[2], "hlgt_code"),
            hlgt=_name(path, number, fields[6], "hlgt_name"),
            soc_code=_code(path, number, fields[3], "soc_code"),
            soc=_name(path, number, fields[7], "soc_name"),
            soc_abbrev=fields[8].strip(),
        )
    return primary
