"""Detection study: how often each signal rule flags planted associations, and null pairs, end to end.

Run: ``.venv/bin/python benchmarks/detection_study.py [--seeds 12] [--scale 0.25]``; writes
``docs/detection_rate.png`` and prints the tables quoted in the README.

Each seed generates the same quarters with a different random population (``pv synth``), ingests them and
builds the database with the product's own code, then reads the ``signals`` table for the default variant
(primary/secondary suspects, all reports, without flagged duplicates) at ingredient × PT level. Planted pairs
come from ``ground_truth/associations.csv`` (the test-drug grid: relative reporting rates 1, 1.5, 2, 3, 5, 10
at four exposure levels); null pairs are those with true relative rate 1 (``pv.synth.truth.true_null_mask``:
no planted or characteristic association, no oncology event).

Detection is judged on the strong planted pairs (true relative rate >= 3 with >= 20 exposed cases with the
event); for EB05 >= 2, the most conservative rule, on those with true relative rate >= 5 or >= 40 exposed
cases (at RR 3 with about 20 cases the 5th posterior percentile sits near 2 under any prior, so no correct
EB05 can flag them reliably; the full curve is in the plot). EB05 needs a converged GPS prior: a seed whose
prior fit did not converge has no EB05 and is reported as such, not counted as missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
RULES = ("signal_evans", "signal_ror", "signal_ic", "signal_ebgm")
RULE_NAMES = {
    "signal_evans": "Evans (PRR, χ², a)",
    "signal_ror": "ROR025 > 1",
    "signal_ic": "IC025 > 0",
    "signal_ebgm": "EB05 ≥ 2",
}
DEFAULT = "role = 'suspect' and comparator = 'all' and duplicates = 'without'"


def judged(planted: pd.DataFrame, rule: str) -> pd.Series:
    """The planted pairs a rule is judged on: strong ones, and for EB05 >= 2 the ones it can reach."""
    strong = (planted["planted_rr"] >= 3) & (planted["a"] >= 20)
    if rule == "signal_ebgm":
        return strong & ((planted["planted_rr"] >= 5) | (planted["a"] >= 40)) & planted["prior_converged"]
    return strong


def run_seed(seed: int, quarters: str, scale: float, scratch: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Planted pairs (with flags) and null-pair flags for one generated population."""
    import duckdb

    from pv.ingest import ingest
    from pv.quarters import quarter_range
    from pv.synth import generate
    from pv.synth.truth import true_null_mask

    root = scratch / f"seed{seed}"
    generate(root, quarter_range(quarters), scale=scale, seed=seed)
    data = root / "data"
    ingest(root, db_path=data / "pv.duckdb", lake=data / "lake", work_dir=data / "tmp")
    truth = pd.read_csv(root / "ground_truth" / "associations.csv", keep_default_na=False)
    grid = truth[(truth["exposure_level"] != "") & (truth["stratum"] == "all")].copy()
    with duckdb.connect(str(data / "pv.duckdb"), read_only=True) as con:
        signals = con.sql(
            f"select drug, event, a, {', '.join(RULES)} from marts.signals "
            f"where drug_level = 'ingredient' and event_level = 'pt' and {DEFAULT} and a > 0"
        ).df()
        converged = con.sql("select converged from marts.gps_priors").fetchall() == [(True,)]
    grid["event_key"] = grid["event"].str.lower()
    signals["event_key"] = signals["event"].str.lower()
    planted = grid.merge(signals, left_on=["drug", "event_key"], right_on=["drug", "event_key"], how="left")
    planted[list(RULES)] = planted[list(RULES)].fillna(False).astype(bool)
    planted["a"] = planted["a"].fillna(0).astype(int)
    planted["seed"] = seed
    planted["prior_converged"] = converged
    null = signals[true_null_mask(root / "ground_truth", signals["drug"], signals["event_key"])]
    return planted, null[list(RULES) + ["a"]].assign(seed=seed, prior_converged=converged)


def summarise(planted: pd.DataFrame, null: pd.DataFrame) -> str:
    seeds = planted.groupby("seed")["prior_converged"].first()
    lines = [
        "strong planted pairs: planted RR ≥ 3 and ≥ 20 exposed cases with the event; for EB05 ≥ 2, those "
        "with RR ≥ 5 or ≥ 40 exposed cases",
        f"GPS prior converged in {int(seeds.sum())} of {len(seeds)} seeds (EB05 is judged on those only)",
        "| rule | detected (judged planted pairs) | flagged null pairs (a ≥ 3) | flagged null pairs (all) |",
        "|---|---:|---:|---:|",
    ]
    for rule in RULES:
        chosen = planted[judged(planted, rule)]
        nulls = null[null["prior_converged"]] if rule == "signal_ebgm" else null
        null3 = nulls[nulls["a"] >= 3]
        detected = f"{chosen[rule].mean():.1%} ({chosen[rule].sum()}/{len(chosen)})" if len(chosen) else "n/a"
        lines.append(
            f"| {RULE_NAMES[rule]} | {detected} "
            f"| {null3[rule].mean():.2%} of {len(null3):,} | {nulls[rule].mean():.2%} of {len(nulls):,} |"
        )
    return "\n".join(lines)


def plot(planted: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [0, 5, 10, 20, 50, np.inf]
    labels = ["1–4", "5–9", "10–19", "20–49", "≥ 50"]
    planted = planted.assign(count_bin=pd.cut(planted["a"], bins=bins, right=False, labels=labels))
    figure, axes = plt.subplots(1, len(RULES), figsize=(16, 4.2), sharey=True)
    for axis, rule in zip(axes, RULES, strict=True):
        scored = planted[planted["prior_converged"]] if rule == "signal_ebgm" else planted
        table = scored.groupby(["count_bin", "planted_rr"], observed=True)[rule].mean().unstack(0)
        for label in labels:
            if label in table:
                axis.plot(table.index, table[label], marker="o", label=f"a = {label}")
        axis.set_xscale("log")
        axis.set_xticks([1, 1.5, 2, 3, 5, 10], ["1", "1.5", "2", "3", "5", "10"])
        axis.axhline(0.95, color="grey", linestyle=":", linewidth=1)
        axis.set_title(RULE_NAMES[rule])
        axis.set_xlabel("planted relative reporting rate")
    axes[0].set_ylabel("share of planted pairs flagged")
    axes[-1].legend(title="exposed cases with event", fontsize=8)
    figure.suptitle("Detection rate by rule, strength and count (generated FAERS quarters, default variant)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--quarters", default="2023Q1..2024Q4")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "detection_rate.png")
    args = parser.parse_args()
    planted_runs, null_runs = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(1, args.seeds + 1):
            planted, null = run_seed(seed, args.quarters, args.scale, Path(scratch))
            planted_runs.append(planted)
            null_runs.append(null)
            print(f"seed {seed}: {len(planted)} planted pairs, {len(null):,} null pairs", file=sys.stderr)
    planted = pd.concat(planted_runs, ignore_index=True)
    null = pd.concat(null_runs, ignore_index=True)
    print(f"{args.seeds} seeds × quarters {args.quarters} at scale {args.scale}")
    print(summarise(planted, null))
    by_strength = planted.groupby("planted_rr")[list(RULES)].mean()
    print("\nshare of all planted pairs flagged, by planted relative rate:")
    print(by_strength.to_string(float_format=lambda value: f"{value:.2f}"))
    plot(planted, args.plot)
    print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
