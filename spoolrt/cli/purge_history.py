"""``spoolrt purge --status done|skipped|cancelled``: finished tasks' records, from the store.

A task that finished left no file; its record stays in the store until it expires (7 days by
default). This is the part of ``spoolrt purge`` that deletes such records sooner
(``spoolrt.observe.actions.purge_history`` -> ``ResultStore.purge``), counted first for the
confirmation, with the cut fixed at that moment: a task that finishes while the question waits
is not purged with the rest. Each store that lost records gets one audit line per status (who:
the OS user, ``"via": "cli"``, the count and the filter), not one line per record.

JSON (``"records"`` in ``purge --json``): ``[{"spooler": DIR, "status", "count"}]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spoolrt.cli._common import warn
from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.observe.actions import HistoryFilter, count_history, purge_history
from spoolrt.observe.history import store_of
from spoolrt.spooldir.audit import os_user, record_action


@dataclass(frozen=True)
class Selected:
    """The records of one status in one spool directory's store that a purge would delete."""

    spooler: str
    chosen: HistoryFilter
    count: int


def select(
    dirs: Sequence[str], statuses: Sequence[str], *, task: str, before: float
) -> list[Selected]:
    """What ``statuses`` (of ``HISTORY_PURGEABLE``) with the ``task`` filter, finished before
    ``before``, match in each directory's store (none without a store; a failing store is
    warned about and left out)."""
    found: list[Selected] = []
    for spool_dir in dirs:
        with store_of(spool_dir) as store:
            if store is None:
                continue
            for status in statuses:
                chosen = HistoryFilter(TaskStatus.of(status), task=task, before=before)
                try:
                    count = count_history(store, chosen)
                except ResultStoreError as exc:
                    warn(f"cannot read the store of {spool_dir}: {exc}")
                    break
                if count:
                    found.append(Selected(spool_dir, chosen, count))
    return found


def describe(selected: Sequence[Selected]) -> str:
    """``12 record(s) from the store (10 done, 2 cancelled)`` for the confirmation."""
    counts: dict[str, int] = {}
    for s in selected:
        counts[s.chosen.status.value] = counts.get(s.chosen.status.value, 0) + s.count
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    return f"{sum(counts.values())} record(s) from the store ({parts})"


def purge(selected: Sequence[Selected], *, quiet: bool) -> list[dict[str, Any]]:
    """Delete what ``select`` found, audited; returns the ``"records"`` of ``--json``."""
    done: list[dict[str, Any]] = []
    for s in selected:
        with store_of(s.spooler) as store:
            if store is None:
                continue
            try:
                count = purge_history(store, s.chosen)
            except ResultStoreError as exc:
                warn(f"cannot purge the store of {s.spooler}: {exc}")
                continue
        status = s.chosen.status.value
        if count:
            record_action(
                s.spooler, os_user(), "purged", f"{count} {status} record(s)", count=count,
                filter=s.chosen.described(), via="cli",
            )  # fmt: skip
        done.append({"spooler": s.spooler, "status": status, "count": count})
        if not quiet:
            print(f"purged {count} {status} record(s) from {s.spooler}")
    return done
