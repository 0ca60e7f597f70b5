"""The history helpers are thin calls to the store's queries: pages, windows and timings."""

from __future__ import annotations

import time

from spoolrt.core.outcomes import TaskStatus
from spoolrt.observe import history
from spoolrt.results import MemoryResultStore, TaskDescription

T0 = time.time() - 1000  # records expire a TTL after they finish: keep them recent


def store_with_runs() -> MemoryResultStore:
    """Five ``a`` runs finished at T0+10 .. T0+50 (run i seconds), one failed ``b`` at T0+60."""
    store = MemoryResultStore()
    for i in range(1, 6):
        store.finished(
            f"a{i}", TaskStatus.DONE, at=T0 + 10 * i, started_at=T0 + 10 * i - i,
            enqueued_at=T0, task=TaskDescription(name="a"),
        )  # fmt: skip
    store.finished(
        "b1", TaskStatus.FAILED, at=T0 + 60, started_at=T0 + 59, enqueued_at=T0,
        task=TaskDescription(name="b"),
    )  # fmt: skip
    return store


def test_history_pages_newest_first_and_says_when_more_follow() -> None:
    store = store_with_runs()
    first = history.history(store, limit=4)
    second = history.history(store, limit=4, offset=4)
    assert [r.task_id for r in first.records] == ["b1", "a5", "a4", "a3"] and first.more
    assert [r.task_id for r in second.records] == ["a2", "a1"] and not second.more


def test_history_since_and_status_narrow_the_page() -> None:
    store = store_with_runs()
    page = history.history(store, status=[TaskStatus.DONE], since=T0 + 30)
    assert [r.task_id for r in page.records] == ["a5", "a4", "a3"] and not page.more


def test_finished_since_keeps_what_finished_in_the_window() -> None:
    assert [r.task_id for r in history.finished(store_with_runs(), since=T0 + 45)] == ["b1", "a5"]


def test_timings_gives_p50_and_p95_per_name_sorted_by_name() -> None:
    found = history.timings(store_with_runs())
    assert [t.name for t in found] == ["a", "b"]
    assert (found[0].run.p50, found[0].run.p95, found[0].finished) == (3.0, 5.0, 5)
    assert found[1].run.count == 1 and found[1].run.p50 == 1.0
