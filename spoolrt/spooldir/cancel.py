"""Taking a waiting spool file away before it runs: the one cancel primitive of every face.

``take`` locks the file exactly as a spooler does (``spooldir.claim``) and unlinks it while
the lock is held, so no spooler can start it meanwhile, and one that is running it (it holds
the lock) makes ``take`` refuse with that reason: a task is never half-cancelled. The task-id
index link goes with it, so ``pending_status`` stops answering "queued".

A parked far-future file may be promoted (renamed into the spool directory, without a lock)
between our lock and our unlink; the lock is on the inode, so the promoted name is still ours
and is the one unlinked.

``locate`` finds the file of a task id (a handle's path, the promoted name of a parked one, or
the inode of the id's index link among the waiting files), stat calls only, no decoding;
``search`` reads the id in every waiting file, for the files the index does not know (a retry's
new file, a file spooled by something else).

The store is not touched here (``spoolrt.results.cancelling`` records the outcome).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from spoolrt.spooldir import ids
from spoolrt.spooldir.claim import claim
from spoolrt.spooldir.inspect import describe_file
from spoolrt.spooldir.listing import pending_files
from spoolrt.spooldir.parking import iter_parked, parked_dir, promoted_path

#: ``CancelResult.code`` values.
CANCELLED = "cancelled"
RUNNING = "running"
GONE = "gone"
FINISHED = "finished"
NOT_WAITING = "not-waiting"


@dataclass(frozen=True)
class CancelResult:
    """What a cancel did: true when the task was taken away (``code`` ``cancelled``), else
    false with ``code`` (``running``, ``gone``, ``finished``, ``not-waiting``) and ``reason``
    saying why in words. ``path`` is the file that was (or would have been) removed."""

    code: str
    reason: str = ""
    task_id: str = ""
    path: str = ""

    @property
    def cancelled(self) -> bool:
        return self.code == CANCELLED

    def __bool__(self) -> bool:
        return self.cancelled


def refused_running(task_id: str, path: str) -> CancelResult:
    return CancelResult(
        RUNNING,
        "it is running (its file is locked by a spooler): a running task cannot be cancelled",
        task_id,
        path,
    )


def take(spool_dir: str, path: str, task_id: str = "") -> CancelResult:
    """Remove the waiting spool file at ``path`` under the spooler's lock (see the module doc).

    Refuses (nothing changed) when a process holds the file's lock (``running``) or the file
    is gone (``gone``: it ran, or was cancelled or moved, meanwhile)."""
    taken = claim(path, due_by=None)
    if taken is None:
        if os.path.lexists(path):
            return refused_running(task_id, path)
        return CancelResult(GONE, "its file is gone: it ran or was taken meanwhile", task_id, path)
    try:
        removed = _unlink_ours(spool_dir, path, os.fstat(taken.fd))
    finally:
        taken.release()
    if not removed:
        return CancelResult(GONE, "its file is gone: it was taken meanwhile", task_id, path)
    if task_id:
        ids.forget(spool_dir, task_id)
    return CancelResult(CANCELLED, "", task_id, removed)


def _unlink_ours(spool_dir: str, path: str, ours: os.stat_result) -> str:
    """Unlink the name that leads to our locked inode: ``path``, or a parked file's promoted
    name; returns the name removed ("" when neither leads to it any more)."""
    candidates = [path]
    if path.startswith(parked_dir(spool_dir) + os.sep):
        candidates.append(promoted_path(spool_dir, path))
    for name in candidates:
        try:
            st = os.stat(name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (ours.st_dev, ours.st_ino):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
                return name
    return ""


def locate(spool_dir: str, task_id: str, hint: str = "") -> str:
    """The waiting spool file of ``task_id`` ("" when none is known): ``hint`` (a handle's
    path) or its promoted name when it is still there, else the file whose inode the id's index
    link shares, found among the waiting files by ``stat`` alone."""
    if hint and os.path.isabs(hint):
        candidates = [hint]
        if hint.startswith(parked_dir(spool_dir) + os.sep):
            candidates.append(promoted_path(spool_dir, hint))
        for name in candidates:
            if os.path.isfile(name):
                return name
    try:
        linked = os.stat(ids.entry(spool_dir, task_id))
    except OSError:
        return ""
    if linked.st_nlink < 2:
        return ""  # the index link outlived its file
    wanted = (linked.st_dev, linked.st_ino)
    for name in _waiting(spool_dir):
        try:
            st = os.stat(name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == wanted:
            return name
    return ""


def search(spool_dir: str, task_id: str) -> str:
    """The waiting spool file whose header names ``task_id`` ("" when none): every waiting file
    is read (no signature is needed to read an id; taking a forged file away harms nothing)."""
    for name in _waiting(spool_dir):
        try:
            if describe_file(name, None).task_id == task_id:
                return name
        except OSError:
            continue
    return ""


def _waiting(spool_dir: str) -> list[str]:
    return [*(p for p, _mtime in pending_files(spool_dir)), *iter_parked(spool_dir)]
