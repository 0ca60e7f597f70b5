"""``spoolrt ls``, ``stats`` and ``purge`` skip odd files instead of hanging or crashing
(issue 18, point 8).

A FIFO in ``failed/`` or a parked bucket hung ``spoolrt ls`` (and ``get_result``), a directory
gave ``IsADirectoryError`` and an unreadable file ``PermissionError``. Each command runs as a
subprocess with a timeout, as root without its file capabilities (see tests/support/oddfiles.py),
over a spool directory with odd files in every state area: each is named once on stderr, with
its name escaped, and the real tasks are still listed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spoolrt import Spooler, configure
from spoolrt.spooldir.layout import FAILED, keep_aside
from spoolrt.spooldir.regular import escape_name
from tests.support.oddfiles import OddFiles, as_unprivileged, is_fifo, plant_odd_files
from tests.support.uwsgi import REPO


@Spooler.task()
def odd_files_task(n: int) -> int:
    return n


@pytest.fixture
def odd_spool(tmp_path: Path) -> tuple[Path, str, OddFiles]:
    spool = tmp_path / "spool"
    spool.mkdir()
    configure(spool_dirs=[str(spool)])
    handle = odd_files_task(1)
    data = Path(str(handle)).read_bytes()
    keep_aside(str(spool), FAILED, "really_failed", data, {"reason": "retries-exhausted"})
    odd = plant_odd_files(spool, good_spool_file=data, kept_with_fifo_record=True)
    return spool, handle.task_id, odd


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        as_unprivileged([sys.executable, "-m", "spoolrt", *args]),
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO opened without O_NONBLOCK blocked for ever
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def _assert_each_named_once(stderr: str, odd: OddFiles) -> None:
    assert "Traceback" not in stderr, stderr
    for path in odd.all:
        assert stderr.count(f"skipped {escape_name(path)}:") == 1, (path, stderr)
    assert not any(line.startswith("spoolrt: FAKE LINE") for line in stderr.splitlines())


def test_ls_skips_odd_files_and_lists_the_rest(odd_spool: tuple[Path, str, OddFiles]) -> None:
    spool, task_id, odd = odd_spool
    done = _cli("ls", "--json", "--spool", str(spool))
    assert done.returncode == 0, done.stderr
    _assert_each_named_once(done.stderr, odd)
    listed = json.loads(done.stdout)
    rows = listed if isinstance(listed, list) else listed.get("tasks", [])
    ids = {row.get("task_id") or row.get("id") for row in rows}
    assert task_id in ids
    states = {row.get("state") or row.get("status") for row in rows}
    assert "failed" in states


def test_stats_skips_odd_files(odd_spool: tuple[Path, str, OddFiles]) -> None:
    spool, _task_id, odd = odd_spool
    done = _cli("stats", "--spool", str(spool))
    assert done.returncode == 0, done.stderr
    _assert_each_named_once(done.stderr, odd)


def test_purge_skips_odd_files_and_removes_the_rest(
    odd_spool: tuple[Path, str, OddFiles],
) -> None:
    spool, _task_id, odd = odd_spool
    done = _cli("purge", "--failed", "--quarantine", "--yes", "--spool", str(spool))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert not (spool / ".spoolrt" / "failed" / "uwsgi_spoolfile_on_really_failed").exists()
    for fifo in odd.fifos:
        if "kept_fifo_record" not in fifo:  # the record of a purged file goes with it
            assert is_fifo(fifo)
    for path in odd.dirs + odd.unreadable:
        assert os.path.lexists(path)


_GET_RESULT = """
import sys
import spoolrt
from spoolrt import Spooler
spoolrt.configure(spool_dirs=[sys.argv[1]])
print(repr(Spooler.get_result("unknown-id")), flush=True)
"""

_WORKER_PASSES = """
import logging, sys
import spoolrt
from spoolrt.runtime.worker import Worker
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
spoolrt.configure(spool_dirs=[sys.argv[1]])
worker = Worker([sys.argv[1]])
for _ in range(3):
    worker.run_once()
print("passes done", flush=True)
"""


def _python(script: str, spool: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        as_unprivileged([sys.executable, "-c", script, str(spool)]),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def test_get_result_of_an_unknown_id_does_not_block(odd_spool: tuple[Path, str, OddFiles]) -> None:
    """A web worker stayed stuck on a FIFO in a parked bucket until it was restarted."""
    spool, _task_id, _odd = odd_spool
    done = _python(_GET_RESULT, spool)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    assert "Traceback" not in done.stderr


def test_worker_skips_odd_files_and_says_so_once(odd_spool: tuple[Path, str, OddFiles]) -> None:
    """Three passes: each odd pending file is named once (it was two warnings a second, for
    ever), none is run or quarantined, and the real task runs."""
    spool, _task_id, odd = odd_spool
    pending = [p for p in odd.all if os.path.dirname(p) == str(spool)]
    real = [str(p) for p in spool.iterdir() if p.is_file() and str(p) not in pending]
    assert len(real) == 1
    done = _python(_WORKER_PASSES, spool)
    assert done.returncode == 0, done.stderr
    assert "passes done" in done.stdout
    for path in pending:
        assert done.stderr.count(f"skipped {escape_name(path)}:") == 1, (path, done.stderr)
        assert os.path.lexists(path)
    assert not any(line.startswith("spoolrt: FAKE LINE") for line in done.stderr.splitlines())
    assert not os.path.exists(real[0])  # handled (its task is not importable there: set aside)
