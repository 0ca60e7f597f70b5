"""The contract every backend keeps: where tasks can go, and how a file gets there."""

from __future__ import annotations

from abc import ABC, abstractmethod

from spoolrt.core.codec.envelope import Envelope


class Backend(ABC):
    """Places spool files. The dispatcher, not the backend, runs them.

    A backend knows which spool directories this process may write to and how to write a task
    there so the spooler that owns the directory picks it up (and is woken when possible).
    """

    #: Short name shown by ``spoolrt.backend()`` and in logs.
    name: str = ""

    #: Whether far-future tasks are parked (``spoolrt.spooldir.parking``) instead of given to
    #: ``spool``.
    parks: bool = True

    #: Whether ``spool`` reads of its ``envelope`` only where the file goes (``spooler``,
    #: ``at``, ``priority``), so enqueue's fast path may hand it one envelope of the task's
    #: kind for every call (``spoolrt.sending.enqueue.Prepared``). False for a backend that
    #: runs or forwards the envelope itself.
    places_only: bool = False

    @abstractmethod
    def spooler_dirs(self) -> list[str]:
        """The spool directories this process knows, as absolute real paths, default first.

        May be empty; callers turn that into a clear error when they need a directory.
        """

    @abstractmethod
    def check_priority(self, spool_dir: str) -> None:
        """Raise ``ConfigurationError`` if a task with a priority would never run in ``spool_dir``.

        uWSGI only scans priority sub-directories with ``spooler-ordered``; without it such a
        file is stranded forever, so refusing at the call site is the only safe answer.
        """

    @abstractmethod
    def spool(self, spool_dir: str, envelope: Envelope, body: bytes) -> str:
        """Write one task into ``spool_dir`` atomically and return the spool file's path.

        ``body`` is the encoded (signed) envelope; ``envelope`` carries ``at`` and ``priority``
        for the file's placement. Raises an ``EnqueueError`` subclass when nothing was written.
        """

    def pids(self) -> list[int]:
        """PIDs of the spooler processes this backend can see (empty when it cannot tell)."""
        return []

    def set_period(self, seconds: int) -> bool:
        """Change how often spoolers scan their directory, where the backend can."""
        return False
