"""Reading spool files without running them: what ``read_task_file``, ``spoolrt ls`` and
``spoolrt show`` print."""

from __future__ import annotations

import os
import reprlib
from dataclasses import asdict, dataclass, field
from typing import Any

from spoolrt.core.codec.envelope import (
    ENVELOPE_PREFIX,
    decode_body,
    envelope_bytes,
    read_header,
)
from spoolrt.core.codec.packet import HEADER, SpoolPacket, unpack, unpack_vars
from spoolrt.core.codec.serializers import Signer, get_serializer
from spoolrt.core.errors import SpoolFileError
from spoolrt.spooldir.regular import notice_skipped, open_regular

_preview = reprlib.Repr()
_preview.maxstring = 80
_preview.maxother = 80
_preview.maxlevel = 3


@dataclass(frozen=True)
class TaskInfo:
    """A decoded spool file. ``verified`` is False when the MAC did not check out (or the file
    is foreign/corrupt, with ``problem`` saying why); then ``arguments`` is not decoded."""

    path: str
    task_id: str = ""
    type_id: str = ""
    name: str = ""
    message: str = ""
    attempt: int = 0
    max_attempts: int = 0
    at: float | None = None
    priority: int | None = None
    enqueued_at: float | None = None
    serializer: str = ""
    size: int = 0
    mtime: float = 0.0
    verified: bool = False
    arguments: str = ""
    problem: str = ""
    vars: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_bytes(path: str, data: bytes, signer: Signer | None, mtime: float = 0.0) -> TaskInfo:
    """Describe spool-file bytes; never raises for bad content, it reports it in ``problem``."""
    base: dict[str, Any] = {"path": path, "size": len(data), "mtime": mtime}
    try:
        packet = unpack(data)
    except SpoolFileError as exc:
        return TaskInfo(**base, problem=f"{exc.reason}: {exc}")
    base["vars"] = {
        k.decode("utf-8", "replace"): v[:200].decode("utf-8", "replace")
        for k, v in packet.vars.items()
    }
    try:
        _mac, _signed, header, payload = read_header(envelope_bytes(packet))
    except SpoolFileError as exc:
        return TaskInfo(**base, problem=f"{exc.reason}: {exc}")
    fields: dict[str, Any] = {
        "task_id": str(header.get("id", "")),
        "type_id": str(header.get("type", "")),
        "name": str(header.get("name", "")),
        "message": str(header.get("msg", "")),
        "attempt": _int(header.get("attempt")),
        "max_attempts": _int(header.get("retries")) + 1,
        "at": header.get("at") if isinstance(header.get("at"), int | float) else None,
        "priority": header.get("prio") if isinstance(header.get("prio"), int) else None,
        "enqueued_at": header.get("ts") if isinstance(header.get("ts"), int | float) else None,
        "serializer": str(header.get("ser", "")),
    }
    try:
        envelope = decode_body(envelope_bytes(packet), signer)
    except SpoolFileError as exc:
        return TaskInfo(**base, **fields, problem=f"{exc.reason}: {exc}")
    try:
        arguments = _summarise(get_serializer(envelope.serializer).loads(payload))
    except SpoolFileError as exc:
        return TaskInfo(**base, **fields, verified=True, problem=f"{exc.reason}: {exc}")
    return TaskInfo(**base, **fields, verified=True, arguments=arguments)


def peek_header(path: str) -> dict[str, Any] | None:
    """The unverified envelope header of a spool file, reading only its first bytes; None if the
    file is gone (a spooler just ran it), foreign or corrupt. For look-ups, never for running."""
    try:
        with open(open_regular(path), "rb") as f:  # a FIFO must not block a web worker
            head = f.read(HEADER.size)
            if len(head) < HEADER.size:
                return None
            _modifier1, vars_size, _modifier2 = HEADER.unpack(head)
            block = f.read(vars_size)
            prefix = f.read(ENVELOPE_PREFIX.size)
            if not prefix:  # spooled remotely: the envelope is a var (at most 64 KiB of them)
                prefix = envelope_bytes(SpoolPacket(unpack_vars(block)))
            if len(prefix) < ENVELOPE_PREFIX.size:
                return None
            header_size = ENVELOPE_PREFIX.unpack_from(prefix)[3]
            body = prefix + f.read(header_size)
    except FileNotFoundError:
        return None
    except OSError as exc:
        notice_skipped(path, exc)
        return None
    except SpoolFileError:  # vars that do not decode
        return None
    try:
        return read_header(body)[2]
    except SpoolFileError:
        return None


def describe_file(path: str, signer: Signer | None) -> TaskInfo:
    """Describe the spool file at ``path``. Raises ``OSError`` when it cannot be read, and
    ``NotRegularFile`` (an ``OSError``) for a FIFO, directory... without blocking on it."""
    fd = open_regular(path)
    try:
        mtime = os.fstat(fd).st_mtime
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
    finally:
        os.close(fd)
    return describe_bytes(path, data, signer, mtime)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _summarise(payload: Any) -> str:
    """A short, safe preview of a task's arguments (any payload shape: it may be unsigned)."""
    if isinstance(payload, dict) and {"func", "arg", "kwg"} <= payload.keys():
        try:
            args = [_preview.repr(a) for a in payload["arg"]]
            args += [f"{k}={_preview.repr(v)}" for k, v in dict(payload["kwg"]).items()]
            return f"({', '.join(args)})"
        except (TypeError, ValueError):
            pass
    return _preview.repr(payload)
