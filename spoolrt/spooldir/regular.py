"""Reading files that may not be what they seem: FIFOs, directories, unreadable files.

Anyone who can write a spool directory can leave a FIFO where a spool file, a record or an
announcement should be; a plain ``open()`` of it waits for a writer for ever (that hung
``spoolrt ls`` and ``get_result``). Everything spoolrt reads from a state area goes through
``open_regular``; what it skips it names once per process (``notice_skipped``), escaped, so a
loop that passes the file every second does not flood the log and a name cannot fake a line.
"""

from __future__ import annotations

import errno
import logging
import os
import stat

log = logging.getLogger("spoolrt")


class NotRegularFile(OSError):
    """A path where a spool file (or its record) should be is a FIFO, directory, socket..."""


def file_kind(mode: int) -> str:
    """What a non-regular file is, for a person: "a FIFO", "a directory"..."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def open_regular(path: str, flags: int = os.O_RDONLY) -> int:
    """Open ``path`` only if it is a regular file; never blocks, never follows a final symlink.

    ``O_NONBLOCK`` makes opening a FIFO return at once (a plain ``open()`` waits for a writer
    for ever: that hung ``spoolrt ls`` and ``get_result``); ``fstat`` then refuses it, and
    anything else that is not a regular file, with ``NotRegularFile``.
    """
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"not a regular file ({file_kind(mode)})", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str) -> bytes:
    """All bytes of ``path`` if it is a regular file (see ``open_regular``)."""
    fd = open_regular(path)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def escape_name(name: str) -> str:
    """``name`` for a log line: as it is when printable, else its ``repr`` (quoted, with
    ``\\n`` and friends escaped), so a file name with a newline cannot fake a log line."""
    return name if name.isprintable() else repr(name)


_noticed: set[tuple[str, str]] = set()
_NOTICED_MAX = 10_000


def notice_skipped(path: str, why: OSError | str) -> None:
    """Log, once per file and reason in this process, that ``path`` was skipped and why.

    Loops that pass the same odd file every second (the worker, a web worker's look-ups) must
    not log it every time. The name is escaped (``escape_name``): a newline in it cannot fake
    a log line.
    """
    if isinstance(why, NotRegularFile):
        reason = str(why.strerror)
    elif isinstance(why, OSError):
        reason = f"cannot be read ({why.strerror or why})"
    else:
        reason = why
    key = (path, reason)
    if key in _noticed:
        return
    if len(_noticed) >= _NOTICED_MAX:
        _noticed.clear()
    _noticed.add(key)
    log.warning("skipped %s: %s", escape_name(path), reason)
