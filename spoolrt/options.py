"""Checking and normalising task options at the call site (pure)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from .errors import InvalidTaskOption

Postpone = datetime | timedelta | int | float


def resolve_at(postpone: Postpone | None, now: float) -> float | None:
    """Unix time before which the task must not run, or None for "now".

    Seconds and ``timedelta`` count from ``now``; a ``datetime`` must be aware, because a naive
    one means a different instant in every time zone and guessing would run tasks at the wrong
    hour.
    """
    if postpone is None:
        return None
    if isinstance(postpone, bool):
        raise InvalidTaskOption(f"postpone must be seconds, timedelta or datetime: {postpone!r}")
    if isinstance(postpone, datetime):
        if postpone.tzinfo is None or postpone.tzinfo.utcoffset(postpone) is None:
            raise InvalidTaskOption(
                f"postpone={postpone!r} is a naive datetime; pass an aware one "
                "(e.g. datetime.now(timezone.utc) + ...) or a timedelta"
            )
        return postpone.timestamp()
    if isinstance(postpone, timedelta):
        seconds = postpone.total_seconds()
    elif isinstance(postpone, int | float):
        seconds = float(postpone)
    else:
        raise InvalidTaskOption(
            f"postpone must be seconds, timedelta or datetime, not {type(postpone).__name__}"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidTaskOption(f"postpone must be a finite, non-negative delay, not {postpone!r}")
    return now + seconds if seconds else None


MAX_PRIORITY = 2**31 - 1


def check_priority(priority: object) -> int | None:
    """A priority is an int from 0 to 2**31-1: uWSGI uses it as a sub-directory name and only
    scans numeric ones, so anything else would strand the task forever."""
    if priority is None:
        return None
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not 0 <= priority <= MAX_PRIORITY
    ):
        raise InvalidTaskOption(
            f"priority must be an int from 0 to {MAX_PRIORITY}, not {_short(priority)}"
        )
    return priority


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "a huge int"
    return text[:60]


def check_retries(retries: object) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidTaskOption(f"retries must be a non-negative int, not {retries!r}")
    return retries


def check_delay(delay: object) -> float:
    if isinstance(delay, timedelta):
        delay = delay.total_seconds()
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
        raise InvalidTaskOption(f"retry_delay must be non-negative seconds, not {delay!r}")
    return float(delay)
