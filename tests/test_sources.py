"""Finding quarter files in zips and folders, whatever FDA named them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pv.errors import UserError
from pv.quarters import Quarter
from pv.sources import classify, discover, scan_zip


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ASCII/DEMO23Q1.txt", ("demo", Quarter(2023, 1))),
        ("ascii/DRUG04Q1.TXT", ("drug", Quarter(2004, 1))),
        ("ascii/outc12q4.txt", ("outc", Quarter(2012, 4))),
        ("ASCII/DEMO18Q1_new.txt", ("demo", Quarter(2018, 1))),
        ("deleted/ADR19Q1DeletedCases.txt", ("deleted", Quarter(2019, 1))),
        ("Deleted/21Q1DeletedCases.txt", ("deleted", Quarter(2021, 1))),
        ("Deleted/DELETE26Q2.txt", ("deleted", Quarter(2026, 2))),
        ("Deleted/AllDeletedCases.txt", ("deleted", None)),
        ("ASCII/DEMO23Q1.pdf", None),
        ("ascii/STAT04Q1.TXT", None),
        ("ascii/SIZE04Q1.TXT", None),
        ("Thumbs.db", None),
    ],
)
def test_classify_member_names(name, expected):
    assert classify(name) == expected


def test_real_fda_sample_zips(samples):
    legacy = scan_zip(samples / "2004q1/aers_ascii_2004q1.zip")
    assert legacy.quarter == Quarter(2004, 1)
    assert sorted(legacy.tables) == ["demo", "drug", "indi", "outc", "reac", "rpsr", "ther"]
    assert legacy.tables["demo"].name == "ascii/DEMO04Q1.TXT"
    faers = scan_zip(samples / "2017q2/faers_ascii_2017q2.zip")
    assert faers.quarter == Quarter(2017, 2) and not faers.missing_tables


def test_zip_prefers_shallowest_member_and_ignores_strays(tmp_path):
    archive = _zip(
        tmp_path / "faers_ascii_2018q1.zip",
        {
            "ASCII/DEMO18Q1_new.txt": b"primaryid\n",
            "ASCII/nested/DEMO18Q1.txt": b"primaryid\n",
            "ASCII/DRUG18Q1.txt": b"primaryid\n",
            "ASCII/ASC_NTS.pdf": b"%PDF",
            "Deleted/ADR18Q1DeletedCases.txt": b"1\n",
            "Thumbs.db": b"",
        },
    )
    source = scan_zip(archive)
    assert source.tables["demo"].name == "ASCII/DEMO18Q1_new.txt"
    assert [m.name for m in source.deleted] == ["Deleted/ADR18Q1DeletedCases.txt"]
    assert sorted(source.ignored) == ["ASCII/ASC_NTS.pdf", "Thumbs.db"]
    assert source.missing_tables == ["reac", "outc", "rpsr", "ther", "indi"]


def test_two_members_at_the_same_depth_are_an_error(tmp_path):
    archive = _zip(
        tmp_path / "faers_ascii_2018q1.zip", {"ASCII/DEMO18Q1.txt": b"x\n", "ASCII/DEMO18Q1_new.txt": b"x\n"}
    )
    with pytest.raises(UserError, match=r"2018Q1: 2 DEMO files"):
        scan_zip(archive)


def test_zip_name_and_members_must_agree(tmp_path):
    archive = _zip(tmp_path / "faers_ascii_2023q1.zip", {"ASCII/DEMO22Q4.txt": b"x\n"})
    with pytest.raises(UserError, match="named for 2023Q1 but its tables are 2022Q4"):
        scan_zip(archive)


def test_corrupt_and_foreign_zips(tmp_path):
    corrupt = tmp_path / "faers_ascii_2023q1.zip"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(UserError, match=r"faers_ascii_2023q1.zip: not a valid zip file"):
        scan_zip(corrupt)
    foreign = _zip(tmp_path / "photos.zip", {"a.jpg": b"\xff\xd8"})
    with pytest.raises(UserError, match=r"photos.zip: no FAERS/AERS table files inside"):
        scan_zip(foreign)


def test_folder_with_zip_and_extracted_copy_is_refused(samples):
    with pytest.raises(UserError) as refused:
        discover(samples / "2004q1")
    assert str(refused.value) == (
        f"2004Q1: offered twice, by {samples / '2004q1/aers_ascii_2004q1.zip'} and by "
        f"{samples / '2004q1/ascii'}; pass only one of them"
    )


def test_folder_of_loose_files_with_deleted_list(samples):
    (source,) = discover(samples / "2025q4")
    assert source.quarter == Quarter(2025, 4)
    assert not source.missing_tables
    assert [Path(m.name).name for m in source.deleted] == ["DELETE25Q4.txt"]


def test_quarter_filter_and_ambiguous_folder(samples):
    found = discover(samples, [Quarter(2025, 4)])
    assert [str(s.quarter) for s in found] == ["2025Q4"]
    with pytest.raises(UserError, match=r"^2004Q1: offered twice"):
        discover(samples)
    with pytest.raises(
        UserError, match=r"^2012Q4: offered by 2 folders \(.*drug_head_99rows, .*ten_row_heads\)"
    ):
        discover(samples, [Quarter(2012, 4)])


def test_missing_path_and_nothing_found(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        discover(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="no FAERS/AERS quarter files found"):
        discover(tmp_path)
    with pytest.raises(UserError, match="not a FAERS/AERS zip or table file"):
        discover(tmp_path / "notes.txt")
