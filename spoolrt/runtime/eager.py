"""Eager mode: a task call runs the task inline, through every step a real spooler takes.

For unit tests and scripts. The call still serialises the arguments, signs the envelope, packs
the bytes of a spool file, unpacks them and hands them to the same ``Dispatcher`` a spooler
uses, so an argument that cannot be pickled, a payload uWSGI would truncate or a task name the
registry cannot resolve fails in the unit test exactly as it would in production.

What differs from a spooler, on purpose:

- ``postpone`` is ignored: the task runs now.
- Retries run at once, one after another, without their delays, until the task succeeds or its
  retries are used up (the dispatcher's retry file is claimed back and run immediately).
- When the task ends failed or quarantined, the call raises ``EagerTaskFailed`` (with the
  dispatcher's ``Report`` on it), so a failing task fails the test. ``propagate=False`` keeps
  the call quiet; the report is then only in ``EagerBackend.reports``.
- The returned ``TaskHandle`` has the pseudo path ``eager:<task_id>``; no task file is left
  behind. Its ``status`` and ``result()`` work as usual: the run was recorded in the result
  store of the spooler's directory, as a spooler would record it.

The bookkeeping (result store, failed and quarantine areas) goes to the spooler's directory as
it would in production; with no spool directory configured that is a private temporary
directory, removed at exit.

Switch it on for the whole process with ``spoolrt.configure(eager=True)`` (or
``SPOOLRT_EAGER=1``), for a block with ``with spoolrt.eager(): ...``, or per test with the
``spoolrt_eager`` fixture of ``spoolrt.testing``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from spoolrt.core.codec.envelope import Envelope, spool_vars
from spoolrt.core.codec.packet import pack, unpack
from spoolrt.core.config import get_settings
from spoolrt.core.errors import TaskFailed
from spoolrt.core.outcomes import TaskStatus
from spoolrt.runtime.dispatch import Dispatcher, Report
from spoolrt.sending.backends import force, forced, register_eager
from spoolrt.sending.backends.base import Backend
from spoolrt.sending.backends.uwsgi import UwsgiBackend, uwsgi_module
from spoolrt.spooldir.claim import claim
from spoolrt.spooldir.layout import new_file_name

PATH_PREFIX = "eager:"

#: How many reports an eager backend keeps for inspection; older ones are dropped.
MAX_REPORTS = 10_000


class EagerTaskFailed(TaskFailed):
    """An eagerly run task ended failed or quarantined. ``report`` says how and why.

    A ``TaskFailed``, as ``handle.result()`` raises for the same task run by a spooler.
    """

    def __init__(self, report: Report) -> None:
        self.report = report
        detail = report.error or report.reason
        text = f"eager task {report.envelope.label if report.envelope else '?'} "
        text += f"({report.task_id}) ended {report.status.value}: {detail}"
        if report.traceback:
            text += f"\n\nThe task's traceback:\n{report.traceback}"
        super().__init__(
            text, status=report.status, error=detail, traceback=report.traceback or None
        )


class EagerBackend(Backend):
    """Runs each task at call time in this process (see the module docstring).

    ``work_dir`` stands in as the default spooler when no spool directory is configured; by
    default a private temporary directory, removed at exit.
    """

    parks = False  # it runs every task at call time, postponed or not

    name = "eager"

    def __init__(
        self,
        *,
        propagate: bool = True,
        work_dir: str | os.PathLike[str] | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.propagate = propagate
        self._work_dir = None
        if work_dir is not None:
            os.makedirs(work_dir, exist_ok=True)
            self._work_dir = os.path.realpath(os.fspath(work_dir))
        # Not spooler-side: framework hooks (closing DB connections, pushing an app context)
        # belong to real spooler processes, not to the caller's own request or test.
        self.dispatcher = dispatcher or Dispatcher(spooler_side=False)
        self.reports: deque[Report] = deque(maxlen=MAX_REPORTS)

    def __repr__(self) -> str:
        return f"EagerBackend(propagate={self.propagate}, work_dir={self._work_dir!r})"

    @property
    def work_dir(self) -> str:
        if self._work_dir is None:
            self._work_dir = os.path.realpath(tempfile.mkdtemp(prefix="spoolrt-eager-"))
            atexit.register(shutil.rmtree, self._work_dir, ignore_errors=True)
        return self._work_dir

    def spooler_dirs(self) -> list[str]:
        # The spoolers the code names must resolve as they would for real; with none
        # configured, the work directory stands in as the default spooler.
        configured = get_settings().spool_dirs
        if configured:
            return [os.path.realpath(d) for d in configured]
        module = uwsgi_module()
        if module is not None:
            dirs = UwsgiBackend(module).spooler_dirs()
            if dirs:
                return dirs
        return [self.work_dir]

    def check_priority(self, spool_dir: str) -> None:
        """Priorities cannot strand an eager task: it runs now."""

    def spool(self, spool_dir: str, envelope: Envelope, body: bytes) -> str:
        report = self.run_bytes(spool_dir, pack(spool_vars(envelope), body))
        self.reports.append(report)
        if self.propagate and report.status in (TaskStatus.FAILED, TaskStatus.QUARANTINED):
            raise EagerTaskFailed(report)
        return f"{PATH_PREFIX}{envelope.task_id}"

    def run_bytes(self, spool_dir: str, data: bytes) -> Report:
        """Dispatch spool-file bytes, then every retry they lead to; returns the last report.

        A retry file is claimed with the same lock a spooler takes; if a spooler of that
        directory got it first, it is that spooler's to run and the RETRYING report is returned.
        """
        report = self.dispatcher.run(spool_dir, new_file_name(), unpack(data))
        while report.status is TaskStatus.RETRYING and report.next_path:
            taken = claim(report.next_path, due_by=None)
            if taken is None:
                break
            try:
                name = os.path.basename(report.next_path)
                report = self.dispatcher.run(spool_dir, name, unpack(taken.data))
                os.unlink(taken.path)
            finally:
                taken.release()
        return report

    def results(self) -> list[object]:
        """The results of the tasks that ended done, oldest first."""
        return [r.result for r in self.reports if r.status is TaskStatus.DONE]


@contextmanager
def eager(*, propagate: bool = True, work_dir: str | None = None) -> Iterator[EagerBackend]:
    """Run every task called inside the block inline (see the module docstring)::

    with spoolrt.eager() as backend:
        send_welcome_mail(user.id)         # ran here, or raised EagerTaskFailed
    assert backend.reports[-1].result == "sent"
    """
    backend = EagerBackend(propagate=propagate, work_dir=work_dir)
    previous = forced()
    force(backend)
    try:
        yield backend
    finally:
        force(previous)


register_eager(EagerBackend)

__all__ = ["EagerBackend", "EagerTaskFailed", "eager", "PATH_PREFIX"]
