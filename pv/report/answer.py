"""The answer, stated: for each target drug and class x DM group, what the headline rows say, in one sentence.

The headline table has 20 variants per pair; a reader needs the conclusion first. The answer reads the primary
analysis (the default variant: suspect role, all reports, flagged duplicates left out), then asks whether a
flag survives the restriction to cancer and to breast-cancer reports (the same role and duplicates setting):
a flag that disappears among cancer reports is what confounding by the cancer (paraneoplastic
dermatomyositis) would produce. Every number in a sentence is a stored, checked value of ``marts.headline``;
a measure that could not be computed is said to be so, never shown as a number. The report, ``pv demo``, the
notebook and the explorer all print these sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pv.counts import DEFAULT_VARIANT, TARGET_COMPARATORS, VARIANT_VALUES
from pv.report.facts import headline_order
from pv.report.text import RULE_TITLES, Table, interval
from pv.resources import read_vocabulary
from pv.signals import RULES

# What a headline event group and a target class mean, from the reviewed list of the headline question.
MEANINGS: dict[str, str] = {
    row["name"]: row["meaning"].removesuffix(" (event group)") for row in read_vocabulary("headline_targets")
}
PRIMARY = DEFAULT_VARIANT["comparator"]
RESTRICTED: tuple[str, ...] = tuple(
    comparator
    for comparator in VARIANT_VALUES["comparator"]
    if comparator != PRIMARY and comparator not in TARGET_COMPARATORS
)
COMPARATOR_WORDS: dict[str, str] = {
    "all": "all reports",
    "oncology": "reports with a cancer indication",
    "breast_cancer": "reports with a breast-cancer indication",
    "active": "breast-cancer reports against its active comparators",
    "masked": "all reports less those of the drugs that mask the event",
}
# The same comparisons in a table header.
COMPARATOR_SHORT: dict[str, str] = {
    "oncology": "cancer",
    "breast_cancer": "breast-cancer",
    "active": "active comparator",
    "masked": "masking-corrected",
}
VERDICTS: dict[str, str] = {
    "no_reports": "no reports",
    "no_signal": "no signal",
    "signal_after_masking": "signal only once the drugs that mask the event leave the background",
    "signal_confounding_possible": "signal among all reports only (confounding by the cancer possible)",
    "signal_survives_restriction": "signal that persists among cancer reports",
}
TABLE_NOTE = (
    "Primary analysis: the drug as primary or secondary suspect, all reports, flagged duplicates left out; "
    "the cancer and breast-cancer columns repeat it among reports with such an indication. Every variant is "
    "in the tables below."
)
# The field's caveats, said once wherever the answers are shown (READUS-PV: hypothesis-generating nature).
CAVEATS = (
    "Disproportionality compares reporting, not risk: a flagged pair is a hypothesis for clinical review, "
    "not evidence that the drug causes dermatomyositis. Spontaneous reports are affected by under-reporting, "
    "stimulated and notoriety reporting, duplicates and missing data; dermatomyositis is often "
    "paraneoplastic, so a drug given for cancer can be reported with it because of the cancer "
    "(confounding by indication), which the restricted comparisons test but cannot rule out."
)


# Per restricted comparator: the reports there and the rules that flag the pair there.
Restricted = dict[str, tuple[int, tuple[str, ...]]]


@dataclass(frozen=True)
class Answer:
    """One target drug or class x one DM group: the primary analysis and the restricted comparisons."""

    drug: str
    drug_level: str
    event: str
    a: int
    rules: tuple[str, ...]
    restricted: Restricted
    flagged_variants: int
    variants: int
    verdict: str
    sentence: str

    def as_record(self) -> dict[str, Any]:
        """Plain values for a table: drug, level, event, a, rules, per-comparator flags, verdict, sentence."""
        return {
            "drug": self.drug,
            "drug_level": self.drug_level,
            "event": self.event,
            "a": self.a,
            "rules": ", ".join(RULE_TITLES[rule] for rule in self.rules) or "none",
            **{
                f"rules_{comparator}": ", ".join(RULE_TITLES[rule] for rule in rules) or "none"
                for comparator, (_, rules) in self.restricted.items()
            },
            "flagged_variants": f"{self.flagged_variants} of {self.variants}",
            "verdict": VERDICTS[self.verdict],
            "sentence": self.sentence,
        }


def _rules(row: pd.Series | None) -> tuple[str, ...]:
    if row is None:
        return ()
    return tuple(rule for rule in RULES if bool(row.get(rule)) and not pd.isna(row.get(rule)))


def _names(rules: tuple[str, ...]) -> str:
    return " and ".join(RULE_TITLES[rule] for rule in rules)


def _drug_words(drug: str, level: str) -> str:
    return f"{MEANINGS.get(drug, drug)} (class {drug})" if level == "class" else drug


def _measures(row: pd.Series) -> str:
    ebgm = (
        f"EBGM {interval(row['ebgm'], row['eb05'], row['eb95'])}"
        if pd.notna(row.get("ebgm"))
        else f"EBGM not computed ({str(row.get('ebgm_status') or 'no status').replace('_', ' ')})"
    )
    return (
        f"ROR {interval(row['ror'], row['ror_lower'], row['ror_upper'])}, "
        f"IC {interval(row['ic'], row['ic025'], row['ic975'])}, {ebgm}"
    )


# The target-specific comparisons, as the answer words them (one clause each, after the restrictions).
TARGET_WORDS: dict[str, str] = {
    "active": "against its active comparators among breast-cancer reports",
    "masked": "with the reports of the drugs that mask the event left out of the background",
}


def _target_comparisons(targets: dict[str, pd.Series]) -> str:
    """The active-comparator and masking-corrected results, when the database holds them."""
    clauses = []
    for comparator, words in TARGET_WORDS.items():
        row = targets.get(comparator)
        if row is None:
            continue
        a = int(row["a"])
        rules = _rules(row)
        result = f"flagged by {_names(rules)}" if rules else "not flagged"
        clauses.append(
            f"{words} the ROR is {interval(row['ror'], row['ror_lower'], row['ror_upper'])} "
            f"({a:,} {'report' if a == 1 else 'reports'}), {result}"
        )
    return "".join(f"; {clause}" for clause in clauses)


def _sentence(
    drug: str,
    level: str,
    event: str,
    primary: pd.Series | None,
    restricted: dict[str, tuple[int, tuple[str, ...]]],
    targets: dict[str, pd.Series] | None = None,
) -> tuple[str, str]:
    """(verdict key, sentence) for one pair."""
    targets = targets or {}
    who = _drug_words(drug, level)
    what = MEANINGS.get(event, event)
    a = 0 if primary is None else int(primary["a"])
    if a == 0:
        return "no_reports", f"No report names {who} as suspect with {what} ({event}) in these data."
    rules = _rules(primary)
    reports = "1 report" if a == 1 else f"{a:,} reports"
    opening = f"{who[0].upper() + who[1:]} and {what} ({event}): {reports}, {_measures(primary)}"
    if not rules:
        masked = targets.get("masked")
        if masked is not None and _rules(masked):
            return "signal_after_masking", (
                opening
                + "; no signal rule flags it among all reports, but "
                + _target_comparisons({"masked": masked}).removeprefix("; ")
                + _case_evidence(primary)
                + "."
            )
        return "no_signal", opening + "; no signal rule flags it among all reports."
    kept = [c for c, (_, found) in restricted.items() if found]
    lost = [c for c, (n, found) in restricted.items() if not found]
    text = f"{opening}; flagged by {_names(rules)} among all reports"
    if kept:
        text += ", and still flagged among " + " and among ".join(COMPARATOR_WORDS.get(c, c) for c in kept)
    if lost:
        text += ", but not among " + " or ".join(
            f"{COMPARATOR_WORDS.get(c, c)} ({restricted[c][0]:,} there)" for c in lost
        )
    verdict = "signal_survives_restriction" if "oncology" in kept else "signal_confounding_possible"
    return verdict, text + _stratified(primary) + _target_comparisons(targets) + _case_evidence(primary) + "."


def _stratified(row: pd.Series) -> str:
    """The Mantel-Haenszel ROR over sex x age band x report year, when the database holds it."""
    if "ror_mh" not in row or pd.isna(row.get("ror_mh")):
        return ""
    above = pd.notna(row["ror_mh_lower"]) and row["ror_mh_lower"] > 1
    adjusted = ""
    if "signal_ror_mh_fdr" in row and pd.notna(row["signal_ror_mh_fdr"]):
        adjusted = " (flagged" if row["signal_ror_mh_fdr"] else " (not flagged"
        adjusted += " after Benjamini-Hochberg adjustment)"
    return (
        f"; stratified by sex, age band and report year, the Mantel-Haenszel ROR is "
        f"{interval(row['ror_mh'], row['ror_mh_lower'], row['ror_mh_upper'])}"
        f"{', still above 1' if above else ', no longer above 1'}{adjusted}"
    )


def _case_evidence(row: pd.Series) -> str:
    """Time to onset and dechallenge of the pair's case series, when the database holds them."""
    if pd.isna(row.get("n_onset_median", np.nan)):
        return ""
    if row["n_onset_median"] > 0:
        days = "day" if row["onset_median_days"] == 1 else "days"
        onset = f"median time to onset {row['onset_median_days']:g} {days} ("
        onset += f"{row['n_onset_median']:.0f} exact onsets"
        if row.get("weibull_status") == "converged":
            shape = interval(row["weibull_shape"], row["weibull_shape_lower"], row["weibull_shape_upper"])
            onset += f", Weibull shape {shape}"
        onset += ")"
    else:
        onset = "no exact time to onset"
    known = int(row["dechal_positive"]) + int(row["dechal_negative"])
    dechallenge = (
        f"dechallenge positive in {int(row['dechal_positive'])} of {known} cases that answered"
        if known
        else "no positive or negative dechallenge reported"
    )
    return f"; {onset}; {dechallenge}"


def answers(headline: pd.DataFrame) -> list[Answer]:
    """One answer per target drug or class x DM group of ``headline`` (rows of marts.headline), in report
    order."""
    if headline.empty:
        return []
    frame = headline_order(headline)
    role, duplicates = DEFAULT_VARIANT["role"], DEFAULT_VARIANT["duplicates"]
    result = []
    for (drug, level, event), rows in frame.groupby(["drug", "drug_level", "event"], sort=False):
        same = rows[(rows["role"] == role) & (rows["duplicates"] == duplicates)].set_index("comparator")
        primary = (
            same.loc[DEFAULT_VARIANT["comparator"]] if DEFAULT_VARIANT["comparator"] in same.index else None
        )
        restricted = {
            comparator: (
                int(same.loc[comparator, "a"]) if comparator in same.index else 0,
                _rules(same.loc[comparator]) if comparator in same.index else (),
            )
            for comparator in RESTRICTED
        }
        targets = {
            comparator: same.loc[comparator] for comparator in TARGET_COMPARATORS if comparator in same.index
        }
        verdict, sentence = _sentence(drug, level, event, primary, restricted, targets)
        flagged = sum(bool(_rules(row)) for _, row in rows.iterrows())
        result.append(
            Answer(
                drug=drug,
                drug_level=level,
                event=event,
                a=0 if primary is None else int(primary["a"]),
                rules=_rules(primary),
                restricted=restricted,
                flagged_variants=flagged,
                variants=len(rows),
                verdict=verdict,
                sentence=sentence,
            )
        )
    return result


def answer_bullets(headline: pd.DataFrame) -> list[str]:
    """The answer in sentences: one per flagged pair, then one counting the other pairs by verdict. Shown
    with :data:`CAVEATS` after them."""
    found = answers(headline)
    flagged = [answer for answer in found if answer.verdict.startswith("signal")]
    lines = [answer.sentence for answer in flagged]
    quiet = [answer for answer in found if not answer.verdict.startswith("signal")]
    if quiet:
        counts = pd.Series([VERDICTS[answer.verdict] for answer in quiet]).value_counts()
        lines.append(
            f"{'The other' if flagged else 'All'} {len(quiet)} target drug/class × DM pairs: "
            + ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
            + "."
        )
    if not found:
        lines.append("No headline rows: the database holds no target drug.")
    return lines


def answer_text(headline: pd.DataFrame) -> str:
    """The answer for a terminal or a script: the sentences as a list, then the caveats."""
    return "\n".join([*(f"- {line}" for line in answer_bullets(headline)), CAVEATS])


ANSWER_HEADER: tuple[str, ...] = (
    "drug",
    "level",
    "event",
    "a (primary)",
    "rules: all reports",
    *(f"rules: {COMPARATOR_SHORT.get(comparator, comparator)}" for comparator in RESTRICTED),
    "variants flagged",
    "answer",
)


def answer_table(found: list[Answer]) -> Table:
    """One row per answer; a flagged pair is a ``signal`` row (highlighted in HTML)."""
    rows = []
    for answer in found:
        record = answer.as_record()
        rows.append(
            [
                answer.drug,
                answer.drug_level,
                answer.event,
                answer.a,
                record["rules"],
                *(record[f"rules_{comparator}"] for comparator in RESTRICTED),
                record["flagged_variants"],
                record["verdict"],
            ]
        )
    return Table(ANSWER_HEADER, rows, ["signal" if a.verdict.startswith("signal") else "" for a in found])
