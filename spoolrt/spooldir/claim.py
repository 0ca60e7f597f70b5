"""Taking a spool file to run it, exactly as a uWSGI spooler does, so both can share a directory.

``claim`` opens the file read-write and takes a non-blocking ``fcntl(F_SETLK, F_WRLCK)`` lock on
the whole file (uWSGI's ``uwsgi_fcntl_is_locked``): a file another process holds is skipped; the
lock is held while the task runs and the file is unlinked before it goes (uWSGI's
``destroy_spool`` after ``SPOOL_OK``), so neither side runs a file twice. After the lock, a file
whose name no longer leads to the inode we opened was run and unlinked by someone else between
our ``open`` and our lock, and is dropped. The pure-Python worker, eager mode's retries and the
CLI's maintenance commands all take files this one way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from dataclasses import dataclass

from spoolrt.spooldir.regular import notice_skipped, open_regular

log = logging.getLogger("spoolrt")


@dataclass
class Claim:
    """A spool file this process has locked, with its bytes. Closing ``fd`` releases it."""

    fd: int
    path: str
    data: bytes
    mtime: float

    def release(self) -> None:
        os.close(self.fd)


def claim(path: str, *, due_by: float | None) -> Claim | None:
    """Lock ``path`` as a uWSGI spooler would and read it; None when it is not ours to run.

    None means: gone, locked by another process, unlinked between our open and our lock, or
    (with ``due_by``) its ``at`` is after ``due_by``. Never blocks.
    """
    try:
        fd = open_regular(path, os.O_RDWR)  # a FIFO put there must not block or be "run"
    except FileNotFoundError:
        return None
    except PermissionError:
        # Once per file: the loop passes it again every scan (it logged twice a second).
        notice_skipped(path, "cannot be opened read-write (uWSGI cannot either)")
        return None
    except OSError as exc:
        notice_skipped(path, exc)
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # F_SETLK, F_WRLCK, whole file
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                return None
            raise
        st = os.fstat(fd)
        # Unlinked (or renamed over) after our open: whoever did it ran the task. Asked of the
        # name, as uWSGI does (``access()`` after its lock), not of the link count: the task-id
        # index (``spoolrt.spooldir.ids``) keeps a second name of every indexed spool file.
        try:
            now_there = os.stat(path)
        except FileNotFoundError:
            now_there = None
        if st.st_nlink == 0 or now_there is None or now_there.st_ino != st.st_ino:
            os.close(fd)
            return None
        if due_by is not None and int(st.st_mtime) > int(due_by):
            os.close(fd)
            return None
        chunks = []
        while True:
            chunk = os.read(fd, max(st.st_size, 65536))
            if not chunk:
                break
            chunks.append(chunk)
        return Claim(fd, path, b"".join(chunks), st.st_mtime)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
