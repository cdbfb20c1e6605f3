"""Dermatomyositis with taxanes and anti-HER2 agents: the headline question, step by step.

Open it interactively with ``.venv/bin/marimo edit notebooks/dermatomyositis.py``, or run it as a script
(``.venv/bin/python notebooks/dermatomyositis.py``; the test suite does). It reads the analyst database
read-only (``PV_DB``, default ``data/pv.duckdb``), so it never blocks a running pipeline.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import os
    from pathlib import Path

    import duckdb
    import marimo as mo

    from pv.db import database_lag, provenance_line

    database = Path(os.environ.get("PV_DB", "data/pv.duckdb"))
    lag = database_lag(database)  # checked before connecting: DuckDB reuses an open file within a process
    if lag:
        print(f"warning: {lag}")
    con = duckdb.connect(str(database), read_only=True)
    provenance = provenance_line(con) or "Data: provenance not recorded (a database built before it was)."
    print(provenance)
    mo.md(
        f"""
        # Dermatomyositis, taxanes and anti-HER2 agents in FAERS

        A woman with HER2-positive metastatic breast cancer developed dermatomyositis weeks after starting
        paclitaxel, pertuzumab and trastuzumab. Was it the drugs, or the cancer? Dermatomyositis is often
        paraneoplastic, so every comparison is also made among cancer and breast-cancer reports only.

        Database: `{database}`{f"  **Warning: {lag}.**" if lag else ""}

        **{provenance}**
        """
    )
    return Path, con, mo


@app.cell
def _(con, mo):
    import pandas as pd

    from pv.report import CAVEATS, answer_bullets, headline_frame
    from pv.report.answer import TABLE_NOTE, answer_table, answers
    from pv.report.text import headline_table

    headline = headline_frame(con)
    bullets = answer_bullets(headline)
    print("The answer: dermatomyositis with taxanes and anti-HER2 agents")
    print("\n".join(f"- {line}" for line in bullets))
    print(CAVEATS)
    found = answer_table(answers(headline))
    mo.vstack(
        [
            mo.md("## The answer"),
            mo.md("\n".join(f"- {line}" for line in bullets)),
            mo.md(TABLE_NOTE),
            pd.DataFrame(found.rows, columns=list(found.header)),
            mo.callout(mo.md(CAVEATS), kind="warn"),
        ]
    )
    return headline, headline_table, pd


@app.cell
def _(con, mo, pd):
    counts = con.sql(
        """
        select
            count(*) as retained_cases,
            count(*) filter (where is_duplicate) as flagged_duplicates,
            count(*) filter (where has_oncology_indication) as oncology_cases,
            count(*) filter (where has_breast_cancer_indication) as breast_cancer_cases
        from curated.cases
        """
    ).fetchall()[0]
    dm = con.sql(
        """
        select event, count(distinct caseid) as cases
        from marts.case_outcomes
        where event_level = 'group' and event in ('dm_narrow', 'dm_broad', 'dm_paraneoplastic')
        group by event order by event
        """
    ).fetchall()
    population = pd.DataFrame(
        {
            "cases": [
                "retained",
                "flagged as duplicates",
                "with a cancer indication",
                "with a breast-cancer indication",
            ],
            "count": [f"{n:,}" for n in counts],
        }
    )
    groups = pd.DataFrame({"event group": [e for e, _ in dm], "cases": [f"{n:,}" for _, n in dm]})
    mo.vstack([mo.md("## The population"), population, mo.md("Cases with a dermatomyositis term:"), groups])
    return


@app.cell
def _(headline, headline_table, mo, pd):
    shown = headline_table(headline.to_dict("records"))
    mo.vstack(
        [
            mo.md(
                "## Disproportionality across the analysis variants\n\n"
                "Every target ingredient and class × DM group × variant (a = 0 included); "
                "n/c = not computable."
            ),
            pd.DataFrame(shown.rows, columns=list(shown.header)),
        ]
    )
    return


@app.cell
def _(Path, headline, mo):
    import tempfile

    from pv.report import forest_plot

    figure_path = forest_plot(headline, Path(tempfile.mkdtemp()) / "forest.png")
    mo.vstack([mo.md("## Forest plot: PRR, ROR and IC with 95% intervals"), mo.image(src=str(figure_path))])
    return


@app.cell
def _(headline, mo, pd):
    from pv.report.text import interval

    primary = headline[(headline.role == "suspect") & (headline.duplicates == "without")]
    by_comparator = {
        comparator: {
            (row.event, row.drug): f"{row.a:.0f}: IC {interval(row.ic, row.ic025, row.ic975)}"
            for row in rows.itertuples()
        }
        for comparator, rows in primary.groupby("comparator")
    }
    sensitivity = pd.DataFrame(by_comparator).rename_axis(["event", "drug"])
    mo.vstack(
        [
            mo.md(
                """
                ## Restricted comparators

                The same pairs (a, then IC with its 95% interval) compared against all reports, against
                reports with a cancer indication, and against breast-cancer reports. A signal that shrinks
                towards 0 among cancer patients points to confounding by indication (paraneoplastic
                dermatomyositis), not to the drug.
                """
            ),
            sensitivity,
        ]
    )
    return


@app.cell
def _(con, mo):
    from pv.cases import case_series, reading_view, summary_lines

    # The case that started the project: paclitaxel, with docetaxel (the other common taxane) beside it.
    blocks = []
    for drug in ("paclitaxel", "docetaxel"):
        series = case_series(con, drug, "dm_broad")
        view = reading_view(series).astype({"caseid": str})
        lines = summary_lines(series)
        print(f"\nCase series: {drug} and dermatomyositis (broad)")
        print("\n".join(lines))
        blocks += [
            mo.md(f"## Case series: {drug} and dermatomyositis (broad)"),
            view,
            mo.md("```\n" + "\n".join(lines) + "\n```"),
        ]
    mo.vstack(blocks)
    return


if __name__ == "__main__":
    app.run()
