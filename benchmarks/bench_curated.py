"""Curated-layer benchmark: build time and drug-mapping coverage on one full-size generated quarter.

Run: ``.venv/bin/python benchmarks/bench_curated.py [--scale 1.0] [--keep DIR]``.

The quarter is generated (unless kept from an earlier run) and ingested without the curated layer; then
the whole database build (raw views, staging, drug and term maps, de-duplication, case tables, duplicate
flags) is timed in a child process whose peak RSS is reported. Coverage is the share of DRUG rows of
retained cases whose name maps to at least one ingredient, by mapping method.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _quarter import ingested_quarter

from pv.resources import vocab_dir

REPO = Path(__file__).resolve().parent.parent
QUARTER = "2024Q1"

BUILD = """
import json, resource, sys, time
from pathlib import Path
from pv.build import build_database
work = Path(sys.argv[1])
started = time.perf_counter()
build_database(work / "pv.duckdb", work / "lake", snapshot=False)  # raw as views, as measured
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

COVERAGE_SQL = """
with drug_rows as (
    select drug_map.method
    from staging.stg_drug as drug
    inner join curated.case_versions as versions
        on versions.quarter = drug.quarter and versions.primaryid = drug.primaryid
    left join curated.drug_name_map as drug_map
        on drug_map.drugname is not distinct from drug.drugname
        and drug_map.prod_ai is not distinct from drug.prod_ai
        and drug_map.nda_num is not distinct from drug.nda_num
    where versions.dedup_status = 'retained'
)
select coalesce(method, 'none') as method, count(*) as rows from drug_rows group by 1 order by 2 desc
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="reuse/keep the generated quarter in this folder")
    args = parser.parse_args()

    import duckdb

    with tempfile.TemporaryDirectory() as scratch:
        root, work = ingested_quarter(Path(scratch), QUARTER, args.scale, args.seed, args.keep)
        result = subprocess.run(
            [sys.executable, "-c", BUILD, str(work)], capture_output=True, text=True, check=True
        )
        build = json.loads(result.stdout.strip().splitlines()[-1])
        with duckdb.connect(str(work / "pv.duckdb"), read_only=True) as con:
            coverage = dict(con.sql(COVERAGE_SQL).fetchall())
            cases = con.sql(
                "select count(*), count(*) filter (where is_duplicate) from curated.cases"
            ).fetchall()[0]
            names = con.sql("select count(*) from curated.drug_name_map").fetchall()[0][0]

        truth = _target_accuracy(root / "ground_truth" / "drug_names.csv")
        real = _real_extract_coverage(Path(scratch) / "real")

    total = sum(coverage.values())
    mapped = total - coverage.get("none", 0)
    print(
        f"quarter {QUARTER} at scale {args.scale}: {cases[0]:,} retained cases "
        f"({cases[1]:,} flagged duplicates), "
        f"{total:,} DRUG rows, {names:,} distinct (drugname, prod_ai, nda_num)"
    )
    print(f"curated build: {build['seconds']:.1f} s wall, peak RSS {build['peak_mib']:,.0f} MiB")
    print(f"DRUG rows mapped to an ingredient: {mapped / total:.2%}")
    for method, rows in coverage.items():
        print(f"  {method:6s} {rows:>10,} {rows / total:7.2%}")
    exact = truth["exact"] / truth["rows"]
    print(f"target-drug rows (taxane / anti-HER2 by ground truth): {truth['rows']:,}")
    print(f"  mapped to exactly their true targets: {exact:.2%}; with a wrong one: {truth['wrong']:,}")
    print(f"  other rows given a target: {truth['false_targets']:,} of {truth['non_target_rows']:,}")
    share = real["mapped"] / real["rows"]
    print(f"real FDA extracts (tests/fixtures): {share:.2%} of {real['rows']:,} DRUG rows mapped")
    return 0


def _target_accuracy(truth_csv: Path) -> dict[str, int]:
    """Our target ingredients for every distinct generated name against the true ones (row-weighted)."""
    import pandas as pd

    from pv.normalize import drug_names

    classes = pd.read_csv(vocab_dir() / "ingredient_classes.csv")
    target_ingredients = set(classes.loc[classes["class"] != "none", "ingredient"])
    truth = pd.read_csv(truth_csv, keep_default_na=False)
    ours = drug_names(truth["drugname"].replace("", None), truth["prod_ai"].replace("", None))
    result = {"rows": 0, "exact": 0, "wrong": 0, "false_targets": 0, "non_target_rows": 0}
    # A paclitaxel-eluting stent is class "none" in the ground truth and a device with no ingredient here.
    agreed_device = (truth["target_class"] == "none") & ours["device"]
    columns = zip(truth["rows"], truth["ingredients"], ours["ingredients"], agreed_device, strict=True)
    for rows, true_list, found_list, device in columns:
        true_targets = set() if device else set(true_list.split(";")) & target_ingredients
        found = set(found_list) & target_ingredients
        if true_targets:
            result["rows"] += rows
            result["exact"] += rows * (found == true_targets)
            result["wrong"] += rows * bool(found - true_targets)
        else:
            result["non_target_rows"] += rows
            result["false_targets"] += rows * bool(found)
    return result


def _real_extract_coverage(work: Path) -> dict[str, int]:
    import duckdb

    from pv.ingest import ingest

    fixtures = REPO / "tests" / "fixtures" / "faers"
    for source in (
        "2004q1/aers_ascii_2004q1.zip",
        "2017q2/faers_ascii_2017q2.zip",
        "2020q3/heads_10k",
        "2025q4",
    ):
        # The shipped extracts are heads of quarters (some tables left out): partial by design.
        ingest(
            fixtures / source,
            db_path=work / "pv.duckdb",
            lake=work / "lake",
            work_dir=work / "tmp",
            allow_partial=True,
        )
    with duckdb.connect(str(work / "pv.duckdb"), read_only=True) as con:
        rows, mapped = con.sql(
            "select count(*), count(*) filter (where mapping_method <> 'none') from curated.case_drugs"
        ).fetchall()[0]
    return {"rows": rows, "mapped": mapped}


if __name__ == "__main__":
    sys.exit(main())
