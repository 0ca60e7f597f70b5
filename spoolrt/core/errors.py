"""Every error spoolrt raises, in one tree.

Catch ``SpoolrtError`` to catch them all, or a layer's sub-root to catch one layer:
``EnqueueError`` is raised at the call site before anything is written,
``SpoolFileError`` when a spool file cannot be trusted or decoded,
``RegistryError`` when names of tasks collide or cannot be resolved.

``Retry`` and ``Skip`` are not errors: a task raises them to steer its own outcome, so they sit
outside the tree and a broad ``except SpoolrtError`` never swallows them.
"""

from __future__ import annotations

from datetime import datetime, timedelta


class SpoolrtError(Exception):
    """Root of every error spoolrt raises."""


class ConfigurationError(SpoolrtError):
    """The environment cannot do what was asked (no spooler, no key, priority without ordering)."""


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
        super().__init__(reason)
        self.delay = delay
        self.at = at


class Skip(Exception):
    """Raise inside a task to mark it skipped: it is final and is not retried."""
