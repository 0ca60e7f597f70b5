"""Argument rules every store applies the same way (re-exported by ``spoolrt.results.base``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import TypeAlias

from spoolrt.core import defaults
from spoolrt.core.outcomes import FINAL_STATUSES, TaskStatus

__all__ = ["StatusFilter", "check_finished", "check_purge", "status_filter", "ttl_seconds"]


def check_finished(status: TaskStatus | str, result: bytes | None) -> TaskStatus:
    """``status`` as a ``TaskStatus``; refuse a ``finished`` call with a non-final status or an
    unserialised result."""
    status = TaskStatus.of(status)
    if status not in FINAL_STATUSES:
        raise ValueError(f"finished() takes a final status, not {status!r}")
    if result is not None and not isinstance(result, bytes):
        raise TypeError(f"result must be serialised bytes or None, not {type(result).__name__}")
    return status


def check_purge(status: TaskStatus | str) -> TaskStatus:
    """``status`` as a ``TaskStatus``; refuse a ``purge`` of a status that is not final: such a
    record stands for a task that may still run, and its file says more than the record."""
    status = TaskStatus.of(status)
    if status not in FINAL_STATUSES:
        raise ValueError(f"purge() takes a final status, not {status!r}")
    return status


def ttl_seconds(ttl: float | timedelta | None) -> float:
    """Normalise a ``ttl`` argument: None means the default; negative is a caller bug."""
    if ttl is None:
        return defaults.RESULT_TTL
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"ttl must be >= 0 seconds, not {ttl!r}")
    return seconds


StatusFilter: TypeAlias = TaskStatus | str | Collection[TaskStatus | str] | None


def status_filter(status: StatusFilter) -> frozenset[TaskStatus] | None:
    """Normalise the ``status`` argument of ``list``: one status, several, or None for all;
    each a ``TaskStatus`` or its value (``"failed"``, see ``TaskStatus.of``)."""
    if status is None:
        return None
    if isinstance(status, str):  # a TaskStatus is a str too
        return frozenset((TaskStatus.of(status),))
    return frozenset(TaskStatus.of(each) for each in status)
