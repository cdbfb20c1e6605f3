"""Writer locks and the temporary files of writers: one writer at a time, and only dead writers' leftovers
are ever removed.

A lock is an ``flock`` on a small file holding the holder's PID, so a second writer can say who holds it;
the kernel releases it when the holder dies, even by ``kill -9``. Temporary files and folders carry the PID
of the process that made them in their name (``owned_id``), so a later run removes only those whose
creator is gone.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pv.errors import UserError

_OWNED = re.compile(r"(?:^|[.-])p(\d+)-[0-9a-f]{8}(?:$|\.)")


def holder_pid(lock_file: Path) -> int | None:
    """The PID written into a lock file by its holder, if readable."""
    try:
        text = lock_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    """Hold ``lock_file`` exclusively, or fail at once with a one-line error naming the holder's PID."""
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise UserError(f"{lock_file}: cannot create or open the lock ({error.strerror or error})") from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = holder_pid(lock_file)
            holder = f"PID {pid}" if pid else "another process"
            raise UserError(
                f"{what}: {holder} is writing to it (lock {lock_file}); try again when it ends"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def owned_id() -> str:
    """``p<pid>-<random>``: part of a temporary name that says which process made it."""
    return f"p{os.getpid()}-{uuid.uuid4().hex[:8]}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def creator_pid(name: str) -> int | None:
    match = _OWNED.search(name)
    return int(match.group(1)) if match else None


def clear_dead(folder: Path, prefix: str = "") -> list[Path]:
    """Remove the entries of ``folder`` starting with ``prefix`` whose creating process is dead."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        pid = creator_pid(entry.name)
        if not entry.name.startswith(prefix) or pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
