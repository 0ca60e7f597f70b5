"""The core runtime's behaviour, end to end: a real request enqueues, a real spooler runs, and
the outcome is checked on disk. Parametrised over runtimes (see conftest.RUNTIMES)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from typing import Any

import pytest

from spoolrt.spooldir.slots import read_slot, running_tasks, slot_paths
from tests.support.uwsgi import UwsgiInstance, wait_for


def test_processed_task_runs_once_and_its_file_is_removed(runtime: UwsgiInstance) -> None:
    handle = runtime.enqueue("coretasks:processed", "p1")
    assert handle["path"].startswith(str(runtime.spool_dir))
    runtime.wait_runs("processed", 1, tag="p1")
    wait_for(lambda: runtime.pending() == [], what="spool dir to empty")
    assert len(runtime.runs("processed")) == 1
    assert runtime.area("failed") == [] and runtime.area("quarantine") == []


def test_task_returning_none_is_skipped_not_rerun(runtime: UwsgiInstance) -> None:
    # uwsgiconf maps None to SPOOL_IGNORE, which uWSGI re-runs at every scan, forever.
    runtime.enqueue("coretasks:returns_none", "n1")
    runtime.wait_runs("returns_none", 1)
    wait_for(lambda: runtime.pending() == [], what="skipped task's file to go")
    # Were it still looping, a file would remain and runs would keep growing; a later task
    # proves at least one more scan happened.
    runtime.enqueue("coretasks:processed", "after-none")
    runtime.wait_runs("processed", 1, tag="after-none")
    assert len(runtime.runs("returns_none")) == 1


@pytest.mark.parametrize("kind", ["processed", "skipped"])
def test_explicit_final_results_remove_the_file(runtime: UwsgiInstance, kind: str) -> None:
    runtime.enqueue("coretasks:explicit", kind, kind)
    runtime.wait_runs("explicit", 1, kind=kind)
    wait_for(lambda: runtime.pending() == [], what="file to go")
    assert runtime.area("failed") == []


def test_explicit_reschedule_counts_as_an_attempt_and_ends_failed(runtime: UwsgiInstance) -> None:
    runtime.enqueue("coretasks:explicit", "r", "rescheduled")
    # default retries = 3: four runs in all, then the failed area (delays 1, 2, 4 s at most)
    runtime.wait_runs("explicit", 4, timeout=30, kind="rescheduled")
    wait_for(lambda: runtime.area("failed"), timeout=10, what="failed copy")
    wait_for(lambda: runtime.pending() == [], what="the original file to go")


def test_exception_is_retried_with_growing_delay_then_kept_failed(runtime: UwsgiInstance) -> None:
    runtime.enqueue("coretasks:always_fails", "f1")  # retries=2, retry_delay=1
    runs = runtime.wait_runs("always_fails", 3, timeout=30)
    assert [r["attempt"] for r in runs] == [1, 2, 3]
    first_gap, second_gap = runs[1]["t"] - runs[0]["t"], runs[2]["t"] - runs[1]["t"]
    # backoff: attempt 1 waits 0.5-1 s, attempt 2 waits 1-2 s (jittered, whole-second rounding up)
    assert first_gap >= 0.5
    assert second_gap >= 1.0
    failed = wait_for(lambda: runtime.area("failed"), timeout=10, what="failed copy")
    record = json.loads((failed[0].parent / (failed[0].name + ".json")).read_text())
    assert record["reason"] == "retries-exhausted"
    assert record["attempts"] == 3
    assert "RuntimeError: boom f1" in record["traceback"]
    # the copy is kept before the spooler removes the original: give it that moment
    wait_for(lambda: runtime.pending() == [], what="the original file to go")
    assert len(runtime.runs("always_fails")) == 3


def test_transient_failure_recovers_within_retries(runtime: UwsgiInstance) -> None:
    runtime.enqueue("coretasks:fails_then_works", "t1", 2)
    runs = runtime.wait_runs("fails_then_works", 3, timeout=30)
    assert [r["n"] for r in runs] == [1, 2, 3]
    wait_for(lambda: runtime.pending() == [], what="file to go")
    assert runtime.area("failed") == []


def test_postponed_task_does_not_run_early(runtime: UwsgiInstance) -> None:
    before = time.time()
    runtime.enqueue("coretasks:when", "later", postpone=2)
    runtime.enqueue("coretasks:when", "at", postpone={"at": before + 3})
    runtime.enqueue("coretasks:when", "delta", postpone={"delta": 2})
    rows = runtime.wait_runs("when", 3, timeout=20)
    by_tag = {r["tag"]: r["t"] for r in rows}
    assert by_tag["later"] >= before + 2
    assert by_tag["delta"] >= before + 2
    assert by_tag["at"] >= before + 3


def test_naive_datetime_is_refused_at_the_call_site(runtime: UwsgiInstance) -> None:
    status, body = runtime.request(
        "/enqueue",
        {"task": "coretasks:when", "args": ["naive"], "postpone": {"naive_at": time.time() + 5}},
    )
    assert status == 400 and body["error"] == "InvalidTaskOption"
    assert "naive" in body["message"]
    assert runtime.pending() == []


def test_priority_without_spooler_ordered_is_refused(runtime: UwsgiInstance) -> None:
    if not isinstance(runtime, UwsgiInstance):
        pytest.skip("spooler-ordered is a uWSGI option")
    status, body = runtime.request(
        "/enqueue", {"task": "coretasks:ordered", "args": ["x"], "priority": 1}
    )
    assert status == 400 and body["error"] == "ConfigurationError"
    assert "spooler-ordered" in body["message"]
    assert runtime.pending() == []


def test_unpicklable_argument_fails_at_the_call_site(runtime: UwsgiInstance) -> None:
    status, body = runtime.request("/unpicklable", {})
    assert status == 400 and body["error"] == "SerializationError"
    assert runtime.pending() == []


def test_one_mebibyte_argument_arrives_intact(runtime: UwsgiInstance) -> None:
    runtime.enqueue("coretasks:blob", {"bytes": "ab", "times": 512 * 1024})
    (row,) = runtime.wait_runs("blob", 1)
    assert row["size"] == 1024 * 1024
    assert row["sha"] == hashlib.sha256(b"ab" * 512 * 1024).hexdigest()


def test_same_function_name_in_two_modules_runs_each_one(runtime: UwsgiInstance) -> None:
    a = runtime.enqueue("tasks_a:dup", "x")
    b = runtime.enqueue("tasks_b:dup", "y")
    assert (a["name"], b["name"]) == ("tasks_a:dup", "tasks_b:dup")
    rows = runtime.wait_runs("dup", 2)
    assert sorted((r["module"], r["tag"]) for r in rows) == [("tasks_a", "x"), ("tasks_b", "y")]


def test_raw_message_reaches_its_spooler_task_type(runtime: UwsgiInstance) -> None:
    runtime.post("/raw", {"message": "ucfg_greeting", "payload": {"hello": "world"}})
    (row,) = runtime.wait_runs("greeting", 1)
    assert row["payload"] == {"hello": "world"}
    assert row["message"] == "ucfg_greeting"
    wait_for(lambda: runtime.pending() == [], what="file to go")


def test_raw_message_without_handler_is_quarantined(runtime: UwsgiInstance) -> None:
    runtime.post("/raw", {"message": "nobody handles this", "payload": 1})
    kept = wait_for(lambda: runtime.area("quarantine"), what="quarantined copy")
    record = json.loads((kept[0].parent / (kept[0].name + ".json")).read_text())
    assert record["reason"] == "unknown-type"
    wait_for(lambda: runtime.pending() == [], what="the original file to go")


def test_foreign_spool_file_is_moved_aside_not_looped(runtime: UwsgiInstance) -> None:
    if not isinstance(runtime, UwsgiInstance):
        pytest.skip("written with uwsgi.spool")
    runtime.post("/foreign", {"value": "hello"})
    kept = wait_for(lambda: runtime.area("quarantine"), what="quarantined copy")
    record = json.loads((kept[0].parent / (kept[0].name + ".json")).read_text())
    assert record["reason"] == "foreign"
    assert b"hello" in kept[0].read_bytes()
    wait_for(lambda: runtime.pending() == [], what="original to go")
    runtime.enqueue("coretasks:processed", "after-foreign")
    runtime.wait_runs("processed", 1, tag="after-foreign")


def test_inspection_lists_and_decodes_pending_tasks(runtime: UwsgiInstance) -> None:
    handle = runtime.enqueue("coretasks:when", "inspect-me", postpone=30)
    listing = runtime.get("/spoolers")
    assert listing["spoolers"] == [os.path.realpath(runtime.spool_dir)]
    assert handle["path"] in listing["tasks"]
    assert all(pid > 0 for pid in listing["pids"])
    info = runtime.post("/read", {"path": handle["path"]})
    assert info["task_id"] == handle["id"]
    assert info["name"] == "coretasks:when"
    assert info["verified"] is True
    assert info["attempt"] == 1 and info["max_attempts"] == 4
    assert info["arguments"] == "('inspect-me')"
    assert info["at"] >= time.time() + 20


def test_killed_spooler_reruns_the_task_to_completion(runtime: UwsgiInstance) -> None:
    runtime.enqueue("coretasks:slow", "k1", 1.5)
    (started,) = runtime.wait_runs("slow-start", 1)
    os.kill(started["pid"], signal.SIGKILL)
    # the master respawns the spooler; the file was never removed, so the task runs again
    # (as its next attempt: the lost run counts as a failed one)
    runtime.wait_runs("slow-end", 1, timeout=30, tag="k1")
    assert len(runtime.runs("slow-start")) == 2
    wait_for(lambda: runtime.pending() == [], what="file to go")


def test_a_task_that_kills_its_process_every_time_ends_failed(runtime: UwsgiInstance) -> None:
    # uWSGI alone would re-run it at every scan forever (the harakiri poison-pill loop)
    task_id = runtime.enqueue("coretasks:kills_its_process", "oom")["id"]  # retries=1: 2 runs
    runs = runtime.wait_runs("kills_its_process", 2, timeout=30)
    failed = wait_for(lambda: runtime.area("failed"), timeout=30, what="failed copy")
    record = json.loads((failed[0].parent / (failed[0].name + ".json")).read_text())
    assert "TaskInterrupted" in record["error"] and "died" in record["error"]
    assert [r["attempt"] for r in runs] == [1, 2]
    wait_for(lambda: runtime.pending() == [], what="the original file to go")
    assert len(runtime.runs("kills_its_process")) == 2
    # The interruptions were recognised from the dead processes' slots (no "started" row):
    # the store ends the task failed after its attempts, and no slot still names it.
    status = runtime.post("/status", {"id": task_id})
    assert status["status"] == "failed" and status["attempts"] == 2, status
    assert "TaskInterrupted" in (status["error"] or ""), status
    assert task_id not in running_tasks(str(runtime.spool_dir))
    assert [s for s in map(read_slot, slot_paths(str(runtime.spool_dir))) if s] == []


# --- priorities: need spooler-ordered ----------------------------------------------------------


def test_priorities_run_lowest_first_then_unprioritised(ordered_uwsgi: UwsgiInstance) -> None:
    due = time.time() + 2  # all become due in the same scan, so the scan order shows
    for tag, priority in [("p10", 10), ("none", None), ("p2", 2), ("p0", 0), ("p9", 9)]:
        options: dict[str, Any] = {"postpone": {"at": due}}
        if priority is not None:
            options["priority"] = priority
        ordered_uwsgi.enqueue("coretasks:ordered", tag, **options)
    assert "0/" in " ".join(ordered_uwsgi.pending())  # priority 0 is honoured, not dropped
    rows = ordered_uwsgi.wait_runs("ordered", 5, timeout=20)
    assert [r["tag"] for r in rows] == ["p0", "p2", "p9", "p10", "none"]
