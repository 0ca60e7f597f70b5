"""Group commit for the SQLite store: finished records appended to a per-process journal with
one ``write`` and merged into SQLite in batches, so spooler processes do not queue on the
store's write lock once per task.

Files. Each process appends to its own ``<store>.journals/<host>-<pid>-<random>-<gen>.log``
(format: ``spoolrt.results.journal_format``), opened ``O_APPEND`` and held under an exclusive
``flock`` for the process's life. The lock is the liveness test: the kernel drops it when the
process exits, zombie or not, so whoever then gets it may merge the file. A file is created
under a hidden temporary name, locked, then renamed, so no one can take an unlocked live
journal for a dead one. No fsync: like the store's own ``synchronous=NORMAL`` commit, a
record survives a kill of the process, not a power cut.

Exactly once. The table ``spoolrt_journal`` keeps, per journal file, the offset up to which
its records are in SQLite; every merge (by the owner, by a reader, of a dead file) reads and
advances it in the same transaction as the records. So a record is applied once, and a
record deleted or purged after its merge is never brought back by a later one.

Readers. Every process keeps a view of the other processes' files (one ``pread`` per file per
look, from where it last read or from its merged offset, whichever is further) indexing the
task ids of their records. A point write of a task first asks whether an unmerged record names
it and, if so, merges that file first; a point read takes the record from the file and applies
it to the row itself (``point_read``), so readers never take the write lock from the spoolers;
queries and counts merge everything visible first. The directory is listed again when its
mtime changes, and also while that change is so recent that a file created in the same clock
tick would not move the mtime again (``journal_peers.PeerView``).

Rotation. The owner merges after ``batch`` records or ``delay`` seconds (at its next record,
from the schedule tick, or on ``close``); past ``rotate_bytes`` it opens the next file and
unlinks the old one, all of whose records are merged by then.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from spoolrt.core.errors import ResultStoreError
from spoolrt.results.journal_format import encode
from spoolrt.results.journal_peers import MERGED_SQL, Peer, PeerView, Record, merge, offsets_sql
from spoolrt.results.journal_upkeep import forget_gone_files, sweep_temporaries
from spoolrt.results.sqlite_connection import SQLiteConnection
from spoolrt.results.sqlite_schema import (
    FINISHED_SQL,
    PEEK_SQL,
    ROW_SQL,
    STATUS_BY_VALUE,
    is_final_row,
)
from spoolrt.spooldir.presence import HOST

#: Records a process merges in one transaction (64: 3.9-4.7 us a record, against 10-15 alone).
BATCH = 64
#: Seconds a record may wait in its journal before its owner merges it (readers see it anyway).
DELAY = 0.5
#: A journal file past this size is replaced by a new one at its next merge.
ROTATE_BYTES = 1 << 20

log = logging.getLogger("spoolrt")
_journals: weakref.WeakSet[Journal] = weakref.WeakSet()


class Journal:
    """The group-commit journal of one store file in one process (threads share it)."""

    _fd: int
    _view: PeerView

    def __init__(
        self,
        db: SQLiteConnection,
        directory: str,
        *,
        batch: int = BATCH,
        delay: float = DELAY,
        rotate_bytes: int = ROTATE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db, self.directory = db, directory
        self.batch, self.delay, self.rotate_bytes = batch, delay, rotate_bytes
        self._clock = clock
        self._lock = threading.RLock()
        self._pid = 0
        self._reset()
        _journals.add(self)

    def _reset(self) -> None:
        """Start afresh in this process, leaving a parent's files and locks to the parent."""
        if getattr(self, "_fd", -1) >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        if hasattr(self, "_view"):
            self._view.close()
        self._pid = os.getpid()
        self._prefix = f"{HOST}-{self._pid}-{secrets.token_hex(4)}-"
        self._gen = 0
        self._fd = -1
        self._name = ""
        self._size = 0
        self._pending: list[Record] = []
        self._pending_ids: set[str] = set()
        self._first_at = 0.0
        self._view = PeerView(self.directory, self._prefix, self._merged_offsets)
        self._swept = False
        self._unknown: str | None = None

    def _here(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    # --- the owner's side ---------------------------------------------------------------------

    def finish(self, params: Sequence[Any]) -> bool:
        """``finished`` with group commit: journal the record unless the task is final
        already (the first final write wins); False then, as the plain upsert says.

        Right after ``unknown(task_id)`` (the dispatcher's duplicate check found nothing) it
        does not look again. Should another process finish the same task in between (two
        copies of it running at once), both records are journaled, both calls return True,
        and the one merged first is the final record: still one, and never changed after.
        """
        task_id = params[0]
        with self._lock:
            self._here()
            if self._unknown != task_id:  # else the duplicate check just found nothing
                if self.holds(task_id):
                    return False
                row = self.db.read(PEEK_SQL, (task_id,))
                if row and STATUS_BY_VALUE[row[0][0]].is_final:
                    return False
            self._unknown = None
            try:
                self.append(params)
            except (OSError, ValueError) as exc:  # a full disk, a value marshal refuses...
                log.warning("journal append failed (%s); writing %s directly", exc, task_id)
                self.db.write(FINISHED_SQL, params)
            return True

    def append(self, params: Sequence[Any]) -> None:
        """Journal one finished record (``FINISHED_SQL`` parameters); merge when a batch is
        due. Raises ``OSError`` when the record could not be written whole (nothing of it
        stays in the file): the caller then writes it to SQLite itself."""
        data = encode(params)
        with self._lock:
            self._here()
            if self._fd < 0:
                self._open()
            start = self._size
            try:
                written = os.write(self._fd, data)
            except OSError:
                os.ftruncate(self._fd, start)
                raise
            if written != len(data):
                os.ftruncate(self._fd, start)
                raise OSError(f"short write to the journal {self._name}")
            self._size = start + written
            if not self._pending:
                self._first_at = self._clock()
            self._pending.append((start, self._size, params))
            self._pending_ids.add(params[0])
            if len(self._pending) >= self.batch or self._clock() - self._first_at >= self.delay:
                self._merge_own()

    def _open(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        name = f"{self._prefix}{self._gen}.log"
        temporary = os.path.join(self.directory, f".{name}.tmp")
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(temporary, os.path.join(self.directory, name))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._fd, self._name, self._size = fd, name, 0

    def _merge_own(self) -> None:
        if self._pending:
            batch = [(self._name, self._pending)]
            self.db.call(lambda conn: merge(conn, batch))
            self._pending, self._pending_ids = [], set()
        if self._fd >= 0 and self._size >= self.rotate_bytes:
            self._retire()
            self._gen += 1

    def _retire(self) -> None:
        """Drop this process's (fully merged) file; the next record opens the next one."""
        fd, self._fd = self._fd, -1
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.directory, self._name))
        os.close(fd)

    def flush(self, *, due_only: bool = False) -> None:
        """Merge this process's records (only when ``delay`` passed, if ``due_only``) and any
        journal a dead process left."""
        with self._lock:
            self._here()
            if self._pending and (not due_only or self._clock() - self._first_at >= self.delay):
                self._merge_own()
            self._refresh()
            self._merge_dead()

    def upkeep(self, now: float) -> None:
        """Drop what group commit left that nothing needs (``spoolrt.results.journal_upkeep``):
        rows of journal files long gone, and empty temporaries of killed processes."""
        with self._lock:
            self._here()
            self.db.call(lambda conn: forget_gone_files(conn, self.directory, now))
            sweep_temporaries(self.directory)

    def close(self) -> None:
        """Merge what this process journaled and drop its file and its view of the others."""
        with self._lock:
            if self._pid != os.getpid():
                self._reset()
                return
            self._merge_own()
            if self._fd >= 0:
                self._retire()
                self._gen += 1
            self._view.close()

    # --- every reader's side ------------------------------------------------------------------

    def _refresh(self) -> None:
        try:
            self._view.refresh()
        except OSError as exc:  # unreadable journals: an answer without them could be wrong
            raise ResultStoreError(f"cannot read the journals in {self.directory}: {exc}") from exc
        if not self._swept:
            self._swept = True  # the first look in a process also takes over dead journals
            self._merge_dead()

    def _merged_offsets(self, names: list[str]) -> dict[str, int]:
        return dict(self.db.read(offsets_sql(len(names)), names))

    def _unmerged(self, peers: Sequence[Peer], task_id: str | None) -> list[Peer]:
        """Of ``peers``, those holding records (of ``task_id``, or any) past their merged
        offset; forgets the ids the store already has."""
        if not peers:
            return []
        merged = self._merged_offsets([p.name for p in peers])
        found = []
        for peer in peers:
            done = merged.get(peer.name, 0)
            peer.merged = max(peer.merged, done)
            if done >= peer.offset:
                peer.forget()
                continue
            if task_id is None or peer.ids.get(task_id, 0) > done:
                found.append(peer)
        return found

    def _merge_peers(self, peers: Sequence[Peer]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            batches = []
            for peer in peers:
                row = conn.execute(MERGED_SQL, (peer.name,)).fetchone()
                batches.append((peer.name, peer.records(row[0] if row is not None else 0)))
            merge(conn, batches)

        self.db.call(work)
        for peer in peers:
            peer.forget()

    def _merge_dead(self) -> None:
        for peer in list(self._view.peers.values()):
            try:
                fcntl.flock(peer.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its process is alive
            peer.read()
            self._merge_peers([peer])
            with contextlib.suppress(OSError):
                os.unlink(peer.path)
            self._view.drop(peer.name)

    def unknown(self, task_id: str) -> None:
        """The store found nothing of ``task_id``, journaled or in SQLite, just now."""
        self._unknown = task_id

    def holds(self, task_id: str) -> bool:
        """Whether a record of ``task_id`` is journaled and not merged yet (a final status)."""
        with self._lock:
            self._here()
            if task_id in self._pending_ids:
                return True
            self._refresh()
            peers = self._view.holding(task_id)
            return bool(peers) and bool(self._unmerged(peers, task_id))

    def point_read(self, task_id: str) -> tuple[Sequence[Any] | None, Sequence[Any] | None]:
        """``task_id``'s row in SQLite (``ROW_SQL``, None when it has none) and the
        ``FINISHED_SQL`` parameters of an unmerged record of it in another process's journal
        (None when there is none), as of one SQLite snapshot; see ``finished_over``.

        Nothing is merged: a status read must not take the write lock from the spoolers. This
        process's own records are merged first instead, as ``settle`` does (its own batch).
        Should two journals hold an unmerged final record of the task (two copies ran at
        once), the first found is shown until a merge decides which one stays.
        """
        with self._lock:
            self._here()
            self._unknown = None
            if task_id in self._pending_ids:
                self._merge_own()
            row = self.db.call(lambda conn: conn.execute(ROW_SQL, (task_id,)).fetchone())
            if row is not None and is_final_row(row):
                return row, None  # the first final write wins: no journal can change it
            # Read again after looking at the journals: one may have been merged (a dead
            # process's, by this look) and dropped meanwhile, taking the record out of view.
            self._refresh()
            peers = self._view.holding(task_id)
            if not peers:
                return self.db.call(lambda conn: conn.execute(ROW_SQL, (task_id,)).fetchone()), None
            offsets = offsets_sql(len(peers))

            def read(conn: sqlite3.Connection) -> tuple[Any, dict[str, int]]:
                conn.execute("BEGIN")  # one snapshot: offsets and row agree
                try:
                    merged = dict(conn.execute(offsets, [p.name for p in peers]).fetchall())
                    return conn.execute(ROW_SQL, (task_id,)).fetchone(), merged
                finally:
                    conn.execute("COMMIT")

            row, merged = self.db.call(read)
            for peer in peers:
                peer.merged = max(peer.merged, merged.get(peer.name, 0))
                params = peer.record_of(task_id) if peer.may_hold(task_id) else None
                if params:
                    return row, params
            return row, None

    def settle(self, task_id: str) -> None:
        """Merge the journals that hold an unmerged record of ``task_id``: before a point read
        or write of it, so SQLite's answer is the whole truth."""
        with self._lock:
            self._here()
            self._unknown = None
            if task_id in self._pending_ids:
                self._merge_own()
            self._refresh()
            peers = self._view.holding(task_id)
            hits = self._unmerged(peers, task_id) if peers else []
            if hits:
                self._merge_peers(hits)

    def settle_all(self) -> None:
        """Merge every journaled record this process can see: before a query or a count."""
        with self._lock:
            self._here()
            self._unknown = None
            self._merge_own()
            self._refresh()
            behind = self._unmerged(list(self._view.peers.values()), None)
            if behind:
                self._merge_peers(behind)


def _new_locks_in_child() -> None:
    """A lock held by another thread of the parent at fork would never be released here."""
    for journal in list(_journals):
        journal._lock = threading.RLock()


os.register_at_fork(after_in_child=_new_locks_in_child)


@atexit.register
def _merge_at_exit() -> None:
    """A process that exits normally leaves no journal behind for others to merge."""
    for journal in list(_journals):
        try:
            journal.close()
        except Exception as exc:  # never fail an exit; a dead journal is merged by the next
            log.debug("journal %s not merged at exit: %s", journal.directory, exc)
