from __future__ import annotations

import pytest

from spoolrt.core.codec.envelope import (
    Envelope,
    decode_body,
    decode_packet,
    encode_body,
    new_task_id,
    spool_vars,
)
from spoolrt.core.codec.packet import SpoolPacket
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import BadSignature, CorruptSpoolFile, ForeignSpoolFile

KEY = b"k" * 32
OTHER = b"o" * 32


def envelope(**overrides: object) -> Envelope:
    fields: dict[str, object] = dict(
        task_id="t-1",
        type_id="fcall",
        message="ucfg_fcall",
        name="mod:func",
        payload=b"\x80\x05payload",
        attempt=2,
        retries=5,
        retry_delay=0.5,
        at=1_800_000_000.25,
        priority=0,
        spooler="/srv/spool",
        enqueued_at=1_799_999_999.0,
        options={"ttl": 60},
    )
    fields.update(overrides)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_signed_envelope_round_trips() -> None:
    env = envelope()
    assert decode_body(encode_body(env, Signer([KEY])), Signer([KEY])) == env


@pytest.mark.parametrize("position", [5, 40, 45, 60, -1])
def test_any_altered_byte_fails_the_mac(position: int) -> None:
    body = bytearray(encode_body(envelope(), Signer([KEY])))
    body[position] ^= 0x01
    with pytest.raises((BadSignature, CorruptSpoolFile)):
        decode_body(bytes(body), Signer([KEY]))


def test_another_key_or_no_signature_is_refused() -> None:
    with pytest.raises(BadSignature):
        decode_body(encode_body(envelope(), Signer([OTHER])), Signer([KEY]))
    with pytest.raises(BadSignature):
        decode_body(encode_body(envelope(), None), Signer([KEY]))


def test_rotation_accepts_old_keys_and_signs_with_the_new_one() -> None:
    old_body = encode_body(envelope(), Signer([OTHER]))
    rotated = Signer([KEY, OTHER])
    assert decode_body(old_body, rotated).task_id == "t-1"
    assert decode_body(encode_body(envelope(), rotated), Signer([KEY])).task_id == "t-1"


def test_unsigned_mode_reads_unsigned_bodies() -> None:
    assert decode_body(encode_body(envelope(), None), None).name == "mod:func"


def test_a_packet_without_envelope_is_foreign() -> None:
    with pytest.raises(ForeignSpoolFile):
        decode_packet(SpoolPacket({b"foreign": b"task"}, b""), Signer([KEY]))


def test_vars_carry_what_uwsgi_reads_and_round_at_up() -> None:
    assert spool_vars(envelope()) == {
        b"spoolrt": b"1",
        b"spooler": b"/srv/spool",
        b"priority": b"0",
        b"at": b"1800000001",
    }
    assert spool_vars(envelope(at=None, priority=None, spooler="")) == {b"spoolrt": b"1"}


def test_next_attempt_keeps_identity() -> None:
    retry = envelope().next_attempt(1_900_000_000.0)
    assert (retry.task_id, retry.attempt, retry.at) == ("t-1", 3, 1_900_000_000.0)


def test_task_ids_are_unique() -> None:
    assert len({new_task_id() for _ in range(10_000)}) == 10_000


@pytest.mark.parametrize(
    "overrides", [{"attempt": 0}, {"retries": -1}, {"retry_delay": -1.0}, {"retry_delay": 1e300}]
)
def test_out_of_range_retry_fields_are_corrupt_not_a_crash(overrides: dict[str, object]) -> None:
    # even signed: the retry policy would refuse them and the dispatcher fail on every scan
    body = encode_body(envelope(**overrides), Signer([KEY]))
    with pytest.raises(CorruptSpoolFile, match="out of range"):
        decode_body(body, Signer([KEY]))
