"""The spooler side: decode a spool file, run its task, and do the bookkeeping of the outcome.

Whatever happens, the file that came in is finished with once ``Dispatcher.run`` returns: the
task was done or skipped, or a new file holds its next attempt (written *before* the old one
goes, so a crash in between runs it twice, never zero times), or a copy sits in the failed or
quarantine area with the reason. Under uWSGI that means the callable always answers
``SPOOL_OK``: uWSGI's own retry codes re-run a file forever at every scan.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from spoolrt.core.codec.envelope import Envelope, decode_packet, encode_body, spool_vars
from spoolrt.core.codec.packet import SpoolPacket, pack
from spoolrt.core.codec.serializers import get_serializer
from spoolrt.core.config import Settings, get_settings
from spoolrt.core.errors import (
    SpoolFileError,
    TaskInterrupted,
    UnknownTask,
    UnknownTaskType,
)
from spoolrt.core.outcomes import (
    Outcome,
    ResultRescheduled,
    RetryPolicy,
    TaskResult,
    TaskStatus,
)
from spoolrt.core.registry import task_functions, task_types
from spoolrt.results.base import TaskRecord
from spoolrt.results.tracking import StoreObserver, already_ran, release_lost_run
from spoolrt.runtime.admission import Admission
from spoolrt.runtime.deferred import Deferred, DeferredOutcomes
from spoolrt.runtime.report import DispatchObserver, Report
from spoolrt.runtime.runs import (
    check_resolvable,
    describe_error,
    explicit_at,
    log_finished,
    original_bytes,
    run_task,
)
from spoolrt.spooldir.attempts import attempt_locks
from spoolrt.spooldir.layout import FAILED, QUARANTINE, keep_aside
from spoolrt.spooldir.parking import place_spool_file
from spoolrt.spooldir.regular import escape_name

log = logging.getLogger("spoolrt")

#: The reason a delivery of a run that is already over is kept aside with.
DUPLICATE = "duplicate"


#: Observers every spooler-side dispatcher of this process consults (uWSGI spooler, worker):
#: framework hooks such as Django's connection closing or Flask's app context.
_spooler_observers: list[DispatchObserver] = []


def add_spooler_observer(observer: DispatchObserver) -> None:
    """Have every spooler-side dispatcher of this process tell ``observer`` about each run,
    replacing one of the same type (setting an app up twice must not hook it twice)."""
    _spooler_observers[:] = [o for o in _spooler_observers if type(o) is not type(observer)]
    _spooler_observers.append(observer)


def _registered(payload: Any) -> bool:
    """Whether the function a function-call payload names is registered already, so there is
    no module to import for it (importing is for the first task of a module, not every one)."""
    return isinstance(payload, dict) and payload.get("func") in task_functions


class Dispatcher:
    """Runs spool files. By default it records runs in the result store and also tells the
    observers added with ``add_spooler_observer``; ``spooler_side=False`` (eager mode, which
    runs inside the caller's own request) leaves those out."""

    def __init__(
        self,
        settings: Settings | None = None,
        observers: list[DispatchObserver] | None = None,
        *,
        spooler_side: bool = True,
    ) -> None:
        self._settings = settings
        if observers is None:
            observers = [StoreObserver(slots=spooler_side)]
        self.own_observers: list[DispatchObserver] = list(observers)
        self.spooler_side = spooler_side
        self.admission = Admission(spooler_side)
        self.deferred = DeferredOutcomes()

    @property
    def observers(self) -> list[DispatchObserver]:
        """This dispatcher's observers, then the process-wide spooler ones (read at each run,
        so hooks added after the dispatcher was made still apply)."""
        extra = _spooler_observers if self.spooler_side else []
        return [*self.own_observers, *extra]

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def _hold_unresolved(self, spool_dir: str, file_name: str, env: Envelope, why: str) -> None:
        grace = self.settings.unresolved_grace
        self.admission.hold_unresolved(spool_dir, file_name, env, why, grace)

    # --- the one entry point ------------------------------------------------------------------

    def run(
        self, spool_dir: str, file_name: str, packet: SpoolPacket, *, ignore_at: bool = False
    ) -> Report:
        """Run the task in ``packet`` (found as ``file_name`` in ``spool_dir``) to an outcome.

        Raises ``FileKept`` (spooler side only) when the file must stay as it is: the task
        cannot be resolved here yet or came up before its signed ``at`` (unless ``ignore_at``)
        (``runtime.admission``), another process runs this same attempt now from another file
        (``spooldir.attempts``), or its bookkeeping failed (``runtime.deferred``). Outside a
        spooler a failed bookkeeping raises itself: the caller must keep the file.
        """
        signer = self.settings.signer()
        try:
            envelope = decode_packet(packet, signer)
        except SpoolFileError as exc:
            return self._quarantine(spool_dir, file_name, packet, None, exc.reason, str(exc))
        if self.spooler_side and not ignore_at:
            self.admission.hold_until_due(spool_dir, file_name, envelope)
        task_cls = task_types.get(envelope.type_id)
        if task_cls is None:
            missing = UnknownTaskType(f"no SpoolerTask with type_id {envelope.type_id!r}")
            self._hold_unresolved(spool_dir, file_name, envelope, str(missing))
            return self._quarantine(
                spool_dir, file_name, packet, envelope, missing.reason, str(missing)
            )
        try:
            payload = get_serializer(envelope.serializer).loads(envelope.payload)
            if self.spooler_side and signer is not None and not _registered(payload):
                self.admission.import_task_module(task_cls.type_id, payload)  # verified: safe
            check_resolvable(task_cls, payload)
        except SpoolFileError as exc:
            return self._quarantine(spool_dir, file_name, packet, envelope, exc.reason, str(exc))
        except UnknownTask as exc:
            self._hold_unresolved(spool_dir, file_name, envelope, str(exc))
            return self._quarantine(spool_dir, file_name, packet, envelope, exc.reason, str(exc))

        if not self.spooler_side:
            return self._run(spool_dir, file_name, packet, envelope, task_cls, payload)
        # One run of an attempt at a time, whichever file brought it; the duplicate check
        # comes after the lock, so it sees the outcome of a twin that ran meanwhile.
        locks = attempt_locks(spool_dir)
        held = locks.take(envelope.task_id, envelope.attempt) if locks is not None else None
        if locks is not None and held is None:
            self.admission.hold_twin(spool_dir, file_name, envelope)
        try:
            previous = already_ran(envelope, spool_dir)
            if previous is not None:
                return self._set_aside_duplicate(spool_dir, file_name, packet, envelope, previous)
            return self._run(spool_dir, file_name, packet, envelope, task_cls, payload)
        finally:
            if locks is not None and held is not None:
                locks.release(held)

    def _run(
        self,
        spool_dir: str,
        file_name: str,
        packet: SpoolPacket,
        envelope: Envelope,
        task_cls: Any,
        payload: Any,
    ) -> Report:
        result: TaskResult
        deferred = self.deferred.take(envelope)
        if deferred is not None:  # it ran here already: only its bookkeeping is left
            result, tb, seconds = deferred.result, deferred.traceback, deferred.seconds
        else:
            interruption = self._start(envelope, spool_dir)
            began = time.monotonic()
            if interruption:
                # A run that kills its process (harakiri, OOM) would otherwise re-run at every
                # scan forever: the lost run counts as a failed attempt, with backoff.
                result, tb = ResultRescheduled(exception=TaskInterrupted(interruption)), ""
            else:
                result, tb = run_task(task_cls(file_name, envelope.message, payload, envelope))
            seconds = time.monotonic() - began
            deferred = Deferred(result, tb, seconds)
        try:
            report = self._settle(spool_dir, file_name, packet, envelope, result, tb)
        except Exception as exc:
            if not self.spooler_side:
                raise
            raise self.deferred.keep(spool_dir, file_name, envelope, deferred, exc) from exc
        log_finished(report, envelope, file_name, seconds)
        self._notify("finished", report, spool_dir)
        return report

    # --- outcomes -----------------------------------------------------------------------------

    def _settle(
        self,
        spool_dir: str,
        file_name: str,
        packet: SpoolPacket,
        envelope: Envelope,
        result: TaskResult,
        tb: str,
    ) -> Report:
        error = describe_error(result.exception)
        if result.outcome is Outcome.PROCESSED:
            return Report(TaskStatus.DONE, envelope, result=result.result)
        if result.outcome is Outcome.SKIPPED:
            return Report(TaskStatus.SKIPPED, envelope, result=result.result, error=error)

        policy = RetryPolicy(
            retries=envelope.retries,
            delay=envelope.retry_delay,
            cap=self.settings.retry_cap,
        )
        if policy.can_retry(envelope.attempt):
            next_at = explicit_at(result) or time.time() + policy.delay_for(envelope.attempt)
            retry = envelope.next_attempt(next_at)
            data = pack(spool_vars(retry), encode_body(retry, self.settings.signer()))
            path = place_spool_file(
                spool_dir,
                data,
                at=next_at,
                priority=retry.priority,
                durable=self.settings.durable_writes,
            )
            return Report(
                TaskStatus.RETRYING, envelope, error=error, traceback=tb, next_path=path,
                next_at=next_at,
            )  # fmt: skip

        record: dict[str, Any] = {
            "reason": "retries-exhausted",
            "task_id": envelope.task_id,
            "task": envelope.label,
            "attempts": envelope.attempt,
            "error": error or "rescheduled with no retries left",
            "traceback": tb,
        }
        kept = keep_aside(spool_dir, FAILED, file_name, original_bytes(packet), record)
        return Report(
            TaskStatus.FAILED, envelope, error=record["error"], traceback=tb,
            reason="retries-exhausted", kept_path=str(kept),
        )  # fmt: skip

    def _quarantine(
        self,
        spool_dir: str,
        file_name: str,
        packet: SpoolPacket,
        envelope: Envelope | None,
        reason: str,
        detail: str,
    ) -> Report:
        record = {
            "reason": reason,
            "detail": detail,
            "task_id": envelope.task_id if envelope else "",
            "task": envelope.label if envelope else "",
        }
        kept = keep_aside(spool_dir, QUARANTINE, file_name, original_bytes(packet), record)
        log.warning(
            "quarantined %s (%s): %s -> %s; task id %s",
            escape_name(file_name), reason, detail, escape_name(str(kept)),
            record["task_id"] or "unknown",
        )  # fmt: skip
        report = Report(
            TaskStatus.QUARANTINED, envelope, error=detail, reason=reason, kept_path=str(kept)
        )
        if envelope is not None:
            self._notify("finished", report, spool_dir)
        return report

    def _set_aside_duplicate(
        self,
        spool_dir: str,
        file_name: str,
        packet: SpoolPacket,
        envelope: Envelope,
        previous: TaskRecord,
    ) -> Report:
        """A delivery of a run that is over: kept aside as ``duplicate``, not run, and not
        told to the store (whose record of the real run stands)."""
        detail = (
            f"attempt {envelope.attempt} of task {envelope.task_id} was delivered again; the "
            f"task is {previous.status.value} (attempt {previous.attempt})"
        )
        record = {
            "reason": DUPLICATE,
            "detail": detail,
            "task_id": envelope.task_id,
            "task": envelope.label,
        }
        kept = keep_aside(spool_dir, QUARANTINE, file_name, original_bytes(packet), record)
        release_lost_run(envelope, spool_dir)
        log.warning(
            "not run: %s (%s) -> %s", escape_name(file_name), detail, escape_name(str(kept))
        )
        return Report(
            TaskStatus.QUARANTINED, envelope, error=detail, reason=DUPLICATE, kept_path=str(kept)
        )

    def quarantine_bytes(
        self, spool_dir: str, file_name: str, data: bytes, error: SpoolFileError
    ) -> Report:
        """Set aside a file that is not even a spool packet (truncated, garbage), with the same
        record as any other quarantined file. The pure-Python worker calls this; uWSGI deletes
        such files itself without calling the spooler callable."""
        record = {"reason": error.reason, "detail": str(error), "task_id": "", "task": ""}
        kept = keep_aside(spool_dir, QUARANTINE, file_name, data, record)
        log.warning(
            "quarantined %s (%s): %s -> %s",
            escape_name(file_name), error.reason, error, escape_name(str(kept)),
        )  # fmt: skip
        return Report(
            TaskStatus.QUARANTINED, None, error=str(error), reason=error.reason, kept_path=str(kept)
        )

    def _start(self, envelope: Envelope, spool_dir: str) -> str | None:
        """Tell every observer the task starts; the first that knows of an interrupted earlier
        run of this attempt says why."""
        interruption = None
        for observer in self.observers:
            try:
                reason = observer.started(envelope, spool_dir)
            except Exception:
                log.exception("observer %r failed on started", observer)
                continue
            interruption = interruption or reason
        return interruption

    def _notify(self, event: str, subject: Any, spool_dir: str) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(subject, spool_dir)
            except Exception:
                log.exception("observer %r failed on %s", observer, event)


__all__ = ["DUPLICATE", "DispatchObserver", "Dispatcher", "Report", "add_spooler_observer"]
