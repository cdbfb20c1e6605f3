"""Shared fixtures: paths to the real FDA extracts and an isolated data folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest

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
