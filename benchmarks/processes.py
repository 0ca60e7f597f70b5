"""Start server processes and stop them, and everything they forked, by PID.

The machine is shared, so the harness never kills by name: it remembers the PID it started,
asks it to stop, and then stops any of its descendants that outlived it (uWSGI spoolers, huey
worker processes). A descendant is identified by PID *and* start time, so a recycled PID that
now belongs to someone else is never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from benchmarks.subject import BenchError


def _stat_fields(pid: int) -> tuple[int, int, str] | None:
    """``(parent pid, start time, state)`` of ``pid`` from ``/proc``, or ``None`` if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after its ')' is fixed.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19]), fields[0]


def descendants(root_pid: int) -> list[tuple[int, int]]:
    """``(pid, start time)`` of every live descendant of ``root_pid`` (Linux ``/proc``)."""
    children: dict[int, list[tuple[int, int]]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        info = _stat_fields(int(entry))
        if info is not None:
            children.setdefault(info[0], []).append((int(entry), info[1]))
    found: list[tuple[int, int]] = []
    pending = [root_pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child[0])
    return found


def kill_if_same(pid: int, started: int, sig: int) -> bool:
    """Signal ``pid`` only if it is still the process that started at ``started``."""
    info = _stat_fields(pid)
    if info is None or info[1] != started:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _running(pid: int, started: int) -> bool:
    info = _stat_fields(pid)
    return info is not None and info[1] == started and info[2] not in ("Z", "X")


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.01
) -> None:
    """Poll ``predicate`` until it holds; raise ``BenchError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class ManagedProcess:
    """One server process; a context manager that always stops it by PID."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        stop_signal: int = signal.SIGINT,
        stop_timeout: float = 15.0,
    ) -> None:
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise BenchError("process not started")
        return self.popen.pid

    def start(self) -> ManagedProcess:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the process, then any descendant that outlived it (SIGKILL), and wait for all.

        With ``stop_signal=SIGKILL`` the whole family is killed at once: used where nothing of
        value is left in the processes and a graceful shutdown would only cost time (uWSGI
        takes a full second of its master loop to bury a worker).
        """
        if self.popen is None:
            return
        family = descendants(self.popen.pid)
        if self.popen.poll() is None:
            self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(self.stop_timeout)
        for pid, started in family:
            kill_if_same(pid, started, signal.SIGKILL)
        wait_until(
            lambda: not any(_running(pid, started) for pid, started in family),
            self.stop_timeout,
            f"the processes of {self.argv[0]} to end",
        )

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
