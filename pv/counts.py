"""Report-level 2x2 counts for every drug-event pair and analysis variant, today and at every past quarter.

Today's counts (``marts.drug_event_counts``) and the quarterly history (``marts.history_counts``) come from
one table of contributions (``marts.analysis_cases``): each case version counts over the quarters in which
a quarterly run would have analysed it. The history needs what the versions later replaced contained, so
the curated content models (drugs, terms, indications) are rendered again over those versions, and the
duplicate rules run again per quarter (``pv.dedup``); nothing is mapped twice. The steps are the ``counts``
layer of the build plan (``pv.build``); this module holds the names Python shares with those models, read
from the same reviewed lists the SQL reads (``vocab.analysis_variants``, ``vocab.headline_targets``), and the
layer's Python steps: each headline event's maskers (``marts.event_maskers``), which the ``masked`` variant
removes (``marts.target_variant_counts``), and the stratified sums of every pair
(``marts.stratified_counts``), the library's own over the per-stratum margins the SQL counts.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from pv import stats
from pv.db import store_frame
from pv.resources import read_vocabulary
from pv.sqlfiles import render

PAIR_COLUMNS: tuple[str, ...] = ("drug", "drug_level", "event", "event_level")
_VARIANTS = read_vocabulary("analysis_variants")
# The analysis variants' dimensions, the names each can take and the default variant (analysis_variants.csv).
VARIANT_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(row["dimension"] for row in _VARIANTS))
VARIANT_VALUES: dict[str, tuple[str, ...]] = {
    column: tuple(row["value"] for row in _VARIANTS if row["dimension"] == column)
    for column in VARIANT_COLUMNS
}
DEFAULT_VARIANT: dict[str, str] = {
    row["dimension"]: row["value"] for row in _VARIANTS if row["is_default"] == "true"
}
# The comparators whose population depends on the target drug (headline pairs only; no strata, no history).
TARGET_COMPARATORS: tuple[str, ...] = ("active", "masked")
# The headline question: these event groups x every ingredient of these classes, and the classes.
HEADLINE_EVENTS: tuple[str, ...] = tuple(
    row["name"] for row in read_vocabulary("headline_targets") if row["kind"] == "event"
)
TARGET_CLASSES: tuple[str, ...] = tuple(
    row["name"] for row in read_vocabulary("headline_targets") if row["kind"] == "class"
)


# marts.event_maskers: its columns after the keys, in order.
MASKER_COLUMNS: tuple[str, ...] = (
    "a",
    "n_drug",
    "n_event",
    "n_total",
    "prr",
    "prr_lower",
    "mr_prr",
    "masker",
    "rank",
    "masking_reason",
)
_MASKER_KEYS: tuple[str, ...] = ("event_level", "event", "role", "duplicates", "drug")


def event_maskers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every ingredient reported with a headline event in a base population (each role and duplicates
    setting, comparator all), with the masking rule's verdict (:func:`pv.stats.select_maskers`): the drugs
    the masked variant removes from that event's background. Target ingredients are protected."""
    comparator = DEFAULT_VARIANT["comparator"]
    candidates = con.execute(
        """
        select
            counts.event_level, counts.event, counts.role, counts.duplicates, counts.drug, counts.a,
            counts.a + counts.b as n_drug, counts.a + counts.c as n_event,
            counts.a + counts.b + counts.c + counts.d as n_total,
            counts.drug in (
                select name from marts.headline_targets where kind = 'drug' and level = 'ingredient'
            ) as protected
        from marts.drug_event_counts as counts
        where counts.comparator = $comparator and counts.drug_level = 'ingredient' and counts.a > 0
            and (counts.event_level, counts.event) in (
                select (level, name) from marts.headline_targets where kind = 'event'
            )
        order by all
        """,
        {"comparator": comparator},
    ).df()
    rule = stats.masking_rule()
    frames = []
    for _, group in candidates.groupby(["event_level", "event", "role", "duplicates"], sort=True):
        n_event, n_total = int(group["n_event"].iloc[0]), int(group["n_total"].iloc[0])
        frames.append(stats.select_maskers(group, n_event, n_total, rule))
    columns = [*_MASKER_KEYS, *MASKER_COLUMNS]
    if not frames:
        empty = pd.DataFrame({column: pd.Series(dtype="str") for column in _MASKER_KEYS})
        return empty.assign(
            **{column: pd.Series(dtype="int64") for column in ("a", "n_drug", "n_event", "n_total", "rank")},
            **{column: pd.Series(dtype="float64") for column in ("prr", "prr_lower", "mr_prr")},
            masker=pd.Series(dtype="bool"),
            masking_reason=pd.Series(dtype="str"),
        )[columns]
    chosen = pd.concat(frames, ignore_index=True)
    return chosen.astype({column: "int64" for column in ("a", "n_drug", "n_event", "n_total")})[columns]


def store_event_maskers(con: duckdb.DuckDBPyConnection) -> int:
    """Write marts.event_maskers (:func:`event_maskers`); rows written."""
    return store_frame(con, "marts.event_maskers", event_maskers(con))


# The per-stratum sums of marts.stratified_counts that pv.signals turns into estimates (stratified_scores).
STRATIFIED_SUMS: tuple[str, ...] = (
    "e_stratified",
    "ror_strata",
    "mh_r",
    "mh_s",
    "mh_pr",
    "mh_ps_qr",
    "mh_qs",
    "prr_strata",
    "mh_prr_numerator",
    "mh_prr_denominator",
    "mh_prr_spread",
)
# Its columns after the pair and variant keys: with the checks' a summed over the strata and their number.
_STRATIFIED_SUM_COLUMNS = ("a_strata", "strata", *STRATIFIED_SUMS)
_COUNT_SUMS = ("a_strata", "strata", "ror_strata", "prr_strata")
# The key of the pair-and-variant tables (marts.drug_event_counts, stratified_counts ...), in table order.
PAIR_VARIANT_KEYS: tuple[str, ...] = ("drug_level", "drug", "event_level", "event", *VARIANT_COLUMNS)
# Cells handed to the library at once: pairs x strata (bounded so that a chunk's arrays stay ~100 MB each).
_CHUNK_CELLS = 4_000_000


def _stratum_sums(
    a: np.ndarray,
    n_drug: np.ndarray,
    n_event: np.ndarray,
    n_total: np.ndarray,
    *,
    pair: np.ndarray | None = None,
    n_pairs: int | None = None,
    width: int | None = None,
) -> dict[str, np.ndarray]:
    """Every sum of marts.stratified_counts from per-stratum cells, by the library's own per-stratum terms.

    Cells outside a pair's common strata are 0 (no drug or no event there) and add nothing to any sum. Cells
    map to pairs by ``pair`` (an index per cell, ``n_pairs`` pairs) or come in consecutive blocks of
    ``width`` strata, one per pair.
    """
    rows = {"pair": pair, "n_pairs": n_pairs, "width": width}
    b, c = n_drug - a, n_event - a
    d = n_total - n_drug - n_event + a
    r, s, pr, ps_qr, qs, ror_strata = stats.mh_ror_sums(a, b, c, d, **rows)
    numerator, denominator, spread, prr_strata = stats.mh_prr_sums(a, b, c, d, **rows)
    common = ((n_drug > 0) & (n_event > 0)).astype(np.float64)
    if width is not None:
        a_strata = a.reshape(len(r), width).sum(axis=1)
        strata = common.reshape(len(r), width).sum(axis=1)
    else:
        a_strata = np.bincount(pair, weights=a, minlength=len(r))
        strata = np.bincount(pair, weights=common, minlength=len(r))
    return {
        "a_strata": a_strata,
        "strata": strata,
        "e_stratified": stats.stratified_expected(a, b, c, d, **rows),
        "ror_strata": ror_strata,
        "mh_r": r,
        "mh_s": s,
        "mh_pr": pr,
        "mh_ps_qr": ps_qr,
        "mh_qs": qs,
        "prr_strata": prr_strata,
        "mh_prr_numerator": numerator,
        "mh_prr_denominator": denominator,
        "mh_prr_spread": spread,
    }


def _by_variant(con: duckdb.DuckDBPyConnection, sql: str, order: str) -> dict[int, dict[str, np.ndarray]]:
    """The rows of ``sql`` (with an integer column ``v``), fetched once, split by variant."""
    rows = con.sql(f"select * from ({sql}) order by v, {order}").fetchnumpy()
    bounds = np.searchsorted(rows["v"], np.arange(rows["v"].max() + 2)) if len(rows["v"]) else [0]
    return {
        v: {column: values[bounds[v] : bounds[v + 1]] for column, values in rows.items()}
        for v in range(len(bounds) - 1)
    }


def _dense(rows: dict[str, np.ndarray] | None, shape: tuple[int, int]) -> np.ndarray:
    """A (key id x stratum) matrix of the counts in ``rows`` (id, s, count)."""
    matrix = np.zeros(shape, dtype=np.int64)
    if rows is not None:
        matrix[rows["id"], rows["s"]] = rows["count"]
    return matrix


def _variant_pair_sums(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The sums for every pair of marts.drug_event_counts (``pair_id`` of the temp table ``stratum_pairs``),
    and the per-stratum cells of the pairs that keep them appended to marts.stratum_cells.

    Per variant, each drug's and each event's margins are dense rows over the strata; for a chunk of pairs
    the strata where both occur are found from them, and only those cells go to the library."""
    width = con.sql("select count(*) from stratum_ids").fetchall()[0][0]
    n_drugs = con.sql("select count(*) from stratum_drug_ids").fetchall()[0][0]
    n_events = con.sql("select count(*) from stratum_event_ids").fetchall()[0][0]
    every_pair = _by_variant(
        con, "select v, pair_id, drug_id, event_id, keeps_cells from stratum_pairs", "pair_id"
    )
    every_total = _by_variant(con, "select v, s, n_total from stratum_totals", "s")
    every_drug = _by_variant(con, "select v, id, s, count from stratum_drug_margins", "id")
    every_event = _by_variant(con, "select v, id, s, count from stratum_event_margins", "id")
    frames = []
    for v, pairs in every_pair.items():
        n_pairs = len(pairs["pair_id"])
        if not n_pairs:
            continue
        totals = np.zeros(width, dtype=np.int64)
        found = every_total.get(v, {"s": [], "n_total": []})
        totals[found["s"]] = found["n_total"]
        drugs = _dense(every_drug.get(v), (n_drugs, width))
        events = _dense(every_event.get(v), (n_events, width))
        cells = con.execute(
            "select pair_id, s, a from stratum_cell_ids where v = ? order by pair_id", [v]
        ).fetchnumpy()
        cell_pair = cells["pair_id"] - int(pairs["pair_id"][0])  # a variant's pair ids are consecutive
        sums = {column: np.zeros(n_pairs) for column in _STRATIFIED_SUM_COLUMNS}
        kept: list[dict[str, np.ndarray]] = []
        step = max(1, _CHUNK_CELLS // max(width, 1))
        for start in range(0, n_pairs, step):
            stop = min(start + step, n_pairs)
            n_drug = drugs[pairs["drug_id"][start:stop]]
            n_event = events[pairs["event_id"][start:stop]]
            local, stratum = np.nonzero((n_drug > 0) & (n_event > 0))
            a = np.zeros(n_drug.shape, dtype=np.int64)
            lo, hi = np.searchsorted(cell_pair, [start, stop])
            a[cell_pair[lo:hi] - start, cells["s"][lo:hi]] = cells["a"][lo:hi]
            common = {
                "a": a[local, stratum],
                "n_drug": n_drug[local, stratum],
                "n_event": n_event[local, stratum],
                "n_total": totals[stratum],
            }
            chunk = _stratum_sums(
                **{name: values.astype(np.float64) for name, values in common.items()},
                pair=local,
                n_pairs=stop - start,
            )
            for column, values in chunk.items():
                sums[column][start:stop] = values
            keep = pairs["keeps_cells"][start:stop][local]
            if keep.any():
                kept.append(
                    {"pair_id": pairs["pair_id"][start:stop][local[keep]], "s": stratum[keep]}
                    | {name: values[keep] for name, values in common.items()}
                )
        if kept:
            _append_stratum_cells(con, {name: np.concatenate([k[name] for k in kept]) for name in kept[0]})
        frames.append(pd.DataFrame({"pair_id": pairs["pair_id"], **sums}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["pair_id"])


def _append_stratum_cells(con: duckdb.DuckDBPyConnection, cells: dict[str, np.ndarray]) -> None:
    """Append per-stratum cells (``pair_id``, ``s`` and the four counts) to marts.stratum_cells, named."""
    keys = ", ".join(f"pairs.{key}" for key in PAIR_VARIANT_KEYS)
    counts = ", ".join(f"cells.{count}::bigint" for count in _CELL_COUNTS)
    columns = ", ".join((*PAIR_VARIANT_KEYS, "stratum", *_CELL_COUNTS))
    con.register("stratum_kept_cells", pd.DataFrame(cells))
    try:
        con.execute(
            f"insert into marts.stratum_cells ({columns}) "
            f"select {keys}, strata.stratum, {counts} from stratum_kept_cells as cells "
            "inner join stratum_pairs as pairs using (pair_id) inner join stratum_ids as strata using (s)"
        )
    finally:
        con.unregister("stratum_kept_cells")


_CELL_COUNTS = ("a", "n_drug", "n_event", "n_total")
# The scratch tables and views of pv/sql/marts/stratified_counts.sql.
_SCRATCH_TABLES = (
    "stratum_ids",
    "stratum_variant_ids",
    "stratum_drug_ids",
    "stratum_event_ids",
    "stratum_pairs",
    "stratum_totals",
    "stratum_drug_margins",
    "stratum_event_margins",
    "stratum_cell_ids",
)
_SCRATCH_VIEWS = ("stratum_cases", "stratum_exposures", "stratum_outcomes", "stratum_variants")


def _target_pair_sums(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The sums for every pair of marts.target_variant_counts, from its per-stratum cells (the strata where
    both the drug and the event occur)."""
    keys = ", ".join(PAIR_VARIANT_KEYS)
    pairs = con.sql(f"select {keys} from marts.target_variant_counts").df()
    cells = con.sql(
        f"select {keys}, a, n_drug, n_event, n_total from marts.target_variant_cells "
        # summed in one order, so that every build of the same data gives the same bits
        f"where n_drug > 0 and n_event > 0 order by {keys}, stratum"
    ).df()
    pair = pd.MultiIndex.from_frame(pairs[list(PAIR_VARIANT_KEYS)]).get_indexer(
        pd.MultiIndex.from_frame(cells[list(PAIR_VARIANT_KEYS)])
    )
    kept = pair >= 0
    columns = {c: cells[c].to_numpy(dtype=np.float64)[kept] for c in ("a", "n_drug", "n_event", "n_total")}
    sums = _stratum_sums(**columns, pair=pair[kept], n_pairs=len(pairs))
    return pd.concat([pairs, pd.DataFrame(sums)], axis=1)


def store_stratified_counts(
    con: duckdb.DuckDBPyConnection, min_reports: int, cell_event_levels: tuple[str, ...]
) -> int:
    """marts.stratified_counts: per pair and variant (today's and the target-specific ones), the sums over
    its strata of the per-stratum terms of the stratified statistics (pv/sql/marts/stratified_counts.sql
    gives the margins, and marts.stratum_cells for Breslow-Day); rows.

    Each pair's strata are the dense rows of its drug's and its event's margins, so the work is one pass
    over pairs x strata in the library's arithmetic, not a join producing a row per pair and stratum."""
    con.execute(
        render("marts/stratified_counts", min_reports=min_reports, cell_event_levels=cell_event_levels)
    )
    try:
        variant_sums = _variant_pair_sums(con)
        target_sums = _target_pair_sums(con)
        sums = ", ".join(
            f"{column}::{'bigint' if column in _COUNT_SUMS else 'double'} as {column}"
            for column in _STRATIFIED_SUM_COLUMNS
        )
        keys = ", ".join(f"{key}::varchar as {key}" for key in PAIR_VARIANT_KEYS)
        con.register("stratum_variant_sums", variant_sums)
        con.register("stratum_target_sums", target_sums)
        con.execute(
            "create or replace table marts.stratified_counts as "
            f"select {keys}, {sums} from stratum_pairs inner join stratum_variant_sums using (pair_id) "
            f"union all select {keys}, {sums} from stratum_target_sums"
        )
    finally:
        con.unregister("stratum_variant_sums")
        con.unregister("stratum_target_sums")
        for view in _SCRATCH_VIEWS:
            con.execute(f"drop view if exists {view}")
        for table in _SCRATCH_TABLES:
            con.execute(f"drop table if exists {table}")
    return con.sql("select count(*) from marts.stratified_counts").fetchall()[0][0]
