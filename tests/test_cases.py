"""Case series and time to onset on crafted quarters where every date, role and answer is known."""

from __future__ import annotations

import io
import shutil
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from crafted import CraftedQuarter

from pv.build import BuildContext, run_plan, steps_for_layer
from pv.cases import (
    EVIDENCE_COLUMNS,
    case_series,
    challenge_share,
    dechallenge_summary,
    onset_summary,
    resolve_drug,
    resolve_event,
    run_cases_command,
    series_evidence,
)
from pv.counts import TARGET_COMPARATORS
from pv.db import provenance_line
from pv.errors import UserError
from pv.ingest import ingest
from pv.stats.proportion import wilson_interval
from pv.stats.weibull import weibull_exact, weibull_interval

# ------------------------------------------------------------------------------------------- fixture


DOCETAXEL = {"name": "DOCETAXEL", "prod_ai": "DOCETAXEL"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cases")
    source = root / "in"

    q = CraftedQuarter("2020Q3")  # partial dates published as such; no padding rule
    q.case(
        2000001,
        fda_dt="20200715",
        event_dt="20200301",
        age="55",
        outcomes=("HO", "OT"),
        pts=["Dermatomyositis", "Nausea"],
        drugs=[
            {
                "name": "TAXOTERE",
                "prod_ai": "DOCETAXEL",
                "dechal": "Y",
                "rechal": "Y",
                "start": "20200210",
                "indication": "Breast cancer",
            },
            {
                "name": "HERCEPTIN",
                "prod_ai": "TRASTUZUMAB",
                "role": "SS",
                "indication": "HER2 positive breast cancer",
            },
            {"name": "LIPITOR", "prod_ai": "ATORVASTATIN", "role": "C"},
        ],
    )
    q.case(
        2000002,
        fda_dt="20200716",
        event_dt="202003",
        age="61",
        sex="M",
        country="JP",
        occp="CN",
        pts=["Polymyositis"],
        drugs=[
            DOCETAXEL | {"dechal": "N", "rechal": "N", "start": "20200210", "indication": "Prostate cancer"}
        ],
    )
    q.case(
        2000003,
        fda_dt="20200717",
        event_dt="20200601",  # on the 1st, but 2020Q3 is not a padded quarter: day precision
        age="47",
        pts=["Dermatomyositis"],
        drugs=[
            {"name": "CISPLATIN", "prod_ai": "CISPLATIN"},
            DOCETAXEL | {"role": "SS", "dechal": "U", "rechal": "U", "start": "20200615"},
        ],
    )
    q.case(
        2000004,
        fda_dt="20200718",
        event_dt="20200520",
        age="70",
        outcomes=("DE",),
        pts=["Dermatomyositis"],
        drugs=[
            {"name": "TAXOL", "prod_ai": "PACLITAXEL", "start": "20200501"},
            DOCETAXEL | {"role": "C", "start": "20200101"},
        ],
    )
    for caseid, fda_dt in (
        (2000005, "20200710"),
        (2000006, "20200801"),
    ):  # one patient twice: 2000005 flagged
        q.case(
            caseid, fda_dt=fda_dt, event_dt="20200415", age="66", pts=["Dermatomyositis"], drugs=[DOCETAXEL]
        )
    q.case(
        2000007,
        fda_dt="20200719",
        event_dt="20200705",
        age="52",
        pts=["Dermatomyositis"],
        drugs=[
            {
                "name": "KADCYLA",
                "prod_ai": "ADO-TRASTUZUMAB EMTANSINE",
                "start": "20200605",
                "indication": "HER2 positive breast cancer",
            }
        ],
    )
    q.case(2000008, fda_dt="20200720", event_dt="20200601", age="44", pts=["Nausea"], drugs=[DOCETAXEL])
    q.case(
        2000009,
        fda_dt="20200721",
        event_dt="20200510",
        age="58",
        pts=["Dermatomyositis"],
        drugs=[DOCETAXEL | {"dechal": "D", "rechal": "D", "start": "202004"}],
    )
    q.case(
        2000016,
        fda_dt="20200722",
        event_dt="20200510",
        age="39",
        pts=["Dermatomyositis"],
        drugs=[DOCETAXEL | {"role": "DN"}],
    )
    q.case(
        2000017,
        fda_dt="20200723",
        event_dt="20200610",
        age="45",
        pts=["Dermatomyositis"],
        drugs=[{"name": "PHESGO", "prod_ai": "HYALURONIDASE\\PERTUZUMAB\\TRASTUZUMAB"}],
    )
    q.write(source)

    q = CraftedQuarter("2022Q1")  # event dates padded again: a date on the 1st is partial
    q.case(
        2000010,
        fda_dt="20220215",
        event_dt="20220101",
        age="49",
        pts=["Dermatomyositis"],
        drugs=[DOCETAXEL | {"start": "20210310", "indication": "Breast cancer"}],
    )
    q.case(
        2000011,
        fda_dt="20220120",
        event_dt="20211201",
        age="63",
        pts=["Dermatomyositis"],
        drugs=[DOCETAXEL | {"start": "20211115"}],
    )
    q.case(
        2000012,
        fda_dt="20220125",
        event_dt="20211215",
        age="57",
        pts=["Dermatomyositis"],
        drugs=[
            DOCETAXEL | {"start": "20211201", "indication": "Prostate cancer"}
        ],  # therapy dates: not padded
    )
    q.write(source)

    q = CraftedQuarter("2012Q2")  # legacy AERS: every date padded
    q.case(
        3000013,
        fda_dt="20120420",
        event_dt="20120301",
        age="60",
        pts=["DERMATOMYOSITIS"],
        drugs=[{"name": "DOCETAXEL", "start": "20120115"}],
    )
    q.case(
        3000014,
        fda_dt="20120425",
        event_dt="20120410",
        age="68",
        pts=["DERMATOMYOSITIS"],
        drugs=[{"name": "DOCETAXEL", "dechal": "Y", "rechal": "D", "start": "20120201"}],
    )
    q.write(source)

    q = CraftedQuarter("2013Q1")  # rechallenge D is a filler 2012Q4-2015Q3
    q.case(
        2000015,
        fda_dt="20130201",
        event_dt="20130105",
        age="72",
        pts=["Dermatomyositis"],
        drugs=[DOCETAXEL | {"dechal": "D", "rechal": "D", "start": "20121220"}],
    )
    q.write(source)

    # Raw and staging by ingest, then only the curated layer the case series reads (the full build also
    # fits signal statistics, which need more drug-event pairs than a crafted database has).
    data = root / "data"
    db_path = data / "pv.duckdb"
    ingest(  # crafted quarters carry only the tables the case series reads
        source, db_path=db_path, lake=data / "lake", work_dir=data / "tmp", curate=False, allow_partial=True
    )
    with duckdb.connect(str(db_path)) as connection:
        run_plan(connection, steps_for_layer("curated"), BuildContext(data / "lake"))
    return db_path


@pytest.fixture(scope="module")
def con(db: Path):
    with duckdb.connect(str(db), read_only=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def docetaxel_dm(con) -> pd.DataFrame:
    return case_series(con, "docetaxel", "dm_narrow")


def _row(series: pd.DataFrame, caseid: int) -> pd.Series:
    rows = series[series["caseid"] == caseid]
    assert len(rows) == 1, f"case {caseid}: {len(rows)} rows"
    return rows.iloc[0]


# ------------------------------------------------------------------------------------------- resolving


def test_resolve_drug_by_ingredient_class_and_brand(con):
    assert resolve_drug(con, "docetaxel").ingredients == ("docetaxel",)
    assert resolve_drug(con, "docetaxel").kind == "ingredient"
    taxotere = resolve_drug(con, "TAXOTERE")
    assert (taxotere.kind, taxotere.ingredients, taxotere.match_all) == ("name", ("docetaxel",), False)
    adc = resolve_drug(con, "anti_her2_adc")
    assert (adc.kind, adc.drug_class, adc.ingredients) == (
        "class",
        "anti_her2_adc",
        ("trastuzumab emtansine",),
    )
    assert resolve_drug(con, "Anti-HER2 ADC").drug_class == "anti_her2_adc"
    phesgo = resolve_drug(con, "Phesgo")
    assert (phesgo.ingredients, phesgo.match_all) == (("pertuzumab", "trastuzumab"), True)


def test_resolve_event_by_group_and_pt_text(con):
    assert resolve_event(con, "dm_narrow").group == "dm_narrow"
    assert resolve_event(con, "DM Broad").group == "dm_broad"
    pt = resolve_event(con, "DERMATOMYOSITIS")
    assert (pt.kind, pt.pt, pt.group) == ("pt", "Dermatomyositis", None)


def test_unknown_names_are_one_line_user_errors(con):
    with pytest.raises(UserError, match=r"^no ingredient, class or known name 'xyzzyq'; try pv unmapped$"):
        resolve_drug(con, "xyzzyq")
    with pytest.raises(UserError, match=r"^no event group or reported PT 'qwertyitis'; groups: .*dm_narrow"):
        resolve_event(con, "qwertyitis")
    with pytest.raises(UserError, match="unknown drug role XX"):
        case_series(con, "docetaxel", "dm_narrow", roles="PS,XX")
    with pytest.raises(UserError, match="unknown comparator"):
        case_series(con, "docetaxel", "dm_narrow", comparator="lung")


# ------------------------------------------------------------------------------------------- the series


def test_series_membership_roles_and_duplicates(con, docetaxel_dm):
    # 2000002 has polymyositis (dm_broad only), 2000004 docetaxel as concomitant, 2000005 is a duplicate,
    # 2000008 no DM, 2000016 docetaxel "not administered".
    assert docetaxel_dm["caseid"].tolist() == [
        2000001,
        2000003,
        2000006,
        2000009,
        2000010,
        2000011,
        2000012,
        2000015,
        3000013,
        3000014,
    ]
    any_role = case_series(con, "docetaxel", "dm_narrow", roles="any")
    assert set(any_role["caseid"]) - set(docetaxel_dm["caseid"]) == {2000004}
    assert _row(any_role, 2000004)["role_cod"] == "C"
    assert case_series(con, "docetaxel", "dm_narrow", roles=["dn"])["caseid"].tolist() == [2000016]
    with_dups = case_series(con, "docetaxel", "dm_narrow", include_duplicates=True)
    assert set(with_dups["caseid"]) - set(docetaxel_dm["caseid"]) == {2000005}
    assert bool(_row(with_dups, 2000005)["is_duplicate"]) is True
    broad = case_series(con, "TAXOTERE", "dm_broad")
    assert _row(broad, 2000002)["event_pts"] == ["Polymyositis"]
    assert (
        case_series(con, "docetaxel", "DERMATOMYOSITIS")["caseid"].tolist() == docetaxel_dm["caseid"].tolist()
    )


def test_comparator_restricts_to_cancer_indications(con):
    assert case_series(con, "docetaxel", "dm_narrow", comparator="oncology")["caseid"].tolist() == [
        2000001,
        2000010,
        2000012,
    ]
    assert case_series(con, "docetaxel", "dm_narrow", comparator="breast_cancer")["caseid"].tolist() == [
        2000001,
        2000010,
    ]


def test_case_columns(docetaxel_dm):
    first = _row(docetaxel_dm, 2000001)
    assert (first["primaryid"], first["quarter"], first["age_years"], first["sex"]) == (
        20000011,
        "2020Q3",
        55,
        "F",
    )
    assert (first["reporter_country"], first["reporter_type"]) == ("US", "health_professional")
    assert (bool(first["serious"]), first["outcomes"], bool(first["died"])) == (True, ["HO", "OT"], False)
    # trastuzumab is the other suspect; atorvastatin was concomitant
    assert first["co_suspects"] == ["trastuzumab"]
    # only the indication of docetaxel's drug_seq, not trastuzumab's
    assert first["indications"] == ["Breast cancer"]
    assert (first["drug_seqs"], first["role_cod"], first["dechal"], first["rechal"]) == ([1], "PS", "Y", "Y")
    assert _row(docetaxel_dm, 2000003)["co_suspects"] == ["cisplatin"]


def test_class_and_combination_series(con):
    taxane = case_series(con, "taxane", "dm_narrow", roles="any")
    both = _row(taxane, 2000004)
    # paclitaxel PS from May 1st, docetaxel C from January 1st: onset from the first exposure
    assert (both["ingredients"], both["drug_seqs"], both["role_cod"]) == (
        ["docetaxel", "paclitaxel"],
        [1, 2],
        "PS",
    )
    assert (both["time_to_onset_days"], both["onset_precision"]) == (140, "day")
    suspect_only = _row(case_series(con, "taxane", "dm_narrow"), 2000004)
    assert (suspect_only["ingredients"], suspect_only["time_to_onset_days"]) == (["paclitaxel"], 19)
    assert case_series(con, "anti_her2_adc", "dm_narrow")["caseid"].tolist() == [2000007]
    # PHESGO needs pertuzumab and trastuzumab on one drug; trastuzumab alone (2000001) is not PHESGO
    assert case_series(con, "PHESGO", "dm_narrow")["caseid"].tolist() == [2000017]
    assert case_series(con, "anti_her2_antibody", "dm_narrow")["caseid"].tolist() == [2000001, 2000017]


# ------------------------------------------------------------------------------------------- dates


def _dates(row: pd.Series) -> tuple:
    return (
        row["start_dt"].strftime("%Y-%m-%d") if not pd.isna(row["start_dt"]) else None,
        row["start_dt_precision"],
        row["event_dt"].strftime("%Y-%m-%d") if not pd.isna(row["event_dt"]) else None,
        row["event_dt_precision"],
        None if pd.isna(row["time_to_onset_days"]) else int(row["time_to_onset_days"]),
        row["onset_precision"],
        row["onset_interval_days"],
    )


def test_exact_onset(docetaxel_dm):
    assert _dates(_row(docetaxel_dm, 2000001)) == (
        "2020-02-10",
        "day",
        "2020-03-01",
        "day",
        20,
        "day",
        [20, 20],
    )
    # FAERS therapy dates are not padded: a start on the 1st in 2022Q1 is still a day
    assert _dates(_row(docetaxel_dm, 2000012)) == (
        "2021-12-01",
        "day",
        "2021-12-15",
        "day",
        14,
        "day",
        [14, 14],
    )
    assert _dates(_row(docetaxel_dm, 2000015)) == (
        "2012-12-20",
        "day",
        "2013-01-05",
        "day",
        16,
        "day",
        [16, 16],
    )


def test_partial_month_event_gives_an_interval(con):
    # event 2020-03 (reported as YYYYMM), start 2020-02-10: 20 to 50 days
    row = _row(case_series(con, "docetaxel", "dm_broad"), 2000002)
    assert _dates(row) == ("2020-02-10", "day", "2020-03-01", "month", 20, "month", [20, 50])
    assert not row["event_dt_padded"]


def test_partial_start_gives_an_interval(docetaxel_dm):
    row = _row(docetaxel_dm, 2000009)  # start 2020-04, event 2020-05-10
    assert _dates(row) == ("2020-04-01", "month", "2020-05-10", "day", 39, "month", [10, 39])


def test_padded_event_dates_from_2021q3(docetaxel_dm):
    # 20220101 in 2022Q1 is a year; the year cannot end after the report reached FDA (2022-02-15)
    year = _row(docetaxel_dm, 2000010)
    assert _dates(year) == ("2021-03-10", "day", "2022-01-01", "year", 297, "year", [297, 342])
    assert bool(year["event_dt_padded"]) is True
    month = _row(docetaxel_dm, 2000011)  # 20211201: December 2021
    assert _dates(month) == ("2021-11-15", "day", "2021-12-01", "month", 16, "month", [16, 46])


def test_legacy_padded_dates(con, docetaxel_dm):
    event = _row(docetaxel_dm, 3000013)  # legacy event 20120301 = March 2012
    assert _dates(event) == ("2012-01-15", "day", "2012-03-01", "month", 46, "month", [46, 76])
    start = _row(docetaxel_dm, 3000014)  # legacy therapy start 20120201 read as February 2012
    assert _dates(start) == ("2012-02-01", "month", "2012-04-10", "day", 69, "month", [41, 69])
    assert (bool(start["start_dt_padded"]), bool(start["event_dt_padded"])) == (True, False)
    literal = _row(case_series(con, "docetaxel", "dm_narrow", legacy_therapy_padding=False), 3000014)
    assert _dates(literal)[4:] == (69, "day", [69, 69])


def test_negative_onset_kept_and_flagged(docetaxel_dm):
    row = _row(docetaxel_dm, 2000003)
    assert _dates(row) == ("2020-06-15", "day", "2020-06-01", "day", -14, "day", [-14, -14])
    assert bool(row["negative_onset"]) is True
    assert int(docetaxel_dm["negative_onset"].fillna(False).sum()) == 1


def test_unknown_onset(docetaxel_dm):
    row = _row(docetaxel_dm, 2000006)  # no therapy dates
    assert row["onset_precision"] is None or pd.isna(row["onset_precision"])
    assert row["onset_interval_days"] is None and pd.isna(row["time_to_onset_days"])


# ------------------------------------------------------------------------------------------- summaries


def test_onset_summary_counts(docetaxel_dm):
    summary = onset_summary(docetaxel_dm)
    assert {k: summary[k] for k in ("n_cases", "n_onset_known", "n_exact", "n_partial")} == {
        "n_cases": 10,
        "n_onset_known": 9,
        "n_exact": 4,
        "n_partial": 5,
    }
    # partial only because of padding: 2000010, 2000011, 3000013 (event) and 3000014 (legacy start)
    assert summary["n_partial_from_padding"] == 4
    assert (summary["n_onset_unknown"], summary["n_negative"], summary["n_possibly_negative"]) == (1, 1, 0)
    # exact onsets >= 0: 14, 16, 20
    assert summary["median_exact_days"] == 16
    assert summary["iqr_exact_days"] == (15, 18)
    assert summary["weibull"]["n"] == 3 and summary["weibull"]["shape"] is not None
    assert summary["weibull_interval"]["n_exact"] == 3 and summary["weibull_interval"]["n_partial"] == 5


def test_weibull_needs_three_exact_onsets(con):
    small = case_series(con, "docetaxel", "dm_narrow", comparator="breast_cancer")  # one exact onset
    fit = onset_summary(small)["weibull"]
    assert fit["shape"] is None and fit["shape_ci"] == (None, None)
    assert fit["reason"] == "fewer than 3 exact positive onsets (1)"


def _synthetic(exact: np.ndarray, intervals: list[tuple[float, float]] = ()) -> pd.DataFrame:
    rows = [
        {
            "onset_precision": "day",
            "time_to_onset_days": x,
            "onset_interval_days": [x, x],
            "event_dt_precision": "day",
        }
        for x in exact
    ] + [
        {
            "onset_precision": "month",
            "time_to_onset_days": low,
            "onset_interval_days": [low, high],
            "event_dt_precision": "month",
        }
        for low, high in intervals
    ]
    frame = pd.DataFrame(rows)
    frame["start_dt_precision"] = "day"
    for column in ("event_dt_padded", "start_dt_padded", "negative_onset", "possibly_negative_onset"):
        frame[column] = False
    return frame


def test_onset_summary_feeds_the_weibull_fits_day_intervals():
    """Exact onsets go to the exact fit as they are; the interval fit gets [d − ½, d + ½] (cut at 0) and
    [L − ½, U + ½] for partial dates (the fits themselves: tests/test_stats_weibull.py)."""
    exact = np.array([0.0, 3.0, 10.0, 12.0, 40.0, 75.0])
    intervals = [(0.0, 29.0), (30.0, 59.0), (-20.0, 10.0), (-40.0, -10.0)]  # the last one certainly negative
    summary = onset_summary(_synthetic(exact, intervals))
    assert summary["weibull"] == weibull_exact(exact[exact > 0])
    low = np.array([0.0, 2.5, 9.5, 11.5, 39.5, 74.5, 0.0, 29.5, 0.0])
    high = np.array([0.5, 3.5, 10.5, 12.5, 40.5, 75.5, 29.5, 59.5, 10.5])
    expected = weibull_interval(low, high, summary["weibull"]["shape"])
    assert summary["weibull_interval"] == expected | {"n_exact": 6, "n_partial": 3}
    assert expected["n"] == 9 and expected["shape"] is not None


def test_dechallenge_summary_counts_d_filler_as_not_given(docetaxel_dm):
    summary = dechallenge_summary(docetaxel_dm)
    # dechal: Y 2000001 and 3000014; U 2000003; D 2000009 and 2000015; none for the other five
    assert summary["dechallenge"] == {
        "positive": 2,
        "negative": 0,
        "unknown": 1,
        "not_applicable": 2,
        "not_given": 5,
    }
    # rechal D in 2013Q1 (2000015) is the filler; D in 2020Q3 (2000009) and 2012Q2 (3000014) means
    # "does not apply"
    assert summary["rechallenge"] == {
        "positive": 1,
        "negative": 0,
        "unknown": 1,
        "not_applicable": 2,
        "not_given": 6,
    }
    assert summary["rechal_filler_as_not_given"] == 1


def test_series_evidence_is_the_summaries_as_one_row(docetaxel_dm):
    """The mart's row for docetaxel x dm_narrow: exact onsets 14, 16, 20 (one more is negative), a
    converged fit on them, and dechallenges Y, Y, U, D, D (2 of 2 known positive)."""
    row = series_evidence(docetaxel_dm)
    assert list(row) == list(EVIDENCE_COLUMNS)
    counts = {key: row[key] for key in EVIDENCE_COLUMNS if key.startswith("n_")}
    assert counts == {
        "n_cases": 10,
        "n_onset_exact": 4,
        "n_onset_partial": 5,
        "n_onset_partial_from_padding": 4,
        "n_onset_unknown": 1,
        "n_onset_negative": 1,
        "n_onset_possibly_negative": 0,
        "n_onset_same_day": 0,
        "n_onset_median": 3,
    }
    assert (row["onset_q1_days"], row["onset_median_days"], row["onset_q3_days"]) == (15, 16, 18)
    fit = weibull_exact(np.array([14.0, 16.0, 20.0]))  # up to summation order
    assert fit["status"] == "converged" and row["weibull_status"] == "converged" and row["weibull_n"] == 3
    published = (row["weibull_shape"], row["weibull_scale_days"], row["weibull_shape_lower"])
    assert published == pytest.approx((fit["shape"], fit["scale"], fit["shape_ci"][0]), rel=1e-12)
    assert row["weibull_shape_upper"] == pytest.approx(fit["shape_ci"][1], rel=1e-12)
    assert row["weibull_reading"] == fit["interpretation"]
    assert row["weibull_reason"] is None
    assert (row["dechal_positive"], row["dechal_negative"], row["dechal_unknown"]) == (2, 0, 1)
    assert (row["dechal_not_applicable"], row["dechal_not_given"]) == (2, 5)
    assert row["dechal_positive_share"] == 1.0 and row["dechal_share_reason"] is None
    low, high = row["dechal_positive_share_lower"], row["dechal_positive_share_upper"]
    assert (round(low, 4), high) == (0.3424, 1.0)  # Wilson 95% for 2 of 2
    assert (row["rechal_positive"], row["rechal_positive_share"], row["rechal_filler_as_not_given"]) == (
        1,
        1,
        1,
    )


def test_a_fit_that_does_not_converge_publishes_no_shape_and_says_why(con):
    small = case_series(con, "docetaxel", "dm_narrow", comparator="breast_cancer")  # one exact onset
    row = series_evidence(small)
    assert (row["weibull_status"], row["weibull_n"]) == ("too_few_onsets", 1)
    assert row["weibull_reason"] == "fewer than 3 exact positive onsets (1)"
    shape = [row[key] for key in ("weibull_shape", "weibull_shape_lower", "weibull_shape_upper")]
    assert shape + [row["weibull_scale_days"], row["weibull_reading"]] == [None] * 5
    equal = series_evidence(docetaxel_like_onsets([9, 9, 9]))
    assert (equal["weibull_status"], equal["weibull_shape"]) == ("not_identified", None)
    assert equal["weibull_reason"] == "all 3 exact onsets are equal (9 days): the shape is not identified"


def docetaxel_like_onsets(days: list[int]) -> pd.DataFrame:
    frame = _synthetic(np.array(days, dtype=float))
    frame["quarter"] = "2020Q3"
    frame["dechal"] = None
    frame["rechal"] = None
    return frame


def test_challenge_share_leaves_unknown_answers_out():
    counts = {"positive": 3, "negative": 4, "unknown": 9, "not_applicable": 5, "not_given": 20}
    assert challenge_share(counts) == {
        "share": 3 / 7,
        "ci": wilson_interval(3, 7),
        "known": 7,
        "reason": None,
    }
    nothing_known = challenge_share(counts | {"positive": 0, "negative": 0})
    assert nothing_known == {
        "share": None,
        "ci": (None, None),
        "known": 0,
        "reason": "no positive or negative answer",
    }


# ------------------------------------------------------------------------------------------- headline mart

KEYS = ["drug_level", "drug", "event_level", "event", "role", "comparator", "duplicates"]


@pytest.fixture(scope="module")
def generated_con(generated):
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as connection:
        yield connection


def test_headline_onset_has_a_row_per_headline_row_with_its_cases(generated_con):
    """n_cases is the variant's a for all 600 headline rows (the active and masked ones included): the series
    and the counts agree on who counts."""
    joined = generated_con.sql(
        "select count(*), count(*) filter (where onset.n_cases = headline.a), sum(onset.n_cases) "
        f"from marts.headline as headline join marts.headline_onset as onset using ({', '.join(KEYS)})"
    ).fetchall()[0]
    assert joined == (600, 600, 204)


def test_headline_onset_equals_the_case_series_of_each_variant(generated_con):
    """Every variant of taxane x dm_broad: the mart row is series_evidence of the series read directly with
    that variant's roles, comparator and duplicates setting (the mart reads one series per role and
    subsets it by the analysis rules)."""
    mart = generated_con.sql(
        "select * from marts.headline_onset where drug = 'taxane' and event = 'dm_broad' order by all"
    ).df()
    assert len(mart) == 20
    # the case series reads the comparators with strata; active and masked (target-specific populations)
    # agree with their counts (test_headline_onset_has_a_row_per_headline_row_with_its_cases)
    for row in mart[~mart["comparator"].isin(TARGET_COMPARATORS)].to_dict("records"):
        series = case_series(
            generated_con,
            "taxane",
            "dm_broad",
            roles=row["role"],
            include_duplicates=row["duplicates"] == "with",
            comparator=row["comparator"],
        )
        expected = series_evidence(series)
        published = {key: None if pd.isna(row[key]) else row[key] for key in EVIDENCE_COLUMNS}
        assert published == expected, (row["role"], row["comparator"], row["duplicates"])


def test_headline_onset_median_and_counts_from_the_case_series(generated_con):
    """taxane x dm_broad, default variant: recomputed by hand from the case series rows."""
    series = case_series(generated_con, "taxane", "dm_broad")
    exact = series.loc[series["onset_precision"] == "day", "time_to_onset_days"].astype(float)
    row = (
        generated_con.sql(
            "select * from marts.headline_onset where drug = 'taxane' and event = 'dm_broad' "
            "and role = 'suspect' and comparator = 'all' and duplicates = 'without'"
        )
        .df()
        .iloc[0]
    )
    assert (row["n_cases"], row["n_onset_exact"], row["n_onset_median"]) == (len(series), 1, 1) == (4, 1, 1)
    assert row["onset_median_days"] == float(np.median(exact[exact >= 0])) == 39.0
    assert row["n_onset_unknown"] == int(series["onset_precision"].isna().sum()) == 3
    # no converged fit on the generated quarters: NULL with the reason, never a number
    assert pd.isna(row["weibull_shape"]) and row["weibull_status"] == "too_few_onsets"
    assert row["weibull_reason"] == "fewer than 3 exact positive onsets (1)"
    hand = series["dechal"].value_counts(dropna=False).to_dict()
    answers = {answer: int(hand.get(code, 0)) for answer, code in (("positive", "Y"), ("negative", "N"))}
    assert (row["dechal_positive"], row["dechal_negative"]) == (answers["positive"], answers["negative"])
    assert row["dechal_unknown"] == int(hand.get("U", 0)) and row["dechal_not_applicable"] == int(
        hand.get("D", 0)
    )
    assert (
        pd.isna(row["dechal_positive_share"])
        and row["dechal_share_reason"] == "no positive or negative answer"
    )
    statuses = generated_con.sql(
        "select weibull_status, count(*), count(weibull_shape) from marts.headline_onset group by all"
    ).fetchall()
    assert statuses == [("too_few_onsets", 600, 0)]


def test_pv_signals_shows_onset_beside_each_headline_row(generated, capsys):
    from pv.cli import main

    assert (
        main(
            [
                "signals",
                "--db",
                str(generated / "data/pv.duckdb"),
                "--drug",
                "taxane",
                "--event",
                "dm_broad",
                "--by-variant",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 120  # the terminal table and its legend fit 120 columns
    header = next(line for line in lines if line.startswith("drug"))
    assert header.split()[-4:] == ["onset", "d", "beta", "dechal+"]
    default = next(line for line in lines if " sus/all/wo " in line)
    # median onset 39 days over 1 exact onset; no Weibull shape (too few onsets); no Y/N dechallenge
    assert default.split()[-4:] == ["39", "(1)", "-", "-"]


def test_pv_signals_reads_a_database_built_before_the_onset_mart(generated, tmp_path, capsys):
    from pv.cli import main

    db = tmp_path / "pv.duckdb"
    shutil.copyfile(generated / "data/pv.duckdb", db)
    with duckdb.connect(str(db)) as connection:
        connection.execute("drop table marts.headline_onset")
    selection = ["--drug", "taxane", "--event", "dm_broad"]
    assert main(["signals", "--db", str(db), *selection, "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(frame) == 20 and "onset_median_days" not in frame
    assert main(["signals", "--db", str(db), *selection, "--by-variant"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("drug"))
    assert header.split()[-1] == "rules"  # no onset columns
    assert main(["signals", "--db", str(db), *selection]) == 0
    out = capsys.readouterr().out
    assert "time to onset" not in out and "event: dm_broad" in out  # side by side, without the onset table


# ------------------------------------------------------------------------------------------- command


def test_run_cases_command_table(db):
    out = io.StringIO()
    assert run_cases_command(db, "TAXOTERE", "dm_narrow", "PS,SS", False, "all", "table", out) == 0
    text = out.getvalue()
    assert "2000010" in text and "297..342 (year)" in text and "-14 NEGATIVE" in text
    assert "cases: 10 (serious 1, died 0)" in text
    assert "9 of 10 cases: 4 exact (both dates to the day), 5 rest on partial dates" in text
    assert "4 of them only because a date on the 1st was read as padded" in text
    assert "Weibull, exact positive onsets (n=3): shape β =" in text
    assert (
        "rechallenge: positive 1, negative 0, unknown 1, not applicable 2, not given 6 "
        "(incl. 1 'D' of 2012Q4–2015Q3, a filler)" in text
    )
    # the mart's share (series_evidence): 2 of 2 dechallenges, 1 of 1 rechallenge known
    assert "  positive share: 2 of 2 known (Y or N) = 100% (Wilson 95% CI 34%–100%)" in text
    assert "  positive share: 1 of 1 known (Y or N) = 100% (Wilson 95% CI 21%–100%)" in text


def test_run_cases_command_csv(db, capsys):
    out = io.StringIO()
    assert run_cases_command(db, "docetaxel", "dm_narrow", "any", True, "all", "csv", out) == 0
    frame = pd.read_csv(io.StringIO(out.getvalue()))
    assert sorted(frame["caseid"]) == [
        2000001,
        2000003,
        2000004,
        2000005,
        2000006,
        2000009,
        2000010,
        2000011,
        2000012,
        2000015,
        3000013,
        3000014,
    ]
    row = frame[frame["caseid"] == 2000010].iloc[0]
    assert (row["event_dt"], row["event_dt_precision"], row["onset_interval_days"]) == (
        "2022-01-01",
        "year",
        "297;342",
    )
    assert "time to onset" in capsys.readouterr().err


def test_run_cases_command_without_cases(db):
    out = io.StringIO()
    # cisplatin is suspect in a dermatomyositis case only; polymyositis is reported with docetaxel alone
    assert run_cases_command(db, "cisplatin", "Polymyositis", "any", False, "all", "table", out) == 0
    text = out.getvalue()
    with duckdb.connect(str(db), read_only=True) as con:
        provenance = provenance_line(con)
    first = f"{textwrap.fill(provenance, 120, break_on_hyphens=False)}\n\n" if provenance else ""
    assert text.startswith(f"{first}no cases\n") and "cases: 0 (serious 0, died 0)" in text
    assert "not estimated: fewer than 3 exact positive onsets (0)" in text


def test_run_cases_command_errors(db, tmp_path):
    with pytest.raises(UserError, match="no database"):
        run_cases_command(
            tmp_path / "none.duckdb", "docetaxel", "dm_narrow", "PS,SS", False, "all", "table", io.StringIO()
        )
    with pytest.raises(UserError, match="try pv unmapped"):
        run_cases_command(db, "xyzzyq", "dm_narrow", "PS,SS", False, "all", "table", io.StringIO())
    with pytest.raises(UserError, match="unknown format"):
        run_cases_command(db, "docetaxel", "dm_narrow", "PS,SS", False, "all", "json", io.StringIO())


def test_case_series_of_the_active_and_masked_variants_is_their_a(generated):
    """`pv cases --comparator active|masked`: the cases the variant counts, so the series has the row's a
    (every headline pair with a report, both target-specific comparators, both duplicates settings); a pair
    outside the headline is a one-line error."""
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        rows = con.sql(
            "select drug, event, comparator, duplicates, a from marts.headline where role = 'suspect' "
            "and comparator in ('active', 'masked') and a > 0 order by all"
        ).fetchall()
        assert len(rows) >= 4
        for drug, event, comparator, duplicates, a in rows:
            series = case_series(
                con, drug, event, include_duplicates=duplicates == "with", comparator=comparator
            )
            assert len(series) == a, (drug, event, comparator, duplicates)
            assert series.attrs["comparator"] == comparator
        with pytest.raises(UserError, match="exists only for a target drug or class of the headline"):
            case_series(con, "aspirin", "dm_narrow", comparator="masked")
