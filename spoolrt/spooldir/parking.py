"""Far-future tasks wait outside the directory uWSGI scans, and move in shortly before they are due.

uWSGI ``lstat()``s every file of a spool directory on every pass, and every enqueue wakes an
idle spooler for a pass. Measured on 2.0.31 with 100,000 postponed files beside the ready ones:
idle enqueue-to-start latency grew from 0.3 ms to 66 ms (tmpfs) and 2 ms to 96 ms (ext4), and the
ext4 drain rate fell to 0.63x. So a task due more than ``PARK_AFTER`` seconds from now is
*parked* (``PARK_AFTER`` is ``configure(park_after=...)``, default ``defaults.PARK_AFTER``)::

    <spool>/.spoolrt/parked/<minute>/<priority or "n">/<spool file name>     mtime = at

and ``promote_due`` renames the files of every minute bucket that starts within ``PARK_AFTER``
seconds into the spool directory (its priority sub-directory), where the file's mtime still keeps
uWSGI from running it early. Promotion is a ``rename()`` within one filesystem: atomic, and when
two processes race for a file one wins and the other finds it gone. A pass lists bucket names
only, never the files of buckets not yet due.

Who promotes: under uWSGI the one-second tick a spooler process receives (see
``schedule_uwsgi``), and ``spoolrt worker`` on every loop. Parked files are pending tasks for
every listing (``Spooler.get_tasks``, ``spoolrt ls``).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import time
from collections.abc import Iterator

from spoolrt.core.config import get_settings
from spoolrt.core.errors import SpoolWriteError
from spoolrt.spooldir.layout import (
    STATE_DIR,
    ensure_state_dir,
    new_file_name,
    priority_dir,
    spool_write_error,
    write_atomic,
    write_spool_file,
)
from spoolrt.spooldir.regular import file_kind, notice_skipped

PARKED = "parked"
_NO_PRIORITY = "n"
_BUCKET_SECONDS = 60
#: Tries of a parked write that keeps losing its bucket to promotion: each loss needs another
#: process to rmdir in a window of microseconds, so a few always suffice.
_RACE_ATTEMPTS = 20

_next_promotion: dict[str, float] = {}


def parked_dir(spool_dir: str) -> str:
    return os.path.join(spool_dir, STATE_DIR, PARKED)


def should_park(at: float | None, now: float) -> bool:
    return at is not None and at > now + get_settings().park_after


def place_spool_file(
    spool_dir: str,
    data: bytes,
    *,
    at: float | None,
    priority: int | None,
    durable: bool = True,
    now: float | None = None,
) -> str:
    """Write a spool file where it belongs: parked when far in the future, else in the spool
    directory (its priority sub-directory). Returns the path it was written to.

    Raises ``SpoolWriteError`` (``DiskFull``, ``SpoolDirUnavailable``) saying why, with nothing
    of the file left behind.
    """
    if not should_park(at, time.time() if now is None else now):
        return write_spool_file(spool_dir, data, at=at, priority=priority, durable=durable)
    assert at is not None
    parts = (
        PARKED,
        str(int(at // _BUCKET_SECONDS)),
        _NO_PRIORITY if priority is None else str(priority),
    )
    bucket = os.path.join(spool_dir, STATE_DIR, *parts)
    for attempt in range(_RACE_ATTEMPTS):
        try:
            ensure_state_dir(spool_dir, *parts)  # no symlinked parked area or bucket
            return write_atomic(
                bucket, new_file_name(), data, mtime=float(math.ceil(at)), durable=durable
            )
        except OSError as exc:
            # A promoting process removed the bucket, empty, between its creation and our write
            # (a bucket due soon is promoted while it is still filled): make it again. The
            # writer may already have turned the ENOENT into a SpoolDirUnavailable.
            if exc.errno == errno.ENOENT and attempt + 1 < _RACE_ATTEMPTS:
                continue
            if isinstance(exc, SpoolWriteError):
                raise
            raise spool_write_error(exc, bucket) from exc
            raise spool_write_error(exc, bucket) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def promote_due(spool_dir: str, now: float | None = None) -> int:
    """Move every parked file of the buckets due within ``PARK_AFTER`` into the spool directory;
    returns how many moved. Safe to run from any number of processes at once."""
    now = time.time() if now is None else now
    root = parked_dir(spool_dir)
    try:
        buckets = os.listdir(root)
    except FileNotFoundError:
        return 0
    last_due_bucket = (now + get_settings().park_after) // _BUCKET_SECONDS
    moved = 0
    for bucket in buckets:
        if not bucket.isdigit() or int(bucket) > last_due_bucket:
            continue
        bucket_path = os.path.join(root, bucket)
        for prio_name, name, path in _bucket_files(bucket_path):
            priority = None if prio_name == _NO_PRIORITY else int(prio_name)
            target_dir = priority_dir(spool_dir, priority)
            try:
                os.rename(path, os.path.join(target_dir, name))
            except FileNotFoundError:
                if not os.path.isdir(target_dir):
                    os.makedirs(target_dir, mode=0o700, exist_ok=True)
                    try:
                        os.rename(path, os.path.join(target_dir, name))
                    except FileNotFoundError:
                        continue  # another process promoted it first
                else:
                    continue
            moved += 1
        _remove_empty(bucket_path)
    return moved


def promote_due_throttled(spool_dir: str, every: float = 1.0) -> int:
    """``promote_due`` at most once per ``every`` seconds per directory in this process (for
    loops that come round more often than that)."""
    now = time.monotonic()
    if _next_promotion.get(spool_dir, 0.0) > now:
        return 0
    _next_promotion[spool_dir] = now + every
    return promote_due(spool_dir)


def iter_parked(spool_dir: str) -> Iterator[str]:
    """Every parked spool file of ``spool_dir``, soonest bucket first."""
    root = parked_dir(spool_dir)
    try:
        buckets = sorted((b for b in os.listdir(root) if b.isdigit()), key=int)
    except FileNotFoundError:
        return
    for bucket in buckets:
        for _prio, _name, path in _bucket_files(os.path.join(root, bucket)):
            yield path


def promoted_path(spool_dir: str, parked_path: str) -> str:
    """Where the parked file at ``parked_path`` lives once promoted."""
    prio_name = os.path.basename(os.path.dirname(parked_path))
    priority = None if prio_name == _NO_PRIORITY else int(prio_name)
    return os.path.join(priority_dir(spool_dir, priority), os.path.basename(parked_path))


def _bucket_files(bucket_path: str) -> Iterator[tuple[str, str, str]]:
    try:
        prio_names = os.listdir(bucket_path)
    except (FileNotFoundError, NotADirectoryError):
        return
    for prio_name in prio_names:
        if prio_name != _NO_PRIORITY and not prio_name.isdigit():
            continue
        prio_path = os.path.join(bucket_path, prio_name)
        try:
            with os.scandir(prio_path) as found:
                entries = list(found)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith(".tmp-"):
                continue
            if entry.is_file(follow_symlinks=False):
                yield prio_name, entry.name, entry.path
            else:  # a FIFO or directory is neither listed nor promoted into the spool dir
                with contextlib.suppress(OSError):
                    kind = file_kind(entry.stat(follow_symlinks=False).st_mode)
                    notice_skipped(entry.path, f"not a regular file ({kind})")


def _remove_empty(bucket_path: str) -> None:
    """Drop a promoted bucket; a bucket a writer is filling right now stays (rmdir refuses)."""
    try:
        for prio_name in os.listdir(bucket_path):
            os.rmdir(os.path.join(bucket_path, prio_name))
        os.rmdir(bucket_path)
    except OSError:
        pass
