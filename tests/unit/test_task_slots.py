"""One store write per task: "running" lives in the process's slot, pending files are found by id.

These run the real dispatcher in the pure-Python worker of this process; the processes that
"die" are forked children that exit without cleaning up, as a kill -9 leaves them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Spooler, TaskStatus, backends, current_task
from spoolrt.results.tracking import store_for
from spoolrt.spooldir import ids
from spoolrt.spooldir.slots import (
    SlotBoard,
    board_for,
    forget_boards,
    running_task,
    running_tasks,
    slot_paths,
)
from spoolrt.testing import LocalSpool, local_spool

seen: dict[str, Any] = {}


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    seen.clear()
    previous = backends.forced()
    with local_spool(tmp_path / "spool") as local:
        yield local
    forget_boards()
    backends.force(previous)


@Spooler.task(retries=1, retry_delay=0)
def looks_at_itself() -> str:
    task = current_task()
    assert task is not None and task.envelope is not None
    task_id = task.envelope.task_id
    handle = Spooler.get_result(task_id)
    seen["status"] = handle.status if handle is not None else None
    seen["record"] = handle.record() if handle is not None else None
    store = store_for(task.envelope.spooler or "")
    seen["stored"] = store.get(task_id) if store is not None else "no store"
    return "ok"


def _store(spool: LocalSpool) -> Any:
    store = store_for(str(spool.dir))
    assert store is not None
    return store


def test_a_running_task_is_running_from_its_slot_and_not_yet_in_the_store(
    spool: LocalSpool,
) -> None:
    handle = looks_at_itself()
    spool.run_until_empty()
    assert seen["status"] is TaskStatus.RUNNING
    assert seen["record"].pid == os.getpid() and seen["record"].attempt == 1
    assert seen["stored"] is None  # no `started` transaction: the store learns the outcome only
    record = _store(spool).get(handle.task_id)
    assert record is not None and record.status is TaskStatus.DONE
    # The one write recorded where and when the run happened.
    assert record.pid == os.getpid() and record.started_at is not None
    assert record.started_at <= record.finished_at
    assert running_tasks(str(spool.dir)) == {}


def test_a_running_task_writes_nothing_to_the_store_before_its_outcome(
    spool: LocalSpool,
) -> None:
    handle = looks_at_itself()
    store = _store(spool)
    writes: list[str] = []
    for method in ("started", "enqueued", "retrying", "finished"):
        real = getattr(store, method)

        def spy(*args: Any, _real: Any = real, _name: str = method, **kwargs: Any) -> Any:
            writes.append(_name)
            return _real(*args, **kwargs)

        setattr(store, method, spy)
    spool.run_until_empty()
    assert writes == ["finished"]
    assert handle.status is TaskStatus.DONE


def _die_while_running(spool_dir: str, task_id: str, attempt: int) -> int:
    """A child process that starts ``task_id`` in its own slot, then dies as kill -9 leaves it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            SlotBoard(spool_dir).start(task_id, attempt, "tests:victim", time.time())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_dead_process_slot_makes_the_rerun_count_the_lost_attempt(spool: LocalSpool) -> None:
    handle = looks_at_itself()
    dead = _die_while_running(str(spool.dir), handle.task_id, 1)
    assert running_task(str(spool.dir), handle.task_id) is None  # a dead owner runs nothing
    counts = spool.run_once()
    assert counts == {"retrying": 1}
    record = _store(spool).get(handle.task_id)
    assert record is not None and record.status is TaskStatus.RETRYING
    assert "TaskInterrupted" in (record.error or "") and f"pid {dead}" in (record.error or "")
    assert not any(f"-{dead}-" in os.path.basename(p) for p in slot_paths(str(spool.dir)))
    spool.run_until_empty(include_postponed=True)
    assert handle.status is TaskStatus.DONE


def test_a_task_killed_on_every_attempt_ends_failed(spool: LocalSpool) -> None:
    handle = looks_at_itself()  # retries=1: two attempts
    _die_while_running(str(spool.dir), handle.task_id, 1)
    assert spool.run_once() == {"retrying": 1}
    _die_while_running(str(spool.dir), handle.task_id, 2)
    assert spool.run_until_empty(include_postponed=True) == {"failed": 1}
    assert handle.status is TaskStatus.FAILED
    assert "TaskInterrupted" in (handle.error or "")
    assert "status" not in seen  # the task itself never ran here


def test_a_live_process_naming_the_same_attempt_is_not_an_interruption(
    spool: LocalSpool,
) -> None:
    handle = looks_at_itself()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        SlotBoard(str(spool.dir)).start(handle.task_id, 1, "tests:twin", time.time())
        os.write(write, b"x")
        time.sleep(60)
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"x"
        slot = running_task(str(spool.dir), handle.task_id)
        assert slot is not None and slot.pid == pid
        assert spool.run_until_empty() == {"done": 1}
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)


def test_slots_of_processes_that_died_idle_are_swept(spool: LocalSpool) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        SlotBoard(str(spool.dir))
        os._exit(0)
    os.waitpid(pid, 0)
    assert any(f"-{pid}-" in os.path.basename(p) for p in slot_paths(str(spool.dir)))
    looks_at_itself()
    spool.run_until_empty()
    assert not any(f"-{pid}-" in os.path.basename(p) for p in slot_paths(str(spool.dir)))
    board = board_for(str(spool.dir))
    assert board is not None and board.path in slot_paths(str(spool.dir))


# --- pending tasks by id -------------------------------------------------------------------------


def test_get_result_of_a_pending_task_reads_no_pending_file(
    spool: LocalSpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = looks_at_itself()
    later = looks_at_itself.spool_with((), postpone=60)

    def no_scan(self: Spooler) -> list[str]:
        raise AssertionError("get_result must not scan the pending files")

    monkeypatch.setattr(Spooler, "pending", no_scan)
    found = Spooler.get_result(waiting.task_id)
    assert found is not None and found.status is TaskStatus.QUEUED
    assert found.task_name == waiting.task_name
    found_later = Spooler.get_result(later.task_id)
    assert found_later is not None and found_later.status is TaskStatus.SCHEDULED
    assert Spooler.get_result("1a2b3c-nobody-1") is None


def test_the_id_index_entry_goes_with_the_task(spool: LocalSpool) -> None:
    handle = looks_at_itself()
    entry = ids.entry(str(spool.dir), handle.task_id)
    assert os.path.samefile(entry, handle.path)
    spool.run_until_empty()
    assert not os.path.exists(entry)
    found = Spooler.get_result(handle.task_id)
    assert found is not None and found.status is TaskStatus.DONE


def test_an_index_entry_whose_file_is_gone_answers_gone_and_is_swept(spool: LocalSpool) -> None:
    handle = looks_at_itself()
    os.unlink(handle.path)  # e.g. dropped by `spoolrt rm`, or run by a spooler without spoolrt
    assert ids.pending_status(str(spool.dir), handle.task_id) is None
    assert Spooler.get_result(handle.task_id) is None
    assert ids.sweep(str(spool.dir)) == 1
    assert not os.path.exists(ids.entry(str(spool.dir), handle.task_id))


def test_ids_that_are_not_file_names_are_indexed_by_digest(spool: LocalSpool) -> None:
    handle = Spooler(str(spool.dir)).enqueue(
        type_id="", message="m", name="tests:odd", payload=None, task_id="sched/every:5s@1"
    )
    entry = ids.entry(str(spool.dir), "sched/every:5s@1")
    assert os.path.dirname(entry) == ids.ids_dir(str(spool.dir))
    assert os.path.samefile(entry, handle.path)
    assert ids.pending_status(str(spool.dir), "sched/every:5s@1") is TaskStatus.QUEUED


def test_the_worker_sweeps_leftover_index_entries_at_most_once_an_interval(
    spool: LocalSpool,
) -> None:
    first, second = looks_at_itself(), looks_at_itself()
    os.unlink(first.path)  # a spooler killed between its unlink and the index clean-up
    assert ids.sweep_throttled(str(spool.dir), every=3600) == 1
    os.unlink(second.path)
    assert ids.sweep_throttled(str(spool.dir), every=3600) == 0  # within the interval
    assert os.path.exists(ids.entry(str(spool.dir), second.task_id))


def test_a_task_is_never_unknown_while_its_outcome_is_written(
    spool: LocalSpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported by a polling web worker: ``get_result`` answered None (unknown) for a task
    in the moment between its index entry going and its outcome reaching the store."""
    handle = looks_at_itself()
    store = _store(spool)
    real_finished = store.finished
    during: list[object] = []

    def finished(*args: Any, **kwargs: Any) -> bool:
        during.append(Spooler.get_result(handle.task_id))  # a reader just before the write
        return bool(real_finished(*args, **kwargs))

    monkeypatch.setattr(store, "finished", finished)
    spool.run_until_empty()
    assert during and all(found is not None for found in during), during
    assert not os.path.exists(ids.entry(str(spool.dir), handle.task_id))  # and then it goes
