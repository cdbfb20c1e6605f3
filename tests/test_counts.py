"""Report-level 2x2 counts on crafted quarters where every count is known: variants, N, zeros, and a history
in which each quarter is what a run at that quarter would have computed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from crafted import CraftedQuarter

from pv.counts import TARGET_COMPARATORS
from pv.ingest import ingest

DOCETAXEL = {"name": "TAXOTERE", "prod_ai": "DOCETAXEL"}
PACLITAXEL = {"name": "PACLITAXEL", "prod_ai": "PACLITAXEL"}
TRASTUZUMAB = {"name": "HERCEPTIN", "prod_ai": "TRASTUZUMAB"}
ASPIRIN = {"name": "ASPIRIN", "prod_ai": "ASPIRIN"}
DM = "Dermatomyositis"
# the same event as case 101, sent again later by another reporter (same date, age, sex, country, drugs, PTs)
TWIN = {"event_dt": "20221115", "age": "61", "pts": [DM]}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("counts")
    q1 = CraftedQuarter("2023Q1")
    q1.case(101, fda_dt="20230110", drugs=[DOCETAXEL | {"indication": "Breast cancer"}], **TWIN)
    q1.case(
        102,
        fda_dt="20230111",
        event_dt="20221201",
        age="50",
        drugs=[ASPIRIN, DOCETAXEL | {"role": "C", "indication": "Breast cancer"}],
        pts=[DM, "Myositis"],  # two DM terms in one report: the group counts once
    )
    q1.case(103, fda_dt="20230112", event_dt="20221202", age="40", drugs=[ASPIRIN], pts=["Nausea"])
    # its follow-up in 2023Q2 adds the event: 2023Q1 must not count it
    q1.case(104, fda_dt="20230113", event_dt="20221203", age="41", drugs=[DOCETAXEL], pts=["Nausea"])
    q1.case(
        105, fda_dt="20230114", event_dt="20221204", age="42", drugs=[ASPIRIN], pts=[]
    )  # no event: not in N
    # only a drug that was not administered: no exposure, not in N
    q1.case(
        106, fda_dt="20230115", event_dt="20221205", age="43", drugs=[TRASTUZUMAB | {"role": "DN"}], pts=[DM]
    )
    # a concomitant drug only: in the 'any role' populations, not in the suspect ones
    q1.case(107, fda_dt="20230116", event_dt="20221206", age="44", drugs=[ASPIRIN | {"role": "C"}], pts=[DM])
    q1.case(108, fda_dt="20230117", event_dt="20221207", age="45", drugs=[TRASTUZUMAB], pts=["Nausea"])
    q2 = CraftedQuarter("2023Q2")
    q2.case(
        104,
        version=2,
        fda_dt="20230410",
        event_dt="20221203",
        age="41",
        drugs=[DOCETAXEL],
        pts=["Nausea", DM],
    )
    q2.case(109, fda_dt="20230411", drugs=[DOCETAXEL | {"indication": "Breast cancer"}], **TWIN)
    q3 = CraftedQuarter("2023Q3")
    q3.case(110, fda_dt="20230710", event_dt="20221208", age="46", drugs=[PACLITAXEL], pts=[DM])
    q3.deleted = [103]
    for quarter in (q1, q2, q3):
        quarter.write(root / "in")
    data = root / "data"
    ingest(
        root / "in", db_path=data / "pv.duckdb", lake=data / "lake", work_dir=data / "tmp", allow_partial=True
    )
    return data / "pv.duckdb"


@pytest.fixture(scope="module")
def con(db: Path):
    with duckdb.connect(str(db), read_only=True) as connection:
        yield connection


def _cells(con, drug, event, role, comparator, duplicates, quarter=None):
    table, extra = ("signal_history", "and quarter = ?") if quarter else ("signals", "")
    rows = con.execute(
        f"select a, b, c, d from {table} where drug = ? and event = ? and role = ? and comparator = ? "
        f"and duplicates = ? {extra}",
        [drug, event, role, comparator, duplicates, *([quarter] if quarter else [])],
    ).fetchall()
    assert len(rows) == 1, (drug, event, role, comparator, duplicates, quarter)
    return rows[0]


@pytest.mark.parametrize(
    ("role", "comparator", "duplicates", "expected"),
    [
        # today: 101 and 109 are one event, 109 (received last) represents it; 103 deleted; 105, 106 not in N.
        # suspect population 101/102/104/108/109/110; docetaxel suspect 101, 104, 109; DM 101/102/104/109/110
        ("suspect", "all", "with", (3, 0, 2, 1)),
        ("suspect", "all", "without", (2, 0, 2, 1)),
        # any role adds 107 (concomitant aspirin, DM) to N and 102 (concomitant docetaxel) to the drug
        ("any", "all", "with", (4, 0, 2, 1)),
        ("any", "all", "without", (3, 0, 2, 1)),
        # breast cancer population: cases with a drug given for it, 101, 102, 109
        ("suspect", "breast_cancer", "with", (2, 0, 1, 0)),
        ("any", "breast_cancer", "without", (2, 0, 0, 0)),
    ],
)
def test_docetaxel_dm_narrow_today(con, role, comparator, duplicates, expected):
    assert _cells(con, "docetaxel", "dm_narrow", role, comparator, duplicates) == expected


@pytest.mark.parametrize(
    ("quarter", "role", "duplicates", "expected"),
    [
        # 2023Q1: 104 has no DM yet; 101 has no twin yet, so nothing is flagged
        ("2023Q1", "suspect", "without", (1, 1, 1, 2)),
        ("2023Q1", "any", "with", (2, 1, 1, 2)),
        # 2023Q2: 104's follow-up adds DM; 109 arrives and from now on 101 is its flagged twin
        ("2023Q2", "suspect", "without", (2, 0, 1, 2)),
        ("2023Q2", "suspect", "with", (3, 0, 1, 2)),
        # 2023Q3: 103 deleted, 110 (paclitaxel, DM) arrives
        ("2023Q3", "suspect", "without", (2, 0, 2, 1)),
    ],
)
def test_history_is_what_each_quarter_knew(con, quarter, role, duplicates, expected):
    assert _cells(con, "docetaxel", "dm_narrow", role, "all", duplicates, quarter) == expected


def test_duplicate_flags_follow_the_quarter(con):
    flags = con.sql("select as_of, caseid, is_duplicate from marts.duplicate_flags_by_quarter order by all")
    assert flags.fetchall() == [
        ("2023Q2", 101, True),
        ("2023Q2", 109, False),
        ("2023Q3", 101, True),
        ("2023Q3", 109, False),
    ]
    assert con.sql("select caseid from curated.cases where is_duplicate").fetchall() == [(101,)]


def test_version_lifetimes(con):
    lives = con.sql(
        "select caseid, quarter, live_from, live_to from marts.version_lifetimes where caseid in (103, 104) "
        "order by all"
    ).fetchall()
    assert lives == [
        (103, "2023Q1", "2023Q1", "2023Q3"),  # deleted by the 2023Q3 list
        (104, "2023Q1", "2023Q1", "2023Q2"),  # followed up in 2023Q2
        (104, "2023Q2", "2023Q2", None),
    ]


def test_population_is_cases_with_an_exposure_and_an_event(con):
    totals = dict(
        con.sql(
            "select role || '/' || comparator || '/' || duplicates, max(a + b + c + d) from signals "
            "group by all"
        ).fetchall()
    )
    # 101, 102, 104, 108, 109, 110 (+107 for any role); never 105 (no event) or 106 (drug not administered)
    assert totals["suspect/all/with"] == 6 and totals["any/all/with"] == 7
    assert totals["suspect/all/without"] == 5 and totals["any/breast_cancer/without"] == 2
    per_variant = con.sql(
        "select count(distinct a + b + c + d) from signals "
        f"where comparator not in {TARGET_COMPARATORS} group by role, comparator, duplicates"
    ).fetchall()
    # one N per variant; the active and masked ones have a population per target drug
    assert {count for (count,) in per_variant} == {1}


def test_target_drugs_with_no_dm_report_are_shown_as_zero(con):
    # trastuzumab (108: Nausea) never co-occurs with DM; 106's trastuzumab was not administered
    assert _cells(con, "trastuzumab", "dm_narrow", "suspect", "all", "without") == (0, 1, 4, 0)
    assert _cells(con, "anti_her2_antibody", "dm_broad", "any", "all", "with") == (0, 1, 6, 0)
    # not in the breast cancer population at all: E = 0, and no ratio can be computed
    row = con.sql(
        "select a, b, e, ic, ic025, prr, signal_evans, signal_ic, ebgm_status from signals "
        "where drug = 'trastuzumab' and event = 'dm_narrow' and role = 'any' "
        "and comparator = 'breast_cancer' and duplicates = 'without'"
    ).fetchall()[0]
    assert row[:3] == (0, 0, 0.0) and row[3] == 0.0 and row[4] < 0 and row[6:8] == (False, False)
    assert row[8] == "too_few_pairs"  # a dozen pairs are no basis for a GPS prior
    # and in every quarter of the history in which trastuzumab was reported
    quarters = con.sql(
        "select distinct quarter from signal_history where drug = 'trastuzumab' and a = 0 order by 1"
    ).fetchall()
    assert quarters == [("2023Q1",), ("2023Q2",), ("2023Q3",)]
    # a drug no case was exposed to is not a row
    assert con.sql("select count(*) from signals where drug = 'pertuzumab'").fetchall() == [(0,)]


def test_every_pair_counted_per_case(con):
    # two DM terms in 102 count once; the PT level keeps them apart
    assert _cells(con, "aspirin", "dm_broad", "suspect", "all", "with") == (1, 0, 4, 1)
    assert _cells(con, "aspirin", "Myositis", "suspect", "all", "with") == (1, 0, 0, 5)


def test_integrity_checks_pass_and_are_stored(con):
    checks = con.sql("select check_name, violations from signal_checks").fetchall()
    # 23, the 6 of the stratified columns and the MH FDR recomputation (tests/test_strata.py), and the 3 of
    # the active and masked variants
    assert len(checks) == 33 and all(violations == 0 for _, violations in checks)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Legacy AERS: ISR 5000001 filed under CASE 201 in 2012Q1 and again under CASE 203 in 2012Q2."""
    root = tmp_path_factory.mktemp("legacy")
    q1 = CraftedQuarter("2012Q1")
    q1.case(201, isr=5000001, fda_dt="20120110", event_dt="20111115", age="60", drugs=[DOCETAXEL], pts=[DM])
    q1.case(202, fda_dt="20120111", event_dt="20111116", age="61", drugs=[ASPIRIN], pts=["Nausea"])
    q2 = CraftedQuarter("2012Q2")
    q2.case(203, isr=5000001, fda_dt="20120410", event_dt="20111115", age="60", drugs=[DOCETAXEL], pts=[DM])
    for quarter in (q1, q2):
        quarter.write(root / "in")
    data = root / "data"
    ingest(
        root / "in", db_path=data / "pv.duckdb", lake=data / "lake", work_dir=data / "tmp", allow_partial=True
    )
    return data / "pv.duckdb"


def test_a_legacy_isr_under_two_case_numbers_counts_once_per_quarter(legacy):
    with duckdb.connect(str(legacy), read_only=True) as con:
        lives = con.sql(
            "select caseid, quarter, live_from, live_to from marts.version_lifetimes order by all"
        ).fetchall()
        statuses = dict(con.sql("select caseid, dedup_status from curated.case_versions").fetchall())
        cells = {
            quarter: _cells(con, "docetaxel", "dm_narrow", "any", "all", "with", quarter)
            for quarter in ("2012Q1", "2012Q2")
        }
    # 2012Q1 knew CASE 201 only; from 2012Q2 the ISR stays with its latest record, CASE 203
    assert lives == [
        (201, "2012Q1", "2012Q1", "2012Q2"),
        (202, "2012Q1", "2012Q1", None),
        (203, "2012Q2", "2012Q2", None),
    ]
    assert statuses == {201: "isr_conflict", 202: "retained", 203: "retained"}
    assert cells == {"2012Q1": (1, 0, 0, 1), "2012Q2": (1, 0, 0, 1)}
