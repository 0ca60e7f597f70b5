"""Pickle and JSON payloads: chosen per process or per spooler, decoded as the envelope says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import spoolrt
from spoolrt import Spooler, TaskStatus, backends
from spoolrt.core.codec.envelope import decode_packet
from spoolrt.core.codec.packet import unpack
from spoolrt.core.codec.serializers import JsonSerializer, PickleSerializer, get_serializer
from spoolrt.core.config import get_settings
from spoolrt.core.errors import PayloadDecodeError, SerializationError
from spoolrt.runtime.dispatch import Dispatcher
from tests.unit.test_call_site_errors import DirBackend

seen: list[Any] = []


@Spooler.task()
def collect(*args: Any, **kwargs: Any) -> str:
    seen.append((args, kwargs))
    return "ok"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path.resolve()
    backends.force(DirBackend([str(directory)]))
    spoolrt.configure(secret_key="serializer-key-0123456789")
    seen.clear()
    try:
        yield directory
    finally:
        backends.force(None)


def run(spool: Path, path: str) -> Any:
    packet = unpack(Path(path).read_bytes())
    report = Dispatcher(get_settings(), observers=[]).run(str(spool), Path(path).name, packet)
    assert report.status is TaskStatus.DONE, report
    return report


def serializer_of(path: str) -> str:
    return decode_packet(unpack(Path(path).read_bytes()), get_settings().signer()).serializer


def test_pickle_is_the_default_and_keeps_python_types(spool: Path) -> None:
    handle = collect((1, 2), {3}, b"raw", key=2.5)
    assert serializer_of(handle) == "pickle"
    run(spool, handle)
    assert seen == [(((1, 2), {3}, b"raw"), {"key": 2.5})]


def test_a_json_spooler_records_json_and_the_spooler_decodes_it(spool: Path) -> None:
    mail = Spooler(spool, serializer="json")
    handle = collect.spool_with(([1, 2], {"a": None}), {"key": "v"}, spooler=mail)
    assert serializer_of(handle) == "json"
    run(spool, handle)
    assert seen == [(([1, 2], {"a": None}), {"key": "v"})]


def test_a_spooler_instance_used_as_decorator_keeps_its_serializer(spool: Path) -> None:
    mail = Spooler(spool, serializer="json")

    @mail.task(name="test_serializers:json_task")
    def json_task(value: Any) -> Any:
        seen.append(value)
        return value

    handle = json_task({"to": "x@example.org"})
    assert serializer_of(handle) == "json"
    run(spool, handle)
    assert seen == [{"to": "x@example.org"}]


def test_process_wide_json_applies_where_no_spooler_chooses(spool: Path) -> None:
    spoolrt.configure(serializer="json")
    assert serializer_of(collect("a")) == "json"
    pickled = collect.spool_with(("a",), spooler=Spooler(spool, serializer="pickle"))
    assert serializer_of(pickled) == "pickle"


def test_json_turns_tuples_into_lists() -> None:
    assert JsonSerializer().loads(JsonSerializer().dumps({"t": (1, 2)})) == {"t": [1, 2]}


@pytest.mark.parametrize("value", [{1: "a"}, [{"x": {2: 3}}], {"ok": [{None: 1}]}])
def test_json_refuses_keys_it_would_change(value: Any) -> None:
    with pytest.raises(SerializationError, match="not a str"):
        JsonSerializer().dumps(value)


@pytest.mark.parametrize(
    ("serializer", "data"),
    [(PickleSerializer(), b"\x80\x05not a pickle"), (JsonSerializer(), b"{nope"),
     (JsonSerializer(), b"[" * 100_000)],
)  # fmt: skip
def test_undecodable_payloads_raise_payload_decode_error(serializer: Any, data: bytes) -> None:
    with pytest.raises(PayloadDecodeError):
        serializer.loads(data)


def test_an_unknown_serializer_in_an_envelope_is_a_payload_decode_error() -> None:
    with pytest.raises(PayloadDecodeError, match="yaml"):
        get_serializer("yaml")
