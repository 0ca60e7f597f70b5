"""The changes the faces make, shared so each is one code path whoever asks for it.

``requeue`` (``spoolrt retry``, the dashboard's retry button): a kept (failed or quarantined)
task goes back as attempt 1 from its own stored, signed file, never from a call rebuilt out of
what a page displayed. ``cancel`` (``spoolrt cancel``, the cancel button): a waiting task is
taken away under the spooler's own file lock and recorded ``cancelled`` (the primitive lives
below, in ``spoolrt.results.cancelling``, for ``handle.cancel()`` too). ``purge_entry``
(``spoolrt purge``, the dashboard's purge): a file deleted for good, never a running one.
``purge_history`` (``spoolrt purge --status done``, the dashboard's purge of ``done``,
``skipped`` or ``cancelled``): the records of finished tasks that have no file any more,
deleted from the store before they expire (``ResultStore.purge``), counted first by
``count_history`` for the confirmation.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

from spoolrt.core.codec.envelope import decode_packet, encode_body, spool_vars
from spoolrt.core.codec.packet import pack, unpack
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.observe.history import name_matches, store_of
from spoolrt.observe.scan import KEPT, Entry, State
from spoolrt.results import ResultStore, TaskRecord
from spoolrt.results.cancelling import cancel_file
from spoolrt.spooldir.cancel import NOT_WAITING, CancelResult, refused_running, take
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


CANCELLABLE = frozenset({State.PENDING, State.SCHEDULED})


def cancel(entry: Entry, *, who: str | None, via: str) -> CancelResult:
    """Take a pending, scheduled or parked task away before it runs, record it ``cancelled``
    and audit it as done by ``who`` (None: the OS user) through ``via`` (``cli``,
    ``dashboard``): ``spoolrt.results.cancelling``, the one primitive ``handle.cancel()`` uses
    too, which writes the audit line. A false result says why not (a running task is refused);
    the entry is then left as it was, and nothing is audited."""
    if entry.state is State.RUNNING:
        return refused_running(entry.task_id, entry.path)
    if entry.state not in CANCELLABLE:
        why = f"it is {entry.state.value}: only pending or scheduled tasks can be cancelled"
        return CancelResult(NOT_WAITING, why, entry.task_id, entry.path)
    return cancel_file(
        entry.spool_dir, entry.path, task_id=entry.task_id, name=entry.label, who=who, via=via
    )


#: What a purge may remove: waiting files (never a running one) and kept ones.
PURGEABLE = frozenset({State.PENDING, State.SCHEDULED, *KEPT})


def purge_entry(entry: Entry) -> str:
    """Delete one task file for good (``spoolrt purge``, the dashboard's purge); returns ""
    when it went, else why not (the file is then left as it was).

    A waiting file is taken under the spooler's lock as ``cancel`` takes it (a running one is
    refused) and its store record is dropped: nothing will ever finish it. A kept file goes with
    its JSON record beside it (the store keeps its final record: it did fail)."""
    if entry.state not in PURGEABLE:
        return f"it is {entry.state.value}: running tasks are never purged"
    if entry.state in KEPT:
        remove_kept(entry.path)
        return ""
    taken = take(os.path.realpath(entry.spool_dir), entry.path, entry.task_id)
    if not taken:
        return taken.reason
    if entry.task_id:
        _forget(entry.spool_dir, entry.task_id)
    return ""


def _forget(spool_dir: str, task_id: str) -> None:
    with store_of(spool_dir) as store:
        if store is None:
            return
        try:
            store.delete(task_id)
        except ResultStoreError:
            pass


#: What a purge of history takes from the store: the final statuses that leave no file behind
#: (failed and quarantined tasks are purged with their kept files, waiting ones with theirs).
HISTORY_PURGEABLE = (TaskStatus.DONE, TaskStatus.SKIPPED, TaskStatus.CANCELLED)
#: Records one ``query`` page reads while ``count_history`` counts a time window.
_COUNT_PAGE = 10_000


@dataclass(frozen=True)
class HistoryFilter:
    """Which finished records a purge of history takes: one ``status`` of
    ``HISTORY_PURGEABLE``, a ``task`` filter as the list's (the exact name, its qualname, or a
    glob of either; "" for all) and a window on when they finished, ``[since, before)``."""

    status: TaskStatus
    task: str = ""
    since: float | None = None
    before: float | None = None

    def __post_init__(self) -> None:
        if self.status not in HISTORY_PURGEABLE:
            allowed = ", ".join(s.value for s in HISTORY_PURGEABLE)
            raise ValueError(f"a purge of history takes {allowed}, not {self.status.value!r}")

    def described(self) -> dict[str, object]:
        """The filter as an audit line names it (unset parts left out)."""
        found = {"status": self.status.value, "task": self.task, "since": self.since,
                 "before": self.before}  # fmt: skip
        return {k: v for k, v in found.items() if v}


def _names(store: ResultStore, task: str) -> list[str | None]:
    """The exact names a ``task`` filter matches in ``store`` ([None]: no filter, all names)."""
    if not task:
        return [None]
    found: list[str | None] = []
    found += sorted(n for n in store.counts_by_name() if n is not None and name_matches(n, task))
    return found


def count_history(store: ResultStore, chosen: HistoryFilter) -> int:
    """How many records ``purge_history`` would delete now (a store may scan)."""
    names = _names(store, chosen.task)
    if chosen.since is None and chosen.before is None:
        if names == [None]:
            return store.counts()[chosen.status]
        by_name = store.counts_by_name()
        return sum(by_name.get(n, {}).get(chosen.status, 0) for n in names)
    total = 0
    for name in names:
        offset = 0
        while True:
            page = store.query(chosen.status, name, chosen.since, chosen.before,
                               limit=_COUNT_PAGE, offset=offset)  # fmt: skip
            total += len(page)
            offset += len(page)
            if len(page) < _COUNT_PAGE:
                break
    return total


def purge_history(store: ResultStore, chosen: HistoryFilter) -> int:
    """Delete the records ``chosen`` matches from ``store``; returns how many went."""
    return sum(
        store.purge(chosen.status, name=name, since=chosen.since, before=chosen.before)
        for name in _names(store, chosen.task)
    )
