"""The Prefect flows: a run ingests what the lake lacks and shows as its named steps, re-runs are
idempotent, readers are never blocked, a killed or failed run re-run resumes and ends where an
uninterrupted one does, `pv run` stays in its process, deployments store absolute paths, and the Dask
runner works."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from pv.build import LAYERS, step_names, steps_for_layer
from pv.quarters import quarter_range
from pv.synth import generate

pytestmark = pytest.mark.usefixtures("prefect_harness")

TABLES = ("raw.demo", "raw.drug", "raw.reac", "curated.cases", "signals", "signal_history")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("flow-source")
    generate(folder, quarter_range("2023Q3..2024Q2"), scale=0.003, seed=21)
    return folder


def _paths(root: Path) -> dict[str, str]:
    return {"db": str(root / "pv.duckdb"), "lake": str(root / "lake"), "reports": str(root / "reports")}


def _counts(db: str) -> dict[str, int]:
    with duckdb.connect(db, read_only=True) as con:
        return {table: con.sql(f"select count(*) from {table}").fetchall()[0][0] for table in TABLES}


@pytest.fixture(scope="module")
def full_run(source, prefect_harness, tmp_path_factory) -> dict:
    """One uninterrupted run over the four quarters (made once per module): its paths, its result and the
    counts of its database right after it."""
    from flows.quarterly import quarterly

    root = tmp_path_factory.mktemp("full-run")
    paths = _paths(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PV_DATA_DIR", str(root / "data"))
        result = quarterly(source=str(source), **paths)
    return {"paths": paths, "result": result, "counts": _counts(paths["db"])}


@pytest.fixture(scope="module")
def two_quarters(source, prefect_harness, tmp_path_factory) -> dict:
    """One run over 2023Q3..2023Q4 (made once per module): its paths and final state. Tests that go on from
    it work on a copy (:func:`_copy_of`)."""
    from flows.quarterly import quarterly

    root = tmp_path_factory.mktemp("two-quarters")
    paths = _paths(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PV_DATA_DIR", str(root / "data"))
        state = quarterly(source=str(source), quarters="2023Q3..2023Q4", **paths, return_state=True)
    return {"paths": paths, "state": state}


def _copy_of(paths: dict[str, str], root: Path) -> dict[str, str]:
    """A copy of a run's lake and database under ``root`` (the lake keeps its identity: the database built
    from it accepts the copy)."""
    copy = _paths(root)
    shutil.copytree(paths["lake"], copy["lake"])
    shutil.copyfile(paths["db"], copy["db"])
    return copy


def _child_env(data: Path) -> dict[str, str]:
    """A child process's environment: the test's data folder, and the session's Prefect test server (a flow
    run in the child reports there instead of starting an ephemeral server of its own, which a killed child
    would leave running)."""
    from prefect.settings import PREFECT_API_URL

    return os.environ | {"PV_DATA_DIR": str(data), "PREFECT_API_URL": str(PREFECT_API_URL.value())}


def test_run_then_rerun_is_idempotent(source, full_run, tmp_path, monkeypatch):
    from flows.quarterly import quarterly

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    paths, first, counts = full_run["paths"], full_run["result"], full_run["counts"]
    assert [row["quarter"] for row in first["ingested"]] == ["2023Q3", "2023Q4", "2024Q1", "2024Q2"]
    assert Path(first["report"]).exists() and first["headline_rows"] > 0
    assert _counts(paths["db"]) == counts
    assert counts["raw.demo"] > 0 and counts["signals"] > 0
    second = quarterly(source=str(source), **paths)
    assert second["ingested"] == []
    assert _counts(paths["db"]) == counts


def test_new_quarters_are_added_incrementally_and_a_reader_is_never_blocked_nor_shown_partial_data(
    source, two_quarters, tmp_path, monkeypatch
):
    """The scheduled run's case: the lake gains quarters; the database gets them added to a copy (not
    rebuilt), and the result is the database a build from scratch of the same lake gives. A reader of the
    published database meanwhile is never blocked and never sees the new quarters half-added."""
    from flows.quarterly import quarterly
    from pv.build import build_database
    from pv.increment import differences

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    assert two_quarters["state"].result()["build"] == "full build"
    paths = _copy_of(two_quarters["paths"], tmp_path)  # the run of 2023Q3..2023Q4
    reader = duckdb.connect(paths["db"], read_only=True)
    before = reader.sql("select count(*) from raw.demo").fetchall()[0][0]
    second = quarterly(source=str(source), **paths)  # adds 2024Q1 and 2024Q2 while the reader holds the file
    assert [row["quarter"] for row in second["ingested"]] == ["2024Q1", "2024Q2"]
    assert second["build"] == "incremental build: adding 2024Q1, 2024Q2 to the 2 quarters built (to 2023Q4)"
    assert reader.sql("select count(*) from raw.demo").fetchall()[0][0] == before
    assert reader.sql("select count(distinct quarter) from raw.demo").fetchall()[0][0] == 2
    reader.close()
    with duckdb.connect(paths["db"], read_only=True) as fresh:
        assert fresh.sql("select count(distinct quarter) from raw.demo").fetchall()[0][0] == 4
    scratch = tmp_path / "scratch.duckdb"
    build_database(scratch, Path(paths["lake"]))
    assert differences(Path(paths["db"]), scratch) == {}


KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pv.ingest as ingest_module
    real = ingest_module.ingest_quarter
    def slow(source, lake, *args, **kwargs):
        report = real(source, lake, *args, **kwargs)
        Path(sys.argv[2]).write_text(str(source.quarter))
        time.sleep(120)
        return report
    ingest_module.ingest_quarter = slow
    from flows.quarterly import main
    main(["--source", sys.argv[1], "--db", sys.argv[3], "--lake", sys.argv[4], "--reports", sys.argv[5]])
    """
)


KILLED_REBUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pv.build as build
    real = build.run_step
    def slow(con, step, context):
        seconds = real(con, step, context)
        if step.name == "curated.dedup_summary":
            Path(sys.argv[2]).write_text("curated")
            time.sleep(120)
        return seconds
    build.run_step = slow
    from flows.quarterly import main
    main(["--source", sys.argv[1], "--db", sys.argv[3], "--lake", sys.argv[4], "--reports", sys.argv[5]])
    """
)


def _killed(script: str, source: Path, marker: Path, paths: dict[str, str], data: Path) -> None:
    """Run the flow in a process that pauses at a marker, then kill -9 it there."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            str(source),
            str(marker),
            paths["db"],
            paths["lake"],
            paths["reports"],
        ],
        env=_child_env(data),
        cwd=Path(__file__).parent.parent,
        start_new_session=True,  # its own process group: the kill reaches anything it started
    )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert marker.exists(), "the killed run never reached its marker"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is gone if the child ended on its own
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_killed_run_then_rerun_equals_uninterrupted(source, full_run, tmp_path, monkeypatch):
    """Killed after publishing a quarter, then killed again in the rebuild: the database is left as it
    was (behind the lake), and the re-run, with no quarter left to ingest, sees that and rebuilds, to the
    database of the uninterrupted run (``full_run``)."""
    from flows.quarterly import quarterly
    from pv.db import database_lag

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    killed = _paths(tmp_path / "killed")
    quarterly(source=str(source), quarters="2023Q3", **killed)
    db = Path(killed["db"])
    built = db.read_bytes()
    _killed(KILLED_RUN, source, tmp_path / "published", killed, tmp_path / "data")
    assert db.read_bytes() == built  # killed before the rebuild: the old database, untouched
    _killed(KILLED_REBUILD, source, tmp_path / "curated", killed, tmp_path / "data")
    assert db.read_bytes() == built  # killed in the rebuild: still the old one, the half-built copy beside it
    assert (db.parent / ".pv.duckdb.pending").exists()
    assert database_lag(db).startswith(f"{db} is behind the lake (2023Q4, 2024Q1, 2024Q2 published")
    rerun = quarterly(source=str(source), **killed)
    assert rerun["ingested"] == []  # "quarters to ingest: none", and yet rebuilt, resuming the copy
    with duckdb.connect(killed["db"], read_only=True) as con:
        resumed = con.sql(
            "select count(*) from meta.build_progress where finished_at < "
            "(select finished_at from meta.build_progress where step = 'marts.version_lifetimes')"
        ).fetchall()[0][0]
    assert resumed == step_names().index("curated.dedup_summary") + 1  # the killed run's steps, not re-run
    assert database_lag(db) is None
    assert not list(db.parent.glob(".pv.duckdb.p*"))
    assert _counts(killed["db"]) == full_run["counts"]


def test_run_refused_while_another_process_writes_the_lake(source, tmp_path, monkeypatch):
    from crafted import crafted_quarter

    from flows.quarterly import quarterly
    from pv.errors import UserError

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    marker = tmp_path / "holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDING, str(crafted_quarter(tmp_path / "in", "2023Q1")), str(marker)],
        env=os.environ | {"PV_DATA_DIR": str(tmp_path / "data")},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and holder.poll() is None:
            time.sleep(0.05)
        assert marker.exists()
        lake = tmp_path / "data" / "lake"
        with pytest.raises(UserError) as refused:
            quarterly(source=str(source), db=str(tmp_path / "data" / "pv.duckdb"), lake=str(lake))
        assert str(refused.value) == (
            f"{lake}: the lake is locked: PID {holder.pid} is writing to it (lock {lake / '.lock'}); "
            "try again when it ends"
        )
        assert [path.name for path in lake.iterdir() if path.name.startswith("quarter=")] == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


HOLDING = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pv.ingest as ingest_module
    def holding(*args, **kwargs):
        Path(sys.argv[2]).write_text("holding")
        time.sleep(120)
    ingest_module.ingest_quarter = holding
    from pv.cli import main
    main(["ingest", sys.argv[1], "--quiet", "--raw-only"])
    """
)


def test_dask_task_runner(source, tmp_path, monkeypatch):
    from prefect_dask import DaskTaskRunner

    from flows.quarterly import quarterly

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    result = quarterly.with_options(task_runner=runner)(
        source=str(source), quarters="2024Q1..2024Q2", **_paths(tmp_path)
    )
    assert [row["quarter"] for row in result["ingested"]] == ["2024Q1", "2024Q2"]
    assert _counts(str(tmp_path / "pv.duckdb"))["raw.demo"] > 0


@pytest.mark.parametrize(("quarters", "message"), [("2024Q5", "not a quarter"), ("", "no quarters in ''")])
def test_cli_entry_refuses_bad_quarters(source, tmp_path, quarters, message):
    result = subprocess.run(
        [sys.executable, "-m", "flows.quarterly", "--source", str(source), "--quarters", quarters],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        env=os.environ | {"PV_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("pv: error: ") and message in line


def test_backfill_requires_quarters(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flows.backfill", "--source", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 2 and "needs --quarters" in result.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)


def _task_runs(flow_run_id) -> list:
    """A flow run's task runs, in the order they started."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(runs, key=lambda run: run.start_time)


def _artifacts(flow_run_id, key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    wanted = ArtifactFilter(
        flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), key=ArtifactFilterKey(any_=[key])
    )
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=wanted)


def _task_run_names(flow_run_id) -> list[str]:
    return [run.name for run in _task_runs(flow_run_id)]


def test_a_run_shows_as_its_named_steps(two_quarters):
    paths, state = two_quarters["paths"], two_quarters["state"]  # the run of 2023Q3..2023Q4
    assert state.is_completed()
    names = _task_run_names(state.state_details.flow_run_id)
    assert sorted(names[:2]) == ["ingest 2023Q3", "ingest 2023Q4"]  # in parallel: either may start first
    assert names[2:] == [*LAYERS, "swap", "report"]
    with duckdb.connect(paths["db"], read_only=True) as con:
        logged = con.sql("select layer, count(*) from meta.build_progress group by layer").fetchall()
        signals_rows = con.sql("select count(*) from marts.signals").fetchall()[0][0]
    assert dict(logged) == {layer: len(steps_for_layer(layer)) for layer in LAYERS}
    assert signals_rows > 0
    (artifact,) = _artifacts(state.state_details.flow_run_id, "faers-build-steps")
    lines = artifact.data.splitlines()
    assert len(lines) == 2 + len(step_names())
    assert lines[2].startswith("| raw.tables | raw | raw.demo ")
    assert f"| marts.signals | signals | marts.signals {signals_rows:,} | " in artifact.data


def test_a_failed_build_resumes_at_the_failed_layer_and_swaps_in_at_the_end(
    source, two_quarters, tmp_path, monkeypatch
):
    """A failure injected in the signals layer: the flow fails, the database is the one before, the
    half-built copy holds every step up to the failed one; the re-run runs only the signals layer's steps
    from the failed one and ends in the database a clean build makes."""
    from crafted import database_fingerprint

    import pv.build as build
    from flows.quarterly import quarterly

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    paths = _copy_of(two_quarters["paths"], tmp_path)  # the run of 2023Q3..2023Q4
    db = Path(paths["db"])
    before = db.read_bytes()
    real = build.run_step
    ran: list[str] = []

    def failing(con, step, context):
        if step.name == "marts.signal_checks":
            raise RuntimeError("injected failure")
        ran.append(step.name)
        return real(con, step, context)

    monkeypatch.setattr(build, "run_step", failing)
    state = quarterly(source=str(source), **paths, return_state=True)
    assert state.is_failed()
    assert db.read_bytes() == before  # the published database, untouched
    pending = db.with_name(".pv.duckdb.pending")
    names = step_names()
    failed_at = names.index("marts.signal_checks")
    assert ran == names[:failed_at]
    with duckdb.connect(str(pending), read_only=True) as con:
        finished = [
            row[0]
            for row in con.sql(
                "select step from meta.build_progress where finished_at is not null order by position"
            ).fetchall()
        ]
    assert finished == names[:failed_at]
    task_states = {run.name: run.state.type.value for run in _task_runs(state.state_details.flow_run_id)}
    assert task_states["history"] == "COMPLETED" and task_states["signals"] == "FAILED"
    assert "swap" not in task_states and "report" not in task_states

    ran.clear()
    monkeypatch.setattr(
        build, "run_step", lambda con, step, context: ran.append(step.name) or real(con, step, context)
    )
    rerun = quarterly(source=str(source), **paths, return_state=True)
    assert rerun.is_completed()
    assert ran == names[failed_at:]  # the earlier layers and steps were not run again
    assert not pending.exists()
    names_run = _task_run_names(rerun.state_details.flow_run_id)
    assert names_run == [*LAYERS, "swap", "report"]  # nothing to ingest; every layer task, most skipping
    clean = tmp_path / "clean.duckdb"
    build.build_database(clean, Path(paths["lake"]))
    assert database_fingerprint(db) == database_fingerprint(clean)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from meta.build_progress where finished_at is null").fetchall() == [
            (0,)
        ]


def test_pv_run_runs_the_flow_in_this_process(source, tmp_path, monkeypatch, capsys):
    from pv.cli import main

    def no_child(*args, **kwargs):
        raise AssertionError("pv run started a child process")

    monkeypatch.setattr(subprocess, "run", no_child)
    monkeypatch.setattr(subprocess, "Popen", no_child)
    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    paths = _paths(tmp_path)
    argv = ["run", "--source", str(source), "--quarters", "2024Q2"]
    assert main([*argv, "--db", paths["db"], "--lake", paths["lake"], "--reports", paths["reports"]]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"database: {paths['db']}"
    with duckdb.connect(paths["db"], read_only=True) as con:
        assert con.sql("select distinct quarter from raw.demo").fetchall() == [("2024Q2",)]


def test_a_deployment_stores_absolute_paths(tmp_path, monkeypatch):
    import flows.quarterly as quarterly_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PV_DATA_DIR", "data")
    monkeypatch.delenv("PV_DB", raising=False)
    monkeypatch.delenv("PV_LAKE", raising=False)
    served = {}
    monkeypatch.setattr(quarterly_module.quarterly, "serve", lambda **kwargs: served.update(kwargs))
    assert quarterly_module.main(["serve", "--source", "faers", "--reports", "out/reports"]) == 0
    assert served["cron"] == quarterly_module.QUARTERLY_CRON
    parameters = served["parameters"]
    assert {key: parameters[key] for key in ("source", "db", "lake", "reports")} == {
        "source": str(tmp_path / "faers"),
        "db": str(tmp_path / "data/pv.duckdb"),
        "lake": str(tmp_path / "data/lake"),
        "reports": str(tmp_path / "out/reports"),
    }
    fda = quarterly_module.flow_parameters(quarterly_module.build_parser().parse_args(["--source", "fda"]))
    assert fda["source"] == "fda" and Path(fda["db"]).is_absolute()
