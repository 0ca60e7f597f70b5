"""Issue 18, point 3: the signed ``at`` decides, not the file's mtime (real files, no uWSGI)."""

from __future__ import annotations

import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler
from spoolrt.core.config import get_settings
from spoolrt.observe.scan import State, scan
from spoolrt.runtime.worker import Worker
from spoolrt.spooldir.listing import iter_pending

KEY = "unit-mtime-key-0123456789"
ran: list[str] = []


@Spooler.task()
def mtime_job(tag: str) -> str:
    ran.append(tag)
    return tag


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    ran.clear()
    spoolrt.configure(spool_dirs=[str(tmp_path)], secret_key=KEY)
    return tmp_path


def test_a_file_moved_earlier_does_not_run_and_gets_its_time_back(spool: Path) -> None:
    at = datetime.fromtimestamp(time.time() + 30, timezone.utc)
    mtime_job.spool_with(("early",), postpone=at)
    (path,) = iter_pending(str(spool))
    os.utime(path, (time.time() - 3600,) * 2)
    assert Worker([spool]).run_once() == {}
    assert ran == []
    assert os.stat(path).st_mtime == math.ceil(at.timestamp())


def test_a_file_moved_far_later_runs_at_its_signed_time(spool: Path) -> None:
    mtime_job.spool_with(("late",), postpone=1)
    (path,) = iter_pending(str(spool))
    os.utime(path, (4_102_444_800,) * 2)
    entries = scan([str(spool)], get_settings().signer(), now=time.time())
    assert "later than its signed time" in entries[0].note
    assert entries[0].to_json(time.time())["note"] == entries[0].note
    worker = Worker([spool], frequency=0.1)
    assert worker.run_until_empty(wait=5) == {"done": 1}
    assert ran == ["late"]


def test_a_file_within_the_horizon_is_not_flagged(spool: Path) -> None:
    """Cheap passes: only mtimes beyond the parking horizon are compared with the envelope."""
    mtime_job.spool_with(("soon",), postpone=10)
    (entry,) = scan([str(spool)], get_settings().signer(), now=time.time())
    assert entry.state is State.SCHEDULED and entry.note == ""


def test_run_until_empty_with_postponed_still_runs_them_now(spool: Path) -> None:
    mtime_job.spool_with(("test-mode",), postpone=30)
    assert Worker([spool]).run_until_empty(include_postponed=True) == {"done": 1}
    assert ran == ["test-mode"]
