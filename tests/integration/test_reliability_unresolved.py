"""Issue 18, point 1, on real processes: a worker without a task's module shares a directory
with a uWSGI spooler that has it, and takes nothing from it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.integration.test_worker import local_call, pending, runs, use_spool, wait_runs
from tests.support.uwsgi import UwsgiInstance, wait_for
from tests.support.worker import WorkerProcess


def bare_worker(workdir: Path, **options: object) -> WorkerProcess:
    """A worker whose Python path has no test tasks at all (its app is an empty module)."""
    bare = workdir / "bare"
    bare.mkdir(exist_ok=True)
    (bare / "nothing_here.py").write_text("")
    return WorkerProcess(
        workdir / "spool",
        workdir / "out",
        workdir / "worker.log",
        app_dir=bare,
        tasks="nothing_here",
        frequency=0.2,
        **options,  # type: ignore[arg-type]
    ).start()


def test_a_worker_without_the_module_leaves_the_tasks_to_the_uwsgi_spooler(
    tmp_path: Path,
) -> None:
    (tmp_path / "out").mkdir()
    total = 300
    with UwsgiInstance("basic.ini", tmp_path) as uwsgi:
        worker = bare_worker(tmp_path)
        try:
            use_spool(uwsgi.spool_dir)
            for i in range(total):
                local_call("coretasks:processed", f"s{i}")
            rows = uwsgi.wait_runs("processed", total, timeout=120)
            wait_for(lambda: pending(uwsgi.spool_dir) == [], timeout=30, what="dir to empty")
        finally:
            worker.stop()
        assert uwsgi.area("quarantine") == []
        assert len(Counter(r["tag"] for r in rows)) == total
        assert worker.pid not in {r["pid"] for r in rows}
        said = (tmp_path / "worker.log").read_text().count("cannot run in this process")
        assert said <= total  # once per file at most, not once per pass


def test_the_worker_imports_the_module_a_verified_task_names(tmp_path: Path) -> None:
    """``--app`` names another module; the task's own module is importable and gets imported."""
    (tmp_path / "out").mkdir()
    worker = WorkerProcess(
        tmp_path / "spool",
        tmp_path / "out",
        tmp_path / "worker.log",
        tasks="recorder",  # no tasks in it
        frequency=0.2,
    ).start()  # cwd and PYTHONPATH: tests/apps/core, where coretasks lives
    try:
        use_spool(tmp_path / "spool")
        local_call("coretasks:processed", "imported")
        (row,) = wait_runs(tmp_path, "processed", 1)
        assert row["tag"] == "imported" and row["pid"] == worker.pid
    finally:
        worker.stop()
    assert runs(tmp_path, "processed") == [row]
