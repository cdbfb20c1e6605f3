"""Numbers and table cells as the report prints them, shared by the Markdown and the HTML.

A value that cannot be computed prints as ``n/c``, never as NaN; every table is a header and rows of
strings (or integers), so the templates only lay them out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pv.signals import RULES


@dataclass(frozen=True)
class Table:
    """A table as both formats print it: ``classes`` has one CSS class per row ("" for none); Markdown
    shows a ``total`` row's label in bold and ignores the other classes."""

    header: Sequence[str]
    rows: list[list[Any]]
    classes: list[str] = field(default_factory=list)

    def row_class(self, index: int) -> str:
        return self.classes[index] if index < len(self.classes) else ""


RULE_TITLES: dict[str, str] = {
    "signal_evans": "Evans",
    "signal_ror": "ROR025>1",
    "signal_ic": "IC025>0",
    "signal_ebgm": "EB05≥2",
    "signal_ror_fdr": "ROR FDR q≤0.025",
    "signal_ror_mh_fdr": "MH ROR FDR q≤0.025",
}


def number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/c"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def interval(estimate: Any, lower: Any, upper: Any) -> str:
    return f"{number(estimate)} [{number(lower)}, {number(upper)}]"


def rules_met(row: dict[str, Any]) -> str:
    met = [RULE_TITLES[rule] for rule in RULES if row.get(rule)]
    return ", ".join(met) if met else "—"


def level_name(row: dict[str, Any]) -> str:
    return "class" if row["drug_level"] == "class" else "ingredient"


LABEL_HEADER: tuple[str, ...] = ("drug", "drug level", "event", "role", "comparator", "duplicates")
HEADLINE_HEADER: tuple[str, ...] = (
    *LABEL_HEADER,
    "a",
    "PRR [95% CI]",
    "ROR [95% CI]",
    "IC [IC025–IC975]",
    "EBGM [EB05–EB95]",
    "rules met",
)


def _label_cells(row: dict[str, Any]) -> list[str]:
    """Which row it is: drug, level, event and the variant."""
    return [
        str(row["drug"]),
        level_name(row),
        str(row["event"]),
        str(row["role"]),
        str(row["comparator"]),
        str(row["duplicates"]),
    ]


def headline_cells(row: dict[str, Any]) -> list[str]:
    return [
        *_label_cells(row),
        f"{row['a']:.0f}",
        interval(row["prr"], row["prr_lower"], row["prr_upper"]),
        interval(row["ror"], row["ror_lower"], row["ror_upper"]),
        interval(row["ic"], row["ic025"], row["ic975"]),
        interval(row["ebgm"], row["eb05"], row["eb95"]),
        rules_met(row),
    ]


SIGNAL_HEADER: tuple[str, ...] = (*HEADLINE_HEADER, "first flagged")


def signal_cells(row: dict[str, Any]) -> list[str]:
    """A headline row meeting a rule, with the quarter each of its rules first flagged it."""
    firsts = [
        f"{RULE_TITLES[rule]} {row.get(f'first_quarter_{rule}') or '?'}" for rule in RULES if row.get(rule)
    ]
    return [*headline_cells(row), ", ".join(firsts)]


def change_cells(change: dict[str, Any]) -> list[str]:
    def names(rules: list[str]) -> str:
        return ", ".join(RULE_TITLES[rule] for rule in rules) or "—"

    return [
        *_label_cells(change),
        "—" if change["a_previous"] is None else f"{change['a_previous']:.0f}",
        "—" if change["a"] is None else f"{change['a']:.0f}",
        names(change["rules_gained"]),
        names(change["rules_lost"]),
        names(change["first_flagged"]),
    ]


CHANGE_HEADER: tuple[str, ...] = (
    *LABEL_HEADER,
    "a before",
    "a now",
    "rules gained",
    "rules lost",
    "first time ever",
)


def ingest_table(facts: dict[str, Any]) -> Table:
    """Rows loaded per quarter and table, with a total row when there is more than one quarter."""
    tables = list(facts["rows_by_table"])
    header = ["quarter", *tables, "lines repaired", "lines rejected"]
    rows = [
        [
            entry["quarter"],
            *(f"{entry.get(t, 0):,}" for t in tables),
            entry["lines_repaired"],
            entry["lines_rejected"],
        ]
        for entry in facts["ingest"]
    ]
    classes = [""] * len(rows)
    if len(rows) > 1:
        total_rejected = sum(entry["lines_rejected"] for entry in facts["ingest"])
        rows.append(
            [
                "total",
                *(f"{facts['rows_by_table'][t]:,}" for t in tables),
                facts["repairs"],
                total_rejected,
            ]
        )
        classes.append("total")
    return Table(header, rows, classes)


DEDUP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("quarter", "quarter"),
    ("demo_records", "DEMO records"),
    ("removed_deleted", "deleted"),
    ("removed_superseded", "superseded"),
    ("removed_isr_conflict", "ISR conflict"),
    ("set_aside_missing_caseid", "no caseid"),
    ("retained_cases", "retained"),
    ("flagged_duplicates", "flagged duplicates"),
)


def dedup_table(facts: dict[str, Any]) -> Table:
    columns = [(key, title) for key, title in DEDUP_COLUMNS if not facts["dedup"] or key in facts["dedup"][0]]
    rows = [
        [entry[key] if key == "quarter" else f"{entry[key]:,}" for key, _ in columns]
        for entry in facts["dedup"]
    ]
    return Table([title for _, title in columns], rows)


def headline_table(headline: Sequence[dict[str, Any]]) -> Table:
    """Every headline row; a row meeting any rule is a ``signal`` row (highlighted in HTML)."""
    return Table(
        HEADLINE_HEADER,
        [headline_cells(row) for row in headline],
        ["signal" if any(row.get(rule) for rule in RULES) else "" for row in headline],
    )


def signal_table(signals: Sequence[dict[str, Any]]) -> Table:
    return Table(SIGNAL_HEADER, [signal_cells(row) for row in signals])


def change_table(changes: Sequence[dict[str, Any]]) -> Table:
    return Table(CHANGE_HEADER, [change_cells(change) for change in changes])


def changes_lead(changes: Sequence[dict[str, Any]]) -> str:
    """The sentence introducing the change table (``changes`` not empty)."""
    first = changes[0]
    since = f" (compared with {first['previous_quarter']})" if first["previous_quarter"] else ""
    return f"{len(changes)} headline rows changed flags in {first['quarter']}{since}"


def missing_sentence(missing: dict[str, list[str]], zero_rows: int = 0) -> str:
    """What the forest plot leaves out: rows with a = 0, and rows whose statistic is not computable."""
    zeros = (
        f"{count_rows(zero_rows)} with a = 0 (no case of the event with the drug) have PRR and ROR 0 or n/c "
        "and are not drawn; their IC is in the tables. "
        if zero_rows
        else ""
    )
    parts = [f"{stat}: {count_rows(len(rows))} ({'; '.join(rows)})" for stat, rows in missing.items() if rows]
    if not parts:
        return zeros + "Every headline row with a ≥ 1 has a computable PRR, ROR and IC with finite limits."
    return zeros + "Not computable (zero cell), so not drawn in the forest plot — " + " · ".join(parts) + "."


def count_rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


CALIBRATION_HEADER = ["rule", "event", "positive controls flagged", "negative controls flagged"]
COVERAGE_HEADER = ["interval", "nominal", "true quantity", "pairs", "covered", "coverage"]


def _share(flagged: int, present: int, listed: int) -> str:
    """``x/n`` of the controls present (``listed`` in the vocabulary); ``n/c`` when none is present."""
    absent = f"; {listed - present} of {listed} absent" if present < listed else ""
    return f"{flagged}/{present} ({number(flagged / present)}{absent})" if present else f"n/c (0 of {listed})"


def calibration_table(calibration: Sequence[dict[str, Any]]) -> Table:
    """One row per rule x event group of marts.calibration (one variant): flagged controls x/n."""
    return Table(
        CALIBRATION_HEADER,
        [
            [
                RULE_TITLES.get(row["rule"], row["rule"]),
                row["event"],
                _share(row["positive_flagged"], row["positive_present"], row["positive_controls"]),
                _share(row["negative_flagged"], row["negative_present"], row["negative_controls"]),
            ]
            for row in calibration
        ],
    )


def coverage_table(coverage: Sequence[dict[str, Any]]) -> Table:
    """One row per interval x true quantity (all planted pairs): covered x/n against the nominal level."""
    return Table(
        COVERAGE_HEADER,
        [
            [
                row["interval"],
                f"{row['nominal']:.0%}",
                row["truth"],
                row["pairs"],
                row["covered"],
                number(row["coverage"]),
            ]
            for row in coverage
            if row["kind"] == "all"
        ],
    )
