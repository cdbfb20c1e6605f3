"""Quarterly FAERS run: new quarters in, curated layer and signals rebuilt, report and artifacts out.

    python -m flows.quarterly --source fda                 # quarters FDA has that the lake lacks
    python -m flows.quarterly --source ~/faers --quarters 2024Q1..2024Q4
    python -m flows.quarterly serve --source fda           # the schedule (needs `prefect server start`)

All logic lives in ``pv``; this file only wires it into Prefect. A run shows as its named steps: ``fetch
<quarter>`` and ``ingest <quarter>`` per quarter, one task per layer of the build plan (``raw``,
``staging``, ``curated``, ``counts``, ``history``, ``signals``), ``swap`` and ``report``. Every step is
idempotent: quarters already in the lake are skipped, each quarter is published atomically, and the
database is rebuilt into a half-built copy and swapped in whenever it is behind the lake, so a re-run after
a failure continues where the failed run stopped, down to the failed build step.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from pv import config, download
from pv.errors import UserError
from pv.quarters import Quarter, quarter_range

if TYPE_CHECKING:
    from pv.build import StepRecord

# A few weeks after FDA's usual publication dates (quarters appear about 6-8 weeks after they end).
QUARTERLY_CRON = "0 6 15 2,5,8,11 *"


# Extract - one task per quarter, run in parallel by the task runner


@task(retries=3, retry_delay_seconds=[10, 60, 300], task_run_name="fetch {quarter}")
def fetch_quarter(quarter: str, downloads: str, base_url: str | None) -> str | None:
    """FDA's zip for one quarter, verified against the manifest; None when FDA has not published it yet."""
    wanted = Quarter.parse(quarter)
    try:
        return str(download.download_quarter(wanted, Path(downloads), base_url=base_url).path)
    except UserError as error:
        if wanted not in download.load_manifest() and "404" in str(error):
            get_run_logger().info("%s is not published yet (%s)", quarter, error)
            return None
        raise


@task(task_run_name="ingest {quarter}")
def ingest_one(
    source: str, quarter: str, lake: str, work_dir: str, allow_partial: bool = False, force: bool = False
) -> dict:
    """Stage, check and publish one quarter into the lake (the flow holds the lake's writer lock)."""
    from pv.ingest import ingest_quarter
    from pv.sources import discover

    (found,) = discover(Path(source), [Quarter.parse(quarter)])
    report = ingest_quarter(
        found, Path(lake), Path(work_dir), download.load_manifest(), allow_partial=allow_partial, force=force
    )
    return {
        "quarter": quarter,
        "rows": report.rows,
        "lines_repaired": report.repaired,
        "lines_rejected": report.rejects,
        "deleted_caseids": report.deleted_cases,
        "zip": report.manifest_status,
        "partial": report.partial,
    }


# Transform - the build plan a layer per task into a half-built copy (pv.build.StagedBuild), swapped in at
# the end. The flow holds the database's lock while the tasks (threads or Dask workers) run; a failed run
# re-run resumes at the failed step on the same copy when the lake has not changed.


@task(task_run_name="{layer}")
def build_layer(db: str, lake: str, layer: str, incremental: bool = True) -> list[dict]:
    """Every step of one layer of the plan not run yet; each step's rows per output and seconds."""
    from pv.build import StagedBuild

    records = StagedBuild.open(Path(db), Path(lake), incremental=incremental).run_layer(layer)
    for record in records:
        done = "done by an earlier run" if record.resumed else f"{record.seconds:.2f} s"
        print(f"{record.step}: {record.rows_text()} ({done})")
    return [asdict(record) for record in records]


@task(task_run_name="swap")
def swap_database(db: str, lake: str, incremental: bool = True) -> str:
    """The complete build swapped in for the database with one atomic rename; its steps as an artifact."""
    from pv.build import StagedBuild

    build = StagedBuild.open(Path(db), Path(lake), incremental=incremental)
    create_markdown_artifact(
        key="faers-build-steps",
        markdown=build_steps_markdown(build.records()),
        description="Every build step: layer, rows of each output, seconds",
    )
    return str(build.finish())


def build_steps_markdown(records: list[StepRecord]) -> str:
    """The build log as a Markdown table (one row per step)."""
    lines = ["| step | layer | rows | seconds |", "|---|---|---|---|"]
    lines += [f"| {r.step} | {r.layer} | {r.rows_text()} | {r.seconds:.2f} |" for r in records]
    return "\n".join(lines)


def rebuild(db: str, lake: str) -> str:
    """The database brought up to date with the lake, one task per layer, then swapped in (under its lock):
    the new quarters added to a copy of it (pv.increment), or a full build when that cannot apply. Returns
    (and prints) which, and why."""
    from pv.build import StagedBuild
    from pv.db import clear_dead_builds, database_lock
    from pv.increment import IncrementNotApplicable

    with database_lock(Path(db)):
        clear_dead_builds(Path(db))
        build = StagedBuild.open(Path(db), Path(lake), incremental=True)
        said = build.note or "full build"
        print(said)
        incremental = build.increment is not None
        try:
            for layer in dict.fromkeys(step.layer for step in build.steps):
                build_layer(db, lake, layer, incremental)
        except IncrementNotApplicable as reason:
            build.discard()
            said = f"full build: {reason}"
            print(said)
            incremental = False
            build = StagedBuild.open(Path(db), Path(lake))
            for layer in dict.fromkeys(step.layer for step in build.steps):
                build_layer(db, lake, layer, incremental)
        swap_database(db, lake, incremental)
    return said


# Load - what the run tells its user


@task(task_run_name="report")
def publish_report(db: str, reports: str) -> dict:
    import duckdb

    from pv.report import headline_records, markdown_summary, summary, write_report

    html = write_report(Path(db), Path(reports))
    with duckdb.connect(db, read_only=True) as con:
        facts = summary(con, None)
        records = headline_records(con)
    create_markdown_artifact(
        key="faers-run-summary",
        markdown=markdown_summary(facts),
        description="Quarters, rows, rejects, de-duplication, dermatomyositis signals",
    )
    create_table_artifact(
        key="faers-headline-signals",
        table=records,
        description="Dermatomyositis x taxanes and anti-HER2 agents, every variant",
    )
    return {"report": str(html), "headline_rows": len(records)}


@flow(name="faers-quarterly", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=2))
def quarterly(
    source: str = "fda",
    quarters: str | None = None,
    db: str | None = None,
    lake: str | None = None,
    reports: str | None = None,
    base_url: str | None = None,
    allow_partial: bool = False,
    force: bool = False,
) -> dict:
    """Ingest the quarters the lake lacks (or the ones given), rebuild when the database is behind the
    lake, score and report."""
    from pv.db import lake_lag, refuse_another_lake
    from pv.ingest import check_sources, clear_leftovers, pending_quarters
    from pv.lake import writer_lock

    db = db or str(config.default_db())
    lake_path = Path(lake or config.default_lake())
    reports = reports or str(config.data_dir() / "reports")
    work_dir = str(config.default_work_dir())
    with writer_lock(lake_path):
        clear_leftovers(Path(db), Path(work_dir))
        refuse_another_lake(Path(db), lake_path)  # before the lake changes
        wanted = pending_quarters(
            source, lake_path, quarter_range(quarters) if quarters is not None else None
        )
        print(f"quarters to ingest: {', '.join(map(str, wanted)) or 'none'}")
        if str(source).lower() == "fda":
            zips = [fetch_quarter.submit(str(q), str(config.default_downloads()), base_url) for q in wanted]
            sources = [(q, future.result()) for q, future in zip(wanted, zips, strict=True)]
        else:
            check_sources(source, wanted, lake_path, allow_partial, force)  # refuse before any is loaded
            sources = [(q, source) for q in wanted]
        loads = [
            ingest_one.submit(path, str(q), str(lake_path), work_dir, allow_partial, force)
            for q, path in sources
            if path is not None
        ]
        ingested = [future.result() for future in loads]
        behind = lake_lag(Path(db), lake_path)
        if behind and not ingested:
            print(f"{db} is behind the lake ({'; '.join(behind)}): rebuilding it")
        built = None  # how the database was brought up to date, if it was
        if ingested or behind or not Path(db).exists():
            built = rebuild(db, str(lake_path))
    published = publish_report(db, reports)
    return {"ingested": ingested, **published, "database": db, "build": built}


def flow_parameters(args: argparse.Namespace) -> dict:
    """The flow's parameters, paths absolute (the configured defaults filled in): a deployment stores them,
    and its runs start in another working directory."""

    def absolute(path: str | Path | None, default: Path) -> str:
        return str(Path(path or default).expanduser().resolve())

    source = args.source
    if str(source).lower() != "fda":
        source = absolute(source, Path(source))
    return {
        "source": source,
        "quarters": args.quarters,
        "db": absolute(args.db, config.default_db()),
        "lake": absolute(args.lake, config.default_lake()),
        "reports": absolute(args.reports, config.data_dir() / "reports"),
        "base_url": args.base_url,
        "allow_partial": args.allow_partial,
        "force": args.force,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run (or serve) the quarterly FAERS flow")
    parser.add_argument("command", nargs="?", choices=("run", "serve"), default="run")
    parser.add_argument("--source", default="fda", help="'fda', or a folder of zips / extracted quarters")
    parser.add_argument("--quarters", help="e.g. 2024Q1..2024Q4 (default: every quarter the lake lacks)")
    parser.add_argument("--db")
    parser.add_argument("--lake")
    parser.add_argument("--reports")
    parser.add_argument("--base-url")
    parser.add_argument("--dask", action="store_true", help="run quarter tasks on a local Dask cluster")
    parser.add_argument("--allow-partial", action="store_true", help="load quarters incomplete for their era")
    parser.add_argument(
        "--force", action="store_true", help="replace stored quarters by less complete copies"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.quarters is not None:
            quarter_range(args.quarters)  # a bad or empty --quarters fails before Prefect starts
    except UserError as error:
        print(f"pv: error: {error}", file=sys.stderr)
        return 2
    parameters = flow_parameters(args)
    if args.command == "serve":
        quarterly.serve(name="quarterly", cron=QUARTERLY_CRON, parameters=parameters, tags=["faers"])
        return 0
    runner = quarterly
    if args.dask:
        from prefect_dask import DaskTaskRunner

        runner = quarterly.with_options(
            task_runner=DaskTaskRunner(
                cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True}
            )
        )
    try:
        result = runner(**parameters)
    except UserError as error:
        print(f"pv: error: {error}", file=sys.stderr)
        return 2
    print(f"report:   {result['report']}\ndatabase: {result['database']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
