"""GPS / MGPS prior: DuMouchel's two-gamma mixture fitted by maximum likelihood as openEBGM does.

Model (statistics.md §5): N ~ Poisson(lambda*E), lambda ~ P*Gamma(alpha1, beta1) + (1-P)*Gamma(alpha2, beta2)
(shape, rate), so the marginal of N is a mixture of negative binomials f_k(n) = NB(n; size alpha_k,
prob beta_k/(beta_k+E)). The likelihood is openEBGM's ``negLL`` (N* = 1 by default): observed cells only,
each component truncated at N* separately,

    -sum_i w_i log[ P f1(n_i)/(1 - F1(N*-1)) + (1-P) f2(n_i)/(1 - F2(N*-1)) ],

not vigipy's whole-mixture truncation (§7a, bug 1). Everything is evaluated in the log domain with
``gammaln``/``log1p``/``expm1``/``logaddexp``; the gradient is analytic for every N*.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import OptimizeResult, OptimizeWarning, minimize
from scipy.special import betainc, betaln, digamma, expit, gammaln

Theta = tuple[float, float, float, float, float]
# An optimisation result: (theta, total -LL on the points optimised, converged, method).
Solution = tuple[Theta, float, bool, str]

# openEBGM's vignette starting points (alpha1, beta1, alpha2, beta2, P), then DuMouchel's FDA prior as used
# by PhViD (PRIOR.INIT) and vigipy (statistics.md §5, §7a, §7d).
DEFAULT_STARTS: tuple[Theta, ...] = (
    (0.2, 0.1, 2.0, 4.0, 1.0 / 3.0),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
    (0.2041, 0.05816, 1.415, 1.838, 0.0969),
)
# openEBGM autoHyper: the chosen estimate must lie within these absolute distances of another converged one.
AGREEMENT_TOLERANCE: Theta = (0.05, 0.05, 0.2, 0.2, 0.025)

_LOG_BOUNDS = (math.log(1e-6), math.log(1e4))
_LOGIT_BOUNDS = (-30.0, 30.0)
# The same box on the free scale (log alpha1, log beta1, log alpha2, log beta2, logit p).
_LOWS = np.array([_LOG_BOUNDS[0]] * 4 + [_LOGIT_BOUNDS[0]])
_HIGHS = np.array([_LOG_BOUNDS[1]] * 4 + [_LOGIT_BOUNDS[1]])
# The multistart search runs on a coarse squash of every count; only the best basins are refined on the
# fit data. Its bias (~(n+alpha)*0.03^2/8 per cell) moves optima slightly but not between basins.
_SEARCH_REL_WIDTH = 3e-2


@dataclass(frozen=True)
class GpsPrior:
    """GPS hyperparameters theta = (alpha1, beta1, alpha2, beta2, p) plus how they were obtained.

    Component 1 is the one with the larger prior mean alpha/beta (the "signal" component; openEBGM's CAERS fit
    has p = 0.065 on it). ``neg_log_likelihood`` is the per-component truncated -LL on the full (unsquashed)
    data at theta; ``runner_up_neg_log_likelihood`` is the same for the best *other* local optimum the starts
    found (nan if none): the likelihood is often multimodal (on CAERS openEBGM's documented estimate is the
    runner-up, 0.275 above the global optimum), and a small gap flags a prior that is weakly determined;
    ``runner_up`` is that optimum's theta. ``n_points`` cells were used, ``n_squashed`` points after
    squashing; ``n_starts`` starting points were optimised and ``n_agree`` converged starts lie within
    openEBGM's tolerance of the chosen one. ``reason`` says in words why a fit did not converge (empty when
    it did). A hand-made prior (e.g. a stored fit) keeps the defaults, ``method="fixed"``. EBGM values are
    only comparable under the same prior (§5).
    """

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float
    neg_log_likelihood: float = math.nan
    runner_up_neg_log_likelihood: float = math.nan
    converged: bool = True
    n_points: int = 0
    n_squashed: int = 0
    n_agree: int = 0
    method: str = "fixed"
    runner_up: Theta | None = None
    n_starts: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        shapes_rates = (self.alpha1, self.beta1, self.alpha2, self.beta2)
        if not all(math.isfinite(x) and x > 0 for x in shapes_rates) or not 0.0 < self.p < 1.0:
            raise ValueError(f"invalid GPS prior {self.theta}: need alpha, beta > 0 and 0 < p < 1")

    @property
    def theta(self) -> Theta:
        return (self.alpha1, self.beta1, self.alpha2, self.beta2, self.p)

    @property
    def log_likelihood_gap(self) -> float:
        """-LL of the runner-up optimum minus -LL of the chosen one (nan without a runner-up)."""
        return self.runner_up_neg_log_likelihood - self.neg_log_likelihood


def _canonical(theta: Sequence[float]) -> Theta:
    """Label-switch so that component 1 has the larger prior mean (the mixture is otherwise unidentified)."""
    a1, b1, a2, b2, p = (float(x) for x in theta)
    if a1 / b1 < a2 / b2:
        return (a2, b2, a1, b1, 1.0 - p)
    return (a1, b1, a2, b2, p)


class _Points:
    """Cells (n, E, weight) prepared once per fit: n >= N*, E > 0, distinct n values for gammaln/digamma."""

    def __init__(self, n: np.ndarray, e: np.ndarray, w: np.ndarray, min_n: int) -> None:
        self.n, self.e, self.w, self.min_n = n, e, w, min_n
        self.distinct_n, self.n_index = np.unique(n, return_inverse=True)
        self.total_weight = float(w.sum())
        self.log_factorial = float(np.sum(w * gammaln(n + 1.0)))


def _points(n: npt.ArrayLike, e: npt.ArrayLike, weights: npt.ArrayLike | None, min_n: int) -> _Points:
    """The usable cells, sorted by (n, E, weight).

    Sorting makes every sum in the likelihood, the squashing and hence the optimum a function of the set of
    cells alone: rows arriving in another order (a parallel aggregation) give the same prior to the bit.
    """
    n = np.asarray(n, dtype=np.float64).ravel()
    e = np.asarray(e, dtype=np.float64).ravel()
    w = np.ones_like(n) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not n.shape == e.shape == w.shape:
        raise ValueError("n, e and weights must have the same length")
    keep = (n >= min_n) & np.isfinite(e) & (e > 0) & np.isfinite(n) & (w > 0)
    n, e, w = n[keep], e[keep], w[keep]
    order = np.lexsort((w, e, n))
    return _Points(n[order], e[order], w[order], min_n)


def _component(alpha: float, beta: float, pts: _Points, grad: bool) -> tuple[np.ndarray, ...]:
    """log f_k(n)/(1-F_k(N*-1)) per point and, if asked, its derivatives in alpha and beta."""
    n, e = pts.n, pts.e
    log_ratio = np.log1p(e / beta)  # log((beta+E)/beta)
    lg = (gammaln(alpha + pts.distinct_n) - gammaln(alpha))[pts.n_index]
    log_f = lg - alpha * log_ratio - n * np.log1p(beta / e)
    if pts.min_n == 1:
        # 1 - F(0) = 1 - (beta/(beta+E))^alpha
        t = alpha * log_ratio
        log_f = log_f - np.log(-np.expm1(-t))
    elif pts.min_n > 1:
        log_survival = np.log(betainc(pts.min_n, alpha, e / (beta + e)))
        log_f = log_f - log_survival
    if not grad:
        return (log_f,)
    d_alpha = (digamma(alpha + pts.distinct_n) - digamma(alpha))[pts.n_index] - log_ratio
    d_beta = (alpha * e - n * beta) / (beta * (beta + e))
    if pts.min_n == 1:
        inv = 1.0 / np.expm1(t)
        d_alpha = d_alpha - log_ratio * inv
        d_beta = d_beta + alpha * e / (beta * (beta + e)) * inv
    elif pts.min_n > 1:
        # S = P(X >= N*) = I_x(N*, alpha) with x = E/(beta+E). d/dbeta goes through x and the beta density,
        # exactly; d/dalpha has no closed form and comes from a central difference of ln I in alpha alone
        # (I is accurate even when tiny). Summing dS over the lower tail instead cancels catastrophically.
        x = e / (beta + e)
        log_x, log_1mx = -np.log1p(beta / e), -log_ratio
        log_density = (pts.min_n - 1) * log_x + (alpha - 1.0) * log_1mx - betaln(pts.min_n, alpha)
        d_beta = d_beta + np.exp(log_density - log_survival) * e / (beta + e) ** 2
        h = 1e-6 * alpha
        upper, lower = betainc(pts.min_n, alpha + h, x), betainc(pts.min_n, alpha - h, x)
        d_alpha = d_alpha - (np.log(upper) - np.log(lower)) / (2 * h)
    return log_f, d_alpha, d_beta


def _nll(theta: Sequence[float], pts: _Points, grad: bool) -> tuple[float, np.ndarray | None]:
    """Total -LL (including log n!) and its gradient in the natural parameters."""
    a1, b1, a2, b2, p = theta
    c1 = _component(a1, b1, pts, grad)
    c2 = _component(a2, b2, pts, grad)
    u1 = math.log(p) + c1[0]
    u2 = math.log1p(-p) + c2[0]
    ll = np.logaddexp(u1, u2)
    value = -float(np.sum(pts.w * ll)) + pts.log_factorial
    if not grad:
        return value, None
    r = np.exp(u1 - ll)  # posterior share of component 1 under the truncated model
    wr, wq = pts.w * r, pts.w * (1.0 - r)
    gradient = -np.array(
        [
            np.sum(wr * c1[1]),
            np.sum(wr * c1[2]),
            np.sum(wq * c2[1]),
            np.sum(wq * c2[2]),
            (wr.sum() / p) - (wq.sum() / (1.0 - p)),
        ]
    )
    return value, gradient


def negative_log_likelihood(
    theta: Sequence[float],
    n: npt.ArrayLike,
    e: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    min_n: int = 1,
) -> float:
    """openEBGM's per-component truncated negative log-likelihood (``negLL`` / ``negLLsquash``, §5).

    Only cells with n >= ``min_n`` (N*) and E > 0 enter; ``min_n=0`` gives the untruncated ``negLLzero``.
    ``weights`` are squashing bin sizes. The constant sum of log n! is included so values equal openEBGM's.
    """
    theta = tuple(float(x) for x in theta)
    if len(theta) != 5:
        raise ValueError("theta must be (alpha1, beta1, alpha2, beta2, p)")
    return _nll(theta, _points(n, e, weights, int(min_n)), grad=False)[0]


def squash_points(
    n: npt.ArrayLike, e: npt.ArrayLike, *, rel_width: float = 1e-3, max_n: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data squashing for the prior fit: (n, mean E, weight) per bin of points with equal n and similar E.

    openEBGM's ``squashData`` bins a fixed number of consecutive E values per count and leaves the largest E
    unsquashed; here a bin is instead a cell of a geometric grid in E (bin edges (1+rel_width)^k), so the E
    values merged into a point never differ by more than a factor 1+rel_width wherever they lie. Replacing
    them by their mean changes each log-likelihood term by at most ~ (n+alpha)*rel_width^2/8 (the curvature
    of the NB log-pmf in ln E is below n+alpha), i.e. ~1e-7 per cell by default, while a million cells
    collapse to about a hundred thousand points (identical E values, common with report-level margins, merge
    exactly); on 1M generated tables theta moved by ~1e-7 relative. Cells with n > ``max_n`` are kept as
    they are, as openEBGM does for counts it is not asked to squash; they are few and most informative.
    E must be > 0 (the fit drops other cells before squashing).
    """
    n = np.asarray(n, dtype=np.float64).ravel()
    e = np.asarray(e, dtype=np.float64).ravel()
    binned = n <= max_n
    nb, eb = n[binned], e[binned]
    if nb.size == 0:
        return n, e, np.ones_like(n)
    grid = np.floor(np.log(eb) / math.log1p(rel_width)).astype(np.int64)
    grid -= grid.min()
    key = nb.astype(np.int64) * (int(grid.max()) + 1) + grid
    _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    mean_e = np.bincount(inverse, weights=eb) / counts
    return (
        np.concatenate([nb[first], n[~binned]]),
        np.concatenate([mean_e, e[~binned]]),
        np.concatenate([counts.astype(np.float64), np.ones(int((~binned).sum()))]),
    )


def _to_free(theta: Sequence[float]) -> np.ndarray:
    a1, b1, a2, b2, p = theta
    return np.array([math.log(a1), math.log(b1), math.log(a2), math.log(b2), math.log(p / (1.0 - p))])


def _from_free(x: np.ndarray) -> Theta:
    return (
        math.exp(x[0]),
        math.exp(x[1]),
        math.exp(x[2]),
        math.exp(x[3]),
        float(expit(x[4])),
    )


def _free_objective(x: np.ndarray, pts: _Points) -> tuple[float, np.ndarray]:
    """Mean -LL and gradient in (log alpha1, log beta1, log alpha2, log beta2, logit p).

    Outside the box _LOWS.._HIGHS (where exp overflows or p rounds to 1) the value continues as the value at
    the nearest box point plus a quadratic penalty, so unbounded optimisers get finite, smooth numbers.
    """
    inside = np.clip(x, _LOWS, _HIGHS)
    theta = _from_free(inside)
    outside = x - inside
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        value, grad = _nll(theta, pts, grad=True)
    if not math.isfinite(value) or not np.all(np.isfinite(grad)):
        return math.inf, np.zeros(5)
    chain = np.array([theta[0], theta[1], theta[2], theta[3], theta[4] * (1.0 - theta[4])])
    value = value / pts.total_weight + float(outside @ outside)
    gradient = np.where(outside == 0, grad * chain / pts.total_weight, 2.0 * outside)
    return value, gradient


def _free_value(x: np.ndarray, pts: _Points) -> float:
    inside = np.clip(x, _LOWS, _HIGHS)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        value = _nll(_from_free(inside), pts, grad=False)[0]
    outside = x - inside
    return value / pts.total_weight + float(outside @ outside) if math.isfinite(value) else math.inf


def _degeneracy(theta: Theta) -> str:
    """What makes theta a vanishing or runaway component, in words ("" if nothing does).

    The optimiser drifts along a flat ridge towards the boundary when the likelihood has no interior maximum
    there: p or 1-p below 1e-6, a shape below 0.01, a rate below 1e-5, a shape or rate above 1e3. A shape
    -> 0 under the truncated likelihood is the log-series limit of the negative binomial; below 0.01 the 5%
    posterior quantile of a cell with n = 0 would underflow. Such stops never count as converged.
    """
    names = ("alpha1", "beta1", "alpha2", "beta2")
    found = [f"p = {theta[4]:.3g}"] if min(theta[4], 1.0 - theta[4]) < 1e-6 else []
    for name, value in zip(names, theta[:4], strict=True):
        low = 1e-2 if name.startswith("alpha") else 1e-5
        if value < low or value > 1e3:
            found.append(f"{name} = {value:.3g}")
    return ", ".join(found)


def _degenerate(theta: Theta) -> bool:
    return bool(_degeneracy(theta))


def _stationary(result: OptimizeResult, pts: _Points) -> bool:
    """Converged, or stopped by a failed line search where the gradient has (nearly) vanished.

    Quasi-Newton runs often end with a line-search failure at the optimum itself: the mean -LL can no longer
    decrease in floating point although the gradient is ~1e-8. The gradient test (mean -LL scale) accepts
    such points; :func:`_polish` then finishes them.
    """
    if not math.isfinite(result.fun):
        return False
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        gradient = _free_objective(result.x, pts)[1]
    return bool(np.max(np.abs(gradient)) < 1e-5)


def _hessian(x: np.ndarray, pts: _Points, step: float = 1e-5) -> np.ndarray:
    """Hessian of the mean -LL on the free scale by central differences of the analytic gradient."""
    rows = []
    for i in range(x.size):
        shift = np.zeros_like(x)
        shift[i] = step
        rows.append((_free_objective(x + shift, pts)[1] - _free_objective(x - shift, pts)[1]) / (2 * step))
    hessian = np.array(rows)
    return (hessian + hessian.T) / 2


def _polish(theta: Theta, pts: _Points) -> tuple[Theta, float, bool]:
    """Newton steps from a quasi-Newton optimum, so theta is exact along weakly determined directions too.

    Quasi-Newton stops when the mean -LL stalls in floating point, which can leave theta off by ~1e-4 along
    the flattest direction of the likelihood; Newton steps on the gradient do not depend on resolving -LL
    differences. Returns the polished theta, its total -LL and whether the Hessian is positive definite
    (a minimum, not a saddle).
    """
    x = _to_free(theta)
    value, gradient = _free_objective(x, pts)
    hessian = _hessian(x, pts)
    for _ in range(6):
        try:
            step = -np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        candidate = x + step
        if not np.all(np.isfinite(candidate)) or np.any(candidate <= _LOWS) or np.any(candidate >= _HIGHS):
            break
        new_value, new_gradient = _free_objective(candidate, pts)
        if not np.max(np.abs(new_gradient)) < np.max(np.abs(gradient)):
            break
        x, value, gradient = candidate, new_value, new_gradient
        if np.max(np.abs(step)) < 1e-10:
            break
        hessian = _hessian(x, pts)
    minimum = bool(np.all(np.linalg.eigvalsh(hessian) > 0))
    return _canonical(_from_free(x)), value * pts.total_weight, minimum


def _minimize(objective, x0: np.ndarray, pts: _Points, method: str, **kwargs) -> OptimizeResult:
    # Trial points far out on the free scale overflow; the line searches then warn, but convergence is
    # judged afterwards by _stationary/_degenerate, so those warnings carry no information for the caller.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", OptimizeWarning)
        return minimize(objective, x0, args=(pts,), method=method, **kwargs)


def _optimise(start: Sequence[float], pts: _Points, fallback: bool = True) -> Solution:
    """One start on the free scale: BFGS, then bounded TNC, then Nelder-Mead, until one converges.

    None of them goes through BLAS: scipy's L-BFGS-B does, and OpenBLAS's worker threads made each of its
    iterations 10-100x slower whenever the 2-core machine was busy (2 s instead of 0.04 s on CAERS). BFGS
    needs no bounds on the free scale (see :func:`_free_objective`); the bounded truncated-Newton TNC takes
    over where BFGS stalls inside the model, and Nelder-Mead where TNC does too (skipped with
    ``fallback=False``). A start that runs into a degenerate
    region (:func:`_degenerate`) is abandoned there: the fallbacks would follow it.
    """
    bounds = list(zip(_LOWS, _HIGHS, strict=True))
    x0 = np.clip(_to_free(start), _LOWS, _HIGHS)

    def accepted(result: OptimizeResult) -> bool:
        inside = bool(np.all((result.x > _LOWS) & (result.x < _HIGHS)))
        return inside and _stationary(result, pts) and not _degenerate(_from_free(result.x))

    def stalled(result: OptimizeResult) -> bool:
        """Not converged, but not in a degenerate region either: worth another method."""
        at = np.clip(result.x, _LOWS, _HIGHS) if np.all(np.isfinite(result.x)) else x0
        return not accepted(result) and not _degenerate(_from_free(at))

    options = {"gtol": 1e-9, "maxiter": 2000}
    result, method = _minimize(_free_objective, x0, pts, "BFGS", jac=True, options=options), "BFGS"
    if stalled(result):
        options = {"maxfun": 1000, "ftol": 1e-15, "gtol": 1e-9, "xtol": 1e-12}
        result = _minimize(_free_objective, x0, pts, "TNC", jac=True, bounds=bounds, options=options)
        method = "TNC"
    if fallback and stalled(result):
        restart = np.clip(result.x, _LOWS, _HIGHS) if np.all(np.isfinite(result.x)) else x0
        options = {"maxfev": 2000, "xatol": 1e-9, "fatol": 1e-13, "adaptive": True}
        result = _minimize(_free_value, restart, pts, "Nelder-Mead", bounds=bounds, options=options)
        method = "Nelder-Mead"
    theta = _canonical(_from_free(np.clip(result.x, _LOWS, _HIGHS)))
    return theta, float(result.fun) * pts.total_weight, accepted(result), method


def _close(a: Sequence[float], b: Sequence[float]) -> bool:
    return bool(np.all(np.abs(np.subtract(a, b)) < np.array(AGREEMENT_TOLERANCE)))


def _basins(solutions: list[Solution]) -> list[list[Solution]]:
    """Converged solutions grouped by openEBGM's closeness rule, best (smallest -LL) basin first."""
    basins: list[list[Solution]] = []
    for solution in sorted((s for s in solutions if s[2]), key=lambda s: s[1]):
        home = next((basin for basin in basins if _close(basin[0][0], solution[0])), None)
        if home is None:
            basins.append([solution])
        else:
            home.append(solution)
    return basins


def fit_gps_prior(
    n: npt.ArrayLike,
    e: npt.ArrayLike,
    *,
    squash: bool = True,
    min_n: int = 1,
    starts: Sequence[Sequence[float]] = DEFAULT_STARTS,
    seed: int = 0,
    n_random_starts: int = 24,
    squash_rel_width: float = 1e-3,
    squash_max_n: int = 50,
    n_confirm: int = 3,
) -> GpsPrior:
    """Maximum-likelihood GPS prior, openEBGM ``autoHyper``-equivalent (statistics.md §5, §12.5).

    Cells with n >= ``min_n`` (N*, default 1: observed pairs only) and E > 0 enter the per-component
    truncated likelihood. Optimisation is on (log alpha1, log beta1, log alpha2, log beta2, logit p), which
    keeps every parameter in its domain, with the analytic gradient: BFGS, then bounded TNC, then
    Nelder-Mead for a start that has not converged (see :func:`_optimise`).

    1. Search: each start (``starts``: openEBGM's five vignette starts and DuMouchel's prior; then
       ``n_random_starts`` drawn with ``seed``, alpha and beta log-uniform on [0.01, 100]) is optimised on a
       coarse squash of all cells (:func:`squash_points` with relative E-width 3e-2 for every n), which is
       cheap: a million cells become ~20,000 points.
    2. Basins: converged interior solutions are grouped with openEBGM's closeness rule
       (``AGREEMENT_TOLERANCE``, after putting the larger-mean component first). As in ``autoHyper`` the
       best basin must hold at least two starts; if it holds one, ``n_confirm`` restarts jittered around it
       (sd 0.3 on the free scale) are added.
    3. Decision: the two best basins are re-optimised on the fit data, the squash with relative width
       ``squash_rel_width`` (``squash=True``) or every cell unsquashed (``squash=False``), and the lower -LL
       wins, so the choice never rests on the coarse squash. The winner is polished by Newton steps
       (Hessian from central differences of the analytic gradient) and must have a positive definite
       Hessian. Otherwise the best solution is returned with ``converged=False``.

    The likelihood is often multimodal and which optimum a start reaches depends on the optimiser's path,
    hence the many starts (about one random start in five reaches the better CAERS optimum). On CAERS the
    two interior optima are openEBGM's documented estimate (3.256, 0.400, 2.024, 1.906, 0.0653; -LL
    4162.456), reached by most starts, and a better one (20.96, 1.658, 1.738, 1.564, 0.0349; -LL
    4162.181); this function returns the latter and reports the former's -LL as the runner-up.
    """
    min_n = int(min_n)
    full = _points(n, e, None, min_n)
    if full.n.size == 0:
        raise ValueError(f"no cells with n >= {min_n} and E > 0 to fit a GPS prior on")
    fine = full
    if squash:
        fine = _Points(*squash_points(full.n, full.e, rel_width=squash_rel_width, max_n=squash_max_n), min_n)
    coarse_width = max(squash_rel_width, _SEARCH_REL_WIDTH)
    search = _Points(*squash_points(full.n, full.e, rel_width=coarse_width, max_n=2**62), min_n)
    rng = np.random.default_rng(seed)
    random_starts = [
        (*np.exp(rng.uniform(math.log(0.01), math.log(100.0), 4)), rng.uniform(0.02, 0.98))
        for _ in range(n_random_starts)
    ]
    solutions = [_optimise(start, search) for start in [*starts, *random_starts]]
    basins = _basins(solutions)
    if basins and len(basins[0]) < 2:
        # The best optimum was reached from one start only: restart near it to confirm it is reproducible.
        centre = _to_free(basins[0][0][0])
        jittered = [_from_free(centre + rng.normal(0.0, 0.3, 5)) for _ in range(n_confirm)]
        solutions += [_optimise(start, search) for start in jittered]
        basins = _basins(solutions)
    fit = {"full": full, "fine": fine, "squash": squash, "n_starts": len(solutions)}
    if not basins:
        best = min(solutions, key=lambda s: s[1])
        boundary = _degeneracy(best[0])
        reason = (
            f"no interior maximum: the likelihood keeps increasing towards the boundary ({boundary})"
            if boundary
            else "no start converged to a stationary point"
        )
        return _prior(best[0], False, 0, best[3], None, reason=reason, **fit)
    # The best basins are re-optimised on the fine (or full) data, which decides between them exactly. A
    # coarse basin that flows into an optimum already found (e.g. a degenerate stop) adds nothing.
    finalists: list[tuple[Solution, int]] = []
    for basin in basins[:3]:
        refined = _optimise(basin[0][0], fine, fallback=False) if fine is not search else basin[0]
        if refined[2] and not any(_close(refined[0], known[0]) for known, _ in finalists):
            finalists.append((refined, len(basin)))
        if len(finalists) == 2:
            break
    if not finalists:
        best = basins[0][0]
        reason = "the best optima did not converge again on the fit data"
        return _prior(best[0], False, len(basins[0]), best[3], None, reason=reason, **fit)
    finalists.sort(key=lambda item: item[0][1])
    best, n_agree = finalists[0]
    runner_up = finalists[1][0] if len(finalists) > 1 else None
    theta = best[0]
    polished, polished_nll, minimum = _polish(theta, fine)
    if polished_nll <= best[1] + 1e-9 * abs(best[1]) and _close(polished, theta):
        theta = polished
    reasons = []
    if n_agree < 2:
        reasons.append(f"the best optimum was reached from {n_agree} start(s) only, not reproduced")
    if not minimum:
        reasons.append("the best point is not a strict maximum (Hessian not positive definite)")
    runner = None if runner_up is None else runner_up[0]
    return _prior(theta, not reasons, n_agree, best[3], runner, reason="; ".join(reasons), **fit)


def _prior(
    theta: Theta,
    converged: bool,
    n_agree: int,
    method: str,
    runner_up: Theta | None,
    *,
    full: _Points,
    fine: _Points,
    squash: bool,
    n_starts: int,
    reason: str,
) -> GpsPrior:
    return GpsPrior(
        *theta,
        neg_log_likelihood=_nll(theta, full, grad=False)[0],
        runner_up_neg_log_likelihood=math.nan if runner_up is None else _nll(runner_up, full, grad=False)[0],
        converged=bool(converged),
        n_points=int(full.n.size),
        n_squashed=int(fine.n.size),
        n_agree=int(n_agree),
        method=method + (" (squashed)" if squash else ""),
        runner_up=None if runner_up is None else tuple(float(x) for x in runner_up),
        n_starts=int(n_starts),
        reason=reason,
    )
