"""The result store contract: what the dispatcher, task handles and CLI may ask of any store.

A store keeps one ``TaskRecord`` per task id. The dispatcher reports each step of a task's life
(``enqueued``, ``started``, ``retrying``, ``finished``); handles and the CLI read records back
(``get``, ``list``, ``counts``). Everything a store must guarantee is written on ``ResultStore``
so that a Redis, Django-ORM or uWSGI-cache store can be added without touching its callers.

Delivery is at-least-once (a spooler killed mid-task runs the task again) and writers are many
unsynchronised processes, so every write is an idempotent, order-tolerant upsert governed by one
rule, ``supersedes``: a record only moves forward, and a final record never changes.
"""

from __future__ import annotations

import abc
import builtins
from dataclasses import dataclass, field
from datetime import timedelta

from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import FINAL_STATUSES, TaskStatus
from spoolrt.results import rules
from spoolrt.results.queries import Spread, TaskTimings
from spoolrt.results.rules import StatusFilter, check_finished, status_filter, ttl_seconds

__all__ = [
    "UNDESCRIBED",
    "TaskDescription",
    "FINAL_STATUSES",
    "PENDING_STATUSES",
    "ResultStore",
    "ResultStoreError",
    "Spread",
    "StatusFilter",
    "TaskRecord",
    "TaskStart",
    "TaskTimings",
    "check_enqueued",
    "check_finished",
    "status_filter",
    "supersedes",
    "ttl_seconds",
]


@dataclass(frozen=True)
class TaskDescription:
    """What every write of a task says about the task itself, the same from its first write to
    its last: its ``name`` (``module:qualname``, a type id or a schedule's name), the real path
    of its ``spooler`` directory, and ``max_attempts`` (retries + 1). A store fills the
    record's empty fields from it and never overwrites them."""

    name: str | None = None
    spooler: str | None = None
    max_attempts: int | None = None


#: Nothing known about the task beyond its id (a store keeps the fields it already has).
UNDESCRIBED = TaskDescription()


PENDING_STATUSES = frozenset({TaskStatus.QUEUED, TaskStatus.SCHEDULED})
"""Statuses a record may be created with by ``enqueued``: nothing has run yet."""

# ``finished`` accepts the FINAL_STATUSES (core.outcomes); a record in one never changes again.

# How far along one attempt a status is. Queued and scheduled are "before the attempt".
_STEP = {
    TaskStatus.QUEUED: 0,
    TaskStatus.SCHEDULED: 0,
    TaskStatus.RUNNING: 1,
    TaskStatus.RETRYING: 2,
}


def supersedes(
    new_status: TaskStatus, new_attempt: int, old_status: TaskStatus, old_attempt: int
) -> bool:
    """Whether a write of ``(new_status, new_attempt)`` may replace a stored ``(old_status,
    old_attempt)``: the single ordering rule every store implements.

    - A final status (done, skipped, failed, quarantined, cancelled) is never replaced: the
      first final write wins, so a handle that already returned a result never sees it
      change, and the late duplicate run of an at-least-once delivery cannot turn ``done``
      into something else.
    - Any final status replaces any non-final one, whatever the attempts: a finished run is news.
    - Otherwise progress is compared as ``(attempt, step)`` with step queued/scheduled <
      running < retrying, and an equal position is accepted so that a re-run after a crash
      (``started`` again for the same attempt) refreshes the pid and start time. A ``started``
      for attempt 1 that arrives after ``retrying`` for attempt 1 (the old file re-run after the
      retry file was written) is late and ignored.
    """
    if old_status.is_final:
        return False
    if new_status.is_final:
        return True
    return (new_attempt, _STEP[new_status]) >= (old_attempt, _STEP[old_status])


def check_enqueued(record: TaskRecord) -> None:
    """Refuse a record ``enqueued`` must not take: something already ran or finished."""
    if record.status not in PENDING_STATUSES:
        raise ValueError(f"enqueued() takes a queued or scheduled record, not {record.status!r}")


@dataclass(frozen=True, slots=True)
class TaskStart:
    """What ``ResultStore.started`` did. True (as a bool) when the start was recorded."""

    applied: bool
    """False when the write was ignored: the task is final, or a later attempt started."""
    interrupted: bool = False
    """The record already showed this same attempt running: that run never finished."""
    previous_pid: int | None = None
    """The pid the interrupted run had recorded, when ``interrupted``."""

    def __bool__(self) -> bool:
        return self.applied


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """Everything a store knows about one task, as of one read.

    Times are Unix timestamps in seconds (``time.time()``), because every writer can produce
    them cheaply and they compare across machines; handles turn them into datetimes.
    ``attempt`` is 1-based like ``RetryPolicy``: 0 until the first run starts, then the number
    of the latest attempt that started (or, while ``retrying``, the one that just failed).
    ``result`` is opaque bytes, already serialised and signed by the caller with
    ``result_serializer``; no store ever interprets it.
    """

    task_id: str
    name: str | None = None
    spooler: str | None = None
    status: TaskStatus = TaskStatus.QUEUED
    attempt: int = 0
    max_attempts: int | None = None
    enqueued_at: float | None = None
    scheduled_for: float | None = None
    """When the task may run: the spool file's ``at``, or the next attempt's time while retrying."""
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    """When the record disappears; None on a record handed to ``enqueued`` means the default."""
    result: bytes | None = field(default=None, repr=False)
    result_serializer: str | None = None
    error: str | None = None
    """One line: the exception type and message of the latest failure."""
    traceback: str | None = field(default=None, repr=False)
    reason: str | None = None
    """Why a task failed or was quarantined, as a short stable code (``bad-signature``...)."""
    pid: int | None = None
    """The process that ran (or is running) the latest attempt."""


class ResultStore(abc.ABC):
    """Where task status and results are kept, shared by every process that enqueues or runs.

    **Writers.** ``enqueued`` is called by whoever spools a task (web workers, scripts);
    ``started``, ``retrying`` and ``finished`` by whatever runs it (uWSGI spooler processes,
    the pure-Python worker, eager mode). Any number of these may run at once, in many processes
    and threads; a store must make every call safe under that, and must not surface transient
    contention (SQLite's ``database is locked``) to callers: it waits, and raises
    ``ResultStoreError`` only when it cannot do the write at all.

    **Ordering and idempotency.** Calls for one task can arrive late, twice, or not at all: a
    task is re-run after a crash, an old spool file runs after its retry was written, a task was
    enqueued by a process with the store off or from another machine over the uWSGI socket, a
    record was already purged. So every write is an upsert: it creates the record if the id is
    unknown (filling what it knows), and otherwise applies only if ``supersedes`` allows it. All
    write methods return True when the stored record changed and False when the write was
    ignored as late or duplicate, except ``started``, which also says what it found
    (``TaskStart``).

    The optional ``name``, ``spooler``, ``max_attempts`` (and on ``started`` ``enqueued_at`` and
    ``scheduled_for``) keywords describe the task; they only fill fields the record does not
    have yet, so that a record created by a run step is as complete as one created by
    ``enqueued``.

    **Expiry.** Every stored record has an ``expires_at``. A finished record expires ``ttl``
    after it finished; a record that has not finished is kept at least ``defaults.RESULT_TTL``
    past its last activity or scheduled time, so it cannot vanish while it waits. Expired records
    are invisible to ``get``, ``list`` and ``counts`` at once, whether or not they were purged;
    ``purge_expired`` (which stores may also run on their own) only reclaims their space.

    **Processes.** A store object may be created before ``fork()`` (in the uWSGI master, at
    import) and used in every child: implementations open connections lazily and per process.
    ``close`` releases this process's resources; the store reopens on next use.
    """

    @abc.abstractmethod
    def enqueued(self, record: TaskRecord) -> bool:
        """Record a task that was just spooled.

        ``record.status`` must be ``QUEUED`` or ``SCHEDULED`` (else ``ValueError``); its run
        fields (``started_at``, ``result``...) are ignored. When ``record.expires_at`` is None the
        store sets it to ``max(enqueued_at, scheduled_for) + defaults.RESULT_TTL``.

        If a record with this id already exists (the spooler may start, or even finish, the task
        before its enqueuer gets here), its status and run fields are left alone and only its
        empty descriptive fields are filled; the call then returns False.
        """

    @abc.abstractmethod
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
        """Mark attempt number ``attempt`` (1-based) as running in process ``pid`` since ``at``.

        ``pid`` defaults to the calling process and ``at`` to now. Ignored when the record is
        final or already past this attempt. Returns what it found along with what it did, in
        one step (no ``get`` first), so a dispatcher learns on the hot path both that a
        duplicate delivery of a finished task need not run (``applied`` is False) and that an
        earlier run of this same attempt never finished (``interrupted``): a spool file runs
        in one process at a time, so a record still ``running`` this attempt means that process
        died (harakiri, out-of-memory kill, crash). The record is then refreshed with the new
        ``pid`` and ``started_at``; what to do about the lost run is the caller's decision.
        """

    @abc.abstractmethod
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
        """Mark attempt ``attempt`` as failed with another one due at ``next_at``.

        Keeps the failure's one-line ``error`` and ``traceback`` so a handle can show why the
        task is retrying; ``scheduled_for`` becomes ``next_at``. Ignored when the record is
        final or a later attempt already started.
        """

    @abc.abstractmethod
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
        """Record the final ``status`` (done, skipped, failed, quarantined or cancelled, or its
        value; else ``ValueError``).

        ``result``, ``result_serializer``, ``error``, ``traceback`` and ``reason`` replace the
        stored ones together (so a task that failed once and then succeeded shows no error);
        pass ``result=None`` for status-only storage. The record expires ``ttl`` (seconds or
        timedelta, default ``defaults.RESULT_TTL``) after ``at`` (default now). ``attempt``, when
        given, raises the stored attempt to it. Creates the record if the id is unknown. Ignored
        (returns False) if the record is already final: the first final write wins.

        ``started_at`` and ``pid`` only fill a record that has none: they let a caller that
        skips ``started`` to save a write (one commit per task instead of two; the task then goes
        from queued straight to its final status) still record when and where it ran;
        ``enqueued_at`` and ``scheduled_for`` likewise, so that ``timings`` can tell waits.
        """

    @abc.abstractmethod
    def get(self, task_id: str) -> TaskRecord | None:
        """The current record of ``task_id``, or None if unknown, deleted or expired.

        Reads never block on writers and see every write that returned before them.
        """

    @abc.abstractmethod
    def list(
        self,
        status: StatusFilter = None,
        name: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> builtins.list[TaskRecord]:
        """Up to ``limit`` unexpired records, filtered by ``status`` (one or a collection) and
        exact task ``name``, in the order the store first learned of them.

        Meant for the CLI and dashboards, not hot paths: a store may scan all records.
        """

    @abc.abstractmethod
    def query(
        self,
        status: StatusFilter = None,
        name: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[TaskRecord]:
        """Unexpired records by ``status`` (one or a collection) and exact ``name``, whose
        activity time (``finished_at``, else ``started_at``, else ``enqueued_at``, else
        ``scheduled_for``; see ``spoolrt.results.queries``) lies in ``[since, until)``.

        Newest activity first, ties by ``task_id`` descending, so pages do not overlap:
        ``offset`` skips that many matches, ``limit`` caps the page (``ValueError`` when either
        is negative). For ``spoolrt ls``, dashboards and metrics; a store may scan.
        """

    @abc.abstractmethod
    def timings(
        self, name: str | None = None, since: float | None = None, until: float | None = None
    ) -> dict[str | None, TaskTimings]:
        """Run and wait times by task name (see ``TaskTimings``) of the unexpired final records
        whose ``finished_at`` lies in ``[since, until)``, for one ``name`` or all. Only names
        with a final record in the window appear. A store may scan."""

    @abc.abstractmethod
    def counts(self, name: str | None = None) -> dict[TaskStatus, int]:
        """How many unexpired records are in each status (every status is a key, 0 included),
        for all tasks or for one task ``name``. A store may scan all records."""

    @abc.abstractmethod
    def counts_by_name(self) -> dict[str | None, dict[TaskStatus, int]]:
        """``counts`` for every task name at once (None for records whose name is unknown);
        only names with at least one record appear."""

    @abc.abstractmethod
    def purge_expired(self, now: float | None = None) -> int:
        """Delete records whose ``expires_at`` is at or before ``now`` (default: the current
        time) and return how many went.

        Safe to run from several processes at once and alongside writers: it works in short
        batches and never deletes a record that a concurrent write just extended. Stores purge
        on their own from time to time, so users need not schedule it.
        """

    def purge(
        self,
        status: TaskStatus | str,
        *,
        name: str | None = None,
        since: float | None = None,
        before: float | None = None,
    ) -> int:
        """Delete, before they expire, the records in the final ``status`` (a status that is
        not final is a ``ValueError``: such a record stands for a task that may still run) of
        exact task ``name`` (None: all) that finished in ``[since, before)``: what ``query(status,
        name, since, until=before)`` lists over all its pages. Returns how many went.

        Safe alongside writers: a final record never changes, and one re-created under its id
        meanwhile (``delete`` then ``enqueued``, as a retry does) is not final and stays. Counts
        read from the store (``spoolrt_tasks_finished_total``) drop by as much. This default
        pages through ``query`` and deletes each match ``get`` still shows in ``status``; the
        SQLite store deletes in batches that re-check the status in the same statement.
        """
        wanted, purged = rules.check_purge(status), 0
        while page := self.query(wanted, name, since, before, limit=500):
            went = sum(
                1
                for r in page
                if getattr(self.get(r.task_id), "status", None) is wanted and self.delete(r.task_id)
            )
            if not went:  # nothing of this page could go: another purge took it meanwhile
                return purged
            purged += went
        return purged

    @abc.abstractmethod
    def delete(self, task_id: str) -> bool:
        """Forget ``task_id`` now; True if there was a record.

        This is also the only way to run a finished task again under the same id: delete its
        record, then report ``enqueued`` or ``started`` as for a new task.
        """

    def close(self) -> None:  # noqa: B027 - a no-op is the right default for stores with no resources
        """Release this process's connections and handles. The store stays usable: the next
        call reopens what it needs. Idempotent."""

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
