"""Spooler nodes and a fastrouter on loopback for the remote benchmarks, stopped by PID.

A node is a uWSGI instance with a ``--socket`` that takes remote tasks and the benchmark app
(``benchmarks.uwsgi_app`` with the spoolrt adapter, so spoolrt's spooler callable and the
benchmark tasks are loaded). It either only writes what arrives (``--spooler-external``: the
enqueue figures) or runs it with one spooler process (the throughput figures). A node may
subscribe to a fastrouter under several keys, so one set of nodes serves pools of 1, 2 and 3.
The fastrouter is the shipped ``uwsgi_configs/fastrouter.ini``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from benchmarks.processes import ManagedProcess, wait_until
from benchmarks.subject import ENV_MARKS, ENV_QUEUE, BenchError
from benchmarks.subjects.spoolrt_worker import BENCH_KEY
from benchmarks.uwsgi_host import REPO_ROOT, uwsgi_binary

ADAPTER = "benchmarks.subjects.spoolrt_worker:SpoolrtAdapter"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary() -> str:
    found = uwsgi_binary()
    if found is None:
        raise BenchError("uwsgi binary not found")
    return found


class Fastrouter:
    """``fastrouter.ini`` on loopback; ``subscribed()`` reads its stats server."""

    def __init__(self, stack: ExitStack, workdir: Path) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        self.subscription_server = f"127.0.0.1:{free_port()}"
        self.stats = ("127.0.0.1", free_port())
        env = dict(
            os.environ,
            SPOOLRT_FASTROUTER=self.address,
            SPOOLRT_SUBSCRIPTION_SERVER=self.subscription_server,
            SPOOLRT_FASTROUTER_STATS="{}:{}".format(*self.stats),
        )
        ini = REPO_ROOT / "uwsgi_configs" / "fastrouter.ini"
        process = ManagedProcess(
            [_binary(), "--ini", str(ini), "--disable-logging"],
            env=env,
            cwd=workdir,
            log_path=workdir / "fastrouter.log",
        )
        stack.enter_context(process)
        wait_until(lambda: self._read() is not None, 30, "the fastrouter's stats", 0.05)

    def _read(self) -> dict[str, object] | None:
        try:
            with socket.create_connection(self.stats, timeout=2) as sock:
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            return dict(json.loads(b"".join(chunks)))
        except (OSError, ValueError):
            return None

    def subscribed(self) -> dict[str, set[str]]:
        """key -> the nodes subscribed under it."""
        stats = self._read() or {}
        subscriptions = stats.get("subscriptions", [])
        assert isinstance(subscriptions, list)
        return {s["key"]: {n["name"] for n in s["nodes"]} for s in subscriptions}

    def wait_for(self, key: str, nodes: Sequence[Node]) -> None:
        want = {n.address for n in nodes}
        wait_until(
            lambda: want <= self.subscribed().get(key, set()), 30, f"{want} under {key}", 0.05
        )


class Node:
    """One node; ``run=True`` gives it one spooler process, else it only writes files."""

    def __init__(
        self,
        stack: ExitStack,
        workdir: Path,
        *,
        run: bool,
        marks_dir: Path,
        router: Fastrouter | None = None,
        keys: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.spool_dir = workdir / "spool"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        command = [_binary(), "--master", "--die-on-term", "--strict", "--processes", "1"]
        command += ["--socket", self.address, "--buffer-size", "4096", "--disable-logging"]
        command += ["--pythonpath", str(REPO_ROOT), "--need-app"]
        command += ["--module", "benchmarks.uwsgi_app:application", "--spooler-quiet"]
        if sys.prefix != sys.base_prefix:
            command += ["--home", sys.prefix]
        if run:
            command += ["--spooler", str(self.spool_dir), "--spooler-processes", "1"]
            command += ["--spooler-frequency", "1"]
        else:
            command += ["--spooler-external", str(self.spool_dir)]
        if keys:  # as spooler_node_subscribed.ini: announce often (fastrouter.ini drops silence)
            command += ["--subscribe-freq", "2"]
        for key in keys:
            assert router is not None
            command += ["--subscribe2", f"server={router.subscription_server},key={key},"
                        f"addr={self.address},modifier1=17"]  # fmt: skip
        env = dict(os.environ, SPOOLRT_SECRET_KEY=BENCH_KEY, BENCH_ADAPTER=ADAPTER)
        env |= {ENV_QUEUE: str(self.spool_dir), ENV_MARKS: str(marks_dir)}
        process = ManagedProcess(command, env=env, cwd=workdir, log_path=workdir / "uwsgi.log")
        stack.enter_context(process)
        wait_until(lambda: self._accepts(process), 30, f"node {self.address}", 0.05)

    def _accepts(self, process: ManagedProcess) -> bool:
        if not process.alive():
            raise BenchError(f"node {self.address} exited:\n{process.log_tail()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True
