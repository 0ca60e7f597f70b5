"""A worker in several processes: forking them, keeping them running, adding up their counts.

``Worker(processes=N)`` with N > 1 forks N single-process workers under a supervisor that
forwards ``SIGTERM``/``SIGINT`` to each and restarts one that died (its task, still in its file,
runs again). Stop and wake signals stay blocked across each fork until the child has its own
handlers, so a signal sent at that moment is neither lost nor handled by the parent's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spoolrt.runtime.worker import Worker

log = logging.getLogger("spoolrt.worker")

#: A supervised process that dies sooner than this after its start is restarted only after this
#: long, so a crash at import time does not become a fork loop.
RESTART_BACKOFF = 1.0

_STOP_AND_WAKE = {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1}


class Abort(BaseException):
    """Raised by a second stop signal inside a running task: abandon it, keep its file."""


def fork(worker: Worker, body: Callable[[], Any]) -> int:
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
        worker.processes = 1
        worker._stopping = False
        signal.signal(signal.SIGTERM, lambda signum, frame: worker.stop())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        body()
        code = 0
    except Abort:
        code = 0
    except BaseException:
        log.exception("worker process %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(code)
    return 0  # not reached


def supervise(worker: Worker) -> None:
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
            while not stopping and len(children) < worker.processes:
                children[fork(worker, lambda: worker.serve(supervised=True))] = time.monotonic()
            if not children:
                break
            pid, status = os.waitpid(-1, 0)
            started = children.pop(pid, None)
            if started is None or stopping:
                continue
            log.warning("worker process %d exited (%s); starting another", pid, status)
            if time.monotonic() - started < RESTART_BACKOFF:
                time.sleep(RESTART_BACKOFF)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def fork_until_empty(worker: Worker, include_postponed: bool, wait: float) -> Counter[str]:
    """Run ``run_until_empty`` in ``worker.processes`` forked processes at once and add up
    their counts."""
    readers: dict[int, int] = {}
    for _ in range(worker.processes):
        read_fd, write_fd = os.pipe()

        def body(write_fd: int = write_fd) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            single = type(worker)(worker.spool_dirs, dispatcher=worker.dispatcher)
            counts = single.run_until_empty(include_postponed=include_postponed, wait=wait)
            os.write(write_fd, json.dumps(dict(counts)).encode())

        pid = fork(worker, body)
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
