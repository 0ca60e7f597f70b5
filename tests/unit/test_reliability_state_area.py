"""spoolrt's state area is not followed through symlinks or written when unsafe (issue 18, 6).

With ``.spoolrt/quarantine`` replaced by a symlink, the worker (as root) wrote the file and its
record into the attacker's directory. Every level of ``<spool>/.spoolrt/...`` is now checked
with ``lstat`` (symlink, non-directory, foreign owner, world-writable) and refused loudly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spoolrt import UnsafeStateArea, configure
from spoolrt.core.config import Settings
from spoolrt.core.errors import CorruptSpoolFile
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.spooldir.layout import ensure_state_dir, keep_aside
from spoolrt.spooldir.parking import place_spool_file
from tests.support.machine import unavailable


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    (folder / ".spoolrt").mkdir(parents=True, mode=0o700)
    return folder


def test_a_symlinked_quarantine_receives_nothing(spool: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    (spool / ".spoolrt" / "quarantine").symlink_to(elsewhere)
    dispatcher = Dispatcher(Settings(secret_key="k" * 32), observers=[])
    with pytest.raises(UnsafeStateArea, match="symlink"):
        dispatcher.quarantine_bytes(str(spool), "f1", b"junk", CorruptSpoolFile("junk"))
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_state_dir_is_refused(tmp_path: Path) -> None:
    spool, elsewhere = tmp_path / "spool2", tmp_path / "attacker"
    spool.mkdir()
    elsewhere.mkdir()
    (spool / ".spoolrt").symlink_to(elsewhere)
    with pytest.raises(UnsafeStateArea, match="symlink"):
        keep_aside(str(spool), "failed", "f1", b"data", {"reason": "x"})
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_parked_area_receives_no_parked_task(spool: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    (spool / ".spoolrt" / "parked").symlink_to(elsewhere)
    configure(park_after=60)
    with pytest.raises(UnsafeStateArea):
        place_spool_file(str(spool), b"x", at=4e9, priority=None)
    assert list(elsewhere.rglob("*")) == []


def test_a_world_writable_area_is_refused(spool: Path) -> None:
    failed = spool / ".spoolrt" / "failed"
    failed.mkdir()
    os.chmod(failed, 0o777)
    with pytest.raises(UnsafeStateArea, match="writable by all"):
        keep_aside(str(spool), "failed", "f1", b"data", {"reason": "x"})
    assert list(failed.iterdir()) == []


def test_a_file_in_place_of_an_area_is_refused(spool: Path) -> None:
    (spool / ".spoolrt" / "quarantine").write_text("not a dir")
    with pytest.raises(UnsafeStateArea, match="not a directory"):
        ensure_state_dir(spool, "quarantine")


def test_an_area_owned_by_another_user_is_refused(spool: Path) -> None:
    if os.geteuid() != 0:
        unavailable("needs root to chown a directory to another user")
    failed = spool / ".spoolrt" / "failed"
    failed.mkdir()
    os.chown(failed, 65534, 65534)
    with pytest.raises(UnsafeStateArea, match="uid 65534"):
        keep_aside(str(spool), "failed", "f1", b"data", {"reason": "x"})


def test_a_sound_area_is_created_0700_and_used(spool: Path) -> None:
    kept = keep_aside(str(spool), "failed", "f1", b"data", {"reason": "x"})
    assert kept.read_bytes() == b"data"
    assert oct(os.stat(kept.parent).st_mode & 0o777) == "0o700"
