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
from pv.ingest import ingest
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


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("strata")
    quarter = CraftedQuarter("2023Q1")
    caseid, first_day = 500_000, dt.date(2020, 1, 1)
    for sex, age, drug, event, cases in CONFOUNDED_NULL:
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
    with duckdb.connect(str(data / "pv.duckdb"), read_only=True) as connection:
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
