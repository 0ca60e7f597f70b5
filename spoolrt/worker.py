"""A spooler in pure Python: runs the spool files of one or more directories without uWSGI.

It is what the dev server, tests and non-uWSGI deployments use, and it can share a directory
with uWSGI spoolers: each file is run by exactly one of them. The semantics are those of a uWSGI
spooler running spoolrt's dispatcher, because it *is* that dispatcher:

- a file is claimed the way uWSGI claims it: ``open(O_RDWR)`` and a non-blocking
  ``fcntl(F_SETLK, F_WRLCK)`` on the whole file (``uwsgi_fcntl_is_locked``); a file someone
  else holds is skipped; the lock is held while the task runs and the file is unlinked before
  the lock goes (uWSGI's ``destroy_spool`` after ``SPOOL_OK``), so neither side can run it twice;
- after the lock, a file whose link count fell to 0 is dropped: uWSGI (or another worker) ran
  and unlinked it between our ``open`` and our lock;
- ``at`` is the file's mtime, compared in whole seconds as uWSGI does; priority sub-directories
  run first, lowest number first, then the top-level files, oldest first;
- ``Dispatcher.run`` does the bookkeeping (retry file first, failed/quarantine copies), then the
  worker unlinks the file. If ``run`` raised (bookkeeping failed, e.g. disk full) the file stays
  and runs again: at least once, never zero times;
- files too short or malformed to be spool packets are quarantined with a reason (uWSGI deletes
  them without a trace). A file under 4 bytes is judged only once it is a minute old: uWSGI
  creates its files before it locks them, so a young empty file may be mid-write.

Processes: ``processes=1`` runs in the calling process; more fork that many workers under a
supervisor that forwards ``SIGTERM``/``SIGINT`` and restarts a worker that died (its task, still
in its file, runs again). Each worker process announces itself (``spoolrt.announce``) so local
writers wake it with ``SIGUSR1``, and after a pass that ran something it looks again at once.

Stopping: the first ``SIGTERM``/``SIGINT`` lets the running task finish, then exits; a second one
interrupts the task, whose file stays for a rerun. Nothing is ever half-recorded: a file is
unlinked only after the dispatcher returned.

Command line (also ``spoolrt worker``)::

    python -m spoolrt.worker --spool DIR [--spool DIR2] [--processes N] [--frequency S]
                             [--app MODULE]... [--until-empty]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import importlib
import json
import logging
import math
import os
import select
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import Any

from .announce import KIND_WORKER, Presence, announce
from .config import configure, get_settings
from .dispatch import Dispatcher
from .errors import CorruptSpoolFile
from .outcomes import TaskStatus
from .parking import promote_due, promote_due_throttled
from .progress import Progress
from .spooldir import warn_if_exposed
from .spoolfile import FILE_PREFIX, HEADER, unpack

log = logging.getLogger("spoolrt.worker")

#: A file shorter than a spool header is left alone this long: uWSGI creates a file, then locks
#: it, then writes it, so for a moment a valid task looks empty and unlocked.
YOUNG_FILE_SECONDS = 60.0

#: A supervised process that dies sooner than this after its start is restarted only after this
#: long, so a crash at import time does not become a fork loop.
RESTART_BACKOFF = 1.0

#: Key of ``Counter`` results for files whose bookkeeping raised (they stay for a rerun).
ERROR = "error"

EXIT_OK = 0
EXIT_USAGE = 2

#: Written to stderr when a stop signal arrives during a task (tests wait for it, too).
STOPPING_NOTICE = b"spoolrt worker %d: stopping after the running task (again to abandon it)\n"

_STOP_AND_WAKE = {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1}


class _Abort(BaseException):
    """Raised by a second stop signal inside a running task: abandon it, keep its file."""


@dataclass
class Claim:
    """A spool file this process has locked, with its bytes. Closing ``fd`` releases it."""

    fd: int
    path: str
    data: bytes
    mtime: float

    def release(self) -> None:
        os.close(self.fd)


def claim(path: str, *, due_by: float | None) -> Claim | None:
    """Lock ``path`` as a uWSGI spooler would and read it; None when it is not ours to run.

    None means: gone, locked by another process, unlinked between our open and our lock, or
    (with ``due_by``) its ``at`` is after ``due_by``. Never blocks.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except PermissionError:
        log.warning("spoolrt: cannot open %s read-write (uWSGI cannot either); skipped", path)
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # F_SETLK, F_WRLCK, whole file
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                return None
            raise
        st = os.fstat(fd)
        # Unlinked (or renamed over) after our open: whoever did it ran the task.
        if st.st_nlink == 0:
            os.close(fd)
            return None
        if due_by is not None and int(st.st_mtime) > int(due_by):
            os.close(fd)
            return None
        chunks = []
        while True:
            chunk = os.read(fd, max(st.st_size, 65536))
            if not chunk:
                break
            chunks.append(chunk)
        return Claim(fd, path, b"".join(chunks), st.st_mtime)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


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


class Worker:
    """Runs the spool files of ``spool_dirs`` (see the module docstring).

    ``frequency`` is the longest pause between two scans when nothing wakes the worker; a task
    postponed to a time before the next scan wakes it at that time instead.
    """

    def __init__(
        self,
        spool_dirs: Sequence[str | os.PathLike[str]],
        processes: int = 1,
        frequency: float = 1.0,
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
        bookkeeping failed (the file stays), or None if the file was not ours to run."""
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
                        report = self.dispatcher.run(spool_dir, name, packet)
                    finally:
                        self._in_task = False
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return report.status.value
        except _Abort:
            log.warning("spoolrt: %s interrupted by a second stop signal; kept for a rerun", name)
            raise
        except Exception:
            log.exception("spoolrt: could not finish %s; it stays for a rerun", path)
            return ERROR
        finally:
            taken.release()

    # --- passes -------------------------------------------------------------------------------

    def _pass(self, include_postponed: bool) -> tuple[Counter[str], float | None]:
        counts: Counter[str] = Counter()
        next_due: float | None = None
        for spool_dir in self.spool_dirs:
            if include_postponed:
                promote_due(spool_dir, now=math.inf)  # run_until_empty(include_postponed) in tests
            else:
                promote_due_throttled(spool_dir)
            for path, mtime in pending_files(spool_dir):
                if self._stopping:
                    return counts, next_due
                now = time.time()
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

    def run_until_empty(self, *, include_postponed: bool = False) -> Counter[str]:
        """Scan until a scan finds nothing to run; counts by status value (``done``,
        ``skipped``, ``retrying``, ``failed``, ``quarantined``, ``error``).

        Retries are postponed files, so they stay unless ``include_postponed=True``, which runs
        them at once until each task is done or failed. With ``processes > 1`` the scans run
        in that many forked processes at once and their counts are added up.
        """
        if self.processes > 1:
            return self._fork_until_empty(include_postponed)
        self._stopping = False
        total: Counter[str] = Counter()
        while not self._stopping:
            counts = self.run_once(include_postponed=include_postponed)
            total.update(counts)
            if sum(n for status, n in counts.items() if status != ERROR) == 0:
                break
        return total

    # --- serving ------------------------------------------------------------------------------

    def run_forever(self) -> None:
        """Serve until ``stop()`` or ``SIGTERM``/``SIGINT`` (see the module docstring)."""
        for spool_dir in self.spool_dirs:
            warn_if_exposed(spool_dir)  # as a uWSGI spooler does when spoolrt installs itself
        if self.processes > 1:
            self._supervise()
        else:
            self._serve()

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

    def _serve(self, supervised: bool = False) -> None:
        with (
            self._wake_pipe(),
            self._signals(supervised) as can_be_woken,
            self._announced(can_be_woken),
        ):
            try:
                while not self._stopping:
                    ticking = _tick_schedules()
                    counts, next_due = self._pass(include_postponed=False)
                    if sum(n for status, n in counts.items() if status != ERROR):
                        continue  # something ran: more may have arrived meanwhile
                    timeout = self.frequency
                    if next_due is not None:
                        timeout = min(timeout, max(0.0, next_due - time.time()) + 0.001)
                    if ticking is not None:
                        timeout = min(timeout, ticking.seconds_until_wakeup(timeout))
                    self._sleep(timeout)
            except _Abort:
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
                raise _Abort()
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

    # --- several processes --------------------------------------------------------------------

    def _child(self, body: Callable[[], Any]) -> int:
        """Fork one worker process running ``body``; it never returns into the caller's code.

        Stop and wake signals stay blocked across the fork until the child has its own
        handlers, so a SIGTERM sent at that moment is neither lost nor handled by the parent's.
        """
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_AND_WAKE)
        pid = os.fork()
        if pid:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            return pid
        code = 1
        try:
            self.processes = 1
            self._stopping = False
            signal.signal(signal.SIGTERM, self._early_stop)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            body()
            code = 0
        except _Abort:
            code = 0
        except BaseException:
            log.exception("spoolrt: worker process %d failed", os.getpid())
        finally:
            logging.shutdown()
            os._exit(code)
        return 0  # not reached

    def _early_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _supervise(self) -> None:
        """Keep ``processes`` workers running until SIGTERM/SIGINT, which each worker gets as
        SIGTERM. Reaps any child of this process (``os.waitpid(-1)``): run it where the
        worker's children are the only ones, as the command line does."""
        children: dict[int, float] = {}
        stopping = False

        def forward(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        main = threading.current_thread() is threading.main_thread()
        previous = {}
        if main:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, forward)
        try:
            while True:
                while not stopping and len(children) < self.processes:
                    children[self._child(lambda: self._serve(supervised=True))] = time.monotonic()
                if not children:
                    break
                pid, status = os.waitpid(-1, 0)
                started = children.pop(pid, None)
                if started is None or stopping:
                    continue
                log.warning("spoolrt: worker process %d exited (%s); starting another", pid, status)
                if time.monotonic() - started < RESTART_BACKOFF:
                    time.sleep(RESTART_BACKOFF)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _fork_until_empty(self, include_postponed: bool) -> Counter[str]:
        readers: dict[int, int] = {}
        for _ in range(self.processes):
            read_fd, write_fd = os.pipe()

            def body(write_fd: int = write_fd) -> None:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                single = Worker(self.spool_dirs, dispatcher=self.dispatcher)
                counts = single.run_until_empty(include_postponed=include_postponed)
                os.write(write_fd, json.dumps(dict(counts)).encode())

            pid = self._child(body)
            os.close(write_fd)
            readers[pid] = read_fd
        total: Counter[str] = Counter()
        for pid, read_fd in readers.items():
            with os.fdopen(read_fd, "rb") as pipe:
                raw = pipe.read()
            os.waitpid(pid, 0)
            if raw:
                total.update(json.loads(raw))
        return total


# --- command line ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spoolrt worker",
        description="Run spool files without uWSGI (and alongside uWSGI spoolers).",
    )
    parser.add_argument(
        "--spool",
        action="append",
        default=[],
        metavar="DIR",
        help="spool directory to serve (repeatable; default: $SPOOLRT_SPOOL_DIRS)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, metavar="N", help="worker processes (default 1)"
    )
    parser.add_argument(
        "--frequency",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between scans when nothing wakes the worker (default 1)",
    )
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="MODULE",
        help="module to import first, so its tasks are registered (repeatable)",
    )
    parser.add_argument(
        "--until-empty",
        action="store_true",
        help="run what is due, then exit (prints counts as JSON)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def _tick_schedules() -> ModuleType | None:
    """Spool the periodic and cron slots now due (outside uWSGI the worker is what fires them);
    returns the scheduling module when schedules exist, so the loop can sleep until the next.

    Only when the app registered schedules (the module is then imported): a worker with none
    pays nothing. Each slot is claimed with O_EXCL, so several workers tick safely.
    """
    schedule = sys.modules.get("spoolrt.schedule")
    if schedule is None or not len(schedule.registry):
        return None
    try:
        schedule.tick()
    except Exception:
        log.exception("spoolrt: schedule tick failed; trying again next loop")
    return schedule


def worker_main(argv: Sequence[str] | None = None) -> int:
    """``spoolrt worker``: parse ``argv``, import the apps, serve; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or argparse's own usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    def usage_error(message: str) -> int:
        parser.print_usage(sys.stderr)
        print(f"spoolrt worker: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=args.log_level.upper(),
            format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        )
    if args.processes < 1:
        return usage_error("--processes must be at least 1")
    if not args.frequency > 0:
        return usage_error("--frequency must be a positive number of seconds")
    dirs = args.spool or list(get_settings().spool_dirs)
    if not dirs:
        return usage_error("no spool directory: pass --spool DIR or set SPOOLRT_SPOOL_DIRS")
    for folder in dirs:
        if not os.path.isdir(folder):
            return usage_error(f"spool directory {folder} does not exist")
    if not get_settings().spool_dirs:
        # Tasks that spool other tasks send them to the directories this worker serves.
        configure(spool_dirs=list(dirs))
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in args.app:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return usage_error(f"cannot import --app {module}: {exc}")
    worker = Worker(dirs, processes=args.processes, frequency=args.frequency)
    if args.until_empty:
        # A bar on a terminal, plain lines otherwise (stderr: stdout keeps the JSON counts).
        # Forked processes cannot report to this one's display, so only one process shows it.
        total = sum(1 for d in worker.spool_dirs for _ in pending_files(d))
        with Progress(total=total, label="worker", quiet=args.processes > 1) as progress:
            worker.on_file = lambda _status: progress.advance()
            counts = worker.run_until_empty()
        print(json.dumps(dict(sorted(counts.items()))))
        return EXIT_OK
    log.info(
        "spoolrt: worker serving %s with %d process(es)",
        ", ".join(worker.spool_dirs),
        worker.processes,
    )
    worker.run_forever()
    return EXIT_OK


__all__ = ["Claim", "Worker", "claim", "pending_files", "worker_main", "ERROR", "TaskStatus"]

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
