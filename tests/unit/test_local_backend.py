"""Outside uWSGI: backend choice, the local writer, and waking announced spoolers."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler, backends
from spoolrt.core.codec.envelope import decode_packet
from spoolrt.core.codec.packet import FILE_PREFIX, unpack
from spoolrt.core.errors import BackendUnavailable, ConfigurationError, UnknownSpooler
from spoolrt.runtime.eager import EagerBackend
from spoolrt.sending.backends.local import LocalBackend, peers
from spoolrt.spooldir.presence import (
    HOST,
    KIND_UWSGI,
    KIND_WORKER,
    announce,
    list_announcements,
    run_dir,
    start_token,
)

KEY = "unit-test-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _automatic_backend() -> Iterator[None]:
    previous = backends.forced()
    backends.force(None)
    yield
    backends.force(previous)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    spoolrt.configure(spool_dirs=[str(folder)], secret_key=KEY)
    return folder


@Spooler.task()
def add(a: int, b: int = 0) -> int:
    return a + b


def pending(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f"{FILE_PREFIX}*") if ".spoolrt" not in p.parts)


# --- choosing the backend -------------------------------------------------------------------------


def test_no_uwsgi_and_no_spool_dir_is_a_clear_error_not_a_dropped_call() -> None:
    with pytest.raises(BackendUnavailable, match="SPOOLRT_SPOOL_DIRS"):
        add(1)
    with pytest.raises(BackendUnavailable):
        spoolrt.backend()


def test_spool_dirs_come_from_the_environment_pathsep_separated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOOLRT_SPOOL_DIRS", os.pathsep.join([str(tmp_path / "a"), "", "/b"]))
    spoolrt.core.config.reset()
    chosen = spoolrt.backend()
    assert chosen.name == "local"
    assert chosen.spooler_dirs() == [str(tmp_path / "a"), "/b"]


def test_configure_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOOLRT_SPOOL_DIRS", "/from/env")
    spoolrt.core.config.reset()
    spoolrt.configure(spool_dirs=[str(tmp_path)])
    assert spoolrt.backend().spooler_dirs() == [str(tmp_path)]


def test_order_forced_then_eager_then_uwsgi_then_local(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spoolrt.backend().name == "local"
    fake_uwsgi = types.ModuleType("uwsgi")
    fake_uwsgi.opt = {}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uwsgi", fake_uwsgi)
    assert spoolrt.backend().name == "uwsgi"
    spoolrt.configure(eager=True)
    assert spoolrt.backend().name == "eager"
    forced = LocalBackend([str(spool)])
    backends.force(forced)
    assert spoolrt.backend() is forced


def test_eager_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLRT_EAGER", "1")
    spoolrt.core.config.reset()
    assert spoolrt.get_settings().eager is True
    assert isinstance(spoolrt.backend(), EagerBackend)


def test_the_choice_is_logged_once_at_debug(spool: Path, caplog: pytest.LogCaptureFixture) -> None:
    backends.force(EagerBackend())  # a different choice first, so the next one is news
    spoolrt.backend()
    backends.force(None)
    with caplog.at_level(logging.DEBUG, logger="spoolrt"):
        for _ in range(3):
            spoolrt.backend()
    chosen = [r for r in caplog.records if "using the local backend" in r.getMessage()]
    assert len(chosen) == 1


def test_the_local_backend_is_reused_between_calls(spool: Path) -> None:
    assert spoolrt.backend() is spoolrt.backend()


# --- writing --------------------------------------------------------------------------------------


def test_a_call_writes_one_signed_spool_file_in_uwsgi_format(spool: Path) -> None:
    handle = add(2, b=3)
    (path,) = pending(spool)
    assert handle.path == str(path) and handle.spooler == str(spool)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    packet = unpack(path.read_bytes())
    assert packet.vars[b"spooler"] == str(spool).encode()
    envelope = decode_packet(packet, spoolrt.get_settings().signer())
    assert envelope.task_id == handle.task_id
    assert envelope.name == add.name
    assert [p.name for p in spool.iterdir() if p.name.startswith(".tmp")] == []


def test_postpone_sets_mtime_to_the_whole_second_at_or_after(spool: Path) -> None:
    at = time.time() + 30.25  # within the parking horizon: written into the spool dir itself
    add.spool_with((1,), postpone=30.25)
    (path,) = pending(spool)
    assert at <= path.stat().st_mtime <= at + 1.01
    assert path.stat().st_mtime == int(path.stat().st_mtime)


def test_priority_goes_to_its_numeric_sub_directory(spool: Path) -> None:
    add.spool_with((1,), priority=0)
    add.spool_with((1,), priority=7)
    assert [p.parent.name for p in pending(spool)] == ["0", "7"]


def test_another_directory_by_basename_or_path_and_unknown_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "default", tmp_path / "mail"
    spoolrt.configure(spool_dirs=[str(first), str(second)], secret_key=KEY)
    add.spool_with((1,), spooler="mail")
    add.spool_with((2,), spooler=str(second))
    add(3)
    assert len(pending(second)) == 2 and len(pending(first)) == 1
    with pytest.raises(UnknownSpooler):
        add.spool_with((4,), spooler=str(tmp_path / "elsewhere"))


def test_unpicklable_argument_fails_before_anything_is_written(spool: Path) -> None:
    with pytest.raises(spoolrt.SerializationError):
        add(lambda: 1)  # type: ignore[arg-type]
    assert pending(spool) == []


# --- announcements and waking ---------------------------------------------------------------------

SPOOLER_STUB = textwrap.dedent(
    """
    import os, signal, sys, time
    from spoolrt.spooldir.presence import announce
    spool, kind, ordered, out = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    busy = len(sys.argv) > 5

    def woken(signum, frame):
        with open(out, "a") as f:
            f.write("woken\\n")

    signal.signal(signal.SIGUSR1, woken)
    presence = announce(spool, kind, ordered=ordered)
    if busy:
        presence.busy().__enter__()
    with open(out, "a") as f:
        f.write("ready\\n")
    while True:
        time.sleep(0.05)
    """
)


class Stub:
    """A process that announces itself like a spooler and writes a line per SIGUSR1."""

    def __init__(self, tmp_path: Path, spool: Path, kind: str, ordered: bool, busy: bool) -> None:
        self.out = tmp_path / f"stub-{os.urandom(3).hex()}.txt"
        args = [str(spool), kind, "1" if ordered else "0", str(self.out)] + (
            ["busy"] if busy else []
        )
        self.proc = subprocess.Popen([sys.executable, "-c", SPOOLER_STUB, *args])
        deadline = time.monotonic() + 10
        while "ready" not in self.lines():
            assert self.proc.poll() is None, "stub spooler died"
            assert time.monotonic() < deadline, "stub spooler did not announce itself"
            time.sleep(0.01)

    def lines(self) -> list[str]:
        return self.out.read_text().split() if self.out.exists() else []

    def wait_woken(self, count: int = 1, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.lines().count("woken") < count:
            assert time.monotonic() < deadline, f"not woken {count} time(s): {self.lines()}"
            time.sleep(0.005)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[list[Stub]]:
    started: list[Stub] = []
    yield started
    for stub in started:
        stub.stop()


def start_stub(
    stubs: list[Stub], tmp_path: Path, spool: Path, kind: str = KIND_WORKER,
    ordered: bool = True, busy: bool = False,
) -> Stub:  # fmt: skip
    stub = Stub(tmp_path, spool, kind, ordered, busy)
    stubs.append(stub)
    return stub


def test_an_enqueue_wakes_the_announced_idle_spooler(
    spool: Path, tmp_path: Path, stubs: list[Stub]
) -> None:
    stub = start_stub(stubs, tmp_path, spool)
    add(1)
    stub.wait_woken(1)
    add(2)
    stub.wait_woken(2)
    assert Spooler.get_pids() == [stub.proc.pid]


def test_a_busy_spooler_is_not_signalled(spool: Path, tmp_path: Path, stubs: list[Stub]) -> None:
    busy = start_stub(stubs, tmp_path, spool, busy=True)
    idle = start_stub(stubs, tmp_path, spool)
    add(1)
    idle.wait_woken(1)
    assert "woken" not in busy.lines()
    assert sorted(Spooler.get_pids()) == sorted([busy.proc.pid, idle.proc.pid])


def test_a_dead_spoolers_announcement_is_removed_and_not_signalled(
    spool: Path, tmp_path: Path, stubs: list[Stub]
) -> None:
    stub = start_stub(stubs, tmp_path, spool)
    (announced,) = list_announcements(str(spool))
    stub.stop()
    add(1)
    assert not os.path.exists(announced.path)
    assert Spooler.get_pids() == []


def test_a_recycled_pid_is_never_signalled(spool: Path) -> None:
    # A live process that never announced itself, under an announcement with another start
    # time: exactly what a recycled pid looks like. SIGUSR1 would kill it (default action).
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        real_start = start_token(bystander.pid)
        assert real_start is not None
        forged = run_dir(spool) / f"{HOST}-{bystander.pid}-old.json"
        forged.parent.mkdir(parents=True)
        record = {"pid": bystander.pid, "host": HOST, "start": real_start + "0", "kind": "worker"}
        forged.write_text(json.dumps(record))
        add(1)
        assert peers(str(spool)).wake() == 0
        with pytest.raises(subprocess.TimeoutExpired):
            bystander.wait(timeout=0.3)  # still alive: it was not signalled
        assert not forged.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_the_writer_never_signals_itself(spool: Path) -> None:
    presence = announce(str(spool), KIND_WORKER, ordered=True)
    assert presence is not None
    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # a signal would kill the test run
    try:
        add(1)
        assert peers(str(spool)).wake() == 0
    finally:
        signal.signal(signal.SIGUSR1, previous)
        presence.withdraw()
    assert list_announcements(str(spool)) == []


# --- priorities outside uWSGI ---------------------------------------------------------------------


def test_priority_refused_when_a_uwsgi_spooler_on_the_dir_is_unordered(
    spool: Path, tmp_path: Path, stubs: list[Stub]
) -> None:
    start_stub(stubs, tmp_path, spool, kind=KIND_UWSGI, ordered=False)
    with pytest.raises(ConfigurationError, match="spooler-ordered"):
        add.spool_with((1,), priority=1)
    assert pending(spool) == []


def test_priority_accepted_with_ordered_uwsgi_or_workers_or_nobody_known(
    spool: Path, tmp_path: Path, stubs: list[Stub]
) -> None:
    add.spool_with((1,), priority=1)
    start_stub(stubs, tmp_path, spool, kind=KIND_UWSGI, ordered=True)
    start_stub(stubs, tmp_path, spool, kind=KIND_WORKER, ordered=True)
    add.spool_with((1,), priority=2)
    assert len(pending(spool)) == 2


PROBE_BUSY = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDONLY)
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 0)
        print("idle")
    except OSError:
        print("busy")
    """
)


def test_a_busy_spooler_that_spools_a_task_stays_marked_busy(spool: Path) -> None:
    # A task running in a worker may spool another task; the writer then lists the spool's
    # announcements. Opening (and closing) its own would silently drop its busy lock.
    presence = announce(str(spool), KIND_WORKER, ordered=True)
    assert presence is not None
    try:
        with presence.busy():
            add(1)
            assert Spooler.get_pids() == []  # itself excluded
            probe = subprocess.run(
                [sys.executable, "-c", PROBE_BUSY, presence.path], capture_output=True, text=True
            )
            assert probe.stdout.strip() == "busy"
    finally:
        presence.withdraw()
