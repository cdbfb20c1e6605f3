"""GPS posterior per cell: Qn, EBGM and exact EB05/EB95 (statistics.md §5).

Given the prior theta, the posterior of lambda for a cell with count n and expectation E is the mixture
Qn*Gamma(alpha1+n, rate beta1+E) + (1-Qn)*Gamma(alpha2+n, rate beta2+E), with
Qn = P f1(n) / [P f1(n) + (1-P) f2(n)] (DuMouchel 1999 eq. 6; openEBGM ``Qn``, untruncated marginals).
EBGM = 2^EBlog2 with EBlog2 = [Qn(psi(alpha1+n) - ln(beta1+E)) + (1-Qn)(psi(alpha2+n) - ln(beta2+E))]/ln 2.
EB05/EB95 are exact quantiles of the mixture, found by a vectorised safeguarded Halley iteration to ~1e-13
relative instead of openEBGM's +/-0.005 bisection (``quantBisect``) or vigipy's 1e-5 CDF tolerance (§7a).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import digamma, gammainc, gammaincinv, gammaln

from pv.stats.gps import GpsPrior

# Root-finding steps on y = ln x stop below this change; x is then exact to ~1e-13 relative.
_STEP_TOLERANCE = 1e-13
_HALLEY_FINAL_STEP = 1e-6
_MAX_ITERATIONS = 100


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


def _secant(lo: np.ndarray, hi: np.ndarray, g_lo: np.ndarray, g_hi: np.ndarray) -> np.ndarray:
    """Regula falsi point of the bracket, clamped to its middle 98% so the bracket keeps shrinking."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(g_lo / (g_lo - g_hi), 0.01, 0.99)
    return lo + np.where(np.isfinite(t), t, 0.5) * (hi - lo)


def _mixture_quantile(
    prob: float, n: np.ndarray, e: np.ndarray, q1: np.ndarray, q2: np.ndarray, prior: GpsPrior
) -> np.ndarray:
    """Quantile at ``prob`` of q1*Gamma(alpha1+n, beta1+E) + q2*Gamma(alpha2+n, beta2+E), vectorised.

    Both component CDFs are increasing, so at the smaller component quantile the mixture CDF is <= prob and
    at the larger one >= prob: the root is bracketed, and F at each end costs one gammainc (the other
    component's CDF is exactly prob there). Halley's method on y = ln x (the CDF is a smooth sigmoid in y)
    starts from the regula falsi point of the bracket and falls back to regula falsi whenever a step leaves
    the bracket (rtsafe-style safeguarding); converged cells leave the active set. The unit-rate
    component quantiles and ln Gamma(shape) depend on n only and are computed once per distinct n.
    """
    a1, b1, a2, b2, _ = prior.theta
    distinct_n, n_index = np.unique(n, return_inverse=True)
    shape1, shape2 = a1 + n, a2 + n
    rate1, rate2 = b1 + e, b2 + e
    with np.errstate(divide="ignore"):
        # Clipping keeps the bracket finite when a tiny shape (n = 0) underflows the quantile to 0.
        y1 = np.clip(np.log(gammaincinv(a1 + distinct_n, prob)[n_index] / rate1), -740.0, 700.0)
        y2 = np.clip(np.log(gammaincinv(a2 + distinct_n, prob)[n_index] / rate2), -740.0, 700.0)
    result = np.where(q1 >= q2, y1, y2)
    # One component carries (almost) all the mass, or both give the same quantile: that is the answer.
    active = np.flatnonzero((np.abs(y1 - y2) > _STEP_TOLERANCE) & (q1 > 1e-16) & (q2 > 1e-16))
    y1, y2, w1, w2 = y1[active], y2[active], q1[active], q2[active]
    s1, r1, s2, r2 = shape1[active], rate1[active], shape2[active], rate2[active]
    lg1 = gammaln(a1 + distinct_n)[n_index[active]]
    lg2 = gammaln(a2 + distinct_n)[n_index[active]]
    # F - prob at each bracket end needs one gammainc: there the other component's CDF is exactly prob.
    g1 = w1 * prob + w2 * gammainc(s2, r2 * np.exp(y1)) - prob
    g2 = w1 * gammainc(s1, r1 * np.exp(y2)) + w2 * prob - prob
    first = y1 < y2
    lo, hi = np.where(first, y1, y2), np.where(first, y2, y1)
    g_lo, g_hi = np.where(first, g1, g2), np.where(first, g2, g1)
    y = _secant(lo, hi, g_lo, g_hi)
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        x = np.exp(y)
        g = w1 * gammainc(s1, r1 * x) + w2 * gammainc(s2, r2 * x) - prob
        # x * density of each component, exp(shape*ln(rate*x) - rate*x - lnGamma(shape)), is dF/dy; its
        # y-derivative x*f(x)*(shape - rate*x) gives Halley's cubically convergent step at no gammainc cost.
        d1 = w1 * np.exp(s1 * np.log(r1 * x) - r1 * x - lg1)
        d2 = w2 * np.exp(s2 * np.log(r2 * x) - r2 * x - lg2)
        slope = d1 + d2
        curvature = d1 * (s1 - r1 * x) + d2 * (s2 - r2 * x)
        below = g < 0
        lo, g_lo = np.where(below, y, lo), np.where(below, g, g_lo)
        hi, g_hi = np.where(below, hi, y), np.where(below, g_hi, g)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            denominator = 2.0 * slope * slope - g * curvature
            halley = y - 2.0 * g * slope / denominator
            use_halley = denominator > 0
            step = np.where(use_halley, halley, y - g / slope)
        # Outside the bracket the step is replaced by regula falsi, itself kept off the bracket ends.
        outside = ~np.isfinite(step) | (step <= lo) | (step >= hi)
        step = np.where(outside, _secant(lo, hi, g_lo, g_hi), step)
        scale = np.maximum(1.0, np.abs(y))
        change = np.abs(step - y)
        # A Halley step below 1e-6 leaves an error ~ C*1e-18 (C <= ~1e4 here): taking it is exact enough.
        finished = (
            (change <= _STEP_TOLERANCE * scale)
            | (use_halley & ~outside & (change <= _HALLEY_FINAL_STEP * scale))
            | (g == 0)
            | (hi - lo <= _STEP_TOLERANCE * scale)
        )
        result[active[finished]] = np.where(g[finished] == 0, y[finished], step[finished])
        keep = ~finished
        active, y, lo, hi, g_lo, g_hi = (v[keep] for v in (active, step, lo, hi, g_lo, g_hi))
        s1, r1, s2, r2, w1, w2, lg1, lg2 = (v[keep] for v in (s1, r1, s2, r2, w1, w2, lg1, lg2))
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
    Cells with E <= 0 or an invalid n give nan. EB05/EB95 are exact posterior quantiles (|F(q) - p| at
    rounding level), computed once per distinct (n, E) pair.
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
