"""Signals: every pair's statistics for every variant, the quarterly history, and the headline table.

Statistics are computed chunk by chunk (one chunk per analysis variant and level), so the full FAERS
history never has to sit in memory at once. EBGM values are only comparable under the same prior
(statistics.md §5), so one GPS prior is fitted on the base level (ingredient x PT, default variant), as
Empirica and openEBGM do, and used for every level, variant and quarter; it is stored in
``marts.gps_priors`` and with every row. A prior that did not converge is never used: the EBGM columns are
then NULL and ``ebgm_status`` says why. Every stored number is checked before the build publishes it
(:func:`check_signals`). The steps are the ``signals`` layer of the build plan (``pv.build``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pv import stats
from pv.counts import (
    DEFAULT_VARIANT,
    HEADLINE_EVENTS,
    PAIR_COLUMNS,
    STRATIFIED_SUMS,
    TARGET_CLASSES,
    VARIANT_COLUMNS,
)
from pv.sqlfiles import render

RULES: tuple[str, ...] = ("signal_evans", "signal_ror", "signal_ic", "signal_ebgm")
# Every flag of marts.signals that marts.calibration scores on the DM controls (no stratified rule exists).
CALIBRATION_RULES: tuple[str, ...] = (*RULES, "signal_ror_fdr", "signal_ror_mh_fdr")
# The level the prior is fitted on (with DEFAULT_VARIANT), and below how many observed pairs it is not.
PRIOR_LEVEL: tuple[str, str] = ("ingredient", "pt")
MIN_PAIRS_FOR_PRIOR = 200
# A fit that did not converge is tried once more with this many random starts (and another seed).
RETRY_RANDOM_STARTS = 96
# How the prior is fitted: observed pairs only (N* = 1, openEBGM's default), squashed to this relative width.
FIT_OPTIONS: dict[str, int | float] = {"min_n": 1, "squash_rel_width": 1e-3}
PRIOR_COLUMNS: tuple[str, ...] = ("prior_alpha1", "prior_beta1", "prior_alpha2", "prior_beta2", "prior_p")
# ebgm_status: why a row has (or lacks) EBGM/EB05/EB95, in words for the report and the schema.
EBGM_STATUS: dict[str, str] = {
    "ok": "computed under the converged GPS prior",
    "prior_not_converged": "not reported: the GPS prior fit did not converge (gps_priors.reason says why)",
    "too_few_pairs": f"not reported: fewer than {MIN_PAIRS_FOR_PRIOR} observed ingredient x PT pairs "
    "to fit a GPS prior on",
    "no_expected_count": "not defined: E = 0 (no exposed case or no case with the event in this population)",
}
# Stored quantiles are checked to this (the solver's own contract, statistics.md §5).
QUANTILE_CHECK = stats.QUANTILE_TOLERANCE
# Breslow-Day needs every stratum's cells; marts.stratum_cells keeps them for pairs with at least this many
# reports, the minimum every ratio rule asks for (statistics.md §3, §6): the test answers "is one pooled
# ratio enough?", which matters only where a ratio can flag.
BRESLOW_DAY_MIN_REPORTS = 3
# ... and for these event levels only: PT-level cells would be millions of pairs x hundreds of strata.
BRESLOW_DAY_EVENT_LEVELS: tuple[str, ...] = ("group",)
STRATIFIED_COLUMNS: tuple[str, ...] = (
    "e_stratified",
    "ic_stratified",
    "ic_stratified025",
    "ic_stratified975",
    "ebgm_stratified",
    "eb05_stratified",
    "eb95_stratified",
    "ror_mh",
    "ror_mh_lower",
    "ror_mh_upper",
    "ror_mh_strata",
    "ror_mh_p",
    "ror_mh_q",
    "signal_ror_mh_fdr",
    "prr_mh",
    "prr_mh_lower",
    "prr_mh_upper",
    "prr_mh_strata",
    "breslow_day_chi2",
    "breslow_day_chi2_tarone",
    "breslow_day_df",
    "breslow_day_p",
    "stratified_reason",
)


class SignalIntegrityError(RuntimeError):
    """A stored statistic failed its check: the build stops and the previous database stays in place."""


@dataclass(frozen=True)
class PriorFit:
    """The one GPS prior of a build, or why there is none (``status`` is an EBGM_STATUS key)."""

    prior: stats.GpsPrior | None
    status: str
    n_pairs: int
    attempts: int

    @property
    def usable(self) -> bool:
        return self.status == "ok"


def _default_condition() -> str:
    return " and ".join(f"{name} = '{value}'" for name, value in DEFAULT_VARIANT.items())


def fit_prior(con: duckdb.DuckDBPyConnection) -> PriorFit:
    """The GPS prior of this build: fitted once on the observed ingredient x PT pairs of the default variant.

    The fit's inputs are sorted inside :func:`pv.stats.fit_gps_prior` and its seeds fixed, so the same data
    give the same prior to the bit however DuckDB ordered the rows. A fit that does not converge is retried
    with RETRY_RANDOM_STARTS random starts; if it still fails the prior is kept for the record (gps_priors)
    but never used.
    """
    drug_level, event_level = PRIOR_LEVEL
    table = con.execute(
        f"select a, b, c, d from marts.drug_event_counts where {_default_condition()} "
        "and drug_level = ? and event_level = ? and a > 0",
        [drug_level, event_level],
    ).df()
    if len(table) < MIN_PAIRS_FOR_PRIOR:
        return PriorFit(None, "too_few_pairs", len(table), 0)
    a, b, c, d = (table[column].to_numpy(dtype=np.float64) for column in "abcd")
    e = (a + b) * (a + c) / (a + b + c + d)
    prior = stats.fit_gps_prior(a, e, **FIT_OPTIONS)
    attempts = 1
    if not prior.converged:
        retry = stats.fit_gps_prior(a, e, n_random_starts=RETRY_RANDOM_STARTS, seed=1, **FIT_OPTIONS)
        attempts = 2
        best = retry if retry.converged or retry.neg_log_likelihood < prior.neg_log_likelihood else prior
        prior = replace(best, n_starts=prior.n_starts + retry.n_starts)
    return PriorFit(prior, "ok" if prior.converged else "prior_not_converged", len(table), attempts)


def _reasons(parts: dict[str, np.ndarray]) -> pd.Series:
    """One readable reason per row from named parts ('' = nothing to say), joined as 'name: text; ...';
    NULL when every part is empty. Each text is built once per distinct combination (few), then taken."""
    factorized = [pd.factorize(np.asarray(part, dtype=object)) for part in parts.values()]
    if not factorized or len(factorized[0][0]) == 0:
        return pd.Series([], dtype="str")
    combined = np.ravel_multi_index(
        [codes for codes, _ in factorized], [max(len(uniques), 1) for _, uniques in factorized]
    )
    distinct, inverse = np.unique(combined, return_inverse=True)
    texts = []
    for flat in distinct:
        picks = np.unravel_index(flat, [max(len(uniques), 1) for _, uniques in factorized])
        said = [
            f"{name}: {uniques[pick]}"
            for name, (_, uniques), pick in zip(parts, factorized, picks, strict=True)
            if uniques[pick]
        ]
        texts.append("; ".join(said) or None)
    return pd.Series(pd.array(texts, dtype="str").take(inverse))


def stratified_scores(counts: pd.DataFrame, fit: PriorFit, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """The stratified statistics of each row of ``counts`` (its :data:`STRATIFIED_SUMS` columns), in the
    library's arithmetic: MH ROR/PRR from the sums (:func:`pv.stats.mh_ror_from_sums`), IC and EBGM with the
    stratified E under the build's one prior (openEBGM's ``stratify = TRUE``), and Breslow-Day from the
    per-stratum ``cells`` (pair: the row of ``counts``, a, n_drug, n_event, n_total; located in SQL by
    :func:`_scored`, as string keys would cost a pandas merge of millions of rows) of the rows with
    a >= BRESLOW_DAY_MIN_REPORTS. ``stratified_reason`` says in words why a value is not published.
    """
    ror = stats.mh_ror_from_sums(
        *(counts[c] for c in ("mh_r", "mh_s", "mh_pr", "mh_ps_qr", "mh_qs", "ror_strata"))
    )
    prr = stats.mh_prr_from_sums(
        *(counts[c] for c in ("mh_prr_numerator", "mh_prr_denominator", "mh_prr_spread", "prr_strata"))
    )
    a = counts["a"].to_numpy(dtype=np.float64)
    e = counts["e_stratified"].to_numpy(dtype=np.float64)
    ic, ic025, ic975 = stats.shrinkage_ic(a, e)
    has_e = np.isfinite(e) & (e > 0)
    if fit.usable:
        shrunk = stats.ebgm(a, e, fit.prior).to_numpy()
        ebgm_reason = np.where(has_e, "", EBGM_STATUS["no_expected_count"])
    else:
        shrunk = np.full((len(counts), 3), np.nan)
        ebgm_reason = np.full(len(counts), EBGM_STATUS[fit.status])
    if cells is not None and len(cells):
        a_s, n_drug, n_event, n_total = (
            cells[c].to_numpy(dtype=np.float64) for c in ("a", "n_drug", "n_event", "n_total")
        )
        bd = stats.breslow_day(
            a_s,
            n_drug - a_s,
            n_event - a_s,
            n_total - n_drug - n_event + a_s,
            cells["pair"].to_numpy(dtype=np.int64),
            n_pairs=len(counts),
        )
    else:
        bd = stats.breslow_day([], [], [], [], np.array([], dtype=np.int64), n_pairs=len(counts))
    other_level = ~counts["event_level"].isin(BRESLOW_DAY_EVENT_LEVELS).to_numpy()
    not_computed = (a < BRESLOW_DAY_MIN_REPORTS) | other_level
    bd_status = bd["bd_status"].to_numpy()
    bd_reason = np.select(
        [other_level, a < BRESLOW_DAY_MIN_REPORTS, bd_status == "ok"],
        [
            "computed for event groups only (per-stratum cells of every PT-level pair would not fit)",
            f"not computed below {BRESLOW_DAY_MIN_REPORTS} reports (no ratio rule can flag the pair)",
            "",
        ],
        default=pd.Series(bd_status).map(stats.BD_STATUS).fillna("").to_numpy(),
    )

    def mh_reason(frame: pd.DataFrame, prefix: str) -> np.ndarray:
        status = frame[f"{prefix}_status"]
        return np.where(status == "ok", "", status.map(stats.MH_STATUS).fillna("").to_numpy())

    result = pd.DataFrame(
        {
            "e_stratified": e,
            "ic_stratified": ic,
            "ic_stratified025": ic025,
            "ic_stratified975": ic975,
            "ebgm_stratified": shrunk[:, 0],
            "eb05_stratified": shrunk[:, 1],
            "eb95_stratified": shrunk[:, 2],
            **{
                column: ror[column].to_numpy()
                for column in ("ror_mh", "ror_mh_lower", "ror_mh_upper", "ror_mh_strata")
            },
            **{
                column: prr[column].to_numpy()
                for column in ("prr_mh", "prr_mh_lower", "prr_mh_upper", "prr_mh_strata")
            },
            **{
                column: values.to_numpy()
                for column, values in stats.mh_ror_fdr(ror["ror_mh"], ror["ror_mh_log_se"], a).items()
            },
            "breslow_day_chi2": np.where(not_computed, np.nan, bd["bd_chi2"]),
            "breslow_day_chi2_tarone": np.where(not_computed, np.nan, bd["bd_chi2_tarone"]),
            "breslow_day_df": np.where(not_computed, 0, bd["bd_df"]).astype(np.int64),
            "breslow_day_p": np.where(not_computed, np.nan, bd["bd_p"]),
        }
    )
    result["stratified_reason"] = _reasons(
        {
            "ror_mh": mh_reason(ror, "ror_mh"),
            "prr_mh": mh_reason(prr, "prr_mh"),
            "breslow_day": bd_reason,
            "ebgm_stratified": ebgm_reason,
        }
    )
    return result[list(STRATIFIED_COLUMNS)]


def score(counts: pd.DataFrame, fit: PriorFit, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """All statistics and signal rules for a frame of 2x2 tables (columns a, b, c, d, plus labels).

    EBGM/EB05/EB95 only under a usable prior and where E > 0; ``ebgm_status`` says which case a row is in,
    and the prior columns are filled only on rows whose EBGM used the prior. When ``counts`` carries the
    stratified sums (:data:`STRATIFIED_SUMS`), the stratified columns (:func:`stratified_scores`) follow.
    """
    stratified = all(column in counts for column in STRATIFIED_SUMS)
    extra = stratified_scores(counts, fit, cells) if stratified else None
    counts = counts.drop(columns=[column for column in STRATIFIED_SUMS if column in counts])
    measures = stats.disproportionality(counts["a"], counts["b"], counts["c"], counts["d"])
    e = measures["e"].to_numpy()
    if fit.usable:
        shrunk = stats.ebgm(measures["a"].to_numpy(), e, fit.prior)
        status = np.where(np.isfinite(e) & (e > 0), "ok", "no_expected_count")
    else:
        shrunk = pd.DataFrame(np.nan, index=measures.index, columns=["ebgm", "eb05", "eb95"])
        status = np.full(len(measures), fit.status)
    flagged = stats.signal_flags(measures, shrunk)
    labels = counts.drop(columns=["a", "b", "c", "d"]).reset_index(drop=True)
    # Each call scores one family of tests (a variant x drug level x event level; per quarter in the history).
    family = labels["quarter"].to_numpy() if "quarter" in labels else None
    adjusted = stats.ror_fdr(measures, family)
    result = pd.concat([labels, measures, shrunk, flagged[list(RULES)], adjusted], axis=1)
    # Counts are whole numbers (checked): stored as integers, so CSV, SQL and artifacts print "3", not "3.0".
    result = result.astype(dict.fromkeys("abcd", "int64"))
    result["ebgm_status"] = pd.Series(status, dtype="str")
    used = status == "ok"
    theta = fit.prior.theta if fit.usable else (math.nan,) * 5
    for column, value in zip(PRIOR_COLUMNS, theta, strict=True):
        result[column] = np.where(used, value, np.nan)
    if extra is not None:
        result = pd.concat([result, extra], axis=1)
    return result


def _chunks(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, ...]]:
    keys = ", ".join(VARIANT_COLUMNS + ("drug_level", "event_level"))
    return con.sql(f"select distinct {keys} from {table} order by all").fetchall()


# marts.stratum_cells' columns in table order; unique by pair and stratum, so this is its "order by all".
_CELL_ORDER = "drug_level, drug, event_level, event, role, comparator, duplicates, stratum"


def _scored(
    con: duckdb.DuckDBPyConnection, table: str, fit: PriorFit, cells: str | None = None
) -> Iterable[pd.DataFrame]:
    """``table`` scored one chunk (variant x levels) at a time, with that chunk's rows of ``cells``.

    With ``cells``, ``table`` numbers its rows within each chunk (``pair``, from 0): the cells are located
    on them in SQL, so no string key reaches pandas.
    """
    names = VARIANT_COLUMNS + ("drug_level", "event_level")
    where = " and ".join(f"{name} = ?" for name in names)
    for key in _chunks(con, table):
        if cells is None:
            yield score(con.execute(f"select * from {table} where {where}", list(key)).df(), fit)
            continue
        query = f"select * exclude (pair) from {table} where {where} order by pair"
        counts = con.execute(query, list(key)).df()
        # ordered: Breslow-Day sums over these rows in floating point, the same in every build
        located = con.execute(
            f"select rows.pair, cells.a, cells.n_drug, cells.n_event, cells.n_total from {cells} as cells "
            f"inner join {table} as rows using ({', '.join(_PAIR_KEYS)}) "
            f"where {' and '.join(f'cells.{name} = ?' for name in names)} order by {_CELL_ORDER}",
            list(key),
        ).df()
        yield score(counts, fit, located)


def _empty_scores(label_columns: Sequence[str], stratified: bool = False) -> pd.DataFrame:
    """The scored frame of zero pairs, so an empty database still gets typed signal tables."""
    counts = pd.DataFrame({column: pd.Series(dtype="str") for column in label_columns})
    for column in "abcd":
        counts[column] = pd.Series(dtype="int64")
    for column in STRATIFIED_SUMS if stratified else ():
        counts[column] = pd.Series(dtype="float64")
    return score(counts, PriorFit(None, "too_few_pairs", 0, 0))


def _write(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frames: Iterable[pd.DataFrame],
    template: pd.DataFrame,
    temporary: bool = False,
) -> int:
    """Create ``table`` from the frames (or from the empty template when there are none); ``temporary``:
    a temp table, for an intermediate that would otherwise be written to the database file only to be
    read once."""
    con.execute(f"drop table if exists {table}")
    create = "create temp table" if temporary else "create table"
    written = 0
    for frame in frames:
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        con.register("scored_chunk", arrow)
        if written == 0:
            con.execute(f"{create} {table} as select * from scored_chunk")
        else:
            con.execute(f"insert into {table} select * from scored_chunk")
        con.unregister("scored_chunk")
        written += len(frame)
    if written == 0:
        con.register("scored_chunk", pa.Table.from_pandas(template, preserve_index=False))
        con.execute(f"{create} {table} as select * from scored_chunk")
        con.unregister("scored_chunk")
    return written


def prior_record(fit: PriorFit) -> dict[str, object]:
    """The ``gps_priors`` row: the prior, how it was fitted, whether it converged and why not."""
    prior = fit.prior
    theta = prior.theta if prior else (math.nan,) * 5
    runner_up = prior.runner_up if prior and prior.runner_up else (math.nan,) * 5
    names = ("alpha1", "beta1", "alpha2", "beta2", "p")
    reason = {"ok": "", "too_few_pairs": EBGM_STATUS["too_few_pairs"]}.get(
        fit.status, prior.reason if prior else ""
    )
    return (
        {
            "drug_level": PRIOR_LEVEL[0],
            "event_level": PRIOR_LEVEL[1],
            **DEFAULT_VARIANT,
            "used_for": "every drug level, event level and variant, today and in every history quarter",
            "status": fit.status,
            "converged": bool(prior and prior.converged),
            "reason": reason,
        }
        | dict(zip(names, theta, strict=True))
        | {
            "neg_log_likelihood": prior.neg_log_likelihood if prior else math.nan,
            **{f"runner_up_{name}": value for name, value in zip(names, runner_up, strict=True)},
            "runner_up_neg_log_likelihood": prior.runner_up_neg_log_likelihood if prior else math.nan,
            "log_likelihood_gap": prior.log_likelihood_gap if prior else math.nan,
            "n_pairs": fit.n_pairs,
            "n_squashed": prior.n_squashed if prior else 0,
            "n_starts": prior.n_starts if prior else 0,
            "n_agree": prior.n_agree if prior else 0,
            "attempts": fit.attempts,
            "method": prior.method if prior else "",
            **FIT_OPTIONS,
        }
    )


def fit_and_store_prior(con: duckdb.DuckDBPyConnection) -> PriorFit:
    """marts.gps_priors: the build's one GPS prior (:func:`fit_prior`), or why there is none."""
    fit = fit_prior(con)
    _write(con, "marts.gps_priors", [pd.DataFrame([prior_record(fit)])], pd.DataFrame())
    return fit


def stored_fit(con: duckdb.DuckDBPyConnection) -> PriorFit:
    """The prior of marts.gps_priors as fitted (DOUBLE columns keep every bit), for the scoring steps."""
    names = ("alpha1", "beta1", "alpha2", "beta2", "p")
    row = con.sql(f"select status, n_pairs, attempts, {', '.join(names)} from marts.gps_priors").fetchall()[0]
    status, n_pairs, attempts, *theta = row
    return PriorFit(stats.GpsPrior(*theta) if status == "ok" else None, status, n_pairs, attempts)


_LABELS = list(PAIR_COLUMNS + VARIANT_COLUMNS)
_PAIR_KEYS = PAIR_COLUMNS + VARIANT_COLUMNS
# Today's 2x2 tables: every variant's pairs, and the headline pairs of the target-specific variants
# (active comparator, masked), which have a population of their own for each target drug.
TODAY_COUNTS = (
    "(select * from marts.drug_event_counts union all by name select * from marts.target_variant_counts)"
)
# The variants whose population is a union of case strata (marts.analysis_variants): the only ones with a
# single N per variant and a quarterly history.
_STRATA_VARIANT = "comparator in (select comparator from marts.analysis_variants)"


def score_history(con: duckdb.DuckDBPyConnection) -> int:
    """marts.signal_history: every event-group pair's statistics by quarter, under the stored prior."""
    fit = stored_fit(con)
    return _write(
        con,
        "marts.signal_history",
        _scored(con, "marts.history_counts", fit),
        _empty_scores(_LABELS + ["quarter"]),
    )


def score_today(con: duckdb.DuckDBPyConnection) -> int:
    """marts.signals: every pair, variant and level today under the stored prior, with the first quarter
    each rule flagged it (``first_quarter_<rule>``, event groups only) from marts.first_flags."""
    fit = stored_fit(con)
    scores = "signal_scores"  # temporary: dropped once marts.signals holds it
    # today's 2x2 tables with their stratified sums (marts.stratified_counts), numbered within each chunk
    inputs = "signal_inputs"
    keys = ", ".join(_PAIR_KEYS)
    chunk = ", ".join(VARIANT_COLUMNS + ("drug_level", "event_level"))
    con.execute(
        f"create or replace temp table {inputs} as select counts.*, {', '.join(STRATIFIED_SUMS)}, "
        f"row_number() over (partition by {chunk}) - 1 as pair "
        f"from {TODAY_COUNTS} as counts inner join marts.stratified_counts using ({keys})"
    )
    try:
        _write(
            con,
            scores,
            _scored(con, inputs, fit, "marts.stratum_cells"),
            _empty_scores(_LABELS, stratified=True),
            temporary=True,
        )
        con.execute(render("marts/signals", ident_scores=scores))
    finally:
        con.execute(f"drop table if exists {scores}")
        con.execute(f"drop table if exists {inputs}")
    return con.sql("select count(*) from marts.signals").fetchall()[0][0]


def check_and_store(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """marts.signal_checks (:func:`check_signals`); raises :class:`SignalIntegrityError` when a stored
    number fails its check, so the build stops and the previous database stays in place."""
    checks = check_signals(con)
    _write(con, "marts.signal_checks", [checks], checks)
    failed = checks[checks["violations"] > 0]
    if len(failed):
        raise SignalIntegrityError(
            "stored signal statistics failed their checks: "
            + "; ".join(
                f"{row.check_name} ({row.violations} rows: {row.detail})" for row in failed.itertuples()
            )
        )
    return checks


# The checks


def _finite(*columns: str) -> str:
    return " and ".join(f"coalesce(isfinite({column}), false)" for column in columns)


# Evidence each rule needs (statistics.md §6): never a flag on an infinite or undefined value.
RULE_EVIDENCE: dict[str, str] = {
    "signal_evans": _finite("prr", "prr_lower", "prr_upper", "chi2_yates"),
    "signal_ror": _finite("ror", "ror_lower", "ror_upper"),
    "signal_ic": _finite("ic", "ic025", "ic975"),
    "signal_ebgm": _finite("eb05") + " and ebgm_status = 'ok'",
}
# Each analysis variant's population, counted from the curated tables alone (independently of marts), by
# the same rules (pv/sql/macros/analysis_rules.sql).
_VARIANT_POPULATIONS = """
with cases as (
    select
        cases.caseid,
        cases.is_duplicate,
        cases.has_oncology_indication as oncology,
        cases.has_breast_cancer_indication as breast_cancer,
        exposure.has_suspect
    from curated.cases
    inner join (
        select caseid, bool_or(is_suspect) as has_suspect
        from curated.case_drugs where pv_is_exposure(role_cod) group by caseid
    ) as exposure using (caseid)
    where cases.caseid in (select caseid from curated.case_events)
),
variants as (
    select * from (select value as role from vocab.analysis_variants where dimension = 'role')
    cross join (select value as comparator from vocab.analysis_variants where dimension = 'comparator')
    cross join (select value as duplicates from vocab.analysis_variants where dimension = 'duplicates')
)
select variants.role, variants.comparator, variants.duplicates, count(cases.caseid) as n_total
from variants
left join cases
    on pv_in_role(variants.role, cases.has_suspect)
    and pv_in_duplicates(variants.duplicates, cases.is_duplicate)
    and pv_in_comparator(variants.comparator, cases.oncology, cases.breast_cancer)
group by all
"""


def _differs(mine: object, theirs: object, rtol: float, atol: float = 0.0) -> np.ndarray:
    """Which entries differ beyond ``rtol`` / ``atol`` (NaN equals NaN; NULL is NaN)."""
    mine, theirs = np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return ~((np.isnan(mine) & np.isnan(theirs)) | np.isclose(mine, theirs, rtol=rtol, atol=atol))


# Sums over strata are added in another order by DuckDB than by numpy: equal to this relative tolerance.
STRATIFIED_CHECK_RTOL = 1e-9
# Each analysis variant's today population with its confounder stratum, from marts.stratified_cases by the
# variant rules (pv/sql/macros/analysis_rules.sql), without the variant strata
# sums of marts.stratified_counts: the headline pairs' per-stratum cells counted case by case.
_HEADLINE_STRATUM_CELLS = """
with cases as (
    select * from marts.stratified_cases
),
population as (
    select variants.role, variants.comparator, variants.duplicates, cases.caseid, cases.stratum
    from (select distinct role, comparator, duplicates from marts.signals) as variants
    inner join cases
        on pv_in_role(variants.role, cases.suspect)
        and pv_in_duplicates(variants.duplicates, cases.is_duplicate)
        and pv_in_comparator(variants.comparator, cases.oncology, cases.breast_cancer)
),
target_exposures as materialized (
    -- the target drugs' exposures first: joined to every variant's population, all exposures are tens of
    -- millions of rows
    select exposures.caseid, exposures.drug_level, exposures.drug, exposures.is_suspect
    from marts.case_exposures as exposures
    inner join marts.headline_targets as targets
        on targets.kind = 'drug' and targets.level = exposures.drug_level and targets.name = exposures.drug
),
exposed as (
    select population.*, exposures.drug_level, exposures.drug
    from population
    inner join target_exposures as exposures using (caseid)
    where population.role = 'any' or exposures.is_suspect
),
with_event as (
    select population.*, outcomes.event_level, outcomes.event
    from population
    inner join marts.case_outcomes as outcomes using (caseid)
    inner join marts.headline_targets as targets
        on targets.kind = 'event' and outcomes.event_level = 'group' and targets.name = outcomes.event
),
totals as (
    select role, comparator, duplicates, stratum, count(*) as n_total from population group by all
),
drug_counts as (
    select role, comparator, duplicates, stratum, drug_level, drug, count(*) as n_drug
    from exposed
    group by all
),
event_counts as (
    select role, comparator, duplicates, stratum, event_level, event, count(*) as n_event
    from with_event
    group by all
),
pair_counts as (
    select role, comparator, duplicates, stratum, drug_level, drug, event_level, event, count(*) as a
    from exposed
    inner join with_event using (role, comparator, duplicates, stratum, caseid)
    group by all
)
select
    drug_counts.role, drug_counts.comparator, drug_counts.duplicates, drug_counts.drug_level,
    drug_counts.drug, event_counts.event_level, event_counts.event,
    coalesce(pair_counts.a, 0) as a, drug_counts.n_drug, event_counts.n_event, totals.n_total
from drug_counts
inner join event_counts using (role, comparator, duplicates, stratum)
inner join totals using (role, comparator, duplicates, stratum)
left join pair_counts using (role, comparator, duplicates, stratum, drug_level, drug, event_level, event)
"""


def _located(
    con: duckdb.DuckDBPyConnection, stored: str, cells: str, order: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of the query ``stored`` (keys first, unique; in key order) and the per-stratum cells of the
    query ``cells`` located on them (pair = the row of ``stored``, a, n_drug, n_event, n_total), ``order``ed.
    The cells are matched to their row in SQL: string keys of millions of cells would cost a pandas merge."""
    keys = ", ".join(PAIR_COLUMNS + VARIANT_COLUMNS)
    # numbered once, in a temp table: ``stored`` scans a wide table
    con.execute(
        "create or replace temp table located_rows as "
        f"select row_number() over (order by {keys}) - 1 as pair, * from ({stored})"
    )
    try:
        rows = con.sql("select * exclude (pair) from located_rows order by pair").df()
        located = con.sql(
            f"with cells as ({cells}) select rows.pair, cells.a, cells.n_drug, cells.n_event, cells.n_total "
            f"from cells inner join located_rows as rows using ({keys}) {order}"
        ).df()
    finally:
        con.execute("drop table if exists located_rows")
    return rows, located


def _library_on_cells(stored: pd.DataFrame, cells: pd.DataFrame, rtol: float) -> int:
    """Rows of ``stored`` (keys and stratified columns) whose MH ROR/PRR with CIs, stratified E and IC, and
    Breslow-Day (where stored) differ from pv.stats run on the per-stratum ``cells`` located on them
    (:func:`_located`)."""
    a, n_drug, n_event, n_total = (
        cells[column].to_numpy(dtype=np.float64) for column in ("a", "n_drug", "n_event", "n_total")
    )
    tables = (a, n_drug - a, n_event - a, n_total - n_drug - n_event + a, cells["pair"].to_numpy(np.int64))
    n_pairs = len(stored)
    again = pd.concat(
        [stats.mh_ror(*tables, n_pairs=n_pairs), stats.mh_prr(*tables, n_pairs=n_pairs)], axis=1
    )
    again["e_stratified"] = stats.stratified_expected(*tables, n_pairs=n_pairs)
    again["ic_stratified"] = stats.shrinkage_ic(
        stored["a"].to_numpy(dtype=np.float64), again["e_stratified"]
    )[0]
    columns = ["ror_mh", "ror_mh_lower", "ror_mh_upper", "prr_mh", "prr_mh_lower", "prr_mh_upper"]
    columns += ["e_stratified", "ic_stratified"]
    bad = np.zeros(n_pairs, dtype=bool)
    for column in columns:
        bad |= _differs(again[column], stored[column], rtol, atol=1e-12)
    if "breslow_day_p" in stored:
        bd = stats.breslow_day(*tables, n_pairs=n_pairs)
        has = stored["breslow_day_p"].notna().to_numpy()
        for column, theirs in (("bd_p", "breslow_day_p"), ("bd_chi2", "breslow_day_chi2")):
            bad[has] |= _differs(bd[column].to_numpy()[has], stored[theirs].to_numpy()[has], rtol, atol=1e-12)
    return int(bad.sum())


def _stratified_checks(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int, str]]:
    """The stratified columns of marts.signals: recomputed by pv.stats from per-stratum cells (the stored
    ones of marts.stratum_cells, and the headline pairs' cells counted case by case from marts.case_strata),
    every interval around its estimate, and the strata adding up to the crude table."""
    keys = ", ".join(PAIR_COLUMNS + VARIANT_COLUMNS)
    wanted = (
        f"{keys}, a, {', '.join(column for column in STRATIFIED_COLUMNS if column != 'stratified_reason')}"
    )
    checked, off, worst = _quantile_violations(con, "marts.signals", "_stratified")
    results = [
        ("signals: stratified EB05/EB95 exact quantiles", checked, off, f"worst |F(q) - p| = {worst:.2e}")
    ]
    outside_prior = con.sql(
        "select count(*) from marts.signals where ebgm_status <> 'ok' and (ebgm_stratified is not null "
        "or eb05_stratified is not null or eb95_stratified is not null)"
    ).fetchall()[0][0]
    results.append(
        ("signals: stratified EBGM only under the prior the crude EBGM used", checked, outside_prior, "")
    )
    # the cells in their stored order: the sums over strata add them in that order
    stored, cells = _located(
        con,
        f"select {wanted} from marts.signals semi join marts.stratum_cells using ({keys})",
        "select *, rowid as stored_order from marts.stratum_cells",
        "order by cells.stored_order",
    )
    results.append(
        (
            "signals: stratified MH, E, IC and Breslow-Day equal pv.stats on marts.stratum_cells",
            len(stored),
            _library_on_cells(stored, cells, STRATIFIED_CHECK_RTOL),
            f"rtol {STRATIFIED_CHECK_RTOL:g}; the pairs whose cells are kept",
        )
    )
    headline, recount = _located(
        con,
        f"select {wanted} from marts.signals where event_level = 'group' and (drug_level, drug) in "
        "(select (level, name) from marts.headline_targets where kind = 'drug') and event in "
        f"(select name from marts.headline_targets where kind = 'event') and {_STRATA_VARIANT}",
        _HEADLINE_STRATUM_CELLS,
    )
    results.append(
        (
            "signals: stratified values of the headline pairs from cells counted case by case (case_strata)",
            len(headline),
            _library_on_cells(headline.drop(columns=["breslow_day_p"]), recount, STRATIFIED_CHECK_RTOL),
            f"rtol {STRATIFIED_CHECK_RTOL:g}",
        )
    )
    contained = " or ".join(
        f"({low} > {estimate} or {estimate} > {high})"
        for low, estimate, high in (
            ("ror_mh_lower", "ror_mh", "ror_mh_upper"),
            ("prr_mh_lower", "prr_mh", "prr_mh_upper"),
            ("ic_stratified025", "ic_stratified", "ic_stratified975"),
            ("eb05_stratified", "ebgm_stratified", "eb95_stratified"),
        )
    )
    total, outside = con.sql(
        f"select count(*), count(*) filter (where {contained}) from marts.signals"
    ).fetchall()[0]
    results.append(
        ("signals: stratified intervals contain their estimate", total, outside, "MH ROR, MH PRR, IC, EBGM")
    )
    differ = con.sql(
        f"select count(*) from {TODAY_COUNTS} inner join marts.stratified_counts using ({keys}) "
        "where a_strata <> a"
    ).fetchall()[0][0]
    results.append(
        (
            "signals: stratified a summed over the strata = a (stratified_counts)",
            total,
            differ,
            "marts.case_strata",
        )
    )
    results.append(_mh_fdr_check(con, total))
    return results


def _family_code(columns: Sequence[str]) -> str:
    """A select item numbering each row's family of tests (the distinct ``columns``) in SQL: BH needs only
    which rows share a family, and the string columns themselves would cost a pandas conversion."""
    return f"dense_rank() over (order by {', '.join(columns)}) as family"


def _fdr_check(con: duckdb.DuckDBPyConnection, name: str, total: int) -> tuple[str, int, int, str]:
    """ror_p, ror_q and signal_ror_fdr of ``marts.<name>`` recomputed from the stored cells, family by family
    (BH needs the whole family, which the scoring saw one chunk at a time)."""
    family = VARIANT_COLUMNS + ("drug_level", "event_level")
    family += ("quarter",) if name == "signal_history" else ()
    stored = con.sql(
        f"select {_family_code(family)}, a, b, c, d, ror, ror_p, ror_q, signal_ror_fdr from marts.{name}"
    ).df()
    cells = stored[["a", "b", "c", "d", "ror"]].astype("float64")
    again = stats.ror_fdr(cells, stored["family"].to_numpy())
    differs = sum(int(_differs(again[column], stored[column], 1e-12).sum()) for column in ("ror_p", "ror_q"))
    differs += int((again["signal_ror_fdr"].to_numpy() != stored["signal_ror_fdr"].fillna(False)).sum())
    return (f"{name}: ROR p, BH q and FDR flag per family", total, differs, "pv.stats.ror_fdr")


def _mh_fdr_check(con: duckdb.DuckDBPyConnection, total: int) -> tuple[str, int, int, str]:
    """ror_mh_p, ror_mh_q and signal_ror_mh_fdr of marts.signals recomputed family by family from the stored
    MH ROR and its interval (SE = ln(upper / lower) / (2 z))."""
    stored = con.sql(
        f"select {_family_code(VARIANT_COLUMNS + ('drug_level', 'event_level'))}, a, ror_mh, ror_mh_lower, "
        "ror_mh_upper, ror_mh_p, ror_mh_q, signal_ror_mh_fdr from marts.signals"
    ).df()
    keys = stored["family"].to_numpy()
    lower, upper = (stored[column].to_numpy(dtype=np.float64) for column in ("ror_mh_lower", "ror_mh_upper"))
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.log(upper / lower) / (2.0 * stats.Z95)
    again = stats.mh_ror_fdr(stored["ror_mh"].astype("float64"), se, stored["a"], keys)
    differs = sum(
        int(_differs(again[column], stored[column], STRATIFIED_CHECK_RTOL).sum())
        for column in ("ror_mh_p", "ror_mh_q")
    )
    differs += int((again["signal_ror_mh_fdr"].to_numpy() != stored["signal_ror_mh_fdr"].fillna(False)).sum())
    return (
        "signals: stratified MH ROR p, BH q and FDR flag per family",
        total,
        differs,
        f"pv.stats.mh_ror_fdr, SE from the stored interval; rtol {STRATIFIED_CHECK_RTOL:g}",
    )


def _quantile_violations(
    con: duckdb.DuckDBPyConnection, table: str, suffix: str = ""
) -> tuple[int, int, float]:
    """(rows checked, rows off, worst |F(q) - p|) for the stored EB05/EB95 under each row's stored prior;
    ``suffix`` "_stratified" checks eb05_stratified/eb95_stratified with E = e_stratified."""
    rows = con.sql(
        f"select distinct a, e{suffix} as e, eb05{suffix} as eb05, eb95{suffix} as eb95, "
        f"{', '.join(PRIOR_COLUMNS)} from {table} where ebgm{suffix} is not null"
    ).df()
    checked = int(con.sql(f"select count(*) from {table} where ebgm{suffix} is not null").fetchall()[0][0])
    worst, off = 0.0, 0
    for theta, group in rows.groupby(list(PRIOR_COLUMNS)):
        prior = stats.GpsPrior(*theta)
        n, e = group["a"].to_numpy(), group["e"].to_numpy()
        gap = np.maximum(
            np.abs(stats.posterior_cdf(group["eb05"].to_numpy(), n, e, prior) - 0.05),
            np.abs(stats.posterior_cdf(group["eb95"].to_numpy(), n, e, prior) - 0.95),
        )
        gap = np.where(np.isfinite(gap), gap, np.inf)
        worst = max(worst, float(gap.max(initial=0.0)))
        off += int((gap > QUANTILE_CHECK).sum())
    return checked, off, worst


def check_signals(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Verify every stored row of ``signals`` and ``signal_history``; one row per check.

    Columns: check_name, rows_checked, violations, detail. The checks: each EB05/EB95 satisfies
    |F(q) - p| <= 1e-10 under the row's stored prior; EBGM exists only under the converged prior and only
    where ebgm_status = 'ok'; every rule flag equals the one definition (:func:`pv.stats.signal_flags`) and
    none fires on an infinite or undefined value; no negative cell; a + b + c + d is the variant's
    population counted independently from the curated tables (signals), and one N per variant and quarter
    (history); the history's latest quarter equals today's table, and so do its duplicate flags (an
    incremental build relies on both); every target ingredient and class present
    in the data x dm_narrow, dm_broad x every variant is in ``signals``.
    """
    results: list[tuple[str, int, int, str]] = []
    prior = con.sql("select converged, alpha1, beta1, alpha2, beta2, p from marts.gps_priors").fetchall()[0]
    for name in ("signals", "signal_history"):
        table = f"marts.{name}"
        total = con.sql(f"select count(*) from {table}").fetchall()[0][0]
        checked, off, worst = _quantile_violations(con, table)
        results.append(
            (f"{name}: EB05/EB95 exact quantiles", checked, off, f"worst |F(q) - p| = {worst:.2e}")
        )
        matches = (
            " and ".join(
                f"{column} = {value!r}" for column, value in zip(PRIOR_COLUMNS, prior[1:], strict=True)
            )
            if prior[0]
            else "false"
        )
        bad = con.sql(
            f"select count(*) from {table} where (ebgm is not null or eb05 is not null or eb95 is not null) "
            f"and not (ebgm_status = 'ok' and {matches}) "
            f"or (ebgm_status = 'ok' and (ebgm is null or eb05 is null or eb95 is null))"
        ).fetchall()[0][0]
        results.append((f"{name}: EBGM only from the converged prior", total, bad, "ebgm_status, gps_priors"))
        for rule, evidence in RULE_EVIDENCE.items():
            bad = con.sql(f"select count(*) from {table} where {rule} and not ({evidence})").fetchall()[0][0]
            results.append((f"{name}: {rule} on finite evidence", total, bad, evidence))
        stored = con.sql(
            f"select a, b, c, d, {', '.join(stats.DISPROPORTIONALITY_COLUMNS[4:])}, eb05, {', '.join(RULES)} "
            f"from {table}"
        ).df()
        again = stats.signal_flags(
            stored.astype({c: "float64" for c in stored.columns if c not in RULES}), stored
        )
        differs = int(
            sum((again[rule].to_numpy() != stored[rule].fillna(False).to_numpy()).sum() for rule in RULES)
        )
        results.append(
            (f"{name}: flags equal the one rule definition", total, differs, "pv.stats.signal_flags")
        )
        bad = con.sql(f"select count(*) from {table} where least(a, b, c, d) < 0").fetchall()[0][0]
        results.append((f"{name}: no negative cell", total, bad, ""))
        results.append(_fdr_check(con, name, total))
    expected = con.sql(_VARIANT_POPULATIONS).df()
    stored = con.sql(
        "select distinct role, comparator, duplicates, a + b + c + d as n_total from marts.signals "
        f"where {_STRATA_VARIANT}"
    ).df()
    merged = expected.merge(stored, on=list(VARIANT_COLUMNS), how="outer", suffixes=("_curated", "_stored"))
    bad = merged[merged["n_total_stored"].notna() & (merged["n_total_curated"] != merged["n_total_stored"])]
    many = int(stored.duplicated(list(VARIANT_COLUMNS)).sum())
    results.append(
        (
            "signals: a + b + c + d = the variant's population (curated tables)",
            len(stored),
            len(bad) + many,
            "",
        )
    )
    several = con.sql(
        "select count(*) from (select role, comparator, duplicates, quarter from marts.signal_history "
        "group by all having count(distinct a + b + c + d) > 1)"
    ).fetchall()[0][0]
    results.append(("signal_history: one N per variant and quarter", 0, several, ""))
    keys = ", ".join(PAIR_COLUMNS + VARIANT_COLUMNS)
    latest = (
        f"select {keys}, a, b, c, d from marts.signal_history "
        "where quarter = (select max(quarter) from marts.signal_history)"
    )
    today = f"select {keys}, a, b, c, d from marts.signals where event_level = 'group' and {_STRATA_VARIANT}"
    differ = con.sql(
        f"select count(*) from (({latest}) except all ({today}) union all (({today}) except all ({latest})))"
    ).fetchall()[0][0]
    has_history = con.sql("select count(*) from marts.signal_history").fetchall()[0][0] > 0
    results.append(("signal_history: latest quarter = signals", 0, differ if has_history else 0, ""))
    # A run at the latest quarter is today's run: an incremental build takes its flags from today's.
    flags = "caseid, duplicate_group, duplicate_rules, group_size, is_duplicate"
    latest_flags = (
        f"select {flags} from marts.duplicate_flags_by_quarter "
        "where as_of = (select max(quarter) from staging.stg_demo)"
    )
    today_flags = f"select {flags} from curated.duplicate_flags"
    differ = con.sql(
        f"select count(*) from (({latest_flags}) except all ({today_flags}) "
        f"union all (({today_flags}) except all ({latest_flags})))"
    ).fetchall()[0][0]
    results.append(("duplicate flags: latest quarter = today's", 0, differ, ""))
    missing = con.execute(
        """
        with exposed as (
            select distinct drugs.ingredient, drugs.drug_class
            from curated.case_drugs as drugs
            where pv_is_exposure(drugs.role_cod)
                and drugs.caseid in (select caseid from curated.case_events)
        ),
        targets as (
            select 'ingredient' as drug_level, ingredient as drug from exposed
            where list_contains($classes, drug_class)
            union
            select 'class', drug_class from exposed where list_contains($classes, drug_class)
        ),
        expected as (
            select * from targets
            cross join (select unnest($events) as event)
            cross join (select distinct role, comparator, duplicates from marts.signals)
        )
        select count(*) from expected
        anti join (select * from marts.signals where event_level = 'group')
        using (drug_level, drug, event, role, comparator, duplicates)
        """,
        {"classes": list(TARGET_CLASSES), "events": list(HEADLINE_EVENTS)},
    ).fetchall()[0][0]
    results.append(("signals: every target drug x DM group x variant present", 0, missing, ""))
    results += _stratified_checks(con)
    results += _target_variant_checks(con)
    return pd.DataFrame(results, columns=["check_name", "rows_checked", "violations", "detail"])


# The target-specific variants against the populations they are cut from
# (pv/sql/marts/target_variant_counts.sql): an active-comparator table holds every case of the indication
# population with the target (so its a and n_drug are the indication variant's) and no case outside it; a
# masked table is the base table (comparator all) minus the cases marts.masked_cases lists.
_ACTIVE_AGAINST_INDICATION = """
select
    count(*) as total,
    count(*) filter (
        where indicated.a is null
        or active.a <> indicated.a
        or active.a + active.b <> indicated.a + indicated.b
        or active.a + active.c > indicated.a + indicated.c
        or active.a + active.b + active.c + active.d > indicated.a + indicated.b + indicated.c + indicated.d
    ) as bad
from marts.signals as active
inner join (select distinct drug_level, drug, population from marts.active_comparators) as indication
    using (drug_level, drug)
left join marts.signals as indicated
    on indicated.drug_level = active.drug_level and indicated.drug = active.drug
    and indicated.event_level = active.event_level and indicated.event = active.event
    and indicated.role = active.role and indicated.duplicates = active.duplicates
    and indicated.comparator = indication.population
where active.comparator = 'active'
"""
_MASKED_AGAINST_BASE = """
with leaving as (
    select distinct
        targets.level as drug_level, targets.name as drug, cases.event_level, cases.event, cases.role,
        cases.duplicates, cases.caseid
    from marts.masked_cases as cases
    inner join marts.headline_targets as targets
        on targets.kind = 'drug'
        and pv_masks(cases.masker, cases.masker_class, targets.name, targets.drug_class)
),
removed as (
    select
        masked.drug_level, masked.drug, masked.event_level, masked.event, masked.role, masked.duplicates,
        count(*) as cases,
        count(*) filter (where exposed.caseid is not null and outcomes.caseid is not null) as pair_cases
    from leaving as masked
    left join marts.case_exposures as exposed
        on exposed.caseid = masked.caseid and exposed.drug_level = masked.drug_level
        and exposed.drug = masked.drug and pv_in_role(masked.role, exposed.is_suspect)
    left join marts.case_outcomes as outcomes
        on outcomes.caseid = masked.caseid and outcomes.event_level = masked.event_level
        and outcomes.event = masked.event
    group by all
)
select
    count(*) as total,
    count(*) filter (
        where base.a is null
        or masked.a + masked.b + masked.c + masked.d
            <> base.a + base.b + base.c + base.d - coalesce(removed.cases, 0)
        or masked.a <> base.a - coalesce(removed.pair_cases, 0)
    ) as bad,
    coalesce(sum(removed.cases), 0) as removed
from marts.signals as masked
left join marts.signals as base
    on base.drug_level = masked.drug_level and base.drug = masked.drug
    and base.event_level = masked.event_level and base.event = masked.event
    and base.role = masked.role and base.duplicates = masked.duplicates and base.comparator = $base
left join removed
    on removed.drug_level = masked.drug_level and removed.drug = masked.drug
    and removed.event_level = masked.event_level and removed.event = masked.event
    and removed.role = masked.role and removed.duplicates = masked.duplicates
where masked.comparator = 'masked'
"""


def _target_variant_checks(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int, str]]:
    """The active-comparator and masked rows against the populations they are cut from, and the maskers
    against the masking rule (thresholds, rank, never a target, MR recomputed by pv.stats)."""
    total, bad = con.sql(_ACTIVE_AGAINST_INDICATION).fetchall()[0]
    results = [
        (
            "signals: active comparator inside the indication population, with all its target cases",
            total,
            bad,
            "a and n_drug = the indication variant's; n_event, N <= its (marts.active_comparators)",
        )
    ]
    total, bad, removed = con.execute(
        _MASKED_AGAINST_BASE, {"base": DEFAULT_VARIANT["comparator"]}
    ).fetchall()[0]
    results.append(
        (
            "signals: masked N = base N - masked cases, a = base a - masked cases with drug and event",
            total,
            bad,
            f"marts.masked_cases, pv_masks ({removed} cases removed over the masked rows)",
        )
    )
    rule = stats.masking_rule()
    maskers = con.execute(
        "select *, drug in (select name from marts.headline_targets where kind = 'drug') as target "
        "from marts.event_maskers"
    ).df()
    chosen = maskers["masker"].to_numpy(dtype=bool)
    a = maskers["a"].to_numpy(dtype=np.float64)
    mr = maskers["mr_prr"].to_numpy(dtype=np.float64)
    breaks = chosen & (
        (a < rule.min_event_reports)
        | ~(mr >= rule.min_masking_ratio)
        | ~(maskers["prr_lower"].to_numpy(dtype=np.float64) > rule.min_prr_lower)
        | (maskers["rank"].to_numpy() < 1)
        | (maskers["rank"].to_numpy() > rule.max_maskers)
        | maskers["target"].to_numpy(dtype=bool)
    )
    breaks |= ~chosen & (maskers["rank"].to_numpy() != 0)
    n_event, n_total, n_drug = (
        maskers[c].to_numpy(dtype=np.float64) for c in ("n_event", "n_total", "n_drug")
    )
    again = stats.masking_ratio(n_event, n_total - n_event, a, n_drug - a)["mr_prr"]
    breaks |= _differs(again, mr, 1e-12)
    results.append(
        (
            "event_maskers: maskers meet the masking rule, MR as pv.stats computes it",
            len(maskers),
            int(breaks.sum()),
            f"a >= {rule.min_event_reports}, MR >= {rule.min_masking_ratio}, "
            f"PRR lower > {rule.min_prr_lower}, rank 1..{rule.max_maskers}, never a target",
        )
    )
    return results
