"""Everything about scheduled work: periodic and cron functions, Draco-style task classes and
web tasks, and how each slot that comes due becomes exactly one spooled task.

When:
- ``timing``: when a schedule fires (``periodic(seconds)``, ``cron("*/15 9-17 * * mon-fri")``);
- ``slots``: which slots are due now after downtime (``due_slots``, ``MissedSlotPolicy``).
What:
- ``registry``: schedules by name, and the per-tick step that claims due slots;
- ``decorators``: ``@Spooler.periodic``, ``@Spooler.cron``, and ``register`` for every kind;
- ``classes``: ``ScheduledTask`` (Draco's style); ``web``: paths of the app itself (Pulse's).
Once:
- ``claims``: exactly one process wins each slot (``SlotClaims``, ``slot_key``);
- ``spooling``: one slot as one task; ``driver``: ``tick()``; ``on_demand``: ``spoolrt run``.

Nothing here imports uWSGI: ``spoolrt.runtime.ticker`` and the worker call ``tick()``.
"""

from __future__ import annotations

from spoolrt.api.schedules.claims import (
    DEFAULT_KEEP,
    DEFAULT_MIN_AGE,
    SlotClaims,
    name_token,
    slot_key,
)
from spoolrt.api.schedules.classes import ScheduledTask, autodiscover
from spoolrt.api.schedules.decorators import CronDecorator, PeriodicDecorator, register
from spoolrt.api.schedules.entries import (
    DueSlot,
    ScheduledEntry,
    ScheduleRegistry,
    ScheduleTicker,
    definition_keys,
    registry,
)
from spoolrt.api.schedules.on_demand import find_scheduled, run_scheduled, scheduled_names
from spoolrt.api.schedules.slots import (
    DEFAULT_CATCH_UP_LIMIT,
    DEFAULT_GRACE,
    MissedSlotPolicy,
    MissedSlots,
    due_slots,
)
from spoolrt.api.schedules.spooling import (
    SCHEDULED_TYPE_ID,
    ScheduledRun,
    SlotRunner,
    run_target,
    spool_entry,
)
from spoolrt.api.schedules.ticking import (
    CLAIMS_AREA,
    ScheduleDriver,
    driver,
    next_wakeup,
    seconds_until_wakeup,
    tick,
)
from spoolrt.api.schedules.timing import (
    UTC,
    CronField,
    CronSchedule,
    IntervalSchedule,
    Schedule,
    cron,
    periodic,
    resolve_zone,
)
from spoolrt.api.schedules.web import web_task, web_tasks

__all__ = [
    # Schedules
    "UTC",
    "CronField",
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "cron",
    "periodic",
    "resolve_zone",
    # Missed slots
    "DEFAULT_CATCH_UP_LIMIT",
    "DEFAULT_GRACE",
    "MissedSlotPolicy",
    "MissedSlots",
    "due_slots",
    # Claims
    "DEFAULT_KEEP",
    "DEFAULT_MIN_AGE",
    "SlotClaims",
    "name_token",
    "slot_key",
    # Registry and ticking
    "DueSlot",
    "ScheduleRegistry",
    "ScheduleTicker",
    "ScheduledEntry",
    "definition_keys",
    "registry",
    # Defining schedules
    "CronDecorator",
    "PeriodicDecorator",
    "ScheduledTask",
    "autodiscover",
    "register",
    "web_task",
    "web_tasks",
    # Spooling slots, ticking, on demand
    "CLAIMS_AREA",
    "SCHEDULED_TYPE_ID",
    "ScheduleDriver",
    "ScheduledRun",
    "SlotRunner",
    "driver",
    "find_scheduled",
    "next_wakeup",
    "run_scheduled",
    "run_target",
    "scheduled_names",
    "seconds_until_wakeup",
    "spool_entry",
    "tick",
]
