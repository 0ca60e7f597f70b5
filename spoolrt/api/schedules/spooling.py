"""One slot of a schedule as one spooled task, and running that task in the spooler.

A function's slot is spooled as an ordinary call of that function, so retries, signing, results
and inspection work as for any task. Any other target (a ``ScheduledTask`` class, a web task) is
spooled as a ``SCHEDULED_TYPE_ID`` task that finds its entry again by name in the spooler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from spoolrt.api.schedules.entries import ScheduledEntry, registry
from spoolrt.api.tasks import SpoolerTask, TaskFunction, message_for
from spoolrt.core.errors import UnknownTask
from spoolrt.core.options import NO_OPTIONS, SpoolerRef, TaskOptions
from spoolrt.sending.enqueue import enqueue
from spoolrt.sending.handle import TaskHandle

#: The task type a slot of a ``ScheduledTask`` class or a web task is spooled as.
SCHEDULED_TYPE_ID = "spoolrt.api.schedules.classes"


@runtime_checkable
class SlotRunner(Protocol):
    """A scheduled target other than a task function (a ``ScheduledTask`` class, a web task).

    Its slots are spooled as ``SCHEDULED_TYPE_ID`` tasks with its ``options`` attribute (a
    ``TaskOptions``) when it has one; in the spooler ``run_slot`` runs one.
    """

    def run_slot(self, slot: datetime | None) -> Any: ...


def target_options(target: object) -> TaskOptions:
    """The task options a scheduled target spools with."""
    options = getattr(target, "options", NO_OPTIONS)
    return options if isinstance(options, TaskOptions) else NO_OPTIONS


def spool_entry(
    entry: ScheduledEntry,
    *,
    spooler: SpoolerRef | None = None,
    task_id: str | None = None,
    slot: datetime | None = None,
) -> TaskHandle:
    """Spool one run of ``entry`` (to ``spooler`` instead of its own, when given)."""
    target = entry.target
    options = target_options(target).merged(spooler=spooler)
    if isinstance(target, TaskFunction):
        return target.spool_call(options, task_id=task_id)
    return enqueue(
        options,
        type_id=SCHEDULED_TYPE_ID,
        message=message_for(SCHEDULED_TYPE_ID),
        name=entry.name,
        payload={"schedule": entry.name, "slot": None if slot is None else slot.isoformat()},
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


__all__ = [
    "SCHEDULED_TYPE_ID",
    "ScheduledRun",
    "SlotRunner",
    "run_target",
    "spool_entry",
    "target_options",
]
