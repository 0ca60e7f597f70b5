"""``handle.cancel()`` inside a real uWSGI web worker, with a real spooler scanning the
directory once a second: the cancelled task's file is gone, its status is ``cancelled`` from
any process, and it never runs, while a task due later than it does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.uwsgi import UwsgiInstance, wait_for


@pytest.fixture
def uwsgi(tmp_path: Path) -> Iterator[UwsgiInstance]:
    instance = UwsgiInstance("basic.ini", tmp_path).start()
    try:
        yield instance
    finally:
        instance.stop()


def test_handle_cancel_takes_a_postponed_task_away_and_it_never_runs(
    uwsgi: UwsgiInstance,
) -> None:
    cancelled = uwsgi.post("/spool_and_cancel", {"tag": "gone", "postpone": 2})
    assert cancelled["cancelled"] and cancelled["code"] == "cancelled"
    assert cancelled["path"] and not os.path.exists(cancelled["path"])
    status = uwsgi.post("/status", {"id": cancelled["id"]})
    assert status["status"] == "cancelled" and status["ready"]

    by_id = uwsgi.enqueue("coretasks:when", "by-id", postpone=30)
    assert uwsgi.post("/status", {"id": by_id["id"]})["status"] == "scheduled"
    answer = uwsgi.post("/cancel", {"id": by_id["id"]})
    assert answer["cancelled"] and not os.path.exists(by_id["path"])
    assert uwsgi.post("/status", {"id": by_id["id"]})["status"] == "cancelled"
    again = uwsgi.post("/cancel", {"id": by_id["id"]})
    assert not again["cancelled"] and again["code"] == "finished"

    # A task due after the cancelled one runs: the spooler passed its due time without it.
    uwsgi.enqueue("coretasks:when", "later", postpone=3)
    uwsgi.wait_runs("when", 1, timeout=30, tag="later")
    assert [r["tag"] for r in uwsgi.runs("when")] == ["later"]
    wait_for(lambda: uwsgi.pending() == [], what="its file to go")  # removed after the run
