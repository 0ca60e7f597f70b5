"""``@Spooler.periodic`` and ``@Spooler.cron``, and ``register``, which every kind of schedule
(decorated functions, ``ScheduledTask`` classes, web tasks) goes through.

A registered schedule only names a target and says when; ``spoolrt.api.schedules.driver`` turns
each slot that comes due into one spooled task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from spoolrt.api.schedules.entries import ScheduledEntry, registry
from spoolrt.api.schedules.slots import MissedSlotPolicy, MissedSlots
from spoolrt.api.schedules.timing import CronField, Schedule, cron, periodic
from spoolrt.api.tasks import TaskFunction
from spoolrt.core.errors import InvalidTaskOption
from spoolrt.core.options import OptionArgs, SpoolerRef, TaskOptions
from spoolrt.core.registry import definition_site

if TYPE_CHECKING:
    from typing_extensions import Unpack

log = logging.getLogger("spoolrt.schedule")

P = ParamSpec("P")
R = TypeVar("R")

Missed = MissedSlotPolicy | MissedSlots | str | None


def register(
    name: str,
    schedule: Schedule,
    target: object,
    *,
    missed: Missed = None,
    identity: str | None = None,
) -> ScheduledEntry | None:
    """Add ``target`` to the process-wide registry under ``name``.

    Returns None, registering nothing, when the same definition is already scheduled under the
    name it got from another spelling of its module (a tasks module imported both as
    ``app.tasks`` and as ``tasks``): two names would claim their slots apart and run twice.
    """
    twin = _same_definition_elsewhere(name, target)
    if twin is not None:
        log.warning(
            "%r is the same definition as the scheduled %r (its module was imported "
            "under two names); keeping only %r so each slot runs once",
            name,
            twin.name,
            twin.name,
        )
        return None
    return registry.register(name, schedule, target, policy=missed, identity=identity)


def _same_definition_elsewhere(name: str, target: object) -> ScheduledEntry | None:
    """An entry under another derived name whose target was defined at the same place."""
    where = _site(target)
    if where is None or name != _derived_name(target):
        return None
    for entry in registry:
        derived = entry.name == _derived_name(entry.target)
        if entry.name != name and derived and _site(entry.target) == where:
            return entry
    return None


def _site(target: object) -> tuple[str, str] | None:
    """Source file and qualname, the same however the module was named (lines are left out:
    a class has none)."""
    site = definition_site(target)
    return None if site is None or "<" in site[1] else (site[0], site[1])


def _derived_name(target: object) -> str:
    inner = getattr(target, "__wrapped__", target)
    return f"{getattr(inner, '__module__', '')}:{getattr(inner, '__qualname__', '')}"


def schedule_function(
    func: Any, schedule: Schedule, *, options: TaskOptions, name: str | None, missed: Missed
) -> TaskFunction[Any, Any]:
    """The decorators' common part: make ``func`` a task (unless it is one) and schedule it."""
    MissedSlotPolicy.of(missed)  # a bad policy fails here, before anything is registered
    if isinstance(func, TaskFunction):
        if not replace(options, spooler=None).is_empty():
            raise InvalidTaskOption(
                f"{func!r} is already a task: give its options to its @task decorator, or "
                "drop @task and give them here"
            )
        spooler = options.spooler
        if spooler is not None and func.spooler is not None and func.spooler != spooler:
            raise InvalidTaskOption(
                f"{func!r} spools to {func.spooler}, its schedule to {spooler}: choose one"
            )
        if spooler is not None and func.spooler is None:
            func.options = func.options.merged(spooler=spooler)
        task = func
    elif callable(func):
        task = TaskFunction(func, options=options, name=name)
    else:
        raise TypeError(f"only a function can be scheduled, got {func!r}")
    register(name or task.name, schedule, task, missed=missed)
    return task


class _ScheduleDecorator:
    """What ``periodic`` and ``cron`` share: the spooler they are bound to, and ``_decorator``."""

    def __init__(self, spooler: SpoolerRef | None) -> None:
        self.spooler = spooler

    def _decorator(
        self, schedule: Schedule, name: str | None, missed: Missed, options: OptionArgs
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]:
        task_options = TaskOptions(spooler=self.spooler).merged(**options)

        def decorate(func: Callable[P, R]) -> TaskFunction[P, R]:
            return schedule_function(func, schedule, options=task_options, name=name, missed=missed)

        return decorate


class PeriodicDecorator(_ScheduleDecorator):
    """``@Spooler.periodic(...)`` / ``@spooler.periodic(...)`` (see ``__call__``)."""

    def __call__(
        self,
        *,
        seconds: int | float | timedelta,
        start_now: bool = False,
        missed: Missed = None,
        name: str | None = None,
        **options: Unpack[OptionArgs],
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]:
        """Run the function every ``seconds``, once per slot however many processes tick.

        Slots are aligned to the epoch (``seconds=60`` fires at each whole minute), so every
        process and instance agrees on them. A new schedule waits for its first slot unless
        ``start_now``. ``missed`` says what to do with slots that passed while nothing ticked:
        ``"once"`` (default: the newest runs once), ``"all"`` (each, up to a limit) or
        ``"skip"``; a ``MissedSlotPolicy`` sets the limit and grace. ``name`` (default
        ``module:qualname``) names the task and the schedule. The rest are ``task`` options.
        """
        return self._decorator(periodic(seconds, start_now=start_now), name, missed, options)


class CronDecorator(_ScheduleDecorator):
    """``@Spooler.cron(...)`` / ``@spooler.cron(...)`` (see ``__call__``)."""

    def __call__(
        self,
        expression: str | None = None,
        *,
        minutes: CronField = None,
        hours: CronField = None,
        dom: CronField = None,
        months: CronField = None,
        dow: CronField = None,
        tz: str | tzinfo | None = "UTC",
        missed: Missed = None,
        name: str | None = None,
        **options: Unpack[OptionArgs],
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]:
        """Run the function at the times of a crontab expression, read in zone ``tz``.

        ``"*/15 9-17 * * mon-fri"``, or the keyword form ``minutes=0, hours=range(9, 18),
        dow="mon-fri"`` (ints, lists, ranges or one field's text; omitted fields are ``*``).
        ``dow`` follows cron: 0 (and 7) is Sunday, 1 is Monday (django-autotask users: there
        Monday is 0; see ``spoolrt.compat.autotask``). Cron's rule holds: with both
        day-of-month and day-of-week restricted, either matching runs. Needs the ``cron`` extra
        (``pip install spoolrt[cron]``). ``missed``, ``name`` and the task options are as for
        ``periodic``.
        """
        schedule = cron(
            expression, minutes=minutes, hours=hours, dom=dom, months=months, dow=dow, tz=tz
        )
        return self._decorator(schedule, name, missed, options)


__all__ = ["CronDecorator", "Missed", "PeriodicDecorator", "register", "schedule_function"]
