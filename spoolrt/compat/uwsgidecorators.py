"""The spooler part of uWSGI's ``uwsgidecorators``, on spoolrt: change the import line only.

::

    from spoolrt.compat.uwsgidecorators import spool, spoolraw, spoolforever, timer, cron

What each decorator keeps from uWSGI (its documented behaviour, Python 3):

- ``@spool``: ``f.spool(key=value, ...)`` (or ``f.spool({...})``, or calling ``f``) spools one
  task; in the spooler ``f`` receives the arguments **dict** (str keys; bytes values decoded to
  str, as uWSGI does), plus ``spooler_task_name`` and ``ud_spool_func``. It runs once whatever
  it returns, as uWSGI documents; an exception retries it (bounded, see below).
- ``@spoolraw``: the return value decides: ``SPOOL_OK`` done, ``SPOOL_IGNORE`` skipped (final),
  ``SPOOL_RETRY`` another attempt. Anything else is what uWSGI treats as a retry too.
- ``@spoolforever``: after each run the same task is spooled again (``FOREVER_DELAY`` later).
- ``pass_arguments=True``: ``f(*args, **kwargs)`` with any picklable values.
- The special keys ``at`` (Unix time: the task waits for it), ``priority`` (a number; needs
  ``spooler-ordered``), ``spooler`` (a spooler's directory or basename) and ``body`` are read as
  options; without ``pass_arguments`` they stay in the dict the function gets, as in uWSGI.
- ``@timer(seconds, target='spooler')`` and ``@cron(minute, hour, day, month, weekday,
  target='spooler')`` (``-1`` is "any", ``-N`` "every N") run ``f(signum)`` on spoolrt's
  schedules: once per slot however many processes and instances tick.

What spoolrt changes, on purpose: a retry is bounded by spoolrt's retries (default 3, with
backoff) and then ends *failed*, never done, where uWSGI re-runs a file forever; a skipped task
is final; values need not be bytes; ``.spool()`` returns spoolrt's ``TaskHandle`` (the path as
``str``, not ``bytes``); timers are aligned to the epoch, not to the start of the process.
Everything else in ``uwsgidecorators`` (rpc, signals, mules, threads, locks) is not spooling and
is not here; keep importing it from uWSGI.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spoolrt.api import schedules as _schedule
from spoolrt.api.tasks import TaskFunction, current_task
from spoolrt.core.errors import DuplicateTaskName, InvalidTaskOption
from spoolrt.core.outcomes import ResultProcessed, ResultRescheduled, ResultSkipped, TaskResult
from spoolrt.sending import backends
from spoolrt.sending.handle import TaskHandle

log = logging.getLogger("spoolrt.compat")

#: uWSGI's return codes (``uwsgi.SPOOL_OK`` and friends have the same values).
SPOOL_OK = -2
SPOOL_RETRY = -1
SPOOL_IGNORE = 0

#: Keys that steer spooling rather than being data (``message_dict`` is uWSGI-internal).
SPECIAL_KEYS = ("spooler", "priority", "at", "body")

#: Seconds between the runs of a ``@spoolforever`` task. uWSGI re-runs it at each directory
#: scan (``spooler-frequency``); a fixed second keeps an idle spooler from spinning on it.
FOREVER_DELAY = 1.0

#: ``module:qualname`` -> the decorated function, like uWSGI's ``spooler_functions``.
spooler_functions: dict[str, _Spooled] = {}


def _text(value: Any) -> Any:
    """bytes -> str as uWSGI decodes what the spooler hands over (left as bytes if not UTF-8)."""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def _options(special: dict[str, Any]) -> dict[str, Any]:
    """``spool_with`` options from the special keys, checked at the call site."""
    options: dict[str, Any] = {}
    if special.get("at") is not None:
        raw = _text(special["at"])
        try:
            at = float(raw)
        except (TypeError, ValueError):
            raise InvalidTaskOption(f"at must be a Unix time, got {special['at']!r}") from None
        options["postpone"] = datetime.fromtimestamp(at, tz=timezone.utc)
    if special.get("priority") is not None:
        raw = _text(special["priority"])
        try:
            options["priority"] = int(raw)
        except (TypeError, ValueError):
            raise InvalidTaskOption(
                f"priority must be a number, got {special['priority']!r}"
            ) from None
    if special.get("spooler") is not None:
        options["spooler"] = os.fsdecode(special["spooler"])
    return options


def _origin(func: Callable[..., Any]) -> tuple[str, int] | None:
    code = getattr(func, "__code__", None)
    return (code.co_filename, code.co_firstlineno) if code is not None else None


class _Spooled:
    """A function decorated by ``spool``, ``spoolraw`` or ``spoolforever``."""

    def __init__(self, func: Callable[..., Any], *, mode: str, pass_arguments: bool) -> None:
        if not callable(func):
            raise TypeError(f"@{mode} decorates a function, not {func!r}")
        self.func = func
        self.mode = mode
        self.pass_arguments = bool(pass_arguments)
        self.name = f"{func.__module__}:{func.__qualname__}"
        current = spooler_functions.get(self.name)
        if current is not None and _origin(current.func) != _origin(func):
            raise DuplicateTaskName(
                f"{self.name!r} is already a spooler function defined elsewhere ({current!r})"
            )
        spooler_functions[self.name] = self
        # A spoolrt task whose function is this object's runner: signed, recorded, bounded.
        self.task: TaskFunction[Any, Any] = TaskFunction(self._run, name=self.name)
        self.__name__ = getattr(func, "__name__", self.name)
        self.__qualname__ = getattr(func, "__qualname__", self.name)
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        try:
            func.spool = self.spool  # type: ignore[attr-defined]  # uWSGI < 1.9.13 style
        except AttributeError:
            pass

    def __repr__(self) -> str:
        return f"<@{self.mode} {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> TaskHandle:
        """Spool a call (what ``f.spool(...)`` does too)."""
        if self.pass_arguments:
            special = {key: kwargs.pop(key) for key in SPECIAL_KEYS if key in kwargs}
            kwargs.pop("message_dict", None)
            payload: dict[str, Any] = {"args": args, "kwargs": kwargs}
        else:
            if len(args) > 1:
                raise TypeError(f"{self!r}.spool() takes one dict and keywords, got {args!r}")
            arguments: dict[str, Any] = {}
            if args:
                arguments.update(args[0])
            arguments.update(kwargs)
            arguments = {_text(key): _text(value) for key, value in arguments.items()}
            special = {key: arguments[key] for key in SPECIAL_KEYS if key in arguments}
            payload = {"arguments": arguments}
        return self.task.spool_with((payload,), **_options(special))

    def spool(self, *args: Any, **kwargs: Any) -> TaskHandle:
        """Spool a call: uWSGI's ``f.spool(...)``."""
        return self(*args, **kwargs)

    # --- in the spooler -----------------------------------------------------------------------

    def _run(self, payload: dict[str, Any]) -> TaskResult:
        """Call the function the way uWSGI would and turn its answer into spoolrt's outcome."""
        task = current_task()
        if self.pass_arguments:
            returned = self.func(*payload["args"], **payload["kwargs"])
        else:
            arguments = dict(payload["arguments"])
            arguments["spooler_task_name"] = task.name if task is not None else ""
            arguments["ud_spool_func"] = self.__name__
            returned = self.func(arguments)
        if self.mode == "spoolforever":
            self._again(payload)
            return ResultProcessed(returned)
        if self.mode == "spool":  # uWSGI: "executed one time independently of return status"
            return ResultProcessed(returned)
        return _raw_outcome(self.name, returned)

    def _again(self, payload: dict[str, Any]) -> None:
        """Spool the next run of a ``@spoolforever`` task before this one is let go, so a crash
        in between leaves two runs, never none."""
        if backends.current().name == "eager":  # inline runs would recurse for ever
            log.warning("%s is @spoolforever; eager mode runs it once", self.name)
            return
        task = current_task()
        envelope = task.envelope if task is not None else None
        self.task.spool_with(
            (payload,),
            spooler=envelope.spooler if envelope is not None else None,
            priority=envelope.priority if envelope is not None else None,
            postpone=FOREVER_DELAY,
        )


def _raw_outcome(name: str, returned: Any) -> TaskResult:
    """``@spoolraw``'s codes. uWSGI re-runs a file for every answer but ``SPOOL_OK`` (for
    ``SPOOL_IGNORE`` too, for ever); spoolrt retries a bounded number of times, then fails."""
    if type(returned) is int and returned == SPOOL_OK:
        return ResultProcessed(None)
    if type(returned) is int and returned == SPOOL_IGNORE:
        return ResultSkipped(None)
    if type(returned) is int and returned == SPOOL_RETRY:
        return ResultRescheduled(exception=_SpoolRetry(f"{name} returned SPOOL_RETRY"))
    return ResultRescheduled(
        exception=_SpoolRetry(
            f"{name} returned {returned!r}, not SPOOL_OK, SPOOL_RETRY or SPOOL_IGNORE "
            "(uWSGI retries such a task too)"
        )
    )


class _SpoolRetry(Exception):
    """The reason recorded for a ``@spoolraw`` task that asked to be run again."""


def _decorator(mode: str, f: Callable[..., Any] | None, pass_arguments: bool) -> Any:
    if f is None:
        return lambda func: _Spooled(func, mode=mode, pass_arguments=pass_arguments)
    return _Spooled(f, mode=mode, pass_arguments=pass_arguments)


def spool(f: Callable[..., Any] | None = None, pass_arguments: bool = False) -> Any:
    """``@spool`` / ``@spool(pass_arguments=True)``: run once in the spooler."""
    return _decorator("spool", f, pass_arguments)


def spoolraw(f: Callable[..., Any] | None = None, pass_arguments: bool = False) -> Any:
    """``@spoolraw``: the function's ``SPOOL_*`` return code decides the outcome."""
    return _decorator("spoolraw", f, pass_arguments)


def spoolforever(f: Callable[..., Any] | None = None, pass_arguments: bool = False) -> Any:
    """``@spoolforever``: run, then spool the same call again, for as long as it succeeds."""
    return _decorator("spoolforever", f, pass_arguments)


# --- timers and cron: uWSGI signals delivered to the spooler, as spoolrt schedules ----------

#: schedule name -> the signal number it was given (kept when a module is imported again).
_signals: dict[str, int] = {}


def _signum(name: str, given: int | None) -> int:
    """The number the handler receives: ``signum=`` if given, else the next one free here
    (uWSGI's ``get_free_signal()`` counts up from 0 the same way)."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given <= 255:
            raise InvalidTaskOption(f"signum must be an int from 0 to 255, got {given!r}")
        _signals[name] = given
        return given
    if name not in _signals:
        used = set(_signals.values())
        _signals[name] = next(n for n in range(256) if n not in used)
    return _signals[name]


def _check_target(kind: str, target: str) -> None:
    if target != "spooler":
        raise InvalidTaskOption(
            f"@{kind}(..., target={target!r}): spoolrt runs timers in the spooler only; write "
            f"target='spooler', or keep `from uwsgidecorators import {kind}` for a handler "
            "that must run in a worker or mule"
        )


class _SignalHandler:
    """A schedule target (``spoolrt.schedule.SlotRunner``) calling ``f(signum)`` per slot.

    A signal handler is not retried under uWSGI, so neither is a slot here: one that raises is
    recorded as failed and the next slot runs as usual.
    """

    spooler = None
    priority = None
    retries = 0
    retry_delay = None

    def __init__(self, func: Callable[[int], Any], signum: int) -> None:
        self.func = func
        self.signum = signum

    def __repr__(self) -> str:
        return f"<signal {self.signum} handler {self.func!r}>"

    def run_slot(self, slot: datetime | None) -> Any:
        return self.func(self.signum)


def _register(kind: str, func: Callable[[int], Any], schedule: Any, signum: int | None) -> None:
    if not callable(func):
        raise TypeError(f"@{kind} decorates a function, not {func!r}")
    name = f"{func.__module__}:{func.__qualname__}"
    handler = _SignalHandler(func, _signum(name, signum))
    _schedule.register(name, schedule, handler, identity=f"uwsgidecorators:{name}")


class timer:  # uWSGI's lower-case name
    """``@timer(seconds, target='spooler')``: ``f(signum)`` every ``seconds``, in the spooler."""

    def __init__(self, secs: int, *, target: str = "", signum: int | None = None) -> None:
        _check_target("timer", target)
        self.schedule = _schedule.periodic(secs)
        self.signum = signum

    def __call__(self, f: Callable[[int], Any]) -> Callable[[int], Any]:
        _register("timer", f, self.schedule, self.signum)
        return f


def _cron_field(value: int | str, what: str) -> str:
    """uWSGI's cron field: -1 is any, -N every N, N itself (crontab text is accepted too)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTaskOption(f"cron {what} must be an int, got {value!r}")
    if value == -1:
        return "*"
    if value < -1:
        return f"*/{-value}"
    return str(value)


def _local_zone() -> tzinfo:
    """The server's zone, which uWSGI's cron reads its fields in: ``$TZ``, else the zone
    ``/etc/localtime`` links to, else UTC."""
    names = [os.environ.get("TZ", "").lstrip(":")]
    try:
        names.append(os.readlink("/etc/localtime").split("zoneinfo/", 1)[1])
    except (OSError, IndexError):
        pass
    for name in filter(None, names):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return timezone.utc


class cron:  # uWSGI's lower-case name
    """``@cron(minute, hour, day, month, weekday, target='spooler')``: weekday 0 is Sunday, and
    the fields are read on the server's local clock, as uWSGI does (``tz=`` to choose a zone).
    """

    def __init__(
        self,
        minute: int | str,
        hour: int | str,
        day: int | str,
        month: int | str,
        dayweek: int | str,
        *,
        target: str = "",
        signum: int | None = None,
        tz: str | tzinfo | None = None,
    ) -> None:
        _check_target("cron", target)
        fields = zip(
            (minute, hour, day, month, dayweek),
            ("minute", "hour", "day", "month", "weekday"),
            strict=True,
        )
        expression = " ".join(_cron_field(value, what) for value, what in fields)
        self.schedule = _schedule.cron(expression, tz=_local_zone() if tz is None else tz)
        self.signum = signum

    def __call__(self, f: Callable[[int], Any]) -> Callable[[int], Any]:
        _register("cron", f, self.schedule, self.signum)
        return f


__all__ = [
    "SPOOL_IGNORE",
    "SPOOL_OK",
    "SPOOL_RETRY",
    "cron",
    "spool",
    "spooler_functions",
    "spoolforever",
    "spoolraw",
    "timer",
]
