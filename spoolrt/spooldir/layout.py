"""Files in a spool directory: atomic writes, listing, and spoolrt's own areas.

Layout of one spool directory::

    <spool>/uwsgi_spoolfile_on_*          pending tasks (uWSGI scans these)
    <spool>/<N>/uwsgi_spoolfile_on_*      pending tasks of priority N (only with spooler-ordered)
    <spool>/.spoolrt/                     spoolrt's state, 0700; uWSGI never scans it
    <spool>/.spoolrt/failed/<file>        tasks whose retries ran out, with <file>.json (why)
    <spool>/.spoolrt/quarantine/<file>    files that could not be trusted or resolved, + .json

Nothing is ever written in place: a temp name in the same directory, then ``rename()``, so a
scanner sees a whole file or none (uWSGI deletes half-written files without a trace).
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.codec.packet import FILE_PREFIX
from spoolrt.core.errors import DiskFull, SpoolDirUnavailable, SpoolWriteError, UnsafeStateArea
from spoolrt.spooldir.regular import (
    file_kind,
    notice_skipped,
    read_regular,
)

log = logging.getLogger("spoolrt")

STATE_DIR = defaults.STATE_DIR
FAILED = "failed"
QUARANTINE = "quarantine"
RECORD_SUFFIX = ".json"
_TMP_PREFIX = ".tmp-"
FILE_MODE = 0o600
DIR_MODE = 0o700

_host = socket.gethostname().replace("_", "-")[:64]
_counter = 0


def new_file_name() -> str:
    """A name uWSGI will pick up, unique across hosts, processes and calls."""
    global _counter
    _counter += 1
    now = time.time()
    return (
        f"{FILE_PREFIX}{_host}_{os.getpid()}_{_counter}_{os.urandom(4).hex()}"
        f"_{int(now)}_{int((now % 1) * 1e6)}"
    )


def state_dir(spool_dir: str | os.PathLike[str]) -> Path:
    return Path(spool_dir) / STATE_DIR


def area_dir(spool_dir: str | os.PathLike[str], area: str) -> Path:
    return state_dir(spool_dir) / area


def ensure_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 directories (mkdir's ``parents=True``
    would give the parents the umask's mode); existing ones are left as they are."""
    if not path.is_dir():
        if not path.parent.is_dir():
            ensure_dir(path.parent)
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
    return path


def ensure_state_dir(spool_dir: str | os.PathLike[str], *parts: str) -> Path:
    """``<spool>/.spoolrt/<parts...>``, created 0700 where missing, every level checked.

    Each level is ``lstat``-ed, never followed: a symlink (``.spoolrt/quarantine`` pointing at
    another user's directory), a non-directory, a directory owned by someone else than this
    user, the spool directory's owner or root, or one anyone may write into is refused with
    ``UnsafeStateArea`` instead of receiving task files and records. Checked from the top, so
    once ``.spoolrt`` is sound nobody else can swap what lies below it.
    """
    root = Path(spool_dir)
    if not root.is_dir():
        ensure_dir(root)
    trusted = {os.geteuid(), 0, root.stat().st_uid}
    path = root
    for part in (STATE_DIR, *parts):
        path = path / part
        try:
            info = path.lstat()
        except FileNotFoundError:
            try:
                path.mkdir(mode=DIR_MODE)
            except FileExistsError:
                pass
            info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise UnsafeStateArea(
                f"{path} is {file_kind(info.st_mode)}, not a directory: spoolrt will not write "
                "into it; remove it (it may have been planted to redirect task files)"
            )
        if info.st_uid not in trusted:
            raise UnsafeStateArea(
                f"{path} belongs to uid {info.st_uid}, not to this user ({os.geteuid()}) or the "
                "spool directory's owner: spoolrt will not write into it"
            )
        if info.st_mode & stat.S_IWOTH:
            raise UnsafeStateArea(
                f"{path} is writable by all users (mode {stat.S_IMODE(info.st_mode):o}): "
                f"spoolrt will not write into it; run `chmod o-w {path}`"
            )
    return path


def priority_dir(spool_dir: str, priority: int | None) -> str:
    return spool_dir if priority is None else os.path.join(spool_dir, str(priority))


def write_atomic(
    directory: str | os.PathLike[str],
    name: str,
    data: bytes,
    *,
    mtime: float | None = None,
    durable: bool = True,
) -> str:
    """Write ``data`` as ``directory/name`` so readers see all of it or nothing.

    ``mtime`` sets the file time (uWSGI's ``at``: not run before). ``durable`` fsyncs the file
    before the rename, so a power cut cannot leave an empty file under a real name.
    """
    directory = os.fspath(directory)
    tmp = os.path.join(directory, f"{_TMP_PREFIX}{name}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileNotFoundError:
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        final = os.path.join(directory, name)
        os.rename(tmp, final)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return final


def write_spool_file(
    spool_dir: str,
    data: bytes,
    *,
    at: float | None = None,
    priority: int | None = None,
    durable: bool = True,
) -> str:
    """Atomically place a spool file where uWSGI (or the worker) will find it; returns its path.

    Raises ``SpoolWriteError`` (``DiskFull``, ``SpoolDirUnavailable``) saying why, with nothing
    of the file left behind.
    """
    directory = priority_dir(spool_dir, priority)
    try:
        return write_atomic(
            directory,
            new_file_name(),
            data,
            mtime=None if at is None else float(math.ceil(at)),  # whole seconds, never early
            durable=durable,
        )
    except OSError as exc:
        raise spool_write_error(exc, directory) from exc


_FULL = {errno.ENOSPC, errno.EDQUOT}


def spool_write_error(exc: OSError, directory: str | os.PathLike[str]) -> SpoolWriteError:
    """The ``SpoolWriteError`` that says why writing a spool file into ``directory`` failed."""
    where = os.fspath(directory)
    code = exc.errno
    name = errno.errorcode.get(code, "") if code is not None else ""
    cause = f"{name}: {exc.strerror}" if name else str(exc)
    if isinstance(exc, SpoolWriteError):
        return exc
    if code in _FULL:
        return DiskFull(
            f"cannot write a spool file into {where}: its filesystem is full ({cause}); free "
            "space there (or raise the quota) and spool again; nothing was written",
            errno=code,
            filename=where,
        )
    if code in (errno.EACCES, errno.EPERM):
        hint = (
            f"this process (uid {os.geteuid()}) may not write there: check the owner and mode "
            "of the directory and its parents"
        )
    elif code == errno.EROFS:
        hint = "its filesystem is mounted read-only"
    elif code in (errno.ENOENT, errno.ENOTDIR):
        hint = "it (or a parent) is missing or not a directory: deleted, moved or not mounted?"
    else:
        return SpoolWriteError(
            f"cannot write a spool file into {where} ({cause}); nothing was written",
            errno=code,
            filename=where,
        )
    return SpoolDirUnavailable(
        f"cannot write a spool file into {where}: {hint} ({cause}); nothing was written",
        errno=code,
        filename=where,
    )


def keep_aside(spool_dir: str, area: str, name: str, data: bytes, record: dict[str, Any]) -> Path:
    """Keep a copy of a spool file in ``area`` (failed / quarantine) with a JSON record of why.

    A copy, not a move: under uWSGI the spooler unlinks the original itself after the callable
    returns, and dies if the file is already gone.
    """
    target = ensure_state_dir(spool_dir, area)
    stored = f"{name}" if name.startswith(FILE_PREFIX) else f"{FILE_PREFIX}{name}"
    if (target / stored).exists():
        stored = f"{stored}.{os.urandom(3).hex()}"
    record = {**record, "file": stored, "kept_at": time.time()}
    write_atomic(target, stored + RECORD_SUFFIX, json.dumps(record, indent=1).encode())
    write_atomic(target, stored, data)
    return target / stored


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON record kept beside a failed or quarantined file ({} if there is none)."""
    record_path = os.fspath(path) + RECORD_SUFFIX
    try:
        loaded = json.loads(read_regular(record_path))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        notice_skipped(record_path, exc)
        return {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def remove_kept(path: str | os.PathLike[str]) -> None:
    """Remove a kept file and its record."""
    _unlink_quietly(os.fspath(path))
    _unlink_quietly(os.fspath(path) + RECORD_SUFFIX)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


_checked: set[str] = set()


def exposure_problems(spool_dir: str | os.PathLike[str]) -> list[str]:
    """Why other local users could put files into ``spool_dir`` (empty when they cannot).

    Checks the directory, spoolrt's state directory and the numeric priority sub-directories
    (uWSGI creates those ``0777`` minus the umask). A file dropped there is never run unless it
    carries a valid MAC, but it can still delete, replay or crowd out real tasks, and with
    signing off it runs any code it likes.
    """
    root = Path(spool_dir)
    candidates = [root, state_dir(root)]
    try:
        candidates += [e for e in root.iterdir() if e.name.isdigit() and e.is_dir()]
    except OSError:
        pass
    problems: list[str] = []
    me = os.geteuid()
    for path in candidates:
        try:
            info = path.lstat()
        except OSError:
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            who = "all users" if mode & stat.S_IWOTH else "its group"
            problems.append(f"{path} is writable by {who} (mode {mode:o}); run `chmod go-w {path}`")
        if info.st_uid not in (me, 0):
            problems.append(f"{path} belongs to uid {info.st_uid}, not to this user ({me})")
    return problems


def warn_if_exposed(spool_dir: str | os.PathLike[str]) -> list[str]:
    """Log a WARNING for each of ``exposure_problems(spool_dir)``, once per directory and process
    (a spooler imports spoolrt in every worker; one line each is enough)."""
    key = os.path.realpath(spool_dir)
    if key in _checked:
        return []
    _checked.add(key)
    problems = exposure_problems(spool_dir)
    for problem in problems:
        log.warning("spool directory is open to other users: %s", problem)
    return problems
