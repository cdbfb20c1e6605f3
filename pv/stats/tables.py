"""Report-level 2x2 tables and the frequentist / shrinkage-IC measures on them.

Everything here is vectorised over pairs: inputs are array-likes of counts (int64, possibly millions long) and
outputs are columns of a DataFrame in the same order. Definitions follow ``statistics.md``:
§1 (report-level counting), §2 (PRR, log-method CI, Pearson chi-square plain and Yates, Evans rule),
§3 (ROR, Woolf CI), §4c (shrinkage IC with exact gamma limits, the canonical IC), §6 (zero cells: raw values,
Haldane only as an auxiliary column) and §12 (canonical choices).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import gammaincinv

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile used for every interval (stat_vectors.json ``conventions.z``)."""

# PRR == 2 exactly is common with round counts and is fragile in floating point (statistics.md §2): the
# Evans rule compares with this relative tolerance so that a table whose exact PRR is 2 counts as PRR >= 2.
PRR_TOLERANCE = 1e-12

DISPROPORTIONALITY_COLUMNS: tuple[str, ...] = (
    "a",
    "b",
    "c",
    "d",
    "e",
    "prr",
    "prr_lower",
    "prr_upper",
    "chi2",
    "chi2_yates",
    "ror",
    "ror_lower",
    "ror_upper",
    "ic",
    "ic025",
    "ic975",
)

ArrayLike = npt.ArrayLike


def _cells(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> tuple[np.ndarray, ...]:
    """The four cells as 1-D float64 arrays of one length; counts must be finite and non-negative."""
    cells = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a, b, c, d)))
    cells = tuple(np.atleast_1d(x).ravel() for x in cells)
    for name, x in zip("abcd", cells, strict=True):
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ValueError(f"cell {name} must hold finite non-negative counts")
    return cells


def _log_interval(ratio: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """exp(ln ratio -/+ z*SE), nan wherever ln(ratio) or SE is not finite (stat_vectors ``zero_cells``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.log(ratio)
        ok = np.isfinite(log_ratio) & np.isfinite(se)
        lower = np.where(ok, np.exp(log_ratio - z * se), np.nan)
        upper = np.where(ok, np.exp(log_ratio + z * se), np.nan)
    return lower, upper


def _ic_limits(a: np.ndarray, e: np.ndarray, prob: float) -> np.ndarray:
    """log2 of the exact gamma quantile G^-1(prob; shape a+0.5, rate E+0.5) (statistics.md §4c).

    The unit-rate quantile depends on a only, so it is computed once per distinct a (a few thousand values
    even for millions of pairs) and divided by the rate; this equals scipy's
    ``gamma.ppf(prob, a + 0.5, scale=1/(E + 0.5))``, which is the same ``gammaincinv`` times the scale.
    """
    distinct, inverse = np.unique(a, return_inverse=True)
    unit_quantile = gammaincinv(distinct + 0.5, prob)[inverse]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log2(unit_quantile * (1.0 / (e + 0.5)))


def shrinkage_ic(a: ArrayLike, e: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IC = log2((a+0.5)/(E+0.5)) and its exact 2.5% / 97.5% limits (statistics.md §4c), for any E: the crude
    one of :func:`disproportionality` and the stratified one (E summed over strata) use this one formula."""
    a, e = (np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel() for x in np.broadcast_arrays(a, e))
    with np.errstate(divide="ignore", invalid="ignore"):
        ic = np.log2((a + 0.5) / (e + 0.5))
    return ic, _ic_limits(a, e, 0.025), _ic_limits(a, e, 0.975)


def disproportionality(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> pd.DataFrame:
    """PRR, chi-square (plain and Yates), ROR and shrinkage IC with 95% intervals for each 2x2 table.

    ``a`` = reports with drug and event, ``b`` drug without event, ``c`` event without drug, ``d`` neither,
    all counted as distinct reports (statistics.md §1). E = (a+b)(a+c)/N is shared by IC and EBGM (§12.1).

    * PRR = [a/(a+b)] / [c/(c+d)], CI by the log method with var = 1/a - 1/(a+b) + 1/c - 1/(c+d) (§2);
    * chi2 = N(ad-bc)^2 / [(a+b)(c+d)(a+c)(b+d)]; chi2_yates uses max(0, |ad-bc| - N/2) (§2);
    * ROR = ad/(bc), Woolf CI with SE = sqrt(1/a + 1/b + 1/c + 1/d) (§3);
    * IC = log2((a+0.5)/(E+0.5)), ic025/ic975 = log2 of exact gamma quantiles, shape a+0.5, rate E+0.5 (§4c).

    Zero cells give the raw mathematical value (0, inf or nan) and a nan interval wherever the log ratio or
    its SE is not finite, as ``stat_vectors.json`` encodes them; no warning escapes. No continuity correction
    is applied here (§6): see :func:`haldane` for the auxiliary corrected ratios.
    """
    a, b, c, d = _cells(a, b, c, d)
    n_drug = a + b
    n_event = a + c
    n_rest = c + d
    total = n_drug + n_rest
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = n_drug * n_event / total
        prr = (a / n_drug) / (c / n_rest)
        prr_se = np.sqrt(1.0 / a - 1.0 / n_drug + 1.0 / c - 1.0 / n_rest)
        # ad - bc is exact in float64 while both products stay below 2**53 (cells below ~9e7).
        cross = a * d - b * c
        margins = n_drug * n_rest * n_event * (b + d)
        chi2 = total * cross**2 / margins
        chi2_yates = total * np.maximum(0.0, np.abs(cross) - total / 2.0) ** 2 / margins
        ror = (a * d) / (b * c)
        ror_se = np.sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d)
    prr_lower, prr_upper = _log_interval(prr, prr_se, Z95)
    ror_lower, ror_upper = _log_interval(ror, ror_se, Z95)
    ic, ic025, ic975 = shrinkage_ic(a, e)
    columns = (
        a,
        b,
        c,
        d,
        e,
        prr,
        prr_lower,
        prr_upper,
        chi2,
        chi2_yates,
        ror,
        ror_lower,
        ror_upper,
        ic,
        ic025,
        ic975,
    )
    return pd.DataFrame(dict(zip(DISPROPORTIONALITY_COLUMNS, columns, strict=True)))


def haldane(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, *, always: bool = False) -> pd.DataFrame:
    """Haldane-Anscombe corrected PRR and ROR (+0.5 on all four cells) with 95% intervals.

    Auxiliary only (statistics.md §6, §12.6): these columns must never feed a signal rule. By default the
    correction is applied only to tables with a zero cell (the convention of vigipy's default, §7a), so
    tables without zeros keep their raw values; ``always=True`` corrects every table.
    """
    a, b, c, d = _cells(a, b, c, d)
    shift = 0.5 if always else np.where((a == 0) | (b == 0) | (c == 0) | (d == 0), 0.5, 0.0)
    a, b, c, d = a + shift, b + shift, c + shift, d + shift
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        prr = (a / (a + b)) / (c / (c + d))
        prr_se = np.sqrt(1.0 / a - 1.0 / (a + b) + 1.0 / c - 1.0 / (c + d))
        ror = (a * d) / (b * c)
        ror_se = np.sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d)
    prr_lower, prr_upper = _log_interval(prr, prr_se, Z95)
    ror_lower, ror_upper = _log_interval(ror, ror_se, Z95)
    return pd.DataFrame(
        {
            "prr_haldane": prr,
            "prr_haldane_lower": prr_lower,
            "prr_haldane_upper": prr_upper,
            "ror_haldane": ror,
            "ror_haldane_lower": ror_lower,
            "ror_haldane_upper": ror_upper,
        }
    )


def _finite(frame: pd.DataFrame, *columns: str) -> np.ndarray:
    """True where every named column holds a finite number (nan and +/-inf are not evidence)."""
    values = [frame[column].to_numpy(dtype=np.float64) for column in columns]
    return np.logical_and.reduce([np.isfinite(value) for value in values])


def signal_flags(frame: pd.DataFrame, ebgm: pd.DataFrame | None = None) -> pd.DataFrame:
    """Boolean signal rules for a :func:`disproportionality` frame (and optionally an :func:`ebgm` frame).

    The one definition of the rules (statistics.md §2-§5), used wherever a flag is stored or shown:

    * ``signal_evans``: PRR >= 2 and Yates chi2 >= 4 and a >= 3 (Evans 2001, canonical Yates form, §2);
    * ``signal_evans_uncorrected``: the same with the uncorrected chi2 (reported alongside, §2);
    * ``signal_ror``: ROR lower 95% limit > 1 and a >= 3 (§3);
    * ``signal_ic``: IC025 > 0 (§4c);
    * ``signal_ebgm``: EB05 >= 2 (§5), only when ``ebgm`` is given; rows are matched by position.

    A rule fires on finite evidence only (§6): the Evans rules need a finite PRR with finite 95% limits and a
    finite chi2 (c = 0 gives PRR = inf: never a signal), the ROR rule a finite ROR with finite limits (b or
    c = 0 gives inf, d = 0 gives 0 and an undefined interval), the IC and EBGM rules finite IC025 / EB05.
    PRR >= 2 is tested with a relative tolerance of 1e-12, so an exact PRR of 2 passes the PRR part (the
    table ``evans_prr_exactly2_yates_fails`` then fails on Yates chi2 alone).
    """
    a = frame["a"].to_numpy(dtype=np.float64)
    prr_ok = _finite(frame, "prr", "prr_lower", "prr_upper") & (
        frame["prr"].to_numpy(dtype=np.float64) >= 2.0 * (1.0 - PRR_TOLERANCE)
    )
    enough = a >= 3
    chi2_yates = frame["chi2_yates"].to_numpy(dtype=np.float64)
    chi2 = frame["chi2"].to_numpy(dtype=np.float64)
    flags = {
        "signal_evans": prr_ok & np.isfinite(chi2_yates) & (chi2_yates >= 4.0) & enough,
        "signal_evans_uncorrected": prr_ok & np.isfinite(chi2) & (chi2 >= 4.0) & enough,
        "signal_ror": _finite(frame, "ror", "ror_lower", "ror_upper")
        & (frame["ror_lower"].to_numpy(dtype=np.float64) > 1.0)
        & enough,
        "signal_ic": _finite(frame, "ic", "ic025", "ic975")
        & (frame["ic025"].to_numpy(dtype=np.float64) > 0.0),
    }
    if ebgm is not None:
        if len(ebgm) != len(frame):
            raise ValueError("the EBGM frame must have one row per 2x2 table")
        eb05 = ebgm["eb05"].to_numpy(dtype=np.float64)
        flags["signal_ebgm"] = np.isfinite(eb05) & (eb05 >= 2.0)
    return pd.DataFrame(flags, index=frame.index)


def report_level_counts(
    reports: pd.DataFrame,
    *,
    report: str = "id",
    drug: str = "var1",
    event: str = "var2",
    strata: Sequence[str] = (),
    zeroes: bool = False,
) -> pd.DataFrame:
    """2x2 tables for every drug-event pair of a long (report, drug, event) frame, by distinct reports.

    This is openEBGM's ``processRaw`` counting (statistics.md §1, caers/README.md): a = distinct reports with
    both, n_drug / n_event = distinct reports with the drug / the event, N = distinct reports, repeated rows
    counted once. ``e`` is n_drug*n_event/N, or with ``strata`` the stratified sum over strata s of
    n_drug,s * n_event,s / N_s (§5). Only observed pairs (a >= 1) are returned unless ``zeroes`` is set,
    which returns every drug x event combination (small inputs only). Rows are sorted by drug, then event.

    Returns columns: drug, event (named as in the input), a, b, c, d, n_drug, n_event, n_reports, e.
    """
    strata = list(strata)
    ids = reports[[report, drug, event, *strata]].drop_duplicates()
    n_reports = ids[report].nunique()
    n_drug = ids[[report, drug]].drop_duplicates().groupby(drug, sort=False).size().rename("n_drug")
    n_event = ids[[report, event]].drop_duplicates().groupby(event, sort=False).size().rename("n_event")
    pairs = ids[[report, drug, event]].drop_duplicates().groupby([drug, event], sort=False).size().rename("a")
    pairs = pairs.reset_index()
    if zeroes:
        grid = pd.merge(n_drug.reset_index()[[drug]], n_event.reset_index()[[event]], how="cross")
        pairs = grid.merge(pairs, on=[drug, event], how="left").fillna({"a": 0})
    pairs = pairs.join(n_drug, on=drug).join(n_event, on=event)
    pairs["a"] = pairs["a"].astype(np.int64)
    pairs["n_reports"] = np.int64(n_reports)
    pairs["b"] = pairs["n_drug"] - pairs["a"]
    pairs["c"] = pairs["n_event"] - pairs["a"]
    pairs["d"] = n_reports - pairs["n_drug"] - pairs["n_event"] + pairs["a"]
    if strata:
        per_stratum = ids[[report, *strata]].drop_duplicates()
        stratum_size = per_stratum.groupby(strata).size().rename("n_s").reset_index()
        drug_s = ids[[report, drug, *strata]].drop_duplicates().groupby([drug, *strata]).size()
        event_s = ids[[report, event, *strata]].drop_duplicates().groupby([event, *strata]).size()
        terms = (
            pairs[[drug, event]]
            .merge(drug_s.rename("n_drug_s").reset_index(), on=drug)
            .merge(event_s.rename("n_event_s").reset_index(), on=[event, *strata])
            .merge(stratum_size, on=strata)
        )
        terms["e"] = terms["n_drug_s"] * terms["n_event_s"] / terms["n_s"]
        stratified = terms.groupby([drug, event], sort=False)["e"].sum()
        pairs = pairs.join(stratified, on=[drug, event])
        pairs["e"] = pairs["e"].fillna(0.0)
    else:
        pairs["e"] = pairs["n_drug"] * pairs["n_event"] / n_reports
    pairs = pairs.sort_values([drug, event], kind="stable").reset_index(drop=True)
    return pairs[[drug, event, "a", "b", "c", "d", "n_drug", "n_event", "n_reports", "e"]]
