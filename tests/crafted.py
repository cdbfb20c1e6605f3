"""Crafted inputs of a few hundred bytes, byte-level fingerprints of what is stored, and crafted FAERS
quarters whose every row is chosen by the test (``CraftedQuarter``).

Imported by test modules (the tests folder is on the path, as for ``fda_server``); not a conftest, so
importing it has no side effects.

A crafted quarter is FDA's current layout (the 2017Q2 headers, faers_format.md §4) with one or two data
rows per table, named for any quarter, so that each hostile or incomplete case is one small folder or zip.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Collection, Mapping
from pathlib import Path

import duckdb

from pv.quarters import Quarter
from pv.schema import TABLES, fda_header
from pv.sources import FIRST_DELETED_LIST

HEADERS = {
    "demo": "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$rept_cod$auth_num$"
    "mfr_num$mfr_sndr$lit_ref$age$age_cod$age_grp$sex$e_sub$wt$wt_cod$rept_dt$to_mfr$occp_cod$"
    "reporter_country$occr_country",
    "drug": "primaryid$caseid$drug_seq$role_cod$drugname$prod_ai$val_vbm$route$dose_vbm$cum_dose_chr$"
    "cum_dose_unit$dechal$rechal$lot_num$exp_dt$nda_num$dose_amt$dose_unit$dose_form$dose_freq",
    "reac": "primaryid$caseid$pt$drug_rec_act",
    "outc": "primaryid$caseid$outc_cod",
    "rpsr": "primaryid$caseid$rpsr_cod",
    "ther": "primaryid$caseid$dsg_drug_seq$start_dt$end_dt$dur$dur_cod",
    "indi": "primaryid$caseid$indi_drug_seq$indi_pt",
}
ROWS = {
    "demo": [
        "1000011$100001$1$I$20230105$20230110$20230110$20230112$EXP$$US-X-1$X$$61$YR$$F$Y$$$20230112$$MD$US$US",
        "1000021$100002$1$I$$20230111$20230111$20230113$PER$$$$$$$$M$Y$$$20230113$$CN$US$US",
    ],
    "drug": [
        "1000011$100001$1$PS$PACLITAXEL$PACLITAXEL$1$Intravenous$$$$U$U$$$$$$$",
        "1000021$100002$1$PS$ASPIRIN$ASPIRIN$1$Oral$$$$U$U$$$$$$$",
    ],
    "reac": ["1000011$100001$Dermatomyositis$", "1000021$100002$Rash$"],
    "outc": ["1000011$100001$HO", "1000021$100002$OT"],
    "rpsr": ["1000011$100001$HP", "1000021$100002$CSM"],
    "ther": ["1000011$100001$1$20221201$$$", "1000021$100002$1$$$$"],
    "indi": ["1000011$100001$1$Breast cancer", "1000021$100002$1$Pain"],
}


def table_name(table: str, quarter: Quarter) -> str:
    return f"{table.upper()}{quarter.short}.txt"


def crafted_quarter(
    folder: Path,
    quarter: str,
    tables: tuple[str, ...] = TABLES,
    deleted: bool | None = None,
    header_only: tuple[str, ...] = (),
) -> Path:
    """The seven tables (or ``tables``) of ``quarter`` in ``folder``, plus a deleted-case list where FDA
    publishes one (or as ``deleted`` says); tables in ``header_only`` have no data row."""
    parsed = Quarter.parse(quarter)
    folder.mkdir(parents=True, exist_ok=True)
    for table in tables:
        rows = [] if table in header_only else ROWS[table]
        (folder / table_name(table, parsed)).write_text("\n".join([HEADERS[table], *rows]) + "\n")
    if deleted if deleted is not None else parsed >= Quarter(2019, 1):
        (folder / f"DELETE{parsed.short}.txt").write_text("9999901\n")
    return folder


def crafted_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def stored_fingerprint(data_dir: Path) -> dict[str, str]:
    """SHA-256 of every file of the lake and of the database (lock files, whose content is the holder's
    PID while held, excluded), by path: equal before and after means byte-for-byte unchanged."""
    fingerprint = {}
    for path in sorted(data_dir.rglob("*")):
        relative = str(path.relative_to(data_dir))
        if path.is_file() and not path.name.endswith(".lock") and not relative.startswith("tmp"):
            fingerprint[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return fingerprint


def database_fingerprint(
    db: Path, ignore_columns: Collection[str] = (), ignore_rows: Mapping[str, str] | None = None
) -> dict[str, tuple]:
    """Rows and a hash of every column of every table but floating-point ones (sums may differ in the last
    bits between two builds of the same lake), times of ingest and ``ignore_columns`` (``schema.table.column``
    names), without the rows ``ignore_rows`` names (table -> SQL condition): equal means the same content."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.sql(
            "select schema_name, table_name from duckdb_tables() where schema_name <> 'meta' order by all"
        ).fetchall()
        fingerprint = {}
        for schema, table in tables:
            columns = [
                f'"{name}"'
                for name, kind in con.sql(
                    "select column_name, data_type from duckdb_columns() "
                    f"where schema_name = '{schema}' and table_name = '{table}'"
                ).fetchall()
                if kind not in ("DOUBLE", "FLOAT", "TIMESTAMP WITH TIME ZONE")
                and f"{schema}.{table}.{name}" not in ignore_columns
            ]
            skipped = (ignore_rows or {}).get(f"{schema}.{table}")
            where = f" where not ({skipped})" if skipped else ""
            fingerprint[f"{schema}.{table}"] = con.sql(
                f"select count(*), sum(hash({', '.join(columns)})) from {schema}.{table}{where}"
            ).fetchall()[0]
        state = con.sql("select quarter, ingest_id, partial from meta.lake_state order by all").fetchall()
        fingerprint["meta.lake_state"] = tuple(state)
    return fingerprint


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
            t: [] for t in ("demo", "drug", "reac", "outc", "rpsr", "ther", "indi")
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
        self.tables["rpsr"].append(key | {"rpsr_cod": "HP"})

    def write(self, root: Path) -> None:
        folder = root / str(self.quarter)
        folder.mkdir(parents=True)
        for table, rows in self.tables.items():
            write_faers_table(folder, table, self.quarter, rows)
        if self.deleted or self.quarter >= FIRST_DELETED_LIST:
            deleted = "".join(f"{caseid}\n" for caseid in self.deleted)
            (folder / f"DELETE{self.quarter.short}.txt").write_text(deleted)
