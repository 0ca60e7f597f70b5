"""Code written for uwsgiconf.runtime.spooler runs under real uWSGI on spoolrt.compat.uwsgiconf
after changing one import line: the docs example (tests/apps/compat/ucfg_tasks.py) and a module
in the shape of uwsgiconf's own test module (ucfg_shaped.py, on three named spoolers)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.uwsgi import APPS, UwsgiInstance, wait_for

COMPAT = "spoolrt.compat.uwsgiconf"


def port(tmp_path: Path, module: str) -> Path:
    """The app directory with ``module`` changed on its one uwsgiconf import line only."""
    app_dir = tmp_path / "app"
    shutil.copytree(APPS / "compat", app_dir)
    shutil.copy(APPS / "core" / "recorder.py", app_dir)
    original = (APPS / "compat" / f"{module}.py").read_text().splitlines()
    ported = [line.replace("uwsgiconf.runtime.spooler", COMPAT) for line in original]
    assert sum(a != b for a, b in zip(original, ported, strict=True)) == 1
    (app_dir / f"{module}.py").write_text("\n".join(ported) + "\n")
    return app_dir


def kept(spool_dir: Path, area: str) -> list[Path]:
    return [
        p
        for p in spool_dir.glob(f"*/.spoolrt/{area}/*")
        if not p.name.endswith(".json") and not p.name.startswith(".tmp-")
    ]


def test_uwsgiconf_docs_example_runs_on_the_compat_module(tmp_path: Path) -> None:
    app_dir = port(tmp_path, "ucfg_tasks")
    instance = UwsgiInstance(
        "basic.ini", tmp_path, app_dir=app_dir, app="compatapp", tasks="ucfg_tasks"
    ).start()
    try:
        paths = instance.get("/trigger")
        assert paths[4] == [str(instance.spool_dir.resolve())]
        instance.wait_runs("send_mail", 1, to="ann@example.org", subject="hello")
        instance.wait_runs("cleanup", 1, days=30)
        rows = instance.wait_runs("thumbnail", 2)
        assert sorted(r["image"] for r in rows) == ["a.png", "b.png"]
        wait_for(lambda: instance.pending() == [], what="all files settled")
        assert len(instance.runs("cleanup")) == 1  # None: skipped once, not re-run for ever
        assert instance.area("failed") == [] and instance.area("quarantine") == []
    finally:
        instance.stop()


def test_a_module_shaped_like_uwsgiconfs_tests_runs_on_the_compat_module(tmp_path: Path) -> None:
    app_dir = port(tmp_path, "ucfg_shaped")
    instance = UwsgiInstance(
        app_dir / "ucfg_three.ini", tmp_path, app_dir=app_dir, app="ucfgapp", tasks="ucfg_shaped"
    ).start()
    root = instance.spool_dir.resolve()
    try:
        answer = instance.get("/trigger")
        assert answer["spoolers"] == [str(root / n) for n in ("spooler1", "spooler2", "myspooler")]
        assert len(answer["pids"]) == 3 and all(answer["pids"])
        assert answer["codes"] == [-2, 0, -1] and answer["fcall"] == "fcall"
        paths = [Path(p) for p in answer["paths"]]
        assert paths[0].parent == root / "myspooler"  # my_spooler.task()
        assert paths[1].parent == root / "spooler1" / "3"  # the default spooler, priority 3
        assert all(p.parent == root / "spooler2" for p in paths[2:5])
        # read_task_file: uwsgiconf's mapping; {} for a missing file
        assert answer["read"]["spooler_task_name"] == str(paths[1])
        assert answer["read"]["msg"] == "ucfg_fcall" and answer["read"]["priority"] == "3"
        assert answer["missing"] == {}
        assert answer["tasks"] >= 2  # at least the two postponed ones were still pending

        instance.wait_runs("run_me", 1, a="some", b="other")
        instance.wait_runs("spooler1_func", 1, total=120)
        instance.wait_runs("spooler2_func", 1)
        instance.wait_runs("report", 1, kind="ok", message="ucfg_report")
        # failing and rescheduled tasks: bounded retries, then the failed area
        instance.wait_runs("spooler2_func_fail", 4)
        instance.wait_runs("report", 4, kind="again")
        wait_for(lambda: len(kept(root, "failed")) == 2, what="two tasks to end failed")
        wait_for(lambda: instance.pending() == [], what="all files settled")
        assert len(instance.runs("spooler2_func_skip")) == 1  # None: skipped, final
        assert len(instance.runs("spooler2_func_fail")) == 4
        assert kept(root, "quarantine") == []
    finally:
        instance.stop()
