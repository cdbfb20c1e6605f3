"""What each report says: demographics, drugs, reactions, outcomes, sources, therapies, indications.

Everything that describes the event (patient, drugs, reactions, indications) is keyed by the case's
*content key* (its own caseid, or the original's for a planted cross-case duplicate), so every version and
every duplicate of a case agrees. Values that belong to one version (dates, i_f_code, RPSR) are keyed by
(caseid, version). All tables are numeric here; ``text`` turns them into FDA's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pv.quarters import Quarter
from pv.synth._hash import Hasher
from pv.synth.characteristic import draw_characteristic
from pv.synth.population import FAERS_T, Frame, qindex
from pv.synth.vocab import NEVER, TARGET_INGREDIENTS, TEST_EXPOSURES, TEST_RRS, Vocab

T_2014Q3 = qindex(Quarter(2014, 3))  # prod_ai, auth_num, lit_ref, age_grp, drug_rec_act appear
T_2016Q2 = qindex(Quarter(2016, 2))  # filler indication renamed to "Product used for unknown indication"
T_2020Q1 = qindex(Quarter(2020, 1))  # occp_cod HP replaces OT
T_2021Q4 = qindex(Quarter(2021, 4))  # several DRUG rows per (primaryid, drug_seq) (FAQ #53)
T_2022Q3 = qindex(Quarter(2022, 3))  # rept_cod 5DAY / 30DAY
T_2024Q4 = qindex(Quarter(2024, 4))  # role_cod DN

# Planted dermatomyositis signal: report-level rate = base x (cancer factor) x max RR of exposed targets.
DM_BASE = 0.0005
DM_CANCER_FACTOR = 3.0  # paraneoplastic DM: cancer patients report DM more often whatever the drug
DM_RR = {"paclitaxel": 2.0, "docetaxel": 5.0, "trastuzumab": 3.0, "pertuzumab": 1.0}
TEST_BASE = 0.004  # background rate of each synthetic test event
# The reviewed DM controls (pv/data/vocab/dm_controls.csv) that the catalogue has, planted on the
# Dermatomyositis term like the targets (co-exposure takes the largest rate). Positive rates sit inside the
# published FAERS ranges (statistics.md §11): checkpoint inhibitors 8, statins 3, TNF inhibitors 2 (weak, to
# test power); negative controls 1. Hydroxyurea, pravastatin and penicillamine are not in the catalogue.
CONTROL_DM_RR: dict[str, float] = {
    "pembrolizumab": 8.0, "nivolumab": 8.0, "atezolizumab": 8.0, "ipilimumab": 8.0,
    "atorvastatin": 3.0, "simvastatin": 3.0, "rosuvastatin": 3.0,
    "adalimumab": 2.0, "etanercept": 2.0, "infliximab": 2.0,
    "amlodipine": 1.0, "apixaban": 1.0, "latanoprost": 1.0, "tamsulosin": 1.0, "metformin": 1.0,
    "ondansetron": 1.0,
}  # fmt: skip

# Natural REAC terms per report: a mixture of light and heavy reports; cancer reports draw this share of
# their terms from the oncology pool. Follow-up versions add terms at up to three milestones. The heavy
# mean is 6.0 rather than 6.5 because characteristic events (``_characteristic``) add about 4% of REAC rows
# on top; with both, REAC stays within 1% of FDA's 2025Q4 row count.
EVENT_HEAVY_P, EVENT_HEAVY_MEAN, EVENT_LIGHT_MEAN, EVENT_MAX = 0.25, 6.0, 1.5, 60
ONC_EVENT_P = 0.35
MILESTONE_P = (0.25, 0.08, 0.02)
J_CHARACTERISTIC = 1000  # REAC order key base of characteristic terms (after natural, DM and test terms)

BREAST_P, OTHER_CANCER_P = 0.03, 0.09
ROLE = ("PS", "SS", "C", "I", "DN")
R_PS, R_SS, R_C, R_I, R_DN = range(5)
REPT = ("EXP", "PER", "DIR", "5DAY", "30DAY")
OCCP = ("MD", "PH", "OT", "CN", "LW", "HP", "")
AGE_UNIT = ("YR", "DEC", "MON", "WK", "DY", "HR")
OUTC = ("DE", "LT", "HO", "DS", "CA", "RI", "OT")
RPSR_FAERS = ("CSM", "HP", "FGN")
RPSR_LEGACY = ("FGN", "HP", "OTH", "CSM", "LIT", "SDY", "UF", "CR", "DT")
DUR_UNIT = ("DAY", "WK", "MON", "YR", "HR")

_RR_BY_BIT = np.array([DM_RR.get(name, 1.0) for name in TARGET_INGREDIENTS])


@dataclass
class QuarterContent:
    """Numeric tables of one quarter; DEMO rows are in FDA's row order, child rows grouped by case."""

    t: int
    legacy: bool
    demo: dict[str, np.ndarray]
    drug: dict[str, np.ndarray]
    reac: dict[str, np.ndarray]
    outc: dict[str, np.ndarray]
    rpsr: dict[str, np.ndarray]
    ther: dict[str, np.ndarray]
    indi: dict[str, np.ndarray]
    assoc: dict[str, np.ndarray]
    background: dict[str, np.ndarray]


def _digits(v: np.ndarray) -> np.ndarray:
    return 1 + (v >= 10) + (v >= 100) + (v >= 1000)


def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row -> owner index, position within owner, and owner start offsets for ``counts`` rows per owner."""
    counts = counts.astype(np.int64)
    starts = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(int(counts.sum())) - starts[owner], starts


def _without_replacement(h: Hasher, tag: str, key: np.ndarray, weights: np.ndarray, k: np.ndarray):
    """Draw ``k[i]`` distinct codes per owner (Efraimidis-Spirakis keys); returns (owner, code)."""
    keys = h.u(tag, key[:, None], np.arange(len(weights))[None, :]) ** (1.0 / weights[None, :])
    ranked = np.argsort(-keys, axis=1, kind="stable")
    owner, pos = np.nonzero(np.arange(len(weights))[None, :] < k[:, None])
    return owner, ranked[owner, pos]


def natural_presence(
    v: Vocab,
    n_nat: np.ndarray,
    cancer: np.ndarray,
    t_birth: np.ndarray,
    n_ms: np.ndarray,
    pt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that a report's natural term draw (``p``) and its follow-up milestone terms (``m``)
    contain term ``pt``, from the exact per-draw probabilities of the term samplers (arrays broadcast).

    This is the rate a characteristic event is multiplied against, and what the ground truth sums as
    expectations, so both use this one function.
    """
    wg = v.general_pt_p[v.general_pt_sampler.epoch(t_birth), pt]
    wo = v.onc_pt_p[v.onc_pt_sampler.epoch(t_birth), pt]
    share = np.where(cancer, ONC_EVENT_P, 0.0)
    p = -np.expm1(n_nat * np.log1p(-((1.0 - share) * wg + share * wo)))
    m = -np.expm1(n_ms * np.log1p(-wg))
    return p, m


def _day_tables(t_max: int) -> tuple[int, np.ndarray]:
    """First day (days since 1970) of every quarter from index -16 to ``t_max + 2``."""
    lo = -16
    ts = np.arange(lo, t_max + 3)
    years, months = 2004 + ts // 4, 3 * (ts % 4) + 1
    days = np.array(
        [f"{y:04d}-{m:02d}-01" for y, m in zip(years, months, strict=True)], dtype="datetime64[D]"
    ).astype(np.int64)
    return lo, days


class ContentBuilder:
    def __init__(self, vocab: Vocab, hasher: Hasher, t_max: int) -> None:
        self.v = vocab
        self.h = hasher
        self._qlo, self._qday = _day_tables(t_max)
        exposure = np.repeat(np.array(TEST_EXPOSURES)[None, :], len(TEST_RRS), axis=0).ravel()
        self.test_cum = np.cumsum(exposure)
        self.test_rr = np.repeat(np.array(TEST_RRS), len(TEST_EXPOSURES))
        self.char = draw_characteristic(vocab, hasher)
        index = {name: i for i, name in enumerate(vocab.bg_ingredients)}
        self.control_ingredient = np.array([index[name] for name in CONTROL_DM_RR], dtype=np.int64)
        self.control_rr = np.array(list(CONTROL_DM_RR.values()))

    def qstart(self, t: np.ndarray | int) -> np.ndarray:
        return self._qday[np.asarray(t) - self._qlo]

    # ================================================================= quarter
    def build(self, f: Frame, t: int, legacy: bool) -> QuarterContent:
        h = self.h
        pid = f.caseid * 10 ** _digits(f.version) + f.version
        if legacy:
            order = np.argsort(h.u("row_order", f.caseid, t), kind="stable")
        else:  # FDA files are sorted by primaryid as text (faers_format.md §2)
            order = np.asarray(pc.sort_indices(pa.array(pid).cast(pa.string())))
        f = Frame(**{k: getattr(f, k)[order] for k in f.__dataclass_fields__})
        case = self._case_profile(f)
        drug, bits, test_idx, exposure = self._drugs(f, case, t)
        if legacy:  # legacy DRUG_SEQ: a large number unique per drug record (faers_format.md §3)
            gap = 1 + np.floor(h.u("drug_seq_gap", f.caseid[drug["case"]], drug["slot"]) ** 3 * 16)
            drug["lseq"] = 1_000_000_000 + t * 10_000_000 + np.cumsum(gap.astype(np.int64))
        assoc = self._planted(f, case, bits, test_idx, exposure)
        reac, background = self._reactions(f, case, assoc, exposure)
        outc = self._outcomes(f.content_key, case["cancer"], legacy)
        demo = self._demo(f, case, drug, outc, t, legacy)
        demo["pid"] = pid[order]
        if legacy:  # ISR: 7 digits, unique per report, increasing with the file order
            demo["isr"] = 4_200_000 + t * 170_000 + np.cumsum(1 + (h.u("isr_gap", f.caseid, t) < 0.08))
        rpsr = self._sources(f.caseid, f.version, legacy)
        ther, indi = self._therapies(f, case, drug, legacy, t)
        if t == FAERS_T:
            self._empty_drugname_rows(drug, f.caseid, f.in_dup_pair)
        if t >= T_2021Q4:
            self._multi_dose_rows(drug, demo)
        return QuarterContent(t, legacy, demo, drug, reac, outc, rpsr, ther, indi, assoc, background)

    # ========================================================== case profile
    def _case_profile(self, f: Frame) -> dict[str, np.ndarray]:
        h, v, K = self.h, self.v, f.content_key
        u = h.u("case_type", K)
        ctype = np.where(u < BREAST_P, 1, np.where(u < BREAST_P + OTHER_CANCER_P, 2, 0))
        regimen = np.full(len(K), -1)
        sel = ctype > 0
        regimen[sel] = v.reg_sampler.draw(ctype[sel] - 1, h.u("regimen", K[sel]), f.t_birth[sel])
        indi_pool = np.where(regimen >= 0, v.reg_indication[np.maximum(regimen, 0)], -1)
        prostate = indi_pool == v.indi_pools.index("prostate")
        female_only = (ctype == 1) | (indi_pool == v.indi_pools.index("ovarian"))
        us = h.u("sex", K)
        sex = np.select([us < 0.17, us < 0.175, us < 0.68], [0, 3, 1], 2)  # '' / UNK / F / M
        sex = np.where(female_only, np.where(us < 0.02, 0, np.where(us < 0.99, 1, 2)), sex)
        sex = np.where(prostate, np.where(us < 0.03, 0, 2), sex)
        tri = (h.u("age_a", K) + h.u("age_b", K)) / 2
        child = (ctype == 0) & (h.u("child", K) < 0.05)
        years = np.where(ctype > 0, 30 + 62 * tri, 18 + 75 * tri)
        years = np.where(child, h.u("child_age", K) ** 1.5 * 17.9, years)
        base_init = self.qstart(f.t_birth) + np.floor(
            h.u("init", K) * (self.qstart(f.t_birth + 1) - self.qstart(f.t_birth) - 12)
        ).astype(np.int64)
        lag = np.where(h.u("event_lag_long", K) < 0.2, h.exp(400, "event_lag", K), h.exp(45, "event_lag", K))
        return dict(
            ctype=ctype,
            cancer=ctype > 0,
            regimen=regimen,
            indi_pool=indi_pool,
            sex=sex,
            years=years,
            base_init=base_init,
            event_day=base_init - np.floor(lag).astype(np.int64),
        )

    # ================================================================= drugs
    def _drugs(self, f: Frame, case: dict, t: int):
        h, v, K = self.h, self.v, f.content_key
        cancer, regimen = case["cancer"], case["regimen"]
        n_reg = np.where(regimen >= 0, v.reg_len[np.maximum(regimen, 0)], 0)
        n_sup = np.where(cancer, np.minimum(np.floor(h.exp(1.6, "n_support", K)), 8), 0).astype(np.int64)
        heavy = h.u("n_drug_mix", K) < 0.3
        n_gen_plain = np.where(
            heavy, 2 + np.floor(h.exp(7.9, "n_drug", K)), 1 + np.floor(h.exp(1.6, "n_drug", K))
        )
        n_gen = np.where(cancer, np.floor(h.exp(1.2, "n_drug", K)), n_gen_plain)
        n_gen = np.minimum(n_gen, 50 - n_reg - n_sup).astype(np.int64)
        test_idx = np.searchsorted(self.test_cum, h.u("test_drug", K), side="right")
        test_idx = np.where(test_idx < len(self.test_cum), test_idx, -1)
        has_test = (test_idx >= 0).astype(np.int64)
        counts = n_reg + n_sup + n_gen + has_test
        row_case, slot, starts = _segments(counts)
        Kr, tbr = K[row_case], f.t_birth[row_case]
        b1 = n_reg[row_case]
        b2 = b1 + n_sup[row_case]
        b3 = b2 + n_gen[row_case]
        kind = np.select([slot < b1, slot < b2, slot < b3], [0, 1, 2], 3)
        drug = np.zeros(len(slot), dtype=np.int64)
        m = kind == 0
        drug[m] = v.reg_drugs[regimen[row_case[m]], slot[m]]
        m = kind == 1
        drug[m] = v.support_drugs[v.support_sampler.draw(0, h.u("support_drug", Kr[m], slot[m]), tbr[m])]
        m = kind == 2
        drug[m] = v.general_drugs[v.general_sampler.draw(0, h.u("general_drug", Kr[m], slot[m]), tbr[m])]
        m = kind == 3
        drug[m] = np.asarray(v.test_drug_index)[test_idx[row_case[m]]]

        ur = h.u("role", Kr, slot)
        other_cancer = np.where(ur < 0.30, R_SS, np.where(ur < 0.32, R_I, R_C))
        other_plain = np.where(ur < 0.45, R_SS, np.where(ur < 0.47, R_I, R_C))
        other = np.where(cancer[row_case], other_cancer, other_plain)
        role = np.where((kind == 0) | (kind == 3), R_SS, other)
        no_ps = h.u("no_ps", K) < 0.01  # cases without a PS exist (FAQ #30)
        role = np.where(slot == 0, np.where(no_ps[row_case], R_SS, R_PS), role)
        if t >= T_2024Q4:
            role = np.where((role == R_C) & (h.u("dn", Kr, slot) < 0.0005), R_DN, role)
        form = v.form_sampler.draw(drug, h.u("form", Kr, slot), tbr)

        exposed = (role == R_PS) | (role == R_SS)
        bits = np.bitwise_or.reduceat(np.where(exposed, v.drug_bits[drug], 0), starts)
        # suspect (PS/SS) exposure to background ingredients, one row per (case, ingredient), like ``bits``
        rows = np.flatnonzero(exposed)
        n_ing = v.drug_bg_n[drug[rows]]
        rows = np.repeat(rows, n_ing)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(n_ing) - n_ing, n_ing)
        ing = v.drug_bg_ing[v.drug_bg_ptr[drug[rows]] + within]
        pairs = np.sort(row_case[rows] * len(v.bg_ingredients) + ing)  # sort + diff: np.unique hashes, slower
        pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
        exposure = dict(case=pairs // len(v.bg_ingredients), ingredient=pairs % len(v.bg_ingredients))
        cols = dict(
            case=row_case,
            slot=slot,
            kind=kind,
            drug=drug,
            role=role,
            form=form,
            empty=np.zeros(len(slot), bool),
            copy=np.zeros(len(slot), np.int64),
        )
        return cols, bits, test_idx, exposure

    def _empty_drugname_rows(self, d: dict[str, np.ndarray], caseid: np.ndarray, pair: np.ndarray) -> None:
        """2012Q4 only: three cases carry an extra DRUG row with an empty drugname (FAQ #24)."""
        u = np.where(pair, 2.0, self.h.u("empty_drugname", caseid))  # never a planted duplicate pair
        cases = np.sort(np.argsort(u, kind="stable")[:3])
        at = np.searchsorted(d["case"], cases, side="right")
        extra = dict(
            case=cases,
            slot=d["slot"][at - 1] + 1,
            kind=np.full(len(cases), 4),
            drug=d["drug"][at - 1],
            role=np.full(len(cases), R_C),
            form=d["form"][at - 1],
            empty=np.ones(len(cases), bool),
            copy=np.zeros(len(cases), np.int64),
        )
        for k in d:
            d[k] = np.insert(d[k], at, extra[k])

    def _multi_dose_rows(self, d: dict[str, np.ndarray], demo: dict[str, np.ndarray]) -> None:
        """From 2021Q4 some company reports carry one DRUG row per dose regimen per drug_seq (FAQ #53)."""
        h = self.h
        K = demo["content_key"][d["case"]]
        company = np.isin(demo["rept"][d["case"]], (0, 1))
        pick = company & (h.u("multi_dose", K) < 0.09) & (h.u("multi_dose_row", K, d["slot"]) < 0.3)
        reps = 1 + np.where(pick & ~d["empty"], 1 + h.below(5, "multi_dose_n", K, d["slot"]), 0)
        idx = np.repeat(np.arange(len(reps)), reps)
        copy = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
        for k in d:
            d[k] = d[k][idx]
        d["copy"] = copy

    # ====================================================== planted signals
    def _planted(
        self, f: Frame, case: dict, bits: np.ndarray, test_idx: np.ndarray, exposure: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Planted events per report: Bernoulli(base x cancer factor x RR of the exposure).

        The natural term draw never yields a planted term, so unexposed reports show exactly the base rate
        and exposed ones RR times it; one draw per report keeps the counts at report level. DM controls
        (suspect exposure to a control ingredient) raise the same Dermatomyositis rate.
        """
        h, K = self.h, f.content_key
        rr = np.ones(len(K))
        for b, value in enumerate(_RR_BY_BIT):
            rr = np.where(bits & (1 << b), np.maximum(rr, value), rr)
        controls = np.zeros(len(K), dtype=np.int64)
        for k, ingredient in enumerate(self.control_ingredient):
            cases = exposure["case"][exposure["ingredient"] == ingredient]
            controls[cases] |= 1 << k
            rr[cases] = np.maximum(rr[cases], self.control_rr[k])
        p_dm = DM_BASE * np.where(case["cancer"], DM_CANCER_FACTOR, 1.0) * rr
        dm = h.u("dm_event", K) < p_dm
        n_test = len(self.test_rr)
        exposed = test_idx[:, None] == np.arange(n_test)[None, :]
        p_test = TEST_BASE * np.where(exposed, self.test_rr[None, :], 1.0)
        hit = h.u("test_event", K[:, None], np.arange(n_test)[None, :]) < p_test
        test_flags = (hit * (1 << np.arange(n_test))[None, :]).sum(axis=1).astype(np.int64)
        return dict(
            caseid=f.caseid,
            content_key=K,
            dup=f.dup_of > 0,
            cancer=case["cancer"],
            bits=bits,
            controls=controls,
            test_idx=test_idx,
            p_dm=p_dm,
            dm=dm,
            test_flags=test_flags,
        )

    # ============================================================= reactions
    def _reactions(
        self, f: Frame, case: dict, assoc: dict, exposure: dict
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        h, v, K = self.h, self.v, f.content_key
        heavy = h.u("n_event_mix", K) < EVENT_HEAVY_P
        n_nat = np.where(
            heavy,
            2 + np.floor(h.exp(EVENT_HEAVY_MEAN, "n_event", K)),
            1 + np.floor(h.exp(EVENT_LIGHT_MEAN, "n_event", K)),
        )
        n_nat = np.minimum(n_nat, EVENT_MAX).astype(np.int64)
        owner, j, _ = _segments(n_nat)
        Ko, tbo = K[owner], f.t_birth[owner]
        onc = case["cancer"][owner] & (h.u("event_pool", Ko, j) < ONC_EVENT_P)
        pt = np.empty(len(owner), dtype=np.int64)
        pt[onc] = v.onc_pts[v.onc_pt_sampler.draw(0, h.u("event", Ko[onc], j[onc]), tbo[onc])]
        pt[~onc] = v.general_pts[v.general_pt_sampler.draw(0, h.u("event", Ko[~onc], j[~onc]), tbo[~onc])]
        # follow-up versions add terms cumulatively (never for planted duplicate pairs, which must match)
        n_ms = (h.u("milestones", K)[:, None] < np.array(MILESTONE_P)).sum(axis=1)
        n_ms_applied = np.zeros(len(K), np.int64)
        parts_owner, parts_pt, parts_j = [owner], [pt], [j]
        for m in range(1, len(MILESTONE_P) + 1):
            add = (n_ms >= m) & (f.version >= 2 + h.below(12, "milestone_v", K, m)) & ~f.in_dup_pair
            n_ms_applied += add
            idx = np.flatnonzero(add)
            parts_owner.append(idx)
            parts_pt.append(
                v.general_pts[v.general_pt_sampler.draw(0, h.u("event", K[idx], 100 + m), f.t_birth[idx])]
            )
            parts_j.append(np.full(len(idx), 100 + m))
        idx = np.flatnonzero(assoc["dm"])
        parts_owner.append(idx)
        parts_pt.append(np.full(len(idx), v.dm_pt))
        parts_j.append(np.full(len(idx), 200))
        for k, pt_k in enumerate(v.test_pts):
            idx = np.flatnonzero(assoc["test_flags"] & (1 << k))
            parts_owner.append(idx)
            parts_pt.append(np.full(len(idx), pt_k))
            parts_j.append(np.full(len(idx), 300 + k))
        background = self._characteristic(f, case, exposure, n_nat, n_ms_applied)
        parts_owner.append(background.pop("add_case"))
        parts_pt.append(background.pop("add_pt"))
        parts_j.append(J_CHARACTERISTIC + parts_pt[-1])  # distinct per term: j also keys drug_rec_act
        owner, pt, j = (np.concatenate(p) for p in (parts_owner, parts_pt, parts_j))
        order = np.lexsort((j, owner))
        owner, pt, j = owner[order], pt[order], j[order]
        written, first = np.unique(owner * 100_000 + pt, return_index=True)
        keep = np.zeros(len(owner), bool)
        keep[first] = True
        owner, pt, j = owner[keep], pt[keep], j[keep]
        # ground truth: does the written report carry each characteristic event it is exposed to? (both key
        # arrays are sorted, so a binary search beats np.isin, which hashes)
        pair_key = background.pop("pair_key")
        at = np.minimum(np.searchsorted(written, pair_key), max(len(written) - 1, 0))
        hit = written[at] == pair_key if len(written) else np.zeros(len(pair_key), bool)
        background["hit"] = hit[background.pop("pair_of")]
        return dict(case=owner, pt=pt, j=j), background

    def _characteristic(
        self, f: Frame, case: dict, exposure: dict, n_nat: np.ndarray, n_ms: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Characteristic events of the background ingredients a report is exposed to (PS/SS).

        For each (report, event) with exposure to ingredients characteristic for the event, the event is
        added with probability ``q = (min(1, rr * p) - p) / (1 - p)``, where ``p`` is the chance that the
        report's natural term draw already holds it and ``rr`` is the largest rate among those ingredients
        (co-exposure takes the maximum, as for planted signals). Then P(event) = min(1, rr * p) exactly,
        report by report: the relative rate holds whatever the report's size, cancer status or era, and so
        is not confounded by them. Draws are keyed by (content key, term), so versions and planted
        duplicates agree. Returns the added terms and per (report, ingredient, event) ground-truth rows.
        """
        h, v, ch = self.h, self.v, self.char
        n_pt = len(v.pt)
        counts = ch.ptr[exposure["ingredient"] + 1] - ch.ptr[exposure["ingredient"]]
        src = np.repeat(np.arange(len(counts)), counts)
        within = np.arange(len(src)) - np.repeat(np.cumsum(counts) - counts, counts)
        pair = ch.ptr[exposure["ingredient"][src]] + within
        row_case = exposure["case"][src]
        key = row_case * n_pt + ch.pt[pair]
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        ukey = sorted_key[starts]
        rr = np.maximum.reduceat(ch.rr[pair][order], starts) if len(starts) else np.zeros(0)
        pair_of = np.empty(len(key), np.int64)  # row -> its (report, event)
        pair_of[order] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(key)]))
        first = np.zeros(len(key), bool)  # one row per (report, event), for sums over distinct events
        first[order[starts]] = True
        uc, upt = ukey // n_pt, ukey % n_pt
        p, m = natural_presence(v, n_nat[uc], case["cancer"][uc], f.t_birth[uc], n_ms[uc], upt)
        target = np.minimum(1.0, rr * p)
        q = np.divide(target - p, 1.0 - p, out=np.zeros(len(p)), where=p < 1.0)
        add = h.u("char_event", f.content_key[uc], upt) < q
        expected = 1.0 - (1.0 - target) * (1.0 - m)
        null = 1.0 - (1.0 - p) * (1.0 - m)
        return dict(
            add_case=uc[add],
            add_pt=upt[add],
            pair_key=uc * 100_000 + upt,
            pair_of=pair_of,
            case=row_case.astype(np.int32),
            pair=pair.astype(np.int32),
            expected=expected[pair_of].astype(np.float32),
            null=null[pair_of].astype(np.float32),
            first=first,
            n_exposures=np.bincount(exposure["case"], minlength=len(n_nat)).astype(np.int16),
            n_nat=n_nat.astype(np.int16),
            n_ms=n_ms.astype(np.int8),
            cancer=case["cancer"],
            t_birth=f.t_birth.astype(np.int16),
        )

    # ======================================================= outcomes, RPSR
    def _outcomes(self, K: np.ndarray, cancer: np.ndarray, legacy: bool) -> dict[str, np.ndarray]:
        h = self.h
        p_none = np.where(cancer, 0.3, 0.3 if legacy else 0.43)
        u = h.u("outcome_n", K)
        k = np.where(u < p_none, 0, 1 + (h.u("outcome_k", K) < 0.25) + (h.u("outcome_k2", K) < 0.05))
        w = np.array([0.09, 0.045, 0.28, 0.021, 0.005, 0.003, 0.56])
        owner, code = _without_replacement(h, "outcome", K, w, k)
        return dict(case=owner, code=code)

    def _sources(self, caseid: np.ndarray, version: np.ndarray, legacy: bool) -> dict[str, np.ndarray]:
        h = self.h
        if legacy:
            u = h.u("rpsr_n", caseid)
            k = (u < 0.85).astype(int) + (h.u("rpsr_k", caseid) < 0.25) + (h.u("rpsr_k2", caseid) < 0.08)
            w = np.array([0.2, 0.35, 0.15, 0.2, 0.05, 0.04, 0.005, 0.004, 0.001])
        else:  # RPSR is tiny in FAERS (FAQ #40): about 3% of reports
            k = (h.u("rpsr_n", caseid, version) < 0.027) * (1 + (h.u("rpsr_k", caseid, version) < 0.05))
            w = np.array([0.66, 0.33, 0.01])
        owner, code = _without_replacement(h, "rpsr", caseid * 1000 + version, w, k)
        return dict(case=owner, code=code)

    # ================================================================== DEMO
    def _demo(
        self, f: Frame, case: dict, drug: dict, outc: dict, t: int, legacy: bool
    ) -> dict[str, np.ndarray]:
        h, v, K, cid, ver = self.h, self.v, f.content_key, f.caseid, f.version
        n = len(K)
        u = h.u("rept", K)
        company = np.select([u < 0.54, u < 0.98, u < 0.9996], [0, 1, 4], 3)  # EXP PER 30DAY 5DAY
        rept = np.where(h.u("direct", K) < 0.032, 2, company)
        if legacy or t < T_2022Q3:
            rept = np.where(rept >= 3, 0, rept)
        direct = rept == 2
        # sender: the PS drug's company for most company reports; a different sender for most duplicates
        same_sender = (f.dup_of == 0) | (h.u("dup_same_mfr", cid) < 0.3)
        skey = np.where(same_sender, K, cid)
        first_drug = drug["drug"][np.searchsorted(drug["case"], np.arange(n))]
        own = v.drug_sender[first_drug]
        zipf = np.minimum(np.floor(v.n_zipf_senders * h.u("sender", skey) ** 2.2), v.n_zipf_senders - 1)
        sender = np.where(
            (own >= 0) & (h.u("sender_own", skey) < 0.75) & same_sender, own, zipf.astype(np.int64)
        )
        sender = np.where(direct, v.direct_sender, sender)
        country = v.country_sampler.draw(0, h.u("country", K), NEVER)
        init_day = case["base_init"] + np.where(f.dup_of > 0, 1 + h.below(10, "init_dup", cid), 0)
        q_end = self.qstart(f.t_received + 1) - 1
        first_fda = init_day + np.floor(h.u("fda0", cid) * (q_end - init_day + 1)).astype(np.int64)
        later = self.qstart(f.t_received) + h.below(q_end - self.qstart(f.t_received) + 1, "fda", cid, ver)
        fda_day = np.where(f.initial, first_fda, later)
        mfr_day = fda_day - np.floor(h.exp(6, "mfr_lag", cid, ver)).astype(np.int64)
        rept_day = fda_day - np.where(
            h.u("rept_lag", cid, ver) < 0.3, 1 + h.below(3, "rept_lag_n", cid, ver), 0
        )
        ue = h.u("event_precision", K)
        years, sex = case["years"], case["sex"]
        age_missing = h.u("age_missing", K) < 0.38
        wt_present = h.u("wt_present", K) < 0.17
        male = sex == 2
        kg = np.where(
            years < 18, 3 + years * 3.2, 52 + 45 * (h.u("wt_a", K) + h.u("wt_b", K)) / 2 + 10 * male
        )
        has_death = np.zeros(n, bool)
        has_death[outc["case"][outc["code"] == 0]] = True
        demo = dict(
            caseid=cid,
            content_key=K,
            version=ver,
            initial=f.initial,
            t_received=f.t_received,
            dup_of=f.dup_of,
            in_dup_pair=f.in_dup_pair,
            chronic=f.chronic,
            rept=rept,
            sender=sender,
            country=country,
            init_day=init_day,
            fda_day=fda_day,
            mfr_day=mfr_day,
            rept_day=rept_day,
            event_day=case["event_day"],
            event_missing=h.u("event_missing", K) < 0.55,
            event_precision=np.where(ue < 0.18, 2, np.where(ue < 0.32, 1, 0)),
            event_pad_mixed=h.u("event_pad", K) < 0.5,
            years=years,
            age_missing=age_missing,
            age_u=h.u("age_unit", K),
            age_odd=h.u("age_odd", K),
            age_grp_present=h.u("age_grp", K) < np.where(age_missing, 0.05, 0.55),
            sex=sex,
            sex_u=h.u("sex_ns", K),
            kg=np.round(kg).astype(np.int64),
            wt_present=wt_present,
            wt_u=h.u("wt_unit", K),
            occp_u=h.u("occp", K),
            occp_hp=h.u("occp_hp", K),
            mfr_pattern=h.u("mfr_pattern", skey) < 0.6,
            mfr_serial=h.below(1_000_000, "mfr_serial", skey),
            mfr_prefix=h.below(6, "mfr_prefix", skey),
            country_u=h.u("country_form", K),
            occr_u=h.u("occr", K),
            auth_u=h.u("auth", K),
            auth_serial=h.below(10**8, "auth_serial", K),
            lit=np.where(h.u("lit", K) < 0.04, h.below(200, "lit_ref", K), -1),
            esub_u=h.u("e_sub", cid, ver),
            to_mfr_u=h.u("to_mfr", K),
            foll_u=h.u("foll_seq", cid, ver),
            confid_u=h.u("confid", cid),
            has_death=has_death & (h.u("death_dt", K) < 0.5),
            death_day=case["event_day"] + np.floor(h.exp(20, "death_lag", K)).astype(np.int64),
            cancer=case["cancer"],
        )
        return demo

    # ===================================================== THER and INDI
    def _therapies(self, f: Frame, case: dict, drug: dict, legacy: bool, t: int):
        h, v = self.h, self.v
        K = f.content_key[drug["case"]]
        slot, kind, dr = drug["slot"], drug["kind"], drug["drug"]
        event = case["event_day"][drug["case"]]
        focal = (kind == 0) | (kind == 3)
        n1 = h.u("ther_n", K, slot) < np.where(focal, 0.55, 0.25)
        n2 = n1 & (h.u("ther_n2", K, slot) < np.where(focal, 0.1, 0.02))
        reps = n1.astype(np.int64) + n2
        row, k, _ = _segments(reps)
        Kr, sr, ev = K[row], slot[row], event[row]
        onset = 1 + np.floor(np.where(focal[row], h.exp(40, "onset", Kr, sr), h.exp(500, "onset", Kr, sr)))
        start1 = ev - onset.astype(np.int64)
        start = np.where(
            k == 0, start1, start1 + np.floor(h.u("restart", Kr, sr) * (ev - start1)).astype(np.int64)
        )
        end_present = h.u("end_present", Kr, sr, k) < 0.43
        end = start + np.floor(h.u("end", Kr, sr, k) * (ev - start + 60)).astype(np.int64)
        dur_present = h.u("dur_present", Kr, sr, k) < 0.34
        span = end - start + 1
        dur_unit = np.select([span >= 730, span >= 60, span >= 14], [3, 2, 1], 0)
        dur_val = np.select([span >= 730, span >= 60, span >= 14], [span // 365, span // 30, span // 7], span)
        free_unit = h.below(len(DUR_UNIT), "dur_unit", Kr, sr, k)
        dur_val = np.where(end_present, dur_val, 1 + h.below(30, "dur", Kr, sr, k))
        dur_unit = np.where(end_present, dur_unit, free_unit)
        us = h.u("start_precision", Kr, sr, k)
        ther = dict(
            case=drug["case"][row],
            slot=slot[row],
            start=start,
            start_missing=h.u("start_missing", Kr, sr, k) < 0.09,
            start_precision=np.where(us < 0.05, 2, np.where(us < 0.15, 1, 0)),
            end=end,
            end_present=end_present,
            dur_present=dur_present,
            dur=np.maximum(dur_val, 1),
            dur_unit=dur_unit,
        )

        has = h.u("indi_present", K, slot) < (0.32 if legacy else 0.72)
        rows = np.flatnonzero(has)
        Ki, si, ki = K[rows], slot[rows], kind[rows]
        filler_p = np.select([ki == 0, ki == 1, ki == 3], [0.05, 0.3, 0.5], 0.35)
        filler = h.u("indi_filler", Ki, si) < filler_p
        pool = np.where(ki == 0, case["indi_pool"][drug["case"][rows]], v.drug_indi_pool[dr[rows]])
        case_u = h.u("case_indication", Ki)
        row_u = h.u("indication", Ki, si)
        pt = v.indi_sampler.draw(pool, np.where(ki == 0, case_u, row_u), NEVER)
        fill = v.filler_new if t >= T_2016Q2 else v.filler_old
        indi = dict(case=drug["case"][rows], slot=si, pt=np.where(filler, fill, pt))
        if legacy:
            ther["lseq"] = drug["lseq"][row]
            indi["lseq"] = drug["lseq"][rows]
        del f
        return ther, indi
