from __future__ import annotations

import random

import pytest

from spoolrt.core.outcomes import (
    Outcome,
    ResultProcessed,
    ResultRescheduled,
    ResultSkipped,
    RetryPolicy,
    TaskStatus,
    to_task_result,
)


def test_return_values_map_to_outcomes() -> None:
    assert to_task_result(None).outcome is Outcome.SKIPPED
    assert to_task_result(0).outcome is Outcome.PROCESSED
    assert to_task_result(False).outcome is Outcome.PROCESSED
    kept = to_task_result({"a": 1})
    assert kept.outcome is Outcome.PROCESSED and kept.result == {"a": 1}
    for explicit in (ResultProcessed(), ResultSkipped(), ResultRescheduled()):
        assert to_task_result(explicit) is explicit


def test_backoff_grows_then_caps() -> None:
    policy = RetryPolicy(retries=10, delay=1, cap=10, jitter=False)
    assert [policy.delay_for(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_stays_within_the_upper_half() -> None:
    policy = RetryPolicy(delay=4)
    rng = random.Random(7)
    delays = [policy.delay_for(1, rng) for _ in range(1000)]
    assert min(delays) >= 2.0 and max(delays) <= 4.0
    assert len(set(delays)) > 900


def test_attempts_are_bounded_by_retries() -> None:
    policy = RetryPolicy(retries=2)
    assert [policy.can_retry(a) for a in (1, 2, 3)] == [True, True, False]
    assert RetryPolicy(retries=0).can_retry(1) is False


@pytest.mark.parametrize(
    "bad", [{"retries": -1}, {"retries": True}, {"delay": -1}, {"factor": 0.5}]
)
def test_bad_policies_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_final_statuses() -> None:
    assert {s for s in TaskStatus if s.is_final} == {
        TaskStatus.DONE,
        TaskStatus.SKIPPED,
        TaskStatus.FAILED,
        TaskStatus.QUARANTINED,
        TaskStatus.CANCELLED,
    }
