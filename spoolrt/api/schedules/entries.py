"""Schedules by name, and the per-tick step that turns due slots into claimed ones.

The registry refuses two different callables under one name but accepts the same definition
registered again, because uWSGI's ``spooler-import`` can execute a tasks module a second time
in a process that already imported it.

``ScheduleTicker.tick(now)`` is all a driver (a uWSGI timer, the pure-Python worker's loop)
calls: it returns the slots this process won, and the driver enqueues one task for each.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from spoolrt.api.schedules.claims import SlotClaims, slot_key
from spoolrt.api.schedules.slots import MissedSlotPolicy, MissedSlots, due_slots
from spoolrt.api.schedules.timing import Schedule, as_utc
from spoolrt.core.errors import DuplicateTaskName
from spoolrt.core.registry import definition_site

logger = logging.getLogger("spoolrt.schedule")


def definition_keys(target: object) -> frozenset[str]:
    """Spellings of where ``target`` was defined; sharing one means "the same definition".

    ``module:qualname`` survives a module being executed again under its own name; the source
    file and line (``spoolrt.core.registry.definition_site``, the rule task names use too)
    survive it being executed under another name (``spooler-import = tasks.py``). Lambdas and
    local definitions have neither in a trustworthy form, so only the very same object may
    re-register under their name.
    """
    keys: set[str] = set()
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        keys.add(f"{module}:{qualname}")
        site = definition_site(target)
        if site is not None:
            keys.add(":".join(map(str, site)))
    return frozenset(keys)


@dataclass(frozen=True)
class ScheduledEntry:
    """One registered schedule: what to run (``target``), when, and how to treat missed slots."""

    name: str
    schedule: Schedule
    target: object
    policy: MissedSlotPolicy = field(default_factory=MissedSlotPolicy)
    identity: frozenset[str] = frozenset()


class ScheduleRegistry:
    """Scheduled entries by name, in registration order."""

    def __init__(self) -> None:
        self._entries: dict[str, ScheduledEntry] = {}

    def register(
        self,
        name: str,
        schedule: Schedule,
        target: object,
        *,
        policy: MissedSlotPolicy | MissedSlots | str | None = None,
        identity: str | None = None,
    ) -> ScheduledEntry:
        """Add ``target`` under ``name``, or replace the same definition registered before.

        ``identity`` overrides the derived one for targets that are instances (a web-path task
        object, say): give a string that is the same each time the defining module runs.
        Raises ``DuplicateTaskName`` when ``name`` belongs to a different definition.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a schedule name must be a non-empty str, got {name!r}")
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {schedule!r}")
        keys = frozenset({identity}) if identity is not None else definition_keys(target)
        entry = ScheduledEntry(name, schedule, target, MissedSlotPolicy.of(policy), keys)
        current = self._entries.get(name)
        if current is not None and current.target is not target and not current.identity & keys:
            raise DuplicateTaskName(
                f"schedule name {name!r} is already used by {current.target!r}; "
                f"give {target!r} another name (name=...)"
            )
        if current is not None and current.target is target and current.schedule != schedule:
            # The same object scheduled twice (stacked decorators): replacing would silently
            # drop one schedule. A re-executed module brings a new object, so it is not this.
            raise DuplicateTaskName(
                f"{target!r} is already scheduled as {name!r} ({current.schedule}); "
                f"give the schedule {schedule} its own name (name=...)"
            )
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def get(self, name: str) -> ScheduledEntry:
        """The entry called ``name``; ``KeyError`` lists the known names (for ``spoolrt run``)."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"no schedule named {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[ScheduledEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class DueSlot:
    """A slot this process claimed: enqueue ``entry.target`` for it, keyed by ``key``."""

    entry: ScheduledEntry
    slot: datetime
    key: str

    @property
    def name(self) -> str:
        return self.entry.name


class ScheduleTicker:
    """Finds due slots of every registered schedule and claims them, once per call to ``tick``.

    One per process. It reads the shared markers only when a schedule's next slot has come, so
    a tick with nothing due costs a few comparisons per schedule. Not thread-safe.
    """

    def __init__(
        self,
        registry: ScheduleRegistry,
        claims: SlotClaims,
        *,
        started_at: datetime | None = None,
    ) -> None:
        self.registry = registry
        self.claims = claims
        self.started_at = _utc_now() if started_at is None else as_utc(started_at, "started_at")
        self._next_check: dict[str, tuple[Schedule, datetime]] = {}

    def tick(self, now: datetime | None = None) -> list[DueSlot]:
        """Claim the slots due at ``now`` (default: the clock); return the ones this process won.

        A failure in one schedule (say, an unwritable directory) is logged and retried next
        tick; it does not hold up the others.
        """
        moment = _utc_now() if now is None else as_utc(now, "now")
        won: list[DueSlot] = []
        for entry in self.registry:
            cached = self._next_check.get(entry.name)
            if cached is not None and cached[0] == entry.schedule and moment < cached[1]:
                continue
            try:
                # Collected one by one, so a slot already claimed is returned even if a later
                # claim of the same schedule fails.
                for due in self._claim_due(entry, moment):
                    won.append(due)
                self._next_check[entry.name] = (entry.schedule, entry.schedule.next_slot(moment))
            except Exception:
                logger.exception("schedule %r: could not check or claim its slots", entry.name)
        return won

    def _claim_due(self, entry: ScheduledEntry, now: datetime) -> Iterator[DueSlot]:
        last = self.claims.last_claimed(entry.name)
        slots = due_slots(
            entry.schedule, last=last, now=now, since=self.started_at, policy=entry.policy
        )
        for slot in slots:
            if self.claims.claim(entry.name, slot):
                yield DueSlot(entry, slot, slot_key(entry.name, slot))

    def next_wakeup(self) -> datetime | None:
        """When the next slot of any schedule seen so far comes due (a driver may sleep until)."""
        pending = [when for _, when in self._next_check.values()]
        return min(pending) if pending else None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


#: Every schedule of this process, by name: ``@Spooler.periodic``, ``@Spooler.cron``,
#: ``ScheduledTask`` subclasses and ``web_task`` fill it at import time.
registry = ScheduleRegistry()
