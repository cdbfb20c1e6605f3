"""The analyst database: snapshot builds, example queries, schema reference; the lake state it records,
locks, leftovers of dead builds, full disks and kill -9."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from pv.build import step_names
from pv.cli import main
from pv.resources import sql_dir


def _statements(text: str) -> list[str]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [statement for statement in code.split(";") if statement.strip()]


def test_example_queries_run(generated):
    statements = _statements((sql_dir() / "examples.sql").read_text())
    assert len(statements) == 8
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        for statement in statements:
            con.sql(statement).fetchall()


SAMPLES = Path(__file__).parent / "fixtures" / "faers"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pv(
    data_dir: Path, *argv: str, limit: int | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    def file_size_limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "pv.cli", *argv],
        capture_output=True,
        text=True,
        env=os.environ | {"PV_DATA_DIR": str(data_dir)},
        preexec_fn=file_size_limit if limit else None,
        timeout=timeout,
    )


def _temporaries(data_dir: Path) -> list[str]:
    return sorted(path.name for path in data_dir.glob(".pv.duckdb.p*"))


@pytest.fixture
def crafted_lake(tmp_path, data_dir):
    """Two crafted quarters ingested raw-only; returns the data folder."""
    from crafted import crafted_quarter

    for quarter in ("2023Q1", "2023Q2"):
        folder = crafted_quarter(tmp_path / "in" / quarter, quarter)
        assert main(["ingest", str(folder), "--quiet", "--raw-only"]) == 0
    return data_dir


def test_database_records_the_lake_state_and_says_when_it_is_behind(crafted_lake, tmp_path):
    import json

    from crafted import crafted_quarter

    from pv.db import database_lag
    from pv.lake import lake_state

    db, lake = crafted_lake / "pv.duckdb", crafted_lake / "lake"
    with duckdb.connect(str(db), read_only=True) as con:
        recorded = dict(con.sql("select quarter, ingest_id from meta.lake_state").fetchall())
        ((built_from,),) = con.sql("select lake from meta.build").fetchall()
    assert recorded == {quarter: state.ingest_id for quarter, state in lake_state(lake).items()}
    assert len(set(recorded.values())) == 2 and built_from == str(lake.resolve())
    assert database_lag(db) is None

    # The lake moves on without a build (what a kill between publish and rebuild leaves).
    from pv.ingest import ingest_quarter
    from pv.lake import writer_lock
    from pv.sources import discover

    with writer_lock(lake):
        for quarter in ("2023Q2", "2023Q3"):
            (found,) = discover(crafted_quarter(tmp_path / "more" / quarter, quarter))
            ingest_quarter(found, lake, crafted_lake / "tmp", {})
    shutil.rmtree(lake / "quarter=2023Q1")
    assert database_lag(db) == (
        f"{db} is behind the lake (2023Q3 published to the lake after it was built; "
        "2023Q2 re-ingested since; 2023Q1 no longer in the lake); run `pv build`"
    )
    # A quarter published before publication.json existed gets a stable id derived from its ingest log.
    (lake / "quarter=2023Q3" / "publication.json").unlink()
    derived = lake_state(lake)["2023Q3"]
    assert derived.ingest_id.startswith("log-") and derived.ingest_id == lake_state(lake)["2023Q3"].ingest_id
    assert (derived.partial, derived.rows["demo"], derived.rows["deleted_cases"]) == (False, 2, 1)
    assert json.loads((lake / "quarter=2023Q2" / "publication.json").read_text())["partial"] is False


def test_two_lakes_never_write_one_database(crafted_lake, tmp_path, capsys):
    from crafted import crafted_quarter, stored_fingerprint

    other = tmp_path / "other"
    folder = crafted_quarter(tmp_path / "in" / "2023Q3", "2023Q3")
    assert (
        main(
            [
                "ingest",
                str(folder),
                "--lake",
                str(other / "lake"),
                "--db",
                str(other / "pv.duckdb"),
                "--quiet",
                "--raw-only",
            ]
        )
        == 0
    )
    before = stored_fingerprint(crafted_lake)
    capsys.readouterr()
    for argv in (
        ["build", "--lake", str(other / "lake")],
        ["ingest", str(folder), "--lake", str(other / "lake"), "--quiet", "--raw-only"],
    ):
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == (
            f"pv: error: {crafted_lake / 'pv.duckdb'}: built from another lake "
            f"({(crafted_lake / 'lake').resolve()}), not {other / 'lake'}; two lakes must not write one "
            "database: choose another --db, or delete this one"
        )
    assert stored_fingerprint(crafted_lake) == before
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    assert main(["ingest", str(folder), "--db", str(notes), "--quiet", "--raw-only"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"pv: error: {notes}: not a DuckDB database; refusing to replace it"
    )
    assert notes.read_text() == "not a database"


def test_dead_builds_leftovers_are_cleared_and_only_theirs(crafted_lake, tmp_path):
    from crafted import crafted_quarter

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stem = f".pv.duckdb.pending.p{dead.pid}-0123abcd.tmp"
    for name in (stem, stem + ".wal"):
        (crafted_lake / name).write_bytes(b"\0" * 4096)
    (crafted_lake / (stem + ".spill")).mkdir()
    (crafted_lake / (stem + ".spill") / "block").write_bytes(b"\0")
    running = crafted_lake / f".pv.duckdb.pending.p{os.getppid()}-0123abcd.tmp"  # a live process's: kept
    running.write_bytes(b"\0")
    (crafted_lake / ".pv.duckdb.pending").write_bytes(b"\0" * 4096)  # a copy killed while made: unreadable
    folder = crafted_quarter(tmp_path / "in" / "2023Q3", "2023Q3")
    assert main(["ingest", str(folder), "--quiet", "--raw-only"]) == 0
    assert _temporaries(crafted_lake) == [running.name]  # the unreadable copy was discarded, then built


@pytest.fixture(scope="module")
def reference_db(tmp_path_factory) -> Path:
    """A clean database of the real 2017Q2 and 2025Q4 extracts (curated layer and signals included)."""
    data = tmp_path_factory.mktemp("reference")
    assert (
        _pv(
            data, "ingest", str(SAMPLES / "2017q2/faers_ascii_2017q2.zip"), "--quiet", "--raw-only"
        ).returncode
        == 0
    )
    assert _pv(data, "ingest", str(SAMPLES / "2025q4"), "--quiet").returncode == 0
    return data / "pv.duckdb"


@pytest.fixture(scope="module")
def built_2017q2(tmp_path_factory) -> Path:
    """A data folder after ``pv ingest`` of the real 2017Q2 extract (lake and database; made once per module,
    tests go on from a copy: the lake keeps its identity, so the database built from it accepts the copy)."""
    data = tmp_path_factory.mktemp("built-2017q2") / "data"
    assert _pv(data, "ingest", str(SAMPLES / "2017q2/faers_ascii_2017q2.zip"), "--quiet").returncode == 0
    return data


def _copy_built(built: Path, data: Path) -> None:
    """A copy of a data folder, as if ``pv ingest`` had run in ``data``: the database records the copy's
    lake (the lake it was built from, which readers check it against), as that ingest would have."""
    shutil.copytree(built, data)
    with duckdb.connect(str(data / "pv.duckdb")) as con:
        assert con.sql("select lake from meta.build").fetchall() == [(str((built / "lake").resolve()),)]
        con.execute("update meta.build set lake = ?", [str((data / "lake").resolve())])


PAUSED = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pv.build as build
    point = sys.argv[1]
    real = build.run_step
    def paused(con, step, context):
        result = real(con, step, context)
        if step.name == point:
            Path(sys.argv[2]).write_text(point)
            time.sleep(120)
        return result
    build.run_step = paused
    from pv.cli import main
    sys.exit(main(sys.argv[3:]))
    """
)


def _paused(data_dir: Path, point: str, marker: Path, *argv: str) -> subprocess.Popen:
    """``pv <argv>`` that stops for two minutes right after the build step ``point`` (``pv.build``) ran."""
    marker.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED, point, str(marker), *argv],
        env=os.environ | {"PV_DATA_DIR": str(data_dir)},
    )
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), f"pv {' '.join(argv)} never reached {point}"
    return process


def _finished_steps(pending: Path) -> dict:
    """The steps a half-built copy records as finished, with when."""
    with duckdb.connect(str(pending), read_only=True) as con:
        return dict(
            con.sql(
                "select step, finished_at from meta.build_progress "
                "where finished_at is not null order by position"
            ).fetchall()
        )


def test_build_killed_at_any_point_leaves_the_database_then_rebuilds_it_identically(
    built_2017q2, tmp_path, reference_db
):
    from crafted import database_fingerprint

    from pv.db import database_lag

    data = tmp_path / "data"
    _copy_built(built_2017q2, data)  # `pv ingest` of the real 2017Q2 extract
    db = data / "pv.duckdb"
    before = _sha(db)
    runs = [  # the first run is an ingest: killed after 2025Q4 is published, in its database build
        ("raw.tables", ["ingest", str(SAMPLES / "2025q4"), "--quiet"], 0),
        ("curated.dedup_summary", ["build"], 0),  # resumes the first: none of its steps finished
        ("marts.signals", ["build"], 23),  # resumes the second's 23 finished steps
    ]
    for point, argv, resumed in runs:
        started = datetime.now(UTC)
        process = _paused(data, point, tmp_path / "paused", *argv)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert _sha(db) == before  # the old database, untouched
        left = [name for name in _temporaries(data) if not name.endswith(".wal")]
        # the half-built copy, and only the killed process's own temporaries: earlier dead runs' were cleared
        assert left[0] == ".pv.duckdb.pending"
        assert all(f".p{process.pid}-" in name for name in left[1:])
        finished = _finished_steps(data / ".pv.duckdb.pending")
        assert list(finished) == step_names()[: step_names().index(point)]  # up to the step before the kill
        # the steps an earlier killed run finished were not run again
        assert all(at < started for at in list(finished.values())[:resumed])
        assert (
            database_lag(db)
            == f"{db} is behind the lake (2025Q4 published to the lake after it was built); run `pv build`"
        )
    assert main(["build", "--db", str(db), "--lake", str(data / "lake")]) == 0
    assert _temporaries(data) == []
    assert database_lag(db) is None
    assert database_fingerprint(db) == {
        **database_fingerprint(reference_db),
        "meta.lake_state": database_fingerprint(db)["meta.lake_state"],  # ingest ids differ by design
    }


def test_full_disk_while_copying_for_an_incremental_build_is_one_line(built_2017q2, tmp_path):
    """An incremental build starts by copying the published database; a copy that cannot be written ends in
    the same one line, with the database unchanged and nothing half-written left."""
    data = tmp_path / "data"
    _copy_built(built_2017q2, data)  # `pv ingest` of the real 2017Q2 extract
    db = data / "pv.duckdb"
    before = _sha(db)
    result = _pv(data, "ingest", str(SAMPLES / "2025q4"), "--quiet", limit=5_000_000)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"pv: error: {db}: cannot build the database ([Errno 27] File too large); the lake is ahead of the "
        "database (2025Q4 published to the lake after it was built): free disk space, then run `pv build` "
        "(it resumes at the failed step)"
    ]
    assert _sha(db) == before
    assert _temporaries(data) == []


def test_full_disk_during_the_build_is_one_line_saying_the_lake_is_ahead(built_2017q2, tmp_path, capsys):
    """A real write failure (RLIMIT_FSIZE: no file may grow past 5 MB, so the new database cannot be
    written while the small Parquet files can)."""
    data = tmp_path / "data"
    _copy_built(built_2017q2, data)  # `pv ingest` of the real 2017Q2 extract
    db = data / "pv.duckdb"
    before = _sha(db)
    result = _pv(data, "ingest", str(SAMPLES / "2025q4"), "--quiet", "--full-build", limit=5_000_000)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"pv: error: {db}: cannot build the database (")
    assert lines[0].endswith(
        "File too large); the lake is ahead of the database (2025Q4 published to the lake after it was "
        "built): free disk space, then run `pv build` (it resumes at the failed step)"
    )
    assert _sha(db) == before
    assert [name for name in _temporaries(data) if not name.endswith(".wal")] == [".pv.duckdb.pending"]
    # Readers are told in one line; the report is refused.
    signals = _pv(data, "signals")
    assert signals.returncode == 0
    behind = f"{db} is behind the lake (2025Q4 published to the lake after it was built); run `pv build`"
    assert signals.stderr.splitlines() == [f"pv: warning: {behind}"]
    cases = _pv(data, "cases", "--drug", "docetaxel", "--event", "dm_narrow")
    assert cases.returncode == 0 and cases.stderr.splitlines() == [f"pv: warning: {behind}"]
    report = _pv(data, "report")
    assert (report.returncode, report.stderr.strip()) == (
        2,
        f"pv: error: {behind} (or pass --allow-stale to report from it anyway)",
    )
    assert _pv(data, "build").returncode == 0
    assert _pv(data, "signals").stderr == ""


def test_second_writer_is_refused_naming_the_first(tmp_path):
    """Two processes: one holds the lake and the database (paused inside its build); every other writer
    of either exits at once with one line naming its PID, and nothing it would write is written."""
    from crafted import crafted_quarter, stored_fingerprint

    data = tmp_path / "data"
    assert (
        _pv(
            data, "ingest", str(crafted_quarter(tmp_path / "a", "2023Q1")), "--quiet", "--raw-only"
        ).returncode
        == 0
    )
    holder = _paused(
        data,
        "raw.tables",
        tmp_path / "paused",
        "ingest",
        str(crafted_quarter(tmp_path / "b", "2023Q2")),
        "--quiet",
        "--raw-only",
    )
    try:
        before = stored_fingerprint(data)
        other = tmp_path / "other"
        assert (
            _pv(
                other, "ingest", str(crafted_quarter(tmp_path / "c", "2023Q3")), "--quiet", "--raw-only"
            ).returncode
            == 0
        )
        lake_lock = (
            f"{data / 'lake'}: the lake is locked: PID {holder.pid} is writing to it "
            f"(lock {data / 'lake' / '.lock'}); try again when it ends"
        )
        db_lock = (
            f"{data / 'pv.duckdb'}: the database is locked: PID {holder.pid} is writing to it "
            f"(lock {data / '.pv.duckdb.lock'}); try again when it ends"
        )
        for argv, expected in (
            (["ingest", str(tmp_path / "c"), "--quiet", "--raw-only"], lake_lock),
            (["build"], lake_lock),
            (["build", "--lake", str(other / "lake"), "--db", str(data / "pv.duckdb")], db_lock),
        ):
            result = _pv(data, *argv)
            assert (result.returncode, result.stderr.strip()) == (2, f"pv: error: {expected}")
        assert stored_fingerprint(data) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_content_models_in_buckets_equal_one_piece(generated, tmp_path, monkeypatch):
    """Large version lists run a bucket of caseids at a time (list aggregates cannot spill); same rows."""
    from pv import db

    copy = tmp_path / "pv.duckdb"
    shutil.copy(generated / "data/pv.duckdb", copy)
    monkeypatch.setattr(db, "CONTENT_BUCKET_VERSIONS", 500)
    with duckdb.connect(str(copy)) as con:
        versions = con.sql("select count(*) from curated.retained_versions").fetchall()[0][0]
        assert versions > 3 * 500
        for model, table in db.CONTENT_MODELS.items():
            bucketed = f"main.bucketed_{table.split('.')[1]}"
            db.run_content_model(con, model, bucketed, "curated.retained_versions")
            rows = con.sql(f"select count(*) from {table}").fetchall()[0][0]
            assert rows > 0
            assert con.sql(f"select count(*) from {bucketed}").fetchall()[0][0] == rows
            for left, right in ((table, bucketed), (bucketed, table)):
                assert con.sql(f"select count(*) from (from {left} except all from {right})").fetchall() == [
                    (0,)
                ]
        assert con.sql(
            "select count(*) from duckdb_tables() where table_name = 'content_model_part'"
        ).fetchall() == [(0,)]


def test_provenance_says_generated_real_and_partial_quarters_apart(generated, samples, tmp_path):
    """Generated quarters carry pv synth's marker through the lake into meta.provenance; FDA's real sample
    zips are verified against the manifest (or not) and a partial extract says what it lacks."""
    from pv.db import provenance_line
    from pv.ingest import ingest

    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        origins = con.sql("select distinct origin from meta.provenance").fetchall()
        quarters = con.sql("select count(*) from meta.provenance").fetchall()[0][0]
        line = provenance_line(con)
    assert origins == [("generated",)] and quarters > 0
    assert line.startswith(f"Data: {quarters} quarters (") and "SYNTHETIC" in line
    assert "analysed together" not in line  # only generated quarters: nothing mixed

    data = tmp_path / "data"
    for source in ("2017q2/faers_ascii_2017q2.zip", "2020q3/heads_10k"):
        ingest(
            samples / source,
            db_path=data / "pv.duckdb",
            lake=data / "lake",
            work_dir=data / "tmp",
            curate=False,
            allow_partial=True,
        )
    with duckdb.connect(str(data / "pv.duckdb"), read_only=True) as con:
        rows = con.sql(
            "select quarter, origin, partial, description from meta.provenance order by 1"
        ).fetchall()
        line = provenance_line(con)
    assert [row[:3] for row in rows] == [("2017Q2", "unverified", False), ("2020Q3", "unverified", True)]
    assert "not verified against FDA's manifest (not_a_zip); a partial extract, without" in rows[1][3]
    assert "SYNTHETIC" not in line and "1 of them partial extracts" in line


def test_provenance_line_lists_quarter_runs_and_says_when_generated_and_other_quarters_mix():
    from pv.db import provenance_line

    con = duckdb.connect()
    con.execute("create schema meta")
    con.execute(
        "create table meta.provenance as select * from (values ('2011Q4', 'generated', false), "
        "('2012Q1', 'generated', false), ('2023Q1', 'generated', false), ('2020Q3', 'unverified', true)) "
        "as t(quarter, origin, partial)"
    )
    assert provenance_line(con) == (
        "Data: 3 quarters (2011Q4–2012Q1, 2023Q1) SYNTHETIC (generated by pv synth, not FDA data: no finding "
        "is about a real drug); 1 quarter (2020Q3) FAERS-format files not verified against FDA's checksum "
        "manifest, 1 of them partial extracts. The generated quarters are analysed together with the others: "
        "every comparison population mixes them."
    )
