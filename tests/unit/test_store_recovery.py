"""The SQLite store never hangs a caller when its file is truncated, replaced or deleted.

Two store objects on one path stand for two processes holding connections (each object has its
own connection); a third, made afterwards, for a process that opens the file after the damage.
``busy_timeout`` is left long: a store that waited it out instead of recovering would fail the
test with ``ResultStoreError`` rather than pass late.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt.core.outcomes import TaskStatus
from spoolrt.results import SQLiteResultStore
from tests.support.uwsgi import wait_for


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "results.sqlite3"


@pytest.fixture
def holders(path: Path) -> Iterator[list[SQLiteResultStore]]:
    stores = [SQLiteResultStore(path, busy_timeout=20, purge_interval=None) for _ in range(2)]
    for i, store in enumerate(stores):
        for n in range(50):
            store.finished(f"before-{i}-{n}", TaskStatus.DONE)
    assert stores[1].get("before-0-1") is not None
    yield stores
    for store in stores:
        store.close()


def _fresh(path: Path) -> SQLiteResultStore:
    return SQLiteResultStore(path, busy_timeout=20, purge_interval=None)


def test_a_store_truncated_to_zero_bytes_is_made_fresh_for_every_process(
    path: Path, holders: list[SQLiteResultStore]
) -> None:
    os.truncate(path, 0)
    late = _fresh(path)
    assert late.finished("after-late", TaskStatus.DONE) is True  # no 20 s "database is locked"
    assert late.get("after-late") is not None
    # The processes that held the file notice and write into the fresh store too.
    for i, store in enumerate(holders):

        def sees_the_fresh_store(store: SQLiteResultStore = store) -> bool:
            return store.get("after-late") is not None

        wait_for(sees_the_fresh_store, timeout=5, what=f"holder {i} to reopen the store")
        assert store.finished(f"after-{i}", TaskStatus.DONE) is True
    assert late.get("after-0") is not None and late.get("after-1") is not None
    aside = [p.name for p in path.parent.iterdir() if ".broken-" in p.name]
    assert aside, "the truncated file is kept aside, not silently reused"
    late.close()


def test_a_status_written_just_after_a_truncation_is_not_lost(
    path: Path, holders: list[SQLiteResultStore]
) -> None:
    # A spooler finishing a task a moment after the damage must not write it into the old log,
    # which the first process to recover moves aside: a later reader would never see it.
    os.truncate(path, 0)
    writer, reader = holders
    assert writer.finished("right-after", TaskStatus.DONE) is True
    late = _fresh(path)
    assert late.get("right-after") is not None
    assert reader.get("right-after") is not None
    late.close()


def test_a_deleted_store_is_recreated_and_shared_again(
    path: Path, holders: list[SQLiteResultStore]
) -> None:
    for suffix in ("", "-wal", "-shm"):
        os.unlink(f"{path}{suffix}")
    writer, reader = holders
    wait_for(
        lambda: writer.finished("after", TaskStatus.DONE) and path.exists(),
        timeout=5,
        what="the writer to recreate the store file",
    )
    wait_for(lambda: reader.get("after") is not None, timeout=5, what="the reader to reopen")
    late = _fresh(path)
    assert late.get("after") is not None and late.get("before-0-1") is None
    late.close()


def test_a_store_replaced_by_another_file_is_reopened(
    path: Path, holders: list[SQLiteResultStore]
) -> None:
    writer, reader = holders
    replacement = _fresh(path.with_name("other.sqlite3"))
    replacement.finished("from-the-backup", TaskStatus.DONE)
    replacement.close()
    # A restore replaces the file and drops the old log beside it (SQLite would otherwise replay
    # the old file's log into the new one): what holders must survive is the swap under them.
    for suffix in ("-wal", "-shm"):
        os.unlink(f"{path}{suffix}")
    os.replace(path.with_name("other.sqlite3"), path)
    wait_for(lambda: reader.get("from-the-backup") is not None, timeout=5, what="reader to reopen")
    wait_for(lambda: writer.get("from-the-backup") is not None, timeout=5, what="writer to reopen")
    assert writer.finished("after", TaskStatus.DONE) is True
    assert reader.get("after") is not None


def test_a_store_file_that_is_not_a_database_is_moved_aside(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not an SQLite file, but it is long enough to look like one" * 100)
    store = _fresh(path)
    assert store.finished("t1", TaskStatus.FAILED) is True
    assert store.get("t1") is not None
    assert any(".broken-" in p.name for p in path.parent.iterdir())
    store.close()
