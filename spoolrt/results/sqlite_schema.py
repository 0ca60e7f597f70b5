"""The SQLite store's table and statements, in one place (see ``spoolrt.results.sqlite``).

The ordering rule of ``base.supersedes`` is written into each upsert's ``WHERE``, so a late
write can never move a record backwards, whichever process makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spoolrt.core.outcomes import FINAL_STATUSES, TaskStatus
from spoolrt.results.base import TaskRecord

SCHEMA_VERSION = 2
TABLE = "spoolrt_tasks"
#: How far each group-commit journal file is merged (``spoolrt.results.journal``).
JOURNAL_TABLE = "spoolrt_journal"
COLUMNS = (
    "task_id, name, spooler, status, attempt, max_attempts, enqueued_at, scheduled_for, "
    "started_at, finished_at, expires_at, result, result_serializer, error, traceback, reason, pid"
)
FINAL_SQL = "(" + ", ".join(f"'{s.value}'" for s in sorted(FINAL_STATUSES)) + ")"

SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
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
    f"""CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} (
        name TEXT PRIMARY KEY, merged_to INTEGER NOT NULL, updated_at REAL NOT NULL
    )""",
)


def fill_columns(*columns: str) -> str:
    return ", ".join(f"{c} = coalesce({c}, excluded.{c})" for c in columns)


ENQUEUED_SQL = f"""
    INSERT INTO {TABLE} (task_id, name, spooler, status, attempt, max_attempts, enqueued_at,
                          scheduled_for, expires_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        {fill_columns("name", "spooler", "max_attempts", "enqueued_at", "scheduled_for")}
    WHERE (name IS NULL AND excluded.name IS NOT NULL)
       OR (spooler IS NULL AND excluded.spooler IS NOT NULL)
       OR (max_attempts IS NULL AND excluded.max_attempts IS NOT NULL)
       OR (enqueued_at IS NULL AND excluded.enqueued_at IS NOT NULL)
       OR (scheduled_for IS NULL AND excluded.scheduled_for IS NOT NULL)
"""

STARTED_SQL = f"""
    INSERT INTO {TABLE} (task_id, status, attempt, started_at, pid, name, spooler, max_attempts,
                          enqueued_at, scheduled_for, expires_at)
    VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        status = 'running', attempt = excluded.attempt, started_at = excluded.started_at,
        pid = excluded.pid, expires_at = max(expires_at, excluded.expires_at),
        {fill_columns("name", "spooler", "max_attempts", "enqueued_at", "scheduled_for")}
    WHERE status NOT IN {FINAL_SQL}
      AND (attempt < excluded.attempt
           OR (attempt = excluded.attempt AND status IN ('queued', 'scheduled', 'running')))
"""

RETRYING_SQL = f"""
    INSERT INTO {TABLE} (task_id, status, attempt, scheduled_for, error, traceback, name,
                          spooler, max_attempts, expires_at)
    VALUES (?, 'retrying', ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        status = 'retrying', attempt = excluded.attempt, scheduled_for = excluded.scheduled_for,
        error = excluded.error, traceback = excluded.traceback,
        expires_at = max(expires_at, excluded.expires_at),
        {fill_columns("name", "spooler", "max_attempts")}
    WHERE status NOT IN {FINAL_SQL} AND attempt <= excluded.attempt
"""

#: The columns ``FINISHED_SQL`` fills only where the row has none; it sets every other one.
FINISHED_FILLS = (
    "name", "spooler", "max_attempts", "started_at", "pid", "enqueued_at", "scheduled_for",
)  # fmt: skip

FINISHED_SQL = f"""
    INSERT INTO {TABLE} (task_id, status, attempt, finished_at, expires_at, result,
                          result_serializer, error, traceback, reason, name, spooler,
                          max_attempts, started_at, pid, enqueued_at, scheduled_for)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (task_id) DO UPDATE SET
        status = excluded.status, attempt = max(attempt, excluded.attempt),
        finished_at = excluded.finished_at, expires_at = excluded.expires_at,
        result = excluded.result, result_serializer = excluded.result_serializer,
        error = excluded.error, traceback = excluded.traceback, reason = excluded.reason,
        {fill_columns(*FINISHED_FILLS)}
    WHERE status NOT IN {FINAL_SQL}
"""

#: ``FINISHED_SQL``'s parameters, in order (a journal record holds exactly these).
FINISHED_FIELDS = (
    "task_id", "status", "attempt", "finished_at", "expires_at", "result", "result_serializer",
    "error", "traceback", "reason", "name", "spooler", "max_attempts", "started_at", "pid",
    "enqueued_at", "scheduled_for",
)  # fmt: skip
_COLUMN_NAMES = tuple(c.strip() for c in COLUMNS.split(","))
#: Where a row (``COLUMNS`` order) holds its expiry time.
EXPIRES_AT = _COLUMN_NAMES.index("expires_at")
_FINAL_VALUES = frozenset(s.value for s in FINAL_STATUSES)


_STATUS_AT = _COLUMN_NAMES.index("status")


def is_final_row(row: Sequence[Any]) -> bool:
    """Whether a row (``COLUMNS`` order) holds a final status."""
    return row[_STATUS_AT] in _FINAL_VALUES


def finished_over(row: Sequence[Any] | None, params: Sequence[Any]) -> tuple[Any, ...]:
    """The row (``COLUMNS`` order) that ``FINISHED_SQL`` with ``params`` leaves over ``row``
    (the task's row as it is, expired or not; None when there is none).

    A journaled record is read this way without merging it, so a status read never takes the
    write lock (``spoolrt.results.journal``). It must say exactly what the statement does;
    ``tests/unit/test_finished_over.py`` holds the two against each other.
    """
    new = dict(zip(FINISHED_FIELDS, params, strict=True))
    if row is None:
        return tuple(new[c] for c in _COLUMN_NAMES)
    if is_final_row(row):
        return tuple(row)  # the first final write wins
    merged = dict(zip(_COLUMN_NAMES, row, strict=True))
    for column in FINISHED_FIELDS:
        if column == "attempt":
            merged[column] = max(merged[column], new[column])
        elif column not in FINISHED_FILLS or merged[column] is None:
            merged[column] = new[column]
    return tuple(merged[c] for c in _COLUMN_NAMES)


PEEK_SQL = f"SELECT status, attempt, pid FROM {TABLE} WHERE task_id = ?"
ROW_SQL = f"SELECT {COLUMNS} FROM {TABLE} WHERE task_id = ?"
DELETE_SQL = f"DELETE FROM {TABLE} WHERE task_id = ?"
PURGE_PAGE = 500
PURGE_SELECT_SQL = (
    f"SELECT seq FROM {TABLE} WHERE seq > ? AND expires_at <= ? ORDER BY seq LIMIT {PURGE_PAGE}"
)
CLAIM_PURGE_SQL = (
    "UPDATE spoolrt_meta SET value = ? WHERE key = 'last_purge' AND (value <= ? OR value > ?)"
)


STATUS_BY_VALUE = {status.value: status for status in TaskStatus}


def record_of(row: Sequence[Any]) -> TaskRecord:
    return TaskRecord(row[0], row[1], row[2], STATUS_BY_VALUE[row[3]], *row[4:])
