"""The remote benchmarks run end to end in a small quick mode (real uWSGI nodes and fastrouter,
stopped by PID) and print their JSON; only that the figures came out is checked, never a speed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from typing import Any

from tests.support.uwsgi import REPO


def run(module: str, *args: str) -> dict[str, Any]:
    """Run a benchmark in its own process group; whatever it leaves (a uWSGI it started, if it
    hangs) goes with the group, by its PID."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, err[-3000:]
    return dict(json.loads(out))


def test_remote_cost_measures_all_four_variants() -> None:
    out = run("benchmarks.remote_cost", "--reps", "1", "--calls", "50")
    assert set(out["us_per_call"]) == {"uwsgi_local", "local", "direct", "fastrouter"}


def test_remote_throughput_measures_every_pool_size_in_both_modes() -> None:
    out = run("benchmarks.remote_throughput", "--reps", "1", "--per-node", "5", "--lead", "1")
    assert len(out["tasks_per_s"]) == 6
