"""One run of a task, the parts the dispatcher does not decide: calling ``process()`` and
mapping what it did to a ``TaskResult``, the retry time a task asked for, the one log line per
run, and the spool file's bytes again for the failed and quarantine areas."""

from __future__ import annotations

import logging
import time
import traceback
from datetime import timedelta
from typing import Any

from spoolrt.api.tasks import SpoolerTask
from spoolrt.core.codec.envelope import Envelope
from spoolrt.core.codec.packet import SpoolPacket, pack
from spoolrt.core.errors import Retry, Skip, SpoolFileError, UnknownTask, check_retry_time
from spoolrt.core.outcomes import (
    ResultRescheduled,
    ResultSkipped,
    TaskResult,
    TaskStatus,
    to_task_result,
)
from spoolrt.core.registry import FUNCTION_CALL_TYPE, task_functions
from spoolrt.runtime.report import Report
from spoolrt.spooldir.regular import escape_name

log = logging.getLogger("spoolrt")


_LEVELS = {TaskStatus.RETRYING: logging.WARNING, TaskStatus.FAILED: logging.ERROR}


def log_finished(report: Report, envelope: Envelope, file_name: str, seconds: float) -> None:
    """One line per run: INFO when it is done or skipped, WARNING when it will be retried,
    ERROR when it failed for good; each with the task's name, id, attempt, outcome and run
    time, and the spool file's name (what uWSGI's own lines show)."""
    level = _LEVELS.get(report.status, logging.INFO)
    if not log.isEnabledFor(level):  # nothing formatted for a line no one will see
        return
    head = (
        f"task {envelope.label} ({envelope.task_id}) attempt {envelope.attempt}/"
        f"{envelope.max_attempts}"
    )
    if report.status is TaskStatus.RETRYING:
        delay = max(0.0, (report.next_at or time.time()) - time.time())
        error = report.error or "rescheduled"
        log.warning("%s failed in %.3fs: %s; retrying in %.1fs", head, seconds, error, delay)
    elif report.status is TaskStatus.FAILED:
        log.error(
            "%s failed in %.3fs: %s; no retries left, kept in %s\n%s",
            head, seconds, report.error, escape_name(report.kept_path), report.traceback,
        )  # fmt: skip
    else:
        log.info("%s %s in %.3fs [%s]", head, report.status, seconds, escape_name(file_name))


def check_resolvable(task_cls: type[SpoolerTask], payload: Any) -> None:
    """Refuse, before running anything, a function-call task whose function is not here."""
    if task_cls.type_id == FUNCTION_CALL_TYPE:
        if not isinstance(payload, dict) or not {"func", "arg", "kwg"} <= payload.keys():
            raise UnknownTask("function-call payload lacks func/arg/kwg")
        if payload["func"] not in task_functions:
            raise UnknownTask(
                f"no task function {payload['func']!r} is registered in this process "
                "(is its module imported in the spooler? see spooler-import)"
            )


def run_task(task: SpoolerTask) -> tuple[TaskResult, str]:
    """Run ``process()`` and map what it did to a TaskResult (and a traceback if it raised)."""
    try:
        return to_task_result(task.invoke()), ""
    except Skip as exc:
        return ResultSkipped(exception=exc), ""
    except Retry as exc:
        try:
            return ResultRescheduled(exception=exc, delay=exc.delay, at=exc.at), ""
        except (TypeError, ValueError) as bad:  # a value set after the signal was made
            return ResultRescheduled(exception=bad), traceback.format_exc()
    except Exception as exc:
        return ResultRescheduled(exception=exc), traceback.format_exc()


def explicit_at(result: TaskResult) -> float | None:
    """The time a rescheduled result asks for, or None for the retry policy's own delay.

    ``Retry`` and ``ResultRescheduled`` refuse bad times when made, but their attributes can
    still be changed afterwards: a value that cannot be used falls back to the policy (and says
    so) rather than failing the bookkeeping, which would keep the file and run the task again
    at every scan.
    """
    if not isinstance(result, ResultRescheduled) or (result.at is None and result.delay is None):
        return None
    try:
        check_retry_time(type(result).__name__, result.delay, result.at)
        if result.at is not None:
            return float(result.at.timestamp())
        delay = result.delay
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay or 0)
        return time.time() + max(0.0, seconds)
    except (TypeError, ValueError, OverflowError) as exc:
        log.warning("ignoring the retry time asked for (%s); using the retry policy", exc)
        return None


def describe_error(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def original_bytes(packet: SpoolPacket) -> bytes:
    """The spool file again, from what uWSGI handed over (same bytes, same order)."""
    try:
        return pack(packet.vars, packet.body)
    except (SpoolFileError, TypeError, ValueError):
        return packet.body
