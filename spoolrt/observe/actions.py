"""The changes the faces make, shared so each is one code path whoever asks for it.

``requeue`` (``spoolrt retry``, the dashboard's retry button): a kept (failed or quarantined)
task goes back as attempt 1 from its own stored, signed file, never from a call rebuilt out of
what a page displayed. ``cancel`` (``spoolrt cancel``, the cancel button): a waiting task is
taken away under the spooler's own file lock.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from spoolrt.core.codec.envelope import decode_packet, encode_body, spool_vars
from spoolrt.core.codec.packet import pack, unpack
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.observe.history import store_of
from spoolrt.observe.scan import Entry, State
from spoolrt.results import TaskDescription, TaskRecord
from spoolrt.results.tracking import store_for
from spoolrt.spooldir.claim import claim
from spoolrt.spooldir.layout import remove_kept, write_spool_file
from spoolrt.spooldir.regular import read_regular


def requeue(entry: Entry, signer: Signer | None) -> str:
    """Put a kept task back as attempt 1; returns the new spool file's path.

    The stored file is verified and decoded first and raises ``SpoolFileError`` (nothing
    changed) when it does not verify or decode; it is re-signed with the current key.
    """
    packet = unpack(read_regular(entry.path))
    envelope = decode_packet(packet, signer)
    spool_dir = os.path.realpath(entry.spool_dir)
    fresh = replace(envelope, attempt=1, at=None, spooler=spool_dir)
    requeued(spool_dir, fresh.task_id, fresh.label, fresh.max_attempts)
    data = pack(spool_vars(fresh), encode_body(fresh, signer))
    new_path = write_spool_file(spool_dir, data, priority=fresh.priority)
    remove_kept(entry.path)
    return new_path


def requeued(spool_dir: str, task_id: str, name: str, max_attempts: int) -> None:
    """A kept task was re-queued under its own id: its final record must go (a final record
    never changes) and a queued one take its place, so handles see the new run. The store only
    adds to the files: when it fails, the re-queued file still runs."""
    if not task_id:
        return
    with store_of(spool_dir) as store:
        if store is None:
            return
        try:
            store.delete(task_id)
            store.enqueued(
                TaskRecord(
                    task_id,
                    name=name or None,
                    spooler=spool_dir,
                    status=TaskStatus.QUEUED,
                    max_attempts=max_attempts,
                    enqueued_at=time.time(),
                )
            )
        except ResultStoreError:
            pass


#: The ``reason`` a cancelled task is recorded with (status ``skipped``: final, never run).
CANCELLED = "cancelled"
CANCELLABLE = frozenset({State.PENDING, State.SCHEDULED})


def cancel(entry: Entry) -> str:
    """Take a pending, scheduled or parked task away before it runs; returns "" when done,
    else why not (the entry is then left as it was).

    The file is locked as a spooler locks it (``spooldir.claim``) and unlinked while the lock
    is held, so a spooler can neither start it meanwhile nor be running it: a running task is
    refused. The store records it as ``skipped`` with reason ``cancelled`` (final).
    """
    if entry.state not in CANCELLABLE:
        return f"it is {entry.state.value}: only pending or scheduled tasks can be cancelled"
    taken = claim(entry.path, due_by=None)
    if taken is None:
        return "it is running (its file is locked by a spooler) or has just finished"
    try:
        os.unlink(entry.path)
    finally:
        taken.release()
    # The process's own store, as the dispatcher would write it (created if need be, none with
    # results off): a cancelled task must read as final from its handle.
    store = store_for(os.path.realpath(entry.spool_dir)) if entry.task_id else None
    if store is not None:
        try:
            store.finished(
                entry.task_id,
                TaskStatus.SKIPPED,
                reason=CANCELLED,
                error="cancelled before it ran",
                task=TaskDescription(name=entry.label or None, spooler=entry.spool_dir),
            )
        except ResultStoreError:
            pass
    return ""
