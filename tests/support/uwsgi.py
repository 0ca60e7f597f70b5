"""Start a real uWSGI instance for a test, talk to it, and always stop it by its PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "uwsgi_configs"
APPS = REPO / "tests" / "apps"


def uwsgi_binary() -> str:
    """The uwsgi next to this Python (the venv's), else on PATH; the dev extras install it."""
    here = Path(sys.executable).parent / "uwsgi"
    found = str(here) if here.exists() else shutil.which("uwsgi")
    if found:
        return found
    pytest.fail("uwsgi is not installed (pip install -e '.[dev]', which ./dev test does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class RuntimeClient:
    """What a test asks of a running instance, over HTTP and on disk: shared by
    ``UwsgiInstance`` and the worker runtime (``tests/support/worker.py``), so the shared
    scenarios run on both unchanged. Needs ``port``, ``log_path``, ``out_dir``, ``spool_dir``."""

    port: int
    log_path: Path
    out_dir: Path
    spool_dir: Path

    # --- talking to it ------------------------------------------------------------------------

    def request(self, path: str, data: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path: str) -> Any:
        return self.request(path)[1]

    def post(self, path: str, data: Any) -> Any:
        status, payload = self.request(path, data)
        if status != 200:
            raise AssertionError(f"POST {path} -> {status}: {payload}\n{self.log()[-2000:]}")
        return payload

    def enqueue(self, task: str, *args: Any, **options: Any) -> dict[str, Any]:
        kwargs = options.pop("kwargs", {})
        return self.post("/enqueue", {"task": task, "args": args, "kwargs": kwargs, **options})

    # --- what happened ------------------------------------------------------------------------

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def runs(self, task: str | None = None) -> list[dict[str, Any]]:
        """Every run the test tasks recorded, in order of recording."""
        path = self.out_dir / "runs.jsonl"
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [r for r in rows if task is None or r["task"] == task]

    def wait_runs(self, task: str, count: int, timeout: float = 20.0, **match: Any) -> list[Any]:
        def enough() -> list[Any]:
            rows = [r for r in self.runs(task) if all(r.get(k) == v for k, v in match.items())]
            return rows if len(rows) >= count else []

        return wait_for(enough, timeout, what=f"{count} run(s) of {task} {match or ''}")

    def pending(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.spool_dir))
            for p in self.spool_dir.rglob("uwsgi_spoolfile_on_*")
            if ".spoolrt" not in p.parts
        )

    def area(self, name: str) -> list[Path]:
        folder = self.spool_dir / ".spoolrt" / name
        if not folder.exists():
            return []
        # .tmp-* files are copies still being written (keep_aside renames them into place)
        return sorted(
            p
            for p in folder.iterdir()
            if not p.name.endswith(".json") and not p.name.startswith(".tmp-")
        )


def stop_master(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """Stop a uWSGI master started in its own session, by its PID: SIGINT (graceful shutdown),
    then SIGKILL of its process group if it does not go; its exit code."""
    pid = proc.pid
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        # resent: a SIGINT that lands while the master is still spawning is lost
        os.kill(pid, signal.SIGINT)
        try:
            proc.wait(2.0)
        except subprocess.TimeoutExpired:
            pass
    # Whatever the master left behind (it was killed, or a child hangs) goes with the group.
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout)
    return proc.returncode


class UwsgiInstance(RuntimeClient):
    """One uWSGI master (and its workers and spoolers) in its own process group."""

    def __init__(
        self,
        ini: str | Path,
        workdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        app_dir: Path = APPS / "core",
        app: str = "coreapp",
        tasks: str = "coretasks",
    ) -> None:
        self.ini = Path(ini) if Path(ini).is_absolute() else CONFIGS / ini
        self.workdir = workdir
        self.port = free_port()
        self.spool_dir = workdir / "spool"
        self.out_dir = workdir / "out"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "uwsgi.log"
        self.env = {
            **os.environ,
            "SPOOLRT_HTTP": f"127.0.0.1:{self.port}",
            "SPOOLRT_APP": app,
            "SPOOLRT_TASKS": tasks,
            "SPOOLRT_PYTHONPATH": str(app_dir),
            "SPOOLRT_SPOOL_DIR": str(self.spool_dir),
            "SPOOLRT_TEST_OUT": str(self.out_dir),
            "SPOOLRT_SECRET_KEY": "integration-test-key-0123456789",
            **(env or {}),
        }
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> UwsgiInstance:
        if self.proc is not None and self.proc.poll() is None:
            raise AssertionError(f"this uwsgi runs already (pid {self.proc.pid}): stop it first")
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [uwsgi_binary(), "--ini", str(self.ini), *self.extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,  # its own process group, so stop() reaches every child
            )
        try:
            wait_for(self._ready, timeout, 0.05, f"uwsgi to serve on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"uwsgi exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        try:
            return self.get("/ping") == "pong"
        except OSError:
            return False

    def stop(self, timeout: float = 15.0) -> int | None:
        return None if self.proc is None else stop_master(self.proc, timeout)

    def __enter__(self) -> UwsgiInstance:
        # An instance started already is used as it is: starting it again would launch a second
        # master and leave the first one running after the block (stop() knows only the last).
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
