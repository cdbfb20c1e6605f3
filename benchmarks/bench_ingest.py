"""Ingest benchmark: one full-size generated FAERS quarter, our ingest vs. a bare DuckDB read_csv.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_ingest.py [--scale 1.0] [--repeat 3]``.

Each measurement runs in its own child process, so peak RSS is that step's alone (``ru_maxrss`` of the
child). The bare read is DuckDB's ``create table as select * from read_csv(...)`` of the same extracted
files with the same strict options (``$``, no quote, no escape, explicit VARCHAR columns, rejects
stored), default
settings otherwise. Our ingest is measured twice: from the extracted folder (same input as the bare read)
and from the zip (adds extraction); the folder ingest is split into its lake part (reading, checking,
publishing the quarter's Parquet) and the database snapshot it ends with (every build copies the raw tables
into the database so that readers never see a quarter being swapped). Ratios are taken within one run,
alternating the steps. Peak RSS of the two parts is the folder ingest's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUARTER = "2024Q1"

BARE = """
import duckdb, json, sys, time
from pathlib import Path
from pv.parse import map_header, profile_file
from pv.sources import classify
files = sorted(Path(sys.argv[1]).rglob("*.txt"))
con = duckdb.connect()
started = time.perf_counter()
for path in files:
    kind = classify(path.name)
    if kind is None or kind[0] == "deleted":
        continue
    names = open(path, encoding="utf-8-sig").readline().rstrip("\\r\\n").split("$")
    spec = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    con.execute(
        f"create table {kind[0]} as select * from read_csv('{path}', delim='$', quote='', escape='', "
        f"header=true, auto_detect=false, columns={spec}, store_rejects=true)"
    )
print(json.dumps({"seconds": time.perf_counter() - started}))
"""

OURS = """
import json, sys, time
from pathlib import Path
import pv.ingest as ingest_module
work = Path(sys.argv[2])
database = []
real_build = ingest_module.build_database
def timed_build(*args, **kwargs):
    started = time.perf_counter()
    try:
        return real_build(*args, **kwargs)
    finally:
        database.append(time.perf_counter() - started)
ingest_module.build_database = timed_build
started = time.perf_counter()
reports = ingest_module.ingest(Path(sys.argv[1]), db_path=work / "pv.duckdb", lake=work / "lake",
                               work_dir=work / "tmp", curate=False)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "database": sum(database), "rows": reports[0].rows,
                  "rejects": reports[0].rejects}))
"""


def _peak_rss_of(code: str, *args: str) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter under a wrapper whose only child it is: its JSON and peak RSS."""
    wrapper = (
        "import resource, subprocess, sys, json;"
        "r = subprocess.run([sys.executable, '-c', sys.argv[1], *sys.argv[2:]],"
        " capture_output=True, text=True, check=True);"
        "out = json.loads(r.stdout.strip().splitlines()[-1]);"
        "out['peak_mib'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, code, *args], capture_output=True, text=True, check=True
    )
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    return payload, payload["peak_mib"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="reuse/keep the generated quarter in this folder")
    args = parser.parse_args()

    from pv.quarters import Quarter
    from pv.synth import generate

    with tempfile.TemporaryDirectory(dir=REPO / "data" if (REPO / "data").is_dir() else None) as scratch:
        root = args.keep or Path(scratch) / "synth"
        zip_path = root / Quarter.parse(QUARTER).zip_name
        if not zip_path.exists():
            generate(root, [Quarter.parse(QUARTER)], scale=args.scale, seed=args.seed)
        extracted = Path(scratch) / "extracted"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(extracted)
            text_bytes = sum(
                info.file_size for info in archive.infolist() if info.filename.lower().endswith(".txt")
            )

        timings: dict[str, list[float]] = {"bare": [], "folder": [], "zip": [], "lake": [], "database": []}
        peaks: dict[str, float] = {"bare": 0.0, "folder": 0.0, "zip": 0.0}
        rows = rejects = 0
        for attempt in range(args.repeat):
            bare, peak = _peak_rss_of(BARE, str(extracted))
            timings["bare"].append(bare["seconds"])
            peaks["bare"] = max(peaks["bare"], peak)
            for label, source in (("folder", extracted), ("zip", zip_path)):
                work = Path(scratch) / f"work-{label}-{attempt}"
                ours, peak = _peak_rss_of(OURS, str(source), str(work))
                timings[label].append(ours["seconds"])
                if label == "folder":
                    timings["lake"].append(ours["seconds"] - ours["database"])
                    timings["database"].append(ours["database"])
                peaks[label] = max(peaks[label], peak)
                rows, rejects = ours["rows"], ours["rejects"]
                subprocess.run(["rm", "-rf", str(work)], check=True)

    median = {label: statistics.median(values) for label, values in timings.items()}
    megabytes = text_bytes / 1e6
    print(
        f"quarter {QUARTER} at scale {args.scale}: {megabytes:,.0f} MB of text, "
        f"{rows:,} rows, {rejects} rejected"
    )
    print(f"median of {args.repeat} runs on {sys.platform}, {len(timings['bare'])} alternations")
    print("| step | wall time (s) | MB/s | peak RSS (MiB) | ratio to bare read |")
    print("|---|---:|---:|---:|---:|")
    peaks["lake"] = peaks["database"] = peaks["folder"]
    names = {
        "bare": "bare DuckDB read_csv (extracted files)",
        "folder": "pv ingest (extracted folder)",
        "zip": "pv ingest (zip, includes extraction)",
        "lake": "... of the folder ingest: reading, checking and publishing to the lake",
        "database": "... of the folder ingest: the database snapshot (raw tables copied from the lake)",
    }
    for label in ("bare", "folder", "lake", "database", "zip"):
        ratio = median[label] / median["bare"]
        print(
            f"| {names[label]} | {median[label]:.2f} | {megabytes / median[label]:,.0f} "
            f"| {peaks[label]:,.0f} | {ratio:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
