"""A task function's calls take enqueue's prepared way (``Prepared``); the files it writes are
the ones ``enqueue`` writes, and every kind it does not serve still goes through ``enqueue``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import spoolrt
from spoolrt import Spooler, backends
from spoolrt.api.tasks import FunctionCallTask, message_for
from spoolrt.core.codec.envelope import Envelope, decode_packet, encode_body
from spoolrt.core.codec.packet import FILE_PREFIX, pack, unpack
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.options import TaskOptions
from spoolrt.core.outcomes import TaskStatus
from spoolrt.sending.enqueue import Prepared, enqueue
from spoolrt.spooldir.ids import pending_status

KEY = "prepared-enqueue-key-0123456789abcdef"
SIGNER = Signer([KEY])


@Spooler.task()
def add(a: int, b: int = 0) -> int:
    return a + b


@Spooler.task(retries=7, retry_delay=2.5, results="status", ttl=60)
def tuned(a: int) -> int:
    return a


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "spool"
    folder.mkdir()
    previous = backends.forced()
    backends.force(None)
    with spoolrt.core.config.overridden(spool_dirs=[str(folder)], secret_key=KEY):
        yield folder
    backends.force(previous)


def envelope_of(path: str) -> tuple[dict[bytes, bytes], Envelope]:
    packet = unpack(Path(path).read_bytes())
    return packet.vars, decode_packet(packet, SIGNER)


def general_call(task: Any, *args: Any) -> str:
    return enqueue(
        task.options,
        type_id=FunctionCallTask.type_id,
        message=message_for(FunctionCallTask.type_id),
        name=task.name,
        payload={"func": task.name, "arg": args, "kwg": {}},
    )


@pytest.mark.parametrize("task", [add, tuned], ids=["defaults", "tuned"])
def test_the_prepared_file_is_the_file_enqueue_writes(spool: Path, task: Any) -> None:
    fast = task(3)
    assert task._prepared._fast is not None  # the call took the prepared way
    slow = general_call(task, 3)
    fast_vars, fast_env = envelope_of(fast)
    slow_vars, slow_env = envelope_of(slow)
    assert fast_vars == slow_vars
    for field in fields(Envelope):
        if field.name not in ("task_id", "enqueued_at"):
            assert getattr(fast_env, field.name) == getattr(slow_env, field.name), field.name
    # byte for byte what the general encoder makes of the same envelope
    assert Path(fast).read_bytes() == pack(fast_vars, encode_body(fast_env, SIGNER))
    assert fast.task_id == fast_env.task_id and fast.task_name == slow.task_name  # type: ignore[attr-defined]
    assert pending_status(str(spool), fast_env.task_id) is TaskStatus.QUEUED


def test_results_off_writes_no_index_entry(spool: Path) -> None:
    with spoolrt.core.config.overridden(results="off"):
        handle = add(1)
    assert pending_status(str(spool), handle.task_id) is None
    assert envelope_of(handle)[1].payload


def test_a_new_configuration_is_followed_at_the_next_call(spool: Path, tmp_path: Path) -> None:
    first = add(1)
    other = tmp_path / "other"
    other.mkdir()
    with spoolrt.core.config.overridden(spool_dirs=[str(other)]):
        second = add(2)
    assert Path(first).parent == spool and Path(second).parent == other


@pytest.mark.parametrize(
    "options",
    [
        TaskOptions(postpone=3600),
        TaskOptions(priority=3),
        TaskOptions(spooler="nowhere"),
    ],
    ids=["postponed", "priority", "unknown-spooler"],
)
def test_other_kinds_go_through_enqueue_with_its_checks(spool: Path, options: TaskOptions) -> None:
    prepared = Prepared(
        options,
        type_id=FunctionCallTask.type_id,
        message=message_for(FunctionCallTask.type_id),
        name=add.name,
    )
    payload = {"func": add.name, "arg": (1,), "kwg": {}}
    if options.spooler == "nowhere":
        with pytest.raises(spoolrt.core.errors.UnknownSpooler):
            prepared.spool(payload)
        return
    handle = prepared.spool(payload)
    assert prepared._fast is None
    env = envelope_of(handle.path)[1] if Path(handle.path).is_file() else None
    assert env is None or env.priority == options.priority


def test_eager_mode_runs_the_call(spool: Path) -> None:
    with spoolrt.eager():
        handle = add(2, 3)
    assert handle.result() == 5
    assert not [p for p in spool.rglob("*") if p.name.startswith(FILE_PREFIX)]
