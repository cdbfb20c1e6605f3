"""The quarterly report: files written and self-contained, tables that match the database, figures that
decode at their designed size, the run summary equal to SQL counts, flag changes between quarters on a
crafted history, JSON-safe artifact records, and one-line errors."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from contextlib import redirect_stdout
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pv.errors import UserError
from pv.report import (
    DPI,
    FOREST_FILE,
    FOREST_WIDTH_IN,
    IC_FIGSIZE_IN,
    IC_FILE,
    forest_plot,
    headline_frame,
    headline_records,
    markdown_summary,
    new_or_changed,
    not_computable,
    prior_sentence,
    run_report_command,
    summary,
    write_report,
)
from pv.report.text import RULE_TITLES, interval
from pv.signals import RULES
from pv.sqlfiles import render

VARIANT = ("role", "comparator", "duplicates")


@pytest.fixture(scope="module")
def db(generated) -> Path:
    return generated / "data/pv.duckdb"


@pytest.fixture(scope="module")
def latest(db) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql("select max(quarter) from raw.ingest_log").fetchall()[0][0]


@pytest.fixture(scope="module")
def report(db, tmp_path_factory) -> tuple[Path, str]:
    """The report written once through the command entry point, and what it printed."""
    out = tmp_path_factory.mktemp("reports")
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert run_report_command(db, out, None) == 0
    return out, printed.getvalue()


def _table_after(markdown: str, heading: str) -> list[list[str]]:
    """Body rows of the first Markdown table after ``heading``."""
    lines = markdown[markdown.index(heading) :].splitlines()[1:]
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_report_files_are_written_for_the_latest_quarter(report, latest):
    out, printed = report
    folder = out / latest
    for name in ("report.md", "report.html", FOREST_FILE, IC_FILE):
        assert (folder / name).stat().st_size > 0, name
    assert f"report:   {folder / 'report.html'}" in printed
    assert not list(folder.glob(".*")), "temporary files left behind"


def test_figures_are_also_svg_with_text_kept_as_text(report, latest, db):
    """Each PNG has an SVG twin whose labels are text; the forest plot writes a (primary analysis) on every
    row with reports and the IC plot spans calendar years."""
    folder = report[0] / latest
    forest = (folder / FOREST_FILE).with_suffix(".svg").read_text(encoding="utf-8")
    ic_plot = (folder / IC_FILE).with_suffix(".svg").read_text(encoding="utf-8")
    assert forest.lstrip().startswith("<?xml") and "<svg" in forest and "<svg" in ic_plot
    with duckdb.connect(str(db), read_only=True) as con:
        counts = con.sql(
            "select distinct a from marts.headline where role = 'suspect' and comparator = 'all' "
            "and duplicates = 'without' and a > 0"
        ).fetchall()
        first, last = con.sql("select min(quarter), max(quarter) from marts.headline_history").fetchall()[0]
    assert counts and all(f"a = {a:.0f}" in forest for (a,) in counts)
    ticks = [int(year) for year in re.findall(r">(\d{4})</text>", ic_plot)]
    assert min(ticks) <= int(first[:4]) and max(ticks) >= int(last[:4])  # calendar years, first to last


def test_html_embeds_exactly_the_two_pngs_and_nothing_remote(report, latest):
    folder = report[0] / latest
    page = (folder / "report.html").read_text(encoding="utf-8")
    payloads = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(payloads) == 2 == page.count("data:image/png;base64,")
    assert [base64.b64decode(p) for p in payloads] == [
        (folder / FOREST_FILE).read_bytes(),
        (folder / IC_FILE).read_bytes(),
    ]
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 may spell "http" by chance
    assert "http" not in text.lower()
    assert "<script" not in page and "<link" not in page


def test_markdown_sections_and_relative_figures(report, latest):
    markdown = (report[0] / latest / "report.md").read_text(encoding="utf-8")
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == [
        "## The answer",
        "## Headline signals: dermatomyositis × taxanes and anti-HER2 agents",
        "## Forest plot",
        "## IC over time",
        f"## Dermatomyositis signals new or changed in {latest}",
        "## Calibration",
        "## Methods",
        "## Appendix: the run",
    ]
    assert f"]({FOREST_FILE})" in markdown and f"]({IC_FILE})" in markdown
    for word in ("Report-level", "without", "GPS (gamma-Poisson shrinkage) prior", "MedDRA", "Evans"):
        assert word in markdown


def _markdown_blocks(markdown: str) -> tuple[list, list, list]:
    """Headings (level, text), tables (rows of cells) and methods paragraphs of the Markdown report."""
    headings = [
        (len(line) - len(line.lstrip("#")), line.lstrip("#").strip())
        for line in markdown.splitlines()
        if line.startswith("#")
    ]
    tables, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([cell.strip().strip("*") for cell in line.strip("|").split(" | ")])
        elif current:
            tables.append(current)
            current = []
    methods = re.findall(r"^\*\*(.+?)\.\*\* (.+)$", markdown[markdown.index("## Methods") :], re.M)
    return headings, tables, methods


def _html_blocks(page: str) -> tuple[list, list, list]:
    headings = [(int(level), html.unescape(text)) for level, text in re.findall(r"<h(\d)>(.*?)</h\1>", page)]
    tables = [
        [
            [html.unescape(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)
        ]
        for table in re.findall(r"<table>(.*?)</table>", page)
    ]
    methods = [
        (html.unescape(heading), html.unescape(text))
        for heading, text in re.findall(r"<p><strong>(.+?)\.</strong> (.+?)</p>", page)
    ]
    return headings, tables, methods


def test_markdown_and_html_render_the_same_document(report, latest):
    """One template renders both formats: the same headings, the same tables cell for cell (the HTML marks
    signal and total rows with a class, Markdown puts the total in bold) and the same methods."""
    folder = report[0] / latest
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    page = (folder / "report.html").read_text(encoding="utf-8")
    md_headings, md_tables, md_methods = _markdown_blocks(markdown)
    html_headings, html_tables, html_methods = _html_blocks(page)
    assert md_headings == html_headings and len(md_headings) == 14
    assert md_tables == html_tables and len(md_tables) >= 3
    assert md_methods == html_methods
    assert [heading for heading, _ in md_methods][:3] == ["Design", "Data", "Counting"]
    assert md_methods[-1][0] == "Limitations"
    signals = _table_after(markdown, "### Rows meeting at least one rule")
    answered = [row for row in md_tables[0] if row[-1].startswith("signal")]
    survived = _table_after(markdown, "### Does a flag survive?")
    marked = [row for row in survived if any(cell.endswith(" *") for cell in row)]
    assert page.count('<tr class="signal">') == len(signals) + len(answered) + len(marked)


def test_report_and_run_summary_state_prior_convergence_in_words(report, latest, db):
    """On this small population the GPS fit has no interior maximum: said in words, EBGM not shown."""
    markdown = (report[0] / latest / "report.md").read_text(encoding="utf-8")
    with duckdb.connect(str(db), read_only=True) as con:
        digest = markdown_summary(summary(con))
    for text in (markdown, digest):
        assert "did NOT converge (no interior maximum" in text
        assert "EBGM, EB05 and EB95 are therefore not reported" in text
        # 22, the 6 of the stratified columns and the MH FDR recomputation (tests/test_strata.py), and the 3
        # of the active and masked variants
        assert "Integrity checks of the stored statistics: 33 of 33 passed" in text
        assert "SYNTHETIC (generated by pv synth, not FDA data" in text  # provenance, in the run summary
    assert "and converged" not in markdown
    rows = _table_after(markdown, "### All headline rows")
    assert {row[10] for row in rows} == {"n/c [n/c, n/c]"}
    assert any(row[6] == "0" for row in rows)  # a = 0 rows are shown


def test_prior_sentence_of_a_converged_prior():
    prior = {
        "status": "ok",
        "n_pairs": 90983,
        "role": "suspect",
        "comparator": "all",
        "duplicates": "without",
        "alpha1": 201.75,
        "beta1": 192.43,
        "alpha2": 0.0869,
        "beta2": 0.170,
        "p": 0.8965,
        "n_agree": 17,
        "n_starts": 30,
        "log_likelihood_gap": 3483.19,
        "runner_up_alpha1": 7.0957,
        "runner_up_beta1": 0.93867,
        "runner_up_alpha2": 15.997,
        "runner_up_beta2": 15.914,
        "runner_up_p": 0.020788,
    }
    sentence = prior_sentence(prior)
    assert sentence.startswith(
        "GPS prior: fitted by maximum likelihood on the 90,983 observed ingredient × PT"
    )
    assert "converged (α1 202, β1 192, α2 0.0869, β2 0.17, P 0.896; 17 of 30 starts agree" in sentence
    assert (
        "the runner-up optimum (α1 7.1, β1 0.939, α2 16, β2 15.9, P 0.0208) has a −log-likelihood 3,483"
        in sentence
    )


def test_headline_table_has_one_row_per_headline_row(report, latest, db):
    markdown = (report[0] / latest / "report.md").read_text(encoding="utf-8")
    rows = _table_after(markdown, "### All headline rows")
    with duckdb.connect(str(db), read_only=True) as con:
        expected = con.execute(
            "select drug, drug_level, event, role, comparator, duplicates, a, "
            "signal_evans or signal_ror or signal_ic or signal_ebgm from marts.headline"
        ).fetchall()
    assert len(rows) == len(expected) > 0
    assert sorted(tuple(row[:7]) for row in rows) == sorted(
        (drug, level, event, role, comparator, duplicates, f"{a:.0f}")
        for drug, level, event, role, comparator, duplicates, a, _ in expected
    )
    flagged = _table_after(markdown, "### Rows meeting at least one rule")
    assert len(flagged) == sum(1 for *_, any_rule in expected if any_rule)
    assert all(row[11] != "—" for row in flagged)


def test_pngs_decode_at_their_designed_size(report, latest):
    folder = report[0] / latest
    with Image.open(folder / IC_FILE) as image:
        assert image.size == (round(IC_FIGSIZE_IN[0] * DPI), round(IC_FIGSIZE_IN[1] * DPI))
    with Image.open(folder / FOREST_FILE) as image:
        width, height = image.size
        image.load()
    assert width == round(FOREST_WIDTH_IN * DPI)
    # Two event panels of one row per drug: taller than wide, but not absurdly so.
    assert 1.0 < height / width < 3.0


def test_summary_counts_equal_sql(db):
    with duckdb.connect(str(db), read_only=True) as con:
        facts = summary(con, None)
        rows = dict(con.sql("select table_name, sum(rows) from raw.ingest_log group by all").fetchall())
        rejects = con.sql("select count(*) from raw.rejects").fetchall()[0][0]
        log_rejects, repairs = con.sql(
            "select sum(lines_rejected), sum(lines_repaired) from raw.ingest_log"
        ).fetchall()[0]
        retained, duplicates = con.sql(
            "select count(*), count(*) filter (where is_duplicate) from curated.cases"
        ).fetchall()[0]
        dedup = dict(con.sql("select quarter, retained_cases from curated.dedup_summary").fetchall())
        quarters = [
            q for (q,) in con.sql("select distinct quarter from raw.ingest_log order by 1").fetchall()
        ]
        pairs = con.sql(
            "select count(distinct (drug, drug_level, event, event_level)) from marts.signals"
        ).fetchall()
        headline, flagged = con.execute(
            "select count(*), count(*) filter (where signal_evans or signal_ror or signal_ic or signal_ebgm) "
            "from marts.headline"
        ).fetchall()[0]
    assert facts["quarters"] == facts["quarters_present"] == quarters
    assert facts["rows_by_table"] == rows
    assert facts["rejects"] == rejects == log_rejects > 0
    assert facts["repairs"] == repairs
    assert (facts["retained_cases"], facts["flagged_duplicates"]) == (retained, duplicates)
    assert {entry["quarter"]: entry["retained_cases"] for entry in facts["dedup"]} == dedup
    assert sum(dedup.values()) == retained
    assert facts["pairs_scored"] == pairs[0][0]
    assert facts["headline_rows"] == headline and len(facts["signals"]) == flagged
    assert all(any(row[rule] for rule in RULES) for row in facts["signals"])
    json.dumps(facts, allow_nan=False)


def test_summary_of_given_quarters_counts_only_those(db, latest):
    with duckdb.connect(str(db), read_only=True) as con:
        facts = summary(con, [latest.lower()])
        rows = dict(
            con.execute(
                "select table_name, sum(rows) from raw.ingest_log where quarter = ? group by all", [latest]
            ).fetchall()
        )
        rejects = con.execute("select count(*) from raw.rejects where quarter = ?", [latest]).fetchall()[0][0]
    assert facts["quarters"] == [latest] and len(facts["quarters_present"]) > 1
    assert facts["rows_by_table"] == rows and facts["rejects"] == rejects
    assert [entry["quarter"] for entry in facts["dedup"]] == [latest]
    assert [entry["quarter"] for entry in facts["ingest"]] == [latest]


def test_markdown_summary_names_the_facts(db):
    with duckdb.connect(str(db), read_only=True) as con:
        facts = summary(con, None)
    text = markdown_summary(facts)
    assert text.startswith("# FAERS run summary")
    assert f"lines rejected (kept verbatim in raw.rejects): {facts['rejects']:,}" in text
    assert f"Retained cases after de-duplication: {facts['retained_cases']:,}" in text
    assert "## New or changed this quarter" in text


def test_headline_records_are_json_safe(db):
    with duckdb.connect(str(db), read_only=True) as con:
        records = headline_records(con)
        expected = len(headline_frame(con))
    assert len(records) == expected
    json.dumps(records, allow_nan=False)
    for record in records:
        assert all(key == key.lower() for key in record)
        assert all(value is None or type(value) in (str, int, float, bool) for value in record.values())


def test_report_for_an_earlier_quarter_uses_the_history_of_that_quarter(db, tmp_path):
    with duckdb.connect(str(db), read_only=True) as con:
        earlier = con.sql(
            "select distinct quarter from marts.signal_history order by quarter desc"
        ).fetchall()[1][0]
        expected = con.execute(
            "select count(*) from marts.headline_history where quarter = ?", [earlier]
        ).fetchall()[0][0]
    page = write_report(db, tmp_path, earlier)
    assert page == tmp_path / earlier / "report.html"
    markdown = page.with_name("report.md").read_text(encoding="utf-8")
    assert len(_table_after(markdown, "### All headline rows")) == expected


# A crafted history: three quarters, headline and non-headline pairs.

CRAFTED_HISTORY = [
    # drug, drug_level, event, quarter, a, evans, ror, ic, ebgm
    ("docetaxel", "ingredient", "dm_narrow", "2024Q2", 1, False, False, False, False),
    ("docetaxel", "ingredient", "dm_narrow", "2024Q3", 2, False, False, False, False),
    ("docetaxel", "ingredient", "dm_narrow", "2024Q4", 4, False, False, True, False),  # IC gained, first
    ("taxane", "class", "dm_broad", "2024Q2", 3, False, True, False, False),
    ("taxane", "class", "dm_broad", "2024Q3", 3, False, False, False, False),
    ("taxane", "class", "dm_broad", "2024Q4", 5, False, True, False, False),  # ROR regained, not first
    ("trastuzumab", "ingredient", "dm_broad", "2024Q3", 3, True, False, False, False),
    ("trastuzumab", "ingredient", "dm_broad", "2024Q4", 3, True, False, False, False),  # unchanged
    ("paclitaxel", "ingredient", "dm_narrow", "2024Q3", 3, False, False, False, True),  # gone in 2024Q4
    ("pertuzumab", "ingredient", "dm_narrow", "2024Q4", 3, False, True, False, False),  # new pair
    ("methotrexate", "ingredient", "dm_narrow", "2024Q4", 9, True, True, True, True),  # not a target
    ("afatinib", "ingredient", "dm_narrow", "2024Q4", 9, True, True, True, True),  # class 'none'
    ("docetaxel", "ingredient", "myositis", "2024Q4", 9, True, True, True, True),  # not a DM group
]


@pytest.fixture
def crafted() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema vocab")
    con.execute("create schema marts")
    con.execute(
        "create table vocab.ingredient_classes as select * from (values "
        "('docetaxel', 'taxane'), ('paclitaxel', 'taxane'), ('trastuzumab', 'anti_her2_antibody'), "
        "('pertuzumab', 'anti_her2_antibody'), ('afatinib', 'none')) as t(ingredient, class)"
    )
    con.execute(
        "create table marts.signal_history (drug varchar, drug_level varchar, event varchar, "
        "event_level varchar, "
        "role varchar, comparator varchar, duplicates varchar, quarter varchar, a double, prr double, "
        "prr_upper double, ic double, ic025 double, signal_evans boolean, signal_ror boolean, "
        "signal_ic boolean, signal_ebgm boolean)"
    )
    for drug, level, event, quarter, a, *flags in CRAFTED_HISTORY:
        con.execute(
            "insert into marts.signal_history values (?, ?, ?, 'group', 'suspect', 'all', 'without', ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?)",
            [drug, level, event, quarter, a, np.nan, math.inf, 0.5, -0.5, *flags],
        )
    con.execute(
        "create table marts.headline_targets as select * from (values ('drug', 'class', 'taxane'), "
        "('drug', 'class', 'anti_her2_antibody'), ('drug', 'ingredient', 'docetaxel'), "
        "('drug', 'ingredient', 'paclitaxel'), ('drug', 'ingredient', 'trastuzumab'), "
        "('drug', 'ingredient', 'pertuzumab'), ('event', 'group', 'dm_narrow'), "
        "('event', 'group', 'dm_broad')) "
        "as t(kind, level, name)"
    )
    for view in ("marts/first_flags", "marts/headline_history"):
        con.execute(render(view))
    con.execute(
        "create table marts.signals as "
        "select * exclude (quarter) from marts.signal_history where quarter = '2024Q4'"
    )
    con.execute(render("marts/headline"))
    return con


def _change(drug, level, event, a, a_previous, now, gained, lost, first, quarter="2024Q4", previous="2024Q3"):
    return {
        "drug": drug,
        "drug_level": level,
        "event": event,
        "event_level": "group",
        "role": "suspect",
        "comparator": "all",
        "duplicates": "without",
        "quarter": quarter,
        "previous_quarter": previous,
        "a": a,
        "a_previous": a_previous,
        "ic": None if a is None else 0.5,
        "ic025": None if a is None else -0.5,
        "rules_now": now,
        "rules_gained": gained,
        "rules_lost": lost,
        "first_flagged": first,
    }


def test_new_or_changed_compares_the_latest_quarter_with_the_one_before(crafted):
    assert new_or_changed(crafted) == [
        _change(
            "docetaxel", "ingredient", "dm_narrow", 4.0, 2.0, ["signal_ic"], ["signal_ic"], [], ["signal_ic"]
        ),
        _change("paclitaxel", "ingredient", "dm_narrow", None, 3.0, [], [], ["signal_ebgm"], []),
        _change(
            "pertuzumab",
            "ingredient",
            "dm_narrow",
            3.0,
            None,
            ["signal_ror"],
            ["signal_ror"],
            [],
            ["signal_ror"],
        ),
        _change("taxane", "class", "dm_broad", 5.0, 3.0, ["signal_ror"], ["signal_ror"], [], []),
    ]


def test_new_or_changed_for_an_earlier_quarter(crafted):
    assert new_or_changed(crafted, "2024Q3") == [
        _change(
            "paclitaxel",
            "ingredient",
            "dm_narrow",
            3.0,
            None,
            ["signal_ebgm"],
            ["signal_ebgm"],
            [],
            ["signal_ebgm"],
            "2024Q3",
            "2024Q2",
        ),
        _change("taxane", "class", "dm_broad", 3.0, 3.0, [], [], ["signal_ror"], [], "2024Q3", "2024Q2"),
        _change(
            "trastuzumab",
            "ingredient",
            "dm_broad",
            3.0,
            None,
            ["signal_evans"],
            ["signal_evans"],
            [],
            ["signal_evans"],
            "2024Q3",
            "2024Q2",
        ),
    ]
    assert new_or_changed(crafted, "2024Q2") == [
        _change(
            "taxane",
            "class",
            "dm_broad",
            3.0,
            None,
            ["signal_ror"],
            ["signal_ror"],
            [],
            ["signal_ror"],
            "2024Q2",
            None,
        ),
    ]


def test_summary_of_a_partial_database_and_nan_to_none(crafted):
    facts = summary(crafted, None)
    assert facts["quarters_present"] == ["2024Q2", "2024Q3", "2024Q4"]
    assert facts["rows_by_table"] == {} and facts["rejects"] == 0 and facts["retained_cases"] is None
    assert facts["new_or_changed"] == new_or_changed(crafted)
    assert [(row["drug"], row["event"]) for row in facts["signals"]] == [
        ("docetaxel", "dm_narrow"),
        ("pertuzumab", "dm_narrow"),
        ("taxane", "dm_broad"),
        ("trastuzumab", "dm_broad"),
    ]
    records = headline_records(crafted)
    assert len(records) == 4
    assert all(record["prr"] is None and record["prr_upper"] is None for record in records)
    json.dumps([facts, records], allow_nan=False)


def test_forest_plot_skips_and_notes_values_it_cannot_draw(db, tmp_path):
    with duckdb.connect(str(db), read_only=True) as con:
        frame = headline_frame(con)
    before = {name: len(rows) for name, rows in not_computable(frame).items()}
    finite = frame[np.isfinite(frame[["prr", "prr_upper", "ror", "ror_upper"]]).all(axis=1)].index
    frame.loc[finite[0], "ror_upper"] = math.inf
    frame.loc[finite[1], "prr"] = math.nan
    missing = not_computable(frame)
    assert {name: len(rows) for name, rows in missing.items()} == before | {
        "PRR": before["PRR"] + 1,
        "ROR": before["ROR"] + 1,
    }
    row = frame.loc[finite[0]]
    assert f"{row.drug} · {row.event} · {row.role}/{row.comparator}/{row.duplicates}" in missing["ROR"]
    path = forest_plot(frame, tmp_path / "forest.png")
    with Image.open(path) as image:
        assert image.size[0] == round(FOREST_WIDTH_IN * DPI)
    empty = forest_plot(frame.iloc[0:0], tmp_path / "empty.png")
    with Image.open(empty) as image:
        assert image.size[0] == round(FOREST_WIDTH_IN * DPI)


def test_missing_database_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no database"):
        run_report_command(tmp_path / "absent.duckdb", tmp_path / "reports", None)
    assert not (tmp_path / "reports").exists()


def test_database_without_signals_is_a_user_error(tmp_path):
    path = tmp_path / "raw_only.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(UserError, match="no signals table"):
        write_report(path, tmp_path / "reports")


def test_unknown_quarter_is_a_user_error(db, tmp_path):
    with pytest.raises(UserError, match="2099Q1 is not in the database"):
        write_report(db, tmp_path, "2099Q1")
    with pytest.raises(UserError, match="not a quarter"):
        write_report(db, tmp_path, "last")


def _answer_rows(comparators=("all", "oncology", "breast_cancer"), **changes):
    """The 12 headline rows of one pair (every population variant; more with ``comparators``), a = 4 and no
    rule met, then ``changes`` applied to the (role, comparator, duplicates) rows named by their keys."""
    rows = []
    for role in ("suspect", "any"):
        for comparator in comparators:
            for duplicates in ("without", "with"):
                row = {
                    "drug": "paclitaxel",
                    "drug_level": "ingredient",
                    "event": "dm_narrow",
                    "event_level": "group",
                    "role": role,
                    "comparator": comparator,
                    "duplicates": duplicates,
                    "a": 4.0,
                    "ror": 2.5,
                    "ror_lower": 0.9,
                    "ror_upper": 6.9,
                    "ic": 1.1,
                    "ic025": -0.2,
                    "ic975": 2.0,
                    "ebgm": np.nan,
                    "eb05": np.nan,
                    "eb95": np.nan,
                    "ebgm_status": "prior_not_converged",
                    "drug_class": "taxane",
                    **dict.fromkeys(RULES, False),
                }
                row.update(changes.get(f"{role}/{comparator}/{duplicates}", {}))
                rows.append(row)
    return pd.DataFrame(rows)


def test_the_answer_reads_the_primary_analysis_and_the_restricted_comparisons():
    from pv.report import CAVEATS, answer_text, answers

    quiet = answers(_answer_rows())
    assert [(a.drug, a.event, a.a, a.verdict, a.flagged_variants) for a in quiet] == [
        ("paclitaxel", "dm_narrow", 4, "no_signal", 0)
    ]
    assert quiet[0].sentence == (
        "Paclitaxel and dermatomyositis terms (dm_narrow): 4 reports, ROR 2.5 [0.9, 6.9], IC 1.1 [-0.2, 2], "
        "EBGM not computed (prior not converged); no signal rule flags it among all reports."
    )
    flagged = {"signal_ror": True, "ror_lower": 1.2}
    lost = answers(_answer_rows(**{"suspect/all/without": flagged, "any/all/without": flagged}))[0]
    assert (lost.verdict, lost.rules, lost.flagged_variants) == (
        "signal_confounding_possible",
        ("signal_ror",),
        2,
    )
    assert lost.sentence.endswith(
        "flagged by ROR025>1 among all reports, but not among reports with a cancer indication (4 there) or "
        "reports with a breast-cancer indication (4 there)."
    )
    kept = answers(
        _answer_rows(
            **{"suspect/all/without": flagged, "suspect/oncology/without": {"signal_ror": True, "a": 3.0}}
        )
    )[0]
    assert kept.verdict == "signal_survives_restriction"
    assert kept.restricted == {"oncology": (3, ("signal_ror",)), "breast_cancer": (4, ())}
    assert "and still flagged among reports with a cancer indication, but not among reports with a " in (
        kept.sentence
    )
    none = answers(_answer_rows(**{"suspect/all/without": {"a": 0.0}}))[0]
    assert (
        none.sentence
        == "No report names paclitaxel as suspect with dermatomyositis terms (dm_narrow) in these data."
    )
    assert answer_text(_answer_rows()).splitlines() == [
        "- All 1 target drug/class × DM pairs: 1 no signal.",
        CAVEATS,
    ]


def test_the_report_opens_with_the_answer_of_every_target_pair(report, latest, db):
    markdown = (report[0] / latest / "report.md").read_text(encoding="utf-8")
    assert (
        markdown.index("## The answer")
        < markdown.index("## Headline signals")
        < markdown.index("## Appendix: the run")
        < markdown.index("### Rows loaded per quarter")
    )
    rows = _table_after(markdown, "## The answer")
    with duckdb.connect(str(db), read_only=True) as con:
        primary = con.sql(
            "select drug, drug_level, event, a from marts.headline "
            "where role = 'suspect' and comparator = 'all' and duplicates = 'without'"
        ).fetchall()
    assert sorted((row[0], row[1], row[2], row[3]) for row in rows) == sorted(
        (drug, level, event, f"{a:.0f}") for drug, level, event, a in primary
    )
    assert "Disproportionality compares reporting, not risk" in markdown


def test_the_answer_adds_time_to_onset_and_dechallenge_when_the_database_holds_them():
    from pv.report import answers

    onset = {
        "n_onset_median": 4,
        "onset_median_days": 21.5,
        "weibull_status": "converged",
        "weibull_shape": 0.62,
        "weibull_shape_lower": 0.31,
        "weibull_shape_upper": 1.1,
        "dechal_positive": 2,
        "dechal_negative": 1,
    }
    flagged = {"signal_ror": True, "ror_lower": 1.2, **onset}
    answer = answers(_answer_rows(**{"suspect/all/without": flagged}))[0]
    assert answer.sentence.endswith(
        "; median time to onset 21.5 days (4 exact onsets, Weibull shape 0.62 [0.31, 1.1]); dechallenge "
        "positive in 2 of 3 cases that answered."
    )
    silent = {
        **flagged,
        "n_onset_median": 0,
        "weibull_status": "too_few_onsets",
        "dechal_positive": 0,
        "dechal_negative": 0,
    }
    assert answers(_answer_rows(**{"suspect/all/without": silent}))[0].sentence.endswith(
        "; no exact time to onset; no positive or negative dechallenge reported."
    )


def test_the_answer_states_the_stratified_ror_when_the_database_holds_it():
    from pv.report import answers

    flagged = {"signal_ror": True, "ror_lower": 1.2, "ror_mh": 1.4, "ror_mh_lower": 0.8, "ror_mh_upper": 2.5}
    answer = answers(_answer_rows(**{"suspect/all/without": flagged}))[0]
    assert (
        "; stratified by sex, age band and report year, the Mantel-Haenszel ROR is 1.4 [0.8, 2.5], no longer "
        "above 1." in answer.sentence
    )


def test_side_by_side_table_reads_each_analysis_from_its_stored_row(report, latest, db):
    """The report's "does a flag survive" table: one row per target x DM group with reports in the primary
    analysis; each analysis cell is that comparator's stored a, ROR and CI (the MH cell the stratified
    columns of the comparator-'all' row), marked exactly where the stored FDR flag is set."""
    from pv.report.sensitivity import ANALYSES, FLAG_MARK

    markdown = (report[0] / latest / "report.md").read_text(encoding="utf-8")
    rows = _table_after(markdown, "### Does a flag survive?")
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.sql(
            "select * from marts.headline where role = 'suspect' and duplicates = 'without'"
        ).df()
    primary = stored[(stored["comparator"] == "all") & (stored["a"] > 0)]
    assert len(rows) == len(primary) > 0
    by_key = {(row[0].removesuffix(" (class)"), row[1]): row for row in rows}
    for record in stored.to_dict("records"):
        cells = by_key.get((record["drug"], record["event"]))
        if cells is None:
            continue
        for index, analysis in enumerate(ANALYSES, start=2):
            if record["comparator"] != analysis.comparator:
                continue
            estimate = analysis.estimate
            expected = (
                f"{record['a']:.0f}; "
                + interval(record[estimate], record[f"{estimate}_lower"], record[f"{estimate}_upper"])
                + (f" {FLAG_MARK}" if record[analysis.flag] else "")
            )
            assert cells[index] == expected
    missing = {analysis.title for analysis in ANALYSES} - {
        analysis.title for analysis in ANALYSES if analysis.comparator in set(stored["comparator"])
    }
    for index, analysis in enumerate(ANALYSES, start=2):
        if analysis.title in missing:
            assert {row[index] for row in rows} == {"not run"}


def test_calibration_section_shows_flagged_controls_of_the_primary_variant(report, latest, db):
    """One row per rule x event group of marts.calibration (primary variant), x/n of the controls present;
    coverage is unknown without a ground truth (real data)."""
    markdown = (report[0] / latest / "report.md").read_text(encoding="utf-8")
    section = markdown[markdown.index("## Calibration") : markdown.index("## Methods")]
    assert "not known here: real FAERS has no ground truth" in section
    rows = _table_after(section, "## Calibration")
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.sql(
            "select * from marts.calibration where role = 'suspect' and comparator = 'all' "
            "and duplicates = 'without'"
        ).df()
    assert len(rows) == len(stored) == 12  # 6 rules x dm_narrow, dm_broad
    assert [row[:2] for row in rows[:6]] == [
        ["Evans", "dm_narrow"],
        ["ROR025>1", "dm_narrow"],
        ["IC025>0", "dm_narrow"],
        ["EB05≥2", "dm_narrow"],
        ["ROR FDR q≤0.025", "dm_narrow"],
        ["MH ROR FDR q≤0.025", "dm_narrow"],
    ]
    for row in rows:
        rule = {title: name for name, title in RULE_TITLES.items()}[row[0]]
        record = stored[(stored["rule"] == rule) & (stored["event"] == row[1])].iloc[0]
        for cell, kind in ((row[2], "positive"), (row[3], "negative")):
            present = record[f"{kind}_present"]
            assert cell.startswith(f"{record[f'{kind}_flagged']}/{present}" if present else "n/c"), (
                cell,
                kind,
            )


def test_calibration_section_adds_coverage_on_generated_data(generated, tmp_path):
    html_path = write_report(generated / "data/pv.duckdb", tmp_path, ground_truth=generated / "ground_truth")
    markdown = html_path.with_name("report.md").read_text(encoding="utf-8")
    section = markdown[markdown.index("## Calibration") : markdown.index("## Methods")]
    assert "Coverage on generated data" in section
    coverage = _table_after(section, "Coverage on generated data")
    assert [row[0] for row in coverage] == [
        interval
        for interval in ("PRR 95% CI", "ROR 95% CI", "IC025-IC975", "EB05-EB95", "MH ROR 95% CI")
        for _ in range(2)
    ]
    assert {row[2] for row in coverage} == {"estimand", "planted_rr"}


def test_the_answer_states_the_active_comparator_and_masking_corrected_results():
    """A flagged pair gets one clause per target-specific comparison; a pair flagged only once the masking
    drugs leave the background is a signal of its own kind, said so."""
    from pv.report import answers

    every = ("all", "oncology", "breast_cancer", "active", "masked")
    flagged = {"signal_ror": True, "ror_lower": 1.2}
    answer = answers(_answer_rows(every, **{"suspect/all/without": flagged}))[0]
    assert answer.verdict == "signal_confounding_possible"
    assert answer.sentence.endswith(
        "; against its active comparators among breast-cancer reports the ROR is 2.5 [0.9, 6.9] (4 "
        "reports), not flagged; with the reports of the drugs that mask the event left out of the background "
        "the ROR is 2.5 [0.9, 6.9] (4 reports), not flagged."
    )
    unmasked = answers(
        _answer_rows(every, **{"suspect/masked/without": {"signal_ror": True, "ror_lower": 1.3, "a": 5.0}})
    )[0]
    assert unmasked.verdict == "signal_after_masking"
    assert unmasked.sentence.endswith(
        "; no signal rule flags it among all reports, but with the reports of the drugs that mask the event "
        "left out of the background the ROR is 2.5 [1.3, 6.9] (5 reports), flagged by ROR025>1."
    )
