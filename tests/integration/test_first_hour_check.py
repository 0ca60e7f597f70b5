"""``spoolrt check`` against a real uWSGI spooler: healthy while it runs, unhealthy with the
reason after a task failed, and when the instance is gone (issue 14, item 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.uwsgi import UwsgiInstance, wait_for


def check(instance: UwsgiInstance, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spoolrt", "check", "--spool", str(instance.spool_dir), *args],
        env=instance.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_follows_a_real_spooler(tmp_path: Path) -> None:
    instance = UwsgiInstance("basic.ini", tmp_path).start()
    try:
        # The spooler announces itself when uWSGI forks it; the web worker may answer first.
        healthy = wait_for(
            lambda: (r := check(instance, "--since", "1h")).returncode == 0 and r,
            what="check to find the spooler alive",
        )
        assert healthy.stdout.startswith("ok: ") and "spooler process(es) alive" in healthy.stdout

        instance.enqueue("coretasks:always_fails", "health")
        wait_for(lambda: instance.area("failed"), timeout=30, what="the task to fail")
        failed = check(instance, "--since", "1h")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "UNHEALTHY:" in failed.stdout and "coretasks:always_fails (1)" in failed.stdout
    finally:
        instance.stop()

    gone = check(instance)
    assert gone.returncode == 1
    assert "no spooler process alive" in gone.stdout
