"""Shared fixtures: paths to the real FDA extracts and an isolated data folder per test."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Prefect reads these when first imported: quiet, local, and a start-up timeout CI machines can meet
# (ecosystem.md §1). A temporary PREFECT_HOME keeps the tests away from ~/.prefect.
os.environ.update(
    {
        "PREFECT_HOME": tempfile.mkdtemp(prefix="pv-prefect-home-"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
)
os.environ.pop("PREFECT_API_URL", None)

FIXTURES = Path(__file__).parent / "fixtures"
FAERS_SAMPLES = FIXTURES / "faers"


@pytest.fixture
def samples() -> Path:
    return FAERS_SAMPLES


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder; PV_DATA_DIR points at it so nothing touches the repository's data/."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("PV_DATA_DIR", str(folder))
    monkeypatch.delenv("PV_DB", raising=False)
    monkeypatch.delenv("PV_LAKE", raising=False)
    return folder


GENERATED_QUARTERS = "2011Q4..2013Q1,2018Q1,2019Q1,2021Q4,2023Q3"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated quarters of both layouts (with every planted quirk) ingested once per test run.

    Returns the folder holding the zips, ``ground_truth/`` and ``data/pv.duckdb``.
    """
    from pv.ingest import ingest
    from pv.quarters import quarter_range
    from pv.synth import generate

    root = tmp_path_factory.mktemp("generated")
    generate(root, quarter_range(GENERATED_QUARTERS), scale=0.002, seed=11)
    data = root / "data"
    ingest(root, db_path=data / "pv.duckdb", lake=data / "lake", work_dir=data / "tmp")
    return root


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory):
    """One Prefect test server per test run, used only by the flow tests (pure tests never start it)."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    storage = tmp_path_factory.mktemp("prefect-results")
    settings = {PREFECT_LOCAL_STORAGE_PATH: storage, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with temporary_settings(settings), prefect_test_harness(server_startup_timeout=120):
        yield
