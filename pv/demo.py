"""The demo: generated quarters of both layouts plus the real FDA extracts the repository ships."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pv.ingest import Progress, QuarterReport, ingest
from pv.quarters import Quarter, quarter_range

REPO = Path(__file__).resolve().parent.parent
# Real FDA extracts shipped for tests and the demo (tests/fixtures/faers/PROVENANCE.md); one source per
# quarter, since a quarter may be given once.
SHIPPED_EXTRACTS: tuple[str, ...] = (
    "2004q1/aers_ascii_2004q1.zip",
    "2012q4/ten_row_heads",
    "2017q2/faers_ascii_2017q2.zip",
    "2020q3/heads_10k",
    "2025q4",
)
DEMO_QUARTERS = "2011Q4..2012Q3,2023Q1..2024Q4"
DEMO_SCALE = 0.005
DEMO_SEED = 20260101


def run_demo(
    data_dir: Path,
    *,
    quarters: list[Quarter] | None = None,
    scale: float = DEMO_SCALE,
    seed: int = DEMO_SEED,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> list[QuarterReport]:
    """Generate the demo quarters (once), then ingest them and the shipped extracts into ``data_dir``."""
    from pv.synth import generate

    synth_dir = data_dir / "demo" / "synth"
    wanted = quarters or quarter_range(DEMO_QUARTERS)
    if not all((synth_dir / quarter.zip_name).exists() for quarter in wanted):
        say(f"generating {len(wanted)} synthetic quarters at scale {scale} in {synth_dir}")
        generate(synth_dir, wanted, scale=scale, seed=seed)
    common = {
        "db_path": data_dir / "pv.duckdb",
        "lake": data_dir / "lake",
        "work_dir": data_dir / "tmp",
        "progress": progress,
    }
    sources = [synth_dir] + [REPO / "tests" / "fixtures" / "faers" / extract for extract in SHIPPED_EXTRACTS]
    reports = []
    for index, source in enumerate(sources):
        last = index == len(sources) - 1  # the curated layer is built once, after the last source
        reports += ingest(source, quarters=wanted if index == 0 else None, curate=last, **common)
    return sorted(reports, key=lambda report: report.quarter)
