"""django-autotask 0.5's decorators on spoolrt: change the imports and ``INSTALLED_APPS`` only.

::

    # from autotask.tasks import delayed_task, periodic_task, cron_task
    from spoolrt.compat.autotask import delayed_task, periodic_task, cron_task
    from spoolrt.compat.autotask import WAITING, RUNNING, DONE, ERROR

    INSTALLED_APPS = [..., "spoolrt.contrib.django", "spoolrt.compat.autotask"]  # not "autotask"

What autotask's README documents, kept:

- ``@delayed_task(delay=0, retries=0, ttl=300)``: a call returns at once with a handle whose
  ``ready``, ``status`` (``WAITING``, ``RUNNING``, ``DONE``, ``ERROR``, the same values as
  autotask's), ``result`` (an attribute, ``None`` until done) and ``error_message`` are read
  when asked, from any process. A function returning ``None`` is done, as in autotask.
- ``@periodic_task(seconds=3600, start_now=False)`` and ``@cron_task(minutes=, hours=, dow=,
  months=, dom=, crontab=)`` with autotask's conventions: ``dow`` counts from **Monday = 0**;
  the crontab string orders its fields ``minutes hours dow months dom`` and allows only ints,
  ``*``, ``,`` and ``-``; when both ``dow`` and ``dom`` are given a day matching either runs
  (they "complement each other"); a given ``crontab`` wins over the keyword fields. Cron times
  are read in Django's ``TIME_ZONE`` (UTC outside Django), as autotask's ``make_aware`` did.
- ``AUTOTASK_IS_ACTIVE = False`` in Django's settings makes the decorators return the plain
  function, as in autotask (unset counts as active here: spoolrt needs no opt-in).

What spoolrt changes: tasks run in the uWSGI spooler or ``spoolrt worker`` (no worker process
per Django process, no database table, no migration); each periodic or cron slot runs once
however many processes serve the app; periodic slots are aligned to the epoch rather than to the
last run; retries back off (doubling from ``RETRY_DELAY``) and a task out of retries is kept in
the failed area with its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from spoolrt.api.spooler import Spooler
from spoolrt.api.tasks import TaskFunction

if TYPE_CHECKING:
    from typing_extensions import Unpack
from spoolrt.core.errors import InvalidTaskOption
from spoolrt.core.options import OptionArgs, TaskOptions
from spoolrt.core.outcomes import ResultProcessed, TaskStatus
from spoolrt.sending.handle import TaskHandle

#: autotask's status values (``autotask.models``), so stored or compared values keep working.
WAITING = 1
RUNNING = 2
DONE = 3
ERROR = 4

#: Seconds before the first retry of a failed ``delayed_task`` (autotask's
#: ``AUTOTASK_RETRY_DELAY`` default); later retries double it.
RETRY_DELAY = 2.0

_STATUS = {
    TaskStatus.QUEUED: WAITING,
    TaskStatus.SCHEDULED: WAITING,
    TaskStatus.RETRYING: WAITING,
    TaskStatus.RUNNING: RUNNING,
    TaskStatus.DONE: DONE,
    TaskStatus.SKIPPED: DONE,
    TaskStatus.FAILED: ERROR,
    TaskStatus.QUARANTINED: ERROR,
    TaskStatus.CANCELLED: ERROR,  # it never ran: not DONE
}


class DelayedTask:
    """What calling a ``delayed_task`` returns: autotask's handle, read from spoolrt's store."""

    def __init__(self, handle: TaskHandle) -> None:
        self.handle = handle

    def __repr__(self) -> str:
        return f"<DelayedTask {self.handle.task_name} id={self.handle.task_id}>"

    @property
    def status(self) -> int:
        """``WAITING`` (also while a retry waits), ``RUNNING``, ``DONE`` or ``ERROR``."""
        status = self.handle.status
        return WAITING if status is None else _STATUS[status]

    @property
    def ready(self) -> bool:
        """True once the task ran to ``DONE`` or ``ERROR``."""
        return self.status in (DONE, ERROR)

    @property
    def result(self) -> Any:
        """The function's return value once ``DONE``, else None (autotask's attribute)."""
        if self.status != DONE:
            return None
        return self.handle.result(timeout=0)

    @property
    def error_message(self) -> str | None:
        """The last error as a string (while retrying, or once ``ERROR``), else None."""
        return self.handle.error


def _active() -> bool:
    """False only when Django is configured with ``AUTOTASK_IS_ACTIVE = False``."""
    try:
        from django.conf import settings
    except ImportError:
        return True
    if not settings.configured:
        return True
    return bool(getattr(settings, "AUTOTASK_IS_ACTIVE", True))


def _zone() -> str | tzinfo | None:
    try:
        from django.conf import settings
    except ImportError:
        return None
    return getattr(settings, "TIME_ZONE", None) if settings.configured else None


class _AlwaysProcessed:
    """Calls the function and marks the run *processed*, so a function returning None is DONE
    (spoolrt alone records that as skipped). Deliberately not a closure: without a
    ``__code__`` of its own, spoolrt's registries see the user's module and qualname, so two
    different functions under one name are still refused."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self._target = func
        self.__module__ = func.__module__
        self.__name__ = getattr(func, "__name__", "task")
        self.__qualname__ = func.__qualname__
        self.__doc__ = func.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> ResultProcessed:
        return ResultProcessed(self._target(*args, **kwargs))


def _task(func: Callable[..., Any], **options: Unpack[OptionArgs]) -> TaskFunction[Any, Any]:
    return TaskFunction(_AlwaysProcessed(func), options=TaskOptions(**options))


class delayed_task:  # autotask's lower-case name
    """``@delayed_task(delay=0, retries=0, ttl=300)``: calls return a ``DelayedTask``."""

    def __init__(self, delay: float = 0, retries: int = 0, ttl: float = 300) -> None:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise InvalidTaskOption(f"delay must be non-negative seconds, got {delay!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidTaskOption(f"retries must be a non-negative int, got {retries!r}")
        self.delay = delay
        self.retries = retries
        self.ttl = ttl

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if not _active():
            return func
        task = _task(
            func,
            postpone=self.delay or None,
            retries=self.retries,
            retry_delay=RETRY_DELAY,
            ttl=self.ttl,
        )

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> DelayedTask:
            return DelayedTask(task.spool_with(args, kwargs))

        wrapper.task = task  # type: ignore[attr-defined]
        return wrapper


class periodic_task:  # autotask's lower-case name
    """``@periodic_task(seconds=3600, start_now=False)``: run every ``seconds``; with
    ``start_now`` the first run is as soon as possible."""

    def __init__(self, seconds: int = 3600, start_now: bool = False) -> None:
        self.decorator = Spooler.periodic(seconds=seconds, start_now=start_now)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if not _active():
            return func
        task = _task(func, retries=0)
        self.decorator(task)
        return task


def _numbers(value: Any, what: str) -> list[int]:
    items = [value] if isinstance(value, int) else list(value)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise InvalidTaskOption(f"cron_task {what}: {item!r} is not an int")
    return items


def _dow_to_cron(days: Iterable[int]) -> list[int]:
    """autotask's weekdays (Monday 0 .. Sunday 6) as cron's (Sunday 0 .. Saturday 6)."""
    out = []
    for day in days:
        if not 0 <= day <= 6:
            raise InvalidTaskOption(f"cron_task dow: {day} is outside 0-6 (Monday is 0)")
        out.append((day + 1) % 7)
    return out


def _crontab_dow(field: str) -> list[int] | None:
    """An autotask crontab day-of-week field ('*', '0', '0-4', '1,3') as its day numbers."""
    if field == "*":
        return None
    days: list[int] = []
    for part in field.split(","):
        low, _, high = part.partition("-")
        try:
            start, end = int(low), int(high or low)
        except ValueError:
            raise InvalidTaskOption(f"cron_task crontab: bad dow {field!r}") from None
        days.extend(range(start, end + 1))
    return days


def cron_fields(
    minutes: Any = None,
    hours: Any = None,
    dow: Any = None,
    months: Any = None,
    dom: Any = None,
    crontab: str | None = None,
) -> dict[str, Any]:
    """autotask's arguments as keyword fields of spoolrt's cron (Sunday = 0 there)."""
    if crontab is not None:
        fields = crontab.split()
        if len(fields) != 5 or any(set(f) - set("0123456789*,-") for f in fields):
            raise InvalidTaskOption(
                f"cron_task crontab {crontab!r}: five fields 'minutes hours dow months dom' "
                "of ints, '*', ',' and '-'"
            )
        minute_f, hour_f, dow_f, month_f, dom_f = fields
        days = _crontab_dow(dow_f)
        return {
            "minutes": minute_f,
            "hours": hour_f,
            "dow": None if days is None else _dow_to_cron(days),
            "months": month_f,
            "dom": dom_f,
        }
    given = {"minutes": minutes, "hours": hours, "months": months, "dom": dom}
    result: dict[str, Any] = {
        key: None if value is None else _numbers(value, key) for key, value in given.items()
    }
    result["dow"] = None if dow is None else _dow_to_cron(_numbers(dow, "dow"))
    return result


class cron_task:  # autotask's lower-case name
    """``@cron_task(minutes=, hours=, dow=, months=, dom=, crontab=)`` with autotask's
    conventions (see the module docstring); ``tz`` overrides Django's ``TIME_ZONE``."""

    def __init__(
        self,
        minutes: Any = None,
        hours: Any = None,
        dow: Any = None,
        months: Any = None,
        dom: Any = None,
        crontab: str | None = None,
        *,
        tz: str | tzinfo | None = None,
    ) -> None:
        self.fields = cron_fields(minutes, hours, dow, months, dom, crontab)
        self.tz = tz if tz is not None else (_zone() or "UTC")
        self.decorator = Spooler.cron(**self.fields, tz=self.tz)

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if not _active():
            return func
        task = _task(func, retries=0)
        self.decorator(task)
        return task


__all__ = [
    "DONE",
    "ERROR",
    "RUNNING",
    "WAITING",
    "DelayedTask",
    "cron_fields",
    "cron_task",
    "delayed_task",
    "periodic_task",
]
