"""The changes the faces make, shared so ``spoolrt retry`` and the dashboard's retry button are
one code path: a kept (failed or quarantined) task goes back as attempt 1 from its own stored,
signed file, never from a call rebuilt out of what a page displayed.
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
from spoolrt.observe.scan import Entry
from spoolrt.results import TaskRecord
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
