"""The pure-Python worker as a real process, and the local writer, next to real uWSGI.

The worker's own semantics run through the shared core scenarios (the "worker" runtime in
conftest.RUNTIMES); this file covers what only it has: signals, crashes, and sharing one
directory with a uWSGI spooler in both directions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import spoolrt
from spoolrt import Spooler, TaskHandle, backends
from spoolrt.core.errors import ConfigurationError
from spoolrt.sending.backends.local import peers
from spoolrt.spooldir.presence import list_announcements
from tests.support.uwsgi import APPS, UwsgiInstance, wait_for
from tests.support.worker import SECRET_KEY, WorkerProcess

#: uWSGI without a spooler of its own: ``uwsgi.spool`` writes files that nobody there runs.
EXTERNAL_INI = """
[uwsgi]
strict = true
master = true
die-on-term = true
need-app = true
http-socket = $(SPOOLRT_HTTP)
processes = 2
pythonpath = $(SPOOLRT_PYTHONPATH)
module = $(SPOOLRT_APP)
spooler-external = $(SPOOLRT_SPOOL_DIR)
"""


@pytest.fixture(autouse=True)
def _local_backend() -> Iterator[None]:
    previous = backends.forced()
    backends.force(None)
    yield
    backends.force(previous)


def local_call(name: str, *args: Any, **options: Any) -> TaskHandle:
    """Spool ``coretasks``-style function ``name`` from this (non-uWSGI) process by name."""
    return Spooler.resolve(None).enqueue(
        type_id="fcall",
        message="ucfg_fcall",
        name=name,
        payload={"func": name, "arg": args, "kwg": {}},
        **options,
    )


def use_spool(spool_dir: Path) -> None:
    spoolrt.configure(spool_dirs=[str(spool_dir)], secret_key=SECRET_KEY)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path


def start_worker(workdir: Path, **options: Any) -> WorkerProcess:
    return WorkerProcess(
        workdir / "spool", workdir / "out", workdir / "worker.log", **options
    ).start()


def runs(workdir: Path, task: str | None = None) -> list[dict[str, Any]]:
    path = workdir / "out" / "runs.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if task is None or r["task"] == task]


def wait_runs(workdir: Path, task: str, count: int, timeout: float = 20.0) -> list[Any]:
    def enough() -> list[Any]:
        found = runs(workdir, task)
        return found if len(found) >= count else []

    return wait_for(enough, timeout, what=f"{count} run(s) of {task}")


def pending(spool_dir: Path) -> list[Path]:
    return [p for p in spool_dir.rglob("uwsgi_spoolfile_on_*") if ".spoolrt" not in p.parts]


# --- local writer -> uWSGI spooler ----------------------------------------------------------------


def test_uwsgi_spooler_announces_itself_and_a_local_write_wakes_it(tmp_path: Path) -> None:
    # A scan only every 60 s: a task that runs within 20 s was started by the wake-up.
    uwsgi = UwsgiInstance("basic.ini", tmp_path, extra_args=("--spooler-frequency", "60"))
    with uwsgi:
        spooler_pids = uwsgi.get("/spoolers")["pids"]
        announced = wait_for(
            lambda: sorted(a.pid for a in list_announcements(str(uwsgi.spool_dir))),
            what="the uWSGI spooler's announcement",
        )
        assert announced == sorted(spooler_pids)
        assert uwsgi.runs() == []  # announced at fork, not at its first task
        use_spool(uwsgi.spool_dir)
        assert Spooler.get_pids() == spooler_pids
        (found,) = peers(str(uwsgi.spool_dir)).announcements()
        assert found.kind == "uwsgi" and found.ordered is False

        local_call("coretasks:processed", "from-outside")
        (row,) = uwsgi.wait_runs("processed", 1, timeout=20)
        assert row["pid"] in spooler_pids
        wait_for(lambda: uwsgi.pending() == [], what="the file to go")

        # the same uWSGI spooler runs without spooler-ordered: a priority would strand the task
        with pytest.raises(ConfigurationError, match="spooler-ordered"):
            local_call("coretasks:processed", "prio", priority=1)
        assert uwsgi.pending() == []


def test_local_priorities_run_in_order_on_an_ordered_uwsgi(tmp_path: Path) -> None:
    uwsgi = UwsgiInstance("priorities.ini", tmp_path)
    with uwsgi:
        wait_for(lambda: list_announcements(str(uwsgi.spool_dir)), what="announcement")
        use_spool(uwsgi.spool_dir)
        due = datetime.fromtimestamp(time.time() + 2, tz=timezone.utc)  # one scan sees all
        for tag, priority in [("p5", 5), ("none", None), ("p1", 1)]:
            local_call("coretasks:ordered", tag, priority=priority, postpone=due)
        rows = uwsgi.wait_runs("ordered", 3, timeout=20)
        assert [r["tag"] for r in rows] == ["p1", "p5", "none"]


# --- uWSGI writer -> worker -----------------------------------------------------------------------


def test_files_written_by_uwsgi_are_run_by_the_worker(workdir: Path) -> None:
    ini = workdir / "external.ini"
    ini.write_text(EXTERNAL_INI)
    worker = start_worker(workdir, processes=1, frequency=0.2)
    try:
        with UwsgiInstance(ini, workdir) as uwsgi:
            uwsgi.enqueue("coretasks:processed", "by-uwsgi")
            uwsgi.post("/raw", {"message": "ucfg_greeting", "payload": {"hi": 1}})
            uwsgi.enqueue("coretasks:when", "postponed", postpone=1)
            rows = wait_runs(workdir, "processed", 1) + wait_runs(workdir, "greeting", 1)
            rows += wait_runs(workdir, "when", 1)
            assert {r["pid"] for r in rows} == {worker.pid}
            assert rows[1]["payload"] == {"hi": 1}
            wait_for(lambda: pending(uwsgi.spool_dir) == [], what="spool dir to empty")
    finally:
        worker.stop()


# --- both on one directory ------------------------------------------------------------------------


def test_uwsgi_and_worker_share_a_directory_and_run_each_of_5000_tasks_once(
    workdir: Path,
) -> None:
    total, by_http = 5000, 1000
    with UwsgiInstance("basic.ini", workdir) as uwsgi:
        worker = start_worker(workdir, processes=2, frequency=0.5)
        try:
            use_spool(uwsgi.spool_dir)

            def through_uwsgi() -> None:
                for i in range(by_http):
                    uwsgi.enqueue("coretasks:processed", f"u{i}")

            sender = threading.Thread(target=through_uwsgi)
            sender.start()
            for i in range(total - by_http):
                local_call("coretasks:processed", f"l{i}")
            sender.join()
            rows = uwsgi.wait_runs("processed", total, timeout=240)
            wait_for(lambda: uwsgi.pending() == [], timeout=60, what="spool dir to empty")
            rows = uwsgi.runs("processed")
        finally:
            worker.stop()
        per_tag = Counter(r["tag"] for r in rows)
        assert len(per_tag) == total
        assert max(per_tag.values()) == 1, [t for t, n in per_tag.items() if n > 1][:10]
        by_pid = Counter(r["pid"] for r in rows)
        spooler_pids = set(uwsgi.get("/spoolers")["pids"])
        assert spooler_pids & by_pid.keys(), "the uWSGI spooler ran nothing"
        assert by_pid.keys() - spooler_pids, "the worker ran nothing"
        assert uwsgi.area("failed") == [] and uwsgi.area("quarantine") == []


# --- stopping and crashing ------------------------------------------------------------------------


def test_sigterm_lets_the_running_task_finish_and_leaves_the_rest(workdir: Path) -> None:
    worker = start_worker(workdir, processes=1, frequency=0.2)
    use_spool(workdir / "spool")
    local_call("coretasks:slow", "t1", 1.0)
    (_started,) = wait_runs(workdir, "slow-start", 1)
    local_call("coretasks:processed", "after-stop", postpone=1)  # due only after the stop
    assert worker.stop(sig=signal.SIGTERM, timeout=15) == 0
    assert [r["tag"] for r in runs(workdir, "slow-end")] == ["t1"]
    remaining = pending(workdir / "spool")
    assert len(remaining) == 1  # the slow task's file is gone, the other one waits
    assert list_announcements(str(workdir / "spool")) == []  # withdrawn at exit

    again = start_worker(workdir, processes=1, frequency=0.2)
    try:
        wait_runs(workdir, "processed", 1)
    finally:
        again.stop()
    assert len(runs(workdir, "slow-start")) == 1


def test_a_second_sigterm_abandons_the_task_and_keeps_its_file(workdir: Path) -> None:
    worker = start_worker(workdir, processes=1, frequency=0.2)
    use_spool(workdir / "spool")
    local_call("coretasks:slow", "t2", 30)
    wait_runs(workdir, "slow-start", 1)
    os.kill(worker.pid, signal.SIGTERM)
    notice = f"spoolrt worker {worker.pid}: stopping after the running task"
    wait_for(lambda: notice in worker.log_path.read_text(), what="the first stop to be seen")
    assert worker.stop(timeout=15) == 0  # the second SIGTERM
    assert runs(workdir, "slow-end") == []
    assert len(pending(workdir / "spool")) == 1  # nothing lost: it runs again later


def test_kill_9_during_a_task_loses_nothing(workdir: Path) -> None:
    worker = start_worker(workdir, processes=1, frequency=0.2)
    use_spool(workdir / "spool")
    local_call("coretasks:slow", "k9", 0.5)
    wait_runs(workdir, "slow-start", 1)
    worker.stop(sig=signal.SIGKILL)
    assert runs(workdir, "slow-end") == []
    assert len(pending(workdir / "spool")) == 1
    again = start_worker(workdir, processes=1, frequency=0.2)
    try:
        wait_runs(workdir, "slow-end", 1)
        wait_for(lambda: pending(workdir / "spool") == [], what="file to go")
    finally:
        again.stop()
    assert [r["tag"] for r in runs(workdir, "slow-start")] == ["k9", "k9"]


def test_supervisor_restarts_a_killed_worker_process(workdir: Path) -> None:
    worker = start_worker(workdir, processes=2, frequency=0.2)
    try:
        before = worker.worker_pids()
        os.kill(before[0], signal.SIGKILL)
        wait_for(
            lambda: len(worker.worker_pids()) == 2 and worker.worker_pids() != before,
            what="a replacement worker process",
        )
        use_spool(workdir / "spool")
        local_call("coretasks:processed", "after-restart")
        wait_runs(workdir, "processed", 1)
    finally:
        assert worker.stop() == 0
    assert list_announcements(str(workdir / "spool")) == []


def test_until_empty_from_the_command_line(workdir: Path) -> None:
    use_spool(workdir / "spool")
    for i in range(3):
        local_call("coretasks:processed", f"c{i}")
    local_call("coretasks:when", "later", postpone=3600)
    worker = WorkerProcess(workdir / "spool", workdir / "out", workdir / "worker.log")
    done = subprocess.run(
        [*worker.command, "--until-empty"],
        env=worker.env,
        cwd=worker.cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"done": 3}
    # piped, not a terminal: the progress display writes plain lines on stderr, no \r bar
    assert "worker: 3/3 (100%)" in done.stderr and "\r" not in done.stderr
    assert len(runs(workdir, "processed")) == 3
    # the far-future task still waits, parked outside the scanned directory
    assert pending(workdir / "spool") == []
    assert len(list((workdir / "spool" / ".spoolrt" / "parked").rglob("uwsgi_spoolfile_on_*"))) == 1


def test_the_worker_fires_periodic_schedules_once_per_slot(tmp_path: Path) -> None:
    """Outside uWSGI nothing else ticks: two worker processes tick, each slot runs once."""
    out = tmp_path / "out"
    out.mkdir()
    worker = WorkerProcess(
        tmp_path / "spool",
        out,
        tmp_path / "worker.log",
        processes=2,
        app_dir=APPS / "schedule",
        tasks="schedtasks",
    ).start()
    try:

        def every_second_runs() -> list[dict]:
            path = out / "runs.jsonl"
            lines = path.read_text().splitlines() if path.exists() else []
            rows = [json.loads(line) for line in lines]
            return [r for r in rows if r["task"] == "every_second"]

        rows = wait_for(lambda: len(every_second_runs()) >= 4 and every_second_runs(), 30)
    finally:
        worker.stop()
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), f"a slot ran twice: {keys}"
