"""Which processes serve a spool directory right now, so a writer outside uWSGI can wake them.

uWSGI wakes its own idle spoolers with ``SIGUSR1`` after ``uwsgi.spool``; a file written by any
other process waits for the next scan (``spooler-frequency``). So every process that runs spool
files of a directory (a uWSGI spooler running spoolrt's dispatcher, or a ``spoolrt worker``
process) *announces* itself with one small file::

    <spool>/.spoolrt/run/<host>-<pid>-<start>.json    {"pid", "host", "start", "kind", "ordered"}

``start`` is the kernel's boot id plus the process start time (``/proc/<pid>/stat``), so a pid
that was recycled by an unrelated process never matches an old announcement: a writer signals
only a process whose current start token equals the announced one, and through a pidfd when the
platform has one, so the process it checked is the process it signals. A pid and its start
token are public, so the announced process must also own the file and hold it open (a spooler
keeps its announcement open while it runs): a forged file naming another process gets no
signal sent (``_not_its_announcement``). Announcements of dead or recycled processes are
removed by whichever writer finds them. Without ``/proc`` nothing can be verified, so nothing
is signalled and spoolers fall back to their scan frequency.

A spooler holds a write lock on byte 0 of its own announcement while it runs a task. Writers
signal only processes whose byte is free, as uWSGI signals only idle spoolers: a signal in the
middle of a task can interrupt a blocking call inside a C extension with ``EINTR``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from spoolrt.core.errors import UnsafeStateArea
from spoolrt.spooldir.layout import ensure_state_dir, state_dir, write_atomic
from spoolrt.spooldir.regular import notice_skipped, open_regular, read_regular

log = logging.getLogger("spoolrt")

RUN = "run"
SUFFIX = ".json"
KIND_UWSGI = "uwsgi"
KIND_WORKER = "worker"

#: A run directory whose mtime is younger than this is listed again on every wake: file times
#: are coarser than the clock, so an announcement made in the same tick would go unseen.
_SETTLE_SECONDS = 1.0

HOST = socket.gethostname().replace("-", "_").replace(os.sep, "_")[:64] or "host"
_boot_id: str | None = None


def run_dir(spool_dir: str | os.PathLike[str]) -> Path:
    return state_dir(spool_dir) / RUN


def _read_boot_id() -> str:
    global _boot_id
    if _boot_id is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _boot_id = f.read().strip()
        except OSError:
            _boot_id = ""
    return _boot_id


_GONE_STATES = (b"Z", b"X", b"x")  # ``/proc/<pid>/stat`` states of an exited process


def start_token(pid: int) -> str | None:
    """``<boot id>:<start time in clock ticks>`` of a live process, None if it is gone or the
    platform cannot tell. Two processes never share a token, whatever their pids. A zombie is
    gone: it keeps its ``/proc`` entry until reaped, maybe after its restarted spooler looks."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] in _GONE_STATES:
        return None
    return f"{_read_boot_id()}:{fields[19].decode()}"


@dataclass(frozen=True)
class Announcement:
    """One spooler process of one spool directory, as it announced itself."""

    pid: int
    host: str
    start: str | None
    kind: str
    ordered: bool
    path: str

    @classmethod
    def load(cls, path: str) -> Announcement | None:
        try:
            data = json.loads(read_regular(path))  # a FIFO planted here must not block
            return cls(
                pid=int(data["pid"]),
                host=str(data["host"]),
                start=None if data.get("start") is None else str(data["start"]),
                kind=str(data.get("kind", "")),
                ordered=bool(data.get("ordered", False)),
                path=path,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def verifiable(self) -> bool:
        """Whether this process can be told apart from a later holder of its pid."""
        return self.start is not None

    def is_alive(self) -> bool:
        """Whether the announced process still runs: same pid *and* same start token, or, where
        the platform gives no start token, merely a process with that pid."""
        return process_alive(self.pid, self.start)


def process_alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` still runs: same pid *and* same start token (``start_token``),
    or, where the platform gives no start token (``start`` is None), any process with that pid
    (one owned by another user counts: it exists)."""
    if start is not None:
        return start_token(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it exists
        pass
    return True


class Presence:
    """This process's announcement in one spool directory (kept until ``withdraw``).

    ``busy()`` marks the process as running a task, so writers leave it alone.
    """

    def __init__(self, spool_dir: str, kind: str, *, ordered: bool) -> None:
        self.spool_dir = spool_dir
        self.pid = os.getpid()
        start = start_token(self.pid)
        name = f"{HOST}-{self.pid}-{(start or 'unknown').replace(':', '_')}{SUFFIX}"
        record = {"pid": self.pid, "host": HOST, "start": start, "kind": kind, "ordered": ordered}
        folder = ensure_state_dir(spool_dir, RUN)
        self.path = write_atomic(folder, name, json.dumps(record).encode(), durable=False)
        self._fd: int | None = os.open(self.path, os.O_RDWR)
        self._busy = False

    def busy(self) -> Presence:
        """``with presence.busy():`` marks the process busy for the block (a class, not a
        generator: it wraps every task)."""
        return self

    def __enter__(self) -> None:
        self._set_busy(True)

    def __exit__(self, *exc: object) -> None:
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if self._fd is None or busy == self._busy:
            return
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX if busy else fcntl.LOCK_UN, 1, 0)
            self._busy = busy
        except OSError:  # a marker only: never let it stop a task
            pass

    def withdraw(self) -> None:
        """Remove the announcement (at a clean exit; writers clean up after a crash)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.pid == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def announce(spool_dir: str, kind: str, *, ordered: bool) -> Presence | None:
    """Announce this process as a spooler of ``spool_dir``; None (logged) if it cannot."""
    try:
        return Presence(spool_dir, kind, ordered=ordered)
    except (OSError, UnsafeStateArea) as exc:
        log.warning("cannot announce pid %d in %s: %s", os.getpid(), spool_dir, exc)
        return None


class _Peer:
    """A verified live spooler: its announcement, a pidfd when the platform has them, and an
    open descriptor of its announcement for the idle check."""

    def __init__(self, announcement: Announcement, pidfd: int | None, fd: int) -> None:
        self.announcement = announcement
        self.pidfd = pidfd
        self.fd = fd

    def close(self) -> None:
        for fd in (self.pidfd, self.fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def idle(self) -> bool:
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 0)
        except OSError as exc:  # held by the spooler: busy. Anything else: assume idle.
            return exc.errno not in (errno.EAGAIN, errno.EACCES)
        fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 0)
        return True

    def signal(self, signum: int) -> bool | None:
        """Send ``signum``: True if sent, False if the process is gone (or was replaced), None
        if it may not be signalled (unverifiable pid, or another user's process)."""
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            elif not self.announcement.verifiable:
                return None
            elif self.announcement.is_alive():
                os.kill(self.announcement.pid, signum)
            else:
                return False
        except ProcessLookupError:
            return False
        except PermissionError:
            return None
        return True


_has_pidfd = hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")


class Peers:
    """The live spoolers of one spool directory, as seen by a writer, cached between calls.

    The run directory is listed again only when its mtime changed (one ``stat`` per call
    otherwise), and each new announcement is verified once; stale ones are removed.
    """

    def __init__(self, spool_dir: str) -> None:
        self.spool_dir = spool_dir
        self.folder = str(run_dir(spool_dir))
        self._stamp: tuple[int, int] | None = None
        self._peers: dict[str, _Peer] = {}

    def _refresh(self) -> None:
        try:
            st = os.stat(self.folder)
        except OSError:  # none announced yet, or not ours to read
            self._drop_all()
            self._stamp = None
            return
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        try:
            names = [n for n in os.listdir(self.folder) if n.endswith(SUFFIX)]
        except OSError:  # e.g. spoolers of another user: their scan frequency applies
            names = []
        # Never open this process's own announcement: closing any descriptor of a file drops
        # the process's fcntl locks on it, and with them the busy marker of a running task.
        own = f"{HOST}-{os.getpid()}-"
        wanted = {os.path.join(self.folder, n) for n in names if not n.startswith(own)}
        for path in list(self._peers):
            if path not in wanted:
                self._peers.pop(path).close()
        for path in wanted - self._peers.keys():
            peer = self._verify(path)
            if peer is not None:
                self._peers[path] = peer
        # Trust the stamp only once it is older than the file-time granularity.
        settled = time.time() - st.st_mtime_ns / 1e9 > _SETTLE_SECONDS
        self._stamp = stamp if settled else None

    def _verify(self, path: str) -> _Peer | None:
        found = Announcement.load(path)
        if found is None:
            return None  # half-written by a foreign tool, or gone: not ours to judge
        if found.host != HOST or found.pid == os.getpid():
            return None
        pidfd = None
        if _has_pidfd:
            try:
                pidfd = os.pidfd_open(found.pid)
            except OSError:
                pidfd = None
        # Checked after the pidfd was opened: if the token still matches, the pidfd is that
        # process and signals through it cannot reach a later holder of the pid.
        if not found.is_alive():
            if pidfd is not None:
                os.close(pidfd)
            _remove_stale(found)
            return None
        try:
            fd = open_regular(path)
        except OSError:
            if pidfd is not None:
                os.close(pidfd)
            return None
        problem = _not_its_announcement(found.pid, os.fstat(fd))
        if problem:
            notice_skipped(path, f"not signalling pid {found.pid}: {problem}")
            os.close(fd)
            if pidfd is not None:
                os.close(pidfd)
            return None
        return _Peer(found, pidfd, fd)

    def _drop_all(self) -> None:
        for peer in self._peers.values():
            peer.close()
        self._peers.clear()

    def announcements(self) -> list[Announcement]:
        """The live spoolers of this directory (other hosts' and this process's excluded)."""
        self._refresh()
        return [p.announcement for p in self._peers.values()]

    def wake(self, signum: int = signal.SIGUSR1) -> int:
        """Signal every idle spooler of the directory; returns how many were signalled."""
        self._refresh()
        woken = 0
        for path, peer in list(self._peers.items()):
            if not peer.idle():
                continue
            sent = peer.signal(signum)
            if sent:
                woken += 1
            elif sent is False:
                self._peers.pop(path).close()
                _remove_stale(peer.announcement)
                self._stamp = None
        return woken


def _not_its_announcement(pid: int, st: os.stat_result) -> str:
    """Why process ``pid`` is not verifiably the spooler that made the announcement ``st`` is
    the ``fstat`` of, or "" when it is.

    A pid and a start token are public (``/proc/<pid>/stat``): anyone who can write into
    ``.spoolrt/run/`` could name any process and have every local enqueue send it ``SIGUSR1``,
    which kills a process that does not handle it. A real spooler keeps its own announcement
    open for as long as it runs (``Presence``), so the named process must own the file and hold
    it open; a process whose descriptors this user may not read is not signalled (it would
    refuse our signal anyway, unless we are root).
    """
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return "its owner cannot be read"
    if st.st_uid != owner:
        return f"the announcement belongs to uid {st.st_uid}, the process to uid {owner}"
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return "its open files cannot be read"
    for name in names:
        try:
            held = os.stat(os.path.join(folder, name))
        except OSError:
            continue
        if (held.st_dev, held.st_ino) == (st.st_dev, st.st_ino):
            return ""
    return "it does not hold this announcement open (forged, or not a spooler)"


def _remove_stale(found: Announcement) -> None:
    """Unlink an announcement whose process is gone (only if the file still says so)."""
    current = Announcement.load(found.path)
    if current is not None and (current.pid, current.start) != (found.pid, found.start):
        return
    try:
        os.unlink(found.path)
        log.debug("removed stale spooler announcement %s", found.path)
    except OSError:
        pass


def list_announcements(spool_dir: str) -> list[Announcement]:
    """Every announcement file in the directory, live or not (inspection and tests)."""
    folder = run_dir(spool_dir)
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    return [a for n in names if (a := Announcement.load(str(folder / n))) is not None]
