"""A process that was killed but not yet reaped (a zombie) is dead: its ``/proc`` entry keeps
its pid and start time until its parent (or init) waits for it, so a check by start token alone
took it for alive. That is exactly the state of a spooler whose uWSGI master was killed with
it: after a fast restart the new spooler took the dead one's slot for a live run and ran the
interrupted attempt again instead of counting it as lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt.spooldir.presence import HOST, process_alive, run_dir, start_token
from spoolrt.spooldir.slots import _HEADER_SIZE, SLOT_SUFFIX, SlotBoard, _encode


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return stat[stat.rfind(b")") + 2 :].split()[0].decode()


@pytest.fixture
def zombie() -> Iterator[tuple[int, str]]:
    """A child killed with SIGKILL and not waited for, with the start token it had alive."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    token = start_token(child.pid)
    assert token is not None
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _state(child.pid) != "Z":
        assert time.monotonic() < deadline, "the child did not become a zombie"
        time.sleep(0.01)
    try:
        yield child.pid, token
    finally:
        child.wait(10)  # reaped by the test that made it


def test_a_killed_process_not_yet_reaped_is_not_alive(zombie: tuple[int, str]) -> None:
    pid, token = zombie
    assert start_token(pid) is None
    assert not process_alive(pid, token)


def test_the_slot_of_a_killed_unreaped_spooler_is_found_as_interrupted(
    tmp_path: Path, zombie: tuple[int, str]
) -> None:
    pid, token = zombie
    folder = run_dir(str(tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    header = f"spoolrt-slot 1 {pid} {token}\n".encode().ljust(_HEADER_SIZE)
    dead = folder / f"{HOST}-{pid}-{token.replace(':', '_')}{SLOT_SUFFIX}"
    dead.write_bytes(header + _encode("task-1", 1, time.time(), "tasks:x"))
    board = SlotBoard(str(tmp_path))
    try:
        found = board.start("task-1", 1, "tasks:x", time.time())
    finally:
        board.close()
    assert found is not None and found.pid == pid
