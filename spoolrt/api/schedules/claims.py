"""Exactly one process runs each slot: a marker file per (schedule, slot), created with O_EXCL.

Several uWSGI workers, spooler processes and even two instances on one directory all see the
same slot come due; the first ``open(O_CREAT | O_EXCL)`` wins and the rest get
``FileExistsError``. That needs one local file system (not NFS) shared by all of them.

A marker must outlive the task it guards, or a late process would claim the slot again after
the task finished. So markers stay after the task, and are pruned only from the oldest end,
keeping the newest ``keep`` per schedule and anything claimed less than ``min_age`` ago. Once a
schedule has been pruned, a claim older than its oldest kept marker is refused, so a pruned slot
is never claimed again. The newest marker is the schedule's memory of its last run across
restarts; the only other state is the empty ``.pruned`` flag.

Layout: ``<directory>/<name token>/<slot as 20240131T023000Z>``, directories 0700, markers 0600
holding a JSON line (schedule, slot, pid, host, claim time) for people reading the directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from spoolrt.api.schedules.timing import as_utc

_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STAMP_LENGTH = len("20240131T023000Z")
_KEEP_AS_IS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
_LONGEST_TOKEN = 120
#: Present in a schedule's folder once markers were pruned there. Before that, a claim older than
#: every marker is a first run racing in out of order, not a pruned slot, and must be allowed.
_PRUNED = ".pruned"

#: Newest markers kept per schedule: the last-run memory needs one; a few more help people
#: looking at the directory.
DEFAULT_KEEP = 10

#: Markers younger than this are never pruned. It closes the window in which a process has
#: listed the markers but not yet created its own: a process stalled that long mid-claim is the
#: only way a slot could run twice.
DEFAULT_MIN_AGE = timedelta(minutes=10)


def name_token(name: str) -> str:
    """A file-name-safe spelling of a schedule name; distinct names give distinct tokens.

    Bytes outside ``[A-Za-z0-9_.-]`` (and a leading dot) become ``%XX``; a long name is cut and
    completed with a hash, marked by ``~``, which escaping never produces.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a schedule name must be a non-empty str, got {name!r}")
    raw = name.encode("utf-8", "surrogatepass")
    token = "".join(
        chr(byte)
        if byte in _KEEP_AS_IS and not (index == 0 and byte == ord("."))
        else f"%{byte:02X}"
        for index, byte in enumerate(raw)
    )
    if len(token) > _LONGEST_TOKEN:
        token = token[:80] + "~" + hashlib.sha256(raw).hexdigest()[:32]
    return token


def slot_stamp(slot: datetime) -> str:
    """The slot in UTC as a sortable text; slots have whole seconds."""
    moment = as_utc(slot, "slot")
    if moment.microsecond:
        raise ValueError(f"slots have whole seconds, got {slot!r}")
    return moment.strftime(_STAMP_FORMAT)


def slot_key(name: str, slot: datetime) -> str:
    """A stable, file-name-safe key for one slot of one schedule: ``<token>@<UTC stamp>``.

    Good as an idempotency key (or task id) for the task enqueued for the slot.
    """
    return f"{name_token(name)}@{slot_stamp(slot)}"


def _parse_stamp(stamp: str) -> datetime:
    return datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=timezone.utc)


def _is_stamp(entry: str) -> bool:
    return len(entry) == _STAMP_LENGTH and entry[8] == "T" and entry.endswith("Z")


class SlotClaims:
    """Claims on schedule slots in one directory, shared by every process that ticks."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        keep: int = DEFAULT_KEEP,
        min_age: timedelta | float = DEFAULT_MIN_AGE,
    ) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an int of at least 1, got {keep!r}")
        seconds = min_age.total_seconds() if isinstance(min_age, timedelta) else float(min_age)
        if seconds < 0:
            raise ValueError(f"min_age must not be negative, got {min_age!r}")
        self.directory = Path(directory)
        self.keep = keep
        self.min_age = seconds

    def __repr__(self) -> str:
        return f"SlotClaims({str(self.directory)!r}, keep={self.keep}, min_age={self.min_age})"

    def _folder(self, name: str) -> Path:
        return self.directory / name_token(name)

    def _stamps(self, name: str) -> list[str]:
        try:
            entries = os.listdir(self._folder(name))
        except FileNotFoundError:
            return []
        return sorted(entry for entry in entries if _is_stamp(entry))

    def claim(self, name: str, slot: datetime) -> bool:
        """True for exactly one caller per (name, slot), across processes; that one runs it.

        False when the slot is claimed already, or, once pruning began, is older than every kept
        marker (it was claimed and pruned). The winner prunes old markers.
        """
        stamp = slot_stamp(slot)
        folder = self._folder(name)
        marker = folder / stamp
        try:
            try:
                descriptor = _create(marker)
            except FileNotFoundError:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, 0o700)
                descriptor = _create(marker)
        except FileExistsError:
            return False
        try:
            os.write(descriptor, self._record(name, slot))
        except OSError:
            pass  # the file's existence is the claim; its content is only for people
        finally:
            os.close(descriptor)
        # Checked after creating, so a lost race costs one failed open and no directory listing.
        stamps = self._stamps(name)
        if len(stamps) > 1 and stamps[0] == stamp and (folder / _PRUNED).exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)
            return False
        self._prune(folder, stamps, time.time())
        return True

    @staticmethod
    def _record(name: str, slot: datetime) -> bytes:
        record = {
            "schedule": name,
            "slot": as_utc(slot).isoformat(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "claimed_at": time.time(),
        }
        return (json.dumps(record) + "\n").encode()

    def is_claimed(self, name: str, slot: datetime) -> bool:
        return (self._folder(name) / slot_stamp(slot)).exists()

    def claimed(self, name: str) -> list[datetime]:
        """The slots of ``name`` whose markers are still kept, oldest first."""
        return [_parse_stamp(stamp) for stamp in self._stamps(name)]

    def last_claimed(self, name: str) -> datetime | None:
        """The newest claimed slot of ``name`` (UTC), or None if it never ran here."""
        stamps = self._stamps(name)
        return _parse_stamp(stamps[-1]) if stamps else None

    def prune(self, name: str, *, now: float | None = None) -> int:
        """Remove old markers of ``name``; return how many. Keeps the newest ``keep`` and any
        claimed less than ``min_age`` ago (by file mtime, against ``now`` or the clock)."""
        moment = time.time() if now is None else now
        return self._prune(self._folder(name), self._stamps(name), moment)

    def _prune(self, folder: Path, stamps: list[str], now: float) -> int:
        removed = 0
        for stamp in stamps[: -self.keep]:
            path = folder / stamp
            try:
                claimed_at = os.stat(path).st_mtime
            except FileNotFoundError:
                continue  # another winner is pruning too
            if now - claimed_at < self.min_age:
                # Stop at the first young marker: removing only the oldest run keeps every
                # pruned slot older than every kept one, which is what makes ``claim``'s
                # refusal of old slots safe.
                break
            if not removed:
                # Flag first, delete second: whoever sees a marker gone also sees the flag.
                os.close(os.open(folder / _PRUNED, os.O_WRONLY | os.O_CREAT, 0o600))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                removed += 1
        return removed


def _create(marker: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    return os.open(marker, flags, 0o600)
