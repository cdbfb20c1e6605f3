"""The Weibull time-to-onset fits (pv.stats.weibull): shape recovered from a known distribution, the same
estimate as scipy's ``weibull_min.fit(x, floc=0)``, a narrower CI when partial-date intervals add onsets,
and a reason instead of a shape when the data do not identify it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pv.stats.weibull import MIN_WEIBULL_ONSETS, weibull_exact, weibull_interval


def test_weibull_shape_recovered_from_known_distribution():
    onsets = stats.weibull_min.rvs(0.7, scale=30, size=400, random_state=np.random.default_rng(20240501))
    fit = weibull_exact(onsets)
    assert fit["n"] == 400 and fit["reason"] is None and fit["status"] == "converged"
    assert abs(fit["shape"] - 0.7) < 0.08
    low, high = fit["shape_ci"]
    assert low < 0.7 < high and high - low < 0.2
    assert fit["shape"] == pytest.approx(stats.weibull_min.fit(onsets, floc=0)[0], rel=1e-5)
    assert abs(fit["scale"] - 30) < 4
    assert fit["interpretation"].startswith("β < 1 (CI below 1): early failure")


def test_profile_ci_bounds_cross_the_chi_square_cut():
    """Each CI bound is where twice the profile log-likelihood drop equals χ²₁(0.95) = 3.841."""
    onsets = stats.weibull_min.rvs(1.5, scale=20, size=50, random_state=np.random.default_rng(3))
    fit = weibull_exact(onsets)
    y = np.log(onsets)

    def profile(k: float) -> float:
        n = len(y)
        return n * np.log(k) - n * np.log(np.mean(np.exp(k * y))) + (k - 1) * y.sum() - n

    cut = stats.chi2.ppf(0.95, 1)
    for bound in fit["shape_ci"]:
        assert 2 * (profile(fit["shape"]) - profile(bound)) == pytest.approx(cut, abs=1e-6)


def test_interval_censored_weibull_uses_partial_onsets():
    rng = np.random.default_rng(7)
    onsets = stats.weibull_min.rvs(2.0, scale=60, size=300, random_state=rng)
    exact, partial = onsets[:60], onsets[60:]
    # the partial ones only known to a 30-day window; every onset widened by half a day, cut at 0
    windows = [(np.floor(t / 30) * 30, np.floor(t / 30) * 30 + 29) for t in partial]
    low = np.array([max(d - 0.5, 0.0) for d in exact] + [max(lo - 0.5, 0.0) for lo, _ in windows])
    high = np.array([d + 0.5 for d in exact] + [hi + 0.5 for _, hi in windows])
    primary = weibull_exact(exact)
    interval = weibull_interval(low, high, primary["shape"])
    assert (primary["n"], interval["n"]) == (60, 300)
    assert abs(interval["shape"] - 2.0) < 0.25
    assert interval["shape_ci"][0] < 2.0 < interval["shape_ci"][1]
    # more onsets, narrower interval
    assert interval["shape_ci"][1] - interval["shape_ci"][0] < primary["shape_ci"][1] - primary["shape_ci"][0]
    assert interval["interpretation"].startswith("β > 1 (CI above 1): wear-out")


def test_unidentified_shapes_give_a_reason_not_a_number():
    few = weibull_exact(np.array([3.0, 9.0]))
    assert (few["shape"], few["shape_ci"]) == (None, (None, None))
    assert few["reason"] == f"fewer than {MIN_WEIBULL_ONSETS} exact positive onsets (2)"
    assert few["status"] == "too_few_onsets"
    equal = weibull_exact(np.array([7.0, 7.0, 7.0]))
    assert equal["shape"] is None and equal["status"] == "not_identified"
    assert equal["reason"] == "all 3 exact onsets are equal (7 days): the shape is not identified"
    sparse = weibull_interval(np.array([0.0, 1.0]), np.array([5.0, 9.0]), None)
    assert sparse["reason"] == "fewer than 3 usable onsets (2)" and sparse["status"] == "too_few_onsets"
