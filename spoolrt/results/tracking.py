"""Wiring the result store to the dispatcher (writes) and to task handles (reads).

What is recorded is chosen by ``configure(results=...)`` for the process and by a task's own
``results=`` option: ``"all"`` (status and return value, the default), ``"status"`` (status, error
and traceback, no value), ``"off"`` (nothing). Enqueueing writes nothing to the store: a task's
"queued" or "scheduled" status is read from its spool file (found by id through
``spoolrt.spooldir.ids``), so the store costs enqueue nothing and a task spooled by a process
with the store off (or by another host) is still tracked once it runs. Running writes nothing
to the store either: "running" is the running process's slot (``spoolrt.spooldir.slots``), so a
task costs the store one write, its outcome.

Results are serialised with the task's serializer and signed like envelopes, so a value put
in the store by anything else is never unpickled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.codec.envelope import Envelope
from spoolrt.core.codec.serializers import MAC_SIZE, get_serializer
from spoolrt.core.config import get_settings
from spoolrt.core.errors import BadSignature, ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.results.base import ResultStore, TaskDescription, TaskRecord, supersedes
from spoolrt.results.sqlite import SQLiteResultStore
from spoolrt.spooldir.ids import forget as forget_id
from spoolrt.spooldir.slots import SlotRecord, board_for, running_task

log = logging.getLogger("spoolrt")


StoreFactory = Callable[[str], ResultStore]

_stores: dict[str, ResultStore] = {}
_stores_lock = threading.Lock()


#: The default store group-commits finished records through per-process journals
#: (``spoolrt.results.journal``), measured faster with 1, 2 and 4 spooler processes on tmpfs
#: and disk; ``SPOOLRT_STORE_JOURNAL=0`` makes it commit once per task instead.
ENV_STORE_JOURNAL = "SPOOLRT_STORE_JOURNAL"


def default_store_factory(spool_dir: str) -> ResultStore:
    off = os.environ.get(ENV_STORE_JOURNAL, "").strip().lower() in ("0", "off", "false", "no")
    return SQLiteResultStore.for_spool_dir(spool_dir, group_commit=not off)


def flush_stores() -> None:
    """Merge journaled records that waited long enough, and dead processes' journals, in every
    store of this process that keeps a journal (the schedule tick calls it). Never raises."""
    for store in list(_stores.values()):
        flush = getattr(store, "flush", None)
        if flush is not None:
            try:
                flush()
            except (ResultStoreError, OSError) as exc:
                log.warning("could not merge the journals of %r: %s", store, exc)


def store_for(spool_dir: str) -> ResultStore | None:
    """The store of ``spool_dir`` (one per directory and process), or None when results are off."""
    settings = get_settings()
    if settings.results == "off":
        return None
    store = _stores.get(spool_dir)  # by the name as given: realpath() costs 3 lstat a call
    if store is None:
        with _stores_lock:
            key = os.path.realpath(spool_dir)
            store = _stores.get(key)
            if store is None:
                store = (settings.result_store or default_store_factory)(key)
                _stores[key] = store
            _stores[spool_dir] = store
    return store


def forget_stores() -> None:
    """Drop the per-directory stores (tests, or after changing the store setting)."""
    with _stores_lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


def describe(envelope: Envelope, spool_dir: str) -> TaskDescription:
    """What the store keeps about the task of ``envelope`` (the same in every write)."""
    return TaskDescription(envelope.label, envelope.spooler or spool_dir, envelope.max_attempts)


def result_mode(envelope: Envelope) -> str:
    mode = envelope.options.get("results") or get_settings().results
    return mode if mode in defaults.RESULT_MODES else defaults.RESULTS


def encode_result(value: Any, serializer: str) -> bytes:
    """MAC + serialised value; raises ``SerializationError`` when the value cannot be stored."""
    data = get_serializer(serializer).dumps(value)
    signer = get_settings().signer()
    mac = signer.sign(data) if signer is not None else bytes(MAC_SIZE)
    return mac + data


def decode_result(blob: bytes, serializer: str) -> Any:
    """Verify and load a stored result; a forged or altered one raises ``SpoolFileError``."""
    mac, data = blob[:MAC_SIZE], blob[MAC_SIZE:]
    signer = get_settings().signer()
    if signer is not None and not signer.verify(data, mac):
        raise BadSignature("the stored result's MAC does not verify")
    return get_serializer(serializer).loads(data)


def current_record(spool_dir: str, task_id: str) -> TaskRecord | None:
    """What is known of ``task_id`` now: its final record from the store; else "running" from
    the slot of the live process that runs it (merged into what the store has: enqueue time,
    last error); else the store's record (retrying), or None.

    None means the store knows nothing yet: the task is still pending (see
    ``spoolrt.spooldir.ids``), unknown, or results are off.
    """
    store = store_for(spool_dir)
    if store is None:
        return None
    record = store.get(task_id)
    if record is not None and record.status.is_final:
        return record
    slot = running_task(spool_dir, task_id)
    if slot is None:
        return record
    if record is not None and not supersedes(
        TaskStatus.RUNNING, slot.attempt, record.status, record.attempt
    ):
        return record
    base = record or TaskRecord(task_id, name=slot.name or None, spooler=spool_dir)
    return replace(
        base, status=TaskStatus.RUNNING, attempt=slot.attempt, started_at=slot.started_at,
        pid=slot.pid,
    )  # fmt: skip


def release_lost_run(envelope: Envelope, spool_dir: str) -> None:
    """A duplicate that was refused may be the rerun of a run killed after its outcome was
    stored: the dead process's slot still names that attempt; it is accounted for now."""
    board = board_for(spool_dir)
    if board is not None:
        board.release_interrupted(envelope.task_id, envelope.attempt)


def already_ran(envelope: Envelope, spool_dir: str) -> TaskRecord | None:
    """The store's record when this delivery must not run: the task already reached a final
    status (whatever attempt the file says), or this very attempt already ran and was
    rescheduled. A restored backup, a replayed copy or a remote resend after a timeout drops a
    file back whose run is over; the store is what remembers it.

    None (run it) when results are off for the task, the store cannot be read, or it has no
    such record: at-least-once stays the rule where nothing can tell.
    """
    if result_mode(envelope) == "off":
        return None
    store = store_for(spool_dir)
    if store is None:
        return None
    known = getattr(store, "known", None)  # a cheaper "no" where the store offers one
    try:
        record = (
            None
            if known is not None and not known(envelope.task_id)
            else store.get(envelope.task_id)
        )
    except ResultStoreError as exc:
        log.warning("cannot check %s for a duplicate delivery: %s", envelope.task_id, exc)
        return None
    if record is None:
        return None
    if record.status.is_final:
        return record
    if record.status is TaskStatus.RETRYING and record.attempt >= envelope.attempt:
        return record
    return None


class StoreObserver:
    """Records each run: "running" in this process's slot (``spoolrt.spooldir.slots``), the
    outcome in the spool directory's store, one write per task. Never raises into the
    dispatcher's bookkeeping: a store failure is logged and the task's own outcome stands.

    ``slots=False`` (eager mode, which runs a task inside its caller, with no spool file that
    could outlive a crash) writes no slot.
    """

    def __init__(self, *, slots: bool = True) -> None:
        self.slots = slots
        # The run in progress in this process: (task id, started at, dead slot it replaces,
        # the task's result mode, read once per run).
        self._run: tuple[str, float, SlotRecord | None, str] | None = None

    def started(self, envelope: Envelope, spool_dir: str) -> str | None:
        """Mark the run in this process's slot; report an earlier run of this same attempt
        that never finished (the file lock guarantees no other process runs it now, and the
        slot that still names it belongs to a process that is gone)."""
        self._run = None
        mode = result_mode(envelope)
        if mode == "off":
            return None
        now = time.time()
        board = board_for(spool_dir) if self.slots else None
        if board is None:
            self._run = (envelope.task_id, now, None, mode)
            return None
        dead = board.start(envelope.task_id, envelope.attempt, envelope.label, now)
        self._run = (envelope.task_id, now, dead, mode)
        if dead is None:
            return None
        return (
            f"attempt {envelope.attempt} never finished: its process (pid {dead.pid}) "
            "died while running it (harakiri, out-of-memory kill or crash)"
        )

    def finished(self, report: Any, spool_dir: str) -> None:
        envelope: Envelope | None = report.envelope
        run, self._run = self._run, None
        if envelope is None:
            return
        ours = run is not None and run[0] == envelope.task_id
        mode = run[3] if run is not None and ours else result_mode(envelope)
        if mode == "off":
            return
        started_at = run[1] if run is not None and ours else None
        try:
            # The outcome first, then the slot goes idle: a kill in between leaves a store
            # that knows the run is over, so the file dropped back by the restart is refused
            # as a duplicate (``already_ran``) instead of running its body a second time.
            self._record(report, envelope, spool_dir, started_at, mode)
        finally:
            board = board_for(spool_dir) if self.slots and ours else None
            if board is not None and run is not None:
                board.finish()
                if run[2] is not None:
                    board.consumed(run[2])
            # After the store knows: a reader between the two must find the task somewhere
            # (the index while its file is pending, the store once it ran), never nowhere.
            forget_id(spool_dir, envelope.task_id)

    def _record(
        self,
        report: Any,
        envelope: Envelope,
        spool_dir: str,
        started_at: float | None,
        mode: str,
    ) -> None:
        """The one store write of a run: retrying, or the final status with its result."""
        store = store_for(spool_dir)
        if store is None:
            return
        described = describe(envelope, spool_dir)
        if report.status is TaskStatus.RETRYING:
            store.retrying(
                envelope.task_id,
                envelope.attempt,
                report.next_at,
                error=report.error or None,
                traceback=report.traceback or None,
                task=described,
            )
            return
        if not report.status.is_final:
            return
        result, serializer, error = None, None, report.error or None
        if mode == "all" and report.status is TaskStatus.DONE and report.result is not None:
            try:  # None is what a missing result reads as: nothing to pickle and sign
                result = encode_result(report.result, envelope.serializer)
                serializer = envelope.serializer
            except Exception as exc:  # an unpicklable return value must not lose the status
                error = f"result not stored: {exc}"
        store.finished(
            envelope.task_id,
            report.status,
            result=result,
            result_serializer=serializer,
            error=error,
            traceback=report.traceback or None,
            reason=report.reason or None,
            ttl=envelope.options.get("ttl"),
            attempt=envelope.attempt,
            task=described,
            started_at=started_at,
            pid=os.getpid() if started_at is not None else None,
            enqueued_at=envelope.enqueued_at or None,
            scheduled_for=envelope.at,
        )
