"""A local stand-in for FDA's download server, with the faults FDA's real server shows.

Serves the files of one folder on 127.0.0.1 (ephemeral port) with Range support, records every request, and
injects faults: 503s, a connection cut mid-body, Range ignored, wrong bytes, stalls, the capital-Q file name.

Use it as a context manager::

    with FDAServer(folder, Faults(fail_first=2)) as server:
        download_quarter(quarter, dest, base_url=server.base_url, ...)
        assert len(server.requests) == 3

or as the pytest fixture ``fda_server`` (a server on an empty folder under ``tmp_path``), made available in a
test module by ``from fda_server import fda_server_fixture  # noqa: F401`` or in the rootdir conftest by
``pytest_plugins = ["fda_server"]``.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import pytest

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
_ZIP_QUARTER = re.compile(r"(?<!\d)(20\d{2})([qQ])([1-4])(?=\.zip$)")


@dataclass
class Faults:
    """What the server does wrong; counters refer to requests since the server started or was reset."""

    fail_first: int = 0  # answer the first N requests with fail_status
    fail_status: int = 503
    retry_after: int | None = None  # Retry-After seconds sent with those failures
    cut_after: int | None = None  # close the connection after this many body bytes...
    cut_first: int = 1  # ...in the first this-many responses that carry a body
    stall_first: int = 0  # hold the first N requests for stall_seconds before answering
    stall_seconds: float = 0.0
    ignore_range: bool = False  # answer 200 with the whole file even when Range is asked
    range_from_zero: bool = False  # answer Range with a 206 that starts at byte 0 instead
    corrupt: bool = False  # flip one byte in the middle: same size, wrong SHA-256
    capital_q_only: bool = False  # 404 for faers_ascii_2021q2.zip, serve the same file as ..._2021Q2.zip


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw and answered it."""

    method: str
    name: str  # requested file name, URL-decoded
    range: str | None  # the Range header, verbatim
    status: int
    body_bytes: int  # body bytes actually sent


@dataclass
class _State:
    faults: Faults
    requests: list[RecordedRequest] = field(default_factory=list)
    arrived: int = 0
    bodies: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, root: Path, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out or hang up mid-body are part of the tests, not server errors.
        pass

    def record(self, request: RecordedRequest) -> None:
        with self.state.lock:
            self.state.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def _serve(self, *, send_body: bool) -> None:
        state = self.server.state
        with state.lock:
            index = state.arrived
            state.arrived += 1
            faults = state.faults
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path.rpartition("/")[2])
        range_header = self.headers.get("Range")

        if index < faults.stall_first:
            time.sleep(faults.stall_seconds)
        if index < faults.fail_first:
            extra = {"Retry-After": str(faults.retry_after)} if faults.retry_after is not None else {}
            self._answer(name, range_header, faults.fail_status, b"failure injected\n", send_body, extra)
            return
        data = self._lookup(name, faults)
        if data is None:
            self._answer(name, range_header, 404, b"not found\n", send_body)
            return
        if faults.corrupt:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]

        status, body, extra = 200, data, {"Accept-Ranges": "bytes"}
        match = _RANGE.match(range_header or "")
        if match and not faults.ignore_range:
            start = 0 if faults.range_from_zero else int(match[1])
            end = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
            if start >= len(data) or end < start:
                extra["Content-Range"] = f"bytes */{len(data)}"
                self._answer(name, range_header, 416, b"", send_body, extra)
                return
            status, body = 206, data[start : end + 1]
            extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"

        cut = None
        if send_body:
            with state.lock:
                if state.bodies < faults.cut_first:
                    cut = faults.cut_after
                state.bodies += 1
        self._answer(name, range_header, status, body, send_body, extra, cut=cut)

    def _lookup(self, name: str, faults: Faults) -> bytes | None:
        root: Path = self.server.root
        if faults.capital_q_only:
            quarter = _ZIP_QUARTER.search(name)
            if quarter is None or quarter[2] == "q":
                return None
            name = _ZIP_QUARTER.sub(lambda m: m[1] + "q" + m[3], name)
        path = root / name
        if not name or name.startswith(".") or not path.is_file():
            return None
        return path.read_bytes()

    def _answer(
        self,
        name: str,
        range_header: str | None,
        status: int,
        body: bytes,
        send_body: bool,
        headers: dict[str, str] | None = None,
        *,
        cut: int | None = None,
    ) -> None:
        sent = body if cut is None else body[:cut]
        self.server.record(
            RecordedRequest(self.command, name, range_header, status, len(sent) if send_body else 0)
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/zip" if status in (200, 206) else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(sent)
            self.wfile.flush()
        self.close_connection = True


class FDAServer:
    """Threaded HTTP server for one folder; ``base_url`` plays the part of https://fis.fda.gov/content/Exports/."""

    def __init__(self, root: Path, faults: Faults | None = None) -> None:
        self.root = Path(root)
        self._state = _State(faults or Faults())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FDAServer:
        if self._server is None:
            self._server = _Server(self.root, self._state)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.02,), name="fda-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wait for handlers in flight, and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FDAServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FDAServer is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/content/Exports/"

    @property
    def faults(self) -> Faults:
        return self._state.faults

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def add_file(self, name: str, data: bytes) -> Path:
        """Publish ``data`` as ``name``, as FDA would, and return its path."""
        path = self.root / name
        path.write_bytes(data)
        return path

    def reset(self, faults: Faults | None = None) -> None:
        """Forget recorded requests and restart the fault counters, optionally with new faults."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.arrived = self._state.bodies = 0
            if faults is not None:
                self._state.faults = faults


@pytest.fixture(name="fda_server")
def fda_server_fixture(tmp_path: Path) -> Iterator[FDAServer]:
    """A running FDAServer on an empty ``tmp_path/fda`` folder; set faults with ``reset(Faults(...))``."""
    root = tmp_path / "fda"
    root.mkdir()
    with FDAServer(root) as server:
        yield server
