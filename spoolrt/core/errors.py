"""Every error spoolrt raises, in one tree.

Catch ``SpoolrtError`` to catch them all, or a layer's sub-root to catch one layer:
``EnqueueError`` is raised at the call site before anything is written,
``SpoolFileError`` when a spool file cannot be trusted or decoded,
``RegistryError`` when names of tasks collide or cannot be resolved.

``Retry`` and ``Skip`` are not errors: a task raises them to steer its own outcome, so they sit
outside the tree and a broad ``except SpoolrtError`` never swallows them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta


class SpoolrtError(Exception):
    """Root of every error spoolrt raises."""


class ConfigurationError(SpoolrtError):
    """The environment cannot do what was asked (no spooler, no key, priority without ordering)."""


class UnsafeStateArea(ConfigurationError):
    """A directory of spoolrt's state area (``<spool>/.spoolrt/...``) is a symlink, not a
    directory, or owned or writable by another user: spoolrt refuses to write into it."""


# --- enqueue side: raised at the call site, nothing has been written -------------------------


class EnqueueError(SpoolrtError):
    """A task could not be spooled; no spool file was written."""


class InvalidTaskOption(EnqueueError, ValueError):
    """A bad ``postpone``, ``priority``, ``retries`` or similar option."""


class PayloadTooLarge(EnqueueError, ValueError):
    """A value would overflow uWSGI's 16-bit length fields (it would be silently truncated)."""


class SerializationError(EnqueueError, TypeError):
    """The task's arguments (or result) cannot be serialised with the chosen serializer."""


class UnknownSpooler(EnqueueError, LookupError):
    """The named spooler directory is not one this process knows."""


class BackendUnavailable(EnqueueError):
    """There is nowhere to spool to from this process (not in uWSGI and no spool dir configured)."""


class RemotePayloadTooLarge(PayloadTooLarge):
    """A task for a remote pool does not fit one uwsgi packet (the nodes' ``buffer-size``): the
    network path has no body, so arguments travel in the packet, and a node resets a bigger one
    instead of refusing it. Checked before anything is sent."""


class NoNodeAvailable(EnqueueError, ConnectionError):
    """No node of a remote pool acknowledged the task: each refused it, could not be reached,
    or did not answer in time. ``attempts`` lists ``(node, what happened)``."""

    def __init__(self, message: str, attempts: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.attempts = list(attempts or [])


class SpoolWriteError(EnqueueError, OSError):
    """The spool file could not be written; nothing of it was left behind.

    Also an ``OSError`` (``errno``, ``filename``), so code that caught the raw error still does;
    the message says what likely went wrong and what to check.
    """

    def __init__(self, message: str, *, errno: int | None = None, filename: str | None = None):
        super().__init__(errno, message)
        self.filename = filename

    def __str__(self) -> str:
        return str(self.strerror)


class DiskFull(SpoolWriteError):
    """The filesystem of the spool directory is full (``ENOSPC``) or over its quota."""


class SpoolDirUnavailable(SpoolWriteError):
    """The spool directory is missing, not a directory, read-only or not writable by this user."""


# --- spool-file side: raised while reading a file -------------------------------------------


class SpoolFileError(SpoolrtError):
    """A spool file cannot be trusted or decoded. ``reason`` is a short stable code for records."""

    reason = "corrupt"


class CorruptSpoolFile(SpoolFileError):
    """Truncated or malformed bytes: not a valid uWSGI spool packet or spoolrt envelope."""

    reason = "corrupt"


class ForeignSpoolFile(SpoolFileError):
    """A valid uWSGI spool packet that spoolrt did not write (no spoolrt envelope)."""

    reason = "foreign"


class BadSignature(SpoolFileError):
    """The envelope's MAC does not verify with any accepted key: forged, altered or wrong key."""

    reason = "bad-signature"


class PayloadDecodeError(SpoolFileError):
    """The signed payload could not be deserialised."""

    reason = "payload-decode"


# --- registry ---------------------------------------------------------------------------------


class RegistryError(SpoolrtError):
    """Task names or task types collide, or cannot be resolved."""


class DuplicateTaskName(RegistryError, ValueError):
    """Two different functions (or task types) claim one name."""


class UnknownTaskType(RegistryError, LookupError):
    """A spool file names a task type that no ``SpoolerTask`` subclass registered."""

    reason = "unknown-type"


class UnknownTask(RegistryError, LookupError):
    """A function-call task names a function that was never registered in this process."""

    reason = "unknown-task"


# --- results ----------------------------------------------------------------------------------


class ResultStoreError(SpoolrtError):
    """The result store cannot do what was asked: it cannot be opened, it stayed locked past its
    timeout, or it was written by a newer spoolrt. Callers that must not fail because of
    bookkeeping (the dispatcher) catch this one class."""


class TaskFailed(SpoolrtError):
    """Raised by ``handle.result()`` for a task that failed (retries used up) or was quarantined."""

    def __init__(
        self, message: str, *, status: object, error: str | None, traceback: str | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.traceback = traceback


class TaskInterrupted(SpoolrtError):
    """The process running an attempt died before the attempt finished (harakiri, OOM, kill)."""


class ResultTimeout(SpoolrtError, TimeoutError):
    """``handle.result(timeout=...)`` ran out of time before the task finished."""


class WebTaskFailed(SpoolrtError):
    """The app answered a web task with a status outside 2xx/3xx (the task is retried)."""

    def __init__(self, method: str, path: str, status: str, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body[:200]}")
        self.status = status
        self.body = body


class CommandError(SpoolrtError):
    """A ``spoolrt`` command cannot do what it was asked: the message is shown to the user and
    the command exits with ``code`` (1; 2 for a usage error)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class CommandUsageError(CommandError):
    """A ``spoolrt`` command was called with arguments it cannot take (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 2)


# --- control flow: raised by task code, not errors -------------------------------------------


class Retry(Exception):
    """Raise inside a task to ask for another attempt, optionally after ``delay`` or at ``at``.

    Counts as an attempt: when the task's retries are used up it goes to the failed area.
    """

    def __init__(
        self,
        reason: str = "",
        *,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
    ) -> None:
        check_retry_time("Retry", delay, at)
        super().__init__(reason)
        self.delay = delay
        self.at = at


class Skip(Exception):
    """Raise inside a task to mark it skipped: it is final and is not retried."""


#: Longest delay a ``Retry`` may ask for (100 years): further than that is a bug, and a time past
#: year 9999 cannot even be stored as a file's mtime or a ``datetime``.
MAX_RETRY_DELAY = 100 * 365.25 * 86400


def check_retry_time(owner: str, delay: object, at: object) -> None:
    """Refuse, where it is raised or returned, a retry time the bookkeeping could not use.

    Accepted later, a bad value broke the bookkeeping of the outcome and uWSGI re-ran the task at
    every scan; refused here, it is an ordinary exception of the task's run (a failed attempt),
    so the task still ends in a bounded outcome. ``delay``: seconds (int or float) or a
    ``timedelta``, finite, at most ``MAX_RETRY_DELAY`` (a negative one means now). ``at``: an
    *aware* ``datetime``; a naive one means a different instant in every time zone.
    """
    if delay is not None:
        if isinstance(delay, timedelta):
            seconds = delay.total_seconds()
        elif isinstance(delay, int | float) and not isinstance(delay, bool):
            seconds = float(delay)
        else:
            raise TypeError(
                f"{owner}(delay={delay!r:.60}): delay must be seconds (int or float) or a "
                f"timedelta, not {type(delay).__name__}"
            )
        if not math.isfinite(seconds) or seconds > MAX_RETRY_DELAY:
            raise ValueError(
                f"{owner}(delay={delay!r:.60}): delay must be finite and at most "
                f"{MAX_RETRY_DELAY:.0f} seconds (100 years)"
            )
    if at is not None:
        if not isinstance(at, datetime):
            raise TypeError(
                f"{owner}(at={at!r:.60}): at must be an aware datetime, not {type(at).__name__} "
                "(use delay= for seconds)"
            )
        if at.tzinfo is None or at.tzinfo.utcoffset(at) is None:
            raise ValueError(
                f"{owner}(at={at!r}): at is a naive datetime; pass an aware one "
                "(e.g. datetime.now(timezone.utc) + ...) or delay="
            )
