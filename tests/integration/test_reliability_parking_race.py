"""A far-future enqueue meets promotion removing its bucket (issue 18, point 5).

A task due just past ``park_after`` goes into the minute bucket that a promoting process is
emptying (and removing once empty) at that moment: the write used to raise a raw
``FileNotFoundError`` (159 of 2,000 in a tight repro). It is retried now, and every task is on
disk afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from spoolrt import configure
from spoolrt.spooldir.listing import iter_pending
from spoolrt.spooldir.parking import iter_parked, place_spool_file, promote_due
from tests.support.uwsgi import REPO

_PROMOTER = """
import sys, time
import spoolrt
from spoolrt.spooldir.parking import promote_due
spoolrt.configure(spool_dirs=[sys.argv[1]], park_after=60)
print("ready", flush=True)
while True:
    promote_due(sys.argv[1])
"""


def test_parked_enqueue_survives_promotion_removing_its_bucket(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    configure(spool_dirs=[str(spool)], park_after=60)
    promoter = subprocess.Popen(
        [sys.executable, "-c", _PROMOTER, str(spool)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert promoter.stdout is not None and promoter.stdout.readline().strip() == "ready"
        written, deadline = 0, time.monotonic() + 60
        while written < 2000 and time.monotonic() < deadline:
            now = time.time()
            # Due just past park_after: parked, in the bucket the promoter is emptying now.
            place_spool_file(str(spool), b"x", at=now + 60.5, priority=None, durable=False, now=now)
            written += 1
        assert written == 2000
    finally:
        os.kill(promoter.pid, signal.SIGKILL)
        promoter.wait(timeout=10)
    promote_due(str(spool), now=time.time() + 3600)
    assert len(list(iter_pending(str(spool)))) + len(list(iter_parked(str(spool)))) == 2000
