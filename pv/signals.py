"""Signals: every pair's statistics for every variant, the quarterly history, and the headline table.

Statistics are computed chunk by chunk (one chunk per analysis variant and level), so the full FAERS
history never has to sit in memory at once. The GPS prior is fitted once per chunk, since EBGM values
are only comparable under the same prior (statistics.md §5); chunks too small to fit reliably borrow
the prior of the default variant at the same level, and the prior used is stored with every row.
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


def score(counts: pd.DataFrame, prior: stats.GpsPrior) -> pd.DataFrame:
    """All statistics and signal rules for a frame of 2x2 tables (columns a, b, c, d, plus labels)."""
    measures = stats.disproportionality(counts["a"], counts["b"], counts["c"], counts["d"])
    shrunk = stats.ebgm(measures["a"].to_numpy(), measures["e"].to_numpy(), prior)
    flagged = stats.signal_flags(measures, shrunk)
    labels = counts.drop(columns=["a", "b", "c", "d"]).reset_index(drop=True)
    result = pd.concat([labels, measures, shrunk, flagged[list(RULES)]], axis=1)
    for column, value in zip(
        PRIOR_COLUMNS, (prior.alpha1, prior.beta1, prior.alpha2, prior.beta2, prior.p), strict=True
    ):
        result[column] = value
    return result


def fit_priors(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, ...], stats.GpsPrior | None]:
    """One GPS prior per (variant, drug level, event level), fitted on that chunk's observed pairs."""
    priors: dict[tuple[str, ...], stats.GpsPrior | None] = {}
    chunks = _chunks(con, "marts.drug_event_counts")
    small: list[tuple[str, ...]] = []
    for key in chunks:
        where, params = _where(key)
        table = con.execute(f"select a, b, c, d from marts.drug_event_counts where {where}", params).df()
        a, b, c, d = (table[column].to_numpy(dtype=np.float64) for column in "abcd")
        if len(a) < MIN_PAIRS_FOR_PRIOR:
            small.append(key)
            continue
        expected = (a + b) * (a + c) / (a + b + c + d)
        priors[key] = stats.fit_gps_prior(a, expected)
    for key in small:
        default_key = tuple(DEFAULT_VARIANT[name] for name in VARIANT_COLUMNS) + key[3:]
        priors[key] = priors.get(default_key) or next(iter(priors.values()), None)
    return priors


def _write(con: duckdb.DuckDBPyConnection, table: str, frames: Iterable[pd.DataFrame]) -> int:
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
            yield score(frame, priors[key])

    def scored_history():
        for key in _chunks(con, "marts.history_counts"):
            where, params = _where(key)
            frame = con.execute(f"select * from marts.history_counts where {where}", params).df()
            yield score(frame, priors[key])

    counts = {"signal_history": _write(con, "signal_history", scored_history())}
    _write(con, "signals_unranked", scored_counts())
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
        dict(zip(VARIANT_COLUMNS + ("drug_level", "event_level"), key, strict=True)) | asdict(prior)
        for key, prior in priors.items()
        if prior is not None
    ]
    if fitted:
        _write(con, "gps_priors", [pd.DataFrame(fitted)])
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
