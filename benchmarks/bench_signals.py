"""Signals benchmark: every pair of a full-size generated ten-year history, every statistic incl. EBGM.

Run: ``.venv/bin/python benchmarks/bench_signals.py [--quarters 2015Q1..2024Q4] [--scale 1.0] [--keep DIR]``.

Generates the quarters (unless kept), ingests them without the curated layer, then builds the database in
a child process — curated layer (normalisation, de-duplication, case tables) and signals (2x2 counts for
every pair, variant and level; PRR/ROR/IC with intervals; GPS priors and EBGM/EB05/EB95; history) timed
separately — and reports its peak RSS. The signals step includes the history inputs (version lifetimes,
the content of versions later replaced, per-quarter duplicate flags) and the integrity checks. Finally
times the headline ``pv signals`` query on the result.

``--compare-with REV`` also builds the same lake, in the same run, with the code of git revision REV (e.g.
380d3eb, the last commit before the stratified statistics), first, so the cost of what was added since is a
ratio of two builds on one input and one machine state.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

BUILD = """
import json, resource, sys, time, uuid, os
from pathlib import Path
import duckdb
from pv.build import BuildContext, run_plan, steps_for_layer
from pv.db import memory_limit, write_meta
work = Path(sys.argv[1])
context = BuildContext(work / "lake", snapshot=True)
timings = {}
with duckdb.connect(str(work / sys.argv[2])) as con:
    con.execute(f"set memory_limit = '{memory_limit()}'")
    con.execute(f"set temp_directory = '{work / 'spill'}'")
    con.execute("set preserve_insertion_order = false")
    write_meta(con, work / "lake", True, True)
    by_step = {}
    for timed, layers in (("staging", ("raw", "staging")), ("curated", ("curated",)),
                          ("signals", ("counts", "history", "signals"))):
        started = time.perf_counter()
        for layer in layers:
            by_step |= run_plan(con, steps_for_layer(layer), context)
        timings[timed] = time.perf_counter() - started
    sizes = {table: con.sql(f"select count(*) from {table}").fetchall()[0][0]
             for table in ("curated.cases", "curated.case_drugs", "curated.case_events",
                           "marts.drug_event_counts", "marts.signals", "marts.signal_history",
                           "marts.analysis_cases", "marts.history_versions",
                           "marts.duplicate_flags_by_quarter")}
    sizes["prior"] = con.sql("select status from marts.gps_priors").fetchall()[0][0]
print(json.dumps({"timings": timings, "sizes": sizes, "steps": by_step,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quarters", default="2015Q1..2024Q4")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep the generated quarters in this folder")
    parser.add_argument("--compare-with", metavar="REV", help="also build with the code of this git revision")
    args = parser.parse_args()

    import duckdb

    from pv.ingest import ingest
    from pv.quarters import quarter_range
    from pv.synth import generate

    quarters = quarter_range(args.quarters)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch) / "synth"
        if not all((root / quarter.zip_name).exists() for quarter in quarters):
            started = time.perf_counter()
            generate(root, quarters, scale=args.scale, seed=args.seed)
            print(
                f"generated {len(quarters)} quarters in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        work = Path(scratch) / "work"
        started = time.perf_counter()
        ingest(root, db_path=work / "unused.duckdb", lake=work / "lake", work_dir=work / "tmp", curate=False)
        ingest_seconds = time.perf_counter() - started
        before = None
        if args.compare_with:
            before = _build_with(args.compare_with, work, Path(scratch) / "before")
            (work / "before.duckdb").unlink()
        build = _build(work, "pv.duckdb", REPOSITORY)
        query = "select * from marts.headline order by event, drug"
        timings = []
        with duckdb.connect(str(work / "pv.duckdb"), read_only=True) as con:
            for _ in range(5):
                started = time.perf_counter()
                rows = len(con.execute(query).df())
                timings.append(time.perf_counter() - started)

    sizes = build["sizes"]
    steps = build["timings"]
    print(
        f"{len(quarters)} quarters ({args.quarters}) at scale {args.scale}: "
        f"{sizes['curated.cases']:,} retained cases, {sizes['curated.case_drugs']:,} case-drug rows, "
        f"{sizes['curated.case_events']:,} case-event rows"
    )
    print("| step | wall time (s) |")
    print("|---|---:|")
    print(f"| ingest (raw, {len(quarters)} zips) | {ingest_seconds:.0f} |")
    print(f"| staging views | {steps['staging']:.1f} |")
    print(f"| curated layer (normalisation, de-duplication, case tables) | {steps['curated']:.0f} |")
    print(
        f"| signals: {sizes['marts.drug_event_counts']:,} 2x2 tables (all pairs x 12 variants x 4 levels), "
        f"PRR/ROR/IC + CIs, GPS prior ({sizes['prior']}), EBGM/EB05/EB95, "
        f"{sizes['marts.signal_history']:,} history rows from {sizes['marts.analysis_cases']:,} version "
        f"contributions ({sizes['marts.history_versions']:,} versions later replaced; "
        f"{sizes['marts.duplicate_flags_by_quarter']:,} per-quarter duplicate flags), every stored number "
        f"checked | {steps['signals']:.0f} |"
    )
    print(f"peak RSS of the build: {build['peak_mib']:,.0f} MiB")
    slowest = sorted(build["steps"].items(), key=lambda item: -item[1])[:10]
    print("slowest steps: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest))
    if before is not None:
        print(f"the same lake built by {args.compare_with} first, in this run:")
        for step in ("curated", "signals"):
            then, now = before["timings"][step], steps[step]
            print(f"  {step}: {then:.1f} s then, {now:.1f} s now: {now / then:.2f}x")
        print(f"  peak RSS: {before['peak_mib']:,.0f} MiB then")
    print(
        f"headline `pv signals` query ({rows} rows): median {statistics.median(timings) * 1000:.0f} ms of 5"
    )
    return 0


def _build(work: Path, db_name: str, code: Path) -> dict:
    """Build ``work/lake`` into ``work/db_name`` in a child process running the code in ``code``."""
    environment = os.environ | {"PYTHONPATH": str(code)}
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(work), db_name],
        capture_output=True,
        text=True,
        cwd=code,
        env=environment,
    )
    if result.returncode:
        raise SystemExit(f"build with the code in {code} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _build_with(revision: str, work: Path, folder: Path) -> dict:
    """The build of ``work/lake`` by the code of git ``revision`` (exported with git archive)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", "--format=tar", revision], capture_output=True, check=True
    ).stdout
    archive_path = folder / "code.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(folder / "code", filter="data")
    return _build(work, "before.duckdb", folder / "code")


if __name__ == "__main__":
    sys.exit(main())
