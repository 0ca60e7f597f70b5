"""Ticking: each slot that comes due is claimed once, by one process, and spooled as one task.

``tick()`` claims the slots that are due and spools one ordinary task per slot won, with the
slot's key (``slot_key``) as its task id. Claims live in ``<spool dir>/.spoolrt/schedule/``,
shared by every process and every uWSGI instance on that directory, which is what makes a slot
run once. A slot is claimed before its task is written, so a crash between the two loses that
one slot (logged), and never runs it twice.

Who calls ``tick()``: under uWSGI a timer signal from the master, delivered to one spooler
process each second (``spoolrt.runtime.ticker``); outside uWSGI the pure-Python worker, once
per loop.

Across nodes. Claims are per spool directory, so nodes with their own directories (a pool,
see "More than one machine") would each fire every slot. One node fires them: every other node
sets ``configure(scheduler=False)`` (``SPOOLRT_SCHEDULER=0``), and its ``tick()`` spools
nothing. Two nodes that both fire a schedule are shown by ``spoolrt schedules --node ...``,
which finds the same slot id on both (``spoolrt.observe.fanout``).
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timezone

from spoolrt.api.schedules.claims import SlotClaims
from spoolrt.api.schedules.entries import ScheduleRegistry, ScheduleTicker, registry
from spoolrt.api.schedules.spooling import spool_entry, target_options
from spoolrt.core.config import get_settings
from spoolrt.core.errors import SpoolrtError
from spoolrt.sending.enqueue import resolve_spool_dir
from spoolrt.sending.handle import TaskHandle
from spoolrt.spooldir.layout import area_dir

log = logging.getLogger("spoolrt.schedule")

#: Where slot claims live, under spoolrt's state directory of each spool directory.
CLAIMS_AREA = "schedule"


def claims_dir(spool_dir: str | os.PathLike[str]) -> str:
    return str(area_dir(spool_dir, CLAIMS_AREA))


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
        self._told_off = False

    def tick(self, now: datetime | None = None) -> list[TaskHandle]:
        """Spool the slots due at ``now`` (default: the clock) that this process won."""
        if self._pid != os.getpid():  # forked while another thread may have held the lock
            self._pid, self._lock = os.getpid(), threading.Lock()
        if not get_settings().scheduler:
            self._say_off()
            return []
        self._told_off = False
        with self._lock:
            handles: list[TaskHandle] = []
            for spool_dir, view in self._views().items():
                ticker = self._tickers.get(spool_dir)
                if ticker is None:
                    claims = SlotClaims(claims_dir(spool_dir))
                    ticker = ScheduleTicker(view, claims, started_at=now)
                    self._tickers[spool_dir] = ticker
                ticker.registry = view
                for due in ticker.tick(now):
                    try:
                        handles.append(
                            spool_entry(
                                due.entry, spooler=spool_dir, task_id=due.key, slot=due.slot
                            )
                        )
                    except Exception:
                        log.exception(
                            "schedule %r: slot %s was claimed but its task could not "
                            "be spooled; this slot will not run",
                            due.name,
                            due.slot.isoformat(),
                        )
            return handles

    def _say_off(self) -> None:
        """Once per switch: a node that fires nothing says so, for whoever wonders why."""
        if not self._told_off and len(self.registry):
            self._told_off = True
            log.info(
                "schedules are not fired in pid %d: scheduler=False (SPOOLRT_SCHEDULER=0); "
                "the pool's scheduler node fires them",
                os.getpid(),
            )

    def _views(self) -> dict[str, ScheduleRegistry]:
        """The registry split by target spool directory (resolved each tick: cheap, and right
        after a reconfiguration)."""
        views: dict[str, ScheduleRegistry] = {}
        for entry in self.registry:
            try:
                spool_dir = resolve_spool_dir(target_options(entry.target).spooler)
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
            log.error("schedule %r cannot run here: %s", name, problem)

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


__all__ = [
    "CLAIMS_AREA",
    "ScheduleDriver",
    "claims_dir",
    "driver",
    "next_wakeup",
    "seconds_until_wakeup",
    "tick",
]
