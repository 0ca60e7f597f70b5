"""A reader never sees a known task as unknown while a spooler finishes it.

The spooler moves a task on in this order: its file (and id-index entry) is there, the outcome is
written to the store, then the index entry and the file go. A reader that asks the store first
and the index second can fall between the two: the store had nothing yet, the index has nothing
any more. Found as a web worker's ``handle.status`` reading ``None`` for a task that was running
(CI, ``test_many_writers_and_readers_share_the_store``). The interleaving is forced here: the
outcome is written and the index entry dropped at the moment the reader asks the index.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Spooler, TaskStatus, configure
from spoolrt.api import spooler as spooler_module
from spoolrt.results.tracking import store_for
from spoolrt.sending import handle as handle_module
from spoolrt.spooldir.ids import forget, pending_status


@Spooler.task()
def raced_task(n: int) -> int:
    return n


def _finishing_when_asked(spool: str, task_id: str) -> Callable[[str, str], Any]:
    """``pending_status`` that first lets the spooler finish the task (outcome, then index)."""

    def ask(spool_dir: str, asked: str) -> Any:
        if asked == task_id:
            store = store_for(spool)
            assert store is not None
            store.finished(task_id, TaskStatus.DONE, attempt=1)
            forget(spool, task_id)
        return pending_status(spool_dir, asked)

    return ask


def test_handle_status_is_the_outcome_not_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(spool_dirs=[str(tmp_path)])
    handle = raced_task(1)
    rebuilt = Spooler.get_result(handle.task_id)
    assert rebuilt is not None and rebuilt.status is TaskStatus.QUEUED
    finishing = _finishing_when_asked(str(tmp_path), handle.task_id)
    monkeypatch.setattr(handle_module, "pending_status", finishing)
    assert rebuilt.status is TaskStatus.DONE


def test_get_result_finds_a_task_finishing_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(spool_dirs=[str(tmp_path)])
    handle = raced_task(2)
    finishing = _finishing_when_asked(str(tmp_path), handle.task_id)
    monkeypatch.setattr(spooler_module, "pending_status", finishing)
    found = Spooler.get_result(handle.task_id)
    assert found is not None and found.status is TaskStatus.DONE
