"""The uWSGI docs' decorator examples run on spoolrt under real uWSGI after changing only
their import line (tests/apps/compat/ud_tasks.py, called by udapp.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.uwsgi import APPS, UwsgiInstance, wait_for

UWSGI_IMPORT = "from uwsgidecorators import *  # noqa: F403"
SPOOLRT_IMPORT = "from spoolrt.compat.uwsgidecorators import *  # noqa: F403"


def ported_app(tmp_path: Path) -> Path:
    app_dir = tmp_path / "app"
    shutil.copytree(APPS / "compat", app_dir)
    shutil.copy(APPS / "core" / "recorder.py", app_dir)
    original = (APPS / "compat" / "ud_tasks.py").read_text().splitlines()
    ported = [SPOOLRT_IMPORT if line == UWSGI_IMPORT else line for line in original]
    assert sum(a != b for a, b in zip(original, ported, strict=True)) == 1
    (app_dir / "ud_tasks.py").write_text("\n".join(ported) + "\n")
    return app_dir


def test_uwsgi_docs_decorator_examples_run_after_changing_only_the_import(tmp_path: Path) -> None:
    instance = UwsgiInstance(
        "priorities.ini", tmp_path, app_dir=ported_app(tmp_path), app="udapp", tasks="ud_tasks"
    ).start()
    try:
        paths = instance.get("/trigger")
        assert len(paths) == 9 and all(isinstance(p, str) and p for p in paths)
        assert Path(paths[-1]).parent.name == "1"  # priority=b"1": uWSGI's priority sub-dir

        # @spool: the function gets the arguments dict (keywords, or one dict)
        [row] = instance.wait_runs("a_long_long_task", 1)
        arguments = row["arguments"]
        assert (arguments["foo"], arguments["hello"]) == ("bar", "world")
        [row] = instance.wait_runs("a_longer_task", 1)
        assert row["args"]["pippo"] == "pluto"
        # the body arrives as args["body"], past uWSGI's 64 KiB vars limit
        [row] = instance.wait_runs("big_body_task", 1)
        assert (row["length"], row["head"]) == (100_000, "Ab" * 2 + "A")

        # `at`: the task waits for it, with pass_arguments or in the dict
        [row] = instance.wait_runs("delayed_task", 1)
        assert row["started"] >= row["at"] - 1  # whole-second `at`, as uWSGI stores it
        [row] = instance.wait_runs("some_task", 1)
        assert row["t"] >= row_at(instance) - 1
        assert "('id', 42)" in row["kwargs"] and "'at'" not in row["kwargs"]

        # @spoolraw: SPOOL_OK once; SPOOL_RETRY bounded by spoolrt's retries, then failed
        instance.wait_runs("a_controlled_task", 1, foo="bar")
        instance.wait_runs("a_controlled_task", 4, foo="baz")
        wait_for(lambda: len(instance.area("failed")) == 1, what="the retried task to fail")
        assert len(instance.runs("a_controlled_task")) == 5
        # the prioritised pass_arguments task ran (spooler-ordered is on)
        instance.wait_runs("a_controlled_task_kw", 1, foo="bar", age=42)

        # @spoolforever repeats; @timer(2, target="spooler") runs in the spooler on its period
        instance.wait_runs("an_infinite_task", 3, args="forever")
        ticks = instance.wait_runs("timer", 3)
        assert all(t["in_spooler"] and isinstance(t["num"], int) for t in ticks)
        assert len({t["num"] for t in ticks}) == 1
        # never more often than its period (a late tick may bring two runs closer together)
        assert len(ticks) <= (ticks[-1]["t"] - ticks[0]["t"]) / 2 + 2
        assert instance.area("quarantine") == []
    finally:
        instance.stop()


def row_at(instance: UwsgiInstance) -> float:
    """The `at` both delayed tasks were given (the same value: see udapp.trigger)."""
    return float(instance.runs("delayed_task")[0]["at"])
