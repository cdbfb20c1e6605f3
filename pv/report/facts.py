"""What the report states, read from the database: the only module of the report that holds SQL.

Every query the report, the run summary and the flow's artifacts need is here and returns plain values
(JSON-safe dicts and lists, or a DataFrame of headline rows in report order); the formatting, figures and
templates never touch the database. A partial database (a raw-only build) gives empty facts rather than
errors. The headline rows, their history and their first-flag quarters come from the published views
(``marts.headline``, ``marts.headline_history``, ``marts.first_flags``), as ``pv signals`` and the notebook
do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pv.counts import DEFAULT_VARIANT, PAIR_COLUMNS, VARIANT_COLUMNS, VARIANT_VALUES
from pv.db import open_published, provenance_line
from pv.errors import UserError
from pv.lake import LAKE_TABLES
from pv.quarters import Quarter
from pv.signals import CALIBRATION_RULES, HEADLINE_EVENTS, RULES, TARGET_CLASSES

LABEL_COLUMNS: tuple[str, ...] = PAIR_COLUMNS + VARIANT_COLUMNS
ROLES: tuple[str, ...] = VARIANT_VALUES["role"]
COMPARATORS: tuple[str, ...] = VARIANT_VALUES["comparator"]
DUPLICATES: tuple[str, ...] = VARIANT_VALUES["duplicates"]
# Plot and table order: the default variant first, comparators from widest to narrowest population.
VARIANTS: tuple[tuple[str, str, str], ...] = tuple(
    (role, comparator, duplicates)
    for comparator in COMPARATORS
    for role in ROLES
    for duplicates in DUPLICATES
)
DEFAULT_KEY: tuple[str, str, str] = tuple(DEFAULT_VARIANT[column] for column in VARIANT_COLUMNS)
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


# What the answer says of a pair's case series (marts.headline_onset; the latest quarter only).
ONSET_COLUMNS: tuple[str, ...] = (
    "n_onset_median",
    "onset_median_days",
    "weibull_shape",
    "weibull_shape_lower",
    "weibull_shape_upper",
    "weibull_status",
    "dechal_positive",
    "dechal_negative",
)


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


def headline_order(frame: pd.DataFrame) -> pd.DataFrame:
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
    for table in ("raw.ingest_log", "marts.signal_history"):
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


def _as_of(quarter: str) -> str:
    """First-flag columns of marts.first_flags as known at ``quarter`` (a later first flag is not yet one)."""
    return ", ".join(
        f"case when firsts.first_quarter_{rule} <= '{quarter}' then firsts.first_quarter_{rule} end "
        f"as first_quarter_{rule}"
        for rule in RULES
    )


def headline_frame(con: duckdb.DuckDBPyConnection, quarter: str | None = None) -> pd.DataFrame:
    """Every headline row (DM narrow/broad x target ingredient and class x variant), in report order.

    For the latest quarter these are the rows of ``marts.headline``; for an earlier quarter they are the rows
    of ``marts.headline_history`` at that quarter, with first-flag quarters as known then, so a report for an
    old quarter shows what was known then.
    """
    present = _quarters_present(con)
    if quarter is None or not present or quarter == present[-1]:
        if not _exists(con, "marts.headline_onset"):
            return headline_order(_with_drug_class(con, "select * from marts.headline", []))
        keys = ", ".join(LABEL_COLUMNS)
        onset = ", ".join(f"onset.{column}" for column in ONSET_COLUMNS)
        return headline_order(
            _with_drug_class(
                con,
                f"select headline.*, {onset} from marts.headline as headline "
                f"left join marts.headline_onset as onset using ({keys})",
                [],
            )
        )
    Quarter.parse(quarter)  # a quarter label, safe to write into the query
    keys = ", ".join(LABEL_COLUMNS)
    select_sql = (
        f"select headline.* exclude (quarter), {_as_of(quarter)} from marts.headline_history as headline "
        f"left join marts.first_flags as firsts using ({keys}) where headline.quarter = ?"
    )
    return headline_order(_with_drug_class(con, select_sql, [quarter]))


def history_frame(con: duckdb.DuckDBPyConnection, quarter: str | None = None) -> pd.DataFrame:
    """IC history of the headline pairs in the default variant, up to ``quarter`` (default: all)."""
    variant = " and ".join(f"{column} = ?" for column in VARIANT_COLUMNS)
    limit = " and quarter <= ?" if quarter else ""
    select_sql = f"select * from marts.headline_history where {variant}{limit} order by quarter, drug"
    return _with_drug_class(con, select_sql, [*DEFAULT_KEY, *([quarter] if quarter else [])])


def headline_records(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The headline table as JSON-safe records (lower-case keys, NaN and ±inf as None) for a table
    artifact; b, c, d and the prior are left out because a reader of the table cannot act on them."""
    return _records(headline_frame(con), RECORD_COLUMNS)


def new_or_changed(con: duckdb.DuckDBPyConnection, quarter: str | None = None) -> list[dict[str, Any]]:
    """Headline pairs (per variant) whose rule flags differ between ``quarter`` and the quarter before it.

    ``quarter`` defaults to the latest quarter of ``marts.signal_history``. A pair absent from a quarter (no
    report yet, or its reports deleted) counts as flagging nothing. ``first_flagged`` lists the rules that
    flag the pair for the first time ever (``first_quarter_<rule>`` equal to ``quarter``).
    """
    if not _exists(con, "marts.signal_history"):
        return []
    history_quarters = sorted(
        (q for (q,) in con.sql("select distinct quarter from marts.signal_history").fetchall()),
        key=Quarter.parse,
    )
    if not history_quarters:
        return []
    latest = quarter or history_quarters[-1]
    earlier = [q for q in history_quarters if Quarter.parse(q) < Quarter.parse(latest)]
    previous = earlier[-1] if earlier else None
    Quarter.parse(latest)
    keys = ", ".join(LABEL_COLUMNS)
    flags = ", ".join(RULES)
    now = ", ".join(f"coalesce(latest.{rule}, false) as now_{rule}" for rule in RULES)
    before = ", ".join(f"coalesce(previous.{rule}, false) as before_{rule}" for rule in RULES)
    differs = " or ".join(f"now_{rule} <> before_{rule}" for rule in RULES)
    frame = _with_drug_class(
        con,
        f"with latest as (select {keys}, a, ic, ic025, {flags} from marts.headline_history "
        "where quarter = ?), "
        f"previous as (select {keys}, a, {flags} from marts.headline_history where quarter = ?), "
        f"compared as (select {keys}, latest.a as a, previous.a as a_previous, latest.ic as ic, "
        f"latest.ic025 as ic025, {now}, {before} from latest full join previous using ({keys})) "
        f"select compared.*, {_as_of(latest)} from compared left join marts.first_flags as firsts "
        f"using ({keys}) where {differs}",
        [latest, previous],
    )
    changes = []
    for row in headline_order(frame).to_dict("records"):
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
                "first_flagged": [rule for rule in RULES if row[f"first_quarter_{rule}"] == latest],
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
        "provenance": provenance_line(con),
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
    if _exists(con, "marts.signals"):
        facts["signal_rows"], facts["pairs_scored"] = con.sql(
            f"select count(*), count(distinct ({', '.join(PAIR_COLUMNS)})) from marts.signals"
        ).fetchall()[0]
        headline = headline_frame(con, as_of)
        facts["headline_rows"] = len(headline)
        flagged_rows = headline[headline[list(RULES)].fillna(False).astype(bool).any(axis=1)]
        facts["signals"] = _records(flagged_rows, RECORD_COLUMNS)
    if _exists(con, "marts.signal_history"):
        facts["history_rows"] = con.sql("select count(*) from marts.signal_history").fetchall()[0][0]
    facts["prior"] = prior_facts(con)
    facts["checks"] = []
    if _exists(con, "marts.signal_checks"):
        facts["checks"] = _records(con.sql("select * from marts.signal_checks").df())
    facts["new_or_changed"] = new_or_changed(con, as_of)
    return {
        key: _plain(value) if not isinstance(value, (dict, list)) else value for key, value in facts.items()
    }


def prior_facts(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The stored GPS prior row (``marts.gps_priors``) as JSON-safe values, or None before any build."""
    if not _exists(con, "marts.gps_priors"):
        return None
    rows = _records(con.sql("select * from marts.gps_priors").df())
    return rows[0] if rows else None


def resolve_quarter(con: duckdb.DuckDBPyConnection, db_path: Path, quarter: str | None) -> str:
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


def calibration_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """marts.calibration for the default variant (rule x event group), empty for a database built before it.

    Calibration is of the latest build: the controls are scored on today's marts.signals only.
    """
    if not _exists(con, "marts.calibration"):
        return pd.DataFrame()
    where = " and ".join(f"{column} = ?" for column in DEFAULT_VARIANT)
    return con.execute(
        f"select * from marts.calibration where {where} order by event desc, list_position(?, rule)",
        [*DEFAULT_VARIANT.values(), list(CALIBRATION_RULES)],
    ).df()


@dataclass(frozen=True)
class ReportFacts:
    """Everything one report shows, read in one read-only connection: the run summary, the headline rows
    (in report order) and the IC history of the default variant, both as they stood at ``quarter``."""

    quarter: str
    db: str
    summary: dict[str, Any]
    headline: pd.DataFrame
    history: pd.DataFrame
    prior: dict[str, Any] | None
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)


def report_facts(db_path: Path, quarter: str | None = None) -> ReportFacts:
    """Open ``db_path`` read-only and read the facts of the report for ``quarter`` (default: the latest).

    A missing database, one that cannot be opened or one without signals is a one-line :class:`UserError`.
    """
    db_path = Path(db_path)
    with open_published(db_path) as con:
        if not _exists(con, "marts.signals") or not _exists(con, "marts.signal_history"):
            raise UserError(f"{db_path}: no signals table; run `pv build` first")
        chosen = resolve_quarter(con, db_path, quarter)
        return ReportFacts(
            quarter=chosen,
            db=str(db_path),
            summary=summary(con, None, as_of=chosen),
            headline=headline_frame(con, chosen),
            history=history_frame(con, chosen),
            prior=prior_facts(con),
            calibration=calibration_frame(con),
        )
