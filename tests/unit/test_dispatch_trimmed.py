"""The spooler side, trimmed: work done once per process instead of per task, with every
guarantee kept (a None result reads back as None, a registered function is not imported
again, ``spooler-quiet`` quiets the per-task line, a header's odd types still convert)."""

from __future__ import annotations

import sqlite3
import types
from pathlib import Path
from typing import Any

import pytest

import spoolrt
from spoolrt import ResultProcessed, Spooler, TaskStatus
from spoolrt.core.codec.envelope import Envelope, encode_body, spool_vars
from spoolrt.core.codec.packet import SpoolPacket
from spoolrt.core.codec.serializers import PickleSerializer, Signer
from spoolrt.core.errors import CorruptSpoolFile
from spoolrt.results.sqlite import SQLiteResultStore
from spoolrt.results.sqlite_connection import PAGE_SIZE
from spoolrt.results.tracking import forget_stores, store_for
from spoolrt.runtime import admission
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.runtime.uwsgi_spooler import spooler_quiet
from spoolrt.spooldir.slots import forget_boards

KEY = "unit-dispatch-trimmed-key-0123456789"


@Spooler.task
def returns_none() -> ResultProcessed:
    return ResultProcessed(None)  # done, with None as its value (a bare None means skipped)


@Spooler.task
def returns_value(x: int) -> int:
    return x * 2


def packet(spool: Path, func: Any, args: tuple[Any, ...], task_id: str) -> SpoolPacket:
    name = func.name
    env = Envelope(
        task_id=task_id,
        type_id="fcall",
        name=name,
        payload=PickleSerializer().dumps({"func": name, "arg": args, "kwg": {}}),
        spooler=str(spool),
    )
    return SpoolPacket(spool_vars(env), encode_body(env, Signer([KEY])))


@pytest.fixture
def spool(tmp_path: Path) -> Any:
    spoolrt.configure(secret_key=KEY, spool_dirs=[str(tmp_path)])
    yield tmp_path
    forget_boards()
    forget_stores()


def test_a_none_result_is_stored_as_no_result_and_reads_back_as_none(spool: Path) -> None:
    report = Dispatcher().run(str(spool), "f1", packet(spool, returns_none, (), "t-none"))
    assert report.status is TaskStatus.DONE
    store = store_for(str(spool))
    assert store is not None
    record = store.get("t-none")
    assert record is not None and record.status is TaskStatus.DONE
    assert record.result is None  # nothing pickled and signed for None
    handle = spoolrt.Spooler.get_result("t-none")
    assert handle is not None and handle.result(timeout=1) is None


def test_a_value_is_still_stored_signed(spool: Path) -> None:
    Dispatcher().run(str(spool), "f2", packet(spool, returns_value, (21,), "t-value"))
    handle = spoolrt.Spooler.get_result("t-value")
    assert handle is not None and handle.result(timeout=1) == 42


def test_a_registered_function_is_not_imported_for_each_task(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported: list[str] = []
    monkeypatch.setattr(admission.importlib, "import_module", lambda name: imported.append(name))
    dispatcher = Dispatcher()
    for i in range(3):
        dispatcher.run(str(spool), f"f{i}", packet(spool, returns_value, (i,), f"t-{i}"))
    assert imported == []


def test_an_unregistered_function_is_still_imported_by_its_module(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported: list[str] = []
    monkeypatch.setattr(admission.importlib, "import_module", lambda name: imported.append(name))
    name = "tests.unit.not_a_module_here:job"
    env = Envelope(
        task_id="t-missing",
        type_id="fcall",
        name=name,
        payload=PickleSerializer().dumps({"func": name, "arg": (), "kwg": {}}),
    )
    packet_ = SpoolPacket(spool_vars(env), encode_body(env, Signer([KEY])))
    report = Dispatcher().run(str(spool), "f-missing", packet_)
    assert imported == ["tests.unit.not_a_module_here"]
    assert report.status is TaskStatus.QUARANTINED


@pytest.mark.parametrize(
    ("value", "quiet"),
    [(True, True), (b"true", True), ("1", True), (b"false", False), ("0", False), (None, False)],
)
def test_spooler_quiet_reads_uwsgi_flag_values(value: object, quiet: bool) -> None:
    module = types.ModuleType("uwsgi")
    module.opt = {} if value is None else {"spooler-quiet": value}  # type: ignore[attr-defined]
    assert spooler_quiet(module) is quiet


def test_header_values_of_another_type_are_still_converted() -> None:
    header = {"id": 5, "type": "x", "attempt": "2", "retries": 1.0, "ts": 3, "prio": "4"}
    env = Envelope.from_header(header, b"")
    assert (env.task_id, env.attempt, env.retries, env.priority) == ("5", 2, 1, 4)
    assert isinstance(env.enqueued_at, float) and env.enqueued_at == 3.0
    with pytest.raises(CorruptSpoolFile):
        Envelope.from_header({"id": "1", "type": "x", "attempt": "two"}, b"")
    with pytest.raises(CorruptSpoolFile):
        Envelope.from_header({"id": "1", "type": "x", "attempt": 0}, b"")


def test_a_new_store_has_small_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    new = SQLiteResultStore(tmp_path / "new.sqlite3")
    new.get("x")
    old_path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(old_path)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    old = SQLiteResultStore(old_path)
    old.finished("t1", TaskStatus.DONE, attempt=1)
    assert old.get("t1") is not None
    for path, size in ((tmp_path / "new.sqlite3", PAGE_SIZE), (old_path, 4096)):
        check = sqlite3.connect(path)
        assert check.execute("PRAGMA page_size").fetchone()[0] == size
        check.close()
    new.close()
    old.close()
