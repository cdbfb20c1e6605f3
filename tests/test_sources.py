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


def test_symlink_inside_a_source_is_refused_and_never_read(tmp_path):
    from crafted import crafted_quarter

    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET-CONTENT\n")
    source = crafted_quarter(tmp_path / "in", "2017Q2", tables=("drug",))
    (source / "DEMO17Q2.txt").symlink_to(secret)
    with pytest.raises(UserError) as refused:
        discover(source)
    assert str(refused.value) == (
        f"{source / 'DEMO17Q2.txt'}: a symbolic link; links inside a source are refused, never followed"
    )
    (source / "DEMO17Q2.txt").unlink()
    (source / "more").symlink_to(tmp_path, target_is_directory=True)  # a linked folder: never walked
    with pytest.raises(UserError, match=r"more: a symbolic link"):
        discover(source)


def test_pipes_and_sockets_are_refused_without_opening_them(tmp_path):
    import os
    import socket

    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "faers_ascii_2023q1.zip")  # opening it would block for ever
    with pytest.raises(UserError, match=r"faers_ascii_2023q1.zip: a named pipe, not a regular file; refused"):
        discover(folder)
    with pytest.raises(UserError, match=r"a named pipe, not a regular file"):
        discover(folder / "faers_ascii_2023q1.zip")
    (folder / "faers_ascii_2023q1.zip").unlink()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "DEMO23Q1.txt"))
        with pytest.raises(UserError, match=r"DEMO23Q1.txt: a socket, not a regular file; refused"):
            discover(folder)


def test_unreadable_folder_or_file_is_an_error_not_a_skip(tmp_path, monkeypatch):
    """Injected, since the test may run as root (who reads everything)."""
    import os

    from crafted import crafted_quarter

    source = tmp_path / "in"
    crafted_quarter(source / "2017q2", "2017Q2")
    crafted_quarter(source / "2018q1", "2018Q1")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "2018q1":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(UserError) as refused:
        discover(source, [Quarter(2017, 2)])  # even when the unreadable folder holds another quarter
    assert str(refused.value) == f"{source / '2018q1'}: cannot read this folder (Permission denied)"
    monkeypatch.setattr(os, "scandir", real_scandir)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(path).name != "REAC18Q1.txt" and real_access(path, mode)
    )
    with pytest.raises(UserError, match=r"REAC18Q1.txt: cannot read this file \(permission denied\)$"):
        discover(source)


def test_two_copies_of_one_quarter_are_refused_naming_both(tmp_path):
    from crafted import crafted_quarter

    source = tmp_path / "in"
    crafted_quarter(source / "a", "2017Q2")
    crafted_quarter(source / "b", "2017Q2", tables=("demo",))
    with pytest.raises(UserError) as refused:
        discover(source)
    assert (
        str(refused.value) == f"2017Q2: offered by 2 folders ({source / 'a'}, {source / 'b'}); pass only one"
    )
    _zip(source / "faers_ascii_2018q1.zip", {"ASCII/DEMO18Q1.txt": b"primaryid\n"})
    crafted_quarter(source / "c", "2018Q1", tables=("drug",))
    with pytest.raises(UserError, match=r"^2018Q1: offered twice, by .*faers_ascii_2018q1.zip and by .*/c;"):
        discover(source, [Quarter(2018, 1)])


def test_zip_bombs_are_refused_before_extraction(tmp_path, monkeypatch):
    from crafted import crafted_zip

    # 4 MiB of one repeated line deflates about 500-fold: no FAERS table does that.
    line = b"1$1$1$PS$X$X$1$Oral$$$$U$U$$$$$$$\n"
    data = line * (4 * 2**20 // len(line))
    bomb = crafted_zip(tmp_path / "faers_ascii_2017q2.zip", {"ascii/DRUG17Q2.txt": data})
    assert bomb.stat().st_size < 20_000
    with pytest.raises(
        UserError, match=rf"DRUG17Q2.txt: declares {len(data):,} bytes inflated from [\d,]+ .*zip bomb"
    ):
        scan_zip(bomb)
    # A lying central directory: 4,000,000,000 bytes declared for a 10-byte member.
    honest = _zip(tmp_path / "faers_ascii_2017q3.zip", {"ascii/DEMO17Q3.txt": b"primaryid\n"})
    data = bytearray(honest.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (4_000_000_000).to_bytes(4, "little")
    honest.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"declares 4,000,000,000 bytes inflated"):
        scan_zip(honest)
    # The absolute bound, whatever the ratio.
    monkeypatch.setenv("PV_MAX_MEMBER_BYTES", "5")
    plain = _zip(tmp_path / "faers_ascii_2017q4.zip", {"ascii/DEMO17Q4.txt": b"primaryid\n"})
    with pytest.raises(UserError, match=r"above the bound of 5:"):
        scan_zip(plain)


def test_symlink_member_of_a_zip_is_refused(tmp_path):
    archive = tmp_path / "faers_ascii_2017q2.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        info = zipfile.ZipInfo("ascii/DEMO17Q2.txt")
        info.external_attr = 0o120777 << 16  # a symbolic link to /etc/passwd
        writer.writestr(info, "/etc/passwd")
    with pytest.raises(UserError, match=r"ascii/DEMO17Q2.txt: a symbolic link inside the zip; refused"):
        scan_zip(archive)


def test_completeness_by_era():
    from pv.sources import QuarterSource, expected_parts

    assert expected_parts(Quarter(2018, 4)) == ("demo", "drug", "reac", "outc", "rpsr", "ther", "indi")
    assert expected_parts(Quarter(2019, 1))[-1] == "deleted_cases"
    source = QuarterSource(Quarter(2020, 3), Path("x"), tables={"demo": None, "drug": None})
    assert source.missing_parts == ["reac", "outc", "rpsr", "ther", "indi", "deleted_cases"]
