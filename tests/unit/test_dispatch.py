"""The dispatcher's bookkeeping on real files in a temporary spool dir (no uWSGI)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Retry, Skip, Spooler, TaskStatus
from spoolrt.core.codec.envelope import Envelope, encode_body, spool_vars
from spoolrt.core.codec.packet import SpoolPacket, unpack
from spoolrt.core.codec.serializers import PickleSerializer, Signer
from spoolrt.core.config import Settings
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.spooldir.listing import iter_area, iter_pending

KEY = "unit-dispatch-key-0123456789"
calls: list[Any] = []


@Spooler.task(retries=2, retry_delay=10)
def unit_flaky(mode: str) -> Any:
    calls.append(mode)
    if mode == "raise":
        raise ValueError("nope")
    if mode == "retry-now":
        raise Retry("later", delay=0)
    if mode == "skip":
        raise Skip()
    return {"mode": mode}


@pytest.fixture
def dispatcher() -> Dispatcher:
    calls.clear()
    return Dispatcher(Settings(secret_key=KEY))


def packet(
    spool: Path, *, name: str, args: tuple[Any, ...], attempt: int = 1, key: str = KEY
) -> SpoolPacket:
    env = Envelope(
        task_id="tid",
        type_id="fcall",
        name=name,
        payload=PickleSerializer().dumps({"func": name, "arg": args, "kwg": {}}),
        attempt=attempt,
        retries=2,
        retry_delay=10,
        spooler=str(spool),
    )
    return SpoolPacket(spool_vars(env), encode_body(env, Signer([key])))


NAME = f"{__name__}:unit_flaky"


def test_processed_keeps_the_result_and_writes_nothing(
    tmp_path: Path, dispatcher: Dispatcher
) -> None:
    report = dispatcher.run(str(tmp_path), "f1", packet(tmp_path, name=NAME, args=("ok",)))
    assert report.status is TaskStatus.DONE and report.result == {"mode": "ok"}
    assert list(iter_pending(str(tmp_path))) == []


def test_skip_signal_is_final(tmp_path: Path, dispatcher: Dispatcher) -> None:
    report = dispatcher.run(str(tmp_path), "f1", packet(tmp_path, name=NAME, args=("skip",)))
    assert report.status is TaskStatus.SKIPPED
    assert list(iter_pending(str(tmp_path))) == []


def test_exception_writes_the_next_attempt_in_the_future(
    tmp_path: Path, dispatcher: Dispatcher
) -> None:
    before = time.time()
    report = dispatcher.run(str(tmp_path), "f1", packet(tmp_path, name=NAME, args=("raise",)))
    assert report.status is TaskStatus.RETRYING and "ValueError: nope" in report.error
    (path,) = list(iter_pending(str(tmp_path)))
    assert os.stat(path).st_mtime >= before + 5  # retry_delay 10, jitter keeps >= half
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    env = Spooler.read_task_file(path)
    assert (env.task_id, env.attempt) == ("tid", 2)


def test_retry_signal_with_explicit_delay(tmp_path: Path, dispatcher: Dispatcher) -> None:
    report = dispatcher.run(str(tmp_path), "f1", packet(tmp_path, name=NAME, args=("retry-now",)))
    assert report.status is TaskStatus.RETRYING
    assert report.next_at is not None and report.next_at <= time.time() + 1


def test_last_attempt_goes_to_failed_with_its_traceback(
    tmp_path: Path, dispatcher: Dispatcher
) -> None:
    incoming = packet(tmp_path, name=NAME, args=("raise",), attempt=3)
    report = dispatcher.run(str(tmp_path), "f3", incoming)
    assert report.status is TaskStatus.FAILED
    assert list(iter_pending(str(tmp_path))) == []
    (kept,) = list(iter_area(str(tmp_path), "failed"))
    assert unpack(Path(kept).read_bytes()) == incoming
    record = json.loads(Path(kept + ".json").read_text())
    assert record["reason"] == "retries-exhausted" and "ValueError: nope" in record["traceback"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda p: packet(p, name=NAME, args=("ok",), key="another-key-0123456789abc"),
            "bad-signature",
        ),
        (lambda p: packet(p, name="nowhere:missing", args=()), "unknown-task"),
        (lambda p: SpoolPacket({b"foreign": b"1"}, b"x"), "foreign"),
        (lambda p: SpoolPacket({b"spoolrt": b"1"}, b"SPRT\x01short"), "corrupt"),
    ],
)
def test_untrusted_or_unresolvable_files_are_quarantined_unrun(
    tmp_path: Path, dispatcher: Dispatcher, make: Any, reason: str
) -> None:
    report = dispatcher.run(str(tmp_path), "bad", make(tmp_path))
    assert report.status is TaskStatus.QUARANTINED and report.reason == reason
    assert calls == []
    (kept,) = list(iter_area(str(tmp_path), "quarantine"))
    assert json.loads(Path(kept + ".json").read_text())["reason"] == reason
    assert oct(os.stat(tmp_path / ".spoolrt").st_mode & 0o777) == "0o700"
