"""Every enqueue failure of the local writer is an ``EnqueueError`` that says why (issue 18, 5).

Disk full (a real, small tmpfs), a directory that is not there, a read-only filesystem and a
directory this user may not write (a subprocess that drops to uid ``nobody``; root writes
anywhere) — for a task spooled at once and for a parked far-future one — and nothing of the
file is left behind. Before, each was a raw ``OSError``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from spoolrt import (
    DiskFull,
    EnqueueError,
    SpoolDirUnavailable,
    Spooler,
    SpoolWriteError,
    configure,
)
from tests.support.machine import unavailable
from tests.support.tmpfs import fill, mounted_tmpfs, regular_files

REPO = Path(__file__).resolve().parents[2]
POSTPONES = {"now": None, "parked": timedelta(hours=2)}


@Spooler.task()
def unit_enqueue_target(n: int) -> int:
    return n


def _spool(postpone: timedelta | None) -> object:
    if postpone is None:
        return unit_enqueue_target(1)
    return unit_enqueue_target.spool_with((1,), postpone=postpone)


@pytest.fixture
def full_spool(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    with mounted_tmpfs(tmp_path / "mnt", "256k") as mnt:
        spool = mnt / "spool"
        spool.mkdir()
        (spool / ".spoolrt" / "parked").mkdir(parents=True)
        configure(spool_dirs=[str(spool)])
        yield spool, fill(mnt)


@pytest.mark.parametrize("when", POSTPONES)
def test_disk_full_is_diskfull_and_leaves_nothing(full_spool: tuple[Path, Path], when: str) -> None:
    spool, filler = full_spool
    with pytest.raises(DiskFull) as caught:
        _spool(POSTPONES[when])
    error = caught.value
    assert isinstance(error, SpoolWriteError) and isinstance(error, EnqueueError)
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC  # old `except OSError` too
    assert "full" in str(error) and str(spool) in str(error)
    assert regular_files(spool.parent, besides=(filler,)) == []


@pytest.mark.parametrize("when", POSTPONES)
def test_disk_full_then_space_again_spools(full_spool: tuple[Path, Path], when: str) -> None:
    _spool_dir, filler = full_spool
    with pytest.raises(DiskFull):
        _spool(POSTPONES[when])
    filler.unlink()
    handle = _spool(POSTPONES[when])
    assert os.path.isfile(str(handle))


@pytest.mark.parametrize("when", POSTPONES)
def test_spool_dir_under_a_file_is_unavailable(tmp_path: Path, when: str) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    configure(spool_dirs=[str(blocker / "spool")])
    with pytest.raises(SpoolDirUnavailable, match="missing or not a directory") as caught:
        _spool(POSTPONES[when])
    assert caught.value.errno == errno.ENOTDIR
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("when", POSTPONES)
def test_read_only_filesystem_is_unavailable(tmp_path: Path, when: str) -> None:
    with mounted_tmpfs(tmp_path / "ro", "64k", read_only=True) as mnt:
        configure(spool_dirs=[str(mnt)])
        with pytest.raises(SpoolDirUnavailable, match="read-only") as caught:
            _spool(POSTPONES[when])
        assert caught.value.errno == errno.EROFS


# Everything is imported before the uid drops: this Python's own files may be root's only.
_AS_NOBODY = """
import os, sys
from datetime import timedelta
import spoolrt  # imports every layer
from spoolrt import Spooler
spoolrt.configure(spool_dirs=[sys.argv[1]])
os.setgid(65534)
os.setuid(65534)

@Spooler.task()
def target(n):
    return n

try:
    if sys.argv[2] == "now":
        target(1)
    else:
        target.spool_with((1,), postpone=timedelta(hours=2))
except spoolrt.EnqueueError as exc:
    print(type(exc).__name__, exc.errno, exc, sep="|")
else:
    print("written")
"""


@pytest.mark.parametrize("when", POSTPONES)
def test_a_directory_this_user_may_not_write_is_unavailable(when: str) -> None:
    if os.geteuid() != 0:
        unavailable("needs root to run the writer as another user")
    base = Path(tempfile.mkdtemp(prefix="spoolrt-perm-"))
    try:
        os.chmod(base, 0o755)
        spool = base / "spool"
        (spool / ".spoolrt" / "parked").mkdir(parents=True)
        for path in (spool, spool / ".spoolrt", spool / ".spoolrt" / "parked"):
            os.chmod(path, 0o755)  # root's, readable by all, writable by root only
        env = {**os.environ, "SPOOLRT_SECRET_KEY": "k" * 32, "PYTHONPATH": str(REPO)}
        env.pop("SPOOLRT_KEY_FILE", None)
        done = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, str(spool), when],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd="/",
            check=False,
        )
        assert done.returncode == 0, done.stderr
        kind, code, message = done.stdout.strip().split("|", 2)
        assert kind == "SpoolDirUnavailable"
        assert int(code) == errno.EACCES
        assert "uid 65534" in message and "owner and mode" in message
        assert regular_files(spool) == []
    finally:
        subprocess.run(["rm", "-rf", str(base)], timeout=30, check=False)
