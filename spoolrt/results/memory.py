"""An in-process result store: for eager mode, tests, and single-process scripts.

It follows the contract exactly (the contract tests run against it and the SQLite store alike),
so code tested against it behaves the same on the embedded default. It is shared by the threads
of one process; other processes do not see it.
"""

from __future__ import annotations

import builtins
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.outcomes import TaskStatus
from spoolrt.results.base import (
    UNDESCRIBED,
    ResultStore,
    StatusFilter,
    TaskDescription,
    TaskRecord,
    TaskStart,
    check_enqueued,
    check_finished,
    status_filter,
    supersedes,
    ttl_seconds,
)
from spoolrt.results.queries import TaskTimings, activity_at, check_page, in_window, timings_of

__all__ = ["MemoryResultStore"]


class MemoryResultStore(ResultStore):
    """Records in a dict, in the order they were created, guarded by one lock.

    ``clock`` (default ``time.time``) is what "now" means for expiry, so tests can move time.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._records: dict[str, TaskRecord] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def __repr__(self) -> str:
        return f"<MemoryResultStore {len(self._records)} records>"

    # --- writes -------------------------------------------------------------------------------

    def enqueued(self, record: TaskRecord) -> bool:
        check_enqueued(record)
        enqueued_at = record.enqueued_at if record.enqueued_at is not None else self._clock()
        expires_at = record.expires_at
        if expires_at is None:
            expires_at = max(enqueued_at, record.scheduled_for or 0.0) + defaults.RESULT_TTL
        with self._lock:
            old = self._records.get(record.task_id)
            if old is None:
                self._records[record.task_id] = TaskRecord(
                    task_id=record.task_id,
                    name=record.name,
                    spooler=record.spooler,
                    status=record.status,
                    attempt=record.attempt,
                    max_attempts=record.max_attempts,
                    enqueued_at=enqueued_at,
                    scheduled_for=record.scheduled_for,
                    expires_at=expires_at,
                )
                return True
            return self._fill(
                old,
                name=record.name,
                spooler=record.spooler,
                max_attempts=record.max_attempts,
                enqueued_at=enqueued_at,
                scheduled_for=record.scheduled_for,
            )

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
        changes: dict[str, Any] = {
            "status": TaskStatus.RUNNING,
            "attempt": attempt,
            "started_at": now,
            "pid": os.getpid() if pid is None else pid,
        }
        fills = {
            "name": name,
            "spooler": spooler,
            "max_attempts": max_attempts,
            "enqueued_at": enqueued_at,
            "scheduled_for": scheduled_for,
        }
        applied, old = self._advance(
            task_id, TaskStatus.RUNNING, attempt, changes, fills, keep_until
        )
        if old is not None and old.status is TaskStatus.RUNNING and old.attempt == attempt:
            return TaskStart(applied, interrupted=True, previous_pid=old.pid)
        return TaskStart(applied)

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
        changes: dict[str, Any] = {
            "status": TaskStatus.RETRYING,
            "attempt": attempt,
            "scheduled_for": next_at,
            "error": error,
            "traceback": traceback,
        }
        fills = {"name": name, "spooler": spooler, "max_attempts": max_attempts}
        applied, _ = self._advance(
            task_id, TaskStatus.RETRYING, attempt, changes, fills, keep_until
        )
        return applied

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
        expires_at = now + ttl_seconds(ttl)
        with self._lock:
            old = self._records.get(task_id)
            if old is not None and old.status.is_final:
                return False
            if old is None:
                new = TaskRecord(
                    task_id=task_id,
                    name=name,
                    spooler=spooler,
                    status=status,
                    attempt=attempt or 0,
                    max_attempts=max_attempts,
                    enqueued_at=enqueued_at,
                    scheduled_for=scheduled_for,
                    started_at=started_at,
                    pid=pid,
                    finished_at=now,
                    expires_at=expires_at,
                    result=result,
                    result_serializer=result_serializer,
                    error=error,
                    traceback=traceback,
                    reason=reason,
                )
            else:
                fills = _empty_fields_of(
                    old,
                    name=name,
                    spooler=spooler,
                    max_attempts=max_attempts,
                    started_at=started_at,
                    pid=pid,
                    enqueued_at=enqueued_at,
                    scheduled_for=scheduled_for,
                )
                new = replace(
                    old,
                    status=status,
                    attempt=max(old.attempt, attempt or 0),
                    finished_at=now,
                    expires_at=expires_at,
                    result=result,
                    result_serializer=result_serializer,
                    error=error,
                    traceback=traceback,
                    reason=reason,
                    **fills,
                )
            self._records[task_id] = new
            return True

    def delete(self, task_id: str) -> bool:
        with self._lock:
            return self._records.pop(task_id, None) is not None

    def purge_expired(self, now: float | None = None) -> int:
        cutoff = self._clock() if now is None else now
        with self._lock:
            expired = [
                task_id
                for task_id, record in self._records.items()
                if record.expires_at is not None and record.expires_at <= cutoff
            ]
            for task_id in expired:
                del self._records[task_id]
        return len(expired)

    # --- reads --------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord | None:
        record = self._records.get(task_id)
        if record is None or not self._alive(record, self._clock()):
            return None
        return record

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
        now = self._clock()
        with self._lock:
            records = builtins.list(self._records.values())
        if newest_first:
            records.reverse()
        found: builtins.list[TaskRecord] = []
        for record in records:
            if len(found) >= limit:
                break
            if (
                self._alive(record, now)
                and (wanted is None or record.status in wanted)
                and (name is None or record.name == name)
            ):
                found.append(record)
        return found

    def query(
        self,
        status: StatusFilter = None,
        name: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[TaskRecord]:
        check_page(limit, offset)
        wanted = status_filter(status)
        now = self._clock()
        with self._lock:
            records = builtins.list(self._records.values())
        found = [
            (_activity(r), r)
            for r in records
            if self._alive(r, now)
            and (wanted is None or r.status in wanted)
            and (name is None or r.name == name)
            and in_window(_activity(r), since, until)
        ]
        found.sort(key=lambda pair: (pair[0], pair[1].task_id), reverse=True)
        return [record for _, record in found[offset : offset + limit]]

    def timings(
        self, name: str | None = None, since: float | None = None, until: float | None = None
    ) -> dict[str | None, TaskTimings]:
        now = self._clock()
        with self._lock:
            records = builtins.list(self._records.values())
        return timings_of(
            (r.name, r.started_at, r.finished_at, r.enqueued_at, r.scheduled_for)
            for r in records
            if self._alive(r, now)
            and r.status.is_final
            and r.finished_at is not None
            and (name is None or r.name == name)
            and in_window(r.finished_at, since, until)
        )

    def counts(self, name: str | None = None) -> dict[TaskStatus, int]:
        totals = dict.fromkeys(TaskStatus, 0)
        now = self._clock()
        with self._lock:
            records = builtins.list(self._records.values())
        for record in records:
            if self._alive(record, now) and (name is None or record.name == name):
                totals[record.status] += 1
        return totals

    def counts_by_name(self) -> dict[str | None, dict[TaskStatus, int]]:
        by_name: dict[str | None, dict[TaskStatus, int]] = {}
        now = self._clock()
        with self._lock:
            records = builtins.list(self._records.values())
        for record in records:
            if self._alive(record, now):
                totals = by_name.setdefault(record.name, dict.fromkeys(TaskStatus, 0))
                totals[record.status] += 1
        return by_name

    # --- internals ----------------------------------------------------------------------------

    @staticmethod
    def _alive(record: TaskRecord, now: float) -> bool:
        return record.expires_at is None or record.expires_at > now

    def _advance(
        self,
        task_id: str,
        status: TaskStatus,
        attempt: int,
        changes: dict[str, Any],
        fills: dict[str, Any],
        keep_until: float,
    ) -> tuple[bool, TaskRecord | None]:
        """Apply a non-final step if ``supersedes`` allows it, creating the record if unknown.

        Returns whether it applied and the record it found (None if there was none).
        """
        with self._lock:
            old = self._records.get(task_id)
            if old is None:
                fields = {k: v for k, v in fills.items() if v is not None}
                fields.update(changes)
                self._records[task_id] = TaskRecord(
                    task_id=task_id, expires_at=keep_until, **fields
                )
                return True, None
            if not supersedes(status, attempt, old.status, old.attempt):
                return False, old
            old_expiry = old.expires_at if old.expires_at is not None else keep_until
            self._records[task_id] = replace(
                old,
                expires_at=max(old_expiry, keep_until),
                **_empty_fields_of(old, **fills),
                **changes,
            )
            return True, old

    def _fill(self, old: TaskRecord, **fills: Any) -> bool:
        """Fill the empty descriptive fields of ``old``; caller holds the lock."""
        filled = _empty_fields_of(old, **fills)
        if not filled:
            return False
        self._records[old.task_id] = replace(old, **filled)
        return True


def _activity(record: TaskRecord) -> float:
    return activity_at(
        record.finished_at, record.started_at, record.enqueued_at, record.scheduled_for
    )


def _empty_fields_of(record: TaskRecord, **candidates: Any) -> dict[str, Any]:
    """The candidates that would fill a field ``record`` does not have yet."""
    return {
        key: value
        for key, value in candidates.items()
        if value is not None and getattr(record, key) is None
    }
