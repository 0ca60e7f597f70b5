"""The header of a first attempt is built from a cached part per kind of task (enqueue's hot
path); whatever the envelope, its bytes must be those of the general encoder."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from spoolrt.core.codec import envelope as codec
from spoolrt.core.codec.envelope import Envelope, decode_body, encode_body
from spoolrt.core.codec.serializers import Signer

from .test_codec_properties import codec_settings, envelopes

SIGNER = Signer([b"compact-header-key-0123456789abcdef"])

odd_values = st.sampled_from(
    [
        {},
        {"retry_delay": -0.0},
        {"retry_delay": 0.0},
        {"retry_delay": 1},
        {"retry_delay": True},
        {"retries": True},
        {"priority": True},
        {"priority": 0},
        {"enqueued_at": 5},
        {"options": {"results": "off", "ttl": 1.0}},
        {"options": {"x": [1, {"y": None}]}},
        {"options": {"x": True}},
        {"options": {"x": 1}},
    ]
)


def general(envelope: Envelope) -> bytes:
    return codec._encode_header(envelope.header())


@codec_settings
@given(envelopes(), odd_values, st.booleans())
def test_the_compact_header_is_the_general_encoding(
    envelope: Envelope, odd: dict[str, object], first: bool
) -> None:
    if first:  # the cached path is taken only by a first attempt that is due now
        envelope = replace(envelope, attempt=1, at=None)
    envelope = replace(envelope, **odd)  # type: ignore[arg-type]
    assert codec._header_bytes(envelope) == general(envelope)
    assert codec._header_bytes(envelope) == general(envelope)  # again, from the cache


def test_tasks_of_one_kind_share_the_cached_part_and_still_decode() -> None:
    codec._middles.clear()
    base = Envelope(task_id="a", type_id="fn", name="m:f", spooler="/s", enqueued_at=1.5)
    for number in range(50):
        one = replace(base, task_id=f"id-{number}", payload=b"p%d" % number, enqueued_at=2.0)
        body = encode_body(one, SIGNER)
        assert decode_body(body, SIGNER) == one
    assert len(codec._middles) == 1


def test_the_cache_stays_bounded_when_every_call_has_its_own_message() -> None:
    codec._middles.clear()
    for number in range(codec._MIDDLES_MAX * 3):
        one = Envelope(task_id="a", type_id="", message=f"m{number}", enqueued_at=1.0)
        assert codec._header_bytes(one) == general(one)
    assert len(codec._middles) <= codec._MIDDLES_MAX


def test_equal_values_that_json_spells_apart_get_their_own_cached_part() -> None:
    base = Envelope(task_id="a", type_id="fn", name="m:f", enqueued_at=1.5)
    cases: dict[str, list[Any]] = {
        "retry_delay": [0.0, -0.0, 0, False, 1.0, 1, True],
        "retries": [1, True],
        "priority": [1, True],
    }
    for field, values in cases.items():
        codec._middles.clear()
        for value in values:
            one = replace(base, **{field: value})
            assert codec._header_bytes(one) == general(one), (field, value)
