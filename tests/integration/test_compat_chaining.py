"""A library that sets uwsgi.spooler (and uwsgi.post_fork_hook) after spoolrt is chained behind
spoolrt's callable under real uWSGI: spoolrt's files and the library's own files both run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.uwsgi import APPS, UwsgiInstance, wait_for


def start(tmp_path: Path, tasks: str) -> UwsgiInstance:
    app_dir = tmp_path / "app"
    shutil.copytree(APPS / "compat", app_dir)
    shutil.copy(APPS / "core" / "recorder.py", app_dir)
    return UwsgiInstance("basic.ini", tmp_path, app_dir=app_dir, app="halfapp", tasks=tasks).start()


@pytest.mark.parametrize("tasks", ["half_ucfg", "half_ud"])
def test_a_spooler_callable_set_after_spoolrt_is_chained(tmp_path: Path, tasks: str) -> None:
    instance = start(tmp_path, tasks)
    try:
        # spoolrt's post-fork hook still ran in the spooler: it announced itself before any task
        run_dir = instance.spool_dir / ".spoolrt" / "run"
        wait_for(lambda: run_dir.exists() and any(run_dir.iterdir()), what="the announcement")
        instance.get("/trigger")
        instance.wait_runs("migrated", 1, n=1)
        instance.wait_runs("not_yet", 1, n=2 if tasks == "half_ucfg" else "2")
        wait_for(lambda: instance.pending() == [], what="both files settled")
        assert len(instance.runs("migrated")) == 1 and len(instance.runs("not_yet")) == 1
        assert instance.area("quarantine") == [] and instance.area("failed") == []
        log = instance.log()
        assert "UnpicklingError" not in log
        assert "uwsgi.spooler was set to" in log and "chained behind spoolrt's" in log
        if tasks == "half_ud":  # the library's own post-fork hook runs too, spooler included
            assert any(row["spooler"] for row in instance.runs("postfork"))
    finally:
        instance.stop()
