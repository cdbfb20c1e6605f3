"""Quarter parsing, ranges and names inferred from FDA's files."""

from __future__ import annotations

import pytest

from pv.errors import UserError
from pv.quarters import Quarter, quarter_from_name, quarter_range


def test_parse_and_order():
    assert str(Quarter.parse("2023q1")) == "2023Q1"
    assert Quarter.parse("2012Q3") < Quarter.parse("2012Q4") < Quarter.parse("2013Q1")
    assert Quarter.parse("2023Q4").next() == Quarter(2024, 1)
    assert Quarter(2012, 3).is_legacy and not Quarter(2012, 4).is_legacy
    assert Quarter(2004, 1).zip_name == "aers_ascii_2004q1.zip"
    assert Quarter(2012, 4).zip_name == "faers_ascii_2012q4.zip"
    assert Quarter(2018, 1).short == "18Q1"


def test_ranges():
    assert [str(q) for q in quarter_range("2023Q3..2024Q2")] == ["2023Q3", "2023Q4", "2024Q1", "2024Q2"]
    assert [str(q) for q in quarter_range("2024Q1,2023Q1..2023Q2")] == ["2023Q1", "2023Q2", "2024Q1"]
    assert len(quarter_range("2004Q1..2026Q2")) == 90


@pytest.mark.parametrize("bad", ["2023Q5", "23Q1", "2023-1", ""])
def test_bad_quarters_are_user_errors(bad):
    with pytest.raises(UserError):
        quarter_range(bad)


def test_backwards_range_is_an_error():
    with pytest.raises(UserError, match="2023Q1 is before 2024Q1"):
        quarter_range("2024Q1..2023Q1")


@pytest.mark.parametrize(
    ("name", "quarter"),
    [
        ("aers_ascii_2004q1.zip", "2004Q1"),
        ("faers_ascii_2021Q2.zip", "2021Q2"),
        ("ASCII/DEMO18Q1_new.txt", "2018Q1"),
        ("ascii/demo12q4.txt", "2012Q4"),
        ("deleted/ADR19Q1DeletedCases.txt", "2019Q1"),
        ("Deleted/21Q1DeletedCases.txt", "2021Q1"),
        ("Deleted/DELETE26Q2.txt", "2026Q2"),
        ("DEMO20Q3-10000.txt", "2020Q3"),
    ],
)
def test_quarter_from_fda_names(name, quarter):
    assert str(quarter_from_name(name)) == quarter


def test_names_without_a_quarter():
    assert quarter_from_name("AllDeletedCases.txt") is None
    assert quarter_from_name("ASC_NTS.pdf") is None


def test_quarter_runs_show_the_gaps():
    from pv.quarters import quarter_runs

    assert quarter_runs(["2024Q1", "2023Q4", "2012Q1", "2011Q4", "2020Q3", "2012Q1"]) == (
        "2011Q4–2012Q1, 2020Q3, 2023Q4–2024Q1"
    )
    assert quarter_runs(["2023Q1"]) == "2023Q1"
