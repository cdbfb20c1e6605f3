"""Signals: every pair's statistics for every variant, the quarterly history, and the headline table.

Statistics are computed chunk by chunk (one chunk per analysis variant and level), so the full FAERS
history never has to sit in memory at once. EBGM values are only comparable under the same prior
(statistics.md §5), so one GPS prior per level is fitted on the default variant and used for all
variants; the prior used is stored with every row and in ``gps_priors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pv import stats
from pv.counts import DEFAULT_VARIANT, PAIR_COLUMNS, VARIANT_COLUMNS

HEADLINE_EVENTS: tuple[str, ...] = ("dm_narrow", "dm_broad")
TARGET_CLASSES: tuple[str, ...] = ("taxane", "anti_her2_antibody", "anti_her2_adc", "her2_tki")
RULES: tuple[str, ...] = ("signal_evans", "signal_ror", "signal_ic", "signal_ebgm")
# Below this many observed pairs a chunk's own prior fit is not trusted.
MIN_PAIRS_FOR_PRIOR = 200
PRIOR_COLUMNS: tuple[str, ...] = ("prior_alpha1", "prior_beta1", "prior_alpha2", "prior_beta2", "prior_p")


def _chunks(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, ...]]:
    keys = ", ".join(VARIANT_COLUMNS + ("drug_level", "event_level"))
    return con.sql(f"select distinct {keys} from {table} order by all").fetchall()


def _where(key: Sequence[str]) -> tuple[str, list[str]]:
    names = VARIANT_COLUMNS + ("drug_level", "event_level")
    return " and ".join(f"{name} = ?" for name in names), list(key)


def score(counts: pd.DataFrame, prior: stats.GpsPrior | None) -> pd.DataFrame:
    """All statistics and signal rules for a frame of 2x2 tables (columns a, b, c, d, plus labels).

    Without a prior (too few pairs to fit one) the EBGM columns are NaN and the EBGM rule never fires.
    """
    measures = stats.disproportionality(counts["a"], counts["b"], counts["c"], counts["d"])
    if prior is None:
        shrunk = pd.DataFrame(np.nan, index=measures.index, columns=["ebgm", "eb05", "eb95"])
    else:
        shrunk = stats.ebgm(measures["a"].to_numpy(), measures["e"].to_numpy(), prior)
    flagged = stats.signal_flags(measures, shrunk)
    labels = counts.drop(columns=["a", "b", "c", "d"]).reset_index(drop=True)
    result = pd.concat([labels, measures, shrunk, flagged[list(RULES)]], axis=1)
    values = (prior.alpha1, prior.beta1, prior.alpha2, prior.beta2, prior.p) if prior else (np.nan,) * 5
    for column, value in zip(PRIOR_COLUMNS, values, strict=True):
        result[column] = value
    return result


def fit_priors(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], stats.GpsPrior | None]:
    """One GPS prior per (drug level, event level), fitted on the default variant's observed pairs.

    Every variant at that level uses the same prior, so comparing variants changes only the expected
    counts, and EBGM stays comparable across them. A level with too few pairs borrows the prior of the
    ingredient x PT level, the largest table.
    """
    default = " and ".join(f"{name} = '{value}'" for name, value in DEFAULT_VARIANT.items())
    levels = con.sql(
        f"select distinct drug_level, event_level from marts.drug_event_counts where {default}"
    ).fetchall()
    priors: dict[tuple[str, str], stats.GpsPrior | None] = {}
    for drug_level, event_level in levels:
        table = con.execute(
            f"select a, b, c, d from marts.drug_event_counts "
            f"where {default} and drug_level = ? and event_level = ?",
            [drug_level, event_level],
        ).df()
        if len(table) < MIN_PAIRS_FOR_PRIOR:
            continue
        a, b, c, d = (table[column].to_numpy(dtype=np.float64) for column in "abcd")
        priors[(drug_level, event_level)] = stats.fit_gps_prior(a, (a + b) * (a + c) / (a + b + c + d))
    borrowed = priors.get(("ingredient", "pt"))
    for level in levels:
        priors.setdefault(level, borrowed)
    return priors


def _empty_scores(label_columns: Sequence[str]) -> pd.DataFrame:
    """The scored frame of zero pairs, so an empty database still gets typed signal tables."""
    counts = pd.DataFrame({column: pd.Series(dtype="str") for column in label_columns})
    for column in "abcd":
        counts[column] = pd.Series(dtype="int64")
    return score(counts, None)


def _write(
    con: duckdb.DuckDBPyConnection, table: str, frames: Iterable[pd.DataFrame], template: pd.DataFrame
) -> int:
    """Create ``table`` from the frames (or from the empty template when there are none)."""
    con.execute(f"drop table if exists {table}")
    written = 0
    for frame in frames:
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        con.register("scored_chunk", arrow)
        if written == 0:
            con.execute(f"create table {table} as select * from scored_chunk")
        else:
            con.execute(f"insert into {table} select * from scored_chunk")
        con.unregister("scored_chunk")
        written += len(frame)
    if written == 0:
        con.register("scored_chunk", pa.Table.from_pandas(template, preserve_index=False))
        con.execute(f"create table {table} as select * from scored_chunk")
        con.unregister("scored_chunk")
    return written


def build_signals(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Tables ``signals`` (every pair, variant and level) and ``signal_history`` (event groups by quarter).

    ``signals`` also carries, per pair and variant, the first quarter each rule flagged it
    (``first_quarter_<rule>``, event groups only) from the history.
    """
    priors = fit_priors(con)

    def scored_counts():
        for key in _chunks(con, "marts.drug_event_counts"):
            where, params = _where(key)
            frame = con.execute(f"select * from marts.drug_event_counts where {where}", params).df()
            yield score(frame, priors.get(key[3:]))

    def scored_history():
        for key in _chunks(con, "marts.history_counts"):
            where, params = _where(key)
            frame = con.execute(f"select * from marts.history_counts where {where}", params).df()
            yield score(frame, priors.get(key[3:]))

    labels = list(PAIR_COLUMNS + VARIANT_COLUMNS)
    counts = {
        "signal_history": _write(con, "signal_history", scored_history(), _empty_scores(labels + ["quarter"]))
    }
    _write(con, "signals_unranked", scored_counts(), _empty_scores(labels))
    firsts = ", ".join(f"min(quarter) filter (where {rule}) as first_quarter_{rule}" for rule in RULES)
    keys = ", ".join(PAIR_COLUMNS + VARIANT_COLUMNS)
    con.execute(
        f"create or replace table signals as "
        f"with firsts as (select {keys}, {firsts} from signal_history group by all) "
        f"select signals_unranked.*, {', '.join(f'firsts.first_quarter_{rule}' for rule in RULES)} "
        f"from signals_unranked left join firsts using ({keys})"
    )
    con.execute("drop table signals_unranked")
    counts["signals"] = con.sql("select count(*) from signals").fetchall()[0][0]
    fitted = [
        {"drug_level": key[0], "event_level": key[1]} | asdict(prior)
        for key, prior in priors.items()
        if prior is not None
    ]
    if fitted:
        _write(con, "gps_priors", [pd.DataFrame(fitted)], pd.DataFrame())
    return counts


def headline_filter(
    drugs: Sequence[str] | None = None, events: Sequence[str] | None = None
) -> tuple[str, list]:
    """SQL condition for the headline table: DM narrow/broad x every target ingredient and class."""
    if drugs:
        drug_condition = "drug in (" + ", ".join("?" * len(drugs)) + ")"
        drug_params: list = list(drugs)
    else:
        drug_condition = (
            "((drug_level = 'class' and drug in (" + ", ".join("?" * len(TARGET_CLASSES)) + ")) or "
            "(drug_level = 'ingredient' and drug in (select ingredient from vocab.ingredient_classes "
            "where class <> 'none')))"
        )
        drug_params = list(TARGET_CLASSES)
    chosen_events = list(events) if events else list(HEADLINE_EVENTS)
    event_condition = "event in (" + ", ".join("?" * len(chosen_events)) + ")"
    return f"{drug_condition} and {event_condition}", drug_params + chosen_events
