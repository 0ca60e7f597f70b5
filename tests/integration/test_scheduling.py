"""Scheduled tasks under real uWSGI: one run per slot with several workers, spooler processes
and instances; the web-task guard; Draco-style classes on schedule and by name.

The app (tests/apps/schedule) schedules ``every_second`` (1 s, missed="all"),
``every_second_once`` (1 s, default policy), ``EveryTwoSeconds`` (a ScheduledTask class, 2 s)
and a web task calling ``/internal/beat`` every second. Each run records its task id, which is
the slot's key ``<name>@<UTC stamp>``.

How the counts are exact: the test waits for the first ``every_second`` slot S and for slot
S + 8, then checks that the nine slots S .. S + 8 each ran exactly once: a late tick (a busy
machine) is made up by ``missed="all"``, so no slot may be missing and none may repeat. The
other tasks are counted from their own first slot, because a spooler process that ticks for the
first time counts a new schedule from that moment (so with two spooler processes taking turns a
schedule can start one tick later). Under the default policy ("once") a tick later than the
next slot runs only the newer of the two, so those counts may be one short (the ±1 edge); none
may ever show a slot twice.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.support.uwsgi import APPS, UwsgiInstance, wait_for

APP_DIR = APPS / "schedule"
INI = APP_DIR / "schedule.ini"
WINDOW = 8  # seconds after the first slot: slots S .. S+8 are checked


def instance(workdir: Path, *extra: str, shared: Path | None = None) -> UwsgiInstance:
    env = {}
    if shared is not None:
        env = {"SPOOLRT_SPOOL_DIR": str(shared / "spool"), "SPOOLRT_TEST_OUT": str(shared / "out")}
    return UwsgiInstance(
        INI,
        workdir,
        env=env,
        extra_args=extra,
        app_dir=APP_DIR,
        app="schedapp",
        tasks="schedtasks",
    )


def rows(out_dir: Path, task: str) -> list[dict[str, Any]]:
    path = out_dir / "runs.jsonl"
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in found if row["task"] == task]


def slot_of(key: str) -> datetime:
    stamp = key.rsplit("@", 1)[1]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def observe(out_dir: Path) -> datetime:
    """Wait for the first ``every_second`` slot and for the one WINDOW seconds later."""
    first_rows = wait_for(lambda: rows(out_dir, "every_second"), 20, what="a first tick")
    first = min(slot_of(row["key"]) for row in first_rows)
    last = first + timedelta(seconds=WINDOW)

    def reached() -> bool:
        return any(slot_of(row["key"]) >= last for row in rows(out_dir, "every_second"))

    wait_for(reached, WINDOW + 15, what=f"slot {last}")
    # Tasks spooled in the same tick as that slot may still be running: wait until each task
    # ran a slot at or after its last one in the window, so the counts below are final.
    wait_for(lambda: _all_reached(out_dir, last), 10, what="the other tasks' last slots")
    return first


def _all_reached(out_dir: Path, last: datetime) -> bool:
    periods = {"web": 1, "every_second_once": 1, "draco": 2}
    return all(
        any(
            row["key"] and slot_of(row["key"]) > last - timedelta(seconds=period)
            for row in rows(out_dir, task)
        )
        for task, period in periods.items()
    )


def slots_of(out_dir: Path, task: str, until: datetime) -> Counter[datetime]:
    """How often each slot of ``task`` up to ``until`` ran."""
    keyed = (slot_of(row["key"]) for row in rows(out_dir, task) if row["key"])
    return Counter(slot for slot in keyed if slot <= until)


def assert_each_slot_once(out_dir: Path, first: datetime, *, report: dict[str, Any]) -> None:
    """``every_second``: exactly slots first .. first+WINDOW, once each. The others, counted
    from their own first slot (a process that ticks for the first time counts a new schedule
    from then, so with several spooler processes a schedule may start one tick later): never
    twice, and with "once" at most one slot short."""
    last = first + timedelta(seconds=WINDOW)
    exact = slots_of(out_dir, "every_second", last)
    report["every_second"] = sum(exact.values())
    expected = [first + timedelta(seconds=n) for n in range(WINDOW + 1)]
    assert sorted(exact) == expected, f"missing: {sorted(set(expected) - set(exact))}"
    assert max(exact.values()) == 1, f"duplicates: {[s for s, n in exact.items() if n > 1]}"

    for task, period, missed_all in (
        ("web", 1, True),
        ("every_second_once", 1, False),
        ("draco", 2, False),
    ):
        counted = slots_of(out_dir, task, last)
        report[task] = sum(counted.values())
        assert counted and max(counted.values()) == 1, f"{task} ran a slot twice: {counted}"
        own_first = min(counted)
        assert own_first <= first + timedelta(seconds=2 * period), f"{task} started late"
        assert all(int(slot.timestamp()) % period == 0 for slot in counted)
        slots_due = int((last - own_first).total_seconds()) // period + 1
        allowed = slots_due if missed_all else slots_due - 1
        assert allowed <= len(counted) <= slots_due, f"{task}: {sorted(counted)}"


def claimers(spool_dir: Path, name: str) -> list[int]:
    """The pids that won the claims of ``name``, from its marker files."""
    folder = spool_dir / ".spoolrt" / "schedule" / name
    markers = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    return [json.loads(marker.read_text())["pid"] for marker in markers]


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_each_slot_runs_once_with_two_workers_and_two_spoolers(tmp_path: Path) -> None:
    report: dict[str, Any] = {}
    with instance(tmp_path) as uwsgi:
        spooler_pids = set(uwsgi.get("/spoolers")["pids"])
        assert len(spooler_pids) == 2
        first = observe(uwsgi.out_dir)
        assert_each_slot_once(uwsgi.out_dir, first, report=report)

        # Ticks and runs happen in the spooler processes, never in a web worker.
        assert set(claimers(uwsgi.spool_dir, "every_second")) <= spooler_pids
        assert {row["pid"] for row in uwsgi.runs()} <= spooler_pids
        # Only the master registered the timer, on one signal, for the spoolers.
        registrations = [line for line in uwsgi.log().splitlines() if "target: spooler" in line]
        assert len(registrations) == 1 and "wid: 0" in registrations[0]
    print(f"\nslots S..S+{WINDOW}, 2 workers + 2 spoolers: {report}")


def test_the_guard_refuses_outside_requests_and_the_web_task_gets_through(
    tmp_path: Path,
) -> None:
    with instance(tmp_path) as uwsgi:
        for spelling in ("/internal/beat", "/internal/beat/", "//internal/./beat"):
            status, body = uwsgi.request(spelling)
            assert status == 403, (spelling, body)
        assert uwsgi.request("/public")[0] == 200
        beats = uwsgi.wait_runs("web", 2, timeout=15)
        # The in-process call reached the path; no outside request did.
        assert {row["agent"] for row in beats} == {"spoolrt-web-task"}
        assert all(row["key"].startswith("web%3A%2Finternal%2Fbeat@") for row in beats)


def test_a_scheduled_class_runs_by_name_on_demand(tmp_path: Path) -> None:
    with instance(tmp_path) as uwsgi:
        status, body = uwsgi.request("/run?name=EveryTwoSeconds")
        assert (status, body) == (200, {"result": "draco ran"})
        on_demand = [row for row in uwsgi.runs("draco") if row["slot"] is None]
        assert len(on_demand) == 1
        assert on_demand[0]["pid"] not in uwsgi.get("/spoolers")["pids"]  # ran in the worker
        scheduled = uwsgi.wait_runs("draco", 2, timeout=15)
        assert any(row["slot"] for row in scheduled)


def test_instances_sharing_a_spool_directory_run_each_slot_once(tmp_path: Path) -> None:
    """Three instances, one directory, each ticking its own way: the default (timer installed
    by the master when the app imports the tasks), lazy-apps with the documented
    ``shared-import`` (timer installed by that import), and lazy-apps without it (the
    fallback thread in the spooler)."""
    shared = tmp_path / "shared"
    (shared / "spool").mkdir(parents=True)
    (shared / "out").mkdir()
    small = ("--processes", "1", "--spooler-processes", "1")
    kinds = {
        "default": small,
        "lazy+shared-import": (*small, "--lazy-apps", "--shared-import", "spoolrt.schedule_uwsgi"),
        "lazy, thread": (*small, "--lazy-apps"),
    }
    started: dict[str, UwsgiInstance] = {}
    report: dict[str, Any] = {}
    try:
        for label, extra in kinds.items():
            workdir = tmp_path / label.replace(" ", "_").replace(",", "")
            started[label] = instance(workdir, *extra, shared=shared).start()
        first = observe(shared / "out")
        assert_each_slot_once(shared / "out", first, report=report)

        logs = {label: uwsgi.log() for label, uwsgi in started.items()}
        assert "target: spooler" in logs["default"]
        assert "target: spooler" in logs["lazy+shared-import"]
        assert "target: spooler" not in logs["lazy, thread"]
        assert "ticks (schedules, parked tasks) from a thread" in logs["lazy, thread"]

        masters = {uwsgi.proc.pid: label for label, uwsgi in started.items() if uwsgi.proc}
        wins = Counter(
            masters.get(parent_of(pid), "?") for pid in claimers(shared / "spool", "every_second")
        )
        report["claims won"] = dict(wins)
    finally:
        for uwsgi in started.values():
            uwsgi.stop()
    print(f"\nslots S..S+{WINDOW}, 3 instances on one directory: {report}")
