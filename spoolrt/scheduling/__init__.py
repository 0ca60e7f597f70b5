"""Periodic and cron schedules, pure and process-safe: the layer under ``@spooler.periodic``.

- ``schedules``: when a schedule fires (``periodic(seconds)``, ``cron("*/15 9-17 * * mon-fri")``).
- ``slots``: which slots are due now after downtime (``due_slots``, ``MissedSlotPolicy``).
- ``claims``: exactly one process wins each slot (``SlotClaims``, ``slot_key``).
- ``registry``: schedules by name and the per-tick step a driver calls (``ScheduleTicker``).

Nothing here enqueues or imports uWSGI; the driver turns each ``DueSlot`` into a spool task.
"""

from __future__ import annotations

from .claims import DEFAULT_KEEP, DEFAULT_MIN_AGE, SlotClaims, name_token, slot_key
from .registry import (
    DueSlot,
    ScheduledEntry,
    ScheduleRegistry,
    ScheduleTicker,
    definition_keys,
)
from .schedules import (
    UTC,
    CronField,
    CronSchedule,
    IntervalSchedule,
    Schedule,
    cron,
    periodic,
    resolve_zone,
)
from .slots import (
    DEFAULT_CATCH_UP_LIMIT,
    DEFAULT_GRACE,
    MissedSlotPolicy,
    MissedSlots,
    due_slots,
)

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
]
