"""Synthetic FAERS / legacy AERS quarterly extracts in FDA's byte format, with ground truth.

``generate`` writes one zip per quarter exactly as FDA lays them out (member names, headers, delimiters,
line endings, BOM, deleted-case lists and structural defects of each era; ``faers_format.md``) plus
``ground_truth/`` describing what a correct loader must find, which signals were planted and which
characteristic events (true relative rates > 1) each background ingredient has (``characteristic``).

Sizes: scale 1.0 gives every FAERS quarter FDA's 2025Q4 DEMO row count and ramps legacy AERS quarters from
60k to 150k; with ``size_by_fda_zip`` each quarter is instead sized in proportion to FDA's own zip for it
(``population.fda_zip_scales``: scale x its zip bytes / 2025Q4's zip bytes, from the zip manifest).

Determinism: the same (quarters, scale, sizing, seed) give byte-identical zips. A quarter's tables are also
identical whether it is generated alone or inside a longer range with the same seed and sizing, because every
case's versions and content derive from hashes of (seed, caseid) and cohort sizes only look backwards.
What depends on the range: deleted-case lists (they only name cases that appear in a generated quarter) and
the ground truth (latest versions, deletions and de-duplicated association counts span the generated range).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pv.errors import UserError
from pv.quarters import FIRST_FAERS, FIRST_QUARTER, Quarter
from pv.schema import BROKEN_RECORD, DOLLAR_IN_MFR_NUM, GLUED_RECORDS, TABLES, fda_header
from pv.sources import SYNTHETIC_MARKER, SYNTHETIC_NOTE
from pv.synth import text as tx
from pv.synth._hash import Hasher
from pv.synth.content import R_C, REPT, ContentBuilder, QuarterContent
from pv.synth.population import DELETED_LISTS_T, REFERENCE_QUARTER, Population, fda_zip_scales, qindex
from pv.synth.truth import Truth
from pv.synth.vocab import Vocab

__all__ = ["SynthSummary", "generate"]

LAST_QUARTER = Quarter(2039, 4)  # caseids stay 8 digits up to here
MEMBER_ORDER = ("demo", "drug", "indi", "outc", "reac", "rpsr", "ther")  # FDA lists members alphabetically


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate`` wrote; ``rows`` are the logical records per (quarter, table) a loader must load."""

    out_dir: Path
    quarters: tuple[Quarter, ...]
    zips: list[Path]
    rows: dict[tuple[str, str], int]
    ground_truth_dir: Path


def _check(out_dir: Path, quarters: Sequence[Quarter], scale: float) -> list[Quarter]:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= 1:
        raise UserError(f"scale must be > 0 and <= 1, got {scale!r}")
    qs = sorted({q if isinstance(q, Quarter) else Quarter.parse(str(q)) for q in quarters})
    if not qs:
        raise UserError("no quarters to generate")
    if qs[0] < FIRST_QUARTER or qs[-1] > LAST_QUARTER:
        raise UserError(
            f"synthetic quarters must lie within {FIRST_QUARTER}..{LAST_QUARTER}, got {qs[0]}..{qs[-1]}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output directory is a file: {out_dir}")
    return qs


def generate(
    out_dir: Path,
    quarters: Sequence[Quarter],
    scale: float = 0.01,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    size_by_fda_zip: bool = False,
) -> SynthSummary:
    """Write quarterly zips and ``ground_truth/`` into ``out_dir`` (scale 1.0 = FDA's 2025Q4 size); with
    ``size_by_fda_zip``, each quarter at scale x its FDA zip's bytes / FDA's 2025Q4 zip's bytes."""
    out_dir = Path(out_dir)
    qs = _check(out_dir, quarters, scale)
    quarter_scales = None
    if size_by_fda_zip:
        by_quarter = fda_zip_scales(float(scale), qs[-1])
        quarter_scales = {qindex(q): s for q, s in by_quarter.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    if size_by_fda_zip:
        say(f"sizing each quarter by FDA's zip: scale {scale:g} x zip bytes / {REFERENCE_QUARTER} zip bytes")
    ts = [qindex(q) for q in qs]
    h = Hasher(int(seed))
    vocab = Vocab()
    population = Population(h, float(scale), max(ts), quarter_scales)
    builder = ContentBuilder(vocab, h, max(ts))
    tables = tx.TextTables(vocab)
    truth = Truth(vocab, h, builder.char)
    generated = set(ts)
    zips: list[Path] = []
    for q, t in zip(qs, ts, strict=True):
        say(f"{q}: building reports")
        content = builder.build(population.frame(t), t, q.is_legacy)
        deleted: dict[str, np.ndarray] = {}
        if t >= DELETED_LISTS_T:
            deleted["deleted"] = population.deleted_cases(t, generated)
        if t == DELETED_LISTS_T:
            deleted["deleted_all"] = population.deleted_cases(t, generated, before=True)
        path = out_dir / q.zip_name
        _write_quarter(path, q, content, deleted, vocab, tables, h, truth, say)
        truth.add_quarter(q, t, content, prod_ai_written="prod_ai" in fda_header("drug", q))
        zips.append(path)
        say(f"{q}: wrote {path.name}")
    gt = out_dir / "ground_truth"
    truth.write(gt)
    rows = {(str(r["quarter"]), str(r["table"])): int(r["rows"]) for r in truth.expected}
    return SynthSummary(out_dir, tuple(qs), zips, rows, gt)


def _pick(h: Hasher, tag: str, t: int, candidates: np.ndarray) -> int | None:
    if not len(candidates):
        return None
    return int(candidates[int(h.below(len(candidates), tag, t)[0])])


def _quirks(q: Quarter, content: QuarterContent, h: Hasher) -> dict[str, list[tx.LineQuirk]]:
    """Deterministic positions for the planted structural defects of this quarter.

    A repairable defect is planted only in the table and quarters FDA published it in (the loader repairs it
    nowhere else); its position is drawn the same way in every quarter, so other quarters' bytes are those
    of a clean file.
    """
    t = qindex(q)
    out: dict[str, list[tx.LineQuirk]] = {table: [] for table in TABLES}
    d, demo = content.drug, content.demo
    if q.is_legacy:
        case = d["case"]
        pair = np.flatnonzero(
            (case[:-1] == case[1:]) & (np.arange(len(case) - 1) % tx.CHUNK_ROWS != tx.CHUNK_ROWS - 1)
        )
        row = _pick(h, "quirk_run_on", t, pair)
        if row is not None and GLUED_RECORDS.applies("drug", q):  # DRUG11Q2-DRUG11Q4 (faers_format.md §2)
            out["drug"].append(
                tx.LineQuirk(row, "run_on", note="two DRUG records on one line, as DRUG11Q2 line 322967")
            )
        company = np.flatnonzero(demo["rept"] != REPT.index("DIR"))
        row = _pick(h, "quirk_stray", t, company)
        header = fda_header("demo", q)
        if row is not None and DOLLAR_IN_MFR_NUM.applies("demo", q):  # DEMO12Q1 line 105917
            value = f"JP-CUBIST-$E2B{int(h.below(10**10, 'quirk_stray_n', t)[0]):010d}"
            out["demo"].append(
                tx.LineQuirk(
                    row,
                    "stray_dollar",
                    header.index("MFR_NUM"),
                    value,
                    f"mfr_num {value}, as DEMO12Q1 line 105917",
                )
            )
        rest = np.setdiff1d(np.arange(len(demo["caseid"])), [row] if row is not None else [])
        row2 = _pick(h, "quirk_newline", t, rest)
        if row2 is not None and BROKEN_RECORD.applies("demo", q):  # FDBS re-joins lines starting with "$"
            k = 5 + int(h.below(len(header) - 6, "quirk_newline_k", t)[0])
            out["demo"].append(
                tx.LineQuirk(
                    row2,
                    "embedded_newline",
                    k,
                    note=f"record broken after field {k}; continuation line starts with $",
                )
            )
        out["demo"].sort(key=lambda x: x.row)
    else:
        n_per_case = np.bincount(d["case"], minlength=len(demo["caseid"]))
        # a background concomitant of a multi-drug case; planted duplicate pairs stay identical
        ok = (d["kind"] == 2) & (d["role"] == R_C) & ~d["empty"] & (d["copy"] == 0)
        ok &= (n_per_case[d["case"]] > 1) & ~demo["in_dup_pair"][d["case"]]
        row = _pick(h, "quirk_truncated", t, np.flatnonzero(ok))
        if row is not None:  # drug12q4 line 3583 has too few fields (DiAna_cleaning#3)
            out["drug"].append(
                tx.LineQuirk(row, "truncated", note="DRUG line cut inside drugname; reject it")
            )
    return out


def _write_quarter(
    path: Path,
    q: Quarter,
    content: QuarterContent,
    deleted: dict[str, np.ndarray],
    vocab: Vocab,
    tables: tx.TextTables,
    h: Hasher,
    truth: Truth,
    say: Callable[[str], None],
) -> None:
    era = tx.Era(q)
    ctx = tx.make_ctx(era, content, vocab, tables, h)
    quirks = _quirks(q, content, h)
    nq = q.next()
    sink = tx.ZipSink(path, (nq.year, 3 * nq.q - 1, 15, 8, 0, 0))
    counts = {
        "demo": len(content.demo["caseid"]),
        "drug": len(content.drug["case"]),
        "reac": len(content.reac["case"]),
        "outc": len(content.outc["case"]),
        "rpsr": len(content.rpsr["case"]),
        "ther": len(content.ther["case"]),
        "indi": len(content.indi["case"]),
    }
    try:
        for table in MEMBER_ORDER:
            header = fda_header(table, q)
            bom = table == "drug" and q == FIRST_FAERS  # the 2012Q4 DRUG file starts with a UTF-8 BOM
            stats = tx.write_table(
                sink, tx.member_name(table, q), table, ctx, counts[table], header, quirks[table], bom
            )
            truth.add_table(q, table, stats)
            say(f"{q}: {table} {stats.rows} rows")
            if table == "drug" and q == FIRST_FAERS:
                for row in np.flatnonzero(content.drug["empty"]):
                    line = tx.physical_line(int(row), quirks["drug"])
                    truth.add_quirk(
                        q, "drug", line, "empty_drugname", "empty drugname row to ignore (FAQ #24)"
                    )
        _write_strays(sink, q)
        for table, ids in deleted.items():
            name = tx.ALL_DELETED_MEMBER if table == "deleted_all" else tx.deleted_member(q)
            # some lists open with a line holding one space (DELETE25Q4), others do not (DELETE26Q1)
            blank = table == "deleted" and q.q % 2 == 0
            body = (b" \n" if blank else b"") + b"".join(b"%d\n" % x for x in ids.tolist())
            with sink.member(name) as write:
                write(body)
            truth.add_deleted(q, table, ids, blank)
    finally:
        sink.close()


def _write_strays(sink: tx.ZipSink, q: Quarter) -> None:
    """Non-data members, so loaders must pick tables by name: SIZE files (legacy), notes (FAERS); and the
    marker that tells every surface these reports are generated, not FDA's."""
    with sink.member(SYNTHETIC_MARKER) as write:
        write(SYNTHETIC_NOTE.encode("ascii"))
    if q.is_legacy:
        lines = [f"{name.split('/')[-1]:<20}{size:>12}" for name, size in sink.sizes.items()]
        body = ("\r\n".join(["FILE NAME                   SIZE", *lines]) + "\r\n").encode("ascii")
        with sink.member(f"ascii/SIZE{q.short}.TXT") as write:
            write(body)
        return
    note = (
        f"FAERS Quarterly Data Extract {q} (synthetic). ASCII files are $-delimited with one header line.\n"
        "See ASC_NTS for field descriptions. This file is not a data table.\n"
    )
    with sink.member("README.txt") as write:
        write(note.encode("ascii"))
    with sink.member("ASCII/ASC_NTS.txt") as write:
        write(b"ASCII data notes (synthetic stand-in for ASC_NTS.pdf).\n")
