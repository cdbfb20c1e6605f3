"""Fetch FDA's quarterly FAERS/AERS zips resumably and verify them against the zip manifest.

FDA's server drops long transfers, has moved its download URLs before and can replace a zip in place
(faers_format.md §1, §8b). So every download resumes where it stopped, retries transient failures, and only
appears under its final name once its size and SHA-256 match ``pv/data/faers_zip_manifest.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import BinaryIO, Literal, TypedDict, Unpack

from pv import __version__, resources
from pv.errors import UserError
from pv.quarters import Quarter, quarter_from_name

DEFAULT_BASE_URL = "https://fis.fda.gov/content/Exports/"
BASE_URL_ENV = "PV_FDA_BASE_URL"
MAX_BACKOFF_SECONDS = 60.0
CHUNK_BYTES = 1 << 20
USER_AGENT = f"pv/{__version__} (FAERS quarterly downloader; Python urllib)"

MANIFEST_COLUMNS = ("quarter", "file_name", "url", "bytes", "sha256", "era")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]+")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)
# The quarter inside a zip name; FDA has published ``faers_ascii_2021Q2.zip`` next to the usual lower case.
_ZIP_QUARTER = re.compile(r"(?<!\d)(20\d{2})([qQ])([1-4])(?=\.zip$)", re.IGNORECASE)

Verification = Literal["verified", "not_in_manifest", "skipped"]
ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ManifestEntry:
    """One row of the zip manifest: what FDA's zip for a quarter must look like byte for byte."""

    quarter: Quarter
    file_name: str
    url: str
    bytes: int
    sha256: str
    era: str


@dataclass(frozen=True)
class DownloadResult:
    """A zip stored under its final name, and how far it could be checked."""

    quarter: Quarter
    path: Path
    bytes: int
    sha256: str
    verification: Verification


class DownloadOptions(TypedDict, total=False):
    """Keywords of `download_quarter`, passed through by `download_quarters`."""

    base_url: str | None
    manifest: Mapping[Quarter, ManifestEntry] | None
    retries: int
    backoff_seconds: float
    max_backoff_seconds: float
    timeout: float
    progress: ProgressCallback | None
    verify: bool
    sleep: Callable[[float], None]


def manifest_path() -> Path:
    """``$PV_MANIFEST``, else the manifest shipped with pv (``pv/data``), never relative to the cwd."""
    override = os.environ.get("PV_MANIFEST")
    if override:
        return Path(override)
    return resources.data_dir() / "faers_zip_manifest.csv"


def load_manifest(path: Path | None = None) -> dict[Quarter, ManifestEntry]:
    """Read the integrity table; a malformed one is refused, since it would make every check meaningless."""
    path = manifest_path() if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: FAERS zip manifest not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: FAERS zip manifest is not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the FAERS zip manifest: {exc.strerror or exc}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [column for column in MANIFEST_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise UserError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    entries: dict[Quarter, ManifestEntry] = {}
    for row in reader:
        where = f"{path}:{reader.line_num}"
        entry = _manifest_entry(row, where)
        if entry.quarter in entries:
            raise UserError(f"{where}: quarter {entry.quarter} is listed twice")
        entries[entry.quarter] = entry
    return entries


def _manifest_entry(row: dict[str | None, str | None], where: str) -> ManifestEntry:
    def field(name: str) -> str:
        return (row.get(name) or "").strip()

    try:
        quarter = Quarter.parse(field("quarter"))
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    file_name = field("file_name")
    if (
        not file_name.lower().endswith(".zip")
        or "/" in file_name
        or "\\" in file_name
        or quarter_from_name(file_name) != quarter
    ):
        raise UserError(f"{where}: file_name {file_name!r} is not a zip name for {quarter}")
    size = field("bytes")
    if not _DIGITS.fullmatch(size) or int(size) == 0:
        raise UserError(f"{where}: bytes {size!r} is not a positive whole number")
    sha256 = field("sha256").lower()
    if not _SHA256.fullmatch(sha256):
        raise UserError(f"{where}: sha256 {sha256!r} is not 64 hexadecimal digits")
    return ManifestEntry(quarter, file_name, field("url"), int(size), sha256, field("era"))


def quarter_url(
    quarter: Quarter,
    base_url: str | None = None,
    manifest: Mapping[Quarter, ManifestEntry] | None = None,
) -> str:
    """The manifest's file name on the configured base URL, not the manifest's url: FDA has moved files."""
    if manifest is None:
        manifest = load_manifest()
    return _resolve_base_url(base_url) + urllib.parse.quote(_file_name(quarter, manifest))


def _file_name(quarter: Quarter, manifest: Mapping[Quarter, ManifestEntry]) -> str:
    entry = manifest.get(quarter)
    return entry.file_name if entry is not None else quarter.zip_name


def _resolve_base_url(base_url: str | None) -> str:
    source = "base_url"
    if base_url is None:
        from_env = os.environ.get(BASE_URL_ENV, "").strip()
        base_url, source = (from_env, BASE_URL_ENV) if from_env else (DEFAULT_BASE_URL, "DEFAULT_BASE_URL")
    if urllib.parse.urlsplit(base_url).scheme.lower() not in ("http", "https", "file"):
        raise UserError(f"{source} {base_url!r} is not an http(s):// or file:// URL")
    return base_url if base_url.endswith("/") else base_url + "/"


def _case_variant(url: str) -> str | None:
    """FDA's other spelling of the zip (``2021q2`` <-> ``2021Q2``); None when the name has no quarter."""
    base, _, name = url.rpartition("/")
    variant = _ZIP_QUARTER.sub(lambda m: m[1] + m[2].swapcase() + m[3], name)
    return f"{base}/{variant}" if variant != name else None


def sha256_file(path: Path) -> str:
    """SHA-256 of a file read in 1 MiB chunks, so 70 MB zips never sit in memory."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def download_quarter(
    quarter: Quarter,
    dest_dir: Path,
    *,
    base_url: str | None = None,
    manifest: Mapping[Quarter, ManifestEntry] | None = None,
    retries: int = 5,
    backoff_seconds: float = 2.0,
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
    timeout: float = 60.0,
    progress: ProgressCallback | None = None,
    verify: bool = True,
    sleep: Callable[[float], None] | None = None,
) -> DownloadResult:
    """Store one quarter's zip as ``dest_dir/<file_name>``, downloading only what is missing or wrong.

    The zip is written to ``<file_name>.part`` and renamed only once complete and (for manifest quarters)
    verified, so a crash never leaves a half-written zip under the final name. ``retries`` counts retries
    after the first attempt; ``sleep`` is injectable so tests need not wait out the back-off.
    """
    if manifest is None:
        manifest = load_manifest()
    entry = manifest.get(quarter)
    check = entry if verify else None
    label: Verification = "verified" if check else ("skipped" if entry else "not_in_manifest")
    file_name = _file_name(quarter, manifest)
    url = quarter_url(quarter, base_url, manifest)
    dest_dir = Path(dest_dir)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{dest_dir}: cannot create the download folder: {exc.strerror or exc}") from None
    final = dest_dir / file_name
    part = dest_dir / f"{file_name}.part"
    mismatch = dest_dir / f"{file_name}.mismatch"

    if final.is_file():
        size = final.stat().st_size
        if check is None:
            return DownloadResult(quarter, final, size, sha256_file(final), label)
        if size == check.bytes and sha256_file(final) == check.sha256:
            part.unlink(missing_ok=True)
            return DownloadResult(quarter, final, size, check.sha256, label)
        # Kept rather than overwritten: it may be an earlier FDA release worth comparing.
        os.replace(final, mismatch)

    fetcher = _Fetcher(
        url,
        retries=retries,
        backoff_seconds=backoff_seconds,
        max_backoff_seconds=max_backoff_seconds,
        timeout=timeout,
        progress=progress,
        expected_total=entry.bytes if entry else None,
        sleep=sleep or time.sleep,
    )
    transfer = fetcher.fetch(part)
    sha256, problem = _inspect(part, check, transfer)
    if problem and not transfer.fresh:
        # The part was built on bytes left by an earlier run, possibly of an older release: start over once.
        part.unlink()
        transfer = fetcher.fetch(part)
        sha256, problem = _inspect(part, check, transfer)
    if problem:
        os.replace(part, mismatch)
        raise UserError(f"{file_name}: {problem}; kept as {mismatch} to investigate")
    size = part.stat().st_size
    os.replace(part, final)
    return DownloadResult(quarter, final, size, sha256, label)


def _inspect(part: Path, check: ManifestEntry | None, transfer: _Transfer) -> tuple[str, str | None]:
    """SHA-256 of a finished part and what is wrong with it, if anything."""
    size = part.stat().st_size
    sha256 = sha256_file(part)
    if check is not None:
        if size != check.bytes or sha256 != check.sha256:
            return sha256, (
                f"got {size:,} bytes sha256 {sha256}, manifest expects {check.bytes:,} bytes "
                f"sha256 {check.sha256}; FDA may have replaced the zip"
            )
    elif not transfer.size_ok:
        return sha256, f"the server announces a size other than the {size:,} bytes received"
    elif not zipfile.is_zipfile(part):
        return sha256, f"the {size:,} bytes received are not a zip archive"
    return sha256, None


def download_quarters(
    quarters: Iterable[Quarter], dest_dir: Path, **kwargs: Unpack[DownloadOptions]
) -> list[DownloadResult]:
    """Download quarters in order (each once) reading the manifest once; stops at the first failure."""
    if kwargs.get("manifest") is None:
        kwargs["manifest"] = load_manifest()
    results: list[DownloadResult] = []
    seen: set[Quarter] = set()
    for quarter in quarters:
        if quarter not in seen:
            seen.add(quarter)
            results.append(download_quarter(quarter, dest_dir, **kwargs))
    return results


@dataclass(frozen=True)
class _Transfer:
    # fresh: the part holds no bytes from before this fetch (it started empty or the server restarted it).
    fresh: bool
    # size_ok: the part's size equals the total the server announced (or the server announced none).
    size_ok: bool


class _TransferError(Exception):
    """A response that ended or behaved so that the request should simply be retried."""


class _Fetcher:
    """HTTP transfer of one zip into a ``.part`` file, with Range resume, retries and FDA's case fallback."""

    def __init__(
        self,
        url: str,
        *,
        retries: int,
        backoff_seconds: float,
        max_backoff_seconds: float,
        timeout: float,
        progress: ProgressCallback | None,
        expected_total: int | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.url = url
        self._variant = _case_variant(url)
        self._not_found: list[str] = []
        self._retries = retries
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._timeout = timeout
        self._progress = progress
        self._expected_total = expected_total
        self._sleep = sleep
        self._restarted = False

    def fetch(self, part: Path) -> _Transfer:
        """Complete the part from wherever it stands, retrying transient failures with back-off."""
        self._restarted = _size(part) == 0
        failures = 0
        while True:
            offset = _size(part)
            headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            retry_after: float | None = None
            try:
                request = urllib.request.Request(self.url, headers=headers)
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    self._receive(response, part, offset)
                    return _Transfer(fresh=self._restarted, size_ok=True)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code == 416 and offset:
                    # Nothing left to send: the part may be complete, which only the caller can tell.
                    match = _UNSATISFIED_RANGE.search(exc.headers.get("Content-Range", ""))
                    complete = match is not None and int(match[1]) == offset
                    return _Transfer(fresh=self._restarted, size_ok=complete)
                if exc.code == 404:
                    self._use_variant_or_raise()
                    continue
                if not (exc.code >= 500 or exc.code in (408, 425, 429)):
                    raise UserError(f"{self.url}: HTTP {exc.code} {exc.reason}") from None
                error = f"HTTP {exc.code} {exc.reason}"
                retry_after = _retry_after(exc.headers)
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, FileNotFoundError):
                    self._use_variant_or_raise()
                    continue
                if isinstance(reason, ssl.SSLCertVerificationError) or not isinstance(reason, OSError):
                    raise UserError(f"{self.url}: {reason}") from None
                error = str(reason) or type(reason).__name__
            except (OSError, http.client.HTTPException, _TransferError) as exc:
                error = str(exc) or type(exc).__name__
            failures += 1
            if failures > self._retries:
                raise UserError(f"{self.url}: download failed after {failures} attempts; last error: {error}")
            delay = min(self._backoff * 2 ** (failures - 1), self._max_backoff)
            if retry_after is not None:
                delay = min(max(delay, retry_after), self._max_backoff)
            self._sleep(delay)

    def _use_variant_or_raise(self) -> None:
        """After a 404 switch once to FDA's other spelling of the name; a second 404 means it is gone."""
        self._not_found.append(self.url)
        if self._variant is None:
            name = urllib.parse.unquote(self._not_found[0].rpartition("/")[2])
            raise UserError(
                f"{name}: not found at {' nor '.join(self._not_found)}; "
                f"FDA may have moved it, set {BASE_URL_ENV} or pass base_url"
            )
        self.url, self._variant = self._variant, None

    def _receive(self, response: http.client.HTTPResponse, part: Path, offset: int) -> None:
        """Append to the part on a 206; on a 200 the server ignored Range, so rewrite it from byte 0."""
        status = response.status or 200
        if status == 206:
            match = _CONTENT_RANGE.search(response.headers.get("Content-Range", ""))
            if match is None or int(match[1]) != offset:
                part.unlink(missing_ok=True)
                raise _TransferError(
                    f"206 answer with Content-Range {response.headers.get('Content-Range')!r} "
                    f"for a request from byte {offset}"
                )
            total = None if match[3] == "*" else int(match[3])
        else:
            length = response.headers.get("Content-Length", "")
            total = int(length) if _DIGITS.fullmatch(length) else None
            offset = 0
            self._restarted = True
        shown_total = total if total is not None else self._expected_total
        try:
            with open(part, "ab" if offset else "wb") as handle:
                received = self._copy(response, handle, offset, shown_total)
        except OSError as exc:
            raise UserError(f"{part}: cannot write: {exc.strerror or exc}") from None
        if total is not None and received != total:
            raise _TransferError(f"connection closed after {received:,} of {total:,} bytes")

    def _copy(
        self, response: http.client.HTTPResponse, handle: BinaryIO, received: int, total: int | None
    ) -> int:
        """Stream the body into the part; read errors become retryable, write errors stay OSError."""
        if self._progress:
            self._progress(received, total)
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except OSError as exc:
                raise _TransferError(f"{type(exc).__name__}: {exc}") from exc
            if not chunk:
                break
            handle.write(chunk)
            received += len(chunk)
            if self._progress:
                self._progress(received, total)
        handle.flush()
        os.fsync(handle.fileno())
        return received


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _retry_after(headers: Message) -> float | None:
    value = (headers.get("Retry-After") or "").strip()
    return float(value) if _DIGITS.fullmatch(value) else None
