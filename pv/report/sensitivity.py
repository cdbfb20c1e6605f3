"""Does a flag survive? The headline pairs' crude, stratified, restricted, active-comparator and
masking-corrected RORs side by side, each with its multiplicity-adjusted flag, and the case-series evidence
(time to onset, dechallenge) beside them.

Confounding by the cancer (paraneoplastic dermatomyositis) raises the crude ROR; each other analysis removes
one route to a spurious or hidden signal: the Mantel-Haenszel ROR pools within sex x age band x report year,
the restricted analyses compare only reports with a (breast) cancer indication, the active comparator
compares the drug with other treatments of the same cancer, the masking-corrected one removes the reports
of the drugs that dominate DM reporting from the background. One table, read by ``pv signals`` and the
report, so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pv.counts import DEFAULT_VARIANT, PAIR_COLUMNS
from pv.report.facts import headline_order
from pv.report.text import Table, interval


@dataclass(frozen=True)
class Analysis:
    """One column of the table: the rows of ``comparator`` and the ROR columns and flag it reads."""

    key: str
    title: str
    comparator: str
    estimate: str
    flag: str
    meaning: str


ANALYSES: tuple[Analysis, ...] = (
    Analysis("crude", "crude", "all", "ror", "signal_ror_fdr", "all reports, crude ROR"),
    Analysis(
        "stratified",
        "MH",
        "all",
        "ror_mh",
        "signal_ror_mh_fdr",
        "all reports, Mantel-Haenszel ROR over sex x age band x report year",
    ),
    Analysis("cancer", "cancer", "oncology", "ror", "signal_ror_fdr", "reports with a cancer indication"),
    Analysis(
        "breast",
        "breast",
        "breast_cancer",
        "ror",
        "signal_ror_fdr",
        "reports with a breast-cancer indication",
    ),
    Analysis(
        "active",
        "active",
        "active",
        "ror",
        "signal_ror_fdr",
        "the drug against other treatments of breast cancer (active comparator)",
    ),
    Analysis(
        "masked",
        "masked",
        "masked",
        "ror",
        "signal_ror_fdr",
        "background without the reports of the drugs that mask the event (masking-corrected)",
    ),
)
FLAG_MARK = "*"
NOTE = (
    f"ROR (lower 95% limit); {FLAG_MARK} the ROR rule after Benjamini-Hochberg adjustment (q <= 0.025, "
    "a >= 3) within the analysis; n/c not computable; - analysis not run for this pair. "
    + "; ".join(f"{analysis.title}: {analysis.meaning}" for analysis in ANALYSES)
    + "."
)
SENSITIVITY_NOTE = (
    "Each analysis's reports (a), ROR and 95% CI for the pairs with reports in the primary analysis (suspect "
    f"role, flagged duplicates left out); {FLAG_MARK} marks the ROR rule after Benjamini–Hochberg adjustment "
    "(q ≤ 0.025, a ≥ 3) within that analysis. "
    + "; ".join(f"{analysis.title}: {analysis.meaning}" for analysis in ANALYSES)
    + ". A flag that holds crude but not stratified, restricted or against an active comparator is what "
    "confounding by the cancer would produce; time to onset and dechallenge are the primary analysis's case "
    "series (a Weibull shape below 1: onsets cluster early after the start, as drug-induced reactions do)."
)
ONSET_COLUMNS: tuple[str, ...] = (
    "n_onset_median",
    "onset_median_days",
    "weibull_status",
    "weibull_shape",
    "weibull_shape_lower",
    "weibull_shape_upper",
    "dechal_positive",
    "dechal_negative",
)


def sensitivity(
    headline: pd.DataFrame,
    role: str = DEFAULT_VARIANT["role"],
    duplicates: str = DEFAULT_VARIANT["duplicates"],
) -> pd.DataFrame:
    """One row per target drug or class x DM group of ``headline`` (marts.headline rows, optionally with
    marts.headline_onset's columns), for one role and duplicates setting: per analysis ``<key>_a``,
    ``<key>_ror``, ``<key>_lower``, ``<key>_upper``, ``<key>_q`` and ``<key>_flag`` (NaN / NA where the
    analysis has no row for the pair), then the primary analysis's onset and dechallenge columns."""
    chosen = headline[(headline["role"] == role) & (headline["duplicates"] == duplicates)]
    table = headline_order(chosen)[list(PAIR_COLUMNS)].drop_duplicates().reset_index(drop=True)
    for analysis in ANALYSES:
        rows = chosen[chosen["comparator"] == analysis.comparator]
        has = analysis.estimate in rows.columns
        picked = rows[list(PAIR_COLUMNS)].assign(
            **{
                f"{analysis.key}_a": rows["a"],
                f"{analysis.key}_ror": rows[analysis.estimate] if has else np.nan,
                f"{analysis.key}_lower": rows[f"{analysis.estimate}_lower"] if has else np.nan,
                f"{analysis.key}_upper": rows[f"{analysis.estimate}_upper"] if has else np.nan,
                f"{analysis.key}_q": rows[f"{analysis.estimate}_q"]
                if f"{analysis.estimate}_q" in rows.columns
                else np.nan,
                f"{analysis.key}_flag": rows[analysis.flag].astype("boolean")
                if analysis.flag in rows.columns
                else pd.NA,
            }
        )
        table = table.merge(picked, on=list(PAIR_COLUMNS), how="left", validate="one_to_one")
    primary = chosen[chosen["comparator"] == DEFAULT_VARIANT["comparator"]]
    onset = [column for column in ONSET_COLUMNS if column in primary.columns]
    if onset:
        table = table.merge(
            primary[list(PAIR_COLUMNS) + onset], on=list(PAIR_COLUMNS), how="left", validate="one_to_one"
        )
    return table


SENSITIVITY_HEADER: list[str] = [
    "drug",
    "event",
    *(f"{analysis.title}: a, ROR [95% CI]" for analysis in ANALYSES),
    "onset days (n)",
    "Weibull β [95% CI]",
    "dechallenge +/known",
]


def sensitivity_table(headline: pd.DataFrame) -> Table:
    """The side-by-side view for the report, one row per target x DM group with reports in the primary
    analysis (pairs without any are listed by the answer); a flagged cell is marked, a flagged row is a
    ``signal`` row."""
    rows, classes = [], []
    table = sensitivity(headline)
    for row in table.to_dict("records"):
        if not row["crude_a"] > 0:
            continue
        cells = [row["drug"] + (" (class)" if row["drug_level"] == "class" else ""), row["event"]]
        flagged = False
        for analysis in ANALYSES:
            a = row[f"{analysis.key}_a"]
            if pd.isna(a):
                cells.append("not run")
                continue
            flag = row[f"{analysis.key}_flag"] is True
            flagged |= flag
            key = analysis.key
            estimate = interval(row[f"{key}_ror"], row[f"{key}_lower"], row[f"{key}_upper"])
            cells.append(f"{a:.0f}; {estimate}" + (f" {FLAG_MARK}" if flag else ""))
        onset = row.get("onset_median_days")
        cells.append("–" if onset is None or pd.isna(onset) else f"{onset:g} ({row['n_onset_median']:.0f})")
        converged = row.get("weibull_status") == "converged"
        shape = ("weibull_shape", "weibull_shape_lower", "weibull_shape_upper")
        cells.append(interval(*(row.get(column) for column in shape)) if converged else "–")
        known = row.get("dechal_positive", 0) + row.get("dechal_negative", 0)
        cells.append(f"{row['dechal_positive']:.0f}/{known:.0f}" if known and not pd.isna(known) else "–")
        rows.append(cells)
        classes.append("signal" if flagged else "")
    return Table(SENSITIVITY_HEADER, rows, classes)
