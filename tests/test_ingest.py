"""pv.ingest on real FDA extracts: counts reconcile, re-ingest replaces, failures change nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from pv import ingest as ingest_module
from pv.errors import UserError
from pv.ingest import ingest
from pv.quarters import Quarter

QUIRKS = Path(__file__).parent / "fixtures" / "quirks"

# Data rows per table in the reference extracts (faers-samples/PROVENANCE.md).
SAMPLE_ROWS = {
    "2004Q1": {"demo": 100, "drug": 386, "indi": 124, "outc": 93, "reac": 416, "rpsr": 119, "ther": 145},
    "2017Q2": {"demo": 100, "drug": 328, "indi": 232, "outc": 75, "reac": 286, "rpsr": 2, "ther": 142},
    "2025Q4": {
        "demo": 1000,
        "drug": 6291,
        "indi": 4019,
        "outc": 1312,
        "reac": 4275,
        "rpsr": 31,
        "ther": 1504,
    },
}


def _run(source, data_dir: Path, quarters=None, allow_partial=False, force=False):
    """Ingest without the curated layer: these tests are about the raw load (curated: test_dedup.py)."""
    return ingest(
        source,
        quarters=quarters,
        db_path=data_dir / "pv.duckdb",
        lake=data_dir / "lake",
        work_dir=data_dir / "tmp",
        curate=False,
        allow_partial=allow_partial,
        force=force,
    )


def _counts(db: Path) -> dict[tuple[str, str], int]:
    with duckdb.connect(str(db), read_only=True) as con:
        counts = {}
        for table in ("demo", "drug", "indi", "outc", "reac", "rpsr", "ther", "deleted_cases", "rejects"):
            for quarter, rows in con.sql(f"select quarter, count(*) from raw.{table} group by 1").fetchall():
                counts[(quarter, table)] = rows
        return counts


@pytest.fixture
def loaded(samples, data_dir):
    for source in ("2004q1/aers_ascii_2004q1.zip", "2017q2/faers_ascii_2017q2.zip", "2025q4"):
        _run(samples / source, data_dir)
    return data_dir


def test_real_samples_load_with_exact_counts(loaded):
    counts = _counts(loaded / "pv.duckdb")
    for quarter, tables in SAMPLE_ROWS.items():
        for table, rows in tables.items():
            assert counts[(quarter, table)] == rows, (quarter, table)
    assert counts[("2025Q4", "deleted_cases")] == 4497  # DELETE25Q4.txt: 4,498 lines, the first a lone space
    assert ("2025Q4", "rejects") not in counts


def test_ingest_log_reconciles_every_file(loaded):
    with duckdb.connect(str(loaded / "pv.duckdb"), read_only=True) as con:
        log = con.sql("select * from raw.ingest_log").df()
    assert len(log) == 7 + 7 + 8
    balanced = log["rows"] - log["rows_from_repairs"] + log["lines_repaired"] + log["lines_rejected"]
    assert (balanced + log["blank_lines"] == log["lines"]).all()
    legacy = log[log.quarter == "2004Q1"].set_index("table_name")
    assert set(legacy["layout"]) == {"laers"}
    assert legacy.loc["demo", "bytes"] == 12391
    assert legacy.loc["demo", "sha256"] == "42fdebf38c7662e92fdb2a81c89895d74a4095fa69a3bee0030f309565881714"
    assert (
        legacy.loc["demo", "source_sha256"]
        == "c3b8fb9cafa7f8a9831eae8e58762b268e760d16c3dc8c78590056f35729f5ff"
    )
    # The reference copy of the 2004Q1 zip is a re-zip, not FDA's file: recorded, not fatal.
    assert set(legacy["manifest_status"]) == {"mismatch"}
    deleted = log[log.table_name == "deleted_cases"].iloc[0]
    assert (deleted["lines"], deleted["blank_lines"], deleted["rows"]) == (4498, 1, 4497)
    assert set(log["pipeline_version"]) == {"0.1.0"}


def test_raw_values_are_kept_as_published(loaded):
    with duckdb.connect(str(loaded / "pv.duckdb"), read_only=True) as con:
        ((primaryid, caseid, version),) = con.sql(
            "select primaryid, caseid, caseversion from raw.demo where quarter = '2025Q4' "
            "order by length(primaryid) desc, primaryid desc limit 1"
        ).fetchall()
        zero_padded = con.sql(
            "select count(*) from raw.drug where quarter='2017Q2' and nda_num like '0%'"
        ).fetchall()[0]
    assert primaryid == caseid + version
    assert int(primaryid) > 2**31
    assert zero_padded[0] > 0


def test_reingest_replaces_the_quarter(loaded, samples):
    before = _counts(loaded / "pv.duckdb")
    _run(samples / "2025q4", loaded)
    assert _counts(loaded / "pv.duckdb") == before
    # The DRUG-only head of 2012Q4 and then the ten-row heads: the second replaces the first entirely.
    _run(samples / "2012q4/drug_head_99rows", loaded, allow_partial=True)
    assert _counts(loaded / "pv.duckdb")[("2012Q4", "drug")] == 99
    _run(samples / "2012q4/ten_row_heads", loaded)
    after = _counts(loaded / "pv.duckdb")
    assert after[("2012Q4", "drug")] == 10 and after[("2012Q4", "demo")] == 9


def test_repairs_and_rejects_are_stored(data_dir):
    source = data_dir.parent / "quirk_quarter"
    source.mkdir()
    shutil.copy(QUIRKS / "2012q1/DEMO12Q1.TXT", source)
    (report,) = _run(source, data_dir, allow_partial=True)  # DEMO only
    assert (report.rows, report.repaired, report.rejects) == (5, 3, 1)
    with duckdb.connect(str(data_dir / "pv.duckdb"), read_only=True) as con:
        rejects = con.sql("select quarter, table_name, line_no, raw_line, reason from raw.rejects").fetchall()
        log = con.sql(
            "select lines, blank_lines, rows, rows_from_repairs, lines_repaired, lines_rejected "
            "from raw.ingest_log"
        ).fetchall()
    assert rejects == [
        ("2012Q1", "demo", 7, "8000005$7000005$I$$", "MISSING COLUMNS: 4 fields, header has 23")
    ]
    assert log == [(8, 1, 5, 2, 3, 1)]


def test_failure_midway_leaves_previous_state(loaded, samples, monkeypatch):
    before = _counts(loaded / "pv.duckdb")
    real_parse = ingest_module.parse_table_file

    def failing(con, path, table, *args, **kwargs):
        if table == "reac":
            raise OSError("disk full")
        return real_parse(con, path, table, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "parse_table_file", failing)
    with pytest.raises(OSError, match="disk full"):
        _run(samples / "2025q4", loaded)
    assert _counts(loaded / "pv.duckdb") == before
    assert not any((loaded / "lake" / ".staging").iterdir())
    assert not any((loaded / "tmp").iterdir())


def test_too_many_rejects_stops_without_storing(data_dir, samples):
    source = data_dir.parent / "bad"
    source.mkdir()
    header = (samples / "2025q4/REAC25Q4.txt").read_text().splitlines()[0]
    (source / "REAC25Q4.txt").write_text(header + "\n" + "1$2\n" * 200)
    with pytest.raises(UserError, match=r"REAC25Q4.txt: 200 of 200 lines rejected"):
        _run(source, data_dir, allow_partial=True)
    assert not (data_dir / "lake" / "quarter=2025Q4").exists()


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pv.ingest as ingest_module
    real = ingest_module.parse_table_file
    def slow(con, path, table, *args, **kwargs):
        result = real(con, path, table, *args, **kwargs)
        if table == "drug":
            Path(sys.argv[2]).write_text("paused")
            time.sleep(60)
        return result
    ingest_module.parse_table_file = slow
    from pv.cli import main
    sys.exit(main(["ingest", sys.argv[1], "--quiet", "--raw-only"]))
    """
)


def test_killed_ingest_then_rerun_equals_uninterrupted(loaded, samples, tmp_path):
    before = _counts(loaded / "pv.duckdb")
    marker = tmp_path / "paused"
    env = os.environ | {"PV_DATA_DIR": str(loaded)}
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(samples / "2025q4"), str(marker)], env=env
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the ingest never reached the DRUG table"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _counts(loaded / "pv.duckdb") == before  # the old 2025Q4 is intact and queryable
    assert any((loaded / "lake" / ".staging").iterdir())  # the killed run's leftovers
    _run(samples / "2025q4", loaded)
    assert _counts(loaded / "pv.duckdb") == before
    assert not any((loaded / "lake" / ".staging").iterdir())


def test_quarter_filter(samples, data_dir):
    reports = _run(samples / "2017q2/ascii", data_dir, quarters=[Quarter(2017, 2)])
    assert [str(r.quarter) for r in reports] == ["2017Q2"]
    with pytest.raises(UserError, match="no FAERS/AERS quarter files found for 2020Q1"):
        _run(samples / "2017q2/ascii", data_dir, quarters=[Quarter(2020, 1)])


def test_ingest_from_fda_downloads_verifies_and_loads(samples, data_dir, tmp_path, monkeypatch):
    """`pv ingest fda` against a local stand-in for FDA's server, with a manifest of the served zip."""
    from fda_server import Faults, FDAServer

    from pv.cli import main
    from pv.download import sha256_file

    served = tmp_path / "fda"
    served.mkdir()
    zip_path = shutil.copy(samples / "2017q2/faers_ascii_2017q2.zip", served / "faers_ascii_2017q2.zip")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "quarter,file_name,url,bytes,sha256,era\n"
        f"2017Q2,faers_ascii_2017q2.zip,https://fis.fda.gov/content/Exports/faers_ascii_2017q2.zip,"
        f"{Path(zip_path).stat().st_size},{sha256_file(Path(zip_path))},faers\n"
    )
    monkeypatch.setenv("PV_MANIFEST", str(manifest))
    with FDAServer(served, Faults(fail_first=1, cut_after=5000, cut_first=1)) as server:
        monkeypatch.setattr("pv.download.time.sleep", lambda seconds: None)
        code = main(
            ["ingest", "fda", "--quarters", "2017Q2", "--base-url", server.base_url, "--quiet", "--raw-only"]
        )
        ranges = [request.range for request in server.requests]
    assert code == 0
    assert any(r and r.startswith("bytes=") for r in ranges)  # the cut transfer was resumed
    assert (data_dir / "downloads" / "faers_ascii_2017q2.zip").read_bytes() == Path(zip_path).read_bytes()
    counts = _counts(data_dir / "pv.duckdb")
    assert counts[("2017Q2", "demo")] == 100 and counts[("2017Q2", "drug")] == 328
    with duckdb.connect(str(data_dir / "pv.duckdb"), read_only=True) as con:
        assert {row[0] for row in con.sql("select manifest_status from raw.ingest_log").fetchall()} == {
            "match"
        }


def test_row_reconciliation_against_fda_totals(loaded):
    """The 2025Q4 extract is 1,000 of FDA's 385,288 DEMO rows (PROVENANCE.md): 0.26% of the quarter."""
    with duckdb.connect(str(loaded / "pv.duckdb"), read_only=True) as con:
        rows = con.sql(
            "select table_name, fda_rows, loaded_rows, loaded_share from raw.row_reconciliation "
            "where quarter = '2025Q4' order by table_name"
        ).fetchall()
    assert ("demo", 385288, 1000, round(1000 / 385288, 6)) in rows
    assert ("drug", 1815349, 6291, round(6291 / 1815349, 6)) in rows
    assert len(rows) == 7


def test_generated_quarters_reconcile_with_ground_truth(generated):
    """Every file of generated quarters of both layouts: rows, repairs and rejects exactly as planted."""
    import pandas as pd

    expected = pd.read_csv(generated / "ground_truth/expected_rows.csv")
    with duckdb.connect(str(generated / "data/pv.duckdb"), read_only=True) as con:
        log = con.sql("select * from raw.ingest_log").df()
        rejects = con.sql("select quarter, table_name, line_no from raw.rejects order by all").fetchall()
    tables = expected[~expected["table"].str.startswith("deleted")].merge(
        log[log.table_name != "deleted_cases"],
        left_on=["quarter", "table"],
        right_on=["quarter", "table_name"],
        how="outer",
        indicator=True,
    )
    assert (tables["_merge"] == "both").all()
    assert len(tables) == 10 * 7  # ten quarters, seven tables each
    assert (tables["lines_x"] == tables["lines_y"]).all()
    assert (tables["rows_x"] == tables["rows_y"]).all()
    assert (tables["rows_from_repairs_x"] == tables["rows_from_repairs_y"]).all()
    assert (tables["repaired_lines"] == tables["lines_repaired"]).all()
    assert (tables["rejected_lines"] == tables["lines_rejected"]).all()
    # A broken DEMO record (2 lines) in each legacy quarter, glued DRUG records in 2011Q4, the "$" in mfr_num
    # in 2012Q1: repaired only where FDA published them.
    assert tables["lines_repaired"].sum() == 4 * 2 + 1 + 1
    deleted = expected[expected["table"].str.startswith("deleted")].groupby("quarter")["rows"].sum()
    loaded = log[log.table_name == "deleted_cases"].groupby("quarter")["rows"].sum()
    assert deleted.to_dict() == loaded.to_dict()
    quirks = pd.read_csv(generated / "ground_truth/quirks.csv")
    truncated = quirks[quirks.kind == "truncated"]
    assert rejects == sorted(zip(truncated["quarter"], truncated["table"], truncated["line_no"], strict=True))


# Refused inputs: one crafted fixture per case, each ending in one line, exit code 2, and the lake and
# the database byte-for-byte as they were.


@pytest.fixture
def stored(tmp_path, data_dir):
    """A lake and database holding one complete crafted quarter, 2023Q1 (seven tables, a deleted list)."""
    from crafted import crafted_quarter

    from pv.cli import main

    assert (
        main(["ingest", str(crafted_quarter(tmp_path / "complete", "2023Q1")), "--quiet", "--raw-only"]) == 0
    )
    return data_dir


def _refused(capsys, data_dir: Path, *argv: str) -> str:
    """Run ``pv``; assert exit 2, one line on stderr, nothing stored changed and nothing left; the line."""
    from crafted import stored_fingerprint

    from pv.cli import main

    before = stored_fingerprint(data_dir)
    capsys.readouterr()
    assert main([*argv, "--quiet"] if argv[0] == "ingest" else list(argv)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pv: error: "), lines
    assert stored_fingerprint(data_dir) == before
    assert not any((data_dir / "lake" / ".staging").iterdir())
    assert not (data_dir / "tmp").exists() or not any((data_dir / "tmp").iterdir())
    return lines[0].removeprefix("pv: error: ")


def test_incomplete_quarter_is_refused_naming_what_it_lacks(stored, tmp_path, capsys):
    from crafted import crafted_quarter

    no_reac = crafted_quarter(
        tmp_path / "no_reac", "2023Q1", tables=("demo", "drug", "outc", "rpsr", "ther", "indi")
    )
    assert _refused(capsys, stored, "ingest", str(no_reac)) == (
        f"2023Q1: {no_reac} is not a complete quarter, it has no REAC; pass --allow-partial to load it anyway"
    )
    no_list = crafted_quarter(tmp_path / "no_list", "2023Q2", deleted=False)
    assert _refused(capsys, stored, "ingest", str(no_list)).endswith(
        "it has no deleted-case list; pass --allow-partial to load it anyway"
    )


def test_one_misnamed_table_does_not_publish_a_one_table_quarter(stored, tmp_path, capsys):
    from crafted import crafted_quarter

    folder = crafted_quarter(tmp_path / "17q2", "2017Q2")
    (folder / "DEMO17Q3.txt").write_bytes((folder / "DEMO17Q2.txt").read_bytes())  # a typo in one name
    message = _refused(capsys, stored, "ingest", str(folder))
    assert message == (
        f"2017Q3: {folder} is not a complete quarter, it has no DRUG, REAC, OUTC, RPSR, THER, INDI; "
        "pass --allow-partial to load it anyway"
    )  # and 2017Q2, though complete, was not loaded either: every quarter is checked before the first


def test_a_partial_copy_never_replaces_a_complete_one_without_force(stored, tmp_path, capsys):
    import json

    from crafted import crafted_quarter

    from pv.cli import main

    no_reac = crafted_quarter(
        tmp_path / "no_reac", "2023Q1", tables=("demo", "drug", "outc", "rpsr", "ther", "indi")
    )
    assert _refused(capsys, stored, "ingest", str(no_reac), "--allow-partial") == (
        f"2023Q1: {no_reac} has no data for what the stored copy has: REAC (2 rows); "
        "pass --force to replace the stored quarter anyway"
    )
    header_only = crafted_quarter(tmp_path / "header_only", "2023Q1", header_only=("reac",))
    assert _refused(capsys, stored, "ingest", str(header_only)) == (
        f"2023Q1: REAC in {header_only} has no data rows (header only); "
        "pass --allow-partial to load it anyway"
    )
    assert _refused(capsys, stored, "ingest", str(header_only), "--allow-partial").startswith(
        f"2023Q1: {header_only} has no data for what the stored copy has: REAC (2 rows)"
    )
    assert main(["ingest", str(no_reac), "--allow-partial", "--force", "--quiet", "--raw-only"]) == 0
    assert "2023Q1: 12 rows loaded" in capsys.readouterr().out
    publication = json.loads((stored / "lake/quarter=2023Q1/publication.json").read_text())
    assert (publication["partial"], publication["missing"], publication["empty"]) == (True, ["reac"], [])
    with duckdb.connect(str(stored / "pv.duckdb"), read_only=True) as con:
        assert con.sql("select quarter, partial, missing from meta.lake_state").fetchall() == [
            ("2023Q1", True, ["reac"])
        ]
        assert con.sql("select count(*) from raw.reac").fetchall() == [(0,)]


def test_partial_extract_is_loaded_when_allowed_and_says_so(data_dir, samples, capsys):
    from pv.cli import main

    assert (
        main(["ingest", str(samples / "2020q3/heads_10k"), "--allow-partial", "--quiet", "--raw-only"]) == 0
    )
    assert "partial extract: no INDI, deleted-case list" in capsys.readouterr().out
    with duckdb.connect(str(data_dir / "pv.duckdb"), read_only=True) as con:
        assert con.sql("select quarter, partial, missing, empty from meta.lake_state").fetchall() == [
            ("2020Q3", True, ["indi", "deleted_cases"], [])
        ]


def test_empty_quarters_option_is_an_error(stored, capsys, samples):
    assert (
        _refused(capsys, stored, "ingest", str(samples / "2025q4"), "--quarters", "") == "no quarters in ''"
    )


def test_refused_sources_leave_everything_unchanged(stored, tmp_path, capsys):
    from crafted import crafted_quarter, crafted_zip

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT\n")
    linked = crafted_quarter(
        tmp_path / "linked", "2023Q1", tables=("drug", "reac", "outc", "rpsr", "ther", "indi")
    )
    (linked / "DEMO23Q1.txt").symlink_to(secret)
    message = _refused(capsys, stored, "ingest", str(linked))
    assert "symbolic link" in message and "SECRET" not in message
    twice = crafted_quarter(tmp_path / "twice" / "ascii", "2023Q1").parent
    crafted_zip(twice / "faers_ascii_2023q1.zip", {"ASCII/DEMO23Q1.txt": b"primaryid\n"})
    assert _refused(capsys, stored, "ingest", str(twice)).startswith("2023Q1: offered twice, by ")
    line = b"1000011$100001$1$PS$X$X$1$Oral$$$$U$U$$$$$$$\n"
    bomb = crafted_zip(tmp_path / "faers_ascii_2023q1.zip", {"ASCII/DRUG23Q1.txt": line * 100_000})
    assert "refused as a possible zip bomb" in _refused(capsys, stored, "ingest", str(bomb))


def test_not_enough_free_space_is_refused_before_extracting(stored, samples, capsys, monkeypatch):
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(ingest_module.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    message = _refused(capsys, stored, "ingest", str(samples / "2017q2/faers_ascii_2017q2.zip"))
    assert message.startswith(f"{stored / 'tmp'}: not enough free disk space to ingest 2017Q2 (")
    assert message.endswith("MB needed, 0.0 MB free); nothing was changed")


def test_member_inflating_past_its_bound_is_stopped_mid_extraction(stored, samples, monkeypatch, capsys):
    """A member whose declared size passed the check but whose stream does not stop (injected bound)."""
    monkeypatch.setattr(ingest_module, "member_bound", lambda info: 1000)
    message = _refused(capsys, stored, "ingest", str(samples / "2017q2/faers_ascii_2017q2.zip"))
    assert message.startswith("faers_ascii_2017q2.zip:ascii/")
    assert message.endswith(
        ": inflates beyond 1,000 bytes (PV_MAX_MEMBER_BYTES, PV_MAX_ZIP_RATIO); "
        "refused as a possible zip bomb"
    )


def _file_size_limit(limit: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_disk_filling_during_extraction_changes_nothing(stored, tmp_path):
    """A real write failure: the process may not write files beyond 200 kB (RLIMIT_FSIZE; Python ignores
    SIGXFSZ, so the write fails with EFBIG as it would with ENOSPC on a full disk)."""
    from crafted import HEADERS, ROWS, crafted_zip, stored_fingerprint

    members = {
        f"ASCII/{table.upper()}23Q2.txt": "\n".join([HEADERS[table], *ROWS[table]]).encode()
        for table in HEADERS
    }
    members["ASCII/DRUG23Q2.txt"] += ("\n" + ROWS["drug"][0]).encode() * 8000  # 500 kB inflated
    members["Deleted/DELETE23Q2.txt"] = b"9999902\n"
    source = crafted_zip(tmp_path / "faers_ascii_2023q2.zip", members)
    before = stored_fingerprint(stored)
    result = subprocess.run(
        [sys.executable, "-m", "pv.cli", "ingest", str(source), "--quiet", "--raw-only"],
        capture_output=True,
        text=True,
        env=os.environ | {"PV_DATA_DIR": str(stored)},
        preexec_fn=_file_size_limit(200_000),
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pv: error: 2023Q2: cannot write ([Errno 27] File too large); nothing of this quarter was stored: "
        "free disk space, then run again"
    )
    assert stored_fingerprint(stored) == before
    assert not any((stored / "lake" / ".staging").iterdir()) and not any((stored / "tmp").iterdir())


def test_dead_runs_work_folders_are_cleared_and_only_theirs(stored, tmp_path, samples):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = stored / "tmp" / f"2023Q1-p{dead.pid}-0123abcd"
    running = stored / "tmp" / f"2023Q1-p{os.getppid()}-0123abcd"  # a live process's
    for folder in (left, running):
        folder.mkdir(parents=True)
        (folder / "DRUG23Q1.txt").write_text("half-extracted")
    _run(samples / "2017q2/faers_ascii_2017q2.zip", stored)
    assert not left.exists() and running.exists()


def test_real_world_bytes_keys_and_duplicates_are_loaded_and_counted(tmp_path, data_dir):
    """One crafted 2023Q1: CP1252 and stray bytes in DRUG, a verbatim duplicate DRUG row and a repeated
    (primaryid, drug_seq) with another drug, a NUL in REAC, garbage in the deleted-case list. Everything
    loads or is rejected with a reason, and every count is stored."""
    from crafted import HEADERS, crafted_quarter

    folder = crafted_quarter(tmp_path / "in", "2023Q1")
    drug = [
        b"1000011$100001$1$PS$\x93PACLITAXEL\x94$PACLITAXEL$1$Intravenous$$$$U$U$$$$$$$",
        b"1000021$100002$1$PS$ASPIRIN\x81$ASPIRIN$1$Oral$$$$U$U$$$$$$$",
        b"1000021$100002$1$PS$ASPIRIN\x81$ASPIRIN$1$Oral$$$$U$U$$$$$$$",
        b"1000021$100002$1$PS$IBUPROFEN$IBUPROFEN$1$Oral$$$$U$U$$$$$$$",
    ]
    (folder / "DRUG23Q1.txt").write_bytes(HEADERS["drug"].encode() + b"\n" + b"\n".join(drug) + b"\n")
    reac = [b"1000011$100001$Dermato\x00myositis$", b"1000021$100002$Rash$"]
    (folder / "REAC23Q1.txt").write_bytes(HEADERS["reac"].encode() + b"\n" + b"\n".join(reac) + b"\n")
    (folder / "DELETE23Q1.txt").write_text("9999901\nnot a caseid\n12345678901234\n")
    _run(folder, data_dir)

    with duckdb.connect(str(data_dir / "pv.duckdb"), read_only=True) as con:
        names = con.sql("select drugname from raw.drug order by drugname").fetchall()
        assert names == [("ASPIRIN\x81",), ("ASPIRIN\x81",), ("IBUPROFEN",), ("\u201cPACLITAXEL\u201d",)]
        assert con.sql("select pt from raw.reac order by pt").fetchall() == [("Dermatomyositis",), ("Rash",)]
        decoding = con.sql(
            "select table_name, line_no, raw_bytes, rule from raw.decoding order by table_name, line_no"
        ).fetchall()
        assert decoding == [
            ("drug", 2, drug[0], "windows-1252"),
            ("drug", 3, drug[1], "windows-1252+latin-1"),
            ("drug", 4, drug[2], "windows-1252+latin-1"),
            ("reac", 2, reac[0], "nul removed"),
        ]
        log = {
            table: values
            for table, *values in con.sql(
                "select table_name, encoding, lines_decoded_fallback, nul_bytes_removed, duplicate_rows, "
                "repeated_key_rows, rows, lines_rejected from raw.ingest_log"
            ).fetchall()
        }
        assert log["drug"] == ["utf-8|windows-1252", 3, 0, 1, 1, 4, 0]
        assert log["reac"] == ["utf-8", 0, 1, 0, 0, 2, 0]
        assert log["deleted_cases"][-2:] == [1, 2]
        anomalies = con.sql(
            "select table_name, key_value, rows, duplicate_rows, repeated_key_rows from raw.key_anomalies"
        ).fetchall()
        assert len(anomalies) == 1 and anomalies[0][0] == "drug"
        assert anomalies[0][2:] == (3, 1, 1)
        assert con.sql("select caseid from raw.deleted_cases").fetchall() == [("9999901",)]
        rejects = con.sql(
            "select table_name, line_no, raw_line, reason from raw.rejects order by line_no"
        ).fetchall()
        assert rejects == [
            ("deleted_cases", 2, "not a caseid", "not a caseid: caseid 'not a caseid' is not 1-10 digits"),
            (
                "deleted_cases",
                3,
                "12345678901234",
                "not a caseid: caseid '12345678901234' is not 1-10 digits",
            ),
        ]
