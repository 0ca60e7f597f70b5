from __future__ import annotations

import pytest

from spoolrt.core.codec.packet import SpoolPacket, from_callable_env, pack, unpack
from spoolrt.core.errors import CorruptSpoolFile, PayloadTooLarge

# What uWSGI 2.0.31 wrote for uwsgi.spool({b'k': b'hello', b'mode': b'ok', b'body': b'BODY'})
UWSGI_HEXDUMP = "1114 0000 0100 6b05 0068 656c 6c6f 0400 6d6f 6465 0200 6f6b 424f 4459"


def test_pack_matches_a_file_written_by_uwsgi() -> None:
    expected = bytes.fromhex(UWSGI_HEXDUMP.replace(" ", ""))
    assert pack({b"k": b"hello", b"mode": b"ok"}, b"BODY") == expected
    assert unpack(expected) == SpoolPacket({b"k": b"hello", b"mode": b"ok"}, b"BODY")


def test_round_trip_keeps_order_and_binary_body() -> None:
    spool_vars = {b"z": b"1", b"a": b"\x00\xff", b"e": b""}
    body = bytes(range(256)) * 10
    packet = unpack(pack(spool_vars, body))
    assert list(packet.vars.items()) == list(spool_vars.items())
    assert packet.body == body


def test_a_value_uwsgi_would_truncate_is_refused() -> None:
    with pytest.raises(PayloadTooLarge, match="65535"):
        pack({b"big": b"x" * 70_000})


def test_a_vars_block_over_64k_is_refused() -> None:
    with pytest.raises(PayloadTooLarge, match="vars"):
        pack({b"a": b"x" * 40_000, b"b": b"y" * 40_000})


def test_an_empty_key_is_refused_both_ways() -> None:
    with pytest.raises(ValueError):
        pack({b"": b"x"})
    with pytest.raises(CorruptSpoolFile, match="zero-length"):
        unpack(b"\x11\x04\x00\x00\x00\x00\x00\x00")


def test_a_huge_body_is_fine() -> None:
    assert unpack(pack({}, b"b" * 3_000_000)).body == b"b" * 3_000_000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x11\x00",
        b"\x12\x00\x00\x00",  # wrong modifier1
        b"\x11\x10\x00\x00abc",  # declares 16 bytes of vars, 3 follow
        b"\x11\x03\x00\x00\x05\x00a",  # key length runs past the block
        b"\x11\x05\x00\x00\x01\x00a\x09\x00",  # value length runs past the block
        b"\x11\x01\x00\x00\x01",  # ends inside a key length
    ],
)
def test_malformed_bytes_raise_corrupt_spool_file(data: bytes) -> None:
    with pytest.raises(CorruptSpoolFile):
        unpack(data)


def test_callable_env_with_mixed_key_types_is_normalised() -> None:
    env: dict[object, object] = {
        "spooler_task_name": b"uwsgi_spoolfile_on_h_1_2",
        b"spoolrt": b"1",
        b"at": b"123",
        "body": b"BODY",
    }
    name, packet = from_callable_env(env)
    assert name == "uwsgi_spoolfile_on_h_1_2"
    assert packet.vars == {b"spoolrt": b"1", b"at": b"123"}
    assert packet.body == b"BODY"
