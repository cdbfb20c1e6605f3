"""The optional MedDRA loader, on a tiny made-up release written by each test (never real MedDRA content:
MedDRA is licensed). Codes are invented (9xxxxxxx) and the hierarchy names are fictional; only the file
layout follows the MedDRA ASCII distribution. A smoke test on a real release runs if PV_MEDDRA_DIR is set."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pv.errors import UserError
from pv.normalize import build_term_maps, event_terms, indication_terms
from pv.normalize.meddra import load_meddra, meddra_dir

DERMATOMYOSITIS = 90000002
FICTIONAL_RASH = 90000001
MYOSITIS = 90000003
BREAST_CANCER = 90000004
PYOMYOSITIS = 90000005

PTS = {
    FICTIONAL_RASH: "Fictional rash",
    DERMATOMYOSITIS: "Dermatomyositis",
    MYOSITIS: "Myositis",
    BREAST_CANCER: "Breast cancer",
    PYOMYOSITIS: "Pyomyositis",
}
# (llt_code, llt_name, pt_code, currency); every PT is also an LLT of itself, as in a real release.
LLTS = [(code, name, code, "Y") for code, name in PTS.items()] + [
    (90001001, "Juvenile dermatomyositis", DERMATOMYOSITIS, "Y"),
    (90001002, "Fictional skin eruption", FICTIONAL_RASH, "Y"),
    (90001003, "Fictional muscle thing (obsolete)", DERMATOMYOSITIS, "N"),
    (90001004, "Fictional spot", FICTIONAL_RASH, "Y"),
    (90001005, "FICTIONAL SPOT", MYOSITIS, "N"),  # same text, non-current: the current LLT wins
    (90001006, "Fictional myosit^s", MYOSITIS, "Y"),
]
SOCS = {
    FICTIONAL_RASH: ("Fictional skin HLT", "Fictional skin HLGT", "Fictional skin SOC", "FSkin"),
    DERMATOMYOSITIS: (
        "Fictional inflammatory skin HLT",
        "Fictional skin HLGT",
        "Fictional skin SOC",
        "FSkin",
    ),
    MYOSITIS: ("Fictional muscle HLT", "Fictional muscle HLGT", "Fictional muscle SOC", "FMusc"),
    BREAST_CANCER: ("Fictional breast HLT", "Fictional neoplasm HLGT", "Fictional neoplasm SOC", "FNeo"),
    PYOMYOSITIS: ("Fictional infection HLT", "Fictional infection HLGT", "Fictional infection SOC", "FInf"),
}
SOC_CODES = {"FSkin": 90900001, "FMusc": 90900002, "FNeo": 90900003, "FInf": 90900004}


def write_release(folder: Path, version: str = "99.1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pt_lines = [f"{code}${name}$${SOC_CODES[SOCS[code][3]]}$$$$$$$$" for code, name in PTS.items()]
    llt_lines = [f"{code}${name}${pt}$$$$$$${cur}$$" for code, name, pt, cur in LLTS]
    hier_lines = []
    for index, (code, (hlt, hlgt, soc, abbrev)) in enumerate(SOCS.items()):
        soc_code = SOC_CODES[abbrev]
        hier_lines.append(
            f"{code}${90100000 + index}${90200000 + index}${soc_code}${PTS[code]}"
            f"${hlt}${hlgt}${soc}${abbrev}$${soc_code}$Y$"
        )
    # a secondary path for Dermatomyositis, which must not replace the primary one
    hier_lines.append(
        f"{DERMATOMYOSITIS}$90100099$90200099$90900002$Dermatomyositis$Fictional secondary HLT$"
        "Fictional muscle HLGT$Fictional muscle SOC$FMusc$$90900001$N$"
    )
    (folder / "pt.asc").write_text("\n".join(pt_lines) + "\n")
    (folder / "llt.asc").write_text("\r\n".join(llt_lines) + "\r\n")
    (folder / "mdhier.asc").write_text("\n".join(hier_lines) + "\n")
    (folder / "meddra_release.asc").write_text(f"{version}$English$$\n")
    return folder


@pytest.fixture
def release_dir(tmp_path: Path) -> Path:
    return write_release(tmp_path / "MedAscii")


def test_load_made_up_release(release_dir: Path) -> None:
    release = load_meddra(release_dir)
    assert release.version == "99.1"
    assert release.language == "English"
    assert release.pts[DERMATOMYOSITIS] == "Dermatomyositis"
    assert len(release.llts) == len(LLTS)
    assert sum(not llt.current for llt in release.llts) == 2
    assert release.primary[DERMATOMYOSITIS].hlt == "Fictional inflammatory skin HLT"
    assert release.primary[DERMATOMYOSITIS].soc_code == 90900001


def test_release_folder_with_medascii_subfolder_and_upper_case_names(tmp_path: Path) -> None:
    folder = write_release(tmp_path / "meddra_99_1_english" / "MedAscii")
    for child in folder.iterdir():
        child.rename(child.with_name(child.name.upper()))
    release = load_meddra(tmp_path / "meddra_99_1_english")
    assert release.version == "99.1"


def test_llt_to_pt_with_codes_hierarchy_and_version(release_dir: Path) -> None:
    release = load_meddra(release_dir)
    terms = [
        "Juvenile dermatomyositis",
        "fictional skin eruption",
        "Fictional spot",
        "Fictional muscle thing (obsolete)",
        "Fictional myosit's",
        "Dermatomyositis",
        "DERMATOMYOSITIS",
        "Childhood dermatomyositis",
        "Gottron's papules",
        "Pyomyositis",
        "Something not in MedDRA",
        None,
    ]
    frame = event_terms(terms, meddra=release)
    assert list(frame.columns) == [
        "raw",
        "pt",
        "groups",
        "pt_code",
        "llt_code",
        "hlt",
        "hlgt",
        "soc",
        "meddra_version",
    ]
    rows = {row.raw: row for row in frame.itertuples() if isinstance(row.raw, str)}

    juvenile = rows["Juvenile dermatomyositis"]
    assert (juvenile.pt, juvenile.pt_code, juvenile.llt_code) == (
        "Dermatomyositis",
        DERMATOMYOSITIS,
        90001001,
    )
    assert (juvenile.hlt, juvenile.hlgt, juvenile.soc) == (
        "Fictional inflammatory skin HLT",
        "Fictional skin HLGT",
        "Fictional skin SOC",
    )
    assert list(juvenile.groups) == ["dm_broad", "dm_narrow"]
    assert juvenile.meddra_version == "99.1"

    eruption = rows["fictional skin eruption"]
    assert (eruption.pt, eruption.pt_code, eruption.llt_code, list(eruption.groups)) == (
        "Fictional rash",
        FICTIONAL_RASH,
        90001002,
        [],
    )
    assert (rows["Fictional spot"].pt, rows["Fictional spot"].llt_code) == ("Fictional rash", 90001004)
    obsolete = rows["Fictional muscle thing (obsolete)"]
    assert (obsolete.pt, list(obsolete.groups)) == ("Dermatomyositis", ["dm_broad", "dm_narrow"])
    assert rows["Fictional myosit's"].pt == "Myositis"
    for raw in ("Dermatomyositis", "DERMATOMYOSITIS"):
        assert (rows[raw].pt, rows[raw].llt_code) == ("Dermatomyositis", DERMATOMYOSITIS)
    # not an LLT of the made-up release: the project fix applies, then the PT gets its codes
    childhood = rows["Childhood dermatomyositis"]
    assert (childhood.pt, childhood.pt_code, childhood.soc) == (
        "Dermatomyositis",
        DERMATOMYOSITIS,
        "Fictional skin SOC",
    )
    gottron = rows["Gottron's papules"]
    assert (gottron.pt, list(gottron.groups)) == ("Gottron's papules", ["dm_broad"])
    assert pd.isna(gottron.pt_code) and pd.isna(gottron.soc)
    assert rows["Pyomyositis"].soc == "Fictional infection SOC"
    assert list(rows["Pyomyositis"].groups) == []
    unknown = rows["Something not in MedDRA"]
    assert unknown.pt == "Something not in MedDRA" and pd.isna(unknown.llt_code)
    assert unknown.meddra_version == "99.1"
    assert pd.isna(frame.pt.iloc[-1])


def test_indications_with_meddra(release_dir: Path) -> None:
    release = load_meddra(release_dir)
    frame = indication_terms(["BREAST CANCER", "breast carcinoma"], meddra=release)
    assert list(frame.pt) == ["Breast cancer", "Breast cancer"]
    assert list(frame.pt_code) == [BREAST_CANCER, BREAST_CANCER]
    assert [list(groups) for groups in frame.groups] == [["breast_cancer", "oncology"]] * 2
    assert list(frame.soc) == ["Fictional neoplasm SOC"] * 2


def test_sql_door_with_meddra(release_dir: Path) -> None:
    release = load_meddra(release_dir)
    con = duckdb.connect()
    con.execute(
        "create table reac as select * from (values ('Juvenile dermatomyositis'), ('Fictional spot')) t(pt)"
    )
    counts = build_term_maps(
        con, "select pt as term from reac", "select 'Breast cancer' as term", meddra=release
    )
    rows = con.execute(
        "select raw, pt, groups, pt_code, llt_code, hlt, hlgt, soc, meddra_version "
        "from curated.event_term_map order by raw"
    ).fetchall()
    assert rows == [
        ("Fictional spot", "Fictional rash", [], FICTIONAL_RASH, 90001004, "Fictional skin HLT",
         "Fictional skin HLGT", "Fictional skin SOC", "99.1"),
        ("Juvenile dermatomyositis", "Dermatomyositis", ["dm_broad", "dm_narrow"], DERMATOMYOSITIS, 90001001,
         "Fictional inflammatory skin HLT", "Fictional skin HLGT", "Fictional skin SOC", "99.1"),
    ]  # fmt: skip
    assert counts["event_terms_resolved"] == 2
    assert con.execute("select pt_code, meddra_version from curated.indication_term_map").fetchall() == [
        (BREAST_CANCER, "99.1")
    ]


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("llt.asc", "90001001$Juvenile dermatomyositis$90000002$\n", r"llt\.asc: line 1 has 3 fields"),
        (
            "llt.asc",
            "90001001$Juvenile dermatomyositis$90000002$$$$$$$Y$\n90001002$x",
            r"llt\.asc: line 2 does not end",
        ),
        ("llt.asc", "9000100X$Juvenile dermatomyositis$90000002$$$$$$$Y$$\n", r"llt\.asc: line 1: llt_code"),
        (
            "llt.asc",
            "90001001$Juvenile dermatomyositis$12345678$$$$$$$Y$$\n",
            r"llt\.asc: line 1: pt_code 12345678",
        ),
        (
            "llt.asc",
            "90001001$Juvenile dermatomyositis$90000002$$$$$$$Q$$\n",
            r"llt\.asc: line 1: llt_currency",
        ),
        ("llt.asc", "", r"llt\.asc: file is empty"),
        ("pt.asc", "90000001,Fictional rash\n", r"pt\.asc: line 1 does not end"),
        (
            "mdhier.asc",
            "90000001$1$2$3$Fictional rash$a$b$c$d$$3$X$\n",
            r"mdhier\.asc: line 1: primary_soc_fg",
        ),
        ("meddra_release.asc", "$English$$\n", r"meddra_release\.asc: line 1: version is empty"),
    ],
)
def test_malformed_file_names_the_file(release_dir: Path, file: str, content: str, message: str) -> None:
    (release_dir / file).write_text(content)
    with pytest.raises(UserError, match=message):
        load_meddra(release_dir)


@pytest.mark.parametrize("file", ["llt.asc", "pt.asc", "mdhier.asc", "meddra_release.asc"])
def test_missing_file_names_the_file(release_dir: Path, file: str) -> None:
    (release_dir / file).unlink()
    with pytest.raises(UserError, match=file.replace(".", r"\.") + ": missing"):
        load_meddra(release_dir)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="MedDRA folder not found"):
        load_meddra(tmp_path / "nowhere")


def test_meddra_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PV_MEDDRA_DIR", raising=False)
    assert meddra_dir() is None
    monkeypatch.setenv("PV_MEDDRA_DIR", "")
    assert meddra_dir() is None
    monkeypatch.setenv("PV_MEDDRA_DIR", str(tmp_path))
    assert meddra_dir() == tmp_path


@pytest.mark.skipif(meddra_dir() is None, reason="PV_MEDDRA_DIR is not set (no licensed MedDRA release here)")
def test_real_release_smoke() -> None:
    folder = meddra_dir()
    assert folder is not None
    release = load_meddra(folder)
    assert release.version
    frame = event_terms(["Dermatomyositis", "Polymyositis", "Dermatomycosis"], meddra=release)
    assert list(frame.pt) == ["Dermatomyositis", "Polymyositis", "Dermatomycosis"]
    assert list(frame.pt_code) == [10012503, 10036102, frame.pt_code.iloc[2]]
    assert [list(groups) for groups in frame.groups] == [["dm_broad", "dm_narrow"], ["dm_broad"], []]
    assert frame.soc.notna().all()
    assert (frame.meddra_version == release.version).all()
