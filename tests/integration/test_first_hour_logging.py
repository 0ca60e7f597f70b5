"""What a real uWSGI spooler logs about the tasks it runs, with no logging configured by the
app (issue 14, item 7): one INFO line per finished task with its name, id, attempt, outcome and
run time; WARNING for a retry and ERROR for a failure, each with the task id; one prefix.

Read from the uWSGI instance's own log file, as a user reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.uwsgi import UwsgiInstance, wait_for
from tests.support.worker import WorkerRuntime


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[UwsgiInstance]:
    started = UwsgiInstance("basic.ini", tmp_path).start()
    try:
        yield started
    finally:
        started.stop()


def lines_with(instance: UwsgiInstance | WorkerRuntime, text: str) -> list[str]:
    log = instance.log_path.read_text(errors="replace") if instance.log_path.exists() else ""
    return [line for line in log.splitlines() if text in line]


def test_a_done_task_gets_one_info_line(instance: UwsgiInstance) -> None:
    handle = instance.enqueue("coretasks:processed", "logged")
    task_id = handle["id"]
    found = wait_for(lambda: lines_with(instance, task_id), what="the task's log line")
    assert len(found) == 1, found
    pattern = (
        rf"^INFO spoolrt: task coretasks:processed \({task_id}\) attempt 1/4 done "
        r"in \d+\.\d{3}s \[uwsgi_spoolfile_on_\S+\]$"
    )
    assert re.match(pattern, found[0]), found[0]


def test_retries_warn_and_the_failure_is_an_error(instance: UwsgiInstance) -> None:
    task_id = instance.enqueue("coretasks:always_fails", "loud")["id"]
    wait_for(lambda: instance.area("failed"), timeout=30, what="the task to fail")
    mine = wait_for(
        lambda: [line for line in lines_with(instance, task_id) if " spoolrt: " in line],
        what="the failure's log line",
    )
    warnings = [line for line in mine if line.startswith("WARNING spoolrt: ")]
    errors = [line for line in mine if line.startswith("ERROR spoolrt: ")]
    assert len(warnings) == 2 and len(errors) == 1, mine
    assert re.match(
        rf"^WARNING spoolrt: task coretasks:always_fails \({task_id}\) attempt 1/3 failed in "
        r"\d+\.\d{3}s: RuntimeError: boom loud; retrying in \d+\.\ds",
        warnings[0],
    ), warnings[0]
    assert re.match(
        rf"^ERROR spoolrt: task coretasks:always_fails \({task_id}\) attempt 3/3 failed in "
        r"\d+\.\d{3}s: RuntimeError: boom loud; no retries left, kept in ",
        errors[0],
    ), errors[0]


def test_spooler_lines_carry_the_prefix_once(instance: UwsgiInstance) -> None:
    task_id = instance.enqueue("coretasks:processed", "once")["id"]
    wait_for(lambda: lines_with(instance, task_id), what="the task's log line")
    ours = [line for line in instance.log().splitlines() if " spoolrt: " in line]
    assert ours and all(re.match(r"^[A-Z]+ spoolrt: (?!spoolrt)", line) for line in ours), ours


def test_the_worker_logs_each_run_with_one_prefix(tmp_path: Path) -> None:
    """The same lines from ``spoolrt worker`` (its own format adds time and pid)."""
    with WorkerRuntime(tmp_path, processes=1) as runtime:
        done_id = runtime.enqueue("coretasks:processed", "by-worker")["id"]
        failed_id = runtime.enqueue("coretasks:always_fails", "worker-fails")["id"]  # retries=2
        done = wait_for(lambda: lines_with(runtime, done_id), what="the worker's log line")
        failed = wait_for(
            lambda: [line for line in lines_with(runtime, failed_id) if " ERROR " in line],
            timeout=30,
            what="the failure's ERROR line",
        )
    assert len(done) == 1, done
    line = rf" INFO spoolrt: task coretasks:processed \({done_id}\) attempt 1/4 done in "
    assert re.search(line + r"\d+\.\d{3}s ", done[0]), done
    retries = [line for line in lines_with(runtime, failed_id) if " WARNING " in line]
    assert len(retries) == 2 and len(failed) == 1, (retries, failed)
    assert lines_with(runtime, " spoolrt") and not lines_with(runtime, "spoolrt: spoolrt")
