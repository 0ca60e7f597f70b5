"""A task spooled over the network has no body: its signed envelope travels in a var, and the
spooler verifies it exactly like a file written on its own disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Spooler, TaskStatus
from spoolrt.core.codec.envelope import (
    ENVELOPE_KEY,
    Envelope,
    encode_body,
    envelope_bytes,
    remote_vars,
)
from spoolrt.core.codec.packet import SpoolPacket, from_callable_env, pack, unpack
from spoolrt.core.codec.serializers import PickleSerializer, Signer
from spoolrt.core.config import Settings
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.spooldir.inspect import peek_header
from spoolrt.spooldir.listing import iter_area

KEY = "unit-remote-key-0123456789"
calls: list[Any] = []


@Spooler.task(retries=0)
def remote_unit(tag: str) -> str:
    calls.append(tag)
    return tag


NAME = f"{__name__}:remote_unit"


def remote_envelope(tag: str = "a") -> Envelope:
    return Envelope(
        task_id=f"tid-{tag}",
        type_id="fcall",
        name=NAME,
        payload=PickleSerializer().dumps({"func": NAME, "arg": (tag,), "kwg": {}}),
        retries=0,
        priority=2,
        at=1.5,
    )


def callable_env(spool_vars: dict[bytes, bytes]) -> dict[object, object]:
    """What uWSGI hands the spooler callable for a file written from a remote packet: the vars
    (bytes keys), the task name (str key), and an empty body."""
    env: dict[object, object] = {k: v for k, v in spool_vars.items()}
    env.update(spooler_task_name=b"uwsgi_spoolfile_on_x_1", body=b"")
    return env


@pytest.fixture
def dispatcher() -> Dispatcher:
    calls.clear()
    return Dispatcher(Settings(secret_key=KEY))


def test_remote_vars_carry_the_signed_body_and_no_spooler_path() -> None:
    body = encode_body(remote_envelope(), Signer([KEY]))
    spool_vars = remote_vars(remote_envelope(), body)
    assert spool_vars[ENVELOPE_KEY] == body
    assert b"spooler" not in spool_vars  # the node's own spooler takes it
    assert spool_vars[b"priority"] == b"2" and spool_vars[b"at"] == b"2"
    assert envelope_bytes(unpack(pack(spool_vars))) == body


def test_a_body_wins_over_the_var_so_a_local_file_reads_as_before() -> None:
    assert envelope_bytes(SpoolPacket({ENVELOPE_KEY: b"var"}, b"body")) == b"body"


def test_a_signed_remote_packet_runs_and_the_routing_var_is_ignored(
    tmp_path: Path, dispatcher: Dispatcher
) -> None:
    body = encode_body(remote_envelope("r1"), Signer([KEY]))
    spool_vars = {**remote_vars(remote_envelope("r1"), body), b"UWSGI_FASTROUTER_KEY": b"pool"}
    name, packet = from_callable_env(callable_env(spool_vars))
    report = dispatcher.run(str(tmp_path), name, packet)
    assert report.status is TaskStatus.DONE and report.result == "r1"
    assert calls == ["r1"]


@pytest.mark.parametrize(
    "make_body",
    [
        pytest.param(lambda env: encode_body(env, None), id="unsigned"),
        pytest.param(lambda env: encode_body(env, Signer(["another-key-0123456789abc"])), id="key"),
        pytest.param(lambda env: encode_body(env, Signer([KEY]))[:-1] + b"X", id="altered-payload"),
    ],
)
def test_unsigned_or_forged_remote_packets_are_quarantined_unrun(
    tmp_path: Path, dispatcher: Dispatcher, make_body: Any
) -> None:
    env = remote_envelope("forged")
    name, packet = from_callable_env(callable_env(remote_vars(env, make_body(env))))
    report = dispatcher.run(str(tmp_path), name, packet)
    assert report.status is TaskStatus.QUARANTINED and report.reason == "bad-signature"
    assert calls == []
    (kept,) = list(iter_area(str(tmp_path), "quarantine"))
    assert json.loads(Path(kept + ".json").read_text())["reason"] == "bad-signature"
    assert unpack(Path(kept).read_bytes()).vars[ENVELOPE_KEY] == packet.vars[ENVELOPE_KEY]


def test_a_remote_packet_without_an_envelope_is_quarantined_as_corrupt(
    tmp_path: Path, dispatcher: Dispatcher
) -> None:
    _name, packet = from_callable_env(callable_env({b"spoolrt": b"1", b"cmd": b"rm -rf /"}))
    report = dispatcher.run(str(tmp_path), "f", packet)
    assert report.status is TaskStatus.QUARANTINED and report.reason == "foreign"
    assert calls == []


def test_peek_header_reads_a_file_written_from_a_remote_packet(tmp_path: Path) -> None:
    env = remote_envelope("peek")
    path = tmp_path / "uwsgi_spoolfile_on_peek"
    path.write_bytes(pack(remote_vars(env, encode_body(env, Signer([KEY])))))
    header = peek_header(str(path))
    assert header is not None and header["id"] == "tid-peek"
