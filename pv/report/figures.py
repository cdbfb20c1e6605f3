"""The report's two figures: the forest plot of PRR, ROR and IC across variants, and IC over time.

The figures are drawn on bare ``matplotlib.figure.Figure`` objects (the Agg renderer), never through
pyplot, so importing this module changes no global backend and is safe in worker threads.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from pv.counts import DEFAULT_VARIANT, VARIANT_COLUMNS
from pv.quarters import Quarter
from pv.report.facts import DUPLICATES, ROLES, VARIANTS, headline_order
from pv.report.text import count_rows
from pv.signals import HEADLINE_EVENTS, TARGET_CLASSES

DPI = 120
FOREST_WIDTH_IN = 15.0
IC_FIGSIZE_IN = (14.0, 9.0)
FOREST_FILE = "forest_plot.png"
IC_FILE = "ic_over_time.png"

CLASS_TITLES: dict[str, str] = {
    "taxane": "Taxanes",
    "anti_her2_antibody": "Anti-HER2 antibodies",
    "anti_her2_adc": "Anti-HER2 ADCs",
    "her2_tki": "HER2 TKIs",
}
EVENT_TITLES: dict[str, str] = {
    "dm_narrow": "Dermatomyositis, narrow (dm_narrow)",
    "dm_broad": "Dermatomyositis, broad (dm_broad)",
}
EVENT_SHORT: dict[str, str] = {"dm_narrow": "DM narrow (dm_narrow)", "dm_broad": "DM broad (dm_broad)"}
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
COMPARATOR_COLOURS: dict[str, str] = {"all": "#0072B2", "oncology": "#D55E00", "breast_cancer": "#009E73"}
VARIANT_MARKERS: dict[tuple[str, str], str] = {
    ("suspect", "without"): "o",
    ("suspect", "with"): "s",
    ("any", "without"): "^",
    ("any", "with"): "D",
}
# (estimate, lower, upper, axis title, interval name, rule, log axis)
FOREST_STATISTICS: tuple[tuple[str, str, str, str, str, str, bool], ...] = (
    ("prr", "prr_lower", "prr_upper", "PRR", "95% CI", "signal_evans", True),
    ("ror", "ror_lower", "ror_upper", "ROR", "95% CI", "signal_ror", True),
    ("ic", "ic025", "ic975", "IC", "IC025–IC975", "signal_ic", False),
)


def _save(fig: Figure, path: Path) -> None:
    """The figure as ``path`` (PNG, embedded in the HTML report) and beside it as SVG (print, editing)."""
    fig.savefig(path, dpi=DPI)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: searchable and editable
        fig.savefig(path.with_suffix(".svg"))


def _drug_rows(frame: pd.DataFrame) -> list[tuple[str, str, str, int]]:
    """(drug, drug_level, label, family rank) for each distinct drug, class first within its family."""
    drugs = headline_order(frame.assign(event="", role="suspect", comparator="all", duplicates="without"))
    seen: list[tuple[str, str, str, int]] = []
    families = list(TARGET_CLASSES)
    for drug, level, family in zip(
        drugs["drug"], drugs["drug_level"], drugs.get("drug_class", drugs["drug"]), strict=True
    ):
        if any(entry[0] == drug and entry[1] == level for entry in seen):
            continue
        label = f"{CLASS_TITLES.get(drug, drug)} (class)" if level == "class" else drug
        rank = families.index(family) if family in families else len(families)
        seen.append((drug, level, label, rank))
    return seen


def _finite(*columns: pd.Series, positive: bool) -> np.ndarray:
    values = np.column_stack([column.to_numpy(dtype=float) for column in columns])
    ok = np.isfinite(values).all(axis=1)
    if positive:
        ok &= (values > 0).all(axis=1)
    return ok


def not_computable(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per forest statistic, the headline rows with a >= 1 it cannot draw (a zero cell gives an infinite or
    undefined estimate or limit), described as 'drug · event · role/comparator/duplicates'. Rows with a = 0
    are counted apart (:func:`pv.report.text.missing_sentence`), not listed."""
    missing: dict[str, list[str]] = {}
    reported = frame[frame["a"] > 0] if not frame.empty else frame
    for estimate, lower, upper, title, _, _, log in FOREST_STATISTICS:
        if reported.empty:
            missing[title] = []
            continue
        bad = reported[~_finite(reported[estimate], reported[lower], reported[upper], positive=log)]
        missing[title] = [
            f"{row.drug} · {row.event} · {row.role}/{row.comparator}/{row.duplicates}"
            for row in bad.itertuples(index=False)
        ]
    return missing


def _log_axis(ax, low: float, high: float) -> None:
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    decades = math.log10(high / low)
    subs = (1.0,) if decades > 2.6 else (1.0, 2.0, 5.0)
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=False))


def forest_plot(frame: pd.DataFrame, path: Path, *, title: str | None = None) -> Path:
    """Forest plot of PRR, ROR and IC with their intervals: one panel per statistic and event group, one
    row per drug (classes in bold above their ingredients) and the twelve analysis variants stacked within
    each row, so a reader sees at once whether a signal survives a change of role, comparator or
    duplicate handling. Rows whose estimate or limits are not finite are skipped and listed in the note.
    """
    path = Path(path)
    rows = _drug_rows(frame) if not frame.empty else []
    events = [e for e in HEADLINE_EVENTS if e in set(frame.get("event", []))]
    events += sorted(set(frame.get("event", [])) - set(events))
    missing = not_computable(frame)
    row_height, top, gap = 1.0, 1.0, 0.95
    n_rows = max(len(rows), 1)
    panel = n_rows * row_height + 0.25
    note_lines = 3 + sum(1 for names in missing.values() if names)
    bottom = 0.75 + 1.2 + 0.2 * note_lines
    height = top + max(len(events), 1) * panel + (max(len(events), 1) - 1) * gap + bottom
    fig = Figure(figsize=(FOREST_WIDTH_IN, height), dpi=DPI)
    fig.suptitle(
        title or "Dermatomyositis × taxanes and anti-HER2 agents: PRR, ROR and IC across analysis variants",
        fontsize=14,
        fontweight="bold",
        y=1 - 0.3 / height,
    )
    if not rows:
        fig.text(0.5, 0.5, "No report of dermatomyositis with a taxane or anti-HER2 agent.", ha="center")
        _save(fig, path)
        return path

    grid = fig.add_gridspec(
        len(events),
        len(FOREST_STATISTICS),
        left=2.3 / FOREST_WIDTH_IN,
        right=1 - 0.3 / FOREST_WIDTH_IN,
        top=1 - top / height,
        bottom=bottom / height,
        hspace=gap / panel,
        wspace=0.12,
    )
    position = {(drug, level): index for index, (drug, level, _, _) in enumerate(rows)}
    offsets = _variant_offsets()
    frame = frame.assign(
        _y=[
            position[(drug, level)] + offsets.get(tuple(key), 0.0)
            for drug, level, *key in zip(
                frame["drug"],
                frame["drug_level"],
                frame["role"],
                frame["comparator"],
                frame["duplicates"],
                strict=True,
            )
        ]
    )
    frame["_variant"] = list(zip(frame["role"], frame["comparator"], frame["duplicates"], strict=True))

    first_axes = None
    for column, (estimate, lower, upper, stat, interval, rule, log) in enumerate(FOREST_STATISTICS):
        drawable = frame[_finite(frame[estimate], frame[lower], frame[upper], positive=log)]
        if log:
            low = min(drawable[lower].min(), 1.0) if len(drawable) else 0.1
            high = max(drawable[upper].max(), 1.0) if len(drawable) else 10.0
            limits = (low / 1.6, high * 1.6)
        else:
            low = min(drawable[lower].min(), 0.0) if len(drawable) else -1.0
            high = max(drawable[upper].max(), 0.0) if len(drawable) else 1.0
            pad = 0.06 * (high - low)
            limits = (low - pad, high + pad)
        column_axes = None
        for row_index, event in enumerate(events):
            ax = fig.add_subplot(grid[row_index, column], sharey=first_axes, sharex=column_axes)
            first_axes = first_axes or ax
            column_axes = column_axes or ax
            _forest_panel(
                ax,
                frame[frame["event"] == event],
                drawable[drawable["event"] == event],
                rows,
                (estimate, lower, upper, rule),
                counts=column == len(FOREST_STATISTICS) - 1,
            )
            if log:
                _log_axis(ax, *limits)
                ax.axvline(1.0, color="#444444", linewidth=1.0, zorder=1)
            else:
                ax.set_xlim(*limits)
                ax.axvline(0.0, color="#444444", linewidth=1.0, zorder=1)
            ax.set_title(f"{EVENT_SHORT.get(event, event)} · {stat} ({interval})", fontsize=10.5, loc="left")
            scale = "log scale" if log else "log2 scale, shrinkage"
            ax.set_xlabel(f"{stat} ({scale})", fontsize=9)
            ax.tick_params(axis="x", labelsize=8.5)
            if column == 0:
                ax.set_yticks(range(len(rows)), [label for _, _, label, _ in rows])
                for tick, (_, level, _, _) in zip(ax.get_yticklabels(), rows, strict=True):
                    tick.set_fontweight("bold" if level == "class" else "normal")
                    tick.set_fontsize(9.5)
            else:
                ax.tick_params(axis="y", labelleft=False, length=0)
    first_axes.set_ylim(len(rows) - 0.5, -0.5)

    fig.legend(
        *_forest_legend(),
        loc="lower center",
        bbox_to_anchor=(0.5, (0.2 * note_lines + 0.15) / height),
        ncol=3,
        frameon=False,
        fontsize=9,
        columnspacing=3.0,
        handletextpad=0.6,
    )
    for text in fig.legends[0].get_texts():
        if text.get_text().endswith(":"):
            text.set_fontweight("bold")
    order = ", ".join(f"{role}/{comparator}/{dups}" for role, comparator, dups in VARIANTS[:4])
    notes = [
        "Each drug row stacks the variants (role/comparator/duplicates) top to bottom: "
        f"{order}, … then the oncology, breast_cancer, active and masked comparators. A variant with no "
        "report of the pair is absent; 'no report' marks a drug without any report of the event; 'a = n' at "
        "the right of the IC panels is the number of reports in the primary analysis (suspect/all/without).",
        "Black-edged markers meet the statistic's rule: PRR Evans (PRR ≥ 2, Yates χ² ≥ 4, a ≥ 3), "
        "ROR025 > 1 with a ≥ 3, IC025 > 0. PRR and ROR on log axes with the line of no disproportionality "
        "at 1; IC = log2((a+0.5)/(E+0.5)) with the line at 0.",
    ]
    for stat, names in missing.items():
        if names:
            shown = "; ".join(names[:6]) + (f"; and {len(names) - 6} more" if len(names) > 6 else "")
            notes.append(f"{stat} not computable (zero cell), not drawn: {count_rows(len(names))} — {shown}.")
    if not any(missing.values()):
        notes.append("Every headline row had a computable PRR, ROR and IC with finite limits.")
    fig.text(
        0.012,
        0.1 / height,
        "\n".join(_wrap(note, 190) for note in notes),
        fontsize=8,
        color="#333333",
        va="bottom",
        ha="left",
        linespacing=1.35,
    )
    _save(fig, path)
    return path


def _variant_offsets() -> dict[tuple[str, str, str], float]:
    """Vertical positions of the variants within a drug row, with a gap between comparator clusters."""
    slots = []
    for index in range(len(VARIANTS)):
        slots.append(index + 0.8 * (index // (len(ROLES) * len(DUPLICATES))))
    span = slots[-1] - slots[0]
    return {
        variant: -0.42 + 0.84 * (slot - slots[0]) / span
        for variant, slot in zip(VARIANTS, slots, strict=True)
    }


def _forest_panel(
    ax, rows_of_event: pd.DataFrame, drawable: pd.DataFrame, rows, columns, *, counts: bool = False
) -> None:
    """One statistic for one event: every drug row's variants; ``counts`` writes each row's a (primary
    analysis) at the panel's right edge, so a = 1 never looks as weighty as a = 5."""
    estimate, lower, upper, rule = columns
    families = [rank for _, _, _, rank in rows]
    start = 0
    shade = False
    for index in range(1, len(rows) + 1):
        if index == len(rows) or families[index] != families[start]:
            if shade:
                ax.axhspan(start - 0.5, index - 0.5, color="#f1f3f5", zorder=0, linewidth=0)
            shade = not shade
            start = index
    for index in range(len(rows) - 1):
        ax.axhline(index + 0.5, color="#d0d4d9", linewidth=0.6, zorder=0.5)
    across = blended_transform_factory(ax.transAxes, ax.transData)
    primary = rows_of_event
    for column, value in DEFAULT_VARIANT.items():
        primary = primary[primary[column] == value]
    reports = dict(zip(zip(primary["drug"], primary["drug_level"], strict=True), primary["a"], strict=True))
    anywhere = rows_of_event[rows_of_event["a"] > 0]
    present = set(zip(anywhere["drug"], anywhere["drug_level"], strict=True))
    for index, (drug, level, _, _) in enumerate(rows):
        if counts and reports.get((drug, level), 0) > 0:
            ax.text(
                1.0,
                index,
                f"a = {reports[(drug, level)]:.0f}",
                transform=across,
                ha="right",
                va="center",
                fontsize=8,
                color="#333333",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
                zorder=5,
            )
        if (drug, level) not in present:
            ax.text(
                0.5,
                index,
                "no report",
                transform=across,
                ha="center",
                va="center",
                fontsize=8,
                color="#8a8f95",
                style="italic",
            )
    # A variant without a report of the pair has nothing to show (its IC is the shrinkage towards 0 alone).
    for variant, part in drawable[drawable["a"] > 0].groupby("_variant", sort=False):
        role, comparator, duplicates = variant
        colour = COMPARATOR_COLOURS.get(comparator, "#555555")
        marker = VARIANT_MARKERS.get((role, duplicates), "o")
        ax.hlines(part["_y"], part[lower], part[upper], color=colour, linewidth=1.1, alpha=0.9, zorder=2)
        met = part[rule].fillna(False).astype(bool).to_numpy()
        ax.scatter(
            part.loc[~met, estimate],
            part.loc[~met, "_y"],
            marker=marker,
            s=24,
            color=colour,
            edgecolors="white",
            linewidths=0.4,
            zorder=3,
        )
        ax.scatter(
            part.loc[met, estimate],
            part.loc[met, "_y"],
            marker=marker,
            s=46,
            color=colour,
            edgecolors="black",
            linewidths=1.2,
            zorder=4,
        )
    ax.grid(axis="x", color="#e3e6ea", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _forest_legend() -> tuple[list, list[str]]:
    blank = Line2D([], [], linestyle="none")
    handles: list = [blank]
    labels = ["Comparator:"]
    for comparator, colour in COMPARATOR_COLOURS.items():
        handles.append(Line2D([], [], color=colour, marker="o", markersize=6, linewidth=1.1))
        labels.append(
            {
                "all": "all reports",
                "oncology": "oncology indication",
                "breast_cancer": "breast cancer indication",
            }[comparator]
        )
    handles.append(blank)
    labels.append(" ")
    handles.append(blank)
    labels.append("Drug role / flagged duplicates:")
    for (role, duplicates), marker in VARIANT_MARKERS.items():
        handles.append(Line2D([], [], color="#555555", marker=marker, markersize=6, linestyle="none"))
        role_text = "suspect (PS/SS)" if role == "suspect" else "any role"
        labels.append(f"{role_text}, {duplicates} duplicates")
    handles.append(blank)
    labels.append("Marks:")
    handles.append(
        Line2D(
            [],
            [],
            color="#555555",
            marker="o",
            markersize=7,
            markeredgecolor="black",
            markeredgewidth=1.2,
            linestyle="none",
        )
    )
    labels.append("rule met for that statistic")
    handles.append(Line2D([], [], color="#555555", linewidth=1.1))
    labels.append("interval (95% CI; IC025–IC975)")
    handles.append(Line2D([], [], color="#444444", linewidth=1.0))
    labels.append("no disproportionality (1; IC 0)")
    handles.append(blank)
    labels.append(" ")
    return handles, labels


def ic_over_time_plot(history: pd.DataFrame, path: Path, *, title: str | None = None) -> Path:
    """IC with its IC025–IC975 band, cumulative by quarter, for the headline pairs of the default variant.

    Classes and ingredients get separate panel rows (classes solid, ingredients dashed) so the bands stay
    readable; one column per event group, a shared y axis so narrow and broad compare directly. The x axis
    is time (each quarter at its midpoint), so a gap of years between quarters shows as one; a star marks the
    first quarter the IC rule flagged each pair.
    """
    path = Path(path)
    frame = history
    if not frame.empty and set(VARIANT_COLUMNS) <= set(frame.columns):
        keep = np.ones(len(frame), dtype=bool)
        for column, value in DEFAULT_VARIANT.items():
            keep &= (frame[column] == value).to_numpy()
        frame = frame[keep]
    quarters = sorted(set(frame.get("quarter", [])), key=Quarter.parse)
    x_of = {quarter: _decimal_year(quarter) for quarter in quarters}
    fig = Figure(figsize=IC_FIGSIZE_IN, dpi=DPI)
    fig.suptitle(
        title
        or "Dermatomyositis: shrinkage IC by quarter (cumulative) — suspect role, all reports, "
        "without flagged duplicates",
        fontsize=13,
        fontweight="bold",
        y=0.975,
    )
    grid = fig.add_gridspec(2, 2, left=0.065, right=0.8, top=0.895, bottom=0.14, hspace=0.42, wspace=0.08)
    levels = (("class", "Classes"), ("ingredient", "Ingredients"))
    events = list(HEADLINE_EVENTS)
    colours = _drug_colours(frame)
    first = None
    for row, (level, level_title) in enumerate(levels):
        for column, event in enumerate(events):
            ax = fig.add_subplot(grid[row, column], sharex=first, sharey=first)
            first = first or ax
            part = frame[(frame["drug_level"] == level) & (frame["event"] == event)] if len(frame) else frame
            ax.axhline(0.0, color="#444444", linewidth=1.0, zorder=1)
            for drug, lines in part.groupby("drug", sort=True):
                lines = lines.sort_values("quarter", key=lambda s: s.map(lambda q: x_of[q]))
                x = lines["quarter"].map(x_of).to_numpy()
                colour = colours[(drug, level)]
                label = f"{CLASS_TITLES.get(drug, drug)}" if level == "class" else drug
                if len(x) == 1:
                    # A band needs two quarters; one quarter gets its interval as an error bar.
                    ax.vlines(
                        x, lines["ic025"], lines["ic975"], color=colour, alpha=0.45, linewidth=5, zorder=1.5
                    )
                else:
                    ax.fill_between(
                        x, lines["ic025"], lines["ic975"], color=colour, alpha=0.13, linewidth=0, zorder=1.5
                    )
                ax.plot(
                    x,
                    lines["ic"],
                    color=colour,
                    linewidth=2.2 if level == "class" else 1.5,
                    linestyle="-" if level == "class" else "--",
                    marker="s" if level == "class" else "o",
                    markersize=4,
                    label=label,
                    zorder=3,
                )
                flagged = (
                    lines[lines["signal_ic"].fillna(False).astype(bool)]
                    if "signal_ic" in lines
                    else lines[:0]
                )
                if len(flagged):
                    onset = flagged.iloc[0]
                    ax.scatter(
                        [x_of[onset["quarter"]]],
                        [onset["ic"]],
                        marker="*",
                        s=150,
                        color=colour,
                        edgecolors="black",
                        linewidths=0.8,
                        zorder=4,
                    )
            if part.empty:
                ax.text(
                    0.5,
                    0.5,
                    "no report",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="#8a8f95",
                    style="italic",
                )
            ax.set_title(f"{level_title} — {EVENT_TITLES.get(event, event)}", fontsize=10.5, loc="left")
            ax.grid(color="#e3e6ea", linewidth=0.6)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            if column == 0:
                ax.set_ylabel("IC (log2), band IC025–IC975", fontsize=9)
            else:
                ax.tick_params(axis="y", labelleft=False)
            if column == len(events) - 1:
                handles, labels = _merged_handles(level, colours)
                if handles:
                    ax.legend(
                        handles,
                        labels,
                        loc="upper left",
                        bbox_to_anchor=(1.03, 1.0),
                        frameon=False,
                        fontsize=9,
                        title=level_title,
                        title_fontproperties={"weight": "bold"},
                    )
    if quarters and first is not None:
        start, end = x_of[quarters[0]], x_of[quarters[-1]]
        pad = max(0.25, 0.03 * (end - start))
        first.set_xlim(start - pad, end + pad)
        years = range(math.floor(start), math.ceil(end) + 1)
        step = max(1, math.ceil(len(years) / 12))
        first.set_xticks([year for year in years][::step], [str(year) for year in years][::step])
        for ax in fig.axes:
            ax.tick_params(axis="x", labelsize=8.5, labelbottom=True)
    fig.text(
        0.012,
        0.015,
        _wrap(
            "Cumulative statistics through each quarter (a case counts from the quarter it was first "
            "published). IC025 > 0, i.e. a band wholly above the zero line, is the IC signal rule; a star "
            "marks the first quarter it flagged the pair. Lines start in the first quarter with a report of "
            "the pair; the axis is calendar time (tick = start of the year), so gaps between the quarters "
            "the database holds show as gaps.",
            200,
        ),
        fontsize=8,
        color="#333333",
        va="bottom",
    )
    _save(fig, path)
    return path


def _decimal_year(quarter: str) -> float:
    """A quarter's midpoint in years (2024Q1 → 2024.125), for a time axis."""
    parsed = Quarter.parse(quarter)
    return parsed.year + (parsed.q - 0.5) / 4


def _drug_colours(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Classes in four fixed colours; ingredients in a qualitative palette, stable across panels."""
    class_colours = {
        "taxane": "#0072B2",
        "anti_her2_antibody": "#009E73",
        "anti_her2_adc": "#D55E00",
        "her2_tki": "#CC79A7",
    }
    palette = [
        "#1b9e77",
        "#d95f02",
        "#7570b3",
        "#e7298a",
        "#66a61e",
        "#e6ab02",
        "#a6761d",
        "#666666",
        "#1f78b4",
        "#b2df8a",
        "#fb9a99",
        "#cab2d6",
    ]
    colours: dict[tuple[str, str], str] = {}
    if frame.empty:
        return colours
    ingredients = 0
    for drug, level, _, _ in _drug_rows(frame):
        if level == "class":
            colours[(drug, level)] = class_colours.get(drug, "#333333")
        else:
            colours[(drug, level)] = palette[ingredients % len(palette)]
            ingredients += 1
    return colours


def _merged_handles(level: str, colours: dict[tuple[str, str], str]) -> tuple[list, list[str]]:
    """One legend entry per drug of the level, even when it appears in only one of the two panels."""
    handles, labels = [], []
    for (drug, drug_level), colour in colours.items():
        if drug_level != level:
            continue
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linewidth=2.2 if level == "class" else 1.5,
                linestyle="-" if level == "class" else "--",
                marker="s" if level == "class" else "o",
                markersize=4,
            )
        )
        labels.append(CLASS_TITLES.get(drug, drug) if level == "class" else drug)
    return handles, labels
