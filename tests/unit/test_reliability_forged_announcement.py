"""A forged announcement cannot make a local enqueue signal an arbitrary process (issue 18, 6).

A pid and its start token are public (``/proc/<pid>/stat``): a file in ``.spoolrt/run/``
naming any process made every local enqueue send it ``SIGUSR1``, which killed it (exit -10).
The victim here is a real ``sleep`` process; the announcement is as good as a forger can make
it (right host, pid, start token, owner), only the process never announced itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt import Spooler, configure
from spoolrt.sending.backends.local import peers
from spoolrt.spooldir.presence import HOST, KIND_WORKER, SUFFIX, run_dir, start_token
from tests.support.uwsgi import wait_for


@Spooler.task()
def forged_target(n: int) -> int:
    return n


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "300"])
    try:
        wait_for(lambda: start_token(process.pid), timeout=10, what="the sleep process")
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _forge(spool: Path, pid: int, *, name: str | None = None) -> Path:
    folder = run_dir(spool)
    folder.mkdir(parents=True, exist_ok=True)
    token = start_token(pid)
    assert token is not None
    record = {"pid": pid, "host": HOST, "start": token, "kind": KIND_WORKER, "ordered": True}
    path = folder / (name or f"{HOST}-{pid}-{token.replace(':', '_')}{SUFFIX}")
    path.write_text(json.dumps(record))
    return path


def _still_alive(process: subprocess.Popen[bytes]) -> bool:
    try:
        process.wait(timeout=0.5)  # SIGUSR1 kills sleep at once; give it the time to die
    except subprocess.TimeoutExpired:
        return True
    return False


def test_a_forged_announcement_gets_no_signal(
    tmp_path: Path, victim: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    configure(spool_dirs=[str(spool)])
    _forge(spool, victim.pid)
    forged_target(1)  # a local enqueue wakes the announced idle spoolers
    assert peers(os.path.realpath(spool)).wake() == 0
    assert _still_alive(victim), f"the sleep process died: {victim.returncode}"


def test_a_symlinked_announcement_gets_no_signal(
    tmp_path: Path, victim: subprocess.Popen[bytes]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    configure(spool_dirs=[str(spool)])
    real = _forge(spool, victim.pid, name="elsewhere")
    (run_dir(spool) / f"{HOST}-{victim.pid}-x{SUFFIX}").symlink_to(real)
    real.rename(tmp_path / "outside.json")
    (run_dir(spool) / "elsewhere").symlink_to(tmp_path / "outside.json")
    forged_target(1)
    assert _still_alive(victim), f"the sleep process died: {victim.returncode}"
