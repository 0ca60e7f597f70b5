"""Properties of the spool-file codec and the envelope, checked on generated inputs.

The decoders face bytes written by anyone who can reach the spool directory, so beyond the
round trips the claim under test is: on *any* input they raise nothing but spoolrt's own
``SpoolFileError`` family (anything else would escape the dispatcher and make uWSGI re-run the
file forever), and ``describe_bytes`` (``spoolrt show``) raises nothing at all.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from spoolrt.core.codec.envelope import (
    MAGIC,
    VERSION,
    Envelope,
    decode_body,
    decode_packet,
    encode_body,
    read_header,
    spool_vars,
)
from spoolrt.core.codec.packet import (
    HEADER,
    MAX_FIELD_SIZE,
    MAX_VARS_SIZE,
    MODIFIER1_SPOOL,
    SpoolPacket,
    pack,
    pack_vars,
    unpack,
)
from spoolrt.core.codec.serializers import MAC_SIZE, Signer
from spoolrt.core.errors import BadSignature, CorruptSpoolFile, PayloadTooLarge, SpoolFileError
from spoolrt.spooldir.inspect import describe_bytes

KEY = b"property-test-key-0123456789abcdef"
SIGNER = Signer([KEY])

settings.register_profile(
    "spoolrt-codec",
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
codec_settings = settings(settings.get_profile("spoolrt-codec"))


# --- strategies -------------------------------------------------------------------------------

small_bytes = st.binary(max_size=300)
var_maps = st.dictionaries(st.binary(min_size=1, max_size=60), small_bytes, max_size=12)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# What a hostile or broken writer could put in a header: valid JSON of any shape, including
# values Python's json accepts but int()/float() refuse (1e400 -> inf, 400-digit ints).
hostile_json = st.recursive(
    json_scalars
    | st.sampled_from([1e308 * 10, -1e308 * 10, 10**400, -(10**400), "nan", "", "1e999"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
header_keys = st.sampled_from(
    ["id", "type", "msg", "name", "ser", "attempt", "retries", "delay", "at", "prio", "spooler",
     "ts", "opts", "x"]
)  # fmt: skip
hostile_headers = st.dictionaries(header_keys, hostile_json, max_size=14)
finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    return Envelope(
        task_id=draw(st.text(max_size=40)),
        type_id=draw(st.text(max_size=20)),
        message=draw(st.text(max_size=60)),
        name=draw(st.text(max_size=60)),
        payload=draw(st.binary(max_size=500)),
        serializer=draw(st.sampled_from(["pickle", "json"])),
        attempt=draw(st.integers(min_value=1, max_value=10**6)),
        retries=draw(st.integers(min_value=0, max_value=10**6)),
        retry_delay=draw(st.floats(min_value=0, max_value=1e9)),
        at=draw(st.none() | finite),
        priority=draw(st.none() | st.integers(min_value=0, max_value=10**9)),
        spooler=draw(st.text(max_size=80)),
        enqueued_at=draw(finite),
        options=draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4)),
    )


@st.composite
def plausible_bodies(draw: st.DrawFn) -> bytes:
    """Bodies that get past the magic and the size checks, so the deeper paths are reached:
    a right or wrong version, a random MAC, a JSON (or almost JSON) header, a random payload."""
    version = draw(st.sampled_from([VERSION, VERSION, VERSION, 0, 2, 255]))
    mac = draw(st.binary(min_size=MAC_SIZE, max_size=MAC_SIZE))
    raw_header = draw(
        hostile_headers.map(lambda h: json.dumps(h).encode())
        | hostile_json.map(lambda v: json.dumps(v).encode())
        | st.binary(max_size=80)
        | st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n)
    )
    declared = draw(st.sampled_from([len(raw_header)] * 4 + [len(raw_header) + 1, 0, 2**32 - 1]))
    payload = draw(st.binary(max_size=200))
    return MAGIC + bytes((version,)) + mac + struct.pack("<I", declared) + raw_header + payload


@st.composite
def plausible_files(draw: st.DrawFn) -> bytes:
    """Whole files: a header that may or may not match, vars, then a body."""
    block = draw(
        var_maps.map(pack_vars) | st.binary(max_size=120)  # valid or garbled vars
    )
    declared = draw(st.sampled_from([len(block)] * 4 + [len(block) + 7, 0xFFFF, 0]))
    modifier1 = draw(st.sampled_from([MODIFIER1_SPOOL] * 4 + [0, 255]))
    body = draw(plausible_bodies() | st.binary(max_size=200))
    return HEADER.pack(modifier1, declared, 0) + block + body


arbitrary_bytes = st.binary(max_size=2000) | plausible_bodies() | plausible_files()


# --- the spool-file codec ---------------------------------------------------------------------


@codec_settings
@given(var_maps, st.binary(max_size=5000))
def test_pack_then_unpack_gives_back_vars_in_order_and_body(
    spool_vars_: dict[bytes, bytes], body: bytes
) -> None:
    data = pack(spool_vars_, body)
    packet = unpack(data)
    assert list(packet.vars.items()) == list(spool_vars_.items())
    assert packet.body == body
    assert len(data) == HEADER.size + len(pack_vars(spool_vars_)) + len(body)


@codec_settings
@given(
    st.integers(min_value=1, max_value=200),
    st.integers(min_value=0, max_value=MAX_FIELD_SIZE),
)
def test_one_field_up_to_the_limit_round_trips(key_len: int, value_len: int) -> None:
    assume(2 + key_len + 2 + value_len <= MAX_VARS_SIZE)
    spool_vars_ = {b"k" * key_len: b"v" * value_len}
    assert unpack(pack(spool_vars_, b"body")).vars == spool_vars_


@codec_settings
@given(st.integers(min_value=MAX_FIELD_SIZE + 1, max_value=MAX_FIELD_SIZE + 5000), st.booleans())
def test_a_field_beyond_16_bits_is_refused(size: int, in_key: bool) -> None:
    spool_vars_ = {b"x" * size: b"v"} if in_key else {b"k": b"x" * size}
    with pytest.raises(PayloadTooLarge):
        pack(spool_vars_)


@codec_settings
@given(st.lists(st.integers(min_value=0, max_value=MAX_FIELD_SIZE - 40), min_size=2, max_size=6))
def test_a_vars_block_beyond_64k_is_refused_and_one_within_is_not(sizes: list[int]) -> None:
    spool_vars_ = {f"k{i}".encode(): b"v" * n for i, n in enumerate(sizes)}
    total = sum(2 + len(k) + 2 + len(v) for k, v in spool_vars_.items())
    if total > MAX_VARS_SIZE:
        with pytest.raises(PayloadTooLarge):
            pack(spool_vars_)
    else:
        assert unpack(pack(spool_vars_)).vars == spool_vars_


@codec_settings
@given(arbitrary_bytes)
@example(b"")
@example(b"\x11")
@example(b"\x11\xff\xff\x00")
def test_unpack_raises_only_corrupt_spool_file(data: bytes) -> None:
    try:
        packet = unpack(data)
    except CorruptSpoolFile:
        return
    assert isinstance(packet, SpoolPacket)


# --- the envelope -----------------------------------------------------------------------------


@codec_settings
@given(envelopes(), st.booleans())
def test_envelope_round_trips_through_a_whole_spool_file(envelope: Envelope, signed: bool) -> None:
    signer = SIGNER if signed else None
    data = pack(spool_vars(envelope), encode_body(envelope, signer))
    assert decode_packet(unpack(data), signer) == envelope


@codec_settings
@given(envelopes(), st.data())
def test_any_single_bit_flip_in_a_signed_body_is_rejected(
    envelope: Envelope, data: st.DataObject
) -> None:
    body = bytearray(encode_body(envelope, SIGNER))
    bit = data.draw(st.integers(min_value=0, max_value=len(body) * 8 - 1), label="bit")
    body[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SpoolFileError):
        decode_body(bytes(body), SIGNER)


@codec_settings
@given(envelopes(), st.integers(min_value=1, max_value=400))
def test_a_signed_body_cut_short_is_rejected(envelope: Envelope, cut: int) -> None:
    body = encode_body(envelope, SIGNER)
    assume(cut < len(body))
    with pytest.raises(SpoolFileError):
        decode_body(body[:-cut], SIGNER)


@codec_settings
@given(envelopes())
def test_a_body_signed_with_another_key_is_bad_signature(envelope: Envelope) -> None:
    other = Signer([b"another-key-entirely-0123456789"])
    with pytest.raises(BadSignature):
        decode_body(encode_body(envelope, other), SIGNER)


@codec_settings
@given(arbitrary_bytes, st.sampled_from([None, SIGNER]))
@example(MAGIC + bytes((VERSION,)) + bytes(MAC_SIZE) + struct.pack("<I", 3000) + b"[" * 3000, None)
def test_decoders_raise_only_spool_file_errors(data: bytes, signer: Signer | None) -> None:
    for decode in (
        lambda: unpack(data),
        lambda: read_header(data),
        lambda: decode_body(data, signer),
        lambda: decode_packet(SpoolPacket({b"spoolrt": b"1"}, data), signer),
        lambda: decode_packet(unpack(data), signer),
    ):
        try:
            decode()
        except SpoolFileError:
            pass


@codec_settings
@given(hostile_headers, st.binary(max_size=50))
@example({"id": "1", "type": "x", "attempt": 1e400}, b"")  # json: Infinity; int() overflows
@example({"id": "1", "type": "x", "at": 10**400}, b"")  # float() overflows
@example({"id": "1", "type": "x", "opts": "ab"}, b"")
def test_any_json_header_decodes_or_is_corrupt(header: dict[str, Any], payload: bytes) -> None:
    raw = json.dumps(header).encode()
    body = MAGIC + bytes((VERSION,)) + bytes(MAC_SIZE) + struct.pack("<I", len(raw)) + raw + payload
    try:
        envelope = decode_body(body, None)
    except CorruptSpoolFile:
        return
    assert isinstance(envelope.attempt, int) and isinstance(envelope.options, dict)
    assert envelope.at is None or isinstance(envelope.at, float)
    assert envelope.payload == payload


@codec_settings
@given(arbitrary_bytes, st.sampled_from([None, SIGNER]))
def test_describe_bytes_never_raises(data: bytes, signer: Signer | None) -> None:
    info = describe_bytes("/spool/uwsgi_spoolfile_on_x", data, signer)
    assert info.size == len(data)
    assert info.verified or info.arguments == ""  # nothing unverified is ever decoded


def test_describe_bytes_never_decodes_an_unverified_payload() -> None:
    # pickle opcode for "call os.system" would be fatal to load; describe must not get there
    envelope = Envelope(task_id="t", type_id="fcall", payload=b"cos\nsystem\n(S'true'\ntR.")
    info = describe_bytes("f", pack(spool_vars(envelope), encode_body(envelope, None)), SIGNER)
    assert info.verified is False and info.arguments == ""
    assert info.problem.startswith("bad-signature")
