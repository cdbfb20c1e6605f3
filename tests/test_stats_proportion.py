"""The Wilson score interval (pv.stats.proportion) against published values and its defining equation."""

from __future__ import annotations

import math

import pytest

from pv.stats.proportion import wilson_interval
from pv.stats.tables import Z95


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score, no correction)
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_interval_matches_newcombe(successes, trials, expected):
    low, high = wilson_interval(successes, trials)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_bounds_solve_the_score_equation():
    """Each bound p satisfies |p̂ − p| = z·sqrt(p(1 − p)/n); 2 of 2 keeps the upper bound at 1."""
    low, high = wilson_interval(3, 7)
    for p in (low, high):
        assert abs(3 / 7 - p) == pytest.approx(Z95 * math.sqrt(p * (1 - p) / 7), abs=1e-12)
    low, high = wilson_interval(2, 2)
    assert high == 1.0 and abs(1 - low) == pytest.approx(Z95 * math.sqrt(low * (1 - low) / 2), abs=1e-12)


def test_wilson_refuses_an_empty_or_impossible_proportion():
    with pytest.raises(ValueError, match="trials > 0"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match=r"\(3/2\)"):
        wilson_interval(3, 2)
