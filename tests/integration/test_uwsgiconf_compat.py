"""Code written for uwsgiconf.runtime.spooler runs on spoolrt after changing one import line."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.uwsgi import APPS, UwsgiInstance, wait_for

UWSGICONF_IMPORT = "from uwsgiconf.runtime.spooler import Spooler, SpoolerTask"
SPOOLRT_IMPORT = "from spoolrt import Spooler, SpoolerTask"


def test_uwsgiconf_module_runs_after_changing_only_its_import(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(APPS / "compat", app_dir)
    shutil.copy(APPS / "core" / "recorder.py", app_dir)
    original = (APPS / "compat" / "ucfg_tasks.py").read_text().splitlines()
    ported = [SPOOLRT_IMPORT if line == UWSGICONF_IMPORT else line for line in original]
    assert sum(a != b for a, b in zip(original, ported, strict=True)) == 1
    (app_dir / "ucfg_tasks.py").write_text("\n".join(ported) + "\n")

    instance = UwsgiInstance(
        "basic.ini", tmp_path, app_dir=app_dir, app="compatapp", tasks="ucfg_tasks"
    ).start()
    try:
        paths = instance.get("/trigger")
        assert all(isinstance(p, str) and p for p in paths[:4])
        assert paths[4] == [str(instance.spool_dir.resolve())]
        instance.wait_runs("send_mail", 1, to="ann@example.org", subject="hello")
        instance.wait_runs("cleanup", 1, days=30)
        rows = instance.wait_runs("thumbnail", 2)
        assert sorted(r["image"] for r in rows) == ["a.png", "b.png"]
        assert {r["message"] for r in rows} == {"ucfg_thumbnail"}
        # cleanup returned None: skipped once, not re-run forever as under uwsgiconf
        wait_for(lambda: instance.pending() == [], what="all files settled")
        assert len(instance.runs("cleanup")) == 1
        assert instance.area("failed") == [] and instance.area("quarantine") == []
    finally:
        instance.stop()
