"""Statuses accept their string values wherever a ``TaskStatus`` is accepted, and print as their
value (issue 14, item 3: the README's ``results().list(status="failed")`` raised ``TypeError``;
``str(handle.status)`` printed ``TaskStatus.DONE``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt.core.outcomes import Outcome, TaskStatus
from spoolrt.results import MemoryResultStore, ResultStore, SQLiteResultStore, TaskRecord


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStore]:
    made: ResultStore = (
        MemoryResultStore()
        if request.param == "memory"
        else SQLiteResultStore(tmp_path / "results.sqlite3", purge_interval=None)
    )
    for task_id in ("a", "b", "c"):
        made.enqueued(TaskRecord(task_id, name="app:job", spooler="/spool", max_attempts=1))
        made.started(task_id, 1)
    yield made
    made.close()


def test_status_prints_as_its_value() -> None:
    assert str(TaskStatus.DONE) == "done"
    assert f"{TaskStatus.FAILED}" == "failed"
    assert str(Outcome.PROCESSED) == "processed"


def test_status_of_accepts_values_and_members_and_names_the_valid_ones() -> None:
    assert TaskStatus.of("failed") is TaskStatus.FAILED
    assert TaskStatus.of(" Failed ") is TaskStatus.FAILED
    assert TaskStatus.of(TaskStatus.DONE) is TaskStatus.DONE
    with pytest.raises(ValueError, match="'failde' is not a task status; one of queued, sch"):
        TaskStatus.of("failde")


def test_finished_and_list_take_status_strings(store: ResultStore) -> None:
    assert store.finished("a", "failed", error="boom")
    assert store.finished("b", "done")
    failed = store.list(status="failed")
    assert [r.task_id for r in failed] == ["a"]
    assert failed[0].status is TaskStatus.FAILED
    both = store.list(status=["failed", TaskStatus.DONE])
    assert sorted(r.task_id for r in both) == ["a", "b"]


def test_list_refuses_an_unknown_status_string(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="'broken' is not a task status"):
        store.list(status="broken")
