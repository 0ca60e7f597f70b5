"""The value a task call returns, and how to ask it what became of the task."""

from __future__ import annotations

import os
import time
from typing import Any, cast

from spoolrt.core import defaults
from spoolrt.core.errors import ResultStoreError, ResultTimeout, TaskFailed
from spoolrt.core.outcomes import TaskStatus
from spoolrt.results.cancelling import CancelResult, cancel_task
from spoolrt.results.tracking import current_record, decode_result
from spoolrt.spooldir.ids import pending_status
from spoolrt.spooldir.parking import parked_dir, promoted_path


class TaskHandle(str):
    """The spool-file path as ``str`` (what uwsgiconf returned), plus the task's id and name.

    Being a ``str`` keeps code written for uwsgiconf working; ``task_id`` is what survives
    retries (each retry is a new file) and what the result store knows the task by. Everything
    else (``status``, ``result()``, ``error``...) is read from the spool directory's result store
    when asked, so a handle rebuilt from the id alone (``Spooler.get_result(task_id)``), in any
    process, answers the same.
    """

    task_id: str
    task_name: str
    spooler: str

    def __new__(cls, path: str, *, task_id: str, task_name: str, spooler: str) -> TaskHandle:
        handle = super().__new__(cls, path)
        handle.task_id = task_id
        handle.task_name = task_name
        handle.spooler = spooler
        return handle

    @property
    def id(self) -> str:
        return self.task_id

    def __bool__(self) -> bool:
        # A handle rebuilt from an id has no path ("") but still names a task.
        return True

    @property
    def path(self) -> str:
        return str.__str__(self)

    # Equality: two handles are one task when their ids match, whatever their paths (a handle
    # rebuilt by ``Spooler.get_result`` has none, and each retry is a new file); against a plain
    # ``str`` a handle is still its path, as in uwsgiconf (``handle in spooler.get_tasks()``).
    # The hash follows the id, so sets and dicts of handles hold one entry per task; to find a
    # handle among plain path strings in a set or dict, look up ``handle.path``.

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TaskHandle):
            return self.task_id == other.task_id
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(("spoolrt.TaskHandle", self.task_id))

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task_name} id={self.task_id} path={self.path}>"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.path, self.task_id, self.task_name, self.spooler))

    # --- status, from the store -----------------------------------------------------------------

    def record(self) -> Any:
        """The ``TaskRecord`` for this task: final or retrying from the store, running from
        the slot of the process that runs it; None (not started yet, results off, expired, or
        never known)."""
        return current_record(self.spooler, self.task_id) if self.spooler else None

    @property
    def status(self) -> TaskStatus | None:
        """queued / scheduled (from the spool file, before a run), then running, retrying, done,
        skipped, failed, quarantined or cancelled (from the store). None when nothing is
        known."""
        record = self.record()
        if record is not None:
            return TaskStatus(record.status)
        status = self._status_from_file()
        if status is None:
            # The spooler stores the outcome before the file and its index entry go: a task
            # that finished between the two looks-up is in the store now.
            record = self.record()
            return TaskStatus(record.status) if record is not None else None
        return status

    def _status_from_file(self) -> TaskStatus | None:
        path = self.path
        if not path or not os.path.isabs(path):
            # A handle rebuilt from the id: its file, if indexed, is found by the id.
            return pending_status(self.spooler, self.task_id) if self.spooler else None
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            if not path.startswith(parked_dir(self.spooler) + os.sep):
                return None
            try:  # a far-future task parked at enqueue, moved in since: same name
                mtime = os.stat(promoted_path(self.spooler, path)).st_mtime
            except OSError:
                return None
        return TaskStatus.SCHEDULED if mtime > time.time() else TaskStatus.QUEUED

    @property
    def ready(self) -> bool:
        """True once the task reached a final status (done, skipped, failed, quarantined,
        cancelled)."""
        status = self.status
        return status is not None and status.is_final

    @property
    def error(self) -> str | None:
        """The last error's one-line message (while retrying, or once failed)."""
        record = self.record()
        return record.error if record is not None else None

    @property
    def traceback(self) -> str | None:
        record = self.record()
        return record.traceback if record is not None else None

    @property
    def attempts(self) -> int:
        """Runs started so far (0 before the first run)."""
        record = self.record()
        return int(record.attempt) if record is not None else 0

    @property
    def enqueued_at(self) -> float | None:
        record = self.record()
        return record.enqueued_at if record is not None else None

    @property
    def started_at(self) -> float | None:
        record = self.record()
        return record.started_at if record is not None else None

    @property
    def finished_at(self) -> float | None:
        record = self.record()
        return record.finished_at if record is not None else None

    def cancel(self) -> CancelResult:
        """Take the task away before it runs, and record it ``cancelled``.

        A pending, scheduled or parked task's file is removed under the spooler's own file
        lock, so no spooler can start it meanwhile (``spoolrt.results.cancelling``: what
        ``spoolrt cancel`` and the dashboard do too). The result is true when it was
        cancelled; else false, with ``code`` (``running``: a spooler holds it, and a running
        task is never interrupted; ``finished``; ``gone``; ``not-waiting``) and ``reason``.
        Nothing is raised for a task that cannot be cancelled: it is an answer, not an error.
        """
        if not self.spooler:
            raise ValueError(f"task {self.task_id} has no spool directory to cancel it in")
        return cancel_task(self.spooler, self.task_id, name=self.task_name, hint=self.path)

    def result(self, timeout: float | None = None, poll: float = 0.05) -> Any:
        """Wait for the task to finish and return its value.

        Returns the task's return value (``None`` for a skipped or cancelled task, or when the
        task stored status only; ``status`` tells them apart). Raises ``TaskFailed`` (with
        ``.error``, ``.traceback``, ``.status``) when it failed or was quarantined, and
        ``ResultTimeout`` when ``timeout`` seconds pass first (``timeout=None`` waits for ever).
        The task's own exception is not re-raised: it happened in another process, and its
        class may not even be importable here.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.record()
            if record is not None and TaskStatus(record.status).is_final:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(
                    f"task {self.task_name} ({self.task_id}) did not finish within {timeout}s "
                    f"(status: {self.status.value if self.status else 'unknown'})"
                )
            time.sleep(poll)
        status = TaskStatus(record.status)
        if status in (TaskStatus.FAILED, TaskStatus.QUARANTINED):
            raise TaskFailed(
                f"task {self.task_name} ({self.task_id}) {status.value}: {record.error}",
                status=status,
                error=record.error,
                traceback=record.traceback,
            )
        if record.result is None:
            return None
        return decode_result(record.result, record.result_serializer or defaults.SERIALIZER)


def _rebuild(path: str, task_id: str, task_name: str, spooler: str) -> TaskHandle:
    return TaskHandle(path, task_id=task_id, task_name=task_name, spooler=spooler)


class RemoteTaskHandle(TaskHandle):
    """The handle of a task a node of a remote pool acknowledged: ``"<pool>@<node>"`` as
    ``str``, ``node`` (``"host:port"``) and ``pool``, and the task id.

    Through a fastrouter, ``node`` is the router's address: uWSGI's acknowledgement says nothing
    of the node that wrote the file; that node's store has the task's record.

    The task's file, and later its record, live on that node, not here, so ``status`` is None and
    ``result()`` says where to look instead of waiting forever on a store that never hears of it;
    ``cancel()`` raises ``NotImplementedError`` saying where to cancel it (local only).
    """

    node: str
    pool: str

    def __new__(cls, *, task_id: str, task_name: str, pool: str, node: str) -> RemoteTaskHandle:
        name = f"{pool}@{node}"
        handle = cast(
            RemoteTaskHandle,
            super().__new__(cls, name, task_id=task_id, task_name=task_name, spooler=""),
        )
        handle.pool, handle.node = pool, node
        return handle

    def __repr__(self) -> str:
        return f"<RemoteTaskHandle {self.task_name} id={self.task_id} node={self.node}>"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_remote, (self.task_id, self.task_name, self.pool, self.node))

    def cancel(self) -> CancelResult:
        """Not possible from here: the task's file is on its node, and cancelling takes the
        spooler's file lock there. Run ``spoolrt cancel ID`` on that node (or call
        ``Spooler.get_result(ID).cancel()`` in a process of it)."""
        raise NotImplementedError(
            f"task {self.task_name} ({self.task_id}) waits on node {self.node} of pool "
            f"{self.pool!r}: cancel is local only; run `spoolrt cancel {self.task_id}` there"
        )

    def result(self, timeout: float | None = None, poll: float = 0.05) -> Any:
        raise ResultStoreError(
            f"task {self.task_name} ({self.task_id}) runs on node {self.node} of pool "
            f"{self.pool!r}; its result is kept in that node's store, not in this process"
        )


def _rebuild_remote(task_id: str, task_name: str, pool: str, node: str) -> RemoteTaskHandle:
    return RemoteTaskHandle(task_id=task_id, task_name=task_name, pool=pool, node=node)
