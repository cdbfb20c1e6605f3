"""FDA's bytes: member names, per-era field formats, line endings, planted line quirks, streaming zips.

Lines are assembled column-wise with Arrow string kernels (no CSV writer: FDA never quotes, and free text
contains ``"`` and ``'``), then streamed chunk by chunk into a deflate member written by a helper thread.
"""

from __future__ import annotations

import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pv.quarters import Quarter
from pv.schema import canonical_column
from pv.synth import content as cm
from pv.synth._hash import Hasher
from pv.synth.population import qindex
from pv.synth.vocab import Vocab

CHUNK_ROWS = 1 << 17
ZIP_LEVEL = 3
BOM = b"\xef\xbb\xbf"

T_2005Q3 = qindex(Quarter(2005, 3))
T_2013Q1, T_2014Q1, T_2014Q2 = qindex(Quarter(2013, 1)), qindex(Quarter(2014, 1)), qindex(Quarter(2014, 2))
T_2015Q3, T_2015Q4 = qindex(Quarter(2015, 3)), qindex(Quarter(2015, 4))
T_2021Q3, T_2022Q1, T_2023Q1 = qindex(Quarter(2021, 3)), qindex(Quarter(2022, 1)), qindex(Quarter(2023, 1))

# route class -> (legacy AERS, E2B mixed case, EDQM "... use" style); 2012Q4-2013Q4 write E2B in upper case.
ROUTES = {
    "oral": ("ORAL", "Oral", "Oral use"),
    "iv": ("INTRAVENOUS", "Intravenous (not otherwise specified)", "Intravenous use"),
    "sc": ("SUBCUTANEOUS", "Subcutaneous", "Subcutaneous use"),
    "im": ("INTRAMUSCULAR", "Intramuscular", "Intramuscular use"),
    "inh": ("RESPIRATORY (INHALATION)", "Respiratory (inhalation)", "Inhalation use"),
    "oph": ("OPHTHALMIC", "Ophthalmic", "Ocular use"),
    "ivt": ("INTRAVITREAL", "Intravitreal", "Intravitreal use"),
    "top": ("TOPICAL", "Topical", "Cutaneous use"),
    "td": ("TRANSDERMAL", "Transdermal", "Transdermal use"),
    "sl": ("SUBLINGUAL", "Sublingual", "Sublingual use"),
    "iu": ("INTRAUTERINE", "Intrauterine", "Intrauterine use"),
    "implant": ("SUBDERMAL", "Subdermal", "Implant"),
    "device": ("OTHER", "Other", "Other"),
}
LOT_PREFIX = ("A", "B", "C", "H0", "N1", "LOT", "K", "M", "P", "R", "S", "T", "X", "Z", "AB", "FK")
MFR_PREFIX = ("PHHY", "PHEH", "PHBS", "JNJFOC-", "E2B", "CTU")
FOLL_JUNK = ("FU1", "2A", "0", "99", "1-2")


@dataclass(frozen=True)
class Era:
    quarter: Quarter

    @property
    def t(self) -> int:
        return qindex(self.quarter)

    @property
    def legacy(self) -> bool:
        return self.quarter.is_legacy

    @property
    def eol(self) -> str:
        """CRLF for every 2012Q4 file (byte-raw DRUG12Q4 head is CRLF) and for FAERS Q3 quarters; else LF."""
        q = self.quarter
        crlf = not q.is_legacy and (self.t == qindex(Quarter(2012, 4)) or q.q == 3)
        return "\r\n" if crlf else "\n"


def member_name(table: str, q: Quarter) -> str:
    """FDA's member names drift: ascii/DEMO04Q1.TXT, ascii/demo12q4.txt, ASCII/DEMO18Q1_new.txt, ..."""
    if q.is_legacy:
        return f"ascii/{table.upper()}{q.short}.TXT"
    if q == Quarter(2012, 4):
        return f"ascii/{table}{q.short.lower()}.txt"
    suffix = "_new" if (table == "demo" and q == Quarter(2018, 1)) else ""
    return f"ASCII/{table.upper()}{q.short}{suffix}.txt"


def deleted_member(q: Quarter) -> str:
    """Deleted-case list names: ADR19Q1DeletedCases.txt, 21Q1DeletedCases.txt, DELETE23Q1.txt (FAQ #45)."""
    if q < Quarter(2021, 1):
        return f"Deleted/ADR{q.short}DeletedCases.txt"
    if q < Quarter(2023, 1):
        return f"Deleted/{q.short}DeletedCases.txt"
    return f"Deleted/DELETE{q.short}.txt"


ALL_DELETED_MEMBER = "Deleted/AllDeletedCases.txt"


# ============================================================== helpers
def s_int(a: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(a, dtype=np.int64)).cast(pa.string())


def s_take(table: pa.Array, idx: np.ndarray) -> pa.Array:
    return table.take(pa.array(np.asarray(idx, dtype=np.int64)))


def s_const(value: str, n: int) -> pa.Array:
    return pa.array([value]).take(pa.array(np.zeros(n, dtype=np.int64)))


def blank(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    """Empty string where ``mask`` is true (FDA writes missing values as empty fields)."""
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), "", arr)


def s_codes(codes: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return s_take(pa.array(list(codes)), idx)


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype(np.int64) // 12 + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def s_date(
    days: np.ndarray,
    precision: np.ndarray | None = None,
    pad: bool | np.ndarray = True,
    missing: np.ndarray | None = None,
) -> pa.Array:
    """YYYYMMDD; precision 1/2 = month/year known, written YYYYMM/YYYY or padded to ...01/...0101 (§6)."""
    y, m, d = ymd(days)
    value = y * 10000 + m * 100 + d
    if precision is not None:
        month = np.where(pad, y * 10000 + m * 100 + 1, y * 100 + m)
        year = np.where(pad, y * 10000 + 101, y)
        value = np.select([precision == 2, precision == 1], [year, month], value)
    out = s_int(value)
    return out if missing is None else blank(out, missing)


def join(*parts: pa.Array, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


class TextTables:
    """Per-drug and per-code string tables, built once per generator run."""

    def __init__(self, v: Vocab) -> None:
        drugs = v.drugs
        route_keys = list(ROUTES)
        self.drug_route = np.array([route_keys.index(d.route) for d in drugs], dtype=np.int64)
        styles = [
            [r[0] for r in ROUTES.values()],
            [r[1].upper() for r in ROUTES.values()],
            [r[1] for r in ROUTES.values()],
            [r[2] for r in ROUTES.values()],
        ]
        self.routes = pa.array([x for style in styles for x in style] + ["", "UNKNOWN", "Unknown"])
        self.n_routes = len(route_keys)
        dose_text, cum_text, vbm_legacy = [], [], []
        for d in drugs:
            unit = d.dose_unit.replace("MG/M2", "MG/M2")
            amt = f"{d.dose_amt} {unit}"
            variants = [
                f"{amt}, {d.dose_freq}",
                "UNK",
                amt,
                f"UNK, {d.dose_freq}",
                f'{amt}, {d.dose_freq} "AS NEEDED"',
                "1 DF, 2X/DAY",
            ]
            dose_text += variants
            vbm_legacy += [x.upper() for x in variants]
            base = float(d.dose_amt)
            cum_text += [f"{base * k:.1f}" for k in (2, 4, 6, 8, 12, 20)]
        self.dose_vbm = pa.array(dose_text)
        self.dose_vbm_legacy = pa.array(vbm_legacy)
        self.cum_dose = pa.array(cum_text)
        self.dose_amt = pa.array([d.dose_amt for d in drugs])

        def unit(u: str, new: bool) -> str:
            u = u.replace("MG/M2", "MG/M**2")
            return "GM" if (u == "G" and new) else u

        self.dose_unit_old = pa.array([unit(d.dose_unit, False) for d in drugs])
        self.dose_unit_new = pa.array([unit(d.dose_unit, True) for d in drugs])
        self.dose_form = pa.array([d.form for d in drugs])
        self.dose_freq_old = pa.array(["/wk" if d.dose_freq == "QW" else d.dose_freq for d in drugs])
        self.dose_freq_new = pa.array(["/WK" if d.dose_freq == "QW" else d.dose_freq for d in drugs])
        self.nda = pa.array([d.nda for d in drugs])
        self.nda_legacy = pa.array([d.nda.lstrip("0") for d in drugs])
        self.lot_prefix = pa.array(list(LOT_PREFIX))
        self.mfr_prefix = pa.array(list(MFR_PREFIX))
        self.lit_refs = pa.array(_literature(200))


def _literature(n: int) -> list[str]:
    """A fixed pool of citation-like lit_ref texts with FDA's ``?`` and ``^`` substitutions and quotes."""
    rng = np.random.default_rng(20240101)
    surnames = [
        "Smith",
        "Garc?a",
        "Muller",
        "O^Brien",
        "Tanaka",
        "Rossi",
        "Dupont",
        "Andr? Couto Carvalho",
        "Kowalski",
        "Nguyen",
        "Chen",
        "Ivanova",
        "Silva",
        "O'Neill",
        "Schmidt",
        "Kim",
        "Patel",
        "Jensen",
    ]
    topics = [
        "Dermatomyositis after docetaxel",
        "Interstitial lung disease during trastuzumab therapy",
        "Severe rash with paclitaxel",
        "Myositis associated with immune checkpoint inhibitors",
        "Hepatotoxicity of methotrexate",
        'Case of "drug-induced" lupus',
        "Patient^s outcome after overdose",
        "Rhabdomyolysis and statins: a review",
        "Cardiotoxicity of anti-HER2 therapy",
        "Hypersensitivity to nab?paclitaxel",
    ]
    journals = [
        "J Clin Oncol",
        "BR J HAEMATOL",
        "Ann Oncol",
        "TRANSPLANTATION PROCEEDINGS",
        "Lancet",
        "American Journal of Gastroenterology",
        "Clin Case Rep",
        "Poison Control Centers ^ National",
    ]
    out = []
    for _ in range(n):
        names = ", ".join(
            f"{surnames[i]} {chr(65 + j)}"
            for i, j in zip(rng.integers(0, len(surnames), 3), rng.integers(0, 26, 3), strict=True)
        )
        year = int(rng.integers(2005, 2026))
        out.append(
            f"{names}. {topics[rng.integers(0, len(topics))]}. {journals[rng.integers(0, len(journals))]}. "
            f"{year};{rng.integers(1, 90)}({rng.integers(1, 12)}):"
            f"{rng.integers(1, 999)}-{rng.integers(1, 99)}."
        )
    return out


# ============================================================== formatters
def prod_ai_missing(h: Hasher, K: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """~1.8% of FAERS DRUG rows have no prod_ai (STAT 2025Q4); stable across versions of a case."""
    return h.u("prod_ai_missing", K, slot) < 0.018


@dataclass
class Ctx:
    era: Era
    content: cm.QuarterContent
    v: Vocab
    tt: TextTables
    h: Hasher
    key_cols: dict[str, pa.Array] = field(default_factory=dict)

    def keys(self, case: np.ndarray) -> dict[str, pa.Array]:
        return {name: arr.take(pa.array(case)) for name, arr in self.key_cols.items()}


def make_ctx(era: Era, content: cm.QuarterContent, v: Vocab, tt: TextTables, h: Hasher) -> Ctx:
    ctx = Ctx(era, content, v, tt, h)
    demo = content.demo
    if era.legacy:
        ctx.key_cols = {"primaryid": s_int(demo["isr"])}
    else:
        ctx.key_cols = {"primaryid": s_int(demo["pid"]), "caseid": s_int(demo["caseid"])}
    return ctx


def demo_columns(ctx: Ctx, a: int, b: int) -> dict[str, pa.Array]:
    era, v, tt = ctx.era, ctx.v, ctx.tt
    t, legacy = era.t, era.legacy
    d = {k: arr[a:b] for k, arr in ctx.content.demo.items()}
    n = b - a
    direct = d["rept"] == 2
    cols = {k: arr.slice(a, n) for k, arr in ctx.key_cols.items()}
    cols["caseid"] = s_int(d["caseid"])
    cols["caseversion"] = s_int(d["version"])
    cols["i_f_code"] = s_codes(("F", "I"), d["initial"].astype(np.int64))
    padded = legacy or t > T_2021Q3 or (t == T_2021Q3 and d["event_pad_mixed"])
    cols["event_dt"] = s_date(d["event_day"], d["event_precision"], padded, d["event_missing"])
    cols["mfr_dt"] = s_date(d["mfr_day"], missing=direct if legacy else None)
    cols["init_fda_dt"] = s_date(d["init_day"])
    cols["fda_dt"] = s_date(d["fda_day"])
    cols["rept_dt"] = s_date(d["rept_day"])
    cols["rept_cod"] = s_codes(cm.REPT, d["rept"])
    country = d["country"]
    code = s_take(v.country_faers, country)
    year = s_int(ymd(d["init_day"])[0])
    serial = pc.utf8_lpad(s_int(d["mfr_serial"]), 6, "0")
    sender = s_take(v.sender_arr, d["sender"])
    pattern1 = join(code, sender, join(year, serial), sep="-")
    pattern2 = join(s_take(tt.mfr_prefix, d["mfr_prefix"]), year, code, serial)
    cols["mfr_num"] = blank(pc.if_else(pa.array(d["mfr_pattern"]), pattern1, pattern2), direct)
    cols["mfr_sndr"] = sender
    years = d["years"]
    u = d["age_u"]
    child = years < 2
    unit = np.where(
        child,
        np.select([u < 0.6, u < 0.75, u < 0.95], [2, 3, 4], 5),
        np.select([u < 0.96, u < 0.975, u < 0.985], [0, 1, 4], 2),
    )
    factor = np.array([1, 0.1, 12, 52, 365, 8760])[unit]
    age = np.floor(years * factor).astype(np.int64)
    odd = d["age_odd"]
    age = np.where((unit == 0) & (odd < 0.0005), 999, age)
    age = np.where(
        (unit == 0) & (odd >= 0.0005) & (odd < 0.0008), -1 if t < qindex(Quarter(2016, 1)) else 0, age
    )
    age_s = s_int(age)
    if not legacy:
        age_s = pc.if_else(
            pa.array((unit == 0) & (odd > 0.97) & (age > 0) & (age < 999)),
            join(age_s, s_const(".5", n)),
            age_s,
        )
    cols["age"] = blank(age_s, d["age_missing"])
    cols["age_cod"] = blank(s_codes(cm.AGE_UNIT, unit), d["age_missing"])
    grp = np.select([years < 28 / 365, years < 2, years < 12, years < 18, years < 65], [0, 1, 2, 3, 4], 5)
    cols["age_grp"] = blank(s_codes(("N", "I", "C", "T", "A", "E"), grp), ~d["age_grp_present"])
    sex = s_codes(("", "F", "M", "UNK"), d["sex"])
    if T_2013Q1 <= t <= T_2014Q2:  # NS written for an empty sex 2013Q1-2014Q2 (ALTIO sex-codes)
        sex = pc.if_else(pa.array((d["sex"] == 0) & (d["sex_u"] < 0.6)), "NS", sex)
    cols["sex"] = sex
    e_sub_p = (0.25 + 0.45 * max(t, 0) / 34) if legacy else 0.995
    cols["e_sub"] = s_codes(
        ("N", "Y"), (np.where(direct, d["esub_u"] > 0.9, d["esub_u"] < e_sub_p)).astype(np.int64)
    )
    wu = d["wt_u"]
    wunit = np.where(wu < 0.85, 0, np.where((wu < 0.98) | (years >= 2), 1, 2))
    wval = np.select([wunit == 1, wunit == 2], [np.round(d["kg"] * 2.2046), d["kg"] * 1000], d["kg"])
    cols["wt"] = blank(s_int(wval), ~d["wt_present"])
    cols["wt_cod"] = blank(s_codes(("KG", "LBS", "GMS"), wunit), ~d["wt_present"])
    tu = d["to_mfr_u"]
    to_mfr = np.where(direct, np.where(tu < 0.1, 1, np.where(tu < 0.85, 0, 2)), 2)
    if T_2014Q1 <= t <= T_2015Q3:  # filler N on manufacturer reports 2014Q1-2015Q3 (FAQ #20)
        to_mfr = np.where(direct, to_mfr, 0)
    cols["to_mfr"] = s_codes(("N", "Y", ""), to_mfr)
    ou = d["occp_u"]
    occp = np.select([ou < 0.20, ou < 0.25, ou < 0.256, ou < 0.596, ou < 0.806], [0, 1, 4, 3, 2], 6)
    if t >= cm.T_2020Q1:  # HP replaces OT from 2020 (ALTIO reporter-type)
        occp = np.where(occp == 2, 5, occp)
    cols["occp_cod"] = s_codes(cm.OCCP, occp)
    cu = d["country_u"]
    if legacy:
        cols["reporter_country"] = blank(s_take(v.country_legacy, country), cu < 0.03)
    else:
        p_eu = 0.0 if t < 60 else (0.35 if t < cm.T_2021Q4 else 0.7)
        rep = np.where(v.country_eu[country] & (cu > 1 - p_eu), v.country_eu_index, country)
        rep = np.where(cu < 0.006, v.country_unspecified_index, rep)
        cols["reporter_country"] = s_take(v.country_faers, rep)
        occ_u = d["occr_u"]
        occr = np.where((rep == v.country_eu_index) & (occ_u < 0.5), rep, country)
        cols["occr_country"] = blank(s_take(v.country_faers, occr), occ_u < 0.08)
    auth = ~direct & (country != 0) & (d["auth_u"] < 0.25)
    agency = s_take(v.agency, country)
    cols["auth_num"] = blank(join(code, agency, s_int(d["auth_serial"]), sep="-"), ~auth)
    lit = d["lit"]
    cols["lit_ref"] = blank(s_take(tt.lit_refs, np.maximum(lit, 0)), lit < 0)
    if legacy:
        isr = d["isr"]
        fu = d["foll_u"]
        foll = pc.if_else(
            pa.array(fu < 0.7),
            s_int(d["version"] - 1),
            s_take(pa.array(list(FOLL_JUNK)), (fu * 100).astype(np.int64) % 5),
        )
        cols["foll_seq"] = blank(foll, d["initial"] | ((fu >= 0.7) & (fu < 0.95)))
        cols["image"] = join(s_int(isr), s_int((isr * 7 + 3) % 10), sep="-")
        cols["death_dt"] = s_date(d["death_day"], missing=~d["has_death"])
        cu2 = d["confid_u"]
        cols["confid"] = s_codes(("", "N", "Y"), np.select([cu2 < 0.8, cu2 < 0.98], [0, 1], 2))
    return cols


def drug_columns(ctx: Ctx, a: int, b: int) -> dict[str, pa.Array]:
    era, v, tt, h = ctx.era, ctx.v, ctx.tt, ctx.h
    t, legacy = era.t, era.legacy
    d = {k: arr[a:b] for k, arr in ctx.content.drug.items()}
    n = b - a
    K = ctx.content.demo["content_key"][d["case"]]
    slot, drug, form, empty = d["slot"], d["drug"], d["form"], d["empty"]
    cols = ctx.keys(d["case"])
    cols["drug_seq"] = s_int(d["lseq"] if legacy else slot + 1)
    cols["role_cod"] = s_codes(cm.ROLE, d["role"])
    names = v.form_name_upper_arr if legacy else v.form_name_arr
    cols["drugname"] = blank(s_take(names, form), empty)
    ai_missing = prod_ai_missing(h, K, slot)
    cols["prod_ai"] = blank(s_take(v.form_prod_ai_arr, form), empty | ai_missing)
    cols["val_vbm"] = s_int(v.form_val_vbm[form])
    ru, rs = h.u("route", K, slot), h.u("route_style", K, slot)
    if legacy:
        style = np.zeros(n, np.int64)
    elif t <= qindex(Quarter(2013, 4)):
        style = np.ones(n, np.int64)
    else:
        style = np.where((t >= T_2023Q1) & (rs < 0.4), 3, 2)
    unknown = len(ROUTES) * 4 + (1 if (legacy or t <= qindex(Quarter(2013, 4))) else 2)
    route = np.where(
        ru < 0.39,
        len(ROUTES) * 4,
        np.where(ru < 0.52, unknown, style * len(ROUTES) + ctx.tt.drug_route[drug]),
    )
    cols["route"] = blank(s_take(tt.routes, route), empty)
    du = h.u("dose", K, slot)
    variant = (
        np.select([du < 0.4, du < 0.7, du < 0.8, du < 0.9, du < 0.93], [0, 1, 2, 3, 4], 5) + d["copy"]
    ) % 6
    vbm = s_take(tt.dose_vbm_legacy if legacy else tt.dose_vbm, drug * 6 + variant)
    cols["dose_vbm"] = blank(vbm, empty | (h.u("dose_vbm_missing", K, slot) < 0.29))
    cum = h.u("cum_dose", K, slot) < 0.03
    cols["cum_dose_chr"] = blank(s_take(tt.cum_dose, drug * 6 + h.below(6, "cum_k", K, slot)), ~cum | empty)
    cols["cum_dose_unit"] = blank(s_take(tt.dose_unit_old, drug), ~cum | empty)
    cu = h.u("dechal", K, slot)
    if legacy:
        dechal = np.select([cu < 0.5, cu < 0.7, cu < 0.8, cu < 0.85], [3, 2, 0, 1], 4)
    else:
        dechal = np.select([cu < 0.0614, cu < 0.0736, cu < 0.48, cu < 0.611], [0, 1, 2, 3], 4)
    cols["dechal"] = s_codes(("Y", "N", "U", "D", ""), np.where(empty, 4, dechal))
    ru2 = h.u("rechal", K, slot)
    if legacy:
        rechal = np.select([ru2 < 0.5, ru2 < 0.7, ru2 < 0.75], [3, 2, 0], 4)
    elif t <= T_2015Q3:  # rechal D is a filler on ~76% of rows 2012Q4-2015Q3 (FAQ #19)
        rechal = np.select([ru2 < 0.76, ru2 < 0.88, ru2 < 0.885], [3, 2, 0], 4)
    else:
        rechal = np.select([ru2 < 0.0017, ru2 < 0.0063, ru2 < 0.126, ru2 < 0.128], [0, 1, 2, 3], 4)
    cols["rechal"] = s_codes(("Y", "N", "U", "D", ""), np.where(empty, 4, rechal))
    lot = join(
        s_take(tt.lot_prefix, h.below(len(LOT_PREFIX), "lot_prefix", K, slot)),
        s_int(1000 + h.below(999_000, "lot", K, slot)),
    )
    cols["lot_num"] = blank(lot, (h.u("lot_present", K, slot) >= 0.25) | empty)
    exp_day = ctx.content.demo["fda_day"][d["case"]] + 200 + h.below(900, "exp_dt", K, slot)
    cols["exp_dt"] = s_date(
        exp_day, np.ones(n, np.int64), pad=False, missing=(h.u("exp_present", K, slot) >= 0.0015) | empty
    )
    nda_missing = ~v.drug_has_nda[drug] | (h.u("nda_present", K, slot) >= 0.55) | empty
    cols["nda_num"] = blank(s_take(tt.nda_legacy if legacy else tt.nda, drug), nda_missing)
    structured = (h.u("dose_structured", K, slot) < 0.45) & ~empty
    new_units = t >= T_2022Q1  # unit/frequency spelling drift G -> GM, /wk -> /WK (faers_format.md §4.2)
    cols["dose_amt"] = blank(s_take(tt.dose_amt, drug), ~structured)
    cols["dose_unit"] = blank(s_take(tt.dose_unit_new if new_units else tt.dose_unit_old, drug), ~structured)
    cols["dose_form"] = blank(s_take(tt.dose_form, drug), ~structured)
    cols["dose_freq"] = blank(s_take(tt.dose_freq_new if new_units else tt.dose_freq_old, drug), ~structured)
    return cols


def _terms(arrays: dict[str, pa.Array], legacy: bool, idx: np.ndarray, caret: np.ndarray) -> pa.Array:
    prefix = "legacy" if legacy else "faers"
    return pc.if_else(
        pa.array(caret), s_take(arrays[f"{prefix}_caret"], idx), s_take(arrays[f"{prefix}_apos"], idx)
    )


def reac_columns(ctx: Ctx, a: int, b: int) -> dict[str, pa.Array]:
    r = {k: arr[a:b] for k, arr in ctx.content.reac.items()}
    K = ctx.content.demo["content_key"][r["case"]]
    cols = ctx.keys(r["case"])
    pt = _terms(ctx.v.pt_arrays, ctx.era.legacy, r["pt"], ctx.h.u("caret", K, r["pt"]) < 0.8)
    cols["pt"] = pt
    cols["drug_rec_act"] = blank(pt, ctx.h.u("drug_rec_act", K, r["j"]) >= 0.003)
    return cols


def outc_columns(ctx: Ctx, a: int, b: int) -> dict[str, pa.Array]:
    o = ctx.content.outc
    cols = ctx.keys(o["case"][a:b])
    cols["outc_cod"] = s_codes(cm.OUTC, o["code"][a:b])
    return cols


def rpsr_columns(ctx: Ctx, a: int, b: int) -> dict[str, pa.Array]:
    r = ctx.content.rpsr
    cols = ctx.keys(r["case"][a:b])
    cols["rpsr_cod"] = s_codes(cm.RPSR_LEGACY if ctx.era.legacy else cm.RPSR_FAERS, r["code"][a:b])
    return cols


def ther_columns(ctx: Ctx, a: int, b: int) -> dict[str, pa.Array]:
    th = {k: arr[a:b] for k, arr in ctx.content.ther.items()}
    legacy = ctx.era.legacy
    cols = ctx.keys(th["case"])
    cols["dsg_drug_seq"] = s_int(th["lseq"] if legacy else th["slot"] + 1)
    # therapy dates were never padded in FAERS; legacy AERS padded every date (faers_format.md §6)
    cols["start_dt"] = s_date(th["start"], th["start_precision"], legacy, th["start_missing"])
    cols["end_dt"] = s_date(th["end"], missing=~th["end_present"])
    cols["dur"] = blank(s_int(th["dur"]), ~th["dur_present"])
    cols["dur_cod"] = blank(s_codes(cm.DUR_UNIT, th["dur_unit"]), ~th["dur_present"])
    return cols


def indi_columns(ctx: Ctx, a: int, b: int) -> dict[str, pa.Array]:
    ind = {k: arr[a:b] for k, arr in ctx.content.indi.items()}
    K = ctx.content.demo["content_key"][ind["case"]]
    cols = ctx.keys(ind["case"])
    cols["indi_drug_seq"] = s_int(ind["lseq"] if ctx.era.legacy else ind["slot"] + 1)
    cols["indi_pt"] = _terms(
        ctx.v.indi_arrays, ctx.era.legacy, ind["pt"], ctx.h.u("caret_indi", K, ind["pt"]) < 0.8
    )
    return cols


FORMATTERS: dict[str, Callable[[Ctx, int, int], dict[str, pa.Array]]] = {
    "demo": demo_columns,
    "drug": drug_columns,
    "reac": reac_columns,
    "outc": outc_columns,
    "rpsr": rpsr_columns,
    "ther": ther_columns,
    "indi": indi_columns,
}


# ============================================================== quirks
@dataclass(frozen=True)
class LineQuirk:
    """A planted structural defect on data row ``row`` (0-based, before any quirk is applied)."""

    row: int
    kind: str  # run_on | stray_dollar | embedded_newline | truncated
    field: int = 0  # stray_dollar: field to rewrite; embedded_newline: break after this many fields
    value: str = ""
    note: str = ""


@dataclass
class TableStats:
    lines: int = 0
    rows: int = 0
    rows_from_repairs: int = 0
    repaired_lines: int = 0
    rejected_lines: int = 0
    quirk_lines: list[tuple[int, LineQuirk]] = field(default_factory=list)


def physical_line(row: int, quirks: list[LineQuirk]) -> int:
    """1-based physical line of data row ``row`` (header = line 1) after the quirks above it."""
    shift = sum(
        1 if q.kind == "embedded_newline" else -1
        for q in quirks
        if q.row < row and q.kind in ("embedded_newline", "run_on")
    )
    return row + 2 + shift


def _apply(kind: LineQuirk, line: bytes, nxt: bytes | None, eol: bytes) -> bytes:
    body = line[: -len(eol)]
    if kind.kind == "run_on":
        return body + (nxt or b"")
    fields = body.split(b"$")
    if kind.kind == "stray_dollar":
        fields[kind.field] = kind.value.encode("ascii")
        return b"$".join(fields) + eol
    if kind.kind == "embedded_newline":
        return b"$".join(fields[: kind.field]) + b"\n$" + b"$".join(fields[kind.field :]) + eol
    if kind.kind == "truncated":
        return b"$".join(fields[:4]) + b"$" + fields[4][:3] + eol
    raise ValueError(kind.kind)


# ============================================================== zip streaming
class ZipSink:
    """A deterministic zip: fixed timestamps and attributes; deflate runs on a helper thread."""

    def __init__(self, path: Path, date_time: tuple[int, int, int, int, int, int]) -> None:
        self._zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._date_time = date_time
        self.sizes: dict[str, int] = {}

    @contextmanager
    def member(self, name: str) -> Iterator[Callable[[bytes | memoryview], None]]:
        info = zipfile.ZipInfo(name, self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        if hasattr(info, "compress_level"):
            info.compress_level = ZIP_LEVEL
        else:
            info._compresslevel = ZIP_LEVEL
        info.external_attr = 0o644 << 16
        info.create_system = 3
        pending: deque[Future] = deque()
        size = 0
        with self._zf.open(info, "w") as fh:

            def write(data: bytes | memoryview) -> None:
                nonlocal size
                size += len(data)
                pending.append(self._pool.submit(fh.write, data))
                while len(pending) > 2:
                    pending.popleft().result()

            try:
                yield write
            finally:
                while pending:
                    pending.popleft().result()
        self.sizes[name] = size

    def close(self) -> None:
        self._pool.shutdown()
        self._zf.close()


def write_table(
    sink: ZipSink,
    name: str,
    table: str,
    ctx: Ctx,
    n_rows: int,
    header: list[str],
    quirks: list[LineQuirk],
    bom: bool = False,
) -> TableStats:
    """Stream one table; returns FDA-style line counts and where the planted quirks landed."""
    era = ctx.era
    eol = era.eol
    eol_b = eol.encode("ascii")
    canon = [canonical_column(table, h) for h in header]
    if None in canon:
        raise RuntimeError(f"unknown header field in {header}")
    by_row = {q.row: q for q in quirks}
    stats = TableStats()
    with sink.member(name) as write:
        write((BOM if bom else b"") + "$".join(header).encode("ascii") + eol_b)
        for a in range(0, n_rows, CHUNK_ROWS):
            b = min(n_rows, a + CHUNK_ROWS)
            cols = FORMATTERS[table](ctx, a, b)
            arrays = [cols[c] for c in canon]
            if era.legacy:  # every legacy data row ends with one extra "$" (faers_format.md §2)
                arrays.append(s_const("", b - a))
            lines = join(join(*arrays, sep="$"), s_const(eol, b - a))
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
                lines.offset : lines.offset + len(lines) + 1
            ]
            data = memoryview(lines.buffers()[2])
            here = sorted(r for r in by_row if a <= r < b)
            pos = a
            for r in here:
                write(data[offsets[pos - a] : offsets[r - a]])
                q = by_row[r]
                line = bytes(data[offsets[r - a] : offsets[r - a + 1]])
                nxt = bytes(data[offsets[r + 1 - a] : offsets[r + 2 - a]]) if q.kind == "run_on" else None
                write(_apply(q, line, nxt, eol_b))
                pos = r + (2 if q.kind == "run_on" else 1)
            write(data[offsets[pos - a] : offsets[b - a]])
    stats.lines = n_rows
    stats.rows = n_rows
    for q in quirks:
        stats.quirk_lines.append((physical_line(q.row, quirks), q))
        if q.kind == "run_on":
            stats.lines -= 1
            stats.rows_from_repairs += 2
            stats.repaired_lines += 1
        elif q.kind == "embedded_newline":
            stats.lines += 1
            stats.rows_from_repairs += 1
            stats.repaired_lines += 2
        elif q.kind == "stray_dollar":
            stats.rows_from_repairs += 1
            stats.repaired_lines += 1
        elif q.kind == "truncated":
            stats.rows -= 1
            stats.rejected_lines += 1
    return stats
