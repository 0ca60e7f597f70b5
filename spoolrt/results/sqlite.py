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
- **No secondary index.** Every index costs every write: even a partial index on the rare
  statuses, which no hot row ever enters, measured +5 us a task (+20%). So the table has only
  its primary key and the unique task id; ``list``, ``counts`` and ``purge_expired`` scan it,
  which is fine for a CLI, a dashboard and a purge every few minutes (1 M rows, 230 MB:
  ``counts`` 0.2 s, ``list`` by status 0.1 s, purging 500 k of them 0.8 s in 500-row write
  transactions), and reads in WAL mode never hold up the writers.
- **Our own wait for the write lock.** SQLite's busy handler sleeps 1 ms, then 2, 5, 10...
  while the lock is held for microseconds; the store instead retries after ~50 µs, doubling to
  2 ms, with jitter, until ``busy_timeout``. Callers never see ``database is locked``.
- **A connection per process, opened on first use and replaced after fork.** A store created in
  the uWSGI master before fork works in every worker and spooler. A connection inherited from
  a parent is never used or closed (closing could drop the parent's locks, see SQLite's "How To
  Corrupt"); it is parked until the process exits. Threads of a process share its connection
  through a lock.
"""

from __future__ import annotations

import builtins
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from spoolrt.outcomes import TaskStatus
from spoolrt.results.base import (
    FINAL_STATUSES,
    ResultStore,
    ResultStoreError,
    StatusFilter,
    TaskRecord,
    TaskStart,
    check_enqueued,
    check_finished,
    status_filter,
    supersedes,
    ttl_seconds,
)
from spoolrt.results.defaults import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_PURGE_INTERVAL,
    DEFAULT_RESULT_TTL,
    RESULTS_DIRNAME,
    RESULTS_FILENAME,
)

__all__ = ["SQLiteResultStore"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

SCHEMA_VERSION = 1
_TABLE = "spoolrt_tasks"
_COLUMNS = (
    "task_id, name, spooler, status, attempt, max_attempts, enqueued_at, scheduled_for, "
    "started_at, finished_at, expires_at, result, result_serializer, error, traceback, reason, pid"
)
_FINAL_SQL = "(" + ", ".join(f"'{s.value}'" for s in sorted(FINAL_STATUSES)) + ")"

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
        seq INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL UNIQUE,
        name TEXT,
        spooler TEXT,
        status TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER,
        enqueued_at REAL,
        scheduled_for REAL,
        started_at REAL,
        finished_at REAL,
        expires_at REAL NOT NULL,
        result BLOB,
        result_serializer TEXT,
        error TEXT,
        traceback TEXT,
        reason TEXT,
        pid INTEGER
    )""",
    "CREATE TABLE IF NOT EXISTS spoolrt_meta (key TEXT PRIMARY KEY, value REAL NOT NULL)",
    "INSERT OR IGNORE INTO spoolrt_meta (key, value) VALUES ('last_purge', 0)",
)


def _fill(*columns: str) -> str:
    return ", ".join(f"{c} = coalesce({c}, excluded.{c})" for c in columns)


_ENQUEUED_SQL = f"""
    INSERT INTO {_TABLE} (task_id, name, spooler, status, attempt, max_attempts, enqueued_at,
                          scheduled_for, expires_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        {_fill("name", "spooler", "max_attempts", "enqueued_at", "scheduled_for")}
    WHERE (name IS NULL AND excluded.name IS NOT NULL)
       OR (spooler IS NULL AND excluded.spooler IS NOT NULL)
       OR (max_attempts IS NULL AND excluded.max_attempts IS NOT NULL)
       OR (enqueued_at IS NULL AND excluded.enqueued_at IS NOT NULL)
       OR (scheduled_for IS NULL AND excluded.scheduled_for IS NOT NULL)
"""

_STARTED_SQL = f"""
    INSERT INTO {_TABLE} (task_id, status, attempt, started_at, pid, name, spooler, max_attempts,
                          enqueued_at, scheduled_for, expires_at)
    VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        status = 'running', attempt = excluded.attempt, started_at = excluded.started_at,
        pid = excluded.pid, expires_at = max(expires_at, excluded.expires_at),
        {_fill("name", "spooler", "max_attempts", "enqueued_at", "scheduled_for")}
    WHERE status NOT IN {_FINAL_SQL}
      AND (attempt < excluded.attempt
           OR (attempt = excluded.attempt AND status IN ('queued', 'scheduled', 'running')))
"""

_RETRYING_SQL = f"""
    INSERT INTO {_TABLE} (task_id, status, attempt, scheduled_for, error, traceback, name,
                          spooler, max_attempts, expires_at)
    VALUES (?, 'retrying', ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        status = 'retrying', attempt = excluded.attempt, scheduled_for = excluded.scheduled_for,
        error = excluded.error, traceback = excluded.traceback,
        expires_at = max(expires_at, excluded.expires_at),
        {_fill("name", "spooler", "max_attempts")}
    WHERE status NOT IN {_FINAL_SQL} AND attempt <= excluded.attempt
"""

_FINISHED_SQL = f"""
    INSERT INTO {_TABLE} (task_id, status, attempt, finished_at, expires_at, result,
                          result_serializer, error, traceback, reason, name, spooler,
                          max_attempts, started_at, pid)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        status = excluded.status, attempt = max(attempt, excluded.attempt),
        finished_at = excluded.finished_at, expires_at = excluded.expires_at,
        result = excluded.result, result_serializer = excluded.result_serializer,
        error = excluded.error, traceback = excluded.traceback, reason = excluded.reason,
        {_fill("name", "spooler", "max_attempts", "started_at", "pid")}
    WHERE status NOT IN {_FINAL_SQL}
"""

_PEEK_SQL = f"SELECT status, attempt, pid FROM {_TABLE} WHERE task_id = ?"
_GET_SQL = f"SELECT {_COLUMNS} FROM {_TABLE} WHERE task_id = ? AND expires_at > ?"
_DELETE_SQL = f"DELETE FROM {_TABLE} WHERE task_id = ?"
_PURGE_PAGE = 500
_PURGE_SELECT_SQL = (
    f"SELECT seq FROM {_TABLE} WHERE seq > ? AND expires_at <= ? ORDER BY seq LIMIT {_PURGE_PAGE}"
)
_CLAIM_PURGE_SQL = (
    "UPDATE spoolrt_meta SET value = ? WHERE key = 'last_purge' AND (value <= ? OR value > ?)"
)

_FIRST_BACKOFF = 50e-6
_MAX_BACKOFF = 2e-3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

# Connections inherited across fork(): never used, never closed in the child (see module doc).
_inherited_connections: list[sqlite3.Connection] = []


class SQLiteResultStore(ResultStore):
    """The result store in one SQLite file at ``path``, shared by every process on the host.

    The file's directory is created 0700 and the file 0600 when missing: results are pickled
    and signed, but their contents are still the application's data. All processes using the
    store must run as a user that can write both (normally the uWSGI user).

    ``busy_timeout`` bounds the wait for the write lock; ``purge_interval`` is how often (across
    all processes) ``finished`` also purges expired records, ``None`` to never do it on its own.
    ``clock`` is what "now" means for defaults and expiry.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        purge_interval: float | None = DEFAULT_PURGE_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.busy_timeout = busy_timeout
        self.purge_interval = purge_interval
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._next_purge_check = 0.0

    @classmethod
    def for_spool_dir(cls, spool_dir: str | os.PathLike[str], **options: Any) -> SQLiteResultStore:
        """The store of a spool directory: ``<spool_dir>/.spoolrt/results.sqlite3``."""
        return cls(os.path.join(os.fspath(spool_dir), RESULTS_DIRNAME, RESULTS_FILENAME), **options)

    def __repr__(self) -> str:
        return f"<SQLiteResultStore {self.path!r}>"

    # --- writes -------------------------------------------------------------------------------

    def enqueued(self, record: TaskRecord) -> bool:
        check_enqueued(record)
        enqueued_at = record.enqueued_at if record.enqueued_at is not None else self._clock()
        expires_at = record.expires_at
        if expires_at is None:
            expires_at = max(enqueued_at, record.scheduled_for or 0.0) + DEFAULT_RESULT_TTL
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
        return self._write(_ENQUEUED_SQL, params) > 0

    def started(
        self,
        task_id: str,
        attempt: int,
        *,
        pid: int | None = None,
        at: float | None = None,
        name: str | None = None,
        spooler: str | None = None,
        max_attempts: int | None = None,
        enqueued_at: float | None = None,
        scheduled_for: float | None = None,
    ) -> TaskStart:
        now = self._clock() if at is None else at
        keep_until = max(now, scheduled_for or 0.0) + DEFAULT_RESULT_TTL
        params = (
            task_id,
            attempt,
            now,
            os.getpid() if pid is None else pid,
            name,
            spooler,
            max_attempts,
            enqueued_at,
            scheduled_for,
            keep_until,
        )

        def peek_then_start(conn: sqlite3.Connection) -> TaskStart:
            # One write transaction: what was there and the upsert, for ~3 us more than the
            # upsert alone (a separate get() costs ~9). The upsert's WHERE still holds the rule.
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = conn.execute(_PEEK_SQL, (task_id,)).fetchone()
                if found is not None and not supersedes(
                    TaskStatus.RUNNING, attempt, _STATUS_BY_VALUE[found[0]], found[1]
                ):
                    conn.execute("ROLLBACK")
                    return TaskStart(False)
                conn.execute(_STARTED_SQL, params)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            if found is not None and found[0] == "running" and found[1] == attempt:
                return TaskStart(True, interrupted=True, previous_pid=found[2])
            return TaskStart(True)

        return self._call(peek_then_start)

    def retrying(
        self,
        task_id: str,
        attempt: int,
        next_at: float,
        *,
        error: str | None = None,
        traceback: str | None = None,
        at: float | None = None,
        name: str | None = None,
        spooler: str | None = None,
        max_attempts: int | None = None,
    ) -> bool:
        now = self._clock() if at is None else at
        keep_until = max(now, next_at) + DEFAULT_RESULT_TTL
        params = (
            task_id,
            attempt,
            next_at,
            error,
            traceback,
            name,
            spooler,
            max_attempts,
            keep_until,
        )
        return self._write(_RETRYING_SQL, params) > 0

    def finished(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        result: bytes | None = None,
        result_serializer: str | None = None,
        error: str | None = None,
        traceback: str | None = None,
        reason: str | None = None,
        ttl: float | timedelta | None = None,
        attempt: int | None = None,
        at: float | None = None,
        name: str | None = None,
        spooler: str | None = None,
        max_attempts: int | None = None,
        started_at: float | None = None,
        pid: int | None = None,
    ) -> bool:
        check_finished(status, result)
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
        )
        changed = self._write(_FINISHED_SQL, params) > 0
        if self.purge_interval is not None:
            self._maybe_purge()
        return changed

    def delete(self, task_id: str) -> bool:
        return self._write(_DELETE_SQL, (task_id,)) > 0

    def purge_expired(self, now: float | None = None) -> int:
        cutoff = self._clock() if now is None else now
        purged = 0
        after_seq = 0
        while True:
            # Find a page with a read (no write lock), then delete it in one short write; the
            # re-check of expires_at spares a record that a concurrent write just extended.
            seqs = [row[0] for row in self._read(_PURGE_SELECT_SQL, (after_seq, cutoff))]
            if not seqs:
                return purged
            after_seq = seqs[-1]
            marks = ", ".join("?" * len(seqs))
            purged += self._write(
                f"DELETE FROM {_TABLE} WHERE seq IN ({marks}) AND expires_at <= ?",
                (*seqs, cutoff),
            )

    # --- reads --------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord | None:
        rows = self._read(_GET_SQL, (task_id, self._clock()))
        return _record(rows[0]) if rows else None

    def list(
        self,
        status: StatusFilter = None,
        name: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> builtins.list[TaskRecord]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit!r}")
        wanted = status_filter(status)
        where = ["expires_at > ?"]
        params: builtins.list[Any] = [self._clock()]
        if wanted is not None:
            if not wanted:
                return []
            # Literal values from the enum: safe, and one statement per set in the cache.
            where.append("status IN (" + ", ".join(f"'{s.value}'" for s in sorted(wanted)) + ")")
        if name is not None:
            where.append("name = ?")
            params.append(name)
        params.append(limit)
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT {_COLUMNS} FROM {_TABLE} WHERE {' AND '.join(where)} "
            f"ORDER BY seq {order} LIMIT ?"
        )
        return [_record(row) for row in self._read(sql, params)]

    def counts(self, name: str | None = None) -> dict[TaskStatus, int]:
        sql = f"SELECT status, count(*) FROM {_TABLE} WHERE expires_at > ?"
        params: builtins.list[Any] = [self._clock()]
        if name is not None:
            sql += " AND name = ?"
            params.append(name)
        totals = dict.fromkeys(TaskStatus, 0)
        for status, count in self._read(sql + " GROUP BY status", params):
            if status in _STATUS_BY_VALUE:
                totals[_STATUS_BY_VALUE[status]] = count
        return totals

    def counts_by_name(self) -> dict[str | None, dict[TaskStatus, int]]:
        sql = (
            f"SELECT name, status, count(*) FROM {_TABLE} WHERE expires_at > ? "
            "GROUP BY name, status"
        )
        by_name: dict[str | None, dict[TaskStatus, int]] = {}
        for name, status, count in self._read(sql, (self._clock(),)):
            if status in _STATUS_BY_VALUE:
                totals = by_name.setdefault(name, dict.fromkeys(TaskStatus, 0))
                totals[_STATUS_BY_VALUE[status]] = count
        return by_name

    # --- connection ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._pid != os.getpid():
            self._forget_inherited()
            return
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement as its own transaction; return how many rows it changed."""
        return self._call(lambda conn: conn.execute(sql, params).rowcount)

    def _read(self, sql: str, params: Sequence[Any]) -> builtins.list[Any]:
        """Run one query and fetch every row before letting go, so no read stays open."""
        return self._call(lambda conn: conn.execute(sql, params).fetchall())

    def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on this process's connection, waiting out the write lock if busy."""
        backoff = _FIRST_BACKOFF
        deadline: float | None = None
        while True:
            if self._pid != os.getpid():
                self._forget_inherited()
            with self._lock:
                conn = self._conn
                try:
                    if conn is None:
                        conn = self._conn = self._open()
                    return work(conn)
                except sqlite3.Error as exc:
                    if conn is not None and conn.in_transaction:
                        conn.rollback()
                    if not _is_busy(exc):
                        raise ResultStoreError(f"result store {self.path}: {exc}") from exc
                    busy = exc
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.busy_timeout
            elif now >= deadline:
                raise ResultStoreError(
                    f"result store {self.path} stayed locked for {self.busy_timeout:g} s: {busy}"
                ) from busy
            time.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _forget_inherited(self) -> None:
        """In a forked child: park the parent's connection and lock, start afresh."""
        if self._conn is not None:
            _inherited_connections.append(self._conn)
        self._conn = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._next_purge_check = 0.0

    def _open(self) -> sqlite3.Connection:
        """Open and prepare a connection; raises sqlite3 busy errors for ``_call`` to retry."""
        if sqlite3.sqlite_version_info < (3, 24, 0):
            raise ResultStoreError(
                f"the SQLite result store needs SQLite >= 3.24 (upsert); "
                f"this Python has {sqlite3.sqlite_version}"
            )
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError as exc:
            raise ResultStoreError(f"cannot create the result store {self.path}: {exc}") from exc
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise ResultStoreError(
                    f"the result store {self.path} cannot use WAL mode (got {mode!r}); "
                    "it needs a local filesystem, not a network one"
                )
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise ResultStoreError(
                f"the result store {self.path} has schema {version}, written by a newer spoolrt "
                f"(this one knows {SCHEMA_VERSION})"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise

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
            if self._write(_CLAIM_PURGE_SQL, (now, now - interval, now)) > 0:
                purged = self.purge_expired(now)
                if purged:
                    log.debug("purged %d expired records from %s", purged, self.path)
        except ResultStoreError as exc:
            log.warning("could not purge expired results: %s", exc)


_STATUS_BY_VALUE = {status.value: status for status in TaskStatus}


def _record(row: Sequence[Any]) -> TaskRecord:
    return TaskRecord(row[0], row[1], row[2], _STATUS_BY_VALUE[row[3]], *row[4:])


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    message = str(exc)
    return "database is locked" in message or "database table is locked" in message
