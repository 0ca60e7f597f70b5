"""The registered schedules with their next runs and how their last run ended (``spoolrt
schedules``, the dashboard's schedules page and ``/api/schedules``), and running one now.

Schedules are defined in code, so only those registered in this process are known (import the
app: ``--app``, or the dashboard mounted in it). A last run is found in the result stores by
the slot task ids (``<schedule token>@<UTC stamp>``, see ``spoolrt.api.schedules.slot_key``).

Shape of ``describe()``::

    {"name": str, "schedule": str, "task": str, "next": [ISO time, ...],
     "last": {"id": str, "status": str, "finished_at": t|null, "error": str|null,
              "spooler": DIR} | null,
     "last_success": t|null, "recent": [slot id, ...]}

``recent`` holds the ids of the newest ``RECENT`` slots that ran (over all ``dirs``): the
pool-wide view compares them across nodes to find a slot fired twice (``observe.fanout``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from spoolrt.api.schedules import ScheduledEntry, registry, slot_key, spool_entry
from spoolrt.api.schedules.spooling import target_options
from spoolrt.core.errors import ResultStoreError
from spoolrt.observe.history import last_activity, last_success, schedule_runs, store_of
from spoolrt.sending.enqueue import resolve_spool_dir
from spoolrt.sending.handle import TaskHandle

#: How many of a schedule's newest slot ids ``describe`` lists (``recent``).
RECENT = 5

#: Told about a store that could not be read (its directory, the error); the rest still shows.
OnStoreError = Callable[[str, ResultStoreError], None]


def _ignore(_spool_dir: str, _exc: ResultStoreError) -> None:
    """The default: a broken store only loses its last runs, the schedules still show."""


def target_name(entry: ScheduledEntry) -> str:
    """The task a schedule runs, as a person reads it (a task's name, else module:qualname)."""
    target = entry.target
    name = getattr(target, "name", None)
    if isinstance(name, str):
        return name
    module, qualname = getattr(target, "__module__", "?"), getattr(target, "__qualname__", "?")
    return f"{module}:{qualname}"


def next_runs(entry: ScheduledEntry, count: int, now: datetime) -> list[datetime]:
    """The next ``count`` slots of ``entry`` after ``now``."""
    runs: list[datetime] = []
    moment = now
    for _ in range(max(0, count)):
        moment = entry.schedule.next_slot(moment)
        runs.append(moment)
    return runs


def describe(
    entry: ScheduledEntry,
    dirs: Sequence[str],
    count: int,
    now: datetime,
    on_error: OnStoreError = _ignore,
) -> dict[str, Any]:
    """One schedule as the shape above, its last run the newest over the stores of ``dirs``."""
    last: dict[str, Any] | None = None
    success: float | None = None
    recent: list[tuple[float, str]] = []
    for spool_dir in dirs:
        with store_of(spool_dir) as store:
            if store is None:
                continue
            try:
                runs = schedule_runs(store, entry.name, limit=RECENT)
                when = last_success(store, entry.name)
            except ResultStoreError as exc:
                on_error(spool_dir, exc)
                continue
        recent += [(last_activity(r) or 0.0, r.task_id) for r in runs]
        if when is not None:
            success = max(when, success or 0.0)
        if runs and (last is None or (last_activity(runs[0]) or 0.0) > last["_at"]):
            record = runs[0]
            last = {
                "id": record.task_id,
                "status": record.status.value,
                "finished_at": record.finished_at,
                "error": record.error,
                "spooler": spool_dir,
                "_at": last_activity(record) or 0.0,
            }
    if last is not None:
        del last["_at"]
    return {
        "name": entry.name,
        "schedule": str(entry.schedule),
        "task": target_name(entry),
        "next": [moment.isoformat() for moment in next_runs(entry, count, now)],
        "last": last,
        "last_success": success,
        "recent": [task_id for _, task_id in sorted(recent, reverse=True)[:RECENT]],
    }


def describe_all(
    dirs: Sequence[str], count: int = 3, on_error: OnStoreError = _ignore
) -> list[dict[str, Any]]:
    """Every registered schedule, described."""
    now = datetime.now(timezone.utc)
    return [describe(entry, dirs, count, now, on_error) for entry in registry]


def spool_dir_of(entry: ScheduledEntry) -> str:
    """The spool directory a slot of ``entry`` goes to (``SpoolrtError`` when unresolvable)."""
    return resolve_spool_dir(target_options(entry.target).spooler)


def run_now(name: str, now: datetime | None = None) -> TaskHandle:
    """Spool one run of schedule ``name`` now, outside its timetable (``KeyError``: unknown).

    Its id is a slot key of this second, so it shows as the schedule's last run (a second
    press within the same second reuses the id: the dispatcher skips an id already finished).
    """
    entry = registry.get(name)
    moment = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    return spool_entry(entry, task_id=slot_key(entry.name, moment), slot=moment)
