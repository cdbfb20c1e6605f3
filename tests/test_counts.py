"""Report-level 2x2 counts: hand-checkable crafted cases, every variant from one aggregation."""

from __future__ import annotations

import duckdb
import pytest

from pv.counts import build_counts

CASES = [
    # caseid, is_duplicate, oncology, breast_cancer, first_quarter
    (1, False, True, True, "2023Q1"),
    (2, False, True, False, "2023Q1"),
    (3, False, False, False, "2023Q2"),
    (4, True, True, True, "2023Q2"),
    (5, False, False, False, "2023Q2"),
    (6, False, True, True, "2023Q3"),
]
DRUGS = [
    # caseid, drug_seq, ingredient, class, role
    (1, 1, "docetaxel", "taxane", "PS"),
    (1, 2, "docetaxel", "taxane", "C"),  # the same ingredient twice in one report counts once
    (2, 1, "docetaxel", "taxane", "C"),
    (3, 1, "aspirin", "none", "PS"),
    (4, 1, "docetaxel", "taxane", "SS"),
    (5, 1, "aspirin", "none", "PS"),
    (6, 1, "paclitaxel", "taxane", "PS"),
    (6, 2, "docetaxel", "taxane", "DN"),  # drug not administered: never an exposure
]
EVENTS = [
    # caseid, pt, groups
    (1, "Dermatomyositis", ["dm_broad", "dm_narrow"]),
    (1, "Myositis", ["dm_broad"]),  # two DM terms in one report: the group counts once
    (2, "Dermatomyositis", ["dm_broad", "dm_narrow"]),
    (3, "Nausea", []),
    (4, "Dermatomyositis", ["dm_broad", "dm_narrow"]),
    (5, "Dermatomyositis", ["dm_broad", "dm_narrow"]),
    (6, "Nausea", []),
]


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("create schema curated")
    connection.execute(
        "create table curated.cases (caseid bigint, is_duplicate boolean, has_oncology_indication boolean, "
        "has_breast_cancer_indication boolean)"
    )
    connection.execute("create table curated.case_versions (caseid bigint, quarter varchar)")
    connection.execute(
        "create table curated.case_drugs (caseid bigint, drug_seq bigint, ingredient varchar, "
        "drug_class varchar, "
        "role_cod varchar, is_suspect boolean)"
    )
    connection.execute("create table curated.case_events (caseid bigint, pt varchar, event_groups varchar[])")
    for caseid, dup, onc, breast, quarter in CASES:
        connection.execute("insert into curated.cases values (?, ?, ?, ?)", [caseid, dup, onc, breast])
        connection.execute("insert into curated.case_versions values (?, ?)", [caseid, quarter])
    for caseid, seq, ingredient, drug_class, role in DRUGS:
        connection.execute(
            "insert into curated.case_drugs values (?, ?, ?, ?, ?, ?)",
            [caseid, seq, ingredient, drug_class, role, role in ("PS", "SS")],
        )
    for caseid, pt, groups in EVENTS:
        connection.execute("insert into curated.case_events values (?, ?, ?)", [caseid, pt, groups])
    build_counts(connection)
    yield connection
    connection.close()


def _table(con, drug, event, role, comparator, duplicates, table="drug_event_counts", extra=""):
    rows = con.execute(
        f"select a, b, c, d from marts.{table} where drug = ? and event = ? and role = ? and comparator = ? "
        f"and duplicates = ? {extra}",
        [drug, event, role, comparator, duplicates],
    ).fetchall()
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(
    ("role", "comparator", "duplicates", "expected"),
    [
        # suspect docetaxel: cases 1, 4 (4 is a duplicate); DM narrow: 1, 2, 4, 5
        ("suspect", "all", "with", (2, 0, 2, 2)),
        ("suspect", "all", "without", (1, 0, 2, 2)),
        # any role adds case 2 (concomitant); case 6 (DN) never counts
        ("any", "all", "without", (2, 0, 1, 2)),
        ("any", "all", "with", (3, 0, 1, 2)),
        # oncology population: cases 1, 2, 4, 6
        ("suspect", "oncology", "with", (2, 0, 1, 1)),
        ("any", "oncology", "without", (2, 0, 0, 1)),
        # breast cancer population: cases 1, 4, 6
        ("suspect", "breast_cancer", "with", (2, 0, 0, 1)),
        ("suspect", "breast_cancer", "without", (1, 0, 0, 1)),
    ],
)
def test_docetaxel_dm_narrow_in_every_variant(con, role, comparator, duplicates, expected):
    assert _table(con, "docetaxel", "dm_narrow", role, comparator, duplicates) == expected


def test_class_level_and_pt_level(con):
    # taxane (any role, all, with): cases 1, 2, 4 (docetaxel), 6 (paclitaxel); Myositis PT only in case 1
    assert _table(con, "taxane", "dm_broad", "any", "all", "with") == (3, 1, 1, 1)
    assert _table(con, "taxane", "Myositis", "any", "all", "with") == (1, 3, 0, 2)


def test_history_is_cumulative_and_ends_at_the_full_table(con):
    rows = con.execute(
        "select quarter, a, b, c, d from marts.history_counts "
        "where drug = 'docetaxel' and event = 'dm_narrow' "
        "and role = 'any' and comparator = 'all' and duplicates = 'with' order by quarter"
    ).fetchall()
    assert rows == [("2023Q1", 2, 0, 0, 0), ("2023Q2", 3, 0, 1, 1), ("2023Q3", 3, 0, 1, 2)]
    assert rows[-1][1:] == _table(con, "docetaxel", "dm_narrow", "any", "all", "with")


def test_margins_are_consistent_for_every_pair(con):
    bad = con.sql(
        "select count(*) from marts.drug_event_counts where a < 1 or b < 0 or c < 0 or d < 0"
    ).fetchall()[0][0]
    assert bad == 0
    totals = con.sql(
        "select distinct role, comparator, duplicates, a + b + c + d from marts.drug_event_counts"
    ).fetchall()
    by_variant = {(r, c, d): n for r, c, d, n in totals}
    assert len(by_variant) == len(totals) == 12  # one N per variant
    assert (
        by_variant[("suspect", "all", "with")] == 6 and by_variant[("any", "breast_cancer", "without")] == 2
    )
