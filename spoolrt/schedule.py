"""Periodic and cron tasks in the runtime: each due slot of a schedule becomes one spool task.

``spoolrt.scheduling`` holds the pure parts (when a schedule fires, which slots are due after
downtime, which process wins a slot). This module adds what needs the runtime:

- ``registry``: the process-wide ``ScheduleRegistry`` that ``@Spooler.periodic``,
  ``@Spooler.cron``, ``ScheduledTask`` subclasses and ``web_task`` fill at import time;
- ``tick()``: claims the slots that are due and spools one ordinary task per slot won, with the
  slot's key (``slot_key``) as its task id, so retries, signing, results and inspection work
  as for any task. Claims live in ``<spool dir>/.spoolrt/schedule/``, shared by every process
  and every uWSGI instance on that directory, which is what makes a slot run once;
- ``find_scheduled(name)`` and ``run_scheduled(name)``: one scheduled task on demand
  (``spoolrt run NAME``).

Who calls ``tick()``: under uWSGI a timer signal from the master, delivered to one spooler
process each second (``spoolrt.schedule_uwsgi``); outside uWSGI the pure-Python worker, once
per loop. A slot is claimed before its task is written, so a crash between the two loses that
one slot (logged), and never runs it twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidTaskOption, SpoolrtError, UnknownTask
from .handle import TaskHandle
from .options import check_delay, check_priority, check_retries
from .scheduling import (
    CronField,
    MissedSlotPolicy,
    MissedSlots,
    Schedule,
    ScheduledEntry,
    ScheduleRegistry,
    ScheduleTicker,
    SlotClaims,
    cron,
    periodic,
)
from .spooldir import area_dir
from .spooler import Spooler
from .tasks import FunctionCallTask, SpoolerTask, TaskFunction

log = logging.getLogger("spoolrt.schedule")

#: Where slot claims live, under spoolrt's state directory of each spool directory.
CLAIMS_AREA = "schedule"

#: The task type a slot of a ``ScheduledTask`` class or a web task is spooled as.
SCHEDULED_TYPE_ID = "spoolrt.scheduled"

Missed = MissedSlotPolicy | MissedSlots | str | None

#: Every schedule of this process, by name.
registry = ScheduleRegistry()


@runtime_checkable
class SlotRunner(Protocol):
    """A scheduled target other than a task function (a ``ScheduledTask`` class, a web task).

    Its slots are spooled as ``SCHEDULED_TYPE_ID`` tasks; in the spooler ``run_slot`` runs one.
    ``spooler``, ``priority``, ``retries`` and ``retry_delay`` are read as task options.
    """

    def run_slot(self, slot: datetime | None) -> Any: ...


def claims_dir(spool_dir: str | os.PathLike[str]) -> str:
    return str(area_dir(spool_dir, CLAIMS_AREA))


# --- registering ----------------------------------------------------------------------------


def check_task_options(
    priority: int | None, retries: int | None, retry_delay: float | None
) -> None:
    """The ``task`` decorator's checks, so a bad option fails at decoration, not at a slot."""
    check_priority(priority)
    if retries is not None:
        check_retries(retries)
    if retry_delay is not None:
        check_delay(retry_delay)


def register(
    name: str,
    schedule: Schedule,
    target: object,
    *,
    missed: Missed = None,
    identity: str | None = None,
) -> ScheduledEntry | None:
    """Add ``target`` to the process-wide registry; the driver starts ticking if it can.

    Returns None, registering nothing, when the same definition is already scheduled under the
    name it got from another spelling of its module (a tasks module imported both as
    ``app.tasks`` and as ``tasks``): two names would claim their slots apart and run twice.
    """
    twin = _same_definition_elsewhere(name, target)
    if twin is not None:
        log.warning(
            "spoolrt: %r is the same definition as the scheduled %r (its module was imported "
            "under two names); keeping only %r so each slot runs once",
            name,
            twin.name,
            twin.name,
        )
        return None
    entry = registry.register(name, schedule, target, policy=missed, identity=identity)
    from .schedule_uwsgi import ensure_ticking

    ensure_ticking()
    return entry


def _same_definition_elsewhere(name: str, target: object) -> ScheduledEntry | None:
    """An entry under another derived name whose target was defined at the same place."""
    where = _defined_at(target)
    if where is None or name != _derived_name(target):
        return None
    for entry in registry:
        derived = entry.name == _derived_name(entry.target)
        if entry.name != name and derived and _defined_at(entry.target) == where:
            return entry
    return None


def _derived_name(target: object) -> str:
    inner = getattr(target, "func", target)
    return f"{getattr(inner, '__module__', '')}:{getattr(inner, '__qualname__', '')}"


def _defined_at(target: object) -> tuple[str, str] | None:
    """File and qualname of a function or class, the same however its module was named."""
    inner = getattr(target, "func", target)
    qualname = getattr(inner, "__qualname__", None)
    code = getattr(inner, "__code__", None)
    if code is not None:
        filename = code.co_filename
    else:
        import sys

        module = sys.modules.get(getattr(inner, "__module__", ""), None)
        filename = getattr(module, "__file__", None)
    if not isinstance(qualname, str) or "<" in qualname or not filename:
        return None
    return os.path.realpath(filename), qualname


def schedule_function(
    func: Any,
    schedule: Schedule,
    *,
    spooler: Spooler | None,
    name: str | None,
    missed: Missed,
    priority: int | None,
    retries: int | None,
    retry_delay: float | None,
) -> TaskFunction[Any, Any]:
    """The decorators' common part: make ``func`` a task (unless it is one) and schedule it."""
    MissedSlotPolicy.of(missed)  # a bad policy fails here, before anything is registered
    if isinstance(func, TaskFunction):
        if any(option is not None for option in (priority, retries, retry_delay)):
            raise InvalidTaskOption(
                f"{func!r} is already a task: give priority/retries/retry_delay to its "
                "@task decorator, or drop @task and give them here"
            )
        if spooler is not None and func.spooler is not None and func.spooler != spooler:
            raise InvalidTaskOption(
                f"{func!r} spools to {func.spooler}, its schedule to {spooler}: choose one"
            )
        if spooler is not None and func.spooler is None:
            func.spooler = spooler
        task = func
    elif callable(func):
        check_task_options(priority, retries, retry_delay)
        task = TaskFunction(
            func,
            spooler=spooler,
            name=name,
            priority=priority,
            retries=retries,
            retry_delay=retry_delay,
        )
    else:
        raise TypeError(f"only a function can be scheduled, got {func!r}")
    register(name or task.name, schedule, task, missed=missed)
    return task


class PeriodicDecorator:
    """``@Spooler.periodic(...)`` / ``@spooler.periodic(...)`` (see ``__call__``)."""

    def __init__(self, spooler: Spooler | None) -> None:
        self.spooler = spooler

    def __call__(
        self,
        *,
        seconds: int | float | timedelta,
        start_now: bool = False,
        missed: Missed = None,
        name: str | None = None,
        priority: int | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
    ) -> Any:
        """Run the function every ``seconds``, once per slot however many processes tick.

        Slots are aligned to the epoch (``seconds=60`` fires at each whole minute), so every
        process and instance agrees on them. A new schedule waits for its first slot unless
        ``start_now``. ``missed`` says what to do with slots that passed while nothing ticked:
        ``"once"`` (default: the newest runs once), ``"all"`` (each, up to a limit) or
        ``"skip"``; a ``MissedSlotPolicy`` sets the limit and grace. ``name`` (default
        ``module:qualname``) names the task and the schedule. The rest are ``task`` options.
        """
        schedule = periodic(seconds, start_now=start_now)
        return _decorator(schedule, self.spooler, name, missed, priority, retries, retry_delay)


class CronDecorator:
    """``@Spooler.cron(...)`` / ``@spooler.cron(...)`` (see ``__call__``)."""

    def __init__(self, spooler: Spooler | None) -> None:
        self.spooler = spooler

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
        priority: int | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
    ) -> Any:
        """Run the function at the times of a crontab expression, read in zone ``tz``.

        ``"*/15 9-17 * * mon-fri"``, or the keyword form ``minutes=0, hours=range(9, 18),
        dow="mon-fri"`` (ints, lists, ranges or one field's text; omitted fields are ``*``).
        Cron's rule holds: with both day-of-month and day-of-week restricted, either matching
        runs. ``missed``, ``name`` and the task options are as for ``periodic``.
        """
        schedule = cron(
            expression, minutes=minutes, hours=hours, dom=dom, months=months, dow=dow, tz=tz
        )
        return _decorator(schedule, self.spooler, name, missed, priority, retries, retry_delay)


def _decorator(
    schedule: Schedule,
    spooler: Spooler | None,
    name: str | None,
    missed: Missed,
    priority: int | None,
    retries: int | None,
    retry_delay: float | None,
) -> Callable[[Any], TaskFunction[Any, Any]]:
    """The decorator both ``periodic`` and ``cron`` return once their schedule is checked."""

    def decorate(func: Any) -> TaskFunction[Any, Any]:
        return schedule_function(
            func,
            schedule,
            spooler=spooler,
            name=name,
            missed=missed,
            priority=priority,
            retries=retries,
            retry_delay=retry_delay,
        )

    return decorate


# --- spooling one slot ----------------------------------------------------------------------


def spool_entry(
    entry: ScheduledEntry,
    *,
    spooler: Spooler | None = None,
    task_id: str | None = None,
    slot: datetime | None = None,
) -> TaskHandle:
    """Spool one run of ``entry``: a function as its own task, anything else as a
    ``SCHEDULED_TYPE_ID`` task that finds the entry by name in the spooler."""
    target = entry.target
    where = spooler or Spooler.resolve(getattr(target, "spooler", None))
    if isinstance(target, TaskFunction):
        # The envelope options of the task (results=, ttl=), when it has any.
        options = getattr(target, "options", None)
        extra: dict[str, Any] = {"options": options} if options else {}
        return where.enqueue(
            type_id=FunctionCallTask.type_id,
            message=f"ucfg_{FunctionCallTask.type_id}",
            name=target.name,
            payload={"func": target.name, "arg": (), "kwg": {}},
            priority=target.priority,
            retries=target.retries,
            retry_delay=target.retry_delay,
            task_id=task_id,
            **extra,
        )
    return where.enqueue(
        type_id=SCHEDULED_TYPE_ID,
        message=f"ucfg_{SCHEDULED_TYPE_ID}",
        name=entry.name,
        payload={"schedule": entry.name, "slot": None if slot is None else slot.isoformat()},
        priority=getattr(target, "priority", None),
        retries=getattr(target, "retries", None),
        retry_delay=getattr(target, "retry_delay", None),
        task_id=task_id,
    )


def run_target(entry: ScheduledEntry, slot: datetime | None = None) -> Any:
    """Run ``entry`` here and now, as its slot task would in the spooler."""
    target = entry.target
    if isinstance(target, TaskFunction):
        return target.func()
    if isinstance(target, SlotRunner):
        return target.run_slot(slot)
    raise UnknownTask(f"schedule {entry.name!r} has a target spoolrt cannot run: {target!r}")


class ScheduledRun(SpoolerTask):
    """The spooled slot of a ``ScheduledTask`` class or a web task. Payload: schedule, slot."""

    type_id = SCHEDULED_TYPE_ID

    def process(self) -> Any:
        payload = self.payload if isinstance(self.payload, dict) else {}
        name = payload.get("schedule")
        if not isinstance(name, str) or name not in registry:
            raise UnknownTask(
                f"no schedule {name!r} in this process: is the module defining it imported in "
                "the spooler (spooler-import)?"
            )
        slot = payload.get("slot")
        return run_target(registry.get(name), datetime.fromisoformat(slot) if slot else None)


# --- ticking --------------------------------------------------------------------------------


class ScheduleDriver:
    """Ticks a registry: claims due slots next to each target spool directory and spools one
    task per slot this process won. One per process (``driver``); thread-safe.

    Entries are grouped by the spool directory their tasks go to, and each directory has its
    own ``ScheduleTicker`` over ``<dir>/.spoolrt/schedule``: instances that share a directory
    share its claims, whatever their other spoolers are.
    """

    def __init__(self, registry: ScheduleRegistry) -> None:
        self.registry = registry
        self._tickers: dict[str, ScheduleTicker] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._reported: set[tuple[str, str]] = set()

    def tick(self, now: datetime | None = None) -> list[TaskHandle]:
        """Spool the slots due at ``now`` (default: the clock) that this process won."""
        if self._pid != os.getpid():  # forked while another thread may have held the lock
            self._pid, self._lock = os.getpid(), threading.Lock()
        with self._lock:
            handles: list[TaskHandle] = []
            for spool_dir, view in self._views().items():
                ticker = self._tickers.get(spool_dir)
                if ticker is None:
                    ticker = ScheduleTicker(view, SlotClaims(claims_dir(spool_dir)), started_at=now)
                    self._tickers[spool_dir] = ticker
                ticker.registry = view
                target = Spooler(spool_dir)
                for due in ticker.tick(now):
                    try:
                        handles.append(
                            spool_entry(due.entry, spooler=target, task_id=due.key, slot=due.slot)
                        )
                    except Exception:
                        log.exception(
                            "spoolrt: schedule %r: slot %s was claimed but its task could not "
                            "be spooled; this slot will not run",
                            due.name,
                            due.slot.isoformat(),
                        )
            return handles

    def _views(self) -> dict[str, ScheduleRegistry]:
        """The registry split by target spool directory (resolved each tick: cheap, and right
        after a reconfiguration)."""
        views: dict[str, ScheduleRegistry] = {}
        for entry in self.registry:
            try:
                spool_dir = Spooler.resolve(getattr(entry.target, "spooler", None)).dir
            except SpoolrtError as exc:
                self._report_once(entry.name, str(exc))
                continue
            view = views.setdefault(spool_dir, ScheduleRegistry())
            view.register(
                entry.name, entry.schedule, entry.target, policy=entry.policy, identity=entry.name
            )
        return views

    def _report_once(self, name: str, problem: str) -> None:
        if (name, problem) not in self._reported:
            self._reported.add((name, problem))
            log.error("spoolrt: schedule %r cannot run here: %s", name, problem)

    def next_wakeup(self) -> datetime | None:
        """The earliest next slot of any schedule ticked so far (None before the first tick)."""
        pending = [w for t in self._tickers.values() if (w := t.next_wakeup()) is not None]
        return min(pending) if pending else None


driver = ScheduleDriver(registry)


def tick(now: datetime | None = None) -> list[TaskHandle]:
    """Spool every slot due now that this process wins; call it about once a second.

    Cheap when nothing is due (a few comparisons per schedule), and safe to call from any
    number of processes at once: each slot is spooled by exactly one of them.
    """
    return driver.tick(now)


def next_wakeup() -> datetime | None:
    """When the next slot of any schedule comes due (a ticking loop may sleep until then, but
    no longer than a second: a module imported later can add a schedule)."""
    return driver.next_wakeup()


def seconds_until_wakeup(limit: float = 1.0) -> float:
    """How long a ticking loop may sleep: until ``next_wakeup()``, at most ``limit`` seconds."""
    wakeup = next_wakeup()
    if wakeup is None:
        return limit
    remaining = (wakeup - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, min(limit, remaining))


# --- on demand ------------------------------------------------------------------------------


def find_scheduled(name: str, *, modules: Iterable[str] = ()) -> ScheduledEntry:
    """The schedule called ``name``: its full name (``app.tasks:cleanup``, ``web:/ping``) or
    the part after the last ``:`` or ``.`` when that is unambiguous (``cleanup``, ``Nightly``).

    ``modules`` are imported first (the tasks modules, for a command run outside the app).
    Raises ``UnknownTask`` naming the schedules known, or the candidates when ambiguous.
    """
    import importlib

    for module in modules:
        importlib.import_module(module)
    if name in registry:
        return registry.get(name)
    matches = [entry for entry in registry if _short_name(entry.name) == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UnknownTask(
            f"{name!r} matches several schedules: {', '.join(e.name for e in matches)}; "
            "give the full name"
        )
    known = ", ".join(sorted(entry.name for entry in registry)) or "none (import your tasks)"
    raise UnknownTask(f"no scheduled task {name!r}; known: {known}")


def _short_name(full: str) -> str:
    tail = full.rsplit(":", 1)[-1]
    return tail.rsplit(".", 1)[-1]


def run_scheduled(name: str, *, spool: bool = False, modules: Iterable[str] = ()) -> Any:
    """Run one scheduled task by name now, outside its schedule (Draco's "run this task").

    Inline by default (returns what the task returns, raises what it raises); with
    ``spool=True`` it is spooled as an ordinary task and the ``TaskHandle`` returned. Claims
    are not touched: an on-demand run does not take the place of a slot.
    """
    entry = find_scheduled(name, modules=modules)
    if spool:
        return spool_entry(entry)
    return run_target(entry)


def scheduled_names() -> list[str]:
    """The names of every schedule in this process (``spoolrt run`` without a name)."""
    return sorted(entry.name for entry in registry)


__all__ = [
    "CLAIMS_AREA",
    "SCHEDULED_TYPE_ID",
    "CronDecorator",
    "PeriodicDecorator",
    "ScheduleDriver",
    "ScheduledRun",
    "SlotRunner",
    "driver",
    "find_scheduled",
    "next_wakeup",
    "register",
    "registry",
    "run_scheduled",
    "run_target",
    "scheduled_names",
    "seconds_until_wakeup",
    "spool_entry",
    "tick",
]
