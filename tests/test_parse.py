"""pv.parse on real FDA extracts (both layouts, 2012Q4 drift) and on one fixture per documented quirk."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

from pv import parse
from pv.errors import UserError
from pv.parse import count_blank_lines, map_header, parse_table_file, profile_file, profile_stream
from pv.quarters import Quarter
from pv.schema import fda_header

FAERS = Path(__file__).parent / "fixtures" / "faers"
QUIRKS = Path(__file__).parent / "fixtures" / "quirks"

LEGACY_DEMO_COLUMNS = fda_header("demo", Quarter(2012, 1))
LEGACY_DEMO_HEADER = "$".join(LEGACY_DEMO_COLUMNS)
# DEMO12Q1 line 105917 as FDBS quotes it (faers_format.md §2), but for mfr_num.
_DEMO12Q1_RECORD = {
    "CASE": "8401177",
    "I_F_COD": "I",
    "EVENT_DT": "20120126",
    "MFR_DT": "20120206",
    "FDA_DT": "20120210",
    "REPT_COD": "EXP",
    "MFR_NUM": "US-CUBIST-E2B0000000100",
    "MFR_SNDR": "CUBIST PHARMACEUTICALS, INC.",
    "AGE": "85",
    "AGE_COD": "YR",
    "GNDR_COD": "M",
    "E_SUB": "Y",
    "REPT_DT": "20120210",
    "OCCP_COD": "PH",
    "REPORTER_COUNTRY": "JAPAN",
}


def _legacy_demo(isr: str, **values: str) -> str:
    """One legacy DEMO data line (ending in the legacy stray '$'); keyword names are header columns."""
    record = _DEMO12Q1_RECORD | {"ISR": isr, "IMAGE": f"{isr}-9"} | {k.upper(): v for k, v in values.items()}
    return "$".join(record.get(column, "") for column in LEGACY_DEMO_COLUMNS) + "$"


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _parse(con, path: Path, table: str, quarter: str, out: Path):
    profile = profile_file(path)
    result = parse_table_file(con, path, table, quarter, profile, out, path.name)
    rows = con.sql(f"select * from read_parquet('{out}/*.parquet')").df()
    return result, rows


def test_profile_counts_lines_blank_lines_and_encoding():
    data = b"\xef\xbb\xbfprimaryid$pt\r\n1$Rash\r\n\r\n2$Caf\xc3\xa9\r\n\r\n3$x"
    profile = profile_stream(io.BytesIO(data))
    assert profile.lines == 5  # 1, blank, 2, blank, 3 (no final newline)
    assert count_blank_lines(io.BytesIO(data)) == 2
    assert profile.encoding == "utf-8"
    assert profile.header == "primaryid$pt"
    assert profile.bytes == len(data)
    assert profile_stream(io.BytesIO(b"isr$pt\n1$R\xe9SH\n")).encoding == "utf-8|windows-1252"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7])
def test_profile_blank_lines_across_chunk_boundaries(monkeypatch, chunk):
    monkeypatch.setattr(parse, "CHUNK_BYTES", chunk)
    data = b"h$x\n\n\n1$a\r\n\r\n2$b\n\n"
    assert profile_stream(io.BytesIO(data)).lines == 6  # h$x | "" "" 1$a "" 2$b ""
    assert count_blank_lines(io.BytesIO(data)) == 4


def test_profile_copies_to_sink():
    sink = io.BytesIO()
    profile_stream(io.BytesIO(b"a$b\n1$2\n"), sink)
    assert sink.getvalue() == b"a$b\n1$2\n"


def test_legacy_2004q1_demo_rewritten_by_r(con, tmp_path):
    """The reference copy of DEMO04Q1 has R's extra 'v23' header column for the legacy trailing '$'."""
    result, rows = _parse(con, FAERS / "2004q1/ascii/DEMO04Q1.TXT", "demo", "2004Q1", tmp_path)
    assert (result.layout, result.rows, result.lines_rejected, result.profile.lines) == ("laers", 100, 0, 100)
    first = rows.sort_values("primaryid").iloc[0]
    assert first["primaryid"] == "4263742"
    assert first["caseid"] == "4061110"
    assert first["image"] == "4263742-7"
    assert first["mfr_sndr"] == "BIOVAIL PHARMACEUTICALS INC."
    assert first["sex"] == "F"
    assert first["caseversion"] is None or first["caseversion"] != first["caseversion"]
    assert set(rows["layout"]) == {"laers"}
    assert set(rows["quarter"]) == {"2004Q1"}


def test_legacy_drug_keeps_zero_padded_nda_and_big_drug_seq(con, tmp_path):
    result, rows = _parse(con, FAERS / "2004q1/ascii/DRUG04Q1.TXT", "drug", "2004Q1", tmp_path)
    assert result.rows == 386
    tavor = rows[(rows.primaryid == "4263742") & (rows.drug_seq == "1004492716")].iloc[0]
    assert (tavor.drugname, tavor.role_cod, tavor.nda_num) == ("TAVOR", "PS", "17794")


@pytest.mark.parametrize(
    ("file_name", "table", "rows"),
    [
        ("THER04Q1.TXT", "ther", 145),
        ("INDI04Q1.TXT", "indi", 124),
        ("REAC04Q1.TXT", "reac", 416),
        ("OUTC04Q1.TXT", "outc", 93),
        ("RPSR04Q1.TXT", "rpsr", 119),
    ],
)
def test_legacy_child_tables(con, tmp_path, file_name, table, rows):
    result, frame = _parse(con, FAERS / "2004q1/ascii" / file_name, table, "2004Q1", tmp_path)
    assert (result.rows, result.lines_rejected) == (rows, 0)
    assert frame["caseid"].isna().all()  # legacy child tables carry only ISR


def test_2012q4_header_drift(con, tmp_path):
    """2012Q4: ' rept_dt' with a leading space, gndr_cod, lot_nbr with a BOM and CRLF, outc_code."""
    result, demo = _parse(con, FAERS / "2012q4/ten_row_heads/demo12q4.txt", "demo", "2012Q4", tmp_path / "d")
    assert result.rows == 9
    assert demo["rept_dt"].notna().sum() == 9
    assert demo["sex"].notna().all()
    assert "COUNTRY NOT SPECIFIED" in set(demo["reporter_country"])
    result, drug = _parse(
        con, FAERS / "2012q4/drug_head_99rows/DRUG12Q4_head.txt", "drug", "2012Q4", tmp_path / "r"
    )
    assert (result.rows, result.lines_rejected, result.profile.lines) == (99, 0, 99)
    assert drug["prod_ai"].isna().all()
    assert drug["nda_num"].str.startswith("0").sum() == 32
    assert not drug["dose_freq"].fillna("").str.endswith("\r").any()
    result, outc = _parse(con, FAERS / "2012q4/ten_row_heads/outc12q4.txt", "outc", "2012Q4", tmp_path / "o")
    assert result.rows == 10 and outc["outc_cod"].notna().all()


def test_faers_2025q4_sample_loads_every_row(con, tmp_path):
    result, drug = _parse(con, FAERS / "2025q4/DRUG25Q4.txt", "drug", "2025Q4", tmp_path)
    assert (result.rows, result.lines_rejected) == (6291, 0)
    assert drug["primaryid"].str.len().max() >= 10  # > 2^31, kept as text
    assert (drug["prod_ai"] == "FAM-TRASTUZUMAB DERUXTECAN-NXKI").any()


def test_stray_dollar_and_embedded_newline_in_legacy_demo(con, tmp_path):
    """DEMO12Q1 quirks: mfr_num 'JP-CUBIST-$E2B0000000182' and a record split by a newline before '$'."""
    result, rows = _parse(con, QUIRKS / "2012q1/DEMO12Q1.TXT", "demo", "2012Q1", tmp_path)
    assert result.profile.lines == 8
    assert (result.rows_direct, result.rows_from_repairs, result.lines_repaired) == (3, 2, 3)
    assert result.blank_lines == 1
    assert [(r.line_no, r.raw_line) for r in result.rejects] == [(7, "8000005$7000005$I$$")]
    by_id = rows.set_index("primaryid")
    assert by_id.loc["8000002", "mfr_num"] == "JP-CUBIST-$E2B0000000182"
    assert by_id.loc["8000002", "reporter_country"] == "JAPAN"
    assert by_id.loc["8000003", "rept_cod"] == "EXP"
    assert by_id.loc["8000003", "age"] == "45"
    assert by_id.loc["8000004", "mfr_num"] == 'US-ROCHE-"QUOTED'
    assert by_id.loc["8000004", "reporter_country"] == "COTE D'IVOIRE"
    assert sorted(rows["primaryid"]) == ["8000001", "8000002", "8000003", "8000004", "8000006"]


def test_run_on_line_del_byte_and_latin1_in_legacy_drug(con, tmp_path):
    """DRUG11Q2-style run-on line (two records glued), a DEL byte (DRUG11Q4) and a Latin-1 byte."""
    result, rows = _parse(con, QUIRKS / "2011q2/DRUG11Q2.TXT", "drug", "2011Q2", tmp_path)
    assert result.encoding == "utf-8|windows-1252"
    assert [(line.line_no, line.raw, line.rule) for line in result.decoded] == [
        (5, b"9000004$1000000005$C$CAF\xc9 EXTRACT$1$ORAL$$Y$U$$$020702$", "windows-1252")
    ]
    assert (result.rows_direct, result.rows_from_repairs, result.lines_repaired, result.lines_rejected) == (
        3,
        2,
        1,
        0,
    )
    names = dict(zip(rows["drug_seq"], rows["drugname"], strict=True))
    assert names == {
        "1000000001": "TAXOTERE",
        "1000000002": "HERCEPTIN",
        "1000000003": "ASPIRIN",
        "1000000004": "ODD\x7fNAME",
        "1000000005": "CAF\u00c9 EXTRACT",
    }


def test_faers_truncated_line_is_rejected_with_its_line_number(con, tmp_path):
    path = tmp_path / "REAC23Q1.txt"
    path.write_text("primaryid$caseid$pt$drug_rec_act\n1001$100$Rash$\n1002$100\n1003$100$Pyrexia$\n")
    result, rows = _parse(con, path, "reac", "2023Q1", tmp_path / "out")
    assert result.rows == 2
    assert [(r.line_no, r.raw_line, r.reason) for r in result.rejects] == [
        (3, "1002$100", "MISSING COLUMNS: 2 fields, header has 4")
    ]


def test_quotes_never_swallow_rows(con, tmp_path):
    path = tmp_path / "DRUG23Q1.txt"
    header = "primaryid$caseid$drug_seq$role_cod$drugname"
    path.write_text(f'{header}\n1$1$1$PS$"TYLENOL\n2$2$1$PS$ASPIRIN "BAYER"\n3$3$1$PS$5" NEEDLE\n')
    result, rows = _parse(con, path, "drug", "2023Q1", tmp_path / "out")
    assert result.rows == 3
    assert sorted(rows["drugname"]) == ['"TYLENOL', '5" NEEDLE', 'ASPIRIN "BAYER"']


def test_unknown_column_is_a_one_line_error():
    with pytest.raises(UserError, match=r"DRUG99Q1.txt: unknown column 'dosage' in the DRUG header"):
        map_header("drug", "primaryid$caseid$dosage", "DRUG99Q1.txt")


def test_csv_copy_is_not_a_faers_layout(tmp_path):
    header = (FAERS / "2025q2_csv/demo.csv").read_text().splitlines()[0]
    with pytest.raises(UserError, match="demo.csv: unknown layout"):
        map_header("demo", header, "demo.csv")


def test_legacy_thers_drug_seq_maps_to_dsg_drug_seq():
    mapped = map_header("ther", "ISR$DRUG_SEQ$START_DT$END_DT$DUR$DUR_COD", "THER04Q1.TXT")
    assert mapped.file_columns == ("primaryid", "dsg_drug_seq", "start_dt", "end_dt", "dur", "dur_cod")
    assert mapped.layout == "laers"


def test_extra_empty_fields_are_never_dropped_silently(con, tmp_path):
    """DuckDB 2.0 drops trailing empty fields beyond the schema without a reject, even in strict mode.

    A stray '$' in mfr_num followed by empty last fields would then load shifted by one column; the
    loader takes such lines back out and repairs them where FDA published that defect, else rejects them.
    """
    header = (
        "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$rept_cod$mfr_num$mfr_sndr"
    )
    lines = [
        header,
        "101$10$1$I$$$$20230101$EXP$US-A-1$ALPHA",
        "102$11$1$I$$$$20230101$EXP$JP-CUBIST-$E2B0000000182$",  # stray $ and an empty last field
        "103$12$1$I$$$$20230101$EXP$US-B-2$$$",  # two extra empty fields, nothing to repair
    ]
    path = tmp_path / "DEMO23Q1.txt"
    path.write_text("\n".join(lines) + "\n")
    result, rows = _parse(con, path, "demo", "2023Q1", tmp_path / "out")
    assert (result.rows_direct, result.rows_from_repairs, result.lines_repaired) == (1, 0, 0)
    assert [(r.line_no, r.raw_line, r.reason) for r in result.rejects] == [
        (3, lines[2], "EXTRA EMPTY FIELDS: 12 fields, header has 11"),
        (4, lines[3], "EXTRA EMPTY FIELDS: 13 fields, header has 11"),
    ]
    assert list(rows["primaryid"]) == ["101"]


def test_extra_empty_fields_in_demo12q1_are_repaired(con, tmp_path):
    """The same stray '$' in DEMO12Q1 (legacy, every row ends with '$') is the documented defect."""
    after_mfr_num = LEGACY_DEMO_COLUMNS[LEGACY_DEMO_COLUMNS.index("MFR_NUM") + 1 :]
    lines = [
        LEGACY_DEMO_HEADER,
        _legacy_demo("8129731"),
        _legacy_demo("8129732", mfr_num="JP-CUBIST-$E2B0000000182", **dict.fromkeys(after_mfr_num, "")),
    ]
    path = tmp_path / "DEMO12Q1.TXT"
    path.write_text("\n".join(lines) + "\n")
    result, rows = _parse(con, path, "demo", "2012Q1", tmp_path / "out")
    assert (result.rows_direct, result.rows_from_repairs, result.lines_repaired, result.rejects) == (
        1,
        1,
        1,
        [],
    )
    by_id = rows.set_index("primaryid")
    assert by_id.loc["8129732", "mfr_num"] == "JP-CUBIST-$E2B0000000182"
    assert by_id.loc["8129732"].isna()["mfr_sndr"]


def test_lines_with_many_fields_spans_chunks(monkeypatch, tmp_path):
    monkeypatch.setattr(parse, "CHUNK_BYTES", 5)
    path = tmp_path / "x.txt"
    path.write_text("a$b\n1$2\n1$2$3$4\n5$6\r\n7$8$$\n")
    assert parse.lines_with_many_fields(path, 2, "utf-8") == [(3, "1$2$3$4"), (5, "7$8$$")]


def test_bytes_are_decoded_line_by_line(con, tmp_path):
    """UTF-8 where valid, else Windows-1252 (Latin-1 for the bytes it leaves undefined), one line at a time:
    a CP1252 quote or a stray 0x81 in one drug name changes neither the other lines nor the file's load.
    NUL bytes are removed, other control characters kept; every line read otherwise is kept as bytes."""
    header = b"primaryid$caseid$drug_seq$role_cod$drugname$prod_ai\n"
    lines = [
        b"1$1$1$PS$TAXOL$PACLITAXEL",
        b"2$2$1$PS$\x93TAXOL\x94$PACLITAXEL",
        b"3$3$1$PS$ASPIRIN\x81$",
        b"4$4$1$PS$CAF\xc3\xa9$",
        b"5$5$1$PS$HERCEP\x00TIN$",
        b"6$6$1$PS$X\x01Y$",
    ]
    path = tmp_path / "DRUG23Q1.txt"
    path.write_bytes(header + b"\n".join(lines) + b"\n")
    result, rows = _parse(con, path, "drug", "2023Q1", tmp_path / "out")
    assert (result.encoding, result.rows, result.rejects) == ("utf-8|windows-1252", 6, [])
    assert [(line.line_no, line.raw, line.rule) for line in result.decoded] == [
        (3, lines[1], "windows-1252"),
        (4, lines[2], "windows-1252+latin-1"),
        (6, lines[4], "nul removed"),
    ]
    assert (result.profile.nul_bytes, result.profile.control_chars) == (1, 1)
    assert list(rows.sort_values("primaryid")["drugname"]) == [
        "TAXOL",
        "\u201cTAXOL\u201d",
        "ASPIRIN\x81",
        "CAF\u00e9",
        "HERCEPTIN",
        "X\x01Y",
    ]


def test_keys_that_are_not_plain_digits_are_rejected(con, tmp_path):
    lines = [
        "primaryid$caseid$caseversion$i_f_code",
        "1$1$1$I",
        "12A45$2$1$I",
        "123456789012345678901234567890$3$1$I",
        "$4$1$I",
        "5$5$x$I",
        "6$\u0663$1$I",  # an Arabic-Indic digit: str.isdigit() says yes, FAERS says no
    ]
    path = tmp_path / "DEMO23Q1.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, rows = _parse(con, path, "demo", "2023Q1", tmp_path / "out")
    assert list(rows["primaryid"]) == ["1"]
    assert [(r.line_no, r.reason) for r in result.rejects] == [
        (3, "BAD KEY: primaryid '12A45' is not 1-15 digits"),
        (4, "BAD KEY: primaryid '123456789012345678901234567890' is not 1-15 digits"),
        (5, "BAD KEY: primaryid is empty"),
        (6, "BAD KEY: caseversion 'x' is not 1-5 digits"),
        (7, "BAD KEY: caseid '\u0663' is not 1-10 digits"),
    ]
    assert [r.raw_line for r in result.rejects] == lines[2:]


@pytest.mark.parametrize(
    ("quarter", "values", "why"),
    [
        # A stray '$' inside event_dt on a row whose mfr_num has digits: re-joining fields would produce
        # a plausible but wrong row, so it is not the documented DEMO12Q1 defect.
        (
            "2012Q1",
            {"event_dt": "2012$0126", "mfr_num": "US-12345"},
            "TOO MANY COLUMNS: 24 fields, header has 23",
        ),
        # The exact DEMO12Q1 shape, but in a quarter FDA never published it in.
        ("2012Q2", {"mfr_num": "JP-CUBIST-$E2B0000000182"}, "EXTRA EMPTY FIELDS: 24 fields, header has 23"),
    ],
)
def test_repair_look_alikes_are_rejected_not_repaired(con, tmp_path, quarter, values, why):
    after_mfr_num = LEGACY_DEMO_COLUMNS[LEGACY_DEMO_COLUMNS.index("MFR_NUM") + 1 :]
    if "event_dt" not in values:
        values |= dict.fromkeys(after_mfr_num, "")
    lines = [LEGACY_DEMO_HEADER, _legacy_demo("8129731"), _legacy_demo("8129732", **values)]
    path = tmp_path / f"DEMO{Quarter.parse(quarter).short}.TXT"
    path.write_text("\n".join(lines) + "\n")
    result, rows = _parse(con, path, "demo", quarter, tmp_path / "out")
    assert (result.rows_direct, result.rows_from_repairs, result.lines_repaired) == (1, 0, 0)
    assert [(r.line_no, r.raw_line) for r in result.rejects] == [(3, lines[2])]
    assert result.rejects[0].reason.startswith(why)
    assert list(rows["primaryid"]) == ["8129731"]


def test_glued_records_outside_2011_are_rejected(con, tmp_path):
    """DRUG11Q2–Q4 published two records glued on one line; the same shape elsewhere is not repaired."""
    header = "primaryid$caseid$drug_seq$role_cod$drugname"
    glued = "1$1$1$PS$TAXOL2$2$1$PS$ASPIRIN"
    path = tmp_path / "DRUG23Q1.txt"
    path.write_text(f"{header}\n{glued}\n3$3$1$PS$HERCEPTIN\n")
    result, rows = _parse(con, path, "drug", "2023Q1", tmp_path / "out")
    assert (result.rows_from_repairs, result.lines_repaired) == (0, 0)
    assert [(r.line_no, r.raw_line) for r in result.rejects] == [(2, glued)]
    assert list(rows["primaryid"]) == ["3"]
