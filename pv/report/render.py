"""The report as Markdown and as self-contained HTML, from one document template (``templates/``).

``templates/report.j2`` lays out the report once; it imports ``markdown.j2`` or ``html.j2``, which say how
each block (heading, paragraph, table, figure, methods paragraph) is written in that format, so the two
renderings cannot drift apart. The context both formats render is built here from the facts
(:mod:`pv.report.facts`), the cells (:mod:`pv.report.text`) and the methods (:mod:`pv.report.methods`).
Prefect is not imported: ``markdown_summary`` (here) and ``headline_records`` (facts) return what the flow
hands to its artifacts.
"""

from __future__ import annotations

import base64
import html
import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pv.db import open_published
from pv.errors import UserError
from pv.report.answer import CAVEATS, TABLE_NOTE, answer_bullets, answer_table, answers
from pv.report.facts import report_facts
from pv.report.figures import FOREST_FILE, IC_FILE, forest_plot, ic_over_time_plot, not_computable
from pv.report.methods import methods, prior_sentence
from pv.report.sensitivity import SENSITIVITY_NOTE, sensitivity_table
from pv.report.text import (
    calibration_table,
    change_table,
    changes_lead,
    coverage_table,
    dedup_table,
    headline_table,
    ingest_table,
    missing_sentence,
    signal_table,
)

TEMPLATES = Path(__file__).parent / "templates"


def _markdown_cell(value: Any) -> str:
    """A Markdown table cell: a pipe escaped, a line break folded to a space."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _inline_html(text: str) -> str:
    """Markdown-light to HTML for the run lines: **bold** and `code`, everything else escaped."""
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<strong>{part}</strong>" if index % 2 else part for index, part in enumerate(parts))
    parts = escaped.split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def _is_numeric(value: Any) -> bool:
    """A cell HTML aligns right: digits with thousands separators, a decimal point and a sign."""
    return str(value).replace(",", "").replace(".", "", 1).lstrip("−-").isdigit()


@cache
def _environment() -> Environment:
    """No autoescaping: the HTML macros escape every text with ``html.escape`` (filter ``h``), the
    Markdown macros write text as it is."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=StrictUndefined,
        autoescape=False,
    )
    environment.filters["h"] = lambda value: html.escape(str(value))
    environment.filters["md_cell"] = _markdown_cell
    environment.filters["inline"] = _inline_html
    environment.tests["numeric"] = _is_numeric
    return environment


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


def run_lines(facts: dict[str, Any], quarter: str) -> list[str]:
    """The run summary as sentences (Markdown-light: **bold** and `code`), for both reports and the
    artifact."""
    present = facts["quarters_present"]
    span = f"{present[0]} to {present[-1]}" if present else "none"
    lines = [
        *([f"**{facts['provenance']}**"] if facts.get("provenance") else []),
        f"Report quarter: **{quarter}** (data cumulative through this quarter).",
        f"Quarters in the database: {len(present)} ({span}): {', '.join(present)}.",
        *(
            [f"Load figures below are for the quarters of this run: {', '.join(facts['quarters'])}."]
            if facts["quarters"] != present
            else []
        ),
        f"Rows loaded: {sum(facts['rows_by_table'].values()):,}; lines repaired: {facts['repairs']:,}; "
        f"lines rejected (kept verbatim in raw.rejects): {facts['rejects']:,}"
        + (
            " (" + ", ".join(f"{t} {n:,}" for t, n in facts["rejects_by_table"].items()) + ")."
            if facts["rejects_by_table"]
            else "."
        ),
    ]
    if facts["retained_cases"] is not None:
        lines.append(
            f"Retained cases after de-duplication: {facts['retained_cases']:,}, of which "
            f"{facts['flagged_duplicates']:,} flagged as cross-case duplicates."
        )
    lines.append(
        f"Pairs scored: {facts['pairs_scored']:,} drug–event pairs in {facts['signal_rows']:,} rows "
        f"(levels × variants); signal history: {facts['history_rows']:,} rows."
    )
    lines.append(
        f"Dermatomyositis headline rows: {facts['headline_rows']:,}, of which {len(facts['signals']):,} "
        "meet at least one signal rule."
    )
    if facts.get("prior"):
        lines.append(prior_sentence(facts["prior"]))
    if facts.get("checks"):
        checks = facts["checks"]
        failed = [check for check in checks if check["violations"]]
        quantiles = [
            f"{check['check_name'].split(':')[0]}: {check['rows_checked']:,} rows, {check['detail']}"
            for check in checks
            if "exact quantiles" in check["check_name"] and check["rows_checked"]
        ]
        solved = (
            "EB05/EB95 solve their equation to 1e-10 (" + "; ".join(quantiles) + ")"
            if quantiles
            else "no EB05/EB95 stored to check"
        )
        lines.append(
            f"Integrity checks of the stored statistics: {len(checks)} of {len(checks)} passed ({solved}; no "
            "rule on an infinite or undefined value; every N equals the population counted from the curated "
            "tables; the history's latest quarter equals today's table)."
            if not failed
            else f"Integrity checks FAILED: {', '.join(check['check_name'] for check in failed)}."
        )
    return lines


def _summary_context(facts: dict[str, Any], quarter: str) -> dict[str, Any]:
    """What the run summary and the report share: run lines, load tables, signal rows, changes."""
    changes = facts["new_or_changed"]
    return {
        "run_lines": run_lines(facts, quarter),
        "ingest": ingest_table(facts),
        "dedup": dedup_table(facts),
        "signals": signal_table(facts["signals"]),
        "changes": change_table(changes),
        "changes_lead": changes_lead(changes) if changes else "",
    }


def markdown_summary(summary: dict[str, Any]) -> str:
    """A short Markdown digest of ``summary(...)`` for a Prefect markdown artifact."""
    quarter = summary.get("report_quarter") or "none"
    return _markdown(_render("summary.md.j2", **_summary_context(summary, quarter)))


def _markdown(text: str) -> str:
    """A Markdown document ends with exactly one newline (each block of the template ends with a blank
    line)."""
    return text.rstrip("\n") + "\n"


def _image_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _write_text(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a report."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _save_figure(draw, data: pd.DataFrame, path: Path, **options: Any) -> Path:
    """Draw the PNG and its SVG twin under temporary names, then rename both into place."""
    temporary = path.with_name(f".{path.stem}.tmp.png")
    draw(data, temporary, **options)
    os.replace(temporary.with_suffix(".svg"), path.with_suffix(".svg"))
    os.replace(temporary, path)
    return path


CALIBRATION_NOTE = (
    "How often each rule flags the reviewed controls (vocab.dm_controls: positive controls have a published "
    "link to DM or myositis, negative controls none), in the primary analysis (suspect, all reports, flagged "
    "duplicates left out) of the latest build, over the controls with at least one report. A rule that "
    "flags most positive and few negative controls discriminates; but the controls are few, the "
    "literature is the only truth (a positive control can be under-reported in FAERS, a negative one "
    "confounded by indication, as ondansetron is by paraneoplastic DM), and the shares say nothing about the "
    "target drugs' own bias."
)
COVERAGE_UNKNOWN = (
    "Coverage of the true relative rate by the intervals is not known here: real FAERS has no ground truth. "
    "On generated data pv.calibration.interval_coverage measures it against the generator's planted rates."
)
COVERAGE_NOTE = (
    "Coverage on generated data: the share of planted pairs (primary analysis, PT level, a ≥ 1) whose "
    "interval contains the true quantity, either the planted report-level rate ratio or the statistic's "
    "estimand in the generated population (crude risk ratio for PRR and MH ROR, odds ratio for ROR, "
    "observed/expected for IC and EBGM); below the nominal level where case mix or co-exposure separates "
    "the two, or where the prior shrinks."
)


def calibration_context(calibration: pd.DataFrame, coverage: pd.DataFrame | None) -> dict[str, Any]:
    """The Calibration section: the controls table and, on generated data, the coverage table."""
    return {
        "calibration": calibration_table(calibration.to_dict("records")),
        "calibration_note": CALIBRATION_NOTE,
        "coverage": coverage_table([] if coverage is None else coverage.to_dict("records")),
        "coverage_note": COVERAGE_UNKNOWN if coverage is None else COVERAGE_NOTE,
    }


def write_report(
    db_path: Path, out_dir: Path, quarter: str | None = None, ground_truth: Path | None = None
) -> Path:
    """Write ``out_dir/<quarter>/report.md`` and a self-contained ``report.html`` (figures embedded, no
    network), with the two PNGs next to them; return the HTML path.

    ``quarter`` defaults to the latest quarter in the database; an earlier one reports the cumulative
    statistics as they stood at that quarter. ``ground_truth`` (generated data only: the generator's
    ``ground_truth/`` folder) adds the coverage of the true rates to the Calibration section.
    """
    facts = report_facts(Path(db_path), quarter)
    coverage = None
    if ground_truth is not None:
        from pv.calibration import interval_coverage

        with open_published(Path(db_path)) as con:
            coverage = interval_coverage(con, Path(ground_truth))
    folder = Path(out_dir) / facts.quarter
    folder.mkdir(parents=True, exist_ok=True)
    forest = _save_figure(
        forest_plot,
        facts.headline,
        folder / FOREST_FILE,
        title=f"Dermatomyositis × taxanes and anti-HER2 agents, data through {facts.quarter}: PRR, ROR and "
        "IC across analysis variants",
    )
    ic_plot = _save_figure(ic_over_time_plot, facts.history, folder / IC_FILE)
    headline = facts.headline
    zero_rows = int((headline["a"] == 0).sum()) if not headline.empty else 0
    context = (
        _summary_context(facts.summary, facts.quarter)
        | {
            "quarter": facts.quarter,
            "db": facts.db,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "headline": headline_table(headline.to_dict("records")),
            "forest": {
                "file": FOREST_FILE,
                "alt": "Forest plot of PRR, ROR and IC",
                "html_alt": "Forest plot of PRR, ROR and IC for dermatomyositis",
                "caption": missing_sentence(not_computable(headline), zero_rows),
            },
            "ic_plot": {
                "file": IC_FILE,
                "alt": "IC with IC025–IC975 by quarter",
                "html_alt": "IC with IC025 to IC975 by quarter",
                "caption": "",
            },
            "methods": methods(facts.prior),
            "provenance": facts.summary.get("provenance") or "",
            "answer_lines": answer_bullets(headline),
            "answers": answer_table(answers(headline)),
            "caveats": CAVEATS,
            "table_note": TABLE_NOTE,
            "sensitivity": sensitivity_table(headline),
            "sensitivity_note": SENSITIVITY_NOTE,
        }
        | calibration_context(facts.calibration, coverage)
    )
    _write_text(folder / "report.md", _markdown(_render("report.j2", format="markdown", **context)))
    context["forest"]["data"] = _image_data(forest)
    context["ic_plot"]["data"] = _image_data(ic_plot)
    html_path = folder / "report.html"
    _write_text(html_path, _render("report.j2", format="html", **context))
    return html_path


def run_report_command(db_path: Path, out_dir: Path, quarter: str | None) -> int:
    """``pv report``: write the report and print where it is; database problems become one-line errors."""
    try:
        html_path = write_report(Path(db_path), Path(out_dir), quarter)
    except duckdb.Error as error:
        raise UserError(f"{db_path}: {str(error).splitlines()[0]}") from error
    print(f"report:   {html_path}")
    print(f"markdown: {html_path.with_name('report.md')}")
    print(f"figures:  {html_path.with_name(FOREST_FILE)}, {html_path.with_name(IC_FILE)}")
    return 0
