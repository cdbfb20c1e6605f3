"""Which case versions exist in which quarter: cohorts, follow-ups, late arrivals, long-running cases.

The population is defined for every quarter from 2004Q1 on (plus ``LAGS`` virtual pre-2004 quarters), not
just for the generated range: quarter ``t`` holds the versions that cohorts ``t - LAGS .. t`` and the
long-running pool schedule for ``t``. Cohort sizes depend only on earlier quarters, so a quarter's DEMO
content is the same whether it is generated alone or inside a longer range. Deleted-case lists are the
exception: they may only name cases that were actually generated (``deleted_cases``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pv.download import load_manifest, manifest_path
from pv.errors import UserError
from pv.quarters import FIRST_QUARTER, Quarter
from pv.synth._hash import Hasher

LAGS = 12  # follow-up versions arrive at most this many quarters after a case's first quarter
T_MIN = -LAGS
FAERS_T = 35  # 2012Q4
DELETED_LISTS_T = 60  # 2019Q1: FDA starts publishing deleted-case lists (FAQ #45)

FAERS_DEMO = 385_288  # FDA 2025Q4 DEMO rows (STAT)
REFERENCE_QUARTER = Quarter(2025, 4)  # the quarter scale 1.0 models: FAERS_DEMO is its DEMO row count
LEGACY_DEMO_FIRST, LEGACY_DEMO_LAST = 60_000, 150_000

FOLLOW_UP_P = 0.13 * 0.75 ** np.arange(LAGS)  # P(follow-up version at lag d = 1..LAGS)
LATE_P = 0.01  # the initial version re-sent in the next quarter (same primaryid; FAQ #2, #29)
DUP_P = 0.03  # odd cohort members that copy their even neighbour's event (cross-case duplicate)
DELETE_P = 0.012
CHRONIC_FRAC = 0.0025  # long-running cases (versions into the dozens) added per quarter, per DEMO row
COHORT_SHARE = 0.85  # share of a quarter's caseid block used by its cohort; the rest serves the chronic pool


def qindex(q: Quarter) -> int:
    return (q.year - 2004) * 4 + q.q - 1


def quarter_at(t: int) -> Quarter:
    return Quarter(2004 + t // 4, t % 4 + 1)


def target_demo(t: int) -> float:
    """DEMO rows at scale 1.0: FDA's 2025Q4 size for FAERS, a 60k -> 150k ramp through legacy AERS."""
    if t >= FAERS_T:
        return float(FAERS_DEMO)
    frac = min(max(t, 0), FAERS_T - 1) / (FAERS_T - 1)
    return LEGACY_DEMO_FIRST + (LEGACY_DEMO_LAST - LEGACY_DEMO_FIRST) * frac


def fda_zip_scales(scale: float, last: Quarter, manifest: Path | None = None) -> dict[Quarter, float]:
    """Per-quarter scales for 2004Q1..``last`` that size each quarter like FDA's own zip for it.

    Quarter ``q`` gets ``scale * bytes(q's FDA zip) / bytes(FDA's 2025Q4 zip)`` (67,144,585 bytes): scale
    1.0 models 2025Q4 (``REFERENCE_QUARTER``, ``FAERS_DEMO`` DEMO rows), so a quarter whose zip is a quarter
    of that size gets a quarter of its reports. Sizes come from the zip manifest (``pv.download``); every
    quarter up to ``last`` is needed, not only the generated ones, because a quarter's reports include
    follow-ups of cases first received in the twelve quarters before it.
    """
    path = manifest_path() if manifest is None else Path(manifest)
    entries = load_manifest(path)
    scales: dict[Quarter, float] = {}
    reference = entries.get(REFERENCE_QUARTER)
    q = FIRST_QUARTER
    while q <= last:
        entry = entries.get(q)
        if entry is None or reference is None:
            missing = q if entry is None else REFERENCE_QUARTER
            raise UserError(f"{path}: no FDA zip size for {missing}, needed to size quarters by FDA's zips")
        scales[q] = scale * entry.bytes / reference.bytes
        q = q.next()
    return scales


def caseid_block(t: int) -> tuple[int, int]:
    """(first caseid, block size) of quarter ``t``: 7-digit in early legacy, 8-digit through FAERS."""
    if t < 0:
        return 1_500_000 + (t - T_MIN) * 100_000, 100_000
    if t < FAERS_T:
        return 2_700_000 + t * 170_000, 170_000
    return 8_900_000 + (t - FAERS_T) * 450_000, 450_000


@dataclass(frozen=True)
class Cohort:
    """Cases first received in one quarter."""

    t: int
    caseid: np.ndarray
    content_key: np.ndarray  # whose content a case shows: itself, or the original of a planted duplicate
    dup_of: np.ndarray  # 0 unless a planted cross-case duplicate
    in_dup_pair: np.ndarray
    v0: np.ndarray


@dataclass(frozen=True)
class Frame:
    """DEMO-level rows of one quarter, unsorted."""

    caseid: np.ndarray
    content_key: np.ndarray
    version: np.ndarray
    t_birth: np.ndarray
    t_received: np.ndarray  # quarter FDA received this version (earlier than ``t`` for late arrivals)
    initial: np.ndarray  # this row is the case's first version seen by FDA
    chronic: np.ndarray
    dup_of: np.ndarray
    in_dup_pair: np.ndarray

    def __len__(self) -> int:
        return len(self.caseid)


class Population:
    """Case versions per quarter. DEMO rows per quarter aim at ``target``: ``target_demo(t) * scale``, or,
    given ``quarter_scales`` (quarter index -> scale, as ``fda_zip_scales``),
    ``FAERS_DEMO * quarter_scales[t]`` (the virtual pre-2004 quarters take 2004Q1's)."""

    def __init__(
        self, hasher: Hasher, scale: float, t_max: int, quarter_scales: Mapping[int, float] | None = None
    ) -> None:
        self.h = hasher
        self.scale = scale
        self.quarter_scales = quarter_scales
        self.t_max = t_max
        self._chronic_pool(t_max)
        self._cohort_sizes(t_max)
        self.cohort = lru_cache(maxsize=LAGS + 3)(self._cohort)

    # ------------------------------------------------------------ sizes
    def target(self, t: int) -> float:
        if self.quarter_scales is not None:
            return FAERS_DEMO * self.quarter_scales[max(t, 0)]
        return target_demo(t) * self.scale

    def _chronic_pool(self, t_max: int) -> None:
        homes, caseids = [], []
        for h in range(T_MIN, t_max + 1):
            m = int(np.floor(CHRONIC_FRAC * self.target(h) + self.h.u("chronic_n", h)[0]))
            if m == 0:
                continue
            start, size = caseid_block(h)
            cap = int(size * COHORT_SHARE)
            step = max(1, (size - cap - 2) // m)
            j = np.arange(m)
            homes.append(np.full(m, h))
            caseids.append(start + cap + 1 + j * step + self.h.below(step, "chronic_id", h, j))
        home = np.concatenate(homes) if homes else np.zeros(0, np.int64)
        cid = np.concatenate(caseids) if caseids else np.zeros(0, np.int64)
        self.ch_caseid = cid
        self.ch_home = home
        self.ch_start = home + self.h.below(5, "chronic_start", cid)
        self.ch_len = 6 + self.h.below(25, "chronic_len", cid)
        self.ch_p = 0.5 + 0.45 * self.h.u("chronic_p", cid)
        self.ch_v0 = 1 + np.floor(self.h.u("chronic_v0", cid) ** 2 * 40).astype(np.int64)
        self.ch_rate = 1 + self.h.below(3, "chronic_rate", cid)

    def _cohort_sizes(self, t_max: int) -> None:
        p_lag = np.concatenate([[1.0], FOLLOW_UP_P])
        p_lag[1] += LATE_P * (1 - FOLLOW_UP_P[0])
        sizes: dict[int, int] = {}
        for t in range(T_MIN, t_max + 1):
            active = (self.ch_start <= t) & (t < self.ch_start + self.ch_len)
            expected_chronic = float(self.ch_p[active].sum())
            follow = sum(sizes.get(t - d, 0) * p_lag[d] for d in range(1, LAGS + 1))
            target = self.target(t)
            sizes[t] = max(1, round(max(0.3 * target, target - expected_chronic - follow)))
            _, size = caseid_block(t)
            if sizes[t] > size * COHORT_SHARE * 0.95:
                raise RuntimeError(f"cohort of quarter {t} does not fit its caseid block")
        self.sizes = sizes

    # ----------------------------------------------------------- cohorts
    def _cohort(self, t: int) -> Cohort:
        n = self.sizes[t]
        start, size = caseid_block(t)
        cap = int(size * COHORT_SHARE)
        i = np.arange(n)
        extra = max(0, int(2 * (0.9 * cap - n) / n))
        gaps = 1 + self.h.below(extra + 1, "gap", t, i)
        offsets = np.cumsum(gaps)
        if offsets[-1] > cap:
            offsets = i + 1
        caseid = start + offsets
        is_dup = (i % 2 == 1) & (self.h.u("dup", caseid) < DUP_P)
        dup_of = np.where(is_dup, np.roll(caseid, 1), 0)
        in_pair = is_dup | np.roll(is_dup, -1)
        v0 = np.where(self.h.u("v0", caseid) < 0.8, 1, 2 + self.h.below(3, "v0_more", caseid))
        return Cohort(t, caseid, np.where(is_dup, dup_of, caseid), dup_of, in_pair, v0)

    def _follow_up(self, caseid: np.ndarray, d: int) -> np.ndarray:
        return self.h.u("follow", caseid, d) < FOLLOW_UP_P[d - 1]

    def _late(self, caseid: np.ndarray) -> np.ndarray:
        return (self.h.u("late", caseid) < LATE_P) & ~self._follow_up(caseid, 1)

    def _version_at(self, c: Cohort, sel: np.ndarray, d: int) -> np.ndarray:
        caseid = c.caseid[sel]
        version = c.v0[sel].copy()
        for lag in range(1, d + 1):
            inc = 1 + (self.h.u("inc", caseid, lag)[:, None] < np.array([0.35, 0.12, 0.04])).sum(axis=1)
            version += np.where(self._follow_up(caseid, lag), inc, 0)
        return version

    # ----------------------------------------------------------- quarters
    def frame(self, t: int) -> Frame:
        parts: list[dict[str, np.ndarray]] = []

        def add(c: Cohort, sel: np.ndarray, version: np.ndarray, received: int, initial: bool) -> None:
            n = int(sel.sum()) if sel.dtype == bool else len(sel)
            parts.append(
                dict(
                    caseid=c.caseid[sel],
                    content_key=c.content_key[sel],
                    version=version,
                    t_birth=np.full(n, c.t),
                    t_received=np.full(n, received),
                    initial=np.full(n, initial),
                    chronic=np.zeros(n, bool),
                    dup_of=c.dup_of[sel],
                    in_dup_pair=c.in_dup_pair[sel],
                )
            )

        c0 = self.cohort(t)
        add(c0, np.ones(len(c0.caseid), bool), c0.v0, t, True)
        for d in range(1, LAGS + 1):
            if t - d < T_MIN:
                break
            c = self.cohort(t - d)
            sel = self._follow_up(c.caseid, d)
            add(c, sel, self._version_at(c, sel, d), t, False)
            if d == 1:
                late = self._late(c.caseid)
                add(c, late, c.v0[late], t - 1, True)
        active = (self.ch_start <= t) & (t < self.ch_start + self.ch_len)
        active &= self.h.u("chronic_seen", self.ch_caseid, t) < self.ch_p
        n = int(active.sum())
        cid = self.ch_caseid[active]
        parts.append(
            dict(
                caseid=cid,
                content_key=cid,
                version=self.ch_v0[active] + self.ch_rate[active] * (t - self.ch_start[active]),
                t_birth=self.ch_home[active],
                t_received=np.full(n, t),
                initial=np.zeros(n, bool),
                chronic=np.ones(n, bool),
                dup_of=np.zeros(n, np.int64),
                in_dup_pair=np.zeros(n, bool),
            )
        )
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        cols["version"] = cols["version"].astype(np.int64)
        return Frame(**cols)

    # ----------------------------------------------------------- deletions
    def _deletions(self, t0: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Deleted members of cohort ``t0``: caseids, deletion quarter, and the quarters each appeared in."""
        c = self.cohort(t0) if t0 >= T_MIN else None
        if c is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), []
        cid = c.caseid[self.h.u("delete", c.caseid) < DELETE_P]
        seen = [np.zeros(len(cid), bool)] + [self._follow_up(cid, d) for d in range(1, LAGS + 1)]
        seen[0][:] = True
        seen[1] = seen[1] | self._late(cid)
        mat = np.stack(seen, axis=1)
        last = LAGS - np.argmax(mat[:, ::-1], axis=1)
        # deleted in the quarter of the last version or up to two quarters later
        t_del = t0 + last + self.h.below(3, "delete_lag", cid)
        appear = [t0 + np.flatnonzero(row) for row in mat]
        return cid, t_del, appear

    def deleted_cases(self, t: int, generated: set[int], before: bool = False) -> np.ndarray:
        """Caseids deleted in quarter ``t`` (or, with ``before``, in any quarter before ``t``) that appear in
        a generated quarter; ordered by a hash, as FDA's lists are not sorted."""
        lo = (min(generated) - LAGS - 3) if before else t - LAGS - 3
        out = []
        for t0 in range(max(lo, T_MIN), t + 1):
            cid, t_del, appear = self._deletions(t0)
            hit = (t_del < t) if before else (t_del == t)
            for k in np.flatnonzero(hit):
                if generated.intersection(appear[k].tolist()):
                    out.append(cid[k])
        ids = np.array(sorted(out), dtype=np.int64)
        return ids[np.argsort(self.h.u("delete_order", ids), kind="stable")] if len(ids) else ids
