"""Harness side of subjects that run inside uWSGI: the command line, start, stop, and the client.

A producer is an instance with ``--spooler-external`` (``uwsgi.spool`` writes, nobody consumes);
a consumer is an instance with ``--spooler`` on the same directory, whose HTTP worker is also
the producer that feeds it, so ``uwsgi.spool`` signals its idle spoolers as in production.
Both listen only on a unix socket in a private temporary directory.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.processes import ManagedProcess, wait_until
from benchmarks.subject import BenchError, Producer, Subject

REPO_ROOT = Path(__file__).resolve().parent.parent


def uwsgi_binary() -> str | None:
    """The uwsgi next to this interpreter (the venv's), else the one on ``PATH``."""
    sibling = Path(sys.executable).parent / "uwsgi"
    if sibling.exists():
        return str(sibling)
    return shutil.which("uwsgi")


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


class UwsgiProducer:
    """Runs ``benchmarks.ops`` in the uWSGI worker behind a unix socket."""

    def __init__(self, socket_path: str, timeout: float = 900.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def call(self, op: str, **params: Any) -> Any:
        return self._request(op, params, self.timeout)

    def _request(self, op: str, params: dict[str, Any], timeout: float) -> Any:
        connection = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            connection.request(
                "POST",
                "/op",
                body=json.dumps({"op": op, "params": params}),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            reply = json.loads(response.read() or b"{}")
        finally:
            connection.close()
        if "error" in reply:
            raise BenchError(f"op {op} failed in uWSGI:\n{reply['error']}")
        return reply.get("result")

    def ready(self) -> bool:
        try:
            return bool(self._request("ping", {}, 2.0) == "pong")
        except (OSError, http.client.HTTPException, ValueError):
            return False


class UwsgiSubject(Subject):
    """Base for subjects whose producer and spooler are a uWSGI instance."""

    spooler_frequency: ClassVar[int] = 1

    @classmethod
    def missing(cls) -> str | None:
        return None if uwsgi_binary() else "no uwsgi binary next to the interpreter or on PATH"

    def uwsgi_options(self) -> list[str]:
        """Extra options for this subject (e.g. ``--spooler-import``), appended last."""
        return []

    def command(self, socket_path: str, spooler_options: list[str]) -> list[str]:
        binary = uwsgi_binary()
        if binary is None:
            raise BenchError("uwsgi binary not found")
        options = [
            binary,
            "--master",
            "--processes",
            "1",
            "--http-socket",
            socket_path,
            "--pythonpath",
            str(REPO_ROOT),
            "--module",
            "benchmarks.uwsgi_app:application",
            "--need-app",
            "--strict",
            "--disable-logging",
            "--spooler-quiet",
            "--spooler-frequency",
            str(self.spooler_frequency),
            "--die-on-term",
            "--vacuum",
        ]
        if sys.prefix != sys.base_prefix:
            options += ["--home", sys.prefix]
        return options + spooler_options + self.uwsgi_options()

    @contextmanager
    def _instance(self, spooler_options: list[str], label: str) -> Iterator[Producer]:
        socket_dir = tempfile.mkdtemp(prefix="spoolrt-bench-")
        socket_path = os.path.join(socket_dir, "http.sock")
        env = dict(os.environ, **self.settings().to_env())
        process = ManagedProcess(
            self.command(socket_path, spooler_options),
            env=env,
            cwd=self.workdir,
            log_path=self.log_dir / f"uwsgi-{label}.log",
            # Every figure is read from marks before this stop, so a graceful shutdown would
            # only add uWSGI's one-second worker burial to each of hundreds of instances.
            stop_signal=signal.SIGKILL,
        )
        try:
            process.start()
            producer = UwsgiProducer(socket_path)

            def up() -> bool:
                if not process.alive():
                    raise BenchError(f"uwsgi exited at start:\n{process.log_tail()}")
                return producer.ready()

            wait_until(up, 30.0, "uwsgi to answer on its socket", interval=0.05)
            yield producer
        finally:
            process.stop()
            shutil.rmtree(socket_dir, ignore_errors=True)

    def producer(self) -> AbstractContextManager[Producer]:
        return self._instance(["--spooler-external", str(self.queue_dir)], "producer")

    def consumer(self, processes: int) -> AbstractContextManager[Producer]:
        options = ["--spooler", str(self.queue_dir), "--spooler-processes", str(processes)]
        return self._instance(options, f"consumer-p{processes}")
