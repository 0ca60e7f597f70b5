"""Cancel a waiting task and record it ``cancelled``: what ``handle.cancel()``, ``spoolrt
cancel`` and the dashboard's cancel button all call.

The file is taken by ``spoolrt.spooldir.cancel.take`` (under the spooler's lock; a running task
is refused). Then the process's own store for the directory (as the dispatcher would write it;
none with results off) records the final status ``cancelled`` with reason ``cancelled``, so a
handle reads it as final. The store only adds to the files: when it fails, the task is still
cancelled (its file is gone) and the result says the record is missing.

Every cancel that took a file is one line in the directory's audit log, written here and
nowhere else (``spoolrt.spooldir.audit``), so no face can forget it or write it twice: ``who``
is the caller's (the dashboard's user; by default the OS user, as for ``handle.cancel()`` and
``spoolrt cancel``) and ``via`` says which face (``api`` by default, ``cli``, ``dashboard``).
"""

from __future__ import annotations

import os

from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.results.base import TaskDescription
from spoolrt.results.tracking import current_record, store_for
from spoolrt.spooldir.audit import os_user, record_action
from spoolrt.spooldir.cancel import (
    FINISHED,
    NOT_WAITING,
    CancelResult,
    locate,
    refused_running,
    search,
    take,
)

#: The ``reason`` a cancelled task's record carries (also what records written before the
#: ``cancelled`` status existed carry, with status ``skipped``).
CANCELLED_REASON = "cancelled"
CANCELLED_ERROR = "cancelled before it ran"


def cancel_file(
    spool_dir: str,
    path: str,
    *,
    task_id: str,
    name: str = "",
    who: str | None = None,
    via: str = "api",
) -> CancelResult:
    """Take the waiting file at ``path``, record ``task_id`` cancelled and audit it as done by
    ``who`` (default: the OS user) through ``via`` (see module doc)."""
    spool_dir = os.path.realpath(spool_dir)
    result = take(spool_dir, path, task_id)
    if result:
        if task_id:
            record_cancelled(spool_dir, task_id, name)
        target = task_id or result.path
        record_action(spool_dir, who or os_user(), "cancelled", target, via=via)
    return result


def cancel_task(
    spool_dir: str,
    task_id: str,
    *,
    name: str = "",
    hint: str = "",
    who: str | None = None,
    via: str = "api",
) -> CancelResult:
    """Cancel the task ``task_id`` of ``spool_dir`` by its id (``hint``: its file's path as
    its handle knows it), audited as ``cancel_file``. Refused, with the reason, when it runs,
    already finished, or no waiting file of it is found."""
    spool_dir = os.path.realpath(spool_dir)
    path = locate(spool_dir, task_id, hint)
    if path:
        return cancel_file(spool_dir, path, task_id=task_id, name=name, who=who, via=via)
    try:
        record = current_record(spool_dir, task_id)
    except ResultStoreError:
        record = None
    if record is not None and record.status is TaskStatus.RUNNING:
        return refused_running(task_id, "")
    if record is not None and record.status.is_final:
        why = f"it already finished ({record.status.value})"
        return CancelResult(FINISHED, why, task_id)
    path = search(spool_dir, task_id)  # a retry's file, or one the index never knew
    if path:
        return cancel_file(spool_dir, path, task_id=task_id, name=name, who=who, via=via)
    return CancelResult(NOT_WAITING, "no waiting file of this task is found", task_id)


def record_cancelled(spool_dir: str, task_id: str, name: str) -> bool:
    """Record ``task_id`` as ``cancelled`` (final); False when there is no store or it failed."""
    store = store_for(spool_dir)
    if store is None:
        return False
    try:
        store.finished(
            task_id,
            TaskStatus.CANCELLED,
            reason=CANCELLED_REASON,
            error=CANCELLED_ERROR,
            task=TaskDescription(name=name or None, spooler=spool_dir),
        )
    except ResultStoreError:
        return False
    return True


__all__ = ["CancelResult", "cancel_file", "cancel_task", "record_cancelled"]
