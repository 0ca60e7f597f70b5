"""The README's first command: the demo runs on a fresh state folder and shows every outcome."""

from __future__ import annotations

import subprocess
import sys

from tests.support.uwsgi import REPO, free_port


def test_demo_runs_every_task_to_its_outcome() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    for task in ("send_welcome", "clean_cache", "reminder"):
        assert f"{task:<14} attempt 1" in out
    assert "flaky_report   attempt 2" in out
    assert "tasks:broken_export: RuntimeError: export target is read-only after 2 attempts" in out
    # read back by id from the result store, as any other process could
    assert "tasks:flaky_report     done     attempts=2  'report monthly built on attempt 2'" in out
    assert "tasks:clean_cache      skipped  attempts=1  None" in out
    assert "tasks:broken_export    failed   attempts=2  error: RuntimeError" in out
