"""pv.download against a local FDA stand-in: resume, retries, back-off, verification, FDA's naming drift."""

from __future__ import annotations

import hashlib
import io
import random
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fda_server import Faults, FDAServer, fda_server_fixture  # noqa: F401

from pv.download import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DownloadResult,
    ManifestEntry,
    download_quarter,
    download_quarters,
    load_manifest,
    manifest_path,
    quarter_url,
    sha256_file,
)
from pv.errors import UserError
from pv.quarters import Quarter

Q2023 = Quarter(2023, 1)
HEADER = "quarter,file_name,url,bytes,sha256,era\n"


def make_zip(quarter: Quarter, seed: int = 0) -> bytes:
    """A real, stored (uncompressed) zip of about 6 KB, so byte offsets in the tests stay predictable."""
    rng = random.Random(f"{quarter}-{seed}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"ASCII/DEMO{quarter.short}.txt", rng.randbytes(6000))
    return buffer.getvalue()


def write_manifest(path: Path, zips: dict[Quarter, bytes]) -> dict[Quarter, ManifestEntry]:
    rows = [
        f"{q},{q.zip_name},https://fis.fda.gov/content/Exports/{q.zip_name},{len(data)},"
        f"{hashlib.sha256(data).hexdigest()},{'laers' if q.is_legacy else 'faers'}\n"
        for q, data in zips.items()
    ]
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return load_manifest(path)


@dataclass
class Setup:
    server: FDAServer
    dest: Path
    manifest: dict[Quarter, ManifestEntry]
    data: bytes
    quarter: Quarter = Q2023
    sleeps: list[float] = field(default_factory=list)

    @property
    def final(self) -> Path:
        return self.dest / self.quarter.zip_name

    @property
    def part(self) -> Path:
        return self.dest / f"{self.quarter.zip_name}.part"

    @property
    def mismatch(self) -> Path:
        return self.dest / f"{self.quarter.zip_name}.mismatch"

    def download(self, **kwargs: object) -> DownloadResult:
        options: dict[str, object] = {
            "base_url": self.server.base_url,
            "manifest": self.manifest,
            "sleep": self.sleeps.append,
        }
        options.update(kwargs)
        return download_quarter(self.quarter, self.dest, **options)  # type: ignore[arg-type]

    def seen(self) -> list[tuple[str, str | None, int]]:
        return [(r.name, r.range, r.status) for r in self.server.requests]


@pytest.fixture
def setup(fda_server: FDAServer, tmp_path: Path) -> Setup:
    data = make_zip(Q2023)
    fda_server.add_file(Q2023.zip_name, data)
    manifest = write_manifest(tmp_path / "manifest.csv", {Q2023: data})
    return Setup(fda_server, tmp_path / "downloads", manifest, data)


# --- manifest and URLs -------------------------------------------------------------------------------------


def test_real_manifest_lists_all_90_quarters() -> None:
    manifest = load_manifest()
    assert manifest_path() == Path(__file__).resolve().parent.parent / "pv/data/faers_zip_manifest.csv"
    assert len(manifest) == 90
    assert min(manifest) == Quarter(2004, 1) and max(manifest) == Quarter(2026, 2)
    first = manifest[Quarter(2004, 1)]
    assert (first.file_name, first.bytes, first.era) == ("aers_ascii_2004q1.zip", 7_582_957, "laers")
    assert manifest[Quarter(2023, 1)].bytes == 67_476_029
    assert manifest[Quarter(2023, 1)].sha256.startswith("3b5d7ee3fc78")
    assert all(entry.file_name == q.zip_name for q, entry in manifest.items())
    assert sum(entry.bytes for entry in manifest.values()) == 3_547_347_845


GOOD_ROW = "2023Q1,faers_ascii_2023q1.zip,u,10," + "a" * 64 + ",faers\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quarter,file_name,url,bytes,era\n", "lacks column(s) sha256"),
        (HEADER + GOOD_ROW.replace("a" * 64, "xyz"), ":2: sha256 'xyz' is not 64 hexadecimal digits"),
        (HEADER + GOOD_ROW.replace(",10,", ",12a,"), ":2: bytes '12a' is not a positive whole number"),
        (HEADER + GOOD_ROW.replace("2023Q1", "2023Q5"), ":2: not a quarter"),
        (HEADER + GOOD_ROW.replace("2023q1", "2022q4"), ":2: file_name 'faers_ascii_2022q4.zip' is not"),
        (HEADER + GOOD_ROW + GOOD_ROW, ":3: quarter 2023Q1 is listed twice"),
    ],
)
def test_malformed_manifest_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad_manifest.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_manifest(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_missing_manifest_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="manifest not found"):
        load_manifest(tmp_path / "nowhere.csv")


def test_quarter_url_rebases_manifest_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    assert quarter_url(Quarter(2004, 1)) == DEFAULT_BASE_URL + "aers_ascii_2004q1.zip"
    # Beyond the manifest the name follows FDA's pattern.
    assert quarter_url(Quarter(2030, 3)) == DEFAULT_BASE_URL + "faers_ascii_2030q3.zip"
    monkeypatch.setenv(BASE_URL_ENV, "https://mirror.example/faers")
    assert quarter_url(Q2023) == "https://mirror.example/faers/faers_ascii_2023q1.zip"
    assert quarter_url(Q2023, "http://other.example/x/") == "http://other.example/x/faers_ascii_2023q1.zip"
    monkeypatch.setenv(BASE_URL_ENV, "fis.fda.gov/content")
    with pytest.raises(UserError, match=f"^{BASE_URL_ENV} 'fis.fda.gov/content' is not"):
        quarter_url(Q2023)
    with pytest.raises(UserError, match="^base_url 'ftp://x/' is not"):
        quarter_url(Q2023, "ftp://x/")


# --- downloads ---------------------------------------------------------------------------------------------


def test_fresh_download_is_verified_and_reports_progress(setup: Setup) -> None:
    calls: list[tuple[int, int | None]] = []
    result = setup.download(progress=lambda done, total: calls.append((done, total)))
    assert result == DownloadResult(
        Q2023, setup.final, len(setup.data), hashlib.sha256(setup.data).hexdigest(), "verified"
    )
    assert setup.final.read_bytes() == setup.data
    assert not setup.part.exists()
    assert setup.seen() == [("faers_ascii_2023q1.zip", None, 200)]
    assert calls[0] == (0, len(setup.data)) and calls[-1] == (len(setup.data), len(setup.data))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert setup.sleeps == []


def test_second_call_is_idempotent_and_makes_no_request(setup: Setup) -> None:
    setup.download()
    setup.server.reset()
    setup.part.write_bytes(b"stale")
    result = setup.download()
    assert result.verification == "verified" and result.bytes == len(setup.data)
    assert setup.server.requests == []
    assert not setup.part.exists()


def test_503s_are_retried_with_exponential_backoff(setup: Setup) -> None:
    setup.server.reset(Faults(fail_first=3))
    result = setup.download(backoff_seconds=2.0)
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert [status for _, _, status in setup.seen()] == [503, 503, 503, 200]
    assert setup.sleeps == [2.0, 4.0, 8.0]


def test_backoff_is_capped(setup: Setup) -> None:
    setup.server.reset(Faults(fail_first=4, fail_status=502))
    setup.download(backoff_seconds=1.0, max_backoff_seconds=5.0)
    assert setup.sleeps == [1.0, 2.0, 4.0, 5.0]
    assert len(setup.server.requests) == 5


def test_retry_after_of_a_429_is_honoured(setup: Setup) -> None:
    setup.server.reset(Faults(fail_first=1, fail_status=429, retry_after=7))
    setup.download(backoff_seconds=2.0)
    assert setup.sleeps == [7.0]


def test_retries_run_out_with_a_user_error(setup: Setup) -> None:
    setup.server.reset(Faults(fail_first=10))
    with pytest.raises(UserError, match=r"2023q1\.zip: download failed after 3 attempts.*HTTP 503"):
        setup.download(retries=2)
    assert len(setup.server.requests) == 3
    assert setup.sleeps == [2.0, 4.0]
    assert not setup.final.exists()


def test_403_is_not_retried(setup: Setup) -> None:
    setup.server.reset(Faults(fail_first=1, fail_status=403))
    with pytest.raises(UserError, match="HTTP 403"):
        setup.download()
    assert len(setup.server.requests) == 1
    assert setup.sleeps == []


def test_cut_connection_resumes_with_range_at_the_part_size(setup: Setup) -> None:
    setup.server.reset(Faults(cut_after=1500))
    result = setup.download()
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert setup.seen() == [
        ("faers_ascii_2023q1.zip", None, 200),
        ("faers_ascii_2023q1.zip", "bytes=1500-", 206),
    ]
    assert [r.body_bytes for r in setup.server.requests] == [1500, len(setup.data) - 1500]
    assert setup.sleeps == [2.0]


def test_part_left_by_a_killed_run_is_resumed(setup: Setup) -> None:
    setup.dest.mkdir()
    setup.part.write_bytes(setup.data[:2345])
    result = setup.download()
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert setup.seen() == [("faers_ascii_2023q1.zip", "bytes=2345-", 206)]
    assert setup.server.requests[0].body_bytes == len(setup.data) - 2345
    assert setup.sleeps == []


def test_server_ignoring_range_restarts_the_file(setup: Setup) -> None:
    setup.dest.mkdir()
    setup.part.write_bytes(setup.data[:2000])
    setup.server.reset(Faults(ignore_range=True))
    setup.download()
    assert setup.final.read_bytes() == setup.data
    assert setup.seen() == [("faers_ascii_2023q1.zip", "bytes=2000-", 200)]


def test_206_from_the_wrong_byte_restarts_the_file(setup: Setup) -> None:
    setup.dest.mkdir()
    setup.part.write_bytes(setup.data[:2000])
    setup.server.reset(Faults(range_from_zero=True))
    setup.download()
    assert setup.final.read_bytes() == setup.data
    assert setup.seen() == [
        ("faers_ascii_2023q1.zip", "bytes=2000-", 206),
        ("faers_ascii_2023q1.zip", None, 200),
    ]
    assert setup.sleeps == [2.0]


def test_416_on_a_complete_part_verifies_it(setup: Setup) -> None:
    setup.dest.mkdir()
    setup.part.write_bytes(setup.data)
    result = setup.download()
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert setup.seen() == [("faers_ascii_2023q1.zip", f"bytes={len(setup.data)}-", 416)]


def test_stale_part_that_fails_verification_is_downloaded_again(setup: Setup) -> None:
    setup.dest.mkdir()
    setup.part.write_bytes(b"\0" * 1000)
    result = setup.download()
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert setup.seen() == [
        ("faers_ascii_2023q1.zip", "bytes=1000-", 206),
        ("faers_ascii_2023q1.zip", None, 200),
    ]
    assert not setup.mismatch.exists()


def test_timeout_is_retried(setup: Setup) -> None:
    setup.server.reset(Faults(stall_first=1, stall_seconds=0.3))
    result = setup.download(timeout=0.1)
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert setup.sleeps == [2.0]


def test_mismatch_keeps_the_file_and_names_it(setup: Setup) -> None:
    setup.server.reset(Faults(corrupt=True))
    middle = len(setup.data) // 2
    served = setup.data[:middle] + bytes([setup.data[middle] ^ 0xFF]) + setup.data[middle + 1 :]
    with pytest.raises(UserError) as caught:
        setup.download()
    message = str(caught.value)
    assert message.startswith("faers_ascii_2023q1.zip: ")
    assert hashlib.sha256(served).hexdigest() in message
    assert setup.manifest[Q2023].sha256 in message
    assert "FDA may have replaced" in message and str(setup.mismatch) in message
    assert "\n" not in message
    assert setup.mismatch.read_bytes() == served
    assert not setup.final.exists() and not setup.part.exists()
    assert len(setup.server.requests) == 1


def test_existing_wrong_final_is_kept_aside_and_downloaded_again(setup: Setup) -> None:
    setup.dest.mkdir()
    setup.final.write_bytes(b"an older release")
    result = setup.download()
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert setup.mismatch.read_bytes() == b"an older release"
    assert len(setup.server.requests) == 1


def test_404_falls_back_to_capital_q_name(fda_server: FDAServer, tmp_path: Path) -> None:
    quarter = Quarter(2021, 2)
    data = make_zip(quarter)
    fda_server.add_file(quarter.zip_name, data)
    fda_server.reset(Faults(capital_q_only=True, cut_after=1000))
    manifest = write_manifest(tmp_path / "manifest.csv", {quarter: data})
    sleeps: list[float] = []
    result = download_quarter(
        quarter, tmp_path / "dl", base_url=fda_server.base_url, manifest=manifest, sleep=sleeps.append
    )
    assert result.path == tmp_path / "dl" / "faers_ascii_2021q2.zip"
    assert result.verification == "verified"
    assert result.path.read_bytes() == data
    # The retry after the cut stays on the name that worked.
    assert [(r.name, r.range, r.status) for r in fda_server.requests] == [
        ("faers_ascii_2021q2.zip", None, 404),
        ("faers_ascii_2021Q2.zip", None, 200),
        ("faers_ascii_2021Q2.zip", "bytes=1000-", 206),
    ]
    assert sleeps == [2.0]


def test_404_on_both_names_is_a_user_error(setup: Setup) -> None:
    (setup.server.root / Q2023.zip_name).unlink()
    with pytest.raises(UserError) as caught:
        setup.download()
    message = str(caught.value)
    assert message.startswith("faers_ascii_2023q1.zip: not found at ")
    assert setup.server.base_url + "faers_ascii_2023q1.zip" in message
    assert setup.server.base_url + "faers_ascii_2023Q1.zip" in message
    assert BASE_URL_ENV in message
    assert [status for _, _, status in setup.seen()] == [404, 404]
    assert setup.sleeps == []


def test_quarter_newer_than_manifest_is_checked_against_content_length(setup: Setup) -> None:
    quarter = Quarter(2026, 3)
    data = make_zip(quarter)
    setup.server.add_file(quarter.zip_name, data)
    setup.server.reset(Faults(cut_after=2000))
    setup.quarter = quarter
    result = setup.download()
    assert result.verification == "not_in_manifest"
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.path.read_bytes() == data
    assert [r.range for r in setup.server.requests] == [None, "bytes=2000-"]
    setup.server.reset()
    again = download_quarter(quarter, setup.dest, base_url=setup.server.base_url, manifest=setup.manifest)
    assert again == result and setup.server.requests == []


def test_unverifiable_download_that_is_no_zip_is_refused(setup: Setup) -> None:
    quarter = Quarter(2026, 3)
    setup.server.add_file(quarter.zip_name, b"<html>moved</html>")
    with pytest.raises(UserError, match="not a zip archive"):
        download_quarter(quarter, setup.dest, base_url=setup.server.base_url, manifest=setup.manifest)
    assert (setup.dest / f"{quarter.zip_name}.mismatch").read_bytes() == b"<html>moved</html>"
    assert not (setup.dest / quarter.zip_name).exists()


def test_verify_false_skips_the_manifest(setup: Setup) -> None:
    result = setup.download(verify=False)
    assert result.verification == "skipped" and setup.final.read_bytes() == setup.data
    setup.server.reset()
    assert setup.download(verify=False).verification == "skipped"
    assert setup.server.requests == []


def test_base_url_from_environment(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, setup.server.base_url)
    result = download_quarter(Q2023, setup.dest, manifest=setup.manifest)
    assert result.verification == "verified"
    assert len(setup.server.requests) == 1


def test_file_url_mirror(setup: Setup) -> None:
    result = setup.download(base_url=setup.server.root.as_uri())
    assert result.verification == "verified"
    assert setup.final.read_bytes() == setup.data
    assert setup.server.requests == []


def test_download_quarters_in_order_once_each(setup: Setup) -> None:
    older = Quarter(2012, 3)
    older_data = make_zip(older)
    setup.server.add_file(older.zip_name, older_data)
    manifest = write_manifest(setup.dest.parent / "two.csv", {older: older_data, Q2023: setup.data})
    results = download_quarters(
        [Q2023, older, Q2023], setup.dest, base_url=setup.server.base_url, manifest=manifest
    )
    assert [(r.quarter, r.path.name, r.verification) for r in results] == [
        (Q2023, "faers_ascii_2023q1.zip", "verified"),
        (older, "aers_ascii_2012q3.zip", "verified"),
    ]
    assert (setup.dest / "aers_ascii_2012q3.zip").read_bytes() == older_data
    assert [r.name for r in setup.server.requests] == ["faers_ascii_2023q1.zip", "aers_ascii_2012q3.zip"]


def test_sha256_file_streams_in_chunks(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(5 * (1 << 20) // 2 + 7)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_server_releases_its_port_on_exit(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(b"x")
    with FDAServer(tmp_path) as server:
        url = server.base_url + "a.zip"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.read() == b"x"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)
