"""Spool files whose mtime was moved later than their signed time, and putting them back.

uWSGI reads a task's ``at`` from its file's mtime, which anyone with write access can move: a
file moved to 2100 would never run. The envelope's signed ``at`` (else its signed enqueue time)
is the truth. Nothing spoolrt writes into the scanned directory is due later than the parking
horizon (``park_after`` plus ``defaults.MISDATED_MARGIN``), so only files beyond it are decoded
and compared: a pass over the directory stays a listing. A file moved later by less than that
is not noticed (it runs late, never early: the dispatcher refuses early files).

The worker checks on each pass, the uWSGI one-second tick for each spooler directory, and
``spoolrt ls`` flags such files.
"""

from __future__ import annotations

import logging
import math
import os
import time

from spoolrt.core import defaults
from spoolrt.core.codec.envelope import decode_body
from spoolrt.core.codec.packet import unpack
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.config import get_settings
from spoolrt.core.errors import SpoolFileError
from spoolrt.spooldir.listing import pending_files
from spoolrt.spooldir.regular import escape_name, open_regular

log = logging.getLogger("spoolrt")


def horizon(now: float) -> float:
    """The latest mtime a file of the scanned directory is expected to have."""
    return now + get_settings().park_after + defaults.MISDATED_MARGIN


def signed_time(at: float | None, enqueued_at: float | None) -> float | None:
    """The whole second a task is due from by its signed times (as its file's mtime would be)."""
    when = at if at is not None else enqueued_at
    return None if when is None else float(math.ceil(when))


def is_misdated(mtime: float, signed: float | None, now: float) -> bool:
    """Whether a file's mtime lies beyond the horizon and later than its signed time."""
    return signed is not None and mtime > horizon(now) and mtime > signed + 1


def restore_signed_time(path: str, signer: Signer | None, now: float | None = None) -> float | None:
    """Put back the mtime of a verified file moved later than its signed time; returns the
    restored mtime, else None (not misdated, not verifiable, gone)."""
    if signer is None:  # nothing is signed: there is no time to trust but the mtime
        return None
    now = time.time() if now is None else now
    try:
        fd = open_regular(path)
        try:
            mtime = os.fstat(fd).st_mtime
            if mtime <= horizon(now):
                return None
            with open(fd, "rb", closefd=False) as f:
                data = f.read()
        finally:
            os.close(fd)
        envelope = decode_body(unpack(data).body, signer)
    except (OSError, SpoolFileError):  # gone, odd, forged: the dispatcher deals with it
        return None
    signed = signed_time(envelope.at, envelope.enqueued_at)
    if signed is None or not is_misdated(mtime, signed, now):
        return None
    try:
        os.utime(path, (signed, signed))
    except OSError:
        return None
    log.warning(
        "the mtime of %s was moved to %.0f, later than its signed time %.0f; put back",
        escape_name(path), mtime, signed,
    )  # fmt: skip
    return signed


def restore_misdated(spool_dir: str, signer: Signer | None, now: float | None = None) -> int:
    """``restore_signed_time`` for every file of ``spool_dir`` beyond the horizon; how many."""
    if signer is None:
        return 0
    now = time.time() if now is None else now
    limit = horizon(now)
    return sum(
        restore_signed_time(path, signer, now) is not None
        for path, mtime in pending_files(spool_dir)
        if mtime > limit
    )
