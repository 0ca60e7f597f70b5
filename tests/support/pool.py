"""Remote pools for integration tests: spooler nodes (spooler_node.ini, or
spooler_node_subscribed.ini behind a fastrouter.ini router), each a real uWSGI started and stopped
by PID, and what the tests read of them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spoolrt.core.options import TaskOptions
from spoolrt.sending.enqueue import enqueue
from spoolrt.sending.handle import RemoteTaskHandle
from tests.support.uwsgi import (
    CONFIGS,
    UwsgiInstance,
    free_port,
    stop_master,
    uwsgi_binary,
    wait_for,
)


class Node:
    """One spooler node with a fixed socket address, so that a restart after kill -9 is the same
    node to the senders (and to the router). ``subscribe_to``: the router's subscription server
    (spooler_node_subscribed.ini) instead of a plain node (spooler_node.ini)."""

    def __init__(
        self,
        workdir: Path,
        *,
        subscribe_to: str | None = None,
        key: str = "reports",
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        env = {"SPOOLRT_SOCKET": self.address}
        ini = "spooler_node.ini"
        if subscribe_to is not None:
            ini = "spooler_node_subscribed.ini"
            env |= {"SPOOLRT_SUBSCRIPTION_SERVER": subscribe_to, "SPOOLRT_POOL_KEY": key}
        self.instance = UwsgiInstance(ini, workdir, env=env)

    def start(self) -> Node:
        self.instance.start()
        return self

    @property
    def uwsgi(self) -> UwsgiInstance:
        return self.instance

    def kill_9(self) -> None:
        """SIGKILL the master and every child at once, as a crash of the host would."""
        proc = self.uwsgi.proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)

    def stop(self) -> None:
        self.instance.stop()

    def runs(self, task: str = "storm") -> Counter[tuple[str, int]]:
        """(tag, attempt) -> how many times it ran here."""
        return Counter((r["tag"], r["attempt"]) for r in self.uwsgi.runs(task))


def drained(node: Node) -> bool:
    """Whether the node's spool directory holds no spool file (for ``wait_for``)."""
    return node.uwsgi.pending() == []


class Router:
    """A uWSGI fastrouter with its subscription server (fastrouter.ini), by PID."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1") -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.address = f"{host}:{free_port()}"
        self.subscription_server = f"{host}:{free_port()}"
        self.stats_address = ("127.0.0.1", free_port())
        self.log_path = workdir / "fastrouter.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Router:
        env = {
            **os.environ,
            "SPOOLRT_FASTROUTER": self.address,
            "SPOOLRT_SUBSCRIPTION_SERVER": self.subscription_server,
            "SPOOLRT_FASTROUTER_STATS": "{}:{}".format(*self.stats_address),
        }
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [uwsgi_binary(), "--ini", str(CONFIGS / "fastrouter.ini")],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )
        try:
            wait_for(self._ready, timeout, 0.05, "the fastrouter's stats server")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the fastrouter exited: {self.log()[-3000:]}")
        try:
            self.stats()
        except (OSError, ValueError):
            return False
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stats(self) -> dict[str, Any]:
        with socket.create_connection(self.stats_address, timeout=5) as sock:
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return dict(json.loads(b"".join(chunks)))

    def subscribed(self, key: str = "reports") -> set[str]:
        """The nodes the router would send ``key`` to now (subscribed, not marked dead)."""
        return {
            node["name"]
            for sub in self.stats().get("subscriptions", [])
            if sub["key"] == key
            for node in sub["nodes"]
            if not node["death_mark"]
        }

    def wait_subscribed(self, nodes: Sequence[Node], timeout: float = 20.0) -> None:
        want = {n.address for n in nodes}
        wait_for(lambda: want <= self.subscribed(), timeout, 0.05, f"{want} to subscribe")

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is not None:
            stop_master(self.proc, timeout)


def send_storm(tag: str, **options: Any) -> RemoteTaskHandle:
    """Send the test task ``coretasks:storm`` (which records each run) to the pool "reports"."""
    handle = enqueue(
        TaskOptions(spooler="reports", **options),
        type_id="fcall",
        message="ucfg_fcall",
        name="coretasks:storm",
        payload={"func": "coretasks:storm", "arg": (tag,), "kwg": {}},
    )
    assert isinstance(handle, RemoteTaskHandle)
    return handle
