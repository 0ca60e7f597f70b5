"""``spoolrt ls --status done|skipped``: finished tasks from the result store, newest first.

The spool files only show what waits or was kept aside; a task that finished left no file, so
its history is the store's. Its JSON items (``"history"`` in ``ls --json``, beside the files'
``"tasks"``)::

    {"state": "done|skipped", "id": str, "task": str|null, "attempt": int,
     "max_attempts": int|null, "enqueued_at": t|null, "started_at": t|null,
     "finished_at": t|null, "run_seconds": s|null, "wait_seconds": s|null,
     "error": str|null, "reason": str|null, "spooler": DIR}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spoolrt.cli._common import format_table, format_when, warn
from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.observe.history import (
    HISTORY_LIMIT,
    last_activity,
    name_matches,
    run_seconds,
    store_of,
    wait_seconds,
)
from spoolrt.results import TaskRecord

#: The statuses only the store knows (failed and quarantined tasks keep their files).
HISTORY_STATES = (TaskStatus.DONE.value, TaskStatus.SKIPPED.value, TaskStatus.CANCELLED.value)
#: Rows shown when ``-n`` is not given: a history can be long.
DEFAULT_HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Row:
    """One finished task and the spool directory whose store recorded it."""

    spooler: str
    record: TaskRecord


def rows(
    dirs: Sequence[str],
    statuses: Sequence[str],
    *,
    task: str | None,
    since: float | None,
    offset: int,
    limit: int,
) -> tuple[list[Row], bool]:
    """Up to ``limit`` rows after ``offset`` (newest first over every store), and whether more
    match."""
    wanted = [TaskStatus.of(s) for s in statuses]
    found: list[Row] = []
    for spool_dir in dirs:
        with store_of(spool_dir) as store:
            if store is None:
                continue
            try:
                records = store.list(status=wanted, limit=HISTORY_LIMIT)
            except ResultStoreError as exc:
                warn(f"result store of {spool_dir}: {exc}")
                continue
        for record in records:
            if task is not None and not name_matches(record.name, task):
                continue
            if since is not None and (last_activity(record) or 0.0) < since:
                continue
            found.append(Row(spool_dir, record))
    found.sort(key=lambda r: last_activity(r.record) or 0.0, reverse=True)
    start = max(0, offset)
    page = found[start : start + max(0, limit)]
    return page, len(found) > start + len(page)


def to_json(row: Row) -> dict[str, Any]:
    record = row.record
    return {
        "state": record.status.value,
        "id": record.task_id,
        "task": record.name,
        "attempt": record.attempt,
        "max_attempts": record.max_attempts,
        "enqueued_at": record.enqueued_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "run_seconds": run_seconds(record),
        "wait_seconds": wait_seconds(record),
        "error": record.error,
        "reason": record.reason,
        "spooler": row.spooler,
    }


def render(page: Sequence[Row], more: bool, offset: int, now: float) -> str:
    headers = ["STATE", "ID", "TASK", "TRY", "FINISHED", "RAN", "NOTE"]
    table = []
    for row in page:
        record = row.record
        ran = run_seconds(record)
        table.append(
            [
                record.status.value,
                record.task_id,
                record.name or "-",
                f"{record.attempt}/{record.max_attempts or '?'}",
                format_when(record.finished_at, now),
                "-" if ran is None else f"{ran:.3f}s",
                record.error or record.reason or "",
            ]
        )
    footer = f"{len(page)} finished task(s) from the result store"
    if more:
        footer += f"; more: --offset {max(0, offset) + len(page)}"
    return (format_table(headers, table) + "\n" if table else "") + footer
