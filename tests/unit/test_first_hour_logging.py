"""spoolrt's log lines (issue 14, item 7): the logger's name is the one prefix (messages never
start with ``spoolrt:``), the dispatcher logs every finished run, and the fallback handler a
spooler installs stays silent once the application configured logging.

The lines under a real uWSGI spooler: tests/integration/test_first_hour_logging.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt import Spooler
from spoolrt.runtime.logs import FORMAT, FallbackHandler, install_fallback
from spoolrt.testing import LocalSpool, local_spool


@Spooler.task()
def logged_done(x: int) -> int:
    return x


@Spooler.task(retries=1, retry_delay=0)
def logged_fails() -> None:
    raise ValueError("nope")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as spool:
        yield spool


def test_every_finished_run_is_logged_at_its_level(
    spool: LocalSpool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="spoolrt")
    done = logged_done(1)
    failed = logged_fails()
    spool.run_until_empty(include_postponed=True)
    ours = [r for r in caplog.records if r.name.startswith("spoolrt")]
    by_task = {
        (r.levelname, r.getMessage().split(" attempt ")[1][:3])
        for r in ours
        if done.task_id in r.getMessage() or failed.task_id in r.getMessage()
    }
    assert by_task == {("INFO", "1/4"), ("WARNING", "1/2"), ("ERROR", "2/2")}, by_task
    assert not [r.getMessage() for r in ours if r.getMessage().startswith("spoolrt")]


def test_the_fallback_handler_is_silent_once_root_has_a_handler(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = FallbackHandler()  # made now: writes to this test's captured stderr
    record = logging.LogRecord("spoolrt", logging.INFO, __file__, 1, "task x done", None, None)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    handler.handle(record)
    assert capsys.readouterr().err == "INFO spoolrt: task x done\n"
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    handler.handle(record)
    assert capsys.readouterr().err == ""
    assert FORMAT.startswith("%(levelname)s %(name)s: ")


def test_install_fallback_leaves_configured_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("spoolrt")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.WARNING)  # the app chose a level
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    assert install_fallback() is False and logger.handlers == []
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    assert install_fallback() is True
    assert logger.level == logging.INFO and isinstance(logger.handlers[0], FallbackHandler)
    assert install_fallback() is False, "idempotent"
