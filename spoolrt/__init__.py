"""spoolrt: the uWSGI spooler as a background-task runtime.

Inside uWSGI, importing spoolrt installs its dispatcher as the spooler callable (chaining to a
callable that was already there); outside uWSGI importing it does nothing at all.
"""

from __future__ import annotations

from ._version import __version__
from .backends import current as backend
from .backends.eager import EagerTaskFailed, eager
from .config import configure, get_settings
from .errors import (
    BackendUnavailable,
    BadSignature,
    ConfigurationError,
    CorruptSpoolFile,
    DuplicateTaskName,
    EnqueueError,
    ForeignSpoolFile,
    InvalidTaskOption,
    PayloadTooLarge,
    ResultTimeout,
    Retry,
    SerializationError,
    Skip,
    SpoolFileError,
    SpoolrtError,
    TaskFailed,
    UnknownSpooler,
    UnknownTask,
    UnknownTaskType,
)
from .handle import TaskHandle
from .inspection import TaskInfo
from .outcomes import (
    Outcome,
    ResultProcessed,
    ResultRescheduled,
    ResultSkipped,
    RetryPolicy,
    TaskResult,
    TaskStatus,
)
from .schedule import find_scheduled, run_scheduled
from .scheduled import ScheduledTask
from .scheduling import MissedSlotPolicy, MissedSlots
from .spooler import Spooler
from .tasks import FunctionCallTask, SpoolerTask, TaskFunction, current_task
from .webtask import web_task, web_tasks

__all__ = [
    # Spooling
    "Spooler",
    "SpoolerTask",
    "FunctionCallTask",
    "TaskFunction",
    "TaskHandle",
    "TaskInfo",
    "current_task",
    "configure",
    "get_settings",
    # Where tasks go: uwsgi, local (files + `spoolrt worker`), eager (inline, for tests)
    "backend",
    "eager",
    "EagerTaskFailed",
    # Scheduling: @Spooler.periodic / @Spooler.cron, classes, web paths, runs on demand
    "ScheduledTask",
    "web_task",
    "web_tasks",
    "find_scheduled",
    "run_scheduled",
    "MissedSlots",
    "MissedSlotPolicy",
    # Outcomes
    "TaskResult",
    "ResultProcessed",
    "ResultSkipped",
    "ResultRescheduled",
    "Outcome",
    "TaskStatus",
    "RetryPolicy",
    "Retry",
    "Skip",
    # Errors
    "SpoolrtError",
    "ConfigurationError",
    "EnqueueError",
    "InvalidTaskOption",
    "PayloadTooLarge",
    "SerializationError",
    "UnknownSpooler",
    "BackendUnavailable",
    "SpoolFileError",
    "CorruptSpoolFile",
    "ForeignSpoolFile",
    "BadSignature",
    "DuplicateTaskName",
    "TaskFailed",
    "ResultTimeout",
    "UnknownTask",
    "UnknownTaskType",
    "__version__",
]


def _install_in_uwsgi() -> None:
    import sys

    if "uwsgi" in sys.modules:
        from .backends.uwsgi import install_dispatcher

        install_dispatcher()


_install_in_uwsgi()
