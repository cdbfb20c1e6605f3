"""The command line: user mistakes give one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pv.cli import build_parser, main


def _pv(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pv.cli", *args], cwd=cwd, capture_output=True, text=True)


def _assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pv: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_corrupt_zip(tmp_path):
    bad = tmp_path / "faers_ascii_2023q1.zip"
    bad.write_bytes(b"PK\x03\x04truncated")
    _assert_one_line_error(
        _pv("ingest", str(bad), "--quiet", cwd=tmp_path), "faers_ascii_2023q1.zip", "not a valid zip"
    )


def test_wrong_file(tmp_path):
    wrong = tmp_path / "notes.txt"
    wrong.write_text("hello")
    _assert_one_line_error(_pv("ingest", str(wrong), cwd=tmp_path), "notes.txt", "not a FAERS/AERS zip")


def test_unknown_layout_names_the_file(tmp_path, samples):
    folder = tmp_path / "csv_copy"
    folder.mkdir()
    # A CSV re-export of 2025Q2 saved under FDA's name: not the '$' format.
    (folder / "DEMO25Q2.txt").write_text((samples / "2025q2_csv/demo.csv").read_text())
    result = _pv("ingest", str(folder), "--quiet", "--allow-partial", cwd=tmp_path)
    _assert_one_line_error(result, "DEMO25Q2.txt", "unknown layout")
    assert not (tmp_path / "data" / "lake" / "quarter=2025Q2").exists()


def test_bad_quarter_range(tmp_path, samples):
    result = _pv("ingest", str(samples / "2017q2"), "--quarters", "2024Q1..2023Q1", cwd=tmp_path)
    _assert_one_line_error(result, "2023Q1 is before 2024Q1")


def test_truncated_zip_member(tmp_path, samples):
    source = samples / "2017q2/faers_ascii_2017q2.zip"
    data = source.read_bytes()
    broken = tmp_path / "faers_ascii_2017q2.zip"
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("ascii/DRUG17Q2.txt")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    corrupted = bytearray(data)
    corrupted[start + 100 : start + 140] = b"\x00" * 40  # damage the compressed DRUG stream
    broken.write_bytes(bytes(corrupted))
    _assert_one_line_error(_pv("ingest", str(broken), "--quiet", cwd=tmp_path), "DRUG17Q2.txt")


def test_success_prints_a_summary(tmp_path, samples, capsys, data_dir):
    assert main(["ingest", str(samples / "2017q2/faers_ascii_2017q2.zip"), "--quiet", "--raw-only"]) == 0
    out = capsys.readouterr().out
    assert "2017Q2: 1,165 rows loaded, 0 lines repaired, 0 rejected" in out
    assert str(data_dir / "pv.duckdb") in out


@pytest.mark.parametrize("argv", [["synth", "--out", "x", "--quarters", "2023Q1", "--scale", "0"]])
def test_synth_argument_errors(argv, tmp_path):
    _assert_one_line_error(_pv(*argv, cwd=tmp_path), "scale")


def test_synth_size_by_fda_zip_names_a_quarter_missing_from_the_manifest(tmp_path):
    result = _pv("synth", "--out", "x", "--quarters", "2026Q3", "--size-by-fda-zip", cwd=tmp_path)
    _assert_one_line_error(result, "faers_zip_manifest.csv", "no FDA zip size for 2026Q3")
    assert not (tmp_path / "x").exists()


def test_named_pipe_as_input_is_refused_at_once(tmp_path):
    import os

    pipe = tmp_path / "faers_ascii_2023q1.zip"
    os.mkfifo(pipe)  # nothing will ever write to it: opening it for reading would hang
    result = subprocess.run(
        [sys.executable, "-m", "pv.cli", "ingest", str(pipe), "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_one_line_error(result, f"{pipe}: a named pipe, not a regular file; refused")
    assert not (tmp_path / "data" / "pv.duckdb").exists()
    assert not list((tmp_path / "data" / "lake").glob("quarter=*"))


def test_the_demo_states_the_answer_first(generated, capsys):
    """What `pv demo` prints after the flow: the heading, where the data come from (synthetic here), one
    sentence per flagged target pair and a count of the rest, then the caveats."""
    import duckdb

    from pv.cli import _print_answer
    from pv.db import provenance_line
    from pv.report import CAVEATS, answer_bullets, headline_frame

    db = generated / "data" / "pv.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        provenance = provenance_line(con)
        bullets = answer_bullets(headline_frame(con))
    _print_answer(db)
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 120
    assert lines[:2] == ["", "The answer: dermatomyositis with taxanes and anti-HER2 agents"]
    text = " ".join(line.strip() for line in lines[2:])
    assert text == " ".join([provenance, *(f"- {bullet}" for bullet in bullets), CAVEATS])
    assert "SYNTHETIC" in provenance
    assert bullets[-1].startswith(("The other ", "All ")) and " target drug/class × DM pairs: " in bullets[-1]


def test_the_demo_prints_the_side_by_side_headline_after_the_answer(generated, capsys):
    """`pv demo` then prints what `pv signals` prints by default, within 120 columns."""
    from pv.cli import _print_headline

    _print_headline(generated / "data" / "pv.duckdb")
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 120
    assert lines[1] == "Headline: dermatomyositis x taxanes and anti-HER2 agents, every analysis side by side"
    assert "event: dm_narrow" in lines and "event: dm_broad" in lines
    assert any(line.startswith("calibration: ") for line in lines)


def test_every_option_of_every_command_has_help_text():
    import argparse

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    undocumented = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in commands.choices.items()
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert undocumented == []


def test_cases_takes_the_same_variant_options_as_signals(generated, capsys):
    """--role and --duplicates as in `pv signals`; the old --roles / --with-duplicates still work."""
    db = str(generated / "data" / "pv.duckdb")
    runs = {}
    for options in (
        ["--role", "suspect", "--duplicates", "without"],
        ["--roles", "PS,SS"],
        ["--role", "any", "--duplicates", "with"],
        ["--with-duplicates", "--roles", "any"],
    ):
        assert (
            main(
                [
                    "cases",
                    "--db",
                    db,
                    "--drug",
                    "docetaxel",
                    "--event",
                    "dm_broad",
                    "--format",
                    "csv",
                    *options,
                ]
            )
            == 0
        )
        runs[" ".join(options)] = capsys.readouterr().out
    assert runs["--role suspect --duplicates without"] == runs["--roles PS,SS"]
    assert runs["--role any --duplicates with"] == runs["--with-duplicates --roles any"]
    suspect_rows = runs["--roles PS,SS"].count("\n")
    any_rows = runs["--role any --duplicates with"].count("\n")
    assert 1 < suspect_rows <= any_rows


def test_the_headline_table_fits_120_columns_with_a_legend(generated, capsys):
    """`pv signals --by-variant` (every headline row and variant) in a terminal: constant columns said once
    above, a legend below, nothing wider than 120 characters; the same rows as marts.headline."""
    import duckdb

    db = generated / "data" / "pv.duckdb"
    assert main(["signals", "--db", str(db), "--by-variant"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 120
    header = lines.index(next(line for line in lines if line.startswith("drug")))
    legend = next(index for index, line in enumerate(lines) if line.startswith("Legend: "))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql("select count(*) from marts.headline").fetchall()[0][0]
    assert legend - header - 1 == rows == 600  # 360 rows of the 12 variants, 240 active and masked ones
    assert lines[header].split()[:4] == ["drug", "event", "role/comp/dupl", "a"]
    assert "E Evans (PRR>=2, Yates chi2>=4, a>=3), R ROR025>1 and a>=3, I IC025>0, B EB05>=2" in " ".join(
        lines[legend:]
    )


def test_the_default_table_puts_the_analyses_side_by_side(generated, capsys):
    """The default `pv signals`: per DM group one row per target drug and class, each analysis's ROR (lower
    limit) from its stored row, * exactly where its FDR-adjusted flag is set; at most 120 characters wide."""
    import duckdb

    from pv.cli import _lower_limit, _number
    from pv.report.sensitivity import ANALYSES, FLAG_MARK

    db = generated / "data" / "pv.duckdb"
    assert main(["signals", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 120
    assert "role: suspect  duplicates: without  (every variant: --by-variant)" in lines
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.sql(
            "select * from marts.headline where role = 'suspect' and duplicates = 'without'"
        ).df()
    for event in ("dm_narrow", "dm_broad"):
        start = lines.index(f"event: {event}")
        assert lines[start + 1].split() == ["drug", "a", *(analysis.title for analysis in ANALYSES)]
        body = []
        for line in lines[start + 2 :]:
            if line.startswith(("event: ", "time to onset", "ROR (lower")):
                break
            body.append(line)
        pairs = stored[(stored["event"] == event) & (stored["comparator"] == "all")]
        assert len(body) == len(pairs)
        row = pairs[pairs["drug"] == "taxane"].iloc[0]
        taxane = next(line for line in body if line.startswith("taxane "))
        crude = f"{_number(row['ror'])} ({_lower_limit(row['ror_lower'])})"
        crude += FLAG_MARK if row["signal_ror_fdr"] else ""
        mh = f"{_number(row['ror_mh'])} ({_lower_limit(row['ror_mh_lower'])})"
        assert taxane.split()[1] == f"{row['a']:.0f}"
        assert f" {crude}" in taxane and f" {mh}" in taxane
