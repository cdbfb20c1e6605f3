"""Incremental builds: a quarterly run adds the new quarters to the published database instead of rebuilding.

The published database is copied beside itself (a checkpointed DuckDB file is self-contained) and attached
read-only as ``previous``; the plan then runs on the copy, and a step with an ``update`` form brings its
outputs forward from ``previous`` instead of recomputing them (:mod:`pv.build`). What can be carried forward
is what a new quarter cannot change:

* the raw snapshot: the new quarters' rows are appended (``raw.*`` are unions of per-quarter partitions);
* what the name maps count (the learned names' support, the terms' occurrences): sums over raw rows, to which
  the new rows add; the maps themselves are recomputed (what a name is learned to mean can change);
* a case version's content (its drugs, events, indications, exposures and outcomes): a pure function of the
  version's own rows and of the maps, so only versions not seen before are rendered, and a version with a
  name now mapped differently is rendered again;
* FDA's de-duplication of the cases the new quarters do not touch;
* what a run at a past quarter saw (its duplicate flags, its 2x2 tables): only the quarters from the first
  one whose versions changed (:func:`first_changed_quarter`), normally the new one alone, are redone.

Every other step (lifetimes, today's flags and counts, the stratified sums, statistics, checks) is re-run in
full over the updated inputs, with the same SQL as a full build, so the two databases are identical (the
identity test in ``tests/test_increment.py`` builds both). When the increment cannot apply (no database yet,
another pipeline, changed code or vocabularies, a quarter re-published or removed, a quarter older than the
latest one built, a new quarter with another layout) the run falls back to a full build and says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pv import resources
from pv.lake import LAKE_TABLES, QuarterState
from pv.normalize.drugs import diana_path
from pv.normalize.meddra import meddra_dir
from pv.sqlfiles import literal

PREVIOUS = "previous"  # the published database, attached read-only to the build's copy
_INPUTS = "meta.build_inputs"


class IncrementNotApplicable(Exception):
    """The new quarters cannot be added to the published database; the message says why (a full build
    follows)."""


@dataclass(frozen=True)
class Increment:
    """The quarters an incremental build adds after the latest quarter of the published database."""

    quarters: tuple[str, ...]
    built: tuple[str, ...]  # the quarters the published database holds

    def describe(self) -> str:
        added, built = ", ".join(self.quarters), len(self.built)
        quarters = "quarter" if built == 1 else "quarters"
        return f"incremental build: adding {added} to the {built} {quarters} built (to {self.built[-1]})"


def _digest_files(root: Path, paths: Iterable[Path], content: bool = True) -> str:
    """One digest of the files' names under ``root`` (so that a moved checkout keeps its digest) and their
    bytes, or with ``content`` false their size and modification time (a user's large dictionary)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode())
        if content:
            digest.update(path.read_bytes())
        else:
            stat = path.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def build_inputs() -> dict[str, str]:
    """What a build is made with besides the lake, one digest per part: the pipeline's code and SQL, the
    reviewed data (vocabularies, rules, FDA's totals), and the user's MedDRA release and DiAna dictionary.
    An incremental build needs every part unchanged."""
    package, data = resources.PACKAGE, resources.data_dir()
    meddra = meddra_dir()
    diana = diana_path()
    return {
        "code": _digest_files(package, (p for p in package.rglob("*") if p.suffix in {".py", ".sql"})),
        "reviewed data": _digest_files(data, (p for p in data.rglob("*") if p.is_file())),
        "MedDRA release": _digest_files(meddra, meddra.rglob("*"), content=False) if meddra else "none",
        "DiAna dictionary": _digest_files(diana.parent, [diana], content=False) if diana else "none",
    }


def write_build_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """``meta.build_inputs``: the digests of :func:`build_inputs` the database is built with."""
    con.execute("create schema if not exists meta")
    con.execute(f"create or replace table {_INPUTS} (part varchar, digest varchar)")
    con.executemany(f"insert into {_INPUTS} values (?, ?)", list(build_inputs().items()))


def plan_increment(db_path: Path, lake_states: dict[str, QuarterState]) -> Increment:
    """The increment from the published ``db_path`` to the lake, or :class:`IncrementNotApplicable` saying
    why a full build is needed."""
    if not db_path.exists():
        raise IncrementNotApplicable("no database yet")
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            complete = con.sql("select curated and signals from meta.build").fetchall()
            built = dict(con.sql("select quarter, ingest_id from meta.lake_state").fetchall())
            recorded = dict(con.sql(f"select part, digest from {_INPUTS}").fetchall())
    except duckdb.Error:
        raise IncrementNotApplicable(
            f"{db_path.name} records no build inputs (built by an earlier version)"
        ) from None
    if not complete or not complete[0][0]:
        raise IncrementNotApplicable(f"{db_path.name} was built without the curated layer or the signals")
    changed = [part for part, digest in build_inputs().items() if recorded.get(part) != digest]
    if changed:
        raise IncrementNotApplicable(
            f"the {' and the '.join(changed)} changed since {db_path.name} was built"
        )
    for quarter, ingest_id in sorted(built.items()):
        state = lake_states.get(quarter)
        if state is None:
            raise IncrementNotApplicable(f"{quarter} is no longer in the lake")
        if state.ingest_id != ingest_id:
            raise IncrementNotApplicable(f"{quarter} was re-published since the last build")
    added = sorted(set(lake_states) - set(built))
    if not added:
        raise IncrementNotApplicable("no quarter was added since the last build")
    latest = max(built) if built else None
    if latest is None:
        raise IncrementNotApplicable(f"{db_path.name} holds no quarter")
    if added[0] <= latest:
        raise IncrementNotApplicable(f"{added[0]} comes before {latest}, the latest quarter built")
    return Increment(tuple(added), tuple(sorted(built)))


def append_raw_quarters(con: duckdb.DuckDBPyConnection, lake: Path, increment: Increment) -> None:
    """The raw snapshot tables gain the new quarters' rows (a table the previous build had no data for, or a
    quarter with a column the snapshot lacks, cannot be appended: the build falls back)."""
    tables = {
        name
        for (name,) in con.sql("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()
    }
    for table in LAKE_TABLES:
        files = [
            path
            for quarter in increment.quarters
            for path in sorted(lake.resolve().joinpath(f"quarter={quarter}", table).glob("*.parquet"))
        ]
        if not files:
            continue
        if table not in tables:
            raise IncrementNotApplicable(f"raw.{table} had no data before {increment.quarters[0]}")
        source = "[" + ", ".join(literal(str(path)) for path in files) + "]"
        try:
            con.execute(
                f"insert into raw.{table} by name "
                f"select * from read_parquet({source}, hive_partitioning = false, union_by_name = true)"
            )
        except duckdb.BinderException as error:
            raise IncrementNotApplicable(
                f"raw.{table} of {increment.quarters[0]} has another layout: {error}"
            ) from None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction around an incremental step: a step that fails leaves its tables as they were, so
    the resumed build runs it again from the same state (an appended count is never added twice)."""
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


# Where each name map is used: the staging view and column its raw names come from, and the map's columns that
# identify a name (the content models join on them with `is not distinct from`).
_MAP_USES = {
    "curated.drug_name_map": ("staging.stg_drug", ("drugname", "prod_ai", "nda_num")),
    "curated.event_term_map": ("staging.stg_reac", (("pt", "raw"),)),
    "curated.indication_term_map": ("staging.stg_indi", (("indi_pt", "raw"),)),
}


def remapped_versions(map_table: str) -> str:
    """The versions (quarter, primaryid) with a name that ``map_table`` (recomputed by this build) maps
    differently from the published database: a learned brand name, say. Their content is rendered again."""
    rows, keys = _MAP_USES[map_table]
    pairs = [key if isinstance(key, tuple) else (key, key) for key in keys]
    matches = " and ".join(f"used.{column} is not distinct from changed.{name}" for column, name in pairs)
    return (
        f"select distinct used.quarter, used.primaryid from {rows} as used "
        f"semi join (from {PREVIOUS}.{map_table} except from {map_table}) as changed on {matches}"
    )


def update_content(
    con: duckdb.DuckDBPyConnection,
    table: str,
    versions: str,
    kept_from: tuple[str, ...],
    render_new: Callable[[], None],
    remapped: str,
) -> None:
    """Bring ``table`` (the build's copy of the published one) to the versions in ``versions`` (quarter,
    primaryid, caseid) in place, so that the work is the new quarter's, not the history's.

    Rows of versions no longer listed, or listed by the query ``remapped`` (quarter, primaryid), are deleted.
    A version the table lacks takes its rows from the published database (any of ``kept_from``: a version
    followed up in the new quarter moves from today's table to the history's), or, never rendered there or
    remapped, from ``render_new`` (writing ``main.increment_new`` from the table ``increment_versions``).
    One transaction: a failed step leaves the table as it was, and the resumed build runs it again.
    """
    key = "quarter, primaryid, caseid"
    known = " union all ".join(f"select {key} from {PREVIOUS}.{source}" for source in kept_from)
    old_rows = " union all by name ".join(f"from {PREVIOUS}.{source}" for source in kept_from)
    try:
        with transaction(con):
            con.execute(f"create or replace temp table increment_remapped as {remapped}")
            con.execute(
                "create or replace temp table increment_keepable as "
                f"select distinct {key} from {versions} "
                "anti join increment_remapped using (quarter, primaryid)"
            )
            con.execute(f"create or replace temp table increment_held as select distinct {key} from {table}")
            con.execute(
                f"delete from {table} where rowid in (select rowid from {table} semi join "
                f"(from increment_held anti join increment_keepable using ({key})) using ({key}))"
            )
            con.execute(
                "create or replace temp table increment_missing as "
                f"select distinct {key} from {versions} "
                f"anti join (from increment_held semi join increment_keepable using ({key})) using ({key})"
            )
            con.execute(
                "create or replace temp table increment_versions as "
                f"from increment_missing anti join (({known}) semi join increment_keepable using ({key})) "
                f"using ({key})"
            )
            con.execute(
                f"insert into {table} by name select * from ({old_rows}) as old "
                f"semi join (from increment_missing anti join increment_versions using ({key})) using ({key})"
            )
            render_new()
            con.execute(f"insert into {table} by name from main.increment_new")
    finally:
        for scratch in (
            "increment_remapped",
            "increment_keepable",
            "increment_held",
            "increment_missing",
            "increment_versions",
        ):
            con.execute(f"drop table if exists {scratch}")
        con.execute("drop table if exists main.increment_new")


def first_changed_quarter(
    con: duckdb.DuckDBPyConnection, table: str, added: str, ignore: tuple[str, ...] = ()
) -> str:
    """The first quarter at which ``table`` (intervals [live_from, live_to) of quarters, one or more per case
    version) differs from the published database; ``added`` (the first quarter added) at the latest. A
    quarterly run's view of the quarters before it is the same in both databases, so what ``table``
    determines there can be kept.

    An interval only one database has makes a difference from its live_from; one whose end moved (its version
    followed up, or its case deleted, in the new quarter) from the earlier end. Columns in ``ignore`` (today's
    status of a version, say) are not compared.
    """
    columns = [name for (name,) in con.sql(f"select column_name from (describe {table})").fetchall()]
    if "live_from" not in columns or "live_to" not in columns:
        raise ValueError(f"{table} has no intervals of quarters (live_from, live_to)")
    compared = ", ".join(name for name in columns if name not in ignore)
    keys = ", ".join(name for name in columns if name != "live_to" and name not in ignore)
    # a key with one row on each side: the two differ only in live_to (null: still live)
    (first,) = con.sql(
        f"""
        with sides as (
            select *, 1 as side
            from (select {compared} from {table} except all select {compared} from {PREVIOUS}.{table})
            union all
            select *, -1 as side
            from (select {compared} from {PREVIOUS}.{table} except all select {compared} from {table})
        ),
        keyed as (
            select
                live_from,
                min(live_to) as earlier_end,
                count(*) filter (where side = 1) = 1 and count(*) filter (where side = -1) = 1 as moved
            from sides
            group by {keys}
        )
        select min(case when moved then earlier_end else live_from end) from keyed
        """
    ).fetchall()[0]
    return added if first is None else min(first, added)


def remapped_rows(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    map_table: str,
    added: str,
    into: str,
    columns: str = "*",
) -> int:
    """Temp table ``into``: the rows of version content ``relation`` (in either database; its ``columns``)
    that differ between the two, among the versions published before ``added`` with a name ``map_table`` now
    maps differently (:func:`remapped_versions`: a brand name learned from the new quarter, say). Returns
    their number."""
    con.execute(f"create or replace temp table {into} as select {columns} from {relation} limit 0")
    if not con.sql(f"select exists (from {PREVIOUS}.{map_table} except from {map_table})").fetchall()[0][0]:
        return 0  # names first seen in the new quarters only add rows to a map
    remapped = f"(select * from ({remapped_versions(map_table)}) where quarter < {literal(added)})"
    rows = f"(select {columns} from {{}} semi join {remapped} as remapped using (quarter, primaryid))"
    now, before = rows.format(relation), rows.format(f"{PREVIOUS}.{relation}")
    con.execute(f"insert into {into} ({now} except all {before}) union all ({before} except all {now})")
    return con.sql(f"select count(*) from {into}").fetchall()[0][0]


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    stale: str,
    fresh: Iterable[tuple[str, str | Callable[[], object]]],
) -> None:
    """In one transaction, the rows of ``table`` (the build's copy of the published one) where the condition
    ``stale`` holds are replaced by the rows of ``fresh``: pairs of a scratch table and the SQL (or the
    function) writing it, dropped afterwards. A failed step leaves the table as it was."""
    writers = list(fresh)
    try:
        with transaction(con):
            for _, write in writers:
                if isinstance(write, str):
                    con.execute(write)
                else:
                    write()
            con.execute(f"delete from {table} where {stale}")
            for name, _ in writers:
                con.execute(f"insert into {table} by name from {name}")
    finally:
        for name, _ in writers:
            con.execute(f"drop table if exists {name}")


# Relations that record the build itself (when it ran, how long each step took), not the data.
_BUILD_RECORDS = {"meta.build", "meta.build_progress"}


def _relations(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    rows = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() where database_name = ? union "
        "select schema_name || '.' || view_name from duckdb_views() where database_name = ? and not internal "
        "order by 1",
        [catalog, catalog],
    ).fetchall()
    return [name for (name,) in rows if name not in _BUILD_RECORDS]


def differences(first: Path, second: Path) -> dict[str, str]:
    """Every relation of two databases compared as row multisets in both directions (besides the build's own
    records); what differs, by relation (empty: the same data). How an incremental build is proven equal to
    a build from scratch."""
    found = {}
    with duckdb.connect() as con:
        con.execute(f"attach {literal(str(first))} as first_db (read_only)")
        con.execute(f"attach {literal(str(second))} as second_db (read_only)")
        names_a, names_b = _relations(con, "first_db"), _relations(con, "second_db")
        if names_a != names_b:
            found["relations"] = f"only in one: {sorted(set(names_a) ^ set(names_b))}"
        for name in sorted(set(names_a) & set(names_b)):
            one, two = f"first_db.{name}", f"second_db.{name}"
            if con.sql(f"describe {one}").fetchall() != con.sql(f"describe {two}").fetchall():
                found[name] = "columns differ"
                continue
            only_one = con.sql(f"select count(*) from (from {one} except all from {two})").fetchall()[0][0]
            only_two = con.sql(f"select count(*) from (from {two} except all from {one})").fetchall()[0][0]
            if only_one or only_two:
                found[name] = f"{only_one} rows only in {first.name}, {only_two} only in {second.name}"
    return found
