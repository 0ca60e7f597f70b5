"""Issue 18, point 1: a spooler that cannot resolve a task never takes it from a shared directory.

Real files in a temporary spool dir; "another spooler" is a live ``sleep`` process announced in
``.spoolrt/run/`` (it is not this process's sibling, so it may have the module).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler, TaskStatus
from spoolrt.core.codec.envelope import Envelope, encode_body, spool_vars
from spoolrt.core.codec.packet import SpoolPacket, pack, unpack
from spoolrt.core.codec.serializers import PickleSerializer, Signer
from spoolrt.core.config import Settings
from spoolrt.core.errors import ConfigurationError
from spoolrt.runtime.admission import FileKept
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.runtime.worker import Worker
from spoolrt.spooldir.layout import QUARANTINE, ensure_state_dir
from spoolrt.spooldir.listing import iter_area, iter_pending
from spoolrt.spooldir.presence import HOST, run_dir, start_token

KEY = "unit-unresolved-key-0123456789"


def fcall(spool: Path, func: str, *, enqueued_at: float, task_id: str = "t1") -> SpoolPacket:
    env = Envelope(
        task_id=task_id,
        type_id="fcall",
        name=func,
        payload=PickleSerializer().dumps({"func": func, "arg": ("x",), "kwg": {}}),
        spooler=str(spool),
        enqueued_at=enqueued_at,
    )
    return SpoolPacket(spool_vars(env), encode_body(env, Signer([KEY])))


def write(spool: Path, name: str, packet: SpoolPacket) -> Path:
    path = spool / name
    path.write_bytes(pack(packet.vars, packet.body))
    os.utime(path, (time.time() - 5, time.time() - 5))
    return path


@pytest.fixture
def other_spooler(tmp_path: Path) -> Iterator[int]:
    """A live process announced as a spooler of ``tmp_path`` (not a sibling of this one)."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        ensure_state_dir(str(tmp_path), "run")
        start = start_token(proc.pid)
        record = {"pid": proc.pid, "host": HOST, "start": start, "kind": "uwsgi", "ordered": True}
        (run_dir(str(tmp_path)) / f"{HOST}-{proc.pid}-x.json").write_text(json.dumps(record))
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_an_importable_module_named_by_a_verified_envelope_is_imported_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "unresolved_mod_a.py").write_text(
        "from spoolrt import Spooler\n\n@Spooler.task()\ndef job(tag):\n    return tag * 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    assert "unresolved_mod_a" not in sys.modules
    spool = tmp_path / "spool"
    spool.mkdir()
    report = Dispatcher(Settings(secret_key=KEY)).run(
        str(spool), "f1", fcall(spool, "unresolved_mod_a:job", enqueued_at=time.time())
    )
    assert report.status is TaskStatus.DONE and report.result == "xx"


def test_an_imported_function_that_is_not_a_task_stays_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "unresolved_mod_b.py").write_text("def job(tag):\n    return tag\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    spool = tmp_path / "spool"
    spool.mkdir()
    report = Dispatcher(Settings(secret_key=KEY)).run(
        str(spool), "f1", fcall(spool, "unresolved_mod_b:job", enqueued_at=0.0)
    )
    assert report.status is TaskStatus.QUARANTINED and report.reason == "unknown-task"


def test_an_unresolvable_task_is_left_untouched_and_logged_once(
    tmp_path: Path, other_spooler: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path, "uwsgi_spoolfile_on_x_1", fcall(tmp_path, "nowhere:job", enqueued_at=time.time())
    )
    mtime = path.stat().st_mtime
    worker = Worker([tmp_path], dispatcher=Dispatcher(Settings(secret_key=KEY)))
    with caplog.at_level(logging.WARNING, "spoolrt"):
        for _ in range(3):
            assert sum(worker.run_once().values()) == 0
    assert path.exists() and path.stat().st_mtime == mtime  # still due for the others
    assert list(iter_area(str(tmp_path), QUARANTINE)) == []
    lines = [r for r in caplog.records if "cannot run in this process" in r.getMessage()]
    assert len(lines) == 1


def test_an_unresolvable_task_is_quarantined_after_the_grace_period(
    tmp_path: Path, other_spooler: int
) -> None:
    old = time.time() - 100
    packet = fcall(tmp_path, "nowhere:job", enqueued_at=old)
    dispatcher = Dispatcher(Settings(secret_key=KEY, unresolved_grace=200))
    with pytest.raises(FileKept):
        dispatcher.run(str(tmp_path), "f1", packet)
    dispatcher = Dispatcher(Settings(secret_key=KEY, unresolved_grace=50))
    report = dispatcher.run(str(tmp_path), "f1", packet)
    assert report.status is TaskStatus.QUARANTINED and report.reason == "unknown-task"


def test_an_unknown_task_type_is_left_for_the_other_spoolers(
    tmp_path: Path, other_spooler: int
) -> None:
    env = Envelope(task_id="t2", type_id="nobody-has-it", payload=b"", enqueued_at=time.time())
    packet = SpoolPacket(spool_vars(env), encode_body(env, Signer([KEY])))
    with pytest.raises(FileKept):
        Dispatcher(Settings(secret_key=KEY)).run(str(tmp_path), "f1", packet)


def test_a_lone_spooler_still_quarantines_at_once(tmp_path: Path) -> None:
    """Nobody else is announced: nobody else could run it, so waiting would only hide it."""
    packet = fcall(tmp_path, "nowhere:job", enqueued_at=time.time())
    report = Dispatcher(Settings(secret_key=KEY)).run(str(tmp_path), "f1", packet)
    assert report.status is TaskStatus.QUARANTINED


def test_the_grace_period_is_a_setting_read_by_type() -> None:
    assert spoolrt.configure(unresolved_grace="90").unresolved_grace == 90.0
    with pytest.raises(ConfigurationError, match="unresolved_grace"):
        spoolrt.configure(unresolved_grace="soon")


@Spooler.task()
def unresolved_local_job(tag: str) -> str:
    return tag


def test_a_spooler_named_by_its_path_is_written_to_outside_uwsgi(tmp_path: Path) -> None:
    spoolrt.configure(secret_key=KEY)  # and no spool_dirs
    spool = tmp_path / "named"
    spool.mkdir()
    handle = unresolved_local_job.spool_with(("hi",), spooler=Spooler(str(spool)))
    (path,) = iter_pending(str(spool))
    assert os.path.basename(path) == os.path.basename(str(handle))
    assert unpack(Path(path).read_bytes()).body
