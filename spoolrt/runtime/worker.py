"""A spooler in pure Python: runs the spool files of one or more directories without uWSGI.

It is what the dev server, tests and non-uWSGI deployments use, and it can share a directory
with uWSGI spoolers: each file is run by exactly one of them. The semantics are those of a uWSGI
spooler running spoolrt's dispatcher, because it *is* that dispatcher:

- a file is claimed the way uWSGI claims it (``spoolrt.spooldir.claim``: the same fcntl lock),
  so neither side can run it twice;
- ``at`` is the file's mtime, compared in whole seconds as uWSGI does (a file whose mtime was
  moved far later than its signed time is put back, ``spoolrt.spooldir.misdated``; one moved
  earlier is put back and left by the dispatcher); priority sub-directories
  run first, lowest number first, then the top-level files, oldest first;
- ``Dispatcher.run`` does the bookkeeping (retry file first, failed/quarantine copies), then the
  worker unlinks the file. If ``run`` raised (bookkeeping failed, e.g. disk full) the file stays
  and runs again: at least once, never zero times;
- files too short or malformed to be spool packets are quarantined with a reason (uWSGI deletes
  them without a trace). A file under 4 bytes is judged only once it is a minute old: uWSGI
  creates its files before it locks them, so a young empty file may be mid-write.

Processes: ``processes=1`` runs in the calling process; more fork that many workers under a
supervisor that forwards ``SIGTERM``/``SIGINT`` and restarts a worker that died (its task, still
in its file, runs again). Each worker process announces itself (``spoolrt.spooldir.presence``)
so local writers wake it with ``SIGUSR1``, and after a pass that ran something it looks again
at once.

Stopping: the first ``SIGTERM``/``SIGINT`` lets the running task finish, then exits; a second one
interrupts the task, whose file stays for a rerun. Nothing is ever half-recorded: a file is
unlinked only after the dispatcher returned.

Command line: ``spoolrt worker`` (``spoolrt.cli.worker``; also ``python -m spoolrt.worker``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from spoolrt.api.schedules import ticking
from spoolrt.api.schedules.entries import registry
from spoolrt.core import defaults
from spoolrt.core.codec.packet import HEADER, unpack
from spoolrt.core.errors import CorruptSpoolFile
from spoolrt.runtime.admission import FileKept
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.runtime.processes import Abort, fork_until_empty, supervise
from spoolrt.spooldir import ids
from spoolrt.spooldir.claim import claim
from spoolrt.spooldir.layout import warn_if_exposed
from spoolrt.spooldir.listing import pending_files
from spoolrt.spooldir.misdated import horizon, restore_signed_time
from spoolrt.spooldir.parking import promote_due, promote_due_throttled
from spoolrt.spooldir.presence import KIND_WORKER, Presence, announce
from spoolrt.spooldir.regular import escape_name

log = logging.getLogger("spoolrt.worker")

#: A file shorter than a spool header is left alone this long: uWSGI creates a file, then locks
#: it, then writes it, so for a moment a valid task looks empty and unlocked.
YOUNG_FILE_SECONDS = 60.0

#: Key of ``Counter`` results for files whose bookkeeping raised (they stay for a rerun).
ERROR = "error"

#: Written to stderr when a stop signal arrives during a task (tests wait for it, too).
STOPPING_NOTICE = b"spoolrt worker %d: stopping after the running task (again to abandon it)\n"


class Worker:
    """Runs the spool files of ``spool_dirs`` (see the module docstring).

    ``frequency`` is the longest pause between two scans when nothing wakes the worker; a task
    postponed to a time before the next scan wakes it at that time instead.
    """

    def __init__(
        self,
        spool_dirs: Sequence[str | os.PathLike[str]],
        processes: int = 1,
        frequency: float = defaults.SPOOLER_FREQUENCY,
        *,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        if not spool_dirs:
            raise ValueError("a Worker needs at least one spool directory")
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        if not frequency > 0:
            raise ValueError(f"frequency must be a positive number of seconds, not {frequency}")
        self.spool_dirs = [os.path.realpath(os.fspath(d)) for d in spool_dirs]
        self.processes = processes
        self.frequency = float(frequency)
        self.dispatcher = dispatcher or Dispatcher()
        #: Called with each file's status value after it ran (progress displays).
        self.on_file: Callable[[str], None] | None = None
        self._stopping = False
        self._in_task = False
        self._presences: dict[str, Presence] = {}
        # The self-pipe that wakes a serving worker; open only while it serves.
        self._wake_r = self._wake_w = -1

    def __repr__(self) -> str:
        return f"Worker({self.spool_dirs!r}, processes={self.processes})"

    # --- one file -----------------------------------------------------------------------------

    def run_file(self, spool_dir: str, path: str, *, due_by: float | None) -> str | None:
        """Claim, run and remove one spool file; returns its status value, ``ERROR`` if the
        bookkeeping failed (the file stays), or None if the file was not ours to run (claimed
        elsewhere, or left by the dispatcher: ``FileKept``)."""
        taken = claim(path, due_by=due_by)
        if taken is None:
            return None
        name = os.path.basename(path)
        try:
            if len(taken.data) < HEADER.size and time.time() - taken.mtime < YOUNG_FILE_SECONDS:
                return None
            presence = self._presences.get(spool_dir)
            busy = presence.busy() if presence is not None else contextlib.nullcontext()
            with busy:
                try:
                    packet = unpack(taken.data)
                except CorruptSpoolFile as exc:
                    report = self.dispatcher.quarantine_bytes(spool_dir, name, taken.data, exc)
                else:
                    self._in_task = True
                    try:
                        report = self.dispatcher.run(
                            spool_dir, name, packet, ignore_at=due_by is None
                        )
                    except FileKept:  # not for this process now: left exactly as it is
                        return None
                    finally:
                        self._in_task = False
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return report.status.value
        except Abort:
            log.warning(
                "%s interrupted by a second stop signal; kept for a rerun", escape_name(name)
            )
            raise
        except Exception:
            log.exception("could not finish %s; it stays for a rerun", escape_name(path))
            return ERROR
        finally:
            taken.release()

    # --- passes -------------------------------------------------------------------------------

    def _pass(self, include_postponed: bool) -> tuple[Counter[str], float | None]:
        counts: Counter[str] = Counter()
        next_due: float | None = None
        signer = self.dispatcher.settings.signer()
        for spool_dir in self.spool_dirs:
            if include_postponed:
                promote_due(spool_dir, now=math.inf)  # run_until_empty(include_postponed) in tests
            else:
                promote_due_throttled(spool_dir)
                ids.sweep_throttled(spool_dir)
            for path, mtime in pending_files(spool_dir):
                if self._stopping:
                    return counts, next_due
                now = time.time()
                if mtime > horizon(now):  # moved far later than its signed time? put it back
                    mtime = restore_signed_time(path, signer, now) or mtime
                if not include_postponed and int(mtime) > int(now):
                    due = float(int(mtime))
                    next_due = due if next_due is None else min(next_due, due)
                    continue
                status = self.run_file(spool_dir, path, due_by=None if include_postponed else now)
                if status is not None:
                    counts[status] += 1
                    if self.on_file is not None:
                        self.on_file(status)
        return counts, next_due

    def run_once(self, *, include_postponed: bool = False) -> Counter[str]:
        """One scan of every directory, running each due file found; counts by status value.

        ``include_postponed=True`` also runs files whose ``at`` lies in the future (tests).
        """
        self._stopping = False
        return self._pass(include_postponed)[0]

    def run_until_empty(
        self, *, include_postponed: bool = False, wait: float = 0.0
    ) -> Counter[str]:
        """Scan until a scan finds nothing to run; counts by status value (``done``,
        ``skipped``, ``retrying``, ``failed``, ``quarantined``, ``error``).

        Retries are postponed files: with ``wait`` seconds, a file due within that long of the
        scan that found nothing else (a retry's backoff, a short postpone) is waited for and
        run, so a task that fails once and then succeeds ends done; later ones stay.
        ``include_postponed=True`` runs every postponed file at once instead, until each task
        is done or failed (tests). With ``processes > 1`` the scans run in that many forked
        processes at once and their counts are added up.
        """
        if self.processes > 1:
            return fork_until_empty(self, include_postponed, wait)
        self._stopping = False
        total: Counter[str] = Counter()
        while not self._stopping:
            counts, next_due = self._pass(include_postponed)
            total.update(counts)
            if sum(n for status, n in counts.items() if status != ERROR):
                continue
            pause = None if next_due is None else next_due - time.time()
            if pause is None or pause > wait:
                break
            time.sleep(max(0.0, pause) + 0.01)  # just past its whole second, as uWSGI compares
        return total

    # --- serving ------------------------------------------------------------------------------

    def run_forever(self) -> None:
        """Serve until ``stop()`` or ``SIGTERM``/``SIGINT`` (see the module docstring)."""
        for spool_dir in self.spool_dirs:
            warn_if_exposed(spool_dir)  # as a uWSGI spooler does when spoolrt installs itself
        if self.processes > 1:
            supervise(self)
        else:
            self.serve()

    def stop(self) -> None:
        """Ask the worker to stop after the task it is running (safe from any thread)."""
        self._stopping = True
        self._poke()

    def _poke(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")

    @contextlib.contextmanager
    def _wake_pipe(self) -> Iterator[None]:
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        try:
            yield
        finally:
            wake_r, wake_w = self._wake_r, self._wake_w
            self._wake_r = self._wake_w = -1
            os.close(wake_r)
            os.close(wake_w)

    def serve(self, supervised: bool = False) -> None:
        """Serve in this process until stopped (``run_forever`` with one process)."""
        with (
            self._wake_pipe(),
            self._signals(supervised) as can_be_woken,
            self._announced(can_be_woken),
        ):
            try:
                while not self._stopping:
                    has_schedules = _tick_schedules()
                    counts, next_due = self._pass(include_postponed=False)
                    if sum(n for status, n in counts.items() if status != ERROR):
                        continue  # something ran: more may have arrived meanwhile
                    timeout = self.frequency
                    if next_due is not None:
                        timeout = min(timeout, max(0.0, next_due - time.time()) + 0.001)
                    if has_schedules:
                        timeout = min(timeout, ticking.seconds_until_wakeup(timeout))
                    self._sleep(timeout)
            except Abort:
                pass

    def _sleep(self, timeout: float) -> None:
        try:
            select.select([self._wake_r], [], [], timeout)
        except InterruptedError:
            pass
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass

    @contextlib.contextmanager
    def _signals(self, supervised: bool = False) -> Iterator[bool]:
        """Install the stop and wake handlers (main thread only); yields whether SIGUSR1 is
        handled, because an announced process without a handler would die of it.

        A supervised process ignores SIGINT: Ctrl-C reaches the whole process group, and the
        supervisor turns it into one SIGTERM per worker, so a single Ctrl-C never counts twice.
        """
        if threading.current_thread() is not threading.main_thread():
            yield False
            return

        def on_stop(signum: int, frame: FrameType | None) -> None:
            if self._stopping and self._in_task:
                raise Abort()
            if not self._stopping and self._in_task:
                # os.write, not logging: a handler may run while the logging lock is held.
                with contextlib.suppress(OSError):
                    os.write(2, STOPPING_NOTICE % os.getpid())
            self._stopping = True
            self._poke()

        def on_wake(signum: int, frame: FrameType | None) -> None:
            self._poke()

        previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, on_stop),
            signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN if supervised else on_stop),
            signal.SIGUSR1: signal.signal(signal.SIGUSR1, on_wake),
        }
        try:
            yield True
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def _announced(self, enabled: bool) -> Iterator[None]:
        if enabled:
            for spool_dir in self.spool_dirs:
                presence = announce(spool_dir, KIND_WORKER, ordered=True)
                if presence is not None:
                    self._presences[spool_dir] = presence
        try:
            yield
        finally:
            for presence in self._presences.values():
                presence.withdraw()
            self._presences.clear()


def _tick_schedules() -> bool:
    """Spool the periodic and cron slots now due (outside uWSGI the worker is what fires them);
    returns whether schedules exist, so the loop can sleep until the next one.

    Each slot is claimed with O_EXCL, so several workers tick safely; a worker with no
    schedules pays one ``len()``.
    """
    if not len(registry):
        return False
    try:
        ticking.tick()
    except Exception:
        log.exception("schedule tick failed; trying again next loop")
    return True


__all__ = ["ERROR", "Worker"]
