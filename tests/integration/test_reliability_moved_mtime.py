"""Issue 18, point 3, on uWSGI and the worker: a file runs at its signed ``at``, whatever its
mtime (uWSGI's ``at``) was moved to."""

from __future__ import annotations

import math
import os
import time

from tests.support.uwsgi import UwsgiInstance, wait_for


def only_file(runtime: UwsgiInstance) -> str:
    (name,) = wait_for(runtime.pending, what="the spool file")
    return str(runtime.spool_dir / name)


def test_a_file_moved_earlier_is_put_back_and_not_run_early(runtime: UwsgiInstance) -> None:
    before = time.time()
    runtime.enqueue("coretasks:when", "early", postpone=30)
    path = only_file(runtime)
    signed = os.stat(path).st_mtime
    assert math.ceil(before + 30) <= signed <= math.ceil(time.time() + 30)
    os.utime(path, (before - 3600, before - 3600))
    wait_for(lambda: os.stat(path).st_mtime == signed, what="the signed time to be put back")
    assert runtime.runs("when") == []
    assert "before its signed time" in runtime.log()


def test_a_file_moved_to_2100_runs_at_its_signed_time(runtime: UwsgiInstance) -> None:
    before = time.time()
    runtime.enqueue("coretasks:when", "late", postpone=2)
    path = only_file(runtime)
    far = 4_102_444_800  # 2100-01-01
    os.utime(path, (far, far))
    (row,) = runtime.wait_runs("when", 1, timeout=20)
    assert before + 2 <= row["t"] < before + 15
    assert "later than its signed time" in runtime.log()
