"""The uWSGI spool-file format, which is also the uwsgi packet (pure: no I/O, no uwsgi).

A spool file is ``<u8 modifier1=17><u16le vars size><u8 modifier2=0>``, then ``vars size`` bytes
of ``<u16le klen><key><u16le vlen><value>`` pairs, then the body: every byte after the vars, with
no length of its own. uWSGI 2.0 silently truncates a value longer than 65 535 bytes to 16 bits
and refuses a vars block over 65 535 bytes, so ``pack`` refuses both before anything is written.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from spoolrt.core.errors import CorruptSpoolFile, PayloadTooLarge

MODIFIER1_SPOOL = 17
MAX_VARS_SIZE = 0xFFFF
MAX_FIELD_SIZE = 0xFFFF
HEADER = struct.Struct("<BHB")
FIELD_LEN = struct.Struct("<H")

# uWSGI only looks at files with this prefix (and, with spooler-ordered, numeric sub-directories).
FILE_PREFIX = "uwsgi_spoolfile_on_"

# Keys that uWSGI itself reads when spooling; they stay visible in the vars the callable gets.
KEY_SPOOLER = b"spooler"
KEY_PRIORITY = b"priority"
KEY_AT = b"at"


@dataclass(frozen=True)
class SpoolPacket:
    """A decoded spool file: its vars (bytes to bytes, in file order) and its body."""

    vars: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""


def pack_vars(spool_vars: Mapping[bytes, bytes]) -> bytes:
    """Encode the vars block, refusing what uWSGI would truncate or reject."""
    chunks: list[bytes] = []
    for key, value in spool_vars.items():
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError(f"spool vars must be bytes to bytes, got {key!r}: {type(value)}")
        if not key:
            raise ValueError("spool var keys must not be empty (uWSGI drops such files)")
        if len(key) > MAX_FIELD_SIZE or len(value) > MAX_FIELD_SIZE:
            raise PayloadTooLarge(
                f"spool var {key[:40]!r} is {max(len(key), len(value))} bytes; uWSGI caps one "
                f"field at {MAX_FIELD_SIZE} (put large data in the body)"
            )
        chunks += (FIELD_LEN.pack(len(key)), key, FIELD_LEN.pack(len(value)), value)
    block = b"".join(chunks)
    if len(block) > MAX_VARS_SIZE:
        raise PayloadTooLarge(
            f"spool vars take {len(block)} bytes; uWSGI caps them at {MAX_VARS_SIZE} "
            "(put large data in the body)"
        )
    return block


def pack(spool_vars: Mapping[bytes, bytes], body: bytes = b"") -> bytes:
    """The whole spool file, byte for byte what ``uwsgi.spool`` would write."""
    block = pack_vars(spool_vars)
    return HEADER.pack(MODIFIER1_SPOOL, len(block), 0) + block + body


def unpack_vars(block: bytes) -> dict[bytes, bytes]:
    """Decode a vars block; any inconsistency is a ``CorruptSpoolFile``."""
    result: dict[bytes, bytes] = {}
    pos, end = 0, len(block)
    while pos < end:
        if pos + 2 > end:
            raise CorruptSpoolFile(f"vars block ends inside a key length at byte {pos}")
        (klen,) = FIELD_LEN.unpack_from(block, pos)
        pos += 2
        if klen == 0:
            raise CorruptSpoolFile(f"zero-length key at byte {pos - 2} (uWSGI drops such files)")
        if pos + klen + 2 > end:
            raise CorruptSpoolFile(f"key of {klen} bytes runs past the vars block")
        key = block[pos : pos + klen]
        pos += klen
        (vlen,) = FIELD_LEN.unpack_from(block, pos)
        pos += 2
        if pos + vlen > end:
            raise CorruptSpoolFile(f"value of {vlen} bytes for {key[:40]!r} runs past the vars")
        result[key] = block[pos : pos + vlen]
        pos += vlen
    return result


def unpack(data: bytes) -> SpoolPacket:
    """Decode a whole spool file. Never raises anything but ``CorruptSpoolFile``."""
    if len(data) < HEADER.size:
        raise CorruptSpoolFile(f"{len(data)} bytes is shorter than the 4-byte header")
    modifier1, size, _modifier2 = HEADER.unpack_from(data)
    if modifier1 != MODIFIER1_SPOOL:
        raise CorruptSpoolFile(f"modifier1 is {modifier1}, a spool file has {MODIFIER1_SPOOL}")
    if HEADER.size + size > len(data):
        raise CorruptSpoolFile(f"header declares {size} bytes of vars, only {len(data) - 4} follow")
    block = data[HEADER.size : HEADER.size + size]
    return SpoolPacket(unpack_vars(block), data[HEADER.size + size :])


def from_callable_env(env: Mapping[object, object]) -> tuple[str, SpoolPacket]:
    """Normalise the dict uWSGI hands the spooler callable into (file basename, packet).

    uWSGI mixes key types: ``'spooler_task_name'`` (str key) holds the basename, ``'body'``
    (str key) the body, and every user key is bytes.
    """
    name = env.get("spooler_task_name", b"")
    task_name = name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else str(name)
    body = env.get("body", b"")
    spool_vars = {
        k: v for k, v in env.items() if isinstance(k, bytes) and isinstance(v, bytes | bytearray)
    }
    return task_name, SpoolPacket(
        {k: bytes(v) for k, v in spool_vars.items()},
        bytes(body) if isinstance(body, bytes | bytearray) else b"",
    )
