"""Far-future tasks wait outside the scanned directory and still run on time, under real uWSGI
(promoted by the spooler's one-second tick) and under the worker (promoted by its loop)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RUNTIMES, start_runtime
from tests.support.uwsgi import UwsgiInstance, wait_for


@pytest.fixture(params=RUNTIMES)
def parking_runtime(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UwsgiInstance]:
    # Park anything due more than 2 s ahead, so a test need not wait a minute.
    monkeypatch.setenv("SPOOLRT_PARK_AFTER", "2")
    instance = start_runtime(request.param, "basic.ini", tmp_path)
    try:
        yield instance
    finally:
        instance.stop()


def test_a_far_task_is_parked_then_runs_on_time(parking_runtime: UwsgiInstance) -> None:
    runtime = parking_runtime
    before = time.time()
    handle = runtime.enqueue("coretasks:when", "parked", postpone=6)
    parked = runtime.spool_dir / ".spoolrt" / "parked"
    assert handle["path"].startswith(str(parked) + os.sep)
    (row,) = runtime.wait_runs("when", 1, timeout=30, tag="parked")
    assert row["t"] >= before + 6  # promoted early by its bucket, but uWSGI honours the mtime
    wait_for(lambda: runtime.pending() == [], what="the task's file to go")
    assert not any(parked.rglob("uwsgi_spoolfile_on_*"))
