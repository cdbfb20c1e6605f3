"""Calibration against known truth: do the intervals of marts.signals contain the true relative rate?

Only generated data have a known truth (the generator's ``ground_truth/associations.csv``), so coverage is
measured here, from a built database and a ground-truth folder, and not by the build: a build of real FAERS
never sees one. How often the rules flag the reviewed controls is the build's table marts.calibration.

What "true" means differs by statistic, so each interval is compared with two quantities:

* ``planted_rr``: the rate ratio the generator sets report by report (a report exposed to the drug has the
  event with that many times the probability it would have otherwise, given its cancer status and other
  exposures): the conditional effect;
* ``estimand``: what the statistic estimates in this generated population, from the generator's exact
  expected counts (sums of each report's event probability): the crude risk ratio
  P(E | drug) / P(E | no drug) for the PRR (and for the MH ROR, whose strata do not hold the generator's
  confounder, cancer), the crude odds ratio for the ROR, and the observed-to-expected ratio
  P(E | drug) / P(E) for the IC (on the log2 scale) and EBGM. It differs from ``planted_rr`` by the case mix
  (DM is 3x more frequent in cancer reports) and co-exposure (a report takes the largest planted rate).
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pv.counts import DEFAULT_VARIANT

# interval -> (estimate column, lower, upper, nominal level, estimand column, log2 scale)
INTERVALS: dict[str, tuple[str, str, str, float, str, bool]] = {
    "PRR 95% CI": ("prr", "prr_lower", "prr_upper", 0.95, "risk_ratio", False),
    "ROR 95% CI": ("ror", "ror_lower", "ror_upper", 0.95, "odds_ratio", False),
    "IC025-IC975": ("ic", "ic025", "ic975", 0.95, "observed_expected", True),
    "EB05-EB95": ("ebgm", "eb05", "eb95", 0.90, "observed_expected", False),
    "MH ROR 95% CI": ("ror_mh", "ror_mh_lower", "ror_mh_upper", 0.95, "risk_ratio", False),
}
KINDS = ("dm_target", "dm_control", "test_drug")


def planted_pairs(ground_truth: Path) -> pd.DataFrame:
    """Every planted (drug, PT) pair with its planted rate and the population estimands of the statistics.

    One row per pair of ``associations.csv`` (stratum ``all``); ``kind`` says whether it is a target drug
    on Dermatomyositis, a DM control or a synthetic test drug on its own event.
    """
    from pv.synth.content import CONTROL_DM_RR

    truth = pd.read_csv(Path(ground_truth) / "associations.csv", keep_default_na=False)
    truth = truth[truth["stratum"] == "all"].copy()
    exposed, unexposed = truth["exposed_cases"], truth["unexposed_cases"]
    e1, e0 = truth["expected_with_event"], truth["unexposed_expected_with_event"]
    truth["risk_ratio"] = (e1 / exposed) / (e0 / unexposed)
    truth["odds_ratio"] = (e1 / (exposed - e1)) / (e0 / (unexposed - e0))
    truth["observed_expected"] = (e1 / exposed) / ((e1 + e0) / (exposed + unexposed))
    truth["kind"] = np.select(
        [truth["exposure_level"] != "", truth["drug"].isin(list(CONTROL_DM_RR))],
        ["test_drug", "dm_control"],
        "dm_target",
    )
    return truth[truth["exposed_cases"] > 0].reset_index(drop=True)


def interval_coverage(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> pd.DataFrame:
    """Share of planted pairs whose interval (default variant, ingredient x PT) contains the true quantity.

    One row per interval x truth (``estimand``, ``planted_rr``) x kind of pair (``all`` and each of
    :data:`KINDS`): ``pairs`` with a finite interval, ``covered``, ``coverage`` (NULL without pairs) and the
    interval's nominal level. Pairs without reports (a = 0) have no PRR/ROR interval and are left out.
    """
    truth = planted_pairs(ground_truth)
    where = " and ".join(f"{column} = '{value}'" for column, value in DEFAULT_VARIANT.items())
    columns = sorted({name for spec in INTERVALS.values() for name in spec[:3]})
    found = con.execute(
        f"select drug, lower(event) as event_key, a, {', '.join(columns)} from marts.signals "
        f"where drug_level = 'ingredient' and event_level = 'pt' and a > 0 and {where}"
    ).df()
    merged = truth.assign(event_key=truth["event"].str.lower()).merge(found, on=["drug", "event_key"])
    rows = []
    for interval, (_, lower, upper, level, estimand, log2) in INTERVALS.items():
        low = merged[lower].astype("float64").to_numpy()
        high = merged[upper].astype("float64").to_numpy()
        finite = np.isfinite(low) & np.isfinite(high)
        for truth_name, target in (("estimand", estimand), ("planted_rr", "planted_rr")):
            value = merged[target].astype("float64").to_numpy()
            value = np.log2(value) if log2 else value
            inside = finite & (low <= value) & (value <= high)
            for kind in ("all", *KINDS):
                chosen = finite & ((merged["kind"] == kind).to_numpy() | (kind == "all"))
                pairs, covered = int(chosen.sum()), int((inside & chosen).sum())
                rows.append(
                    dict(
                        interval=interval,
                        truth=truth_name,
                        kind=kind,
                        nominal=level,
                        pairs=pairs,
                        covered=covered,
                        coverage=covered / pairs if pairs else math.nan,
                    )
                )
    return pd.DataFrame(rows)
