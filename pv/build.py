"""The build plan: every step of the database build in order, what it writes and the grain of each output.

One ordered tuple of same-shaped steps run by one loop (as sqlglot runs its optimizer rules): a step is a SQL
model (``pv/sql/<layer>/<name>.sql``, run as rendered) or a named Python step, and declares its layer, its
schema-qualified outputs and the grain (key columns) of each. This is the only place that knows the build
order; ``pv build --list`` prints it, ``pv build --from STEP`` re-runs it from a step on a copy of the
database, and a flow can run it layer by layer (:func:`steps_for_layer`, :func:`run_plan`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import duckdb

from pv import db
from pv.dedup import flag_cross_case_duplicates, flag_duplicates_by_quarter
from pv.errors import UserError
from pv.normalize import build_drug_map, build_term_maps
from pv.normalize.meddra import load_meddra, meddra_dir
from pv.signals import (
    BRESLOW_DAY_EVENT_LEVELS,
    BRESLOW_DAY_MIN_REPORTS,
    check_and_store,
    fit_and_store_prior,
    score_history,
    score_today,
)
from pv.sqlfiles import render

# In build order; a build without the curated layer stops after staging, one without signals after curated.
LAYERS: tuple[str, ...] = ("raw", "staging", "curated", "counts", "signals")


@dataclass(frozen=True)
class BuildContext:
    """What Python steps need beyond the connection: the lake, and whether raw is copied or viewed."""

    lake: Path
    snapshot: bool = True


@dataclass(frozen=True)
class Step:
    """One build step: a SQL model (``model``, rendered with ``params``) or a Python function (``run``).

    ``outputs`` maps each relation the step writes to its grain: the columns that identify a row (never
    duplicated, never NULL), or None for a relation with no key (raw rows as FDA published them).
    """

    name: str
    layer: str
    outputs: Mapping[str, tuple[str, ...] | None]
    model: str | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    run: Callable[[duckdb.DuckDBPyConnection, BuildContext], object] | None = None
    # A content model rendered over ``params["ident_versions"]`` a bucket of caseids at a time.
    bucketed: bool = False

    def __post_init__(self) -> None:
        if (self.model is None) == (self.run is None):
            raise ValueError(f"build step {self.name}: give either a SQL model or a Python function")
        if self.bucketed and "ident_versions" not in self.params:
            raise ValueError(f"build step {self.name}: a bucketed model is rendered over ident_versions")
        if self.layer not in LAYERS:
            raise ValueError(f"build step {self.name}: unknown layer {self.layer!r}")
        object.__setattr__(self, "outputs", MappingProxyType(dict(self.outputs)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def kind(self) -> str:
        if self.model is None:
            return "python"
        return f"pv/sql/{self.model}.sql" + (" (bucketed)" if self.bucketed else "")


def _sql(
    model: str,
    layer: str,
    outputs: Mapping[str, tuple[str, ...] | None],
    name: str | None = None,
    **params: object,
) -> Step:
    """A SQL model step, named after its first output unless it writes none (macros)."""
    return Step(name or next(iter(outputs), model), layer, outputs, model=model, params=params)


def _python(
    name: str,
    layer: str,
    outputs: Mapping[str, tuple[str, ...] | None],
    run: Callable[[duckdb.DuckDBPyConnection, BuildContext], object],
) -> Step:
    return Step(name, layer, outputs, run=run)


def _raw_tables(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
    db.create_raw_views(con, context.lake, snapshot=context.snapshot)


def _drug_maps(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
    build_drug_map(con, "select drugname, prod_ai, nda_num from staging.stg_drug")


def _term_maps(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
    folder = meddra_dir()
    build_term_maps(
        con,
        "select pt as term from staging.stg_reac",
        "select indi_pt as term from staging.stg_indi",
        meddra=load_meddra(folder) if folder else None,
    )


# Grains shared by several outputs.
_VERSION = ("quarter", "primaryid")
_PAIR_VARIANT = ("drug_level", "drug", "event_level", "event", "role", "comparator", "duplicates")
_CASE_DRUG = None  # a DRUG record per row: FDA repeats drug_seq within a case version (faers_format.md §4.2)
_EXPOSURE = ("quarter", "primaryid", "drug_level", "drug")
_OUTCOME = ("quarter", "primaryid", "event_level", "event")
_RAW_TABLES: dict[str, tuple[str, ...] | None] = {
    "raw.demo": _VERSION,
    "raw.drug": None,
    "raw.reac": None,
    "raw.outc": None,
    "raw.rpsr": None,
    "raw.ther": None,
    "raw.indi": None,
    "raw.deleted_cases": ("quarter", "caseid"),
    "raw.rejects": ("quarter", "table_name", "source_file", "line_no"),
    "raw.ingest_log": ("quarter", "table_name", "source_file"),
    "raw.decoding": ("quarter", "table_name", "source_file", "line_no"),
}


def _content(model: str, layer: str, table: str, versions: str, grain: tuple[str, ...] | None) -> Step:
    """A case content model over a list of versions (today's retained ones, or past ones), run in buckets
    of caseids when the list is long (:func:`pv.db.run_content_model`: list aggregates cannot spill)."""
    return Step(
        table,
        layer,
        {table: grain},
        model=model,
        params={"ident_table": table, "ident_versions": versions},
        bucketed=True,
    )


def _exposures(table: str, drugs: str) -> Step:
    return _sql("marts/case_exposures", "counts", {table: _EXPOSURE}, ident_table=table, ident_drugs=drugs)


def _outcomes(table: str, events: str) -> Step:
    return _sql("marts/case_outcomes", "counts", {table: _OUTCOME}, ident_table=table, ident_events=events)


PLAN: tuple[Step, ...] = (
    # raw: the lake's tables as published, and how they add up against FDA's totals
    _python("raw.tables", "raw", _RAW_TABLES, _raw_tables),
    _python(
        "raw.key_anomalies",
        "raw",
        {"raw.key_anomalies": ("quarter", "table_name", "key_value")},
        lambda con, context: db.create_key_anomalies(con),
    ),
    _sql(
        "raw/row_reconciliation",
        "raw",
        {"raw.row_reconciliation": ("quarter", "table_name")},
        totals_csv=str(db.OFFICIAL_ROW_TOTALS),
    ),
    _sql("meta/provenance", "raw", {"meta.provenance": ("quarter",)}),
    # staging: reviewed vocabularies, value rules, typed views
    _python(
        "vocab.tables",
        "staging",
        {f"vocab.{name}": grain for name, (_, grain) in db.SQL_VOCABULARIES.items()},
        lambda con, context: db.load_vocabularies(con),
    ),
    _sql("macros/faers_values", "staging", {}, name="macros.faers_values"),
    _sql("macros/analysis_rules", "staging", {}, name="macros.analysis_rules"),
    _sql("staging/stg_demo", "staging", {"staging.stg_demo": _VERSION}),
    _sql("staging/stg_drug", "staging", {"staging.stg_drug": None}),
    _sql("staging/stg_reac", "staging", {"staging.stg_reac": None}),
    _sql("staging/stg_indi", "staging", {"staging.stg_indi": None}),
    _sql("staging/stg_ther", "staging", {"staging.stg_ther": None}),
    _sql("staging/stg_outc", "staging", {"staging.stg_outc": None}),
    _sql("staging/stg_deleted_cases", "staging", {"staging.stg_deleted_cases": ("caseid",)}),
    # curated: normalisation maps, FDA's de-duplication, the case tables, cross-case duplicate flags
    _python(
        "curated.drug_maps",
        "curated",
        {"curated.drug_name_map": None, "curated.drug_fuzzy_audit": None},
        _drug_maps,
    ),
    _python(
        "curated.term_maps",
        "curated",
        {"curated.event_term_map": ("raw",), "curated.indication_term_map": ("raw",)},
        _term_maps,
    ),
    _sql("curated/case_versions", "curated", {"curated.case_versions": _VERSION}),
    _sql("curated/retained_versions", "curated", {"curated.retained_versions": ("caseid",)}),
    _content("curated/case_drugs", "curated", "curated.case_drugs", "curated.retained_versions", _CASE_DRUG),
    _content(
        "curated/case_events", "curated", "curated.case_events", "curated.retained_versions", ("caseid", "pt")
    ),
    _content(
        "curated/case_indications",
        "curated",
        "curated.case_indications",
        "curated.retained_versions",
        ("caseid", "drug_seq", "pt"),
    ),
    _python(
        "curated.duplicate_flags",
        "curated",
        {"curated.duplicate_flags": ("caseid",)},
        lambda con, context: flag_cross_case_duplicates(con),
    ),
    _sql("curated/cases", "curated", {"curated.cases": ("caseid",)}),
    _sql("curated/dedup_summary", "curated", {"curated.dedup_summary": ("quarter",)}),
    # counts: every version's contribution over the quarters it was analysed, and the 2x2 tables
    _sql("marts/version_lifetimes", "counts", {"marts.version_lifetimes": _VERSION}),
    _sql("marts/history_versions", "counts", {"marts.history_versions": _VERSION}),
    _content(
        "curated/case_drugs", "counts", "marts.history_version_drugs", "marts.history_versions", _CASE_DRUG
    ),
    _content(
        "curated/case_events",
        "counts",
        "marts.history_version_events",
        "marts.history_versions",
        ("quarter", "primaryid", "pt"),
    ),
    _content(
        "curated/case_indications",
        "counts",
        "marts.history_version_indications",
        "marts.history_versions",
        ("quarter", "primaryid", "drug_seq", "pt"),
    ),
    _exposures("marts.case_exposures", "curated.case_drugs"),
    _outcomes("marts.case_outcomes", "curated.case_events"),
    _exposures("marts.history_version_exposures", "marts.history_version_drugs"),
    _outcomes("marts.history_version_outcomes", "marts.history_version_events"),
    _sql(
        "marts/version_content",
        "counts",
        {
            "marts.version_drugs": _CASE_DRUG,
            "marts.version_events": ("quarter", "primaryid", "pt"),
            "marts.version_indications": ("quarter", "primaryid", "drug_seq", "pt"),
            "marts.version_exposures": _EXPOSURE,
            "marts.version_outcomes": _OUTCOME,
        },
        name="marts.version_content",
    ),
    _python(
        "marts.duplicate_flags_by_quarter",
        "counts",
        {"marts.duplicate_flags_by_quarter": ("as_of", "caseid")},
        lambda con, context: flag_duplicates_by_quarter(con),
    ),
    _sql("marts/analysis_cases", "counts", {"marts.analysis_cases": ("quarter", "primaryid", "live_from")}),
    _sql(
        "marts/analysis_variants",
        "counts",
        {
            "marts.analysis_variants": (
                "role",
                "comparator",
                "duplicates",
                "is_duplicate",
                "oncology",
                "breast_cancer",
                "suspect",
            )
        },
    ),
    _sql("marts/headline_targets", "counts", {"marts.headline_targets": ("kind", "level", "name")}),
    _sql("marts/drug_event_counts", "counts", {"marts.drug_event_counts": _PAIR_VARIANT}),
    _sql("marts/case_strata", "counts", {"marts.case_strata": ("quarter", "primaryid")}),
    _sql(
        "marts/stratified_counts",
        "counts",
        {
            "marts.stratified_counts": _PAIR_VARIANT,
            "marts.stratum_cells": (*_PAIR_VARIANT, "stratum"),
        },
        min_reports=BRESLOW_DAY_MIN_REPORTS,
        cell_event_levels=BRESLOW_DAY_EVENT_LEVELS,
    ),
    _sql("marts/history_counts", "counts", {"marts.history_counts": ("quarter", *_PAIR_VARIANT)}),
    # signals: the GPS prior, every pair's statistics today and by quarter, their checks, the headline
    _python(
        "marts.gps_priors",
        "signals",
        {"marts.gps_priors": ("drug_level", "event_level")},
        lambda con, context: fit_and_store_prior(con),
    ),
    _python(
        "marts.signal_history",
        "signals",
        {"marts.signal_history": ("quarter", *_PAIR_VARIANT)},
        lambda con, context: score_history(con),
    ),
    _sql("marts/first_flags", "signals", {"marts.first_flags": _PAIR_VARIANT}),
    _python(
        "marts.signals",
        "signals",
        {"marts.signals": _PAIR_VARIANT},
        lambda con, context: score_today(con),
    ),
    _python(
        "marts.signal_checks",
        "signals",
        {"marts.signal_checks": ("check_name",)},
        lambda con, context: check_and_store(con),
    ),
    _sql("marts/headline", "signals", {"marts.headline": _PAIR_VARIANT}),
    _sql(
        "marts/deprecated_names",
        "signals",
        {
            "main.signals": _PAIR_VARIANT,
            "main.signal_history": ("quarter", *_PAIR_VARIANT),
            "main.gps_priors": ("drug_level", "event_level"),
            "main.signal_checks": ("check_name",),
        },
        name="main.deprecated_names",
    ),
)


def step_names() -> list[str]:
    return [step.name for step in PLAN]


def find_step(name: str) -> Step:
    """The plan's step called ``name``; a clear error listing the names otherwise."""
    for step in PLAN:
        if step.name == name:
            return step
    raise UserError(f"{name}: no such build step; `pv build --list` shows them: {', '.join(step_names())}")


def steps_for_layer(layer: str) -> tuple[Step, ...]:
    """The plan's steps of one layer, in order."""
    if layer not in LAYERS:
        raise UserError(f"{layer}: no such layer; the layers are {', '.join(LAYERS)}")
    return tuple(step for step in PLAN if step.layer == layer)


def steps_through(last_layer: str) -> tuple[Step, ...]:
    """The plan up to and including ``last_layer``."""
    return tuple(step for step in PLAN if LAYERS.index(step.layer) <= LAYERS.index(last_layer))


def steps_from(name: str, steps: Iterable[Step] = PLAN) -> tuple[Step, ...]:
    """``steps`` from the step called ``name`` on."""
    first = find_step(name)
    chosen = tuple(steps)
    if first not in chosen:
        raise UserError(f"{name}: not part of this build")
    return chosen[chosen.index(first) :]


def run_step(con: duckdb.DuckDBPyConnection, step: Step, context: BuildContext) -> float:
    """Run one step; seconds taken."""
    started = time.perf_counter()
    for schema in {output.partition(".")[0] for output in step.outputs} - {"main"}:
        con.execute(f"create schema if not exists {schema}")
    if step.run is not None:
        step.run(con, context)
    elif step.bucketed:
        db.run_content_model(
            con, step.model, str(step.params["ident_table"]), str(step.params["ident_versions"])
        )
    else:
        con.execute(render(step.model, **step.params))
    return time.perf_counter() - started


def run_plan(
    con: duckdb.DuckDBPyConnection, steps: Iterable[Step], context: BuildContext
) -> dict[str, float]:
    """Run ``steps`` in order on ``con``; seconds taken by step name."""
    return {step.name: run_step(con, step, context) for step in steps}


def describe_plan(steps: Iterable[Step] = PLAN) -> str:
    """The plan as a table: step, layer, what runs it, outputs and their grain."""
    lines = [f"{'step':<34} {'layer':<8} {'runs':<36} outputs (grain)"]
    for step in steps:
        outputs = "; ".join(
            f"{name} ({', '.join(grain) if grain else 'no key'})" for name, grain in step.outputs.items()
        )
        lines.append(f"{step.name:<34} {step.layer:<8} {step.kind:<36} {outputs or '(macros)'}")
    return "\n".join(lines)


def build_database(
    db_path: Path,
    lake: Path,
    curated: bool = True,
    signals: bool = True,
    snapshot: bool = True,
    from_step: str | None = None,
) -> Path:
    """Build the database from the lake with the plan and swap it in atomically (:func:`pv.db.replacing`).

    ``curated=False`` stops after staging, ``signals=False`` after the curated layer. ``from_step`` re-runs
    the plan from that step on a copy of the existing database (what it recorded of the lake stays, unless
    the raw layer is re-run). ``snapshot=False`` (raw tables as live views over the lake) is for benchmarks
    only: such a database follows the lake.
    """
    last = "signals" if curated and signals else "curated" if curated else "staging"
    steps = steps_through(last)
    if from_step is not None:
        steps = steps_from(from_step, steps)
    with db.replacing(db_path, lake, copy_existing=from_step is not None) as con:
        if steps[0] == PLAN[0]:
            db.write_meta(con, lake, curated, signals)
        else:
            con.execute("update meta.build set curated = ?, signals = ?", [curated, curated and signals])
        run_plan(con, steps, BuildContext(lake, snapshot))
    return db_path
