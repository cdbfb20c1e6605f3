"""The analyst notebook runs headless, read-only, against a built database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "dermatomyositis.py"


def test_notebook_runs_as_a_script(generated):
    db = generated / "data" / "pv.duckdb"
    before = db.stat().st_mtime_ns
    result = subprocess.run(
        [sys.executable, str(NOTEBOOK)],
        capture_output=True,
        text=True,
        env=os.environ | {"PV_DB": str(db), "MPLBACKEND": "Agg"},
        cwd=NOTEBOOK.parent.parent,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning:" not in result.stdout  # the database is not behind its lake
    assert db.stat().st_mtime_ns == before  # opened read-only, never written
