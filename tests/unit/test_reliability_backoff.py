"""The retry backoff caps its delay before the power can overflow (issue 18, point 9).

``factor ** (attempt - 1)`` was computed before the cap: from attempt 1025 it raised
``OverflowError`` inside the bookkeeping, which kept the file and re-ran the task at every scan.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from spoolrt import Spooler, TaskStatus
from spoolrt.core.codec.envelope import Envelope, encode_body, spool_vars
from spoolrt.core.codec.packet import SpoolPacket
from spoolrt.core.codec.serializers import PickleSerializer, Signer
from spoolrt.core.config import Settings
from spoolrt.core.outcomes import RetryPolicy
from spoolrt.runtime.dispatch import Dispatcher

KEY = "unit-reliability-backoff-key-0123"


@Spooler.task(retries=5000)
def unit_always_fails() -> None:
    raise RuntimeError("always")


@pytest.mark.parametrize("attempt", [1025, 5000, 10**9])
def test_backoff_of_a_late_attempt_is_the_cap_not_an_overflow(attempt: int) -> None:
    policy = RetryPolicy(delay=1.0, factor=2.0, cap=3600.0, jitter=False)
    assert policy.delay_for(attempt) == 3600.0


def test_backoff_with_int_factor_and_huge_attempt_is_quick() -> None:
    """An int factor must not build a billion-bit int before capping it."""
    policy = RetryPolicy(delay=1, factor=2, cap=60, jitter=False)
    started = time.monotonic()
    assert policy.delay_for(10**9) == 60
    assert time.monotonic() - started < 1.0


def test_backoff_still_grows_below_the_cap_and_zero_stays_zero() -> None:
    policy = RetryPolicy(delay=1.0, factor=2.0, cap=3600.0, jitter=False)
    assert [policy.delay_for(n) for n in (1, 2, 3, 13)] == [1.0, 2.0, 4.0, 3600.0]
    assert RetryPolicy(delay=0.0, jitter=False).delay_for(5000) == 0.0
    assert RetryPolicy(delay=5.0, factor=1.0, jitter=False).delay_for(10**9) == 5.0


def test_jittered_late_backoff_stays_in_the_upper_half_of_the_cap() -> None:
    delay = RetryPolicy(delay=1.0, cap=100.0).delay_for(2000)
    assert 50.0 <= delay <= 100.0


def test_a_late_attempt_is_rescheduled_by_the_dispatcher(tmp_path: Path) -> None:
    name = f"{__name__}:unit_always_fails"
    env = Envelope(
        task_id="late",
        type_id="fcall",
        name=name,
        payload=PickleSerializer().dumps({"func": name, "arg": (), "kwg": {}}),
        attempt=1025,
        retries=5000,
        retry_delay=1.0,
        spooler=str(tmp_path),
    )
    packet = SpoolPacket(spool_vars(env), encode_body(env, Signer([KEY])))
    report = Dispatcher(Settings(secret_key=KEY), observers=[]).run(str(tmp_path), "f", packet)
    assert report.status is TaskStatus.RETRYING
    assert report.next_path
