"""Which task each spooler process runs right now: one small file per process, one write a task.

A spooler process keeps a *slot* next to its announcement (``spoolrt.spooldir.presence``)::

    <spool>/.spoolrt/run/<host>-<pid>-<start>.slot

made of a header (``spoolrt-slot 1 <pid> <start token>``) and a record that one ``pwrite``
replaces: ``R <task id> <attempt> <started at> <name>`` while a task runs, ``-`` once it is
over. Why a slot and not a ``running`` row in the result store: the store's write transaction
was half the cost of a task and every spooler process of a directory queued on its one write
lock, while a ``pwrite`` into the page cache of a file only this process writes costs about a
microsecond and needs no fsync. "Running" is not worth making durable: after a kill -9 the
process is gone, and the spool file (which it never removed) says the task is still to do.

What the slot of a process that died keeps is evidence: the task it names was interrupted. The
next process to run that same task and attempt reads the slots of its peers before it runs
(``SlotBoard.start``: a ``stat`` of the run directory and one ``pread`` per peer), finds the dead
one's, and the dispatcher counts the lost run as a failed attempt, so a task that kills its
process every time (harakiri, out-of-memory) ends failed after its attempts instead of looping.
A live owner is never judged: only a slot whose process no longer runs (``start_token``)
counts, so a torn read of a slot being written cannot fake an interruption.

Readers (``TaskHandle.status``, ``Spooler.get_result``, the CLI) ask ``running_task`` for a
task id: it reads every slot of the directory (a handful) and trusts only live owners.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

from spoolrt.spooldir.layout import ensure_dir
from spoolrt.spooldir.presence import HOST, process_alive, run_dir, start_token

SLOT_SUFFIX = ".slot"
_MAGIC = b"spoolrt-slot 1"
_HEADER_SIZE = 128
_RECORD_SIZE = 384
SLOT_SIZE = _HEADER_SIZE + _RECORD_SIZE
_IDLE = b"-"

#: As in ``presence``: a run directory changed within this many seconds is not trusted to show
#: every change in its mtime (file times are coarser than the clock), so it is listed again,
#: at most every ``_RELIST_SECONDS`` (a listing costs ~10 us; a task ~20).
_SETTLE_SECONDS = 1.0
_RELIST_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """What one slot says: ``task_id`` attempt ``attempt`` runs in ``pid`` since ``started_at``."""

    task_id: str
    attempt: int
    started_at: float
    name: str
    pid: int
    start: str | None
    path: str

    def owner_alive(self) -> bool:
        """Whether the process that wrote the slot still runs (same pid and start token)."""
        return process_alive(self.pid, self.start)


def _encode(task_id: str, attempt: int, started_at: float, name: str) -> bytes:
    line = f"R\t{task_id}\t{attempt}\t{started_at!r}\t{name}".encode(errors="replace")
    line = line[: _RECORD_SIZE - 1] + b"\n"
    return line.ljust(_RECORD_SIZE, b" ")


def parse_slot(data: bytes, path: str) -> SlotRecord | None:
    """The running task a slot's bytes name, None when idle, foreign or half-written."""
    if len(data) < _HEADER_SIZE + 2 or not data.startswith(_MAGIC):
        return None
    record = data[_HEADER_SIZE:]
    if record[:1] != b"R":
        return None
    try:
        head = data[:_HEADER_SIZE].split(b"\n", 1)[0].split()
        pid = int(head[2])
        start = head[3].decode() if len(head) > 3 and head[3] != b"-" else None
        fields = record.split(b"\n", 1)[0].decode().split("\t")
        if len(fields) != 5:
            return None
        return SlotRecord(fields[1], int(fields[2]), float(fields[3]), fields[4], pid, start, path)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def read_slot(path: str) -> SlotRecord | None:
    try:
        with open(path, "rb") as f:
            return parse_slot(f.read(SLOT_SIZE), path)
    except OSError:
        return None


def slot_paths(spool_dir: str) -> list[str]:
    folder = run_dir(spool_dir)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.endswith(SLOT_SUFFIX)]


def running_tasks(spool_dir: str) -> dict[str, SlotRecord]:
    """Every task a live spooler process of ``spool_dir`` runs now, by task id."""
    found: dict[str, SlotRecord] = {}
    for path in slot_paths(spool_dir):
        slot = read_slot(path)
        if slot is not None and slot.owner_alive():
            found[slot.task_id] = slot
    return found


def running_task(spool_dir: str, task_id: str) -> SlotRecord | None:
    """The slot of the live process running ``task_id`` now, or None."""
    for path in slot_paths(spool_dir):
        slot = read_slot(path)
        if slot is not None and slot.task_id == task_id and slot.owner_alive():
            return slot
    return None


class SlotBoard:
    """This process's slot in one spool directory and its view of the peers' slots.

    Made lazily by the first task (``board_for``); replaced after a fork (a child has its own
    pid, so its own slot).
    """

    def __init__(self, spool_dir: str) -> None:
        self.spool_dir = spool_dir
        self.pid = os.getpid()
        start = start_token(self.pid)
        folder = ensure_dir(run_dir(spool_dir))
        self.folder = str(folder)
        stem = f"{HOST}-{self.pid}-{(start or 'unknown').replace(':', '_')}"
        self.path = os.path.join(self.folder, stem + SLOT_SUFFIX)
        header = f"{_MAGIC.decode()} {self.pid} {start or '-'}\n".encode().ljust(_HEADER_SIZE)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.pwrite(fd, header + _IDLE.ljust(_RECORD_SIZE, b" "), 0)
        self._fd: int | None = fd
        self._busy = False
        self._peers: dict[str, int] = {}
        self._stamp: tuple[int, int] | None = None
        self._relist_at = 0.0
        self._unsettled: tuple[int, int] | None = None

    # --- this process's slot ------------------------------------------------------------------

    def start(self, task_id: str, attempt: int, name: str, at: float) -> SlotRecord | None:
        """Write "``task_id`` attempt ``attempt`` runs here" into the slot, and return the slot
        of a dead process that was running this very attempt when it died, if there is one."""
        interrupted = self._find_interrupted(task_id, attempt)
        if self._fd is not None:
            os.pwrite(self._fd, _encode(task_id, attempt, at, name), _HEADER_SIZE)
            self._busy = True
        return interrupted

    def finish(self) -> None:
        """Mark the slot idle: the task's outcome is (about to be) recorded elsewhere."""
        if self._busy and self._fd is not None:
            os.pwrite(self._fd, _IDLE, _HEADER_SIZE)
            self._busy = False

    def release_interrupted(self, task_id: str, attempt: int) -> None:
        """Remove the slot of a dead process that was running this attempt, if there is one:
        the attempt's run is accounted for another way (its outcome was stored before the
        process died, and the file that came back is refused as a duplicate)."""
        dead = self._find_interrupted(task_id, attempt)
        if dead is not None:
            self.consumed(dead)

    def consumed(self, slot: SlotRecord) -> None:
        """A dead process's slot whose lost run has been accounted for: remove it."""
        fd = self._peers.pop(slot.path, None)
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(slot.path)

    def close(self, *, remove: bool = True) -> None:
        for fd in self._peers.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._peers.clear()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if remove and self.pid == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    # --- the peers ----------------------------------------------------------------------------

    def _find_interrupted(self, task_id: str, attempt: int) -> SlotRecord | None:
        self._refresh()
        wanted = f"R\t{task_id}\t{attempt}\t".encode()
        for path, fd in self._peers.items():
            try:
                data = os.pread(fd, SLOT_SIZE, 0)
            except OSError:
                continue
            if data[_HEADER_SIZE : _HEADER_SIZE + len(wanted)] != wanted:
                continue
            slot = parse_slot(data, path)
            if slot is not None and not slot.owner_alive():
                return slot
        return None

    def _refresh(self) -> None:
        """List the run directory again when it changed (one ``stat`` otherwise); drop the
        slots of processes that died idle, which say nothing."""
        try:
            st = os.stat(self.folder)
        except OSError:
            return
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        mono = time.monotonic()
        if stamp == self._unsettled and mono < self._relist_at:
            return
        self._relist_at = mono + _RELIST_SECONDS
        wanted = {p for p in slot_paths(self.spool_dir) if p != self.path}
        for path in list(self._peers):
            if path not in wanted:
                os.close(self._peers.pop(path))
        for path in wanted - self._peers.keys():
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            if _dead_and_idle(fd, path):
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            self._peers[path] = fd
        settled = time.time() - st.st_mtime_ns / 1e9 > _SETTLE_SECONDS
        self._stamp = stamp if settled else None
        self._unsettled = None if settled else stamp


def _dead_and_idle(fd: int, path: str) -> bool:
    try:
        data = os.pread(fd, SLOT_SIZE, 0)
    except OSError:
        return False
    if not data.startswith(_MAGIC) or data[_HEADER_SIZE : _HEADER_SIZE + 1] != _IDLE:
        return False
    head = data[:_HEADER_SIZE].split(b"\n", 1)[0].split()
    try:
        pid, start = int(head[2]), head[3].decode()
    except (ValueError, IndexError, UnicodeDecodeError):
        return False
    return start != "-" and start_token(pid) != start


_boards: dict[str, SlotBoard] = {}


def board_for(spool_dir: str) -> SlotBoard | None:
    """This process's ``SlotBoard`` of ``spool_dir``; None when the run directory cannot be
    written (the task still runs, without crash evidence)."""
    board = _boards.get(spool_dir)
    if board is not None and board.pid == os.getpid():
        return board
    if board is not None:  # inherited across fork: the parent's slot is not ours
        board.close(remove=False)
    try:
        board = _boards[spool_dir] = SlotBoard(spool_dir)
    except OSError:
        _boards.pop(spool_dir, None)
        return None
    return board


def forget_boards() -> None:
    """Close and remove this process's slots (a clean exit, or tests)."""
    for board in _boards.values():
        board.close(remove=board.pid == os.getpid())
    _boards.clear()
