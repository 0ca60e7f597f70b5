"""Group commit (``spoolrt.results.journal``): what another process sees of a journal, what a
kill leaves, and that a record reaches SQLite exactly once.

Other processes are real: a Python child runs a store with ``group_commit`` and is stopped by
its pid (SIGKILL where the test is about a kill).
"""

from __future__ import annotations

import fcntl
import marshal
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt.core.outcomes import TaskStatus
from spoolrt.results import SQLiteResultStore
from spoolrt.results.journal_format import decode, encode, is_torn, scan
from spoolrt.results.journal_upkeep import JOURNAL_ROW_KEEP

CHILD = textwrap.dedent(
    """
    import os, sys
    from spoolrt.results import SQLiteResultStore
    from spoolrt.results.journal_format import encode
    store = SQLiteResultStore(sys.argv[1], purge_interval=None, group_commit=True)
    store._journal.batch = 10_000  # nothing merges on its own: the records stay journaled
    store._journal.delay = 3600.0
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "finish":
            store.finished(arg, "done", attempt=1)
        elif command == "torn":  # the first half of a record, as a kill mid-write leaves it
            data = encode(("torn-task", "done", 1, 0.0, 9e9) + (None,) * 12)
            os.write(store._journal._fd, data[: len(data) // 2])
        print("ok", flush=True)
    """
)


class Child:
    def __init__(self, store_path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(store_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def do(self, line: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "results.sqlite3"


@pytest.fixture
def child(store_path: Path) -> Iterator[Child]:
    started = Child(store_path)
    yield started
    started.kill()


def rows(store_path: Path) -> dict[str, str]:
    """The store table as SQLite has it, read without the store (so nothing merges first)."""
    conn = sqlite3.connect(store_path)
    try:
        return dict(conn.execute("SELECT task_id, status FROM spoolrt_tasks").fetchall())
    finally:
        conn.close()


def journals(store_path: Path) -> list[str]:
    directory = Path(str(store_path) + ".journals")
    return sorted(p.name for p in directory.iterdir() if p.suffix == ".log")


def test_a_live_peers_unmerged_record_is_seen_by_get_and_known(
    child: Child, store_path: Path
) -> None:
    child.do("finish a")
    assert "a" not in rows(store_path)  # still only in the child's journal
    reader = SQLiteResultStore(store_path, purge_interval=None)  # group commit off: reads all
    try:
        assert reader.known("a")
        record = reader.get("a")
        assert record is not None and record.status is TaskStatus.DONE
        assert reader.counts()[TaskStatus.DONE] == 1
        assert not reader.known("b")
    finally:
        reader.close()
    assert journals(store_path)  # the child is alive: its journal stays its own


def test_a_dead_process_journal_is_merged_once_by_the_next(child: Child, store_path: Path) -> None:
    for task_id in ("a", "b", "c"):
        child.do(f"finish {task_id}")
    child.kill()
    assert rows(store_path) == {}
    assert len(journals(store_path)) == 1
    nxt = SQLiteResultStore(store_path, purge_interval=None, group_commit=True)
    try:
        nxt.flush()
        assert rows(store_path) == {"a": "done", "b": "done", "c": "done"}
        assert journals(store_path) == []
        assert nxt.delete("b")
        nxt.flush()
        assert nxt.get("b") is None  # merged once: a deleted record does not come back
    finally:
        nxt.close()


def test_a_record_torn_by_a_kill_is_ignored_and_the_rest_kept(
    child: Child, store_path: Path
) -> None:
    child.do("finish a")
    child.do("torn")
    child.kill()
    (name,) = journals(store_path)
    assert is_torn((Path(str(store_path) + ".journals") / name).read_bytes())
    reader = SQLiteResultStore(store_path, purge_interval=None)
    try:
        assert reader.get("torn-task") is None and not reader.known("torn-task")
        record = reader.get("a")
        assert record is not None and record.status is TaskStatus.DONE
        reader.flush()
        assert rows(store_path) == {"a": "done"}
        assert journals(store_path) == []
    finally:
        reader.close()


def test_a_peer_merge_and_the_owners_merge_apply_a_record_once(store_path: Path) -> None:
    owner = SQLiteResultStore(store_path, purge_interval=None, group_commit=True)
    reader = SQLiteResultStore(store_path, purge_interval=None)
    try:
        owner.finished("a", TaskStatus.DONE, attempt=1)
        assert reader.get("a") is not None  # the reader merged the owner's record
        assert reader.delete("a")
        owner.flush()
        owner.close()  # the owner's merge of the same record must not bring it back
        assert reader.get("a") is None and not reader.known("a")
    finally:
        owner.close()
        reader.close()


def test_the_first_final_write_wins_across_journals(store_path: Path) -> None:
    first = SQLiteResultStore(store_path, purge_interval=None, group_commit=True)
    second = SQLiteResultStore(store_path, purge_interval=None, group_commit=True)
    try:
        assert first.finished("a", TaskStatus.DONE, attempt=1)
        assert not second.finished("a", TaskStatus.FAILED, attempt=2)  # sees first's journal
        second.close()
        first.close()
        assert rows(store_path) == {"a": "done"}
    finally:
        first.close()
        second.close()


def test_the_record_format_round_trips_and_stops_at_damage() -> None:
    params = ("t", "done", 1, 1.0, 2.0, b"\x00blob", "pickle") + (None,) * 10
    data = encode(params) + encode(params)
    assert len(list(scan(data, 0))) == 2
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    assert len(list(scan(bytes(damaged), 0))) == 1
    assert is_torn(bytes(damaged)) and not is_torn(data)


def test_a_record_that_is_not_a_stores_is_refused_not_applied(store_path: Path) -> None:
    assert decode(b"\x01\x00t" + marshal.dumps(("t", "done"))) is None  # too few values
    assert decode(b"\x01\x00t" + marshal.dumps(("t", ["a list"]) + (None,) * 15)) is None
    assert decode(b"\x01\x00t" + b"\xff garbage") is None
    owner = SQLiteResultStore(store_path, purge_interval=None, group_commit=True)
    try:
        owner.finished("a", TaskStatus.DONE, attempt=1)
        journal = owner._journal
        body = b"\x01\x00b" + marshal.dumps(("b", ["not", "plain"]) + (None,) * 15)
        import struct
        import zlib

        os.write(journal._fd, struct.pack("<II", len(body), zlib.crc32(body)) + body)
        reader = SQLiteResultStore(store_path, purge_interval=None)
        try:
            assert reader.counts()[TaskStatus.DONE] == 1  # "a" merged, the odd record not
            assert reader.get("b") is None
        finally:
            reader.close()
    finally:
        owner.close()


def journal_rows(store_path: Path) -> list[str]:
    conn = sqlite3.connect(store_path)
    try:
        return sorted(r[0] for r in conn.execute("SELECT name FROM spoolrt_journal"))
    finally:
        conn.close()


def test_the_offsets_of_journal_files_long_gone_are_forgotten(
    child: Child, store_path: Path
) -> None:
    """Every journal file leaves a row (its merged offset); once the file has been gone for
    the keep time nothing can merge it again, so the row goes: the table stays bounded."""
    child.do("finish a")
    child.kill()
    store = SQLiteResultStore(store_path, purge_interval=None, group_commit=True)
    try:
        store.flush()  # merges the dead child's file and unlinks it
        gone = journal_rows(store_path)
        assert len(gone) == 1 and journals(store_path) == []
        store.finished("b", TaskStatus.DONE, attempt=1)
        store._journal.settle_all()  # this live process's own file: its row must stay
        live = [n for n in journal_rows(store_path) if n not in gone]
        assert len(live) == 1 and journals(store_path) == live
        store.purge_expired()  # both rows are recent: kept
        assert journal_rows(store_path) == sorted(gone + live)
        store.purge_expired(now=time.time() + 2 * JOURNAL_ROW_KEEP)
        assert journal_rows(store_path) == live  # the gone file's row went, the live one stays
        assert store.get("a") is not None and store.get("b") is not None
    finally:
        store.close()


def test_an_empty_temporary_left_by_a_kill_is_removed_once_its_owner_is_gone(
    store_path: Path,
) -> None:
    """A kill between creating a journal under its temporary name and renaming it leaves an
    empty ``.tmp``; it is removed once it is old and unlocked, never while its owner holds it."""
    store = SQLiteResultStore(store_path, purge_interval=None, group_commit=True)
    try:
        store.finished("a", TaskStatus.DONE, attempt=1)
        directory = Path(str(store_path) + ".journals")
        dead = directory / ".vm-1-dead-0.log.tmp"
        held = directory / ".vm-2-held-0.log.tmp"
        fresh = directory / ".vm-3-fresh-0.log.tmp"
        for path in (dead, held, fresh):
            path.touch()
        for path in (dead, held):
            os.utime(path, (time.time() - 3600, time.time() - 3600))
        with open(held, "rb") as holder:
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a live owner holds it
            store.purge_expired()
            assert not dead.exists()
            assert held.exists() and fresh.exists()
        assert store.get("a") is not None
    finally:
        store.close()


def test_a_point_read_of_a_live_peers_record_writes_nothing(child: Child, store_path: Path) -> None:
    """``get`` answers from a live peer's journal without merging it: a web worker polling a
    status must not take the store's write lock from the spoolers (it did, once a poll)."""
    child.do("finish a")
    reader = SQLiteResultStore(store_path, purge_interval=None)
    try:
        record = reader.get("a")
        assert record is not None and record.status is TaskStatus.DONE and record.attempt == 1
        assert "a" not in rows(store_path)  # still only journaled: the read merged nothing
        assert reader.get("b") is None
    finally:
        reader.close()


def test_a_point_read_does_not_bring_back_a_merged_record_deleted_since(
    child: Child, store_path: Path
) -> None:
    child.do("finish a")
    reader = SQLiteResultStore(store_path, purge_interval=None)
    try:
        assert reader.counts()[TaskStatus.DONE] == 1  # a query merges every journal first
        assert rows(store_path) == {"a": "done"}
        assert reader.delete("a")
        assert reader.get("a") is None  # the journal still holds it, merged: it stays gone
        assert not reader.known("a")
    finally:
        reader.close()


def test_a_point_read_finds_a_record_a_dead_process_left_journaled(
    child: Child, store_path: Path
) -> None:
    """A process's first look at the journals merges the dead ones and drops them from view:
    the read that made that look must answer from what it merged."""
    child.do("finish a")
    child.kill()
    reader = SQLiteResultStore(store_path, purge_interval=None)
    try:
        record = reader.get("a")  # the first look: it merges the dead child's journal
        assert record is not None and record.status is TaskStatus.DONE
        assert rows(store_path) == {"a": "done"}
    finally:
        reader.close()


def test_a_fresh_reader_skips_what_a_live_journal_has_merged(
    child: Child, store_path: Path
) -> None:
    """A CLI command or a dashboard request is a fresh reader: it must not read a live
    spooler's journal from its start (up to 1 MiB) when the records are in SQLite already."""
    for task_id in ("a", "b", "c"):
        child.do(f"finish {task_id}")
    merger = SQLiteResultStore(store_path, purge_interval=None)
    try:
        assert merger.counts()[TaskStatus.DONE] == 3  # merges the child's journal
    finally:
        merger.close()
    child.do("finish d")  # one record past the merged offset
    reader = SQLiteResultStore(store_path, purge_interval=None)
    try:
        reader._journal._refresh()
        (peer,) = reader._journal._view.peers.values()
        assert set(peer.ids) == {"d"}  # a, b and c were skipped unread
        assert peer.offset == os.path.getsize(peer.path)
        record = reader.get("d")
        assert record is not None and record.status is TaskStatus.DONE
        assert reader.get("a") is not None
    finally:
        reader.close()
