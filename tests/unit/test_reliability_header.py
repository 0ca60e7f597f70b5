"""``Envelope.from_header`` defaults ``retries`` like ``Envelope`` does (issue 18, point 9).

A header without ``retries`` decoded as 0 retries where an ``Envelope`` made in code has 3.
"""

from __future__ import annotations

from spoolrt.core import defaults
from spoolrt.core.codec.envelope import Envelope, encode_body, read_header


def test_header_without_optional_fields_gets_the_envelope_defaults() -> None:
    header = {"id": "t", "type": "fcall"}
    decoded = Envelope.from_header(header, b"")
    made = Envelope(task_id="t", type_id="fcall")
    assert decoded.retries == made.retries == defaults.RETRIES
    assert decoded.retry_delay == made.retry_delay == defaults.RETRY_DELAY
    assert decoded.attempt == made.attempt == 1
    assert decoded.serializer == made.serializer


def test_header_round_trip_keeps_explicit_retries() -> None:
    for retries in (0, 7):
        env = Envelope(task_id="t", type_id="fcall", retries=retries)
        _mac, _signed, header, payload = read_header(encode_body(env, None))
        assert Envelope.from_header(header, payload).retries == retries
