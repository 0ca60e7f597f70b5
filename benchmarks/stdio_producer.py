"""A producer that is a plain Python process, for subjects that do not run inside uWSGI.

``python -m benchmarks.stdio_producer`` loads the adapter named by ``$BENCH_ADAPTER`` and reads
one JSON request per line on stdin (``{"op": ..., "params": {...}}``), answering one JSON line
on stdout. Closing stdin ends it. ``StdioProducer`` is the harness side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from benchmarks.ops import run_op
from benchmarks.processes import descendants, kill_if_same
from benchmarks.subject import ENV_ADAPTER, BenchError, Settings, load_adapter

REPO_ROOT = Path(__file__).resolve().parent.parent


def serve(requests: IO[str], replies: IO[str]) -> None:
    settings = Settings.from_env()
    adapter = load_adapter(settings.extra[ENV_ADAPTER], settings)
    adapter.install()
    for line in requests:
        try:
            request = json.loads(line)
            reply = {"result": run_op(adapter, request["op"], request.get("params", {}))}
        except Exception:
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


class StdioProducer:
    """Starts ``benchmarks.stdio_producer`` and talks to it; stops it by PID on exit."""

    def __init__(self, settings: Settings, log_path: Path, cwd: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.cwd = cwd
        self.popen: subprocess.Popen[str] | None = None

    def __enter__(self) -> StdioProducer:
        env = dict(os.environ, **self.settings.to_env())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.stdio_producer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=self.cwd,
                text=True,
            )
        self.call("ping")
        return self

    def call(self, op: str, **params: Any) -> Any:
        popen = self.popen
        if popen is None or popen.stdin is None or popen.stdout is None:
            raise BenchError("producer not started")
        popen.stdin.write(json.dumps({"op": op, "params": params}) + "\n")
        popen.stdin.flush()
        line = popen.stdout.readline()
        if not line:
            raise BenchError(f"producer exited during op {op}; see {self.log_path}")
        reply = json.loads(line)
        if "error" in reply:
            raise BenchError(f"op {op} failed in the producer:\n{reply['error']}")
        return reply.get("result")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        popen = self.popen
        if popen is None:
            return
        family = descendants(popen.pid)
        if popen.stdin is not None:
            try:
                popen.stdin.close()
            except OSError:
                pass
        try:
            popen.wait(10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)
        if popen.stdout is not None:
            popen.stdout.close()
        for pid, started in family:
            kill_if_same(pid, started, signal.SIGKILL)


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
