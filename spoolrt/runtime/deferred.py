"""Outcomes whose bookkeeping could not be done yet (disk full), kept so the task is not rerun.

When the retry file or the failed copy of an attempt cannot be written, the spool file must stay
(nothing may be lost), but running the task's body again at every pass would run a
non-idempotent task dozens of times. So the dispatcher remembers the outcome here, per process,
keyed by ``(task_id, attempt)``, postpones the file (its mtime, which is uWSGI's ``at``) by a
growing delay so the other spoolers of the directory (which do not know the outcome) do not take
it at once, and at the next pass retries only the bookkeeping. The body of one attempt thus runs
at most once per spooler process, and the log says so once per interval, not per pass.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from spoolrt.core import defaults
from spoolrt.core.codec.envelope import Envelope
from spoolrt.core.outcomes import TaskResult
from spoolrt.runtime.admission import FileKept, spool_file_path
from spoolrt.spooldir.regular import escape_name

log = logging.getLogger("spoolrt")

#: Outcomes remembered at most; the oldest goes first (its file was most likely taken and
#: finished by another spooler since).
_REMEMBERED = 10_000


@dataclass
class Deferred:
    """An attempt that ran, and what is still to be recorded of it."""

    result: TaskResult
    traceback: str
    seconds: float
    failures: int = 0


class DeferredOutcomes:
    """The outcomes this process could not record yet (see the module docstring)."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, int], Deferred] = {}
        self._next_log = 0.0

    def __len__(self) -> int:
        return len(self._waiting)

    def take(self, envelope: Envelope) -> Deferred | None:
        """The remembered outcome of this attempt, if its bookkeeping failed here before."""
        return self._waiting.pop((envelope.task_id, envelope.attempt), None)

    def keep(
        self,
        spool_dir: str,
        file_name: str,
        envelope: Envelope,
        deferred: Deferred,
        error: BaseException,
        now: float | None = None,
    ) -> FileKept:
        """Remember ``deferred`` for the next pass and postpone the file; returns the
        ``FileKept`` to raise."""
        now = time.time() if now is None else now
        deferred.failures += 1
        if len(self._waiting) >= _REMEMBERED:  # files another process took meanwhile
            self._waiting.pop(next(iter(self._waiting)))
        self._waiting[(envelope.task_id, envelope.attempt)] = deferred
        delay = min(
            defaults.BOOKKEEPING_RETRY_CAP,
            defaults.BOOKKEEPING_RETRY_DELAY * 2.0 ** min(deferred.failures - 1, 32),
        )
        path = spool_file_path(spool_dir, file_name, envelope.priority)
        until = float(int(now + delay) + 1)
        try:
            os.utime(path, (until, until))
        except OSError as exc:  # the file still stays; another spooler may take it sooner
            log.debug("cannot postpone %s: %s", escape_name(path), exc)
        monotonic = time.monotonic()
        if monotonic >= self._next_log:
            self._next_log = monotonic + defaults.BOOKKEEPING_LOG_INTERVAL
            log.error(
                "cannot record the outcome of task %s (%s) attempt %d: %s: %s; its file is kept "
                "and only the bookkeeping is retried in %.0fs, the task does not run again here "
                "(%d outcome(s) waiting in pid %d; said once per %.0fs)",
                envelope.label, envelope.task_id, envelope.attempt, type(error).__name__, error,
                until - now, len(self._waiting), os.getpid(), defaults.BOOKKEEPING_LOG_INTERVAL,
            )  # fmt: skip
        return FileKept(f"bookkeeping deferred: {error}")
