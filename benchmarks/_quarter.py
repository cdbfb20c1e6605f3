"""The start the one-quarter benchmarks share: a generated quarter, ingested (raw layer only) into a work
folder."""

from __future__ import annotations

from pathlib import Path


def ingested_quarter(
    scratch: Path, quarter: str, scale: float, seed: int, keep: Path | None
) -> tuple[Path, Path]:
    """(folder of the generated zip and its ground truth, work folder with ``pv.duckdb`` and ``lake``); the
    quarter is generated unless ``keep`` already holds it."""
    from pv.ingest import ingest
    from pv.quarters import Quarter
    from pv.synth import generate

    root = keep or scratch / "synth"
    zip_path = root / Quarter.parse(quarter).zip_name
    if not zip_path.exists():
        generate(root, [Quarter.parse(quarter)], scale=scale, seed=seed)
    work = scratch / "work"
    ingest(zip_path, db_path=work / "pv.duckdb", lake=work / "lake", work_dir=work / "tmp", curate=False)
    return root, work
