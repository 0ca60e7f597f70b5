"""The spoolrt envelope: what a spool file means, signed (pure: no I/O, no uwsgi).

Everything that decides what runs lives in the body, under one MAC::

    b"SPRT" <u8 version> <32-byte HMAC-SHA256> <u32le header size> <header JSON> <payload>

The MAC covers every byte after itself. The vars of the spool file hold only what uWSGI itself
reads (``spooler``, ``priority``, ``at``) and the ``spoolrt`` marker; they are never trusted.
The header is JSON so a tool can show a file it cannot verify without running anything; the
payload is only deserialised after the MAC verified.

A task spooled over the network (uWSGI's modifier1 17 packet) has no body: uWSGI writes the
vars it received and nothing else. The same signed bytes then travel in the ``spoolrt_envelope``
var (``remote_vars``); ``envelope_bytes`` finds them wherever they are, so a remote task is
verified exactly like a file written here, and every other var (the fastrouter's
``UWSGI_FASTROUTER_KEY`` included) is ignored.
"""

from __future__ import annotations

import json
import json.encoder
import math
import struct
from dataclasses import dataclass, field, replace
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.codec.packet import KEY_AT, KEY_PRIORITY, KEY_SPOOLER, SpoolPacket
from spoolrt.core.codec.serializers import MAC_SIZE, Signer
from spoolrt.core.codec.task_ids import new_task_id as new_task_id  # its home before
from spoolrt.core.errors import BadSignature, CorruptSpoolFile, ForeignSpoolFile

MAGIC = b"SPRT"
VERSION = 1
MARKER_KEY = b"spoolrt"
MARKER_VALUE = b"1"
#: The var that holds the signed envelope when the packet cannot carry a body (remote spooling).
ENVELOPE_KEY = b"spoolrt_envelope"
_PREFIX = ENVELOPE_PREFIX = struct.Struct("<4sB32sI")
_UNSIGNED_MAC = bytes(MAC_SIZE)
_HEADER_ENCODER = json.JSONEncoder(separators=(",", ":"))  # reused: enqueue is a hot path
_HEADER_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Envelope:
    """One task, as spooled. ``attempt`` is 1 for the first run and grows with each retry."""

    task_id: str
    type_id: str
    message: str = ""
    name: str = ""
    payload: bytes = b""
    serializer: str = defaults.SERIALIZER
    attempt: int = 1
    retries: int = defaults.RETRIES
    retry_delay: float = defaults.RETRY_DELAY
    at: float | None = None
    priority: int | None = None
    spooler: str = ""
    enqueued_at: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    @property
    def label(self) -> str:
        """What a person calls this task: the function name, else the message."""
        return self.name or self.message or self.type_id

    def next_attempt(self, at: float) -> Envelope:
        return replace(self, attempt=self.attempt + 1, at=at)

    def header(self) -> dict[str, Any]:
        """The header as written: a field at its default is left out (``from_header`` and
        ``read_header`` put the default back), so the common task's header is half as long.
        Files written with every field (before 0.x) decode the same way."""
        out: dict[str, Any] = {"id": self.task_id, "type": self.type_id}
        if self.message:
            out["msg"] = self.message
        if self.name:
            out["name"] = self.name
        if self.serializer != defaults.SERIALIZER:
            out["ser"] = self.serializer
        if self.attempt != 1:
            out["attempt"] = self.attempt
        if self.retries != defaults.RETRIES:
            out["retries"] = self.retries
        if self.retry_delay != defaults.RETRY_DELAY:
            out["delay"] = self.retry_delay
        if self.at is not None:
            out["at"] = self.at
        if self.priority is not None:
            out["prio"] = self.priority
        if self.spooler:
            out["spooler"] = self.spooler
        out["ts"] = self.enqueued_at
        if self.options:
            out["opts"] = self.options
        return out

    @classmethod
    def from_header(cls, header: dict[str, Any], payload: bytes) -> Envelope:
        """The envelope a parsed header describes; a field left out takes its default.

        Runs once per task on the spooler's hot path, so a value already of its type is taken
        as it is (a conversion only for the odd one) and the frozen instance is filled in one
        step (``make``) instead of one ``object.__setattr__`` per field."""
        get = header.get
        try:
            values = {
                "task_id": _text(header["id"]),
                "type_id": _text(header["type"]),
                "message": _text(get("msg", "")),
                "name": _text(get("name", "")),
                "payload": payload,
                "serializer": _text(get("ser", defaults.SERIALIZER)),
                "attempt": _whole(get("attempt", 1)),
                "retries": _whole(get("retries", defaults.RETRIES)),
                "retry_delay": _real(get("delay", defaults.RETRY_DELAY)),
                "at": None if get("at") is None else _real(header["at"]),
                "priority": None if get("prio") is None else _whole(header["prio"]),
                "spooler": _text(get("spooler", "")),
                "enqueued_at": _real(get("ts", 0.0)),
                "options": dict(get("opts") or {}),
            }
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            # OverflowError: JSON allows 1e400 (float inf) and 400-digit ints, which int()/float()
            # refuse; it must not escape as a non-spoolrt error (the callable would loop on it).
            raise CorruptSpoolFile(f"envelope header is malformed: {exc!r}") from exc
        envelope = make(values)
        # Values the retry policy refuses would make the dispatcher fail on every scan.
        if envelope.attempt < 1 or envelope.retries < 0 or not 0 <= envelope.retry_delay < 1e12:
            raise CorruptSpoolFile(
                f"envelope header is out of range: attempt={envelope.attempt} "
                f"retries={envelope.retries} delay={envelope.retry_delay}"
            )
        return envelope


_FIELDS = tuple(Envelope.__dataclass_fields__)


def make(values: dict[str, Any]) -> Envelope:
    """An ``Envelope`` of exactly ``values`` (every field, already of its type), made without
    the frozen dataclass's per-field ``object.__setattr__`` (a third of building one). For
    the codec's and enqueue's hot paths; anything else makes an ``Envelope(...)``."""
    if len(values) != len(_FIELDS):
        raise TypeError(f"make() needs every field: {', '.join(_FIELDS)}")
    envelope = object.__new__(Envelope)
    envelope.__dict__.update(values)
    return envelope


def _text(value: Any) -> str:
    return value if type(value) is str else str(value)


def _whole(value: Any) -> int:
    return value if type(value) is int else int(value)


def _real(value: Any) -> float:
    return value if type(value) is float else float(value)


#: The defaults of a header field left out are those of an ``Envelope`` made in code.
_DEFAULT = Envelope(task_id="", type_id="")
#: The full header of an envelope at its defaults: what ``read_header`` fills in for a field a
#: compact header left out, so tools that show a header see every field.
HEADER_DEFAULTS: dict[str, Any] = {
    "msg": "",
    "name": "",
    "ser": _DEFAULT.serializer,
    "attempt": _DEFAULT.attempt,
    "retries": _DEFAULT.retries,
    "delay": _DEFAULT.retry_delay,
    "at": None,
    "prio": None,
    "spooler": "",
    "ts": 0.0,
    "opts": {},
}

# The C encoder made once (``JSONEncoder.encode`` builds one per call); a header holds only
# str, int, float, None and a flat dict of options, so the circular check is not needed.
_c_encoder = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None,
        _HEADER_ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )
    if json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    else None
)


def _encode_header(header: dict[str, Any]) -> bytes:
    if _c_encoder is None:
        return _HEADER_ENCODER.encode(header).encode()
    return "".join(_c_encoder(header, 0)).encode()


#: The JSON of a first attempt's header between its id and its ``ts``, per kind of task (type,
#: message, name, serializer, retries, delay, priority, spooler): a task kind spools the same
#: fields call after call, and encoding them again was half of an enqueue's codec time.
_middles: dict[tuple[Any, ...], str] = {}
_MIDDLES_MAX = 256  # message= may differ per call (send_message_raw): bounded, not a leak
_quote = json.encoder.encode_basestring_ascii  # what the header encoder quotes str with


def _header_bytes(envelope: Envelope) -> bytes:
    """``_encode_header(envelope.header())``, byte for byte, without encoding again the fields
    that a first attempt's header repeats for every task of its kind (a unit test compares
    the two); a retry, a postponed task or a value of an odd type takes the general encoder."""
    ts = envelope.enqueued_at
    retries = envelope.retries
    priority = envelope.priority
    if (
        envelope.attempt != 1
        or envelope.at is not None
        or type(ts) is not float
        or type(retries) is not int  # True == 1, but JSON spells them apart
        or not (priority is None or type(priority) is int)
    ):
        return _encode_header(envelope.header())
    key = (
        envelope.type_id,
        envelope.message,
        envelope.name,
        envelope.serializer,
        retries,
        repr(envelope.retry_delay),  # 1 == 1.0 == True and 0.0 == -0.0, but not in JSON
        priority,
        envelope.spooler,
    )
    middle = _middles.get(key)
    if middle is None:
        middle = header_parts(envelope)[0]
        if len(_middles) >= _MIDDLES_MAX:
            _middles.clear()
        _middles[key] = middle
    return _first_header(envelope.task_id, middle, ts, _tail_of(envelope))


def _first_header(task_id: str, middle: str, ts: float, tail: str) -> bytes:
    return ('{"id":' + _quote(task_id) + middle + ',"ts":' + repr(ts) + tail).encode()


def header_parts(envelope: Envelope) -> tuple[str, str]:
    """What a first attempt's header holds around its ``ts``: (after the id, after ``ts``),
    each field led by its comma."""
    if envelope.attempt != 1 or envelope.at is not None:
        raise ValueError("only a first attempt due now has a header of parts")
    header = envelope.header()
    del header["id"], header["ts"]
    header.pop("opts", None)
    return "," + _encode_header(header).decode()[1:-1], _tail_of(envelope)


def _tail_of(envelope: Envelope) -> str:
    """What a header holds after ``ts``: the options, if any, and the closing brace."""
    options = envelope.options
    return ',"opts":' + _encode_header(options).decode() + "}" if options else "}"


def first_attempt_body(
    parts: tuple[str, str], task_id: str, enqueued_at: float, payload: bytes, signer: Signer | None
) -> bytes:
    """``encode_body`` of a first attempt due now whose header ``parts`` (``header_parts``) are
    those of its kind, with this id, time and payload: enqueue's fast path, byte for byte."""
    header = _first_header(task_id, parts[0], enqueued_at, parts[1])
    return _signed(header, payload, signer)


_PREFIX_START = MAGIC + bytes((VERSION,))
_SIZE = struct.Struct("<I")


def encode_body(envelope: Envelope, signer: Signer | None) -> bytes:
    """The spool-file body for ``envelope``, signed when a signer is given."""
    return _signed(_header_bytes(envelope), envelope.payload, signer)


def _signed(header: bytes, payload: bytes, signer: Signer | None) -> bytes:
    signed_part = _SIZE.pack(len(header)) + header + payload
    mac = signer.sign(signed_part) if signer is not None else _UNSIGNED_MAC
    return _PREFIX_START + mac + signed_part


def spool_vars(envelope: Envelope) -> dict[bytes, bytes]:
    """The vars uWSGI reads; spoolrt keeps only its marker beside them and trusts none of them."""
    out = {MARKER_KEY: MARKER_VALUE}
    if envelope.spooler:
        out[KEY_SPOOLER] = envelope.spooler.encode()
    if envelope.priority is not None:
        out[KEY_PRIORITY] = str(envelope.priority).encode()
    if envelope.at is not None:
        # uWSGI compares whole seconds; rounding up means "never before at".
        out[KEY_AT] = str(math.ceil(envelope.at)).encode()
    return out


def remote_vars(envelope: Envelope, body: bytes) -> dict[bytes, bytes]:
    """The vars of a remote packet: the marker, ``at`` and ``priority`` for uWSGI, and ``body``
    (the signed envelope) in ``ENVELOPE_KEY``. No ``spooler`` var: the node's own first spooler
    takes the task, and a path of the sender's machine means nothing there."""
    out = {k: v for k, v in spool_vars(envelope).items() if k != KEY_SPOOLER}
    out[ENVELOPE_KEY] = body
    return out


def envelope_bytes(packet: SpoolPacket) -> bytes:
    """The signed envelope of ``packet``: its body, or for a remote packet (no body) its
    ``ENVELOPE_KEY`` var. Either way it is only trusted after its MAC verified."""
    if packet.body:
        return packet.body
    return packet.vars.get(ENVELOPE_KEY, b"")


def _split(body: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Split a body into (mac, signed part, header bytes, payload) by its declared sizes.

    Only bounds are checked here, nothing is parsed: a body cut short or declaring more than it
    holds is ``CorruptSpoolFile`` (a clearer reason than a failing MAC), decided before any byte
    of it is trusted.
    """
    if body[:4] != MAGIC:
        raise ForeignSpoolFile("the body does not start with spoolrt's envelope")
    if len(body) < _PREFIX.size:
        raise CorruptSpoolFile(f"envelope of {len(body)} bytes is shorter than its prefix")
    _magic, version, mac, header_size = _PREFIX.unpack_from(body)
    if version != VERSION:
        raise CorruptSpoolFile(f"envelope version {version} is not supported")
    start = _PREFIX.size
    if start + header_size > len(body):
        raise CorruptSpoolFile(
            f"envelope header of {header_size} bytes runs past the body ({len(body)} bytes): "
            "truncated"
        )
    return mac, body[start - 4 :], body[start : start + header_size], body[start + header_size :]


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        # decode + a reused decoder: json.loads(bytes) sniffs the encoding on every call, and
        # this runs once per task on the spooler's hot path.
        header = _HEADER_DECODER.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested too deep
        raise CorruptSpoolFile(f"envelope header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CorruptSpoolFile("envelope header is not an object")
    return header


def read_header(body: bytes) -> tuple[bytes, bytes, dict[str, Any], bytes]:
    """Split a body into (mac, signed part, header, payload) without verifying anything.

    For tools that show a file they cannot verify; the header is JSON, so reading it runs
    nothing. Raises only ``ForeignSpoolFile`` or ``CorruptSpoolFile``.
    """
    mac, signed, raw_header, payload = _split(body)
    return mac, signed, {**HEADER_DEFAULTS, **_parse_header(raw_header)}, payload


def decode_body(body: bytes, signer: Signer | None) -> Envelope:
    """Verify and decode a body. With a signer, an unsigned or altered body is ``BadSignature``.

    The MAC is checked before the header is parsed. Raises only ``ForeignSpoolFile``,
    ``CorruptSpoolFile`` or ``BadSignature``.
    """
    mac, signed, raw_header, payload = _split(body)
    if signer is not None and not signer.verify(signed, mac):
        raise BadSignature(
            "the envelope's MAC does not verify with any accepted key "
            "(forged, altered, cut short inside the payload, or signed with another key)"
        )
    return Envelope.from_header(_parse_header(raw_header), payload)


def is_spoolrt_packet(packet: SpoolPacket) -> bool:
    """Whether a packet claims to be spoolrt's (it still has to verify)."""
    return packet.vars.get(MARKER_KEY) == MARKER_VALUE or envelope_bytes(packet).startswith(MAGIC)


def decode_packet(packet: SpoolPacket, signer: Signer | None) -> Envelope:
    """Decode a spool packet that should hold a spoolrt envelope."""
    if not is_spoolrt_packet(packet):
        raise ForeignSpoolFile("no spoolrt marker: this spool file was not written by spoolrt")
    return decode_body(envelope_bytes(packet), signer)
