"""``uwsgiconf.runtime.spooler`` 2.4, all of its public names, on spoolrt.

::

    # from uwsgiconf.runtime.spooler import Spooler, SpoolerTask, ResultProcessed, ...
    from spoolrt.compat.uwsgiconf import Spooler, SpoolerTask, ResultProcessed, ...

``from spoolrt import Spooler, SpoolerTask`` already runs most uwsgiconf code; this module adds
what the rest depends on: ``SpoolerFunctionCallTask``, ``spooler_task_types``,
``TypeTaskResult``, ``TaskResult.code_uwsgi`` on the result classes, and ``read_task_file``
returning uwsgiconf's mapping (``{}`` for a missing file) instead of spoolrt's ``TaskInfo``.

The result classes here are subclasses of spoolrt's, so a task may return either kind and
spoolrt's dispatcher decides the outcome as usual: processed, skipped (final, where uWSGI re-runs
``SPOOL_IGNORE`` for ever), or rescheduled with bounded retries. ``code_uwsgi`` is the code
uwsgiconf would have answered; spoolrt itself always answers ``SPOOL_OK`` after its bookkeeping.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Union

from spoolrt.api.spooler import Spooler as _Spooler
from spoolrt.api.tasks import FunctionCallTask, task_types
from spoolrt.api.tasks import SpoolerTask as _SpoolerTask
from spoolrt.core.outcomes import ResultProcessed as _Processed
from spoolrt.core.outcomes import ResultRescheduled as _Rescheduled
from spoolrt.core.outcomes import ResultSkipped as _Skipped
from spoolrt.core.outcomes import TaskResult as _TaskResult

SPOOL_OK = -2
SPOOL_RETRY = -1
SPOOL_IGNORE = 0

#: type_id -> task class, filled as ``SpoolerTask`` subclasses are defined (spoolrt's registry
#: itself, so a class defined against either API is found by both).
spooler_task_types: dict[str, type[_SpoolerTask]] = task_types


class TaskResult(_TaskResult):
    """A task's verdict; ``code_uwsgi`` is the code uwsgiconf answered uWSGI with."""

    code_uwsgi: ClassVar[int | None] = None


class ResultProcessed(TaskResult, _Processed):
    """Processed: the file is removed and ``result`` kept as the task's result."""

    code_uwsgi = SPOOL_OK


class ResultSkipped(TaskResult, _Skipped):
    """Skipped: final (uWSGI alone would re-run the file at every scan)."""

    code_uwsgi = SPOOL_IGNORE


class ResultRescheduled(TaskResult, _Rescheduled):
    """Run again later, up to the task's retries, then failed."""

    code_uwsgi = SPOOL_RETRY


TypeTaskResult = Union[TaskResult, _TaskResult, bool, None]  # noqa: UP007 - uwsgiconf's alias


class SpoolerTask(_SpoolerTask, abstract=True):
    """uwsgiconf's task base: subclass it, set ``type_id``, implement ``process()``."""

    mark_processed = ResultProcessed
    mark_skipped = ResultSkipped
    mark_rescheduled = ResultRescheduled


#: uwsgiconf's function-call task type is spoolrt's (``type_id = "fcall"``).
SpoolerFunctionCallTask = FunctionCallTask


class Spooler(_Spooler):
    """spoolrt's ``Spooler`` with uwsgiconf's return types where they differ."""

    @classmethod
    def get_spoolers(cls) -> list[_Spooler]:
        """Every spooler (``[]`` outside uWSGI with none configured, as in uwsgiconf)."""
        return [cls(spooler.dir) for spooler in super().get_spoolers()]

    @classmethod
    def read_task_file(cls, path: str | bytes | os.PathLike[str]) -> dict[Any, Any]:  # type: ignore[override]
        """What ``uwsgi.spooler_get_task`` gives for the file, as uwsgiconf returned it: the
        ``spooler_task_name`` (str key) and the file's vars (bytes keys and values, ``b"msg"``
        holding the message, e.g. ``b"ucfg_fcall"``); ``{}`` when there is no such file.

        spoolrt's own decoded view (id, attempt, a preview of the arguments, whether the
        signature verified) is on the mapping's ``info`` attribute. The body (a signed
        envelope, not uwsgiconf's pickle) is left out.
        """
        raw = os.fsdecode(path)
        try:
            info = _Spooler.read_task_file(raw)
        except OSError:
            return {}
        found = TaskFile({"spooler_task_name": os.path.abspath(raw).encode()})
        for key, value in info.vars.items():
            found[key.encode()] = value.encode()
        if info.message:
            found[b"msg"] = info.message.encode()
        found.info = info
        return found


class TaskFile(dict[Any, Any]):
    """``read_task_file``'s mapping, with spoolrt's ``TaskInfo`` as ``info``."""

    info: Any = None


__all__ = [
    "ResultProcessed",
    "ResultRescheduled",
    "ResultSkipped",
    "Spooler",
    "SpoolerFunctionCallTask",
    "SpoolerTask",
    "TaskResult",
    "TypeTaskResult",
    "spooler_task_types",
]
