"""The CLI's view of the result store: ``<spool>/.spoolrt/results.sqlite3``, when one exists.

Only read here, and only opened when the file is already there: a command that looks must not
create a store as a side effect. ``retry`` and ``purge`` also keep the store's records in step
with what they do to files (see ``forget``; ``spoolrt.observe.actions.requeued``).
"""

from __future__ import annotations

import json
import os
import reprlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from spoolrt.cli._common import read_signer, warn
from spoolrt.core import defaults
from spoolrt.core.errors import ResultStoreError, SpoolFileError
from spoolrt.observe.times import format_time
from spoolrt.results import ResultStore, SQLiteResultStore, TaskRecord
from spoolrt.results.tracking import decode_result

_preview = reprlib.Repr()
_preview.maxstring = 200
_preview.maxother = 200

T = TypeVar("T")


def _with_store(spool_dir: str, work: Callable[[ResultStore], T], default: T) -> T:
    """``work(store)`` on the SQLite store of ``spool_dir`` if its file exists, else ``default``
    (also when the store fails: the files are the truth, the store only adds to them)."""
    path = os.path.join(spool_dir, defaults.STATE_DIR, defaults.RESULTS_FILENAME)
    if not os.path.exists(path):
        return default
    store = SQLiteResultStore(path, purge_interval=None)
    try:
        return work(store)
    except ResultStoreError as exc:
        warn(f"result store {path}: {exc}")
        return default
    finally:
        store.close()


#: How many of the newest records a look-up by id prefix searches.
PREFIX_SCAN_LIMIT = 10_000


def lookup(spool_dirs: Sequence[str], key: str) -> TaskRecord | None:
    """The stored record of task id ``key`` (or of the one id it is a 4+ character prefix of,
    among the newest records) in the first store that knows it."""
    found = candidates(spool_dirs, key)
    return found[0] if len(found) == 1 else None


def candidates(spool_dirs: Sequence[str], key: str) -> list[TaskRecord]:
    """The stored record of task id ``key``, else every record (of every store, among the
    newest) whose id starts with ``key`` (4+ characters): so an ambiguous prefix can be
    answered with its candidates rather than with "no task"."""

    def exact(store: ResultStore) -> TaskRecord | None:
        return store.get(key)

    def by_prefix(store: ResultStore) -> list[TaskRecord]:
        return [r for r in store.list(limit=PREFIX_SCAN_LIMIT) if r.task_id.startswith(key)]

    for spool_dir in spool_dirs:
        record = _with_store(spool_dir, exact, None)
        if record is not None:
            return [record]
    if len(key) < 4:
        return []
    none: list[TaskRecord] = []
    return [r for spool_dir in spool_dirs for r in _with_store(spool_dir, by_prefix, none)]


def counts(spool_dir: str) -> dict[str, int] | None:
    """Records per status in the store of ``spool_dir``, or None without a store."""

    def work(store: ResultStore) -> dict[str, int] | None:
        return {status.value: n for status, n in store.counts().items()}

    return _with_store(spool_dir, work, None)


def forget(spool_dir: str, task_id: str) -> None:
    """Drop a task's record: its file was purged, so nothing will ever finish it."""
    if task_id:
        _with_store(spool_dir, lambda store: store.delete(task_id), False)


def result_value(record: TaskRecord) -> Any:
    """The stored result, verified and loaded, as something printable.

    Results are signed like envelopes and loaded only after their MAC verifies (with the key
    ``read_signer`` found; with no key they are not loaded at all). What cannot be shown as a
    value is described instead: ``<57 bytes, pickle, not verified: ...>``.
    """
    if record.result is None:
        return None
    serializer = record.result_serializer or defaults.SERIALIZER
    described = f"{len(record.result)} bytes, {serializer}"
    signer, warning = read_signer()
    if warning and signer is not None:
        return f"<{described}, not verified: no signing key>"
    try:
        value = decode_result(record.result, serializer)
    except SpoolFileError as exc:
        return f"<{described}, not loaded: {exc}>"
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    """``value`` itself when JSON can carry it, else its (shortened) repr."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return _preview.repr(value)
    return value


def to_json(record: TaskRecord) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "attempt": record.attempt,
        "max_attempts": record.max_attempts,
        "enqueued_at": record.enqueued_at,
        "scheduled_for": record.scheduled_for,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "expires_at": record.expires_at,
        "result": result_value(record),
        "error": record.error,
        "reason": record.reason,
        "traceback": record.traceback,
        "pid": record.pid,
        "name": record.name,
        "spooler": record.spooler,
    }


def render(record: TaskRecord) -> str:
    rows = [
        ("result store", record.status.value),
        ("id", record.task_id),
        ("task", record.name or "-"),
        ("attempt", f"{record.attempt} of {record.max_attempts or '?'}"),
        ("enqueued", format_time(record.enqueued_at)),
        ("started", format_time(record.started_at)),
        ("finished", format_time(record.finished_at)),
    ]
    if record.result is not None:
        rows.append(("result", _show(result_value(record))))
    if record.error:
        rows.append(("error", record.error))
    if record.reason:
        rows.append(("reason", record.reason))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _show(value: Any) -> str:
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
