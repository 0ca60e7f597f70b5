"""The "worker" runtime: the same test app and tasks as under uWSGI, with no uWSGI at all.

The app is served by wsgiref (``serve_app.py``), so its task calls take spoolrt's local backend
(files written by the app process, spoolers woken by their announcements), and the tasks are
run by ``python -m spoolrt.worker`` processes. It offers ``UwsgiInstance``'s test interface so
the shared scenarios run on it unchanged; the HTTP and on-disk half of that interface is
``UwsgiInstance``'s own code, shared so the two cannot drift.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from spoolrt.spooldir.presence import list_announcements
from tests.support.uwsgi import APPS, RuntimeClient, free_port, wait_for

SERVE_APP = Path(__file__).with_name("serve_app.py")
SECRET_KEY = "integration-test-key-0123456789"


def worker_command(
    spool_dir: Path, *, processes: int = 1, frequency: float = 0.5, app: str = "coretasks"
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "spoolrt.worker",
        "--spool",
        str(spool_dir),
        "--processes",
        str(processes),
        "--frequency",
        str(frequency),
        "--app",
        app,
    ]


class WorkerProcess:
    """One ``python -m spoolrt.worker`` (a supervisor when ``processes > 1``), stopped by PID."""

    def __init__(
        self,
        spool_dir: Path,
        out_dir: Path,
        log_path: Path,
        *,
        processes: int = 1,
        frequency: float = 0.5,
        app_dir: Path = APPS / "core",
        tasks: str = "coretasks",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.spool_dir = spool_dir
        self.processes = processes
        self.command = worker_command(
            spool_dir, processes=processes, frequency=frequency, app=tasks
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(app_dir), os.environ.get("PYTHONPATH", "")]),
            "SPOOLRT_TEST_OUT": str(out_dir),
            "SPOOLRT_SECRET_KEY": SECRET_KEY,
            **(env or {}),
        }
        self.cwd = app_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> WorkerProcess:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        wait_for(self._ready, timeout, 0.02, f"{self.processes} worker process(es) to announce")
        return self

    def worker_pids(self) -> list[int]:
        """The announced worker processes (the supervisor's children, or the process itself)."""
        return sorted(
            a.pid
            for a in list_announcements(str(self.spool_dir))
            if a.kind == "worker" and a.is_alive()
        )

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{log}")
        return len(self.worker_pids()) >= self.processes

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int | None:
        """``sig`` to the worker (graceful by default); SIGKILL its group if it does not go."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout)
        return self.proc.returncode


class WorkerRuntime(RuntimeClient):
    """The test app under wsgiref + ``spoolrt worker`` processes (see the module docstring)."""

    def __init__(
        self,
        workdir: Path,
        *,
        processes: int = 2,
        frequency: float = 0.5,
        app_dir: Path = APPS / "core",
        app: str = "coreapp",
        tasks: str = "coretasks",
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.spool_dir = workdir / "spool"
        self.out_dir = workdir / "out"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "worker.log"
        self.app = app
        self.app_dir = app_dir
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(app_dir), os.environ.get("PYTHONPATH", "")]),
            "SPOOLRT_SPOOL_DIRS": str(self.spool_dir),
            "SPOOLRT_TEST_OUT": str(self.out_dir),
            "SPOOLRT_SECRET_KEY": SECRET_KEY,
        }
        self.worker = WorkerProcess(
            self.spool_dir,
            self.out_dir,
            self.log_path,
            processes=processes,
            frequency=frequency,
            app_dir=app_dir,
            tasks=tasks,
        )
        self.server: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> WorkerRuntime:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.worker.start(timeout)
            with open(self.log_path, "ab") as log:
                self.server = subprocess.Popen(
                    [sys.executable, str(SERVE_APP), f"127.0.0.1:{self.port}", self.app],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.app_dir,
                    start_new_session=True,
                )
            wait_for(self._ready, timeout, 0.05, f"the app to serve on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        assert self.server is not None
        if self.server.poll() is not None:
            raise AssertionError(f"app server exited with {self.server.returncode}:\n{self.log()}")
        try:
            return self.get("/ping") == "pong"
        except OSError:
            return False

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout)
        return self.worker.stop(timeout)

    def __enter__(self) -> WorkerRuntime:
        return self if self.server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
