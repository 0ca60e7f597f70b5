"""What a task run ends in, what a task is doing, and when it may try again (pure).

A task's ``process()`` returns ``None`` (skipped), a ``TaskResult`` (its kind) or any other value
(processed), or raises (rescheduled). The dispatcher turns that into an ``Outcome`` and does the
bookkeeping itself; uWSGI's return codes never leak out of the uwsgi backend.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, ClassVar

from spoolrt.core import defaults
from spoolrt.core.errors import check_retry_time


class Outcome(str, Enum):
    """How one run of a task ended."""

    PROCESSED = "processed"
    SKIPPED = "skipped"
    RESCHEDULED = "rescheduled"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class TaskStatus(str, Enum):
    """Where a task is in its life. Transitions::

    queued ─┐                ┌─> done
    scheduled ─> running ────┼─> skipped
      │            ^         ├─> retrying ─> running ...
      │            │         ├─> failed        (retries used up; kept in the failed area)
      │            └─ retry ─┘   quarantined   (file could not be trusted or resolved)
      └─> cancelled  (taken away before it ran: ``spoolrt cancel``, ``handle.cancel()``)

    Records written before ``cancelled`` existed say ``skipped`` with reason ``cancelled``;
    they stay readable as they are.
    """

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    CANCELLED = "cancelled"

    #: Printed as its value (``done``), as the CLI, the JSON and the store spell it.
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def of(cls, value: TaskStatus | str) -> TaskStatus:
        """``value`` as a status: a member, or its value in any case (``"failed"``), so that
        callers can write what the CLI and the JSON show. Anything else: ``ValueError``."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        known = ", ".join(member.value for member in cls)
        raise ValueError(f"{value!r} is not a task status; one of {known}")

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


#: The statuses a task never leaves: done, skipped, failed, quarantined, cancelled.
FINAL_STATUSES = frozenset(
    {
        TaskStatus.DONE,
        TaskStatus.SKIPPED,
        TaskStatus.FAILED,
        TaskStatus.QUARANTINED,
        TaskStatus.CANCELLED,
    }
)


class TaskResult:
    """A task's explicit verdict on its own run, with an optional value to keep as its result."""

    outcome: ClassVar[Outcome] = Outcome.PROCESSED

    def __init__(self, result: Any = None, *, exception: BaseException | None = None) -> None:
        self.result = result
        self.exception = exception

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.result!r})"


class ResultProcessed(TaskResult):
    """Done: the spool file is removed and ``result`` is kept as the task's result."""

    outcome = Outcome.PROCESSED


class ResultSkipped(TaskResult):
    """Skipped: final, the spool file is removed, nothing is retried."""

    outcome = Outcome.SKIPPED


class ResultRescheduled(TaskResult):
    """Try again later; counts as an attempt.

    ``delay`` (seconds or timedelta) or ``at`` (aware datetime) override the retry policy's delay;
    a value that cannot be used raises here (see ``errors.check_retry_time``).
    """

    outcome = Outcome.RESCHEDULED

    def __init__(
        self,
        result: Any = None,
        *,
        exception: BaseException | None = None,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
    ) -> None:
        check_retry_time("ResultRescheduled", delay, at)
        super().__init__(result, exception=exception)
        self.delay = delay
        self.at = at


def to_task_result(returned: Any) -> TaskResult:
    """Map what ``process()`` returned to a ``TaskResult``: None skips, anything else processes."""
    if isinstance(returned, TaskResult):
        return returned
    if returned is None:
        return ResultSkipped()
    return ResultProcessed(returned)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap and full jitter on the upper half.

    Attempt ``n`` (1-based, the one that just failed) waits
    ``min(cap, base * factor ** (n - 1))`` scaled into ``[0.5, 1.0]`` of itself by jitter, so a
    burst of failures does not come back as a burst.
    """

    retries: int = defaults.RETRIES
    delay: float = defaults.RETRY_DELAY
    factor: float = 2.0
    cap: float = defaults.RETRY_CAP
    jitter: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ValueError(f"retries must be a non-negative int, not {self.retries!r}")
        if self.delay < 0 or self.cap < 0 or self.factor < 1:
            raise ValueError("retry delay and cap must be >= 0 and factor >= 1")

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def can_retry(self, attempt: int) -> bool:
        """True when the run numbered ``attempt`` (1-based) may be followed by another."""
        return attempt < self.max_attempts

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the run numbered ``attempt`` failed."""
        raw = self._capped(max(0, attempt - 1))
        if not self.jitter or raw == 0:
            return raw
        return raw * (0.5 + 0.5 * (rng or random).random())

    def _capped(self, exponent: int) -> float:
        """``min(cap, delay * factor ** exponent)`` without computing a power the cap discards.

        The power of a late attempt overflows a float (attempt 1025 at factor 2), and with an int
        factor it would build a huge int first: an error in the bookkeeping keeps the file, so
        the task would run again at every scan. Past the cap, the exact power does not matter.
        """
        if self.delay == 0 or self.cap == 0:
            return 0.0
        factor = float(self.factor)
        if factor > 1.0 and exponent > math.log(self.cap / self.delay, factor):
            return float(self.cap)
        return float(min(self.cap, self.delay * factor**exponent))
