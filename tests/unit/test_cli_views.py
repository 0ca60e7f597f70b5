"""``spoolrt ls --status done``, ``spoolrt ps`` and ``spoolrt schedules`` against a temporary
spool directory whose tasks the pure-Python worker ran (real files, real store)."""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import spoolrt.observe.schedules
from spoolrt import Spooler
from spoolrt.api.schedules import ScheduleRegistry, registry, slot_key, spool_entry
from spoolrt.cli import EXIT_OK, main
from spoolrt.core.errors import Skip
from spoolrt.observe.audit import read_actions
from spoolrt.spooldir.presence import HOST, run_dir
from spoolrt.testing import LocalSpool, local_spool
from tests.support.holding import running_elsewhere

SCHEDULE = "tests.views.hourly"


@Spooler.task()
def echo(n: int) -> int:
    return n


@Spooler.task()
def nothing() -> None:
    raise Skip("no work")


@Spooler.task()
def hourly_job() -> str:
    return "ok"


@Spooler.task(retries=0)
def hourly_broken() -> None:
    raise RuntimeError("the report server is down")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


# --- ls --status done|skipped -----------------------------------------------------------------


def test_ls_status_done_lists_the_history_newest_first_in_pages(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [echo(n).task_id for n in range(5)]
    skipped = nothing().task_id
    assert spool.run_until_empty() == {"done": 5, "skipped": 1}
    d = str(spool.dir)

    data = run_json(capsys, "ls", "--spool", d, "--status", "done")
    assert data["tasks"] == []  # no file is listed for a finished task
    history = data["history"]
    assert sorted(h["id"] for h in history) == sorted(ids)
    finished = [h["finished_at"] for h in history]
    assert finished == sorted(finished, reverse=True)  # newest first
    assert {h["state"] for h in history} == {"done"}
    assert all(h["run_seconds"] is not None and h["run_seconds"] >= 0 for h in history)
    assert data["more"] is False

    first = run_json(capsys, "ls", "--spool", d, "--status", "done", "-n", "2")
    second = run_json(capsys, "ls", "--spool", d, "--status", "done", "-n", "2", "--offset", "2")
    newest = [h["id"] for h in history]
    assert [h["id"] for h in first["history"]] == newest[:2]
    assert [h["id"] for h in second["history"]] == newest[2:4]
    assert first["more"] is True and second["more"] is True

    both = run_json(capsys, "ls", "--spool", d, "--status", "done", "--status", "skipped")
    assert {h["id"] for h in both["history"]} == {*ids, skipped}
    only = run_json(capsys, "ls", "--spool", d, "--status", "skipped", "--task", "nothing")
    assert [h["id"] for h in only["history"]] == [skipped]


def test_ls_since_keeps_only_what_finished_since_then(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    echo(1)
    spool.run_until_empty()
    d = str(spool.dir)
    recent = run_json(capsys, "ls", "--spool", d, "--status", "done", "--since", "1h")
    assert len(recent["history"]) == 1
    future = datetime.fromtimestamp(time.time() + 3600, timezone.utc).isoformat()
    later = run_json(capsys, "ls", "--spool", d, "--status", "done", "--since", future)
    assert later["history"] == []


def test_ls_status_done_prints_a_table_with_a_next_page_hint(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        echo(n)
    spool.run_until_empty()
    assert main(["ls", "--spool", str(spool.dir), "--status", "done", "-n", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["STATE", "ID", "TASK", "TRY", "FINISHED", "RAN", "NOTE"]
    assert f"{__name__}:echo" in out
    assert out.rstrip().endswith("2 finished task(s) from the result store; more: --offset 2")


# --- ps ---------------------------------------------------------------------------------------


def test_ps_shows_a_busy_spooler_with_its_task_and_an_idle_and_a_gone_one(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = echo(7)
    (path,) = spool.pending()
    gone = run_dir(str(spool.dir)) / f"{HOST}-999999-x.json"
    with running_elsewhere(path, announce_in=str(spool.dir)) as holder:
        gone.write_text(json.dumps({"pid": 999999999, "host": HOST, "start": "x", "kind": "uwsgi"}))
        data = run_json(capsys, "ps", "--spool", str(spool.dir))
    (listed,) = data["spoolers"]
    by_pid = {p["pid"]: p for p in listed["processes"]}
    busy = by_pid[holder.pid]
    assert busy["state"] == "busy" and busy["kind"] == "worker"
    assert [r["id"] for r in busy["running"]] == [handle.task_id]
    assert by_pid[999999999]["state"] == "gone"
    assert by_pid[999999999]["running"] == []


def test_ps_says_when_nothing_is_announced(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ps", "--spool", str(spool.dir)]) == EXIT_OK
    assert "no spooler process announced" in capsys.readouterr().out


# --- schedules --------------------------------------------------------------------------------


@pytest.fixture
def schedules() -> Iterator[None]:
    Spooler.periodic(seconds=3600, name=SCHEDULE)(hourly_job)
    Spooler.cron("0 3 * * *", name=SCHEDULE + ".broken")(hourly_broken)
    yield
    registry.unregister(SCHEDULE)
    registry.unregister(SCHEDULE + ".broken")


def test_schedules_show_next_runs_and_the_last_outcome_from_the_store(
    spool: LocalSpool, schedules: None, capsys: pytest.CaptureFixture[str]
) -> None:
    slot = datetime(2026, 1, 1, 3, tzinfo=timezone.utc)
    spool_entry(registry.get(SCHEDULE), task_id=slot_key(SCHEDULE, slot))
    spool_entry(registry.get(SCHEDULE + ".broken"), task_id=slot_key(SCHEDULE + ".broken", slot))
    echo(1)  # an ordinary task: not a slot of any schedule
    assert spool.run_until_empty() == {"done": 2, "failed": 1}
    before = time.time()

    data = run_json(capsys, "schedules", "--spool", str(spool.dir), "--next", "2")
    by_name = {s["name"]: s for s in data["schedules"]}
    ok, broken = by_name[SCHEDULE], by_name[SCHEDULE + ".broken"]
    assert ok["schedule"] == "every 3600s"
    assert ok["task"] == f"{__name__}:hourly_job"
    assert len(ok["next"]) == 2
    first, second = (datetime.fromisoformat(t) for t in ok["next"])
    assert first.timestamp() > before and (second - first).total_seconds() == 3600
    assert ok["last"]["status"] == "done" and ok["last"]["id"] == slot_key(SCHEDULE, slot)
    assert ok["last_success"] is not None and ok["last_success"] <= time.time()
    assert broken["last"]["status"] == "failed"
    assert "report server is down" in broken["last"]["error"]
    assert broken["last_success"] is None
    assert [datetime.fromisoformat(t).hour for t in broken["next"]] == [3, 3]


def test_schedules_without_any_registered_says_how_to_find_them(
    spool: LocalSpool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(spoolrt.observe.schedules, "registry", ScheduleRegistry())
    assert main(["schedules", "--spool", str(spool.dir)]) == EXIT_OK
    assert (
        capsys.readouterr().out
        == "no schedules registered (import the app that defines them: --app MODULE)\n"
    )


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_takes_pending_and_scheduled_tasks_away_and_records_them(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    now = echo(1)
    later = echo.spool_with((2,), postpone=30)
    parked = echo.spool_with((3,), postpone=3600)
    kept = echo(4)
    d = str(spool.dir)
    data = run_json(capsys, "cancel", "--spool", d, now.task_id, later.task_id, parked.task_id)
    assert sorted(c["id"] for c in data["cancelled"]) == sorted(
        [now.task_id, later.task_id, parked.task_id]
    )
    assert data["refused"] == [] and data["missing"] == []
    assert spool.run_until_empty(include_postponed=True) == {"done": 1}  # only `kept` ran
    assert kept.status == "done"
    assert now.status == later.status == parked.status == "cancelled"
    assert now.ready and now.result(timeout=0) is None
    history = run_json(capsys, "ls", "--spool", d, "--status", "cancelled")["history"]
    assert {h["id"] for h in history} == {now.task_id, later.task_id, parked.task_id}
    assert {h["state"] for h in history} == {"cancelled"}
    assert run_json(capsys, "ls", "--spool", d, "--status", "skipped")["history"] == []
    # each cancel is audited as done by the OS user
    actions = read_actions(d)
    assert {a["target"] for a in actions} == {now.task_id, later.task_id, parked.task_id}
    assert {(a["who"], a["action"], a["via"]) for a in actions} == {
        (pwd.getpwuid(os.getuid()).pw_name, "cancelled", "cli")
    }


def test_cancel_refuses_a_running_task_and_an_unknown_id(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = echo(5)
    (path,) = spool.pending()
    with running_elsewhere(path, announce_in=str(spool.dir)):
        code = main(["cancel", "--spool", str(spool.dir), handle.task_id, "nope-nope", "--json"])
        data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["cancelled"] == [] and data["missing"] == ["nope-nope"]
    ((refused),) = data["refused"]
    assert refused["id"] == handle.task_id and "running" in refused["reason"]
    assert spool.pending() == [path]  # left exactly as it was
