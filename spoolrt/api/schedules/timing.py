"""Schedules as pure slot arithmetic: when is a periodic or cron task due?

A *slot* is one instant a schedule fires at, with whole seconds. Every process derives the same
slots from the same schedule without talking to the others, which is what lets a claim on
(schedule name, slot) decide who runs it (see ``claims``).

Slots are returned as aware datetimes **in UTC** even for a cron schedule in another zone:
Python compares two datetimes that share a ``tzinfo`` by wall clock and ignores ``fold``, so
02:30 CEST and 02:20 CET on a fall-back day would compare the wrong way round. Convert with
``slot.astimezone(schedule.zone)`` to show one.
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spoolrt.core.errors import ConfigurationError, InvalidTaskOption

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)

#: What the keyword form of a cron field accepts: an int, a range, a list of ints or names, or
#: the field's own crontab text (``"mon-fri"``, ``"*/15"``).
CronField = int | str | range | Iterable[int | str] | None


def as_utc(moment: datetime, what: str = "time") -> datetime:
    """``moment`` in UTC; naive datetimes are refused because their zone is a guess."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{what} must be timezone-aware, got naive {moment!r}; "
            "use datetime.now(timezone.utc) or attach a zoneinfo zone"
        )
    return moment.astimezone(UTC)


def resolve_zone(tz: str | tzinfo | None) -> tzinfo:
    """The zone a cron expression's wall clock is read in: UTC unless configured."""
    if tz is None or tz == "UTC":
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if not isinstance(tz, str):
        raise InvalidTaskOption(f"tz must be a zone name or tzinfo, not {type(tz).__name__}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTaskOption(
            f"unknown time zone {tz!r} (expected e.g. 'Europe/Berlin')"
        ) from exc


class Schedule(abc.ABC):
    """When a scheduled task fires. Implementations are immutable values compared by value."""

    #: Run the slot in progress at once when a schedule has never run (interval schedules only).
    start_now: bool = False

    @abc.abstractmethod
    def next_slot(self, after: datetime) -> datetime:
        """The first slot strictly after ``after`` (aware), in UTC."""

    @abc.abstractmethod
    def latest_slots(
        self, until: datetime, *, after: datetime | None = None, limit: int = 1
    ) -> list[datetime]:
        """Up to ``limit`` of the newest slots in ``(after, until]``, oldest first, in UTC.

        Bounded work whatever the gap: a week of downtime on a per-second schedule costs the same
        as one missed slot.
        """

    def latest_slot(self, until: datetime) -> datetime | None:
        """The newest slot at or before ``until``, or None if there is none."""
        found = self.latest_slots(until, limit=1)
        return found[-1] if found else None


# --- interval -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalSchedule(Schedule):
    """Every ``seconds``, on slots aligned to the Unix epoch.

    Alignment is what lets several processes agree on slot times without talking: slot *n* is
    ``n * seconds`` after 1970-01-01 UTC, so a 60 s schedule fires on whole minutes and an 86400 s
    one at midnight UTC, whenever each process started.
    """

    seconds: int
    start_now: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, int):
            raise InvalidTaskOption(f"seconds must be an int, got {self.seconds!r}")
        if self.seconds < 1:
            raise InvalidTaskOption(f"seconds must be at least 1, got {self.seconds}")
        if not isinstance(self.start_now, bool):
            raise InvalidTaskOption(f"start_now must be True or False, got {self.start_now!r}")

    def __str__(self) -> str:
        return f"every {self.seconds}s" + (" (start now)" if self.start_now else "")

    def _index(self, moment: datetime) -> int:
        return (as_utc(moment) - _EPOCH) // timedelta(seconds=self.seconds)

    def _slot(self, index: int) -> datetime:
        return _EPOCH + timedelta(seconds=index * self.seconds)

    def next_slot(self, after: datetime) -> datetime:
        return self._slot(self._index(after) + 1)

    def latest_slots(
        self, until: datetime, *, after: datetime | None = None, limit: int = 1
    ) -> list[datetime]:
        last = self._index(until)
        first = last - limit + 1
        if after is not None:
            first = max(first, self._index(after) + 1)
        return [self._slot(index) for index in range(first, last + 1)]


def periodic(seconds: int | float | timedelta, *, start_now: bool = False) -> IntervalSchedule:
    """An interval schedule from int seconds, a whole float or a whole-second timedelta."""
    if isinstance(seconds, timedelta):
        whole = seconds // _SECOND
        if seconds != whole * _SECOND:
            raise InvalidTaskOption(f"interval must be whole seconds, got {seconds!r}")
        return IntervalSchedule(whole, start_now)
    if isinstance(seconds, float):
        if not seconds.is_integer():
            raise InvalidTaskOption(f"interval must be whole seconds, got {seconds!r}")
        return IntervalSchedule(int(seconds), start_now)
    return IntervalSchedule(seconds, start_now)


# --- cron -----------------------------------------------------------------------------------

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: keyword, lowest, highest, names allowed in lists
_FIELDS: tuple[tuple[str, int, int, list[str]], ...] = (
    ("minutes", 0, 59, []),
    ("hours", 0, 23, []),
    ("dom", 1, 31, []),
    ("months", 1, 12, _MONTH_NAMES),
    ("dow", 0, 7, _DAY_NAMES),
)


def _cronsim() -> Any:
    """The cronsim module, imported only when a cron schedule is used (it is an optional extra)."""
    try:
        import cronsim
    except ImportError as exc:
        raise ConfigurationError(
            "cron schedules need the cronsim package: pip install 'spoolrt[cron]' (quoted: zsh "
            "globs the brackets)"
        ) from exc
    return cronsim


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """A five-field crontab expression read on the wall clock of ``zone``.

    Semantics are Vixie/Debian cron's (implemented by cronsim): lists, ranges, steps, month and
    weekday names, 0 and 7 both Sunday; when day-of-month and day-of-week are both restricted
    (neither starts with ``*``) a day matching *either* runs. cronsim's ``L``, ``LW`` and ``#``
    extensions work too. ``@daily``-style macros are accepted.

    Daylight-saving time, for an expression whose minute and hour are both fixed (``30 2 * * *``):
    a time that spring-forward skips runs once at the first instant after the gap (03:00 CEST in
    Berlin), and a time that fall-back repeats runs once, at its first occurrence (02:30 CEST).
    With a wildcard or step in the minute or hour field the schedule follows real elapsed time:
    slots in the skipped hour do not exist and slots in the repeated hour run twice, once per
    real instant (their keys differ because slots are UTC instants).
    """

    expression: str
    zone: tzinfo = field(default=UTC)

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise InvalidTaskOption(f"a cron expression must be a str, got {self.expression!r}")
        text = " ".join(self.expression.split())
        text = _MACROS.get(text.lower(), text)
        if text.startswith("@"):
            raise InvalidTaskOption(f"unsupported cron macro {self.expression!r}")
        if len(text.split()) != 5:
            raise InvalidTaskOption(
                f"a cron expression has five fields (minute hour day-of-month month "
                f"day-of-week), got {self.expression!r}"
            )
        object.__setattr__(self, "expression", text)
        object.__setattr__(self, "zone", resolve_zone(self.zone))
        cronsim = _cronsim()
        probe = datetime(2000, 1, 1, tzinfo=UTC).astimezone(self.zone)
        try:
            first = next(cronsim.CronSim(text, probe), None)
        except cronsim.CronSimError as exc:
            raise InvalidTaskOption(f"bad cron expression {text!r}: {exc}") from exc
        if first is None:
            raise InvalidTaskOption(f"cron expression {text!r} never fires")

    def __str__(self) -> str:
        return f"cron {self.expression!r} ({self.zone})"

    def _forward(self, after: datetime) -> Iterator[datetime]:
        """Slots strictly after ``after``, ascending, in UTC."""
        previous = as_utc(after, "after")
        for raw in _cronsim().CronSim(self.expression, previous.astimezone(self.zone)):
            slot = raw.astimezone(UTC)
            # For fixed-time expressions cronsim walks the naive wall clock, so from a moment in
            # the second pass of a repeated hour it can answer with the first pass, in the past.
            if slot > previous:
                previous = slot
                yield slot

    def next_slot(self, after: datetime) -> datetime:
        for slot in self._forward(after):
            return slot
        raise ValueError(f"{self} has no slot within 50 years after {after}")

    def latest_slots(
        self, until: datetime, *, after: datetime | None = None, limit: int = 1
    ) -> list[datetime]:
        end = as_utc(until, "until").replace(microsecond=0)
        # cronsim's reverse iterator finds a start ``limit`` slots back cheaply. Around a
        # repeated hour it can land too early (never too late), so the forward iterator, which
        # defines the slots, collects from there and keeps the newest ``limit``.
        backwards = _cronsim().CronSim(self.expression, (end + _SECOND).astimezone(self.zone), True)
        start: datetime | None = None
        for _ in range(limit):
            step = next(backwards, None)
            if step is None:
                break
            start = step
        if start is None:
            return []
        lower = start.astimezone(UTC) - _SECOND
        if after is not None:
            lower = max(lower, as_utc(after, "after"))
        newest: deque[datetime] = deque(maxlen=limit)
        for slot in self._forward(lower):
            if slot > end:
                break
            newest.append(slot)
        return list(newest)


def _field_text(keyword: str, value: CronField, low: int, high: int, names: list[str]) -> str:
    """One crontab field from the keyword form, checked so mistakes surface at decoration."""
    if value is None:
        return "*"
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text.split()) != 1:
            raise InvalidTaskOption(f"{keyword}={value!r} is not one crontab field")
        return text
    items: list[int | str]
    if isinstance(value, bool):
        raise InvalidTaskOption(f"{keyword}={value!r}: expected an int, list or range")
    if isinstance(value, int):
        items = [value]
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise InvalidTaskOption(f"{keyword}={value!r}: expected an int, list, range or str")
    if not items:
        raise InvalidTaskOption(f"{keyword}={value!r} is empty, so the task would never run")
    for item in items:
        if isinstance(item, str):
            if item.lower() not in names:
                raise InvalidTaskOption(f"{keyword}: {item!r} is not a name this field takes")
        elif isinstance(item, bool) or not isinstance(item, int):
            raise InvalidTaskOption(f"{keyword}: {item!r} is not an int")
        elif not low <= item <= high:
            raise InvalidTaskOption(f"{keyword}: {item} is outside {low}-{high}")
    numbers = sorted({item for item in items if isinstance(item, int)})
    names_given = [item for item in dict.fromkeys(items) if isinstance(item, str)]
    return ",".join(_compact(numbers) + names_given)


def _compact(numbers: list[int]) -> list[str]:
    """Sorted ints as crontab list items, runs of three or more as ranges: 9-17, not 9,...,17."""
    parts: list[str] = []
    start = 0
    while start < len(numbers):
        end = start
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        if end - start >= 2:
            parts.append(f"{numbers[start]}-{numbers[end]}")
        else:
            parts.extend(str(number) for number in numbers[start : end + 1])
        start = end + 1
    return parts


def cron(
    expression: str | None = None,
    *,
    minutes: CronField = None,
    hours: CronField = None,
    dom: CronField = None,
    months: CronField = None,
    dow: CronField = None,
    tz: str | tzinfo | None = None,
) -> CronSchedule:
    """A cron schedule from a crontab string or from keyword fields (not both).

    Keyword fields take an int, a list of ints (or month/weekday names), a ``range`` or one
    field's crontab text; an omitted field is ``*``. ``dow`` counts as cron does: 0 or 7 is
    Sunday. ``cron(minutes=0, hours=range(9, 18), dow="mon-fri")`` is ``0 9-17 * * mon-fri``.
    django-autotask counts Monday as 0 (its ``dow=[0, 2]`` is ``dow=[1, 3]`` here, or
    ``"mon,wed"``): use ``spoolrt.compat.autotask`` for code written with its convention.
    """
    values = {"minutes": minutes, "hours": hours, "dom": dom, "months": months, "dow": dow}
    given = [name for name, value in values.items() if value is not None]
    if expression is not None:
        if given:
            raise InvalidTaskOption(
                f"give a crontab expression or keyword fields, not both ({', '.join(given)})"
            )
        return CronSchedule(expression, resolve_zone(tz))
    parts = [
        _field_text(keyword, values[keyword], low, high, names)
        for keyword, low, high, names in _FIELDS
    ]
    return CronSchedule(" ".join(parts), resolve_zone(tz))
