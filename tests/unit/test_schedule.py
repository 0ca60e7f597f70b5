"""Schedules, missed-slot policies, slot claims and the ticker (spoolrt.api.schedules)."""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import random
import stat
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoolrt.api.schedules import (
    CronSchedule,
    IntervalSchedule,
    MissedSlotPolicy,
    MissedSlots,
    Schedule,
    ScheduleRegistry,
    ScheduleTicker,
    SlotClaims,
    cron,
    due_slots,
    name_token,
    periodic,
    slot_key,
)
from spoolrt.core.errors import ConfigurationError, DuplicateTaskName, InvalidTaskOption

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def upcoming(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    slots = []
    for _ in range(count):
        after = schedule.next_slot(after)
        slots.append(after)
    return slots


def days(slots: list[datetime]) -> list[date]:
    return [slot.date() for slot in slots]


# --- cron semantics -------------------------------------------------------------------------


def test_business_hours_expression_jumps_from_friday_evening_to_monday_morning() -> None:
    schedule = cron("*/15 9-17 * * mon-fri")
    friday_evening = utc(2024, 6, 7, 17, 40)  # a Friday
    assert upcoming(schedule, friday_evening, 3) == [
        utc(2024, 6, 7, 17, 45),
        utc(2024, 6, 10, 9, 0),
        utc(2024, 6, 10, 9, 15),
    ]


def test_day_of_month_and_weekday_both_restricted_run_on_either() -> None:
    # Fridays in October 2024 are the 4th, 11th, 18th and 25th; the 13th is a Sunday.
    slots = upcoming(cron("0 0 13 * fri"), utc(2024, 9, 30), 6)
    assert [slot.day for slot in slots] == [4, 11, 13, 18, 25, 1]


def test_only_weekday_restricted_runs_on_those_weekdays_only() -> None:
    slots = upcoming(cron("0 0 * * fri"), utc(2024, 9, 30), 5)
    assert {slot.weekday() for slot in slots} == {4}


def test_only_day_of_month_restricted_runs_on_those_days_only() -> None:
    slots = upcoming(cron("0 0 1-3 * *"), utc(2024, 9, 30), 6)
    assert [(slot.month, slot.day) for slot in slots] == [
        (10, 1), (10, 2), (10, 3), (11, 1), (11, 2), (11, 3),
    ]  # fmt: skip


def test_a_day_field_starting_with_star_counts_as_unrestricted_for_the_union_rule() -> None:
    # Vixie cron: "*/2" starts with "*", so day-of-month AND weekday must both match.
    slots = upcoming(cron("0 0 */2 * mon"), utc(2024, 9, 30), 4)
    assert all(slot.weekday() == 0 and slot.day % 2 == 1 for slot in slots)


def test_day_31_skips_months_without_one() -> None:
    slots = upcoming(cron("0 0 31 * *"), utc(2024, 1, 31), 4)
    assert days(slots) == [
        date(2024, 3, 31),
        date(2024, 5, 31),
        date(2024, 7, 31),
        date(2024, 8, 31),
    ]


def test_last_day_of_month_follows_month_lengths_and_leap_years() -> None:
    slots = upcoming(cron("0 0 L * *"), utc(2024, 1, 1), 4)
    assert days(slots) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_february_29_runs_only_in_leap_years() -> None:
    slots = upcoming(cron("0 12 29 2 *"), utc(2024, 3, 1), 2)
    assert slots == [utc(2028, 2, 29, 12), utc(2032, 2, 29, 12)]


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_day_that_never_exists_is_refused_at_decoration(expression: str) -> None:
    with pytest.raises(InvalidTaskOption):
        cron(expression)


def test_month_and_weekday_names_equal_their_numbers_in_any_case() -> None:
    after = utc(2024, 1, 1)
    by_number = upcoming(cron("0 9 * 1,7 0"), after, 12)
    assert upcoming(cron("0 9 * jan,jul sun"), after, 12) == by_number
    assert upcoming(cron("0 9 * JAN,Jul SUN"), after, 12) == by_number
    assert upcoming(cron("0 9 * 1,7 7"), after, 12) == by_number  # 7 is Sunday too


def test_steps_over_a_range_and_over_the_whole_field() -> None:
    assert [s.minute for s in upcoming(cron("5-50/15 * * * *"), utc(2024, 1, 1), 4)] == [
        5, 20, 35, 50,
    ]  # fmt: skip
    assert [s.month for s in upcoming(cron("0 0 1 */3 *"), utc(2024, 1, 1), 4)] == [4, 7, 10, 1]


def test_lists_of_ranges() -> None:
    hours = [s.hour for s in upcoming(cron("0 22-23,0-1 * * *"), utc(2024, 1, 1, 12), 5)]
    assert hours == [22, 23, 0, 1, 22]


def test_macros_are_their_expressions() -> None:
    assert cron("@daily") == cron("0 0 * * *")
    assert cron("@hourly").expression == "0 * * * *"


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "* * * *",
        "0 * * * * *",  # six fields (seconds) are not crontab
        "61 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "* * * * fri-mon",
        "*/0 * * * *",
        "abc * * * *",
        "@reboot",
    ],
)
def test_bad_expressions_are_refused_at_decoration(expression: str) -> None:
    with pytest.raises(InvalidTaskOption):
        cron(expression)


def test_keyword_form_builds_the_crontab_expression() -> None:
    schedule = cron(minutes=0, hours=range(9, 18), dow="mon-fri")
    assert schedule.expression == "0 9-17 * * mon-fri"
    assert schedule == cron("0 9-17 * * mon-fri")
    assert cron(minutes=[0, 30], dom=[1, 15], months=["jan", 7]).expression == "0,30 * 1,15 7,jan *"
    assert cron(minutes=range(0, 60, 20)).expression == "0,20,40 * * * *"
    assert cron().expression == "* * * * *"


@pytest.mark.parametrize(
    "fields",
    [
        {"minutes": 60},
        {"hours": -1},
        {"dom": 0},
        {"months": 13},
        {"dow": 8},
        {"minutes": True},
        {"minutes": []},
        {"minutes": range(0)},
        {"minutes": 1.5},
        {"hours": ["9"]},
        {"months": ["smarch"]},
        {"dow": "mon fri"},
        {"dow": "funday"},
    ],
)
def test_bad_keyword_fields_are_refused_at_decoration(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidTaskOption):
        cron(**fields)  # type: ignore[arg-type]


def test_expression_and_keyword_fields_together_are_refused() -> None:
    with pytest.raises(InvalidTaskOption, match="not both"):
        cron("0 * * * *", minutes=5)


def test_time_zone_defaults_to_utc_and_unknown_zones_are_refused() -> None:
    assert cron("0 9 * * *").zone is UTC
    assert cron("0 9 * * *", tz=BERLIN).zone is BERLIN
    with pytest.raises(InvalidTaskOption, match="Mars/Olympus"):
        cron("0 9 * * *", tz="Mars/Olympus")


def test_zone_moves_the_slots_with_the_local_wall_clock() -> None:
    schedule = cron("0 9 * * *", tz="Europe/Berlin")
    assert schedule.next_slot(utc(2024, 1, 10)) == utc(2024, 1, 10, 8)  # CET
    assert schedule.next_slot(utc(2024, 7, 10)) == utc(2024, 7, 10, 7)  # CEST


def test_missing_cronsim_is_a_configuration_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cronsim", None)  # makes `import cronsim` fail
    with pytest.raises(ConfigurationError, match=r"pip install 'spoolrt\[cron\]'"):
        cron("* * * * *")
    assert periodic(10).seconds == 10  # interval schedules do not need it


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cron("* * * * *").next_slot(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        periodic(5).next_slot(datetime(2024, 1, 1))


# Independent model of cron's day rule and field matching, for the property test below.
def _oracle_slots(
    fields: dict[str, set[int] | None], after: datetime, count: int
) -> list[datetime]:
    minutes, hours = sorted(fields["minutes"] or range(60)), sorted(fields["hours"] or range(24))
    dom, months, dow = fields["dom"], fields["months"], fields["dow"]
    found: list[datetime] = []
    day = after.date()
    for _ in range(366 * 9):
        in_dom = dom is None or day.day in dom
        in_dow = dow is None or (day.isoweekday() % 7) in dow
        day_ok = (in_dom and in_dow) if dom is None or dow is None else (in_dom or in_dow)
        if (months is None or day.month in months) and day_ok:
            for hour in hours:
                for minute in minutes:
                    slot = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if slot > after:
                        found.append(slot)
                        if len(found) == count:
                            return found
        day += timedelta(days=1)
    return found


def _subset(low: int, high: int, size: int) -> st.SearchStrategy[set[int]]:
    return st.sets(st.integers(low, high), min_size=1, max_size=size)


@settings(max_examples=150, deadline=None)
@given(
    minutes=_subset(0, 59, 4),
    hours=_subset(0, 23, 4),
    dom=st.none() | _subset(1, 31, 3),
    months=st.none() | _subset(1, 12, 3),
    dow=st.none() | _subset(0, 6, 2),
    after=st.datetimes(datetime(2023, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
)
def test_keyword_cron_agrees_with_an_independent_model_of_cron(
    minutes: set[int],
    hours: set[int],
    dom: set[int] | None,
    months: set[int] | None,
    dow: set[int] | None,
    after: datetime,
) -> None:
    fields = {"minutes": minutes, "hours": hours, "dom": dom, "months": months, "dow": dow}
    expected = _oracle_slots(fields, after, 3)
    try:
        schedule = cron(minutes=minutes, hours=hours, dom=dom, months=months, dow=dow)
    except InvalidTaskOption:
        assert expected == []  # refused only when no such day exists
        return
    assert upcoming(schedule, after, len(expected)) == expected


# --- daylight-saving time (Europe/Berlin: 2024-03-31 02:00 -> 03:00, 2024-10-27 03:00 -> 02:00)


def test_daily_0230_on_spring_forward_runs_once_at_0300() -> None:
    """02:30 does not exist on 2024-03-31 in Berlin: the job runs at 03:00 CEST, once."""
    schedule = cron("30 2 * * *", tz="Europe/Berlin")
    slots = upcoming(schedule, berlin(2024, 3, 30, 12), 2)
    assert slots == [utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30)]
    assert [s.astimezone(BERLIN).strftime("%d %H:%M %Z") for s in slots] == [
        "31 03:00 CEST",
        "01 02:30 CEST",
    ]


def test_daily_0230_on_fall_back_runs_once_at_the_first_0230() -> None:
    """02:30 happens twice on 2024-10-27 in Berlin: the job runs at 02:30 CEST only."""
    schedule = cron("30 2 * * *", tz="Europe/Berlin")
    slots = upcoming(schedule, berlin(2024, 10, 26, 12), 2)
    assert slots == [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
    assert [s.astimezone(BERLIN).strftime("%d %H:%M %Z") for s in slots] == [
        "27 02:30 CEST",
        "28 02:30 CET",
    ]


def test_fall_back_second_pass_neither_repeats_nor_loses_the_first_0230() -> None:
    schedule = cron("30 2 * * *", tz="Europe/Berlin")
    second_pass = berlin(2024, 10, 27, 2, 20, fold=1)  # 02:20 CET, after 02:30 CEST ran
    assert schedule.next_slot(second_pass) == utc(2024, 10, 28, 1, 30)
    assert schedule.latest_slot(second_pass) == utc(2024, 10, 27, 0, 30)


def test_wildcard_minutes_on_fall_back_run_each_real_instant_once() -> None:
    schedule = cron("*/30 * * * *", tz="Europe/Berlin")
    slots = upcoming(schedule, berlin(2024, 10, 27, 1, 40), 5)
    assert [s.astimezone(BERLIN).strftime("%H:%M %Z") for s in slots] == [
        "02:00 CEST",
        "02:30 CEST",
        "02:00 CET",
        "02:30 CET",
        "03:00 CET",
    ]
    assert len({slot_key("half-hourly", slot) for slot in slots}) == 5


def test_wildcard_minutes_on_spring_forward_skip_the_missing_hour() -> None:
    schedule = cron("*/30 * * * *", tz="Europe/Berlin")
    slots = upcoming(schedule, berlin(2024, 3, 31, 1, 10), 3)
    assert [s.astimezone(BERLIN).strftime("%H:%M %Z") for s in slots] == [
        "01:30 CET",
        "03:00 CEST",
        "03:30 CEST",
    ]


_DST_EXPRESSIONS = [
    "30 2 * * *",
    "*/30 * * * *",
    "0 */2 * * *",
    "15 1-3 * * *",
    "0 3 * * sun",
    "*/15 9-17 * * mon-fri",
    "0 0 13 * fri",
]
_DST_DAYS = [utc(2024, 3, 31), utc(2024, 10, 27), utc(2024, 6, 15)]


@settings(max_examples=200, deadline=None)
@given(
    expression=st.sampled_from(_DST_EXPRESSIONS),
    zone=st.sampled_from([BERLIN, UTC]),
    day=st.sampled_from(_DST_DAYS),
    offset=st.integers(-2 * 86400, 2 * 86400),
    limit=st.integers(1, 4),
)
def test_latest_slots_agree_with_forward_iteration(
    expression: str, zone: ZoneInfo, day: datetime, offset: int, limit: int
) -> None:
    schedule = cron(expression, tz=zone)
    until = day + timedelta(seconds=offset)
    latest = schedule.latest_slots(until, limit=limit)
    assert len(latest) == limit
    assert all(slot <= until for slot in latest)
    for earlier, later in itertools.pairwise(latest):
        assert schedule.next_slot(earlier) == later
    assert schedule.next_slot(latest[-1]) > until
    assert schedule.latest_slots(until, after=latest[0], limit=limit) == latest[1:]


# --- interval schedules ---------------------------------------------------------------------


def test_interval_slots_are_aligned_to_the_epoch_whenever_a_process_starts() -> None:
    every_minute = periodic(60)
    starts = [utc(2024, 5, 1, 12, 0, 1), utc(2024, 5, 1, 12, 0, 30), utc(2024, 5, 1, 12, 0, 59)]
    assert {every_minute.next_slot(start) for start in starts} == {utc(2024, 5, 1, 12, 1)}
    assert periodic(86400).next_slot(utc(2024, 5, 1, 7)) == utc(2024, 5, 2)


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.integers(1, 10 * 86400),
    moment=st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_interval_slot_arithmetic(seconds: int, moment: datetime) -> None:
    schedule = periodic(seconds)
    latest = schedule.latest_slot(moment)
    following = schedule.next_slot(moment)
    assert latest is not None
    assert latest <= moment < following
    assert following - latest == timedelta(seconds=seconds)
    assert int(following.timestamp()) % seconds == 0


def test_interval_accepts_whole_seconds_in_any_spelling() -> None:
    assert periodic(timedelta(minutes=5)) == IntervalSchedule(300)
    assert periodic(30.0, start_now=True) == IntervalSchedule(30, start_now=True)


@pytest.mark.parametrize("seconds", [0, -5, 1.5, True, "10", timedelta(seconds=1.5), None])
def test_bad_intervals_are_refused_at_decoration(seconds: object) -> None:
    with pytest.raises(InvalidTaskOption):
        periodic(seconds)  # type: ignore[arg-type]


# --- missed slots ---------------------------------------------------------------------------

_LAST = utc(2024, 1, 1, 10, 0)
_AFTER_DOWNTIME = utc(2024, 1, 1, 10, 5, 30)


def _missed(policy: MissedSlotPolicy, now: datetime = _AFTER_DOWNTIME) -> list[datetime]:
    return due_slots(periodic(60), last=_LAST, now=now, policy=policy)


def test_default_policy_runs_the_newest_missed_slot_once() -> None:
    assert due_slots(periodic(60), last=_LAST, now=_AFTER_DOWNTIME) == [utc(2024, 1, 1, 10, 5)]


def test_all_policy_runs_every_missed_slot_oldest_first() -> None:
    expected = [utc(2024, 1, 1, 10, minute) for minute in range(1, 6)]
    assert _missed(MissedSlotPolicy(MissedSlots.ALL)) == expected


def test_all_policy_is_bounded_to_the_newest_slots() -> None:
    assert _missed(MissedSlotPolicy("all", limit=2)) == [
        utc(2024, 1, 1, 10, 4),
        utc(2024, 1, 1, 10, 5),
    ]


def test_all_policy_after_a_year_of_downtime_is_bounded_and_fast() -> None:
    started = time.perf_counter()
    policy = MissedSlotPolicy("all", limit=100)
    now = utc(2024, 1, 1, 0, 0, 30)
    slots = due_slots(cron("* * * * *"), last=utc(2023, 1, 1), now=now, policy=policy)
    assert len(slots) == 100 and slots[-1] == utc(2024, 1, 1)
    assert time.perf_counter() - started < 2.0


def test_skip_policy_runs_a_slot_within_grace_and_drops_older_ones() -> None:
    assert _missed(MissedSlotPolicy("skip", grace=60)) == [utc(2024, 1, 1, 10, 5)]
    assert _missed(MissedSlotPolicy("skip", grace=10)) == []


def test_nothing_is_due_once_the_newest_slot_ran() -> None:
    for missed in MissedSlots:
        policy = MissedSlotPolicy(missed)
        last = utc(2024, 1, 1, 10, 5)
        assert due_slots(periodic(60), last=last, now=_AFTER_DOWNTIME, policy=policy) == []


def test_without_history_a_cron_job_waits_for_its_next_slot() -> None:
    schedule = cron("0 * * * *")
    started = utc(2024, 1, 1, 10, 20)
    assert due_slots(schedule, last=None, now=started, since=started) == []
    assert due_slots(schedule, last=None, now=utc(2024, 1, 1, 10, 59), since=started) == []
    assert due_slots(schedule, last=None, now=utc(2024, 1, 1, 11, 0, 1), since=started) == [
        utc(2024, 1, 1, 11)
    ]


def test_without_history_start_now_runs_the_current_interval_slot_at_once() -> None:
    started = utc(2024, 1, 1, 10, 20, 30)
    assert due_slots(periodic(60, start_now=True), last=None, now=started) == [
        utc(2024, 1, 1, 10, 20)
    ]
    assert due_slots(periodic(60), last=None, now=started, since=started) == []


@pytest.mark.parametrize(
    "options",
    [{"missed": "sometimes"}, {"limit": 0}, {"limit": True}, {"grace": -1}, {"grace": "1m"}],
)
def test_bad_policies_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(InvalidTaskOption):
        MissedSlotPolicy(**options)  # type: ignore[arg-type]


def test_policy_accepts_decorator_spellings() -> None:
    assert MissedSlotPolicy.of(None) == MissedSlotPolicy()
    assert MissedSlotPolicy.of("all").missed is MissedSlots.ALL
    assert MissedSlotPolicy.of(MissedSlots.SKIP).missed is MissedSlots.SKIP
    assert MissedSlotPolicy(grace=30).grace == timedelta(seconds=30)
    with pytest.raises(InvalidTaskOption):
        MissedSlotPolicy.of("never")


# --- slot keys and claims -------------------------------------------------------------------


def test_slot_key_is_stable_readable_and_safe() -> None:
    assert slot_key("app.tasks:cleanup", utc(2024, 1, 31, 2, 30)) == (
        "app.tasks%3Acleanup@20240131T023000Z"
    )
    assert slot_key("x", berlin(2024, 1, 31, 3, 30)) == "x@20240131T023000Z"  # same instant


def test_name_tokens_are_distinct_and_never_escape_the_directory() -> None:
    names = ["a/b", "a%2Fb", ".", "..", ".hidden", "tâche", "a" * 300, "a" * 299 + "b"]
    tokens = [name_token(name) for name in names]
    assert len(set(tokens)) == len(names)
    for token in tokens:
        assert "/" not in token and not token.startswith(".") and len(token) <= 121


def test_slots_with_fractions_of_a_second_have_no_key() -> None:
    with pytest.raises(ValueError, match="whole seconds"):
        slot_key("x", utc(2024, 1, 1, 0, 0, 0, 5))


def test_a_slot_is_claimed_once_even_across_restarts(tmp_path: Path) -> None:
    slot = utc(2024, 1, 1, 10)
    assert SlotClaims(tmp_path).claim("job", slot) is True
    assert SlotClaims(tmp_path).claim("job", slot) is False
    assert SlotClaims(tmp_path).claim("other-job", slot) is True


def test_claims_are_private_to_the_user(tmp_path: Path) -> None:
    directory = tmp_path / "claims"
    SlotClaims(directory).claim("job", utc(2024, 1, 1))
    marker = directory / "job" / "20240101T000000Z"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "job").stat().st_mode) == 0o700
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    assert json.loads(marker.read_text())["pid"] == os.getpid()


def test_last_claimed_is_remembered_from_the_markers(tmp_path: Path) -> None:
    SlotClaims(tmp_path).claim("job", utc(2024, 1, 1, 10))
    SlotClaims(tmp_path).claim("job", utc(2024, 1, 1, 11))
    assert SlotClaims(tmp_path).last_claimed("job") == utc(2024, 1, 1, 11)
    assert SlotClaims(tmp_path).last_claimed("never-ran") is None


def _age_markers(claims: SlotClaims, name: str, seconds: float, only: int | None = None) -> None:
    folder = claims.directory / name_token(name)
    markers = sorted(folder.iterdir())
    for marker in markers if only is None else [markers[only]]:
        old = time.time() - seconds
        os.utime(marker, (old, old))


def test_pruning_keeps_the_newest_markers(tmp_path: Path) -> None:
    claims = SlotClaims(tmp_path, keep=3, min_age=60)
    slots = [utc(2024, 1, 1, hour) for hour in range(8)]
    for slot in slots:
        claims.claim("job", slot)
    assert claims.claimed("job") == slots  # all younger than min_age
    _age_markers(claims, "job", 120)
    assert claims.prune("job") == 5
    assert claims.claimed("job") == slots[-3:]


def test_pruning_removes_only_the_oldest_run_of_old_markers(tmp_path: Path) -> None:
    claims = SlotClaims(tmp_path, keep=1, min_age=60)
    slots = [utc(2024, 1, 1, hour) for hour in range(4)]
    for slot in slots:
        claims.claim("job", slot)
    _age_markers(claims, "job", 120, only=0)
    _age_markers(claims, "job", 120, only=2)
    claims.prune("job")
    assert claims.claimed("job") == slots[1:]


def test_a_pruned_slot_cannot_be_claimed_again(tmp_path: Path) -> None:
    claims = SlotClaims(tmp_path, keep=2, min_age=0)
    for hour in range(1, 6):
        assert claims.claim("job", utc(2024, 1, 1, hour))
    assert claims.claimed("job") == [utc(2024, 1, 1, 4), utc(2024, 1, 1, 5)]
    assert claims.claim("job", utc(2024, 1, 1, 1)) is False  # pruned, not forgotten
    assert claims.claim("job", utc(2024, 1, 1, 0)) is False  # older than anything kept
    assert claims.claimed("job") == [utc(2024, 1, 1, 4), utc(2024, 1, 1, 5)]


def test_before_any_pruning_an_older_slot_can_still_be_claimed(tmp_path: Path) -> None:
    claims = SlotClaims(tmp_path, keep=2, min_age=0)
    assert claims.claim("job", utc(2024, 1, 1, 5))
    assert claims.claim("job", utc(2024, 1, 1, 4))  # a first run racing in out of order


# --- registry -------------------------------------------------------------------------------

_TASKS_SOURCE = "def cleanup():\n    return 'cleaned'\n"


def _execute_module(source: str, module_name: str, filename: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": module_name}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_registry_accepts_a_module_executed_twice() -> None:
    registry = ScheduleRegistry()
    first = _execute_module(_TASKS_SOURCE, "app.tasks", "/app/tasks.py")["cleanup"]
    again = _execute_module(_TASKS_SOURCE, "app.tasks", "/app/tasks.py")["cleanup"]
    under_file_name = _execute_module(_TASKS_SOURCE, "uwsgi_file_tasks", "/app/tasks.py")["cleanup"]
    assert first is not again
    registry.register("cleanup", periodic(60), first)
    registry.register("cleanup", periodic(60), again)
    registry.register("cleanup", periodic(60), under_file_name)
    assert registry.get("cleanup").target is under_file_name
    assert len(registry) == 1


def test_registry_refuses_a_different_callable_under_a_taken_name() -> None:
    registry = ScheduleRegistry()
    registry.register("report", periodic(60), test_registry_accepts_a_module_executed_twice)
    with pytest.raises(DuplicateTaskName, match="report"):
        registry.register("report", periodic(60), test_registry_lookup_names_what_it_knows)


def test_registry_refuses_a_second_lambda_but_accepts_the_same_one() -> None:
    registry = ScheduleRegistry()
    job = lambda: None  # noqa: E731
    registry.register("job", periodic(60), job)
    registry.register("job", periodic(60), job)
    assert len(registry) == 1
    with pytest.raises(DuplicateTaskName):
        registry.register("job", periodic(60), lambda: None)


def test_registry_refuses_one_object_under_one_name_with_two_schedules() -> None:
    registry = ScheduleRegistry()
    registry.register("report", cron("0 9 * * *"), print)
    with pytest.raises(DuplicateTaskName, match="its own name"):
        registry.register("report", cron("0 17 * * *"), print)
    assert registry.get("report").schedule == cron("0 9 * * *")


class _FailingSecondClaim(SlotClaims):
    calls = 0

    def claim(self, name: str, slot: datetime) -> bool:
        self.calls += 1
        if self.calls == 2:
            raise OSError("disk full")
        return super().claim(name, slot)


def test_ticker_returns_slots_claimed_before_a_later_claim_failed(tmp_path: Path) -> None:
    registry = ScheduleRegistry()
    registry.register("minutely", periodic(60), print, policy="all")
    start = utc(2024, 1, 1, 10, 0, 30)
    ticker = ScheduleTicker(registry, _FailingSecondClaim(tmp_path), started_at=start)
    assert [d.slot for d in ticker.tick(utc(2024, 1, 1, 10, 2))] == [utc(2024, 1, 1, 10, 1)]
    assert [d.slot for d in ticker.tick(utc(2024, 1, 1, 10, 2))] == [utc(2024, 1, 1, 10, 2)]


def test_registry_uses_an_explicit_identity_for_instances() -> None:
    class WebPath:
        def __init__(self, path: str) -> None:
            self.path = path

    registry = ScheduleRegistry()
    registry.register("ping", periodic(60), WebPath("/ping"), identity="web:/ping")
    registry.register("ping", periodic(60), WebPath("/ping"), identity="web:/ping")
    with pytest.raises(DuplicateTaskName):
        registry.register("ping", periodic(60), WebPath("/pong"), identity="web:/pong")


def test_registry_lookup_names_what_it_knows() -> None:
    registry = ScheduleRegistry()
    registry.register("b", periodic(60), print)
    registry.register("a", periodic(60), repr)
    assert [entry.name for entry in registry] == ["b", "a"]
    assert "a" in registry and "c" not in registry
    with pytest.raises(KeyError, match="known: a, b"):
        registry.get("c")


# --- ticker ---------------------------------------------------------------------------------


def _registry(**schedules: Schedule) -> ScheduleRegistry:
    registry = ScheduleRegistry()
    for name, schedule in schedules.items():
        registry.register(name, schedule, print, identity=name)
    return registry


def test_ticker_claims_each_due_slot_in_one_process_only(tmp_path: Path) -> None:
    registry = _registry(minutely=periodic(60))
    start = utc(2024, 1, 1, 10, 0, 30)
    ticker = ScheduleTicker(registry, SlotClaims(tmp_path), started_at=start)
    other = ScheduleTicker(registry, SlotClaims(tmp_path), started_at=start)
    assert ticker.tick(start) == []
    due = ticker.tick(utc(2024, 1, 1, 10, 1, 0))
    assert [(d.name, d.slot, d.key) for d in due] == [
        ("minutely", utc(2024, 1, 1, 10, 1), "minutely@20240101T100100Z")
    ]
    assert other.tick(utc(2024, 1, 1, 10, 1, 0)) == []
    assert [d.slot for d in other.tick(utc(2024, 1, 1, 10, 2, 0))] == [utc(2024, 1, 1, 10, 2)]


def test_ticker_after_downtime_runs_the_newest_missed_slot_once(tmp_path: Path) -> None:
    registry = _registry(hourly=cron("0 * * * *"))
    before = ScheduleTicker(registry, SlotClaims(tmp_path), started_at=utc(2024, 1, 1, 9, 30))
    assert len(before.tick(utc(2024, 1, 1, 10))) == 1
    restarted = ScheduleTicker(registry, SlotClaims(tmp_path), started_at=utc(2024, 1, 2, 8, 10))
    assert [d.slot for d in restarted.tick(utc(2024, 1, 2, 8, 10))] == [utc(2024, 1, 2, 8)]
    assert restarted.tick(utc(2024, 1, 2, 8, 11)) == []


class _CountingClaims(SlotClaims):
    reads = 0

    def last_claimed(self, name: str) -> datetime | None:
        self.reads += 1
        return super().last_claimed(name)


def test_ticker_reads_markers_only_when_a_slot_has_come(tmp_path: Path) -> None:
    claims = _CountingClaims(tmp_path)
    start = utc(2024, 1, 1, 10, 0, 5)
    ticker = ScheduleTicker(_registry(tens=periodic(10)), claims, started_at=start)
    ticker.tick(start)
    assert ticker.next_wakeup() == utc(2024, 1, 1, 10, 0, 10)
    for second in range(6, 10):
        ticker.tick(utc(2024, 1, 1, 10, 0, second))
    assert claims.reads == 1
    assert len(ticker.tick(utc(2024, 1, 1, 10, 0, 10))) == 1
    assert claims.reads == 2


class _BrokenSchedule(IntervalSchedule):
    def latest_slots(
        self, until: datetime, *, after: datetime | None = None, limit: int = 1
    ) -> list[datetime]:
        raise RuntimeError("broken")


def test_ticker_logs_a_failing_schedule_and_runs_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _registry(broken=_BrokenSchedule(60), fine=periodic(60))
    ticker = ScheduleTicker(registry, SlotClaims(tmp_path), started_at=utc(2024, 1, 1, 10, 0, 30))
    with caplog.at_level(logging.ERROR, logger="spoolrt.schedule"):
        due = ticker.tick(utc(2024, 1, 1, 10, 1))
    assert [d.name for d in due] == ["fine"]
    assert "'broken'" in caplog.text


# --- many processes -------------------------------------------------------------------------


def _claim_all(directory: str, start: float, seed: int, count: int, barrier: object) -> list[int]:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    claims = SlotClaims(directory)
    barrier.wait(timeout=30)  # type: ignore[attr-defined]
    won = []
    for index in order:
        if claims.claim("race", datetime.fromtimestamp(start + index * 60, UTC)):
            won.append(index)
    return won


def _tick_all(directory: str, start: float, ticks: int, barrier: object) -> list[int]:
    registry = _registry(every_second=periodic(1))
    claims = SlotClaims(directory)
    began = datetime.fromtimestamp(start, UTC)
    ticker = ScheduleTicker(registry, claims, started_at=began)
    barrier.wait(timeout=30)  # type: ignore[attr-defined]
    won = []
    for second in range(ticks + 1):
        for due in ticker.tick(began + timedelta(seconds=second)):
            won.append(int(due.slot.timestamp() - start))
    return won


_PROCESSES = 4


def _report(results: Any, index: int, target: Any, args: tuple[object, ...]) -> None:
    try:
        results.put((index, target(*args)))
    except BaseException as exc:
        results.put((index, exc))


def _run_in_processes(
    target: object, args_per_process: list[tuple[object, ...]]
) -> list[list[int]]:
    """Run ``target`` in one process per argument tuple, started together through a barrier."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(args_per_process))
    results = context.Queue()
    processes = [
        context.Process(target=_report, args=(results, index, target, (*args, barrier)))
        for index, args in enumerate(args_per_process)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = dict(results.get(timeout=60) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    for outcome in outcomes.values():
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcomes[index] for index in range(len(processes))]


def test_racing_processes_claim_each_slot_exactly_once(tmp_path: Path) -> None:
    count = 300
    start = utc(2024, 1, 1).timestamp()
    results = _run_in_processes(
        _claim_all, [(str(tmp_path), start, seed, count) for seed in range(_PROCESSES)]
    )
    claimed = [index for won in results for index in won]
    assert sorted(claimed) == list(range(count))
    assert sum(1 for won in results if won) > 1  # it was a race, not one process doing it all


def test_racing_tickers_enqueue_every_slot_exactly_once(tmp_path: Path) -> None:
    """Tickers on the same clock with the catch-up policy: every slot once, none twice."""
    ticks = 120
    start = utc(2024, 1, 1).timestamp()
    results = _run_in_processes(
        _tick_all_catching_up, [(str(tmp_path), start, ticks) for _ in range(_PROCESSES - 1)]
    )
    claimed = [second for won in results for second in won]
    assert sorted(claimed) == list(range(1, ticks + 1))


def _tick_all_catching_up(directory: str, start: float, ticks: int, barrier: object) -> list[int]:
    registry = ScheduleRegistry()
    registry.register("every_second", periodic(1), print, identity="e", policy="all")
    began = datetime.fromtimestamp(start, UTC)
    ticker = ScheduleTicker(registry, SlotClaims(directory), started_at=began)
    barrier.wait(timeout=30)  # type: ignore[attr-defined]
    won = []
    for second in range(ticks + 1):
        for due in ticker.tick(began + timedelta(seconds=second)):
            won.append(int(due.slot.timestamp() - start))
    return won


def test_racing_tickers_with_the_default_policy_never_duplicate(tmp_path: Path) -> None:
    ticks = 120
    start = utc(2024, 1, 1).timestamp()
    results = _run_in_processes(_tick_all, [(str(tmp_path), start, ticks) for _ in range(3)])
    claimed = [second for won in results for second in won]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) <= set(range(1, ticks + 1))
    assert ticks in claimed  # the last slot always runs


def test_cron_schedule_is_a_value() -> None:
    assert cron("0 9 * * *", tz="Europe/Berlin") == CronSchedule("0  9 * * *", BERLIN)
    assert len({cron("@daily"), cron("0 0 * * *")}) == 1
    assert str(cron("0 9 * * *", tz="Europe/Berlin")) == "cron '0 9 * * *' (Europe/Berlin)"
