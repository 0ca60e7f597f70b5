"""``TaskOptions``: every way of spooling a task takes its options as one checked value (pure).

The decorators (``@task``, ``@periodic``, ``@cron``), ``spool_with``, ``SpoolerTask.spool``,
``send_message_raw``, ``ScheduledTask`` and web tasks all build a ``TaskOptions``; it is
validated once, when it is made, so a bad option fails where it is written (at decoration or at
the call), never later in a spooler. Per-call overrides are ``options.merged(...)``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from spoolrt.core import defaults
from spoolrt.core.errors import InvalidTaskOption

if TYPE_CHECKING:
    from typing_extensions import Unpack

Postpone = datetime | timedelta | int | float


class HasSpoolDir(Protocol):
    """Anything that names a spool directory by its real path (``Spooler`` does)."""

    @property
    def dir(self) -> str: ...


#: What ``spooler=`` accepts: a ``Spooler``, a directory path, or a spooler's basename.
SpoolerRef = HasSpoolDir | str | os.PathLike[str]


class OptionArgs(TypedDict, total=False):
    """The task options as keyword arguments (``**options: Unpack[OptionArgs]``), so every
    function that takes them spells them once and type checkers still check each one."""

    spooler: SpoolerRef | None
    priority: int | None
    postpone: Postpone | None
    retries: int | None
    retry_delay: float | timedelta | None
    results: str | None
    ttl: float | None


@dataclass(frozen=True)
class TaskOptions:
    """How to spool a task. ``None`` means "not set here": the next level decides (the
    decorator's options, then ``configure()``, then ``spoolrt.core.defaults``).

    - ``spooler``: where it goes (a ``Spooler``, a directory, a basename; None: the default);
    - ``priority``: an int from 0 (uWSGI runs lower numbers first; needs ``spooler-ordered``);
    - ``postpone``: not before this (seconds, ``timedelta``, or an aware ``datetime``);
    - ``retries`` and ``retry_delay``: further attempts after a failure, and the first wait;
    - ``results``: what the store keeps ("all", "status", "off"); ``ttl``: for how long.
    """

    spooler: SpoolerRef | None = None
    priority: int | None = None
    postpone: Postpone | None = None
    retries: int | None = None
    retry_delay: float | timedelta | None = None
    results: str | None = None
    ttl: float | None = None

    def __post_init__(self) -> None:
        check_priority(self.priority)
        if self.postpone is not None:
            resolve_at(self.postpone, time.time())
        if self.retries is not None:
            check_retries(self.retries)
        if self.retry_delay is not None:
            object.__setattr__(self, "retry_delay", check_delay(self.retry_delay))
        if self.results is not None and self.results not in defaults.RESULT_MODES:
            raise InvalidTaskOption(
                f"results must be one of {', '.join(defaults.RESULT_MODES)}, not {self.results!r}"
            )
        if self.ttl is not None:
            ttl = self.ttl
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
                raise InvalidTaskOption(f"ttl must be a positive number of seconds, not {ttl!r}")
            object.__setattr__(self, "ttl", float(ttl))

    def merged(self, **changes: Unpack[OptionArgs]) -> TaskOptions:
        """These options with every given option that is not None put in its place."""
        given = {key: value for key, value in changes.items() if value is not None}
        return replace(self, **given) if given else self  # type: ignore[arg-type]

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def envelope_options(self) -> dict[str, Any]:
        """The options that travel, signed, in the envelope for the spooler to honour."""
        travelling: dict[str, Any] = {}
        if self.results is not None:
            travelling["results"] = self.results
        if self.ttl is not None:
            travelling["ttl"] = self.ttl
        return travelling


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
    """Retries are a count of further attempts: a non-negative int."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidTaskOption(f"retries must be a non-negative int, not {retries!r}")
    return retries


def check_delay(delay: object) -> float:
    """A retry delay is non-negative seconds (or a ``timedelta``); returned as float seconds."""
    if isinstance(delay, timedelta):
        delay = delay.total_seconds()
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
        raise InvalidTaskOption(f"retry_delay must be non-negative seconds, not {delay!r}")
    return float(delay)


#: No option set: everything comes from ``configure()`` and the defaults.
NO_OPTIONS = TaskOptions()
