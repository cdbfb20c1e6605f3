"""Crafted FAERS quarters for tests: FDA's exact file format, every row chosen by the test.

Imported by test modules as ``from crafted import CraftedQuarter`` (the tests folder is on the path, as for
``fda_server``); not a conftest, so importing it has no side effects.
"""

from __future__ import annotations

from pathlib import Path

from pv.quarters import Quarter
from pv.schema import fda_header


def write_faers_table(folder: Path, table: str, quarter: Quarter, rows: list[dict[str, str]]) -> None:
    """One FAERS (or legacy AERS) table file of ``quarter`` with FDA's header of that era and these rows."""
    header = fda_header(table, quarter)
    names = [name.strip().lower() for name in header]
    lines = ["$".join(header)]
    trailing = "$" if quarter.is_legacy else ""
    for row in rows:
        lines.append("$".join(row.get(name, "") for name in names) + trailing)
    suffix = ".TXT" if quarter.is_legacy else ".txt"
    (folder / f"{table.upper()}{quarter.short}{suffix}").write_text("\n".join(lines) + "\n")


class CraftedQuarter:
    """Rows of one crafted quarter; ``case`` adds a case version with its drugs, therapies, indications and
    events, ``deleted`` lists case numbers on the quarter's deleted-case list; ``write`` writes the files."""

    def __init__(self, name: str) -> None:
        self.quarter = Quarter.parse(name)
        self.tables: dict[str, list[dict[str, str]]] = {
            t: [] for t in ("demo", "drug", "reac", "outc", "ther", "indi")
        }
        self.deleted: list[int] = []

    def case(
        self,
        caseid: int,
        *,
        fda_dt: str,
        event_dt: str,
        age: str,
        drugs: list[dict[str, str]],
        pts: list[str],
        outcomes: tuple[str, ...] = (),
        sex: str = "F",
        country: str = "US",
        occp: str = "MD",
        version: int = 1,
        mfr: tuple[str, str] | None = None,
        isr: int | None = None,
    ) -> None:
        if self.quarter.is_legacy:
            key = {"isr": str(isr or caseid + 3_000_000 + 100_000 * (version - 1))}
            demo = {"case": str(caseid), "i_f_cod": "I" if version == 1 else "F", "gndr_cod": sex}
            country = {"US": "UNITED STATES"}.get(country, country)
        else:
            key = {"primaryid": f"{caseid}{version}", "caseid": str(caseid)}
            demo = {
                "caseversion": str(version),
                "i_f_code": "I" if version == 1 else "F",
                "sex": sex,
                "gndr_cod": sex,
            }
        if mfr:
            demo |= {"mfr_sndr": mfr[0], "mfr_num": mfr[1]}
        self.tables["demo"].append(
            key
            | demo
            | {
                "event_dt": event_dt,
                "fda_dt": fda_dt,
                "rept_cod": "EXP",
                "age": age,
                "age_cod": "YR",
                "occp_cod": occp,
                "reporter_country": country,
            }
        )
        for seq, drug in enumerate(drugs, start=1):
            self.tables["drug"].append(
                key
                | {
                    "drug_seq": str(seq),
                    "role_cod": drug.get("role", "PS"),
                    "drugname": drug["name"],
                    "prod_ai": drug.get("prod_ai", ""),
                    "dechal": drug.get("dechal", ""),
                    "rechal": drug.get("rechal", ""),
                }
            )
            if "start" in drug:
                self.tables["ther"].append(
                    key | {"drug_seq": str(seq), "dsg_drug_seq": str(seq), "start_dt": drug["start"]}
                )
            if "indication" in drug:
                self.tables["indi"].append(
                    key | {"drug_seq": str(seq), "indi_drug_seq": str(seq), "indi_pt": drug["indication"]}
                )
        self.tables["reac"] += [key | {"pt": pt} for pt in pts]
        self.tables["outc"] += [key | {"outc_cod": code, "outc_code": code} for code in outcomes]

    def write(self, root: Path) -> None:
        folder = root / str(self.quarter)
        folder.mkdir(parents=True)
        for table, rows in self.tables.items():
            write_faers_table(folder, table, self.quarter, rows)
        if self.deleted:
            deleted = "".join(f"{caseid}\n" for caseid in self.deleted)
            (folder / f"DELETE{self.quarter.short}.txt").write_text(deleted)
