"""Full-history benchmark: every FAERS quarter built from scratch, then one more quarter added incrementally.

Run: ``.venv/bin/python benchmarks/bench_history.py [--quarters 2004Q1..2026Q2] [--scale 1.0] [--keep DIR]``.

Generates the quarters with ``pv synth --size-by-fda-zip`` (each quarter sized like FDA's own zip for it,
legacy AERS quarters several times smaller; ``--scale 1.0`` is real size), unless ``--keep`` already holds
them. Then, each in a child process so that its peak RSS is its own:

1. **full**: ``pv ingest`` of every quarter but the last into an empty data folder (ingest of each zip, then
   the whole database build: raw snapshot, staging, curated, counts, history, signals);
2. **incremental**: ``pv ingest`` of the last quarter into the same folder, which adds it to a copy of the
   published database (``pv.increment``) instead of rebuilding.

Reports wall time and peak RSS of each, the build's slowest steps (from ``meta.build_progress``), the
incremental run as a share of the full one, and the disk used by the lake and the database. DuckDB's memory
cap is ``PV_MEMORY_LIMIT`` (default 4GB); beyond it DuckDB spills beside the database.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
import duckdb
from pv.ingest import ingest
from pv.quarters import quarter_range
source, work, quarters = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
notes = []
started = time.perf_counter()
ingest(source, quarters=quarter_range(quarters), db_path=work / "pv.duckdb", lake=work / "lake",
       work_dir=work / "tmp", say=notes.append)
seconds = time.perf_counter() - started
with duckdb.connect(str(work / "pv.duckdb"), read_only=True) as con:
    steps = con.sql("select step, seconds from meta.build_progress order by seconds desc").fetchall()
    cases = con.sql("select count(*) from curated.cases").fetchall()[0][0]
    signals = con.sql("select count(*) from marts.signals").fetchall()[0][0]
print(json.dumps({"seconds": seconds, "notes": notes, "steps": steps, "cases": cases, "signals": signals,
                  "build_seconds": sum(s for _, s in steps),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _disk_mib(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def _run(source: Path, work: Path, quarters: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(source), str(work), quarters],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | {"PV_DATA_DIR": str(work)},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quarters", default="2004Q1..2026Q2", help="the history; its last quarter is added")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = every quarter at FDA's size")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep the generated quarters in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from pv.quarters import quarter_range
    from pv.synth import generate

    quarters = quarter_range(args.quarters)
    with tempfile.TemporaryDirectory(prefix="pv-bench-history-") as scratch:
        source = args.keep or Path(scratch) / "synth"
        if not all((source / q.zip_name).exists() for q in quarters):
            started = time.perf_counter()
            generate(source, quarters, scale=args.scale, seed=args.seed, size_by_fda_zip=True)
            print(f"generated {len(quarters)} quarters in {time.perf_counter() - started:.0f} s")
        zips = sum((source / q.zip_name).stat().st_size for q in quarters) / 2**20
        work = Path(scratch) / "work"
        history = f"{quarters[0]}..{quarters[-2]}"
        full = _run(source, work, history)
        lake_before, db_before = _disk_mib(work / "lake"), _disk_mib(work / "pv.duckdb")
        added = _run(source, work, str(quarters[-1]))
        figures = {
            "quarters": args.quarters,
            "scale": args.scale,
            "zips_mib": zips,
            "full": full,
            "incremental": added,
            "lake_mib": [lake_before, _disk_mib(work / "lake")],
            "database_mib": [db_before, _disk_mib(work / "pv.duckdb")],
        }
    share = added["seconds"] / full["seconds"]
    print(
        f"{len(quarters)} quarters ({args.quarters}) sized by FDA's zips at scale {args.scale}: "
        f"{zips:,.0f} MiB of zips"
    )
    print("| run | wall (s) | of which build (s) | peak RSS (MiB) | cases | signal rows |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in (("full: ingest + build " + history, full), (f"incremental: + {quarters[-1]}", added)):
        print(
            f"| {name} | {run['seconds']:.0f} | {run['build_seconds']:.0f} | {run['peak_mib']:,.0f} "
            f"| {run['cases']:,} | {run['signals']:,} |"
        )
    print(f"incremental run = {share:.1%} of the full run ({added['notes'][-1] if added['notes'] else ''})")
    print(
        f"disk: lake {figures['lake_mib'][1]:,.0f} MiB, database {figures['database_mib'][1]:,.0f} MiB "
        f"(after the full build: {figures['lake_mib'][0]:,.0f} and {figures['database_mib'][0]:,.0f})"
    )
    for name, run in (("full", full), ("incremental", added)):
        slowest = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in run["steps"][:8])
        print(f"slowest steps ({name}): {slowest}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
