"""A binomial proportion with its Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001).

Used for the share of positive dechallenges and rechallenges in a case series: the counts are small (often
under ten answers), where the Wald interval collapses to zero width at 0 or 1 and undercovers; the Wilson
interval stays inside [0, 1] and keeps close to nominal coverage.
"""

from __future__ import annotations

import math

from pv.stats.tables import Z95


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The 95% (by default) Wilson score interval of successes / trials; trials must be positive.

    (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n): the proportions p whose score test
    |p̂ − p| / sqrt(p(1−p)/n) does not exceed z.
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"a proportion needs 0 <= successes <= trials and trials > 0 ({successes}/{trials})")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(centre - half, 0.0), min(centre + half, 1.0)
