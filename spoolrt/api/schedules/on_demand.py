"""One scheduled task on demand, outside its schedule (Draco's "run this task now").

``spoolrt run NAME`` and ``run_scheduled(NAME)`` find a schedule by its full name or its short
one and run it inline or spool it; slot claims are not touched, so an on-demand run never takes
the place of a slot.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from spoolrt.api.schedules.entries import ScheduledEntry, registry
from spoolrt.api.schedules.spooling import run_target, spool_entry
from spoolrt.core.errors import UnknownTask


def find_scheduled(name: str, *, modules: Iterable[str] = ()) -> ScheduledEntry:
    """The schedule called ``name``: its full name (``app.tasks:cleanup``, ``web:/ping``) or
    the part after the last ``:`` or ``.`` when that is unambiguous (``cleanup``, ``Nightly``).

    ``modules`` are imported first (the tasks modules, for a command run outside the app).
    Raises ``UnknownTask`` naming the schedules known, or the candidates when ambiguous.
    """
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


__all__ = ["find_scheduled", "run_scheduled", "scheduled_names"]
