"""Writer locks name their holder; only dead processes' temporary files are removed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pv.errors import UserError
from pv.locks import clear_dead, creator_pid, exclusive, owned_id


def test_second_holder_is_refused_naming_the_first(tmp_path):
    lock = tmp_path / ".lock"
    with exclusive(lock, "the thing"):
        assert lock.read_text() == f"{os.getpid()}\n"
        with pytest.raises(UserError) as refused, exclusive(lock, "the thing"):
            pass
    assert (
        str(refused.value)
        == f"the thing: PID {os.getpid()} is writing to it (lock {lock}); try again when it ends"
    )
    assert lock.read_text() == ""  # released: no PID left behind
    with exclusive(lock, "the thing"):  # and free again
        pass


def test_only_dead_creators_leftovers_are_cleared(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {
        "dead_db": f".pv.duckdb.p{dead.pid}-0123abcd.tmp",
        "dead_wal": f".pv.duckdb.p{dead.pid}-0123abcd.tmp.wal",
        "dead_work": f"2023Q1-p{dead.pid}-0123abcd",
        "live": f".pv.duckdb.p{os.getppid()}-0123abcd.tmp",
        "own": f".pv.duckdb.{owned_id()}.tmp",
        "unowned": ".pv.duckdb.lock",
        "old_style": "2023Q1-0123abcd",
    }
    for key, name in names.items():
        if key in ("dead_work", "old_style"):  # work folders
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_text("x")
    assert creator_pid(names["dead_wal"]) == dead.pid and creator_pid(names["unowned"]) is None
    removed = clear_dead(tmp_path)
    assert sorted(path.name for path in removed) == sorted(
        [names["dead_db"], names["dead_wal"], names["dead_work"]]
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [names["live"], names["own"], names["unowned"], names["old_style"]]
    )
