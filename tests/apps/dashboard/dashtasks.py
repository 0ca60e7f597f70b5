"""Tasks for the dashboard browser test (imported by the app and by spooler-import)."""

import os
from pathlib import Path

from spoolrt import Spooler


@Spooler.task()
def greet(name):
    return f"hello {name}"


@Spooler.task(retries=0)
def flaky(label):
    """Fails on its first run, succeeds on the next: what a retry button is for."""
    marker = Path(os.environ["SPOOLRT_TEST_OUT"]) / "flaky-ran-once"
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError(f"first run of {label} fails")
    return label
