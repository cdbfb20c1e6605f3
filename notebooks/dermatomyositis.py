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
    counts = con.sql(
        """
        select
            count(*) as retained_cases,
            count(*) filter (where is_duplicate) as flagged_duplicates,
            count(*) filter (where has_oncology_indication) as oncology_cases,
            count(*) filter (where has_breast_cancer_indication) as breast_cancer_cases
        from curated.cases
        """
    ).df()
    dm = con.sql(
        """
        select event, count(distinct caseid) as cases
        from marts.case_outcomes
        where event_level = 'group' and event in ('dm_narrow', 'dm_broad', 'dm_paraneoplastic')
        group by event order by event
        """
    ).df()
    mo.vstack([mo.md("## Counts"), counts, mo.md("Cases with a dermatomyositis term:"), dm])
    return


@app.cell
def _(con, mo):
    signals = con.sql(
        """
        select drug, drug_level, event, role, comparator, duplicates, a, prr, prr_lower, prr_upper,
               ror, ror_lower, ror_upper, ic, ic025, ic975, ebgm, eb05, eb95,
               signal_evans, signal_ror, signal_ic, signal_ebgm
        from marts.headline
        order by event, drug_level desc, drug, role desc, comparator, duplicates desc
        """
    ).df()
    mo.vstack([mo.md("## Disproportionality across the analysis variants"), signals])
    return (signals,)


@app.cell
def _(Path, mo, signals):
    import tempfile

    from pv.report import forest_plot

    figure_path = forest_plot(signals, Path(tempfile.mkdtemp()) / "forest.png")
    mo.vstack([mo.md("## Forest plot: PRR, ROR and IC with 95% intervals"), mo.image(src=str(figure_path))])
    return


@app.cell
def _(mo, signals):
    default = signals[(signals.role == "suspect") & (signals.duplicates == "without")]
    sensitivity = default.pivot_table(
        index=["event", "drug"], columns="comparator", values=["ic", "ic025"], aggfunc="first"
    )
    mo.vstack(
        [
            mo.md(
                """
                ## Restricted comparators

                The same pairs compared against all reports, against reports with a cancer indication, and
                against breast-cancer reports. A signal that shrinks towards 0 among cancer patients points to
                confounding by indication (paraneoplastic dermatomyositis), not to the drug.
                """
            ),
            sensitivity,
        ]
    )
    return


@app.cell
def _(con, mo):
    from pv.cases import case_series, dechallenge_summary, onset_summary

    series = case_series(con, "docetaxel", "dm_broad")
    onset = onset_summary(series)
    challenge = dechallenge_summary(series)
    columns = [
        column
        for column in (
            "caseid",
            "age_years",
            "sex",
            "reporter_country",
            "time_to_onset_days",
            "onset_precision",
            "dechal",
            "rechal",
            "co_suspects",
            "indications",
        )
        if column in series.columns
    ]
    mo.vstack(
        [
            mo.md("## Case series: docetaxel and dermatomyositis (broad)"),
            series[columns],
            mo.md("### Time to onset"),
            mo.md(f"`{onset}`"),
            mo.md("### Dechallenge and rechallenge"),
            mo.md(f"`{challenge}`"),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
