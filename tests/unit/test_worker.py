"""The pure-Python worker in this process: claiming like uWSGI, order, ``at``, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler, backends
from spoolrt.cli import worker_main
from spoolrt.core.codec.packet import FILE_PREFIX
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.runtime.worker import Worker
from spoolrt.spooldir.claim import claim
from spoolrt.spooldir.layout import write_spool_file
from spoolrt.spooldir.listing import pending_files
from spoolrt.spooldir.presence import list_announcements
from spoolrt.testing import LocalSpool, local_spool

ran: list[str] = []


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    ran.clear()
    previous = backends.forced()
    yield
    backends.force(previous)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


@Spooler.task()
def note(tag: str) -> str:
    ran.append(tag)
    return tag


@Spooler.task()
def respool(tag: str) -> None:
    ran.append(tag)
    note(f"{tag}-child")


# --- claiming, as uWSGI claims --------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)       # what a uWSGI spooler holds while a task runs
    print("locked", flush=True)
    sys.stdin.read()
    """
)


def test_a_file_locked_by_another_process_is_skipped_then_run(spool: LocalSpool) -> None:
    handle = note("locked")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, handle.path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        assert claim(handle.path, due_by=None) is None
        assert spool.run_until_empty() == {}
        assert ran == [] and spool.pending() == [handle.path]
    finally:
        holder.communicate(b"")
    assert spool.run_until_empty() == {"done": 1}
    assert ran == ["locked"]


def test_a_file_unlinked_between_open_and_lock_is_left_alone(
    spool: LocalSpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = note("raced")
    real_open = os.open

    def open_then_lose_the_race(path: str, flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        if path == handle.path:
            os.unlink(path)  # uWSGI ran it and unlinked it in between
        return fd

    monkeypatch.setattr(os, "open", open_then_lose_the_race)
    assert claim(handle.path, due_by=None) is None


def test_the_lock_is_held_while_the_task_runs(spool: LocalSpool) -> None:
    seen: list[bool] = []

    @Spooler.task(name="tests.unit.test_worker:probe_lock")
    def probe_lock() -> None:
        ((path, _mtime),) = list(pending_files(str(spool.dir)))
        probe = subprocess.run(
            [sys.executable, "-c", PROBE_LOCK, path], capture_output=True, text=True
        )
        seen.append(probe.stdout.strip() == "locked")

    probe_lock()
    spool.run_until_empty()
    assert seen == [True]


PROBE_LOCK = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("free")
    except OSError:
        print("locked")
    """
)


# --- order and time -------------------------------------------------------------------------------


def test_priorities_run_lowest_first_then_the_top_level(spool: LocalSpool) -> None:
    for tag, priority in [("p10", 10), ("none", None), ("p2", 2), ("p0", 0)]:
        note.spool_with((tag,), priority=priority)
    spool.run_until_empty()
    assert ran == ["p0", "p2", "p10", "none"]


def test_top_level_files_run_oldest_first(spool: LocalSpool) -> None:
    handles = [note(tag) for tag in ["a", "b", "c"]]
    now = time.time()
    for age, handle in zip([10, 30, 20], handles, strict=True):
        os.utime(handle.path, (now - age, now - age))
    spool.run_until_empty()
    assert ran == ["b", "c", "a"]


def test_postponed_files_wait_for_their_second(spool: LocalSpool) -> None:
    note.spool_with(("later",), postpone=30)
    note("now")
    assert spool.run_until_empty() == {"done": 1}
    assert ran == ["now"]
    assert spool.run_until_empty(include_postponed=True) == {"done": 1}
    assert ran == ["now", "later"]


def test_run_forever_wakes_for_a_postponed_task_before_its_next_scan(spool: LocalSpool) -> None:
    worker = Worker([str(spool.dir)], frequency=30)
    due = time.time() + 1.2
    note.spool_with(("timed",), postpone=1.2)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
        thread.join(10)
    assert ran == ["timed"]
    assert time.time() >= due
    assert not thread.is_alive()


def test_a_task_spooled_by_a_task_runs_in_the_same_drain(spool: LocalSpool) -> None:
    respool("parent")  # returns None: skipped
    assert spool.run_until_empty() == {"skipped": 1, "done": 1}
    assert ran == ["parent", "parent-child"]


# --- files that are not tasks ---------------------------------------------------------------------


def test_truncated_file_is_quarantined_with_a_reason(spool: LocalSpool) -> None:
    path = write_spool_file(str(spool.dir), bytes([17, 200, 0, 0]) + b"short")
    assert spool.run_until_empty() == {"quarantined": 1}
    assert not os.path.exists(path)
    (kept,) = spool.quarantined()
    record = json.loads(Path(kept + ".json").read_text())
    assert record["reason"] == "corrupt"
    assert Path(kept).read_bytes() == bytes([17, 200, 0, 0]) + b"short"


def test_a_young_empty_file_may_be_mid_write_and_is_left_alone(spool: LocalSpool) -> None:
    young = spool.dir / f"{FILE_PREFIX}young"
    young.write_bytes(b"")
    old = spool.dir / f"{FILE_PREFIX}old"
    old.write_bytes(b"\x11")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert spool.run_until_empty() == {"quarantined": 1}
    assert young.exists() and not old.exists()


def test_when_bookkeeping_fails_the_file_stays_for_a_rerun(
    spool: LocalSpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = note("disk-full")

    def full(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Dispatcher, "run", full)
    assert spool.run_until_empty() == {"error": 1}
    assert spool.pending() == [handle.path]
    monkeypatch.undo()
    assert spool.run_until_empty() == {"done": 1}


# --- serving --------------------------------------------------------------------------------------


def test_run_forever_in_a_thread_serves_and_stops_without_announcing(spool: LocalSpool) -> None:
    worker = Worker([str(spool.dir)], frequency=0.05)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        note("threaded")
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.01)
        # no SIGUSR1 handler outside the main thread, so it must not invite signals
        assert list_announcements(str(spool.dir)) == []
    finally:
        worker.stop()
        thread.join(10)
    assert ran == ["threaded"] and not thread.is_alive()


def test_constructor_refuses_nonsense(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Worker([])
    with pytest.raises(ValueError):
        Worker([tmp_path], processes=0)
    with pytest.raises(ValueError):
        Worker([tmp_path], frequency=0)


def test_command_line_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert worker_main([]) == 2
    assert "SPOOLRT_SPOOL_DIRS" in capsys.readouterr().err
    assert worker_main(["--spool", str(tmp_path / "missing")]) == 2
    assert worker_main(["--spool", str(tmp_path), "--processes", "0"]) == 2
    assert worker_main(["--spool", str(tmp_path), "--app", "no_such_module_here"]) == 2
    assert "no_such_module_here" in capsys.readouterr().err
    assert worker_main(["--bogus"]) == 2
    assert worker_main(["--help"]) == 0


def test_command_line_until_empty_prints_counts(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    note("cli")
    assert worker_main(["--spool", str(spool.dir), "--until-empty"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"done": 1}
    assert ran == ["cli"]


def test_until_empty_with_several_processes_adds_their_counts(spool: LocalSpool) -> None:
    for i in range(40):
        note(f"n{i}")
    counts = Worker([str(spool.dir)], processes=2).run_until_empty()
    assert counts == {"done": 40}
    assert spool.pending() == []


@Spooler.task(retries=2, retry_delay=0.2)
def fails_once(tag: str) -> str:
    ran.append(tag)
    task = spoolrt.current_task()
    if task is not None and task.attempt == 1:
        raise RuntimeError("first attempt fails")
    return tag


def test_until_empty_waits_for_a_retry_due_soon(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reported: ``--until-empty`` exited while a retry was still pending."""
    fails_once("again")
    assert worker_main(["--spool", str(spool.dir), "--until-empty"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "done": 1,
        "retrying": 1,
    }
    assert ran == ["again", "again"] and spool.pending() == []


def test_until_empty_with_wait_0_leaves_the_retry(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    fails_once("later")
    assert worker_main(["--spool", str(spool.dir), "--until-empty", "--wait", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"retrying": 1}
    assert ran == ["later"] and len(spool.pending()) == 1


def test_log_level_names_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """Reported: ``--log-level LOUD`` died with a raw ValueError traceback."""
    assert worker_main(["--log-level", "LOUD"]) == 2
    err = capsys.readouterr().err
    assert "'LOUD' is not a log level; choose one of DEBUG, INFO, WARNING" in err
    assert "Traceback" not in err


def test_the_worker_finds_its_app_in_spoolrt_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reported: the worker ignored $SPOOLRT_APP, which every other command honours."""
    (tmp_path / "envapp_for_worker.py").write_text("IMPORTED = True\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOOLRT_APP", "envapp_for_worker")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "spool").mkdir()
    assert worker_main(["--spool", str(tmp_path / "spool"), "--until-empty"]) == 0
    assert sys.modules["envapp_for_worker"].IMPORTED is True
