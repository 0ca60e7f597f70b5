"""One run of one attempt at a time per spool directory, whichever file brought it.

uWSGI's ``fcntl`` lock is per *file*: it keeps two spooler processes from running one file, but
two files of the same task and attempt (a remote resend after a timeout, a replayed copy) are
two files, and while the first one runs the store does not know its outcome yet, so the
duplicate check (``results.tracking.already_ran``) lets the second one start beside it.

The fix is a lock per *attempt*: one byte of ``<spool>/.spoolrt/attempts.lock``, at an offset
hashed from ``(task_id, attempt)``, locked with ``fcntl`` (non-blocking) for the whole run and
its bookkeeping. One syscall to take it and one to let it go, no file per task; the kernel lets
go of it when the process dies, so a killed run never blocks its own re-run. A process that
cannot take it leaves its file where it is (the dispatcher raises ``FileKept``); once the run
that holds it is over, the store knows, and that file is refused as a duplicate. Two different
attempts that hash to one byte (1 in 2**56) only wait for each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os

from spoolrt.spooldir.layout import ensure_state_dir

LOCK_FILE = "attempts.lock"

#: Offsets are below 2**56: inside any ``off_t``.
_OFFSET_BYTES = 7


def _offset(task_id: str, attempt: int) -> int:
    digest = hashlib.blake2b(f"{task_id}\t{attempt}".encode(), digest_size=_OFFSET_BYTES)
    return int.from_bytes(digest.digest(), "big")


class AttemptLocks:
    """This process's handle on one directory's attempt locks (opened once, reopened after a
    fork: ``fcntl`` locks belong to a process, and a child holds none of its parent's)."""

    def __init__(self, spool_dir: str) -> None:
        self.pid = os.getpid()
        path = ensure_state_dir(spool_dir) / LOCK_FILE
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def take(self, task_id: str, attempt: int) -> int | None:
        """Lock the attempt: its offset, to give back to ``release``; None when another live
        process of this host holds it (it runs that attempt now)."""
        offset = _offset(task_id, attempt)
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:  # EAGAIN or EACCES: held elsewhere
            return None
        return offset

    def release(self, offset: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


_locks: dict[str, AttemptLocks] = {}


def attempt_locks(spool_dir: str) -> AttemptLocks | None:
    """This process's ``AttemptLocks`` of ``spool_dir``; None when the lock file cannot be
    opened (the task still runs: the store's duplicate check stands alone)."""
    locks = _locks.get(spool_dir)
    if locks is not None and locks.pid == os.getpid():
        return locks
    if locks is not None:  # inherited across fork: a fresh descriptor, no inherited state
        locks.close()
    try:
        locks = _locks[spool_dir] = AttemptLocks(spool_dir)
    except OSError:
        _locks.pop(spool_dir, None)
        return None
    return locks
