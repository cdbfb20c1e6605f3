"""Weibull time-to-onset shape with a profile-likelihood CI (Cornelius et al. 2012; Sauzet et al. 2013).

The shape β of a two-parameter Weibull (location 0) fitted to times since the start of a drug reads as:
β < 1 a hazard falling with time since the start ("early failure"), β ≈ 1 a constant hazard ("random
failure"), β > 1 a hazard growing with exposure ("wear-out"). The reading is decided by the CI against 1,
never by the point estimate alone. Two fits: :func:`weibull_exact` on exact positive onsets (closed-form
scale, 1-D score equation) and :func:`weibull_interval` on interval-censored onsets. Each returns a dict
with a ``status`` (``converged``, ``too_few_onsets``, ``not_identified``); unless converged, ``shape`` is
None and a ``reason`` says why, so a caller never publishes an unconverged fit. :mod:`pv.cases` builds
the onsets (and their intervals) from FAERS dates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, stats

MIN_WEIBULL_ONSETS = 3
CI_LEVEL = 0.95
CHI2_CUT = float(stats.chi2.ppf(CI_LEVEL, 1))
# The shape search range; a shape outside it is reported as not identified.
SHAPE_LIMITS = (1e-3, 1e3)
# A fit's ``status``: the shape is published only when ``converged``; otherwise ``reason`` says why not.
CONVERGED = "converged"
TOO_FEW_ONSETS = "too_few_onsets"
NOT_IDENTIFIED = "not_identified"


def _interpret_shape(shape: float, ci: tuple[float | None, float | None]) -> str:
    """Cornelius/Sauzet reading of β, decided by the CI against 1 (the point estimate alone over-reads
    noise)."""
    low, high = ci
    if high is not None and high < 1:
        return "β < 1 (CI below 1): early failure type, hazard decreasing with time since start"
    if low is not None and low > 1:
        return "β > 1 (CI above 1): wear-out type, hazard increasing with time since start"
    if low is not None and high is not None:
        return "β ≈ 1 (CI includes 1): random failure type, constant hazard (no time pattern shown)"
    side = "below" if shape < 1 else "above"
    return f"β {side} 1 but the CI is unbounded on one side: no reliable reading"


def _profile_bounds(profile: Any, shape: float, best: float) -> tuple[float | None, float | None]:
    """Profile-likelihood CI for the shape: where 2·(ℓ(β̂) − ℓp(β)) crosses the χ²₁ 95% cut (3.84).

    Searched on log β, stepping outwards from the MLE; a side that stays inside the cut up to the search
    limits (1e-3, 1e3) is reported as None (the data do not bound it).
    """

    def excess(log_k: float) -> float:
        return 2.0 * (best - profile(math.exp(log_k))) - CHI2_CUT

    bounds: list[float | None] = []
    for direction in (-1.0, 1.0):
        inner = math.log(shape)
        step = 0.05
        bound: float | None = None
        while True:
            outer = inner + direction * step
            if not math.log(SHAPE_LIMITS[0]) <= outer <= math.log(SHAPE_LIMITS[1]):
                break
            if excess(outer) > 0:
                bound = math.exp(optimize.brentq(excess, min(inner, outer), max(inner, outer), xtol=1e-10))
                break
            inner, step = outer, step * 1.6
        bounds.append(bound)
    return bounds[0], bounds[1]


def weibull_exact(onsets: np.ndarray) -> dict[str, Any]:
    """MLE of a two-parameter Weibull (location 0) on positive exact onsets, shape CI by profile likelihood.

    For a fixed shape k the scale MLE is closed-form, λ̂(k) = mean(xᵏ)^(1/k), so the profile log-likelihood is
    ℓp(k) = n·log k − n·log mean(xᵏ) + (k − 1)·Σ log x − n; its maximum solves the usual score equation
    1/k + mean(log x) − Σ xᵏ log x / Σ xᵏ = 0 (same estimate as ``weibull_min.fit(x, floc=0)``).
    """
    x = np.asarray(onsets, dtype=float)
    n = len(x)
    result: dict[str, Any] = {
        "method": "maximum likelihood on exact (day-precision) positive onsets",
        "ci_method": "profile likelihood (chi-square, 1 df)",
        "n": n,
        "shape": None,
        "shape_ci": (None, None),
        "scale": None,
        "interpretation": None,
        "status": TOO_FEW_ONSETS,
        "reason": None,
    }
    if n < MIN_WEIBULL_ONSETS:
        result["reason"] = f"fewer than {MIN_WEIBULL_ONSETS} exact positive onsets ({n})"
        return result
    result["status"] = NOT_IDENTIFIED
    if np.ptp(x) == 0:
        result["reason"] = f"all {n} exact onsets are equal ({x[0]:g} days): the shape is not identified"
        return result
    y = np.log(x)
    y_sum = float(y.sum())

    def log_mean_pow(k: float) -> float:
        return float(np.logaddexp.reduce(k * y) - math.log(n))

    def profile(k: float) -> float:
        return n * math.log(k) - n * log_mean_pow(k) + (k - 1.0) * y_sum - n

    def score(log_k: float) -> float:
        k = math.exp(log_k)
        weights = np.exp(k * y - np.logaddexp.reduce(k * y))
        return 1.0 / k + y_sum / n - float(weights @ y)

    low_end, high_end = math.log(SHAPE_LIMITS[0]), math.log(SHAPE_LIMITS[1])
    if score(high_end) >= 0:
        result["reason"] = f"the {n} exact onsets are nearly equal: the shape is beyond {SHAPE_LIMITS[1]:g}"
        return result
    shape = math.exp(optimize.brentq(score, low_end, high_end, xtol=1e-12))
    ci = _profile_bounds(profile, shape, profile(shape))
    result.update(
        shape=shape,
        shape_ci=ci,
        scale=math.exp(log_mean_pow(shape) / shape),
        interpretation=_interpret_shape(shape, ci),
        status=CONVERGED,
    )
    return result


def _interval_loglik(log_k: float, log_scale: float, low: np.ndarray, high: np.ndarray) -> float:
    """Σ log(S(low) − S(high)) for the Weibull survival S(t) = exp(−(t/λ)ᵏ), computed without cancellation."""
    k = math.exp(log_k)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        a = np.exp(k * (np.log(np.maximum(low, 1e-300)) - log_scale))
        a = np.where(low > 0, a, 0.0)
        b = np.exp(k * (np.log(high) - log_scale))
        return float(np.sum(-a + np.log(-np.expm1(-(b - a)))))


def weibull_interval(low: np.ndarray, high: np.ndarray, start_shape: float | None) -> dict[str, Any]:
    """Interval-censored Weibull MLE: every onset is the range of continuous times its dates allow.

    An exact onset of d days is [d − ½, d + ½] (both dates are whole days), a partial one [L − ½, U + ½];
    lower ends are cut at 0 (exposure precedes onset), so a same-day onset and an interval that straddles the
    start still count. Maximised over (log β, log λ); the shape CI is the profile likelihood (scale
    re-maximised for each β).
    """
    n = len(low)
    result: dict[str, Any] = {
        "method": "interval-censored maximum likelihood on exact and partial-date onsets",
        "ci_method": "profile likelihood (chi-square, 1 df)",
        "n": n,
        "shape": None,
        "shape_ci": (None, None),
        "scale": None,
        "interpretation": None,
        "status": TOO_FEW_ONSETS,
        "reason": None,
    }
    if n < MIN_WEIBULL_ONSETS:
        result["reason"] = f"fewer than {MIN_WEIBULL_ONSETS} usable onsets ({n})"
        return result
    result["status"] = NOT_IDENTIFIED
    mid = (low + high) / 2.0
    scale_lo, scale_hi = math.log(max(float(high.min()), 1e-3)) - 12.0, math.log(float(high.max())) + 12.0

    def negative(theta: np.ndarray) -> float:
        if not math.log(SHAPE_LIMITS[0]) <= theta[0] <= math.log(SHAPE_LIMITS[1]):
            return math.inf
        value = _interval_loglik(float(theta[0]), float(theta[1]), low, high)
        return -value if math.isfinite(value) else math.inf

    start = np.array([math.log(start_shape or 1.0), math.log(float(np.mean(mid)))])
    fit = optimize.minimize(
        negative,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000, "maxfev": 4000},
    )
    log_k, log_scale = (float(v) for v in fit.x)
    shape = math.exp(log_k)
    if not fit.success or not SHAPE_LIMITS[0] * 10 < shape < SHAPE_LIMITS[1] / 10:
        result["reason"] = (
            "the likelihood has no interior maximum (the intervals are too wide to fix the shape)"
        )
        return result

    def profile(k: float) -> float:
        inner = optimize.minimize_scalar(
            lambda s: -_interval_loglik(math.log(k), s, low, high),
            bounds=(scale_lo, scale_hi),
            method="bounded",
            options={"xatol": 1e-9},
        )
        return -float(inner.fun)

    best = max(profile(shape), -float(fit.fun))
    ci = _profile_bounds(profile, shape, best)
    result.update(
        shape=shape,
        shape_ci=ci,
        scale=math.exp(log_scale),
        interpretation=_interpret_shape(shape, ci),
        status=CONVERGED,
    )
    return result
