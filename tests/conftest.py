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
