"""Case series for one drug–event pair, with time to onset, its Weibull shape and challenge counts.

A disproportionality signal says *that* a drug and an event are reported together more than expected; the case
series is what a reviewer reads next: who the patients were, what else was suspect, what the drug was given
for, whether the event went away when the drug was stopped (dechallenge) and came back when it was restarted
(rechallenge), and when it started. Time to onset is where FAERS dates mislead most, so every onset carries
its precision and the range of days it can stand for:

* partial dates (``YYYYMM``/``YYYY``) are stored as the first day of their period (``pv/sql/SCHEMA.md``); an
  onset from a partial date is an interval, never a day count;
* event dates were padded to the 1st / 1 January in legacy (AERS) quarters and again from 2021Q3
  (faers_format.md §5-6), so there a day-precision event date on the 1st is read as month precision (year
  precision on 1 January). FAERS therapy dates were never padded; legacy extracts padded every date, so a
  legacy therapy start on the 1st gets the same reading (``legacy_therapy_padding``);
* a period never ends after the report reached FDA (``fda_dt``), which narrows padded dates in recent
  quarters.

The time-to-onset distribution is summarised by the Weibull shape parameter β (Cornelius et al. 2012; Sauzet
et al. 2013): β < 1 means the hazard falls with time since the start (events cluster early, "early failure"),
β ≈ 1 a constant hazard ("random failure"), β > 1 a hazard that grows with exposure ("wear-out"). It is fitted
by maximum likelihood on exact (day-precision) positive onsets with a profile-likelihood 95% CI; a second,
interval-censored fit also uses the onsets that rest on partial dates (both fits: :mod:`pv.stats.weibull`).
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, TextIO

import duckdb
import numpy as np
import pandas as pd

from pv.counts import PAIR_COLUMNS, TARGET_COMPARATORS, VARIANT_COLUMNS, VARIANT_VALUES
from pv.db import open_published, provenance_line, store_frame
from pv.errors import UserError
from pv.normalize import drug_names, event_terms
from pv.normalize.drugs import TARGET_CLASSES, dictionary_names, stored_learned_dictionary
from pv.normalize.events import VOCAB_DIR
from pv.sqlfiles import render
from pv.stats.proportion import wilson_interval
from pv.stats.weibull import weibull_exact, weibull_interval

ROLE_CODES = ("PS", "SS", "I", "C", "DN")
COMPARATORS = VARIANT_VALUES["comparator"]
# Rechallenge "D" was a filler on most rows of these quarters (faers_format.md §4.2; FAQ #19).
RECHAL_FILLER_QUARTERS = ("2012Q4", "2015Q3")

_KEY_RE = re.compile(r"[\s\-]+")
_DAY_HALF_WIDTH = 0.5

SERIES_COLUMNS = (
    "caseid",
    "primaryid",
    "quarter",
    "layout",
    "age_years",
    "sex",
    "reporter_country",
    "reporter_type",
    "serious",
    "outcomes",
    "died",
    "is_duplicate",
    "ingredients",
    "drugnames",
    "drug_seqs",
    "role_cod",
    "co_suspects",
    "indications",
    "event_pts",
    "dechal",
    "rechal",
    "start_dt",
    "start_dt_precision",
    "start_dt_padded",
    "event_dt",
    "event_dt_precision",
    "event_dt_padded",
    "time_to_onset_days",
    "onset_precision",
    "onset_interval_days",
    "negative_onset",
    "possibly_negative_onset",
)
_LIST_COLUMNS = (
    "outcomes",
    "ingredients",
    "drugnames",
    "drug_seqs",
    "co_suspects",
    "indications",
    "event_pts",
)


# ------------------------------------------------------------------------------------------- selectors


@dataclass(frozen=True, slots=True)
class DrugSelector:
    """What ``--drug`` resolved to: the ingredients (or class) whose drug records count as exposure.

    ``match_all`` is set for a combination name (PHESGO → pertuzumab + trastuzumab): the report must carry
    every ingredient on one drug_seq, otherwise a combination product's series would be every trastuzumab
    case.
    """

    query: str
    kind: Literal["ingredient", "class", "name"]
    ingredients: tuple[str, ...]
    drug_class: str | None = None
    match_all: bool = False
    method: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "class":
            members = ", ".join(self.ingredients) if self.ingredients else "none reported"
            return f"class {self.drug_class} ({members})"
        what = " + ".join(self.ingredients)
        if self.kind == "ingredient":
            return what
        return f"{what} (from name {self.query!r}, {self.method} match)"


@dataclass(frozen=True, slots=True)
class EventSelector:
    """What ``--event`` resolved to: an event group (``dm_narrow`` …) or one canonical PT."""

    query: str
    kind: Literal["group", "pt"]
    group: str | None = None
    pt: str | None = None

    @property
    def label(self) -> str:
        return f"event group {self.group}" if self.kind == "group" else f"PT {self.pt!r}"


def _key(text: str) -> str:
    return _KEY_RE.sub("_", text.strip().lower())


def _require_curated(con: duckdb.DuckDBPyConnection) -> None:
    tables = {
        name
        for (name,) in con.sql(
            "select schema_name || '.' || table_name from duckdb_tables() where schema_name = 'curated'"
        ).fetchall()
    }
    needed = {"curated.cases", "curated.case_drugs", "curated.case_events", "curated.case_indications"}
    if not needed <= tables:
        raise UserError("the database has no curated layer; run `pv build` first")


def resolve_drug(con: duckdb.DuckDBPyConnection, drug: str) -> DrugSelector:
    """A class (``taxane``), an ingredient in the database (``docetaxel``) or a name ``drug_names`` maps.

    The name route is the same normaliser the curated layer used, so a brand (TAXOTERE) finds exactly the
    records its ingredient was coded to. A name is accepted when the dictionary knows it (exact or audited
    fuzzy match), when it names a target class, or when every ingredient it cleans to is reported in the
    database; otherwise it is a typo or an unmapped name, and we say so instead of returning an empty series.
    """
    _require_curated(con)
    text = drug.strip()
    if not text:
        raise UserError("no drug given; name an ingredient, a class or a brand")
    key = _key(text)
    if key in TARGET_CLASSES:
        members = con.execute(
            "select distinct ingredient from curated.case_drugs "
            "where drug_class = $cls and ingredient is not null order by 1",
            {"cls": key},
        ).fetchall()
        return DrugSelector(text, "class", tuple(m for (m,) in members), drug_class=key)
    reported = {
        name for (name,) in con.sql("select distinct ingredient from curated.case_drugs").fetchall() if name
    }
    if text.lower() in reported:
        return DrugSelector(text, "ingredient", (text.lower(),))
    row = drug_names([text], learned=stored_learned_dictionary(con)).iloc[0]
    ingredients = tuple(sorted(dict.fromkeys(row["ingredients"])))
    known = (
        row["method"] in ("exact", "learned", "fuzzy") or bool(row["classes"]) or set(ingredients) <= reported
    )
    if not ingredients or row["method"] == "none" or not known:
        candidates = sorted(reported | set(TARGET_CLASSES) | set(dictionary_names()))
        raise UserError(
            f"no ingredient, class or known name {text!r}{_suggest(text, candidates)}; try pv unmapped"
        )
    if len(ingredients) == 1 and ingredients[0] == text.lower():
        return DrugSelector(text, "ingredient", ingredients)
    return DrugSelector(text, "name", ingredients, match_all=len(ingredients) > 1, method=str(row["method"]))


@cache
def _vocabulary_event_groups() -> frozenset[str]:
    with (VOCAB_DIR / "event_groups.csv").open(newline="", encoding="utf-8") as handle:
        return frozenset(row["group"] for row in csv.DictReader(handle))


def resolve_event(con: duckdb.DuckDBPyConnection, event: str) -> EventSelector:
    """An event group (``dm_narrow``) or a PT text, normalised with ``event_terms`` like REAC terms were.

    A PT is accepted when some case reports it or the vocabulary groups it; anything else is most likely a
    typo, so it is refused rather than silently giving zero cases.
    """
    _require_curated(con)
    text = event.strip()
    if not text:
        raise UserError("no event given; name an event group (e.g. dm_narrow) or a MedDRA PT")
    reported_groups = {
        group
        for (group,) in con.sql(
            "select distinct g from (select unnest(event_groups) as g from curated.case_events)"
        ).fetchall()
        if group
    }
    groups = reported_groups | _vocabulary_event_groups()
    key = _key(text)
    if key in groups:
        return EventSelector(text, "group", group=key)
    row = event_terms([text]).iloc[0]
    pt = row["pt"]
    if pt:
        found = con.execute(
            "select min(pt) from curated.case_events where lower(pt) = lower($pt)", {"pt": pt}
        ).fetchall()[0][0]
        if found is not None:
            return EventSelector(text, "pt", pt=found)
        if len(row["groups"]) > 0:
            return EventSelector(text, "pt", pt=pt)
    reported_pts = [pt for (pt,) in con.sql("select distinct pt from curated.case_events").fetchall() if pt]
    suggestion = _suggest(text, sorted(groups) + reported_pts)
    listed = ", ".join(sorted(groups))
    raise UserError(f"no event group or reported PT {text!r}{suggestion}; groups: {listed}")


def _suggest(text: str, candidates: Sequence[str]) -> str:
    """``; did you mean …?`` with the closest candidates (case-insensitive), or nothing when none is close."""
    by_key = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(text.strip().lower(), list(by_key), n=3, cutoff=0.75)
    return f"; did you mean {' or '.join(repr(by_key[key]) for key in close)}?" if close else ""


# ------------------------------------------------------------------------------------------- case series


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _roles(roles: Sequence[str] | str | None) -> tuple[str, list[str] | None]:
    """(rule, codes): ``suspect`` and ``any`` are the analysis roles, defined once in SQL (``pv_is_suspect``,
    ``pv_is_exposure``); otherwise the role codes asked for."""
    if roles is None or (isinstance(roles, str) and roles.strip().lower() in ("suspect", "any")):
        return (roles or "any").strip().lower(), None
    parts = roles.split(",") if isinstance(roles, str) else list(roles)
    codes = tuple(dict.fromkeys(part.strip().upper() for part in parts if part.strip()))
    unknown = [code for code in codes if code not in ROLE_CODES]
    if not codes or unknown:
        bad = ", ".join(unknown) if unknown else "nothing"
        raise UserError(f"unknown drug role {bad}; use suspect, any, or codes from {', '.join(ROLE_CODES)}")
    return "codes", list(codes)


def case_series(
    con: duckdb.DuckDBPyConnection,
    drug: str | DrugSelector,
    event: str | EventSelector,
    *,
    roles: Sequence[str] | str | None = "suspect",
    include_duplicates: bool = False,
    comparator: str = "all",
    legacy_therapy_padding: bool = True,
    curated: str = "curated",
) -> pd.DataFrame:
    """One row per retained case reporting the drug (in ``roles``) and the event, columns ``SERIES_COLUMNS``.

    ``roles``: ``"suspect"`` (PS, SS; the default, because a concomitant drug is, by the reporter's account,
    not the cause), ``"any"`` or None (every role but DN, which is no exposure), or role codes (a sequence
    or a comma-separated string). ``include_duplicates`` keeps cases flagged as cross-case duplicates (one
    patient reported twice would otherwise count twice). ``comparator`` restricts to cases where some drug
    was given for cancer (``oncology``) or breast cancer (``breast_cancer``), the population where
    confounding by indication is comparable.

    When several drug records of a case match (two drug_seqs, or two taxanes for a class), ``drug_seqs`` and
    ``ingredients`` list them all, ``role_cod`` is the strongest role, ``dechal``/``rechal`` the most
    informative answer (Y, then N, U, D), ``indications`` the union over those drug_seqs and ``start_dt`` the
    earliest therapy start (onset is measured from first exposure). ``rechal`` is as published; see
    :func:`dechallenge_summary` for the 2012Q4–2015Q3 ``D`` filler.

    Dates: ``*_precision`` is the precision after the padding rule (``*_padded`` says it was downgraded);
    ``time_to_onset_days`` is ``event_dt - start_dt`` on the stored dates (first day of a partial period), so
    it is a day count only when ``onset_precision`` is ``day``; ``onset_interval_days`` is
    ``[lowest, highest]`` number of days the two dates allow. ``negative_onset``: the event certainly
    preceded the start (kept, as reported); ``possibly_negative_onset``: the interval straddles zero.

    ``curated`` names the schema holding the curated case tables; :func:`headline_onset` passes its copy
    restricted to the headline's cases (:func:`_headline_scope`).
    """
    drug_sel = drug if isinstance(drug, DrugSelector) else resolve_drug(con, drug)
    event_sel = event if isinstance(event, EventSelector) else resolve_event(con, event)
    if comparator not in COMPARATORS:
        raise UserError(f"unknown comparator {comparator!r}; use one of {', '.join(COMPARATORS)}")
    _require_curated(con)
    role_rule, codes = _roles(roles)
    if comparator in TARGET_COMPARATORS:
        return _target_variant_series(
            con,
            drug_sel,
            event_sel,
            role_rule,
            codes,
            include_duplicates,
            comparator,
            legacy_therapy_padding,
            curated,
        )
    params = {
        "ingredients": list(drug_sel.ingredients),
        "drug_class": drug_sel.drug_class,
        "match_all": drug_sel.match_all,
        "role_rule": role_rule,
        "roles": codes,
        "event_group": event_sel.group,
        "event_pt": event_sel.pt,
        "include_duplicates": include_duplicates,
        "comparator": comparator,
        "legacy_therapy_padding": legacy_therapy_padding,
    }
    frame = con.execute(render("marts/case_series", ident_curated=curated), params).df()
    # DuckDB hands lists over as arrays and NULL lists as NA; plain lists read and compare better.
    for column in _LIST_COLUMNS:
        frame[column] = [[] if _missing(value) else list(value) for value in frame[column]]
    frame["drug_seqs"] = [[int(seq) for seq in seqs] for seqs in frame["drug_seqs"]]
    frame["onset_interval_days"] = [
        None if _missing(value) else [int(v) for v in value] for value in frame["onset_interval_days"]
    ]
    frame["time_to_onset_days"] = frame["time_to_onset_days"].astype("Int64")
    frame["age_years"] = frame["age_years"].astype("Float64")
    for column in ("negative_onset", "possibly_negative_onset", "start_dt_padded", "event_dt_padded"):
        frame[column] = frame[column].astype("boolean")
    frame.attrs["drug"] = drug_sel
    frame.attrs["event"] = event_sel
    frame.attrs["roles"] = codes or [{"suspect": "PS, SS", "any": "any but DN"}[role_rule]]
    frame.attrs["include_duplicates"] = include_duplicates
    frame.attrs["comparator"] = comparator
    return frame.loc[:, list(SERIES_COLUMNS)].reset_index(drop=True)


# ------------------------------------------------------------------------------------------- summaries


def onset_summary(series: pd.DataFrame) -> dict[str, Any]:
    """Counts by onset precision, median/IQR of exact onsets and the Weibull shape of the onset distribution.

    Keys: ``n_cases``; ``n_onset_known`` (both dates present) split into ``n_exact`` (day precision) and
    ``n_partial`` (month/year; ``n_partial_from_padding`` of them only because a padded date was read as
    partial); ``n_onset_unknown``; ``n_negative`` (event certainly before start), ``n_possibly_negative``;
    ``n_exact_zero`` (same-day onsets); ``median_exact_days`` and ``iqr_exact_days`` over the
    ``n_exact_non_negative`` exact onsets ≥ 0 (a negative onset is not a time since exposure);
    ``weibull`` (exact positive onsets, the primary estimate) and ``weibull_interval`` (also the
    partial-date intervals). A fit with fewer than 3 onsets has shape None and a ``reason``.
    """
    precision = series["onset_precision"]
    exact_mask = (precision == "day").fillna(False).to_numpy(dtype=bool)
    partial_mask = precision.isin(["month", "year"]).to_numpy(dtype=bool)
    padded = series["event_dt_padded"].fillna(False).to_numpy(dtype=bool) | series["start_dt_padded"].fillna(
        False
    ).to_numpy(dtype=bool)
    reported_partial = np.array(
        [
            (e_prec in ("month", "year") and not e_pad) or (s_prec in ("month", "year") and not s_pad)
            for e_prec, e_pad, s_prec, s_pad in zip(
                series["event_dt_precision"],
                series["event_dt_padded"].fillna(False),
                series["start_dt_precision"],
                series["start_dt_padded"].fillna(False),
                strict=True,
            )
        ],
        dtype=bool,
    )
    exact = series.loc[exact_mask, "time_to_onset_days"].astype(float).to_numpy()
    non_negative = exact[exact >= 0]
    positive = exact[exact > 0]

    intervals = [
        (float(lo), float(hi))
        for lo, hi in (v for v, keep in zip(series["onset_interval_days"], partial_mask, strict=True) if keep)
    ]
    low = [max(d - _DAY_HALF_WIDTH, 0.0) for d in non_negative]
    high = [d + _DAY_HALF_WIDTH for d in non_negative]
    usable_partial = [(lo, hi) for lo, hi in intervals if hi >= 0]
    low += [max(lo - _DAY_HALF_WIDTH, 0.0) for lo, _ in usable_partial]
    high += [hi + _DAY_HALF_WIDTH for _, hi in usable_partial]

    primary = weibull_exact(positive)
    interval = weibull_interval(np.array(low), np.array(high), primary["shape"])
    interval["n_exact"] = len(non_negative)
    interval["n_partial"] = len(usable_partial)
    quartiles = np.percentile(non_negative, [25, 50, 75]) if len(non_negative) else None
    return {
        "n_cases": len(series),
        "n_onset_known": int(exact_mask.sum() + partial_mask.sum()),
        "n_exact": int(exact_mask.sum()),
        "n_partial": int(partial_mask.sum()),
        "n_partial_from_padding": int((partial_mask & padded & ~reported_partial).sum()),
        "n_onset_unknown": int(len(series) - exact_mask.sum() - partial_mask.sum()),
        "n_negative": int(series["negative_onset"].fillna(False).sum()),
        "n_possibly_negative": int(series["possibly_negative_onset"].fillna(False).sum()),
        "n_exact_zero": int((exact == 0).sum()),
        "n_exact_non_negative": len(non_negative),
        "median_exact_days": None if quartiles is None else float(quartiles[1]),
        "iqr_exact_days": None if quartiles is None else (float(quartiles[0]), float(quartiles[2])),
        "weibull": primary,
        "weibull_interval": interval,
    }


def _in_filler_period(quarter: object) -> bool:
    return isinstance(quarter, str) and RECHAL_FILLER_QUARTERS[0] <= quarter <= RECHAL_FILLER_QUARTERS[1]


def dechallenge_summary(series: pd.DataFrame) -> dict[str, Any]:
    """Dechallenge and rechallenge answers counted per case.

    ``positive`` Y (the event abated on withdrawal / recurred on re-exposure), ``negative`` N, ``unknown``
    U, ``not_applicable`` D (drug not withdrawn / not restarted), ``not_given`` empty. Rechallenge ``D`` in
    2012Q4–2015Q3 is a filler on most rows (faers_format.md §4.2), so there it counts as ``not_given``;
    ``rechal_filler_as_not_given`` says how many.
    """
    names = {"Y": "positive", "N": "negative", "U": "unknown", "D": "not_applicable"}
    dechal = dict.fromkeys([*names.values(), "not_given"], 0)
    rechal = dict.fromkeys([*names.values(), "not_given"], 0)
    fillers = 0
    for value in series["dechal"]:
        dechal[names.get(value, "not_given") if isinstance(value, str) else "not_given"] += 1
    for value, quarter in zip(series["rechal"], series["quarter"], strict=True):
        if value == "D" and _in_filler_period(quarter):
            fillers += 1
            rechal["not_given"] += 1
        else:
            rechal[names.get(value, "not_given") if isinstance(value, str) else "not_given"] += 1
    return {
        "n_cases": len(series),
        "dechallenge": dechal,
        "rechallenge": rechal,
        "rechal_filler_as_not_given": fillers,
    }


def challenge_share(counts: dict[str, int]) -> dict[str, Any]:
    """The share of positive answers among the known ones (positive + negative), with its Wilson 95% CI.

    Unknown (U), not applicable (D: the drug was not withdrawn / restarted) and empty answers say nothing
    about the drug, so they are left out of the denominator; with no known answer there is no share, and
    ``reason`` says so.
    """
    known = counts["positive"] + counts["negative"]
    if known == 0:
        return {"share": None, "ci": (None, None), "known": 0, "reason": "no positive or negative answer"}
    return {
        "share": counts["positive"] / known,
        "ci": wilson_interval(counts["positive"], known),
        "known": known,
        "reason": None,
    }


# The columns of marts.headline_onset after its keys (pv/sql/SCHEMA.md), with their pandas dtypes.
EVIDENCE_COLUMNS: dict[str, str] = {
    "n_cases": "Int64",
    "n_onset_exact": "Int64",
    "n_onset_partial": "Int64",
    "n_onset_partial_from_padding": "Int64",
    "n_onset_unknown": "Int64",
    "n_onset_negative": "Int64",
    "n_onset_possibly_negative": "Int64",
    "n_onset_same_day": "Int64",
    "n_onset_median": "Int64",
    "onset_median_days": "Float64",
    "onset_q1_days": "Float64",
    "onset_q3_days": "Float64",
    "weibull_n": "Int64",
    "weibull_shape": "Float64",
    "weibull_shape_lower": "Float64",
    "weibull_shape_upper": "Float64",
    "weibull_scale_days": "Float64",
    "weibull_status": "string",
    "weibull_reason": "string",
    "weibull_reading": "string",
    **{
        f"{kind}_{column}": dtype
        for kind in ("dechal", "rechal")
        for column, dtype in (
            ("positive", "Int64"),
            ("negative", "Int64"),
            ("unknown", "Int64"),
            ("not_applicable", "Int64"),
            ("not_given", "Int64"),
            ("positive_share", "Float64"),
            ("positive_share_lower", "Float64"),
            ("positive_share_upper", "Float64"),
            ("share_reason", "string"),
        )
    },
    "rechal_filler_as_not_given": "Int64",
}


def _weibull_reason(fit: dict[str, Any]) -> str | None:
    """Why the fit publishes no shape, or which side of a converged fit's CI the data leave unbounded."""
    if fit["shape"] is None:
        return fit["reason"]
    unbounded = [
        side for side, bound in zip(("lower", "upper"), fit["shape_ci"], strict=True) if bound is None
    ]
    if unbounded:
        return f"the {' and '.join(unbounded)} CI bound is outside the search range: the data do not bound it"
    return None


def series_evidence(series: pd.DataFrame) -> dict[str, Any]:
    """A case series' time to onset and challenges as one flat row (the columns ``EVIDENCE_COLUMNS``).

    The same :func:`onset_summary` and :func:`dechallenge_summary` that ``pv cases`` prints, so the mart and
    the case-series command cannot disagree. The Weibull shape is the primary fit (exact positive onsets),
    published only when ``weibull_status`` is ``converged``; otherwise ``weibull_reason`` says why.
    """
    onset = onset_summary(series)
    challenge = dechallenge_summary(series)
    fit = onset["weibull"]
    low, high = fit["shape_ci"]
    q1, q3 = onset["iqr_exact_days"] or (None, None)
    row: dict[str, Any] = {
        "n_cases": onset["n_cases"],
        "n_onset_exact": onset["n_exact"],
        "n_onset_partial": onset["n_partial"],
        "n_onset_partial_from_padding": onset["n_partial_from_padding"],
        "n_onset_unknown": onset["n_onset_unknown"],
        "n_onset_negative": onset["n_negative"],
        "n_onset_possibly_negative": onset["n_possibly_negative"],
        "n_onset_same_day": onset["n_exact_zero"],
        "n_onset_median": onset["n_exact_non_negative"],
        "onset_median_days": onset["median_exact_days"],
        "onset_q1_days": q1,
        "onset_q3_days": q3,
        "weibull_n": fit["n"],
        "weibull_shape": fit["shape"],
        "weibull_shape_lower": low,
        "weibull_shape_upper": high,
        "weibull_scale_days": fit["scale"],
        "weibull_status": fit["status"],
        "weibull_reason": _weibull_reason(fit),
        "weibull_reading": fit["interpretation"],
    }
    for kind, counts in (("dechal", challenge["dechallenge"]), ("rechal", challenge["rechallenge"])):
        share = challenge_share(counts)
        row |= {f"{kind}_{answer}": count for answer, count in counts.items()}
        row |= {
            f"{kind}_positive_share": share["share"],
            f"{kind}_positive_share_lower": share["ci"][0],
            f"{kind}_positive_share_upper": share["ci"][1],
            f"{kind}_share_reason": share["reason"],
        }
    row["rechal_filler_as_not_given"] = challenge["rechal_filler_as_not_given"]
    return row


def _selectors(
    drug_level: str, drug: str, event_level: str, event: str
) -> tuple[DrugSelector, EventSelector]:
    """The selectors of a marts.signals pair: an ingredient or class, an event group or PT, as counted."""
    drug_sel = (
        DrugSelector(drug, "class", (), drug_class=drug)
        if drug_level == "class"
        else DrugSelector(drug, "ingredient", (drug,))
    )
    event_sel = (
        EventSelector(event, "group", group=event)
        if event_level == "group"
        else EventSelector(event, "pt", pt=event)
    )
    return drug_sel, event_sel


# Which cases of a pair's series (role, every case) each variant keeps: the comparator's population
# (pv_in_comparator; for 'active' the target's indication population, marts.active_comparators; for 'masked'
# every case but those of marts.masked_cases whose masker pv_masks the target) and the duplicates setting.
# {curated}: the schema of the curated case tables, as for :func:`case_series`.
_VARIANT_MEMBERS = """
select variants.comparator, variants.duplicates, list(cases.caseid)
from {curated}.cases as cases,
    (select unnest($comparators) as comparator, unnest($duplicates) as duplicates) as variants
where list_contains($caseids, cases.caseid)
    and pv_in_duplicates(variants.duplicates, cases.is_duplicate)
    and case variants.comparator
        when 'active' then coalesce(
            (
                select bool_or(pv_in_comparator(population, cases.has_oncology_indication,
                    cases.has_breast_cancer_indication))
                from marts.active_comparators
                where drug_level = $pair[1] and drug = $pair[2]
            ),
            false
        )
        when 'masked' then cases.caseid not in (
            select masked.caseid
            from marts.masked_cases as masked
            inner join marts.headline_targets as targets
                on targets.kind = 'drug' and targets.level = $pair[1] and targets.name = $pair[2]
            where masked.event_level = $pair[3] and masked.event = $pair[4] and masked.role = $pair[5]
                and masked.duplicates = variants.duplicates
                and pv_masks(masked.masker, masked.masker_class, targets.name, targets.drug_class)
        )
        else pv_in_comparator(
            variants.comparator, cases.has_oncology_indication, cases.has_breast_cancer_indication
        )
    end
group by all
"""


def _target_variant_series(
    con: duckdb.DuckDBPyConnection,
    drug_sel: DrugSelector,
    event_sel: EventSelector,
    role_rule: str,
    codes: list[str] | None,
    include_duplicates: bool,
    comparator: str,
    legacy_therapy_padding: bool,
    curated: str,
) -> pd.DataFrame:
    """The series of an ``active`` or ``masked`` variant: the headline pair's cases the variant keeps
    (:data:`_VARIANT_MEMBERS`, the rule marts.headline_onset and the counts use). These variants exist only
    for the headline pairs and the analysis roles; anything else is a one-line error."""
    level, drug = ("class", drug_sel.drug_class) if drug_sel.kind == "class" else ("ingredient", None)
    if level == "ingredient" and len(drug_sel.ingredients) == 1 and not drug_sel.match_all:
        drug = drug_sel.ingredients[0]
    headline = (
        con.execute(
            "select count(*) from marts.headline_targets where kind = 'drug' and level = ? and name = ?",
            [level, drug],
        ).fetchall()[0][0]
        and con.execute(
            "select count(*) from marts.headline_targets where kind = 'event' and name = ?", [event_sel.group]
        ).fetchall()[0][0]
    )
    if not headline or event_sel.kind != "group" or codes is not None:
        raise UserError(
            f"the {comparator} comparator exists only for a target drug or class of the headline with "
            "dm_narrow or dm_broad, and the suspect or any role"
        )
    everyone = case_series(
        con,
        drug_sel,
        event_sel,
        roles=role_rule,
        include_duplicates=True,
        comparator="all",
        legacy_therapy_padding=legacy_therapy_padding,
        curated=curated,
    )
    duplicates = "with" if include_duplicates else "without"
    members = con.execute(
        _VARIANT_MEMBERS.format(curated=curated),
        {
            "comparators": [comparator],
            "duplicates": [duplicates],
            "caseids": [int(caseid) for caseid in everyone["caseid"]],
            "pair": [level, drug, "group", event_sel.group, role_rule],
        },
    ).fetchall()
    kept = set(members[0][2]) if members else set()
    frame = everyone[everyone["caseid"].isin(kept)].reset_index(drop=True)
    frame.attrs = everyone.attrs | {"include_duplicates": include_duplicates, "comparator": comparator}
    return frame


_HEADLINE_SCOPE = "headline_scope"


@contextmanager
def _headline_scope(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """The curated case tables restricted to the cases reporting a headline event, in a scratch in-memory
    database attached for the block (marts/headline_scope.sql); yields the schema to read them from.

    The headline's ~60 case series would otherwise each scan the whole history's case tables.
    """
    con.execute(f"attach ':memory:' as {_HEADLINE_SCOPE}")
    try:
        con.execute(render("marts/headline_scope", ident_scope=f"{_HEADLINE_SCOPE}.main"))
        yield f"{_HEADLINE_SCOPE}.main"
    finally:
        con.execute(f"detach {_HEADLINE_SCOPE}")


def headline_onset(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row of :func:`series_evidence` per marts.headline row (same grain: pair × variant).

    The case series depends on every variant key: the role decides which drug records are exposure (and so
    the first start and the challenge answer kept), the comparator and the duplicates setting which cases
    count. One series per pair and role is read with every case in (duplicates included, comparator all);
    each variant keeps the cases the analysis rules ``pv_in_comparator`` and ``pv_in_duplicates`` admit (for
    ``active`` the target's indication population, for ``masked`` all but marts.masked_cases), the same rules
    the counts use, so ``n_cases`` is the variant's ``a``. A pair and role no case reports
    (``a`` = 0 in every variant) has the empty series without reading it: most headline pairs, on a small
    database.
    """
    keys = [*PAIR_COLUMNS, *VARIANT_COLUMNS]
    headline = con.sql(f"select {', '.join(keys)}, a from marts.headline order by all").df()
    with _headline_scope(con) as curated:
        rows = _headline_evidence(con, headline, keys, curated)
    frame = pd.DataFrame(rows, columns=[*keys, *EVIDENCE_COLUMNS])
    return frame.astype({column: "string" for column in keys} | EVIDENCE_COLUMNS)


def _headline_evidence(
    con: duckdb.DuckDBPyConnection, headline: pd.DataFrame, keys: list[str], curated: str
) -> list[dict[str, Any]]:
    """The rows of :func:`headline_onset`, the case series read from the schema ``curated``."""
    no_cases = series_evidence(pd.DataFrame(columns=list(SERIES_COLUMNS)))
    rows = []
    for (drug, drug_level, event, event_level, role), variants in headline.groupby(
        [*PAIR_COLUMNS, "role"], sort=False
    ):
        admitted: dict[tuple[str, str], set[int]] = {}
        if variants["a"].max() > 0:
            drug_sel, event_sel = _selectors(drug_level, drug, event_level, event)
            series = case_series(
                con,
                drug_sel,
                event_sel,
                roles=role,
                include_duplicates=True,
                comparator="all",
                curated=curated,
            )
            series.attrs = {}  # pandas deep-copies attrs into every column it hands out: slow
            members = con.execute(
                _VARIANT_MEMBERS.format(curated=curated),
                {
                    "comparators": list(variants["comparator"]),
                    "duplicates": list(variants["duplicates"]),
                    "caseids": [int(caseid) for caseid in series["caseid"]],
                    "pair": [drug_level, drug, event_level, event, role],
                },
            ).fetchall()
            admitted = {(comparator, duplicates): set(ids) for comparator, duplicates, ids in members}
        for variant in variants[keys].itertuples(index=False):
            chosen = admitted.get((variant.comparator, variant.duplicates))
            evidence = series_evidence(series[series["caseid"].isin(chosen)]) if chosen else no_cases
            rows.append(dict(zip(keys, variant, strict=True)) | evidence)
    return rows


def store_headline_onset(con: duckdb.DuckDBPyConnection) -> int:
    """Write marts.headline_onset (:func:`headline_onset`); rows written."""
    return store_frame(con, "marts.headline_onset", headline_onset(con))


# ------------------------------------------------------------------------------------------- command


def _period_text(value: object, precision: object) -> str:
    if value is None or pd.isna(value):
        return ""
    stamp = pd.Timestamp(value)
    if precision == "year":
        return f"{stamp:%Y}"
    if precision == "month":
        return f"{stamp:%Y-%m}"
    return f"{stamp:%Y-%m-%d}"


def _onset_text(row: pd.Series) -> str:
    if row["onset_precision"] is None or pd.isna(row["onset_precision"]):
        return "unknown"
    low, high = row["onset_interval_days"]
    text = f"{low}" if row["onset_precision"] == "day" else f"{low}..{high} ({row['onset_precision']})"
    if row["negative_onset"]:
        text += " NEGATIVE"
    elif row["possibly_negative_onset"]:
        text += " maybe negative"
    return text


def reading_view(series: pd.DataFrame) -> pd.DataFrame:
    """The reading view: partial dates shown as their period, lists joined, onset as days or a range."""

    def joined(values: list) -> str:
        return ", ".join(str(v) for v in values)

    return pd.DataFrame(
        {
            "caseid": series["caseid"],
            "quarter": series["quarter"],
            "age": ["" if pd.isna(a) else f"{a:.0f}" for a in series["age_years"].astype(float)],
            "sex": series["sex"].fillna(""),
            "country": series["reporter_country"].fillna(""),
            "reporter": series["reporter_type"].fillna(""),
            "outcomes": [joined(v) for v in series["outcomes"]],
            "drug": [joined(v) for v in series["ingredients"]],
            "role": series["role_cod"],
            "co_suspects": [joined(v) for v in series["co_suspects"]],
            "indications": [joined(v) for v in series["indications"]],
            "events": [joined(v) for v in series["event_pts"]],
            "dechal": series["dechal"].fillna(""),
            "rechal": series["rechal"].fillna(""),
            "start": [
                _period_text(v, p)
                for v, p in zip(series["start_dt"], series["start_dt_precision"], strict=True)
            ],
            "event_dt": [
                _period_text(v, p)
                for v, p in zip(series["event_dt"], series["event_dt_precision"], strict=True)
            ],
            "onset_days": [_onset_text(row) for _, row in series.iterrows()],
            "dup": ["dup" if d else "" for d in series["is_duplicate"]],
        }
    )


def series_csv(series: pd.DataFrame) -> pd.DataFrame:
    out = series.copy()
    for column in (*_LIST_COLUMNS, "onset_interval_days"):
        out[column] = ["" if value is None else ";".join(str(v) for v in value) for value in out[column]]
    for column in ("start_dt", "event_dt"):
        out[column] = ["" if pd.isna(v) else f"{pd.Timestamp(v):%Y-%m-%d}" for v in out[column]]
    return out


def _ci_text(ci: tuple[float | None, float | None]) -> str:
    low, high = ci
    return f"{'?' if low is None else f'{low:.2f}'}–{'?' if high is None else f'{high:.2f}'}"


def _weibull_lines(name: str, fit: dict[str, Any]) -> list[str]:
    if fit["shape"] is None:
        return [f"  {name}: not estimated: {fit['reason']}"]
    return [
        f"  {name} (n={fit['n']}): shape β = {fit['shape']:.2f} (95% CI {_ci_text(fit['shape_ci'])}, "
        f"{fit['ci_method']}), scale {fit['scale']:.1f} days",
        f"    {fit['interpretation']}",
    ]


def summary_lines(series: pd.DataFrame) -> list[str]:
    """The summary block printed under the table: selection, counts, onset, Weibull, challenges."""
    drug_sel: DrugSelector | None = series.attrs.get("drug")
    event_sel: EventSelector | None = series.attrs.get("event")
    onset = onset_summary(series)
    challenge = dechallenge_summary(series)
    lines = []
    if drug_sel is not None and event_sel is not None:
        duplicates = (
            "duplicates included" if series.attrs.get("include_duplicates") else "duplicates excluded"
        )
        lines.append(
            f"drug: {drug_sel.label}; roles {', '.join(series.attrs.get('roles', []))}; "
            f"event: {event_sel.label}; comparator: {series.attrs.get('comparator')}; {duplicates}"
        )
    lines.append(
        f"cases: {onset['n_cases']} (serious {int(series['serious'].sum())}, died {int(series['died'].sum())}"
        + (
            f", flagged duplicates {int(series['is_duplicate'].sum())})"
            if series.attrs.get("include_duplicates")
            else ")"
        )
    )
    lines.append(
        f"time to onset: known for {onset['n_onset_known']} of {onset['n_cases']} cases: "
        f"{onset['n_exact']} exact (both dates to the day), {onset['n_partial']} rest on partial dates "
        f"(an interval, not a day count; {onset['n_partial_from_padding']} of them only because a date on "
        "the 1st was read as padded: event dates in legacy quarters and from 2021Q3, legacy therapy starts); "
        f"unknown for {onset['n_onset_unknown']}"
    )
    if onset["median_exact_days"] is not None:
        q1, q3 = onset["iqr_exact_days"]
        lines.append(
            f"  exact onsets ≥ 0: median {onset['median_exact_days']:g} days (IQR {q1:g}–{q3:g}); "
            f"{onset['n_exact_zero']} on the day of the start"
        )
    if onset["n_negative"] or onset["n_possibly_negative"]:
        lines.append(
            f"  event before therapy start: {onset['n_negative']} certainly, {onset['n_possibly_negative']} "
            "possibly (kept and flagged; excluded from the median and the fits)"
        )
    lines += _weibull_lines("Weibull, exact positive onsets", onset["weibull"])
    interval = onset["weibull_interval"]
    counted = f"{interval['n_exact']} exact + {interval['n_partial']} partial-date onsets"
    lines += _weibull_lines(f"Weibull, interval-censored ({counted})", interval)
    labels = ("positive", "negative", "unknown", "not_applicable", "not_given")
    for kind in ("dechallenge", "rechallenge"):
        counts = challenge[kind]
        text = ", ".join(f"{label.replace('_', ' ')} {counts[label]}" for label in labels)
        if kind == "rechallenge" and challenge["rechal_filler_as_not_given"]:
            text += f" (incl. {challenge['rechal_filler_as_not_given']} 'D' of 2012Q4–2015Q3, a filler)"
        lines.append(f"{kind}: {text}")
        share = challenge_share(counts)
        if share["share"] is None:
            lines.append(f"  positive share: not estimated: {share['reason']}")
        else:
            low, high = share["ci"]
            lines.append(
                f"  positive share: {counts['positive']} of {share['known']} known (Y or N) = "
                f"{share['share']:.0%} (Wilson 95% CI {low:.0%}–{high:.0%})"
            )
    return lines


def run_cases_command(
    db_path: Path,
    drug: str,
    event: str,
    roles: str,
    with_duplicates: bool,
    comparator: str,
    fmt: str,
    out: TextIO,
) -> int:
    """``pv cases``: print the case series (table or CSV) and the summary block; returns the exit code.

    With ``fmt="csv"`` only the CSV goes to ``out`` (so it can be redirected to a file) and the summary goes
    to stderr.
    """
    if fmt not in ("table", "csv"):
        raise UserError(f"unknown format {fmt!r}; use table or csv")
    with open_published(Path(db_path)) as con:
        series = case_series(
            con, drug, event, roles=roles, include_duplicates=with_duplicates, comparator=comparator
        )
        provenance = provenance_line(con)
    lines = summary_lines(series)
    if fmt == "csv":
        buffer = io.StringIO()
        series_csv(series).to_csv(buffer, index=False)
        out.write(buffer.getvalue())
        print("\n".join([*([provenance] if provenance else []), *lines]), file=sys.stderr)
        return 0
    if provenance:  # first, as on every surface: a generated case id looks like a real one
        out.write(textwrap.fill(provenance, 120, break_on_hyphens=False) + "\n\n")
    if len(series):
        out.write(reading_view(series).to_string(index=False, max_colwidth=40) + "\n\n")
    else:
        out.write("no cases\n\n")
    out.write(
        "\n".join(textwrap.fill(line, 120, subsequent_indent="  ", break_on_hyphens=False) for line in lines)
    )
    out.write("\n")
    return 0


# ------------------------------------------------------------------------------------------- one case in full

# Serious outcome codes of OUTC (faers_format.md §4: only serious outcomes are listed).
OUTCOME_WORDS = {
    "DE": "death",
    "LT": "life-threatening",
    "HO": "hospitalisation",
    "DS": "disability",
    "CA": "congenital anomaly",
    "RI": "required intervention",
    "OT": "other serious",
}
ROLE_WORDS = {
    "PS": "primary suspect",
    "SS": "secondary suspect",
    "I": "interacting",
    "C": "concomitant",
    "DN": "not administered",
}
CHALLENGE_WORDS = {"Y": "positive", "N": "negative", "U": "unknown", "D": "does not apply"}
NO_NARRATIVE = "FDA publishes no narrative: this is everything the structured FAERS files hold for the case."


def _age_sex(age: object, sex: object) -> str:
    age_text = "" if _missing(age) else f"{float(age):.0f}-year-old"
    sex_text = {"F": "woman", "M": "man"}.get(sex if isinstance(sex, str) else "", "patient, sex not given")
    return f"{age_text} {sex_text}".strip() if age_text else sex_text.capitalize()


def _challenge(value: object) -> str:
    return CHALLENGE_WORDS.get(value, "not given") if isinstance(value, str) else "not given"


def case_in_full(con: duckdb.DuckDBPyConnection, caseid: int) -> list[tuple[str, list[str]]]:
    """Every fact the database holds on one retained case, as sections in the order a safety reviewer reads
    them: who and how serious, what happened, the drugs (strongest role first), then the report itself.

    Shared by ``pv case`` and ``pv explore`` so both show the same words. Unknown caseid: ``UserError``.
    """
    _require_curated(con)
    # A day on the 1st where the extracts padded dates stands for its month or year (the case series' rule).
    found = con.execute(
        """
        select *,
            case
                when event_dt_precision = 'day' and faers_may_be_padded(event_dt)
                    and faers_pads_event_dates(layout, quarter) then faers_padded_precision(event_dt)
                else event_dt_precision
            end as event_dt_read
        from curated.cases where caseid = $caseid
        """,
        {"caseid": int(caseid)},
    ).df()
    if found.empty:
        raise UserError(f"no retained case {caseid} in the database (a deleted or superseded case has none)")
    case = found.iloc[0]
    outcomes = [f"{OUTCOME_WORDS.get(code, code)} ({code})" for code in case["outcomes"]]
    reporter = case["reporter_type"].replace("_", " ") if isinstance(case["reporter_type"], str) else None
    country = case["reporter_country"] if isinstance(case["reporter_country"], str) else "country not given"
    summary = (
        f"{_age_sex(case['age_years'], case['sex'])}, reported from {country}"
        f"{f' by a {reporter}' if reporter else ''}; first received by FDA "
        f"{_period_text(case['init_fda_dt'], 'day') or 'on an unknown date'}; "
        + (f"serious: {', '.join(outcomes)}." if outcomes else "no serious outcome reported.")
    )
    events = con.execute(
        "select pt, event_groups, raw_terms from curated.case_events where caseid = $caseid order by pt",
        {"caseid": int(caseid)},
    ).fetchall()
    happened = []
    for pt, groups, raw_terms in events:
        reported = [term for term in raw_terms or [] if term.lower() != pt.lower()]
        line = pt + (f" (reported as {', '.join(reported)})" if reported else "")
        happened.append(line + (f" [{', '.join(groups)}]" if groups else ""))
    event_date = _period_text(case["event_dt"], case["event_dt_read"])
    padded = case["event_dt_read"] != case["event_dt_precision"] and event_date
    happened.append(
        f"event date: {event_date or 'not given'}"
        + (
            f" (given as {_period_text(case['event_dt'], 'day')}, a date this quarter's files pad)"
            if padded
            else ""
        )
    )

    drugs = con.execute(
        """
        with drugs as (
            select drug_seq, any_value(role_cod) as role_cod, any_value(drugname) as drugname,
                   any_value(prod_ai) as prod_ai, any_value(route) as route,
                   list(ingredient order by ingredient) filter (where ingredient is not null) as ingredients,
                   list(distinct drug_class) filter (where drug_class <> 'none') as classes,
                   any_value(mapping_method) as mapping_method,
                   any_value(dechal) as dechal, any_value(rechal) as rechal,
                   min(start_dt) as start_dt, any_value(start_dt_precision) as start_dt_precision,
                   max(end_dt) as end_dt, any_value(end_dt_precision) as end_dt_precision
            from curated.case_drugs where caseid = $caseid
            group by drug_seq
        ),
        -- Legacy (AERS) extracts padded every date, therapy dates too (the case series' legacy rule).
        read_drugs as (
            select * replace (
                case
                    when $layout = 'laers' and start_dt_precision = 'day' and faers_may_be_padded(start_dt)
                        then faers_padded_precision(start_dt)
                    else start_dt_precision
                end as start_dt_precision,
                case
                    when $layout = 'laers' and end_dt_precision = 'day' and faers_may_be_padded(end_dt)
                        then faers_padded_precision(end_dt)
                    else end_dt_precision
                end as end_dt_precision
            )
            from drugs
        ),
        indications as (
            select drug_seq, list(pt order by pt) as indications
            from curated.case_indications where caseid = $caseid group by drug_seq
        ),
        doses as (
            select cast(drug_seq as bigint) as drug_seq, any_value(dose_vbm) as dose_vbm
            from raw.drug
            where quarter = $quarter and primaryid = $primaryid
            group by all
        )
        select read_drugs.*, indications.indications, doses.dose_vbm
        from read_drugs
        left join indications using (drug_seq)
        left join doses using (drug_seq)
        order by pv_role_rank(role_cod), drug_seq
        """,
        {
            "caseid": int(caseid),
            "quarter": case["quarter"],
            "primaryid": str(case["primaryid"]),
            "layout": case["layout"],
        },
    ).df()
    drug_lines = []
    for _, drug in drugs.iterrows():
        ingredients = " + ".join(drug["ingredients"]) if not _missing(drug["ingredients"]) else ""
        mapped = f"{ingredients} ({drug['mapping_method']} match)" if ingredients else "no ingredient mapped"
        classes = list(drug["classes"]) if not _missing(drug["classes"]) else []
        role = f"{drug['role_cod']} {ROLE_WORDS.get(drug['role_cod'], '')}".strip()
        details = [f"as reported {drug['drugname']!r}" if isinstance(drug["drugname"], str) else "no name"]
        details.append(f"→ {mapped}" + (f", class {', '.join(classes)}" if classes else ""))
        for label, column in (("route", "route"), ("dose", "dose_vbm")):
            if isinstance(drug[column], str) and drug[column].strip():
                details.append(f"{label} {drug[column].strip()}")
        indications = list(drug["indications"]) if not _missing(drug["indications"]) else []
        details.append(f"for {', '.join(indications)}" if indications else "indication not given")
        start = _period_text(drug["start_dt"], drug["start_dt_precision"])
        end = _period_text(drug["end_dt"], drug["end_dt_precision"])
        if start or end:
            details.append(f"therapy {start or '?'} to {end or '?'}")
        details.append(f"dechallenge {_challenge(drug['dechal'])}, rechallenge {_challenge(drug['rechal'])}")
        drug_lines.append(f"drug_seq {drug['drug_seq']}, {role}: " + "; ".join(details))

    version = "" if _missing(case["caseversion"]) else f", version {case['caseversion']}"
    report = [
        f"caseid {case['caseid']}, primaryid {case['primaryid']}{version}, published {case['quarter']} "
        f"({'legacy AERS' if case['layout'] == 'laers' else 'FAERS'})",
        f"report type {case['rept_cod'] or 'not given'}; sender {case['mfr_sndr'] or 'not given'}; "
        f"manufacturer number {case['mfr_num'] or 'not given'}; "
        f"this version received {_period_text(case['fda_dt'], 'day') or 'not given'}",
        (
            f"flagged duplicate of case {case['duplicate_group']} ({', '.join(case['duplicate_rules'])})"
            if case["is_duplicate"]
            else "not flagged as a duplicate of another case"
        ),
    ]
    return [
        (f"Case {case['caseid']}", [summary, NO_NARRATIVE]),
        ("What happened", happened),
        ("The drugs, strongest role first", drug_lines),
        ("The report", report),
    ]


def case_in_full_text(sections: list[tuple[str, list[str]]]) -> str:
    """The sections of :func:`case_in_full` as plain text for the terminal."""
    blocks = [
        "\n".join(
            [
                title,
                *(
                    textwrap.fill(
                        line, 120, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False
                    )
                    for line in lines
                ),
            ]
        )
        for title, lines in sections
    ]
    return "\n\n".join(blocks) + "\n"
