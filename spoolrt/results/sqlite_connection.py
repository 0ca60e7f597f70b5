"""One SQLite connection per process for a store file: opened on first use, replaced after a
fork, and waiting out the write lock itself (see ``spoolrt.results.sqlite`` for why)."""

from __future__ import annotations

import builtins
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from spoolrt.core.errors import ResultStoreError
from spoolrt.results.sqlite_schema import SCHEMA, SCHEMA_VERSION

_T = TypeVar("_T")

_FIRST_BACKOFF = 50e-6
_MAX_BACKOFF = 2e-3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

# Connections inherited across fork(): never used, never closed in the child (see module doc).
_inherited_connections: list[sqlite3.Connection] = []


class SQLiteConnection:
    """The connection of this process to the store file at ``path``, shared by its threads.

    ``busy_timeout`` bounds the wait for the write lock. ``on_fork`` is called in a forked
    child when it first uses the connection, after the parent's connection was parked.
    """

    def __init__(
        self, path: str, busy_timeout: float, on_fork: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._on_fork = on_fork
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._pid != os.getpid():
            self._forget_inherited()
            return
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def write(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement as its own transaction; return how many rows it changed."""
        return self.call(lambda conn: conn.execute(sql, params).rowcount)

    def read(self, sql: str, params: Sequence[Any]) -> builtins.list[Any]:
        """Run one query and fetch every row before letting go, so no read stays open."""
        return self.call(lambda conn: conn.execute(sql, params).fetchall())

    def call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on this process's connection, waiting out the write lock if busy."""
        backoff = _FIRST_BACKOFF
        deadline: float | None = None
        while True:
            if self._pid != os.getpid():
                self._forget_inherited()
            with self._lock:
                conn = self._conn
                try:
                    if conn is None:
                        conn = self._conn = self._open()
                    return work(conn)
                except sqlite3.Error as exc:
                    if conn is not None and conn.in_transaction:
                        conn.rollback()
                    if not _is_busy(exc):
                        raise ResultStoreError(f"result store {self.path}: {exc}") from exc
                    busy = exc
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.busy_timeout
            elif now >= deadline:
                raise ResultStoreError(
                    f"result store {self.path} stayed locked for {self.busy_timeout:g} s: {busy}"
                ) from busy
            time.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _forget_inherited(self) -> None:
        """In a forked child: park the parent's connection and lock, start afresh."""
        if self._conn is not None:
            _inherited_connections.append(self._conn)
        self._conn = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        if self._on_fork is not None:
            self._on_fork()

    def _open(self) -> sqlite3.Connection:
        """Open and prepare a connection; raises sqlite3 busy errors for ``_call`` to retry."""
        if sqlite3.sqlite_version_info < (3, 24, 0):
            raise ResultStoreError(
                f"the SQLite result store needs SQLite >= 3.24 (upsert); "
                f"this Python has {sqlite3.sqlite_version}"
            )
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        except OSError as exc:
            raise ResultStoreError(f"cannot create the result store {self.path}: {exc}") from exc
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise ResultStoreError(
                    f"the result store {self.path} cannot use WAL mode (got {mode!r}); "
                    "it needs a local filesystem, not a network one"
                )
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise ResultStoreError(
                f"the result store {self.path} has schema {version}, written by a newer spoolrt "
                f"(this one knows {SCHEMA_VERSION})"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    message = str(exc)
    return "database is locked" in message or "database table is locked" in message
