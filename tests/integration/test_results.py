"""Results and status under real uWSGI: what a later request can learn about a task."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.support.uwsgi import UwsgiInstance, wait_for


def _status(instance: UwsgiInstance, task_id: str) -> dict:
    return instance.post("/status", {"id": task_id})


def test_a_later_request_reads_status_and_result(runtime: UwsgiInstance) -> None:
    handle = runtime.enqueue("coretasks:when", "soon", postpone=30)
    early = _status(runtime, handle["id"])
    assert early["known"] and early["status"] == "scheduled" and not early["ready"]

    handle = runtime.enqueue("coretasks:processed", "r1")
    done = wait_for(lambda: (s := _status(runtime, handle["id"]))["ready"] and s, what="done")
    assert done["status"] == "done"
    assert done["result"] == {"tag": "r1"}
    assert done["attempts"] == 1
    assert done["started_at"] <= done["finished_at"]


def test_failure_shows_error_and_traceback_after_retries(runtime: UwsgiInstance) -> None:
    handle = runtime.enqueue("coretasks:always_fails", "rf")  # retries=2
    retrying = wait_for(
        lambda: (s := _status(runtime, handle["id"]))["status"] == "retrying" and s,
        what="retrying status",
    )
    assert retrying["error"] == "RuntimeError: boom rf"
    failed = wait_for(
        lambda: (s := _status(runtime, handle["id"]))["ready"] and s, timeout=30, what="failed"
    )
    assert failed["status"] == "failed"
    assert failed["attempts"] == 3
    assert "RuntimeError: boom rf" in failed["traceback"]
    assert failed["result_error"] == "TaskFailed"


def test_status_only_tasks_keep_no_value(runtime: UwsgiInstance) -> None:
    handle = runtime.enqueue("coretasks:status_only", "s1")
    done = wait_for(lambda: (s := _status(runtime, handle["id"]))["ready"] and s, what="done")
    assert done["status"] == "done" and done["result"] is None


def test_ttl_expiry_forgets_the_result(runtime: UwsgiInstance) -> None:
    handle = runtime.enqueue("coretasks:short_lived", "ttl")  # ttl=1 s
    done = wait_for(lambda: (s := _status(runtime, handle["id"]))["ready"] and s, what="done")
    assert done["result"] == "ttl"
    wait_for(lambda: not _status(runtime, handle["id"])["known"], timeout=10, what="expiry")


def test_many_writers_and_readers_share_the_store(tmp_path: Path) -> None:
    """2,000 tasks through 2 spooler processes while 2 web workers poll statuses."""
    instance = UwsgiInstance("basic.ini", tmp_path, extra_args=("--spooler-processes", "2"))
    instance.start()
    try:
        handles = instance.post(
            "/enqueue", {"task": "coretasks:processed", "args": ["bulk"], "repeat": 2000}
        )
        ids = [h["id"] for h in handles]
        stop = threading.Event()
        polls: list[dict] = []
        failures: list[BaseException] = []

        def poll() -> None:
            try:
                while not stop.is_set():
                    polls.append(instance.post("/statuses", {"ids": ids[::50]}))
            except BaseException as exc:  # a reader's failure fails the test, not just its thread
                failures.append(exc)

        readers = [threading.Thread(target=poll) for _ in range(2)]
        for reader in readers:
            reader.start()
        try:
            wait_for(
                lambda: instance.post("/statuses", {"ids": ids}).get("done") == 2000,
                timeout=120,
                interval=0.5,
                what="2000 tasks done",
            )
        finally:
            stop.set()
            for reader in readers:
                reader.join(30)
        assert not failures, failures
        assert polls, "the readers never got an answer"
        # every id was spooled before the readers began: known at every moment of its life
        assert not [p for p in polls if "unknown" in p], [p for p in polls if "unknown" in p][:3]
        assert len({r["pid"] for r in instance.runs("processed")}) == 2
        assert len(instance.runs("processed")) == 2000
        log = instance.log()
        assert "database is locked" not in log
        assert "observer" not in log  # no store write failed in the dispatcher
    finally:
        instance.stop()
