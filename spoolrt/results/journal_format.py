"""The record format of the SQLite store's journal (see ``spoolrt.results.journal``).

A record is one ``write``: an 8-byte header (body length, CRC-32 of the body, little-endian)
and a body that starts with the task id (2-byte length, UTF-8) so that a reader can index a
record without decoding it, followed by the JSON list of the ``FINISHED_SQL`` parameters (the
result blob in base64). A record cut short by a kill is an incomplete tail (its header asks
for more bytes than there are) or fails its CRC; either way it and everything after it in that
file is ignored: a kill ends the writer, so nothing valid can follow a torn record.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

_HEADER = struct.Struct("<II")
_ID_LEN = struct.Struct("<H")
HEADER_SIZE = _HEADER.size
#: The index of the result blob in the FINISHED_SQL parameters.
_RESULT = 5
#: A record longer than this is not one (a corrupt header): stop reading the file there.
MAX_RECORD = 64 << 20


def encode(params: Sequence[Any]) -> bytes:
    """One record for the ``FINISHED_SQL`` parameters ``params`` (task id first)."""
    values = list(params)
    blob = values[_RESULT]
    if blob is not None:
        values[_RESULT] = base64.b64encode(blob).decode("ascii")
    task_id: bytes = str(values[0]).encode()
    body = _ID_LEN.pack(len(task_id)) + task_id + json.dumps(values, separators=(",", ":")).encode()
    header: bytes = _HEADER.pack(len(body), zlib.crc32(body))
    return header + body


def decode(body: bytes) -> tuple[Any, ...]:
    """The ``FINISHED_SQL`` parameters of a record's verified ``body``."""
    (id_len,) = _ID_LEN.unpack_from(body)
    values = json.loads(body[_ID_LEN.size + id_len :])
    blob = values[_RESULT]
    if blob is not None:
        values[_RESULT] = base64.b64decode(blob)
    return tuple(values)


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
