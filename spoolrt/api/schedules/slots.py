"""Which slots are due now, given the last one that ran: the missed-slot policy.

A slot is *missed* when it came due while nothing was ticking (the app was down, or a tick was
late). Whether to make up for it is the user's call; the default runs the newest missed slot
once, so a nightly job runs once after a weekend of downtime rather than three times, or never.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from spoolrt.api.schedules.timing import Schedule, as_utc
from spoolrt.core.errors import InvalidTaskOption


class MissedSlots(str, Enum):
    """What to do with slots that came due while nothing was ticking."""

    #: Run the newest missed slot once and forget the others (the default).
    ONCE = "once"
    #: Run every missed slot, oldest first, at most ``MissedSlotPolicy.limit`` of the newest.
    ALL = "all"
    #: Run a slot only if it is at most ``MissedSlotPolicy.grace`` late; drop older ones.
    SKIP = "skip"


#: How many missed slots ``MissedSlots.ALL`` makes up at most: a bound, so a week of downtime
#: on a per-minute schedule does not flood the spooler with ten thousand tasks.
DEFAULT_CATCH_UP_LIMIT = 100

#: How late a slot may be and still count as on time under ``MissedSlots.SKIP``; generous next
#: to a 1 s tick so a busy process does not drop slots it is merely slow to see.
DEFAULT_GRACE = timedelta(seconds=60)


@dataclass(frozen=True, init=False)
class MissedSlotPolicy:
    """A ``MissedSlots`` choice with its bound (``limit``) and lateness allowance (``grace``).

    ``MissedSlotPolicy("all", limit=20)`` or ``MissedSlotPolicy(MissedSlots.SKIP, grace=30)``;
    bad values raise ``InvalidTaskOption`` here, at decoration time.
    """

    missed: MissedSlots
    limit: int
    grace: timedelta

    def __init__(
        self,
        missed: MissedSlots | str = MissedSlots.ONCE,
        *,
        limit: int = DEFAULT_CATCH_UP_LIMIT,
        grace: timedelta | float = DEFAULT_GRACE,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidTaskOption(f"limit must be an int of at least 1, got {limit!r}")
        if isinstance(grace, (int, float)) and not isinstance(grace, bool):
            grace = timedelta(seconds=grace)
        if not isinstance(grace, timedelta) or grace < timedelta(0):
            raise InvalidTaskOption(f"grace must be seconds or a timedelta >= 0, got {grace!r}")
        object.__setattr__(self, "missed", _as_missed(missed))
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "grace", grace)

    @classmethod
    def of(cls, value: MissedSlotPolicy | MissedSlots | str | None) -> MissedSlotPolicy:
        """Accept what a decorator's ``missed=`` argument may hold."""
        if value is None:
            return cls()
        if isinstance(value, MissedSlotPolicy):
            return value
        return cls(_as_missed(value))


def _as_missed(value: MissedSlots | str) -> MissedSlots:
    try:
        return MissedSlots(value)
    except ValueError as exc:
        choices = ", ".join(repr(choice.value) for choice in MissedSlots)
        raise InvalidTaskOption(f"missed={value!r}: expected one of {choices}") from exc


def due_slots(
    schedule: Schedule,
    *,
    last: datetime | None,
    now: datetime,
    since: datetime | None = None,
    policy: MissedSlotPolicy | None = None,
) -> list[datetime]:
    """The slots of ``schedule`` to run at ``now``, oldest first (usually none or one).

    ``last`` is the newest slot already run (``SlotClaims.last_claimed``). With no history the
    schedule counts from ``since`` (when this process began ticking; default ``now``), so a new
    cron job waits for its next slot, except an interval schedule with ``start_now``, whose
    current slot is due at once. Only slots after ``last`` can be due, so claimed slots never come
    back whatever the policy.
    """
    policy = policy or MissedSlotPolicy()
    end = as_utc(now, "now")
    if last is None:
        if schedule.start_now:
            return schedule.latest_slots(end, limit=1)
        floor = end if since is None else as_utc(since, "since")
    else:
        floor = as_utc(last, "last")
    limit = policy.limit if policy.missed is MissedSlots.ALL else 1
    slots = schedule.latest_slots(end, after=floor, limit=limit)
    if policy.missed is MissedSlots.SKIP:
        slots = [slot for slot in slots if end - slot <= policy.grace]
    return slots
