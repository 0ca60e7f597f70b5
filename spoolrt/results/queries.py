"""Values of the store's queries (``ResultStore.query`` and ``ResultStore.timings``), and the
arithmetic every store shares, so that two stores asked the same question give the same answer.

A record's *activity time* is when it last changed as far as its times say: ``finished_at``,
else ``started_at``, else ``enqueued_at``, else ``scheduled_for``. It is what ``query``'s time
window and its newest-first order are about: "what happened in the last hour" means finished,
or started, or enqueued in that hour.

Percentiles are nearest-rank (the smallest value with at least p % of the values at or below
it): exact, the same in SQL and Python, and never a value that did not occur.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spoolrt.core.outcomes import TaskStatus

__all__ = ["Spread", "TaskTimings", "activity_at", "in_window", "spread", "timings_of"]


@dataclass(frozen=True, slots=True)
class Spread:
    """How a set of durations (seconds) spreads: how many, median, 95th percentile, largest.
    The three figures are None when ``count`` is 0."""

    count: int = 0
    p50: float | None = None
    p95: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class TaskTimings:
    """Run and wait times of one task name's finished records over a window.

    ``run`` is ``finished_at - started_at`` of the last attempt; ``wait`` is how long it waited
    once due: ``started_at - max(enqueued_at, scheduled_for)``, never below 0. ``finished`` counts
    every final record of the window, those without the times included.
    """

    name: str | None
    finished: int
    run: Spread
    wait: Spread


def activity_at(
    finished_at: float | None,
    started_at: float | None,
    enqueued_at: float | None,
    scheduled_for: float | None,
) -> float:
    for value in (finished_at, started_at, enqueued_at, scheduled_for):
        if value is not None:
            return value
    return 0.0


def in_window(at: float, since: float | None, until: float | None) -> bool:
    """``since <= at < until``, an open end where None."""
    return (since is None or at >= since) and (until is None or at < until)


def _rank(ordered: Sequence[float], fraction: float) -> float:
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def spread(values: Iterable[float]) -> Spread:
    ordered = sorted(values)
    if not ordered:
        return Spread()
    return Spread(len(ordered), _rank(ordered, 0.5), _rank(ordered, 0.95), ordered[-1])


def timings_of(
    rows: Iterable[tuple[str | None, float | None, float | None, float | None, float | None]],
) -> dict[str | None, TaskTimings]:
    """``TaskTimings`` by name from ``(name, started_at, finished_at, enqueued_at,
    scheduled_for)`` of the final records of a window."""
    runs: dict[str | None, list[float]] = {}
    waits: dict[str | None, list[float]] = {}
    finished: dict[str | None, int] = {}
    for name, started, ended, enqueued, scheduled in rows:
        finished[name] = finished.get(name, 0) + 1
        if started is None:
            continue
        if ended is not None:
            runs.setdefault(name, []).append(max(0.0, ended - started))
        due = max((t for t in (enqueued, scheduled) if t is not None), default=None)
        if due is not None:
            waits.setdefault(name, []).append(max(0.0, started - due))
    return {
        name: TaskTimings(name, count, spread(runs.get(name, ())), spread(waits.get(name, ())))
        for name, count in finished.items()
    }


def check_page(limit: int, offset: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit!r}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, not {offset!r}")


FINAL_VALUES = tuple(sorted(s.value for s in TaskStatus if s.is_final))
