"""The SQLite result store shared by many processes: no lost writes, no ``database is locked``.

These tests fork real processes (the store is meant for uWSGI workers and spoolers, which are
forked from a master that may already hold the store object) and hold real SQLite locks. The
file-level tests (permissions, WAL, schema version, purging) live here too because they are
about sharing one file between processes.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import stat
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from spoolrt.core.outcomes import TaskStatus
from spoolrt.results import ResultStoreError, SQLiteResultStore, TaskRecord, supersedes
from spoolrt.results.sqlite_schema import SCHEMA_VERSION

FORK = multiprocessing.get_context("fork")
WRITERS = 4
TASKS_PER_WRITER = 500
READERS = 2
FINALS = (TaskStatus.DONE, TaskStatus.SKIPPED, TaskStatus.FAILED)


def _task_id(writer: int, n: int) -> str:
    return f"w{writer}-{n:04d}"


def _expected_status(n: int) -> TaskStatus:
    return FINALS[n % len(FINALS)]


def _writer(store: SQLiteResultStore, writer: int, start: Any, out: Connection) -> None:
    """Drive this writer's tasks to their final status, with a retry for every fifth one, and
    throw a late duplicate ``started`` at the previous writer's task of the same number."""
    try:
        start.wait()
        other = (writer - 1) % WRITERS
        for n in range(TASKS_PER_WRITER):
            task_id = _task_id(writer, n)
            store.enqueued(TaskRecord(task_id, name=f"job{n % 3}", max_attempts=2))
            store.started(task_id, 1)
            attempt = 1
            if n % 5 == 0:
                store.retrying(task_id, 1, time.time(), error="boom")
                attempt = 2
                store.started(task_id, attempt)
            store.finished(
                task_id, _expected_status(n), result=task_id.encode(), attempt=attempt, ttl=600
            )
            store.started(_task_id(other, n), 1)  # a duplicate delivery, early or late
        out.send(("ok", None))
    except BaseException:
        out.send(("error", traceback.format_exc()))
    finally:
        out.close()


def _reader(store: SQLiteResultStore, seed: int, stop: Any, out: Connection) -> None:
    """Poll random tasks; every status seen must be the same as or ahead of the last one."""
    try:
        rng = random.Random(seed)
        last: dict[str, tuple[TaskStatus, int]] = {}
        reads = backwards = 0
        while not stop.is_set():
            task_id = _task_id(rng.randrange(WRITERS), rng.randrange(TASKS_PER_WRITER))
            record = store.get(task_id)
            reads += 1
            if record is None:
                continue
            seen = (record.status, record.attempt)
            before = last.get(task_id)
            if before is not None and seen != before and not supersedes(*seen, *before):
                backwards += 1
            last[task_id] = seen
        out.send(("ok", (reads, backwards)))
    except BaseException:
        out.send(("error", traceback.format_exc()))
    finally:
        out.close()


def test_many_writer_and_reader_processes_share_one_store(tmp_path: Path) -> None:
    store = SQLiteResultStore(tmp_path / "results.sqlite3")
    store.enqueued(TaskRecord("opened-before-fork"))  # children inherit an open connection
    start, stop = FORK.Event(), FORK.Event()
    pipes: list[Connection] = []
    writers, readers = [], []
    for i in range(WRITERS):
        receive, send = FORK.Pipe(duplex=False)
        writers.append(FORK.Process(target=_writer, args=(store, i, start, send)))
        pipes.append(receive)
    for i in range(READERS):
        receive, send = FORK.Pipe(duplex=False)
        readers.append(FORK.Process(target=_reader, args=(store, i, stop, send)))
        pipes.append(receive)
    for process in writers + readers:
        process.start()
    try:
        start.set()
        writer_reports = [pipes[i].recv() for i in range(WRITERS)]
        stop.set()
        reader_reports = [pipes[WRITERS + i].recv() for i in range(READERS)]
    finally:
        stop.set()
        for process in writers + readers:
            process.join(timeout=30)
    assert [p.exitcode for p in writers + readers] == [0] * (WRITERS + READERS)
    errors = [detail for kind, detail in writer_reports + reader_reports if kind == "error"]
    assert errors == []

    for writer in range(WRITERS):
        for n in range(TASKS_PER_WRITER):
            record = store.get(_task_id(writer, n))
            assert record is not None
            assert record.status is _expected_status(n), record
            assert record.result == _task_id(writer, n).encode()
            assert record.attempt == (2 if n % 5 == 0 else 1)
            assert record.name == f"job{n % 3}"
    assert sum(store.counts().values()) == WRITERS * TASKS_PER_WRITER + 1
    assert all(backwards == 0 for _, (reads, backwards) in reader_reports)
    assert all(reads > 0 for _, (reads, backwards) in reader_reports)


def _first_touch(path: str, n: int, start: Any, out: Connection) -> None:
    try:
        store = SQLiteResultStore(path)
        start.wait()
        store.finished(f"first-{n}", TaskStatus.DONE)
        out.send(("ok", None))
    except BaseException:
        out.send(("error", traceback.format_exc()))
    finally:
        out.close()


def test_processes_that_create_the_store_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    # uWSGI starts its workers and spoolers together: all of them may be first to open the file.
    path = str(tmp_path / ".spoolrt" / "results.sqlite3")
    start = FORK.Barrier(6)
    pipes, processes = [], []
    for n in range(6):
        receive, send = FORK.Pipe(duplex=False)
        processes.append(FORK.Process(target=_first_touch, args=(path, n, start, send)))
        pipes.append(receive)
    for process in processes:
        process.start()
    reports = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join(timeout=30)

    assert [detail for kind, detail in reports if kind == "error"] == []
    assert SQLiteResultStore(path).counts()[TaskStatus.DONE] == 6


# --- fork and threads -------------------------------------------------------------------------


def _write_in_child(store: SQLiteResultStore, out: Connection) -> None:
    try:
        store.finished("from-child", TaskStatus.DONE, result=str(os.getpid()).encode())
        out.send(os.getpid())
    finally:
        out.close()


def test_a_forked_child_uses_its_own_connection_and_leaves_the_parents_alone(
    tmp_path: Path,
) -> None:
    store = SQLiteResultStore(tmp_path / "results.sqlite3")
    store.enqueued(TaskRecord("from-parent"))
    receive, send = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_write_in_child, args=(store, send))
    child.start()
    child_pid = receive.recv()
    child.join(timeout=10)

    assert child.exitcode == 0
    record = store.get("from-child")
    assert record is not None and record.result == str(child_pid).encode()
    # The parent's own connection still works after the child exited.
    assert store.started("from-parent", 1).applied is True


def test_threads_of_one_process_share_the_store(tmp_path: Path) -> None:
    store = SQLiteResultStore(tmp_path / "results.sqlite3")
    failures: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for n in range(100):
                store.started(f"{thread}-{n}", 1)
                store.finished(f"{thread}-{n}", TaskStatus.DONE)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert store.counts()[TaskStatus.DONE] == 400


# --- waiting for the write lock ---------------------------------------------------------------


@pytest.fixture
def locker(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A second connection that can hold the write lock, as another process would."""
    SQLiteResultStore(tmp_path / "results.sqlite3").enqueued(TaskRecord("t0"))
    conn = sqlite3.connect(
        tmp_path / "results.sqlite3", isolation_level=None, timeout=0, check_same_thread=False
    )
    yield conn
    conn.close()


def test_a_write_waits_for_a_held_write_lock_instead_of_failing(
    tmp_path: Path, locker: sqlite3.Connection
) -> None:
    store = SQLiteResultStore(tmp_path / "results.sqlite3")
    store.get("t0")  # open before the lock is taken
    locker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, locker.execute, args=("COMMIT",))
    began = time.monotonic()
    release.start()
    try:
        assert store.finished("t1", TaskStatus.DONE) is True
    finally:
        release.join()
    assert time.monotonic() - began >= 0.19
    assert store.get("t1") is not None


def test_a_lock_held_past_the_timeout_raises_a_store_error(
    tmp_path: Path, locker: sqlite3.Connection
) -> None:
    store = SQLiteResultStore(tmp_path / "results.sqlite3", busy_timeout=0.1)
    store.get("t0")
    locker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ResultStoreError, match="locked"):
            store.started("t1", 1)
    finally:
        locker.execute("ROLLBACK")
    assert store.started("t1", 1).applied is True


def test_reads_go_on_while_a_writer_holds_the_lock(
    tmp_path: Path, locker: sqlite3.Connection
) -> None:
    store = SQLiteResultStore(tmp_path / "results.sqlite3", busy_timeout=0.1)
    locker.execute("BEGIN IMMEDIATE")
    try:
        assert store.get("t0") is not None
        assert store.counts()[TaskStatus.QUEUED] == 1
    finally:
        locker.execute("ROLLBACK")


# --- the file ---------------------------------------------------------------------------------


def test_the_file_is_private_in_a_private_directory(tmp_path: Path) -> None:
    store = SQLiteResultStore.for_spool_dir(tmp_path / "spool")
    store.enqueued(TaskRecord("t1"))

    path = tmp_path / "spool" / ".spoolrt" / "results.sqlite3"
    assert store.path == str(path)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_file_is_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    store = SQLiteResultStore(tmp_path / "results.sqlite3")
    store.enqueued(TaskRecord("t1"))

    with sqlite3.connect(tmp_path / "results.sqlite3") as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert other.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    connection = store._db._conn
    assert connection is not None
    assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL


def test_a_store_written_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "results.sqlite3") as other:
        other.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(ResultStoreError, match="newer spoolrt"):
        SQLiteResultStore(tmp_path / "results.sqlite3").get("t1")


def test_a_path_that_cannot_be_created_raises_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")

    with pytest.raises(ResultStoreError, match="cannot create"):
        SQLiteResultStore(tmp_path / "a-file" / "results.sqlite3").get("t1")


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM spoolrt_tasks").fetchone()
    return int(count)


def test_finished_purges_expired_records_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    store = SQLiteResultStore(path, purge_interval=None)
    past = time.time() - 100
    for n in range(10):
        store.finished(f"old{n}", TaskStatus.DONE, at=past, ttl=1)
    assert _rows(path) == 10

    purging = SQLiteResultStore(path, purge_interval=60)
    purging.finished("new", TaskStatus.DONE)

    assert _rows(path) == 1


def test_only_one_process_purges_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    first = SQLiteResultStore(path, purge_interval=3600)
    second = SQLiteResultStore(path, purge_interval=3600)  # another process, as far as SQL knows
    first.finished("a", TaskStatus.DONE)  # claims this interval's purge
    first.finished("old", TaskStatus.DONE, at=time.time() - 100, ttl=1)

    second.finished("b", TaskStatus.DONE)

    assert _rows(path) == 3  # "old" waits for the next interval
    assert second.get("old") is None  # but is already invisible
