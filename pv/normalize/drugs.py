"""FAERS ``drugname`` / ``prod_ai`` / ``nda_num`` → ingredients, analysis classes and flags.

A drug name that is not recognised silently moves a case into the background of a disproportionality
analysis, so every name gets an answer and a stated method. The reviewed vocabularies are CSV files in
``pv/data/vocab/`` (``drug_dictionary.csv``, ``ingredient_classes.csv``, ``drug_negatives.csv``,
``drug_nda.csv``, ``drug_cleaning.csv``, ``drug_biologic_suffixes.csv``, ``drug_ingredients.csv``,
``drug_learning.csv``; see ``pv/data/vocab/README.md``);
this module holds the rules.

Order of evidence per (drugname, prod_ai, nda_num) triple (vocabulary.md §4):

1. ``prod_ai``: split on ``\\``, salts/hydrates (never cutting a known ingredient such as dimethyl
   fumarate), ``ado-``/``fam-`` prefixes and US biologic suffixes stripped, de-duplicated; parts that are
   dictionary names give their dictionary ingredients, the others themselves. Target ingredients the curated
   dictionary finds in the drugname are added (FDA's coding can miss one part of a regimen), and a
   trastuzumab ADC named in the drugname replaces plain trastuzumab.
2. the cleaned drugname against the curated dictionary (brands, INNs, codes, regimens, look-alikes); a
   target name glued to a form/route/noise/manufacturer word, a dictionary word or a filler run is split
   off (INJTAXOTERE, ZZHERCEPTIN, TAXOLINJ, ADOTRASTUZUMAB EMTANSINE); a regimen acronym followed by its
   drugs in brackets takes the bracketed list (TCH (PACLITAXEL, CARBOPLATIN, HERCEPTIN) is paclitaxel);
3. ``nda_num`` (compared as an integer) against ``drug_nda.csv``;
   without prod_ai, then a user's DiAna dictionary (the whole name, then each combination part) and the
   dictionary learned from FAERS's own prod_ai coding (each part; ``drug_learning.csv``, audited in
   ``curated.drug_learned_names``);
4. a conservative spelling correction against the target names only: one edit anywhere in the word (two for
   long words that keep the name's first letters), refused when it is ambiguous or a non-target name is as
   close;
5. otherwise the cleaned drugname itself is the ingredient, so background counts stay right.

``method``:

* ``exact``: a dictionary name equal to the drugname after case/whitespace folding, a ``prod_ai`` part that is
  a dictionary name (``prod_ai`` is FDA's coded ingredient: splitting and salt stripping count as folding), or
  the ``nda_num`` table;
* ``rule``: found after cleaning rules (strengths, units, forms, routes, manufacturers, brackets, WHO-DD
  codes, combinations, trailing punctuation, ``?`` for a non-ASCII hyphen, biologic suffixes, glued words,
  regimen acronyms with their bracketed list), or a
  non-target ingredient taken from ``prod_ai``/the cleaned name without a dictionary entry;
* ``diana``: the user's DiAna dictionary (``PV_DIANA_DICTIONARY``);
* ``learned``: the dictionary learned from prod_ai;
* ``fuzzy``: needed a spelling correction (audited: token, name read, edits, RapidFuzz ratio);
* ``none``: nothing: empty, placeholder (UNKNOWN, PLACEBO, BLINDED alone …) or non-specific (CHEMOTHERAPY)
  names, or names that clean to nothing, without ``prod_ai``/``nda_num`` evidence.

With target ingredients the method describes how the *targets* were found (the weakest of them); otherwise
how the ingredients were found. Flags: ``formulation`` (``nab``/``liposomal``/``micellar``/``oral`` on
taxane rows, ``subcutaneous`` on anti-HER2 antibody rows), ``biosimilar`` (trastuzumab/pertuzumab rows
only), ``blinded`` (a blinded/placebo marker), ``device`` (paclitaxel-eluting stents and balloons: their
paclitaxel is dropped, so class none). Hyaluronidase is dropped next to any other ingredient (an SC
excipient: Hylecta, Phesgo); alone it stays.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

# The target classes (pv/data/vocab/headline_targets.csv), re-exported for the case series.
from pv.counts import TARGET_CLASSES as TARGET_CLASSES
from pv.errors import UserError
from pv.resources import vocab_dir

VOCAB_DIR = vocab_dir()

METHODS = ("exact", "rule", "diana", "learned", "fuzzy", "none")
COLUMNS = (
    "raw",
    "prod_ai",
    "ingredients",
    "classes",
    "method",
    "matched_on",
    "fuzzy_score",
    "formulation",
    "biosimilar",
    "blinded",
    "device",
)

_LEVEL = {"exact": 0, "rule": 1, "diana": 2, "learned": 3, "fuzzy": 4}
# A user's DiAna dictionary (drugnames_standardized.csv), like PV_MEDDRA_DIR: absent means not used.
DIANA_ENV_VAR = "PV_DIANA_DICTIONARY"
# Formulations that describe a taxane product vs an anti-HER2 antibody product.
_TAXANE_FORMS = ("nab", "liposomal", "micellar", "oral")
_ANTIBODY_FORMS = ("subcutaneous",)
# Bases whose US suffix marks a biosimilar: Herceptin and Perjeta carry none.
_BIOSIMILAR_BASES = ("trastuzumab", "pertuzumab")
# A trastuzumab mention next to one of these payload tokens is the ADC (vocabulary.md §5).
_ADC_PAYLOADS = (
    ("emtans", "trastuzumab emtansine"),
    ("dm1", "trastuzumab emtansine"),
    ("derux", "trastuzumab deruxtecan"),
    ("dxd", "trastuzumab deruxtecan"),
    ("rezet", "trastuzumab rezetecan"),
    ("duocarm", "trastuzumab duocarmazine"),
    ("kadc", "trastuzumab emtansine"),
    ("enhert", "trastuzumab deruxtecan"),
)
_FUZZY_MIN_LEN = 7
_FUZZY_MIN_SCORE = 85.0
# A target name glued to another word (INJTAXOTERE, ADOTRASTUZUMAB) is split off only when it has 5+ letters.
_GLUE_MIN_TARGET = 5
_MEMO_SIZE = 1 << 18

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_DIGIT_RE = re.compile(r"\d")
_PLAIN_RE = re.compile(r"[a-z ]+")
_QMARK_HYPHEN_RE = re.compile(r"(?<=[a-z0-9])\?(?=[a-z0-9])")
_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad"})
_WHODD_RE = re.compile(r"/\s*\d{5,}\s*(?:/|$)")
_ALT_NAME_RE = re.compile(r"\s*//\s*(.+)$")
_STRENGTH_RE = re.compile(
    r"(?<![a-z])\d+(?:[.,]\d+)*\s*(?:mg|mcg|µg|ug|g|gm|grams?|ml|l|iu|ui|units?|u|meq|mmol|%|mg/m2|mg/kg)"
    r"(?:\s*/\s*(?:\d+(?:[.,]\d+)*\s*)?(?:ml|l|m2|kg|h|hr|hours?|day|dose|vial|tab|cap|actuation|g))?(?![a-z])"
)
_RATIO_RE = re.compile(r"(?<![a-z0-9])\d+(?:[.,]\d+)?(?:\s*/\s*\d+(?:[.,]\d+)?)+(?![a-z0-9])")
_EDGE_PUNCT = " .,;:*#\"'`-_/\\+&|~=!"
_SEP_RE = re.compile(r"\s*(?:\\|/|\+|,|;|&|\bw/\s*|\s(?:with|and|or|vs\.?|versus)\s)\s*")
_PAREN_RE = re.compile(r"[(\[{]([^()\[\]{}]*)(?:[)\]}]|$)")
_SUFFIX_RE = re.compile(r"\b([a-z]+)-([a-z]{4})\b(?!-)")


class _Entry(NamedTuple):
    name: str
    ingredients: tuple[str, ...]
    formulation: str | None = None
    biosimilar: bool = False
    blinded: bool = False
    device: bool = False
    whole: bool = False


@dataclass(slots=True)
class _Vocab:
    exact: dict[str, _Entry]
    grams: dict[str, _Entry]
    whole: dict[str, _Entry]
    codes: dict[str, _Entry]
    max_gram: dict[str, int]
    classes: dict[str, str]
    excluded: frozenset[str]
    nda: dict[int, _Entry]
    negative_names: frozenset[str]
    words: dict[str, frozenset[str]]
    drop: frozenset[str]
    formulation_res: tuple[tuple[str, re.Pattern[str]], ...]
    blinded_re: re.Pattern[str]
    device_re: re.Pattern[str]
    stems: tuple[str, ...]
    suffixes: dict[tuple[str, str], bool]
    spaced_suffix_re: re.Pattern[str]
    spaced_bases: tuple[str, ...]
    relevant: frozenset[str]
    known: frozenset[str]
    scan_tokens: frozenset[str]
    code_tokens: frozenset[str]
    whole_tokens: frozenset[str]
    target_like_re: re.Pattern[str]
    fuzzy_choices: dict[str, dict[str, _Entry]]
    fuzzy_prefix3: frozenset[str]
    fuzzy_targets: dict[str, _Entry]
    one_edit_index: dict[str, frozenset[str]]
    non_targets: tuple[str, ...]
    glue_targets: frozenset[str]
    glue_lengths: tuple[int, ...]
    glue_heads: frozenset[str]
    glue_words: frozenset[str]
    glue_max: int
    unglued: frozenset[str]
    # Per-token answers of the spelling gate and the glue split (tokens repeat across drugnames).
    near_memo: dict[str, bool]
    glue_memo: dict[str, tuple[str, ...]]  # () when the token is not glued


class _Comp(NamedTuple):
    """One combination part of a drugname."""

    entries: list[_Entry]
    fallback: tuple[str, ...]  # the part as non-target ingredient(s) when no dictionary entry matched
    tokens: tuple[str, ...]
    kind: str = "ok"  # ok | placeholder | nonspecific | empty


class _Name(NamedTuple):
    """What the rules (no fuzzy) make of one drugname."""

    level: str | None
    dict_ingredients: tuple[str, ...]
    fallback: tuple[str, ...]
    unmatched: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (tokens, fallback) of unmatched parts
    formulation: str | None
    form_marker: str | None
    biosimilar: bool
    blinded: bool
    device: bool
    kind: str = "ok"
    fuzzable: bool = False


class _Correction(NamedTuple):
    """One row of ``curated.drug_fuzzy_audit``."""

    raw: str
    token: str
    matched_to: str
    edits: int
    ingredient: str
    score: float


class _Fuzzy(NamedTuple):
    ingredients: tuple[str, ...]
    leftover: tuple[str, ...]
    score: float
    audit: tuple[_Correction, ...]
    formulation: str | None
    biosimilar: bool


class _Prod(NamedTuple):
    ingredients: tuple[tuple[str, bool], ...]
    biosimilar: bool


class _Row(NamedTuple):
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    method: str
    matched_on: str | None
    fuzzy_score: float | None
    formulation: str | None
    biosimilar: bool
    blinded: bool
    device: bool
    audit: tuple[_Correction, ...] = ()


@functools.cache
def dictionary_names() -> tuple[str, ...]:
    """Every name the reviewed drug dictionary knows (brands, INNs, codes), lower case: for suggestions."""
    return tuple(sorted({row["name"].lower() for row in _read_csv("drug_dictionary.csv")}))


def _read_csv(name: str) -> list[dict[str, str]]:
    with open(VOCAB_DIR / name, newline="", encoding="utf-8") as handle:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def _flag(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


def _trivial(text: str) -> str:
    return " ".join(text.casefold().split())


def _word_regex(terms: Iterable[str]) -> re.Pattern[str]:
    alternatives = sorted(
        {re.escape(t).replace(r"\-", "[- ]?").replace(r"\.", r"\.?") for t in terms}, key=len
    )
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(reversed(alternatives)) + r")(?![a-z0-9])")


def _biologic(text: str, stems: tuple[str, ...], suffixes: dict[tuple[str, str], bool]) -> tuple[str, bool]:
    """Strip US 4-letter suffixes after a biologic stem (``-dkst``, ``-nxki``); report a biosimilar one."""
    biosimilar = False
    if "-" not in text:
        return text, False

    def strip(match: re.Match[str]) -> str:
        nonlocal biosimilar
        word, suffix = match.group(1), match.group(2)
        known = suffixes.get((word, suffix))
        if word in _BIOSIMILAR_BASES:
            biosimilar = biosimilar or (known if known is not None else True)
            return word
        if known is not None or word.endswith(stems):
            return word
        return match.group(0)

    return _SUFFIX_RE.sub(strip, text), biosimilar


def _deletions(word: str) -> set[str]:
    """The word and every string one deletion away: two words within one edit (insertion, deletion,
    substitution or transposition) always share one of these."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


@functools.cache
def _vocab() -> _Vocab:
    words: dict[str, set[str]] = defaultdict(set)
    formulation_terms: dict[str, list[str]] = defaultdict(list)
    for row in _read_csv("drug_cleaning.csv"):
        if row["kind"] == "formulation":
            formulation_terms[row["value"]].append(row["term"])
        else:
            words[row["kind"]].add(row["term"])
    stems = tuple(sorted(words["biologic_stem"]))
    suffixes = {
        (r["base"], r["suffix"]): _flag(r["biosimilar"]) for r in _read_csv("drug_biologic_suffixes.csv")
    }
    spaced = [f"{b} {s}" for (b, s), bio in suffixes.items() if bio and " " not in b]

    exact: dict[str, _Entry] = {}
    grams: dict[str, _Entry] = {}
    whole: dict[str, _Entry] = {}
    codes: dict[str, _Entry] = {}
    max_gram: dict[str, int] = {}
    for row in _read_csv("drug_dictionary.csv"):
        entry = _Entry(
            name=row["name"].lower(),
            ingredients=tuple(i.strip() for i in row["ingredients"].split(";") if i.strip()),
            formulation=row["formulation"] or None,
            biosimilar=_flag(row["biosimilar"]),
            blinded=_flag(row["blinded"]),
            device=_flag(row["device"]),
            whole=row["scope"] == "whole",
        )
        exact[_trivial(row["name"])] = entry
        tokens = _TOKEN_RE.findall(_biologic(_trivial(row["name"]), stems, suffixes)[0])
        key = " ".join(tokens)
        if entry.whole:
            whole[key] = entry
            continue
        grams[key] = entry
        max_gram[tokens[0]] = max(max_gram.get(tokens[0], 0), len(tokens))
        if len(tokens) > 1 and any(c.isdigit() for c in key):
            codes["".join(tokens)] = entry

    classes: dict[str, str] = {}
    excluded: set[str] = set()
    for row in _read_csv("ingredient_classes.csv"):
        if row["class"] == "none":
            excluded.add(row["ingredient"])
        else:
            classes[row["ingredient"]] = row["class"]

    nda = {
        int(row["nda_num"]): _Entry(
            name=row["product"].lower(),
            ingredients=tuple(i for i in row["ingredients"].split(";") if i),
            formulation=row["formulation"] or None,
            biosimilar=_flag(row["biosimilar"]),
        )
        for row in _read_csv("drug_nda.csv")
    }

    drop = frozenset().union(
        *(words[k] for k in ("noise", "form", "route", "unit", "manufacturer", "language", "blinded"))
    )
    # Words that can make a drugname add something to prod_ai evidence (targets, devices, flags).
    relevant = set(_BIOSIMILAR_BASES) | set(codes)
    for key, entry in (*grams.items(), *whole.items()):
        if entry.device or entry.blinded or entry.biosimilar or any(i in classes for i in entry.ingredients):
            relevant.update(t for t in key.split() if t not in drop)
    relevant |= words["blinded"]
    code_tokens = frozenset(codes) | frozenset(
        t for key in grams if "".join(key.split()) in codes for t in key.split()
    )
    negatives = [_trivial(r["term"]) for r in _read_csv("drug_negatives.csv")]
    target_prefixes = tuple(sorted(words["target_prefix"]))
    # One-word names written in letters only: what spelling and glue repairs may aim at (codes never).
    words_of = {key: entry for key, entry in grams.items() if key.isalpha()}
    targets = {k: e for k, e in words_of.items() if any(i in classes for i in e.ingredients)}
    fuzzy_targets = {k: e for k, e in targets.items() if len(k) >= _FUZZY_MIN_LEN}
    fuzzy_choices: dict[str, dict[str, _Entry]] = defaultdict(dict)
    for key, entry in fuzzy_targets.items():
        fuzzy_choices[key[0]][key] = entry
    one_edit_index: dict[str, set[str]] = defaultdict(set)
    for key in fuzzy_targets:
        for variant in _deletions(key):
            one_edit_index[variant].add(key)
    non_targets = {n for n in negatives if " " not in n} | {k for k in words_of if k not in targets}
    glue_targets = frozenset(k for k in targets if len(k) >= _GLUE_MIN_TARGET)
    dictionary_words = {t for key in (*grams, *whole) for t in key.split() if t.isalpha() and len(t) >= 3}
    dropped = set().union(*(words[k] for k in ("form", "route", "noise", "manufacturer")))
    abbreviations = {
        w[:n] for k in ("form", "route", "noise") for w in words[k] if w.isalpha() for n in range(3, len(w))
    }
    glue_words = frozenset(
        {w for w in dropped if w.isalpha() and len(w) >= 2} | abbreviations | dictionary_words
    )

    return _Vocab(
        exact=exact,
        grams=grams,
        whole=whole,
        codes=codes,
        max_gram=max_gram,
        classes=classes,
        excluded=frozenset(excluded),
        nda=nda,
        negative_names=frozenset(negatives),
        words={kind: frozenset(terms) for kind, terms in words.items()},
        drop=drop,
        formulation_res=tuple((value, _word_regex(terms)) for value, terms in formulation_terms.items()),
        blinded_re=_word_regex(words["blinded"]),
        device_re=_word_regex(words["device"]),
        stems=stems,
        suffixes=suffixes,
        spaced_suffix_re=re.compile(r"\b(" + "|".join(map(re.escape, spaced)) + r")\b"),
        spaced_bases=tuple(sorted({b.split()[0] for b in spaced})),
        relevant=frozenset(relevant),
        known=frozenset(
            {i for key, entry in (*grams.items(), *whole.items()) for i in entry.ingredients}
            | set(classes)
            | excluded
            | {row["ingredient"] for row in _read_csv("drug_ingredients.csv")}
        ),
        scan_tokens=frozenset(max_gram) | code_tokens,
        code_tokens=code_tokens,
        whole_tokens=frozenset(t for key in whole for t in key.split()),
        target_like_re=re.compile(r"(?:^|[^a-z])(?:" + "|".join(target_prefixes) + ")"),
        fuzzy_choices=dict(fuzzy_choices),
        fuzzy_prefix3=frozenset(k[:3] for k in fuzzy_targets),
        fuzzy_targets=fuzzy_targets,
        one_edit_index={k: frozenset(names) for k, names in one_edit_index.items()},
        non_targets=tuple(sorted(non_targets)),
        glue_targets=glue_targets,
        glue_lengths=tuple(sorted({len(k) for k in glue_targets}, reverse=True)),
        glue_heads=frozenset(k[:3] for k in glue_targets),
        glue_words=glue_words,
        glue_max=max(map(len, glue_words)),
        unglued=frozenset(t for key in (*grams, *whole, *negatives) for t in key.split()) | drop | glue_words,
        near_memo={},
        glue_memo={},
    )


# --------------------------------------------------------------------------------------------- drugname


def _pre_clean(text: str, v: _Vocab) -> tuple[str, bool]:
    """Text-level repairs that must see the punctuation: ``?`` hyphens, WHO-DD codes, biologic affixes."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_DASHES))
        text = "".join(c for c in text if not unicodedata.combining(c))
    if "?" in text:
        text = _QMARK_HYPHEN_RE.sub("-", text).replace("?", " ")
    if "/" in text:
        text = _WHODD_RE.sub(" ", text)
        text = _ALT_NAME_RE.sub(r" (\1)", text)
    text = text.replace("^", "'")
    text, biosimilar = _biologic(text, v.stems, v.suffixes)
    if any(base in text for base in v.spaced_bases) and v.spaced_suffix_re.search(text):
        text = v.spaced_suffix_re.sub(lambda m: m.group(1).split()[0], text)
        biosimilar = True
    if _DIGIT_RE.search(text):
        text = _STRENGTH_RE.sub(" ", text)
        text = _RATIO_RE.sub(" ", text)
    return " ".join(text.split()).strip(_EDGE_PUNCT), biosimilar


def _split(text: str) -> list[str]:
    """Split a combination on separators outside brackets."""
    if "(" not in text and "[" not in text and "{" not in text:
        return [p.strip(_EDGE_PUNCT) for p in _SEP_RE.split(text) if p.strip(_EDGE_PUNCT)]
    spans: list[str] = []

    def hide(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\x00{len(spans) - 1}\x00"

    masked = _PAREN_RE.sub(hide, text)
    parts = []
    for part in _SEP_RE.split(masked):
        part = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], part).strip(_EDGE_PUNCT)
        if part:
            parts.append(part)
    return parts


def _scan(tokens: Sequence[str], v: _Vocab) -> list[_Entry]:
    """Longest dictionary n-grams, left to right, on word boundaries only (no substrings)."""
    found: list[_Entry] = []
    i, n_tokens = 0, len(tokens)
    # Codes (T-DM1, DS-8201a) may be written with or without separators: try the joined n-grams.
    codes = not v.code_tokens.isdisjoint(tokens)
    while i < n_tokens:
        longest = v.max_gram.get(tokens[i], 0)
        hit = None
        for n in range(min(max(longest, 4 if codes else 0), n_tokens - i), 0, -1):
            if n <= longest and (hit := v.grams.get(" ".join(tokens[i : i + n]))):
                break
            if codes and (hit := v.codes.get("".join(tokens[i : i + n]))):
                break
        if hit:
            found.append(hit)
            i += n
        else:
            i += 1
    return found


def _adc(entries: list[_Entry], tokens: Sequence[str], v: _Vocab) -> list[_Entry]:
    """A plain trastuzumab next to an ADC payload token is the ADC."""
    if not any(e.ingredients == ("trastuzumab",) for e in entries):
        return entries
    for prefix, adc in _ADC_PAYLOADS:
        if any(t.startswith(prefix) for t in tokens):
            target = v.grams[adc]
            return [target if e.ingredients == ("trastuzumab",) else e for e in entries]
    return entries


def _strip_salts(tokens: list[str], v: _Vocab) -> list[str]:
    hydrate, salt, cation = v.words["hydrate"], v.words["salt"], v.words["cation"]
    while len(tokens) > 1 and tokens[-1] in hydrate:
        tokens = tokens[:-1]
    # A trailing salt goes unless it belongs to a cation (sodium chloride), only salts would remain, or the
    # name is itself a known ingredient (dimethyl fumarate: drug_ingredients.csv, the dictionaries).
    while (
        len(tokens) > 1
        and " ".join(tokens) not in v.known
        and tokens[-1] in salt
        and tokens[-2] not in cation
        and any(t not in salt and t not in cation for t in tokens[:-1])
    ):
        tokens = tokens[:-1]
    return tokens


def _fallback(tokens: Sequence[str], v: _Vocab) -> tuple[str | None, str]:
    """The cleaned name as a non-target ingredient, or why there is none."""
    w = v.words
    drop = v.drop
    kept = [t for t in tokens if t not in drop and not t.isdigit()]
    if kept and all(t in w["placeholder"] or t in w["nonspecific"] for t in kept):
        return None, "nonspecific" if any(t in w["nonspecific"] for t in kept) else "placeholder"
    if not kept:
        if tokens and all(t in w["placeholder"] or t.isdigit() for t in tokens):
            return None, "placeholder"
        return None, "empty"
    return " ".join(_strip_salts(kept, v)), "ok"


def _listed_regimen(regimen: _Entry, inners: Sequence[str], v: _Vocab) -> list[_Entry] | None:
    """A regimen acronym followed by its drugs in brackets: the explicit list wins over the acronym's default
    (``TCH (PACLITAXEL, CARBOPLATIN, HERCEPTIN)`` is paclitaxel, not docetaxel; ``THP (PIRARUBICIN)`` is
    pirarubicin). A list of target drugs whose classes the acronym already has only clarifies its letters
    (``TCHP (PACLITAXEL)``): the default keeps the ingredients of the classes the list does not name.
    Bracket parts that are not dictionary drugs (ADJUVANT, 6 CYCLES) are not a list."""
    parts = [tuple(_TOKEN_RE.findall(part)) for inner in inners for part in _split(inner)]
    listed = [e for tokens in parts for e in _match(tokens, v)]
    named = [i for e in listed for i in e.ingredients]
    if not named:
        return None
    default_classes = {v.classes.get(i) for i in regimen.ingredients}
    if all(v.classes.get(i) in default_classes - {None} for i in named):
        named_classes = {v.classes[i] for i in named}
        kept = tuple(i for i in regimen.ingredients if v.classes.get(i) not in named_classes)
        if kept:
            listed.append(regimen._replace(ingredients=kept))
    return listed


def _component(text: str, v: _Vocab) -> _Comp:
    inners = _PAREN_RE.findall(text) if ("(" in text or "[" in text or "{" in text) else []
    outside = _PAREN_RE.sub(" ", text) if inners else text
    tokens = tuple(_TOKEN_RE.findall(outside))
    entries = _match(tokens, v)
    if inners and len(entries) == 1 and entries[0].whole and len(entries[0].ingredients) > 1:
        entries = _listed_regimen(entries[0], inners, v) or entries
    if not entries:
        for inner in inners:
            for part in _split(inner):
                entries += _match(tuple(_TOKEN_RE.findall(part)), v)
    if entries:
        if inners:  # a payload in brackets still makes trastuzumab the ADC: HERCEPTIN (T-DM1)
            entries = _adc(entries, tuple(_TOKEN_RE.findall(text)), v)
        return _Comp(entries, (), tokens)
    # Legacy names often put the ingredient(s) in brackets after a brand: prefer them.
    for inner in inners:
        names = [n for n in (_fallback(_TOKEN_RE.findall(p), v)[0] for p in _split(inner)) if n]
        if names:
            return _Comp([], tuple(names), tokens)
    name, kind = _fallback(tokens, v)
    return _Comp([], (name,) if name else (), tokens, kind)


def _glue_word(text: str, v: _Vocab) -> bool:
    """A word a target name may be glued to: a dropped form/route/noise/manufacturer word or a 3+ letter
    abbreviation of a form/route/noise word (INJ, GEN), a dictionary word (ADO, CARBOPLATIN, EMTANSINE), or a
    run of one repeated letter (ZZ, XXX) such as formulary exports put before an item."""
    return text in v.glue_words or (len(text) >= 2 and text.isalpha() and text == text[0] * len(text))


def _unglue_token(token: str, v: _Vocab) -> tuple[str, ...] | None:
    """Split ``<word><target name><word>`` with either word optional but not both: INJTAXOTERE,
    ZZHERCEPTIN, TAXOLINJ, ADOTRASTUZUMAB. Only a whole target name of 5+ letters counts, so BETAXOLOL
    (``be`` + ``taxol`` + ``ol``) and METAXALONE stay whole."""
    size = len(token)
    if size < _GLUE_MIN_TARGET + 2 or token in v.unglued or not token.isalpha():
        return None
    for start in range(min(size - _GLUE_MIN_TARGET, v.glue_max) + 1):
        if token[start : start + 3] not in v.glue_heads:
            continue
        head = token[:start]
        if head and not _glue_word(head, v):
            continue
        for length in v.glue_lengths:
            end = start + length
            if end > size or (not head and end == size) or token[start:end] not in v.glue_targets:
                continue
            tail = token[end:]
            if not tail or _glue_word(tail, v):
                return tuple(part for part in (head, token[start:end], tail) if part)
    return None


def _unglue(tokens: tuple[str, ...], v: _Vocab) -> tuple[str, ...]:
    if all(len(t) < _GLUE_MIN_TARGET + 2 or t in v.unglued for t in tokens):
        return tokens
    split: list[str] = []
    for token in tokens:
        parts = v.glue_memo.get(token)
        if parts is None:
            if len(v.glue_memo) >= _MEMO_SIZE:
                v.glue_memo.clear()
            parts = v.glue_memo[token] = _unglue_token(token, v) or ()
        split.extend(parts or (token,))
    return tuple(split)


def _match(tokens: tuple[str, ...], v: _Vocab) -> list[_Entry]:
    if not tokens:
        return []
    key = " ".join(tokens)
    hit = v.whole.get(key) or v.grams.get(key) or v.codes.get("".join(tokens))
    if hit:
        return [hit]
    unglued = _unglue(tokens, v)
    if unglued != tokens:
        return _match(unglued, v)
    entries = [] if v.scan_tokens.isdisjoint(tokens) else _scan(tokens, v)
    if not entries and not v.whole_tokens.isdisjoint(tokens):
        w = v.words
        core = [t for t in tokens if t not in w["noise"] and t not in w["placeholder"] and t not in w["form"]]
        hit = v.whole.get(" ".join(core)) if core else None
        entries = [hit] if hit else []
    return _adc(entries, tokens, v) if entries else entries


def _parse_name(raw: str, v: _Vocab) -> _Name:
    key = _trivial(raw)
    blinded = ("blind" in key or "placebo" in key or "mask" in key) and bool(v.blinded_re.search(key))
    e = v.exact.get(key)
    if e is not None:
        return _Name(
            "exact", e.ingredients, (), (), e.formulation, None, e.biosimilar, blinded or e.blinded, e.device
        )
    if key in v.words["placeholder"]:
        return _Name(None, (), (), (), None, None, False, blinded, False, "placeholder")
    plain = _PLAIN_RE.fullmatch(key) and not (" " in key and _SEP_RE.search(key))
    if plain and not any(base in key for base in v.spaced_bases):
        # Letters and spaces only: nothing for the text repairs or the combination split to do.
        text, biosimilar = key, False
        comps = [_component(key, v)]
    else:
        text, biosimilar = _pre_clean(key, v)
        e = v.exact.get(text)
        comps = (
            [_Comp([e], (), tuple(_TOKEN_RE.findall(text)))]
            if e
            else [_component(p, v) for p in _split(text)]
        )

    ingredients: dict[str, None] = {}
    fallback: dict[str, None] = {}
    unmatched = []
    formulation = None
    device = fuzzable = False
    kinds = set()
    for comp in comps:
        for e in comp.entries:
            ingredients.update(dict.fromkeys(e.ingredients))
            formulation = formulation or e.formulation
            biosimilar = biosimilar or e.biosimilar
            blinded = blinded or e.blinded
            device = device or e.device
        if comp.fallback:
            fallback.update(dict.fromkeys(comp.fallback))
            if not comp.entries:
                unmatched.append((comp.tokens, comp.fallback))
                fuzzable = fuzzable or any(
                    len(t) >= _FUZZY_MIN_LEN and (t[:3] in v.fuzzy_prefix3 or _near_target(t, v))
                    for t in comp.tokens
                )
        elif not comp.entries:
            kinds.add(comp.kind)
    if ingredients or fallback:
        kind = "ok"
    else:
        kind = next((k for k in ("nonspecific", "empty") if k in kinds), "placeholder")
    form_marker = None
    if any(v.classes.get(i) in ("taxane", "anti_her2_antibody") for i in ingredients):
        form_marker = next((value for value, regex in v.formulation_res if regex.search(text)), None)
        device = device or ("paclitaxel" in ingredients and bool(v.device_re.search(text)))
    return _Name(
        "rule" if ingredients or device else None,
        tuple(ingredients),
        tuple(fallback),
        tuple(unmatched),
        formulation,
        form_marker,
        biosimilar,
        blinded,
        device,
        kind,
        fuzzable,
    )


class _Spelling(NamedTuple):
    """One spelling correction: the token as written, the target name it was read as, and the edits."""

    token: str
    name: str
    entry: _Entry
    edits: int
    score: float


def _near_target(token: str, v: _Vocab) -> bool:
    """Cheap gate: could a target name be within one edit of the token? (Memoised: tokens repeat.)"""
    near = v.near_memo.get(token)
    if near is None:
        if len(v.near_memo) >= _MEMO_SIZE:
            v.near_memo.clear()
        near = v.near_memo[token] = not v.one_edit_index.keys().isdisjoint(_deletions(token))
    return near


def _fuzzy_token(token: str, v: _Vocab) -> _Spelling | None:
    """The one target name the token is a misspelling of, or None.

    Candidates are the target names (letters only, 7+) one edit away (an inserted, dropped, substituted or
    swapped letter anywhere, the first letters included), else, for tokens of 9+ letters that keep a target
    name's first three letters, two edits away at RapidFuzz ratio ≥ 85. The correction is refused when the
    nearest candidates are not one ingredient (ambiguous) or when a non-target name (``drug_negatives.csv``
    or a dictionary name without a target ingredient) is as close or closer.
    """
    if len(token) < _FUZZY_MIN_LEN or token in v.grams or not token.isalpha():
        return None
    names = sorted(
        name
        for variant in _deletions(token)
        for name in v.one_edit_index.get(variant, ())
        if OSA.distance(token, name, score_cutoff=1) <= 1
    )
    edits = 1
    if not names and len(token) > 8 and token[:3] in v.fuzzy_prefix3:
        choices = v.fuzzy_choices.get(token[0], {})
        near = {
            name: OSA.distance(token, name)
            for name, _, _ in process.extract(
                token, choices.keys(), scorer=fuzz.ratio, score_cutoff=_FUZZY_MIN_SCORE, limit=None
            )
        }
        near = {name: d for name, d in near.items() if d <= 2}
        if near:
            edits = min(near.values())
            names = sorted(name for name, d in near.items() if d == edits)
    if not names or len({v.fuzzy_targets[name].ingredients for name in names}) > 1:
        return None
    if process.extractOne(token, v.non_targets, scorer=OSA.distance, score_cutoff=edits) is not None:
        return None
    name = names[0]
    return _Spelling(token, name, v.fuzzy_targets[name], edits, round(fuzz.ratio(token, name), 1))


def _fuzzy_name(raw: str, parsed: _Name, v: _Vocab) -> _Fuzzy | None:
    if not parsed.fuzzable or _trivial(raw) in v.negative_names:
        return None
    ingredients: list[str] = []
    leftover: list[str] = []
    audit: list[_Correction] = []
    scores: list[float] = []
    entries: list[_Entry] = []
    for tokens, fallback in parsed.unmatched:
        found: list[_Entry] = []
        if not any(t in v.negative_names for t in tokens):
            corrected = list(tokens)
            hits = []
            for i, tok in enumerate(tokens):
                hit = _fuzzy_token(tok, v)
                if hit:
                    corrected[i] = hit.name
                    hits.append(hit)
            if hits:
                found = _match(tuple(corrected), v)
            if found:
                audit.extend(
                    _Correction(raw, h.token, h.name, h.edits, ing, h.score)
                    for h in hits
                    for ing in h.entry.ingredients
                )
                scores.extend(h.score for h in hits)
        if found:
            entries += found
            ingredients += [i for e in found for i in e.ingredients]
        else:
            leftover += fallback
    if not ingredients:
        return None
    return _Fuzzy(
        ingredients=tuple(dict.fromkeys(ingredients)),
        leftover=tuple(dict.fromkeys(leftover)),
        score=min(scores),
        audit=tuple(audit),
        formulation=next((e.formulation for e in entries if e.formulation), None),
        biosimilar=any(e.biosimilar for e in entries),
    )


# ---------------------------------------------------------------------------------------- prod_ai, nda


def _parse_prod_ai(raw: str, v: _Vocab) -> _Prod | None:
    found: dict[str, bool] = {}
    biosimilar = False
    for part in raw.split("\\"):
        text = _PAREN_RE.sub(" ", _trivial(part))
        text, bio = _biologic(text, v.stems, v.suffixes)
        biosimilar |= bio
        tokens = _strip_salts([t for t in _TOKEN_RE.findall(text) if t != "nos"], v)
        if not tokens or all(t in v.words["placeholder"] for t in tokens):
            continue
        key = " ".join(tokens)
        hit = v.grams.get(key) or v.codes.get("".join(tokens)) or v.exact.get(_trivial(part))
        exact = hit is not None
        if hit is None and (unglued := _unglue(tuple(tokens), v)) != tuple(tokens):
            hit = v.grams.get(" ".join(unglued))  # ADOTRASTUZUMAB EMTANSINE: a repair, so method rule
        if hit and hit.ingredients and not hit.device:
            biosimilar |= hit.biosimilar
            for ing in hit.ingredients:
                found[ing] = found.get(ing, False) or exact
        else:
            found.setdefault(key, False)
    if not found:
        return None
    return _Prod(ingredients=tuple(found.items()), biosimilar=biosimilar)


def _nda_key(raw: str | None) -> int | None:
    if raw is None:
        return None
    text = str(raw).strip()
    if text.endswith(".0"):
        text = text[:-2]
    return int(text) if text.isdigit() else None


# --------------------------------------------------------------------- learned and DiAna dictionaries


def _part_key(tokens: Sequence[str], v: _Vocab) -> str | None:
    """One combination part as a dictionary key: its words without strengths, forms, routes and noise."""
    kept = [t for t in tokens if t not in v.drop and not t.isdigit()]
    if not kept or all(t in v.words["placeholder"] or t in v.words["nonspecific"] for t in kept):
        return None
    return " ".join(kept)


def drug_name_key(raw: str | None) -> str | None:
    """The cleaned drugname the learned dictionary is keyed on, or None when the name is not one unknown
    product: a combination, a curated-dictionary name (the curated dictionary comes first), a placeholder."""
    if raw is None or not raw.strip():
        return None
    name = _parse_name(raw, _vocab())
    if name.dict_ingredients or name.device or len(name.unmatched) != 1:
        return None
    return _part_key(name.unmatched[0][0], _vocab())


def _diana_key(raw: str) -> str:
    """DiAna's own cleaning of a drugname (vocabulary.md §4.1): lower case, trimmed, one trailing full stop
    dropped, spaces collapsed, edge punctuation stripped twice (brackets kept), no space inside brackets."""
    text = " ".join(raw.lower().strip().removesuffix(".").split())
    for _ in range(2):
        text = re.sub(r"[^\w)]+$", "", text)
        text = re.sub(r"^[^\w(]+", "", text).strip()
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", text))


def diana_path() -> Path | None:
    """The user's DiAna dictionary file from ``PV_DIANA_DICTIONARY``; None when unset, because it is optional
    (CC BY 4.0, downloaded by the user from OSF; not shipped)."""
    value = os.environ.get(DIANA_ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def load_diana(path: Path) -> dict[str, tuple[str, ...]]:
    """DiAna's ``drugnames_standardized.csv`` (Fusaroli et al.) as cleaned drugname → substances.

    The file is ``;``-separated with a header holding ``drugname`` and ``Substance`` (R ``write.csv2``; other
    columns such as ``Checked`` are ignored). Substances of a combination are ``;``-joined inside one quoted
    field; ``na`` or empty means "not translated" and is skipped; a ``, trial`` suffix (investigational use)
    is dropped from the substance name.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(
            f"{path}: DiAna dictionary not found (set {DIANA_ENV_VAR} to drugnames_standardized.csv)"
        )
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        fields = {(f or "").strip().lower(): f for f in reader.fieldnames or ()}
        if "drugname" not in fields or "substance" not in fields:
            raise UserError(f"{path}: a DiAna dictionary needs ';'-separated columns drugname and Substance")
        result: dict[str, tuple[str, ...]] = {}
        for row in reader:
            name = row.get(fields["drugname"]) or ""
            substances = []
            for part in (row.get(fields["substance"]) or "").split(";"):
                part = _trivial(part).removesuffix(", trial").strip()
                if part and part != "na":
                    substances.append(part)
            if name.strip() and substances:
                result.setdefault(_diana_key(name), tuple(dict.fromkeys(substances)))
    return result


@dataclass(frozen=True)
class LearningRule:
    """When a (drugname, prod_ai) co-occurrence becomes a dictionary entry (``drug_learning.csv``)."""

    first_quarter: str
    min_rows: int
    min_cases: int
    min_agreement: float


@functools.cache
def learning_rule() -> LearningRule:
    """The reviewed thresholds; a missing or bad value is a one-line error naming the file."""
    path = VOCAB_DIR / "drug_learning.csv"
    values = {row["parameter"]: row["value"] for row in _read_csv("drug_learning.csv")}
    try:
        rule = LearningRule(
            first_quarter=values["first_quarter"].upper(),
            min_rows=int(values["min_rows"]),
            min_cases=int(values["min_cases"]),
            min_agreement=float(values["min_agreement"]),
        )
    except (KeyError, ValueError) as exc:
        raise UserError(f"{path}: missing or bad parameter ({exc})") from None
    if not re.fullmatch(r"\d{4}Q[1-4]", rule.first_quarter) or not 0 < rule.min_agreement <= 1:
        raise UserError(f"{path}: first_quarter must look like 2014Q3 and min_agreement lie in (0, 1]")
    return rule


LEARNED_COLUMNS = (
    "name_key",
    "ingredients",
    "prod_ai",
    "rows",
    "cases",
    "name_rows",
    "agreement",
    "accepted",
    "reason",
)


def _prod_key(raw: str | None, v: _Vocab) -> tuple[str, ...] | None:
    prod = _parse_prod_ai(raw, v) if raw and raw.strip() else None
    if prod is None:
        return None
    found = [i for i, _ in prod.ingredients]
    if len(found) > 1:
        found = [i for i in found if i != "hyaluronidase"]
    return tuple(sorted(found))


def _decide(candidates: pd.DataFrame, rule: LearningRule) -> pd.DataFrame:
    """Accept, per name, the most frequent ingredient list when support and agreement reach the rule."""
    if candidates.empty:
        types = {
            "rows": "int64",
            "cases": "int64",
            "name_rows": "int64",
            "agreement": float,
            "accepted": bool,
        }
        return pd.DataFrame({c: pd.Series(dtype=types.get(c, object)) for c in LEARNED_COLUMNS})
    frame = candidates.copy()
    frame["name_rows"] = frame.groupby("name_key")["rows"].transform("sum").astype("int64")
    frame["agreement"] = (frame["rows"] / frame["name_rows"]).round(4)
    frame["_list"] = frame["ingredients"].map("; ".join)
    frame = frame.sort_values(
        ["name_key", "rows", "cases", "_list"], ascending=[True, False, False, True], kind="stable"
    )
    top = ~frame.duplicated("name_key")
    reasons = []
    for is_top, rows, cases, agreement in zip(
        top, frame["rows"], frame["cases"], frame["agreement"], strict=True
    ):
        why = []
        if not is_top:
            why.append("not the name's most frequent ingredient list")
        if rows < rule.min_rows:
            why.append(f"support {rows} rows < {rule.min_rows}")
        if cases < rule.min_cases:
            why.append(f"support {cases} cases < {rule.min_cases}")
        if agreement < rule.min_agreement:
            why.append(f"agreement {agreement:.2f} < {rule.min_agreement:.2f}")
        reasons.append("; ".join(why))
    frame["accepted"] = [not r for r in reasons]
    frame["reason"] = [
        r or f"rows >= {rule.min_rows}, cases >= {rule.min_cases}, agreement >= {rule.min_agreement:.2f}"
        for r in reasons
    ]
    frame["ingredients"] = frame["ingredients"].map(list)
    return frame[list(LEARNED_COLUMNS)].reset_index(drop=True)


def learn_drug_names(
    drugname: Iterable[str | None],
    prod_ai: Iterable[str | None],
    caseid: Iterable[object],
    quarter: Iterable[str],
    rule: LearningRule | None = None,
) -> pd.DataFrame:
    """The learned-dictionary audit from DRUG rows: one row per (cleaned drugname, ingredient list) seen
    together from ``rule.first_quarter`` on, with its support, agreement and decision (``accepted``,
    ``reason``). FDA codes prod_ai from its own product dictionary, so a brand that FDA codes the same way
    on most of its rows can stand in for prod_ai where the field is empty: the DRUG files before 2014Q3 have
    no prod_ai column (legacy AERS DRUGyyQq.TXT included), and ~1.8% of recent rows leave it blank
    (FDA's 2025Q4 DRUG statistics, faers_format.md DRUG table)."""
    rule = rule or learning_rule()
    v = _vocab()
    keys: dict[str | None, str | None] = {}
    prods: dict[str | None, tuple[str, ...] | None] = {}
    counts: dict[tuple[str, tuple[str, ...]], list] = {}
    for name, ai, case, q in zip(drugname, prod_ai, caseid, quarter, strict=True):
        if str(q).upper() < rule.first_quarter or name is None or ai is None:
            continue
        if name not in keys:
            keys[name] = drug_name_key(name)
        if ai not in prods:
            prods[ai] = _prod_key(ai, v)
        key, ingredients = keys[name], prods[ai]
        if key is None or ingredients is None:
            continue
        entry = counts.setdefault((key, ingredients), [0, set(), Counter()])
        entry[0] += 1
        entry[1].add(case)
        entry[2][ai] += 1
    candidates = pd.DataFrame(
        {
            "name_key": [k for k, _ in counts],
            "ingredients": [i for _, i in counts],
            "prod_ai": [min(e[2].items(), key=lambda t: (-t[1], t[0]))[0] for e in counts.values()],
            "rows": pd.Series([e[0] for e in counts.values()], dtype="int64"),
            "cases": pd.Series([len(e[1]) for e in counts.values()], dtype="int64"),
        }
    )
    return _decide(candidates, rule)


def learned_dictionary(audit: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """The accepted rows of a learned-dictionary audit as cleaned drugname → ingredients."""
    accepted = audit[audit["accepted"].astype(bool)]
    return {k: tuple(i) for k, i in zip(accepted["name_key"], accepted["ingredients"], strict=True)}


def stored_learned_dictionary(
    con: duckdb.DuckDBPyConnection, table: str = "curated.drug_learned_names"
) -> dict[str, tuple[str, ...]]:
    """The learned dictionary a build stored (its accepted rows), so names typed by a user resolve as the
    build resolved them; empty when the database has none (built before it existed)."""
    schema, quoted = _quote_table(table)
    name = table.split(".")[-1].strip('"')
    found = con.execute(
        "select count(*) from duckdb_tables() where table_name = $name"
        + (" and schema_name = $schema" if schema else ""),
        {"name": name} | ({"schema": schema.strip('"')} if schema else {}),
    ).fetchall()[0][0]
    if not found:
        return {}
    rows = con.sql(f"select name_key, ingredients from {quoted} where accepted").fetchall()
    return {key: tuple(ingredients) for key, ingredients in rows}


# ---------------------------------------------------------------------------------------------- combine


def _clean_str(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if text.strip() else None


class _Parts(NamedTuple):
    """What the DiAna and learned dictionaries make of a name's parts the curated dictionary missed."""

    found: tuple[tuple[str, str], ...]  # (ingredient, method)
    rest: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # the unmatched parts neither knows


class _Resolver:
    """Per-call caches: each distinct drugname, prod_ai and triple is worked out once."""

    def __init__(
        self,
        learned: Mapping[str, Sequence[str]] | None = None,
        diana: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.v = _vocab()
        self.learned = {k: tuple(v) for k, v in (learned or {}).items()}
        self.diana = {k: tuple(v) for k, v in (diana or {}).items()}
        self.names: dict[str, _Name] = {}
        self.prods: dict[str, _Prod | None] = {}
        self.rows: dict[tuple[str | None, str | None, str | None], _Row] = {}
        self.quiet: dict[str, bool] = {}
        self.prod_rows: dict[tuple[str, int | None], _Row] = {}

    def parts(self, drugname: str, name: _Name) -> _Parts:
        """DiAna (the whole name, then each part) before the learned dictionary, part by part."""
        if not (self.learned or self.diana):
            return _Parts((), name.unmatched)
        whole = self.diana.get(_diana_key(drugname)) if self.diana and not name.dict_ingredients else None
        if whole:
            return _Parts(tuple((i, "diana") for i in whole), ())
        found: list[tuple[str, str]] = []
        rest = []
        for tokens, fallback in name.unmatched:
            key = _part_key(tokens, self.v)
            if key and (hit := self.diana.get(key)):
                found += [(i, "diana") for i in hit]
            elif key and (hit := self.learned.get(key)):
                found += [(i, "learned") for i in hit]
            else:
                rest.append((tokens, fallback))
        return _Parts(tuple(found), tuple(rest))

    def name(self, raw: str) -> _Name:
        parsed = self.names.get(raw)
        if parsed is None:
            parsed = self.names[raw] = _parse_name(raw, self.v)
        return parsed

    def prod(self, raw: str) -> _Prod | None:
        if raw not in self.prods:
            self.prods[raw] = _parse_prod_ai(raw, self.v)
        return self.prods[raw]

    def all(
        self, names: Sequence[str | None], prod_ai: Sequence[str | None], nda_num: Sequence[str | None]
    ) -> list[_Row]:
        rows = []
        for triple in zip(names, prod_ai, nda_num, strict=True):
            row = self.rows.get(triple)
            if row is None:
                row = self.rows[triple] = self.resolve(*triple)
            rows.append(row)
        return rows

    def is_quiet(self, raw: str) -> bool:
        """True when a drugname cannot add to prod_ai evidence: no target, device or flag word in it."""
        quiet = self.quiet.get(raw)
        if quiet is None:
            key = _trivial(raw)
            quiet = self.quiet[raw] = key.isascii() and not any(
                t in self.v.relevant for t in _TOKEN_RE.findall(key)
            )
        return quiet

    def resolve(self, drugname: str | None, prod_ai: str | None, nda_num: str | None) -> _Row:
        prod = self.prod(prod_ai) if prod_ai else None
        if prod is not None and (not drugname or self.is_quiet(drugname)):
            nda_key = _nda_key(nda_num)
            row = self.prod_rows.get((prod_ai, nda_key))
            if row is None:
                row = self.prod_rows[prod_ai, nda_key] = self.combine(None, None, prod, nda_num)
            return row
        return self.combine(drugname, self.name(drugname) if drugname else None, prod, nda_num)

    def combine(
        self, drugname: str | None, name: _Name | None, prod: _Prod | None, nda_num: str | None
    ) -> _Row:
        v = self.v
        nda = v.nda.get(key) if (key := _nda_key(nda_num)) is not None else None
        # Without prod_ai: the curated dictionary, then nda_num, then DiAna, then the learned dictionary,
        # then a spelling correction, then the cleaned name (README "Drug names").
        parts = self.parts(drugname, name) if prod is None and drugname and name is not None else None
        if (
            prod is None
            and nda is None
            and (name is None or not (name.level or name.fuzzable))
            and not (parts and parts.found)
        ):
            # A background name without dictionary, nda or fuzzy evidence: the cleaned name or nothing.
            fallback = tuple(sorted(name.fallback)) if name else ()
            found_on = "drugname" if fallback else None
            blinded = bool(name and name.blinded)
            return _Row(
                fallback, (), "rule" if fallback else "none", found_on, None, None, False, blinded, False
            )
        found: dict[str, tuple[str, str]] = {}  # ingredient -> (level, source)
        fuzzy: _Fuzzy | None = None
        if prod is not None:
            for ing, in_dict in prod.ingredients:
                found[ing] = ("exact" if in_dict else "rule", "prod_ai")
            if name is not None and name.level:
                for ing in name.dict_ingredients:
                    if ing in v.classes and ing not in found:
                        found[ing] = (name.level, "drugname")
        elif name is not None and name.level:
            for ing in name.dict_ingredients:
                found[ing] = (name.level, "drugname")
            for ing, method in parts.found if parts else ():
                found.setdefault(ing, (method, "drugname"))
            for _, fallback in parts.rest if parts else name.unmatched:
                for ing in fallback:
                    found.setdefault(ing, ("rule", "drugname"))
        elif nda is not None:
            for ing in nda.ingredients:
                found[ing] = ("exact", "nda_num")
        elif name is not None and drugname:
            rest = name._replace(unmatched=parts.rest) if parts and parts.found else name
            for ing, method in parts.found if parts else ():
                found.setdefault(ing, (method, "drugname"))
            if (fuzzy := _fuzzy_name(drugname, rest, v)) is not None:
                for ing in fuzzy.ingredients:
                    found.setdefault(ing, ("fuzzy", "drugname"))
                for ing in fuzzy.leftover:
                    found.setdefault(ing, ("rule", "drugname"))
            else:
                for _, fallback in rest.unmatched:
                    for ing in fallback:
                        found.setdefault(ing, ("rule", "drugname"))

        device = bool(name and name.device)
        if device:
            found.pop("paclitaxel", None)
        if any(v.classes.get(i) == "anti_her2_adc" and i.startswith("trastuzumab ") for i in found):
            found.pop("trastuzumab", None)
        if len(found) > 1:
            found.pop("hyaluronidase", None)

        ingredients = tuple(sorted(found))
        classes = tuple(sorted({v.classes[i] for i in ingredients if i in v.classes}))
        if ingredients:
            targets = [found[i] for i in ingredients if i in v.classes] or [found[i] for i in ingredients]
            method = max(targets, key=lambda t: _LEVEL[t[0]])[0]
            sources = {s for _, s in targets}
            matched_on = next(s for s in ("drugname", "nda_num", "prod_ai") if s in sources)
        elif device and name is not None:
            method, matched_on = name.level or "rule", "drugname"
        else:
            method, matched_on = "none", None

        has_taxane = "taxane" in classes
        has_antibody = "anti_her2_antibody" in classes
        formulation = None
        for value in (
            name.formulation if name else None,
            fuzzy.formulation if fuzzy else None,
            name.form_marker if name else None,
            "subcutaneous" if prod and ("hyaluronidase", True) in prod.ingredients else None,
            nda.formulation if nda and set(nda.ingredients) & set(ingredients) else None,
        ):
            if value and (
                (value in _TAXANE_FORMS and has_taxane) or (value in _ANTIBODY_FORMS and has_antibody)
            ):
                formulation = value
                break
        biosimilar = any(b in ingredients for b in _BIOSIMILAR_BASES) and bool(
            (name and name.biosimilar)
            or (prod and prod.biosimilar)
            or (fuzzy and fuzzy.biosimilar)
            or (nda and nda.biosimilar and "trastuzumab" in nda.ingredients)
        )
        fuzzy_used = method == "fuzzy" and fuzzy is not None
        return _Row(
            ingredients=ingredients,
            classes=classes,
            method=method,
            matched_on=matched_on,
            fuzzy_score=fuzzy.score if fuzzy_used else None,
            formulation=formulation,
            biosimilar=biosimilar,
            blinded=bool(name and name.blinded),
            device=device,
            audit=fuzzy.audit if fuzzy_used else (),
        )


def _as_list(values: Iterable[object] | None, length: int | None) -> list:
    if values is None:
        return [None] * (length or 0)
    return list(values)


def drug_names(
    names: Iterable[str | None],
    prod_ai: Iterable[str | None] | None = None,
    nda_num: Iterable[str | int | None] | None = None,
    learned: Mapping[str, Sequence[str]] | None = None,
    diana: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Ingredients, classes, method and flags for each (drugname, prod_ai, nda_num), in input order.

    ``learned`` (:func:`learned_dictionary`) and ``diana`` (:func:`load_diana`) are used for names without
    prod_ai that the curated dictionary and nda_num do not resolve. Work is cached per distinct triple (and
    per distinct drugname / prod_ai underneath), so a column with repeated values costs what its distinct
    values cost.
    """
    raw = _as_list(names, None)
    ai = _as_list(prod_ai, len(raw))
    nda = [None if x is None else str(x) for x in _as_list(nda_num, len(raw))]
    if not len(raw) == len(ai) == len(nda):
        raise ValueError(f"names, prod_ai and nda_num differ in length ({len(raw)}, {len(ai)}, {len(nda)})")
    rows = _Resolver(learned, diana).all([_clean_str(x) for x in raw], [_clean_str(x) for x in ai], nda)
    text = {"dtype": object}
    return pd.DataFrame(
        {
            "raw": pd.Series(raw, **text),
            "prod_ai": pd.Series(ai, **text),
            "ingredients": pd.Series([list(r.ingredients) for r in rows], **text),
            "classes": pd.Series([list(r.classes) for r in rows], **text),
            "method": pd.Series([r.method for r in rows], **text),
            "matched_on": pd.Series([r.matched_on for r in rows], **text),
            "fuzzy_score": pd.Series([r.fuzzy_score for r in rows], **text),
            "formulation": pd.Series([r.formulation for r in rows], **text),
            "biosimilar": pd.Series([r.biosimilar for r in rows], dtype=bool),
            "blinded": pd.Series([r.blinded for r in rows], dtype=bool),
            "device": pd.Series([r.device for r in rows], dtype=bool),
        },
        columns=list(COLUMNS),
    )


# ------------------------------------------------------------------------------------------- SQL door


def _quote_table(name: str) -> tuple[str | None, str]:
    parts = [p.strip().strip('"') for p in name.split(".")]
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"expected [schema.]table, got {name!r}")
    quoted = ".".join('"' + p.replace('"', '""') + '"' for p in parts)
    schema = '"' + parts[0].replace('"', '""') + '"' if len(parts) == 2 else None
    return schema, quoted


def _learn_sql(
    con: duckdb.DuckDBPyConnection,
    learn_sql: str,
    rule: LearningRule,
    support_table: str | None = None,
    append: bool = False,
) -> pd.DataFrame:
    """:func:`learn_drug_names` over the rows of ``learn_sql`` (quarter, caseid, drugname, prod_ai),
    counted in DuckDB: only distinct names and prod_ai values come to Python.

    A name's support (its rows, and its distinct cases) is a function of the DRUG rows counted per
    (name key, ingredient list, prod_ai, caseid); ``support_table`` keeps those counts, and with ``append``
    the rows of ``learn_sql`` (a new quarter's) add to the counts it holds instead of replacing them.
    """
    v = _vocab()
    source = f"(select * from ({learn_sql}) where quarter >= '{rule.first_quarter}' and prod_ai is not null)"
    names = con.sql(f"select distinct drugname::varchar from {source} where drugname is not null").fetchall()
    prods = con.sql(f"select distinct prod_ai::varchar from {source}").fetchall()
    name_keys = pa.table(
        {"drugname": [n for (n,) in names], "name_key": [drug_name_key(n) for (n,) in names]}
    )
    prod_keys = pa.table(
        {
            "prod_ai": [p for (p,) in prods],
            "ingredients": pa.array([list(k) if (k := _prod_key(p, v)) else None for (p,) in prods]),
        }
    )
    if append and support_table is None:
        raise ValueError("appending to the learning support needs its table")
    if support_table is None:
        support = "_pv_learn_support"
        con.execute(f"drop table if exists {support}")
        create = f"create temp table {support} as"
    else:
        schema, support = _quote_table(support_table)
        if schema:
            con.execute(f"create schema if not exists {schema}")
        create = f"create or replace table {support} as"
    counted = f"""
        select n.name_key, p.ingredients, src.prod_ai::varchar as prod_ai, src.caseid, count(*) as rows
        from {source} as src
        join _pv_learn_names as n on n.drugname = src.drugname::varchar
        join _pv_learn_prods as p on p.prod_ai = src.prod_ai::varchar
        where n.name_key is not null and p.ingredients is not null
        group by all
    """
    same = (
        "kept.name_key = new.name_key and kept.ingredients = new.ingredients and kept.prod_ai = new.prod_ai "
        "and kept.caseid is not distinct from new.caseid"
    )
    con.register("_pv_learn_names", name_keys)
    con.register("_pv_learn_prods", prod_keys)
    try:
        if append:
            con.execute(f"create or replace temp table _pv_learn_new as {counted}")
            con.execute(
                f"update {support} as kept set rows = kept.rows + new.rows "
                f"from _pv_learn_new as new where {same}"
            )
            con.execute(
                f"insert into {support} select new.* from _pv_learn_new as new "
                f"anti join {support} as kept on {same}"
            )
            con.execute("drop table _pv_learn_new")
        else:
            con.execute(f"{create} {counted}")
        candidates = con.sql(
            f"""
            with pairs as (
                select name_key, ingredients, prod_ai, sum(rows) as rows
                from {support}
                group by all
            ),
            cases as (
                select name_key, ingredients, count(distinct caseid) as cases
                from {support}
                group by all
            )
            select pairs.name_key, pairs.ingredients, sum(pairs.rows)::bigint as rows,
                   any_value(cases.cases)::bigint as cases,
                   arg_min(pairs.prod_ai, (-pairs.rows, pairs.prod_ai)) as prod_ai
            from pairs join cases using (name_key, ingredients)
            group by all
            """
        ).df()
    finally:
        con.unregister("_pv_learn_names")
        con.unregister("_pv_learn_prods")
        if support_table is None:
            con.execute(f"drop table if exists {support}")
    candidates["ingredients"] = candidates["ingredients"].map(tuple)
    return _decide(candidates, rule)


def _store(con: duckdb.DuckDBPyConnection, table_name: str, data: pa.Table) -> None:
    schema, quoted = _quote_table(table_name)
    if schema:
        con.execute(f"create schema if not exists {schema}")
    view = "_pv_drug_map_arrow"
    con.register(view, data)
    try:
        con.execute(f"create or replace table {quoted} as select * from {view}")
    finally:
        con.unregister(view)


def build_drug_map(
    con: duckdb.DuckDBPyConnection,
    source_sql: str,
    target_table: str = "curated.drug_name_map",
    audit_table: str = "curated.drug_fuzzy_audit",
    *,
    learn_sql: str | None = None,
    diana: Path | None = None,
    learned_table: str = "curated.drug_learned_names",
    sources_table: str | None = None,
    support_table: str | None = None,
    append: bool = False,
) -> dict[str, int]:
    """Normalise the distinct (drugname, prod_ai, nda_num) triples of ``source_sql`` into two tables.

    ``target_table`` holds one row per distinct triple (text columns as VARCHAR copies of the source values;
    join with ``is not distinct from``); ``audit_table`` one row per fuzzy correction. With ``learn_sql``
    (rows with quarter, caseid, drugname, prod_ai) the learned dictionary is learned first and stored with
    its audit in ``learned_table`` (every candidate, ``accepted`` and ``reason``); with ``diana`` the user's
    DiAna file is used. ``sources_table``, when given, says which name dictionaries were used.
    ``support_table`` keeps what the learning counted, and with ``append`` ``learn_sql`` holds only new rows
    (:func:`_learn_sql`): an incremental build learns from the new quarter's rows and the counts kept.
    Returns the number of distinct triples and of triples per method.
    """
    learned_audit = _learn_sql(con, learn_sql, learning_rule(), support_table, append) if learn_sql else None
    learned = learned_dictionary(learned_audit) if learned_audit is not None else None
    diana_names = load_diana(diana) if diana is not None else None
    triples = con.sql(
        "select distinct drugname::varchar as drugname, prod_ai::varchar as prod_ai, "
        f"nda_num::varchar as nda_num from ({source_sql}) as src"
    ).to_arrow_table()
    names = triples.column("drugname").to_pylist()
    prod_ai = triples.column("prod_ai").to_pylist()
    nda_num = triples.column("nda_num").to_pylist()
    resolver = _Resolver(learned, diana_names)
    rows = resolver.all([_clean_str(x) for x in names], [_clean_str(x) for x in prod_ai], nda_num)

    string, strings = pa.string(), pa.list_(pa.string())
    result = pa.table(
        {
            "drugname": pa.array(names, string),
            "prod_ai": pa.array(prod_ai, string),
            "nda_num": pa.array(nda_num, string),
            "ingredients": pa.array([list(r.ingredients) for r in rows], strings),
            "classes": pa.array([list(r.classes) for r in rows], strings),
            "method": pa.array([r.method for r in rows], string),
            "matched_on": pa.array([r.matched_on for r in rows], string),
            "fuzzy_score": pa.array([r.fuzzy_score for r in rows], pa.float64()),
            "formulation": pa.array([r.formulation for r in rows], string),
            "biosimilar": pa.array([r.biosimilar for r in rows], pa.bool_()),
            "blinded": pa.array([r.blinded for r in rows], pa.bool_()),
            "device": pa.array([r.device for r in rows], pa.bool_()),
        }
    )
    audit_rows = sorted({a for r in rows for a in r.audit})
    audit = pa.table(
        {
            "raw": pa.array([a.raw for a in audit_rows], string),
            "token": pa.array([a.token for a in audit_rows], string),
            "matched_to": pa.array([a.matched_to for a in audit_rows], string),
            "edits": pa.array([a.edits for a in audit_rows], pa.int32()),
            "ingredient": pa.array([a.ingredient for a in audit_rows], string),
            "score": pa.array([a.score for a in audit_rows], pa.float64()),
        }
    )
    for table_name, data in ((target_table, result), (audit_table, audit)):
        _store(con, table_name, data)
    if learned_audit is not None:
        _store(con, learned_table, _learned_arrow(learned_audit))
    if sources_table is not None:
        _store_sources(con, sources_table, learned, diana, diana_names)

    counts = Counter(r.method for r in rows)
    return {"distinct_triples": len(rows)} | {m: counts.get(m, 0) for m in METHODS}


def _store_sources(
    con: duckdb.DuckDBPyConnection,
    table: str,
    learned: Mapping[str, Sequence[str]] | None,
    diana: Path | None,
    diana_names: Mapping[str, Sequence[str]] | None,
) -> None:
    """One row per name dictionary: whether this build used it, its size and where it came from."""
    string = pa.string()
    rule = learning_rule()
    sources = [
        ("curated", True, len(_vocab().exact), "pv/data/vocab/drug_dictionary.csv and drug_nda.csv"),
        (
            "diana",
            diana is not None,
            len(diana_names or ()),
            str(diana) if diana is not None else f"not used: {DIANA_ENV_VAR} not set",
        ),
        (
            "learned",
            learned is not None,
            len(learned or ()),
            f"DRUG rows with prod_ai from {rule.first_quarter}: >= {rule.min_rows} rows, >= {rule.min_cases} "
            f"cases, agreement >= {rule.min_agreement:.2f} (pv/data/vocab/drug_learning.csv)"
            if learned is not None
            else "not used",
        ),
    ]
    _store(
        con,
        table,
        pa.table(
            {
                "source": pa.array([s[0] for s in sources], string),
                "used": pa.array([s[1] for s in sources], pa.bool_()),
                "entries": pa.array([s[2] for s in sources], pa.int64()),
                "detail": pa.array([s[3] for s in sources], string),
            }
        ),
    )


def _learned_arrow(audit: pd.DataFrame) -> pa.Table:
    string = pa.string()
    return pa.table(
        {
            "name_key": pa.array(audit["name_key"].tolist(), string),
            "ingredients": pa.array([list(i) for i in audit["ingredients"]], pa.list_(string)),
            "prod_ai": pa.array(audit["prod_ai"].tolist(), string),
            "rows": pa.array(audit["rows"].tolist(), pa.int64()),
            "cases": pa.array(audit["cases"].tolist(), pa.int64()),
            "name_rows": pa.array(audit["name_rows"].tolist(), pa.int64()),
            "agreement": pa.array(audit["agreement"].tolist(), pa.float64()),
            "accepted": pa.array(audit["accepted"].tolist(), pa.bool_()),
            "reason": pa.array(audit["reason"].tolist(), string),
        }
    )


# ------------------------------------------------------------------------------------- unmapped report


def is_placeholder(name: str | None) -> bool:
    """True for empty names and names made only of placeholder words (UNKNOWN, PLACEBO, BLINDED …)."""
    return not name or not name.strip() or _parse_name(name, _vocab()).kind == "placeholder"


def target_like_pattern() -> str:
    """Regular expression (lower-case text) for names that look like a target drug."""
    return _vocab().target_like_re.pattern


def unmapped_report(
    con: duckdb.DuckDBPyConnection,
    drug_map_table: str = "curated.drug_name_map",
    drug_rows_sql: str = "select drugname, prod_ai, nda_num from raw.drug",
    limit: int = 50,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evidence to grow the dictionary: (a) the most-reported names that map to nothing (placeholders left
    out), (b) the most-reported names that look like a target drug but have no target class."""
    _, table = _quote_table(drug_map_table)
    joined = f"""
        with rows as ({drug_rows_sql}),
        counts as (
            select drugname::varchar as drugname, prod_ai::varchar as prod_ai, nda_num::varchar as nda_num,
                   count(*) as rows
            from rows group by all
        )
        select c.drugname, c.prod_ai, m.ingredients, m.method, m.device, m.classes, c.rows
        from counts c join {table} m
          on c.drugname is not distinct from m.drugname
         and c.prod_ai is not distinct from m.prod_ai
         and c.nda_num is not distinct from m.nda_num
    """
    unmapped = con.sql(
        f"select drugname, sum(rows)::bigint as rows from ({joined}) where method = 'none' "
        "group by drugname order by rows desc, drugname"
    ).df()
    keep = [not is_placeholder(n) for n in unmapped["drugname"]]
    unmapped = unmapped[keep].head(limit).reset_index(drop=True)

    excluded = sorted(_vocab().excluded)
    excluded_sql = ", ".join("'" + e.replace("'", "''") + "'" for e in excluded)
    pattern = target_like_pattern().replace("'", "''")
    target_like = con.sql(
        f"""
        select drugname, prod_ai, ingredients, method, sum(rows)::bigint as rows
        from ({joined})
        where len(classes) = 0 and not device
          and regexp_matches(lower(coalesce(drugname, '') || ' ' || coalesce(prod_ai, '')), '{pattern}')
          and not (len(ingredients) > 0 and list_has_all([{excluded_sql}]::varchar[], ingredients))
        group by all order by rows desc, drugname nulls last limit {int(limit)}
        """
    ).df()
    return unmapped, target_like
