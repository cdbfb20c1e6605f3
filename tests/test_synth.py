"""The synthetic FAERS generator: FDA's byte format per era, determinism, planted quirks and ground truth."""

from __future__ import annotations

import csv
import math
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from pv.cli import main
from pv.errors import UserError
from pv.quarters import Quarter, quarter_range
from pv.resources import vocab_dir
from pv.schema import GLUED_RECORDS, TABLES, fda_header
from pv.synth import generate
from pv.synth._hash import Hasher
from pv.synth.population import FAERS_DEMO, Population, fda_zip_scales, qindex
from pv.synth.text import member_name

ERA_QUARTERS = [
    Quarter.parse(x)
    for x in [
        "2004Q1",
        "2005Q3",
        "2011Q4",
        "2012Q1",
        "2012Q3",
        "2012Q4",
        "2013Q1",
        "2018Q1",
        "2019Q1",
        "2021Q1",
        "2021Q4",
        "2023Q1",
        "2024Q4",
    ]
]
TEST_DRUG_STEMS = ("synthe", "fictu", "placi", "mocka", "simula", "imagi")


@pytest.fixture(scope="module")
def eras(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("eras")
    return generate(out, ERA_QUARTERS, scale=0.002, seed=3)


@pytest.fixture(scope="module")
def recent(tmp_path_factory: pytest.TempPathFactory):
    """Four consecutive FAERS quarters, large enough for association counts."""
    out = tmp_path_factory.mktemp("recent")
    return generate(out, quarter_range("2023Q1..2023Q4"), scale=0.01, seed=11)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def member_lines(zf: zipfile.ZipFile, name: str) -> list[str]:
    """Physical lines of a member (BOM and CR stripped), header included."""
    raw = zf.read(name)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    assert raw.endswith(b"\n")
    return [line.rstrip("\r") for line in raw.decode("ascii").split("\n")[:-1]]


def data_rows(zf: zipfile.ZipFile, q: Quarter, table: str) -> tuple[list[str], list[list[str]]]:
    """Header and well-formed data rows (legacy trailing ``$`` dropped; quirk lines skipped)."""
    lines = member_lines(zf, member_name(table, q))
    header = lines[0].split("$")
    rows = []
    for line in lines[1:]:
        fields = line.split("$")
        if q.is_legacy and len(fields) == len(header) + 1 and fields[-1] == "":
            fields = fields[:-1]
        if len(fields) == len(header):
            rows.append(fields)
    return header, rows


def repair_count(lines: list[str], width: int, legacy: bool) -> tuple[int, int]:
    """A minimal repairing loader: (logical records, rejected lines) per faers_format.md §2 and §12."""
    records = rejected = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and lines[i + 1].startswith("$"):  # continuation of a broken record (FDBS)
            line += lines[i + 1]
            i += 1
        fields = line.split("$")
        if legacy and fields[-1] == "":
            fields = fields[:-1]
        n = len(fields)
        if n == width or n == width + 1:  # width + 1: one stray "$" inside a value
            records += 1
        elif n > width and n % width == 0:  # run-on line: k whole records
            records += n // width
        else:
            rejected += 1
        i += 1
    return records, rejected


# ----------------------------------------------------------------- arguments and determinism
def test_bad_arguments_raise_user_error(tmp_path: Path) -> None:
    q = [Quarter(2023, 1)]
    for scale in (0, -0.1, 1.5):
        with pytest.raises(UserError):
            generate(tmp_path / "x", q, scale=scale)
    with pytest.raises(UserError):
        generate(tmp_path / "x", [], scale=0.01)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UserError):
        generate(a_file, q, scale=0.01)
    with pytest.raises(UserError):
        generate(tmp_path / "x", [Quarter(2003, 4)], scale=0.01)


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    qs = [Quarter(2023, 1)]
    a = generate(tmp_path / "a", qs, scale=0.001, seed=7)
    b = generate(tmp_path / "b", qs, scale=0.001, seed=7)
    c = generate(tmp_path / "c", qs, scale=0.001, seed=8)
    assert a.zips[0].read_bytes() == b.zips[0].read_bytes()
    assert a.zips[0].read_bytes() != c.zips[0].read_bytes()
    for name in (
        "cases.csv",
        "associations.csv",
        "background_associations.csv",
        "expected_rows.csv",
        "quirks.csv",
        "drug_names.csv",
        "README.md",
    ):
        assert (a.ground_truth_dir / name).read_bytes() == (b.ground_truth_dir / name).read_bytes()


def test_a_quarter_is_the_same_alone_or_inside_a_range(tmp_path: Path) -> None:
    alone = generate(tmp_path / "alone", [Quarter(2023, 2)], scale=0.002, seed=5)
    generate(tmp_path / "range", quarter_range("2022Q4..2023Q3"), scale=0.002, seed=5)
    za = zipfile.ZipFile(alone.zips[0])
    zr = zipfile.ZipFile(tmp_path / "range" / Quarter(2023, 2).zip_name)
    for table in TABLES:
        name = member_name(table, Quarter(2023, 2))
        assert za.read(name) == zr.read(name), name


# ----------------------------------------------------------------- layout and bytes per era
def test_member_names_per_era(eras) -> None:
    names = {z.name: set(zipfile.ZipFile(z).namelist()) for z in eras.zips}
    assert [z.name for z in eras.zips] == [q.zip_name for q in ERA_QUARTERS]
    assert {"ascii/DEMO04Q1.TXT", "ascii/DRUG04Q1.TXT", "ascii/THER04Q1.TXT", "ascii/SIZE04Q1.TXT"} <= names[
        "aers_ascii_2004q1.zip"
    ]
    assert {f"ascii/{t}12q4.txt" for t in TABLES} <= names["faers_ascii_2012q4.zip"]
    assert "ASCII/DEMO18Q1_new.txt" in names["faers_ascii_2018q1.zip"]
    assert "ASCII/DRUG18Q1.txt" in names["faers_ascii_2018q1.zip"]
    assert {"Deleted/ADR19Q1DeletedCases.txt", "Deleted/AllDeletedCases.txt"} <= names[
        "faers_ascii_2019q1.zip"
    ]
    assert "Deleted/21Q1DeletedCases.txt" in names["faers_ascii_2021q1.zip"]
    assert "Deleted/DELETE23Q1.txt" in names["faers_ascii_2023q1.zip"]
    assert not any(n.startswith("Deleted/") for n in names["faers_ascii_2018q1.zip"])
    assert "README.txt" in names["faers_ascii_2023q1.zip"]  # a non-data member loaders must skip


def test_headers_equal_fda_header_and_2012q4_quirks(eras) -> None:
    for z, q in zip(eras.zips, ERA_QUARTERS, strict=True):
        zf = zipfile.ZipFile(z)
        for table in TABLES:
            raw = zf.read(member_name(table, q))
            assert raw.removeprefix(b"\xef\xbb\xbf").isascii()
            assert raw.startswith(b"\xef\xbb\xbf") == (q == Quarter(2012, 4) and table == "drug")
            crlf = b"\r\n" in raw
            assert crlf == (q == Quarter(2012, 4) or (not q.is_legacy and q.q == 3))
            header = member_lines(zf, member_name(table, q))[0].split("$")
            assert header == fda_header(table, q), (q, table)
    z4 = zipfile.ZipFile(eras.out_dir / "faers_ascii_2012q4.zip")
    assert " rept_dt" in member_lines(z4, "ascii/demo12q4.txt")[0].split("$")
    legacy_header = member_lines(zipfile.ZipFile(eras.zips[0]), "ascii/DEMO04Q1.TXT")[0]
    assert legacy_header.startswith("ISR$CASE$I_F_COD") and not legacy_header.endswith("$")


def test_field_counts_and_trailing_dollar(eras) -> None:
    quirk_lines = defaultdict(set)
    for r in read_csv(eras.ground_truth_dir / "quirks.csv"):
        quirk_lines[(r["quarter"], r["table"])].add(int(r["line_no"]))
        if r["kind"] == "embedded_newline":
            quirk_lines[(r["quarter"], r["table"])].add(int(r["line_no"]) + 1)
    for z, q in zip(eras.zips, ERA_QUARTERS, strict=True):
        zf = zipfile.ZipFile(z)
        for table in TABLES:
            lines = member_lines(zf, member_name(table, q))
            width = len(lines[0].split("$"))
            for no, line in enumerate(lines[1:], start=2):
                if no in quirk_lines[(str(q), table)]:
                    continue
                fields = line.split("$")
                if q.is_legacy:
                    assert line.endswith("$") and len(fields) == width + 1, (q, table, no)
                else:
                    assert len(fields) == width, (q, table, no)


def test_primaryid_is_caseid_and_version(eras) -> None:
    big = 0
    for z, q in zip(eras.zips, ERA_QUARTERS, strict=True):
        if q.is_legacy:
            _, rows = data_rows(zipfile.ZipFile(z), q, "demo")
            assert all(
                len(r[0]) == 7 and r[4] == f"{r[0]}-{r[4][-1]}" for r in rows
            )  # ISR, IMAGE like 4263742-7
            continue
        header, rows = data_rows(zipfile.ZipFile(z), q, "demo")
        pid, cid, ver = (header.index(c) for c in ("primaryid", "caseid", "caseversion"))
        for r in rows:
            assert r[pid] == r[cid] + r[ver]
            assert 7 <= len(r[cid]) <= 8
        assert [r[pid] for r in rows] == sorted(r[pid] for r in rows)  # sorted as text, like FDA's files
        big += sum(int(r[pid]) > 2**31 for r in rows)
    assert big > 20


# ----------------------------------------------------------------- ground truth vs physical files
def test_expected_rows_match_physical_lines_and_a_repairing_loader(eras) -> None:
    expected = {(r["quarter"], r["table"]): r for r in read_csv(eras.ground_truth_dir / "expected_rows.csv")}
    for z, q in zip(eras.zips, ERA_QUARTERS, strict=True):
        zf = zipfile.ZipFile(z)
        for table in TABLES:
            lines = member_lines(zf, member_name(table, q))
            e = expected[(str(q), table)]
            assert int(e["lines"]) == len(lines) - 1, (q, table)
            ints = {
                k: int(e[k])
                for k in ("lines", "rows", "rows_from_repairs", "repaired_lines", "rejected_lines")
            }
            assert (
                ints["lines"]
                == ints["rows"] - ints["rows_from_repairs"] + ints["repaired_lines"] + ints["rejected_lines"]
            )
            records, rejected = repair_count(lines[1:], len(lines[0].split("$")), q.is_legacy)
            assert (records, rejected) == (ints["rows"], ints["rejected_lines"]), (q, table)
            assert eras.rows[(str(q), table)] == ints["rows"]
        for name in zf.namelist():
            if name.startswith("Deleted/"):
                table = "deleted_all" if name.endswith("AllDeletedCases.txt") else "deleted"
                assert int(expected[(str(q), table)]["lines"]) == zf.read(name).count(b"\n")


def test_quirks_are_where_quirks_csv_says(eras) -> None:
    quirks = read_csv(eras.ground_truth_dir / "quirks.csv")
    kinds = {r["kind"] for r in quirks}
    assert kinds == {"run_on", "stray_dollar", "embedded_newline", "truncated", "empty_drugname"}
    for r in quirks:
        q = Quarter.parse(r["quarter"])
        zf = zipfile.ZipFile(eras.out_dir / q.zip_name)
        lines = member_lines(zf, member_name(r["table"], q))
        width = len(lines[0].split("$"))
        no = int(r["line_no"])
        fields = lines[no - 1].split("$")
        if r["kind"] == "run_on":
            assert q.is_legacy and r["table"] == "drug"
            assert fields[-1] == "" and len(fields) - 1 == 2 * width
        elif r["kind"] == "stray_dollar":
            assert q.is_legacy and len(fields) == width + 2 and "-$E2B" in lines[no - 1]
        elif r["kind"] == "embedded_newline":
            nxt = lines[no].split("$")
            assert lines[no].startswith("$") and len(fields) >= 5 and len(fields) + len(nxt) - 1 == width + 1
        elif r["kind"] == "truncated":
            assert not q.is_legacy and len(fields) < width
        else:
            assert q == Quarter(2012, 4) and fields[lines[0].split("$").index("drugname")] == ""
    assert sum(r["kind"] == "empty_drugname" for r in quirks) == 3
    # Repairable defects only where FDA published them (schema.DOCUMENTED_DEFECTS).
    planted = {kind: {r["quarter"] for r in quirks if r["kind"] == kind} for kind in kinds}
    assert (
        planted["run_on"] == {str(q) for q in ERA_QUARTERS if GLUED_RECORDS.applies("drug", q)} == {"2011Q4"}
    )
    assert planted["stray_dollar"] == {"2012Q1"}
    assert planted["embedded_newline"] == {str(q) for q in ERA_QUARTERS if q.is_legacy}


def test_deleted_lists_name_generated_cases(eras) -> None:
    cases = read_csv(eras.ground_truth_dir / "cases.csv")
    first_seen: dict[str, str] = {}
    for c in cases:
        first_seen.setdefault(c["caseid"], c["quarter"])
    listed = set()
    for z, q in zip(eras.zips, ERA_QUARTERS, strict=True):
        zf = zipfile.ZipFile(z)
        for name in (n for n in zf.namelist() if n.startswith("Deleted/")):
            raw = zf.read(name).decode("ascii")
            lines = raw.split("\n")[:-1]
            if lines and lines[0] == " ":
                lines = lines[1:]
            assert all(x.isdigit() and 7 <= len(x) <= 8 for x in lines)
            for caseid in lines:
                assert Quarter.parse(first_seen[caseid]) <= q
            listed.update(lines)
    assert listed
    assert {c["caseid"] for c in cases if c["deleted"] == "true"} == listed


def test_cases_csv_versions_and_duplicates(eras) -> None:
    cases = read_csv(eras.ground_truth_dir / "cases.csv")
    by_case = defaultdict(list)
    for c in cases:
        by_case[c["caseid"]].append(c)
    crossing = 0
    for rows in by_case.values():
        latest = [r for r in rows if r["is_latest_version"] == "true"]
        assert len(latest) == 1
        faers = [r for r in rows if r["layout"] == "faers"]
        if faers:
            top = max(int(r["caseversion"]) for r in faers)
            assert latest[0]["layout"] == "faers" and int(latest[0]["caseversion"]) == top
            crossing += any(r["layout"] == "laers" for r in rows)
        for r in faers:
            assert r["primaryid"] == r["caseid"] + r["caseversion"]
    assert crossing > 0  # legacy cases continued into FAERS


def test_planted_duplicates_share_event_keys(recent) -> None:
    cases = read_csv(recent.ground_truth_dir / "cases.csv")
    dups = {(c["quarter"], c["caseid"]): c["duplicate_of"] for c in cases if c["duplicate_of"]}
    assert dups
    checked = 0
    for q in quarter_range("2023Q1..2023Q4"):
        zf = zipfile.ZipFile(recent.out_dir / q.zip_name)
        header, demo = data_rows(zf, q, "demo")
        col = {
            c: header.index(c) for c in ("caseid", "sex", "age", "event_dt", "reporter_country", "primaryid")
        }
        by_cid = {r[col["caseid"]]: r for r in demo}
        _, drug = data_rows(zf, q, "drug")
        _, reac = data_rows(zf, q, "reac")
        drugs, pts = defaultdict(set), defaultdict(set)
        for r in drug:
            drugs[r[0]].add(r[4])
        for r in reac:
            pts[r[0]].add(r[2])
        for (quarter, cid), orig in dups.items():
            if quarter != str(q) or orig not in by_cid:
                continue
            a, b = by_cid[cid], by_cid[orig]
            for c in ("sex", "age", "event_dt", "reporter_country"):
                assert a[col[c]] == b[col[c]]
            assert drugs[a[col["primaryid"]]] == drugs[b[col["primaryid"]]]
            assert pts[a[col["primaryid"]]] == pts[b[col["primaryid"]]]
            checked += 1
    assert checked > 0


# ----------------------------------------------------------------- content and size
def test_era_value_drift(eras) -> None:
    def values(q: Quarter, table: str, column: str) -> set[str]:
        header, rows = data_rows(zipfile.ZipFile(eras.out_dir / q.zip_name), q, table)
        return {r[header.index(column)] for r in rows}

    assert "HP" in values(Quarter(2023, 1), "demo", "occp_cod")
    assert "HP" not in values(Quarter(2019, 1), "demo", "occp_cod")
    assert values(Quarter(2012, 3), "demo", "REPORTER_COUNTRY") & {"UNITED STATES", "JAPAN"}
    assert "US" in values(Quarter(2023, 1), "demo", "reporter_country")
    assert "NS" in values(Quarter(2013, 1), "demo", "gndr_cod")
    event_len = {len(x) for x in values(Quarter(2013, 1), "demo", "event_dt")}
    assert {4, 6, 8} <= event_len  # partial event dates before 2021Q3
    assert {len(x) for x in values(Quarter(2023, 1), "demo", "event_dt")} <= {0, 8}  # padded from 2021Q4
    assert all(len(x) == 8 for x in values(Quarter(2004, 1), "demo", "EVENT_DT") if x)
    header, drug = data_rows(
        zipfile.ZipFile(eras.out_dir / Quarter(2024, 4).zip_name), Quarter(2024, 4), "drug"
    )
    keys = [(r[0], r[2]) for r in drug]
    assert len(set(keys)) < len(keys)  # several rows per (primaryid, drug_seq) from 2021Q4
    ai = header.index("prod_ai")
    assert any("\\" in r[ai] for r in drug) and 0 < sum(r[ai] == "" for r in drug) < 0.05 * len(drug)
    _, old = data_rows(zipfile.ZipFile(eras.out_dir / Quarter(2019, 1).zip_name), Quarter(2019, 1), "drug")
    assert len({(r[0], r[2]) for r in old}) == len(old)


def test_target_drug_names_and_truth(recent) -> None:
    names = read_csv(recent.ground_truth_dir / "drug_names.csv")
    by_name = {(r["drugname"], r["prod_ai"]): r for r in names}
    assert by_name[("TAXOTERE", "DOCETAXEL")]["is_target"] == "true"
    assert by_name[("BETOPTIC S", "BETAXOLOL HYDROCHLORIDE")]["is_target"] == "false"
    targets = {r["ingredients"] for r in names if r["is_target"] == "true"}
    assert {
        "paclitaxel",
        "docetaxel",
        "trastuzumab",
        "pertuzumab",
        "trastuzumab emtansine",
        "trastuzumab deruxtecan",
    } <= targets
    kadcyla = [r for r in names if r["drugname"] == "KADCYLA" and r["prod_ai"]]
    assert kadcyla and kadcyla[0]["ingredients"] == "trastuzumab emtansine"  # never plain trastuzumab
    lookalikes = [r for r in names if r["ingredients"] in ("betaxolol", "metaxalone", "afatinib", "eribulin")]
    assert lookalikes and all(r["is_target"] == "false" for r in lookalikes)


def test_rows_scale_with_scale(tmp_path: Path) -> None:
    s = generate(tmp_path / "s", [Quarter(2024, 1)], scale=0.005, seed=2)
    targets = {
        "demo": 385_288,
        "drug": 1_815_349,
        "reac": 1_349_105,
        "indi": 1_168_789,
        "ther": 454_746,
        "outc": 289_721,
    }
    for table, full in targets.items():
        assert s.rows[("2024Q1", table)] == pytest.approx(full * 0.005, rel=0.1), table
    assert s.rows[("2024Q1", "rpsr")] < 0.06 * s.rows[("2024Q1", "demo")]


# ----------------------------------------------------------------- sizing by FDA's zips
# FDA zip bytes in pv/data/faers_zip_manifest.csv: 2004Q1 7,582,957; 2012Q3 16,082,485; 2012Q4 28,541,645;
# 2025Q3 76,715,577; 2025Q4 (the quarter scale 1.0 models) 67,144,585.
def test_fda_zip_scales_are_scale_times_zip_bytes_over_2025q4s() -> None:
    scales = fda_zip_scales(0.5, Quarter(2026, 2))
    assert list(scales) == quarter_range("2004Q1..2026Q2")  # every quarter, 90 of them
    assert scales[Quarter(2004, 1)] == pytest.approx(0.056467376, rel=1e-8)  # 0.5 * 7582957 / 67144585
    assert scales[Quarter(2012, 3)] == pytest.approx(0.119760104, rel=1e-8)  # 0.5 * 16082485 / 67144585
    assert scales[Quarter(2012, 4)] == pytest.approx(0.212538695, rel=1e-8)  # 0.5 * 28541645 / 67144585
    assert scales[Quarter(2025, 3)] == pytest.approx(0.571271511, rel=1e-8)  # 0.5 * 76715577 / 67144585
    assert scales[Quarter(2025, 4)] == 0.5  # the reference quarter keeps the plain scale


def test_fda_zip_scales_refuse_a_quarter_the_manifest_lacks(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"faers_zip_manifest\.csv: no FDA zip size for 2026Q3"):
        fda_zip_scales(0.01, Quarter(2026, 3))
    real = (Path(__file__).parent.parent / "pv/data/faers_zip_manifest.csv").read_text().splitlines()
    gapped = tmp_path / "manifest.csv"
    gapped.write_text("\n".join(line for line in real if not line.startswith("2008Q2,")) + "\n")
    with pytest.raises(UserError, match="no FDA zip size for 2008Q2") as caught:
        fda_zip_scales(0.01, Quarter(2012, 1), gapped)  # a quarter before the last one is needed too
    assert str(gapped) in str(caught.value)
    out = tmp_path / "not_written"
    with pytest.raises(UserError, match="2026Q3"):
        generate(out, [Quarter(2026, 3)], scale=0.01, size_by_fda_zip=True)
    assert not out.exists()


def test_sized_population_at_full_scale_fits_the_caseid_blocks() -> None:
    """At scale 1.0 the largest zip (2025Q3, 1.14 x 2025Q4's) still fits its quarter's caseid block."""
    by_quarter = fda_zip_scales(1.0, Quarter(2026, 2))
    population = Population(
        Hasher(0), 1.0, qindex(Quarter(2026, 2)), {qindex(q): s for q, s in by_quarter.items()}
    )
    assert population.target(qindex(Quarter(2025, 4))) == FAERS_DEMO
    target_2025q3 = population.target(qindex(Quarter(2025, 3)))
    assert target_2025q3 == pytest.approx(440_208.1155, abs=1e-4)  # 385288 * 76715577 / 67144585
    assert population.target(-3) == population.target(0)  # virtual pre-2004 quarters take 2004Q1's size


def test_synth_size_by_fda_zip_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sized"
    argv = ["synth", "--out", str(out), "--quarters", "2012Q3..2012Q4", "--scale", "0.01", "--quiet"]
    assert main([*argv, "--size-by-fda-zip"]) == 0
    assert capsys.readouterr().out.split() == [
        str(out / "aers_ascii_2012q3.zip"),
        str(out / "faers_ascii_2012q4.zip"),
    ]
    # 2012Q3 stays in the legacy AERS layout, 2012Q4 is FAERS
    assert "ascii/DEMO12Q3.TXT" in zipfile.ZipFile(out / "aers_ascii_2012q3.zip").namelist()
    assert "ascii/demo12q4.txt" in zipfile.ZipFile(out / "faers_ascii_2012q4.zip").namelist()
    demo = {
        r["quarter"]: int(r["rows"])
        for r in read_csv(out / "ground_truth/expected_rows.csv")
        if r["table"] == "demo"
    }
    # DEMO targets: 385288 * 0.01 * 16082485 / 67144585 = 922.84 (2012Q3) and
    # 385288 * 0.01 * 28541645 / 67144585 = 1637.77 (2012Q4); the rows are cohorts sized to the target plus
    # randomly drawn follow-ups, hence the 3 % tolerance
    assert demo["2012Q3"] == pytest.approx(922.84, rel=0.03)
    assert demo["2012Q4"] == pytest.approx(1637.77, rel=0.03)
    assert demo["2012Q4"] / demo["2012Q3"] == pytest.approx(28_541_645 / 16_082_485, rel=0.03)  # 1.7747
    quirks = read_csv(out / "ground_truth/quirks.csv")
    for q in ("2012Q3", "2012Q4"):  # the zips hold those rows; a planted DEMO quirk hides one from data_rows
        zf = zipfile.ZipFile(out / Quarter.parse(q).zip_name)
        hidden = sum(r["quarter"] == q and r["table"] == "demo" for r in quirks)
        assert len(data_rows(zf, Quarter.parse(q), "demo")[1]) + hidden == demo[q]
    alone = generate(tmp_path / "alone", [Quarter(2012, 4)], scale=0.01, seed=0, size_by_fda_zip=True)
    name = member_name("demo", Quarter(2012, 4))  # sizes are per quarter, not per generated range
    assert zipfile.ZipFile(alone.zips[0]).read(name) == zipfile.ZipFile(out / alone.zips[0].name).read(name)
    # without sizing, legacy 2012Q3 follows the 60k -> 150k ramp: 1,500 DEMO rows at 0.01, not 923
    plain = generate(tmp_path / "plain", [Quarter(2012, 3)], scale=0.01, seed=0)
    assert plain.rows[("2012Q3", "demo")] == pytest.approx(1500, rel=0.03)


# ----------------------------------------------------------------- planted associations
def test_association_counts_match_planted_rates(recent) -> None:
    rows = read_csv(recent.ground_truth_dir / "associations.csv")
    assert {r["drug"] for r in rows} >= {
        "docetaxel",
        "paclitaxel",
        "trastuzumab",
        "pertuzumab",
        "synthetimab",
    }
    assert len([r for r in rows if r["drug"].startswith(TEST_DRUG_STEMS)]) == 24
    for r in rows:
        expected, actual = float(r["expected_with_event"]), int(r["actual_with_event"])
        assert abs(actual - expected) <= 4 * math.sqrt(expected) + 3, r
        if r["exposed_cases"] != "0" and not r["drug"].startswith(TEST_DRUG_STEMS) and r["stratum"] == "all":
            crude = expected / int(r["exposed_cases"])
            base = float(r["unexposed_expected_with_event"]) / int(r["unexposed_cases"])
            cancer = next(x for x in rows if x["drug"] == r["drug"] and x["stratum"] == "cancer")
            base_cancer = float(cancer["unexposed_expected_with_event"]) / int(cancer["unexposed_cases"])
            assert crude / base > crude / base_cancer  # paraneoplastic confounding shrinks within cancer
    total_e = sum(float(r["expected_with_event"]) for r in rows if r["stratum"] == "all")
    total_a = sum(int(r["actual_with_event"]) for r in rows if r["stratum"] == "all")
    assert abs(total_a - total_e) <= 4 * math.sqrt(total_e)


def test_association_counts_recount_from_files(recent) -> None:
    """Test-drug rows of associations.csv agree with a recount over the written zips (report level)."""
    cases = read_csv(recent.ground_truth_dir / "cases.csv")
    keep = {
        (c["quarter"], c["primaryid"]): c["caseid"]
        for c in cases
        if c["is_latest_version"] == "true" and c["deleted"] == "false" and not c["duplicate_of"]
    }
    exposed, events = defaultdict(set), defaultdict(set)
    for q in quarter_range("2023Q1..2023Q4"):
        zf = zipfile.ZipFile(recent.out_dir / q.zip_name)
        _, drug = data_rows(zf, q, "drug")
        for r in drug:
            cid = keep.get((str(q), r[0]))
            name = r[4].lower()
            if cid and r[3] in ("PS", "SS") and name.startswith(TEST_DRUG_STEMS):
                exposed[name.split()[0].rstrip(".")].add(cid)
        _, reac = data_rows(zf, q, "reac")
        for r in reac:
            cid = keep.get((str(q), r[0]))
            if cid:
                events[r[2]].add(cid)
    for r in read_csv(recent.ground_truth_dir / "associations.csv"):
        if r["drug"].startswith(TEST_DRUG_STEMS):
            assert len(exposed[r["drug"]]) == int(r["exposed_cases"]), r["drug"]
            assert len(exposed[r["drug"]] & events[r["event"]]) == int(r["actual_with_event"]), r["drug"]


# ----------------------------------------------------------------- background heterogeneity
REPO = Path(__file__).resolve().parents[1]


def pair_rates(path: Path) -> list[tuple[str, str, str]]:
    return [(r["drug"], r["event"], r["true_rr"]) for r in read_csv(path / "background_associations.csv")]


def recount(summary, quarters: str) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
    """Deduplicated caseids, caseids exposed (PS/SS) per ingredient, and caseids per event, from the zips."""
    gt = summary.ground_truth_dir
    cases = read_csv(gt / "cases.csv")
    keep = {
        (c["quarter"], c["primaryid"]): c["caseid"]
        for c in cases
        if c["is_latest_version"] == "true" and c["deleted"] == "false" and not c["duplicate_of"]
    }
    names = read_csv(gt / "drug_names.csv")
    ingredients = {(r["drugname"], r["prod_ai"]): r["ingredients"].split(";") for r in names}
    exposed, events = defaultdict(set), defaultdict(set)
    for q in quarter_range(quarters):
        zf = zipfile.ZipFile(summary.out_dir / q.zip_name)
        header, drug = data_rows(zf, q, "drug")
        role, name, ai = (header.index(c) for c in ("role_cod", "drugname", "prod_ai"))
        for r in drug:
            cid = keep.get((str(q), r[0]))
            if cid and r[role] in ("PS", "SS"):
                for ing in ingredients[(r[name], r[ai])]:
                    exposed[ing].add(cid)
        _, reac = data_rows(zf, q, "reac")
        for r in reac:
            cid = keep.get((str(q), r[0]))
            if cid:
                events[r[2].replace("^", "'")].add(cid)
    return set(keep.values()), exposed, events


def test_background_pairs_depend_on_the_seed_only(recent, tmp_path: Path) -> None:
    pairs = pair_rates(recent.ground_truth_dir)
    other_quarters = generate(tmp_path / "a", [Quarter(2013, 2)], scale=0.001, seed=11)
    other_seed = generate(tmp_path / "b", [Quarter(2023, 1)], scale=0.001, seed=12)
    assert pair_rates(other_quarters.ground_truth_dir) == pairs
    assert pair_rates(other_seed.ground_truth_dir) != pairs
    drugs = defaultdict(list)
    for drug, _, rr in pairs:
        drugs[drug].append(float(rr))
    assert len(drugs) > 250 and all(1 <= len(v) <= 6 for v in drugs.values())
    rates = sorted(float(rr) for _, _, rr in pairs)
    assert 2.0 < rates[len(rates) // 2] < 3.0  # median near 2.5
    assert rates[0] > 1.0 and rates[-1] <= 40.0
    assert sum(r > 10 for r in rates) >= 0.01 * len(rates)  # heavy tail


def test_background_pairs_avoid_dm_terms_planted_events_and_targets(recent) -> None:
    gt = recent.ground_truth_dir
    rows = read_csv(gt / "background_associations.csv")
    dm_terms = {
        r["term"].lower()
        for r in read_csv(vocab_dir() / "event_groups.csv")
        if r["group"].startswith("dm_") or r["group"] == "myopathy_sensitivity"
    }
    planted_events = {r["event"] for r in read_csv(gt / "associations.csv")}
    non_background = {
        ing
        for r in read_csv(gt / "drug_names.csv")
        if r["target_class"] != "none"
        for ing in r["ingredients"].split(";")
    }
    assert "Dermatomyositis" in planted_events and "docetaxel" in non_background
    assert {"carboplatin", "hyaluronidase"} <= non_background  # in target combinations
    for r in rows:
        assert r["event"].lower() not in dm_terms and "myositis" not in r["event"].lower(), r
        assert r["event"] not in planted_events, r
        assert r["drug"] not in non_background and not r["drug"].startswith(TEST_DRUG_STEMS), r
    readme = " ".join((gt / "README.md").read_text().split())
    assert "background_associations.csv" in readme and "has true relative reporting rate 1" in readme


def test_background_counts_within_poisson_tolerance(recent) -> None:
    rows = read_csv(recent.ground_truth_dir / "background_associations.csv")
    assert sum(int(r["actual_with_event"]) for r in rows) > 2000
    for r in rows:
        for prefix in ("", "unexposed_"):
            expected, actual = float(r[prefix + "expected_with_event"]), int(r[prefix + "actual_with_event"])
            assert abs(actual - expected) <= 4 * math.sqrt(expected) + 3, (prefix, r)
        assert float(r["null_expected_with_event"]) <= float(r["expected_with_event"]) + 1e-3


def test_background_counts_and_rates_recount_from_files(recent) -> None:
    """Every pair's counts equal a recount over the zips; crude rates of high-count pairs match true_rr."""
    cases, exposed, events = recount(recent, "2023Q1..2023Q4")
    rows = read_csv(recent.ground_truth_dir / "background_associations.csv")
    for r in rows:
        hit = exposed[r["drug"]] & events[r["event"]]
        assert len(exposed[r["drug"]]) == int(r["exposed_cases"]), r
        assert len(hit) == int(r["actual_with_event"]), r
        assert len(cases) - len(exposed[r["drug"]]) == int(r["unexposed_cases"]), r
        assert len(events[r["event"]]) - len(hit) == int(r["unexposed_actual_with_event"]), r
    # crude rate ratio from the files; oncology-only ingredients (confounded by indication) and frequent
    # terms (true_rr x p saturates at 1) are left out
    onc: dict[str, bool] = {}
    for d in read_csv(REPO / "data" / "synth" / "drugs.csv"):
        for ing in d["ingredients"].split(";"):
            onc[ing] = onc.get(ing, True) and d["area"].startswith("onc_")
    checked = 0
    for r in sorted(rows, key=lambda x: -int(x["actual_with_event"])):
        n = len(exposed[r["drug"]])
        a = len(exposed[r["drug"]] & events[r["event"]])
        c = len(events[r["event"]]) - a
        m = len(cases) - n
        if onc[r["drug"]] or a < 40 or c / m >= 0.02:
            continue
        crude = (a / n) / (c / m)
        se = math.sqrt(1 / a + 1 / c)
        assert abs(math.log(crude / float(r["true_rr"]))) <= 3 * se + 0.15, (r, crude)
        checked += 1
    assert checked >= 3
