"""Class-based scheduled tasks in Draco's style: ``schedule(...)`` in ``__init__``, ``run()``.

::

    # myapp/tasks.py
    from spoolrt import ScheduledTask

    class NightlyReport(ScheduledTask):
        def __init__(self):
            self.schedule(minute=30, hour=2, dow="mon-fri")

        def run(self):
            ...

A subclass registers itself when its class statement runs (``abstract=True`` opts out, for an
intermediate base), so importing the module is all it takes. Draco's convention holds: keep them
in the ``tasks`` module of your package, the module uWSGI's ``spooler-import`` names;
``autodiscover(["myapp", "billing"])`` imports ``<package>.tasks`` for each package that has one
(what a framework integration calls with its installed apps). Run one by name on demand with
``run_scheduled("NightlyReport")`` (``spoolrt run NightlyReport``).

The class is instantiated once when it is defined, to read its schedule (so a mistake fails at
import), and once per run; ``__init__`` should do nothing but call ``schedule()``. Each slot is
spooled as an ordinary task; in the spooler a fresh instance gets ``slot`` (the UTC slot time,
None when run on demand) and ``run()`` is called. What ``run()`` returns is the task's result,
an exception retries it (``retries``, ``retry_delay``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from spoolrt.api.schedules.decorators import register
from spoolrt.api.schedules.slots import MissedSlotPolicy, MissedSlots
from spoolrt.api.schedules.timing import CronField, Schedule, cron, periodic
from spoolrt.core.errors import InvalidTaskOption
from spoolrt.core.options import TaskOptions

#: The module of a package that holds its tasks (Draco's ``tasks.py``).
TASKS_MODULE = "tasks"


class ScheduledTask:
    """A task class that runs on a schedule. Subclass it, call ``schedule()`` in ``__init__``
    (or set ``when``) and implement ``run()``.

    Class attributes, all optional: ``name`` (default ``module:qualname``; ``spoolrt run`` also
    accepts the bare class name), ``when`` (a ``Schedule`` or a crontab string, instead of
    calling ``schedule()``), ``missed`` (missed-slot policy, default "once"), and the task
    options ``spooler``, ``priority``, ``retries``, ``retry_delay``, ``results``, ``ttl`` (or all
    of them at once as ``options = TaskOptions(...)``).
    """

    name: ClassVar[str | None] = None
    when: ClassVar[Schedule | str | None] = None
    missed: ClassVar[MissedSlotPolicy | MissedSlots | str | None] = None
    spooler: ClassVar[str | None] = None
    priority: ClassVar[int | None] = None
    retries: ClassVar[int | None] = None
    retry_delay: ClassVar[float | None] = None
    results: ClassVar[str | None] = None
    ttl: ClassVar[float | None] = None

    #: Built from the attributes above when the class is defined, unless the class sets it.
    options: ClassVar[TaskOptions] = TaskOptions()

    #: The slot this run is for (UTC), or None when run on demand. Set before ``run()``.
    slot: datetime | None = None

    _schedule: Schedule | None = None

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        if cls.run is ScheduledTask.run:
            raise TypeError(f"{cls.__qualname__} must implement run()")
        if "options" not in cls.__dict__:
            cls.options = TaskOptions(
                spooler=cls.spooler,
                priority=cls.priority,
                retries=cls.retries,
                retry_delay=cls.retry_delay,
                results=cls.results,
                ttl=cls.ttl,
            )
        schedule = cls._read_schedule()
        name = cls.name or f"{cls.__module__}:{cls.__qualname__}"
        register(name, schedule, cls, missed=cls.missed)

    @classmethod
    def _read_schedule(cls) -> Schedule:
        instance = cls()
        if instance._schedule is not None:
            return instance._schedule
        if isinstance(cls.when, Schedule):
            return cls.when
        if isinstance(cls.when, str):
            return cron(cls.when)
        raise InvalidTaskOption(
            f"{cls.__qualname__} has no schedule: call self.schedule(...) in __init__ "
            "or set `when` on the class"
        )

    def schedule(
        self,
        expression: str | None = None,
        *,
        seconds: int | float | None = None,
        start_now: bool = False,
        minute: CronField = None,
        hour: CronField = None,
        dom: CronField = None,
        month: CronField = None,
        dow: CronField = None,
        tz: str | tzinfo | None = None,
    ) -> None:
        """Say when this task runs: ``seconds=`` for an interval, else a crontab expression or
        Draco's keyword fields (``minute=0, hour=[9, 13], dow="mon-fri"``; omitted is ``*``)."""
        cron_given = expression is not None or any(
            value is not None for value in (minute, hour, dom, month, dow)
        )
        if seconds is not None:
            if cron_given:
                raise InvalidTaskOption("give seconds= or cron fields, not both")
            self._schedule = periodic(seconds, start_now=start_now)
        else:
            self._schedule = cron(
                expression, minutes=minute, hours=hour, dom=dom, months=month, dow=dow, tz=tz
            )

    def run(self) -> Any:
        """Do the work (subclasses implement it)."""
        raise NotImplementedError

    @classmethod
    def run_slot(cls, slot: datetime | None) -> Any:
        """Run once for ``slot`` (what the spooled slot task and ``run_scheduled`` call)."""
        task = cls()
        task.slot = slot
        return task.run()


def autodiscover(packages: Iterable[str], module: str = TASKS_MODULE) -> list[str]:
    """Import ``<package>.<module>`` for each package that has one; return the names imported.

    A package without that module is skipped; an error raised while importing one that exists
    is not hidden.
    """
    imported: list[str] = []
    for package in packages:
        target = f"{package}.{module}"
        try:
            importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name != target:
                raise
            continue
        imported.append(target)
    return imported


__all__ = ["TASKS_MODULE", "ScheduledTask", "autodiscover"]
