"""Every task file of some spool directories, with the state a person would call it by.

A file in the spool directory (or a numeric priority sub-directory) is *pending*, *scheduled*
when its mtime (uWSGI's ``at``) is still in the future, or *running* when a process holds the
``fcntl`` lock uWSGI's spooler (and spoolrt's worker) keeps on a file while its task runs. Files
in ``.spoolrt/failed`` and ``.spoolrt/quarantine`` are *failed* and *quarantined*, with the JSON
record kept beside them. Reading never changes a file and never takes a lock.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from spoolrt.core.codec.serializers import Signer
from spoolrt.observe.times import format_time
from spoolrt.spooldir.inspect import TaskInfo, describe_file
from spoolrt.spooldir.layout import FAILED, QUARANTINE, STATE_DIR, read_record
from spoolrt.spooldir.listing import iter_area, iter_pending
from spoolrt.spooldir.misdated import is_misdated, signed_time
from spoolrt.spooldir.parking import PARKED, iter_parked
from spoolrt.spooldir.regular import notice_skipped


class State(str, Enum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    FAILED = "failed"
    QUARANTINED = "quarantined"


WAITING = frozenset({State.PENDING, State.SCHEDULED, State.RUNNING})
KEPT = {State.FAILED: FAILED, State.QUARANTINED: QUARANTINE}


@dataclass(frozen=True)
class Entry:
    """One task file and what is known about it."""

    state: State
    spool_dir: str
    info: TaskInfo
    record: dict[str, Any] = field(default_factory=dict)
    locked_by: int | None = None
    #: What a person should know that the state does not say (a moved mtime).
    note: str = ""

    @property
    def path(self) -> str:
        return self.info.path

    @property
    def task_id(self) -> str:
        return self.info.task_id or str(self.record.get("task_id") or "")

    @property
    def label(self) -> str:
        """The task's name as people use it: function name, else message, else type id."""
        info = self.info
        return info.name or info.message or info.type_id or str(self.record.get("task") or "")

    @property
    def kind(self) -> str:
        """``spoolrt`` for files that decoded, else what went wrong (foreign, corrupt...)."""
        if not self.info.problem:
            return "spoolrt"
        return self.info.problem.split(":", 1)[0]

    @property
    def due(self) -> float | None:
        """When a waiting task may run (the file's mtime, which is what uWSGI reads)."""
        return self.info.mtime if self.state in WAITING else None

    @property
    def since(self) -> float:
        """When this entry came to be: enqueued for waiting tasks, kept for failed ones.

        What ``--older-than`` and ``--oldest`` compare; the file time is the fallback.
        """
        if self.state in WAITING:
            return self.info.enqueued_at or self.info.mtime
        kept = self.record.get("kept_at")
        return float(kept) if isinstance(kept, int | float) else self.info.mtime

    @property
    def error(self) -> str:
        """The last error: the kept record's, else what reading the file found wrong."""
        record = self.record
        return str(record.get("error") or record.get("detail") or "") or self.info.problem

    def matches_task(self, pattern: str) -> bool:
        """``--task``: the exact label or type id, the function's qualname alone, or a glob."""
        return label_matches(self.label, self.info.type_id, pattern)

    def to_json(self, now: float) -> dict[str, Any]:
        """The stable JSON shape of one task file (documented in ``spoolrt ls --help``)."""
        info = self.info
        return {
            "state": self.state.value,
            "id": self.task_id or None,
            "task": self.label or None,
            "type": info.type_id or None,
            "kind": self.kind,
            "verified": info.verified,
            "attempt": info.attempt or None,
            "max_attempts": info.max_attempts or None,
            "priority": info.priority,
            "due": self.due,
            "enqueued_at": info.enqueued_at,
            "since": self.since,
            "age": round(now - self.since, 3),
            "reason": self.record.get("reason"),
            "error": self.error or None,
            "locked_by": self.locked_by,
            "note": self.note or None,
            "spooler": self.spool_dir,
            "path": self.path,
            "size": info.size,
        }


def label_matches(label: str, type_id: str, pattern: str) -> bool:
    """``--task``/``?name=``: ``pattern`` is the exact label or type id, the function's
    qualname alone, or a glob over any of them."""
    names = {label, type_id, label.rpartition(":")[2]}
    return any(n and (n == pattern or fnmatchcase(n, pattern)) for n in names)


def scan(
    spool_dirs: Collection[str],
    signer: Signer | None,
    *,
    states: Collection[State] | None = None,
    now: float,
) -> list[Entry]:
    """Every task file of ``spool_dirs`` in the given ``states`` (all when None)."""
    wanted = set(states) if states else set(State)
    entries: list[Entry] = []
    for spool_dir in spool_dirs:
        if wanted & WAITING:
            entries += [e for e in _waiting_entries(spool_dir, signer, now) if e.state in wanted]
        for state, area in KEPT.items():
            if state in wanted:
                for path in iter_area(spool_dir, area):
                    kept = _kept_entry(spool_dir, path, state, signer)
                    if kept is not None:
                        entries.append(kept)
    return entries


def _waiting_entries(spool_dir: str, signer: Signer | None, now: float) -> list[Entry]:
    """The waiting tasks of one directory, each exactly once, even while tasks move.

    Promotion renames a file from the parked area into the spool directory under the same
    name. Reading the parked area first and the spool directory second, a moving file is seen
    in at least one of them (before the move in the parked area, after it in the spool
    directory), and a file seen in both is kept once, where it lies now. (Reading them the
    other way round, a file promoted in between was in neither.)
    """
    parked = {}
    for path in iter_parked(spool_dir):
        entry = waiting_entry(spool_dir, path, signer, now)
        if entry is not None:
            parked[os.path.basename(path)] = entry
    found = []
    for path in iter_pending(spool_dir):
        entry = waiting_entry(spool_dir, path, signer, now)
        if entry is not None:
            parked.pop(os.path.basename(path), None)
            found.append(entry)
    return found + list(parked.values())


def entry_for_path(path: str, signer: Signer | None, now: float) -> Entry | None:
    """The entry of one file named on the command line, its state told by where it lies."""
    file = Path(path).absolute()
    folder = file.parent
    for state, area in KEPT.items():
        if folder.name == area and folder.parent.name == STATE_DIR:
            return _kept_entry(str(folder.parent.parent), str(file), state, signer)
    parents = file.parents
    if len(parents) > 4 and parents[2].name == PARKED and parents[3].name == STATE_DIR:
        return waiting_entry(str(parents[4]), str(file), signer, now)  # parked/<min>/<prio>/
    spool_dir = folder.parent if folder.name.isdigit() else folder  # a priority sub-directory
    return waiting_entry(str(spool_dir), str(file), signer, now)


def find(entries: Collection[Entry], key: str) -> list[Entry]:
    """Entries whose task id is ``key`` or starts with it (4+ characters), or whose file is
    named ``key``. An exact id wins over prefixes."""
    exact = [e for e in entries if e.task_id == key or os.path.basename(e.path) == key]
    if exact or len(key) < 4:
        return exact
    return [e for e in entries if e.task_id.startswith(key)]


def waiting_entry(spool_dir: str, path: str, signer: Signer | None, now: float) -> Entry | None:
    """The entry of one waiting file (decoded, its lock asked); None when it is gone."""
    info = _describe(path, signer)
    if info is None:
        return None
    holder = locked_by(path)
    if holder is not None:
        state = State.RUNNING
    elif int(info.mtime) > int(now):  # uWSGI compares whole seconds: st_mtime > now
        state = State.SCHEDULED
    else:
        state = State.PENDING
    return Entry(state, spool_dir, info, locked_by=holder, note=_misdated_note(info, now))


def _misdated_note(info: TaskInfo, now: float) -> str:
    """A note for a verified file whose mtime lies far later than its signed time: uWSGI would
    run it then (or never); the worker and the uWSGI tick put it back to its signed time."""
    signed = signed_time(info.at, info.enqueued_at) if info.verified else None
    if signed is None or not is_misdated(info.mtime, signed, now):
        return ""
    return (
        f"mtime moved to {format_time(info.mtime)}, later than its signed time "
        f"{format_time(signed)}: runs then once a spooler or worker puts it back"
    )


def _kept_entry(spool_dir: str, path: str, state: State, signer: Signer | None) -> Entry | None:
    info = _describe(path, signer)
    if info is None:
        return None
    return Entry(state, spool_dir, info, read_record(path))


def _describe(path: str, signer: Signer | None) -> TaskInfo | None:
    try:
        return describe_file(path, signer)
    except FileNotFoundError:  # run and removed while we were listing
        return None
    except OSError as exc:  # unreadable, or swapped for a FIFO/directory since it was listed
        notice_skipped(path, exc)
        return None


# --- who holds a file's lock ---------------------------------------------------------------

# struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len,
# pid_t l_pid (native alignment supplies the padding). Other layouts differ per platform.
_FLOCK = struct.Struct("hhqqi")
_LOCKS_READABLE = sys.platform.startswith("linux") and struct.calcsize("P") == 8


def locked_by(path: str) -> int | None:
    """The PID holding an ``fcntl`` lock on ``path`` (a spooler running its task), else None.

    Asks with ``F_GETLK``, which takes no lock: taking one, even briefly, would make a uWSGI
    spooler that looks at the file in that instant skip it until its next pass. Where the
    ``flock`` layout is not known (not 64-bit Linux) this answers None: "not known to run".
    """
    if not _LOCKS_READABLE:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)  # a FIFO must not block
    except OSError:
        return None
    try:
        query = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
    except OSError:
        return None
    finally:
        os.close(fd)
    lock_type, _whence, _start, _len, pid = _FLOCK.unpack(answer)
    return pid if lock_type != fcntl.F_UNLCK and pid > 0 else None
