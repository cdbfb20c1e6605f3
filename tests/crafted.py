"""Crafted inputs of a few hundred bytes, and byte-level fingerprints of what is stored.

A crafted quarter is FDA's current layout (the 2017Q2 headers, faers_format.md §4) with one or two data
rows per table, named for any quarter, so that each hostile or incomplete case is one small folder or zip.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import duckdb

from pv.quarters import Quarter
from pv.schema import TABLES

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


def database_fingerprint(db: Path) -> dict[str, tuple]:
    """Rows and a hash of every column of every table but floating-point ones (sums may differ in the last
    bits between two builds of the same lake) and times of ingest: equal means the same content."""
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
            ]
            fingerprint[f"{schema}.{table}"] = con.sql(
                f"select count(*), sum(hash({', '.join(columns)})) from {schema}.{table}"
            ).fetchall()[0]
        state = con.sql("select quarter, ingest_id, partial from meta.lake_state order by all").fetchall()
        fingerprint["meta.lake_state"] = tuple(state)
    return fingerprint
