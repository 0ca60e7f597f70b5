"""One SQLite connection per process for a store file: opened on first use, replaced after a
fork, and waiting out the write lock itself (see ``spoolrt.results.sqlite`` for why).

It also never lets a broken file hang its caller. A store file deleted or replaced under open
connections leaves them writing, without an error, into a file no one else reads; one
truncated to 0 bytes beside its ``-wal`` makes every new connection wait out ``busy_timeout``
(30 s) on "database is locked". So the connection compares the file's identity (device, inode)
and size with what it opened before every statement (one ``stat``, under a microsecond;
checking only every quarter second let a spooler finish dozens of tasks into a log that no
later reader saw, their statuses lost), and a caller kept busy longer than ``_STUCK_AFTER``
looks at the file: a replaced file is reopened, a truncated one is moved aside with its
``-wal`` and ``-shm`` (as ``<name>.broken-<time>*``, under a lock so one process does it) and a
fresh store made. Opening the file takes that lock shared, so no process opens a fresh file
between the moves of the old one and of its log. A file SQLite calls corrupt or not a database
is treated the same way once; if the fresh one fails too, the caller gets ``ResultStoreError``.
A file restored over a live store must come without the old ``-wal`` and ``-shm`` (SQLite
would replay the old log into it), as SQLite's own rules for copying a database say.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import logging
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
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_STUCK_AFTER = 1.0
#: The page size of a new store file (see ``_prepare``).
PAGE_SIZE = 2048

log = logging.getLogger("spoolrt")

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
        self._identity: tuple[int, int] | None = None

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
        stuck_at: float | None = None
        recovered = False
        while True:
            if self._pid != os.getpid():
                self._forget_inherited()
            with self._lock:
                conn = self._conn
                try:
                    if conn is not None:
                        conn = self._checked(conn)
                    if conn is None:
                        conn = self._conn = self._open()
                    return work(conn)
                except sqlite3.Error as exc:
                    if conn is not None and conn.in_transaction:
                        conn.rollback()
                    if _is_broken(exc) and not recovered:
                        recovered = True
                        self._recover(f"SQLite says {exc}", broken=True)
                        continue
                    if not _is_busy(exc):
                        raise ResultStoreError(f"result store {self.path}: {exc}") from exc
                    busy = exc
                now = time.monotonic()
                if stuck_at is None:
                    stuck_at = now + _STUCK_AFTER
                elif now >= stuck_at and not recovered and self._truncated():
                    recovered = True
                    self._recover("the file was truncated under its log", broken=True)
                    continue
            if deadline is None:
                deadline = now + self.busy_timeout
            elif now >= deadline:
                raise ResultStoreError(
                    f"result store {self.path} stayed locked for {self.busy_timeout:g} s: {busy}"
                ) from busy
            time.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    # --- a file that changed under the connection ---------------------------------------------

    def _checked(self, conn: sqlite3.Connection) -> sqlite3.Connection | None:
        """``conn`` if the file is still the one it opened, else None (after recovering)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._recover("the file was deleted", broken=False)
            return None
        if (st.st_dev, st.st_ino) != self._identity:
            self._recover("the file was replaced", broken=False)
            return None
        if st.st_size == 0:
            self._recover("the file was truncated to 0 bytes", broken=True)
            return None
        return conn

    def _truncated(self) -> bool:
        """An empty store file beside the log or shared memory of one that was not empty:
        SQLite waits on their locks forever (a store being created is never empty that long)."""
        try:
            if os.stat(self.path).st_size != 0:
                return False
        except OSError:
            return False
        return any(os.path.exists(self.path + suffix) for suffix in ("-wal", "-shm"))

    def _recover(self, why: str, *, broken: bool) -> None:
        """Drop this process's connection; when the file itself is broken, move it (and its
        log) aside, once across processes, so the next open makes a fresh store."""
        conn, self._conn, self._identity = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        log.warning("result store %s: %s; opening a fresh one", self.path, why)
        if not broken:
            return
        try:
            with open(self.path + ".recover", "a") as guard:
                fcntl.flock(guard, fcntl.LOCK_EX)
                try:
                    st = os.stat(self.path)
                except FileNotFoundError:
                    return  # another process moved it aside; the next open makes a fresh one
                if st.st_size > 0 and not why.startswith("SQLite"):
                    return  # another process already made a fresh one
                aside = f"{self.path}.broken-{int(time.time() * 1000)}"
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(self.path + suffix, aside + suffix)
        except OSError as exc:
            raise ResultStoreError(f"cannot recover the result store {self.path}: {exc}") from exc

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
            guard = open(self.path + ".recover", "a")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ResultStoreError(f"cannot create the result store {self.path}: {exc}") from exc
        with guard:
            # Shared: never while another process moves a broken file and its log aside.
            fcntl.flock(guard, fcntl.LOCK_SH)
            try:
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            except OSError as exc:
                raise ResultStoreError(
                    f"cannot create the result store {self.path}: {exc}"
                ) from exc
            conn = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            try:
                self._prepare(conn)
                st = os.stat(self.path)
            except BaseException:
                conn.close()
                raise
        self._identity = (st.st_dev, st.st_ino)
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        # Only a file without pages yet takes it (SQLite ignores it afterwards, so stores made
        # before keep theirs): every commit copies whole pages into the log, and the one row a
        # task adds touches two (table, task-id index). 2 KiB pages made that write 9.8 -> 8.9
        # us on tmpfs and 16.2 -> 13.8 on ext4; 1 KiB gained little more and would split a
        # row with a traceback over more overflow pages.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
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


def _is_broken(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    message = str(exc)
    return "malformed" in message or "not a database" in message


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    message = str(exc)
    return "database is locked" in message or "database table is locked" in message
