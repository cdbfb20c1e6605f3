"""What a quarterly run tells its user: a Markdown and a self-contained HTML report, plus plain facts.

The report answers three questions in order: did the run load what it should (quarters, rows, rejects,
repairs, de-duplication), what do the dermatomyositis statistics say for taxanes and anti-HER2 agents
across every analysis variant, and what changed this quarter. Everything is read from the database
(read-only), so a report can be regenerated at any time from the same database and gives the same result.

The figures are drawn on bare ``matplotlib.figure.Figure`` objects (the Agg renderer), never through
pyplot, so importing this module changes no global backend and is safe in worker threads. Prefect is not
imported here: ``markdown_summary`` and ``headline_records`` return what the flow hands to its artifacts.
"""

from __future__ import annotations

import base64
import html
import math
import os
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from pv.counts import DEFAULT_VARIANT, PAIR_COLUMNS, VARIANT_COLUMNS
from pv.errors import UserError
from pv.lake import LAKE_TABLES
from pv.quarters import Quarter
from pv.signals import EBGM_STATUS, HEADLINE_EVENTS, RULES, TARGET_CLASSES, headline_filter

DPI = 120
FOREST_WIDTH_IN = 15.0
IC_FIGSIZE_IN = (14.0, 9.0)
FOREST_FILE = "forest_plot.png"
IC_FILE = "ic_over_time.png"

LABEL_COLUMNS: tuple[str, ...] = PAIR_COLUMNS + VARIANT_COLUMNS
ROLES: tuple[str, ...] = ("suspect", "any")
COMPARATORS: tuple[str, ...] = ("all", "oncology", "breast_cancer")
DUPLICATES: tuple[str, ...] = ("without", "with")
# Plot and table order: the default variant first, comparators from widest to narrowest population.
VARIANTS: tuple[tuple[str, str, str], ...] = tuple(
    (role, comparator, duplicates)
    for comparator in COMPARATORS
    for role in ROLES
    for duplicates in DUPLICATES
)
DEFAULT_KEY: tuple[str, str, str] = tuple(DEFAULT_VARIANT[column] for column in VARIANT_COLUMNS)

CLASS_TITLES: dict[str, str] = {
    "taxane": "Taxanes",
    "anti_her2_antibody": "Anti-HER2 antibodies",
    "anti_her2_adc": "Anti-HER2 ADCs",
    "her2_tki": "HER2 TKIs",
}
EVENT_TITLES: dict[str, str] = {
    "dm_narrow": "Dermatomyositis, narrow (dm_narrow)",
    "dm_broad": "Dermatomyositis, broad (dm_broad)",
}
EVENT_SHORT: dict[str, str] = {"dm_narrow": "DM narrow (dm_narrow)", "dm_broad": "DM broad (dm_broad)"}
RULE_TITLES: dict[str, str] = {
    "signal_evans": "Evans",
    "signal_ror": "ROR025>1",
    "signal_ic": "IC025>0",
    "signal_ebgm": "EB05≥2",
}
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
COMPARATOR_COLOURS: dict[str, str] = {"all": "#0072B2", "oncology": "#D55E00", "breast_cancer": "#009E73"}
VARIANT_MARKERS: dict[tuple[str, str], str] = {
    ("suspect", "without"): "o",
    ("suspect", "with"): "s",
    ("any", "without"): "^",
    ("any", "with"): "D",
}
# (estimate, lower, upper, axis title, interval name, rule, log axis)
FOREST_STATISTICS: tuple[tuple[str, str, str, str, str, str, bool], ...] = (
    ("prr", "prr_lower", "prr_upper", "PRR", "95% CI", "signal_evans", True),
    ("ror", "ror_lower", "ror_upper", "ROR", "95% CI", "signal_ror", True),
    ("ic", "ic025", "ic975", "IC", "IC025–IC975", "signal_ic", False),
)
RECORD_COLUMNS: tuple[str, ...] = (
    *LABEL_COLUMNS,
    "drug_class",
    "a",
    "e",
    "prr",
    "prr_lower",
    "prr_upper",
    "chi2_yates",
    "ror",
    "ror_lower",
    "ror_upper",
    "ic",
    "ic025",
    "ic975",
    "ebgm",
    "eb05",
    "eb95",
    "ebgm_status",
    *RULES,
    *(f"first_quarter_{rule}" for rule in RULES),
)


# Reading the database


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, _, name = qualified.rpartition(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema or "main", name],
        ).fetchall()[0][0]
    )


def _plain(value: Any) -> Any:
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/inf/NA to None (JSON has no NaN)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    chosen = [column for column in (columns or frame.columns) if column in frame.columns]
    return [
        {column.lower(): _plain(value) for column, value in zip(chosen, row, strict=True)}
        for row in frame[chosen].itertuples(index=False, name=None)
    ]


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Headline order: narrow before broad, class families in TARGET_CLASSES order, class row first."""
    if frame.empty:
        return frame.reset_index(drop=True)
    events = list(HEADLINE_EVENTS)
    families = list(TARGET_CLASSES)
    variants = {key: rank for rank, key in enumerate(VARIANTS)}
    keys = pd.DataFrame(
        {
            "event": frame["event"].map(lambda e: events.index(e) if e in events else len(events)),
            "family": frame.get("drug_class", frame["drug"]).map(
                lambda c: families.index(c) if c in families else len(families)
            ),
            "level": (frame["drug_level"] != "class").astype(int),
            "drug": frame["drug"],
            "variant": [
                variants.get(key, len(variants))
                for key in zip(frame["role"], frame["comparator"], frame["duplicates"], strict=True)
            ],
        },
        index=frame.index,
    )
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _quarters_present(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Ingested quarters (from the ingest log), else the quarters of the signal history."""
    for table in ("raw.ingest_log", "signal_history"):
        if _exists(con, table):
            found = [quarter for (quarter,) in con.sql(f"select distinct quarter from {table}").fetchall()]
            if found:
                return sorted(found, key=Quarter.parse)
    return []


def _with_drug_class(con: duckdb.DuckDBPyConnection, select_sql: str, params: list) -> pd.DataFrame:
    """Rows of ``select_sql`` plus ``drug_class`` (the class itself for class rows)."""
    return con.execute(
        f"with chosen as ({select_sql}) "
        "select chosen.*, case when chosen.drug_level = 'class' then chosen.drug else classes.class end "
        "as drug_class from chosen left join vocab.ingredient_classes as classes "
        "on chosen.drug_level = 'ingredient' and classes.ingredient = chosen.drug",
        params,
    ).df()


def headline_frame(con: duckdb.DuckDBPyConnection, quarter: str | None = None) -> pd.DataFrame:
    """Every headline row (DM narrow/broad x target ingredient and class x variant), in report order.

    For the latest quarter these are the ``signals`` rows; for an earlier quarter they are the cumulative
    ``signal_history`` rows of that quarter (the headline events are event groups, which the history
    holds), with first-flag quarters counted up to it, so a report for an old quarter shows what was known
    then.
    """
    condition, params = headline_filter()
    present = _quarters_present(con)
    if quarter is None or not present or quarter == present[-1]:
        frame = _with_drug_class(con, f"select * from signals where {condition}", params)
        return _ordered(frame)
    keys = ", ".join(LABEL_COLUMNS)
    firsts = ", ".join(f"min(quarter) filter (where {rule}) as first_quarter_{rule}" for rule in RULES)
    first_columns = ", ".join(f"firsts.first_quarter_{rule}" for rule in RULES)
    select_sql = (
        f"with upto as (select * from signal_history where {condition} and quarter <= ?), "
        f"firsts as (select {keys}, {firsts} from upto group by all) "
        f"select upto.* exclude (quarter), {first_columns} from upto join firsts using ({keys}) "
        "where upto.quarter = ?"
    )
    return _ordered(_with_drug_class(con, select_sql, [*params, quarter, quarter]))


def history_frame(con: duckdb.DuckDBPyConnection, quarter: str | None = None) -> pd.DataFrame:
    """IC history of the headline pairs in the default variant, up to ``quarter`` (default: all)."""
    condition, params = headline_filter()
    variant = " and ".join(f"{column} = ?" for column in VARIANT_COLUMNS)
    limit = " and quarter <= ?" if quarter else ""
    select_sql = f"select * from signal_history where {condition} and {variant}{limit} order by quarter, drug"
    values = [*params, *DEFAULT_KEY, *([quarter] if quarter else [])]
    return _with_drug_class(con, select_sql, values)


def headline_records(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The headline table as JSON-safe records (lower-case keys, NaN and ±inf as None) for a table
    artifact; b, c, d and the prior are left out because a reader of the table cannot act on them."""
    return _records(headline_frame(con), RECORD_COLUMNS)


# The run summary


def new_or_changed(con: duckdb.DuckDBPyConnection, quarter: str | None = None) -> list[dict[str, Any]]:
    """Headline pairs (per variant) whose rule flags differ between ``quarter`` and the quarter before it.

    ``quarter`` defaults to the latest quarter of ``signal_history``. A pair absent from a quarter (no
    report yet, or its reports deleted) counts as flagging nothing. ``first_flagged`` lists the rules that
    flag the pair for the first time ever (``first_quarter_<rule>`` equal to ``quarter``).
    """
    if not _exists(con, "signal_history"):
        return []
    history_quarters = sorted(
        (q for (q,) in con.sql("select distinct quarter from signal_history").fetchall()), key=Quarter.parse
    )
    if not history_quarters:
        return []
    latest = quarter or history_quarters[-1]
    earlier = [q for q in history_quarters if Quarter.parse(q) < Quarter.parse(latest)]
    previous = earlier[-1] if earlier else None
    condition, params = headline_filter()
    keys = ", ".join(LABEL_COLUMNS)
    flags = ", ".join(RULES)
    firsts = ", ".join(f"min(quarter) filter (where {rule}) as first_{rule}" for rule in RULES)
    now = ", ".join(f"coalesce(latest.{rule}, false) as now_{rule}" for rule in RULES)
    before = ", ".join(f"coalesce(previous.{rule}, false) as before_{rule}" for rule in RULES)
    first_columns = ", ".join(f"firsts.first_{rule}" for rule in RULES)
    differs = " or ".join(f"now_{rule} <> before_{rule}" for rule in RULES)
    frame = _with_drug_class(
        con,
        f"with upto as (select {keys}, quarter, a, ic, ic025, {flags} from signal_history "
        f"where {condition} and quarter <= ?), "
        "latest as (select * from upto where quarter = ?), "
        "previous as (select * from upto where quarter = ?), "
        f"firsts as (select {keys}, {firsts} from upto group by all), "
        f"compared as (select {keys}, latest.a as a, previous.a as a_previous, latest.ic as ic, "
        f"latest.ic025 as ic025, {now}, {before} from latest full join previous using ({keys})) "
        f"select compared.*, {first_columns} from compared join firsts using ({keys}) where {differs}",
        [*params, latest, latest, previous],
    )
    changes = []
    for row in _ordered(frame).to_dict("records"):
        changes.append(
            {column: _plain(row[column]) for column in LABEL_COLUMNS}
            | {
                "quarter": latest,
                "previous_quarter": previous,
                "a": _plain(row["a"]),
                "a_previous": _plain(row["a_previous"]),
                "ic": _plain(row["ic"]),
                "ic025": _plain(row["ic025"]),
                "rules_now": [rule for rule in RULES if row[f"now_{rule}"]],
                "rules_gained": [rule for rule in RULES if row[f"now_{rule}"] and not row[f"before_{rule}"]],
                "rules_lost": [rule for rule in RULES if row[f"before_{rule}"] and not row[f"now_{rule}"]],
                "first_flagged": [rule for rule in RULES if row[f"first_{rule}"] == latest],
            }
        )
    return changes


def summary(
    con: duckdb.DuckDBPyConnection, quarters: list[str] | None = None, *, as_of: str | None = None
) -> dict[str, Any]:
    """What the run produced, as JSON-safe values.

    ``quarters`` narrows the load figures (rows, rejects, repairs, de-duplication) to the quarters a run
    ingested; without it they cover every quarter present. Case, pair and signal figures always describe
    the whole database, because the statistics are computed over all quarters. ``as_of`` is the quarter
    whose changes ``new_or_changed`` reports (default: the latest quarter of the signal history). Tables a
    partial database lacks are reported as empty rather than failing, so the summary of a raw-only build
    still says what was loaded.
    """
    present = _quarters_present(con)
    chosen = sorted({str(Quarter.parse(q)) for q in quarters}, key=Quarter.parse) if quarters else present
    placeholders = ", ".join("?" * len(chosen)) or "null"
    facts: dict[str, Any] = {
        "quarters_present": present,
        "quarters": chosen,
        "latest_quarter": present[-1] if present else None,
        "report_quarter": str(Quarter.parse(as_of)) if as_of else (present[-1] if present else None),
    }

    rows_by_table: dict[str, int] = {}
    ingest: list[dict[str, Any]] = []
    repairs = 0
    if _exists(con, "raw.ingest_log"):
        log = con.execute(
            "select quarter, table_name, sum(rows) as rows, sum(lines_repaired) as repaired, "
            f"sum(lines_rejected) as rejected from raw.ingest_log where quarter in ({placeholders}) "
            "group by all",
            chosen,
        ).df()
        tables = [t for t in LAKE_TABLES if t in set(log["table_name"])]
        tables += sorted(set(log["table_name"]) - set(tables))
        rows_by_table = {t: int(log.loc[log["table_name"] == t, "rows"].sum()) for t in tables}
        repairs = int(log["repaired"].sum())
        for q in chosen:
            part = log[log["quarter"] == q]
            if part.empty:
                continue
            ingest.append(
                {"quarter": q}
                | {t: int(part.loc[part["table_name"] == t, "rows"].sum()) for t in tables}
                | {
                    "lines_repaired": int(part["repaired"].sum()),
                    "lines_rejected": int(part["rejected"].sum()),
                }
            )
    facts["rows_by_table"] = rows_by_table
    facts["ingest"] = ingest
    facts["repairs"] = repairs

    rejects_by_table: dict[str, int] = {}
    if _exists(con, "raw.rejects"):
        rejects_by_table = dict(
            con.execute(
                f"select table_name, count(*) from raw.rejects where quarter in ({placeholders}) "
                "group by all order by 1",
                chosen,
            ).fetchall()
        )
    facts["rejects"] = sum(rejects_by_table.values())
    facts["rejects_by_table"] = rejects_by_table

    dedup: list[dict[str, Any]] = []
    if _exists(con, "curated.dedup_summary"):
        frame = con.execute(
            f"select * from curated.dedup_summary where quarter in ({placeholders})", chosen
        ).df()
        dedup = sorted(_records(frame), key=lambda entry: Quarter.parse(entry["quarter"]))
    facts["dedup"] = dedup

    retained = flagged = None
    if _exists(con, "curated.cases"):
        retained, flagged = con.sql(
            "select count(*), count(*) filter (where is_duplicate) from curated.cases"
        ).fetchall()[0]
    facts["retained_cases"] = retained
    facts["flagged_duplicates"] = flagged

    facts["signal_rows"] = facts["pairs_scored"] = facts["history_rows"] = 0
    facts["headline_rows"] = 0
    facts["signals"] = []
    if _exists(con, "signals"):
        facts["signal_rows"], facts["pairs_scored"] = con.sql(
            f"select count(*), count(distinct ({', '.join(PAIR_COLUMNS)})) from signals"
        ).fetchall()[0]
        headline = headline_frame(con, as_of)
        facts["headline_rows"] = len(headline)
        flagged_rows = headline[headline[list(RULES)].fillna(False).astype(bool).any(axis=1)]
        facts["signals"] = _records(flagged_rows, RECORD_COLUMNS)
    if _exists(con, "signal_history"):
        facts["history_rows"] = con.sql("select count(*) from signal_history").fetchall()[0][0]
    facts["prior"] = prior_facts(con)
    facts["checks"] = []
    if _exists(con, "signal_checks"):
        facts["checks"] = _records(con.sql("select * from signal_checks").df())
    facts["new_or_changed"] = new_or_changed(con, as_of)
    return {
        key: _plain(value) if not isinstance(value, (dict, list)) else value for key, value in facts.items()
    }


# Formatting


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/c"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _interval(estimate: Any, lower: Any, upper: Any) -> str:
    return f"{_number(estimate)} [{_number(lower)}, {_number(upper)}]"


def _rules_met(row: dict[str, Any]) -> str:
    met = [RULE_TITLES[rule] for rule in RULES if row.get(rule)]
    return ", ".join(met) if met else "—"


def _level(row: dict[str, Any]) -> str:
    return "class" if row["drug_level"] == "class" else "ingredient"


HEADLINE_HEADER: tuple[str, ...] = (
    "drug",
    "drug level",
    "event",
    "role",
    "comparator",
    "duplicates",
    "a",
    "PRR [95% CI]",
    "ROR [95% CI]",
    "IC [IC025–IC975]",
    "EBGM [EB05–EB95]",
    "rules met",
)


def _headline_cells(row: dict[str, Any]) -> list[str]:
    return [
        str(row["drug"]),
        _level(row),
        str(row["event"]),
        str(row["role"]),
        str(row["comparator"]),
        str(row["duplicates"]),
        f"{row['a']:.0f}",
        _interval(row["prr"], row["prr_lower"], row["prr_upper"]),
        _interval(row["ror"], row["ror_lower"], row["ror_upper"]),
        _interval(row["ic"], row["ic025"], row["ic975"]),
        _interval(row["ebgm"], row["eb05"], row["eb95"]),
        _rules_met(row),
    ]


SIGNAL_HEADER: tuple[str, ...] = (*HEADLINE_HEADER, "first flagged")


def _signal_cells(row: dict[str, Any]) -> list[str]:
    """A headline row meeting a rule, with the quarter each of its rules first flagged it."""
    firsts = [
        f"{RULE_TITLES[rule]} {row.get(f'first_quarter_{rule}') or '?'}" for rule in RULES if row.get(rule)
    ]
    return [*_headline_cells(row), ", ".join(firsts)]


def _change_cells(change: dict[str, Any]) -> list[str]:
    def names(rules: list[str]) -> str:
        return ", ".join(RULE_TITLES[rule] for rule in rules) or "—"

    return [
        str(change["drug"]),
        _level(change),
        str(change["event"]),
        str(change["role"]),
        str(change["comparator"]),
        str(change["duplicates"]),
        "—" if change["a_previous"] is None else f"{change['a_previous']:.0f}",
        "—" if change["a"] is None else f"{change['a']:.0f}",
        names(change["rules_gained"]),
        names(change["rules_lost"]),
        names(change["first_flagged"]),
    ]


CHANGE_HEADER: tuple[str, ...] = (
    "drug",
    "drug level",
    "event",
    "role",
    "comparator",
    "duplicates",
    "a before",
    "a now",
    "rules gained",
    "rules lost",
    "first time ever",
)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _ingest_table(facts: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
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
    if len(rows) > 1:
        total_rejected = sum(entry["lines_rejected"] for entry in facts["ingest"])
        rows.append(
            [
                "**total**",
                *(f"{facts['rows_by_table'][t]:,}" for t in tables),
                facts["repairs"],
                total_rejected,
            ]
        )
    return header, rows


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


def _dedup_table(facts: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    columns = [(key, title) for key, title in DEDUP_COLUMNS if not facts["dedup"] or key in facts["dedup"][0]]
    rows = [
        [entry[key] if key == "quarter" else f"{entry[key]:,}" for key, _ in columns]
        for entry in facts["dedup"]
    ]
    return [title for _, title in columns], rows


def _run_lines(facts: dict[str, Any], quarter: str) -> list[str]:
    present = facts["quarters_present"]
    span = f"{present[0]} to {present[-1]}" if present else "none"
    lines = [
        f"Report quarter: **{quarter}** (data cumulative through this quarter).",
        f"Quarters in the database: {len(present)} ({span}): {', '.join(present)}.",
        *(
            [f"Load figures below are for the quarters of this run: {', '.join(facts['quarters'])}."]
            if facts["quarters"] != present
            else []
        ),
        f"Rows loaded: {sum(facts['rows_by_table'].values()):,}; lines repaired: {facts['repairs']:,}; "
        f"lines rejected (kept verbatim in raw.rejects): {facts['rejects']:,}"
        + (
            " (" + ", ".join(f"{t} {n:,}" for t, n in facts["rejects_by_table"].items()) + ")."
            if facts["rejects_by_table"]
            else "."
        ),
    ]
    if facts["retained_cases"] is not None:
        lines.append(
            f"Retained cases after de-duplication: {facts['retained_cases']:,}, of which "
            f"{facts['flagged_duplicates']:,} flagged as cross-case duplicates."
        )
    lines.append(
        f"Pairs scored: {facts['pairs_scored']:,} drug–event pairs in {facts['signal_rows']:,} rows "
        f"(levels × variants); signal history: {facts['history_rows']:,} rows."
    )
    lines.append(
        f"Dermatomyositis headline rows: {facts['headline_rows']:,}, of which {len(facts['signals']):,} "
        "meet at least one signal rule."
    )
    if facts.get("prior"):
        lines.append(prior_sentence(facts["prior"]))
    if facts.get("checks"):
        checks = facts["checks"]
        failed = [check for check in checks if check["violations"]]
        quantiles = [
            f"{check['check_name'].split(':')[0]}: {check['rows_checked']:,} rows, {check['detail']}"
            for check in checks
            if "exact quantiles" in check["check_name"] and check["rows_checked"]
        ]
        solved = (
            "EB05/EB95 solve their equation to 1e-10 (" + "; ".join(quantiles) + ")"
            if quantiles
            else "no EB05/EB95 stored to check"
        )
        lines.append(
            f"Integrity checks of the stored statistics: {len(checks)} of {len(checks)} passed ({solved}; no "
            "rule on an infinite or undefined value; every N equals the population counted from the curated "
            "tables; the history's latest quarter equals today's table)."
            if not failed
            else f"Integrity checks FAILED: {', '.join(check['check_name'] for check in failed)}."
        )
    return lines


def prior_facts(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The stored GPS prior row (``gps_priors``) as JSON-safe values, or None before any build."""
    if not _exists(con, "gps_priors"):
        return None
    rows = _records(con.sql("select * from gps_priors").df())
    return rows[0] if rows else None


def prior_sentence(prior: dict[str, Any]) -> str:
    """Whether the GPS prior converged, in words, and what that means for EBGM."""
    fitted_on = (
        f"the {prior['n_pairs']:,} observed ingredient × PT pairs of the default variant "
        f"({prior['role']} / {prior['comparator']} / {prior['duplicates']})"
    )
    if prior["status"] == "ok":
        gap = prior.get("log_likelihood_gap")
        runner = (
            f"; the runner-up optimum (α1 {_number(prior['runner_up_alpha1'])}, β1 "
            f"{_number(prior['runner_up_beta1'])}, α2 {_number(prior['runner_up_alpha2'])}, β2 "
            f"{_number(prior['runner_up_beta2'])}, P {_number(prior['runner_up_p'])}) has a −log-likelihood "
            f"{_number(gap)} higher"
            if gap is not None
            else "; no other optimum found"
        )
        return (
            f"GPS prior: fitted by maximum likelihood on {fitted_on} and converged "
            f"(α1 {_number(prior['alpha1'])}, β1 {_number(prior['beta1'])}, α2 {_number(prior['alpha2'])}, "
            f"β2 {_number(prior['beta2'])}, P {_number(prior['p'])}; "
            f"{prior['n_agree']} of {prior['n_starts']} starts agree{runner}); "
            "used for every level, variant and quarter."
        )
    if prior["status"] == "too_few_pairs":
        return (
            f"GPS prior: not fitted ({EBGM_STATUS['too_few_pairs']}): EBGM, EB05 and EB95 are not reported "
            "and the EB05 ≥ 2 rule flags nothing."
        )
    return (
        f"GPS prior: the maximum-likelihood fit on {fitted_on} did NOT converge "
        f"({prior['reason']}; {prior['n_starts']} starts in {prior['attempts']} attempts). EBGM, EB05 and "
        "EB95 are therefore not reported (n/c) and the EB05 ≥ 2 rule flags nothing."
    )


def markdown_summary(summary: dict[str, Any]) -> str:
    """A short Markdown digest of ``summary(...)`` for a Prefect markdown artifact."""
    quarter = summary.get("report_quarter") or "none"
    parts = ["# FAERS run summary", "", *(f"- {line}" for line in _run_lines(summary, quarter)), ""]
    if summary["ingest"]:
        parts += ["## Rows loaded per quarter", "", _markdown_table(*_ingest_table(summary)), ""]
    if summary["dedup"]:
        parts += ["## De-duplication per quarter", "", _markdown_table(*_dedup_table(summary)), ""]
    parts += ["## Dermatomyositis signals (headline rows meeting a rule)", ""]
    if summary["signals"]:
        parts.append(_markdown_table(SIGNAL_HEADER, [_signal_cells(row) for row in summary["signals"]]))
    else:
        parts.append("No headline row meets any signal rule.")
    parts += ["", "## New or changed this quarter", ""]
    parts.append(_changes_markdown(summary["new_or_changed"]))
    return "\n".join(parts) + "\n"


def _changes_markdown(changes: list[dict[str, Any]]) -> str:
    if not changes:
        return "No headline pair changed its signal flags since the previous quarter."
    first = changes[0]
    since = f" (compared with {first['previous_quarter']})" if first["previous_quarter"] else ""
    return f"{len(changes)} headline rows changed flags in {first['quarter']}{since}:\n\n" + _markdown_table(
        CHANGE_HEADER, [_change_cells(change) for change in changes]
    )


# Figures


def _drug_rows(frame: pd.DataFrame) -> list[tuple[str, str, str, int]]:
    """(drug, drug_level, label, family rank) for each distinct drug, class first within its family."""
    drugs = _ordered(frame.assign(event="", role="suspect", comparator="all", duplicates="without"))
    seen: list[tuple[str, str, str, int]] = []
    families = list(TARGET_CLASSES)
    for drug, level, family in zip(
        drugs["drug"], drugs["drug_level"], drugs.get("drug_class", drugs["drug"]), strict=True
    ):
        if any(entry[0] == drug and entry[1] == level for entry in seen):
            continue
        label = f"{CLASS_TITLES.get(drug, drug)} (class)" if level == "class" else drug
        rank = families.index(family) if family in families else len(families)
        seen.append((drug, level, label, rank))
    return seen


def _finite(*columns: pd.Series, positive: bool) -> np.ndarray:
    values = np.column_stack([column.to_numpy(dtype=float) for column in columns])
    ok = np.isfinite(values).all(axis=1)
    if positive:
        ok &= (values > 0).all(axis=1)
    return ok


def not_computable(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per forest statistic, the headline rows with a >= 1 it cannot draw (a zero cell gives an infinite or
    undefined estimate or limit), described as 'drug · event · role/comparator/duplicates'. Rows with a = 0
    are counted apart (:func:`_missing_sentence`), not listed."""
    missing: dict[str, list[str]] = {}
    reported = frame[frame["a"] > 0] if not frame.empty else frame
    for estimate, lower, upper, title, _, _, log in FOREST_STATISTICS:
        if reported.empty:
            missing[title] = []
            continue
        bad = reported[~_finite(reported[estimate], reported[lower], reported[upper], positive=log)]
        missing[title] = [
            f"{row.drug} · {row.event} · {row.role}/{row.comparator}/{row.duplicates}"
            for row in bad.itertuples(index=False)
        ]
    return missing


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _log_axis(ax, low: float, high: float) -> None:
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    decades = math.log10(high / low)
    subs = (1.0,) if decades > 2.6 else (1.0, 2.0, 5.0)
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=False))


def forest_plot(frame: pd.DataFrame, path: Path, *, title: str | None = None) -> Path:
    """Forest plot of PRR, ROR and IC with their intervals: one panel per statistic and event group, one
    row per drug (classes in bold above their ingredients) and the twelve analysis variants stacked within
    each row, so a reader sees at once whether a signal survives a change of role, comparator or
    duplicate handling. Rows whose estimate or limits are not finite are skipped and listed in the note.
    """
    path = Path(path)
    rows = _drug_rows(frame) if not frame.empty else []
    events = [e for e in HEADLINE_EVENTS if e in set(frame.get("event", []))]
    events += sorted(set(frame.get("event", [])) - set(events))
    missing = not_computable(frame)
    row_height, top, gap = 1.0, 1.0, 0.95
    n_rows = max(len(rows), 1)
    panel = n_rows * row_height + 0.25
    note_lines = 3 + sum(1 for names in missing.values() if names)
    bottom = 0.75 + 1.2 + 0.2 * note_lines
    height = top + max(len(events), 1) * panel + (max(len(events), 1) - 1) * gap + bottom
    fig = Figure(figsize=(FOREST_WIDTH_IN, height), dpi=DPI)
    fig.suptitle(
        title or "Dermatomyositis × taxanes and anti-HER2 agents: PRR, ROR and IC across analysis variants",
        fontsize=14,
        fontweight="bold",
        y=1 - 0.3 / height,
    )
    if not rows:
        fig.text(0.5, 0.5, "No report of dermatomyositis with a taxane or anti-HER2 agent.", ha="center")
        fig.savefig(path, dpi=DPI)
        return path

    grid = fig.add_gridspec(
        len(events),
        len(FOREST_STATISTICS),
        left=2.3 / FOREST_WIDTH_IN,
        right=1 - 0.3 / FOREST_WIDTH_IN,
        top=1 - top / height,
        bottom=bottom / height,
        hspace=gap / panel,
        wspace=0.12,
    )
    position = {(drug, level): index for index, (drug, level, _, _) in enumerate(rows)}
    offsets = _variant_offsets()
    frame = frame.assign(
        _y=[
            position[(drug, level)] + offsets.get(tuple(key), 0.0)
            for drug, level, *key in zip(
                frame["drug"],
                frame["drug_level"],
                frame["role"],
                frame["comparator"],
                frame["duplicates"],
                strict=True,
            )
        ]
    )
    frame["_variant"] = list(zip(frame["role"], frame["comparator"], frame["duplicates"], strict=True))

    first_axes = None
    for column, (estimate, lower, upper, stat, interval, rule, log) in enumerate(FOREST_STATISTICS):
        drawable = frame[_finite(frame[estimate], frame[lower], frame[upper], positive=log)]
        if log:
            low = min(drawable[lower].min(), 1.0) if len(drawable) else 0.1
            high = max(drawable[upper].max(), 1.0) if len(drawable) else 10.0
            limits = (low / 1.6, high * 1.6)
        else:
            low = min(drawable[lower].min(), 0.0) if len(drawable) else -1.0
            high = max(drawable[upper].max(), 0.0) if len(drawable) else 1.0
            pad = 0.06 * (high - low)
            limits = (low - pad, high + pad)
        column_axes = None
        for row_index, event in enumerate(events):
            ax = fig.add_subplot(grid[row_index, column], sharey=first_axes, sharex=column_axes)
            first_axes = first_axes or ax
            column_axes = column_axes or ax
            _forest_panel(
                ax,
                frame[frame["event"] == event],
                drawable[drawable["event"] == event],
                rows,
                (estimate, lower, upper, rule),
            )
            if log:
                _log_axis(ax, *limits)
                ax.axvline(1.0, color="#444444", linewidth=1.0, zorder=1)
            else:
                ax.set_xlim(*limits)
                ax.axvline(0.0, color="#444444", linewidth=1.0, zorder=1)
            ax.set_title(f"{EVENT_SHORT.get(event, event)} · {stat} ({interval})", fontsize=10.5, loc="left")
            scale = "log scale" if log else "log2 scale, shrinkage"
            ax.set_xlabel(f"{stat} ({scale})", fontsize=9)
            ax.tick_params(axis="x", labelsize=8.5)
            if column == 0:
                ax.set_yticks(range(len(rows)), [label for _, _, label, _ in rows])
                for tick, (_, level, _, _) in zip(ax.get_yticklabels(), rows, strict=True):
                    tick.set_fontweight("bold" if level == "class" else "normal")
                    tick.set_fontsize(9.5)
            else:
                ax.tick_params(axis="y", labelleft=False, length=0)
    first_axes.set_ylim(len(rows) - 0.5, -0.5)

    fig.legend(
        *_forest_legend(),
        loc="lower center",
        bbox_to_anchor=(0.5, (0.2 * note_lines + 0.15) / height),
        ncol=3,
        frameon=False,
        fontsize=9,
        columnspacing=3.0,
        handletextpad=0.6,
    )
    for text in fig.legends[0].get_texts():
        if text.get_text().endswith(":"):
            text.set_fontweight("bold")
    order = ", ".join(f"{role}/{comparator}/{dups}" for role, comparator, dups in VARIANTS[:4])
    notes = [
        "Each drug row stacks the 12 variants (role/comparator/duplicates) top to bottom: "
        f"{order}, … then the oncology and breast_cancer comparators. A variant with no report of the pair "
        "is absent; 'no report' marks a drug without any report of the event.",
        "Black-edged markers meet the statistic's rule: PRR Evans (PRR ≥ 2, Yates χ² ≥ 4, a ≥ 3), "
        "ROR025 > 1 with a ≥ 3, IC025 > 0. PRR and ROR on log axes with the line of no disproportionality "
        "at 1; IC = log2((a+0.5)/(E+0.5)) with the line at 0.",
    ]
    for stat, names in missing.items():
        if names:
            shown = "; ".join(names[:6]) + (f"; and {len(names) - 6} more" if len(names) > 6 else "")
            notes.append(f"{stat} not computable (zero cell), not drawn: {_rows(len(names))} — {shown}.")
    if not any(missing.values()):
        notes.append("Every headline row had a computable PRR, ROR and IC with finite limits.")
    fig.text(
        0.012,
        0.1 / height,
        "\n".join(_wrap(note, 190) for note in notes),
        fontsize=8,
        color="#333333",
        va="bottom",
        ha="left",
        linespacing=1.35,
    )
    fig.savefig(path, dpi=DPI)
    return path


def _variant_offsets() -> dict[tuple[str, str, str], float]:
    """Vertical positions of the variants within a drug row, with a gap between comparator clusters."""
    slots = []
    for index in range(len(VARIANTS)):
        slots.append(index + 0.8 * (index // (len(ROLES) * len(DUPLICATES))))
    span = slots[-1] - slots[0]
    return {
        variant: -0.42 + 0.84 * (slot - slots[0]) / span
        for variant, slot in zip(VARIANTS, slots, strict=True)
    }


def _forest_panel(ax, rows_of_event: pd.DataFrame, drawable: pd.DataFrame, rows, columns) -> None:
    estimate, lower, upper, rule = columns
    families = [rank for _, _, _, rank in rows]
    start = 0
    shade = False
    for index in range(1, len(rows) + 1):
        if index == len(rows) or families[index] != families[start]:
            if shade:
                ax.axhspan(start - 0.5, index - 0.5, color="#f1f3f5", zorder=0, linewidth=0)
            shade = not shade
            start = index
    for index in range(len(rows) - 1):
        ax.axhline(index + 0.5, color="#d0d4d9", linewidth=0.6, zorder=0.5)
    present = set(zip(rows_of_event["drug"], rows_of_event["drug_level"], strict=True))
    across = blended_transform_factory(ax.transAxes, ax.transData)
    for index, (drug, level, _, _) in enumerate(rows):
        if (drug, level) not in present:
            ax.text(
                0.5,
                index,
                "no report",
                transform=across,
                ha="center",
                va="center",
                fontsize=8,
                color="#8a8f95",
                style="italic",
            )
    for variant, part in drawable.groupby("_variant", sort=False):
        role, comparator, duplicates = variant
        colour = COMPARATOR_COLOURS.get(comparator, "#555555")
        marker = VARIANT_MARKERS.get((role, duplicates), "o")
        ax.hlines(part["_y"], part[lower], part[upper], color=colour, linewidth=1.1, alpha=0.9, zorder=2)
        met = part[rule].fillna(False).astype(bool).to_numpy()
        ax.scatter(
            part.loc[~met, estimate],
            part.loc[~met, "_y"],
            marker=marker,
            s=24,
            color=colour,
            edgecolors="white",
            linewidths=0.4,
            zorder=3,
        )
        ax.scatter(
            part.loc[met, estimate],
            part.loc[met, "_y"],
            marker=marker,
            s=46,
            color=colour,
            edgecolors="black",
            linewidths=1.2,
            zorder=4,
        )
    ax.grid(axis="x", color="#e3e6ea", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _forest_legend() -> tuple[list, list[str]]:
    blank = Line2D([], [], linestyle="none")
    handles: list = [blank]
    labels = ["Comparator:"]
    for comparator, colour in COMPARATOR_COLOURS.items():
        handles.append(Line2D([], [], color=colour, marker="o", markersize=6, linewidth=1.1))
        labels.append(
            {
                "all": "all reports",
                "oncology": "oncology indication",
                "breast_cancer": "breast cancer indication",
            }[comparator]
        )
    handles.append(blank)
    labels.append(" ")
    handles.append(blank)
    labels.append("Drug role / flagged duplicates:")
    for (role, duplicates), marker in VARIANT_MARKERS.items():
        handles.append(Line2D([], [], color="#555555", marker=marker, markersize=6, linestyle="none"))
        role_text = "suspect (PS/SS)" if role == "suspect" else "any role"
        labels.append(f"{role_text}, {duplicates} duplicates")
    handles.append(blank)
    labels.append("Marks:")
    handles.append(
        Line2D(
            [],
            [],
            color="#555555",
            marker="o",
            markersize=7,
            markeredgecolor="black",
            markeredgewidth=1.2,
            linestyle="none",
        )
    )
    labels.append("rule met for that statistic")
    handles.append(Line2D([], [], color="#555555", linewidth=1.1))
    labels.append("interval (95% CI; IC025–IC975)")
    handles.append(Line2D([], [], color="#444444", linewidth=1.0))
    labels.append("no disproportionality (1; IC 0)")
    handles.append(blank)
    labels.append(" ")
    return handles, labels


def ic_over_time_plot(history: pd.DataFrame, path: Path, *, title: str | None = None) -> Path:
    """IC with its IC025–IC975 band, cumulative by quarter, for the headline pairs of the default variant.

    Classes and ingredients get separate panel rows (classes solid, ingredients dashed) so the bands stay
    readable; one column per event group, a shared y axis so narrow and broad compare directly. The x axis
    lists the quarters present in order, without gaps for quarters the database does not hold.
    """
    path = Path(path)
    frame = history
    if not frame.empty and set(VARIANT_COLUMNS) <= set(frame.columns):
        keep = np.ones(len(frame), dtype=bool)
        for column, value in DEFAULT_VARIANT.items():
            keep &= (frame[column] == value).to_numpy()
        frame = frame[keep]
    quarters = sorted(set(frame.get("quarter", [])), key=Quarter.parse)
    x_of = {quarter: index for index, quarter in enumerate(quarters)}
    fig = Figure(figsize=IC_FIGSIZE_IN, dpi=DPI)
    fig.suptitle(
        title
        or "Dermatomyositis: shrinkage IC by quarter (cumulative) — suspect role, all reports, "
        "without flagged duplicates",
        fontsize=13,
        fontweight="bold",
        y=0.975,
    )
    grid = fig.add_gridspec(2, 2, left=0.065, right=0.8, top=0.895, bottom=0.14, hspace=0.42, wspace=0.08)
    levels = (("class", "Classes"), ("ingredient", "Ingredients"))
    events = list(HEADLINE_EVENTS)
    colours = _drug_colours(frame)
    first = None
    for row, (level, level_title) in enumerate(levels):
        for column, event in enumerate(events):
            ax = fig.add_subplot(grid[row, column], sharex=first, sharey=first)
            first = first or ax
            part = frame[(frame["drug_level"] == level) & (frame["event"] == event)] if len(frame) else frame
            ax.axhline(0.0, color="#444444", linewidth=1.0, zorder=1)
            for drug, lines in part.groupby("drug", sort=True):
                lines = lines.sort_values("quarter", key=lambda s: s.map(lambda q: x_of[q]))
                x = lines["quarter"].map(x_of).to_numpy()
                colour = colours[(drug, level)]
                label = f"{CLASS_TITLES.get(drug, drug)}" if level == "class" else drug
                if len(x) == 1:
                    # A band needs two quarters; one quarter gets its interval as an error bar.
                    ax.vlines(
                        x, lines["ic025"], lines["ic975"], color=colour, alpha=0.45, linewidth=5, zorder=1.5
                    )
                else:
                    ax.fill_between(
                        x, lines["ic025"], lines["ic975"], color=colour, alpha=0.13, linewidth=0, zorder=1.5
                    )
                ax.plot(
                    x,
                    lines["ic"],
                    color=colour,
                    linewidth=2.2 if level == "class" else 1.5,
                    linestyle="-" if level == "class" else "--",
                    marker="s" if level == "class" else "o",
                    markersize=4,
                    label=label,
                    zorder=3,
                )
            if part.empty:
                ax.text(
                    0.5,
                    0.5,
                    "no report",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="#8a8f95",
                    style="italic",
                )
            ax.set_title(f"{level_title} — {EVENT_TITLES.get(event, event)}", fontsize=10.5, loc="left")
            ax.grid(color="#e3e6ea", linewidth=0.6)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            if column == 0:
                ax.set_ylabel("IC (log2), band IC025–IC975", fontsize=9)
            else:
                ax.tick_params(axis="y", labelleft=False)
            if column == len(events) - 1:
                handles, labels = _merged_handles(level, colours)
                if handles:
                    ax.legend(
                        handles,
                        labels,
                        loc="upper left",
                        bbox_to_anchor=(1.03, 1.0),
                        frameon=False,
                        fontsize=9,
                        title=level_title,
                        title_fontproperties={"weight": "bold"},
                    )
    if quarters and first is not None:
        step = max(1, math.ceil(len(quarters) / 16))
        first.set_xticks(range(0, len(quarters), step), quarters[::step])
        first.set_xlim(-0.5, len(quarters) - 0.5)
        for ax in fig.axes:
            ax.tick_params(axis="x", labelrotation=45, labelsize=8.5, labelbottom=True)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")
    fig.text(
        0.012,
        0.015,
        _wrap(
            "Cumulative statistics through each quarter (a case counts from the quarter it was first "
            "published). IC025 > 0, i.e. a band wholly above the zero line, is the IC signal rule. Lines "
            "start in the first quarter with a report of the pair; quarters are those the database holds, "
            "evenly spaced.",
            200,
        ),
        fontsize=8,
        color="#333333",
        va="bottom",
    )
    fig.savefig(path, dpi=DPI)
    return path


def _drug_colours(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Classes in four fixed colours; ingredients in a qualitative palette, stable across panels."""
    class_colours = {
        "taxane": "#0072B2",
        "anti_her2_antibody": "#009E73",
        "anti_her2_adc": "#D55E00",
        "her2_tki": "#CC79A7",
    }
    palette = [
        "#1b9e77",
        "#d95f02",
        "#7570b3",
        "#e7298a",
        "#66a61e",
        "#e6ab02",
        "#a6761d",
        "#666666",
        "#1f78b4",
        "#b2df8a",
        "#fb9a99",
        "#cab2d6",
    ]
    colours: dict[tuple[str, str], str] = {}
    if frame.empty:
        return colours
    ingredients = 0
    for drug, level, _, _ in _drug_rows(frame):
        if level == "class":
            colours[(drug, level)] = class_colours.get(drug, "#333333")
        else:
            colours[(drug, level)] = palette[ingredients % len(palette)]
            ingredients += 1
    return colours


def _merged_handles(level: str, colours: dict[tuple[str, str], str]) -> tuple[list, list[str]]:
    """One legend entry per drug of the level, even when it appears in only one of the two panels."""
    handles, labels = [], []
    for (drug, drug_level), colour in colours.items():
        if drug_level != level:
            continue
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linewidth=2.2 if level == "class" else 1.5,
                linestyle="-" if level == "class" else "--",
                marker="s" if level == "class" else "o",
                markersize=4,
            )
        )
        labels.append(CLASS_TITLES.get(drug, drug) if level == "class" else drug)
    return handles, labels


# The report


def _image_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _methods(prior: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs of the methods note, shared by the Markdown and the HTML."""
    return [
        (
            "Counting",
            "Report-level counting: a is the number of de-duplicated cases reporting both the drug and the "
            "event, and the other cells of the 2×2 table count cases the same way within the variant's "
            "population. A drug written on several DRUG rows, or two dermatomyositis terms in one report, "
            "count once. Cases are the versions kept by FDA's minimum de-duplication (deleted-case lists "
            "removed, the latest caseversion per caseid, FAERS over legacy AERS). The population N of a "
            "variant is the cases with at least one drug that counts as an exposure under the variant's role "
            "(a primary or secondary suspect for 'suspect', any role for 'any'; 'drug not administered' "
            "never) and at least one reaction term, within the comparator; cases without a drug or without "
            "an event are in no 2×2 table.",
        ),
        (
            "Variants",
            "role: suspect (primary or secondary suspect) or any role ('drug not administered' never "
            "counts); "
            "comparator: all cases, oncology (cases with some drug given for a cancer indication) or "
            "breast_cancer (some drug given for breast cancer); duplicates: without or with the flagged "
            "cross-case duplicates; drug level: ingredient or class. The default variant is suspect / all / "
            "without. dm_narrow is a subset of dm_broad.",
        ),
        (
            "Duplicates",
            "Besides FDA's minimum de-duplication, the same event sent by several reporters is flagged, not "
            "deleted: same event date, age, sex, reporter country, ingredient set and PT set (a missing "
            "field never matches), or the same manufacturer control number from the same sender. Groups "
            "are transitive and the copy FDA received last represents the group; 'without' drops the other "
            "members, 'with' keeps every flagged case.",
        ),
        (
            "Statistics and rules",
            "PRR with the log-method 95% CI; ROR with the Woolf 95% CI; shrinkage IC = "
            "log2((a+0.5)/(E+0.5)) with exact IC025–IC975; EBGM with EB05–EB95 that solve their quantile "
            "equation to 1e-10 (checked for every stored row before the database is published). Rules: "
            "Evans (PRR ≥ 2, Yates χ² ≥ 4, a ≥ 3), ROR025 > 1 with a ≥ 3, IC025 > 0, EB05 ≥ 2; a rule "
            "fires on finite evidence only, so a zero cell (PRR or ROR infinite, 0 or n/c = not "
            "computable) never signals. Every target drug in the data is shown for both dermatomyositis "
            "groups and every variant, with a = 0 when no case reports the event: a zero is a finding.",
        ),
        (
            "History",
            "Each quarter's statistics are those a quarterly run at that quarter would have computed: the "
            "latest version of each case published up to that quarter, the deleted-case lists published up "
            "to it, and the duplicates that run would have flagged; a follow-up published later never counts "
            "earlier. Every quarter uses today's GPS prior, so EBGM compares across quarters; the first "
            "quarter a rule flagged a pair follows from this history.",
        ),
        ("Prior", _prior_method(prior)),
        (
            "MedDRA",
            "No MedDRA distribution is included (it is licensed): reaction terms are matched on their PT "
            "text (case-, space-, hyphen- and apostrophe-insensitive, spelling variants and known renames "
            "applied) to the reviewed dm_narrow and dm_broad lists. Terms that are lowest-level terms rather "
            "than PTs are only mapped when a licensed MedDRA release is configured (PV_MEDDRA_DIR).",
        ),
        (
            "Reading the results",
            "Disproportionality is a screening statistic of spontaneous reports, not an incidence or a "
            "causal estimate: reporting is voluntary, influenced by publicity and indication, and has no "
            "denominator of exposed patients. A signal is a prompt for case review (pv cases).",
        ),
    ]


def _prior_method(prior: dict[str, Any] | None) -> str:
    common = (
        "One GPS (gamma-Poisson shrinkage) prior, DuMouchel's two-gamma mixture with openEBGM's "
        "per-component truncated likelihood (N* = 1), is fitted once on the base level (ingredient × PT, "
        "default variant), as Empirica and openEBGM do, from many starting points, and used for every drug "
        "and event level, variant and quarter, so EBGM values compare. A prior that does not converge is "
        "never used. "
    )
    return common + (prior_sentence(prior) if prior else "No prior is stored.")


def _resolve_quarter(con: duckdb.DuckDBPyConnection, db_path: Path, quarter: str | None) -> str:
    present = _quarters_present(con)
    if not present:
        raise UserError(f"{db_path}: no quarters ingested; run `pv ingest` first")
    if quarter is None:
        return present[-1]
    wanted = str(Quarter.parse(quarter))
    if wanted not in present:
        raise UserError(
            f"{db_path}: quarter {wanted} is not in the database (it holds {present[0]}..{present[-1]})"
        )
    return wanted


def _write_text(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a report."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _save_figure(draw, data: pd.DataFrame, path: Path, **options: Any) -> Path:
    temporary = path.with_name(f".{path.stem}.tmp.png")
    draw(data, temporary, **options)
    os.replace(temporary, path)
    return path


def write_report(db_path: Path, out_dir: Path, quarter: str | None = None) -> Path:
    """Write ``out_dir/<quarter>/report.md`` and a self-contained ``report.html`` (figures embedded, no
    network), with the two PNGs next to them; return the HTML path.

    ``quarter`` defaults to the latest quarter in the database; an earlier one reports the cumulative
    statistics as they stood at that quarter.
    """
    db_path = Path(db_path)
    if not db_path.exists():
        raise UserError(f"{db_path}: no database; run `pv ingest` first")
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error as error:
        raise UserError(f"{db_path}: cannot open the database ({str(error).splitlines()[0]})") from error
    with con:
        if not _exists(con, "signals") or not _exists(con, "signal_history"):
            raise UserError(f"{db_path}: no signals table; run `pv build` first")
        chosen = _resolve_quarter(con, db_path, quarter)
        facts = summary(con, None, as_of=chosen)
        headline = headline_frame(con, chosen)
        history = history_frame(con, chosen)
        prior = prior_facts(con)
    folder = Path(out_dir) / chosen
    folder.mkdir(parents=True, exist_ok=True)
    forest = _save_figure(
        forest_plot,
        headline,
        folder / FOREST_FILE,
        title=f"Dermatomyositis × taxanes and anti-HER2 agents, data through {chosen}: PRR, ROR and IC "
        "across analysis variants",
    )
    ic_plot = _save_figure(ic_over_time_plot, history, folder / IC_FILE)
    missing = not_computable(headline)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    context = {
        "quarter": chosen,
        "db": str(db_path),
        "generated": generated,
        "facts": facts,
        "headline": headline.to_dict("records"),
        "missing": missing,
        "zero_rows": int((headline["a"] == 0).sum()) if not headline.empty else 0,
        "methods": _methods(prior),
    }
    _write_text(folder / "report.md", _render_markdown(context))
    html_path = folder / "report.html"
    _write_text(html_path, _render_html(context, forest, ic_plot))
    return html_path


def _missing_sentence(missing: dict[str, list[str]], zero_rows: int = 0) -> str:
    zeros = (
        f"{_rows(zero_rows)} with a = 0 (no case of the event with the drug) have PRR and ROR 0 or n/c and "
        "are not drawn; their IC is in the tables. "
        if zero_rows
        else ""
    )
    parts = [f"{stat}: {_rows(len(rows))} ({'; '.join(rows)})" for stat, rows in missing.items() if rows]
    if not parts:
        return zeros + "Every headline row with a ≥ 1 has a computable PRR, ROR and IC with finite limits."
    return zeros + "Not computable (zero cell), so not drawn in the forest plot — " + " · ".join(parts) + "."


def _render_markdown(context: dict[str, Any]) -> str:
    facts, quarter = context["facts"], context["quarter"]
    parts = [
        f"# FAERS quarterly report — {quarter}",
        "",
        f"Database `{context['db']}`, generated {context['generated']}.",
        "",
        "## Run summary",
        "",
        *(f"- {line}" for line in _run_lines(facts, quarter)),
        "",
    ]
    if facts["ingest"]:
        parts += ["### Rows loaded per quarter", "", _markdown_table(*_ingest_table(facts)), ""]
    if facts["dedup"]:
        parts += ["### De-duplication per quarter", "", _markdown_table(*_dedup_table(facts)), ""]
    parts += [
        "## Headline signals: dermatomyositis × taxanes and anti-HER2 agents",
        "",
        f"{len(context['headline'])} rows (every target ingredient and class in the data × 12 variants, "
        f"a = 0 included); {len(facts['signals'])} meet at least one rule. n/c = not computable.",
        "",
        "### Rows meeting at least one rule",
        "",
        _markdown_table(SIGNAL_HEADER, [_signal_cells(row) for row in facts["signals"]])
        if facts["signals"]
        else "None.",
        "",
        "### All headline rows",
        "",
        _markdown_table(HEADLINE_HEADER, [_headline_cells(row) for row in context["headline"]]),
        "",
        "## Forest plot",
        "",
        f"![Forest plot of PRR, ROR and IC]({FOREST_FILE})",
        "",
        _missing_sentence(context["missing"], context["zero_rows"]),
        "",
        "## IC over time",
        "",
        f"![IC with IC025–IC975 by quarter]({IC_FILE})",
        "",
        f"## Dermatomyositis signals new or changed in {quarter}",
        "",
        _changes_markdown(facts["new_or_changed"]),
        "",
        "## Methods",
        "",
    ]
    parts += [f"**{heading}.** {text}\n" for heading, text in context["methods"]]
    return "\n".join(parts)


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2329;
       margin: 2rem auto; max-width: 1400px; padding: 0 1.5rem; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #0072B2; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #d0d4d9; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
table { border-collapse: collapse; font-size: .82rem; margin: .6rem 0 1rem; }
th, td { border: 1px solid #d0d4d9; padding: .25rem .5rem; text-align: left; white-space: nowrap; }
th { background: #eef1f4; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.signal td { background: #fff4d6; font-weight: 600; }
tr.total td { font-weight: 700; background: #f6f7f9; }
.meta, .note { color: #5a636c; font-size: .85rem; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
.scroll { overflow-x: auto; }
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], row_classes: Sequence[str] = ()) -> str:
    def cell(value: Any) -> str:
        text = str(value)
        numeric = text.replace(",", "").replace(".", "", 1).lstrip("−-").isdigit()
        return f'<td class="num">{html.escape(text)}</td>' if numeric else f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(str(title))}</th>" for title in header)
    body = []
    for index, row in enumerate(rows):
        css = row_classes[index] if index < len(row_classes) else ""
        attribute = f' class="{css}"' if css else ""
        body.append(f"<tr{attribute}>" + "".join(cell(value) for value in row) + "</tr>")
    rows_html = "".join(body)
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table></div>'
    )


def _html_paragraph(text: str) -> str:
    """Markdown-light: **bold** and `code` in the run lines."""
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<strong>{part}</strong>" if index % 2 else part for index, part in enumerate(parts))
    parts = escaped.split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def _render_html(context: dict[str, Any], forest: Path, ic_plot: Path) -> str:
    facts, quarter = context["facts"], context["quarter"]
    body = [
        f"<h1>FAERS quarterly report — {html.escape(quarter)}</h1>",
        f'<p class="meta">Database <code>{html.escape(context["db"])}</code>, generated '
        f"{html.escape(context['generated'])}.</p>",
        "<h2>Run summary</h2>",
        "<ul>"
        + "".join(f"<li>{_html_paragraph(line)}</li>" for line in _run_lines(facts, quarter))
        + "</ul>",
    ]
    if facts["ingest"]:
        header, rows = _ingest_table(facts)
        classes = ["total" if str(row[0]).startswith("**") else "" for row in rows]
        rows = [[str(row[0]).strip("*"), *row[1:]] for row in rows]
        body += ["<h3>Rows loaded per quarter</h3>", _html_table(header, rows, classes)]
    if facts["dedup"]:
        body += ["<h3>De-duplication per quarter</h3>", _html_table(*_dedup_table(facts))]
    headline = context["headline"]
    missing = _missing_sentence(context["missing"], context["zero_rows"])
    body += [
        "<h2>Headline signals: dermatomyositis × taxanes and anti-HER2 agents</h2>",
        f"<p>{len(headline)} rows (every target ingredient and class in the data × 12 variants, a = 0 "
        f"included); {len(facts['signals'])} meet at least one rule (highlighted). n/c = not computable."
        "</p>",
        "<h3>Rows meeting at least one rule</h3>",
        _html_table(SIGNAL_HEADER, [_signal_cells(row) for row in facts["signals"]])
        if facts["signals"]
        else "<p>None.</p>",
        "<h3>All headline rows</h3>",
        _html_table(
            HEADLINE_HEADER,
            [_headline_cells(row) for row in headline],
            ["signal" if any(row.get(rule) for rule in RULES) else "" for row in headline],
        ),
        "<h2>Forest plot</h2>",
        f'<figure><img src="{_image_data(forest)}" alt="Forest plot of PRR, ROR and IC for dermatomyositis">'
        f'<figcaption class="note">{html.escape(missing)}</figcaption>'
        "</figure>",
        "<h2>IC over time</h2>",
        f'<figure><img src="{_image_data(ic_plot)}" alt="IC with IC025 to IC975 by quarter"></figure>',
        f"<h2>Dermatomyositis signals new or changed in {html.escape(quarter)}</h2>",
    ]
    changes = facts["new_or_changed"]
    if changes:
        since = f" (compared with {changes[0]['previous_quarter']})" if changes[0]["previous_quarter"] else ""
        body += [
            f"<p>{len(changes)} headline rows changed flags in "
            f"{html.escape(quarter)}{html.escape(since)}.</p>",
            _html_table(CHANGE_HEADER, [_change_cells(change) for change in changes]),
        ]
    else:
        body.append("<p>No headline pair changed its signal flags since the previous quarter.</p>")
    body.append("<h2>Methods</h2>")
    body += [
        f"<p><strong>{html.escape(heading)}.</strong> {html.escape(text)}</p>"
        for heading, text in context["methods"]
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>FAERS quarterly report {html.escape(quarter)}</title>\n<style>{CSS}</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def run_report_command(db_path: Path, out_dir: Path, quarter: str | None) -> int:
    """``pv report``: write the report and print where it is; database problems become one-line errors."""
    try:
        html_path = write_report(Path(db_path), Path(out_dir), quarter)
    except duckdb.Error as error:
        raise UserError(f"{db_path}: {str(error).splitlines()[0]}") from error
    print(f"report:   {html_path}")
    print(f"markdown: {html_path.with_name('report.md')}")
    print(f"figures:  {html_path.with_name(FOREST_FILE)}, {html_path.with_name(IC_FILE)}")
    return 0
