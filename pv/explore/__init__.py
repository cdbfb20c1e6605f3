"""``pv explore``: the analyst database in the browser, as a marimo app served locally (``app.py``).

The app is a thin layer of widgets; what it shows comes from here and from the rest of ``pv``: names are read
by :func:`pv.cases.resolve_drug` / :func:`pv.cases.resolve_event` (the normaliser), the 2×2 and measures are
the rows of ``marts.signals`` and ``marts.signal_history``, the case series and a case in full are
:mod:`pv.cases`, the plots are the report's (:mod:`pv.report.figures`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from pv.cases import DrugSelector, EventSelector
from pv.db import open_published

APP = Path(__file__).with_name("app.py")
DB_ENV = "PV_EXPLORE_DB"
ORDER = "order by drug_level desc, drug, role desc, comparator, duplicates desc"


def _pair_filter(drug: DrugSelector, event: EventSelector) -> tuple[str, dict[str, object]]:
    """Which rows of the signal tables a resolved drug and event are: a class is its ``class`` row, a name
    its ingredients' rows (each ingredient of a combination), a group or PT its own level."""
    if drug.kind == "class":
        drugs, drug_level = [drug.drug_class], "class"
    else:
        drugs, drug_level = list(drug.ingredients), "ingredient"
    event_name, event_level = (event.group, "group") if event.kind == "group" else (event.pt, "pt")
    where = (
        "drug_level = $drug_level and list_contains($drugs, drug) "
        "and event_level = $event_level and event = $event"
    )
    return where, {"drugs": drugs, "drug_level": drug_level, "event": event_name, "event_level": event_level}


def pair_signals(con: duckdb.DuckDBPyConnection, drug: DrugSelector, event: EventSelector) -> pd.DataFrame:
    """The pair's rows of ``marts.signals``: every analysis variant, 2×2 (a, b, c, d) and measures.

    Empty when no case reports the drug with the event (no pair, so nothing to estimate)."""
    where, params = _pair_filter(drug, event)
    return con.execute(f"select * from marts.signals where {where} {ORDER}", params).df()


def pair_history(con: duckdb.DuckDBPyConnection, drug: DrugSelector, event: EventSelector) -> pd.DataFrame:
    """The pair's rows of ``marts.signal_history``: the same measures, cumulative, quarter by quarter."""
    where, params = _pair_filter(drug, event)
    return con.execute(
        f"select * from marts.signal_history where {where} order by quarter, drug", params
    ).df()


# What the second row of a 2x2 table holds, by comparator: the background, or the active comparators.
BACKGROUND_WORDS: dict[str, str] = {
    "active": "its active comparators",
    "masked": "other drugs, maskers left out",
}


def two_by_two(row: pd.Series | dict) -> pd.DataFrame:
    """The 2×2 contingency table of one signal row (cases, statistics.md §1) with its margins, as integers.
    The second row is named for what it holds: all other drugs, or the active comparators of an ``active``
    row, or the other drugs without the masking drugs' reports of a ``masked`` row."""
    a, b, c, d = (int(row[name]) for name in "abcd")
    background = BACKGROUND_WORDS.get(str(row.get("comparator", "")), "all other drugs")
    return pd.DataFrame(
        {
            "": ["the drug", background, "total"],
            "the event": [a, c, a + c],
            "all other events": [b, d, b + d],
            "total": [a + b, c + d, a + b + c + d],
        }
    )


def command(host: str, port: int) -> list[str]:
    """The ``marimo run`` command serving the app: no browser, no token (local only), no PEP 723 sandbox."""
    return [
        sys.executable,
        "-m",
        "marimo",
        "run",
        str(APP),
        "--headless",
        "--host",
        host,
        "--port",
        str(port),
        "--no-token",
        "--no-sandbox",
    ]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(db_path: Path, host: str = "127.0.0.1", port: int = 2718) -> int:
    """Serve the explorer until interrupted; the database must open read-only first (one-line error if not).

    marimo runs as a child process (its own event loop and one kernel per browser tab); Ctrl-C or SIGTERM
    stops it, so the child never outlives ``pv explore``.
    """
    db_path = Path(db_path).resolve()
    open_published(db_path).close()
    environment = {**os.environ, DB_ENV: str(db_path), "MARIMO_SKIP_UPDATE_CHECK": "1"}
    print(f"pv explore: {db_path} (read-only) at http://{host}:{port}/ — Ctrl-C to stop", file=sys.stderr)
    child = subprocess.Popen(command(host, port), env=environment)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print("pv explore: marimo did not stop within 10 s; killed it", file=sys.stderr)
            child.kill()
            child.wait()
        raise
