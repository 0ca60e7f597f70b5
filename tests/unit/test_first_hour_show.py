"""``spoolrt show`` for a new user (issue 14, item 8): an ambiguous prefix lists its candidates
instead of "no task", arguments print as the call they were, and times carry their zone.

Real spool files (the local backend) and a real SQLite store in a temporary directory; the CLI
is run in process through ``main``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler
from spoolrt.cli import EXIT_FAILURE, EXIT_OK, main
from spoolrt.observe.times import format_time
from spoolrt.results import SQLiteResultStore, TaskRecord
from spoolrt.sending import backends

KEY = "first-hour-show-key-0123456789"


@pytest.fixture(autouse=True)
def _automatic_backend() -> Iterator[None]:
    previous = backends.forced()
    backends.force(None)
    yield
    backends.force(previous)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    spoolrt.configure(spool_dirs=[str(folder)], secret_key=KEY)
    return folder


@Spooler.task()
def invoice(number: str, *, copies: int = 1) -> str:
    return number


def store_records(spool: Path, *task_ids: str) -> None:
    store = SQLiteResultStore(spool / ".spoolrt" / "results.sqlite3", purge_interval=None)
    try:
        for task_id in task_ids:
            store.enqueued(
                TaskRecord(task_id, name="billing:invoice", spooler=str(spool), max_attempts=1)
            )
            store.started(task_id, 1)
            store.finished(task_id, "done")
    finally:
        store.close()


def test_an_ambiguous_stored_prefix_lists_its_candidates(
    spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_records(spool, "1a230a7aaaa", "1a230a7bbbb", "ffff0000")
    code = main(["show", "1a230a7", "--spool", str(spool)])
    err = capsys.readouterr().err
    assert code == EXIT_FAILURE
    assert "'1a230a7' matches 2 tasks" in err and "no task" not in err
    assert "1a230a7aaaa" in err and "1a230a7bbbb" in err and "ffff0000" not in err
    assert "billing:invoice" in err


def test_a_unique_stored_prefix_still_shows_the_task(
    spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_records(spool, "1a230a7aaaa", "ffff0000")
    assert main(["show", "1a23", "--spool", str(spool)]) == EXIT_OK
    assert "1a230a7aaaa" in capsys.readouterr().out


def test_a_prefix_of_a_file_and_of_a_finished_task_lists_both(
    spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = invoice("invoice-1")
    store_records(spool, waiting.task_id[:8] + "-finished")
    code = main(["show", waiting.task_id[:8], "--spool", str(spool)])
    err = capsys.readouterr().err
    assert code == EXIT_FAILURE and "matches 2 tasks" in err, err
    assert waiting.task_id in err and waiting.task_id[:8] + "-finished" in err
    assert "(result store)" in err


def test_arguments_print_as_the_call(spool: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handle = invoice("invoice-9", copies=2)
    assert main(["show", handle.task_id, "--spool", str(spool)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "arguments   invoice('invoice-9', copies=2)" in out, out


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set the process's zone (as Django does from TIME_ZONE); put the old one back after."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def test_times_print_with_their_zone(zone: Callable[[str], None]) -> None:
    winter, summer = 1_704_110_400.0, 1_719_835_200.0  # 2024-01-01, 2024-07-01 12:00 UTC
    zone("Europe/Berlin")
    assert format_time(winter) == "2024-01-01 13:00:00 CET"
    assert format_time(summer) == "2024-07-01 14:00:00 CEST"
    zone("UTC")
    assert format_time(winter) == "2024-01-01 12:00:00 UTC"
