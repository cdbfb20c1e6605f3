"""Stratified statistics through the whole build (marts.case_strata, marts.stratified_counts, the stratified
columns of marts.signals): a crafted confounded null where every number is known by hand, and the generated
database's stored values against pv.stats."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pytest
from crafted import CraftedQuarter

from pv import stats
from pv.counts import TARGET_CLASSES, TARGET_COMPARATORS, VARIANT_VALUES
from pv.ingest import ingest
from pv.resources import read_vocabulary
from pv.signals import STRATIFIED_COLUMNS

DOCETAXEL = {"name": "TAXOTERE", "prod_ai": "DOCETAXEL"}
ASPIRIN = {"name": "ASPIRIN", "prod_ai": "ASPIRIN"}
DM = "Dermatomyositis"
NAUSEA = "Nausea"
# The confounded null. DM is reported in 50% of the older women's cases (age 65: band 60-69) and in 10% of
# the younger women's (age 45: band 40-49), with or without docetaxel: within each stratum the drug has no
# effect (odds ratio 1). But docetaxel is concentrated in the older stratum (80 of its 180 cases, against 40
# of the other 240), so its crude ROR is raised. Thirty cases without sex or age (aspirin, nausea) are a
# stratum of their own, where docetaxel never occurs.
#                       sex   age   drug        event   cases
CONFOUNDED_NULL = [
    ("F", "65", DOCETAXEL, DM, 40),
    ("F", "65", DOCETAXEL, NAUSEA, 40),
    ("F", "65", ASPIRIN, DM, 20),
    ("F", "65", ASPIRIN, NAUSEA, 20),
    ("F", "45", DOCETAXEL, DM, 10),
    ("F", "45", DOCETAXEL, NAUSEA, 90),
    ("F", "45", ASPIRIN, DM, 20),
    ("F", "45", ASPIRIN, NAUSEA, 180),
    ("", "", ASPIRIN, NAUSEA, 30),
]
VARIANT = {"role": "suspect", "comparator": "all", "duplicates": "without"}


def _crafted_database(root, groups) -> duckdb.DuckDBPyConnection:
    """A one-quarter database of ``groups`` (sex, age, drug, event, cases), one drug and event a case."""
    quarter = CraftedQuarter("2023Q1")
    caseid, first_day = 500_000, dt.date(2020, 1, 1)
    for sex, age, drug, event, cases in groups:
        for _ in range(cases):
            caseid += 1
            # a distinct event date per case, so that no two cases look like duplicates of one event
            event_dt = (first_day + dt.timedelta(days=caseid - 500_000)).strftime("%Y%m%d")
            quarter.case(
                caseid, fda_dt="20230115", event_dt=event_dt, age=age, sex=sex, drugs=[drug], pts=[event]
            )
    quarter.write(root / "in")
    data = root / "data"
    ingest(
        root / "in", db_path=data / "pv.duckdb", lake=data / "lake", work_dir=data / "tmp", allow_partial=True
    )
    return duckdb.connect(str(data / "pv.duckdb"), read_only=True)


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    with _crafted_database(tmp_path_factory.mktemp("strata"), CONFOUNDED_NULL) as connection:
        yield connection


def _row(con, drug: str, event: str, columns: str) -> tuple:
    rows = con.execute(
        f"select {columns} from marts.signals where drug = ? and event = ? and role = ? and comparator = ? "
        "and duplicates = ?",
        [drug, event, *VARIANT.values()],
    ).fetchall()
    assert len(rows) == 1
    return rows[0]


def test_each_case_gets_its_stratum(con):
    strata = dict(con.sql("select stratum, count(*) from marts.case_strata group by all").fetchall())
    assert strata == {"F | 60-69 | 2023": 120, "F | 40-49 | 2023": 300, "unknown | unknown | 2023": 30}


def test_confounded_null_crude_ror_flags_and_mantel_haenszel_does_not(con):
    a, b, c, d, ror, ror_lower, signal_ror = _row(
        con, "docetaxel", DM, "a, b, c, d, ror, ror_lower, signal_ror"
    )
    # crude: a = 40 + 10, b = 40 + 90, c = 20 + 20, d = 20 + 180 + 30 (the unknown stratum is all "neither")
    assert (a, b, c, d) == (50, 130, 40, 230)
    assert ror == pytest.approx(50 * 230 / (130 * 40), rel=1e-12)  # 2.21
    # Woolf: SE = sqrt(1/50 + 1/130 + 1/40 + 1/230) = 0.2401; lower = exp(ln 2.2115 - 1.96 SE) = 1.38 > 1
    se = math.sqrt(1 / 50 + 1 / 130 + 1 / 40 + 1 / 230)
    assert ror_lower == pytest.approx(math.exp(math.log(2.2115384615384617) - stats.Z95 * se), rel=1e-12)
    assert ror_lower > 1.3 and signal_ror
    values = dict(
        zip(
            STRATIFIED_COLUMNS,
            _row(con, "docetaxel", "dm_narrow", ", ".join(STRATIFIED_COLUMNS)),
            strict=True,
        )
    )
    # MH over the two strata where docetaxel and DM both occur (the unknown stratum has no docetaxel):
    # older: a d / N = 40*20/120 = 6.667, b c / N = 40*20/120 = 6.667; younger: 10*180/300 = 6, 90*20/300 = 6
    # OR_MH = (6.667 + 6) / (6.667 + 6) = 1 exactly: no effect once age is held fixed.
    assert values["ror_mh"] == pytest.approx(1.0, rel=1e-12)
    assert values["ror_mh_strata"] == 2
    assert values["ror_mh_lower"] < 1 < values["ror_mh_upper"]
    # RBG variance: P = (a+d)/N, Q = (b+c)/N; older P = Q = 0.5, younger P = 0.633, Q = 0.367; R = S = 12.667
    r_s = np.array([40 * 20 / 120, 10 * 180 / 300])
    s_s = np.array([40 * 20 / 120, 90 * 20 / 300])
    p_s, q_s = np.array([60 / 120, 190 / 300]), np.array([60 / 120, 110 / 300])
    big_r, big_s = r_s.sum(), s_s.sum()
    variance = (p_s * r_s).sum() / (2 * big_r**2) + (p_s * s_s + q_s * r_s).sum() / (2 * big_r * big_s)
    variance += (q_s * s_s).sum() / (2 * big_s**2)
    assert values["ror_mh_upper"] == pytest.approx(math.exp(stats.Z95 * math.sqrt(variance)), rel=1e-12)
    # MH PRR: sum a n0 / N = 40*40/120 + 10*200/300 = 20; sum c n1 / N = 20*80/120 + 20*100/300 = 20 -> 1
    assert values["prr_mh"] == pytest.approx(1.0, rel=1e-12)
    # E_stratified = 80*60/120 + 100*30/300 = 40 + 10 = 50 = a, where the crude E = 180*90/450 = 36
    assert values["e_stratified"] == pytest.approx(50.0, rel=1e-12)
    assert _row(con, "docetaxel", "dm_narrow", "e")[0] == pytest.approx(180 * 90 / 450, rel=1e-12)
    # IC with E = 50: log2(50.5 / 50.5) = 0, against the crude log2(50.5 / 36.5) = 0.468
    assert values["ic_stratified"] == pytest.approx(0.0, abs=1e-12)
    assert values["ic_stratified025"] < 0 < values["ic_stratified975"]
    # Breslow-Day: both strata already have odds ratio 1 = OR_MH, so each expected cell is the observed one
    assert values["breslow_day_chi2"] == pytest.approx(0.0, abs=1e-9)
    assert values["breslow_day_df"] == 1
    assert values["breslow_day_p"] == pytest.approx(1.0, abs=1e-9)
    # fewer than 200 observed pairs: no GPS prior, so no EBGM, crude or stratified, and the reason says so
    assert values["ebgm_stratified"] is None or math.isnan(values["ebgm_stratified"])
    assert values["stratified_reason"] == "ebgm_stratified: " + (
        "not reported: fewer than 200 observed ingredient x PT pairs to fit a GPS prior on"
    )


def test_aspirin_is_the_mirror_image(con):
    # aspirin's cases are the complement of docetaxel's in both strata, so its MH odds ratio is 1 / 1 = 1
    # too, and in the unknown stratum aspirin is in every case: no comparison there (not informative).
    ror_mh, strata, e_stratified = _row(con, "aspirin", "dm_narrow", "ror_mh, ror_mh_strata, e_stratified")
    assert ror_mh == pytest.approx(1.0, rel=1e-12) and strata == 2
    # E: older 40*60/120 = 20, younger 200*30/300 = 20, unknown (no DM) 0
    assert e_stratified == pytest.approx(40.0, rel=1e-12)


def test_a_pair_below_three_reports_has_no_breslow_day_and_says_why(con):
    rows = con.sql(
        "select count(*), count(breslow_day_p), min(stratified_reason) from marts.signals where a < 3"
    ).fetchall()[0]
    assert rows[0] > 0 and rows[1] == 0
    assert "breslow_day: not computed below 3 reports" in rows[2]


def test_the_checks_cover_the_stratified_columns(con):
    checks = con.sql(
        "select check_name, rows_checked, violations from marts.signal_checks where check_name like '%strat%'"
    ).fetchall()
    assert len(checks) >= 3 and all(violations == 0 for _, _, violations in checks)


def _given_for(drug: dict[str, str], indication: str) -> dict[str, str]:
    return drug | {"indication": indication}


BREAST_CANCER = "Breast cancer"
TRASTUZUMAB = {"name": "HERCEPTIN", "prod_ai": "TRASTUZUMAB"}
LAPATINIB = {"name": "TYKERB", "prod_ai": "LAPATINIB"}
DOXORUBICIN = {"name": "DOXORUBICIN", "prod_ai": "DOXORUBICIN"}
# Confounding by indication. Breast cancer carries DM (paraneoplastic): 20% of the breast-cancer cases report
# it whatever the drug, against 2% of the others. Docetaxel is given only for breast cancer, so its crude
# ROR is raised though it has no effect: its active comparator doxorubicin (an anthracycline for the same
# patients) reports DM as often. Trastuzumab is truly causal (60% against 20%) and survives every variant;
# lapatinib (HER2 TKI) is its active comparator. The breast-cancer cases are the older women (age 65: band
# 60-69), the others the younger (45: 40-49), so the confounder is also a stratum of sex x age x year.
#                          sex   age   drug                                          event   cases
INDICATION_CONFOUNDED = [
    ("F", "65", _given_for(DOCETAXEL, BREAST_CANCER), DM, 20),
    ("F", "65", _given_for(DOCETAXEL, BREAST_CANCER), NAUSEA, 80),
    ("F", "65", _given_for(DOXORUBICIN, BREAST_CANCER), DM, 20),
    ("F", "65", _given_for(DOXORUBICIN, BREAST_CANCER), NAUSEA, 80),
    ("F", "65", _given_for(TRASTUZUMAB, BREAST_CANCER), DM, 30),
    ("F", "65", _given_for(TRASTUZUMAB, BREAST_CANCER), NAUSEA, 20),
    ("F", "65", _given_for(LAPATINIB, BREAST_CANCER), DM, 10),
    ("F", "65", _given_for(LAPATINIB, BREAST_CANCER), NAUSEA, 40),
    ("F", "45", _given_for(ASPIRIN, "Pain"), DM, 10),
    ("F", "45", _given_for(ASPIRIN, "Pain"), NAUSEA, 490),
]


@pytest.fixture(scope="module")
def indication_con(tmp_path_factory: pytest.TempPathFactory):
    with _crafted_database(tmp_path_factory.mktemp("indication"), INDICATION_CONFOUNDED) as connection:
        yield connection


def _variant_row(con, drug: str, comparator: str, columns: str) -> tuple:
    rows = con.execute(
        f"select {columns} from marts.signals where drug = ? and event = 'dm_narrow' and role = 'suspect' "
        "and comparator = ? and duplicates = 'without'",
        [drug, comparator],
    ).fetchall()
    assert len(rows) == 1, (drug, comparator, rows)
    return rows[0]


def test_confounding_by_indication_flags_crude_and_no_restricted_stratified_or_active_variant(indication_con):
    cells = "a, b, c, d, ror, ror_lower, signal_ror, ror_mh, ror_mh_lower"
    # crude: a = 20, b = 80; c = DM without docetaxel 20 + 30 + 10 + 10 = 70, d = 80 + 20 + 40 + 490 = 630
    a, b, c, d, ror, ror_lower, signal_ror, ror_mh, ror_mh_lower = _variant_row(
        indication_con, "docetaxel", "all", cells
    )
    assert (a, b, c, d) == (20, 80, 70, 630)
    # ROR = 20 * 630 / (80 * 70) = 2.25; SE = sqrt(1/20 + 1/80 + 1/70 + 1/630) = 0.280; lower = 1.30 > 1
    assert ror == pytest.approx(2.25, rel=1e-12)
    se = math.sqrt(1 / 20 + 1 / 80 + 1 / 70 + 1 / 630)
    assert ror_lower == pytest.approx(math.exp(math.log(2.25) - stats.Z95 * se), rel=1e-12)
    assert ror_lower > 1.29 and signal_ror
    # MH: docetaxel occurs only in the older stratum, whose table is the breast-cancer one below:
    # OR_MH = 20 * 140 / (80 * 60) = 0.583, not a signal
    assert ror_mh == pytest.approx(20 * 140 / (80 * 60), rel=1e-12) and ror_mh_lower < 1
    # breast cancer only: c = 20 + 30 + 10 = 60 (doxorubicin, trastuzumab, lapatinib), d = 80 + 20 + 40 = 140
    a, b, c, d, ror, _, signal_ror, _, _ = _variant_row(indication_con, "docetaxel", "breast_cancer", cells)
    assert (a, b, c, d, signal_ror) == (20, 80, 60, 140, False)
    assert ror == pytest.approx(20 * 140 / (80 * 60), rel=1e-12)
    # active comparator: docetaxel's 100 cases against doxorubicin's 100 (a taxane comparator), both 20% DM:
    # ROR = 20 * 80 / (80 * 20) = 1 exactly, and MH (one stratum) too
    a, b, c, d, ror, ror_lower, signal_ror, ror_mh, _ = _variant_row(
        indication_con, "docetaxel", "active", cells
    )
    assert (a, b, c, d, signal_ror) == (20, 80, 20, 80, False)
    assert ror == pytest.approx(1.0, rel=1e-12) and ror_mh == pytest.approx(1.0, rel=1e-12) and ror_lower < 1
    # the class row is the same table: docetaxel is the only taxane
    assert _variant_row(indication_con, "taxane", "active", "a, b, c, d") == (20, 80, 20, 80)


def test_a_causal_drug_survives_every_variant(indication_con):
    expected = {
        # crude: c = 20 + 20 + 10 + 10 = 60, d = 80 + 80 + 40 + 490 = 690; ROR = 30 * 690 / (20 * 60) = 17.25
        "all": ((30, 20, 60, 690), 30 * 690 / (20 * 60)),
        # breast cancer: c = 20 + 20 + 10 = 50, d = 80 + 80 + 40 = 200; ROR = 30 * 200 / (20 * 50) = 6
        "breast_cancer": ((30, 20, 50, 200), 6.0),
        # active: against lapatinib (the other anti-HER2 classes): 30 * 40 / (20 * 10) = 6
        "active": ((30, 20, 10, 40), 6.0),
    }
    for comparator, (cells, ror) in expected.items():
        a, b, c, d, stored, signal_ror, ror_mh, ror_mh_lower = _variant_row(
            indication_con, "trastuzumab", comparator, "a, b, c, d, ror, signal_ror, ror_mh, ror_mh_lower"
        )
        assert (a, b, c, d) == cells and stored == pytest.approx(ror, rel=1e-12) and signal_ror, comparator
        # one stratum holds every trastuzumab case: the MH ratio is the breast-cancer (or active) table's
        assert ror_mh == pytest.approx(min(ror, 6.0), rel=1e-12) and ror_mh_lower > 1, comparator
    # lapatinib's active comparator is trastuzumab (and the ADCs): a = 10, b = 40, c = 30, d = 20
    assert _variant_row(indication_con, "lapatinib", "active", "a, b, c, d") == (10, 40, 30, 20)
    listed = indication_con.sql(
        "select comparator_drug from marts.active_comparators where drug = 'trastuzumab' order by all"
    ).fetchall()
    assert listed == [("anti_her2_adc",), ("her2_tki",)]


def test_the_checks_pass_with_the_target_variants(indication_con):
    checks = dict(
        indication_con.sql(
            "select check_name, violations from marts.signal_checks where check_name like '%active%' "
            "or check_name like '%masked%' or check_name like 'event_maskers%'"
        ).fetchall()
    )
    assert len(checks) == 3 and set(checks.values()) == {0}
    assert indication_con.sql("select count(*) from marts.signal_checks where violations > 0").fetchall() == [
        (0,)
    ]


def test_the_active_comparator_list_is_consistent():
    """Each target class has comparators, one indication population (a comparator with strata), and drugs that
    exist: ingredients the dictionary maps to (never one of the class's own) or other target classes."""
    rows = read_vocabulary("active_comparators")
    assert {row["target_class"] for row in rows} == set(TARGET_CLASSES)
    for target in TARGET_CLASSES:
        assert len({row["population"] for row in rows if row["target_class"] == target}) == 1
    assert {row["population"] for row in rows} <= set(VARIANT_VALUES["comparator"]) - set(TARGET_COMPARATORS)
    ingredients = {
        name for row in read_vocabulary("drug_dictionary") for name in row["ingredients"].split(";") if name
    }
    classes = {row["ingredient"]: row["class"] for row in read_vocabulary("ingredient_classes")}
    for row in rows:
        assert row["source"], row
        if row["comparator_level"] == "ingredient":
            assert row["comparator"] in ingredients and classes.get(row["comparator"]) != row["target_class"]
        else:
            assert row["comparator_level"] == "class" and row["comparator"] in set(TARGET_CLASSES) - {
                row["target_class"]
            }


PACLITAXEL = {"name": "TAXOL", "prod_ai": "PACLITAXEL"}
ATORVASTATIN = {"name": "LIPITOR", "prod_ai": "ATORVASTATIN"}
METFORMIN = {"name": "METFORMIN", "prod_ai": "METFORMIN"}
# Masking. Atorvastatin reports DM in 60 of its 100 cases and fills the background with DM reports, so
# paclitaxel's 6 DM reports in 100 look ordinary (6% against 7.3% of the other cases). Without the statin's
# cases paclitaxel stands out against the 1.6% of the rest. Aspirin is common but rarely with DM; metformin
# has too few DM reports to be a masker. One stratum: every case is a woman of 45.
#                  sex   age   drug         event   cases
MASKED = [
    ("F", "45", ATORVASTATIN, DM, 60),
    ("F", "45", ATORVASTATIN, NAUSEA, 40),
    ("F", "45", PACLITAXEL, DM, 6),
    ("F", "45", PACLITAXEL, NAUSEA, 94),
    ("F", "45", ASPIRIN, DM, 10),
    ("F", "45", ASPIRIN, NAUSEA, 790),
    ("F", "45", METFORMIN, DM, 3),
    ("F", "45", METFORMIN, NAUSEA, 97),
]


@pytest.fixture(scope="module")
def masked_con(tmp_path_factory: pytest.TempPathFactory):
    with _crafted_database(tmp_path_factory.mktemp("masked"), MASKED) as connection:
        yield connection


def test_a_masked_signal_appears_once_the_masker_leaves_the_background(masked_con):
    cells = "a, b, c, d, ror, ror_lower, signal_ror"
    # crude: N = 1100, 79 with DM; a = 6, b = 94, c = 60 + 10 + 3 = 73, d = 40 + 790 + 97 = 927
    a, b, c, d, ror, ror_lower, signal_ror = _variant_row(masked_con, "paclitaxel", "all", cells)
    assert (a, b, c, d, signal_ror) == (6, 94, 73, 927, False)
    assert ror == pytest.approx(6 * 927 / (94 * 73), rel=1e-12)  # 0.81
    assert ror_lower < 1
    # masked: atorvastatin's 100 cases leave: c = 10 + 3 = 13, d = 790 + 97 = 887; ROR = 6 * 887 / (94 * 13)
    # = 4.36, SE = sqrt(1/6 + 1/94 + 1/13 + 1/887) = 0.505, lower = exp(ln 4.36 - 1.96 * 0.505) = 1.62 > 1
    a, b, c, d, ror, ror_lower, signal_ror = _variant_row(masked_con, "paclitaxel", "masked", cells)
    assert (a, b, c, d) == (6, 94, 13, 887)
    assert ror == pytest.approx(6 * 887 / (94 * 13), rel=1e-12)
    se = math.sqrt(1 / 6 + 1 / 94 + 1 / 13 + 1 / 887)
    assert ror_lower == pytest.approx(math.exp(math.log(6 * 887 / (94 * 13)) - stats.Z95 * se), rel=1e-12)
    assert ror_lower > 1.6 and signal_ror
    assert masked_con.sql(
        "select masker, masker_class, count(*) from marts.masked_cases where event = 'dm_narrow' "
        "and role = 'suspect' and duplicates = 'without' group by all"
    ).fetchall() == [("atorvastatin", None, 100)]


def test_event_maskers_name_the_masker_with_its_masking_ratio(masked_con):
    rows = masked_con.sql(
        "select drug, a, n_drug, n_event, n_total, mr_prr, prr, masker, rank, masking_reason "
        "from marts.event_maskers where event = 'dm_narrow' and role = 'suspect' and duplicates = 'without' "
        "order by drug"
    ).fetchall()
    found = {row[0]: row[1:] for row in rows}
    assert sorted(found) == ["aspirin", "atorvastatin", "metformin", "paclitaxel"]
    # atorvastatin: the background (every case) has c = 79 with DM, d = 1021 without; without the statin
    # c' = 19, d' = 981: MR = (79 / 1100) / (19 / 1000) = 3.78; its own PRR = (60 / 100) / (19 / 1000) = 31.6
    a, n_drug, n_event, n_total, mr, prr, masker, rank, reason = found["atorvastatin"]
    assert (a, n_drug, n_event, n_total, masker, rank, reason) == (60, 100, 79, 1100, True, 1, "selected")
    assert mr == pytest.approx((79 / 1100) / (19 / 1000), rel=1e-12)
    assert prr == pytest.approx(0.6 / 0.019, rel=1e-12)
    # aspirin: without it c' = 69, d' = 231: MR = (79 / 1100) / (69 / 300) = 0.31 < 1.05
    assert found["aspirin"][4] == pytest.approx((79 / 1100) / (69 / 300), rel=1e-12)
    assert found["aspirin"][6:] == (False, 0, "masking ratio below 1.05")
    assert found["metformin"][6:] == (False, 0, "fewer than 5 reports with the event")
    assert found["paclitaxel"][6:] == (False, 0, "protected (target drug or class)")
    assert masked_con.sql("select count(*) from marts.signal_checks where violations > 0").fetchall() == [
        (0,)
    ]


@pytest.fixture(scope="module")
def generated_con(generated):
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as connection:
        yield connection


def test_sql_sums_give_the_library_estimates_to_1e_12(generated_con):
    """marts.stratified_counts sums the per-stratum terms in SQL; turned into estimates by the library they
    equal pv.stats run on the same per-stratum cells (marts.stratum_cells), for every pair kept there."""
    keys = "drug_level, drug, event_level, event, role, comparator, duplicates"
    sums = generated_con.sql(
        f"select * from marts.stratified_counts semi join marts.stratum_cells using ({keys}) order by {keys}"
    ).df()
    cells = generated_con.sql(f"select * from marts.stratum_cells order by {keys}, stratum").df()
    assert len(sums) > 100 and len(cells) > 5 * len(sums)
    pair = cells.merge(sums[keys.split(", ")].reset_index(names="pair"), on=keys.split(", "))[
        "pair"
    ].to_numpy()
    a, n_drug, n_event, n_total = (
        cells[c].to_numpy(dtype=float) for c in ("a", "n_drug", "n_event", "n_total")
    )
    tables = (a, n_drug - a, n_event - a, n_total - n_drug - n_event + a, pair)
    ror = stats.mh_ror(*tables, n_pairs=len(sums))
    from_sums = stats.mh_ror_from_sums(
        *(sums[c] for c in ("mh_r", "mh_s", "mh_pr", "mh_ps_qr", "mh_qs", "ror_strata"))
    )
    prr = stats.mh_prr(*tables, n_pairs=len(sums))
    prr_from_sums = stats.mh_prr_from_sums(
        *(sums[c] for c in ("mh_prr_numerator", "mh_prr_denominator", "mh_prr_spread", "prr_strata"))
    )
    assert (ror["ror_mh_status"] == "ok").sum() > 100
    for mine, theirs, columns in (
        (ror, from_sums, ("ror_mh", "ror_mh_log_se", "ror_mh_lower", "ror_mh_upper")),
        (prr, prr_from_sums, ("prr_mh", "prr_mh_log_se", "prr_mh_lower", "prr_mh_upper")),
    ):
        for column in columns:
            np.testing.assert_allclose(theirs[column], mine[column], rtol=1e-12, atol=0)
    assert (from_sums["ror_mh_status"] == ror["ror_mh_status"]).all()
    assert (from_sums["ror_mh_strata"] == ror["ror_mh_strata"]).all()
    assert (prr_from_sums["prr_mh_status"] == prr["prr_mh_status"]).all()
    np.testing.assert_allclose(
        sums["e_stratified"], stats.stratified_expected(*tables, n_pairs=len(sums)), rtol=1e-12, atol=0
    )
    assert (sums["a_strata"].to_numpy() == np.bincount(pair, weights=a, minlength=len(sums))).all()


def test_generated_database_stratified_columns_and_checks(generated_con):
    checks = generated_con.sql(
        "select check_name, rows_checked, violations from marts.signal_checks "
        "where check_name like 'signals: stratified %' order by all"
    ).fetchall()
    assert len(checks) == 7 and all(violations == 0 for _, _, violations in checks)
    # the generated database's prior does not converge (no EBGM, crude or stratified: test_signals checks
    # the stratified EBGM on the planted population); every other check saw rows
    assert all(rows > 0 for name, rows, _ in checks if "EB" not in name), checks
    with_mh, with_bd, with_ebgm = generated_con.sql(
        "select count(ror_mh), count(breslow_day_p), count(ebgm_stratified) from marts.signals"
    ).fetchall()[0]
    strata = generated_con.sql("select count(distinct stratum) from marts.case_strata").fetchall()[0][0]
    assert with_bd > 0 and with_mh > with_bd and with_ebgm == 0 and strata > 20
    # every unpublished MH ROR says why
    unexplained = generated_con.sql(
        "select count(*) from marts.signals where ror_mh is null and coalesce(stratified_reason, '') "
        "not like '%ror_mh: %'"
    ).fetchall()[0][0]
    assert unexplained == 0
