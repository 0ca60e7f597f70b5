"""Every ini file in uwsgi_configs/ boots under real uWSGI and runs a task the way its comments
say it does. The app and tasks are in tests/apps/configs/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.uwsgi import APPS, CONFIGS, UwsgiInstance, wait_for

APP_DIR = APPS / "configs"

#: Which test below boots each shipped config (basic and priorities run the core scenarios).
TESTED_BY = {
    "basic.ini": "test_core_scenarios.py",
    "priorities.ini": "test_core_scenarios.py",
    "named_spoolers.ini": "test_named_spoolers_route_each_task_to_its_own_directory_and_process",
    "lazy_apps.ini": "test_lazy_apps_with_spooler_import_runs_tasks",
    "long_tasks.ini": "test_long_task_does_not_hold_up_a_quick_one",
    "external_web.ini": "test_external_spooler_runs_what_the_web_instance_writes",
    "external_spooler.ini": "test_external_spooler_runs_what_the_web_instance_writes",
    "spooler_node.ini": "test_remote.py",
    "spooler_node_subscribed.ini": "test_fastrouter.py",
    "fastrouter.ini": "test_fastrouter.py",
}


def configs_instance(
    ini: str | Path,
    workdir: Path,
    *,
    tasks: str = "cfgtasks",
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> UwsgiInstance:
    return UwsgiInstance(
        ini, workdir, app_dir=APP_DIR, app="cfgapp", tasks=tasks, env=env, extra_args=extra_args
    )


@pytest.fixture
def booted(tmp_path: Path) -> Iterator[list[UwsgiInstance]]:
    """Instances a test starts; all are stopped (by PID) when it ends."""
    started: list[UwsgiInstance] = []
    yield started
    for instance in started:
        instance.stop()


def boot(booted: list[UwsgiInstance], instance: UwsgiInstance) -> UwsgiInstance:
    booted.append(instance)
    return instance.start()


def processes_by_pid(instance: UwsgiInstance) -> dict[int, str]:
    """pid -> spool dir of each spooler process, as uWSGI pairs them."""
    return {pid: d for d, pid in instance.get("/spoolers")["processes"]}


def test_every_shipped_config_is_booted_by_a_test() -> None:
    shipped = {p.name for p in CONFIGS.glob("*.ini")}
    assert shipped == set(TESTED_BY), "a config in uwsgi_configs/ has no test; add it to TESTED_BY"


# --- named_spoolers.ini -----------------------------------------------------------------------


def test_named_spoolers_route_each_task_to_its_own_directory_and_process(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    uw = boot(booted, configs_instance("named_spoolers.ini", tmp_path, tasks="routedtasks"))
    mail, reports = (str((uw.spool_dir / name).resolve()) for name in ("mail", "reports"))
    assert uw.get("/spoolers")["spoolers"] == [mail, reports]

    sent = uw.enqueue("routedtasks:send_mail", "m1")
    built = uw.enqueue("routedtasks:build_report", "r1")
    default = uw.enqueue("cfgtasks:hello", "h1")
    per_call = uw.post("/enqueue", {"task": "cfgtasks:hello", "args": ["h2"], "spooler": "reports"})
    assert Path(sent["path"]).parent == Path(mail)
    assert Path(built["path"]).parent == Path(reports)
    assert Path(default["path"]).parent == Path(mail), "the first spooler is the default"
    assert Path(per_call["path"]).parent == Path(reports)

    owner = processes_by_pid(uw)
    assert sorted(owner.values()) == [mail, reports], "one spooler process per directory"
    ran_in = {
        (task, tag): owner[row["pid"]]
        for task, tag in [("send_mail", "m1"), ("build_report", "r1"), ("hello", "h1")]
        for row in uw.wait_runs(task, 1, tag=tag)
    }
    ran_in[("hello", "h2")] = owner[uw.wait_runs("hello", 1, tag="h2")[0]["pid"]]
    assert ran_in == {
        ("send_mail", "m1"): mail,
        ("build_report", "r1"): reports,
        ("hello", "h1"): mail,
        ("hello", "h2"): reports,
    }
    wait_for(lambda: uw.pending() == [], what="both directories to empty")


def test_unknown_spooler_name_is_refused_at_the_call(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    uw = boot(booted, configs_instance("named_spoolers.ini", tmp_path, tasks="routedtasks"))
    status, answer = uw.request(
        "/enqueue", {"task": "cfgtasks:hello", "args": ["x"], "spooler": "billing"}
    )
    assert status == 400 and answer["error"] == "UnknownSpooler", answer
    assert uw.pending() == []


# --- lazy_apps.ini ----------------------------------------------------------------------------


def test_lazy_apps_with_spooler_import_runs_tasks(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    uw = boot(booted, configs_instance("lazy_apps.ini", tmp_path))
    handle = uw.enqueue("cfgtasks:hello", "lazy")
    uw.wait_runs("hello", 1, tag="lazy")
    wait_for(lambda: uw.pending() == [], what="file to go")
    assert Path(handle["path"]).parent == uw.spool_dir.resolve()
    assert "no spooler-import is set" not in uw.log()


def test_lazy_apps_without_spooler_import_warns_and_the_task_waits(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    # The shipped file minus its spooler-import line: what the line is there for.
    shipped = (CONFIGS / "lazy_apps.ini").read_text().splitlines()
    ini = tmp_path / "lazy_no_import.ini"
    ini.write_text("\n".join(line for line in shipped if not line.startswith("spooler-import")))
    uw = boot(booted, configs_instance(ini, tmp_path))
    uw.enqueue("cfgtasks:hello", "stranded")
    wait_for(
        lambda: "unable to find the spooler function" in uw.log(),
        what="uWSGI to scan the file without a spooler callable",
    )
    assert "lazy-apps is on and no spooler-import is set" in uw.log()
    assert len(uw.pending()) == 1 and uw.runs() == []


# --- long_tasks.ini ---------------------------------------------------------------------------


def test_long_task_does_not_hold_up_a_quick_one(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    uw = boot(booted, configs_instance("long_tasks.ini", tmp_path))
    uw.enqueue("cfgtasks:slow", "long", 3)
    uw.wait_runs("slow-start", 1)
    uw.enqueue("cfgtasks:hello", "quick")
    quick = uw.wait_runs("hello", 1, tag="quick")[0]
    assert uw.runs("slow-end") == [], "the quick task ran while the long one was still running"
    long_end = uw.wait_runs("slow-end", 1, tag="long")[0]
    assert quick["t"] < long_end["t"]
    assert quick["pid"] != long_end["pid"]


def test_max_tasks_recycles_spoolers_without_losing_or_repeating_tasks(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    uw = boot(
        booted,
        configs_instance("long_tasks.ini", tmp_path, extra_args=("--spooler-max-tasks", "2")),
    )
    tags = [f"t{i}" for i in range(8)]
    for tag in tags:
        uw.enqueue("cfgtasks:hello", tag)
    runs = uw.wait_runs("hello", len(tags), timeout=30)
    wait_for(lambda: uw.pending() == [], what="every file to go")
    assert sorted(r["tag"] for r in runs) == tags, "each task ran exactly once"
    # 2 processes x 2 tasks each, then recycled: at least 4 different pids ran the 8 tasks.
    assert len({r["pid"] for r in runs}) >= 4
    assert "maximum number of tasks reached" in uw.log()


def test_spooler_harakiri_kills_a_task_that_runs_too_long(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    uw = boot(
        booted,
        configs_instance("long_tasks.ini", tmp_path, extra_args=("--spooler-harakiri", "1")),
    )
    uw.enqueue("cfgtasks:slow", "stuck", 30)  # retries=1: two attempts at most
    uw.wait_runs("slow-start", 1, tag="stuck")
    wait_for(lambda: "HARAKIRI ON THE SPOOLER" in uw.log(), what="the harakiri kill")
    assert uw.runs("slow-end") == []


def _failed(uw: UwsgiInstance) -> list[Path]:
    """Files kept in the failed area (not the temp name of one being written)."""
    return [p for p in uw.area("failed") if not p.name.startswith(".tmp-")]


def test_task_killed_by_harakiri_every_time_ends_failed_instead_of_looping(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    uw = boot(
        booted,
        configs_instance("long_tasks.ini", tmp_path, extra_args=("--spooler-harakiri", "1")),
    )
    uw.enqueue("cfgtasks:slow", "poison", 30)  # retries=1: at most 2 runs, then failed
    # Either it ends in the failed area, or a third run proves it loops.
    wait_for(
        lambda: (_failed(uw) and uw.pending() == []) or len(uw.runs("slow-start")) >= 3,
        timeout=30,
        what="the killed task to end failed or to run a third time",
    )
    attempts = [r["attempt"] for r in uw.runs("slow-start")]
    assert attempts == [1, 2], f"a task killed every time must not loop: attempts {attempts}"
    record = json.loads(Path(f"{_failed(uw)[0]}.json").read_text())
    assert record["reason"] == "retries-exhausted" and record["attempts"] == 2
    assert "TaskInterrupted" in record["error"], record
    assert uw.log().count("HARAKIRI ON THE SPOOLER") == 2


# --- external_web.ini + external_spooler.ini --------------------------------------------------


def test_external_spooler_runs_what_the_web_instance_writes(
    booted: list[UwsgiInstance], tmp_path: Path
) -> None:
    shared_spool, shared_out = tmp_path / "shared-spool", tmp_path / "shared-out"
    shared_spool.mkdir()
    shared_out.mkdir()
    env = {"SPOOLRT_SPOOL_DIR": str(shared_spool), "SPOOLRT_TEST_OUT": str(shared_out)}
    (tmp_path / "web").mkdir()
    (tmp_path / "spooler").mkdir()
    web = boot(booted, configs_instance("external_web.ini", tmp_path / "web", env=env))
    spooler = boot(booted, configs_instance("external_spooler.ini", tmp_path / "spooler", env=env))
    web.spool_dir = spooler.spool_dir = shared_spool
    web.out_dir = spooler.out_dir = shared_out

    assert web.get("/spoolers")["processes"] == [[str(shared_spool.resolve()), 0]], (
        "the web instance has no spooler process of its own"
    )
    latencies = []
    for i in range(3):
        sent = time.time()
        handle = web.enqueue("cfgtasks:hello", f"ext{i}")
        assert Path(handle["path"]).parent == shared_spool.resolve()
        row = web.wait_runs("hello", 1, tag=f"ext{i}")[0]
        latencies.append(row["t"] - sent)
    wait_for(lambda: web.pending() == [], what="shared directory to empty")
    spooler_pids = {pid for _, pid in spooler.get("/spoolers")["processes"]}
    assert {r["pid"] for r in web.runs("hello")} <= spooler_pids
    # Nobody wakes the external spooler: pickup waits for its next scan (spooler-frequency = 1).
    assert max(latencies) < 2.5, latencies
