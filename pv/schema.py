"""FAERS/AERS table layouts: FDA's headers by era and the one rename table onto our column names.

Every header drift handled here names its quarter and source (``faers_format.md`` §4, §5, §7).
"""

from __future__ import annotations

from dataclasses import dataclass

from pv.quarters import Quarter

TABLES: tuple[str, ...] = ("demo", "drug", "reac", "outc", "rpsr", "ther", "indi")

# Canonical raw columns per table: the current FAERS names, then legacy-only columns.
COLUMNS: dict[str, tuple[str, ...]] = {
    "demo": (
        "primaryid",
        "caseid",
        "caseversion",
        "i_f_code",
        "event_dt",
        "mfr_dt",
        "init_fda_dt",
        "fda_dt",
        "rept_cod",
        "auth_num",
        "mfr_num",
        "mfr_sndr",
        "lit_ref",
        "age",
        "age_cod",
        "age_grp",
        "sex",
        "e_sub",
        "wt",
        "wt_cod",
        "rept_dt",
        "to_mfr",
        "occp_cod",
        "reporter_country",
        "occr_country",
        # legacy AERS only (dropped in FAERS for privacy, FAQ #5; foll_seq replaced by caseversion, FAQ #10)
        "foll_seq",
        "image",
        "death_dt",
        "confid",
    ),
    "drug": (
        "primaryid",
        "caseid",
        "drug_seq",
        "role_cod",
        "drugname",
        "prod_ai",
        "val_vbm",
        "route",
        "dose_vbm",
        "cum_dose_chr",
        "cum_dose_unit",
        "dechal",
        "rechal",
        "lot_num",
        "exp_dt",
        "nda_num",
        "dose_amt",
        "dose_unit",
        "dose_form",
        "dose_freq",
    ),
    "reac": ("primaryid", "caseid", "pt", "drug_rec_act"),
    "outc": ("primaryid", "caseid", "outc_cod"),
    "rpsr": ("primaryid", "caseid", "rpsr_cod"),
    "ther": ("primaryid", "caseid", "dsg_drug_seq", "start_dt", "end_dt", "dur", "dur_cod"),
    "indi": ("primaryid", "caseid", "indi_drug_seq", "indi_pt"),
}

# Header name (trimmed, lower case) -> canonical column, for names that differ from ours.
_ALIASES_ALL_TABLES: dict[str, str] = {
    "isr": "primaryid",  # legacy AERS report id (2004Q1-2012Q3)
    "case": "caseid",  # legacy AERS case number
    "i_f_cod": "i_f_code",  # legacy DEMO header
    "gndr_cod": "sex",  # DEMO until 2014Q2 (ASC revision history)
    "lot_nbr": "lot_num",  # 2012Q4 DRUG header
    "outc_code": "outc_cod",  # 2012Q4 OUTC header
}
_ALIASES_BY_TABLE: dict[str, dict[str, str]] = {
    # legacy THER/INDI link to DRUG through DRUG_SEQ (ASC §G)
    "ther": {"drug_seq": "dsg_drug_seq"},
    "indi": {"drug_seq": "indi_drug_seq"},
}

LAYOUT_LEGACY = "laers"
LAYOUT_FAERS = "faers"

_LEGACY_V1 = {
    "demo": "ISR CASE I_F_COD FOLL_SEQ IMAGE EVENT_DT MFR_DT FDA_DT REPT_COD MFR_NUM MFR_SNDR AGE "
    "AGE_COD GNDR_COD E_SUB WT WT_COD REPT_DT OCCP_COD DEATH_DT TO_MFR CONFID",
    "drug": "ISR DRUG_SEQ ROLE_COD DRUGNAME VAL_VBM ROUTE DOSE_VBM DECHAL RECHAL LOT_NUM EXP_DT NDA_NUM",
    "reac": "ISR PT",
    "outc": "ISR OUTC_COD",
    "rpsr": "ISR RPSR_COD",
    "ther": "ISR DRUG_SEQ START_DT END_DT DUR DUR_COD",
    "indi": "ISR DRUG_SEQ INDI_PT",
}
_FAERS_2014Q3 = {
    "demo": "primaryid caseid caseversion i_f_code event_dt mfr_dt init_fda_dt fda_dt rept_cod "
    "auth_num mfr_num mfr_sndr lit_ref age age_cod age_grp sex e_sub wt wt_cod rept_dt to_mfr "
    "occp_cod reporter_country occr_country",
    "drug": "primaryid caseid drug_seq role_cod drugname prod_ai val_vbm route dose_vbm cum_dose_chr "
    "cum_dose_unit dechal rechal lot_num exp_dt nda_num dose_amt dose_unit dose_form dose_freq",
    "reac": "primaryid caseid pt drug_rec_act",
    "outc": "primaryid caseid outc_cod",
    "rpsr": "primaryid caseid rpsr_cod",
    "ther": "primaryid caseid dsg_drug_seq start_dt end_dt dur dur_cod",
    "indi": "primaryid caseid indi_drug_seq indi_pt",
}
_FAERS_2012Q4 = {
    "demo": "primaryid caseid caseversion i_f_code event_dt mfr_dt init_fda_dt fda_dt rept_cod "
    "mfr_num mfr_sndr age age_cod gndr_cod e_sub wt wt_cod rept_dt to_mfr occp_cod "
    "reporter_country occr_country",
    "drug": "primaryid caseid drug_seq role_cod drugname val_vbm route dose_vbm cum_dose_chr "
    "cum_dose_unit dechal rechal lot_num exp_dt nda_num dose_amt dose_unit dose_form dose_freq",
    "reac": "primaryid caseid pt",
    "outc": "primaryid caseid outc_cod",
    "rpsr": "primaryid caseid rpsr_cod",
    "ther": "primaryid caseid dsg_drug_seq start_dt end_dt dur dur_cod",
    "indi": "primaryid caseid indi_drug_seq indi_pt",
}

REPORTER_COUNTRY_FROM = Quarter(2005, 3)  # legacy DEMO "version B" (FDBS)
FAERS_2014Q3 = Quarter(2014, 3)  # +auth_num, lit_ref, age_grp, sex, prod_ai, drug_rec_act (ASC)
FAERS_2012Q4 = Quarter(2012, 4)


def fda_header(table: str, quarter: Quarter) -> list[str]:
    """The header line FDA published for ``table`` in ``quarter``, field by field, quirks included."""
    if quarter.is_legacy:
        names = _LEGACY_V1[table].split()
        if table == "demo" and quarter >= REPORTER_COUNTRY_FROM:
            names.append("REPORTER_COUNTRY")
        return names
    if quarter >= FAERS_2014Q3:
        return _FAERS_2014Q3[table].split()
    names = _FAERS_2012Q4[table].split()
    if quarter == FAERS_2012Q4:
        # 2012Q4 only: " rept_dt" with a leading space, lot_nbr, outc_code (faers_format.md §2, §4).
        names = [
            {"rept_dt": " rept_dt", "lot_num": "lot_nbr", "outc_cod": "outc_code"}.get(name, name)
            for name in names
        ]
    return names


def canonical_column(table: str, header_name: str) -> str | None:
    """Our column for one header field, or ``None`` when the name is unknown for ``table``."""
    name = header_name.strip().lower()
    name = _ALIASES_BY_TABLE.get(table, {}).get(name, name)
    name = _ALIASES_ALL_TABLES.get(name, name)
    return name if name in COLUMNS[table] else None


def layout_of(header_names: list[str]) -> str | None:
    """``laers`` when the header is keyed by ISR, ``faers`` when by primaryid, else ``None``."""
    first = header_names[0].strip().lower() if header_names else ""
    if first == "isr":
        return LAYOUT_LEGACY
    if first == "primaryid":
        return LAYOUT_FAERS
    return None


# ---------------------------------------------------------------------------------------------- keys
# Key columns hold plain ASCII digits. Bounds are the longest value seen plus room to grow: primaryid is
# caseid || caseversion (faers_format.md §3: up to 11 digits, > 2^31), caseids have 7-8 digits, caseversion
# reaches 115, legacy AERS DRUG_SEQ has 10 digits (1004492716 in DRUG04Q1). Legacy ISR and CASE are mapped
# onto primaryid and caseid, legacy DRUG_SEQ onto dsg_drug_seq / indi_drug_seq in THER / INDI.
KEY_DIGITS: dict[str, int] = {
    "primaryid": 15,
    "caseid": 10,
    "caseversion": 5,
    "drug_seq": 12,
    "dsg_drug_seq": 12,
    "indi_drug_seq": 12,
}

# What identifies one row of each table, for counting repeated keys (kept: FDA publishes some). DEMO has one
# row per primaryid (ASC §B); FAERS publishes several DRUG rows per drug_seq from 2021Q4 (one per dose
# regimen, FAQ #47); THER has 0..n rows per drug with nothing to tell them apart: only verbatim copies count.
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "demo": ("primaryid",),
    "drug": ("primaryid", "drug_seq"),
    "reac": ("primaryid", "pt"),
    "outc": ("primaryid", "outc_cod"),
    "rpsr": ("primaryid", "rpsr_cod"),
    "ther": COLUMNS["ther"],
    "indi": ("primaryid", "indi_drug_seq", "indi_pt"),
}


def key_problem(column: str, value: str | None) -> str | None:
    """Why ``value`` is not a valid ``column`` key (``None`` when it is); empty fields are read as NULL."""
    limit = KEY_DIGITS[column]
    if value is None or value == "":
        return f"{column} is empty"
    if not (value.isascii() and value.isdigit()) or len(value) > limit:
        return f"{column} {value[:40]!r} is not 1-{limit} digits"
    return None


def is_key_header_name(name: str) -> bool:
    """A header field naming a key column in some table (primaryid, ISR, caseid, CASE, *drug_seq, ...)."""
    return any(canonical_column(table, name) in KEY_DIGITS for table in TABLES)


# ------------------------------------------------------------------------- repairs of documented defects
# Dates are YYYYMMDD, or YYYYMM / YYYY when partial (faers_format.md §6); a repaired row must have them so.
DATE_COLUMNS: frozenset[str] = frozenset(
    {"event_dt", "mfr_dt", "init_fda_dt", "fda_dt", "rept_dt", "death_dt", "start_dt", "end_dt"}
)


@dataclass(frozen=True)
class DocumentedDefect:
    """A structural defect FDA published, repaired only in the table and quarters it comes from."""

    kind: str
    table: str
    first: Quarter
    last: Quarter
    source: str

    def applies(self, table: str, quarter: Quarter) -> bool:
        return table == self.table and self.first <= quarter <= self.last


# faers_format.md §2 ("Structural defects known in real files").
GLUED_RECORDS = DocumentedDefect(
    "glued_records",
    "drug",
    Quarter(2011, 2),
    Quarter(2011, 4),
    "two records on one line: DRUG11Q2 line 322967, DRUG11Q3 line 247896, DRUG11Q4 line 446738",
)
DOLLAR_IN_MFR_NUM = DocumentedDefect(
    "dollar_in_mfr_num",
    "demo",
    Quarter(2012, 1),
    Quarter(2012, 1),
    "mfr_num JP-CUBIST-$E2B0000000182: DEMO12Q1 line 105917",
)
BROKEN_RECORD = DocumentedDefect(
    "broken_record",
    "demo",
    Quarter(2004, 1),
    Quarter(2012, 3),
    "legacy DEMO records broken by a newline before '$' (the FDBS legacy DEMO loader re-joins them)",
)
DOCUMENTED_DEFECTS: tuple[DocumentedDefect, ...] = (GLUED_RECORDS, DOLLAR_IN_MFR_NUM, BROKEN_RECORD)
