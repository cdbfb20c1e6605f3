"""pv.stats vs vigipy 3.5.1 on the same generated drug-event 2x2 tables: wall time and accuracy.

Not a test. Run from the repository root with the project venv:

    .venv/bin/python benchmarks/bench_stats_vs_vigipy.py            # 1,000,000 tables, N = 20M reports

vigipy is never installed into the project venv. It runs in a subprocess with its own venv, created on first
use (or beforehand with the same command):

    python3 -m venv /tmp/vigipy-venv
    /tmp/vigipy-venv/bin/pip install vigipy==3.5.1 duckdb pandas scipy numpy

What is compared (statistics.md §7a):

* ours: ``disproportionality`` (PRR, ROR, chi-square plain and Yates, shrinkage IC, all with 95% limits) and
  ``ebgm`` (EBGM, exact EB05/EB95) under a fixed prior, the CAERS full-data theta;
* vigipy: ``prr``, ``ror``, ``bcpnn`` (MC=False) and ``gps`` with ``prior_param=`` the same theta, so it does
  not fit; DataContainer built from report-level margins (events = a, product_aes = n_drug,
  count_across_brands = n_event, N = reports), ``min_events=1`` so no pair is dropped, and
  ``continuity_correction=False`` so PRR/ROR are raw like ours (vigipy then replaces zero b/c/d cells by 1e-7;
  such tables are left out of the accuracy comparison). vigipy's times include what its API always does on
  top (LBE-based FDR for PRR/ROR, Bayesian FDR curves and result sorting for BCPNN/GPS).
* accuracy: max relative difference of E, PRR, ROR and their CIs where every cell is > 0 (both exact there);
  vigipy's EBGM and EB05/EB95 against our exact values, and |F(q) - p| of vigipy's quantiles under the exact
  posterior CDF. vigipy's BCPNN IC025 is PhViD's Bate-style estimator, a different statistic from the
  shrinkage IC (§4a vs §4c), so only its time is compared.
* our ``fit_gps_prior`` on all pairs, with squashing.

Each timing is the best of ``--repeat`` runs in one process (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from scipy.stats import nbinom

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pv import stats  # noqa: E402

CAERS_THETA = (3.25596685, 0.39998994, 2.02376139, 1.90614108, 0.06530755)
VIGIPY_REQUIREMENTS = ("vigipy==3.5.1", "duckdb", "pandas", "scipy", "numpy")

# Runs under the vigipy venv's interpreter: argv = input .npz, output .npz, repeats.
VIGIPY_WORKER = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pandas as pd
    import vigipy
    from vigipy.utils.Container import DataContainer

    source, target, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    z = np.load(source)
    theta = [float(x) for x in z["theta"]]
    a, n_drug, n_event, n_reports = z["a"], z["n_drug"], z["n_event"], int(z["n_reports"])
    frame = pd.DataFrame({
        "events": a, "product_aes": n_drug, "count_across_brands": n_event,
        "ae_name": z["event"], "product_name": np.arange(a.size),
    })
    container = DataContainer(data=frame, N=n_reports, type="contingency")
    calls = {
        "prr": lambda: vigipy.prr(container, min_events=1, continuity_correction=False),
        "ror": lambda: vigipy.ror(container, min_events=1, continuity_correction=False),
        "bcpnn": lambda: vigipy.bcpnn(container, min_events=1, MC=False),
        "gps": lambda: vigipy.gps(container, min_events=1, prior_param=theta),
    }
    out, times = {}, {}
    for name, call in calls.items():
        best = float("inf")
        for _ in range(repeat if name != "gps" else max(1, repeat - 1)):
            start = time.perf_counter()
            result = call()
            best = min(best, time.perf_counter() - start)
        times[name] = best
        table = result.all_signals.sort_values("Product", kind="stable")
        assert (table["Product"].to_numpy() == np.arange(a.size)).all()
        for column in table.columns:
            if column not in ("Product", "Adverse Event") and table[column].dtype.kind in "fiub":
                out[f"{name}:{column}"] = table[column].to_numpy(dtype=np.float64)
    out["times"] = np.array([times[k] for k in calls])
    out["names"] = np.array(list(calls))
    np.savez(target, **out)
    """
)


def generate_tables(
    n_pairs: int = 1_000_000, n_reports: int = 20_000_000, seed: int = 20260101
) -> dict[str, np.ndarray]:
    """Deterministic, FAERS-like sparse 2x2 tables sharing one report total.

    6,000 drugs and 12,000 events get lognormal report counts (heavy right tail, most drugs and events rare);
    observed pairs are drawn with probability proportional to n_drug * n_event. Each pair's count a comes from
    exactly the model the GPS likelihood assumes (statistics.md §5) with the CAERS theta: component k with
    probability P, then a negative binomial (size alpha_k, prob beta_k/(beta_k+E)) truncated to a >= 1, so a
    fit on these tables should give back that theta (a is capped at the margins, which rarely binds).
    """
    rng = np.random.default_rng(seed)
    n_drugs, n_events = 6_000, 12_000
    drug_size = np.clip(np.rint(np.exp(rng.normal(5.0, 2.0, n_drugs))), 1, 2_000_000).astype(np.int64)
    event_size = np.clip(np.rint(np.exp(rng.normal(5.5, 1.9, n_events))), 1, 1_500_000).astype(np.int64)
    drug_cdf = np.cumsum(drug_size) / drug_size.sum()
    event_cdf = np.cumsum(event_size) / event_size.sum()
    keys = np.empty(0, dtype=np.int64)
    while keys.size < n_pairs:
        draws = int((n_pairs - keys.size) * 1.3) + 1_000
        drug = np.minimum(np.searchsorted(drug_cdf, rng.random(draws)), n_drugs - 1)
        event = np.minimum(np.searchsorted(event_cdf, rng.random(draws)), n_events - 1)
        keys = np.unique(np.concatenate([keys, drug.astype(np.int64) * n_events + event]))
    keys = rng.permutation(keys)[:n_pairs]
    drug, event = keys // n_events, keys % n_events
    n_drug, n_event = drug_size[drug], event_size[event]
    expected = n_drug * n_event / n_reports
    a1, b1, a2, b2, p = CAERS_THETA
    first = rng.random(n_pairs) < p
    size, rate = np.where(first, a1, a2), np.where(first, b1, b2)
    prob = rate / (rate + expected)
    # Inverse survival function on (0, P(a >= 1)): an exact draw from the zero-truncated negative binomial.
    survival_at_1 = -np.expm1(size * np.log(prob))
    a = nbinom.isf(rng.random(n_pairs) * survival_at_1, size, prob).astype(np.int64)
    a = np.minimum(np.maximum(a, 1), np.minimum(n_drug, n_event))
    return {
        "drug": drug,
        "event": event,
        "a": a,
        "n_drug": n_drug,
        "n_event": n_event,
        "n_reports": np.int64(n_reports),
    }


def best_time(function, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def ensure_vigipy(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {venv} and installing {' '.join(VIGIPY_REQUIREMENTS)} (separate from the project venv)")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *VIGIPY_REQUIREMENTS], check=True)
    return python


def max_rel(ours: np.ndarray, theirs: np.ndarray, mask: np.ndarray) -> float:
    ours, theirs = ours[mask], theirs[mask]
    ok = np.isfinite(ours) & np.isfinite(theirs) & (ours != 0)
    return float(np.max(np.abs(theirs[ok] / ours[ok] - 1))) if ok.any() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--reports", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--vigipy-venv", type=Path, default=Path("/tmp/vigipy-venv"))
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    start = time.perf_counter()
    tables = generate_tables(args.pairs, args.reports)
    a, n_drug, n_event, total = tables["a"], tables["n_drug"], tables["n_event"], int(tables["n_reports"])
    b, c = n_drug - a, n_event - a
    d = total - n_drug - n_event + a
    print(f"generated {a.size:,} tables, N = {total:,} reports in {time.perf_counter() - start:.1f} s")
    print(
        f"  a = 1: {np.mean(a == 1):.1%}, a >= 3: {np.mean(a >= 3):.1%}, max a {a.max():,}; "
        f"tables with a zero cell: {int(((b == 0) | (c == 0)).sum()):,}"
    )

    prior = stats.GpsPrior(*CAERS_THETA)
    t_disp, measures = best_time(lambda: stats.disproportionality(a, b, c, d), args.repeat)
    e = measures["e"].to_numpy()
    t_ebgm, scores = best_time(lambda: stats.ebgm(a, e, prior), args.repeat)
    t_fit, fitted = best_time(lambda: stats.fit_gps_prior(a, e), 1)
    print(f"ours: disproportionality {t_disp:.2f} s, ebgm {t_ebgm:.2f} s, fit_gps_prior {t_fit:.2f} s")
    print(f"  fitted prior: {fitted}")
    relative = np.array(fitted.theta) / np.array(CAERS_THETA) - 1
    print(f"  relative difference from the generating theta: {np.array2string(relative, precision=4)}")

    vigipy_python = ensure_vigipy(args.vigipy_venv)
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "tables.npz", Path(tmp) / "vigipy.npz"
        np.savez(source, theta=np.array(CAERS_THETA), **tables)
        worker = Path(tmp) / "worker.py"
        worker.write_text(VIGIPY_WORKER)
        run = subprocess.run(
            [str(vigipy_python), str(worker), str(source), str(target), str(args.repeat)],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise SystemExit(f"vigipy worker failed:\n{run.stderr}")
        theirs = dict(np.load(target))
    v_times = dict(zip(theirs["names"].tolist(), theirs["times"].tolist(), strict=True))

    clean = (a > 0) & (b > 0) & (c > 0) & (d > 0)
    accuracy = {
        "E": max_rel(e, theirs["prr:Expected Count"], clean),
        "PRR": max_rel(measures["prr"].to_numpy(), theirs["prr:PRR"], clean),
        "PRR lower": max_rel(measures["prr_lower"].to_numpy(), theirs["prr:CI Lower"], clean),
        "PRR upper": max_rel(measures["prr_upper"].to_numpy(), theirs["prr:CI Upper"], clean),
        "ROR": max_rel(measures["ror"].to_numpy(), theirs["ror:ROR"], clean),
        "ROR lower": max_rel(measures["ror_lower"].to_numpy(), theirs["ror:CI Lower"], clean),
        "ROR upper": max_rel(measures["ror_upper"].to_numpy(), theirs["ror:CI Upper"], clean),
        "EBGM": max_rel(scores["ebgm"].to_numpy(), theirs["gps:EBGM"], np.ones_like(clean)),
        "EB05": max_rel(scores["eb05"].to_numpy(), theirs["gps:LowerBound"], np.ones_like(clean)),
        "EB95": max_rel(scores["eb95"].to_numpy(), theirs["gps:UpperBound"], np.ones_like(clean)),
    }
    cdf_error = {
        name: float(np.max(np.abs(stats.posterior_cdf(theirs[column], a, e, prior) - p)))
        for name, column, p in (("EB05", "gps:LowerBound", 0.05), ("EB95", "gps:UpperBound", 0.95))
    }
    ours_cdf_error = {
        name: float(np.max(np.abs(stats.posterior_cdf(scores[column], a, e, prior) - p)))
        for name, column, p in (("EB05", "eb05", 0.05), ("EB95", "eb95", 0.95))
    }
    signal_disagreement = int(((scores["eb05"] >= 2) != (theirs["gps:LowerBound"] >= 2)).sum())

    ours_total = t_disp + t_ebgm
    vigipy_total = sum(v_times.values())
    frequentist = v_times["prr"] + v_times["ror"] + v_times["bcpnn"]
    rows = [
        ("PRR + ROR + chi2 + IC, with CIs", t_disp, frequentist),
        ("EBGM + EB05 + EB95, fixed prior", t_ebgm, v_times["gps"]),
        ("total", ours_total, vigipy_total),
    ]
    print(f"\n{'wall time (best of runs)':34s}{'ours':>10s}{'vigipy':>10s}{'ratio':>8s}")
    for label, ours_s, theirs_s in rows:
        print(f"  {label:32s}{ours_s:9.2f}s{theirs_s:9.2f}s{ours_s / theirs_s:8.3f}")
    split = " / ".join(f"{v_times[name]:.2f}" for name in ("prr", "ror", "bcpnn"))
    print(f"  vigipy prr / ror / bcpnn: {split} s")
    print(f"  fit_gps_prior, squashed: {t_fit:.2f} s ({fitted.n_points:,} -> {fitted.n_squashed:,} points)")
    print(f"\naccuracy, max relative difference vigipy vs ours ({int(clean.sum()):,} tables without zeros)")
    for name, value in accuracy.items():
        print(f"  {name:10s} {value:.3e}")
    for label, errors in (("vigipy", cdf_error), ("ours", ours_cdf_error)):
        print(f"  |F(q) - p| of {label:7s} quantiles: EB05 {errors['EB05']:.2e}, EB95 {errors['EB95']:.2e}")
    print(f"  pairs whose EB05 >= 2 decision differs: {signal_disagreement}")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "pairs": int(a.size),
                    "reports": total,
                    "ours_seconds": {"disproportionality": t_disp, "ebgm": t_ebgm, "fit_gps_prior": t_fit},
                    "vigipy_seconds": v_times,
                    "ratio": ours_total / vigipy_total,
                    "max_relative_difference": accuracy,
                    "vigipy_cdf_error": cdf_error,
                    "ours_cdf_error": ours_cdf_error,
                    "eb05_decision_differences": signal_disagreement,
                    "fitted_prior": {k: v for k, v in fitted.__dict__.items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
