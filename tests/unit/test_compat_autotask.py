"""spoolrt.compat.autotask, from django-autotask 0.5's README: the handle's attributes before
and after a run (real spool files, the pure-Python worker), an erroring task, start_now, and
autotask's cron conventions (Monday is 0, fields `minutes hours dow months dom`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import django.conf
import pytest

from spoolrt.api.schedules import Schedule, ScheduleDriver, cron, registry
from spoolrt.api.schedules import ticking as schedule_module
from spoolrt.compat import autotask
from spoolrt.compat.autotask import (
    DONE,
    ERROR,
    RUNNING,
    WAITING,
    cron_task,
    delayed_task,
    periodic_task,
)
from spoolrt.core.errors import InvalidTaskOption
from spoolrt.testing import LocalSpool, local_spool

UTC = timezone.utc
REPO = Path(__file__).resolve().parents[2]
calls: list[Any] = []


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


@delayed_task()
def send_mail(receivers: list[str], message: str) -> str:
    calls.append(("send_mail", receivers, message))
    return f"sent to {len(receivers)}"


@delayed_task()
def returns_nothing() -> None:
    calls.append("nothing")


@delayed_task(retries=1)
def breaks() -> None:
    calls.append("breaks")
    raise RuntimeError("mail server down")


@delayed_task(delay=30)
def later() -> str:
    return "later"


def schedule_of(task: Any) -> Schedule:
    return registry.get(task.name).schedule


def next_slots(schedule: Schedule, count: int, start: datetime) -> list[datetime]:
    slots, moment = [], start
    for _ in range(count):
        moment = schedule.next_slot(moment)
        slots.append(moment)
    return slots


# --- delayed_task and its handle ----------------------------------------------------------


def test_the_handle_before_and_after_the_run(local: LocalSpool) -> None:
    handle = send_mail(["ann@example.org", "bob@example.org"], "hello")
    assert (handle.status, handle.ready, handle.result, handle.error_message) == (
        WAITING,
        False,
        None,
        None,
    )
    assert calls == []  # returned at once; runs in another process (here: the worker below)
    local.run_until_empty()
    assert calls == [("send_mail", ["ann@example.org", "bob@example.org"], "hello")]
    assert (handle.status, handle.ready, handle.result, handle.error_message) == (
        DONE,
        True,
        "sent to 2",
        None,
    )


def test_a_function_returning_none_is_done_not_skipped(local: LocalSpool) -> None:
    handle = returns_nothing()
    local.run_until_empty()
    assert (handle.status, handle.ready, handle.result) == (DONE, True, None)


def test_an_erroring_task_retries_then_reports_error(local: LocalSpool) -> None:
    handle = breaks()
    local.run_once()
    assert handle.status == WAITING and not handle.ready  # its one retry is waiting
    assert "mail server down" in (handle.error_message or "")
    local.run_until_empty(include_postponed=True)
    assert calls == ["breaks", "breaks"]  # retries=1: two runs, then no more
    assert (handle.status, handle.ready, handle.result) == (ERROR, True, None)
    assert "RuntimeError: mail server down" in (handle.error_message or "")
    assert len(local.failed()) == 1


def test_delay_postpones_the_run(local: LocalSpool) -> None:
    handle = later()
    assert local.run_until_empty() == {}
    assert handle.status == WAITING
    local.run_until_empty(include_postponed=True)
    assert (handle.status, handle.result) == (DONE, "later")


def test_the_status_constants_keep_autotasks_values() -> None:
    assert (WAITING, RUNNING, DONE, ERROR) == (1, 2, 3, 4)


def test_bad_options_fail_when_decorating() -> None:
    with pytest.raises(InvalidTaskOption):
        delayed_task(delay=-1)
    with pytest.raises(InvalidTaskOption):
        delayed_task(retries=-1)


def test_inactive_autotask_leaves_the_function_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        django.conf, "settings", SimpleNamespace(configured=True, AUTOTASK_IS_ACTIVE=False)
    )

    def plain() -> str:
        return "inline"

    assert delayed_task()(plain) is plain
    assert periodic_task(seconds=60)(plain) is plain


# --- periodic_task ------------------------------------------------------------------------


def test_start_now_runs_at_the_first_tick_and_without_it_waits(local: LocalSpool) -> None:
    def eager_cleanup() -> None:
        calls.append("eager")

    def patient_cleanup() -> None:
        calls.append("patient")

    periodic_task(seconds=3600, start_now=True)(eager_cleanup)
    periodic_task(seconds=3600)(patient_cleanup)
    first = datetime(2024, 6, 3, 12, 30, tzinfo=UTC)
    schedule_module.tick(first)
    local.run_until_empty()
    assert calls == ["eager"]
    schedule_module.tick(first + timedelta(minutes=30))  # 13:00, the next slot of both
    local.run_until_empty()
    assert sorted(calls) == ["eager", "eager", "patient"]


# --- cron_task ----------------------------------------------------------------------------


def test_dow_zero_is_monday() -> None:
    def send_newsletter() -> None: ...

    task = cron_task(dow=[0], hours=[9], minutes=[0], tz="UTC")(send_newsletter)
    slots = next_slots(schedule_of(task), 8, datetime(2024, 6, 1, tzinfo=UTC))
    assert all(s.weekday() == 0 and (s.hour, s.minute) == (9, 0) for s in slots)
    assert [s.day for s in slots[:2]] == [3, 10]  # 2024-06-03 and -10 are Mondays


def test_the_readme_crontab_example_runs_on_mondays_at_7_30() -> None:
    def send_newsletter() -> None: ...

    task = cron_task(crontab="30 7 0 * *", tz="UTC")(send_newsletter)
    slots = next_slots(schedule_of(task), 5, datetime(2024, 6, 1, tzinfo=UTC))
    assert all(s.weekday() == 0 and (s.hour, s.minute) == (7, 30) for s in slots)


@pytest.mark.parametrize(
    ("crontab", "weekdays"),
    [("0 9 0-4 * *", {0, 1, 2, 3, 4}), ("0 9 5-6 * *", {5, 6}), ("0 9 6,2 * *", {6, 2})],
)
def test_crontab_dow_lists_and_ranges_count_from_monday(crontab: str, weekdays: set[int]) -> None:
    fields = autotask.cron_fields(crontab=crontab)
    schedule = cron(**fields, tz="UTC")
    slots = next_slots(schedule, 14, datetime(2024, 6, 1, tzinfo=UTC))
    assert {s.weekday() for s in slots} == weekdays


def test_dom_and_dow_complement_each_other() -> None:
    fields = autotask.cron_fields(minutes=[0], hours=[9], dow=[0], dom=[1])
    schedule = cron(**fields, tz="UTC")
    slots = next_slots(schedule, 6, datetime(2024, 6, 1, 12, tzinfo=UTC))
    assert [s.day for s in slots] == [3, 10, 17, 24, 1, 8]  # Mondays, and July 1st
    assert slots[4].month == 7


def test_a_crontab_wins_over_the_keyword_fields_and_keeps_its_field_order() -> None:
    fields = autotask.cron_fields(minutes=[5], crontab="15,30 7 * 4,7 10-15")
    assert fields == {
        "minutes": "15,30",
        "hours": "7",
        "dow": None,
        "months": "4,7",
        "dom": "10-15",
    }


def test_crontab_strings_beyond_autotasks_syntax_are_refused() -> None:
    for bad in ("*/5 * * * *", "0 9 mon * *", "0 9 * *"):
        with pytest.raises(InvalidTaskOption):
            autotask.cron_fields(crontab=bad)
    with pytest.raises(InvalidTaskOption, match="Monday is 0"):
        autotask.cron_fields(dow=[7])


def test_cron_reads_djangos_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        django.conf, "settings", SimpleNamespace(configured=True, TIME_ZONE="Asia/Tokyo")
    )
    schedule = cron(**autotask.cron_fields(minutes=[0], hours=[9]), tz=autotask._zone())
    slot = schedule.next_slot(datetime(2024, 6, 2, 20, tzinfo=UTC))
    assert slot == datetime(2024, 6, 3, 0, 0, tzinfo=UTC)


# --- the Django app -------------------------------------------------------------------------


def django_setup(*installed: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS={list(installed)!r}, SECRET_KEY="x" * 50)
        django.setup()
        print("ready")
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_the_app_takes_autotasks_place_beside_spoolrts_django_app() -> None:
    done = django_setup("spoolrt.contrib.django", "spoolrt.compat.autotask")
    assert done.returncode == 0, done.stderr
    alone = django_setup("spoolrt.compat.autotask")
    assert alone.returncode != 0
    assert "ImproperlyConfigured" in alone.stderr and "spoolrt.contrib.django" in alone.stderr
