"""The ResultStore contract, run against every store implementation.

Each test names one promise of ``spoolrt.results.base.ResultStore``; a new store joins by adding
a factory to ``STORE_FACTORIES``. A property test at the end drives random, reordered and
duplicated event sequences through every store and checks they all agree with the one ordering
rule, ``supersedes``.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoolrt.core.defaults import RESULT_TTL
from spoolrt.core.outcomes import TaskStatus
from spoolrt.results import (
    MemoryResultStore,
    ResultStore,
    SQLiteResultStore,
    TaskDescription,
    TaskRecord,
    TaskStart,
    supersedes,
)

T0 = 1_800_000_000.0  # a fixed "now" for every test


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _memory(tmp: Path, clock: FakeClock) -> ResultStore:
    return MemoryResultStore(clock=clock)


def _sqlite(tmp: Path, clock: FakeClock) -> ResultStore:
    return SQLiteResultStore(tmp / "store" / "results.sqlite3", clock=clock, purge_interval=None)


def _sqlite_journal(tmp: Path, clock: FakeClock) -> ResultStore:
    return SQLiteResultStore(
        tmp / "store" / "results.sqlite3", clock=clock, purge_interval=None, group_commit=True
    )


STORE_FACTORIES: dict[str, Callable[[Path, FakeClock], ResultStore]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "sqlite-journal": _sqlite_journal,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[ResultStore]:
    store = STORE_FACTORIES[request.param](tmp_path, clock)
    yield store
    store.close()


def queued(task_id: str = "t1", **fields: object) -> TaskRecord:
    defaults: dict[str, object] = {
        "name": "app.tasks:send",
        "spooler": "/spool/a",
        "max_attempts": 3,
        "enqueued_at": T0,
    }
    defaults.update(fields)
    return TaskRecord(task_id, **defaults)  # type: ignore[arg-type]


def must_get(store: ResultStore, task_id: str = "t1") -> TaskRecord:
    record = store.get(task_id)
    assert record is not None, f"{task_id} should have a record"
    return record


# --- enqueued ---------------------------------------------------------------------------------


def test_enqueued_creates_a_queued_record_that_get_returns(store: ResultStore) -> None:
    assert store.enqueued(queued(scheduled_for=T0 + 5)) is True

    record = must_get(store)
    assert record == TaskRecord(
        "t1",
        name="app.tasks:send",
        spooler="/spool/a",
        status=TaskStatus.QUEUED,
        attempt=0,
        max_attempts=3,
        enqueued_at=T0,
        scheduled_for=T0 + 5,
        expires_at=T0 + 5 + RESULT_TTL,
    )


def test_enqueued_keeps_a_given_expiry_and_defaults_enqueued_at_to_now(
    store: ResultStore, clock: FakeClock
) -> None:
    clock.now = T0 + 100
    store.enqueued(TaskRecord("t1", status=TaskStatus.SCHEDULED, expires_at=T0 + 500))

    record = must_get(store)
    assert record.enqueued_at == T0 + 100
    assert record.expires_at == T0 + 500
    assert record.status is TaskStatus.SCHEDULED


@pytest.mark.parametrize(
    "status", [s for s in TaskStatus if s not in (TaskStatus.QUEUED, TaskStatus.SCHEDULED)]
)
def test_enqueued_refuses_a_record_that_already_ran(store: ResultStore, status: TaskStatus) -> None:
    with pytest.raises(ValueError, match="queued or scheduled"):
        store.enqueued(TaskRecord("t1", status=status))
    assert store.get("t1") is None


def test_enqueued_twice_changes_nothing_the_second_time(store: ResultStore) -> None:
    store.enqueued(queued())
    before = must_get(store)

    assert store.enqueued(queued(name="other", enqueued_at=T0 + 9)) is False
    assert must_get(store) == before


def test_enqueued_after_the_task_started_only_fills_empty_fields(store: ResultStore) -> None:
    # The spooler can pick a task up before the process that spooled it reports it.
    store.started("t1", 1, pid=42, at=T0 + 1)

    assert store.enqueued(queued()) is True

    record = must_get(store)
    assert record.status is TaskStatus.RUNNING
    assert (record.attempt, record.pid, record.started_at) == (1, 42, T0 + 1)
    assert (record.name, record.enqueued_at, record.max_attempts) == ("app.tasks:send", T0, 3)


def test_enqueued_after_the_task_finished_leaves_it_finished(store: ResultStore) -> None:
    store.finished("t1", TaskStatus.DONE, result=b"r", result_serializer="pickle", at=T0 + 2)

    store.enqueued(queued())

    record = must_get(store)
    assert record.status is TaskStatus.DONE
    assert record.result == b"r"
    assert record.name == "app.tasks:send"


# --- started / retrying -----------------------------------------------------------------------


def test_started_marks_the_attempt_running_with_pid_and_time(store: ResultStore) -> None:
    store.enqueued(queued())

    assert store.started("t1", 1, pid=4242, at=T0 + 3).applied is True

    record = must_get(store)
    assert (record.status, record.attempt, record.pid) == (TaskStatus.RUNNING, 1, 4242)
    assert record.started_at == T0 + 3
    assert record.finished_at is None


def test_started_defaults_pid_to_this_process_and_time_to_now(
    store: ResultStore, clock: FakeClock
) -> None:
    clock.now = T0 + 7
    store.started("t1", 1)

    record = must_get(store)
    assert (record.pid, record.started_at) == (os.getpid(), T0 + 7)


def test_started_again_for_the_same_attempt_refreshes_pid_after_a_crash(store: ResultStore) -> None:
    store.started("t1", 1, pid=100, at=T0 + 1)
    start = store.started("t1", 1, pid=200, at=T0 + 40)

    assert start == TaskStart(applied=True, interrupted=True, previous_pid=100)

    record = must_get(store)
    assert (record.status, record.attempt, record.pid, record.started_at) == (
        TaskStatus.RUNNING,
        1,
        200,
        T0 + 40,
    )


def test_started_says_whether_it_applied_and_is_true_when_it_did(store: ResultStore) -> None:
    first = store.started("t1", 1, pid=1)
    store.finished("t1", TaskStatus.DONE)
    duplicate = store.started("t1", 1, pid=2)

    assert first == TaskStart(applied=True) and bool(first) is True
    assert duplicate == TaskStart(applied=False) and bool(duplicate) is False


def test_a_new_attempt_or_a_first_run_is_not_an_interrupted_one(store: ResultStore) -> None:
    store.enqueued(queued())
    assert store.started("t1", 1, pid=1) == TaskStart(applied=True)
    store.retrying("t1", 1, T0 + 1)
    assert store.started("t1", 2, pid=2) == TaskStart(applied=True)
    assert store.started("t1", 3, pid=3) == TaskStart(applied=True)  # attempt 2 ran on


def test_started_for_an_unknown_task_creates_a_complete_record(store: ResultStore) -> None:
    # Enqueued with the store off, or over the uWSGI socket from another machine.
    store.started(
        "t1",
        2,
        pid=7,
        at=T0 + 10,
        task=TaskDescription("app.tasks:send", "/spool/a", 3),
        enqueued_at=T0,
        scheduled_for=T0 + 5,
    )

    record = must_get(store)
    assert record.status is TaskStatus.RUNNING
    assert (record.attempt, record.max_attempts, record.name, record.spooler) == (
        2,
        3,
        "app.tasks:send",
        "/spool/a",
    )
    assert (record.enqueued_at, record.scheduled_for) == (T0, T0 + 5)
    assert record.expires_at == T0 + 10 + RESULT_TTL


def test_retrying_keeps_the_error_and_the_next_time(store: ResultStore) -> None:
    store.enqueued(queued())
    store.started("t1", 1, pid=1, at=T0 + 1)

    assert store.retrying("t1", 1, T0 + 60, error="OSError: boom", traceback="Traceback...")

    record = must_get(store)
    assert (record.status, record.attempt, record.scheduled_for) == (
        TaskStatus.RETRYING,
        1,
        T0 + 60,
    )
    assert (record.error, record.traceback) == ("OSError: boom", "Traceback...")


def test_the_next_attempt_runs_after_retrying_and_keeps_the_last_error(store: ResultStore) -> None:
    store.started("t1", 1, at=T0 + 1)
    store.retrying("t1", 1, T0 + 60, error="OSError: boom")

    assert store.started("t1", 2, pid=9, at=T0 + 61).applied is True

    record = must_get(store)
    assert (record.status, record.attempt, record.pid) == (TaskStatus.RUNNING, 2, 9)
    assert record.error == "OSError: boom"


def test_a_late_start_of_an_attempt_that_already_failed_is_ignored(store: ResultStore) -> None:
    # The old spool file re-runs after the retry file was written (crash in between).
    store.started("t1", 1, pid=1, at=T0 + 1)
    store.retrying("t1", 1, T0 + 60, error="boom")

    assert store.started("t1", 1, pid=2, at=T0 + 5).applied is False

    record = must_get(store)
    assert (record.status, record.pid) == (TaskStatus.RETRYING, 1)


def test_a_late_retrying_of_an_earlier_attempt_is_ignored(store: ResultStore) -> None:
    store.started("t1", 2, pid=1, at=T0 + 1)

    assert store.retrying("t1", 1, T0 + 60, error="late") is False

    record = must_get(store)
    assert (record.status, record.attempt, record.error) == (TaskStatus.RUNNING, 2, None)


def test_retrying_for_an_unknown_task_creates_it(store: ResultStore) -> None:
    assert store.retrying(
        "t1", 1, T0 + 60, error="boom", at=T0, task=TaskDescription("n", max_attempts=4)
    )

    record = must_get(store)
    assert (record.status, record.name, record.max_attempts) == (TaskStatus.RETRYING, "n", 4)
    assert record.expires_at == T0 + 60 + RESULT_TTL


# --- finished ---------------------------------------------------------------------------------


def test_finished_records_status_result_and_expiry(store: ResultStore) -> None:
    store.enqueued(queued())
    store.started("t1", 1, pid=5, at=T0 + 1)

    assert store.finished(
        "t1",
        TaskStatus.DONE,
        result=b"\x80\x04K\x01.",
        result_serializer="pickle",
        at=T0 + 2,
        ttl=60,
        attempt=1,
    )

    record = must_get(store)
    assert record.status is TaskStatus.DONE
    assert (record.result, record.result_serializer) == (b"\x80\x04K\x01.", "pickle")
    assert (record.finished_at, record.expires_at) == (T0 + 2, T0 + 62)
    assert (record.attempt, record.pid, record.started_at) == (1, 5, T0 + 1)


def test_finished_replaces_the_error_of_an_earlier_attempt(store: ResultStore) -> None:
    store.started("t1", 1)
    store.retrying("t1", 1, T0 + 1, error="boom", traceback="tb")
    store.started("t1", 2)

    store.finished("t1", TaskStatus.DONE, result=b"ok", attempt=2)

    record = must_get(store)
    assert (record.error, record.traceback, record.reason) == (None, None, None)


def test_finished_failed_keeps_error_traceback_and_reason(store: ResultStore) -> None:
    store.started("t1", 3)

    store.finished(
        "t1", TaskStatus.FAILED, error="ValueError: x", traceback="tb", reason="retries-exhausted"
    )

    record = must_get(store)
    assert (record.status, record.error, record.traceback, record.reason) == (
        TaskStatus.FAILED,
        "ValueError: x",
        "tb",
        "retries-exhausted",
    )
    assert record.result is None


def test_finished_for_an_unknown_task_still_creates_a_record(store: ResultStore) -> None:
    assert store.finished(
        "t1", TaskStatus.QUARANTINED, reason="bad-signature", at=T0, task=TaskDescription("n", "/s")
    )

    record = must_get(store)
    assert (record.status, record.reason, record.name, record.spooler) == (
        TaskStatus.QUARANTINED,
        "bad-signature",
        "n",
        "/s",
    )
    assert (record.finished_at, record.expires_at) == (T0, T0 + RESULT_TTL)


def test_finished_records_start_and_pid_for_a_caller_that_skipped_started(
    store: ResultStore,
) -> None:
    store.enqueued(queued())

    store.finished("t1", TaskStatus.DONE, at=T0 + 2, started_at=T0 + 1, pid=77, attempt=1)

    record = must_get(store)
    assert (record.started_at, record.pid, record.finished_at) == (T0 + 1, 77, T0 + 2)


def test_finished_keeps_the_start_that_started_recorded(store: ResultStore) -> None:
    store.started("t1", 1, pid=5, at=T0 + 1)

    store.finished("t1", TaskStatus.DONE, started_at=T0 + 9, pid=99)

    record = must_get(store)
    assert (record.started_at, record.pid) == (T0 + 1, 5)


@pytest.mark.parametrize("first", sorted(s for s in TaskStatus if s.is_final))
def test_a_final_record_never_changes_again(store: ResultStore, first: TaskStatus) -> None:
    store.started("t1", 1, pid=1, at=T0)
    store.finished("t1", first, result=b"first", at=T0 + 1, attempt=1)
    final = must_get(store)

    assert store.finished("t1", TaskStatus.DONE, result=b"second", at=T0 + 2) is False
    assert store.finished("t1", TaskStatus.FAILED, error="late", at=T0 + 2) is False
    assert store.started("t1", 2, pid=2, at=T0 + 3).applied is False
    assert store.retrying("t1", 5, T0 + 9, error="late") is False

    assert must_get(store) == final


def test_finished_raises_the_attempt_but_never_lowers_it(store: ResultStore) -> None:
    store.started("t1", 3)
    store.finished("t1", TaskStatus.DONE, attempt=1)
    assert must_get(store).attempt == 3

    store.started("t2", 1)
    store.finished("t2", TaskStatus.DONE, attempt=2)
    assert must_get(store, "t2").attempt == 2


def test_finished_takes_a_timedelta_ttl(store: ResultStore) -> None:
    store.finished("t1", TaskStatus.SKIPPED, at=T0, ttl=timedelta(hours=1))
    assert must_get(store).expires_at == T0 + 3600


@pytest.mark.parametrize("status", [TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RETRYING])
def test_finished_refuses_a_status_that_is_not_final(
    store: ResultStore, status: TaskStatus
) -> None:
    with pytest.raises(ValueError, match="final status"):
        store.finished("t1", status)
    assert store.get("t1") is None


def test_finished_refuses_a_result_that_is_not_bytes(store: ResultStore) -> None:
    with pytest.raises(TypeError, match="bytes"):
        store.finished("t1", TaskStatus.DONE, result="not serialised")  # type: ignore[arg-type]
    assert store.get("t1") is None


def test_finished_refuses_a_negative_ttl(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.finished("t1", TaskStatus.DONE, ttl=-1)
    assert store.get("t1") is None


# --- reads, expiry, delete --------------------------------------------------------------------


def test_get_of_an_unknown_task_is_none(store: ResultStore) -> None:
    assert store.get("nope") is None


def test_an_expired_record_is_invisible_before_it_is_purged(
    store: ResultStore, clock: FakeClock
) -> None:
    store.finished("old", TaskStatus.DONE, at=T0, ttl=10, task=TaskDescription("n"))
    store.finished("new", TaskStatus.DONE, at=T0, ttl=100, task=TaskDescription("n"))
    clock.now = T0 + 10

    assert store.get("old") is None
    assert [r.task_id for r in store.list()] == ["new"]
    assert store.counts()[TaskStatus.DONE] == 1
    assert store.counts_by_name() == {"n": {**dict.fromkeys(TaskStatus, 0), TaskStatus.DONE: 1}}


def test_purge_expired_deletes_expired_records_only(store: ResultStore, clock: FakeClock) -> None:
    for i in range(5):
        store.finished(f"old{i}", TaskStatus.DONE, at=T0, ttl=10)
    store.finished("keep", TaskStatus.DONE, at=T0, ttl=100)
    store.enqueued(queued("pending"))

    assert store.purge_expired(T0 + 10) == 5
    assert store.purge_expired(T0 + 10) == 0

    clock.now = T0 + 5  # still before the purged records' expiry: they are gone anyway
    assert store.get("old0") is None
    assert store.get("keep") is not None
    assert store.get("pending") is not None


def test_purge_expired_defaults_to_now(store: ResultStore, clock: FakeClock) -> None:
    store.finished("t1", TaskStatus.DONE, at=T0, ttl=1)
    clock.now = T0 + 1
    assert store.purge_expired() == 1


def test_purge_handles_more_records_than_one_batch(store: ResultStore) -> None:
    for i in range(1203):
        store.finished(f"t{i}", TaskStatus.DONE, at=T0, ttl=i % 2)
    assert store.purge_expired(T0) == 602  # the ttl=0 ones
    assert store.counts()[TaskStatus.DONE] == 601


def test_a_pending_record_is_kept_while_it_waits(store: ResultStore, clock: FakeClock) -> None:
    store.enqueued(queued(enqueued_at=T0, scheduled_for=T0 + 30 * 86400))
    clock.now = T0 + 30 * 86400 + RESULT_TTL - 1
    assert store.get("t1") is not None


def test_a_step_after_a_long_backlog_keeps_the_record_alive(
    store: ResultStore, clock: FakeClock
) -> None:
    store.enqueued(queued(enqueued_at=T0))
    late = T0 + RESULT_TTL - 1
    store.started("t1", 1, at=late)

    clock.now = late + 3600
    assert must_get(store).status is TaskStatus.RUNNING
    assert store.purge_expired(late + 3600) == 0


def test_delete_forgets_a_task_and_says_whether_it_existed(store: ResultStore) -> None:
    store.finished("t1", TaskStatus.DONE)

    assert store.delete("t1") is True
    assert store.get("t1") is None
    assert store.delete("t1") is False


def test_delete_lets_a_finished_task_run_again_under_its_id(store: ResultStore) -> None:
    store.finished("t1", TaskStatus.FAILED, error="boom")
    store.delete("t1")

    store.enqueued(queued())
    assert store.started("t1", 1).applied is True
    assert must_get(store).status is TaskStatus.RUNNING


# --- list and counts --------------------------------------------------------------------------


@pytest.fixture
def mixed(store: ResultStore) -> ResultStore:
    """Six tasks of two names, created in order t0..t5, in several statuses."""
    store.enqueued(queued("t0", name="a"))
    store.started("t1", 1, task=TaskDescription("a"))
    store.finished("t2", TaskStatus.DONE, task=TaskDescription("b"))
    store.finished("t3", TaskStatus.FAILED, task=TaskDescription("a"), error="x")
    store.retrying("t4", 1, T0 + 9, task=TaskDescription("b"))
    store.finished("t5", TaskStatus.DONE, task=TaskDescription("a"))
    return store


def test_list_is_newest_first_by_default(mixed: ResultStore) -> None:
    assert [r.task_id for r in mixed.list()] == ["t5", "t4", "t3", "t2", "t1", "t0"]
    assert [r.task_id for r in mixed.list(newest_first=False)] == [f"t{i}" for i in range(6)]


def test_list_filters_by_one_status_or_several(mixed: ResultStore) -> None:
    assert [r.task_id for r in mixed.list(status=TaskStatus.DONE)] == ["t5", "t2"]
    troubled = mixed.list(status={TaskStatus.FAILED, TaskStatus.RETRYING})
    assert [r.task_id for r in troubled] == ["t4", "t3"]
    assert mixed.list(status=set()) == []


def test_list_filters_by_name_and_limits(mixed: ResultStore) -> None:
    assert [r.task_id for r in mixed.list(name="a")] == ["t5", "t3", "t1", "t0"]
    assert [r.task_id for r in mixed.list(name="a", limit=2)] == ["t5", "t3"]
    assert [r.task_id for r in mixed.list(status=TaskStatus.DONE, name="b")] == ["t2"]
    assert mixed.list(limit=0) == []


def test_list_returns_full_records(mixed: ResultStore) -> None:
    (failed,) = mixed.list(status=TaskStatus.FAILED)
    assert failed == mixed.get("t3")


def test_list_refuses_bad_arguments(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.list(limit=-1)
    with pytest.raises(ValueError, match="not a task status"):
        store.list(status="nope")


def test_counts_has_every_status(mixed: ResultStore) -> None:
    assert mixed.counts() == {
        TaskStatus.QUEUED: 1,
        TaskStatus.SCHEDULED: 0,
        TaskStatus.RUNNING: 1,
        TaskStatus.RETRYING: 1,
        TaskStatus.DONE: 2,
        TaskStatus.SKIPPED: 0,
        TaskStatus.FAILED: 1,
        TaskStatus.QUARANTINED: 0,
        TaskStatus.CANCELLED: 0,
    }


def test_counts_for_one_name_and_by_name(mixed: ResultStore) -> None:
    mixed.finished("anon", TaskStatus.QUARANTINED, reason="corrupt")
    zero = dict.fromkeys(TaskStatus, 0)

    assert mixed.counts(name="b") == {**zero, TaskStatus.DONE: 1, TaskStatus.RETRYING: 1}
    assert mixed.counts(name="nobody") == zero
    assert mixed.counts_by_name() == {
        "a": {
            **zero,
            TaskStatus.QUEUED: 1,
            TaskStatus.RUNNING: 1,
            TaskStatus.FAILED: 1,
            TaskStatus.DONE: 1,
        },
        "b": {**zero, TaskStatus.DONE: 1, TaskStatus.RETRYING: 1},
        None: {**zero, TaskStatus.QUARANTINED: 1},
    }


def test_counts_of_an_empty_store_are_zero(store: ResultStore) -> None:
    assert store.counts() == dict.fromkeys(TaskStatus, 0)
    assert store.counts_by_name() == {}


# --- queries: history, paging, timings ----------------------------------------------------------


def _ran(
    store: ResultStore,
    task_id: str,
    name: str,
    *,
    enqueued: float,
    started: float,
    finished: float,
    status: TaskStatus = TaskStatus.DONE,
    due: float | None = None,
) -> None:
    """One task that waited, ran and finished, recorded as the dispatcher does: one write."""
    store.finished(
        task_id,
        status,
        task=TaskDescription(name),
        at=finished,
        started_at=started,
        pid=7,
        enqueued_at=enqueued,
        scheduled_for=due,
    )


@pytest.fixture
def history(store: ResultStore) -> ResultStore:
    """Ten finished runs of "a" (run i lasts i+1 s, waited i/10 s), two of "b", one pending."""
    for i in range(10):
        start = T0 + 100 * i
        _ran(store, f"a{i}", "a", enqueued=start - i / 10, started=start, finished=start + i + 1)
    _ran(store, "b0", "b", enqueued=T0, started=T0 + 5, finished=T0 + 6, status=TaskStatus.FAILED)
    # Postponed: it waited from its due time, not from its enqueue time.
    _ran(store, "b1", "b", enqueued=T0, due=T0 + 50, started=T0 + 52, finished=T0 + 60)
    store.enqueued(queued("q0", name="a", enqueued_at=T0 + 2000))
    return store


def test_finished_fills_the_enqueue_and_due_times_it_is_given(store: ResultStore) -> None:
    _ran(store, "t1", "a", enqueued=T0 - 3, due=T0 - 1, started=T0, finished=T0 + 2)
    record = must_get(store)
    assert (record.enqueued_at, record.scheduled_for) == (T0 - 3, T0 - 1)
    assert (record.started_at, record.finished_at, record.pid) == (T0, T0 + 2, 7)


def test_query_is_newest_activity_first_and_filters_by_status_and_name(
    history: ResultStore,
) -> None:
    assert [r.task_id for r in history.query(limit=4)] == ["q0", "a9", "a8", "a7"]
    assert [r.task_id for r in history.query(status="failed")] == ["b0"]
    assert [r.task_id for r in history.query(name="b")] == ["b1", "b0"]
    done_b = history.query(status=[TaskStatus.DONE], name="b")
    assert [r.task_id for r in done_b] == ["b1"] and done_b[0] == history.get("b1")
    assert history.query(status=set()) == []


def test_query_pages_do_not_overlap_and_cover_everything(history: ResultStore) -> None:
    pages = [history.query(name="a", limit=3, offset=offset) for offset in range(0, 12, 3)]
    ids = [r.task_id for page in pages for r in page]
    assert ids == ["q0"] + [f"a{i}" for i in range(9, -1, -1)]
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert history.query(name="a", offset=50) == []


def test_query_window_is_on_the_activity_time_half_open(history: ResultStore) -> None:
    # a3 finished at T0 + 304, a4 at T0 + 405: [T0 + 304, T0 + 405) holds a3 only.
    assert [r.task_id for r in history.query(since=T0 + 304, until=T0 + 405)] == ["a3"]
    assert [r.task_id for r in history.query(since=T0 + 1000)] == ["q0"]  # enqueued then
    assert [r.task_id for r in history.query(until=T0 + 7, name="b")] == ["b0"]


def test_query_ties_are_broken_by_task_id(store: ResultStore) -> None:
    for task_id in ("x1", "x3", "x2"):
        _ran(store, task_id, "x", enqueued=T0, started=T0, finished=T0 + 1)
    assert [r.task_id for r in store.query()] == ["x3", "x2", "x1"]
    assert [r.task_id for r in store.query(limit=1, offset=1)] == ["x2"]


def test_query_refuses_bad_paging(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.query(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        store.query(offset=-1)
    with pytest.raises(ValueError, match="not a task status"):
        store.query(status="nope")


def test_query_leaves_out_expired_records(store: ResultStore, clock: FakeClock) -> None:
    store.finished("old", TaskStatus.DONE, ttl=10)
    store.finished("new", TaskStatus.DONE, ttl=1000)
    clock.now += 100
    assert [r.task_id for r in store.query()] == ["new"]


def test_timings_give_run_and_wait_percentiles_per_name(history: ResultStore) -> None:
    timings = history.timings()
    assert set(timings) == {"a", "b"}
    a = timings["a"]
    assert a.name == "a" and a.finished == 10
    # Runs last 1..10 s: nearest-rank median 5, p95 10, max 10.
    assert (a.run.count, a.run.p50, a.run.p95, a.run.max) == (10, 5.0, 10.0, 10.0)
    assert a.wait.count == 10 and a.wait.max == pytest.approx(0.9)
    assert a.wait.p50 == pytest.approx(0.4)
    b = timings["b"]
    assert b.finished == 2 and (b.run.p50, b.run.max) == (1.0, 8.0)
    assert (b.wait.p50, b.wait.max) == (2.0, 5.0)  # b1 waited 2 s from its due time T0 + 50


def test_timings_for_one_name_and_a_window(history: ResultStore) -> None:
    only_b = history.timings(name="b")
    assert list(only_b) == ["b"]
    window = history.timings(since=T0 + 300, until=T0 + 600)  # a3 (T0+304) .. a5 (T0+506)
    assert list(window) == ["a"]
    assert window["a"].finished == 3 and window["a"].run.max == 6.0
    assert history.timings(since=T0 + 5000) == {}


def test_timings_count_final_records_without_times_but_spread_nothing(store: ResultStore) -> None:
    store.finished("t1", TaskStatus.QUARANTINED, task=TaskDescription("q"))
    store.started("t2", 1, task=TaskDescription("q"))  # running: not final, not counted
    (timing,) = store.timings().values()
    assert timing.finished == 1
    assert (timing.run.count, timing.run.p50, timing.wait.max) == (0, None, None)


# --- purge of a status ---------------------------------------------------------------------------


def test_purge_deletes_one_final_status_and_says_how_many(history: ResultStore) -> None:
    assert history.purge(TaskStatus.DONE) == 11  # a0..a9 and b1
    assert [r.task_id for r in history.query()] == ["q0", "b0"]  # failed and queued stay
    assert history.counts()[TaskStatus.DONE] == 0
    assert history.purge("done") == 0  # its value is accepted too; nothing left
    assert history.purge("failed") == 1 and history.get("b0") is None


def test_purge_keeps_to_the_name_and_the_half_open_finished_window(history: ResultStore) -> None:
    # a3 finished at T0 + 304, a4 at T0 + 405, a6 at T0 + 607.
    assert history.purge(TaskStatus.DONE, name="a", since=T0 + 304, before=T0 + 607) == 3
    left = {r.task_id for r in history.query(status="done", name="a")}
    assert left == {"a0", "a1", "a2", "a6", "a7", "a8", "a9"}
    assert history.purge(TaskStatus.DONE, name="a", before=T0 + 304) == 3
    assert history.purge(TaskStatus.DONE, name="b", since=T0 + 1000) == 0
    assert history.get("b1") is not None
    assert history.purge(TaskStatus.DONE, name="nobody") == 0


def test_purge_matches_exactly_what_query_lists(history: ResultStore) -> None:
    since, before = T0 + 150, T0 + 550
    listed = history.query(status="done", name="a", since=since, until=before, limit=100)
    assert history.purge("done", name="a", since=since, before=before) == len(listed) == 4
    assert all(history.get(r.task_id) is None for r in listed)


@pytest.mark.parametrize("status", ["queued", "scheduled", "running", "retrying", "nope"])
def test_purge_refuses_a_status_that_is_not_final(history: ResultStore, status: str) -> None:
    with pytest.raises(ValueError, match=r"final status|not a task status"):
        history.purge(status)
    assert history.get("q0") is not None


def test_purge_leaves_expired_records_to_purge_expired(
    store: ResultStore, clock: FakeClock
) -> None:
    store.finished("old", TaskStatus.CANCELLED, ttl=10)
    store.finished("new", TaskStatus.CANCELLED, ttl=1000)
    clock.now += 100
    assert store.purge(TaskStatus.CANCELLED) == 1  # the visible one
    assert store.purge_expired() == 1


def test_purge_of_a_status_handles_more_records_than_one_batch(store: ResultStore) -> None:
    for i in range(1203):
        store.finished(f"t{i}", TaskStatus.SKIPPED if i % 3 else TaskStatus.DONE, at=T0)
    assert store.purge(TaskStatus.SKIPPED) == 802
    assert store.counts()[TaskStatus.SKIPPED] == 0
    assert store.counts()[TaskStatus.DONE] == 401


def test_purge_spares_a_record_recreated_under_its_id_meanwhile(
    store: ResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry deletes a final record and enqueues a queued one under the same id: a purge
    that found the final one just before must not delete the new one."""
    store.finished("t2", TaskStatus.DONE)
    store.finished("t1", TaskStatus.DONE)  # the newest row: SQLite may reuse its row number

    def recreate() -> bool:
        store.delete("t1")
        return store.enqueued(queued("t1"))

    # The moment between finding the matches and deleting them, in each implementation.
    if isinstance(store, SQLiteResultStore):
        db = store._db
        real_read = db.read
        calls: list[str] = []

        def read_then_recreate(sql: str, params: object) -> object:
            rows = real_read(sql, params)  # type: ignore[arg-type]
            if not calls and "SELECT seq" in sql:
                calls.append(sql)
                recreate()
            return rows

        monkeypatch.setattr(db, "read", read_then_recreate)
    else:
        real_query = store.query
        monkeypatch.setattr(store, "query", lambda *a, **k: (real_query(*a, **k), recreate())[0])
    assert store.purge(TaskStatus.DONE) == 1
    assert must_get(store).status is TaskStatus.QUEUED


def test_the_default_purge_stops_when_nothing_of_a_page_can_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store whose records another purge deletes first must not loop for ever."""
    store = MemoryResultStore(clock=FakeClock())
    store.finished("t1", TaskStatus.DONE)
    monkeypatch.setattr(store, "delete", lambda task_id: False)
    assert store.purge(TaskStatus.DONE) == 0


# --- lifecycle --------------------------------------------------------------------------------


def test_close_is_idempotent_and_the_store_reopens_on_next_use(store: ResultStore) -> None:
    store.enqueued(queued())
    store.close()
    store.close()

    assert must_get(store).status is TaskStatus.QUEUED
    assert store.started("t1", 1).applied is True


def test_a_store_is_a_context_manager_that_closes(store: ResultStore) -> None:
    with store as same:
        assert same is store
        store.enqueued(queued())
    assert store.get("t1") is not None


# --- the ordering rule ------------------------------------------------------------------------

R, Q, S, RT = TaskStatus.RUNNING, TaskStatus.QUEUED, TaskStatus.SCHEDULED, TaskStatus.RETRYING


@pytest.mark.parametrize(
    ("new", "new_attempt", "old", "old_attempt", "expected"),
    [
        (R, 1, Q, 0, True),
        (R, 1, S, 0, True),
        (R, 1, R, 1, True),  # re-run after a crash
        (RT, 1, R, 1, True),
        (R, 2, RT, 1, True),
        (R, 1, RT, 1, False),  # old file re-run after its retry was written
        (RT, 1, R, 2, False),
        (R, 1, R, 2, False),
        (TaskStatus.DONE, 1, R, 5, True),
        (TaskStatus.FAILED, 0, Q, 0, True),
        (R, 9, TaskStatus.DONE, 1, False),
        (TaskStatus.DONE, 2, TaskStatus.FAILED, 1, False),
    ],
)
def test_supersedes(
    new: TaskStatus, new_attempt: int, old: TaskStatus, old_attempt: int, expected: bool
) -> None:
    assert supersedes(new, new_attempt, old, old_attempt) is expected


# --- every store agrees with the rule, whatever the order of events ---------------------------

_event = st.one_of(
    st.tuples(st.just("enqueued"), st.sampled_from([Q, S])),
    st.tuples(st.just("started"), st.integers(1, 3)),
    st.tuples(st.just("retrying"), st.integers(1, 3)),
    st.tuples(st.just("finished"), st.sampled_from(sorted(s for s in TaskStatus if s.is_final))),
)
_task_ids = itertools.count()
_tmp = tempfile.TemporaryDirectory(prefix="spoolrt-contract-")


def _model(events: list[tuple[str, object]]) -> tuple[TaskStatus, int] | None:
    """What the stored (status, attempt) must be after ``events``, per the contract."""
    state: tuple[TaskStatus, int] | None = None
    for kind, arg in events:
        if kind == "enqueued":
            assert isinstance(arg, TaskStatus)
            state = state or (arg, 0)
        elif kind == "finished":
            assert isinstance(arg, TaskStatus)
            if state is None or not state[0].is_final:
                state = (arg, state[1] if state else 0)
        else:
            assert isinstance(arg, int)
            status = R if kind == "started" else RT
            if state is None or supersedes(status, arg, *state):
                state = (status, arg)
    return state


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_event, min_size=1, max_size=8))
def test_every_store_follows_the_ordering_rule_for_any_sequence(
    events: list[tuple[str, object]],
) -> None:
    clock = FakeClock()
    stores = [factory(Path(_tmp.name), clock) for factory in STORE_FACTORIES.values()]
    task_id = f"h{next(_task_ids)}"
    expected = _model(events)
    for store in stores:
        for step, (kind, arg) in enumerate(events):
            clock.now = T0 + step
            if kind == "enqueued":
                assert isinstance(arg, TaskStatus)
                store.enqueued(TaskRecord(task_id, status=arg, enqueued_at=T0))
            elif kind == "started":
                assert isinstance(arg, int)
                store.started(task_id, arg, pid=step)
            elif kind == "retrying":
                assert isinstance(arg, int)
                store.retrying(task_id, arg, T0 + 100, error=f"e{step}")
            else:
                assert isinstance(arg, TaskStatus)
                store.finished(task_id, arg, result=b"%d" % step)
        record = store.get(task_id)
        assert record is not None
        assert (record.status, record.attempt) == expected, type(store).__name__
    memory_record, *others = (store.get(task_id) for store in stores)
    assert all(other == memory_record for other in others)
    for store in stores:
        store.close()
