"""Issue 18, point 2, on a real full tmpfs under uWSGI and the worker: while the retry file
(or the failed copy) of an attempt cannot be written, the task's body is not run again; only
the bookkeeping is retried, and it completes once space comes back."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import start_runtime
from tests.support.tmpfs import fill, mounted_tmpfs
from tests.support.uwsgi import UwsgiInstance, wait_for

#: Spooler processes of each runtime on basic.ini: one uWSGI spooler; two worker processes.
PROCESSES = {"uwsgi": 1, "worker": 2}
TASKS, ATTEMPTS = 3, 3  # coretasks:always_fails has retries=2


@pytest.fixture(params=sorted(PROCESSES))
def full_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UwsgiInstance]:
    with mounted_tmpfs(tmp_path / "spool", "2m"):
        instance = start_runtime(request.param, "basic.ini", tmp_path)
        instance.processes = PROCESSES[request.param]  # type: ignore[attr-defined]
        try:
            yield instance
        finally:
            instance.stop()


def test_a_full_disk_does_not_rerun_the_task_body(full_runtime: UwsgiInstance) -> None:
    runtime = full_runtime
    processes: int = runtime.processes  # type: ignore[attr-defined]
    for i in range(TASKS):
        runtime.enqueue("coretasks:always_fails", f"full{i}", postpone=2)
    filler = fill(runtime.spool_dir)
    first = runtime.wait_runs("always_fails", TASKS, timeout=20)
    began = min(r["t"] for r in first)

    def postponed_twice() -> bool:  # the bookkeeping failed, backed off, failed again
        files = [runtime.spool_dir / p for p in runtime.pending()]
        return len(files) == TASKS and all(os.stat(f).st_mtime >= began + 5 for f in files)

    wait_for(postponed_twice, timeout=60, what="the kept files to be postponed twice")
    while_full = Counter((r["tag"], r["attempt"]) for r in runtime.runs("always_fails"))
    assert set(while_full) == {(f"full{i}", 1) for i in range(TASKS)}
    assert max(while_full.values()) <= processes, while_full
    assert "cannot record the outcome" in runtime.log()

    filler.unlink()
    wait_for(lambda: len(runtime.area("failed")) == TASKS, timeout=90, what="all to end failed")
    wait_for(lambda: runtime.pending() == [], what="their files to go")  # removed after
    runs = Counter((r["tag"], r["attempt"]) for r in runtime.runs("always_fails"))
    assert {attempt for _tag, attempt in runs} == set(range(1, ATTEMPTS + 1))
    assert max(runs.values()) <= processes, runs
    per_task = Counter(tag for tag, _attempt in runs.elements())
    assert max(per_task.values()) <= ATTEMPTS * processes, per_task
