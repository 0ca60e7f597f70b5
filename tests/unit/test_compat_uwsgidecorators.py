"""spoolrt.compat.uwsgidecorators in one process: real spool files, run by the pure-Python
worker; the same module runs under uWSGI in tests/integration/test_compat_uwsgidecorators.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Spooler, TaskStatus
from spoolrt.api.schedules import CronSchedule, IntervalSchedule, ScheduleDriver, registry
from spoolrt.api.schedules import ticking as schedule_module
from spoolrt.compat import uwsgidecorators as ud
from spoolrt.compat.uwsgidecorators import (
    SPOOL_IGNORE,
    SPOOL_OK,
    SPOOL_RETRY,
    cron,
    spool,
    spoolforever,
    spoolraw,
    timer,
)
from spoolrt.core.errors import DuplicateTaskName, InvalidTaskOption
from spoolrt.testing import LocalSpool, local_spool

calls: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    calls.clear()
    before = {entry.name for entry in registry}
    monkeypatch.setattr(schedule_module, "driver", ScheduleDriver(registry))
    yield
    for entry in list(registry):
        if entry.name not in before:
            registry.unregister(entry.name)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as spooled:
        yield spooled


@spool
def a_long_long_task(arguments: dict[str, Any]) -> None:
    calls.append(("a_long_long_task", arguments))


@spool(pass_arguments=True)
def some_task(*args: Any, **kwargs: Any) -> str:
    calls.append(("some_task", (args, kwargs)))
    return "ignored by uWSGI"


@spoolraw
def a_controlled_task(args: dict[str, Any]) -> int:
    calls.append(("a_controlled_task", args["foo"]))
    return {"bar": SPOOL_OK, "skip": SPOOL_IGNORE}.get(args["foo"], SPOOL_RETRY)


@spoolraw
def returns_nothing(args: dict[str, Any]) -> None:
    calls.append(("returns_nothing", args))


@spool
def spool_returning_retry(args: dict[str, Any]) -> int:
    calls.append(("spool_returning_retry", args))
    return SPOOL_RETRY


@spoolforever
def an_infinite_task(args: dict[str, Any]) -> None:
    calls.append(("an_infinite_task", args["n"]))


def test_spool_passes_the_arguments_dict_with_str_values(local: LocalSpool) -> None:
    handle = a_long_long_task.spool(foo="bar", hello=b"world")
    a_long_long_task.spool({"pippo": "pluto"})
    assert local.run_until_empty() == {"done": 2}
    first, second = (args for name, args in calls)
    assert {k: first[k] for k in ("foo", "hello")} == {"foo": "bar", "hello": "world"}
    assert first["ud_spool_func"] == "a_long_long_task"
    assert first["spooler_task_name"] == os.path.basename(handle.path)
    assert second["pippo"] == "pluto"
    assert handle.status is TaskStatus.DONE


def test_pass_arguments_calls_with_args_and_kwargs_and_takes_the_special_keys(
    local: LocalSpool,
) -> None:
    at = time.time() + 3600
    handle = some_task.spool(42, foo=["bar", "baz"], func=min, at=str(at))
    assert handle.status is TaskStatus.SCHEDULED  # waits for `at` ...
    assert Spooler.read_task_file(handle.path).at == pytest.approx(int(at), abs=1)
    assert local.run_until_empty() == {}  # ... and does not run before it
    assert local.run_until_empty(include_postponed=True) == {"done": 1}
    [(_name, (args, kwargs))] = calls
    assert args == (42,) and kwargs == {"foo": ["bar", "baz"], "func": min}  # `at` not passed


def test_at_in_the_arguments_dict_postpones_and_stays_in_the_dict(local: LocalSpool) -> None:
    at = int(time.time()) + 3600
    a_long_long_task.spool(foo="bar", at=str(at).encode())
    assert local.run_until_empty() == {}
    assert local.run_until_empty(include_postponed=True) == {"done": 1}
    assert calls[0][1]["at"] == str(at)  # uWSGI keeps the special keys in the dict


def test_body_is_delivered_as_the_body_key(local: LocalSpool) -> None:
    a_long_long_task.spool(body=b"x" * 100_000)
    local.run_until_empty()
    assert calls[0][1]["body"] == "x" * 100_000


def test_spoolraw_codes_mean_done_skipped_and_bounded_retry(local: LocalSpool) -> None:
    done = a_controlled_task.spool(foo="bar")
    skipped = a_controlled_task.spool(foo="skip")
    retried = a_controlled_task.spool(foo="other")
    counts = local.run_until_empty(include_postponed=True)
    assert counts["done"] == 1 and counts["skipped"] == 1 and counts["failed"] == 1
    assert (done.status, skipped.status, retried.status) == (
        TaskStatus.DONE,
        TaskStatus.SKIPPED,
        TaskStatus.FAILED,
    )
    assert calls.count(("a_controlled_task", "other")) == 4  # 1 run + the default 3 retries
    assert "SPOOL_RETRY" in (retried.error or "")
    assert len(local.failed()) == 1


def test_spoolraw_returning_no_code_is_retried_not_a_success(local: LocalSpool) -> None:
    handle = returns_nothing.spool(x="1")
    local.run_until_empty(include_postponed=True)
    assert handle.status is TaskStatus.FAILED
    assert len(calls) == 4


def test_spool_runs_once_whatever_it_returns(local: LocalSpool) -> None:
    handle = spool_returning_retry.spool(x="1")
    assert local.run_until_empty(include_postponed=True) == {"done": 1}
    assert handle.status is TaskStatus.DONE and len(calls) == 1


def test_spoolforever_spools_itself_again_after_each_run(local: LocalSpool) -> None:
    an_infinite_task.spool(n="1")
    for expected in (1, 2, 3):  # run_until_empty would never end: there is always a next run
        assert local.run_once(include_postponed=True) == {"done": 1}
        assert len(calls) == expected
    assert len(local.pending()) == 1  # the next run is always waiting
    assert {args for _name, args in calls} == {"1"}


def test_priority_and_spooler_keys_route_the_task(local: LocalSpool) -> None:
    handle = a_long_long_task.spool(foo="bar", priority=b"3", spooler=str(local.dir).encode())
    assert Spooler.read_task_file(handle.path).priority == 3
    assert os.path.basename(os.path.dirname(handle.path)) == "3"


def test_bad_special_keys_fail_at_the_call_site(local: LocalSpool) -> None:
    with pytest.raises(InvalidTaskOption):
        a_long_long_task.spool(at="tomorrow")
    with pytest.raises(InvalidTaskOption):
        a_long_long_task.spool(priority="high")
    assert local.pending() == []


def test_a_second_function_under_a_taken_name_is_refused() -> None:
    def clash(args: dict[str, Any]) -> None: ...

    clash.__qualname__ = a_long_long_task.__qualname__
    clash.__module__ = a_long_long_task.func.__module__
    with pytest.raises(DuplicateTaskName):
        spool(clash)


# --- timers and cron ------------------------------------------------------------------------


def test_timer_calls_the_handler_with_its_signal_number_once_per_slot(local: LocalSpool) -> None:
    def ten_seconds_in_the_spooler(num: int) -> None:
        calls.append(("timer", num))

    assert timer(10, target="spooler", signum=17)(ten_seconds_in_the_spooler) is (
        ten_seconds_in_the_spooler
    )
    entry = next(e for e in registry if e.name.endswith("ten_seconds_in_the_spooler"))
    assert entry.schedule == IntervalSchedule(10)
    start = datetime(2024, 6, 3, 12, 0, 5, tzinfo=timezone.utc)
    ticks = [start + timedelta(seconds=s) for s in range(25)]  # 12:00:05 .. 12:00:29
    spooled = [h for moment in ticks for h in schedule_module.tick(moment)]
    assert len(spooled) == 2  # 12:00:10 and 12:00:20, each once
    local.run_until_empty()
    assert calls == [("timer", 17), ("timer", 17)]


def test_timers_get_distinct_free_signal_numbers() -> None:
    def first(num: int) -> None: ...

    def second(num: int) -> None: ...

    timer(5, target="spooler")(first)
    timer(5, target="spooler")(second)
    handlers = [e.target for e in registry if e.name.endswith(("first", "second"))]
    numbers = [h.signum for h in handlers]  # type: ignore[attr-defined]
    assert len(set(numbers)) == 2


def test_timer_and_cron_refuse_a_target_other_than_the_spooler() -> None:
    with pytest.raises(InvalidTaskOption, match="target='spooler'"):
        timer(3)
    with pytest.raises(InvalidTaskOption, match="target='spooler'"):
        cron(59, 3, -1, -1, -1, target="workers")


@pytest.mark.parametrize(
    ("fields", "expression"),
    [
        ((59, 3, -1, -1, -1), "59 3 * * *"),
        ((-5, -1, -1, -1, -1), "*/5 * * * *"),
        ((0, 9, -1, -1, 1), "0 9 * * 1"),
        ((30, 2, 1, 6, -1), "30 2 1 6 *"),
    ],
)
def test_cron_fields_read_as_uwsgi_reads_them(fields: tuple[int, ...], expression: str) -> None:
    decorator = cron(*fields, target="spooler", tz="UTC")
    assert decorator.schedule == CronSchedule(expression)


def test_cron_weekday_zero_is_sunday() -> None:
    schedule = cron(0, 9, -1, -1, 0, target="spooler", tz="UTC").schedule
    moment = datetime(2024, 6, 3, tzinfo=timezone.utc)  # a Monday
    for _ in range(4):
        moment = schedule.next_slot(moment)
        assert moment.weekday() == 6 and (moment.hour, moment.minute) == (9, 0)


def test_cron_reads_the_fields_on_the_local_clock_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    schedule = cron(0, 9, -1, -1, -1, target="spooler").schedule
    slot = schedule.next_slot(datetime(2024, 6, 2, 20, tzinfo=timezone.utc))
    assert slot == datetime(2024, 6, 3, 0, 0, tzinfo=timezone.utc)  # 09:00 in Tokyo


def test_the_module_exports_what_a_star_import_needs() -> None:
    assert {"spool", "spoolraw", "spoolforever", "timer", "cron"} <= set(ud.__all__)
    assert (SPOOL_OK, SPOOL_RETRY, SPOOL_IGNORE) == (-2, -1, 0)
