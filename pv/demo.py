"""The demo: generated quarters of both layouts plus the real FDA extracts the repository ships."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

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


def prepare_demo_source(
    data_dir: Path,
    *,
    quarters: list[Quarter] | None = None,
    scale: float = DEMO_SCALE,
    seed: int = DEMO_SEED,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """One folder holding the generated demo quarters and copies of the shipped real extracts."""
    from pv.synth import generate

    source = data_dir / "demo" / "source"
    wanted = quarters or quarter_range(DEMO_QUARTERS)
    if not all((source / quarter.zip_name).exists() for quarter in wanted):
        say(f"generating {len(wanted)} synthetic quarters at scale {scale} in {source}")
        generate(source, wanted, scale=scale, seed=seed)
    for extract in SHIPPED_EXTRACTS:
        original = REPO / "tests" / "fixtures" / "faers" / extract
        target = source / "real" / extract.split("/")[0]
        if not target.exists():
            target.mkdir(parents=True)
            if original.is_dir():
                shutil.copytree(original, target, dirs_exist_ok=True)
            else:
                shutil.copy2(original, target)
    return source
