"""Applying journal records to SQLite exactly once, and reading another process's journal
file incrementally (see ``spoolrt.results.journal``)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Sequence
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

    __slots__ = ("fd", "ids", "name", "offset", "path")

    def __init__(self, path: str, name: str, fd: int) -> None:
        self.path, self.name, self.fd = path, name, fd
        self.offset = 0
        self.ids: dict[str, int] = {}  # task id -> end offset of its latest record here

    def read(self) -> None:
        while True:
            data = os.pread(self.fd, _READ_CHUNK, self.offset)
            if not data:
                return
            end = self.offset
            for _start, end, body in scan(data, self.offset):
                self.ids[task_id_of(body)] = end
            if end == self.offset:
                return  # an incomplete (still being written) or torn record
            self.offset = end
            if len(data) < _READ_CHUNK:
                return

    def records(self, start: int) -> list[Record]:
        """The verified records from ``start`` up to what this view has read."""
        if start >= self.offset:
            return []
        data = os.pread(self.fd, self.offset - start, start)
        found: list[Record] = []
        for s, e, body in scan(data, start):
            params = decode(body)
            if params is None:  # not a record a store wrote: never applied, logged
                log.warning("journal %s: a record at %d is not a store's, ignored", self.path, s)
                params = ()
            found.append((s, e, params))
        return found
