"""A ``Retry`` or ``ResultRescheduled`` with a time the bookkeeping cannot use (issue 18, 9).

``Retry(delay="soon")``, ``Retry(delay=inf)`` and ``Retry(at=<naive datetime>)`` were accepted,
then raised inside the bookkeeping (or parked the task for years): the file was kept and the task
body ran again at every pass. Now they are refused where they are raised, which makes the run an
ordinary failed attempt, and the dispatcher falls back to the retry policy for any value that
still reaches it: the outcome is bounded either way.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Retry, Spooler, TaskStatus
from spoolrt.core.codec.envelope import Envelope, encode_body, spool_vars
from spoolrt.core.codec.packet import SpoolPacket
from spoolrt.core.codec.serializers import PickleSerializer, Signer
from spoolrt.core.config import Settings
from spoolrt.core.outcomes import ResultRescheduled
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.spooldir.listing import iter_pending

KEY = "unit-reliability-retry-key-01234"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"delay": "soon"}, TypeError),
        ({"delay": True}, TypeError),
        ({"delay": float("inf")}, ValueError),
        ({"delay": float("-inf")}, ValueError),
        ({"delay": float("nan")}, ValueError),
        ({"delay": timedelta(days=10**6)}, ValueError),
        ({"delay": 1e300}, ValueError),
        ({"at": datetime(2030, 1, 1)}, ValueError),  # naive: a different instant in every zone
        ({"at": "2030-01-01"}, TypeError),
        ({"at": 1893456000}, TypeError),
    ],
)
def test_a_bad_time_is_refused_where_it_is_raised(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match=r"Retry\("):
        Retry("later", **kwargs)
    with pytest.raises(error, match=r"ResultRescheduled\("):
        ResultRescheduled(**kwargs)


def test_good_times_are_kept_as_given() -> None:
    aware = datetime.now(timezone.utc) + timedelta(hours=1)
    assert Retry(delay=5).delay == 5
    assert Retry(delay=2.5).delay == 2.5
    assert Retry(delay=0).delay == 0
    assert Retry(delay=timedelta(minutes=1)).delay == timedelta(minutes=1)
    assert Retry(at=aware).at == aware
    assert Retry().delay is None and Retry().at is None
    assert ResultRescheduled(delay=3).delay == 3 and ResultRescheduled(at=aware).at == aware


@Spooler.task(retries=2, retry_delay=0)
def unit_bad_retry(mode: str) -> None:
    if mode == "soon":
        raise Retry("later", delay="soon")  # type: ignore[arg-type]
    if mode == "inf":
        raise Retry("later", delay=float("inf"))
    if mode == "naive":
        raise Retry("later", at=datetime(2030, 1, 1))
    if mode == "mutated":
        signal = Retry("later", delay=1)
        signal.delay = "soon"  # type: ignore[assignment]  # past the check: the dispatcher copes
        raise signal
    if mode == "returned":
        result = ResultRescheduled(delay=1)
        result.delay = float("inf")  # the same, for a returned verdict
        return result  # type: ignore[return-value]


def _packet(spool: Path, mode: str, attempt: int) -> SpoolPacket:
    name = f"{__name__}:unit_bad_retry"
    env = Envelope(
        task_id=f"bad-{mode}",
        type_id="fcall",
        name=name,
        payload=PickleSerializer().dumps({"func": name, "arg": (mode,), "kwg": {}}),
        attempt=attempt,
        retries=2,
        retry_delay=0,
        spooler=str(spool),
    )
    return SpoolPacket(spool_vars(env), encode_body(env, Signer([KEY])))


@pytest.mark.parametrize("mode", ["soon", "inf", "naive", "mutated", "returned"])
def test_a_bad_retry_value_ends_in_a_bounded_outcome(tmp_path: Path, mode: str) -> None:
    """Each run counts as an attempt with the policy's delay, and the last one fails for good."""
    dispatcher = Dispatcher(Settings(secret_key=KEY), observers=[])
    first = dispatcher.run(str(tmp_path), "f1", _packet(tmp_path, mode, attempt=1))
    assert first.status is TaskStatus.RETRYING
    assert first.next_at is not None and math.isfinite(first.next_at)
    assert first.next_at <= time.time() + 1  # the policy's delay (0 s), not years away
    assert len(list(iter_pending(str(tmp_path)))) == 1
    last = dispatcher.run(str(tmp_path), "f3", _packet(tmp_path, mode, attempt=3))
    assert last.status is TaskStatus.FAILED
    assert last.kept_path


def test_the_refusal_is_the_recorded_error(tmp_path: Path) -> None:
    dispatcher = Dispatcher(Settings(secret_key=KEY), observers=[])
    report = dispatcher.run(str(tmp_path), "f3", _packet(tmp_path, "soon", attempt=3))
    assert report.error.startswith("TypeError: Retry(")
    assert "'soon'" in report.error
