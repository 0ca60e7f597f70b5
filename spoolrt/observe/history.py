"""Finished tasks from the result store: history pages, durations per task, schedule runs.

These are thin calls to the store's own queries (``ResultStore.query``: a status, a name, a
time window, a page; ``ResultStore.timings``: run and wait percentiles), so that a SQLite store
answers them with an index and every face pages the same way. What the contract cannot ask
(the slots of one schedule, found by their task-id prefix) reads at most ``HISTORY_LIMIT`` of
the newest records and filters them here.

A store is only opened when its file already exists: looking must never create one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase

from spoolrt.api.schedules import name_token
from spoolrt.core import defaults
from spoolrt.core.outcomes import FINAL_STATUSES, TaskStatus
from spoolrt.results import ResultStore, SQLiteResultStore, TaskRecord
from spoolrt.results.queries import TaskTimings

#: The most records one history query reads from a store (newest first).
HISTORY_LIMIT = 100_000


def store_path(spool_dir: str) -> str:
    """Where the SQLite store of ``spool_dir`` lives (whether or not it exists)."""
    return os.path.join(spool_dir, defaults.STATE_DIR, defaults.RESULTS_FILENAME)


#: Opens the store of a spool directory, or returns None when it has none. Replaceable (the
#: dashboard mounted in an app may hand over the app's own store).
StoreOpener = Callable[[str], "ResultStore | None"]


def open_existing_store(spool_dir: str) -> ResultStore | None:
    """The SQLite store of ``spool_dir`` if its file exists, else None."""
    path = store_path(spool_dir)
    if not os.path.exists(path):
        return None
    return SQLiteResultStore(path, purge_interval=None)


@contextmanager
def store_of(
    spool_dir: str, opener: StoreOpener = open_existing_store
) -> Iterator[ResultStore | None]:
    """The store of ``spool_dir`` for one read, closed afterwards; None without a store."""
    store = opener(spool_dir)
    try:
        yield store
    finally:
        if store is not None:
            store.close()


@dataclass(frozen=True)
class Page:
    """One page of history: its records, and whether more match after them."""

    records: list[TaskRecord]
    more: bool


def history(
    store: ResultStore,
    *,
    status: Collection[TaskStatus] | None = None,
    name: str | None = None,
    since: float | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """Records newest first, in ``status`` (default: every final status), of task ``name``,
    that finished (or, unfinished, were last active) at or after ``since``; ``limit`` of them
    after skipping ``offset``."""
    wanted = frozenset(status) if status else FINAL_STATUSES
    limit, offset = max(0, limit), max(0, offset)
    # One more than the page tells whether another page follows, without counting them all.
    rows = store.query(status=wanted, name=name, since=since, limit=limit + 1, offset=offset)
    return Page(rows[:limit], more=len(rows) > limit)


def finished(store: ResultStore, *, since: float | None = None) -> list[TaskRecord]:
    """Every final record (newest first) that finished at or after ``since``."""
    rows = store.query(status=FINAL_STATUSES, since=since, limit=HISTORY_LIMIT)
    return [r for r in rows if since is None or (r.finished_at or 0.0) >= since]


def last_activity(record: TaskRecord) -> float | None:
    """When the record last changed: finished, else started, else enqueued."""
    return record.finished_at or record.started_at or record.enqueued_at


def run_seconds(record: TaskRecord) -> float | None:
    """How long the last attempt ran (finished - started); None when either is unknown."""
    if record.finished_at is None or record.started_at is None:
        return None
    return max(0.0, record.finished_at - record.started_at)


def wait_seconds(record: TaskRecord) -> float | None:
    """How long the task waited for a spooler once due: started - max(enqueued, scheduled).

    A postponed task's wait starts at its ``at``, not at enqueue: the time it was meant to
    wait is not the spooler's delay.
    """
    if record.started_at is None or record.enqueued_at is None:
        return None
    due = max(record.enqueued_at, record.scheduled_for or 0.0)
    return max(0.0, record.started_at - due)


def slot_prefix(schedule: str) -> str:
    """The task-id prefix of every slot of ``schedule`` (``slot_key`` = ``<token>@<stamp>``)."""
    return name_token(schedule) + "@"


def schedule_runs(store: ResultStore, schedule: str, *, limit: int = 10) -> list[TaskRecord]:
    """The newest ``limit`` records of slots of ``schedule``, newest first."""
    prefix = slot_prefix(schedule)
    rows = [r for r in store.query(limit=HISTORY_LIMIT) if r.task_id.startswith(prefix)]
    return rows[: max(0, limit)]


def last_success(store: ResultStore, schedule: str) -> float | None:
    """When a slot of ``schedule`` last finished ``done``; None if none did (within the TTL)."""
    prefix = slot_prefix(schedule)
    times = [
        r.finished_at
        for r in store.query(status=TaskStatus.DONE, limit=HISTORY_LIMIT)
        if r.task_id.startswith(prefix) and r.finished_at is not None
    ]
    return max(times) if times else None


def timings(
    store: ResultStore, *, since: float | None = None, until: float | None = None
) -> list[TaskTimings]:
    """Run and wait p50/p95 of every task name that finished in ``[since, until)``, by name
    (the store computes them: nearest-rank, the same in every store)."""
    found = store.timings(since=since, until=until)
    return [found[key] for key in sorted(found, key=lambda n: n or "")]


def name_matches(name: str | None, pattern: str) -> bool:
    """A ``--task`` or ``?name=`` filter, as for files: the exact name, its qualname alone
    (after the ``:``), or a glob of either."""
    if not name:
        return False
    names = {name, name.rpartition(":")[2]}
    return any(n == pattern or fnmatchcase(n, pattern) for n in names)
