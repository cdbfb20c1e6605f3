"""De-duplication on crafted quarters: one case per rule, exact outcomes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from crafted import write_faers_table

from pv.dedup import duplicate_components
from pv.ingest import ingest
from pv.quarters import Quarter


def _faers_case(caseid: int, version: int, fda_dt: str, **demo: str) -> dict[str, str]:
    return {
        "primaryid": f"{caseid}{version}",
        "caseid": str(caseid),
        "caseversion": str(version),
        "i_f_code": "F",
        "fda_dt": fda_dt,
        "rept_cod": "EXP",
        "age": "60",
        "age_cod": "YR",
        "sex": "F",
        "occp_cod": "MD",
        "reporter_country": "US",
        "event_dt": "20221115",
        **demo,
    }


def _quarter(
    root: Path,
    quarter: str,
    demo: list[dict],
    drug: list[dict],
    reac: list[dict],
    deleted: list[int] | None = None,
) -> None:
    q = Quarter.parse(quarter)
    folder = root / quarter
    folder.mkdir(parents=True)
    write_faers_table(folder, "demo", q, demo)
    write_faers_table(folder, "drug", q, drug)
    write_faers_table(folder, "reac", q, reac)
    if deleted is not None:
        (folder / f"DELETE{q.short}.txt").write_text("".join(f"{caseid}\n" for caseid in deleted))


def _drug(case: dict, name: str, role: str = "PS", prod_ai: str = "") -> dict[str, str]:
    key = "isr" if "isr" in case else "primaryid"
    return {
        key: case[key],
        "primaryid": case.get("primaryid", ""),
        "caseid": case.get("caseid", ""),
        "drug_seq": "1",
        "role_cod": role,
        "drugname": name,
        "prod_ai": prod_ai,
    }


def _reac(case: dict, pt: str) -> dict[str, str]:
    key = "isr" if "isr" in case else "primaryid"
    return {
        key: case[key],
        "primaryid": case.get("primaryid", ""),
        "caseid": case.get("caseid", ""),
        "pt": pt,
    }


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dedup")
    legacy = {
        "isr": "5000001",
        "case": "1000004",
        "fda_dt": "20120410",
        "age": "55",
        "age_cod": "YR",
        "gndr_cod": "F",
        "i_f_cod": "I",
    }
    _quarter(root / "in", "2012Q2", [legacy], [_drug(legacy, "TAXOL")], [_reac(legacy, "NEUTROPENIA")])

    q1 = [
        _faers_case(1000001, 1, "20230110"),
        _faers_case(1000002, 1, "20230111"),
        _faers_case(1000003, 10, "20230301", event_dt="20221001"),
        _faers_case(1000004, 1, "20230112", event_dt="20220901"),
        _faers_case(1000005, 1, "20230113", mfr_num="US-A-1", mfr_sndr="ALPHA"),
        _faers_case(1000006, 1, "20230120", mfr_num="US-B-9", mfr_sndr="BETA"),
        _faers_case(1000007, 1, "20230114", mfr_num="JP-X-77", mfr_sndr="GAMMA", event_dt="2022", age="70"),
        _faers_case(1000008, 1, "20230115", mfr_num="JP-X-77", mfr_sndr="GAMMA", event_dt="", age="71"),
        _faers_case(1000009, 1, "20230116", mfr_num="DE-Y-5", mfr_sndr="DELTA", sex="F", event_dt="2021"),
        _faers_case(1000010, 1, "20230117", mfr_num="DE-Y-5", mfr_sndr="DELTA", sex="M", event_dt="2020"),
        _faers_case(1000011, 1, "20230118", event_dt="2019"),
    ]
    drugs = [_drug(case, "PACLITAXEL", prod_ai="PACLITAXEL") for case in q1]
    reacs = [
        _reac(case, "Dermatomyositis" if case["caseid"] in ("1000005", "1000006") else "Nausea")
        for case in q1
    ]
    _quarter(root / "in", "2023Q1", q1, drugs, reacs)

    q2 = [
        _faers_case(1000001, 2, "20230405"),
        _faers_case(
            1000003, 9, "20230406", event_dt="20221001"
        ),  # a late-arriving older version: text order would pick it
        _faers_case(1000011, 1, "20230118", event_dt="2019"),  # the same version again, next quarter
    ]
    _quarter(
        root / "in",
        "2023Q2",
        q2,
        [_drug(c, "ASPIRIN") for c in q2],
        [_reac(c, "Rash") for c in q2],
        deleted=[1000002],
    )
    data = root / "data"
    ingest(  # crafted quarters: DEMO, DRUG, REAC and deleted lists only
        root / "in",
        db_path=data / "pv.duckdb",
        lake=data / "lake",
        work_dir=data / "tmp",
        signals=False,
        allow_partial=True,
    )
    return data / "pv.duckdb"


def _status(db: Path) -> dict[tuple[int, str], str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("select caseid, quarter, dedup_status from curated.case_versions").fetchall()
    return {(caseid, quarter): status for caseid, quarter, status in rows}


def test_fda_minimum_rules(curated):
    status = _status(curated)
    assert status[(1000001, "2023Q1")] == "superseded" and status[(1000001, "2023Q2")] == "retained"
    assert status[(1000002, "2023Q1")] == "deleted"
    # numeric caseversion: v10 (primaryid 100000310) beats v9 (10000039) although "10000039" > "100000310"
    assert status[(1000003, "2023Q1")] == "retained" and status[(1000003, "2023Q2")] == "superseded"
    assert status[(1000004, "2012Q2")] == "superseded" and status[(1000004, "2023Q1")] == "retained"
    assert status[(1000011, "2023Q1")] == "superseded" and status[(1000011, "2023Q2")] == "retained"


def test_retained_cases_and_versions(curated):
    with duckdb.connect(str(curated), read_only=True) as con:
        cases = dict(con.sql("select caseid, caseversion from curated.cases").fetchall())
    assert sorted(cases) == [
        1000001,
        1000003,
        1000004,
        1000005,
        1000006,
        1000007,
        1000008,
        1000009,
        1000010,
        1000011,
    ]
    assert cases[1000001] == 2 and cases[1000003] == 10


def test_cross_case_duplicates_are_flagged_not_removed(curated):
    with duckdb.connect(str(curated), read_only=True) as con:
        flags = {
            caseid: (group, rules, is_dup)
            for caseid, group, rules, is_dup in con.sql(
                "select caseid, duplicate_group, duplicate_rules, is_duplicate from curated.duplicate_flags"
            ).fetchall()
        }
        flagged = con.sql("select caseid from curated.cases where is_duplicate order by 1").fetchall()
    # Same date, age, sex, country, ingredient set and PT set: the later fda_dt (1000006) is kept.
    assert flags[1000005] == (1000005, ["aeolus"], True) and flags[1000006] == (1000005, ["aeolus"], False)
    # The same manufacturer number from the same sender; ages 70 and 71 are within two years.
    assert flags[1000007] == (1000007, ["mfr_num"], True) and flags[1000008][2] is False
    # Same number but F and M: not the same patient.
    assert 1000009 not in flags and 1000010 not in flags
    assert flagged == [(1000005,), (1000007,)]


def test_dedup_summary_per_quarter(curated):
    with duckdb.connect(str(curated), read_only=True) as con:
        summary = {
            row[0]: row[1:]
            for row in con.sql(
                "select quarter, demo_records, removed_deleted, removed_superseded, retained_cases, "
                "flagged_duplicates, "
                "flagged_by_aeolus_key, flagged_by_mfr_num from curated.dedup_summary"
            ).fetchall()
        }
    assert summary["2012Q2"] == (1, 0, 1, 0, 0, 0, 0)
    assert summary["2023Q1"] == (11, 1, 2, 8, 2, 1, 1)
    assert summary["2023Q2"] == (3, 0, 1, 2, 0, 0, 0)


def test_components_are_transitive_and_stable():
    links = pa.table(
        {
            "caseid": [7, 3, 3, 9, 11, 12],
            "link_key": ["a", "a", "b", "b", "c", "c"],
            "rule": ["aeolus", "aeolus", "mfr_num", "mfr_num", "aeolus", "aeolus"],
        }
    )
    components = duplicate_components(links).to_pylist()
    groups = {row["caseid"]: row["duplicate_group"] for row in components}
    assert groups == {3: 3, 7: 3, 9: 3, 11: 11, 12: 11}
    assert {row["caseid"]: row["duplicate_rules"] for row in components}[3] == ["aeolus", "mfr_num"]
    assert duplicate_components(links.slice(0, 0)).num_rows == 0


def test_generated_quarters_match_ground_truth(generated):
    """Retained / deleted / superseded for every generated DEMO record, and every planted duplicate pair."""
    import pandas as pd

    truth = pd.read_csv(generated / "ground_truth/cases.csv", keep_default_na=False)
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        ours = con.sql(
            "select quarter, primaryid_text as primaryid, dedup_status, caseid from curated.case_versions"
        ).df()
        flags = con.sql("select caseid, duplicate_group, is_duplicate from curated.duplicate_flags").df()
        # The AEOLUS key never matches on a missing field; such planted pairs cannot be found by it.
        complete = {
            caseid
            for (caseid,) in con.sql(
                "select caseid from curated.cases where event_dt is not null and age_years is not null "
                "and sex is not null and reporter_country is not null"
            ).fetchall()
        }
    truth["primaryid"] = truth["primaryid"].astype(str)
    merged = truth.merge(ours, on=["quarter", "primaryid"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == len(truth)
    expected = merged.apply(
        lambda row: (
            "deleted" if row["deleted"] else ("retained" if row["is_latest_version"] else "superseded")
        ),
        axis=1,
    )
    assert (merged["dedup_status"] == expected).all()
    assert (merged["dedup_status"] == "retained").sum() == (
        truth["is_latest_version"] & ~truth["deleted"]
    ).sum()

    retained = set(merged.loc[merged["dedup_status"] == "retained", "caseid_x"])
    pairs = {
        (int(row["caseid"]), int(row["duplicate_of"]))
        for _, row in truth[truth["duplicate_of"] != ""].iterrows()
        if int(row["caseid"]) in retained and int(row["duplicate_of"]) in retained
    }
    detectable = {(copy, original) for copy, original in pairs if copy in complete and original in complete}
    assert len(detectable) >= 5 and len(pairs) > len(detectable)
    group = dict(zip(flags["caseid"], flags["duplicate_group"], strict=True))
    flagged = dict(zip(flags["caseid"], flags["is_duplicate"], strict=True))
    for copy, original in detectable:
        assert group.get(copy) is not None and group.get(copy) == group.get(original), (copy, original)
        assert flagged[copy] != flagged[original]  # exactly one of the two is set aside
    planted_cases = {case for pair in pairs for case in pair}
    assert set(flags["caseid"]) <= planted_cases  # no chance matches at this scale
