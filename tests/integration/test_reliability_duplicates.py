"""A run that is over is not run again, whoever drops its file back (issue 18, point 4).

Reported: a signed file copied before it ran and dropped back five times after completion ran
five more times, and the store still said done, attempt 1. A restored backup of a spool
directory or a remote send retried after a timeout does the same, innocently.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from spoolrt.results import SQLiteResultStore
from tests.support.uwsgi import UwsgiInstance, wait_for


def _copy_of_the_waiting_file(runtime: UwsgiInstance, keep: Path) -> Path:
    (name,) = wait_for(runtime.pending, what="the postponed file on disk")
    original = runtime.spool_dir / name
    kept = keep / original.name
    shutil.copy2(original, kept)  # bytes and mtime, as a backup would keep them
    return kept


def _duplicates(runtime: UwsgiInstance) -> list[dict[str, object]]:
    records = []
    for kept in runtime.area("quarantine"):
        record = json.loads(Path(f"{kept}.json").read_text())
        if record["reason"] == "duplicate":
            records.append(record)
    return records


def test_a_finished_task_dropped_back_is_set_aside_not_run(
    runtime: UwsgiInstance, tmp_path: Path
) -> None:
    handle = runtime.enqueue("coretasks:processed", "once", postpone=2)
    backup = tmp_path / "backup"
    backup.mkdir()
    copy = _copy_of_the_waiting_file(runtime, backup)
    runtime.wait_runs("processed", 1, tag="once")
    wait_for(lambda: runtime.pending() == [], what="the file to be finished")
    for i in range(5):
        replay = runtime.spool_dir / f"{copy.name}-replay{i}"
        shutil.copy2(copy, replay)
        os.utime(replay)  # due now
    found = wait_for(
        lambda: len(_duplicates(runtime)) == 5 and _duplicates(runtime), timeout=30,
        what="five duplicates set aside",
    )  # fmt: skip
    # set aside before uWSGI removes the file: it goes right after
    wait_for(lambda: runtime.pending() == [], what="the replayed files to go")
    assert [r["tag"] for r in runtime.runs("processed")] == ["once"]
    assert {r["task_id"] for r in found} == {handle["id"]}
    record = SQLiteResultStore.for_spool_dir(runtime.spool_dir).get(handle["id"])
    assert record is not None and (record.status.value, record.attempt) == ("done", 1)
