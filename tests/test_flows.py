"""The Prefect flows: a run ingests what the lake lacks, re-runs are idempotent, readers are never
blocked, a killed run re-run ends where an uninterrupted one does, and the Dask runner works."""

from __future__ import annotations

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


def test_run_then_rerun_is_idempotent(source, tmp_path, monkeypatch):
    from flows.quarterly import quarterly

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    paths = _paths(tmp_path)
    first = quarterly(source=str(source), **paths)
    assert [row["quarter"] for row in first["ingested"]] == ["2023Q3", "2023Q4", "2024Q1", "2024Q2"]
    assert Path(first["report"]).exists() and first["headline_rows"] > 0
    counts = _counts(paths["db"])
    assert counts["raw.demo"] > 0 and counts["signals"] > 0
    second = quarterly(source=str(source), **paths)
    assert second["ingested"] == []
    assert _counts(paths["db"]) == counts


def test_reader_is_never_blocked_nor_shown_partial_data(source, tmp_path, monkeypatch):
    from flows.quarterly import quarterly

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    paths = _paths(tmp_path)
    quarterly(source=str(source), quarters="2023Q3..2023Q4", **paths)
    reader = duckdb.connect(paths["db"], read_only=True)
    before = reader.sql("select count(*) from raw.demo").fetchall()[0][0]
    quarterly(source=str(source), **paths)  # adds 2024Q1 and 2024Q2 while the reader holds the file open
    assert reader.sql("select count(*) from raw.demo").fetchall()[0][0] == before
    assert reader.sql("select count(distinct quarter) from raw.demo").fetchall()[0][0] == 2
    reader.close()
    with duckdb.connect(paths["db"], read_only=True) as fresh:
        assert fresh.sql("select count(distinct quarter) from raw.demo").fetchall()[0][0] == 4


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
    import pv.db as db
    real = db.create_curated
    def slow(con):
        real(con)
        Path(sys.argv[2]).write_text("curated")
        time.sleep(120)
    db.create_curated = slow
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
        env=os.environ | {"PV_DATA_DIR": str(data)},
        cwd=Path(__file__).parent.parent,
    )
    deadline = time.monotonic() + 180
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), "the killed run never reached its marker"
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_killed_run_then_rerun_equals_uninterrupted(source, tmp_path, monkeypatch):
    """Killed after publishing a quarter, then killed again in the rebuild: the database is left as it
    was (behind the lake), and the re-run, with no quarter left to ingest, sees that and rebuilds."""
    from flows.quarterly import quarterly
    from pv.db import database_lag

    monkeypatch.setenv("PV_DATA_DIR", str(tmp_path / "data"))
    reference = _paths(tmp_path / "reference")
    quarterly(source=str(source), **reference)

    killed = _paths(tmp_path / "killed")
    quarterly(source=str(source), quarters="2023Q3", **killed)
    db = Path(killed["db"])
    built = db.read_bytes()
    _killed(KILLED_RUN, source, tmp_path / "published", killed, tmp_path / "data")
    assert db.read_bytes() == built  # killed before the rebuild: the old database, untouched
    _killed(KILLED_REBUILD, source, tmp_path / "curated", killed, tmp_path / "data")
    assert db.read_bytes() == built  # killed in the rebuild: still the old one, a temporary file beside it
    assert list(db.parent.glob(".pv.duckdb.p*.tmp"))
    assert database_lag(db).startswith(f"{db} is behind the lake (2023Q4, 2024Q1, 2024Q2 published")
    rerun = quarterly(source=str(source), **killed)
    assert rerun["ingested"] == []  # "quarters to ingest: none", and yet rebuilt
    assert database_lag(db) is None
    assert not list(db.parent.glob(".pv.duckdb.p*"))
    assert _counts(killed["db"]) == _counts(reference["db"])


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
