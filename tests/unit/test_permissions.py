"""Files and directories spoolrt creates are private; an open spool directory is warned about."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt.spooldir import layout as spooldir
from spoolrt.spooldir.layout import (
    FAILED,
    QUARANTINE,
    exposure_problems,
    keep_aside,
    warn_if_exposed,
    write_spool_file,
)


def mode_of(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The most permissive umask, so a mode that comes out private was asked for explicitly."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o700)
    spooldir._checked.clear()
    return directory


def test_spool_files_and_priority_dirs_are_private(spool: Path, lax_umask: None) -> None:
    plain = write_spool_file(str(spool), b"\x11\x00\x00\x00", durable=False)
    ranked = write_spool_file(str(spool), b"\x11\x00\x00\x00", priority=4, durable=False)
    assert mode_of(plain) == 0o600 and mode_of(ranked) == 0o600
    assert mode_of(spool / "4") == 0o700


@pytest.mark.parametrize("area", [FAILED, QUARANTINE])
def test_kept_files_their_records_and_spoolrt_dirs_are_private(
    spool: Path, lax_umask: None, area: str
) -> None:
    kept = keep_aside(str(spool), area, "uwsgi_spoolfile_on_x", b"data", {"reason": "test"})
    assert mode_of(kept) == 0o600 and mode_of(str(kept) + ".json") == 0o600
    assert mode_of(spool / ".spoolrt") == 0o700 and mode_of(kept.parent) == 0o700


def test_a_private_spool_dir_has_no_problems(spool: Path) -> None:
    (spool / "3").mkdir(mode=0o700)
    assert exposure_problems(spool) == []


@pytest.mark.parametrize(
    ("mode", "who"), [(0o770, "its group"), (0o777, "all users"), (0o1777, "all users")]
)
def test_a_spool_dir_others_can_write_is_reported(spool: Path, mode: int, who: str) -> None:
    spool.chmod(mode)  # the sticky bit (1777) stops deletes by others, not new files
    (problem,) = exposure_problems(spool)
    assert f"writable by {who}" in problem and "chmod go-w" in problem


def test_an_open_priority_subdir_is_reported(spool: Path) -> None:
    # uWSGI creates priority dirs 0777 minus the umask; with umask 002 that is group-writable
    (spool / "7").mkdir()
    (spool / "7").chmod(0o775)
    (spool / "not-a-priority").mkdir()
    (spool / "not-a-priority").chmod(0o777)  # uWSGI never scans it
    (problem,) = exposure_problems(spool)
    assert str(spool / "7") in problem


def test_warning_is_logged_once_per_directory(
    spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool.chmod(0o777)
    with caplog.at_level(logging.WARNING, "spoolrt"):
        assert warn_if_exposed(spool)
        assert warn_if_exposed(spool) == []
    warnings = [r for r in caplog.records if "open to other users" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_a_missing_spool_dir_is_not_an_error(tmp_path: Path) -> None:
    assert exposure_problems(tmp_path / "absent") == []
