"""Vocabularies for the synthetic generator: drugs, surface forms, regimens, MedDRA-like terms, codes.

Catalogue rows in ``data/synth/*.csv`` are listed in descending frequency; weights follow a Zipf law over
that rank, so the CSVs stay reviewable without hand-tuned numbers.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from pv.errors import UserError

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "synth"

NEVER = -(10**6)  # "available since forever" on the quarter-index axis

# Planted ingredient bits (report-level exposure), in a fixed order used by associations.csv.
TARGET_INGREDIENTS: tuple[str, ...] = (
    "paclitaxel", "docetaxel", "cabazitaxel", "trastuzumab", "pertuzumab", "margetuximab",
    "trastuzumab emtansine", "trastuzumab deruxtecan", "lapatinib", "neratinib", "tucatinib",
)  # fmt: skip

# Synthetic test drugs: one stem per planted relative rate, one suffix per exposure level.
TEST_RRS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
TEST_EXPOSURES: tuple[float, ...] = (0.0002, 0.0008, 0.003, 0.008)
_TEST_STEMS = ("synthe", "fictu", "placi", "mocka", "simula", "imagi")
_TEST_SUFFIXES = (("timab", "sc"), ("zolid", "oral"), ("prinib", "oral"), ("dronate", "oral"))

FILLER_OLD = "Drug use for unknown indication"  # MedDRA LLT FAERS used before the PT below
FILLER_NEW = "Product used for unknown indication"

# ISO code, legacy AERS full name, weight, EU member.
COUNTRIES: tuple[tuple[str, str, float, bool], ...] = (
    ("US", "UNITED STATES", 600, False), ("JP", "JAPAN", 60, False), ("GB", "UNITED KINGDOM", 40, False),
    ("CA", "CANADA", 35, False), ("FR", "FRANCE", 30, True), ("DE", "GERMANY", 30, True),
    ("IT", "ITALY", 20, True), ("BR", "BRAZIL", 20, False), ("ES", "SPAIN", 15, True),
    ("CN", "CHINA", 12, False), ("AU", "AUSTRALIA", 10, False), ("IN", "INDIA", 10, False),
    ("NL", "NETHERLANDS", 10, True), ("KR", "KOREA, REPUBLIC OF", 8, False), ("BE", "BELGIUM", 6, True),
    ("SE", "SWEDEN", 5, True), ("PL", "POLAND", 5, True), ("CH", "SWITZERLAND", 5, False),
    ("AR", "ARGENTINA", 5, False), ("MX", "MEXICO", 5, False), ("AT", "AUSTRIA", 4, True),
    ("CO", "COLOMBIA", 4, False), ("TR", "TURKEY", 4, False), ("GR", "GREECE", 3, True),
    ("DK", "DENMARK", 3, True), ("PT", "PORTUGAL", 3, True), ("TW", "TAIWAN", 3, False),
    ("IE", "IRELAND", 2, True), ("FI", "FINLAND", 2, True), ("CZ", "CZECH REPUBLIC", 2, True),
    ("ZA", "SOUTH AFRICA", 2, False), ("IL", "ISRAEL", 2, False), ("RU", "RUSSIAN FEDERATION", 2, False),
    ("EG", "EGYPT", 1, False),
)  # fmt: skip
AGENCIES = {
    "GB": "MHRA",
    "FR": "AFSSAPS",
    "DE": "BFARM",
    "IT": "MINISAL02",
    "ES": "AEMPS",
    "NL": "LRB",
    "JP": "PMDA",
    "CA": "HC",
    "BR": "ANVISA",
    "AU": "TGA",
    "SE": "MPA",
    "BE": "FAMHP",
}

SENDERS: tuple[str, ...] = (
    "PFIZER", "NOVARTIS", "JANSSEN", "ROCHE", "SANOFI AVENTIS", "ABBVIE", "AMGEN",
    "MERCK SHARP AND DOHME", "BRISTOL-MYERS SQUIBB COMPANY", "ELI LILLY AND COMPANY", "GLAXOSMITHKLINE",
    "ASTRAZENECA", "TEVA", "MYLAN", "SANDOZ", "GILEAD", "TAKEDA", "BOEHRINGER INGELHEIM", "BAYER",
    "NOVO NORDISK", "GENENTECH", "CELGENE", "BIOGEN", "ASTELLAS", "OTSUKA", "EISAI", "UCB",
    "DAIICHI SANKYO", "ACCORD", "HOSPIRA", "FRESENIUS KABI", "DR. REDDY^S LABORATORIES LIMITED",
    "SUN PHARMACEUTICAL INDUSTRIES LTD", "AUROBINDO", "ZYDUS", "CIPLA", "APOTEX", "HIKMA", "LUPIN",
    "GLENMARK", "ALVOGEN", "PURDUE PHARMA", "JOHNSON AND JOHNSON", "SEAGEN", "VERTEX", "REGENERON",
    "ALCON", "ALLERGAN", "HALOZYME", "LABORATOIRES SERVIER", "H?XAL AG", "DR. REDDY'S LABORATORIES INC",
)  # fmt: skip
DIRECT_SENDER = "FDA-CTU"


def _zipf(n: int, shift: float = 3.0, power: float = 1.07) -> np.ndarray:
    return (np.arange(n, dtype=np.float64) + shift) ** -power


def quarter_index_of(text: str) -> int:
    """``2019Q1`` -> quarters since 2004Q1; empty -> available forever."""
    if not text:
        return NEVER
    return (int(text[:4]) - 2004) * 4 + int(text[5]) - 1


def _read(name: str) -> list[dict[str, str]]:
    path = DATA_DIR / name
    if not path.is_file():
        raise UserError(f"synthetic vocabulary file missing: {path}")
    with path.open(encoding="ascii", newline="") as fh:
        return list(csv.DictReader(fh))


class GroupedSampler:
    """Weighted draws of one item within a group, honouring per-item availability (``from`` quarter).

    Items of a group are contiguous. For each availability epoch a single cumulative array of
    ``group + normalised cumulative weight`` lets one ``searchsorted`` serve every group at once.
    """

    def __init__(self, groups: np.ndarray, weights: np.ndarray, from_t: np.ndarray) -> None:
        self.groups = np.asarray(groups, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.from_t = np.asarray(from_t, dtype=np.int64)
        self.n_groups = int(self.groups.max()) + 1 if len(self.groups) else 0
        epochs = np.unique(self.from_t[self.from_t > NEVER])
        self.bounds = np.concatenate([[NEVER], epochs]).astype(np.int64)
        self.cums = [self._cumulative(int(b)) for b in self.bounds]

    def _cumulative(self, t: int) -> np.ndarray:
        w = np.where(self.from_t <= t, self.weights, 0.0)
        total = np.bincount(self.groups, w, minlength=self.n_groups)
        first = np.searchsorted(self.groups, np.arange(self.n_groups))
        empty = total[self.groups] <= 0
        w = np.where(empty & (np.arange(len(w)) == first[self.groups]), 1.0, w)
        total = np.bincount(self.groups, w, minlength=self.n_groups)
        cum = np.cumsum(w)
        start_cum = np.concatenate([[0.0], cum])[first]
        within = (cum - start_cum[self.groups]) / total[self.groups]
        last = np.r_[self.groups[1:] != self.groups[:-1], True]
        within[last] = 1.0
        return self.groups + within

    def epoch(self, t: np.ndarray | int) -> np.ndarray:
        """Availability epoch (row of ``probabilities``) in force at quarter index ``t``."""
        return np.searchsorted(self.bounds, np.asarray(t, dtype=np.int64), side="right") - 1

    def probabilities(self) -> np.ndarray:
        """Exact probability of each item within its group, one row per availability epoch.

        Read off the same cumulative arrays ``draw`` searches, so ground truth computed from it matches the
        draws to rounding, including items that are not yet available (probability 0).
        """
        start = np.r_[True, self.groups[1:] != self.groups[:-1]]
        rows = []
        for cum in self.cums:
            within = cum - self.groups
            rows.append(np.where(start, within, within - np.r_[0.0, within[:-1]]))
        return np.array(rows)

    def draw(self, group: np.ndarray | int, u: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        group = np.broadcast_to(np.asarray(group, dtype=np.int64), u.shape)
        t = np.broadcast_to(np.asarray(t, dtype=np.int64), u.shape)
        epoch = np.searchsorted(self.bounds, t, side="right") - 1
        out = np.empty(u.shape, dtype=np.int64)
        for e in np.unique(epoch):
            sel = epoch == e
            out[sel] = np.searchsorted(self.cums[e], group[sel] + u[sel], side="right")
        return np.minimum(out, len(self.groups) - 1)


@dataclass(frozen=True)
class Drug:
    key: str
    ingredients: str
    prod_ai: str
    brand: str
    area: str
    route: str
    form: str
    dose_amt: str
    dose_unit: str
    dose_freq: str
    nda: str
    from_t: int
    target_class: str
    mfr: str
    extra_names: tuple[str, ...]


def _title(text: str) -> str:
    return text[:1].upper() + text[1:].lower()


class Vocab:
    """All lookup tables, loaded once per ``generate`` call."""

    def __init__(self) -> None:
        self._load_drugs()
        self._load_forms()
        self._load_regimens()
        self._load_events()
        self._load_indications()
        self._build_codes()

    # ---------------------------------------------------------------- drugs
    def _load_drugs(self) -> None:
        drugs = [
            Drug(
                key=r["key"],
                ingredients=r["ingredients"],
                prod_ai=r["prod_ai"],
                brand=r["brand"],
                area=r["area"],
                route=r["route"],
                form=r["form"],
                dose_amt=r["dose_amt"],
                dose_unit=r["dose_unit"],
                dose_freq=r["dose_freq"],
                nda=r["nda"],
                from_t=quarter_index_of(r["from"]),
                target_class=r["target_class"],
                mfr=r["mfr"],
                extra_names=tuple(x for x in r["extra_names"].split("|") if x),
            )  # fmt: skip
            for r in _read("drugs.csv")
        ]
        self.test_drug_index: list[int] = []
        for stem in _TEST_STEMS:
            for suffix, route in _TEST_SUFFIXES:
                name = stem + suffix
                self.test_drug_index.append(len(drugs))
                drugs.append(
                    Drug(name, name, name.upper(), "", "test", route, "TABLET" if route == "oral" else
                         "SOLUTION FOR INJECTION", "10", "MG", "QD", "", NEVER, "test_drug", "", ())
                )  # fmt: skip
        self.drugs = drugs
        self.drug_key = {d.key: i for i, d in enumerate(drugs)}
        n = len(drugs)
        self.drug_from = np.array([d.from_t for d in drugs], dtype=np.int64)
        self.drug_bits = np.zeros(n, dtype=np.int64)
        for i, d in enumerate(drugs):
            if d.target_class in ("none", "test_drug"):
                continue
            for ing in d.ingredients.split(";"):
                if ing in TARGET_INGREDIENTS:
                    self.drug_bits[i] |= 1 << TARGET_INGREDIENTS.index(ing)
        self.drug_has_nda = np.array([bool(d.nda) for d in drugs])
        general = [i for i, d in enumerate(drugs) if not d.area.startswith("onc_") and d.area != "test"]
        support = [i for i, d in enumerate(drugs) if d.area == "onc_support"]
        self.general_drugs = np.array(general, dtype=np.int64)
        self.support_drugs = np.array(support, dtype=np.int64)
        self.general_sampler = GroupedSampler(
            np.zeros(len(general)), _zipf(len(general)), self.drug_from[general]
        )
        self.support_sampler = GroupedSampler(
            np.zeros(len(support)), _zipf(len(support), 1.0, 0.8), self.drug_from[support]
        )
        self._background_ingredients(drugs)
        senders = list(SENDERS)
        for d in drugs:
            if d.mfr and d.mfr not in senders:
                senders.append(d.mfr)
        self.senders = senders
        self.n_zipf_senders = len(SENDERS)
        self.drug_sender = np.array([senders.index(d.mfr) if d.mfr else -1 for d in drugs], dtype=np.int64)

    def _background_ingredients(self, drugs: list[Drug]) -> None:
        """Ingredients that may carry characteristic events, and each drug's share of them (CSR arrays).

        Ingredients, not catalogue rows, because exposure is analysed per ingredient: the two prednisone
        rows and a combination product expose the same ingredient. An ingredient that also occurs in a
        target or test drug (carboplatin in a carboplatin-paclitaxel product, hyaluronidase in Phesgo) is
        left out, so no target or test-drug report ever receives a characteristic event through it.
        """
        banned = {ing for d in drugs if d.target_class != "none" for ing in d.ingredients.split(";")}
        names = sorted({ing for d in drugs for ing in d.ingredients.split(";")} - banned)
        index = {name: i for i, name in enumerate(names)}
        per_drug = [[index[x] for x in d.ingredients.split(";") if x in index] for d in drugs]
        self.bg_ingredients: list[str] = names
        self.drug_bg_n = np.array([len(x) for x in per_drug], dtype=np.int64)
        self.drug_bg_ptr = np.concatenate([[0], np.cumsum(self.drug_bg_n)]).astype(np.int64)
        self.drug_bg_ing = np.array([i for x in per_drug for i in x], dtype=np.int64)
        # oncology-only ingredients are only ever given in cancer reports, where oncology terms are drawn
        onc_only = np.ones(len(names), bool)
        for d, ings in zip(drugs, per_drug, strict=True):
            if not d.area.startswith("onc_"):
                onc_only[ings] = False
        self.bg_onc_only = onc_only

    def _load_forms(self) -> None:
        """Surface forms (drugname, prod_ai) per drug: curated for targets, rule-made for the rest."""
        curated: dict[str, list[tuple[str, str, str, int, float, int]]] = {}
        for r in _read("target_forms.csv"):
            curated.setdefault(r["key"], []).append(
                (r["drugname"], r["prod_ai"], r["ingredients"], int(r["val_vbm"]), float(r["weight"]),
                 quarter_index_of(r["from"]))
            )  # fmt: skip
        rows: list[tuple[int, str, str, str, int, float, int]] = []
        for i, d in enumerate(self.drugs):
            if d.key in curated:
                for name, prod_ai, ings, val, w, frm in curated[d.key]:
                    rows.append((i, name, prod_ai, ings or d.ingredients, val, w, frm))
                continue
            generic = d.prod_ai
            single = "\\" not in generic
            forms: list[tuple[str, int, float]] = []
            if d.brand:
                forms += [(d.brand, 1, 40), (d.brand.title(), 1, 8), (f"{d.brand} ({generic})", 1, 2)]
            forms += [(generic, 1, 25 if d.brand else 60), (generic + ".", 1, 3)]
            if single:
                forms += [(_title(generic), 1, 8), (f"{generic} {d.dose_amt} {d.dose_unit}", 2, 1)]
            forms += [(extra, 2, 1.5) for extra in d.extra_names]
            seen: set[str] = set()
            for name, val, w in forms:
                if name not in seen:
                    seen.add(name)
                    rows.append((i, name, generic, d.ingredients, val, w, NEVER))
        self.form_drug = np.array([r[0] for r in rows], dtype=np.int64)
        self.form_name = [r[1] for r in rows]
        self.form_prod_ai = [r[2] for r in rows]
        self.form_ingredients = [r[3] for r in rows]
        self.form_val_vbm = np.array([r[4] for r in rows], dtype=np.int64)
        self.form_sampler = GroupedSampler(
            self.form_drug, np.array([r[5] for r in rows]), np.array([r[6] for r in rows])
        )
        self.form_name_arr = pa.array(self.form_name)
        self.form_name_upper_arr = pa.array([n.upper() for n in self.form_name])
        self.form_prod_ai_arr = pa.array(self.form_prod_ai)
        for text in self.form_name + self.form_prod_ai:
            if not text.isascii() or "$" in text or "\n" in text:
                raise UserError(f"synthetic vocabulary: bad drug text {text!r}")

    # ------------------------------------------------------------ regimens
    def _load_regimens(self) -> None:
        rows = _read("regimens.csv")
        rows.sort(key=lambda r: r["stratum"] != "breast")  # group 0 = breast, 1 = other cancer
        self.reg_names = [r["regimen"] for r in rows]
        drugs = [[self.drug_key[k] for k in r["drugs"].split("|")] for r in rows]
        width = max(len(d) for d in drugs)
        self.reg_drugs = np.full((len(rows), width), -1, dtype=np.int64)
        for i, d in enumerate(drugs):
            self.reg_drugs[i, : len(d)] = d
        self.reg_len = np.array([len(d) for d in drugs], dtype=np.int64)
        self.reg_indication_pool = [r["indication"] for r in rows]
        reg_from = np.array([max(self.drugs[k].from_t for k in d) for d in drugs])
        groups = np.array([0 if r["stratum"] == "breast" else 1 for r in rows])
        self.reg_sampler = GroupedSampler(groups, np.array([float(r["weight"]) for r in rows]), reg_from)

    # -------------------------------------------------------------- events
    def _load_events(self) -> None:
        rows = _read("events.csv")
        self.pt = [r["pt"] for r in rows]
        pool = np.array([r["pool"] for r in rows])
        planted = np.array([r["planted"] for r in rows])
        frm = np.array([quarter_index_of(r["from"]) for r in rows])
        self.dm_pt = self.pt.index("Dermatomyositis")
        self.test_pts = np.flatnonzero(planted == "test")
        if len(self.test_pts) != len(self.test_drug_index):
            raise UserError("events.csv must mark one test event per synthetic test drug")
        general = np.flatnonzero((pool == "general") & (planted == ""))
        onc = np.flatnonzero((pool == "onc") & (planted == ""))
        self.general_pts, self.onc_pts = general, onc
        self.general_pt_sampler = GroupedSampler(
            np.zeros(len(general)), _zipf(len(general), 2.0, 0.95), frm[general]
        )
        self.onc_pt_sampler = GroupedSampler(np.zeros(len(onc)), _zipf(len(onc), 1.0, 0.9), frm[onc])
        # "never": the dermatomyositis/myositis neighbourhood (the project's DM and myopathy groups and their
        # near misses) is never a drug's characteristic event, so the DM analysis sees only planted signal
        never = np.array([r.get("characteristic", "") == "never" for r in rows])
        self.char_general_pts = general[~never[general]]
        self.char_onc_pts = onc[~never[onc]]
        # per-draw probability of every term, one row per availability epoch of each pool's sampler
        self.general_pt_p = np.zeros((len(self.general_pt_sampler.bounds), len(self.pt)))
        self.general_pt_p[:, general] = self.general_pt_sampler.probabilities()
        self.onc_pt_p = np.zeros((len(self.onc_pt_sampler.bounds), len(self.pt)))
        self.onc_pt_p[:, onc] = self.onc_pt_sampler.probabilities()
        self.pt_arrays = _term_arrays(self.pt)

    # --------------------------------------------------------- indications
    def _load_indications(self) -> None:
        rows = _read("indications.csv")
        pools = sorted({r["pool"] for r in rows})
        rows.sort(key=lambda r: pools.index(r["pool"]))
        self.indi_pools = pools
        self.indi_pt = [r["pt"] for r in rows] + [FILLER_OLD, FILLER_NEW]
        self.filler_old, self.filler_new = len(rows), len(rows) + 1
        self.indi_sampler = GroupedSampler(
            np.array([pools.index(r["pool"]) for r in rows]),
            np.array([float(r["weight"]) for r in rows]),
            np.full(len(rows), NEVER),
        )
        self.reg_indication = np.array([pools.index(p) for p in self.reg_indication_pool], dtype=np.int64)
        area_pool = {"onc_breast": "breast", "onc_other": "other_onc", "test": "misc"}
        self.drug_indi_pool = np.array([pools.index(area_pool.get(d.area, d.area)) for d in self.drugs])
        self.indi_arrays = _term_arrays(self.indi_pt)

    # ---------------------------------------------------------------- codes
    def _build_codes(self) -> None:
        self.country_code = [c[0] for c in COUNTRIES]
        self.country_weight = np.array([c[2] for c in COUNTRIES], dtype=np.float64)
        self.country_eu = np.array([c[3] for c in COUNTRIES])
        self.country_sampler = GroupedSampler(
            np.zeros(len(COUNTRIES)), self.country_weight, np.full(len(COUNTRIES), NEVER)
        )
        self.country_faers = pa.array(self.country_code + ["EU", "COUNTRY NOT SPECIFIED", ""])
        self.country_legacy = pa.array([c[1] for c in COUNTRIES] + ["", "", ""])
        self.country_eu_index = len(COUNTRIES)
        self.country_unspecified_index = len(COUNTRIES) + 1
        self.country_empty_index = len(COUNTRIES) + 2
        self.agency = pa.array([AGENCIES.get(c, "REGULATOR") for c in self.country_code] + ["EMA", "", ""])
        self.sender_arr = pa.array(self.senders + [DIRECT_SENDER])
        self.direct_sender = len(self.senders)


def _term_arrays(terms: list[str]) -> dict[str, pa.Array]:
    """A term in four spellings: FAERS/legacy case x apostrophe kept/written as ``^`` (faers_format.md §2)."""
    return {
        "faers_apos": pa.array(terms),
        "faers_caret": pa.array([t.replace("'", "^") for t in terms]),
        "legacy_apos": pa.array([t.upper() for t in terms]),
        "legacy_caret": pa.array([t.upper().replace("'", "^") for t in terms]),
    }
