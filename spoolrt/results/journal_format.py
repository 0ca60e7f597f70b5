"""The record format of the SQLite store's journal (see ``spoolrt.results.journal``).

A record is one ``write``: an 8-byte header (body length, CRC-32 of the body, little-endian)
and a body that starts with the task id (2-byte length, UTF-8) so that a reader can index a
record without decoding it, followed by the ``FINISHED_SQL`` parameters in ``marshal`` format
(0.5 us to encode, against 4 for JSON; the journal is private to the store's user, 0700 like the
store itself, and a decoded record that is not 17 plain values is refused, never applied). A
record cut short by a kill is an incomplete tail (its header asks for more bytes than there
are) or fails its CRC; either way it and everything after it in that file is ignored: a kill
ends the writer, so nothing valid can follow a torn record.
"""

from __future__ import annotations

import marshal
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

_HEADER = struct.Struct("<II")
_ID_LEN = struct.Struct("<H")
HEADER_SIZE = _HEADER.size
_FIELDS = 17
_PLAIN = (str, int, float, bytes)
#: A record longer than this is not one (a corrupt header): stop reading the file there.
MAX_RECORD = 64 << 20


def encode(params: Sequence[Any]) -> bytes:
    """One record for the ``FINISHED_SQL`` parameters ``params`` (task id first)."""
    task_id: bytes = str(params[0]).encode()
    body = _ID_LEN.pack(len(task_id)) + task_id + marshal.dumps(tuple(params))
    header: bytes = _HEADER.pack(len(body), zlib.crc32(body))
    return header + body


def decode(body: bytes) -> tuple[Any, ...] | None:
    """The ``FINISHED_SQL`` parameters of a record's verified ``body``; None when they are not
    what a store writes (17 values, each None, str, int, float or, the result, bytes)."""
    (id_len,) = _ID_LEN.unpack_from(body)
    try:
        values = marshal.loads(body[_ID_LEN.size + id_len :])
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(values, tuple) or len(values) != _FIELDS:
        return None
    if not all(v is None or type(v) in _PLAIN for v in values):
        return None
    return values


def task_id_of(body: bytes) -> str:
    (id_len,) = _ID_LEN.unpack_from(body)
    return body[_ID_LEN.size : _ID_LEN.size + id_len].decode()


def scan(data: bytes, base: int) -> Iterator[tuple[int, int, bytes]]:
    """``(start, end, body)`` of each complete, verified record of ``data`` (read at file
    offset ``base``), in order, stopping at the first incomplete or corrupt one."""
    pos, size = 0, len(data)
    while pos + HEADER_SIZE <= size:
        length, crc = _HEADER.unpack_from(data, pos)
        end = pos + HEADER_SIZE + length
        if length < _ID_LEN.size or length > MAX_RECORD or end > size:
            return
        body = data[pos + HEADER_SIZE : end]
        if zlib.crc32(body) != crc:
            return
        yield base + pos, base + end, body
        pos = end


def is_torn(data: bytes) -> bool:
    """Whether ``data`` (a whole file from its start) ends in something that is not a record."""
    ends = [end for _start, end, _body in scan(data, 0)]
    return (ends[-1] if ends else 0) != len(data)
