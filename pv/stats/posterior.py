"""GPS posterior per cell: Qn, EBGM and exact EB05/EB95 (statistics.md §5).

Given the prior theta, the posterior of lambda for a cell with count n and expectation E is the mixture
Qn*Gamma(alpha1+n, rate beta1+E) + (1-Qn)*Gamma(alpha2+n, rate beta2+E), with
Qn = P f1(n) / [P f1(n) + (1-P) f2(n)] (DuMouchel 1999 eq. 6; openEBGM ``Qn``, untruncated marginals).
EBGM = 2^EBlog2 with EBlog2 = [Qn(psi(alpha1+n) - ln(beta1+E)) + (1-Qn)(psi(alpha2+n) - ln(beta2+E))]/ln 2.
EB05/EB95 are exact quantiles of the mixture, found by a vectorised bracketed Halley iteration and checked:
|F(q) - p| <= 1e-10 for every cell under any prior, or :class:`QuantileError` is raised; never openEBGM's
+/-0.005 bisection (``quantBisect``) or vigipy's 1e-5 CDF tolerance (§7a).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import digamma, gammainc, gammaincinv, gammaln

from pv.stats.gps import GpsPrior

# The contract of every EB05/EB95: |F(q) - p| at most this under the cell's posterior, or an error.
QUANTILE_TOLERANCE = 1e-10
# Root-finding steps on y = ln x stop below this change; x is then exact to ~1e-14 relative.
_STEP_TOLERANCE = 1e-14
# ... or as soon as |F(x) - p| is below this, 1e4 times inside the contract (a flat CDF cannot resolve y).
_GAP_TOLERANCE = 1e-14
# ln x is searched within these limits: a quantile outside [1e-304, 1e304] is not representable.
_Y_LIMITS = (-700.0, 700.0)
# Guarded iteration: at least every second step halves the bracket, so ~60 bisections (a 1400-wide bracket to
# 1e-14) bound the count; more than this means something is wrong and is reported as an error.
_MAX_ITERATIONS = 300


class QuantileError(ValueError):
    """A posterior quantile could not be found to QUANTILE_TOLERANCE (never returned silently)."""


def _inputs(n: npt.ArrayLike, e: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.atleast_1d(np.asarray(n, dtype=np.float64)).ravel()
    e = np.atleast_1d(np.asarray(e, dtype=np.float64)).ravel()
    if n.shape != e.shape:
        raise ValueError("n and e must have the same length")
    valid = np.isfinite(n) & (n >= 0) & np.isfinite(e) & (e > 0)
    return n, e, valid


def _log_weights(n: np.ndarray, e: np.ndarray, prior: GpsPrior) -> tuple[np.ndarray, np.ndarray]:
    """(ln Qn, ln(1-Qn)) from the log-domain negative-binomial marginals; accurate for any n and E."""
    a1, b1, a2, b2, p = prior.theta
    # ln f_k(n) up to the common -ln n! term, which cancels in Qn.
    log_f1 = gammaln(a1 + n) - gammaln(a1) - a1 * np.log1p(e / b1) - n * np.log1p(b1 / e)
    log_f2 = gammaln(a2 + n) - gammaln(a2) - a2 * np.log1p(e / b2) - n * np.log1p(b2 / e)
    logit = (math.log(p) + log_f1) - (math.log1p(-p) + log_f2)
    # ln expit(x) = -ln(1 + e^-x), evaluated without overflow on either side.
    return -np.logaddexp(0.0, -logit), -np.logaddexp(0.0, logit)


def posterior_qn(n: npt.ArrayLike, e: npt.ArrayLike, prior: GpsPrior) -> np.ndarray:
    """Qn, the posterior weight of the first prior component (openEBGM ``Qn``); nan where E <= 0."""
    n, e, valid = _inputs(n, e)
    out = np.full(n.shape, np.nan)
    out[valid] = np.exp(_log_weights(n[valid], e[valid], prior)[0])
    return out


def posterior_cdf(x: npt.ArrayLike, n: npt.ArrayLike, e: npt.ArrayLike, prior: GpsPrior) -> np.ndarray:
    """Posterior mixture CDF Qn*G1(x) + (1-Qn)*G2(x) of lambda at x (one x per cell or a scalar)."""
    n, e, valid = _inputs(n, e)
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), n.shape)
    a1, b1, a2, b2, _ = prior.theta
    out = np.full(n.shape, np.nan)
    nv, ev, xv = n[valid], e[valid], x[valid]
    log_q1, log_q2 = _log_weights(nv, ev, prior)
    out[valid] = np.exp(log_q1) * gammainc(a1 + nv, (b1 + ev) * xv) + np.exp(log_q2) * gammainc(
        a2 + nv, (b2 + ev) * xv
    )
    return out


def _mixture_cdf_gap(y: np.ndarray, prob: float, w1, w2, s1, r1, s2, r2) -> np.ndarray:
    """F(e^y) - prob for the mixture w1*Gamma(s1, rate r1) + w2*Gamma(s2, rate r2)."""
    x = np.exp(y)
    return w1 * gammainc(s1, r1 * x) + w2 * gammainc(s2, r2 * x) - prob


def _bracket_end(
    y: np.ndarray, own: np.ndarray, prob: float, params: tuple[np.ndarray, ...], sign: float
) -> tuple[np.ndarray, np.ndarray]:
    """A bracket end at a component quantile y (``own``: that component is the first), checked.

    There that component's CDF is prob up to gammaincinv's rounding, so F - prob needs the other
    component's CDF only. Where that shortcut leaves the sign in doubt (|F - prob| within 1e-8 of zero, or
    the wrong sign), F is evaluated in full and the end widened (:func:`_widen`).
    """
    w1, w2, s1, r1, s2, r2 = params
    with np.errstate(over="ignore", under="ignore"):
        other = gammainc(np.where(own, s2, s1), np.where(own, r2, r1) * np.exp(np.clip(y, *_Y_LIMITS)))
    gap = np.where(own, w1 * prob + w2 * other, w1 * other + w2 * prob) - prob
    doubtful = ~np.isfinite(y) | ~(sign * gap > 1e-8)
    if doubtful.any():
        exact, exact_gap = _widen(y[doubtful], prob, tuple(v[doubtful] for v in params), sign)
        y, gap = y.copy(), gap.copy()
        y[doubtful], gap[doubtful] = exact, exact_gap
    return y, gap


def _widen(
    y: np.ndarray, prob: float, params: tuple[np.ndarray, ...], sign: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move bracket ends outwards (sign -1: down, +1: up) until F - prob has the right sign there.

    The component quantiles from ``gammaincinv`` bracket the root exactly in theory; in floating point an end
    can sit a few ulps on the wrong side, and an underflowed quantile needs a finite end. A root beyond
    _Y_LIMITS is not representable and raises.
    """
    y = np.clip(y, *_Y_LIMITS)
    gap = _mixture_cdf_gap(y, prob, *params)
    step = 1e-12 * np.maximum(1.0, np.abs(y))
    for _ in range(80):
        wrong = gap > 0 if sign < 0 else gap < 0
        if not wrong.any():
            return y, gap
        y = np.where(wrong, np.clip(y + sign * step, *_Y_LIMITS), y)
        gap = np.where(wrong, _mixture_cdf_gap(y, prob, *params), gap)
        at_limit = wrong & (y == (_Y_LIMITS[0] if sign < 0 else _Y_LIMITS[1]))
        if (at_limit & ((gap > 0) if sign < 0 else (gap < 0))).any():
            raise QuantileError(
                f"the {prob} posterior quantile of some cell lies outside [1e-304, 1e304]: not representable"
            )
        step = step * 4.0
    raise QuantileError(f"could not bracket the {prob} posterior quantile")


def _halley(y: np.ndarray, g: np.ndarray, w1, w2, s1, r1, s2, r2, lg1, lg2) -> np.ndarray:
    """Halley's step on y = ln x for F(e^y) - prob = g (Newton's where Halley's denominator is not positive).

    x times each component's density is dF/dy; its y-derivative x*f(x)*(shape - rate*x) gives Halley's
    cubically convergent step at no extra gammainc cost. Not finite where both densities underflow.
    """
    x = np.exp(y)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        d1 = w1 * np.exp(s1 * np.log(r1 * x) - r1 * x - lg1)
        d2 = w2 * np.exp(s2 * np.log(r2 * x) - r2 * x - lg2)
        slope = d1 + d2
        curvature = d1 * (s1 - r1 * x) + d2 * (s2 - r2 * x)
        denominator = 2.0 * slope * slope - g * curvature
        return np.where(denominator > 0, y - 2.0 * g * slope / denominator, y - g / slope)


def _mixture_quantile(
    prob: float, n: np.ndarray, e: np.ndarray, q1: np.ndarray, q2: np.ndarray, prior: GpsPrior
) -> np.ndarray:
    """Quantile at ``prob`` of q1*Gamma(alpha1+n, beta1+E) + q2*Gamma(alpha2+n, beta2+E), vectorised.

    Both component CDFs are increasing, so the mixture quantile lies between the two component quantiles:
    that bracket is checked (and widened by a few ulps where ``gammaincinv`` lands on the wrong side), then
    kept for the whole search. Steps are Halley's (Newton's where Halley's denominator is not positive) on
    y = ln x, where the CDF is a smooth sigmoid; a step that leaves the bracket, or one longer than half the
    step before last (Brent's rule), gives way to bisection. Bisection is what makes near-degenerate
    mixtures safe: two narrow, far-apart components leave the CDF flat between them, where Newton-type
    steps and regula falsi crawl (an earlier version of this function stopped after a fixed number of such
    steps and returned a component quantile, F(q) = 0.147 for a 5% quantile). Every result is checked:
    |F(q) - prob| <= QUANTILE_TOLERANCE, or :class:`QuantileError` is raised.
    """
    a1, b1, a2, b2, _ = prior.theta
    distinct_n, n_index = np.unique(n, return_inverse=True)
    s1, s2 = a1 + n, a2 + n
    r1, r2 = b1 + e, b2 + e
    with np.errstate(divide="ignore"):
        y1 = np.log(gammaincinv(a1 + distinct_n, prob)[n_index] / r1)
        y2 = np.log(gammaincinv(a2 + distinct_n, prob)[n_index] / r2)
    params = (q1, q2, s1, r1, s2, r2)
    first_lower = y1 <= y2
    lo, g_lo = _bracket_end(np.where(first_lower, y1, y2), first_lower, prob, params, -1.0)
    hi, g_hi = _bracket_end(np.where(first_lower, y2, y1), ~first_lower, prob, params, 1.0)
    result = np.where(np.abs(g_lo) <= np.abs(g_hi), lo, hi)
    # |F(q) - prob| where it was computed in full at q itself (the rest is checked at the end)
    known = np.full(result.shape, np.nan)
    active = np.flatnonzero((hi > lo) & (g_lo != 0) & (g_hi != 0))
    lg1 = gammaln(a1 + distinct_n)[n_index]
    lg2 = gammaln(a2 + distinct_n)[n_index]
    lo, hi, g_lo, g_hi = lo[active], hi[active], g_lo[active], g_hi[active]
    w1, w2, c1, k1, c2, k2 = (v[active] for v in params)
    h1, h2 = lg1[active], lg2[active]
    # First step from the end at the heavier component's quantile (usually close to the answer), whose
    # F - prob is already known; into the bracket's middle if it leaves it.
    heavy_low = (w1 >= w2) == first_lower[active]
    y = _halley(np.where(heavy_low, lo, hi), np.where(heavy_low, g_lo, g_hi), w1, w2, c1, k1, c2, k2, h1, h2)
    y = np.where(np.isfinite(y) & (y > lo) & (y < hi), y, 0.5 * (lo + hi))
    # The last two step lengths (Brent's rule: a step must be under half the one before last).
    moves = [np.full(active.size, np.inf), np.full(active.size, np.inf)]
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        x = np.exp(y)
        g = w1 * gammainc(c1, k1 * x) + w2 * gammainc(c2, k2 * x) - prob
        below = g < 0
        lo = np.where(below, y, lo)
        hi = np.where(below, hi, y)
        step = _halley(y, g, w1, w2, c1, k1, c2, k2, h1, h2)
        width = hi - lo
        stalled = np.abs(step - y) > 0.5 * moves[0]
        bisect = ~np.isfinite(step) | (step <= lo) | (step >= hi) | stalled
        new = np.where(bisect, 0.5 * (lo + hi), step)
        scale = np.maximum(1.0, np.abs(y))
        change = np.abs(new - y)
        moves = [moves[1], change]
        # Done when F(e^y) is already within rounding of prob, or the next point is pinned down in y.
        exact = np.abs(g) <= _GAP_TOLERANCE
        finished = (
            exact | (~bisect & (change <= _STEP_TOLERANCE * scale)) | (width <= _STEP_TOLERANCE * scale)
        )
        result[active[finished]] = np.where(exact[finished], y[finished], new[finished])
        known[active[finished & exact]] = np.abs(g[finished & exact])
        keep = ~finished
        active, y, lo, hi = active[keep], new[keep], lo[keep], hi[keep]
        w1, w2, c1, k1, c2, k2, h1, h2 = (v[keep] for v in (w1, w2, c1, k1, c2, k2, h1, h2))
        moves = [moves[0][keep], moves[1][keep]]
    if active.size:
        raise QuantileError(f"the {prob} posterior quantile did not converge for {active.size} cells")
    gap = known
    unchecked = np.isnan(known)
    gap[unchecked] = np.abs(_mixture_cdf_gap(result[unchecked], prob, *(v[unchecked] for v in params)))
    if not np.all(gap <= QUANTILE_TOLERANCE):
        worst = int(np.nanargmax(np.where(np.isfinite(gap), gap, np.inf)))
        raise QuantileError(
            f"the {prob} posterior quantile misses its equation by {gap[worst]:.3g} (n = {n[worst]:g}, "
            f"E = {e[worst]:.6g}, prior {prior.theta}); tolerance {QUANTILE_TOLERANCE:g}"
        )
    return np.exp(result)


def posterior_quantile(prob: float, n: npt.ArrayLike, e: npt.ArrayLike, prior: GpsPrior) -> np.ndarray:
    """Exact ``prob`` quantile of each cell's posterior mixture (openEBGM ``QUANT_*``); nan where E <= 0."""
    if not 0.0 < prob < 1.0:
        raise ValueError("prob must lie strictly between 0 and 1")
    n, e, valid = _inputs(n, e)
    out = np.full(n.shape, np.nan)
    unique_n, unique_e, inverse = _distinct_cells(n[valid], e[valid])
    log_q1, log_q2 = _log_weights(unique_n, unique_e, prior)
    quantile = _mixture_quantile(prob, unique_n, unique_e, np.exp(log_q1), np.exp(log_q2), prior)
    out[valid] = quantile[inverse]
    return out


def _distinct_cells(n: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (n, E) pairs and the map back; report-level margins repeat, so cells share posteriors."""
    if n.size == 0:
        return n, e, np.zeros(0, dtype=np.int64)
    order = np.lexsort((e, n))
    ns, es = n[order], e[order]
    new = np.empty(n.size, dtype=bool)
    new[0] = True
    new[1:] = (ns[1:] != ns[:-1]) | (es[1:] != es[:-1])
    group = np.cumsum(new) - 1
    inverse = np.empty(n.size, dtype=np.int64)
    inverse[order] = group
    return ns[new], es[new], inverse


def ebgm(n: npt.ArrayLike, e: npt.ArrayLike, prior: GpsPrior) -> pd.DataFrame:
    """EBGM, EB05 and EB95 per cell under a fixed prior (statistics.md §5), unrounded.

    ``n`` is the observed count a and ``e`` the expected count E of each pair (the same E as the IC, §12.1).
    Cells with E <= 0 or an invalid n give nan. EB05/EB95 are exact posterior quantiles, |F(q) - p| <=
    QUANTILE_TOLERANCE (1e-10) or :class:`QuantileError`, computed once per distinct (n, E) pair.
    """
    n, e, valid = _inputs(n, e)
    out = np.full((n.size, 3), np.nan)
    unique_n, unique_e, inverse = _distinct_cells(n[valid], e[valid])
    a1, b1, a2, b2, _ = prior.theta
    log_q1, log_q2 = _log_weights(unique_n, unique_e, prior)
    q1, q2 = np.exp(log_q1), np.exp(log_q2)
    eblog2 = (
        q1 * (digamma(a1 + unique_n) - np.log(b1 + unique_e))
        + q2 * (digamma(a2 + unique_n) - np.log(b2 + unique_e))
    ) / math.log(2.0)
    scores = np.column_stack(
        [
            np.exp2(eblog2),
            _mixture_quantile(0.05, unique_n, unique_e, q1, q2, prior),
            _mixture_quantile(0.95, unique_n, unique_e, q1, q2, prior),
        ]
    )
    out[valid] = scores[inverse]
    return pd.DataFrame(out, columns=["ebgm", "eb05", "eb95"])
