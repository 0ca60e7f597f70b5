"""spoolrt: the uWSGI spooler as a background-task runtime.

What importing spoolrt does. Outside uWSGI: nothing at all (no file, thread, signal or socket;
the signing key is read on first use). Inside a uWSGI process, and only there, it installs the
spooler side (``spoolrt.runtime.uwsgi_spooler.install_dispatcher``):

- spoolrt's dispatcher becomes the spooler callable (``uwsgi.spooler``), chaining to a callable
  that was already there for the files spoolrt did not write;
- a post-fork hook (``uwsgi.post_fork_hook``, chaining too) makes each spooler process announce
  itself under ``<spool dir>/.spoolrt/run/`` so writers outside uWSGI can wake it;
- in the master, a uWSGI signal handler and a one-second timer for it (target ``spooler``), so
  that once a second one spooler process promotes parked far-future tasks and fires due
  schedule slots; in a spooler whose master never imported spoolrt (``lazy-apps``), a thread.

The package is layered, each layer importing only those below it (``lint-imports`` checks it):
``core`` (pure values and rules) -> ``spooldir`` (files on disk) -> ``results`` (the store) ->
``sending`` (enqueue, backends, handles) -> ``api`` (tasks, ``Spooler``, schedules) ->
``runtime`` (dispatcher, worker, the uWSGI spooler side) -> ``cli``, ``contrib``, ``testing``.
"""

from __future__ import annotations

import sys

from spoolrt._version import __version__
from spoolrt.api.schedules import (
    MissedSlotPolicy,
    MissedSlots,
    ScheduledTask,
    find_scheduled,
    run_scheduled,
    web_task,
    web_tasks,
)
from spoolrt.api.spooler import Spooler
from spoolrt.api.tasks import FunctionCallTask, SpoolerTask, TaskFunction, current_task
from spoolrt.core.config import configure, get_settings
from spoolrt.core.errors import (
    BackendUnavailable,
    BadSignature,
    CommandError,
    ConfigurationError,
    CorruptSpoolFile,
    DiskFull,
    DuplicateTaskName,
    EnqueueError,
    ForeignSpoolFile,
    InvalidTaskOption,
    NoNodeAvailable,
    PayloadTooLarge,
    RegistryError,
    RemotePayloadTooLarge,
    ResultStoreError,
    ResultTimeout,
    Retry,
    SerializationError,
    Skip,
    SpoolDirUnavailable,
    SpoolFileError,
    SpoolrtError,
    SpoolWriteError,
    TaskFailed,
    UnknownSpooler,
    UnknownTask,
    UnknownTaskType,
    UnsafeStateArea,
    WebTaskFailed,
)
from spoolrt.core.options import TaskOptions
from spoolrt.core.outcomes import (
    Outcome,
    ResultProcessed,
    ResultRescheduled,
    ResultSkipped,
    RetryPolicy,
    TaskResult,
    TaskStatus,
)
from spoolrt.runtime.eager import EagerTaskFailed, eager
from spoolrt.runtime.uwsgi_spooler import install_dispatcher
from spoolrt.sending.backends import current as backend
from spoolrt.sending.handle import TaskHandle
from spoolrt.spooldir.cancel import CancelResult
from spoolrt.spooldir.inspect import TaskInfo

__all__ = [
    # Spooling
    "Spooler",
    "SpoolerTask",
    "FunctionCallTask",
    "TaskFunction",
    "TaskHandle",
    "CancelResult",
    "TaskInfo",
    "TaskOptions",
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
    "UnsafeStateArea",
    "EnqueueError",
    "InvalidTaskOption",
    "NoNodeAvailable",
    "PayloadTooLarge",
    "SerializationError",
    "UnknownSpooler",
    "BackendUnavailable",
    "SpoolWriteError",
    "DiskFull",
    "SpoolDirUnavailable",
    "SpoolFileError",
    "CorruptSpoolFile",
    "ForeignSpoolFile",
    "BadSignature",
    "RegistryError",
    "RemotePayloadTooLarge",
    "DuplicateTaskName",
    "ResultStoreError",
    "WebTaskFailed",
    "CommandError",
    "TaskFailed",
    "ResultTimeout",
    "UnknownTask",
    "UnknownTaskType",
    "__version__",
]


if "uwsgi" in sys.modules:  # a uWSGI process (see the module docstring)
    install_dispatcher()
