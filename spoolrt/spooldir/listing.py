"""The one listing of what waits in a spool directory, in the order it runs.

Numeric priority sub-directories come first, lowest number first, then the top-level files;
within each, oldest ``at`` (mtime) first. That is the order the pure-Python worker runs files in,
and the order every listing (``Spooler.pending``, ``spoolrt ls``, eager mode) shows them in, so
what a user sees is what will happen. Only regular files named like uWSGI spool files count;
anything else in the directory is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from spoolrt.core.codec.packet import FILE_PREFIX
from spoolrt.spooldir.layout import RECORD_SUFFIX, area_dir


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
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.is_file(follow_symlinks=False):
                top.append((st.st_mtime, entry.path))
        elif name.isdigit() and entry.is_dir(follow_symlinks=False):
            groups.append((int(name), entry.path))
    for _priority, folder in sorted(groups):
        yield from _sorted_files(folder)
    top.sort()
    for mtime, path in top:
        yield path, mtime


def _sorted_files(folder: str) -> list[tuple[str, float]]:
    found: list[tuple[float, str]] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith(FILE_PREFIX) and entry.is_file(follow_symlinks=False):
                    try:
                        found.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
                    except FileNotFoundError:
                        continue
    except FileNotFoundError:
        return []
    found.sort()
    return [(path, mtime) for mtime, path in found]


def iter_pending(spool_dir: str) -> Iterator[str]:
    """The paths of ``pending_files``: every waiting spool file of ``spool_dir``, in run order."""
    for path, _mtime in pending_files(spool_dir):
        yield path


def iter_area(spool_dir: str, area: str) -> Iterator[str]:
    """Files kept in a spoolrt area (failed / quarantine), without their records."""
    try:
        names = os.listdir(area_dir(spool_dir, area))
    except FileNotFoundError:
        return
    for name in sorted(names):
        if name.startswith(FILE_PREFIX) and not name.endswith(RECORD_SUFFIX):
            yield str(area_dir(spool_dir, area) / name)
