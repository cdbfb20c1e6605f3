"""MedDRA term text (REAC ``pt``, INDI ``indi_pt``) → canonical PT and the project's term groups.

FAERS carries PT *text* only, in several spellings (sentence case, legacy upper case, ``^`` for an
apostrophe, US spelling, LLTs and renamed terms; vocabulary.md §6.2). Everything here works on that text
alone, because MedDRA is licensed (§7); a user's own release (:mod:`pv.normalize.meddra`) adds LLT → PT
mapping, codes and the primary-SOC hierarchy. The reviewed vocabularies are CSV files in ``pv/data/vocab/``
(documented in ``pv/data/vocab/README.md``); nothing clinical is hard-coded here.

How a raw term becomes a PT (first rule that applies):

1. with a MedDRA release: a PT or LLT name of the release (current LLTs before non-current ones);
2. ``pt_fixes.csv`` (non-PT strings, renames, misspellings) → its target;
3. a term named in the vocabulary CSVs → the CSV's spelling (MedDRA capitalisation);
4. otherwise the cleaned text (``^`` → ``'``, whitespace collapsed). Text that is all upper or all lower case
   becomes sentence case ("first letter upper, rest lower"); mixed-case text is already MedDRA capitalisation
   and is kept. When one call sees several spellings of the same term (same key, spaces ignored), all of them
   get one spelling: mixed case first, then British spelling, then the most frequent, then the first in
   code-point order.

Matching always compares :func:`term_key` values, and falls back to the key without spaces when no
unambiguous entry has the exact key. Groups are computed on the resulting PT.
"""

from __future__ import annotations

import csv
import functools
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa

from pv.errors import UserError
from pv.normalize.meddra import MeddraRelease
from pv.resources import vocab_dir

VOCAB_DIR = vocab_dir()

# Narrow ⊂ broad (vocabulary.md §6.1 "dm_broad: everything in dm_narrow, plus …"; §6.3 breast cancer is
# oncology). Applied after matching, so a CSV edit cannot break the nesting.
GROUP_PARENTS: dict[str, str] = {
    "dm_paraneoplastic": "dm_narrow",
    "dm_narrow": "dm_broad",
    "breast_cancer": "oncology",
}
# Groups a near-miss string (event_near_misses.csv) can never receive.
DM_GROUP_PREFIX = "dm_"

_CHAR_MAP = str.maketrans(
    {
        "^": "'",  # FAERS writes an apostrophe as ^ (faers_format.md §2)
        "\u2019": "'",
        "\u2018": "'",
        "\u00b4": "'",
        "`": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2013": "-",
        "\u2014": "-",
    }
)
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z]+")
_GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

V = TypeVar("V")


# ----------------------------------------------------------------------------------------------------
# Text keys


def clean_text(text: str) -> str:
    """Display-preserving clean-up: ``^``/typographic quotes → ``'``, dashes → ``-``, whitespace collapsed,
    trailing full stops dropped."""
    return _SPACES.sub(" ", text.translate(_CHAR_MAP)).strip().rstrip(". ").strip()


def _fold(text: str) -> str:
    """Case-, apostrophe- and hyphen-insensitive form, before spelling is unified."""
    folded = clean_text(text).casefold().replace("'", "").replace("-", "")
    return _SPACES.sub(" ", folded).strip()


@dataclass(frozen=True)
class _Spelling:
    words: dict[str, str]
    prefixes: tuple[tuple[str, str], ...]
    suffixes: tuple[tuple[str, str], ...]

    def word(self, word: str) -> str:
        whole = self.words.get(word)
        if whole is not None:
            return whole
        for us, uk in self.prefixes:
            if word.startswith(us):
                word = uk + word[len(us) :]
                break
        for us, uk in self.suffixes:
            if word.endswith(us):
                if not word.endswith(uk):
                    word = word[: -len(us)] + uk
                break
        return word

    def apply(self, folded: str) -> str:
        return _WORD.sub(lambda match: self.word(match.group(0)), folded)


@functools.cache
def _spelling() -> _Spelling:
    return _load_spelling(VOCAB_DIR / "spelling_variants.csv")


@functools.lru_cache(maxsize=1 << 18)
def term_key(text: str | None) -> str:
    """The matching key used on both sides of every comparison.

    Case-folded, trimmed, whitespace collapsed, ``^`` read as an apostrophe, apostrophes and hyphens dropped,
    trailing full stops dropped, and US spellings rewritten to the British ones MedDRA uses for PTs
    (``spelling_variants.csv``), so "Mechanic^s hand", "MECHANICS HAND" and "Necrotizing myositis" meet
    "Mechanic's hand" and "Necrotising myositis". Non-text input gives "".
    """
    if not isinstance(text, str):
        return ""
    return _spelling().apply(_fold(text))


def _compact(key: str) -> str:
    return key.replace(" ", "")


# ----------------------------------------------------------------------------------------------------
# Vocabulary (pv/data/vocab/*.csv)


class _KeyIndex(Generic[V]):
    """Values by term key, with a fallback on the key without spaces when that fallback is unambiguous."""

    def __init__(self) -> None:
        self.exact: dict[str, V] = {}
        self._compact: dict[str, V] = {}
        self._ambiguous: set[str] = set()

    def add(self, key: str, value: V) -> None:
        self.exact[key] = value
        compact = _compact(key)
        if compact in self._ambiguous:
            return
        if compact in self._compact and self._compact[compact] != value:
            del self._compact[compact]
            self._ambiguous.add(compact)
        else:
            self._compact[compact] = value

    def get(self, key: str) -> V | None:
        if key in self.exact:
            return self.exact[key]
        return self._compact.get(_compact(key))

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None


@dataclass(frozen=True)
class Vocabulary:
    """The reviewed CSVs, validated and indexed by term key."""

    known: _KeyIndex[str]
    fixes: _KeyIndex[str]
    event_groups: _KeyIndex[frozenset[str]]
    near_misses: _KeyIndex[str]
    indication_terms: _KeyIndex[frozenset[str]]
    indication_patterns: tuple[tuple[str, re.Pattern[str]], ...]
    indication_excludes: dict[str, tuple[re.Pattern[str], ...]]


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a vocabulary CSV with the required columns non-empty; (line number, row)."""
    if not path.is_file():
        raise UserError(f"{path}: vocabulary file missing")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = []
        for row in reader:
            values = {k: (v or "").strip() for k, v in row.items() if k is not None}
            empty = [c for c in columns if not values.get(c)]
            if empty:
                raise UserError(f"{path}: line {reader.line_num}: empty {', '.join(empty)}")
            rows.append((reader.line_num, values))
    return rows


def _load_spelling(path: Path) -> _Spelling:
    words: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    suffixes: list[tuple[str, str]] = []
    for line, row in _read_csv(path, ("us", "uk", "kind")):
        us, uk, kind = row["us"].casefold(), row["uk"].casefold(), row["kind"]
        if not (_WORD.fullmatch(us) and _WORD.fullmatch(uk)) or us == uk:
            raise UserError(f"{path}: line {line}: us/uk must be two different lower-case words")
        if kind == "word":
            words[us] = uk
        elif kind == "prefix":
            prefixes.append((us, uk))
        elif kind == "suffix":
            suffixes.append((us, uk))
        else:
            raise UserError(f"{path}: line {line}: kind {kind!r} is not word, prefix or suffix")
    by_length = functools.partial(sorted, key=lambda pair: (-len(pair[0]), pair[0]))
    return _Spelling(words, tuple(by_length(prefixes)), tuple(by_length(suffixes)))


def _group_name(path: Path, line: int, group: str) -> str:
    if not _GROUP_NAME.match(group):
        raise UserError(f"{path}: line {line}: group {group!r} must be lower_snake_case")
    return group


def load_vocabulary(folder: Path = VOCAB_DIR) -> Vocabulary:
    """Read and cross-check the vocabulary CSVs; contradictions are errors, not silent precedence."""
    events_csv = folder / "event_groups.csv"
    near_csv = folder / "event_near_misses.csv"
    indications_csv = folder / "indication_groups.csv"
    fixes_csv = folder / "pt_fixes.csv"

    known: dict[str, tuple[str, Path]] = {}
    non_pt_keys: set[str] = set()

    def register(text: str, path: Path, line: int) -> str:
        key = term_key(text)
        if key in known and known[key][0] != text:
            other, other_path = known[key]
            raise UserError(
                f"{path}: line {line}: {text!r} and {other!r} ({other_path.name}) have the same key"
            )
        known.setdefault(key, (text, path))
        return key

    event_members: dict[str, set[str]] = defaultdict(set)
    for line, row in _read_csv(events_csv, ("group", "term", "level")):
        group = _group_name(events_csv, line, row["group"])
        if row["level"] not in ("PT", "non-PT"):
            raise UserError(f"{events_csv}: line {line}: level {row['level']!r} is not PT or non-PT")
        key = register(row["term"], events_csv, line)
        event_members[key].add(group)
        if row["level"] == "non-PT":
            non_pt_keys.add(key)

    near_keys: dict[str, str] = {}
    for line, row in _read_csv(near_csv, ("term", "reason")):
        key = register(row["term"], near_csv, line)
        near_keys[key] = row["term"]

    indication_members: dict[str, set[str]] = defaultdict(set)
    patterns: list[tuple[str, re.Pattern[str]]] = []
    excludes: dict[str, list[re.Pattern[str]]] = defaultdict(list)
    for line, row in _read_csv(indications_csv, ("group", "value", "kind")):
        group = _group_name(indications_csv, line, row["group"])
        kind, value = row["kind"], row["value"]
        if kind == "term":
            indication_members[register(value, indications_csv, line)].add(group)
            continue
        if kind not in ("pattern", "exclude"):
            raise UserError(f"{indications_csv}: line {line}: kind {kind!r} is not term, pattern or exclude")
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise UserError(f"{indications_csv}: line {line}: bad pattern {value!r}: {exc}") from exc
        if kind == "pattern":
            patterns.append((group, compiled))
        else:
            excludes[group].append(compiled)

    fixes: dict[str, str] = {}
    for line, row in _read_csv(fixes_csv, ("from", "to")):
        source_key, target = term_key(row["from"]), row["to"]
        if source_key in fixes and fixes[source_key] != target:
            raise UserError(
                f"{fixes_csv}: line {line}: {row['from']!r} already fixed to {fixes[source_key]!r}"
            )
        if source_key in known and source_key not in non_pt_keys and known[source_key][0] != target:
            raise UserError(
                f"{fixes_csv}: line {line}: {row['from']!r} is a listed term "
                f"({known[source_key][1].name}); it cannot also be rewritten to {target!r}"
            )
        fixes[source_key] = target
        register(target, fixes_csv, line)
    for source_key, target in fixes.items():
        target_key = term_key(target)
        if target_key != source_key and target_key in fixes and fixes[target_key] != target:
            raise UserError(f"{fixes_csv}: {target!r} is itself rewritten (chains are not allowed)")

    for key, term in near_keys.items():
        reached = event_members.get(term_key(fixes.get(key, term)), set()) | event_members.get(key, set())
        if any(group.startswith(DM_GROUP_PREFIX) for group in reached):
            raise UserError(f"{near_csv}: near miss {term!r} would join a DM group in {events_csv.name}")

    vocabulary = Vocabulary(
        known=_KeyIndex(),
        fixes=_KeyIndex(),
        event_groups=_KeyIndex(),
        near_misses=_KeyIndex(),
        indication_terms=_KeyIndex(),
        indication_patterns=tuple(patterns),
        indication_excludes={group: tuple(items) for group, items in excludes.items()},
    )
    for key, (text, _path) in known.items():
        vocabulary.known.add(key, text)
    for key, target in fixes.items():
        vocabulary.fixes.add(key, target)
    for key, groups in event_members.items():
        vocabulary.event_groups.add(key, frozenset(groups))
    for key, term in near_keys.items():
        vocabulary.near_misses.add(key, term)
    for key, groups in indication_members.items():
        vocabulary.indication_terms.add(key, frozenset(groups))
    return vocabulary


@functools.cache
def _vocabulary() -> Vocabulary:
    return load_vocabulary(VOCAB_DIR)


def _with_parents(groups: set[str]) -> set[str]:
    closed = set(groups)
    for group in groups:
        parent = GROUP_PARENTS.get(group)
        while parent is not None and parent not in closed:
            closed.add(parent)
            parent = GROUP_PARENTS.get(parent)
    return closed


def _event_groups(vocabulary: Vocabulary, raw_key: str, pt: str) -> tuple[str, ...]:
    groups = _with_parents(set(vocabulary.event_groups.get(term_key(pt)) or ()))
    if raw_key in vocabulary.near_misses or term_key(pt) in vocabulary.near_misses:
        groups = {group for group in groups if not group.startswith(DM_GROUP_PREFIX)}
    return tuple(sorted(groups))


def _indication_groups(vocabulary: Vocabulary, raw_key: str, pt: str) -> tuple[str, ...]:
    key = term_key(pt)
    groups = set(vocabulary.indication_terms.get(key) or ())
    for group, pattern in vocabulary.indication_patterns:
        if group in groups or not pattern.search(key):
            continue
        if not any(exclude.search(key) for exclude in vocabulary.indication_excludes.get(group, ())):
            groups.add(group)
    return tuple(sorted(_with_parents(groups)))


# ----------------------------------------------------------------------------------------------------
# MedDRA lookups


@dataclass(frozen=True)
class _MeddraHit:
    pt_code: int
    llt_code: int


class _MeddraIndex:
    """PT and LLT names of one release by exact text, key and space-free key; PT names win, then current LLTs,
    then non-current LLTs, then the lowest code."""

    def __init__(self, release: MeddraRelease) -> None:
        self.release = release
        candidates = [(0, code, name, code) for code, name in release.pts.items()]
        candidates += [(1 if llt.current else 2, llt.code, llt.name, llt.pt_code) for llt in release.llts]
        candidates.sort()
        self.exact: dict[str, _MeddraHit] = {}
        self.key: dict[str, _MeddraHit] = {}
        self.compact: dict[str, _MeddraHit] = {}
        for _priority, code, name, pt_code in candidates:
            hit = _MeddraHit(pt_code=pt_code, llt_code=code)
            key = term_key(name)
            self.exact.setdefault(clean_text(name).casefold(), hit)
            self.key.setdefault(key, hit)
            self.compact.setdefault(_compact(key), hit)

    def find(self, text: str) -> _MeddraHit | None:
        hit = self.exact.get(clean_text(text).casefold())
        if hit is None:
            key = term_key(text)
            hit = self.key.get(key) or self.compact.get(_compact(key))
        return hit


@functools.lru_cache(maxsize=4)
def _meddra_index(release: MeddraRelease) -> _MeddraIndex:
    return _MeddraIndex(release)


# ----------------------------------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True)
class TermRow:
    """The answer for one distinct raw term (the rows of the term-map tables)."""

    raw: str
    pt: str | None
    groups: tuple[str, ...]
    source: str  # meddra | fix | known | text | empty
    pt_code: int | None = None
    llt_code: int | None = None
    hlt: str | None = None
    hlgt: str | None = None
    soc: str | None = None
    meddra_version: str | None = None


@dataclass(frozen=True)
class _Resolved:
    pt: str | None
    source: str
    hit: _MeddraHit | None = None


def _is_mixed_case(text: str) -> bool:
    return any(c.isupper() for c in text) and any(c.islower() for c in text)


def _display(clean: str) -> str:
    """Mixed case is taken as MedDRA capitalisation; single-case text becomes sentence case."""
    return clean if _is_mixed_case(clean) else clean[:1].upper() + clean[1:].lower()


def _preferred_spelling(displays: Counter[str]) -> str:
    """Mixed case (MedDRA capitalisation), then British spelling, then most frequent, then code points."""
    spelling = _spelling()

    def rank(display: str) -> tuple[bool, bool, int, str]:
        folded = _fold(display)
        return (not _is_mixed_case(display), spelling.apply(folded) != folded, -displays[display], display)

    return min(displays, key=rank)


def _resolve_listed(
    clean: str, key: str, vocabulary: Vocabulary, index: _MeddraIndex | None
) -> _Resolved | None:
    """Rules 1–3 of the module docstring; None when the term is not known anywhere."""
    if index is not None:
        hit = index.find(clean)
        if hit is not None:
            return _Resolved(index.release.pts[hit.pt_code], "meddra", hit)
    for source, target in (("fix", vocabulary.fixes.get(key)), ("known", vocabulary.known.get(key))):
        if target is None:
            continue
        hit = index.find(target) if index is not None else None
        if hit is None or index is None:
            return _Resolved(target, source)
        return _Resolved(index.release.pts[hit.pt_code], source, hit)
    return None


def resolve_terms(
    counts: Mapping[str, int], kind: str, meddra: MeddraRelease | None = None
) -> dict[str, TermRow]:
    """One :class:`TermRow` per distinct raw string; ``counts`` (occurrences) only break ties between
    spellings of an unknown term. ``kind`` is ``"event"`` or ``"indication"``."""
    if kind not in ("event", "indication"):
        raise ValueError(f"kind must be 'event' or 'indication', not {kind!r}")
    vocabulary = _vocabulary()
    index = _meddra_index(meddra) if meddra is not None else None
    resolved: dict[str, _Resolved] = {}
    unknown: dict[str, Counter[str]] = defaultdict(Counter)  # space-free key -> display -> occurrences
    unknown_key: dict[str, str] = {}  # raw -> space-free key
    for raw, count in counts.items():
        clean = clean_text(raw)
        if not clean:
            resolved[raw] = _Resolved(None, "empty")
            continue
        key = term_key(clean)
        answer = _resolve_listed(clean, key, vocabulary, index)
        if answer is not None:
            resolved[raw] = answer
            continue
        display = _display(clean)
        unknown[_compact(key)][display] += count
        unknown_key[raw] = _compact(key)
    chosen = {compact: _preferred_spelling(displays) for compact, displays in unknown.items()}
    for raw, compact in unknown_key.items():
        resolved[raw] = _Resolved(chosen[compact], "text")

    group_of = _event_groups if kind == "event" else _indication_groups
    rows: dict[str, TermRow] = {}
    for raw, answer in resolved.items():
        groups = group_of(vocabulary, term_key(raw), answer.pt) if answer.pt is not None else ()
        path = None
        if answer.hit is not None and meddra is not None:
            path = meddra.primary.get(answer.hit.pt_code)
        rows[raw] = TermRow(
            raw=raw,
            pt=answer.pt,
            groups=groups,
            source=answer.source,
            pt_code=answer.hit.pt_code if answer.hit else None,
            llt_code=answer.hit.llt_code if answer.hit else None,
            hlt=path.hlt if path else None,
            hlgt=path.hlgt if path else None,
            soc=path.soc if path else None,
            meddra_version=meddra.version if meddra is not None else None,
        )
    return rows


MEDDRA_COLUMNS = ("pt_code", "llt_code", "hlt", "hlgt", "soc", "meddra_version")


def _frame(terms: Iterable[object], kind: str, meddra: MeddraRelease | None) -> pd.DataFrame:
    values = list(terms)
    counts = Counter(value for value in values if isinstance(value, str))
    rows = resolve_terms(counts, kind, meddra)
    answers = [rows.get(value) if isinstance(value, str) else None for value in values]
    data: dict[str, object] = {
        "raw": pd.Series(values, dtype=object),
        "pt": pd.Series([a.pt if a else None for a in answers], dtype="str"),
        "groups": pd.Series([list(a.groups) if a else [] for a in answers], dtype=object),
    }
    if meddra is not None:
        data["pt_code"] = pd.array([a.pt_code if a else None for a in answers], dtype="Int64")
        data["llt_code"] = pd.array([a.llt_code if a else None for a in answers], dtype="Int64")
        for column in ("hlt", "hlgt", "soc"):
            data[column] = pd.Series([getattr(a, column) if a else None for a in answers], dtype="str")
        data["meddra_version"] = pd.Series([meddra.version] * len(values), dtype="str")
    return pd.DataFrame(data)


def event_terms(terms: Iterable[object], meddra: MeddraRelease | None = None) -> pd.DataFrame:
    """REAC ``pt`` strings → DataFrame(raw, pt, groups), one row per input in input order.

    ``groups`` is a sorted list from ``event_groups.csv`` (``dm_narrow`` members also list ``dm_broad``);
    near misses never get a ``dm_*`` group. With ``meddra`` the columns pt_code, llt_code, hlt, hlgt, soc and
    meddra_version are added. Missing or blank inputs give pt None and no groups.
    """
    return _frame(terms, "event", meddra)


def indication_terms(terms: Iterable[object], meddra: MeddraRelease | None = None) -> pd.DataFrame:
    """INDI ``indi_pt`` strings → DataFrame(raw, pt, groups) like :func:`event_terms`, with the groups of
    ``indication_groups.csv`` (``oncology``, ``breast_cancer`` ⊂ oncology, ``unknown_indication``)."""
    return _frame(terms, "indication", meddra)


# ----------------------------------------------------------------------------------------------------
# SQL door


_ARROW_SCHEMA = pa.schema(
    [
        ("raw", pa.string()),
        ("pt", pa.string()),
        ("groups", pa.list_(pa.string())),
        ("pt_code", pa.int64()),
        ("llt_code", pa.int64()),
        ("hlt", pa.string()),
        ("hlgt", pa.string()),
        ("soc", pa.string()),
        ("meddra_version", pa.string()),
    ]
)


def _qualified_name(name: str) -> tuple[str, str | None]:
    """(quoted table name, quoted schema or None) for ``[catalog.]schema.table`` or ``table``."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(_IDENTIFIER.match(part) for part in parts):
        raise UserError(f"{name!r} is not a table name like schema.table")
    quoted = [f'"{part}"' for part in parts]
    return ".".join(quoted), (".".join(quoted[:-1]) if len(parts) > 1 else None)


def _query_terms(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    what: str,
    counts_table: str | None = None,
    append: bool = False,
) -> dict[str, int]:
    """Distinct non-NULL terms of a query returning one column ``term``, with their occurrence counts.

    ``counts_table`` (term, occurrences) keeps the counts; with ``append`` the query's occurrences (a new
    quarter's rows) add to those it holds, and the sums are returned."""
    if append and counts_table is None:
        raise ValueError(f"{what}: appending occurrences needs the table that keeps them")
    try:
        description = con.execute(f"select * from ({sql}) as terms_query limit 0").description or []
        columns = [column[0] for column in description]
        if columns != ["term"]:
            raise UserError(f"{what} must return one column named term, not {columns}")
        counted = (
            f"select cast(term as varchar) as term, count(*) as occurrences from ({sql}) as terms_query "
            "where term is not null group by all"
        )
        if counts_table is None:
            rows = con.execute(counted).fetchall()
        else:
            quoted, schema = _qualified_name(counts_table)
            if schema is not None:
                con.execute(f"create schema if not exists {schema}")
            if append:
                con.execute(f"create or replace temp table pv_new_terms as {counted}")
                con.execute(
                    f"update {quoted} as kept set occurrences = kept.occurrences + new.occurrences "
                    "from pv_new_terms as new where kept.term = new.term"
                )
                con.execute(f"insert into {quoted} from pv_new_terms anti join {quoted} using (term)")
                con.execute("drop table pv_new_terms")
            else:
                con.execute(f"create or replace table {quoted} as {counted}")
            rows = con.execute(f"select term, occurrences from {quoted}").fetchall()
    except duckdb.Error as exc:
        raise UserError(f"{what}: {str(exc).splitlines()[0]}") from exc
    return {term: int(count) for term, count in rows}


def _write_table(con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[TermRow]) -> None:
    ordered = sorted(rows, key=lambda row: row.raw)
    columns = {field.name: [getattr(row, field.name) for row in ordered] for field in _ARROW_SCHEMA}
    columns["groups"] = [list(row.groups) for row in ordered]
    arrow = pa.Table.from_pydict(columns, schema=_ARROW_SCHEMA)
    quoted, schema = _qualified_name(table)
    if schema is not None:
        con.execute(f"create schema if not exists {schema}")
    view = f"pv_term_map_{uuid.uuid4().hex}"
    con.register(view, arrow)
    try:
        con.execute(f"create or replace table {quoted} as select * from {view}")
    finally:
        con.unregister(view)


def _summary(prefix: str, rows: Mapping[str, TermRow]) -> dict[str, int]:
    counts = {
        f"{prefix}_terms": len(rows),
        f"{prefix}_terms_resolved": sum(row.source in ("meddra", "fix", "known") for row in rows.values()),
        f"{prefix}_terms_grouped": sum(bool(row.groups) for row in rows.values()),
    }
    per_group = Counter(group for row in rows.values() for group in row.groups)
    counts.update({f"{prefix}_group_{group}": n for group, n in sorted(per_group.items())})
    return counts


def build_term_maps(
    con: duckdb.DuckDBPyConnection,
    reac_sql: str,
    indi_sql: str,
    event_table: str = "curated.event_term_map",
    indication_table: str = "curated.indication_term_map",
    meddra: MeddraRelease | None = None,
    counts_tables: tuple[str, str] | None = None,
    append: bool = False,
) -> dict[str, int]:
    """Write the raw term → PT/group maps for every distinct term of two queries (one column ``term`` each).

    Same code as :func:`event_terms`/:func:`indication_terms`, so SQL joins and Python calls agree. Tables:
    raw, pt, groups VARCHAR[], pt_code, llt_code, hlt, hlgt, soc, meddra_version (the MedDRA columns are NULL
    without a release). Both tables are replaced in one transaction of their own (on a cursor). Returns
    counts: ``{event,indication}_terms`` (distinct raw terms), ``…_terms_resolved`` (matched MedDRA, a fix or
    a listed term), ``…_terms_grouped`` and ``…_group_<name>``.
    """
    event_counts, indication_counts = counts_tables or (None, None)
    event_rows = resolve_terms(_query_terms(con, reac_sql, "reac_sql", event_counts, append), "event", meddra)
    indication_rows = resolve_terms(
        _query_terms(con, indi_sql, "indi_sql", indication_counts, append), "indication", meddra
    )
    # A cursor has its own transaction context: both tables change together, and a transaction the caller
    # has open on ``con`` is neither joined nor aborted.
    cursor = con.cursor()
    try:
        cursor.execute("begin transaction")
        try:
            _write_table(cursor, event_table, event_rows.values())
            _write_table(cursor, indication_table, indication_rows.values())
        except BaseException:
            cursor.execute("rollback")
            raise
        cursor.execute("commit")
    finally:
        cursor.close()
    return _summary("event", event_rows) | _summary("indication", indication_rows)
