"""Incremental builds (pv.increment): a database built quarter by quarter equals one built from scratch."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import duckdb
import pytest
from crafted import CraftedQuarter

from pv.build import build_database
from pv.increment import (
    IncrementNotApplicable,
    _digest_files,
    differences,
    first_changed_quarter,
    plan_increment,
)
from pv.ingest import ingest
from pv.lake import lake_state
from pv.quarters import quarter_range
from pv.synth import generate


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four generated quarters: 2019Q1 on carry FDA's deleted-case lists, which remove cases first
    published in earlier quarters, and every quarter follows up cases of the ones before."""
    root = tmp_path_factory.mktemp("increment")
    generate(root / "zips", quarter_range("2018Q3..2019Q2"), scale=0.002, seed=13)
    return root


def _zip(history: Path, quarter: str) -> Path:
    return next((history / "zips").glob(f"faers_ascii_{quarter.lower()}.zip"))


@pytest.fixture(scope="module")
def first_quarter(history: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``pv ingest`` of 2018Q3 into an empty lake and database (built once per module; tests go on from a
    copy, :func:`_copy_of`), with what it said on stderr."""
    from pv.cli import main

    root = tmp_path_factory.mktemp("first-quarter")
    where = ["--db", str(root / "pv.duckdb"), "--lake", str(root / "lake"), "--quiet"]
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.setenv("PV_DATA_DIR", str(root / "data"))
        assert main(["ingest", str(_zip(history, "2018Q3")), *where]) == 0
    return {"root": root, "stderr": stderr.getvalue()}


def _copy_of(first_quarter: dict, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the lake and database holding 2018Q3 (the lake keeps its identity, so the database built
    from it accepts the copy); returns the copy's lake and database."""
    lake, db = tmp_path / "lake", tmp_path / "pv.duckdb"
    shutil.copytree(first_quarter["root"] / "lake", lake)
    shutil.copyfile(first_quarter["root"] / "pv.duckdb", db)
    return lake, db


def test_quarter_by_quarter_equals_from_scratch(history, first_quarter, tmp_path):
    assert "build" not in first_quarter["stderr"]  # 2018Q3 into an empty database: nothing to say
    lake, db = _copy_of(first_quarter, tmp_path)
    notes: list[str] = []
    for quarter in ["2018Q4", "2019Q1", "2019Q2"]:
        ingest(_zip(history, quarter), db_path=db, lake=lake, work_dir=tmp_path / "tmp", say=notes.append)
    assert notes == [
        "incremental build: adding 2018Q4 to the 1 quarter built (to 2018Q3)",
        "incremental build: adding 2019Q1 to the 2 quarters built (to 2018Q4)",
        "incremental build: adding 2019Q2 to the 3 quarters built (to 2019Q1)",
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        # the increments really had work to carry forward: cases followed up and cases deleted later
        deleted_earlier = con.sql(
            "select count(distinct caseid) from staging.stg_deleted_cases "
            "semi join curated.case_versions using (caseid)"
        ).fetchall()[0][0]
        superseded = con.sql("select count(*) from marts.history_versions").fetchall()[0][0]
    assert superseded > 0 and deleted_earlier > 0

    scratch = tmp_path / "scratch.duckdb"
    build_database(scratch, lake)
    assert differences(db, scratch) == {}


def test_republished_or_older_quarter_falls_back_to_a_full_build(history, tmp_path):
    lake, db = tmp_path / "lake", tmp_path / "pv.duckdb"
    ingest(  # 2018Q4 and 2019Q1 in one ingest: one build
        history / "zips",
        quarters=quarter_range("2018Q4..2019Q1"),
        db_path=db,
        lake=lake,
        work_dir=tmp_path / "tmp",
    )
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select quarter from meta.lake_state order by 1").fetchall() == [
            ("2018Q4",),
            ("2019Q1",),
        ]
    notes: list[str] = []
    ingest(
        _zip(history, "2019Q1"),
        db_path=db,
        lake=lake,
        work_dir=tmp_path / "tmp",
        force=True,
        say=notes.append,
    )
    assert notes == ["full build: 2019Q1 was re-published since the last build"]
    ingest(_zip(history, "2018Q3"), db_path=db, lake=lake, work_dir=tmp_path / "tmp", say=notes.append)
    assert notes[-1] == "full build: 2018Q3 comes before 2019Q1, the latest quarter built"
    with pytest.raises(IncrementNotApplicable, match="no quarter was added since the last build"):
        plan_increment(db, lake_state(lake))


def test_a_name_mapped_differently_is_rendered_again(history, first_quarter, tmp_path):
    """The maps are recomputed; a version with a name the published database mapped differently (a brand
    name learned from the new quarter, say) is rendered again, not kept."""
    lake, db = _copy_of(first_quarter, tmp_path)  # `pv ingest` of 2018Q3 into an empty lake and database
    with duckdb.connect(str(db)) as con:
        term = con.sql(
            "select pt from staging.stg_reac group by pt order by count(*) desc, pt limit 1"
        ).fetchall()[0][0]
        con.execute("update curated.event_term_map set pt = 'made up' where raw = ?", [term])
        con.execute("update curated.case_events set pt = 'made up' where pt = ?", [term])
        tampered = con.sql("select count(*) from curated.case_events where pt = 'made up'").fetchall()[0][0]
    assert tampered > 0
    notes: list[str] = []
    ingest(_zip(history, "2018Q4"), db_path=db, lake=lake, work_dir=tmp_path / "tmp", say=notes.append)
    assert notes == ["incremental build: adding 2018Q4 to the 1 quarter built (to 2018Q3)"]
    scratch = tmp_path / "scratch.duckdb"
    build_database(scratch, lake)
    assert differences(db, scratch) == {}


def test_changed_vocabulary_falls_back(history, first_quarter, tmp_path, monkeypatch):
    lake, db = _copy_of(first_quarter, tmp_path)  # `pv ingest` of 2018Q3 into an empty lake and database
    import pv.increment

    inputs = pv.increment.build_inputs()
    monkeypatch.setattr(pv.increment, "build_inputs", lambda: inputs | {"reviewed data": "edited"})
    notes: list[str] = []
    ingest(_zip(history, "2018Q4"), db_path=db, lake=lake, work_dir=tmp_path / "tmp", say=notes.append)
    assert notes == ["full build: the reviewed data changed since pv.duckdb was built"]


def test_a_quarter_gone_or_unrecorded_inputs_fall_back(first_quarter, tmp_path):
    lake, db = _copy_of(first_quarter, tmp_path)  # `pv ingest` of 2018Q3 into an empty lake and database
    with pytest.raises(IncrementNotApplicable, match="^2018Q3 is no longer in the lake$"):
        plan_increment(db, {})
    with duckdb.connect(str(db)) as con:
        con.execute("drop table meta.build_inputs")
    with pytest.raises(
        IncrementNotApplicable, match=r"^pv.duckdb records no build inputs \(built by an earlier version\)$"
    ):
        plan_increment(db, lake_state(lake))


def test_differences_sees_a_changed_row_a_missing_relation_and_changed_columns(tmp_path):
    """The identity tests are not vacuous: one row changed, one relation missing and one column retyped are
    each found (the build's own records are not compared)."""
    first, second = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    for path, value in ((first, 1), (second, 2)):
        with duckdb.connect(str(path)) as con:
            con.execute("create schema marts; create schema meta")
            con.execute(
                f"create table marts.t as select range as x, {value} * (range = 3)::int as y from range(5)"
            )
            con.execute(f"create table meta.build as select {value} as built_at")
            con.execute("create view marts.v as select x from marts.t")
            kind = "bigint" if value == 1 else "varchar"
            con.execute(f"create table marts.typed as select 1::{kind} as z")
            if value == 1:
                con.execute("create table marts.only_first as select 1 as z")
    assert differences(first, second) == {
        "relations": "only in one: ['marts.only_first']",
        "marts.t": "1 rows only in one.duckdb, 1 only in two.duckdb",
        "marts.typed": "columns differ",
    }
    assert differences(first, first) == {}


def test_pv_ingest_says_how_it_built_and_full_build_rebuilds(history, first_quarter, tmp_path, capsys):
    from pv.cli import main

    lake, db = _copy_of(first_quarter, tmp_path)  # `pv ingest` of 2018Q3 into an empty lake and database
    where = ["--db", str(db), "--lake", str(lake), "--quiet"]
    assert "build" not in first_quarter["stderr"]
    assert main(["ingest", str(_zip(history, "2018Q4")), *where]) == 0
    assert "incremental build: adding 2018Q4 to the 1 quarter built (to 2018Q3)" in capsys.readouterr().err
    assert main(["ingest", str(_zip(history, "2019Q1")), *where, "--full-build"]) == 0
    assert "incremental" not in capsys.readouterr().err
    assert main(["ingest", str(_zip(history, "2019Q2")), *where[:4], "--raw-only", "--quiet"]) == 0
    assert main(["build", *where[:4], "--incremental"]) == 0
    assert "full build: " in capsys.readouterr().err  # the raw-only build recorded no signals to add to


def test_input_digests_name_files_relative_to_their_folder(tmp_path):
    """A checkout moved elsewhere keeps its digest (so its next build stays incremental); an edit does not."""
    for root in (tmp_path / "here", tmp_path / "moved" / "there"):
        (root / "sql").mkdir(parents=True)
        (root / "sql" / "model.sql").write_text("select 1\n")
        (root / "rule.py").write_text("X = 1\n")
    here, there = tmp_path / "here", tmp_path / "moved" / "there"
    assert _digest_files(here, here.rglob("*.*")) == _digest_files(there, there.rglob("*.*"))
    (there / "rule.py").write_text("X = 2\n")
    assert _digest_files(here, here.rglob("*.*")) != _digest_files(there, there.rglob("*.*"))
    (there / "rule.py").rename(there / "renamed.py")
    (there / "renamed.py").write_text("X = 1\n")
    assert _digest_files(here, here.rglob("*.*")) != _digest_files(there, there.rglob("*.*"))


def test_first_changed_quarter_is_where_the_intervals_first_differ(tmp_path):
    """A followed-up or deleted version's interval ends earlier: the difference starts at the new end; an
    interval only one database has starts its difference; two rows of one key on a side cannot be paired,
    so their difference starts at live_from."""
    published = tmp_path / "published.duckdb"
    rows = {
        "kept": "('2018Q3', 1, '2018Q3', null)",
        "followed_up": "('2018Q3', 2, '2018Q3', null)",
        "ended": "('2018Q3', 2, '2018Q3', '2019Q1')",
        "new": "('2019Q1', 3, '2019Q1', null)",
        "split_a": "('2018Q4', 4, '2018Q4', null)",
        "split_b": "('2018Q4', 4, '2018Q4', '2019Q1')",
    }
    columns = "(quarter varchar, primaryid bigint, live_from varchar, live_to varchar)"

    def intervals(con: duckdb.DuckDBPyConnection, table: str, *names: str) -> None:
        con.execute(f"create or replace table {table} {columns}")
        con.execute(f"insert into {table} values " + ", ".join(rows[name] for name in names))

    with duckdb.connect(str(published)) as con:
        intervals(con, "lifetimes", "kept", "followed_up")
    with duckdb.connect() as con:
        con.execute(f"attach '{published}' as previous (read_only)")
        intervals(con, "lifetimes", "kept", "ended", "new")
        assert first_changed_quarter(con, "lifetimes", "2019Q1") == "2019Q1"
        assert first_changed_quarter(con, "lifetimes", "2018Q4") == "2018Q4"  # never after the added one
        intervals(con, "lifetimes", "kept", "followed_up", "split_a", "split_b")
        assert first_changed_quarter(con, "lifetimes", "2019Q1") == "2018Q4"
        intervals(con, "lifetimes", "kept", "followed_up")
        assert first_changed_quarter(con, "lifetimes", "2019Q1") == "2019Q1"
        con.execute("create table flat as select 1 as x")
        with pytest.raises(ValueError, match="flat has no intervals of quarters"):
            first_changed_quarter(con, "flat", "2019Q1")


def test_a_follow_up_reranks_the_cases_sharing_its_legacy_isr(tmp_path):
    """Legacy ISR 5000001 was filed under CASE 201 (2012Q1) and CASE 203 (2012Q2): FDA keeps it with 203.
    When 2013Q1 follows 203 up in the current layout, 203's legacy record is superseded and the ISR stays
    with 201, a case the new quarter never mentions; 2013Q1 also deletes CASE 202."""
    docetaxel, aspirin = (
        {"name": "TAXOTERE", "prod_ai": "DOCETAXEL"},
        {"name": "ASPIRIN", "prod_ai": "ASPIRIN"},
    )
    quarters = {name: CraftedQuarter(name) for name in ("2012Q1", "2012Q2", "2012Q4", "2013Q1")}
    # one event (same date, age, drug and term) filed under CASE 201 and CASE 203
    myositis = {"event_dt": "20111115", "age": "60", "drugs": [docetaxel], "pts": ["Myositis"]}
    quarters["2012Q1"].case(201, isr=5000001, fda_dt="20120110", **myositis)
    quarters["2012Q1"].case(
        202, fda_dt="20120111", event_dt="20111116", age="61", drugs=[aspirin], pts=["Nausea"]
    )
    quarters["2012Q2"].case(203, isr=5000001, fda_dt="20120410", **myositis)
    quarters["2012Q4"].case(
        210, fda_dt="20121010", event_dt="20120901", age="50", drugs=[aspirin], pts=["Rash"]
    )
    quarters["2013Q1"].case(203, version=2, fda_dt="20130110", **myositis)
    quarters["2013Q1"].deleted.append(202)
    lake, db, notes = tmp_path / "lake", tmp_path / "pv.duckdb", []
    for name, quarter in quarters.items():
        quarter.write(tmp_path / "in")
        ingest(
            tmp_path / "in" / name,
            db_path=db,
            lake=lake,
            work_dir=tmp_path / "tmp",
            allow_partial=True,
            say=notes.append,
        )
    assert notes[-1] == "incremental build: adding 2013Q1 to the 3 quarters built (to 2012Q4)"
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = con.sql(
            "select caseid, quarter, dedup_status from curated.case_versions order by all"
        ).fetchall()
    assert statuses == [
        (201, "2012Q1", "retained"),
        (202, "2012Q1", "deleted"),
        (203, "2012Q2", "superseded"),
        (203, "2013Q1", "retained"),
        (210, "2012Q4", "retained"),
    ]
    scratch = tmp_path / "scratch.duckdb"
    build_database(scratch, lake)
    assert differences(db, scratch) == {}
