"""Applying journal records to SQLite exactly once, reading another process's journal file
incrementally, and the view of a directory of them (see ``spoolrt.results.journal``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from spoolrt.results.journal_format import decode, scan, task_id_of
from spoolrt.results.sqlite_schema import FINISHED_SQL, JOURNAL_TABLE

MERGED_SQL = f"SELECT merged_to FROM {JOURNAL_TABLE} WHERE name = ?"
ADVANCE_SQL = (
    f"INSERT INTO {JOURNAL_TABLE} (name, merged_to, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET merged_to = max(merged_to, excluded.merged_to), "
    "updated_at = excluded.updated_at"
)
_READ_CHUNK = 1 << 20


def offsets_sql(count: int) -> str:
    """The merged offsets of ``count`` journal files, by name."""
    return f"SELECT name, merged_to FROM {JOURNAL_TABLE} WHERE name IN ({', '.join('?' * count)})"


#: Seconds after a directory's mtime before a listing is trusted to show every file created
#: since: file times come from a coarse clock (one tick is 1-10 ms on Linux).
_RELIST_MARGIN = 0.02

log = logging.getLogger("spoolrt")

Record = tuple[int, int, Sequence[Any]]  # start offset, end offset, FINISHED_SQL parameters


def merge(conn: sqlite3.Connection, batches: Sequence[tuple[str, Sequence[Record]]]) -> None:
    """Apply each journal file's records that are past its merged offset, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        now = time.time()
        for name, records in batches:
            if not records:
                continue
            row = conn.execute(MERGED_SQL, (name,)).fetchone()
            done = row[0] if row is not None else 0
            todo = [params for start, _end, params in records if start >= done and params]
            if todo:
                conn.executemany(FINISHED_SQL, todo)
            conn.execute(ADVANCE_SQL, (name, records[-1][1], now))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


class Peer:
    """Another process's journal file as this process last read it."""

    __slots__ = ("fd", "ids", "merged", "name", "offset", "path", "starts")

    def __init__(self, path: str, name: str, fd: int) -> None:
        self.path, self.name, self.fd = path, name, fd
        self.offset = 0
        self.ids: dict[str, int] = {}  # task id -> end offset of its latest record here
        self.starts: dict[str, int] = {}  # task id -> start offset of that record
        # Where SQLite had it merged to when last asked: offsets only grow, so a record ending
        # at or before this is merged without asking again.
        self.merged = 0

    def read(self) -> None:
        """Index the records written since the last read. Merged ones are skipped unread: a
        merged offset is a record boundary, and SQLite answers for what lies before it."""
        if self.merged > self.offset:
            self.offset = self.merged
        while True:
            data = os.pread(self.fd, _READ_CHUNK, self.offset)
            if not data:
                return
            end = self.offset
            for start, end, body in scan(data, self.offset):
                task_id = task_id_of(body)
                self.ids[task_id], self.starts[task_id] = end, start
            if end == self.offset:
                return  # an incomplete (still being written) or torn record
            self.offset = end
            if len(data) < _READ_CHUNK:
                return

    def may_hold(self, task_id: str) -> bool:
        """Whether a record of ``task_id`` read here may still be unmerged."""
        return self.ids.get(task_id, 0) > self.merged

    def forget(self) -> None:
        """Every record read so far is merged: nothing here to look up any more."""
        self.ids.clear()
        self.starts.clear()

    def record_of(self, task_id: str) -> Sequence[Any] | None:
        """The ``FINISHED_SQL`` parameters of ``task_id``'s latest record read here, or None."""
        start = self.starts.get(task_id)
        if start is None:
            return None
        found = self.records(start, self.ids[task_id])
        return found[0][2] if found and found[0][2] else None

    def records(self, start: int, end: int | None = None) -> list[Record]:
        """The verified records from ``start`` up to ``end`` (default: what this view has
        read)."""
        end = self.offset if end is None else end
        if start >= end:
            return []
        data = os.pread(self.fd, end - start, start)
        found: list[Record] = []
        for s, e, body in scan(data, start):
            params = decode(body)
            if params is None:  # not a record a store wrote: never applied, logged
                log.warning("journal %s: a record at %d is not a store's, ignored", self.path, s)
                params = ()
            found.append((s, e, params))
        return found


class PeerView:
    """The other processes' journal files in one directory, as this process last read them:
    listed again when the directory's mtime changes (and while that change is so recent that
    a file created in the same clock tick would not move it again), each read on from where
    it was."""

    def __init__(
        self,
        directory: str,
        own_prefix: str,
        merged_offsets: Callable[[list[str]], dict[str, int]] | None = None,
    ) -> None:
        self.directory, self.own_prefix = directory, own_prefix
        # Asked once for the files a listing finds new, so that a fresh reader (a CLI command,
        # a dashboard request) skips what is merged instead of reading up to 1 MiB of each.
        self.merged_offsets = merged_offsets
        self.peers: dict[str, Peer] = {}
        self._mtime = -1
        self._listed_at = 0.0

    def refresh(self) -> None:
        """Read what the journals gained since the last look. Raises ``OSError`` when one
        cannot be read (an answer without it could be wrong)."""
        try:
            st = os.stat(self.directory)
        except (FileNotFoundError, NotADirectoryError):
            # Nothing journaled yet. Made now, so that later looks are a plain stat, not a
            # raised exception each (a store without group commit looks twice a task).
            with contextlib.suppress(OSError):
                os.mkdir(self.directory, 0o700)
            return
        if st.st_mtime_ns != self._mtime or self._listed_at < st.st_mtime_ns / 1e9 + _RELIST_MARGIN:
            self._relist(st.st_mtime_ns)
        for peer in self.peers.values():
            peer.read()

    def holding(self, task_id: str) -> list[Peer]:
        """The journals that may hold an unmerged record of ``task_id``."""
        return [p for p in self.peers.values() if p.may_hold(task_id)]

    def drop(self, name: str) -> None:
        os.close(self.peers.pop(name).fd)

    def close(self) -> None:
        for peer in self.peers.values():
            with contextlib.suppress(OSError):
                os.close(peer.fd)
        self.peers, self._mtime = {}, -1

    def _relist(self, mtime: int) -> None:
        self._mtime, self._listed_at = mtime, time.time()
        try:
            names = {n for n in os.listdir(self.directory) if n.endswith(".log")}
        except FileNotFoundError:
            names = set()
        names = {n for n in names if not n.startswith(self.own_prefix)}  # not this process's
        for name in set(self.peers) - names:
            self.drop(name)
        new = []
        for name in names - set(self.peers):
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            self.peers[name] = Peer(path, name, fd)
            new.append(name)
        if new and self.merged_offsets is not None:
            for name, merged in self.merged_offsets(new).items():
                self.peers[name].merged = merged
