"""The SQL models and reviewed data ship inside the package: a wheel built from the source, installed
outside the repository, finds and runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pv.build import PLAN
from pv.resources import data_dir, read_vocabulary, sql_dir, vocab_dir

REPOSITORY = Path(__file__).resolve().parent.parent

# Run from an empty folder with only the installed wheel ahead of the environment on the path.
INSTALLED = """
import sys
from pathlib import Path
import duckdb
import pv
from pv.build import PLAN, BuildContext, find_step, run_step
from pv.resources import sql_dir
assert Path(pv.__file__).is_relative_to(Path(sys.argv[1])), pv.__file__
models = [step.model for step in PLAN if step.model]
assert all((sql_dir() / f"{model}.sql").is_file() for model in models)
con = duckdb.connect()
for name in ("vocab.tables", "macros.faers_values", "macros.analysis_rules", "marts.headline_targets"):
    run_step(con, find_step(name), BuildContext(Path(".")))
kinds = con.sql("select kind, count(*) from marts.headline_targets group by kind order by kind").fetchall()
print(len(models), (sql_dir() / "SCHEMA.md").is_file(), kinds)
"""


def test_the_source_tree_keeps_sql_and_data_inside_the_package():
    assert sql_dir() == REPOSITORY / "pv" / "sql" and (sql_dir() / "SCHEMA.md").is_file()
    assert data_dir() == REPOSITORY / "pv" / "data" and (data_dir() / "faers_zip_manifest.csv").is_file()
    assert vocab_dir() == data_dir() / "vocab"
    assert [row["name"] for row in read_vocabulary("headline_targets") if row["kind"] == "event"] == [
        "dm_narrow",
        "dm_broad",
    ]


def test_an_installed_wheel_finds_and_runs_its_sql_outside_the_repository(tmp_path):
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("pv", "flows"):
        shutil.copytree(REPOSITORY / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("pv-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", INSTALLED, str(site)],
        cwd=elsewhere,
        env=os.environ | {"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    models = sum(1 for step in PLAN if step.model)
    # 24 target ingredients and 4 classes, 2 event groups (vocab.headline_targets, vocab.ingredient_classes)
    assert result.stdout.split("\n")[0] == f"{models} True [('drug', 28), ('event', 2)]"
