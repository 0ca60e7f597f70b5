"""The scheduling runtime: decorators, ticking with a fake clock, class and web tasks, the guard,
and the uWSGI timer installation (against a stand-in for the uwsgi module)."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import spoolrt
import spoolrt.core.config
from spoolrt import Spooler, TaskFunction
from spoolrt.api.schedules import (
    CronSchedule,
    IntervalSchedule,
    MissedSlotPolicy,
    ScheduleDriver,
    find_scheduled,
    registry,
    run_scheduled,
    slot_key,
)
from spoolrt.api.schedules import ticking as schedule_module
from spoolrt.api.schedules.classes import ScheduledTask, autodiscover
from spoolrt.api.schedules.web import INTERNAL_CALL_KEY, WebTask, WebTaskFailed, web_task, web_tasks
from spoolrt.contrib.wsgi import guard, normalize_path
from spoolrt.core.codec.packet import unpack
from spoolrt.core.errors import DuplicateTaskName, InvalidTaskOption, UnknownTask
from spoolrt.core.outcomes import TaskStatus
from spoolrt.runtime import ticker as schedule_uwsgi
from spoolrt.runtime.dispatch import Dispatcher

UTC = timezone.utc


def utc(hour: int, minute: int = 0, second: int = 0, day: int = 3) -> datetime:
    return datetime(2024, 6, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees only the schedules it registers, and a driver with no memory."""
    before = {entry.name for entry in registry}
    monkeypatch.setattr(schedule_module, "driver", ScheduleDriver(registry))
    monkeypatch.setattr(schedule_uwsgi, "_installed_signal", None)
    yield
    for entry in list(registry):
        if entry.name not in before:
            registry.unregister(entry.name)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    """The default spooler: a plain directory written by the local backend."""
    directory = tmp_path / "spool"
    directory.mkdir()
    spoolrt.configure(spool_dirs=[str(directory)])
    return directory


def spooled(directory: Path) -> list[spoolrt.TaskInfo]:
    infos = [Spooler.read_task_file(path) for path in Spooler(directory).pending()]
    return sorted(infos, key=lambda info: info.task_id)


def run_file(spool_dir: Path, path: str) -> Any:
    """Run one spool file as a spooler would; return the dispatcher's report."""
    data = Path(path).read_bytes()
    report = Dispatcher().run(str(spool_dir), os.path.basename(path), unpack(data))
    os.unlink(path)
    return report


# --- decorators -----------------------------------------------------------------------------


def test_periodic_function_is_a_task_that_runs_inline_and_is_scheduled() -> None:
    @Spooler.periodic(seconds=90, name="tests.every_90s")
    def every_90s() -> str:
        return "ran"

    assert isinstance(every_90s, TaskFunction)
    assert every_90s.func() == "ran"
    entry = registry.get("tests.every_90s")
    assert entry.target is every_90s
    assert entry.schedule == IntervalSchedule(90)


def test_cron_keyword_form_is_the_same_schedule_as_the_expression() -> None:
    @Spooler.cron(minutes=[0, 30], hours=range(9, 18), dow="mon-fri", name="tests.kw")
    def by_keywords() -> None: ...

    @Spooler.cron("0,30 9-17 * * mon-fri", name="tests.text")
    def by_text() -> None: ...

    keyword_schedule = registry.get("tests.kw").schedule
    assert isinstance(keyword_schedule, CronSchedule)
    assert keyword_schedule == registry.get("tests.text").schedule


@pytest.mark.parametrize(
    "make",
    [
        lambda: Spooler.periodic(seconds=0),
        lambda: Spooler.periodic(seconds=1.5),
        lambda: Spooler.periodic(seconds=10, missed="never"),
        lambda: Spooler.periodic(seconds=10, retries=-1),
        lambda: Spooler.cron("61 * * * *"),
        lambda: Spooler.cron("* * *"),
        lambda: Spooler.cron(minutes=[75]),
        lambda: Spooler.cron("0 3 * * *", tz="Mars/Olympus"),
    ],
)
def test_bad_schedule_options_fail_at_decoration_and_register_nothing(make: Any) -> None:
    size = len(registry)
    with pytest.raises(InvalidTaskOption):
        make()(lambda: None)
    assert len(registry) == size


def test_scheduling_an_existing_task_keeps_it_and_refuses_a_second_set_of_options() -> None:
    @Spooler.task(retries=5)
    def already_a_task() -> None: ...

    scheduled = Spooler.periodic(seconds=60, name="tests.existing")(already_a_task)
    assert scheduled is already_a_task
    with pytest.raises(InvalidTaskOption, match="already a task"):
        Spooler.periodic(seconds=60, name="tests.other", retries=1)(already_a_task)


def test_one_function_with_two_schedules_needs_two_names() -> None:
    def twice() -> None: ...

    task = Spooler.periodic(seconds=60, name="tests.twice")(twice)
    with pytest.raises(DuplicateTaskName):
        Spooler.periodic(seconds=30, name="tests.twice")(task)
    Spooler.periodic(seconds=30, name="tests.twice-fast")(task)
    assert {"tests.twice", "tests.twice-fast"} <= {entry.name for entry in registry}


def test_enqueue_keeps_a_given_task_id_and_refuses_an_empty_one(spool: Path) -> None:
    handle = Spooler(spool).enqueue(
        type_id="fcall", message="ucfg_fcall", name="x", payload=None, task_id="my-id"
    )
    assert handle.task_id == "my-id"
    assert Spooler.read_task_file(handle).task_id == "my-id"
    with pytest.raises(InvalidTaskOption):
        Spooler(spool).enqueue(type_id="fcall", message="", name="", payload=None, task_id="")


# --- ticking with a fake clock --------------------------------------------------------------


def test_cron_slots_are_spooled_once_each_keyed_by_slot(spool: Path) -> None:
    @Spooler.cron("*/15 * * * *", name="tests.quarterly")
    def quarterly() -> None: ...

    moment = utc(9, 59, 30)
    handles = []
    while moment <= utc(10, 46):
        handles += schedule_module.tick(moment)
        moment += timedelta(seconds=30)
    slots = [utc(10, 0), utc(10, 15), utc(10, 30), utc(10, 45)]
    assert [h.task_id for h in handles] == [slot_key("tests.quarterly", s) for s in slots]
    infos = spooled(spool)
    assert [info.task_id for info in infos] == sorted(h.task_id for h in handles)
    assert {info.name for info in infos} == {"tests.quarterly"}
    assert all(info.verified for info in infos)  # signed like any task


def test_a_new_schedule_waits_for_its_first_slot_unless_start_now(spool: Path) -> None:
    Spooler.periodic(seconds=60, name="tests.waits")(lambda: None)
    Spooler.periodic(seconds=60, start_now=True, name="tests.starts")(lambda: None)
    handles = schedule_module.tick(utc(10, 0, 20))
    assert [h.task_name for h in handles] == ["tests.starts"]
    assert handles[0].task_id == slot_key("tests.starts", utc(10, 0))


def test_processes_ticking_one_directory_spool_each_slot_once(spool: Path) -> None:
    Spooler.periodic(seconds=10, name="tests.shared")(lambda: None)
    drivers = [ScheduleDriver(registry) for _ in range(3)]
    start = utc(12, 0, 0)
    won = []
    for step in range(0, 125):
        moment = start + timedelta(seconds=step)
        for driver in drivers if step % 2 else reversed(drivers):
            won += [h.task_id for h in driver.tick(moment)]
    assert len(won) == len(set(won)) == 12  # 12:00:10 ... 12:02:00
    assert len(spooled(spool)) == 12


@pytest.mark.parametrize(("missed", "expected"), [("once", 1), ("all", 5), ("skip", 0)])
def test_slots_missed_while_down_follow_the_policy(spool: Path, missed: str, expected: int) -> None:
    Spooler.periodic(seconds=600, missed=missed, name=f"tests.down-{missed}")(lambda: None)
    assert schedule_module.tick(utc(8, 0, 30)) == []
    assert len(schedule_module.tick(utc(8, 10, 0))) == 1
    # Down from 8:10 to 9:02:30: a new process ticks again (its own driver, the claims on disk).
    # Missed: 8:20 ... 9:00; the newest is 150 s late, more than skip's 60 s grace.
    schedule_module.driver = ScheduleDriver(registry)
    late = schedule_module.tick(utc(9, 2, 30))
    assert len(late) == expected
    if late:
        assert late[-1].task_id == slot_key(f"tests.down-{missed}", utc(9, 0))


def test_a_skip_policy_keeps_slots_within_grace(spool: Path) -> None:
    policy = MissedSlotPolicy("skip", grace=120)
    Spooler.periodic(seconds=60, missed=policy, name="tests.grace")(lambda: None)
    schedule_module.tick(utc(8, 0, 30))
    assert len(schedule_module.tick(utc(8, 1, 30))) == 1


def test_a_schedule_on_another_spooler_spools_and_claims_there(spool: Path, tmp_path: Path) -> None:
    other = tmp_path / "mail"
    other.mkdir()
    spoolrt.configure(spool_dirs=[str(spool), str(other)])
    Spooler(other).periodic(seconds=60, start_now=True, name="tests.mail")(lambda: None)
    handles = schedule_module.tick(utc(9, 0, 5))
    assert [h.spooler for h in handles] == [os.path.realpath(other)]
    assert spooled(spool) == []
    assert (other / ".spoolrt" / "schedule").is_dir()
    assert not (spool / ".spoolrt" / "schedule").exists()


def test_next_wakeup_is_the_next_slot_after_a_tick(spool: Path) -> None:
    Spooler.periodic(seconds=300, name="tests.wakeup")(lambda: None)
    assert schedule_module.next_wakeup() is None
    schedule_module.tick(utc(9, 1))
    assert schedule_module.next_wakeup() == utc(9, 5)


def test_a_node_that_is_not_the_scheduler_fires_nothing_and_says_so_once(
    spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Spooler.periodic(seconds=60, start_now=True, name="tests.pool")(lambda: None)
    spoolrt.configure(scheduler=False)
    with caplog.at_level(logging.INFO, logger="spoolrt.schedule"):
        assert schedule_module.tick(utc(9, 0, 5)) == []
        assert schedule_module.tick(utc(9, 1, 5)) == []
    told = [r for r in caplog.records if "scheduler=False" in r.getMessage()]
    assert len(told) == 1
    assert spooled(spool) == [] and not (spool / ".spoolrt" / "schedule").exists()
    spoolrt.configure(scheduler="yes")  # made the scheduler: it fires from its next tick
    assert [h.task_id for h in schedule_module.tick(utc(9, 2, 5))] == [
        slot_key("tests.pool", utc(9, 2))
    ]


def test_the_scheduler_setting_is_read_from_the_environment_by_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPOOLRT_SCHEDULER", "0")
    spoolrt.core.config.reset()
    assert spoolrt.get_settings().scheduler is False
    monkeypatch.setenv("SPOOLRT_SCHEDULER", "sometimes")
    spoolrt.core.config.reset()
    with pytest.raises(spoolrt.ConfigurationError, match="SPOOLRT_SCHEDULER"):
        spoolrt.get_settings()


def test_no_spooler_is_reported_once_and_ticks_spool_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spoolrt.configure(spool_dirs=[])
    Spooler.periodic(seconds=1, start_now=True, name="tests.nowhere")(lambda: None)
    with caplog.at_level(logging.ERROR, logger="spoolrt.schedule"):
        assert schedule_module.tick(utc(9, 0)) == []
        assert schedule_module.tick(utc(9, 0, 1)) == []
    assert len([r for r in caplog.records if "tests.nowhere" in r.getMessage()]) == 1


def test_a_slot_that_cannot_be_spooled_is_logged_and_others_still_run(
    spool: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    Spooler.periodic(seconds=60, start_now=True, name="tests.broken")(lambda: None)
    Spooler.periodic(seconds=60, start_now=True, name="tests.plain")(lambda: None)
    real_spool_entry = schedule_module.spool_entry

    def failing_for_one(entry: Any, **options: Any) -> Any:
        if entry.name == "tests.broken":
            raise OSError("No space left on device")
        return real_spool_entry(entry, **options)

    monkeypatch.setattr(schedule_module, "spool_entry", failing_for_one)
    with caplog.at_level(logging.ERROR, logger="spoolrt.schedule"):
        handles = schedule_module.tick(utc(9, 0, 5))
    assert [h.task_name for h in handles] == ["tests.plain"]
    assert "tests.broken" in caplog.text and "will not run" in caplog.text


# --- slot tasks run like any task -----------------------------------------------------------


calls: list[Any] = []


def test_a_spooled_slot_of_a_function_runs_through_the_dispatcher(spool: Path) -> None:
    @Spooler.periodic(seconds=60, start_now=True, name="tests.dispatch")
    def record_call() -> str:
        task = spoolrt.current_task()
        calls.append(task.task_id if task else None)
        return "done"

    (handle,) = schedule_module.tick(utc(9, 0, 5))
    report = run_file(spool, handle)
    assert report.status is TaskStatus.DONE
    assert report.result == "done"
    assert calls[-1] == slot_key("tests.dispatch", utc(9, 0))


# --- Draco-style classes --------------------------------------------------------------------


def test_a_scheduled_task_class_registers_its_schedule_from_init(spool: Path) -> None:
    class Nightly(ScheduledTask):
        name = "tests.Nightly"

        def __init__(self) -> None:
            self.schedule(minute=30, hour=2, dow="mon-fri")

        def run(self) -> Any:
            calls.append(("nightly", self.slot))
            return "nightly"

    entry = registry.get("tests.Nightly")
    assert entry.target is Nightly
    assert entry.schedule == CronSchedule("30 2 * * mon-fri")
    # On schedule: spooled as a task, and run with its slot in the spooler.
    schedule_module.tick(utc(2, 29))
    (handle,) = schedule_module.tick(utc(2, 30, 1))
    report = run_file(spool, handle)
    assert report.status is TaskStatus.DONE and report.result == "nightly"
    assert calls[-1] == ("nightly", utc(2, 30))


def test_a_scheduled_task_class_runs_by_name_inline_or_spooled(spool: Path) -> None:
    class Cleanup(ScheduledTask):
        when = "0 4 * * *"

        def run(self) -> Any:
            calls.append(("cleanup", self.slot))
            return 7

    full = f"{__name__}:{Cleanup.__qualname__}"
    assert find_scheduled(full).target is Cleanup
    assert run_scheduled("Cleanup") == 7
    assert calls[-1] == ("cleanup", None)
    handle = run_scheduled("Cleanup", spool=True)
    assert run_file(spool, handle).result == 7


def test_class_options_interval_and_abstract_bases() -> None:
    class Base(ScheduledTask, abstract=True):
        retries = 1

    class Fast(Base):
        name = "tests.Fast"

        def __init__(self) -> None:
            self.schedule(seconds=5, start_now=True)

        def run(self) -> None: ...

    assert "Base" not in {entry.name.rsplit(":", 1)[-1] for entry in registry}
    assert registry.get("tests.Fast").schedule == IntervalSchedule(5, start_now=True)


def test_class_mistakes_fail_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="run"):

        class NoRun(ScheduledTask):
            when = "* * * * *"

    with pytest.raises(InvalidTaskOption, match="no schedule"):

        class NoSchedule(ScheduledTask):
            def run(self) -> None: ...

    with pytest.raises(InvalidTaskOption):

        class Both(ScheduledTask):
            def __init__(self) -> None:
                self.schedule("* * * * *", seconds=5)

            def run(self) -> None: ...


def test_unknown_and_ambiguous_names_say_what_is_known() -> None:
    Spooler.periodic(seconds=60, name="a.one:report")(lambda: None)
    Spooler.periodic(seconds=60, name="b.two:report")(lambda: None)
    with pytest.raises(UnknownTask, match="several"):
        find_scheduled("report")
    with pytest.raises(UnknownTask, match=r"a\.one:report"):
        find_scheduled("nothing-like-it")
    assert find_scheduled("a.one:report").name == "a.one:report"


def test_autodiscover_imports_the_tasks_module_of_each_package(tmp_path: Path) -> None:
    package = tmp_path / "discoapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        textwrap.dedent(
            """
            from spoolrt import ScheduledTask

            class Discovered(ScheduledTask):
                when = "0 5 * * *"

                def run(self):
                    return "found"
            """
        )
    )
    bare = tmp_path / "bareapp"
    bare.mkdir()
    (bare / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        assert autodiscover(["discoapp", "bareapp"]) == ["discoapp.tasks"]
        assert run_scheduled("Discovered") == "found"
        with pytest.raises(ModuleNotFoundError):
            autodiscover(["no_such_package_here"])
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("discoapp", "discoapp.tasks", "bareapp"):
            sys.modules.pop(name, None)


def test_a_module_imported_under_two_names_schedules_once(tmp_path: Path) -> None:
    source = tmp_path / "twice_tasks.py"
    source.write_text(
        textwrap.dedent(
            """
            from spoolrt import Spooler

            @Spooler.periodic(seconds=60)
            def heartbeat():
                return 1
            """
        )
    )
    for module_name in ("twice_tasks", "pkg_spelling.twice_tasks"):
        spec = importlib.util.spec_from_file_location(module_name, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    names = [entry.name for entry in registry if entry.name.endswith(":heartbeat")]
    assert names == ["twice_tasks:heartbeat"]


# --- web tasks and the guard ----------------------------------------------------------------


def make_app(seen: list[dict[str, Any]], status: str = "200 OK") -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ)
        start_response(status, [("Content-Type", "text/plain")])
        return [b"hello ", environ["PATH_INFO"].encode()]

    return app


def call(app: Any, path: str, **environ: Any) -> tuple[str, bytes]:
    got: list[str] = []
    body = b"".join(
        app({"PATH_INFO": path, "REQUEST_METHOD": "GET", **environ}, lambda s, h: got.append(s))
    )
    return got[0], body


def test_a_web_task_calls_the_app_in_process() -> None:
    seen: list[dict[str, Any]] = []
    task = web_task("/internal/ping?full=1", seconds=60, app=make_app(seen), host="example.org")
    assert registry.get("web:/internal/ping?full=1").target is task
    assert run_scheduled("web:/internal/ping?full=1") == {
        "status": 200,
        "body": "hello /internal/ping",
    }
    environ = seen[-1]
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/internal/ping", "full=1")
    assert environ["HTTP_HOST"] == "example.org"
    assert environ["wsgi.input"].read() == b""


def test_a_web_task_with_an_error_status_fails_so_it_is_retried() -> None:
    web_task("/internal/broken", seconds=60, app=make_app([], "500 Internal Server Error"))
    with pytest.raises(WebTaskFailed, match="500"):
        run_scheduled("web:/internal/broken")


def test_a_web_task_finds_its_app_by_import_path_in_the_spooler(tmp_path: Path) -> None:
    (tmp_path / "webtask_app.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('204 No Content', [])\n"
        "    return [b'']\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        web_task("/x", cron="*/5 * * * *", app="webtask_app:application", method="post")
        assert run_scheduled("web:POST /x")["status"] == 204
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("webtask_app", None)


def test_web_tasks_from_a_config_dict() -> None:
    app = make_app([])
    tasks = web_tasks({"/a": {"seconds": 30}, "/b": {"cron": "0 * * * *", "name": "b"}}, app=app)
    assert [t.path for t in tasks] == ["/a", "/b"]
    assert registry.get("web:/a").schedule == IntervalSchedule(30)
    assert isinstance(registry.get("b").schedule, CronSchedule)
    with pytest.raises(InvalidTaskOption):
        web_task("/c", app=app)


def test_the_guard_refuses_outside_requests_and_lets_the_in_process_call_through() -> None:
    seen: list[dict[str, Any]] = []
    guarded = guard(make_app(seen))
    web_task("/internal/cleanup", seconds=60, app=guarded)
    for spelling in ("/internal/cleanup", "/internal/cleanup/", "//internal/./cleanup"):
        assert call(guarded, spelling)[0].startswith("403")
    forged = {"HTTP_SPOOLRT_INTERNAL_CALL": "1", INTERNAL_CALL_KEY: "anything"}
    assert call(guarded, "/internal/cleanup", **forged)[0].startswith("403")
    assert seen == []
    assert call(guarded, "/public")[0] == "200 OK"
    assert run_scheduled("web:/internal/cleanup")["status"] == 200


def test_the_guard_takes_explicit_paths_and_prefixes() -> None:
    guarded = guard(make_app([]), paths=["/only"], prefixes=["/ops/"])
    assert call(guarded, "/only/")[0].startswith("403")
    assert call(guarded, "/ops")[0].startswith("403")
    assert call(guarded, "/ops/deep/er")[0].startswith("403")
    assert call(guarded, "/opsx")[0] == "200 OK"
    assert call(guarded, "/other")[0] == "200 OK"
    assert normalize_path("/a/b/../c//") == "/a/c"


def test_web_task_options_are_checked() -> None:
    with pytest.raises(InvalidTaskOption):
        WebTask("no-slash")
    with pytest.raises(InvalidTaskOption):
        web_task("/p", seconds=60, cron="* * * * *")


# --- uWSGI timer ----------------------------------------------------------------------------


class FakeUwsgi:
    """The few uwsgi functions the timer installation uses, recording what it asked for."""

    def __init__(self, *, master: bool = True, spooler: bool = False) -> None:
        self.pid = os.getpid()
        self.master = master
        self.spooler = spooler
        self.spoolers = [b"/var/spool/app"]
        self.registered: dict[int, tuple[str, Any]] = {255: ("worker", print)}
        self.timers: list[tuple[int, int]] = []

    def masterpid(self) -> int:
        return self.pid if self.master else 1

    def i_am_the_spooler(self) -> bool:
        return self.spooler

    def signal_registered(self, number: int) -> bool | None:
        return True if number in self.registered else None

    def register_signal(self, number: int, target: str, handler: Any) -> None:
        if number in self.registered:
            raise ValueError("unable to register signal")
        self.registered[number] = (target, handler)

    def add_timer(self, number: int, seconds: int) -> None:
        self.timers.append((number, seconds))


def test_the_master_installs_one_timer_on_the_highest_free_signal() -> None:
    fake = FakeUwsgi()
    assert schedule_uwsgi.install(fake) == 254  # type: ignore[arg-type]
    assert fake.registered[254][0] == "spooler"
    assert fake.timers == [(254, 1)]
    assert schedule_uwsgi.install(fake) == 254  # type: ignore[arg-type]
    assert fake.timers == [(254, 1)]


def test_the_signal_number_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(schedule_uwsgi.ENV_SIGNAL, "17")
    fake = FakeUwsgi()
    assert schedule_uwsgi.install(fake) == 17  # type: ignore[arg-type]


def test_the_handler_ticks_and_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeUwsgi()
    schedule_uwsgi.install(fake)  # type: ignore[arg-type]
    handler = fake.registered[254][1]
    ticks: list[int] = []
    monkeypatch.setattr(schedule_module, "tick", lambda: ticks.append(1))
    handler(254)
    assert ticks == [1]

    def broken() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(schedule_module, "tick", broken)
    with caplog.at_level(logging.ERROR, logger="spoolrt.schedule"):
        handler(254)
    assert "disk on fire" in caplog.text


def test_workers_install_nothing_and_a_spooler_without_timer_falls_back_to_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []
    monkeypatch.setattr(schedule_uwsgi, "start_thread", lambda: started.append(1))
    worker = FakeUwsgi(master=False)
    schedule_uwsgi.ensure_ticking(worker)  # type: ignore[arg-type]
    assert worker.timers == [] and started == []
    schedule_uwsgi.ensure_ticking(FakeUwsgi(master=False, spooler=True))  # type: ignore[arg-type]
    assert started == [1]
    monkeypatch.setattr(schedule_uwsgi, "_installed_signal", 200)  # inherited from the master
    schedule_uwsgi.ensure_ticking(FakeUwsgi(master=False, spooler=True))  # type: ignore[arg-type]
    assert started == [1]


def test_a_master_without_spooler_installs_nothing() -> None:
    fake = FakeUwsgi()
    fake.spoolers = []
    assert schedule_uwsgi.install(fake) is None  # type: ignore[arg-type]
    assert fake.timers == []
