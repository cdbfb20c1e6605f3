"""Stratified (Mantel-Haenszel) ratios, Breslow-Day homogeneity, one-sided Wald p, BH q-values, masking.

A library for issue 11 (adjusted analyses), not yet wired into the pipeline's tables. Inputs are long-form
arrays: one row per (pair, stratum) with the stratum's report-level cells a, b, c, d (statistics.md §1) and
an integer ``pair`` index in ``0 .. n_pairs - 1``; outputs have one row per pair, in pair order. Sums over
strata are ``np.bincount`` over ``pair``, so millions of rows need no Python loop and rows need not be sorted.

Every stratum whose margins allow it enters the sums, including strata with a_s = 0: they add b_s c_s / N_s to
the MH odds-ratio denominator, and dropping them (as neksa/openfda-faers does) biases the pooled ratio upward.
No continuity correction is applied (statistics.md §6). Where a result is not defined the number is NaN, never
+/-inf, and a status column names the reason in words (:data:`MH_STATUS`, :data:`BD_STATUS`,
:data:`MASKING_STATUS`), as ``ebgm_status`` does for EBGM.

References: Mantel & Haenszel 1959 (JNCI 22:719-748); Robins, Breslow & Greenland 1986 (Biometrics
42:311-323); Greenland & Robins 1985 (Biometrics 41:55-68); Breslow & Day 1980 (IARC Sci Publ 32); Tarone 1985
(Biometrika 72:91-95); Benjamini & Hochberg 1995 (JRSS B 57:289-300); Maignen et al. 2014 (Pharmacoepidemiol
Drug Saf 23:195-207, 208-217) for the masking ratio.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import chdtrc, ndtr

from pv.errors import UserError
from pv.resources import vocab_dir
from pv.stats.tables import Z95, _cells, _log_interval, disproportionality

ArrayLike = npt.ArrayLike

MH_STATUS: dict[str, str] = {
    "ok": "computed: pooled over the informative strata",
    "no_informative_strata": "not defined: no stratum has both exposure groups and both outcomes "
    "(for the risk ratio: both exposure groups and at least one event)",
    "zero_denominator": "not defined: the pooled denominator is 0 (odds ratio: every informative stratum has "
    "b = 0 or c = 0; risk ratio: c = 0 in every one), the ratio would be infinite",
    "zero_numerator": "estimate 0 (no stratum has an exposed report with the event): no interval, ln 0 is "
    "undefined",
}
BD_STATUS: dict[str, str] = {
    "ok": "computed over the informative strata (df = strata - 1)",
    "single_stratum": "not defined: fewer than two informative strata (df would be 0)",
    "no_informative_strata": "not defined: the MH odds ratio has no informative stratum",
    "zero_denominator": "not defined: the MH odds ratio is infinite (zero denominator)",
    "zero_numerator": "not defined: the MH odds ratio is 0",
}
MASKING_STATUS: dict[str, str] = {
    "ok": "computed",
    "no_background_event": "not defined: the background has no report with the event (c = 0)",
    "masker_holds_event": "not defined: every background report with the event mentions the masker "
    "(removing it leaves c' = 0, the ratio is infinite)",
}
MASKING_RULE_FILE = vocab_dir() / "masking_rule.csv"


def _strata(
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    d: ArrayLike,
    pair: ArrayLike | None,
    n_pairs: int | None,
    width: int | None = None,
) -> tuple[tuple[np.ndarray, ...], np.ndarray | None, int]:
    """Validated cells (float64), the pair index (int64) and the number of pairs. With ``width``, the rows
    come in consecutive blocks of ``width`` strata, one block per pair, and the index is None."""
    cells = _cells(a, b, c, d)
    if width is not None:
        if width < 1 or cells[0].size % width:
            raise ValueError(f"{cells[0].size} stratum rows are not blocks of {width}")
        return cells, None, cells[0].size // width
    index = np.atleast_1d(np.asarray(pair)).ravel()
    if index.shape != cells[0].shape:
        raise ValueError("pair must have one entry per stratum row")
    if index.size and (not np.issubdtype(index.dtype, np.integer) or index.min() < 0):
        raise ValueError("pair must hold non-negative integers")
    index = index.astype(np.int64)
    needed = int(index.max()) + 1 if index.size else 0
    if n_pairs is None:
        n_pairs = needed
    elif n_pairs < needed:
        raise ValueError(f"n_pairs = {n_pairs} but pair holds index {needed - 1}")
    return cells, index, n_pairs


def _sum(pair: np.ndarray | None, values: np.ndarray, n_pairs: int) -> np.ndarray:
    if pair is None:  # blocks of strata, one per pair
        return values.reshape(n_pairs, -1).sum(axis=1, dtype=np.float64)
    return np.bincount(pair, weights=values, minlength=n_pairs)


def _pooled_ratio(
    numerator: np.ndarray, denominator: np.ndarray, variance: np.ndarray, informative: np.ndarray, prefix: str
) -> pd.DataFrame:
    """Estimate, SE of its log, 95% CI and status per pair, NaN wherever the status is not ``ok``."""
    status = np.select(
        [informative == 0, denominator <= 0, numerator <= 0],
        ["no_informative_strata", "zero_denominator", "zero_numerator"],
        default="ok",
    )
    ok = status == "ok"
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = np.where(ok, numerator / denominator, np.nan)
        se = np.where(ok, np.sqrt(variance), np.nan)
    estimate[status == "zero_numerator"] = 0.0
    lower, upper = _log_interval(estimate, se, Z95)
    return pd.DataFrame(
        {
            prefix: estimate,
            f"{prefix}_lower": lower,
            f"{prefix}_upper": upper,
            f"{prefix}_log_se": se,
            f"{prefix}_strata": informative.astype(np.int64),
            f"{prefix}_status": pd.Series(status, dtype="str"),
        }
    )


def mh_ror(
    a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, pair: ArrayLike, *, n_pairs: int | None = None
) -> pd.DataFrame:
    """Mantel-Haenszel odds ratio (pooled ROR) per pair with the Robins-Breslow-Greenland 95% CI.

    OR_MH = sum R_s / sum S_s with R_s = a_s d_s / N_s, S_s = b_s c_s / N_s, and
    Var(ln OR_MH) = sum P_s R_s / (2R^2) + sum (P_s S_s + Q_s R_s) / (2RS) + sum Q_s S_s / (2S^2),
    P_s = (a_s + d_s)/N_s, Q_s = (b_s + c_s)/N_s. With one stratum this is the crude ROR with the Woolf CI.
    A stratum is informative when all four margins are > 0; others add nothing to any sum.

    Columns: ror_mh, ror_mh_lower, ror_mh_upper, ror_mh_log_se, ror_mh_strata (informative strata),
    ror_mh_status (:data:`MH_STATUS`).
    """
    return mh_ror_from_sums(*mh_ror_sums(a, b, c, d, pair, n_pairs=n_pairs))


def mh_ror_sums(
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    d: ArrayLike,
    pair: ArrayLike | None,
    *,
    n_pairs: int | None = None,
    width: int | None = None,
) -> tuple[np.ndarray, ...]:
    """The sums :func:`mh_ror_from_sums` takes, per pair: sum R_s, sum S_s, sum P_s R_s,
    sum (P_s S_s + Q_s R_s), sum Q_s S_s and the number of informative strata (rows in ``pair`` order)."""
    (a, b, c, d), pair, n_pairs = _strata(a, b, c, d, pair, n_pairs, width)
    n = a + b + c + d
    informative = (a + b > 0) & (c + d > 0) & (a + c > 0) & (b + d > 0)
    safe_n = np.where(informative, n, 1.0)
    r = np.where(informative, a * d / safe_n, 0.0)
    s = np.where(informative, b * c / safe_n, 0.0)
    p = np.where(informative, (a + d) / safe_n, 0.0)
    q = np.where(informative, (b + c) / safe_n, 0.0)
    return (
        _sum(pair, r, n_pairs),
        _sum(pair, s, n_pairs),
        _sum(pair, p * r, n_pairs),
        _sum(pair, p * s + q * r, n_pairs),
        _sum(pair, q * s, n_pairs),
        _sum(pair, informative, n_pairs),
    )


def mh_ror_from_sums(
    r: ArrayLike, s: ArrayLike, pr: ArrayLike, ps_qr: ArrayLike, qs: ArrayLike, informative: ArrayLike
) -> pd.DataFrame:
    """:func:`mh_ror` from its sums over the informative strata: sum R_s, sum S_s, sum P_s R_s,
    sum (P_s S_s + Q_s R_s), sum Q_s S_s and the number of informative strata, one entry per pair.

    For sums computed elsewhere (the database sums the per-stratum terms, marts.stratified_counts), so that
    the estimate, its variance, interval and status are this one arithmetic.
    """
    big_r, big_s, pr, ps_qr, qs, informative = (
        np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel() for x in (r, s, pr, ps_qr, qs, informative)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = pr / (2.0 * big_r**2) + ps_qr / (2.0 * big_r * big_s) + qs / (2.0 * big_s**2)
    return _pooled_ratio(big_r, big_s, variance, informative, "ror_mh")


def mh_prr(
    a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, pair: ArrayLike, *, n_pairs: int | None = None
) -> pd.DataFrame:
    """Mantel-Haenszel risk ratio (pooled PRR) per pair with the Greenland-Robins 95% CI.

    RR_MH = sum(a_s n0_s / N_s) / sum(c_s n1_s / N_s) (n1 = a + b, n0 = c + d) and
    Var(ln RR_MH) = sum[(n1_s n0_s m1_s - a_s c_s N_s) / N_s^2] / [sum(a_s n0_s/N_s) sum(c_s n1_s/N_s)]
    (m1 = a + c). With one stratum this is the crude PRR with the log-method CI. A stratum is informative
    when both exposure groups and at least one event report are present.

    Columns: prr_mh, prr_mh_lower, prr_mh_upper, prr_mh_log_se, prr_mh_strata,
    prr_mh_status (:data:`MH_STATUS`).
    """
    return mh_prr_from_sums(*mh_prr_sums(a, b, c, d, pair, n_pairs=n_pairs))


def mh_prr_sums(
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    d: ArrayLike,
    pair: ArrayLike | None,
    *,
    n_pairs: int | None = None,
    width: int | None = None,
) -> tuple[np.ndarray, ...]:
    """The sums :func:`mh_prr_from_sums` takes, per pair: sum a_s n0_s / N_s, sum c_s n1_s / N_s,
    sum (a_s n1_s d_s + c_s n0_s b_s) / N_s^2 and the number of informative strata."""
    (a, b, c, d), pair, n_pairs = _strata(a, b, c, d, pair, n_pairs, width)
    n1, n0, m1 = a + b, c + d, a + c
    n = n1 + n0
    informative = (n1 > 0) & (n0 > 0) & (m1 > 0)
    safe_n = np.where(informative, n, 1.0)
    numerator = _sum(pair, np.where(informative, a * n0 / safe_n, 0.0), n_pairs)
    denominator = _sum(pair, np.where(informative, c * n1 / safe_n, 0.0), n_pairs)
    # n1 n0 m1 - a c N = a n1 d + c n0 b >= 0; the second form has no cancellation.
    spread = _sum(pair, np.where(informative, (a * n1 * d + c * n0 * b) / safe_n**2, 0.0), n_pairs)
    return numerator, denominator, spread, _sum(pair, informative, n_pairs)


def mh_prr_from_sums(
    numerator: ArrayLike, denominator: ArrayLike, spread: ArrayLike, informative: ArrayLike
) -> pd.DataFrame:
    """:func:`mh_prr` from its sums over the informative strata: sum a_s n0_s / N_s, sum c_s n1_s / N_s,
    sum (a_s n1_s d_s + c_s n0_s b_s) / N_s^2 and the number of informative strata, one entry per pair."""
    numerator, denominator, spread, informative = (
        np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
        for x in (numerator, denominator, spread, informative)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = spread / (numerator * denominator)
    return _pooled_ratio(numerator, denominator, variance, informative, "prr_mh")


def stratified_expected(
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    d: ArrayLike,
    pair: ArrayLike | None,
    *,
    n_pairs: int | None = None,
    width: int | None = None,
) -> np.ndarray:
    """Stratified expected count E = sum_s n_drug,s n_event,s / N_s per pair (openEBGM, statistics.md §5).

    This is also sum E(a_s) of the Cochran-Mantel-Haenszel test. Empty strata (N_s = 0) add 0; a pair with no
    row gets E = 0, which IC and EBGM already treat as "no expected count".
    """
    (a, b, c, d), pair, n_pairs = _strata(a, b, c, d, pair, n_pairs, width)
    n = a + b + c + d
    terms = np.where(n > 0, (a + b) * (a + c) / np.where(n > 0, n, 1.0), 0.0)
    return _sum(pair, terms, n_pairs)


def _expected_cell(n1: np.ndarray, n0: np.ndarray, m1: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """The a_s whose table has odds ratio psi given the margins: the admissible root of the quadratic.

    (1 - psi) A^2 + [n0 - m1 + psi (n1 + m1)] A - psi n1 m1 = 0, root in [max(0, m1 - n0), min(n1, m1)].
    Both roots come from the cancellation-free form (q / qa and qc / q), so psi = 1 (qa = 0) gives
    A = n1 m1 / N exactly. Called for informative strata and a finite psi > 0 only (an interior root).
    """
    qa = 1.0 - psi
    qb = n0 - m1 + psi * (n1 + m1)
    qc = -psi * n1 * m1
    with np.errstate(divide="ignore", invalid="ignore"):
        q = -0.5 * (qb + np.copysign(np.sqrt(qb * qb - 4.0 * qa * qc), qb))
        first = qc / q
        second = np.where(qa != 0, q / qa, np.nan)
    low, high = np.maximum(0.0, m1 - n0), np.minimum(n1, m1)

    def outside(root: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(root), np.inf, np.maximum(low - root, root - high))

    # The admissible root is inside; rounding may put it a few ulps outside: take the nearer one, clipped.
    return np.clip(np.where(outside(first) <= outside(second), first, second), low, high)


def breslow_day(
    a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, pair: ArrayLike, *, n_pairs: int | None = None
) -> pd.DataFrame:
    """Breslow-Day test of a common odds ratio across strata, with Tarone's correction, per pair.

    Expected a_s under psi = OR_MH (:func:`_expected_cell`), V_s = 1/(1/A + 1/(n1 - A) + 1/(m1 - A) +
    1/(n0 - m1 + A)); BD = sum (a_s - A_s)^2 / V_s; Tarone: BDT = BD - [sum(a_s - A_s)]^2 / sum V_s, which is
    what statsmodels ``test_equal_odds(adjust=True)`` computes. df = informative strata - 1 (strata with all
    four margins > 0, the ones that enter OR_MH); ``bd_p`` is the chi-square upper tail of BDT.

    Columns: bd_chi2 (uncorrected), bd_chi2_tarone, bd_df, bd_p, bd_status (:data:`BD_STATUS`).
    """
    (a, b, c, d), pair, n_pairs = _strata(a, b, c, d, pair, n_pairs)
    pooled = mh_ror(a, b, c, d, pair, n_pairs=n_pairs)
    informative = (a + b > 0) & (c + d > 0) & (a + c > 0) & (b + d > 0)
    k = _sum(pair, informative, n_pairs)
    status = np.where((pooled["ror_mh_status"] == "ok") & (k < 2), "single_stratum", pooled["ror_mh_status"])
    ok = status == "ok"
    use = informative & ok[pair]
    psi = pooled["ror_mh"].to_numpy()[pair]
    n1, n0, m1 = a + b, c + d, a + c
    expected = np.where(use, _expected_cell(n1, n0, m1, np.where(use, psi, 1.0)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = 1.0 / (
            1.0 / expected + 1.0 / (n1 - expected) + 1.0 / (m1 - expected) + 1.0 / (n0 - m1 + expected)
        )
    v = np.where(use, v, 0.0)
    deviation = np.where(use, a - expected, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = _sum(pair, np.where(use, deviation**2 / np.where(use, v, 1.0), 0.0), n_pairs)
        tarone = chi2 - _sum(pair, deviation, n_pairs) ** 2 / _sum(pair, v, n_pairs)
    df = np.where(ok, k - 1, 0)
    chi2 = np.where(ok, chi2, np.nan)
    tarone = np.where(ok, tarone, np.nan)
    return pd.DataFrame(
        {
            "bd_chi2": chi2,
            "bd_chi2_tarone": tarone,
            "bd_df": df.astype(np.int64),
            "bd_p": np.where(ok, chdtrc(np.maximum(df, 1), tarone), np.nan),
            "bd_status": pd.Series(status, dtype="str"),
        }
    )


def wald_p_one_sided(log_estimate: ArrayLike, se: ArrayLike) -> np.ndarray:
    """One-sided Wald p-value for ratio > 1 on the log scale: p = 1 - Phi(ln ratio / SE).

    Same z as the 95% interval, so ratio025 > 1 exactly when p < 0.025. NaN unless both inputs are finite and
    SE > 0 (zero cells, undefined ratios): such rows are not evidence and BH leaves them out of the family.
    """
    log_estimate, se = (
        np.atleast_1d(x).ravel()
        for x in np.broadcast_arrays(
            np.asarray(log_estimate, dtype=np.float64), np.asarray(se, dtype=np.float64)
        )
    )
    ok = np.isfinite(log_estimate) & np.isfinite(se) & (se > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, ndtr(-log_estimate / np.where(ok, se, 1.0)), np.nan)


def _bh_one_family(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = q_sorted
    return q


def bh_qvalues(p: ArrayLike, family: ArrayLike | None = None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), one family per distinct ``family`` value.

    q_(i) = min over j >= i of min(1, m p_(j) / j) in ascending order of p (the step-up procedure; a
    hypothesis is rejected at level alpha when q <= alpha). NaN p (no finite evidence, e.g. a zero cell) gets
    NaN q and is **not counted in m**: m is the number of finite p in the family. Tied p get the same q.
    A p outside [0, 1] or infinite is an error.
    """
    p = np.atleast_1d(np.asarray(p, dtype=np.float64)).ravel()
    present = ~np.isnan(p)
    if np.any(~np.isfinite(p[present]) | (p[present] < 0) | (p[present] > 1)):
        raise ValueError("p-values must lie in [0, 1] (NaN marks a missing p)")
    groups = np.zeros(p.size, dtype=np.int64) if family is None else np.asarray(family).ravel()
    if groups.shape != p.shape:
        raise ValueError("family must have one entry per p-value")
    q = np.full(p.size, np.nan)
    for value in np.unique(groups[present]):
        members = np.flatnonzero(present & (groups == value))
        q[members] = _bh_one_family(p[members])
    return q


def masking_ratio(
    c: ArrayLike, d: ArrayLike, masker_event: ArrayLike, masker_no_event: ArrayLike
) -> pd.DataFrame:
    """Maignen's masking ratio: how much removing a masker M from the background raises every PRR (and ROR).

    The background (reports without the target drug) has c reports with the event and d without; M appears on
    m_E = ``masker_event`` and m_notE = ``masker_no_event`` of them. Removing them gives c' = c - m_E,
    d' = d - m_notE and MR = PRR'/PRR = [c/(c+d)] / [c'/(c'+d')] = (1 - w)/(1 - w R), with w = M's share of
    the background and R = M's event rate over the background's; MR_ROR = ROR'/ROR = (d'/c') / (d/c).
    MR does not depend on the target drug, so a ranking of maskers is a property of the event.

    Columns: mr_prr, mr_ror, w, r, masking_status (:data:`MASKING_STATUS`).
    """
    c, d, m_e, m_ne = _cells(c, d, masker_event, masker_no_event)
    if np.any(m_e > c) or np.any(m_ne > d):
        raise ValueError("the masker's reports must be part of the background (m_E <= c, m_notE <= d)")
    c_left, d_left = c - m_e, d - m_ne
    status = np.select([c == 0, c_left == 0], ["no_background_event", "masker_holds_event"], default="ok")
    ok = status == "ok"
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = c / (c + d)
        w = (m_e + m_ne) / (c + d)
        r = (m_e / (m_e + m_ne)) / rate
        mr_prr = np.where(ok, rate * (c_left + d_left) / c_left, np.nan)
        mr_ror = np.where(ok, (d_left * c) / (c_left * d), np.nan)
    return pd.DataFrame(
        {
            "mr_prr": mr_prr,
            "mr_ror": mr_ror,
            "w": np.where(ok, w, np.nan),
            "r": np.where(ok & np.isfinite(r), r, np.nan),
            "masking_status": pd.Series(status, dtype="str"),
        }
    )


@dataclass(frozen=True)
class MaskingRule:
    """Drugs counted as maskers of an event (``pv/data/vocab/masking_rule.csv``: our choices, not
    Maignen's)."""

    min_event_reports: int
    min_masking_ratio: float
    min_prr_lower: float
    max_maskers: int


_RULE_PARAMETERS = {
    "min_event_reports": int,
    "min_masking_ratio": float,
    "min_prr_lower": float,
    "max_maskers": int,
}


def masking_rule(path: Path = MASKING_RULE_FILE) -> MaskingRule:
    """The reviewed masking thresholds; a missing, unknown, repeated or non-numeric entry is a UserError."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise UserError(f"{path}: cannot read the masking rule ({error.strerror})") from error
    values: dict[str, int | float] = {}
    for row in rows:
        name = (row.get("parameter") or "").strip()
        if name not in _RULE_PARAMETERS:
            raise UserError(f"{path}: unknown masking-rule parameter {name!r}")
        if name in values:
            raise UserError(f"{path}: masking-rule parameter {name!r} is given twice")
        if not (row.get("source") or "").strip():
            raise UserError(f"{path}: masking-rule parameter {name!r} has no source")
        try:
            values[name] = _RULE_PARAMETERS[name](row["value"])
        except (TypeError, ValueError):
            raise UserError(
                f"{path}: masking-rule parameter {name!r} is not a number: {row['value']!r}"
            ) from None
    missing = sorted(set(_RULE_PARAMETERS) - set(values))
    if missing:
        raise UserError(f"{path}: masking-rule parameters missing: {', '.join(missing)}")
    rule = MaskingRule(**values)  # type: ignore[arg-type]
    if rule.min_event_reports < 1 or rule.min_masking_ratio < 1 or rule.max_maskers < 1:
        raise UserError(f"{path}: min_event_reports and max_maskers must be >= 1 and min_masking_ratio >= 1")
    return rule


def select_maskers(
    candidates: pd.DataFrame, event_reports: int, total_reports: int, rule: MaskingRule | None = None
) -> pd.DataFrame:
    """Apply the masking rule to the candidate drugs of one event in one population.

    ``candidates`` has columns ``drug``, ``a`` (reports with the drug and the event), ``n_drug`` (reports with
    the drug) and ``protected`` (True for target drugs and their classes, never removed). The background for
    the masking ratio is the whole population (``event_reports`` with the event out of ``total_reports``); the
    masker's PRR and its lower 95% limit are the crude ones against the reports without it.

    A candidate is selected when a >= min_event_reports, MR >= min_masking_ratio, PRR lower limit >
    min_prr_lower and not protected; the selected are ranked by MR (then drug name) and at most max_maskers
    kept. Returns the candidates with mr_prr, prr, prr_lower, masking_status, ``masker`` (bool), ``rank``
    (1.. for maskers, 0 otherwise) and ``masking_reason`` (why each was or was not selected).
    """
    rule = rule or masking_rule()
    a = candidates["a"].to_numpy(dtype=np.float64)
    n_drug = candidates["n_drug"].to_numpy(dtype=np.float64)
    if np.any(a > n_drug) or np.any(a > event_reports) or np.any(n_drug - a > total_reports - event_reports):
        raise ValueError("candidate counts must fit inside the population (a <= n_drug, a <= event reports)")
    ratio = masking_ratio(
        np.full(a.size, event_reports), np.full(a.size, total_reports - event_reports), a, n_drug - a
    )
    own = disproportionality(a, n_drug - a, event_reports - a, total_reports - n_drug - event_reports + a)
    protected = candidates["protected"].to_numpy(dtype=bool)
    mr = ratio["mr_prr"].to_numpy()
    prr_lower = own["prr_lower"].to_numpy()
    reason = np.select(
        [
            protected,
            a < rule.min_event_reports,
            ratio["masking_status"].to_numpy() != "ok",
            ~(mr >= rule.min_masking_ratio),
            ~(np.isfinite(prr_lower) & (prr_lower > rule.min_prr_lower)),
        ],
        [
            "protected (target drug or class)",
            f"fewer than {rule.min_event_reports} reports with the event",
            ratio["masking_status"].map(MASKING_STATUS).to_numpy(),
            f"masking ratio below {rule.min_masking_ratio}",
            f"PRR lower 95% limit not above {rule.min_prr_lower}",
        ],
        default="selected",
    )
    result = candidates.reset_index(drop=True).copy()
    result["mr_prr"] = mr
    result["prr"] = own["prr"].to_numpy()
    result["prr_lower"] = prr_lower
    result["masking_status"] = ratio["masking_status"]
    eligible = reason == "selected"
    order = np.lexsort((result["drug"].astype(str).to_numpy(), -np.where(eligible, mr, -np.inf)))
    ranked = order[eligible[order]]
    rank = np.zeros(len(result), dtype=np.int64)
    rank[ranked] = np.arange(1, ranked.size + 1)
    too_many = rank > rule.max_maskers
    reason = np.where(too_many, f"beyond the {rule.max_maskers} strongest maskers", reason)
    rank[too_many] = 0
    result["masker"] = rank > 0
    result["rank"] = rank
    result["masking_reason"] = pd.Series(reason, dtype="str")
    return result


# The ROR rule (ROR025 > 1) is a one-sided Wald test at 2.5%; its multiplicity-adjusted form keeps that level.
FDR_LEVEL = 0.025


def _fdr_flag(log_estimate: np.ndarray, se: np.ndarray, a: np.ndarray, family: ArrayLike | None):
    """p (one-sided Wald), BH q within ``family`` and the flag q <= FDR_LEVEL with a >= 3."""
    p = wald_p_one_sided(log_estimate, se)
    q = bh_qvalues(p, family)
    return p, q, np.isfinite(q) & (q <= FDR_LEVEL) & (a >= 3)


def ror_fdr(frame: pd.DataFrame, family: ArrayLike | None = None) -> pd.DataFrame:
    """The ROR rule adjusted for multiplicity: one-sided Wald p of ln ROR, BH q within each family, the flag.

    ``frame`` is a :func:`pv.stats.disproportionality` frame (a, b, c, d, ror). ``ror_p`` = 1 - Phi(ln ROR /
    SE), SE = sqrt(1/a + 1/b + 1/c + 1/d): NaN where a cell is 0 (no finite evidence, not counted in the
    family's m). ``ror_q``: Benjamini-Hochberg within ``family``. ``signal_ror_fdr``: q <= FDR_LEVEL and
    a >= 3, so it flags a subset of ``signal_ror`` (p < 0.025 and a >= 3) and controls the false discovery
    rate at 2.5% among the family's tests.
    """
    a, b, c, d = (frame[column].to_numpy(dtype=np.float64) for column in "abcd")
    positive = (a > 0) & (b > 0) & (c > 0) & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(positive, np.sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d), np.nan)
        log_ror = np.where(positive, np.log(frame["ror"].to_numpy(dtype=np.float64)), np.nan)
    p, q, flag = _fdr_flag(log_ror, se, a, family)
    return pd.DataFrame({"ror_p": p, "ror_q": q, "signal_ror_fdr": flag}, index=frame.index)


def mh_ror_fdr(
    ror_mh: ArrayLike, ror_mh_log_se: ArrayLike, a: ArrayLike, family: ArrayLike | None = None
) -> pd.DataFrame:
    """The Mantel-Haenszel ROR rule adjusted for multiplicity, as :func:`ror_fdr` for the crude ROR.

    ``ror_mh_p`` = 1 - Phi(ln OR_MH / SE) with the Robins-Breslow-Greenland SE (:func:`mh_ror`), so p < 0.025
    exactly when the MH ROR's lower 95% limit exceeds 1; NaN where the MH ROR is not computed or is 0.
    ``ror_mh_q``: BH within ``family``; ``signal_ror_mh_fdr``: q <= FDR_LEVEL and a >= 3 (a: the pair's
    reports over all strata, the same minimum as the crude rule).
    """
    estimate, se, a = (
        np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel() for x in (ror_mh, ror_mh_log_se, a)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ror = np.where(estimate > 0, np.log(np.where(estimate > 0, estimate, 1.0)), np.nan)
    p, q, flag = _fdr_flag(log_ror, se, a, family)
    return pd.DataFrame({"ror_mh_p": p, "ror_mh_q": q, "signal_ror_mh_fdr": flag})
