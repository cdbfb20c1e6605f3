"""pv.stats.stratified: MH ROR/PRR, Breslow-Day, stratified E, one-sided Wald p, BH, masking ratio and rule.

Hand-computed values use exact fractions (the arithmetic is written out per stratum); statsmodels values come
from ``tests/fixtures/stratified_reference.json`` (see tests/fixtures/README.md).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pv import stats
from pv.errors import UserError
from pv.stats import stratified as st

REL = 1e-12
Z = stats.Z95
REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "stratified_reference.json").read_text())[
    "tables"
]

# Worked example tables (one row per stratum: a, b, c, d).
T1 = [(4, 16, 8, 72), (4, 16, 8, 72)]  # identical strata
T2 = [(20, 80, 10, 890), (2, 98, 20, 880)]  # heterogeneous
T3 = [(10, 90, 20, 880), (5, 45, 30, 920)]  # homogeneous-ish
T4 = [(3, 97, 10, 890), (0, 100, 30, 870)]  # a zero-a stratum that must count


def long_form(*tables: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, ...]:
    """a, b, c, d and pair index for several pairs' strata, in long form."""
    rows = [row for table in tables for row in table]
    pair = np.repeat(np.arange(len(tables)), [len(table) for table in tables])
    a, b, c, d = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    return a, b, c, d, pair


def approx(expected: float, rel: float = REL) -> object:
    return pytest.approx(float(expected), rel=rel, abs=0)


def rbg_variance(table: list[tuple[int, int, int, int]]) -> F:
    """Robins-Breslow-Greenland Var(ln OR_MH), exactly, from per-stratum R, S, P, Q."""
    r = [F(a * d, a + b + c + d) for a, b, c, d in table]
    s = [F(b * c, a + b + c + d) for a, b, c, d in table]
    p = [F(a + d, a + b + c + d) for a, b, c, d in table]
    q = [F(b + c, a + b + c + d) for a, b, c, d in table]
    big_r, big_s = sum(r), sum(s)
    return (
        sum(pi * ri for pi, ri in zip(p, r, strict=True)) / (2 * big_r**2)
        + sum(pi * si + qi * ri for pi, si, qi, ri in zip(p, s, q, r, strict=True)) / (2 * big_r * big_s)
        + sum(qi * si for qi, si in zip(q, s, strict=True)) / (2 * big_s**2)
    )


def test_mh_ror_worked_examples_t1_to_t4() -> None:
    result = st.mh_ror(*long_form(T1, T2, T3, T4))
    # T1: R_s = 4*72/100 = 2.88, S_s = 16*8/100 = 1.28 in both strata: OR = 5.76/2.56 = 2.25.
    # T2: R = (20*890/1000, 2*880/1000) = (17.8, 1.76), S = (0.8, 1.96): OR = 19.56/2.76.
    # T3: R = (8.8, 4.6), S = (1.8, 1.35): OR = 13.4/3.15. T4: R = (2.67, 0), S = (0.97, 3.0): OR = 2.67/3.97.
    expected = [F(576, 256), F(1956, 276), F(1340, 315), F(267, 397)]
    assert result["ror_mh"].tolist() == [approx(x) for x in expected]
    # T1: the RBG variance equals Woolf's for the pooled table (8, 32, 16, 144):
    # 1/8 + 1/32 + 1/16 + 1/144 = 65/288.
    assert rbg_variance(T1) == F(65, 288)
    variances = [rbg_variance(t) for t in (T1, T2, T3, T4)]
    assert [float(v) for v in variances[1:3]] == [approx(0.0826181292, 1e-9), approx(0.0980584816, 1e-9)]
    assert (result["ror_mh_log_se"] ** 2).tolist() == [approx(v) for v in variances]
    lower = [math.exp(math.log(e) - Z * math.sqrt(v)) for e, v in zip(expected, variances, strict=True)]
    upper = [math.exp(math.log(e) + Z * math.sqrt(v)) for e, v in zip(expected, variances, strict=True)]
    assert result["ror_mh_lower"].tolist() == [approx(x) for x in lower]
    assert result["ror_mh_upper"].tolist() == [approx(x) for x in upper]
    assert result.loc[0, ["ror_mh_lower", "ror_mh_upper"]].tolist() == [
        approx(0.8867467, 1e-7),
        approx(5.7090713, 1e-7),
    ]
    assert result["ror_mh_status"].tolist() == ["ok"] * 4
    assert result["ror_mh_strata"].tolist() == [2] * 4


def test_mh_ror_keeps_strata_without_exposed_cases() -> None:
    """neksa's bug: dropping T4's a = 0 stratum turns a pooled OR of 0.6725 into 2.7526."""
    with_zero = st.mh_ror(*long_form(T4))["ror_mh"].iloc[0]
    only_positive = st.mh_ror(*long_form(T4[:1]))["ror_mh"].iloc[0]
    assert with_zero == approx(F(267, 397))
    assert only_positive == approx(F(3 * 890, 97 * 10))  # 2.7525773...


def test_mh_prr_worked_examples_t1_to_t4() -> None:
    result = st.mh_prr(*long_form(T1, T2, T3, T4))
    # Numerator sum a_s n0_s / N_s, denominator sum c_s n1_s / N_s:
    # T1: (4*80/100)*2 = 6.4 over (8*20/100)*2 = 3.2 -> 2. T2: (18 + 1.8)/(1 + 2) = 6.6.
    # T3: (10*900/1000 + 5*950/1000)/(20*100/1000 + 30*50/1000) = 13.75/3.5. T4: (2.7 + 0)/(1 + 3) = 0.675.
    expected = [F(2), F(198, 30), F(1375, 350), F(27, 40)]
    assert result["prr_mh"].tolist() == [approx(x) for x in expected]
    # Greenland-Robins: sum (n1 n0 m1 - a c N)/N^2 over (numerator * denominator).
    # T1 stratum: (20*80*12 - 4*8*100)/100^2 = 1.6, twice: 3.2/(6.4*3.2) = 0.15625
    # (= 1/8 - 1/40 + 1/16 - 1/160, the log-method variance of the pooled table).
    spread = {
        "T1": 2 * F(20 * 80 * 12 - 4 * 8 * 100, 100**2),
        "T2": F(100 * 900 * 30 - 20 * 10 * 1000, 1000**2) + F(100 * 900 * 22 - 2 * 20 * 1000, 1000**2),
        "T3": F(100 * 900 * 30 - 10 * 20 * 1000, 1000**2) + F(50 * 950 * 35 - 5 * 30 * 1000, 1000**2),
        "T4": F(100 * 900 * 13 - 3 * 10 * 1000, 1000**2) + F(100 * 900 * 30 - 0, 1000**2),
    }
    products = [F(64, 10) * F(32, 10), F(198, 10) * 3, F(1375, 100) * F(35, 10), F(27, 10) * 4]
    variances = [s / p for s, p in zip(spread.values(), products, strict=True)]
    assert variances[0] == F(5, 32)
    assert float(variances[1]) == approx(0.0747474747, 1e-9)
    assert float(variances[2]) == approx(0.0833766234, 1e-9)
    assert (result["prr_mh_log_se"] ** 2).tolist() == [approx(v) for v in variances]
    lower = [math.exp(math.log(e) - Z * math.sqrt(v)) for e, v in zip(expected, variances, strict=True)]
    assert result["prr_mh_lower"].tolist() == [approx(x) for x in lower]
    assert result.loc[0, ["prr_mh_lower", "prr_mh_upper"]].tolist() == [
        approx(0.9216437, 1e-7),
        approx(4.3400721, 1e-7),
    ]
    assert result["prr_mh_status"].tolist() == ["ok"] * 4


def test_breslow_day_worked_examples() -> None:
    result = st.breslow_day(*long_form(T1, T2, T3))
    # T1: psi = 2.25; -1.25 A^2 + 140 A - 540 = 0 has roots 4 and 108; A = 4 = a in both strata, so BD = 0.
    assert result.loc[0, ["bd_chi2", "bd_chi2_tarone"]].tolist() == [0.0, 0.0]
    assert result.loc[0, "bd_p"] == 1.0
    # T2 stratum 1 by hand: -6.0869565 A^2 + 1791.30435 A - 21260.87 = 0 -> A = 12.3906279765.
    psi = F(1956, 276)
    qa, qb, qc = 1 - psi, 900 - 30 + psi * (100 + 30), -psi * 100 * 30
    root = (-float(qb) + math.sqrt(float(qb * qb - 4 * qa * qc))) / (2 * float(qa))
    assert root == approx(12.3906279765, 1e-10)
    assert result.loc[1, "bd_chi2"] == approx(19.1200570969, 1e-10)
    assert result.loc[1, "bd_chi2_tarone"] == approx(19.1087503693, 1e-10)
    assert result.loc[2, "bd_chi2"] == approx(0.3119827, 1e-6)
    assert result.loc[2, "bd_chi2_tarone"] == approx(0.3113471, 1e-6)
    assert result["bd_df"].tolist() == [1, 1, 1]
    assert result["bd_status"].tolist() == ["ok"] * 3


def test_breslow_day_homogeneous_strata_give_zero() -> None:
    """Strata with one common odds ratio (2.25, different sizes) give BD = 0 up to rounding."""
    tables = [(4, 16, 8, 72), (40, 160, 80, 720), (12, 48, 24, 216), (1, 4, 2, 18)]
    result = st.breslow_day(*long_form(tables))
    assert result.loc[0, "bd_chi2"] == pytest.approx(0.0, abs=1e-12)
    assert result.loc[0, "bd_chi2_tarone"] == pytest.approx(0.0, abs=1e-12)
    assert result.loc[0, "bd_df"] == 3
    assert result.loc[0, "bd_p"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_matches_statsmodels_stratified_table(name: str) -> None:
    ref = REFERENCE[name]
    args = long_form([tuple(row) for row in ref["strata"]])
    ror, prr, bd = st.mh_ror(*args), st.mh_prr(*args), st.breslow_day(*args)
    assert ror.loc[0, "ror_mh"] == approx(ref["oddsratio_pooled"])
    assert ror.loc[0, "ror_mh_log_se"] == approx(ref["logodds_pooled_se"])
    assert [ror.loc[0, "ror_mh_lower"], ror.loc[0, "ror_mh_upper"]] == [
        approx(x) for x in ref["oddsratio_pooled_confint"]
    ]
    assert prr.loc[0, "prr_mh"] == approx(ref["riskratio_pooled"])
    assert bd.loc[0, "bd_chi2"] == approx(ref["breslow_day"], 1e-10)
    assert bd.loc[0, "bd_chi2_tarone"] == approx(ref["breslow_day_tarone"], 1e-10)
    assert bd.loc[0, "bd_p"] == approx(ref["breslow_day_tarone_pvalue"], 1e-9)
    assert bd.loc[0, "bd_df"] == len(ref["strata"]) - 1


def test_single_stratum_equals_crude_ror_and_prr() -> None:
    tables = [[(8, 992, 3996, 995004)], [(20, 80, 10, 890)], [(4, 16, 8, 72)], [(3, 97, 10, 890)]]
    args = long_form(*tables)
    crude = stats.disproportionality(args[0], args[1], args[2], args[3])
    ror, prr = st.mh_ror(*args), st.mh_prr(*args)
    for mh, plain in (("ror_mh", "ror"), ("ror_mh_lower", "ror_lower"), ("ror_mh_upper", "ror_upper")):
        assert ror[mh].tolist() == [approx(x) for x in crude[plain]]
    for mh, plain in (("prr_mh", "prr"), ("prr_mh_lower", "prr_lower"), ("prr_mh_upper", "prr_upper")):
        assert prr[mh].tolist() == [approx(x) for x in crude[plain]]
    assert ror["ror_mh_strata"].tolist() == [1, 1, 1, 1]
    # statsmodels' crude Table2x2 agrees too (first stratum of T2).
    ref = REFERENCE["T2_heterogeneous"]["first_stratum_crude"]
    assert [ror.loc[1, "ror_mh_lower"], ror.loc[1, "ror_mh_upper"]] == [
        approx(x) for x in ref["oddsratio_confint"]
    ]
    assert [prr.loc[1, "prr_mh_lower"], prr.loc[1, "prr_mh_upper"]] == [
        approx(x) for x in ref["riskratio_confint"]
    ]
    # One stratum: no homogeneity test.
    assert st.breslow_day(*args)["bd_status"].tolist() == ["single_stratum"] * 4
    assert st.breslow_day(*args)["bd_p"].isna().all()


def test_undefined_results_are_nan_with_a_status() -> None:
    tables = [
        [(0, 10, 0, 90), (5, 0, 0, 0)],  # no stratum informative (no event; no unexposed report)
        [(3, 0, 2, 10), (4, 0, 1, 20)],  # b = 0 everywhere: S = 0
        [(0, 10, 2, 30), (0, 5, 1, 40)],  # a = 0 everywhere: OR_MH = 0
        [(3, 7, 0, 40), (2, 8, 0, 30)],  # c = 0 everywhere: PRR and ROR denominators 0
        [(5, 5, 5, 5), (0, 0, 0, 0)],  # an empty stratum adds nothing
    ]
    ror, prr, bd = (
        st.mh_ror(*long_form(*tables)),
        st.mh_prr(*long_form(*tables)),
        st.breslow_day(*long_form(*tables)),
    )
    assert ror["ror_mh_status"].tolist() == [
        "no_informative_strata",
        "zero_denominator",
        "zero_numerator",
        "zero_denominator",
        "ok",
    ]
    assert prr["prr_mh_status"].tolist() == [
        "no_informative_strata",
        "ok",
        "zero_numerator",
        "zero_denominator",
        "ok",
    ]
    values = ror[["ror_mh", "ror_mh_lower", "ror_mh_upper", "ror_mh_log_se"]].to_numpy()
    assert not np.isinf(values).any() and not np.isinf(prr.select_dtypes("number").to_numpy()).any()
    assert np.isnan(ror.loc[[0, 1, 3], "ror_mh"]).all()
    assert (
        ror.loc[2, "ror_mh"] == 0.0
        and np.isnan(ror.loc[2, ["ror_mh_lower", "ror_mh_upper"]].astype(float)).all()
    )
    assert ror.loc[4, "ror_mh"] == 1.0 and ror.loc[4, "ror_mh_strata"] == 1
    # b = 0: the PRR is defined ((3/3)/(2/12) and (4/4)/(1/21) pooled: (3*12/15 + 4*21/25)/(2*3/15 + 1*4/25)).
    assert prr.loc[1, "prr_mh"] == approx((F(36, 15) + F(84, 25)) / (F(6, 15) + F(4, 25)))
    assert bd["bd_status"].tolist() == [
        "no_informative_strata",
        "zero_denominator",
        "zero_numerator",
        "zero_denominator",
        "single_stratum",
    ]
    assert bd["bd_chi2_tarone"].isna().all()
    assert set(ror["ror_mh_status"]) <= set(st.MH_STATUS) and set(bd["bd_status"]) <= set(st.BD_STATUS)


def test_pairs_without_rows_and_bad_input() -> None:
    result = st.mh_ror([4], [16], [8], [72], [1], n_pairs=3)
    assert result["ror_mh_status"].tolist() == ["no_informative_strata", "ok", "no_informative_strata"]
    assert st.stratified_expected([4], [16], [8], [72], [1], n_pairs=3).tolist() == [0.0, 2.4, 0.0]
    with pytest.raises(ValueError, match="non-negative"):
        st.mh_ror([-1], [1], [1], [1], [0])
    with pytest.raises(ValueError, match="integers"):
        st.mh_ror([1], [1], [1], [1], [0.5])
    with pytest.raises(ValueError, match="one entry per stratum"):
        st.mh_prr([1, 2], [1, 2], [1, 2], [1, 2], [0])
    with pytest.raises(ValueError, match="n_pairs"):
        st.breslow_day([1], [1], [1], [1], [4], n_pairs=2)


def test_vectorised_equals_row_by_row_loop() -> None:
    rng = np.random.default_rng(11)
    n_pairs = 300
    strata_per_pair = rng.integers(1, 8, n_pairs)
    pair = np.repeat(np.arange(n_pairs), strata_per_pair)
    size = pair.size
    a, b = rng.integers(0, 12, size), rng.integers(0, 60, size)
    c, d = rng.integers(0, 40, size), rng.integers(0, 900, size)
    shuffle = rng.permutation(size)  # rows need not be sorted by pair
    args = (a[shuffle], b[shuffle], c[shuffle], d[shuffle], pair[shuffle])
    together = pd.concat([st.mh_ror(*args), st.mh_prr(*args), st.breslow_day(*args)], axis=1).assign(
        e=st.stratified_expected(*args)
    )
    one_by_one = pd.concat(
        [
            pd.concat([st.mh_ror(*cells), st.mh_prr(*cells), st.breslow_day(*cells)], axis=1).assign(
                e=st.stratified_expected(*cells)
            )
            for cells in (
                (
                    a[pair == i],
                    b[pair == i],
                    c[pair == i],
                    d[pair == i],
                    np.zeros((pair == i).sum(), dtype=int),
                )
                for i in range(n_pairs)
            )
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(together, one_by_one, rtol=1e-12, atol=0)
    assert (together["ror_mh_status"] == "ok").sum() > 200


def test_stratified_expected_matches_report_level_counts() -> None:
    """E = sum n_drug,s n_event,s / N_s, the same number report_level_counts(strata=...) gives (§5)."""
    # T1: 2 * 20 * 12 / 100 = 4.8; T2: 100 * 30 / 1000 + 100 * 22 / 1000 = 5.2.
    assert st.stratified_expected(*long_form(T1, T2)).tolist() == [approx(4.8), approx(5.2)]
    reports = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "var1": ["x", "x", "y", "y", "x", "y", "x", "y", "y", "y"],
            "var2": ["e", "f", "e", "f", "e", "e", "f", "f", "e", "f"],
            "sex": ["F", "F", "F", "F", "M", "M", "M", "M", "M", "F"],
        }
    )
    counted = stats.report_level_counts(reports, strata=["sex"])
    per_stratum = [
        stats.report_level_counts(reports[reports["sex"] == sex], zeroes=True).assign(sex=sex)
        for sex in ("F", "M")
    ]
    long = pd.concat(per_stratum).merge(counted[["var1", "var2"]].reset_index(), on=["var1", "var2"])
    e = st.stratified_expected(
        long["a"], long["b"], long["c"], long["d"], long["index"], n_pairs=len(counted)
    )
    assert e.tolist() == [approx(x) for x in counted["e"]]
    assert len(counted) == 4 and counted["e"].gt(0).all()


def test_wald_p_one_sided_matches_the_interval() -> None:
    """Evans example (8, 992, 3996, 995004): ROR p = 0.0248789 < 0.025 and ROR025 = 1.0007378 > 1 (same z)."""
    table = stats.disproportionality(
        [8, 8, 0, 5], [992, 992, 10, 5], [3996, 3996, 10, 0], [995004, 995004, 10, 5]
    )
    se = np.sqrt(1 / table["a"] + 1 / table["b"] + 1 / table["c"] + 1 / table["d"])
    with np.errstate(divide="ignore"):
        p = st.wald_p_one_sided(np.log(table["ror"]), se)
    z = math.log(F(8 * 995004, 992 * 3996)) / math.sqrt(1 / 8 + 1 / 992 + 1 / 3996 + 1 / 995004)
    assert p[0] == approx(0.5 * math.erfc(z / math.sqrt(2)), 1e-12)
    assert p[0] == approx(0.0248789, 1e-5)
    assert (p[0] < 0.025) and (table.loc[0, "ror_lower"] > 1)
    assert np.isnan(p[2]) and np.isnan(p[3])  # a = 0 (ln 0) and c = 0 (ROR infinite): not evidence
    prr_se = np.sqrt(1 / 8 - 1 / 1000 + 1 / 3996 - 1 / 999000)
    assert st.wald_p_one_sided(math.log(2.0), prr_se)[0] == approx(0.0246245, 1e-5)
    assert np.isnan(st.wald_p_one_sided([0.5, 0.5, np.nan], [0.0, np.inf, 1.0])).all()


def test_wald_p_agrees_with_the_mh_intervals() -> None:
    """On pooled ratios too, lower 95% limit > 1 exactly when the one-sided p < 0.025 (one z for both)."""
    rng = np.random.default_rng(3)
    pair = np.repeat(np.arange(400), 3)
    a, b = rng.integers(0, 15, pair.size), rng.integers(1, 80, pair.size)
    c, d = rng.integers(1, 60, pair.size), rng.integers(100, 2000, pair.size)
    for prefix, pooled in (("ror_mh", st.mh_ror(a, b, c, d, pair)), ("prr_mh", st.mh_prr(a, b, c, d, pair))):
        with np.errstate(divide="ignore"):
            p = st.wald_p_one_sided(np.log(pooled[prefix]), pooled[f"{prefix}_log_se"])
        defined = np.isfinite(p)
        assert defined.sum() > 350 and not np.isfinite(pooled.loc[~defined, f"{prefix}_lower"]).any()
        assert np.array_equal(pooled[f"{prefix}_lower"].to_numpy()[defined] > 1, p[defined] < 0.025)
        assert 0 < (p[defined] < 0.025).sum() < defined.sum()


def test_bh_qvalues_hand_example_with_ties_and_nan() -> None:
    # p = (0.01, 0.04, 0.03, 0.20): sorted (0.01, 0.03, 0.04, 0.20), m p / i = (0.04, 0.06, 0.0533, 0.20),
    # running minimum from the right: (0.04, 0.0533, 0.0533, 0.20).
    q = st.bh_qvalues([0.01, 0.04, 0.03, 0.20])
    assert q.tolist() == [approx(0.04), approx(0.16 / 3), approx(0.16 / 3), approx(0.20)]
    # NaN rows keep NaN and are not counted: m = 5 here, not 7. Ties: two p = 0.02 at ranks 2 and 3:
    # m p / i = (5*0.01/1, 5*0.02/2, 5*0.02/3, 5*0.3/4, 5*0.9/5) = (0.05, 0.05, 0.0333, 0.375, 0.9)
    # -> running min from the right (0.0333, 0.0333, 0.0333, 0.375, 0.9): tied p share one q.
    q = st.bh_qvalues([0.3, np.nan, 0.02, 0.01, 0.02, np.nan, 0.9])
    assert np.isnan(q[[1, 5]]).all()
    assert q[[0, 2, 3, 4, 6]].tolist() == [
        approx(0.375),
        approx(0.1 / 3),
        approx(0.1 / 3),
        approx(0.1 / 3),
        approx(0.9),
    ]
    # Capped at 1, and separate families get separate m.
    q = st.bh_qvalues([0.6, 0.7, 0.01, 0.04], family=["x", "x", "y", "y"])
    assert q.tolist() == [approx(0.7), approx(0.7), approx(0.02), approx(0.04)]
    assert st.bh_qvalues([0.9, 0.95, 0.99]).max() <= 1.0
    assert np.isnan(st.bh_qvalues([np.nan, np.nan])).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        st.bh_qvalues([0.1, 1.5])


def test_bh_qvalues_equal_the_step_up_rule() -> None:
    """q <= alpha exactly for the hypotheses the step-up rule rejects: largest k with p_(k) <= k alpha / m."""
    p = np.random.default_rng(5).uniform(0, 0.2, 200) ** 2
    q = st.bh_qvalues(p)
    ranked = np.sort(p)
    below = np.flatnonzero(ranked <= np.arange(1, 201) * 0.05 / 200)
    k = below.max() + 1
    assert set(np.flatnonzero(q <= 0.05)) == set(np.flatnonzero(p <= ranked[k - 1]))


def test_masking_ratio_worked_example() -> None:
    # c = 1000, d = 99000 (background rate 1%); masker m_E = 300, m_notE = 4700: w = 0.05, R = 0.06/0.01 = 6,
    # MR = (1 - 0.05)/(1 - 0.3) = 0.95/0.7; a drug with a = 20, b = 980 goes from PRR 2 to 2 * 0.95/0.7.
    result = st.masking_ratio([1000, 1000, 0], [99000, 99000, 100], [300, 1000, 0], [4700, 10, 0])
    assert result.loc[0, "mr_prr"] == approx(F(95, 70))
    assert result.loc[0, ["w", "r"]].tolist() == [approx(0.05), approx(6)]
    assert result.loc[0, "mr_ror"] == approx(F(94300 * 1000, 700 * 99000))
    before = stats.disproportionality(20, 980, 1000, 99000)["prr"].iloc[0]
    after = stats.disproportionality(20, 980, 700, 94300)["prr"].iloc[0]
    assert after / before == approx(result.loc[0, "mr_prr"]) and after == approx(2 * F(95, 70))
    assert result["masking_status"].tolist() == ["ok", "masker_holds_event", "no_background_event"]
    assert result.loc[1:, ["mr_prr", "mr_ror", "w", "r"]].isna().all().all()
    with pytest.raises(ValueError, match="background"):
        st.masking_ratio([10], [100], [11], [0])


def test_masking_rule_file_and_selection(tmp_path: Path) -> None:
    rule = st.masking_rule()
    assert rule == st.MaskingRule(
        min_event_reports=5, min_masking_ratio=1.05, min_prr_lower=1.0, max_maskers=10
    )
    # Population: 100,000 reports, 1,000 with the event.
    candidates = pd.DataFrame(
        {
            "drug": ["statin", "ici", "target", "rare", "common", "ici_b", "ici_a", "holder"],
            "a": [300, 150, 200, 4, 60, 150, 150, 1000],
            "n_drug": [5000, 1000, 2000, 10, 6000, 1000, 1000, 1000],
            "protected": [False, False, True, False, False, False, False, False],
        }
    )
    chosen = st.select_maskers(candidates, 1000, 100000, replace_rule(rule, max_maskers=3))
    assert chosen["masking_reason"].tolist() == [
        "selected",
        "selected",
        "protected (target drug or class)",
        "fewer than 5 reports with the event",
        "masking ratio below 1.05",  # 60 of 6000 = background rate: MR = 1
        "beyond the 3 strongest maskers",
        "selected",
        st.MASKING_STATUS["masker_holds_event"],
    ]
    # statin: 0.01/(700/95000) = 1.3571; ici: 0.01/(850/99000) = 1.1647;
    # the three ICIs tie on MR and are ranked by name: ici, ici_a, ici_b.
    assert chosen["rank"].tolist() == [1, 2, 0, 0, 0, 0, 3, 0]
    assert chosen.loc[0, "mr_prr"] == approx(F(95, 70))
    assert chosen.loc[1, "mr_prr"] == approx(F(1, 100) / F(850, 99000))
    assert chosen["masker"].sum() == 3
    rows = (
        "parameter,value,note,source\nmin_event_reports,5,,x\nmin_masking_ratio,1.05,,x\nmin_prr_lower,1,,x\n"
    )
    for text, message in (
        (rows, "missing: max_maskers"),
        (rows + "max_maskers,ten,,x\n", "not a number"),
        (rows + "max_maskers,3,,\n", "no source"),
        (rows + "max_maskers,3,,x\nmax_maskers,3,,x\n", "given twice"),
        (rows + "max_maskers,3,,x\nmin_share,3,,x\n", "unknown"),
    ):
        path = tmp_path / "masking_rule.csv"
        path.write_text(text)
        with pytest.raises(UserError, match=message) as error:
            st.masking_rule(path)
        assert str(path) in str(error.value)


def replace_rule(rule: st.MaskingRule, **changes: int | float) -> st.MaskingRule:
    from dataclasses import replace

    return replace(rule, **changes)


def test_ror_fdr_by_hand():
    """Three 2x2 tables in one family and one with a zero cell: p by hand, BH by hand, the flag a subset of
    the ROR rule."""
    from pv.stats import disproportionality, ror_fdr, signal_flags

    cells = np.array([[20, 180, 100, 9700], [4, 96, 100, 9800], [3, 97, 150, 9750], [5, 0, 90, 9905]])
    frame = disproportionality(*cells.T)
    out = ror_fdr(frame)
    a, b, c, d = cells[:3].T.astype(float)
    z = np.log(a * d / (b * c)) / np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    p = np.array([0.5 * math.erfc(value / math.sqrt(2)) for value in z])
    np.testing.assert_allclose(out["ror_p"].to_numpy()[:3], p, rtol=1e-12)
    assert np.isnan(out["ror_p"].iloc[3]) and np.isnan(out["ror_q"].iloc[3])  # b = 0: no finite evidence
    order = np.argsort(p)
    m = 3  # the zero-cell table is not counted
    scaled = np.minimum(1, m * p[order] / np.arange(1, m + 1))
    q = np.empty(3)
    q[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    np.testing.assert_allclose(out["ror_q"].to_numpy()[:3], q, rtol=1e-12)
    flags = signal_flags(frame)
    assert list(out["signal_ror_fdr"]) == [
        bool(x) for x in (np.append(q, np.nan) <= 0.025) & (cells[:, 0] >= 3)
    ]
    assert not (out["signal_ror_fdr"] & ~flags["signal_ror"]).any()
    # two families are adjusted separately
    split = ror_fdr(frame, family=np.array([0, 1, 1, 1]))
    np.testing.assert_allclose(split["ror_q"].iloc[0], split["ror_p"].iloc[0], rtol=1e-12)


def test_mh_ror_fdr_by_hand():
    """Two pairs of two strata each and one pair whose MH ROR is not computed. Pair 0: strata (a, b, c, d) =
    (10, 40, 20, 130) and (5, 45, 10, 140): R = 10*130/200 + 5*140/200 = 6.5 + 3.5 = 10, S = 40*20/200 +
    45*10/200 = 4 + 2.25 = 6.25, OR_MH = 1.6; the p-value uses the RBG SE of mh_ror, so that p < 0.025 exactly
    when the lower 95% limit exceeds 1."""
    from pv.stats import mh_ror, mh_ror_fdr

    strata = np.array(
        [[10, 40, 20, 130], [5, 45, 10, 140], [30, 20, 10, 140], [25, 25, 10, 140], [0, 50, 0, 150]]
    )
    pair = np.array([0, 0, 1, 1, 2])
    ror = mh_ror(*strata.T, pair, n_pairs=3)
    assert ror["ror_mh"].iloc[0] == pytest.approx(10 / 6.25, rel=1e-12)
    a = np.array([15, 55, 0])
    out = mh_ror_fdr(ror["ror_mh"], ror["ror_mh_log_se"], a)
    z = np.log(ror["ror_mh"].to_numpy()[:2]) / ror["ror_mh_log_se"].to_numpy()[:2]
    p = np.array([0.5 * math.erfc(value / math.sqrt(2)) for value in z])
    np.testing.assert_allclose(out["ror_mh_p"].to_numpy()[:2], p, rtol=1e-12)
    assert np.isnan(out["ror_mh_p"].iloc[2])  # no informative stratum: no finite evidence, not in m
    assert p[1] < p[0]
    # BH with m = 2: the larger p keeps q = 2 p / 2 = p; the smaller gets min(2 p / 1, that q)
    q = np.array([p[0], min(2 * p[1], p[0])])
    np.testing.assert_allclose(out["ror_mh_q"].to_numpy()[:2], q, rtol=1e-12)
    lower_above_one = ror["ror_mh_lower"].to_numpy()[:2] > 1
    assert list(p < 0.025) == list(lower_above_one)
    assert list(out["signal_ror_mh_fdr"]) == [bool(q[0] <= 0.025), bool(q[1] <= 0.025), False]
