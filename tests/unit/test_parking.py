"""Far-future tasks are parked outside the scanned directory and promoted shortly before due."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler, backends
from spoolrt.sending.backends.local import LocalBackend
from spoolrt.spooldir.listing import iter_pending
from spoolrt.spooldir.parking import (
    iter_parked,
    parked_dir,
    place_spool_file,
    promote_due,
    promoted_path,
    should_park,
)

NOW = 1_800_000_000.0


def test_only_tasks_beyond_the_horizon_are_parked() -> None:
    assert not should_park(None, NOW)
    assert not should_park(NOW + 60, NOW)  # default horizon: 60 s
    assert should_park(NOW + 61, NOW)
    spoolrt.configure(park_after=5)
    assert should_park(NOW + 6, NOW)


def test_a_parked_file_keeps_its_time_and_priority(tmp_path: Path) -> None:
    spool = str(tmp_path)
    at = NOW + 3600.4
    path = place_spool_file(spool, b"data", at=at, priority=3, now=NOW)
    assert path.startswith(parked_dir(spool) + os.sep)
    assert list(iter_pending(spool)) == []  # nothing for uWSGI to stat
    assert list(iter_parked(spool)) == [path]
    assert os.stat(path).st_mtime == NOW + 3601  # rounded up: never early
    assert promoted_path(spool, path) == os.path.join(spool, "3", os.path.basename(path))


def test_a_near_task_goes_straight_to_the_spool_dir(tmp_path: Path) -> None:
    path = place_spool_file(str(tmp_path), b"data", at=NOW + 10, priority=None, now=NOW)
    assert os.path.dirname(path) == str(tmp_path)


def test_promotion_moves_only_buckets_that_come_due(tmp_path: Path) -> None:
    spool = str(tmp_path)
    soon = place_spool_file(spool, b"a", at=NOW + 200, priority=None, now=NOW)  # bucket NOW+180
    later = place_spool_file(spool, b"b", at=NOW + 7200, priority=0, now=NOW)
    assert promote_due(spool, now=NOW) == 0
    assert promote_due(spool, now=NOW + 119) == 0
    assert promote_due(spool, now=NOW + 120) == 1  # its bucket now starts within 60 s
    assert list(iter_pending(spool)) == [os.path.join(spool, os.path.basename(soon))]
    assert list(iter_parked(spool)) == [later]
    assert promote_due(spool, now=NOW + 7200) == 1
    assert os.path.exists(promoted_path(spool, later))  # into its priority sub-directory
    assert list(iter_parked(spool)) == []
    assert os.listdir(parked_dir(spool)) == []  # emptied buckets are removed


def _promote(spool: str, now: float) -> int:
    return promote_due(spool, now=now)


def test_racing_promoters_move_each_file_once(tmp_path: Path) -> None:
    spool = str(tmp_path)
    for i in range(300):
        place_spool_file(spool, b"x", at=NOW + 120 + i, priority=None, now=NOW)
    with multiprocessing.get_context("fork").Pool(4) as pool:
        moved = pool.starmap(_promote, [(spool, NOW + 1000)] * 4)
    assert sum(moved) == 300
    assert len(list(iter_pending(spool))) == 300


@pytest.fixture
def local_spool(tmp_path: Path):
    spool = tmp_path / "spool"
    spool.mkdir()
    backends.force(LocalBackend([str(spool)]))
    try:
        yield spool
    finally:
        backends.force(None)


@Spooler.task()
def far_task(x: int) -> int:
    return x


def test_enqueue_parks_far_tasks_and_the_handle_follows_promotion(local_spool: Path) -> None:
    handle = far_task.spool_with((1,), postpone=3600)
    assert str(handle).startswith(parked_dir(str(local_spool)))
    assert handle.status is spoolrt.TaskStatus.SCHEDULED
    assert Spooler.get_tasks() == [str(handle)]
    assert Spooler.get_result(handle.task_id) is not None
    promote_due(str(local_spool), now=time.time() + 3600)
    assert handle.status is spoolrt.TaskStatus.SCHEDULED  # found under its promoted name
    assert list(iter_pending(str(local_spool))) == [promoted_path(str(local_spool), str(handle))]
