"""What became of one spool file (``Report``), and who is told about each run.

The dispatcher returns a ``Report`` for every file it is given; the worker, the uWSGI callable
and eager mode act on it, and ``DispatchObserver``s (the result store, framework hooks) hear of
it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from spoolrt.core.codec.envelope import Envelope
from spoolrt.core.outcomes import TaskStatus


@dataclass(frozen=True)
class Report:
    """What became of one spool file."""

    status: TaskStatus
    envelope: Envelope | None = None
    result: Any = None
    error: str = ""
    traceback: str = ""
    reason: str = ""
    next_path: str = ""
    next_at: float | None = None
    kept_path: str = ""

    @property
    def task_id(self) -> str:
        return self.envelope.task_id if self.envelope else ""


class DispatchObserver(Protocol):
    """Told about each run (the result store is one). It must not raise; if it does, the
    error is logged and the task's bookkeeping goes on."""

    def started(self, envelope: Envelope, spool_dir: str) -> str | None:
        """Called before the task runs. Returns why the previous run of this very attempt never
        finished (its process died: harakiri, OOM, kill -9) when the observer can tell, else
        None."""

    def finished(self, report: Report, spool_dir: str) -> None: ...


__all__ = ["DispatchObserver", "Report"]
