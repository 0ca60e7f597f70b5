from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from spoolrt.core.errors import InvalidTaskOption
from spoolrt.core.options import check_delay, check_priority, check_retries, resolve_at

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("postpone", "expected"),
    [
        (None, None),
        (0, None),
        (5, NOW + 5),
        (2.5, NOW + 2.5),
        (timedelta(minutes=1), NOW + 60),
        (datetime.fromtimestamp(NOW + 7, tz=timezone.utc), NOW + 7),
    ],
)
def test_postpone_forms(postpone: object, expected: float | None) -> None:
    assert resolve_at(postpone, NOW) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "postpone", [datetime(2030, 1, 1), -1, float("inf"), True, "5", timedelta(seconds=-3)]
)
def test_bad_postpone_is_refused(postpone: object) -> None:
    with pytest.raises(InvalidTaskOption):
        resolve_at(postpone, NOW)  # type: ignore[arg-type]


def test_naive_datetime_error_says_what_to_do() -> None:
    with pytest.raises(InvalidTaskOption, match="aware"):
        resolve_at(datetime(2030, 1, 1), NOW)


@pytest.mark.parametrize("priority", [None, 0, 1, 99])
def test_good_priorities(priority: int | None) -> None:
    assert check_priority(priority) == priority


@pytest.mark.parametrize("priority", [-1, "1", 1.0, True, b"1"])
def test_bad_priorities(priority: object) -> None:
    with pytest.raises(InvalidTaskOption):
        check_priority(priority)


def test_retries_and_delay_checks() -> None:
    assert check_retries(0) == 0
    assert check_delay(timedelta(seconds=2)) == 2.0
    for bad in (-1, 1.5, True, None):
        with pytest.raises(InvalidTaskOption):
            check_retries(bad)
    for bad_delay in (-0.1, float("nan"), "1"):
        with pytest.raises(InvalidTaskOption):
            check_delay(bad_delay)
