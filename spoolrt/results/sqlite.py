"""The embedded default result store: one SQLite file, standard library only, many processes.

Why it is built the way it is (every choice was measured; see benchmarks/store_cost.py):

- **One transaction per call.** Each write is a single ``INSERT ... ON CONFLICT DO UPDATE`` in
  autocommit mode, so it takes SQLite's write lock at its first step and holds it for a few
  microseconds; the ordering rule of ``base.supersedes`` is the upsert's ``WHERE``. ``started``
  also reads what it replaces, inside ``BEGIN IMMEDIATE`` so the read and the write see the
  same state and can never fail with ``SQLITE_BUSY_SNAPSHOT``.
  The commit, not the SQL, is the cost: ~9 µs of the ~13 µs a write takes on tmpfs.
- **WAL with ``synchronous=NORMAL``.** Readers never block writers and writers never block
  readers. NORMAL fsyncs only at checkpoints: an application crash loses nothing; a power cut
  or kernel crash may lose the last status updates but never corrupts the file. FULL would add
  an fsync to every task for a record that the spool file (fsynced by the enqueuer) already
  backs up. WAL needs a local filesystem (shared memory between processes): the store
  refuses a file that cannot switch to WAL, and NFS is not supported.
- **No secondary index.** Every index costs every write (even a partial one on the rare
  statuses: +5 us a task). So ``list``, ``counts`` and ``purge_expired`` scan, which is fine
  for a CLI, a dashboard and a purge every few minutes (1 M rows: ``counts`` 0.2 s, ``list``
  by status 0.1 s, purging 500 k 0.8 s in 500-row writes); WAL readers never hold up writers.
- **Our own wait for the write lock** (~50 us, doubling to 2 ms, until ``busy_timeout``, where
  SQLite's busy handler sleeps 1 ms and more), **a connection per process** opened on first
  use and replaced after fork, and a check of the file before every statement: see
  ``spoolrt.results.sqlite_connection``.
- **Group commit**, when ``group_commit`` is on: ``spoolrt.results.journal``.
"""

from __future__ import annotations

import builtins
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from spoolrt.core import defaults
from spoolrt.core.outcomes import TaskStatus
from spoolrt.results.base import (
    UNDESCRIBED,
    ResultStore,
    ResultStoreError,
    StatusFilter,
    TaskDescription,
    TaskRecord,
    TaskStart,
    check_enqueued,
    check_finished,
    supersedes,
    ttl_seconds,
)
from spoolrt.results.journal import Journal
from spoolrt.results.queries import TaskTimings, timings_of
from spoolrt.results.sqlite_connection import SQLiteConnection
from spoolrt.results.sqlite_queries import (
    COUNTS_BY_NAME_SQL,
    SQLitePurge,
    counts_sql,
    list_sql,
    query_sql,
    timings_sql,
)
from spoolrt.results.sqlite_schema import (
    CLAIM_PURGE_SQL,
    DELETE_SQL,
    ENQUEUED_SQL,
    EXPIRES_AT,
    FINISHED_SQL,
    PEEK_SQL,
    PURGE_SELECT_SQL,
    RETRYING_SQL,
    STARTED_SQL,
    STATUS_BY_VALUE,
    TABLE,
    finished_over,
    record_of,
)

__all__ = ["SQLiteResultStore"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class SQLiteResultStore(SQLitePurge, ResultStore):
    """The result store in one SQLite file at ``path``, shared by every process on the host.

    The file's directory is created 0700 and the file 0600 when missing: results are pickled
    and signed, but their contents are still the application's data. All processes using the
    store must run as a user that can write both (normally the uWSGI user).

    ``busy_timeout`` bounds the wait for the write lock; ``purge_interval`` is how often (across
    all processes) ``finished`` also purges expired records, ``None`` to never do it on its own.
    ``clock`` is what "now" means for defaults and expiry. ``group_commit`` journals
    ``finished`` and merges in batches (``spoolrt.results.journal``); every store reads the
    journals, whatever its own setting, so each sees what the others journaled.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = defaults.STORE_BUSY_TIMEOUT,
        purge_interval: float | None = defaults.STORE_PURGE_INTERVAL,
        clock: Callable[[], float] = time.time,
        group_commit: bool = False,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.busy_timeout = busy_timeout
        self.purge_interval = purge_interval
        self._clock = clock
        self._next_purge_check = 0.0
        self._db = SQLiteConnection(self.path, busy_timeout, on_fork=self._forked)
        self.group_commit = group_commit
        self._journal = Journal(self._db, self.path + ".journals")

    @classmethod
    def for_spool_dir(cls, spool_dir: str | os.PathLike[str], **options: Any) -> SQLiteResultStore:
        """The store of a spool directory: ``<spool_dir>/.spoolrt/results.sqlite3``."""
        return cls(
            os.path.join(os.fspath(spool_dir), defaults.STATE_DIR, defaults.RESULTS_FILENAME),
            **options,
        )

    def __repr__(self) -> str:
        return f"<SQLiteResultStore {self.path!r}>"

    # --- writes -------------------------------------------------------------------------------

    def enqueued(self, record: TaskRecord) -> bool:
        check_enqueued(record)
        self._journal.settle_all()  # a direct write: the journaled rows first, in order
        enqueued_at = record.enqueued_at if record.enqueued_at is not None else self._clock()
        expires_at = record.expires_at
        if expires_at is None:
            expires_at = max(enqueued_at, record.scheduled_for or 0.0) + defaults.RESULT_TTL
        params = (
            record.task_id,
            record.name,
            record.spooler,
            record.status.value,
            record.attempt,
            record.max_attempts,
            enqueued_at,
            record.scheduled_for,
            expires_at,
        )
        return self._db.write(ENQUEUED_SQL, params) > 0

    def started(
        self,
        task_id: str,
        attempt: int,
        *,
        pid: int | None = None,
        at: float | None = None,
        task: TaskDescription = UNDESCRIBED,
        enqueued_at: float | None = None,
        scheduled_for: float | None = None,
    ) -> TaskStart:
        name, spooler, max_attempts = task.name, task.spooler, task.max_attempts
        now = self._clock() if at is None else at
        keep_until = max(now, scheduled_for or 0.0) + defaults.RESULT_TTL
        params = (
            task_id, attempt, now, os.getpid() if pid is None else pid, name, spooler,
            max_attempts, enqueued_at, scheduled_for, keep_until,
        )  # fmt: skip

        self._journal.settle_all()

        def peek_then_start(conn: sqlite3.Connection) -> TaskStart:
            # One write transaction: what was there and the upsert, for ~3 us more than the
            # upsert alone (a separate get() costs ~9). The upsert's WHERE still holds the rule.
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = conn.execute(PEEK_SQL, (task_id,)).fetchone()
                if found is not None and not supersedes(
                    TaskStatus.RUNNING, attempt, STATUS_BY_VALUE[found[0]], found[1]
                ):
                    conn.execute("ROLLBACK")
                    return TaskStart(False)
                conn.execute(STARTED_SQL, params)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            if found is not None and found[0] == "running" and found[1] == attempt:
                return TaskStart(True, interrupted=True, previous_pid=found[2])
            return TaskStart(True)

        return self._db.call(peek_then_start)

    def retrying(
        self,
        task_id: str,
        attempt: int,
        next_at: float,
        *,
        error: str | None = None,
        traceback: str | None = None,
        at: float | None = None,
        task: TaskDescription = UNDESCRIBED,
    ) -> bool:
        name, spooler, max_attempts = task.name, task.spooler, task.max_attempts
        now = self._clock() if at is None else at
        keep_until = max(now, next_at) + defaults.RESULT_TTL
        params = (
            task_id, attempt, next_at, error, traceback, name, spooler, max_attempts, keep_until,
        )  # fmt: skip
        self._journal.settle_all()
        return self._db.write(RETRYING_SQL, params) > 0

    def finished(
        self,
        task_id: str,
        status: TaskStatus | str,
        *,
        result: bytes | None = None,
        result_serializer: str | None = None,
        error: str | None = None,
        traceback: str | None = None,
        reason: str | None = None,
        ttl: float | timedelta | None = None,
        attempt: int | None = None,
        at: float | None = None,
        task: TaskDescription = UNDESCRIBED,
        started_at: float | None = None,
        pid: int | None = None,
        enqueued_at: float | None = None,
        scheduled_for: float | None = None,
    ) -> bool:
        name, spooler, max_attempts = task.name, task.spooler, task.max_attempts
        status = check_finished(status, result)
        now = self._clock() if at is None else at
        params = (
            task_id,
            status.value,
            attempt or 0,
            now,
            now + ttl_seconds(ttl),
            result,
            result_serializer,
            error,
            traceback,
            reason,
            name,
            spooler,
            max_attempts,
            started_at,
            pid,
            enqueued_at,
            scheduled_for,
        )
        if self.group_commit:
            changed = self._journal.finish(params)
        else:  # a journaled final status of this task came first, and wins
            self._journal.settle(task_id)
            changed = self._db.write(FINISHED_SQL, params) > 0
        if self.purge_interval is not None:
            self._maybe_purge()
        return changed

    def delete(self, task_id: str) -> bool:
        self._journal.settle(task_id)
        return self._db.write(DELETE_SQL, (task_id,)) > 0

    def purge_expired(self, now: float | None = None) -> int:
        cutoff = self._clock() if now is None else now
        self._journal.settle_all()
        self._journal.upkeep(cutoff)
        purged = 0
        after_seq = 0
        while True:
            # Find a page with a read (no write lock), then delete it in one short write; the
            # re-check of expires_at spares a record that a concurrent write just extended.
            seqs = [row[0] for row in self._db.read(PURGE_SELECT_SQL, (after_seq, cutoff))]
            if not seqs:
                return purged
            after_seq = seqs[-1]
            marks = ", ".join("?" * len(seqs))
            purged += self._db.write(
                f"DELETE FROM {TABLE} WHERE seq IN ({marks}) AND expires_at <= ?",
                (*seqs, cutoff),
            )

    # --- reads --------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord | None:
        row, journaled = self._journal.point_read(task_id)
        if journaled is not None:  # as SQLite will have it once merged
            row = finished_over(row, journaled)
        return record_of(row) if row is not None and row[EXPIRES_AT] > self._clock() else None

    def known(self, task_id: str) -> bool:
        """Whether any row names ``task_id`` (expired or not): the dispatcher's duplicate
        check asks this before every run, and nearly always hears no, for a third less than
        ``get`` (one narrow column, no record built). A yes is followed by ``get``."""
        if self._journal.holds(task_id) or self._db.read(PEEK_SQL, (task_id,)):
            return True
        self._journal.unknown(task_id)  # so ``finished`` of it, next, need not look again
        return False

    def list(
        self,
        status: StatusFilter = None,
        name: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> builtins.list[TaskRecord]:
        self._journal.settle_all()
        sql, params = list_sql(self._clock(), status, name, limit, newest_first)
        if sql is None:
            return []
        return [record_of(row) for row in self._db.read(sql, params)]

    def query(
        self,
        status: StatusFilter = None,
        name: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[TaskRecord]:
        self._journal.settle_all()
        sql, params = query_sql(self._clock(), status, name, since, until, limit, offset)
        return [record_of(row) for row in self._db.read(sql, params)] if sql else []

    def timings(
        self, name: str | None = None, since: float | None = None, until: float | None = None
    ) -> dict[str | None, TaskTimings]:
        self._journal.settle_all()
        sql, params = timings_sql(self._clock(), name, since, until)
        return timings_of(self._db.read(sql, params))

    def counts(self, name: str | None = None) -> dict[TaskStatus, int]:
        self._journal.settle_all()
        totals = dict.fromkeys(TaskStatus, 0)
        for status, count in self._db.read(*counts_sql(self._clock(), name)):
            if status in STATUS_BY_VALUE:
                totals[STATUS_BY_VALUE[status]] = count
        return totals

    def counts_by_name(self) -> dict[str | None, dict[TaskStatus, int]]:
        self._journal.settle_all()
        by_name: dict[str | None, dict[TaskStatus, int]] = {}
        for name, status, count in self._db.read(COUNTS_BY_NAME_SQL, (self._clock(),)):
            if status in STATUS_BY_VALUE:
                totals = by_name.setdefault(name, dict.fromkeys(TaskStatus, 0))
                totals[STATUS_BY_VALUE[status]] = count
        return by_name

    # --- connection ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Merge the journaled records that waited long enough and the journals of dead
        processes (the schedule tick calls it once a second)."""
        self._journal.flush(due_only=True)

    def close(self) -> None:
        try:
            self._journal.close()
        finally:
            self._db.close()

    def _forked(self) -> None:
        self._next_purge_check = 0.0

    def _maybe_purge(self) -> None:
        """Purge expired records if no process sharing this store did for ``purge_interval``.

        Checked at most once per interval per process (a float comparison otherwise); the
        claim is a conditional update of a shared timestamp, so only one process purges. A
        failed purge is logged, never raised: the caller's write has already succeeded.
        """
        interval = self.purge_interval
        mono = time.monotonic()
        if interval is None or mono < self._next_purge_check:
            return
        self._next_purge_check = mono + interval
        now = self._clock()
        try:
            # A stored time in the future (a clock that jumped back) also counts as due.
            if self._db.write(CLAIM_PURGE_SQL, (now, now - interval, now)) > 0:
                purged = self.purge_expired(now)
                if purged:
                    log.debug("purged %d expired records from %s", purged, self.path)
        except ResultStoreError as exc:
            log.warning("could not purge expired results: %s", exc)
