"""Odd files where spool files belong, in one process (issue 18, point 8).

The subprocess tests (tests/integration/test_reliability_odd_files.py) cover the CLI, the
worker and ``get_result`` as root without its file capabilities; these cover the helpers and the
dispatcher's log line on real files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from spoolrt.core.config import Settings
from spoolrt.core.errors import CorruptSpoolFile
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.runtime.worker import Worker
from spoolrt.spooldir.regular import NotRegularFile, escape_name, notice_skipped, open_regular


def test_escape_name_leaves_plain_names_and_escapes_control_characters() -> None:
    assert escape_name("/spool/uwsgi_spoolfile_on_a") == "/spool/uwsgi_spoolfile_on_a"
    escaped = escape_name("/spool/x\nspoolrt: FAKE")
    assert "\n" not in escaped and "\\n" in escaped


@pytest.mark.parametrize("kind", ["fifo", "dir"])
def test_open_regular_refuses_without_blocking(tmp_path: Path, kind: str) -> None:
    odd = tmp_path / "odd"
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.mkdir()
    with pytest.raises(NotRegularFile, match="FIFO" if kind == "fifo" else "directory"):
        open_regular(str(odd))


def test_open_regular_does_not_follow_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        open_regular(str(tmp_path / "link"))


def test_a_skipped_file_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "once")
    with caplog.at_level(logging.WARNING, logger="spoolrt"):
        for _ in range(5):
            notice_skipped(path, "not a regular file (a FIFO)")
    assert [r.getMessage() for r in caplog.records].count(
        f"skipped {path}: not a regular file (a FIFO)"
    ) == 1


def test_worker_passes_name_an_odd_pending_file_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fifo = tmp_path / "uwsgi_spoolfile_on_worker_fifo"
    os.mkfifo(fifo)
    (tmp_path / "3").mkdir()
    directory = tmp_path / "3" / "uwsgi_spoolfile_on_worker_dir"
    directory.mkdir()
    worker = Worker([str(tmp_path)])
    with caplog.at_level(logging.WARNING, logger="spoolrt"):
        for _ in range(4):
            worker.run_once()
    messages = [r.getMessage() for r in caplog.records]
    assert sum(str(fifo) in m for m in messages) == 1, messages
    assert sum(str(directory) in m for m in messages) == 1, messages
    assert fifo.is_fifo() and directory.is_dir()


def test_quarantine_log_line_escapes_the_file_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = "uwsgi_spoolfile_on_x\nspoolrt: FAKE LINE"
    with caplog.at_level(logging.WARNING, logger="spoolrt"):
        Dispatcher(Settings(secret_key="k" * 32), observers=[]).quarantine_bytes(
            str(tmp_path), name, b"junk", CorruptSpoolFile("junk")
        )
    (line,) = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert "\n" not in line and "FAKE LINE" in line
