"""``pv explore`` and ``pv case``: the pv-side functions on the generated database, and the app itself in a
real headless browser (Debian's chromium driven by Playwright) against the running server.

Screenshots of the browser test go to ``tests/output/explore/`` (git-ignored): a run leaves them to see.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pv.cases import case_in_full, case_in_full_text, resolve_drug, resolve_event
from pv.cli import main
from pv.counts import TARGET_COMPARATORS
from pv.db import open_published
from pv.errors import UserError
from pv.explore import APP, command, pair_history, pair_signals, serve, two_by_two

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "output" / "explore"
# The paclitaxel x dm_narrow pair of the generated quarters (seed 11): one case, 8329440.
PACLITAXEL_DM = {"a": 1, "b": 129, "c": 18, "d": 5040}
CASEID = 8329440


@pytest.fixture(scope="module")
def db(generated: Path) -> Path:
    return generated / "data" / "pv.duckdb"


@pytest.fixture(scope="module")
def con(db: Path):
    with open_published(db) as connection:
        yield connection


def test_taxol_pair_has_every_variant_and_its_2x2(con):
    drug, event = resolve_drug(con, "Taxol"), resolve_event(con, "dm_narrow")
    assert drug.label == "paclitaxel (from name 'Taxol', exact match)"
    rows = pair_signals(con, drug, event)
    assert len(rows) == 20  # 12 variants, and the 8 active and masked ones of a headline pair
    assert set(rows["drug"]) == {"paclitaxel"} and set(rows["drug_level"]) == {"ingredient"}
    default = rows[(rows.role == "suspect") & (rows.comparator == "all") & (rows.duplicates == "without")]
    assert {name: int(default.iloc[0][name]) for name in "abcd"} == PACLITAXEL_DM
    assert default.iloc[0]["prr"] == pytest.approx((1 / 130) / (18 / 5058))
    table = two_by_two(default.iloc[0])
    assert table.to_dict("list") == {
        "": ["the drug", "all other drugs", "total"],
        "the event": [1, 18, 19],
        "all other events": [129, 5040, 5169],
        "total": [130, 5058, 5188],
    }
    active = rows[(rows.role == "suspect") & (rows.comparator == "active") & (rows.duplicates == "without")]
    assert two_by_two(active.iloc[0])[""].tolist() == ["the drug", "its active comparators", "total"]


def test_class_pair_is_the_class_row_and_history_ends_at_today(con):
    drug, event = resolve_drug(con, "taxane"), resolve_event(con, "dm_narrow")
    rows = pair_signals(con, drug, event)
    assert set(rows["drug"]) == {"taxane"} and set(rows["drug_level"]) == {"class"}
    history = pair_history(con, drug, event)
    latest = history[history["quarter"] == history["quarter"].max()]
    key = ["role", "comparator", "duplicates"]
    # the active and masked variants have no history (a population per target drug, today only)
    today = rows[~rows["comparator"].isin(TARGET_COMPARATORS)].set_index(key)["a"].sort_index()
    assert latest.set_index(key)["a"].sort_index().tolist() == today.tolist()
    assert history["quarter"].is_monotonic_increasing


def test_pair_without_cases_is_empty(con):
    event = resolve_event(con, "urinary tract infection")  # reported in 115 cases, none with paclitaxel
    assert event.pt == "Urinary tract infection"
    assert pair_signals(con, resolve_drug(con, "paclitaxel"), event).empty


def test_case_in_full_reads_in_reviewer_order(con):
    sections = case_in_full(con, CASEID)
    assert [title for title, _ in sections] == [
        "Case 8329440",
        "What happened",
        "The drugs, strongest role first",
        "The report",
    ]
    summary, happened, drugs, report = (lines for _, lines in sections)
    assert summary[0] == (
        "72-year-old woman, reported from US by a consumer; first received by FDA on an unknown date; "
        "serious: other serious (OT)."
    )
    assert happened == [
        "Dermatomyositis [dm_broad, dm_narrow]",
        "Nausea",
        "event date: 2011-12 (given as 2011-12-01, a date this quarter's files pad)",  # legacy AERS padding
    ]
    assert [line.split(":")[0] for line in drugs] == [
        "drug_seq 1340004988, PS primary suspect",
        "drug_seq 1340005002, SS secondary suspect",
    ]
    assert "as reported 'PACLITAXEL'; → paclitaxel (exact match), class taxane" in drugs[1]
    assert "dose 6 MG/KG, Q3W" in drugs[0]
    assert report[0] == "caseid 8329440, primaryid 9980265, published 2012Q3 (legacy AERS)"
    text = case_in_full_text(sections)
    assert text.startswith("Case 8329440\n  72-year-old woman") and "\n\nThe report\n" in text


def test_case_in_full_of_a_faers_case_with_therapy_dates(con):
    sections = dict(case_in_full(con, 8079996))
    assert sections["Case 8079996"][0] == (
        "Woman, reported from DE by a health professional; first received by FDA 2011-11-26; "
        "no serious outcome reported."
    )
    assert sections["What happened"][-1] == "event date: 2011-09-26"
    assert len(sections["What happened"]) == 10
    assert sections["The drugs, strongest role first"] == [
        "drug_seq 1, PS primary suspect: as reported 'TAXOTERE'; → docetaxel (exact match), class taxane; "
        "route INTRAVENOUS (NOT OTHERWISE SPECIFIED); dose 75 MG/M2; indication not given; "
        "therapy 2011-08-18 to ?; dechallenge unknown, rechallenge unknown",
        # A 2012Q4 row has no prod_ai: PROTONIX is read through the brand FDA codes as PANTOPRAZOLE SODIUM in
        # the later generated quarters (the learned dictionary, issue 11 item 7); it used to stay "protonix".
        "drug_seq 2, C concomitant: as reported 'PROTONIX'; → pantoprazole (learned match); route ORAL; "
        "indication not given; dechallenge unknown, rechallenge does not apply",
    ]
    assert (
        sections["The report"][0] == "caseid 8079996, primaryid 80799963, version 3, published 2012Q4 (FAERS)"
    )


def test_unknown_case_is_a_user_error(con):
    with pytest.raises(UserError, match="no retained case 1 "):
        case_in_full(con, 1)


def test_pv_case_command(db: Path, capsys):
    assert main(["case", str(CASEID), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Data: 10 quarters (2011Q4–2013Q1, 2018Q1, 2019Q1, 2021Q4, 2023Q3) SYNTHETIC")
    assert "\nCase 8329440\n" in out
    assert main(["case", "1", "--db", str(db)]) == 2
    assert "no retained case 1" in capsys.readouterr().err


def test_explore_refuses_a_missing_database(tmp_path: Path, capsys):
    with pytest.raises(UserError, match="no database"):
        serve(tmp_path / "none.duckdb")
    assert main(["explore", "--db", str(tmp_path / "none.duckdb")]) == 2


def test_marimo_command_serves_the_packaged_app():
    assert APP.is_file() and APP.parent.name == "explore"
    assert command("127.0.0.1", 2800)[2:] == [
        "marimo",
        "run",
        str(APP),
        "--headless",
        "--host",
        "127.0.0.1",
        "--port",
        "2800",
        "--no-token",
        "--no-sandbox",
    ]


# ------------------------------------------------------------------------------------------ in the browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"pv explore exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.fixture
def explorer(db: Path, tmp_path: Path):
    """``pv explore`` on a free port, as a user starts it; stopped with SIGINT (Ctrl-C) at the end.

    Its stderr (and marimo's, which inherits it) goes to a file: a pipe nobody reads fills up with marimo's
    log and blocks both processes, which then cannot stop in time."""
    port = _free_port()
    log = (tmp_path / "explore.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "pv.cli", "explore", "--db", str(db), "--port", str(port)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", server)
        yield f"http://127.0.0.1:{port}/", server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def test_browser_taxol_to_a_case_in_full(explorer):
    if not CHROMIUM.exists():
        if os.environ.get("PV_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and PV_REQUIRE_BROWSER=1 (.ci/run installs it)")
        pytest.skip(f"Debian's chromium is not at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    url, server = explorer
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-GB", timezone_id="UTC")
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        off_host: list[str] = []
        page.on(
            "request",
            lambda request: (
                request.url.startswith("http")
                and not request.url.startswith(url)
                and off_host.append(request.url)
            ),
        )
        page.goto(url, wait_until="networkidle")
        # The first wait covers a kernel starting (imports, the database) on a loaded machine.
        page.get_by_text("Pick a drug to begin").wait_for(timeout=90_000)
        page.get_by_text("SYNTHETIC (generated by pv synth").wait_for()
        page.screenshot(path=SCREENSHOTS / "1-loaded.png")

        box = page.get_by_placeholder("Taxol, docetaxel")
        box.fill("taxoll")
        box.press("Enter")
        page.get_by_text("no ingredient, class or known name 'taxoll'; did you mean 'taxol'").wait_for(
            timeout=60_000
        )
        box.fill("Taxol")
        box.press("Enter")
        page.get_by_text("read as paclitaxel (from name 'Taxol', exact match)").wait_for(timeout=60_000)
        two_by_two = page.get_by_role("table").filter(has_text="all other drugs").first
        two_by_two.wait_for(timeout=60_000)
        cells = two_by_two.locator("td").all_inner_texts()
        assert cells == [
            "the drug", "1", "129", "130",
            "all other drugs", "18", "5040", "5058",
            "total", "19", "5169", "5188",
        ]  # fmt: skip
        two_by_two.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "2-taxol-2x2.png")

        case = page.get_by_text("The drugs, strongest role first")
        case.wait_for(timeout=60_000)
        page.get_by_text("as reported 'PACLITAXEL'; → paclitaxel (exact match), class taxane").wait_for()
        page.get_by_text("A generated case (pv synth): no real patient.").wait_for()
        case.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "3-case-in-full.png")
        browser.close()
    assert errors == []
    assert off_host == []  # everything the page loads comes from the local server
    assert sorted(path.name for path in SCREENSHOTS.iterdir()) == [
        "1-loaded.png",
        "2-taxol-2x2.png",
        "3-case-in-full.png",
    ]
    assert all(path.stat().st_size > 10_000 for path in SCREENSHOTS.iterdir())
    server.send_signal(signal.SIGINT)  # Ctrl-C: pv explore stops marimo and exits 130
    # marimo gets 10 s to stop before it is killed; the rest is slack for a loaded machine
    assert server.wait(timeout=60) == 130
