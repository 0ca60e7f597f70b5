"""The one listing of what waits in a spool directory, in the order it runs.

Numeric priority sub-directories come first, lowest number first, then the top-level files;
within each, oldest ``at`` (mtime) first. That is the order the pure-Python worker runs files in,
and the order every listing (``Spooler.pending``, ``spoolrt ls``, eager mode) shows them in, so
what a user sees is what will happen. Only regular files named like uWSGI spool files count;
anything else in the directory is left alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from spoolrt.core.codec.packet import FILE_PREFIX
from spoolrt.spooldir.layout import RECORD_SUFFIX, area_dir
from spoolrt.spooldir.regular import file_kind, notice_skipped


def pending_files(spool_dir: str) -> Iterator[tuple[str, float]]:
    """``(path, mtime)`` of the spool files of ``spool_dir`` in run order: numeric priority
    sub-directories lowest first, then the top level; oldest first within each."""
    try:
        entries = list(os.scandir(spool_dir))
    except FileNotFoundError:
        return
    groups: list[tuple[int, str]] = []
    top: list[tuple[float, str]] = []
    for entry in entries:
        name = entry.name
        if name.startswith(FILE_PREFIX):
            mtime = _regular_mtime(entry)
            if mtime is not None:
                top.append((mtime, entry.path))
        elif name.isdigit() and entry.is_dir(follow_symlinks=False):
            groups.append((int(name), entry.path))
    for _priority, folder in sorted(groups):
        yield from _sorted_files(folder)
    top.sort()
    for mtime, path in top:
        yield path, mtime


def _regular_mtime(entry: os.DirEntry[str]) -> float | None:
    """A spool file's mtime (its ``at``); None when it is gone or not a regular file (a FIFO or
    a directory under a spool file's name is named once in the log and never run)."""
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        notice_skipped(entry.path, f"not a regular file ({file_kind(st.st_mode)})")
        return None
    return st.st_mtime


def _sorted_files(folder: str) -> list[tuple[str, float]]:
    found: list[tuple[float, str]] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                mtime = _regular_mtime(entry) if entry.name.startswith(FILE_PREFIX) else None
                if mtime is not None:
                    found.append((mtime, entry.path))
    except FileNotFoundError:
        return []
    except OSError as exc:  # an unreadable priority directory: say so once, run the others
        notice_skipped(folder, exc)
        return []
    found.sort()
    return [(path, mtime) for mtime, path in found]


def iter_pending(spool_dir: str) -> Iterator[str]:
    """The paths of ``pending_files``: every waiting spool file of ``spool_dir``, in run order."""
    for path, _mtime in pending_files(spool_dir):
        yield path


def _notice_entry(entry: os.DirEntry[str]) -> None:
    try:
        kind = file_kind(entry.stat(follow_symlinks=False).st_mode)
    except OSError:
        return
    notice_skipped(entry.path, f"not a regular file ({kind})")


def _regular_spool_files(entries: list[os.DirEntry[str]]) -> Iterator[str]:
    for entry in entries:
        if entry.name.startswith(FILE_PREFIX):
            if entry.is_file(follow_symlinks=False):
                yield entry.path
            else:
                _notice_entry(entry)


def iter_area(spool_dir: str, area: str) -> Iterator[str]:
    """Files kept in a spoolrt area (failed / quarantine), without their records."""
    try:
        with os.scandir(area_dir(spool_dir, area)) as found:
            entries = sorted(found, key=lambda e: e.name)
    except FileNotFoundError:
        return
    yield from _regular_spool_files([e for e in entries if not e.name.endswith(RECORD_SUFFIX)])
