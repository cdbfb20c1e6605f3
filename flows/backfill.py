"""Backfill: load a range of quarters (re-ingesting those already present), then rebuild and report.

    python -m flows.backfill --source fda --quarters 2004Q1..2012Q3
    python -m flows.backfill --source ~/faers --quarters 2023Q1..2024Q4

The same tasks as the quarterly flow, with the quarters given explicitly; a re-run after a failure
repeats only what is not yet published, since each quarter is swapped in atomically.
"""

from __future__ import annotations

import sys

from prefect import flow

from flows.quarterly import main as quarterly_main
from flows.quarterly import quarterly


@flow(name="faers-backfill", log_prints=True)
def backfill(
    source: str,
    quarters: str,
    db: str | None = None,
    lake: str | None = None,
    reports: str | None = None,
    base_url: str | None = None,
    allow_partial: bool = False,
    force: bool = False,
) -> dict:
    """Every quarter of ``quarters`` (e.g. ``2004Q1..2012Q3``) from ``source``."""
    return quarterly(
        source=source,
        quarters=quarters,
        db=db,
        lake=lake,
        reports=reports,
        base_url=base_url,
        allow_partial=allow_partial,
        force=force,
    )


if __name__ == "__main__":
    if "--quarters" not in sys.argv:
        print("pv: error: a backfill needs --quarters (e.g. --quarters 2004Q1..2012Q3)", file=sys.stderr)
        sys.exit(2)
    sys.exit(quarterly_main(sys.argv[1:]))
