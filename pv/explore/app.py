"""pv explore: a drug under any name, an event, the analysis variant; its 2×2, measures, forest plot,
history and case series, and a case in full. Served by ``pv explore`` (``marimo run``); it reads the analyst
database read-only (``PV_EXPLORE_DB``, else ``PV_DB``, else ``data/pv.duckdb``). Every number comes from
``pv``: this file only lays it out.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="pv explore")


@app.cell
def _():
    import io
    import os
    import tempfile
    from pathlib import Path

    import marimo as mo

    from pv import config
    from pv.cases import (
        case_in_full,
        case_series,
        reading_view,
        resolve_drug,
        resolve_event,
        series_csv,
        summary_lines,
    )
    from pv.counts import DEFAULT_VARIANT, VARIANT_VALUES
    from pv.db import database_lag, open_published, provenance_line
    from pv.errors import UserError
    from pv.explore import DB_ENV, pair_history, pair_signals, two_by_two
    from pv.report.figures import forest_plot, ic_over_time_plot
    from pv.report.text import HEADLINE_HEADER, headline_cells

    database = Path(os.environ.get(DB_ENV) or config.default_db())
    lag = database_lag(database)  # before connecting: DuckDB reuses an open file within a process
    con = open_published(database)
    provenance = provenance_line(con) or "Data: provenance not recorded (a database built before it was)."
    synthetic = provenance_line(con) is not None and bool(
        con.sql("select count(*) from meta.provenance where origin = 'generated'").fetchall()[0][0]
    )
    figures = Path(tempfile.mkdtemp(prefix="pv-explore-"))
    return (
        DEFAULT_VARIANT,
        HEADLINE_HEADER,
        UserError,
        VARIANT_VALUES,
        case_in_full,
        case_series,
        con,
        database,
        figures,
        forest_plot,
        headline_cells,
        ic_over_time_plot,
        io,
        lag,
        mo,
        pair_history,
        pair_signals,
        provenance,
        reading_view,
        resolve_drug,
        resolve_event,
        series_csv,
        summary_lines,
        synthetic,
        two_by_two,
    )


@app.cell
def _(database, lag, mo, provenance, synthetic):
    banner = mo.callout(
        mo.md(
            f"**{provenance}**"
            + (
                "  \nThese demo data are generated: the counts below illustrate the method and say "
                "nothing about any real drug."
                if synthetic
                else ""
            )
        ),
        kind="danger" if synthetic else "info",
    )
    mo.vstack(
        [
            mo.md(f"# pv explore\n\nDatabase `{database}`, opened read-only."),
            banner,
            mo.callout(mo.md(f"**Warning:** {lag}."), kind="warn") if lag else mo.md(""),
        ]
    )
    return


@app.cell
def _(DEFAULT_VARIANT, VARIANT_VALUES, mo):
    drug_input = mo.ui.text(
        placeholder="Taxol, docetaxel, Herceptin, taxane…", label="Drug (any name)", full_width=True
    )
    event_input = mo.ui.text(value="dm_narrow", label="Event (group or MedDRA PT)", full_width=True)
    variant = {
        column: mo.ui.dropdown(options=list(values), value=DEFAULT_VARIANT[column], label=column)
        for column, values in VARIANT_VALUES.items()
    }
    mo.vstack(
        [
            mo.hstack([drug_input, event_input], widths=[1, 1]),
            mo.hstack(list(variant.values()), justify="start"),
            mo.md(
                "Type a name and press Enter. Names are read by the same normaliser as the pipeline "
                "(brands, misspellings, classes); groups: `dm_narrow`, `dm_broad`, `dm_paraneoplastic`, "
                "`myopathy_sensitivity`. The variant chooses the role (suspect only, or any), the "
                "comparator population and whether flagged duplicates count."
            ),
        ]
    )
    return drug_input, event_input, variant


@app.cell
def _(UserError, con, drug_input, event_input, mo, resolve_drug, resolve_event):
    drug, event, problem = None, None, None
    if drug_input.value.strip():
        try:
            drug = resolve_drug(con, drug_input.value)
            event = resolve_event(con, event_input.value)
        except UserError as error:
            problem = str(error)
    if problem:
        _shown = mo.callout(mo.md(problem), kind="warn")
    elif drug is None:
        _shown = mo.md("_Pick a drug to begin._")
    else:
        _shown = mo.md(
            f"**Drug** {drug_input.value.strip()!r} read as **{drug.label}**  \n"
            f"**Event** {event_input.value.strip()!r} read as **{event.label}**"
        )
    mo.output.replace(_shown)
    return drug, event


@app.cell
def _(con, drug, event, mo, pair_signals, variant):
    mo.stop(drug is None or event is None)
    signals = pair_signals(con, drug, event)
    chosen = {column: widget.value for column, widget in variant.items()}
    _keep = [all(row[column] == value for column, value in chosen.items()) for _, row in signals.iterrows()]
    selected = signals[_keep] if len(signals) else signals
    return chosen, selected, signals


@app.cell
def _(
    HEADLINE_HEADER,
    chosen,
    con,
    drug,
    event,
    headline_cells,
    io,
    mo,
    selected,
    signals,
    synthetic,
    two_by_two,
):
    if signals.empty:
        _body = [
            mo.callout(
                mo.md(f"No case reports {drug.label} with {event.label}: no 2×2 to estimate from."),
                kind="neutral",
            )
        ]
    else:
        _tables = [
            mo.md(
                f"**{row['drug']}** × **{row['event']}**, cases\n\n"
                + "| | the event | all other events | total |\n|---|--:|--:|--:|\n"
                + "\n".join(
                    "| " + " | ".join(str(cell) for cell in cells) + " |" for cells in two_by_two(row).values
                )
            )
            for _, row in selected.iterrows()
        ]
        _rows = [
            dict(zip(HEADLINE_HEADER, headline_cells(record), strict=True))
            for record in signals.to_dict("records")
        ]
        _notes = [
            f"_EBGM, EB05, EB95 not reported: {status.replace('_', ' ')} ({reason})._"
            for status, reason in con.sql("select status, reason from marts.gps_priors").fetchall()
            if status != "ok"
        ]
        _csv = io.StringIO()
        signals.to_csv(_csv, index=False)
        _body = [
            mo.md("## 2×2 table: " + ", ".join(f"{column} {value}" for column, value in chosen.items())),
            *_tables,
            mo.md("## Measures in every analysis variant (95% intervals; IC: IC025–IC975)"),
            mo.ui.table(
                _rows, selection=None, show_column_summaries=False, show_data_types=False, pagination=False
            ),
            *[mo.md(note) for note in _notes],
            mo.download(
                _csv.getvalue().encode(),
                filename="signals.csv",
                mimetype="text/csv",
                label="Export all variants (CSV)",
            ),
        ]
        if synthetic:
            _body.append(mo.md("_Synthetic demo data: no finding here is about a real drug._"))
    mo.vstack(_body)
    return


@app.cell
def _(con, drug, event, figures, forest_plot, ic_over_time_plot, mo, pair_history, signals):
    mo.stop(signals.empty)
    _forest = forest_plot(signals, figures / "forest.png", title=f"{drug.label} × {event.label}")
    history = pair_history(con, drug, event)
    _history = ic_over_time_plot(
        history,
        figures / "history.png",
        title=f"IC by quarter (cumulative), {drug.label} × {event.label}, default variant",
    )
    _columns = ["quarter", "drug", "a", "ic", "ic025", "ic975", "prr", "ror", "ebgm"]
    _default = history[
        (history["role"] == "suspect")
        & (history["comparator"] == "all")
        & (history["duplicates"] == "without")
    ]
    mo.vstack(
        [
            mo.md("## Forest plot: PRR, ROR and IC across the variants"),
            mo.image(src=_forest.read_bytes(), alt="forest plot"),
            mo.md("## History: the same measures as each quarter was analysed"),
            mo.image(src=_history.read_bytes(), alt="IC over time"),
            mo.ui.table(
                _default[_columns].round(3),
                selection=None,
                show_column_summaries=False,
                show_data_types=False,
                pagination=True,
                page_size=10,
            ),
        ]
    )
    return


@app.cell
def _(case_series, chosen, con, drug, event, mo, reading_view, summary_lines):
    mo.stop(drug is None or event is None)
    series = case_series(
        con,
        drug,
        event,
        roles=("PS", "SS") if chosen["role"] == "suspect" else "any",
        include_duplicates=chosen["duplicates"] == "with",
        comparator=chosen["comparator"],
    )
    view = reading_view(series)
    view["caseid"] = view["caseid"].astype(str)  # an identifier, not a quantity: no thousands separators
    _options = {
        f"{caseid} · {age or '?'} {sex or '?'} · {quarter}": int(caseid)
        for caseid, age, sex, quarter in zip(
            view["caseid"], view["age"], view["sex"], view["quarter"], strict=True
        )
    }
    case_pick = mo.ui.dropdown(
        options=_options, value=next(iter(_options), None), label="Read a case in full (reviewer order)"
    )
    return case_pick, series, view


@app.cell
def _(case_pick, drug, event, mo, series, series_csv, summary_lines, view):
    _header = mo.md(f"## Case series: {drug.label} × {event.label}, {len(series)} cases")
    if series.empty:
        _out = mo.vstack([_header, mo.md("No case.")])
    else:
        _out = mo.vstack(
            [
                _header,
                mo.ui.table(
                    view, selection=None, show_column_summaries=False, show_data_types=False, page_size=10
                ),
                mo.download(
                    series_csv(series).to_csv(index=False).encode(),
                    filename="case_series.csv",
                    mimetype="text/csv",
                    label="Export the case series (CSV)",
                ),
                mo.md("```text\n" + "\n".join(summary_lines(series)) + "\n```"),
                case_pick,
            ]
        )
    mo.output.replace(_out)
    return


@app.cell
def _(case_in_full, case_pick, con, mo, synthetic):
    mo.stop(case_pick.value is None)
    _sections = case_in_full(con, case_pick.value)
    _parts = []
    for _title, _lines in _sections:
        _parts.append(f"### {_title}\n\n" + "\n".join(f"- {line}" for line in _lines))
    if synthetic:
        _parts.append("_A generated case (pv synth): no real patient._")
    mo.callout(mo.md("\n\n".join(_parts)), kind="neutral")
    return


if __name__ == "__main__":
    app.run()
