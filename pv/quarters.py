"""Quarter arithmetic and quarter names inferred from FDA's file names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from pathlib import PurePath

from pv.errors import UserError

FIRST_QUARTER_TEXT = "2004Q1"
# FAERS replaced legacy AERS with the 2012Q4 extract (faers_format.md §1, §7).
FIRST_FAERS_TEXT = "2012Q4"

_QUARTER = re.compile(r"^\s*(\d{4})\s*[qQ]\s*([1-4])\s*$")
# yyQq inside FDA member names: DEMO04Q1.TXT, demo12q4.txt, DEMO18Q1_new.txt, DELETE25Q4.txt,
# ADR19Q1DeletedCases.txt, 21Q1DeletedCases.txt.
_SHORT_IN_NAME = re.compile(r"(?<!\d)(\d{2})[qQ]([1-4])(?!\d)")
# yyyyqN inside zip names: faers_ascii_2023q1.zip, aers_ascii_2004q1.zip, faers_ascii_2021Q2.zip.
_LONG_IN_NAME = re.compile(r"(?<!\d)(20\d{2})[qQ]([1-4])(?!\d)")


@total_ordering
@dataclass(frozen=True)
class Quarter:
    """A calendar quarter such as 2023Q1; orders chronologically."""

    year: int
    q: int

    def __post_init__(self) -> None:
        if not 1 <= self.q <= 4:
            raise UserError(f"quarter number must be 1-4, got {self.q}")

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.match(str(text))
        if not match:
            raise UserError(f"not a quarter: {text!r} (expected e.g. 2023Q1)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year}Q{self.q}"

    def __lt__(self, other: Quarter) -> bool:
        return (self.year, self.q) < (other.year, other.q)

    def next(self) -> Quarter:
        return Quarter(self.year + (self.q == 4), self.q % 4 + 1)

    @property
    def short(self) -> str:
        """FDA's two-digit form used in member names, e.g. ``23Q1``."""
        return f"{self.year % 100:02d}Q{self.q}"

    @property
    def is_legacy(self) -> bool:
        """True for legacy AERS quarters (2004Q1-2012Q3)."""
        return self < FIRST_FAERS

    @property
    def zip_name(self) -> str:
        prefix = "aers" if self.is_legacy else "faers"
        return f"{prefix}_ascii_{self.year}q{self.q}.zip"


FIRST_QUARTER = Quarter.parse(FIRST_QUARTER_TEXT)
FIRST_FAERS = Quarter.parse(FIRST_FAERS_TEXT)


def quarter_runs(quarters: list[str]) -> str:
    """Quarters as runs of consecutive ones ("2011Q4–2012Q3, 2023Q1–2024Q4"), so a gap of years is seen."""
    ordered = sorted({Quarter.parse(q) for q in quarters})
    runs: list[list[Quarter]] = []
    for quarter in ordered:
        if runs and runs[-1][-1].next() == quarter:
            runs[-1].append(quarter)
        else:
            runs.append([quarter])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs)


def quarter_range(spec: str) -> list[Quarter]:
    """Parse ``2023Q1..2024Q2`` (inclusive), a single ``2023Q1``, or a comma list of either."""
    quarters: list[Quarter] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        if ".." in part:
            start_text, end_text = part.split("..", 1)
            start, end = Quarter.parse(start_text), Quarter.parse(end_text)
            if end < start:
                raise UserError(f"empty quarter range {part!r}: {end} is before {start}")
            current = start
            while current <= end:
                quarters.append(current)
                current = current.next()
        else:
            quarters.append(Quarter.parse(part))
    if not quarters:
        raise UserError(f"no quarters in {spec!r}")
    return sorted(set(quarters))


def quarter_from_name(name: str | PurePath) -> Quarter | None:
    """Infer the quarter from an FDA file or zip name; ``None`` when the name carries none."""
    base = PurePath(name).name
    long_match = _LONG_IN_NAME.search(base)
    if long_match:
        return Quarter(int(long_match.group(1)), int(long_match.group(2)))
    short_match = _SHORT_IN_NAME.search(base)
    if short_match:
        return Quarter(2000 + int(short_match.group(1)), int(short_match.group(2)))
    return None
