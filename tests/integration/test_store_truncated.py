"""The store never hangs a caller, under real uWSGI: its file truncated to 0 bytes while two
spooler processes and the web workers hold connections to it.

Every HTTP request and CLI call here has a short timeout, so a caller stuck on SQLite's lock
(the 30 s "database is locked" of before) fails the test instead of passing late. What is
asserted: the tasks enqueued after the damage run and their final status is readable from a web
worker; ``spoolrt show ID`` answers within 5 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from spoolrt.core import defaults
from tests.support.uwsgi import APPS, UwsgiInstance, wait_for

TASKS = 40
#: A caller may take this long at most; recovery is meant to take "a second or two".
CALLER_TIMEOUT = 5.0


def _statuses(uwsgi: UwsgiInstance, ids: list[str]) -> dict[str, int]:
    status, body = uwsgi.request("/statuses", {"ids": ids}, timeout=CALLER_TIMEOUT)
    assert status == 200, body
    return dict(body)


def _enqueue(uwsgi: UwsgiInstance, prefix: str) -> list[str]:
    return [uwsgi.enqueue("coretasks:storm", f"{prefix}{i}")["id"] for i in range(TASKS)]


def test_a_store_truncated_under_running_spoolers_and_web_workers_never_hangs_them(
    tmp_path: Path,
) -> None:
    with UwsgiInstance(
        "basic.ini", tmp_path, extra_args=("--spooler-processes", "2")
    ).start() as uwsgi:
        before = _enqueue(uwsgi, "b")
        # Both web workers and both spoolers now hold the store open.
        wait_for(lambda: _statuses(uwsgi, before) == {"done": TASKS}, timeout=30, what="batch 1")
        for _ in range(4):
            assert _statuses(uwsgi, before) == {"done": TASKS}
        store = uwsgi.spool_dir / ".spoolrt" / defaults.RESULTS_FILENAME
        assert store.stat().st_size > 0
        os.truncate(store, 0)

        after = _enqueue(uwsgi, "a")
        wait_for(
            lambda: {r["tag"] for r in uwsgi.runs("storm")} >= {f"a{i}" for i in range(TASKS)},
            timeout=30,
            what="the tasks enqueued after the truncation to run",
        )
        # Their outcomes reach the fresh store: readable from a web worker within seconds.
        wait_for(
            lambda: _statuses(uwsgi, after) == {"done": TASKS},
            timeout=10,
            what="the statuses of the tasks run after the truncation",
        )
        shown = subprocess.run(
            [sys.executable, "-m", "spoolrt", "show", after[-1], "--spool", str(uwsgi.spool_dir)],
            cwd=APPS / "core",
            env={**os.environ, "SPOOLRT_SECRET_KEY": uwsgi.env["SPOOLRT_SECRET_KEY"]},
            capture_output=True,
            text=True,
            timeout=CALLER_TIMEOUT,
        )
        assert shown.returncode == 0, shown.stderr
        assert after[-1] in shown.stdout and "done" in shown.stdout, shown.stdout
        assert "database is locked" not in uwsgi.log()
