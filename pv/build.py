"""The build plan: every step of the database build in order, what it writes and the grain of each output.

One ordered tuple of same-shaped steps run by one loop (as sqlglot runs its optimizer rules): a step is a SQL
model (``pv/sql/<layer>/<name>.sql``, run as rendered) or a named Python step, and declares its layer, its
schema-qualified outputs and the grain (key columns) of each. This is the only place that knows the build
order; ``pv build --list`` prints it, ``pv build --from STEP`` re-runs it from a step on a copy of the
database, and :class:`StagedBuild` runs it layer by layer into a half-built copy that a failed build
resumes (``pv build``, ``pv ingest`` and the flow's layer tasks all build through it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import duckdb

import pv
from pv import db
from pv.cases import store_headline_onset
from pv.counts import PAIR_VARIANT_KEYS, store_event_maskers, store_stratified_counts
from pv.dedup import flag_cross_case_duplicates, flag_duplicates_by_quarter
from pv.errors import UserError
from pv.increment import (
    PREVIOUS,
    Increment,
    IncrementNotApplicable,
    append_raw_quarters,
    first_changed_quarter,
    plan_increment,
    remapped_rows,
    remapped_versions,
    replace_rows,
    transaction,
    update_content,
    write_build_inputs,
)
from pv.lake import lake_id, lake_state
from pv.locks import owned_id
from pv.normalize import build_drug_map, build_term_maps
from pv.normalize.drugs import diana_path
from pv.normalize.meddra import load_meddra, meddra_dir
from pv.signals import (
    BRESLOW_DAY_EVENT_LEVELS,
    BRESLOW_DAY_MIN_REPORTS,
    CALIBRATION_RULES,
    check_and_store,
    fit_and_store_prior,
    score_history,
    score_today,
)
from pv.sqlfiles import literal, render, render_text

# In build order; a build without the curated layer stops after staging, one without signals after curated.
# history (the GPS prior and every pair's statistics by quarter) precedes signals: today's rows carry the
# quarter each rule first flagged the pair, read from the history.
LAYERS: tuple[str, ...] = ("raw", "staging", "curated", "counts", "history", "signals")


@dataclass(frozen=True)
class BuildContext:
    """What Python steps need beyond the connection: the lake, and whether raw is copied or viewed."""

    lake: Path
    snapshot: bool = True
    increment: Increment | None = None  # an incremental build: the quarters added to the published database


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
    # In an incremental build: brings the outputs forward from the published database (pv.increment) instead
    # of recomputing them; steps without it run in full there too.
    update: Callable[[duckdb.DuckDBPyConnection, BuildContext], object] | None = None
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


def _append_raw(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
    assert context.increment is not None
    append_raw_quarters(con, context.lake, context.increment)


_DRUG_LEARNING_SUPPORT = "curated.drug_learning_support"


def _drug_maps(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
    """The drug maps over every DRUG row; in an incremental build learned from the support counted before
    plus the new quarters' rows, over the names mapped before plus the new quarters' (raw rows are never
    removed: a re-published quarter makes a full build)."""
    names = "select drugname, prod_ai, nda_num from staging.stg_drug"
    learn = "select quarter, caseid, drugname, prod_ai from staging.stg_drug"
    if context.increment is not None:
        since = f" where quarter >= {literal(context.increment.quarters[0])}"
        names = f"select drugname, prod_ai, nda_num from curated.drug_name_map union all {names}{since}"
        learn += since
    with transaction(con) if context.increment is not None else nullcontext():
        build_drug_map(
            con,
            names,
            learn_sql=learn,
            diana=diana_path(),
            sources_table="curated.drug_map_sources",
            support_table=_DRUG_LEARNING_SUPPORT,
            append=context.increment is not None,
        )


# How often each raw term occurs, kept so that an incremental build counts only the new quarters' rows.
_TERM_COUNTS = ("curated.event_term_counts", "curated.indication_term_counts")


def _term_maps(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
    """The term maps over every REAC and INDI row; in an incremental build over the occurrences counted
    before plus the new quarters' rows (raw rows are never removed: a re-published quarter makes a full
    build)."""
    folder = meddra_dir()
    since = "" if context.increment is None else f" where quarter >= {literal(context.increment.quarters[0])}"
    with transaction(con) if context.increment is not None else nullcontext():
        build_term_maps(
            con,
            f"select pt as term from staging.stg_reac{since}",
            f"select indi_pt as term from staging.stg_indi{since}",
            meddra=load_meddra(folder) if folder else None,
            counts_tables=_TERM_COUNTS,
            append=context.increment is not None,
        )


# Grains shared by several outputs.
_VERSION = ("quarter", "primaryid")
_PAIR_VARIANT = PAIR_VARIANT_KEYS
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


# Each kind of case version content lives in two tables: today's retained versions' and past versions'.
# Together they hold every version some quarter analysed; an incremental build keeps the rows of versions
# rendered before, wherever they were (a version followed up in the new quarter moves from one to the other).
# Each kind is rendered through one name map: a version whose names it now maps differently is rendered again.
_CONTENT_TABLES = {
    "drugs": ("curated.case_drugs", "marts.history_version_drugs"),
    "events": ("curated.case_events", "marts.history_version_events"),
    "indications": ("curated.case_indications", "marts.history_version_indications"),
    "exposures": ("marts.case_exposures", "marts.history_version_exposures"),
    "outcomes": ("marts.case_outcomes", "marts.history_version_outcomes"),
}
_CONTENT_MAPS = {
    "drugs": "curated.drug_name_map",
    "events": "curated.event_term_map",
    "indications": "curated.indication_term_map",
    "exposures": "curated.drug_name_map",
    "outcomes": "curated.event_term_map",
}
_TODAY_VERSIONS = "curated.retained_versions"
_PAST_VERSIONS = "marts.history_versions"


def _content_kind(table: str) -> tuple[str, ...]:
    return next(tables for tables in _CONTENT_TABLES.values() if table in tables)


def _content_map(table: str) -> str:
    return next(_CONTENT_MAPS[kind] for kind, tables in _CONTENT_TABLES.items() if table in tables)


def _content_versions(table: str) -> str:
    return _TODAY_VERSIONS if _content_kind(table)[0] == table else _PAST_VERSIONS


def _content(model: str, layer: str, table: str, versions: str, grain: tuple[str, ...] | None) -> Step:
    """A case content model over a list of versions (today's retained ones, or past ones), run in buckets
    of caseids when the list is long (:func:`pv.db.run_content_model`: list aggregates cannot spill)."""

    def update(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
        update_content(
            con,
            table,
            versions,
            _content_kind(table),
            lambda: db.run_content_model(con, model, "main.increment_new", "increment_versions"),
            remapped_versions(_content_map(table)),
        )

    return Step(
        table,
        layer,
        {table: grain},
        model=model,
        params={"ident_table": table, "ident_versions": versions},
        bucketed=True,
        update=update,
    )


def _derived_content(model: str, table: str, grain: tuple[str, ...], source_param: str, source: str) -> Step:
    """A model over one content table (exposures from drugs, outcomes from events); in an incremental build
    rendered only over the versions not rendered before."""

    def new_rows() -> str:
        return render(model, ident_table="main.increment_new", **{source_param: "increment_source"})

    def update(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
        def render_new() -> None:
            con.execute(
                "create or replace temp view increment_source as "
                f"select * from {source} semi join increment_versions using (quarter, primaryid, caseid)"
            )
            try:
                con.execute(new_rows())
            finally:
                con.execute("drop view if exists increment_source")

        update_content(
            con,
            table,
            _content_versions(table),
            _content_kind(table),
            render_new,
            remapped_versions(_content_map(table)),
        )

    return Step(
        table,
        "counts",
        {table: grain},
        model=model,
        params={"ident_table": table, source_param: source},
        update=update,
    )


def _exposures(table: str, drugs: str) -> Step:
    return _derived_content("marts/case_exposures", table, _EXPOSURE, "ident_drugs", drugs)


def _outcomes(table: str, events: str) -> Step:
    return _derived_content("marts/case_outcomes", table, _OUTCOME, "ident_events", events)


def _case_versions() -> Step:
    """curated.case_versions; in an incremental build only the cases the new quarters touch are ranked again:
    those with a new DEMO record or newly on a deleted-case list, with every case that shares a legacy ISR
    with one of them (FDA's rank of an ISR filed under several caseids is decided among its records)."""
    model, table = "curated/case_versions", "curated.case_versions"

    def update(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
        assert context.increment is not None
        added = literal(context.increment.quarters[0])
        touched, records, demo = "increment_cases", "increment_records", "increment_demo"
        try:
            con.execute(
                f"create or replace temp table {records} as "
                f"select caseid, primaryid, layout from {table} where layout = 'laers' union all "
                f"select caseid, primaryid, layout from staging.stg_demo where quarter >= {added}"
            )
            con.execute(
                f"create or replace temp table {touched} as "
                f"select caseid from staging.stg_demo where quarter >= {added} and caseid is not null "
                f"union select caseid from staging.stg_deleted_cases where first_listed_quarter >= {added}"
            )
            while True:  # the cases sharing a legacy ISR with a touched one, until there are no more
                (grown,) = con.execute(
                    f"insert into {touched} "
                    f"select distinct sharing.caseid from {records} as sharing "
                    f"semi join (select primaryid from {records} semi join {touched} using (caseid) "
                    "where layout = 'laers') using (primaryid) "
                    f"anti join {touched} using (caseid) "
                    "where sharing.layout = 'laers' and sharing.caseid is not null"
                ).fetchall()[0]
                if not grown:
                    break
            # their DEMO records: those ranked before (with every column of staging.stg_demo), and the new
            con.execute(
                f"create or replace temp table {demo} as "
                f"select * exclude (is_deleted, version_rank, dedup_status) from {table} "
                f"semi join {touched} using (caseid) "
                f"union all by name select * from staging.stg_demo where quarter >= {added}"
            )
            ranked = render(model, ident_table="main.increment_new", ident_demo=demo)
            replace_rows(
                con, table, f"caseid in (select caseid from {touched})", [("main.increment_new", ranked)]
            )
        finally:
            for scratch in (touched, records, demo):
                con.execute(f"drop table if exists {scratch}")

    return Step(
        table,
        "curated",
        {table: _VERSION},
        model=model,
        params={"ident_table": table, "ident_demo": "staging.stg_demo"},
        update=update,
    )


def _duplicate_flags_by_quarter() -> Step:
    """marts.duplicate_flags_by_quarter; in an incremental build the quarters from the first one whose live
    versions (marts.version_lifetimes) or their link-key content (ingredients, terms) changed are flagged
    again, normally the new one alone (today's flags, curated.duplicate_flags)."""
    table = "marts.duplicate_flags_by_quarter"

    def update(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
        assert context.increment is not None
        added, latest = context.increment.quarters[0], context.increment.quarters[-1]
        # today's status of a version (retained, superseded) is not what a past run saw
        first = first_changed_quarter(con, "marts.version_lifetimes", added, ignore=("dedup_status",))
        drugs, events = "increment_drugs", "increment_events"
        try:
            key = "quarter, primaryid"
            remapped_rows(
                con, "marts.version_drugs", _CONTENT_MAPS["drugs"], added, drugs, f"{key}, ingredient"
            )
            remapped_rows(con, "marts.version_events", _CONTENT_MAPS["events"], added, events, f"{key}, pt")
            (rekeyed_from,) = con.sql(
                f"select min(live_from) from marts.version_lifetimes semi join "
                f"(select {key} from {drugs} union select {key} from {events}) using ({key})"
            ).fetchall()[0]
            first = min(first, rekeyed_from or first)
            new = "main.increment_new"
            if first == latest:
                # A run at the latest quarter is today's run; marts.signal_checks verifies its flags are the
                # same ("duplicate flags: latest quarter = today's").
                flags: str | Callable[[], object] = (
                    f"create table {new} as select {literal(latest)} as as_of, * from curated.duplicate_flags"
                )
            else:
                flags = functools.partial(flag_duplicates_by_quarter, con, first, new)
            replace_rows(con, table, f"as_of >= {literal(first)}", [(new, flags)])
        finally:
            con.execute(f"drop table if exists {drugs}")
            con.execute(f"drop table if exists {events}")

    return Step(
        table,
        "counts",
        {table: ("as_of", "caseid")},
        run=lambda con, context: flag_duplicates_by_quarter(con),
        update=update,
    )


def _history_counts() -> Step:
    """marts.history_counts; in an incremental build only the rows that can have changed are rewritten: the
    quarters from the first one whose contributions (marts.analysis_cases) changed, normally the new one
    alone (today's counts), and every quarter of a drug some past version now has or lost as an exposure (a
    brand name learned)."""
    model, table = "marts/history_counts", "marts.history_counts"

    def update(con: duckdb.DuckDBPyConnection, context: BuildContext) -> None:
        assert context.increment is not None
        added = context.increment.quarters[0]
        first = first_changed_quarter(con, "marts.analysis_cases", added)
        outcomes, exposures = "increment_outcomes", "increment_exposures"
        try:
            if remapped_rows(con, "marts.version_outcomes", _CONTENT_MAPS["outcomes"], added, outcomes):
                (remapped_from,) = con.sql(
                    f"select min(live_from) from marts.analysis_cases semi join {outcomes} "
                    "using (quarter, primaryid)"
                ).fetchall()[0]
                first = min(first, remapped_from or first)
            since = literal(first)
            if first == context.increment.quarters[-1]:
                # A run at the latest quarter is today's run: its rows are today's event-group counts, which
                # marts.signal_checks verifies ("signal_history: latest quarter = signals").
                from_first = (
                    f"create table main.increment_new as select *, {since} as quarter "
                    "from marts.drug_event_counts where event_level = 'group'"
                )
            else:
                from_first = render(
                    model, ident_table="main.increment_new", from_quarter=first, ident_drug_scope="true"
                )
            fresh = [("main.increment_new", from_first)]
            drugs = f"(drug_level, drug) in (select drug_level, drug from {exposures})"
            if remapped_rows(con, "marts.version_exposures", _CONTENT_MAPS["exposures"], added, exposures):
                every_quarter = render(
                    model, ident_table="main.increment_drugs", from_quarter="", ident_drug_scope=drugs
                )
                before = f"delete from main.increment_drugs where quarter >= {since}"
                fresh.append(("main.increment_drugs", f"{every_quarter}; {before}"))
            replace_rows(con, table, f"quarter >= {since} or {drugs}", fresh)
        finally:
            con.execute(f"drop table if exists {outcomes}")
            con.execute(f"drop table if exists {exposures}")

    return Step(
        table,
        "counts",
        {table: ("quarter", *_PAIR_VARIANT)},
        model=model,
        params={"ident_table": table, "from_quarter": "", "ident_drug_scope": "true"},
        update=update,
    )


PLAN: tuple[Step, ...] = (
    # raw: the lake's tables as published, and how they add up against FDA's totals
    Step("raw.tables", "raw", _RAW_TABLES, run=_raw_tables, update=_append_raw),
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
    Step(
        "curated.drug_maps",
        "curated",
        {
            "curated.drug_name_map": None,
            "curated.drug_fuzzy_audit": None,
            "curated.drug_learned_names": ("name_key", "ingredients"),
            "curated.drug_map_sources": ("source",),
            # DRUG rows counted per name key, ingredient list, prod_ai and caseid (NULL: no DEMO record)
            _DRUG_LEARNING_SUPPORT: None,
        },
        run=_drug_maps,
        update=_drug_maps,
    ),
    Step(
        "curated.term_maps",
        "curated",
        {
            "curated.event_term_map": ("raw",),
            "curated.indication_term_map": ("raw",),
            _TERM_COUNTS[0]: ("term",),
            _TERM_COUNTS[1]: ("term",),
        },
        run=_term_maps,
        update=_term_maps,
    ),
    _case_versions(),
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
    _duplicate_flags_by_quarter(),
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
    _sql("marts/stratified_cases", "counts", {"marts.stratified_cases": ("caseid",)}),
    # the target-specific variants (active comparator, masked): their populations and 2x2 tables
    _sql(
        "marts/active_comparators",
        "counts",
        {"marts.active_comparators": ("drug_level", "drug", "comparator_drug_level", "comparator_drug")},
    ),
    _python(
        "marts.event_maskers",
        "counts",
        {"marts.event_maskers": ("event_level", "event", "role", "duplicates", "drug")},
        lambda con, context: store_event_maskers(con),
    ),
    _sql(
        "marts/target_variant_counts",
        "counts",
        {
            "marts.masked_cases": ("event_level", "event", "role", "duplicates", "caseid", "masker"),
            "marts.target_variant_cells": (*_PAIR_VARIANT, "stratum"),
            "marts.target_variant_counts": _PAIR_VARIANT,
        },
        name="marts.target_variant_counts",
    ),
    _python(
        "marts.stratified_counts",
        "counts",
        {
            "marts.stratified_counts": _PAIR_VARIANT,
            "marts.stratum_cells": (*_PAIR_VARIANT, "stratum"),
        },
        lambda con, context: store_stratified_counts(con, BRESLOW_DAY_MIN_REPORTS, BRESLOW_DAY_EVENT_LEVELS),
    ),
    _history_counts(),
    # history: the GPS prior, every pair's statistics by quarter and the first quarter each rule flagged it
    _python(
        "marts.gps_priors",
        "history",
        {"marts.gps_priors": ("drug_level", "event_level")},
        lambda con, context: fit_and_store_prior(con),
    ),
    _python(
        "marts.signal_history",
        "history",
        {"marts.signal_history": ("quarter", *_PAIR_VARIANT)},
        lambda con, context: score_history(con),
    ),
    _sql("marts/first_flags", "history", {"marts.first_flags": _PAIR_VARIANT}),
    _sql("marts/headline_history", "history", {"marts.headline_history": ("quarter", *_PAIR_VARIANT)}),
    # signals: every pair's statistics today, their checks, the headline
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
        "marts/calibration",
        "signals",
        {"marts.calibration": ("rule", "event", "role", "comparator", "duplicates")},
        rules=CALIBRATION_RULES,
        ident_rules=", ".join(CALIBRATION_RULES),
    ),
    _python(
        "marts.headline_onset",
        "signals",
        {"marts.headline_onset": _PAIR_VARIANT},
        lambda con, context: store_headline_onset(con),
    ),
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
    """``steps`` from the step called ``name`` on, after the macro steps before it: a database built by an
    earlier version has that version's macros, and the steps re-run need this version's."""
    first = find_step(name)
    chosen = tuple(steps)
    if first not in chosen:
        raise UserError(f"{name}: not part of this build")
    start = chosen.index(first)
    return tuple(step for step in chosen[:start] if not step.outputs) + chosen[start:]


def run_step(con: duckdb.DuckDBPyConnection, step: Step, context: BuildContext) -> float:
    """Run one step; seconds taken."""
    started = time.perf_counter()
    for schema in {output.partition(".")[0] for output in step.outputs} - {"main"}:
        con.execute(f"create schema if not exists {schema}")
    if context.increment is not None and step.update is not None:
        step.update(con, context)
    elif step.run is not None:
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
    """The plan as a table: step, layer and what runs it, then each output and its grain indented below
    (one per line, so that a terminal of 120 columns shows it unwrapped)."""
    lines = [f"{'step':<34} {'layer':<8} runs", "    output (grain)"]
    for step in steps:
        lines.append(f"{step.name:<34} {step.layer:<8} {step.kind}")
        lines += [
            f"    {name} ({', '.join(grain) if grain else 'no key'})" for name, grain in step.outputs.items()
        ] or ["    (macros)"]
    return "\n".join(lines)


@dataclass(frozen=True)
class StepRecord:
    """One step of a build as run: rows of each output (None for a view: counted when read), seconds, and
    whether an earlier, failed run of the same build did it (``resumed``)."""

    step: str
    layer: str
    rows: Mapping[str, int | None]
    seconds: float
    resumed: bool = False

    def rows_text(self) -> str:
        """``schema.table 1,234; schema.view (view)``, or ``macros`` for a step that writes no relation."""
        parts = [
            f"{name} {count:,}" if count is not None else f"{name} (view)"
            for name, count in self.rows.items()
        ]
        return "; ".join(parts) or "macros"


_PROGRESS = "meta.build_progress"


def _build_key(
    db_path: Path,
    lake: Path,
    steps: tuple[Step, ...],
    snapshot: bool,
    copy_existing: bool,
    increment: Increment | None = None,
) -> str:
    """What a build is built from: the lake (identity and each quarter's ingest), the steps and their SQL,
    the pipeline version, and for a re-run from a step the database it copies. A half-built copy is resumed
    only under the same key."""
    source = None
    if copy_existing and db_path.exists():
        stat = db_path.stat()
        source = [stat.st_size, stat.st_mtime_ns]
    payload = {
        "lake_id": lake_id(lake),
        "lake_state": sorted((quarter, state.ingest_id) for quarter, state in lake_state(lake).items()),
        "steps": [step.name for step in steps],
        "sql": [render_text(step.model) for step in steps if step.model],
        "snapshot": snapshot,
        "database": source,
        "pipeline_version": pv.__version__,
        "increment": list(increment.quarters) if increment else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class StagedBuild:
    """A resumable build of ``db_path``: the plan's steps run layer by layer into a half-built copy beside
    it (:func:`pv.db.pending_build_path`), which :meth:`finish` swaps in with one atomic rename.

    The copy records every planned step in ``meta.build_progress`` (rows, seconds, when it finished), so a
    build that failed or was killed resumes at the failed step when run again, provided the lake, the plan
    and (for a re-run from a step) the database are unchanged; otherwise the copy is discarded and a fresh
    build starts (:attr:`note` says which, when there was a copy). The table stays in the published
    database as its build log.

    The caller holds the lake's writer lock and the database's (:func:`pv.db.database_lock`); nothing here
    takes a lock, so that one holder (the flow) can run the layers in several tasks.
    """

    def __init__(
        self,
        db_path: Path,
        lake: Path,
        steps: tuple[Step, ...],
        key: str,
        snapshot: bool,
        note: str | None,
        increment: Increment | None = None,
    ):
        self.db_path = db_path
        self.lake = lake
        self.steps = steps
        self.key = key
        self.snapshot = snapshot
        self.pending = db.pending_build_path(db_path)
        # What opening did: an incremental build or why a full one, and, when there was a half-built copy,
        # whether it was resumed or discarded.
        self.note = note
        self.increment = increment

    @classmethod
    def open(
        cls,
        db_path: Path,
        lake: Path,
        curated: bool = True,
        signals: bool = True,
        snapshot: bool = True,
        from_step: str | None = None,
        incremental: bool = False,
    ) -> StagedBuild:
        """The build of ``db_path`` from ``lake`` (arguments as :func:`build_database`): the half-built copy
        a failed run of this same build left, or a new one (an empty database, or a copy of the current one
        for ``from_step`` or an incremental build)."""
        last = "signals" if curated and signals else "curated" if curated else "staging"
        steps = steps_through(last)
        if from_step is not None:
            steps = steps_from(from_step, steps)
            if not db_path.exists():
                raise UserError(f"{db_path}: no database to re-run steps on; run `pv build` first")
        increment, mode = None, None
        # only a whole build with a snapshot of the lake can be incremental (other builds are asked for)
        if incremental and curated and signals and snapshot and from_step is None:
            try:
                increment = plan_increment(db_path, lake_state(lake))
                mode = increment.describe()
            except IncrementNotApplicable as reason:
                mode = f"full build: {reason}" if db_path.exists() else None
        copy_existing = from_step is not None or increment is not None
        key = _build_key(db_path, lake, steps, snapshot, copy_existing, increment)
        pending = db.pending_build_path(db_path)
        stale = _pending_key(pending) if pending.exists() else None
        if stale == key:
            with duckdb.connect(str(pending), read_only=True) as con:
                done = con.sql(f"select count(*) from {_PROGRESS} where finished_at is not null").fetchall()
            count = done[0][0]
            after = f"after {steps[count - 1].name}" if count else "at the start"
            note = (
                f"resuming the half-built {pending.name}: {count} of {len(steps)} steps done, "
                f"going on {after}"
            )
            return cls(db_path, lake, steps, key, snapshot, _notes(mode, note), increment)
        note = None
        if pending.exists():
            reason = "unreadable" if stale is None else "built from another lake state, plan or database"
            note = f"discarded the half-built {pending.name} ({reason}); building afresh"
        _start(pending, db_path, lake, steps, key, curated, signals, copy_existing, from_step is None)
        return cls(db_path, lake, steps, key, snapshot, _notes(mode, note), increment)

    def discard(self) -> None:
        """Remove the half-built copy (an incremental build that could not apply)."""
        for leftover in (self.pending, self.pending.with_name(self.pending.name + ".wal")):
            leftover.unlink(missing_ok=True)

    def records(self) -> list[StepRecord]:
        """Every finished step of the build, in order."""
        with duckdb.connect(str(self.pending), read_only=True) as con:
            rows = con.sql(
                f"select step, layer, outputs, rows, seconds from {_PROGRESS} "
                "where finished_at is not null order by position"
            ).fetchall()
        return [
            StepRecord(step, layer, dict(zip(outputs, counts, strict=True)), seconds, resumed=True)
            for step, layer, outputs, counts, seconds in rows
        ]

    def layers_done(self) -> list[str]:
        """The layers all of whose steps have run."""
        finished = {record.step for record in self.records()}
        layers = dict.fromkeys(step.layer for step in self.steps)
        return [layer for layer in layers if all(s.name in finished for s in self.steps if s.layer == layer)]

    def run_layer(self, layer: str) -> list[StepRecord]:
        """Run the steps of ``layer`` this build has not run yet, in order, recording each as it ends;
        the records of all its steps (those done by an earlier run marked ``resumed``). A failure leaves the
        copy at the last finished step."""
        mine = [step for step in steps_for_layer(layer) if step in self.steps]
        if not mine:
            return []
        done = {record.step: record for record in self.records()}
        first = self.steps.index(mine[0])
        missing = [step.name for step in self.steps[:first] if step.name not in done]
        if missing:
            raise UserError(f"{self.db_path}: the {layer} layer needs {missing[0]} (an earlier layer) first")
        records = []
        context = BuildContext(self.lake, self.snapshot, self.increment)
        with db.build_connection(self.pending, self.db_path, self.lake) as con, self._previous(con):
            for step in mine:
                if step.name in done:
                    records.append(done[step.name])
                    continue
                seconds = run_step(con, step, context)
                rows = _output_rows(con, step)
                con.execute(
                    f"update {_PROGRESS} set rows = ?, seconds = ?, finished_at = ? where step = ?",
                    [[rows[output] for output in step.outputs], seconds, datetime.now(UTC), step.name],
                )
                records.append(StepRecord(step.name, step.layer, rows, seconds))
        return records

    @contextmanager
    def _previous(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """In an incremental build, the published database attached read-only as ``previous`` (readers of
        it are not blocked; it is replaced only by :meth:`finish`)."""
        if self.increment is None:
            yield
            return
        con.execute(f"attach {literal(str(self.db_path))} as {PREVIOUS} (read_only)")
        try:
            yield
        finally:
            con.execute(f"detach {PREVIOUS}")

    def finish(self) -> Path:
        """Swap the complete build in for ``db_path`` with one atomic rename; a build with steps left is
        refused (run their layers first)."""
        finished = {record.step for record in self.records()}
        left = [step.name for step in self.steps if step.name not in finished]
        if left:
            raise UserError(
                f"{self.db_path}: the build is not complete ({len(left)} steps left, from {left[0]})"
            )
        with duckdb.connect(str(self.pending)) as con:
            con.execute("checkpoint")  # everything in the file itself: its WAL would not follow the rename
        os.replace(self.pending, self.db_path)
        self.pending.with_name(self.pending.name + ".wal").unlink(missing_ok=True)
        return self.db_path


def _pending_key(pending: Path) -> str | None:
    """The key a half-built copy was started under; None if it cannot be read (killed while being made)."""
    try:
        with duckdb.connect(str(pending), read_only=True) as con:
            keys = con.sql(f"select distinct build_key from {_PROGRESS}").fetchall()
    except duckdb.Error:
        return None
    return keys[0][0] if len(keys) == 1 else None


def _notes(*notes: str | None) -> str | None:
    return "; ".join(note for note in notes if note) or None


def _start(
    pending: Path,
    db_path: Path,
    lake: Path,
    steps: tuple[Step, ...],
    key: str,
    curated: bool,
    signals: bool,
    copy_existing: bool,
    whole_plan: bool,
) -> None:
    """A new half-built copy: made under a temporary name (a killed start leaves only a dead PID's file),
    then renamed into place with its plan recorded. A build of the whole plan records its inputs (what an
    incremental build checks); a re-run from a step removes them, so that the next build is a full one."""
    for leftover in (pending, pending.with_name(pending.name + ".wal")):
        leftover.unlink(missing_ok=True)
    starting = pending.with_name(f"{pending.name}.{owned_id()}.tmp")
    try:
        if copy_existing:
            try:
                shutil.copyfile(db_path, starting)
            except OSError as error:
                if db.is_disk_full(error):
                    raise db.build_failure(db_path, lake, OSError(error.errno, error.strerror)) from None
                raise
        with db.build_connection(starting, db_path, lake) as con:
            if steps[0] == PLAN[0]:
                db.write_meta(con, lake, curated, signals)
            else:
                con.execute("update meta.build set curated = ?, signals = ?", [curated, curated and signals])
            con.execute("create schema if not exists meta")
            if whole_plan:
                write_build_inputs(con)
            else:
                con.execute("drop table if exists meta.build_inputs")
            con.execute(
                f"create or replace table {_PROGRESS} (build_key varchar, position integer, step varchar, "
                "layer varchar, outputs varchar[], rows bigint[], seconds double, "
                "finished_at timestamp with time zone)"
            )
            con.executemany(
                f"insert into {_PROGRESS} (build_key, position, step, layer, outputs) values (?, ?, ?, ?, ?)",
                [[key, position, s.name, s.layer, list(s.outputs)] for position, s in enumerate(steps, 1)],
            )
        os.replace(starting, pending)
    finally:
        for leftover in (starting, starting.with_name(starting.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _output_rows(con: duckdb.DuckDBPyConnection, step: Step) -> dict[str, int | None]:
    """Rows of each table ``step`` wrote; None for a view (counting it would run it)."""
    tables = {
        f"{schema}.{name}"
        for schema, name in con.sql("select schema_name, table_name from duckdb_tables()").fetchall()
    }
    return {
        output: con.sql(f"select count(*) from {output}").fetchall()[0][0] if output in tables else None
        for output in step.outputs
    }


def build_database(
    db_path: Path,
    lake: Path,
    curated: bool = True,
    signals: bool = True,
    snapshot: bool = True,
    from_step: str | None = None,
    say: Callable[[str], None] | None = None,
    incremental: bool = False,
) -> Path:
    """Build the database from the lake with the plan and swap it in atomically (:class:`StagedBuild`).

    ``curated=False`` stops after staging, ``signals=False`` after the curated layer. ``from_step`` re-runs
    the plan from that step on a copy of the existing database (what it recorded of the lake stays, unless
    the raw layer is re-run). ``snapshot=False`` (raw tables as live views over the lake) is for benchmarks
    only: such a database follows the lake. ``incremental`` adds the quarters new since the published
    database was built to a copy of it (:mod:`pv.increment`), or builds in full when that cannot apply
    (``say`` is told which, and why). A build that failed resumes at the failed step (``say`` is told
    whether it resumed). The caller holds the lake's writer lock; this takes the database's, clears what
    dead builds left beside it and refuses a database built from another lake.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with db.database_lock(db_path):
        db.clear_dead_builds(db_path)
        db.refuse_another_lake(db_path, lake)
        build = StagedBuild.open(db_path, lake, curated, signals, snapshot, from_step, incremental)
        if say is not None and build.note:
            say(build.note)
        try:
            for layer in dict.fromkeys(step.layer for step in build.steps):
                build.run_layer(layer)
        except IncrementNotApplicable as reason:
            build.discard()
            build = StagedBuild.open(db_path, lake, curated, signals, snapshot)
            if say is not None:
                say(f"full build: {reason}")
            for layer in dict.fromkeys(step.layer for step in build.steps):
                build.run_layer(layer)
        return build.finish()
