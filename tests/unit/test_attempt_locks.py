"""One run of one attempt at a time per spool directory (``spoolrt.spooldir.attempts``): a
second file of an attempt that another process runs now waits, then is refused as a duplicate.
(Real uWSGI with two spooler processes: tests/integration/test_remote.py.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from spoolrt import Spooler, TaskStatus
from spoolrt.core.config import Settings
from spoolrt.runtime.admission import FileKept
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.spooldir.attempts import attempt_locks
from tests.unit.test_dispatch import KEY, packet

ran: list[str] = []


@Spooler.task()
def unit_twin(tag: str) -> str:
    ran.append(tag)
    return tag


NAME = f"{__name__}:unit_twin"


@contextmanager
def held_elsewhere(spool: Path, task_id: str, attempt: int) -> Iterator[None]:
    """A forked process holds the attempt's lock until the block ends (then it exits)."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: take the lock, say so, wait to be let go
        try:
            locks = attempt_locks(str(spool))
            ok = locks is not None and locks.take(task_id, attempt) is not None
            os.write(ready_w, b"1" if ok else b"0")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"1"
        yield
    finally:
        os.write(go_w, b"x")
        os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)


def test_an_attempt_locked_by_another_process_cannot_be_taken_until_it_lets_go(
    tmp_path: Path,
) -> None:
    locks = attempt_locks(str(tmp_path))
    assert locks is not None
    with held_elsewhere(tmp_path, "tid", 1):
        assert locks.take("tid", 1) is None
        other = locks.take("tid", 2)  # another attempt of the task is another lock
        assert other is not None
        locks.release(other)
    held = locks.take("tid", 1)  # the holder is gone, and with it its lock
    assert held is not None
    locks.release(held)


def test_a_twin_of_a_running_attempt_waits_then_is_refused_as_a_duplicate(
    tmp_path: Path,
) -> None:
    ran.clear()
    dispatcher = Dispatcher(Settings(secret_key=KEY))
    twin = packet(tmp_path, name=NAME, args=("twin",))
    with held_elsewhere(tmp_path, "tid", 1), pytest.raises(FileKept, match="another process"):
        dispatcher.run(str(tmp_path), "twin-file", twin)
    assert ran == []
    first = dispatcher.run(str(tmp_path), "first-file", packet(tmp_path, name=NAME, args=("a",)))
    assert first.status is TaskStatus.DONE and ran == ["a"]
    again = dispatcher.run(str(tmp_path), "twin-file", twin)
    assert (again.status, again.reason, ran) == (TaskStatus.QUARANTINED, "duplicate", ["a"])
