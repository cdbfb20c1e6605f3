"""Characteristic adverse events of background ingredients: realistic heterogeneity with a known truth.

Real FAERS is heterogeneous: most drugs have a handful of events reported several-fold more often with them
than elsewhere. Without that, every background pair has a true relative reporting rate of exactly 1 and an
empirical-Bayes prior fitted to the synthetic data collapses onto RR = 1. So every background ingredient
(``Vocab.bg_ingredients``: catalogue ingredients that never occur in a target or test drug) gets

* ``k`` characteristic events, uniform on 1..``K_MAX``, drawn without replacement and uniformly (not by
  frequency, so rare, specific terms are as likely as common ones) from the general term pool, plus the
  oncology pool for ingredients only ever given in cancer reports; never a planted term (dermatomyositis,
  the test-drug grid's events) and never a term marked ``never`` in ``events.csv`` (the myositis/myopathy
  neighbourhood of the DM analysis);
* for each, a true relative reporting rate ``RR = 1 + exp(N(ln(RR_MEDIAN - 1), RR_SIGMA))``: median
  ``RR_MEDIAN``, about 4% of pairs above 10 and 0.15% above 30, capped at ``RR_CAP``. The shift by 1 keeps
  every characteristic rate above 1: an additive mechanism can raise a rate, not lower it.

Everything is keyed by CRC-32 of the ingredient and term *names*, so the sets depend only on the seed (never
on the generated quarters, nor on catalogue order) and adding a catalogue row does not reshuffle the others.
How the rate is applied per report is ``ContentBuilder._characteristic``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from pv.synth._hash import Hasher
from pv.synth.vocab import Vocab

K_MAX = 6
RR_MEDIAN = 2.5
RR_SIGMA = 1.0  # standard deviation of ln(RR - 1)
RR_CAP = 40.0


def name_keys(names: list[str]) -> np.ndarray:
    """Stable integer hash keys of names (catalogue order does not matter)."""
    return np.array([zlib.crc32(n.encode("ascii")) for n in names], dtype=np.int64)


@dataclass(frozen=True)
class Characteristic:
    """Characteristic (ingredient, event, RR) pairs, grouped by ingredient (CSR: ``ptr``)."""

    ingredient: np.ndarray  # index into Vocab.bg_ingredients
    pt: np.ndarray  # index into Vocab.pt
    rr: np.ndarray
    ptr: np.ndarray  # pairs of ingredient i are ptr[i]:ptr[i + 1]

    def __len__(self) -> int:
        return len(self.pt)


def draw_characteristic(v: Vocab, h: Hasher) -> Characteristic:
    """The seed's characteristic sets; a few thousand hashes, computed once per ``generate`` call."""
    n_ing = len(v.bg_ingredients)
    ing_key = name_keys(v.bg_ingredients)
    pts = np.concatenate([v.char_general_pts, v.char_onc_pts])
    onc_term = np.r_[np.zeros(len(v.char_general_pts), bool), np.ones(len(v.char_onc_pts), bool)]
    pt_key = name_keys([v.pt[i] for i in pts])
    eligible = ~onc_term[None, :] | v.bg_onc_only[:, None]
    score = np.where(eligible, h.u("char_rank", ing_key[:, None], pt_key[None, :]), 2.0)
    ranked = np.argsort(score, axis=1, kind="stable")
    k = np.minimum(1 + h.below(K_MAX, "char_k", ing_key), eligible.sum(axis=1))
    ing, pos = np.nonzero(np.arange(len(pts))[None, :] < k[:, None])
    col = ranked[ing, pos]
    # Box-Muller normal from two uniforms keyed by the pair, so a pair's rate does not depend on k
    u1 = h.u("char_rr_a", ing_key[ing], pt_key[col])
    u2 = h.u("char_rr_b", ing_key[ing], pt_key[col])
    z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    rr = np.minimum(1.0 + (RR_MEDIAN - 1.0) * np.exp(RR_SIGMA * z), RR_CAP)
    order = np.lexsort((pts[col], ing))  # by ingredient, then term index
    ptr = np.concatenate([[0], np.cumsum(np.bincount(ing, minlength=n_ing))]).astype(np.int64)
    return Characteristic(ing[order], pts[col][order], np.round(rr[order], 3), ptr)
