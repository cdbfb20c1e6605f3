"""``pv`` command line: user mistakes become one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

# scipy's optimisers call OpenBLAS, whose threads only fight DuckDB's for the same cores here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pv import config
from pv.counts import DEFAULT_VARIANT, VARIANT_VALUES
from pv.errors import UserError
from pv.quarters import quarter_range

if TYPE_CHECKING:
    import pandas


def _progress_bar(enabled: bool):
    """A tqdm bar over the bytes of each quarter, or nothing when stderr is not wanted."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(label: str, done: int, total: int) -> None:
        quarter = label.split()[0]
        bar = bars.get(quarter)
        if bar is None:
            bar = bars[quarter] = tqdm(
                total=total, unit="B", unit_scale=True, desc=f"ingest {quarter}", file=sys.stderr, leave=True
            )
        bar.set_postfix_str(label.split()[-1])
        bar.update(done)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return update, close


def _quarters_option(text: str | None):
    """``--quarters``: absent means every quarter; given, it must name at least one (``''`` is an error)."""
    return None if text is None else quarter_range(text)


def _warn_if_stale(db: Path) -> None:
    """One line on stderr when the database is behind the lake it was built from."""
    from pv.db import database_lag

    lag = database_lag(db)
    if lag:
        print(f"pv: warning: {lag}", file=sys.stderr)


def _use_diana(path: Path | None) -> None:
    """``--diana FILE`` is ``PV_DIANA_DICTIONARY=FILE`` for this run (the build step reads the variable)."""
    if path is not None:
        from pv.normalize.drugs import DIANA_ENV_VAR

        if not path.expanduser().is_file():
            raise UserError(f"{path}: DiAna dictionary not found")
        os.environ[DIANA_ENV_VAR] = str(path.expanduser().resolve())


def _cmd_ingest(args: argparse.Namespace) -> int:
    from pv.ingest import ingest

    _use_diana(args.diana)
    quarters = _quarters_option(args.quarters)
    update, close = _progress_bar(not args.quiet)
    try:
        reports = ingest(
            args.source,
            quarters=quarters,
            db_path=args.db,
            lake=args.lake,
            work_dir=config.default_work_dir(),
            downloads=config.default_downloads(),
            base_url=args.base_url,
            progress=update,
            curate=not args.raw_only,
            allow_partial=args.allow_partial,
            force=args.force,
            incremental=not args.full_build,
            say=lambda note: print(note, file=sys.stderr),
        )
    finally:
        close()
    _print_reports(reports)
    print(f"database: {args.db}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    import time

    from pv.build import build_database, describe_plan, find_step
    from pv.lake import lake_quarters, writer_lock

    if args.list:
        print(describe_plan())
        return 0
    _use_diana(args.diana)
    if args.from_step:
        find_step(args.from_step)
    if not lake_quarters(args.lake):
        raise UserError(f"{args.lake}: no ingested quarters; run `pv ingest` first")
    started = time.perf_counter()
    with writer_lock(args.lake):
        build_database(
            args.db,
            args.lake,
            from_step=args.from_step,
            say=lambda note: print(note, file=sys.stderr),
            incremental=args.incremental,
        )
    print(f"database: {args.db} ({time.perf_counter() - started:.1f} s)")
    return 0


def _cmd_unmapped(args: argparse.Namespace) -> int:
    from pv.db import open_published
    from pv.normalize import unmapped_report

    with open_published(args.db) as con:
        tables = {
            name
            for (name,) in con.sql("select schema_name || '.' || table_name from duckdb_tables()").fetchall()
        }
        if "curated.drug_name_map" not in tables:
            raise UserError(f"{args.db}: no curated layer; run `pv build` first")
        unmapped, target_like = unmapped_report(
            con, drug_rows_sql="select drugname, prod_ai, nda_num from staging.stg_drug", limit=args.limit
        )
    with_options = {"index": False, "max_colwidth": 60}
    print(f"Most-reported drug names that map to no ingredient (top {args.limit}):")
    print(unmapped.to_string(**with_options) if len(unmapped) else "  none")
    print(f"\nNames that look like a taxane or anti-HER2 drug but did not map to one (top {args.limit}):")
    print(target_like.to_string(**with_options) if len(target_like) else "  none")
    return 0


TERMINAL_WIDTH = 120
# Short names for the terminal: the legend under the table spells them out.
VARIANT_SHORT: dict[str, dict[str, str]] = {
    "role": {"suspect": "sus", "any": "any"},
    "comparator": {"all": "all", "oncology": "onc", "breast_cancer": "brc", "active": "act", "masked": "msk"},
    "duplicates": {"without": "wo", "with": "with"},
}
RULE_LETTERS: dict[str, str] = {"signal_evans": "E", "signal_ror": "R", "signal_ic": "I", "signal_ebgm": "B"}
TERMINAL_LEGEND = (
    "Legend: role/comparator/duplicates: sus suspect, any every role but DN; all reports, onc cancer, brc "
    "breast-cancer indication, act active comparator, msk masking-corrected; wo without, with flagged "
    "duplicates. ROR (lower): ROR and its lower 95% "
    "limit; MH ROR: Mantel-Haenszel over sex x age band x report year; IC (IC025); rules met: E Evans "
    "(PRR>=2, Yates chi2>=4, a>=3), R ROR025>1 and a>=3, I IC025>0, B EB05>=2, - none; onset d: median "
    "days from therapy start (exact onsets); beta: Weibull shape (converged fits only); dechal+: positive / "
    "known dechallenges; n/c: not computable. Every column: --format csv or parquet."
)


def _number(value: object) -> str:
    """Three significant digits; n/c where a value could not be computed."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/c"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def _with_lower(estimate: object, lower: object) -> str:
    return f"{_number(estimate)} ({_number(lower)})"


def _render_columns(columns: dict[str, list[str]], text_columns: set[str], gap: str = "  ") -> str:
    """Columns of equal length as aligned text: text left-aligned, numbers right-aligned, a header line."""
    widths = {name: max(len(name), *map(len, values)) for name, values in columns.items()}

    def line(cells: dict[str, str]) -> str:
        return gap.join(
            cell.ljust(widths[name]) if name in text_columns else cell.rjust(widths[name])
            for name, cell in cells.items()
        ).rstrip()

    rows = [line({name: name for name in columns})]
    length = len(next(iter(columns.values()), []))
    rows += [line({name: values[index] for name, values in columns.items()}) for index in range(length)]
    return "\n".join(rows)


def _fit_drug_names(columns: dict[str, list[str]], render) -> None:
    """Shorten the drug names (to no fewer than 14 characters) until ``render(columns)`` fits the terminal."""
    width = max(map(len, render(columns).splitlines()))
    if width > TERMINAL_WIDTH:
        longest = max(len(name) for name in columns["drug"])
        keep = max(14, longest - (width - TERMINAL_WIDTH))
        columns["drug"] = [name if len(name) <= keep else name[: keep - 1] + "~" for name in columns["drug"]]


def _lower_limit(value: object) -> str:
    """A lower limit: three significant digits, two below 0.95 (far from the rule's 1; width matters)."""
    if isinstance(value, float) and value < 0.95:
        return f"{value:.2g}"
    return _number(value)


def _sensitivity_tables(frame: pandas.DataFrame) -> list[str]:
    """The side-by-side view, one table per DM group: each analysis's ROR (lower limit) with its
    multiplicity-adjusted flag, ingredients indented under their class; then the primary analysis's time to
    onset and dechallenge for the pairs with reports."""
    import pandas as pd

    from pv.report.sensitivity import ANALYSES, FLAG_MARK, sensitivity

    table = sensitivity(frame)
    blocks = []
    for event, rows in table.groupby("event", sort=False):
        records = rows.to_dict("records")
        columns: dict[str, list[str]] = {
            "drug": [("" if row["drug_level"] == "class" else "  ") + str(row["drug"]) for row in records],
            "a": [f"{row['crude_a']:.0f}" for row in records],
        }
        for analysis in ANALYSES:
            columns[analysis.title] = [
                "-"
                if pd.isna(row[f"{analysis.key}_a"])
                else f"{_number(row[f'{analysis.key}_ror'])} ({_lower_limit(row[f'{analysis.key}_lower'])})"
                + (FLAG_MARK if row[f"{analysis.key}_flag"] is True else " ")
                for row in records
            ]

        def render(chosen: dict[str, list[str]]) -> str:
            return _render_columns(chosen, {"drug"}, gap=" ")

        _fit_drug_names(columns, render)
        blocks.append(f"event: {event}\n{render(columns)}")
    if "onset_median_days" in table:
        reported = table[table["crude_a"] > 0].to_dict("records")
        if reported:
            columns = {
                "drug": [str(row["drug"]) for row in reported],
                "event": [str(row["event"]) for row in reported],
                "a": [f"{row['crude_a']:.0f}" for row in reported],
                "onset d (n)": [
                    "-"
                    if pd.isna(row["onset_median_days"])
                    else f"{row['onset_median_days']:g} ({row['n_onset_median']:.0f})"
                    for row in reported
                ],
                "beta [95% CI]": [
                    "-"
                    if row["weibull_status"] != "converged"
                    else f"{_number(row['weibull_shape'])} [{_number(row['weibull_shape_lower'])}, "
                    f"{_number(row['weibull_shape_upper'])}]"
                    for row in reported
                ],
                "dechal+": [
                    "-"
                    if row["dechal_positive"] + row["dechal_negative"] == 0
                    else f"{row['dechal_positive']:.0f}/{row['dechal_positive'] + row['dechal_negative']:.0f}"
                    for row in reported
                ],
            }
            blocks.append(
                "time to onset and dechallenge (primary analysis)\n"
                + _render_columns(columns, {"drug", "event"})
            )
    return blocks


def _terminal_table(frame: pandas.DataFrame) -> tuple[str, list[str]]:
    """The headline rows as a table at most TERMINAL_WIDTH wide, and the legend lines under it.

    Columns that hold one value for every row (the event, a variant part) move into a line above; drug
    names are shortened, then optional columns dropped, until the table fits; the legend says what went.
    """
    import pandas as pd

    records = frame.to_dict("records")
    constant, columns = [], {}
    columns["drug"] = [
        str(row["drug"]) + (" (class)" if row["drug_level"] == "class" else "") for row in records
    ]
    if frame["event"].nunique() == 1:
        constant.append(f"event: {records[0]['event']}")
    else:
        columns["event"] = [row["event"] for row in records]
    parts = [key for key in VARIANT_SHORT if frame[key].nunique() > 1]
    for key in VARIANT_SHORT:
        if key not in parts:
            constant.append(f"{key}: {records[0][key]}")
    if parts:
        columns["/".join(part[:4] for part in parts)] = [
            "/".join(VARIANT_SHORT[part].get(row[part], row[part]) for part in parts) for row in records
        ]
    columns["a"] = [f"{row['a']:.0f}" for row in records]
    columns["ROR (lower)"] = [_with_lower(row["ror"], row["ror_lower"]) for row in records]
    if "ror_mh" in frame:
        columns["MH ROR (lower)"] = [_with_lower(row["ror_mh"], row["ror_mh_lower"]) for row in records]
    optional = {}
    columns["IC (IC025)"] = [_with_lower(row["ic"], row["ic025"]) for row in records]
    if frame["eb05"].notna().any():
        columns["EB05"] = [_number(row["eb05"]) for row in records]
    columns["rules"] = [
        "".join(letter for rule, letter in RULE_LETTERS.items() if row.get(rule) is True) or "-"
        for row in records
    ]
    if "n_onset_median" in frame:
        optional["onset d"] = [
            "-"
            if pd.isna(row.get("n_cases")) or pd.isna(row["onset_median_days"])
            else f"{row['onset_median_days']:g} ({row['n_onset_median']:.0f})"
            for row in records
        ]
        optional["beta"] = [
            _number(row["weibull_shape"]) if row.get("weibull_status") == "converged" else "-"
            for row in records
        ]
        optional["dechal+"] = [
            "-"
            if pd.isna(row.get("dechal_positive")) or row["dechal_positive"] + row["dechal_negative"] == 0
            else f"{row['dechal_positive']:.0f}/{row['dechal_positive'] + row['dechal_negative']:.0f}"
            for row in records
        ]
    columns |= optional

    text_columns = {"drug", "event", "/".join(part[:4] for part in parts)}

    def render(chosen: dict[str, list[str]]) -> str:
        return _render_columns(chosen, text_columns)

    dropped = []
    _fit_drug_names(columns, render)
    for name in ("beta", "dechal+", "onset d", "MH ROR (lower)"):
        if max(map(len, render(columns).splitlines())) <= TERMINAL_WIDTH:
            break
        if name in columns:
            del columns[name]
            dropped.append(name)
    legend = [" ".join(constant)] if constant else []
    legend.append(TERMINAL_LEGEND)
    if dropped:
        legend.append(f"Not shown at this width: {', '.join(dropped)}.")
    return render(columns), legend


def _cmd_signals(args: argparse.Namespace) -> int:

    from pv.counts import PAIR_COLUMNS, VARIANT_COLUMNS
    from pv.db import open_published, provenance_line
    from pv.report.facts import calibration_frame

    with open_published(args.db) as con:
        _warn_if_stale(args.db)
        if not con.sql("select count(*) from duckdb_views() where view_name = 'headline'").fetchall()[0][0]:
            raise UserError(f"{args.db}: no signals table; run `pv build` first")
        drugs, events = _signal_selection(con, args.drug, args.event)
        # The headline view, or the same drugs/events with the ones asked for (as the normaliser read them).
        conditions, params = [], []
        if drugs or events:
            relation = "marts.signals"
            for column, chosen in (("drug", drugs), ("event", events)):
                if chosen:
                    conditions.append(f"{column} in ({', '.join('?' * len(chosen))})")
                    params += chosen
                else:
                    conditions.append(
                        f"({column}_level, {column}) in (select level, name from marts.headline_targets "
                        f"where kind = '{column}')"
                    )
        else:
            relation = "marts.headline"
        for column in VARIANT_COLUMNS:
            value = getattr(args, column)
            if value:
                conditions.append(f"{column} = ?")
                params.append(value)
        where = f" where {' and '.join(conditions)}" if conditions else ""
        # Time to onset and challenges beside each headline row (a database built before them has none).
        onset_tables = "select count(*) from duckdb_tables() where schema_name = 'marts' and table_name = ?"
        if con.execute(onset_tables, ["headline_onset"]).fetchall()[0][0]:
            keys = ", ".join(PAIR_COLUMNS + VARIANT_COLUMNS)
            relation += f" left join marts.headline_onset using ({keys})"
        frame = con.execute(
            f"select * from {relation}{where} "
            "order by event, drug_level desc, drug, role desc, comparator, duplicates desc",
            params,
        ).df()
        prior = con.sql("select status, reason from marts.gps_priors").fetchall()
        provenance = provenance_line(con)
        calibration = calibration_frame(con)
    if provenance:
        if args.format == "table":
            print(textwrap.fill(provenance, TERMINAL_WIDTH))
        else:
            print(provenance, file=sys.stderr)
    if args.format == "csv":
        frame.to_csv(args.out or sys.stdout, index=False)
    elif args.format == "parquet":
        if not args.out:
            raise UserError("--format parquet needs --out FILE")
        frame.to_parquet(args.out, index=False)
    else:
        if frame.empty:
            print(
                "no rows for that selection: no case in these data reports these drugs with these events "
                "(a = 0 rows are kept only for the headline drugs x dm_narrow / dm_broad)"
            )
            return 0
        for status, reason in prior:
            if status != "ok":
                note = f"EBGM, EB05, EB95 not reported: {status.replace('_', ' ')} ({reason})"
                print(textwrap.fill(note, TERMINAL_WIDTH))
        if args.by_variant or args.comparator:
            table, legend = _terminal_table(frame)
            if legend[0] != TERMINAL_LEGEND:
                print(legend.pop(0))
            print(table)
            print(textwrap.fill(" ".join(legend), TERMINAL_WIDTH))
        else:
            _print_sensitivity(frame, args.role, args.duplicates)
            _print_calibration(calibration)
    if args.out:
        print(f"{len(frame):,} rows written to {args.out}", file=sys.stderr)
    return 0


def _print_sensitivity(frame: pandas.DataFrame, role: str | None, duplicates: str | None) -> None:
    from pv.report.sensitivity import NOTE

    role, duplicates = role or DEFAULT_VARIANT["role"], duplicates or DEFAULT_VARIANT["duplicates"]
    chosen = frame[(frame["role"] == role) & (frame["duplicates"] == duplicates)]
    print(f"role: {role}  duplicates: {duplicates}  (every variant: --by-variant)")
    for block in _sensitivity_tables(chosen):
        print(block)
    legend = NOTE
    if "onset_median_days" in frame:
        legend += (
            " onset d: median days from therapy start over n exact onsets; beta: Weibull shape (converged "
            "fits only; < 1: onsets cluster early, as drug-induced reactions do); dechal+: positive / known "
            "dechallenges."
        )
    print(textwrap.fill(legend + " Every column: --format csv or parquet.", TERMINAL_WIDTH))


def _print_calibration(calibration: pandas.DataFrame) -> None:
    """The reviewed controls as the primary analysis's rules treat them (marts.calibration)."""
    if calibration.empty:
        return
    from pv.report.text import calibration_table

    table = calibration_table(calibration.to_dict("records"))
    columns = {name: [str(row[index]) for row in table.rows] for index, name in enumerate(table.header)}
    print("calibration: the reviewed DM controls (pv/data/vocab/dm_controls.csv), primary analysis")
    print(_render_columns(columns, {"rule", "event"}))
    print(
        textwrap.fill(
            "x/n: controls flagged of those with a report (share; controls without one). A rule that flags "
            "few positive controls misses real associations; one that flags negative controls raises false "
            "alarms (in cancer populations: confounding by indication).",
            TERMINAL_WIDTH,
        )
    )


def _signal_selection(
    con: object, drugs: list[str] | None, events: list[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """``--drug`` and ``--event`` read through the normaliser, as ``pv cases`` reads them; how each name was
    read is said on stderr, and a name that maps to nothing is an error with the closest known names."""
    from pv.cases import resolve_drug, resolve_event

    chosen_drugs = None
    if drugs:
        chosen_drugs = []
        for name in drugs:
            drug = resolve_drug(con, name)
            chosen = [drug.drug_class] if drug.kind == "class" else list(drug.ingredients)
            chosen_drugs += chosen
            if chosen != [name.strip()]:
                print(f"drug {name!r} read as {drug.label}", file=sys.stderr)
    chosen_events = None
    if events:
        chosen_events = []
        for name in events:
            event = resolve_event(con, name)
            chosen_events.append(event.group if event.kind == "group" else event.pt)
            if chosen_events[-1] != name.strip():
                print(f"event {name!r} read as {event.label}", file=sys.stderr)
    return chosen_drugs, chosen_events


def _cmd_cases(args: argparse.Namespace) -> int:
    from pv.cases import run_cases_command

    if not args.db.exists():
        raise UserError(f"{args.db}: no database; run `pv ingest` first")
    _warn_if_stale(args.db)
    return run_cases_command(
        args.db,
        args.drug,
        args.event,
        args.role,
        args.duplicates == "with",
        args.comparator,
        args.format,
        sys.stdout,
    )


def _cmd_case(args: argparse.Namespace) -> int:
    from pv.cases import case_in_full, case_in_full_text
    from pv.db import open_published, provenance_line

    with open_published(args.db) as con:
        _warn_if_stale(args.db)
        sections = case_in_full(con, args.caseid)
        provenance = provenance_line(con)
    if provenance:
        print(textwrap.fill(provenance, TERMINAL_WIDTH, break_on_hyphens=False))
    print(case_in_full_text(sections), end="")
    return 0


def _cmd_explore(args: argparse.Namespace) -> int:
    from pv.explore import serve

    _warn_if_stale(args.db)
    return serve(args.db, host=args.host, port=args.port)


def _cmd_run(args: argparse.Namespace) -> int:
    """The quarterly Prefect flow, run in this process (an interrupt stops it and leaves no child behind);
    Prefect is imported here only, so that every other command starts without it."""
    from flows.quarterly import main as flow_main

    argv = [args.command_name, "--source", str(args.source)]
    for option in ("quarters", "db", "lake", "reports", "base_url"):
        value = getattr(args, option)
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    for flag in ("dask", "allow_partial", "force"):
        if getattr(args, flag):
            argv.append(f"--{flag.replace('_', '-')}")
    return flow_main(argv)


def _cmd_report(args: argparse.Namespace) -> int:
    from pv.db import database_lag
    from pv.report import run_report_command

    lag = database_lag(args.db) if args.db.exists() else None
    if lag and not args.allow_stale:
        raise UserError(f"{lag} (or pass --allow-stale to report from it anyway)")
    if lag:
        print(f"pv: warning: {lag}", file=sys.stderr)
    return run_report_command(args.db, args.out, args.quarter)


def _cmd_synth(args: argparse.Namespace) -> int:
    from pv.synth import generate

    summary = generate(
        Path(args.out),
        quarter_range(args.quarters),
        scale=args.scale,
        seed=args.seed,
        progress=None if args.quiet else lambda message: print(message, file=sys.stderr),
        size_by_fda_zip=args.size_by_fda_zip,
    )
    for path in summary.zips:
        print(path)
    return 0


def _print_reports(reports) -> None:
    from pv.sources import part_label

    for report in reports:
        gaps = [part_label(part) for part in report.missing_parts]
        gaps += [f"{part_label(part)} header only" for part in report.empty_parts]
        missing = f", partial extract: no {', '.join(gaps)}" if gaps else ""
        print(
            f"{report.quarter}: {report.rows:,} rows loaded, {report.repaired} lines repaired, "
            f"{report.rejects} rejected, {report.deleted_cases:,} deleted caseids, "
            f"zip {report.manifest_status}{missing} ({report.seconds:.1f} s)"
        )


def _print_answer(db: Path) -> None:
    """The answer first: where the data come from, one sentence per flagged target pair, the caveats."""
    from pv.db import open_published, provenance_line
    from pv.report import answer_text, headline_frame

    with open_published(db) as con:
        provenance = provenance_line(con)
        text = answer_text(headline_frame(con))
    print("\nThe answer: dermatomyositis with taxanes and anti-HER2 agents")
    for paragraph in ([provenance] if provenance else []) + text.splitlines():
        indent = "  " if paragraph.startswith("- ") else ""
        wrap = {"subsequent_indent": indent, "break_on_hyphens": False, "break_long_words": False}
        print(textwrap.fill(paragraph, TERMINAL_WIDTH, **wrap))


def _print_headline(db: Path) -> None:
    """What `pv signals` prints by default: the analyses side by side, onset, dechallenge, calibration."""
    print("\nHeadline: dermatomyositis x taxanes and anti-HER2 agents, every analysis side by side")
    _cmd_signals(
        argparse.Namespace(
            db=db,
            drug=None,
            event=None,
            role=None,
            comparator=None,
            duplicates=None,
            format="table",
            out=None,
            by_variant=False,
        )
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    """Generate the demo quarters, run the quarterly flow on them and the shipped extracts."""
    from pv.demo import prepare_demo_source

    data_dir = config.data_dir()
    source = prepare_demo_source(data_dir, say=lambda message: print(message, file=sys.stderr))
    flow_args = argparse.Namespace(
        command_name="run",
        source=str(source.resolve()),
        quarters=None,
        db=None,
        lake=None,
        reports=None,
        base_url=None,
        dask=False,
        # The shipped 2020Q3 extract has no INDI head and no deleted-case list (PROVENANCE.md).
        allow_partial=True,
        force=False,
    )
    code = _cmd_run(flow_args)
    if code:
        return code
    _print_answer(config.default_db())
    _print_headline(config.default_db())
    reports = sorted((data_dir / "reports").glob("*/report.html"), key=lambda path: path.stat().st_mtime)
    print(f"\nreport:   {reports[-1].resolve() if reports else data_dir / 'reports'}")
    print(f"database: {config.default_db().resolve()}  (read-only: duckdb.connect(path, read_only=True))")
    print("notebook: .venv/bin/marimo edit notebooks/dermatomyositis.py")
    print(
        "next:     .venv/bin/pv signals --drug Taxol --event dm_broad   (any drug name or PT; the mapping "
        "is shown)\n"
        "          .venv/bin/pv cases --drug Taxol --event dm_broad     (the case series: onset, dechallenge)"
    )
    return 0


def _completeness_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="load a quarter lacking tables of its era, its deleted-case list, or with a header-only table",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a stored quarter by a copy lacking a table or deleted-case list the stored copy has",
    )


DB_HELP = "the analyst database (default: data/pv.duckdb, or PV_DATA_DIR/pv.duckdb)"
LAKE_HELP = "the Parquet lake (default: data/lake, or PV_DATA_DIR/lake)"
DIANA_HELP = (
    "a DiAna dictionary (drugnames_standardized.csv, CC BY 4.0) for drug names without prod_ai; same as "
    "PV_DIANA_DICTIONARY (default: that variable, else not used)"
)
QUARTERS_HELP = "a quarter or a range, e.g. 2024Q1 or 2023Q1..2024Q4"
QUIET_HELP = "print only errors"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pv",
        description="FAERS pharmacovigilance signal-detection pipeline",
        epilog="New here? `pv demo` builds a synthetic example end to end and prints the answer; then "
        "`pv signals`, `pv cases`, `pv explore`. `pv COMMAND --help` describes each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="load FAERS/AERS quarters into the lake and database")
    ingest.add_argument("source", help="'fda' to download, a folder of zips/extracted files, or one zip")
    ingest.add_argument("--quarters", help="e.g. 2023Q1..2024Q2, or 2023Q1,2023Q3")
    ingest.add_argument("--db", type=Path, default=config.default_db(), help=DB_HELP)
    ingest.add_argument("--lake", type=Path, default=config.default_lake(), help=LAKE_HELP)
    ingest.add_argument("--base-url", help="FDA download base URL (default FDA's Exports folder)")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--raw-only", action="store_true", help="skip the curated layer (build it later)")
    ingest.add_argument("--diana", type=Path, metavar="FILE", help=DIANA_HELP)
    ingest.add_argument(
        "--full-build",
        action="store_true",
        help="rebuild the database in full instead of adding the new quarters to it",
    )
    _completeness_options(ingest)
    ingest.set_defaults(run=_cmd_ingest)

    build = commands.add_parser(
        "build", help="rebuild the database from the lake by the build plan (--list prints every step)"
    )
    build.add_argument("--db", type=Path, default=config.default_db(), help=DB_HELP)
    build.add_argument("--lake", type=Path, default=config.default_lake(), help=LAKE_HELP)
    build.add_argument("--list", action="store_true", help="print the build plan (steps, outputs, grain)")
    build.add_argument(
        "--from",
        dest="from_step",
        metavar="STEP",
        help="re-run the plan from STEP on a copy of the database, then swap it in",
    )
    build.add_argument("--diana", type=Path, metavar="FILE", help=DIANA_HELP)
    build.add_argument(
        "--incremental",
        action="store_true",
        help="add the quarters ingested since the last build to a copy of the database (full build if it "
        "cannot apply, saying why)",
    )
    build.set_defaults(run=_cmd_build)

    demo = commands.add_parser(
        "demo", help="generate demo quarters and ingest them with the shipped real extracts"
    )
    demo.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    demo.set_defaults(run=_cmd_demo)

    unmapped = commands.add_parser("unmapped", help="drug names that map to nothing, to grow the dictionary")
    unmapped.add_argument("--db", type=Path, default=config.default_db(), help=DB_HELP)
    unmapped.add_argument("--limit", type=int, default=30, help="how many names to list (default 30)")
    unmapped.set_defaults(run=_cmd_unmapped)

    signals = commands.add_parser(
        "signals", help="disproportionality table (default: DM x taxanes/anti-HER2)"
    )
    signals.add_argument("--db", type=Path, default=config.default_db(), help=DB_HELP)
    signals.add_argument(
        "--drug",
        action="append",
        help="ingredient, class or any drug name, read by the normaliser (repeatable; default: targets)",
    )
    signals.add_argument(
        "--event", action="append", help="PT or event group (repeatable; default: dm_narrow, dm_broad)"
    )
    for column, values in VARIANT_VALUES.items():
        signals.add_argument(f"--{column}", choices=values, help=f"only this {column} (default: every one)")
    signals.add_argument(
        "--format",
        choices=("table", "csv", "parquet"),
        default="table",
        help="table (default, for a terminal), or every column as csv / parquet",
    )
    signals.add_argument("--out", help="file to write (csv or parquet; default: standard output for csv)")
    signals.add_argument(
        "--by-variant",
        action="store_true",
        help="one table row per variant (default: the analyses side by side, one row per drug and event)",
    )
    signals.set_defaults(run=_cmd_signals)

    cases = commands.add_parser("cases", help="case series for a drug-event pair, with time to onset")
    cases.add_argument("--db", type=Path, default=config.default_db(), help=DB_HELP)
    cases.add_argument("--drug", required=True, help="ingredient, class or drug name")
    cases.add_argument("--event", required=True, help="event group or PT")
    cases.add_argument(
        "--role",
        "--roles",
        default="suspect",
        help="suspect (PS, SS; default), any (every role but DN), or role codes such as PS,SS,C",
    )
    cases.add_argument(
        "--duplicates",
        choices=VARIANT_VALUES["duplicates"],
        default=DEFAULT_VARIANT["duplicates"],
        help="leave cases flagged as cross-case duplicates out (without, default) or keep them (with)",
    )
    cases.add_argument(
        "--with-duplicates", dest="duplicates", action="store_const", const="with", help=argparse.SUPPRESS
    )
    cases.add_argument(
        "--comparator",
        choices=VARIANT_VALUES["comparator"],
        default=DEFAULT_VARIANT["comparator"],
        help="the population: all reports, or those with a cancer / breast-cancer indication",
    )
    cases.add_argument("--format", choices=("table", "csv"), default="table", help="output format")
    cases.set_defaults(run=_cmd_cases)

    case = commands.add_parser("case", help="one case in full, in the order a safety reviewer reads it")
    case.add_argument("caseid", type=int, help="FDA case number (as `pv cases` lists it)")
    case.add_argument("--db", type=Path, default=config.default_db(), help="DuckDB file (read-only)")
    case.set_defaults(run=_cmd_case)

    explore = commands.add_parser(
        "explore", help="the interactive explorer in the browser (a local marimo app, database read-only)"
    )
    explore.add_argument("--db", type=Path, default=config.default_db(), help="DuckDB file (read-only)")
    explore.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    explore.add_argument("--port", type=int, default=2718, help="port (default 2718)")
    explore.set_defaults(run=_cmd_explore)

    run = commands.add_parser("run", help="the quarterly Prefect flow: ingest what is new, rebuild, report")
    run.add_argument(
        "command_name",
        nargs="?",
        choices=("run", "serve"),
        default="run",
        help="run once (default) or serve the quarterly schedule",
    )
    run.add_argument("--source", default="fda", help="'fda' or a folder of zips / extracted quarters")
    run.add_argument("--quarters", help=QUARTERS_HELP + " (default: every quarter the lake lacks)")
    run.add_argument("--db", type=Path, help=DB_HELP)
    run.add_argument("--lake", type=Path, help=LAKE_HELP)
    run.add_argument("--reports", type=Path, help="folder for the reports (default: data/reports)")
    run.add_argument("--base-url", help="where FDA's zips are served (default: FDA's download site)")
    run.add_argument("--dask", action="store_true", help="quarter tasks on a local Dask cluster")
    _completeness_options(run)
    run.set_defaults(run=_cmd_run)

    report = commands.add_parser("report", help="write the HTML/Markdown report with the plots")
    report.add_argument("--db", type=Path, default=config.default_db(), help=DB_HELP)
    report.add_argument(
        "--out",
        type=Path,
        default=config.data_dir() / "reports",
        help="folder for the reports (default: data/reports)",
    )
    report.add_argument("--quarter", help="report as of this quarter (default: the latest)")
    report.add_argument(
        "--allow-stale", action="store_true", help="report even when the database is behind the lake"
    )
    report.set_defaults(run=_cmd_report)

    synth = commands.add_parser("synth", help="write synthetic quarters in FDA's zip format")
    synth.add_argument("--out", required=True, help="folder for the zips and the ground truth")
    synth.add_argument("--quarters", required=True, help=QUARTERS_HELP)
    synth.add_argument("--scale", type=float, default=0.01, help="1.0 = real quarter size (default 0.01)")
    synth.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same bytes")
    synth.add_argument(
        "--size-by-fda-zip",
        action="store_true",
        help="size each quarter like FDA's zip for it: SCALE x its zip's bytes / 2025Q4 zip's bytes "
        "(pv/data/faers_zip_manifest.csv; legacy AERS quarters come out several times smaller)",
    )
    synth.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    synth.set_defaults(run=_cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        print(f"pv: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "pv: interrupted; nothing half-written was published (a build resumes where it stopped)",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:
        # the reader went away (`pv signals | head`): nothing more to say, and Python must not say it at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
