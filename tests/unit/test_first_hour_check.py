"""``spoolrt check``, the health check (issue 14, item 10: ``stats`` exits 0 whatever it
finds). Real spool files, written by the local backend and run by the in-process worker; the
spooler's presence is this test process announcing itself, as a spooler does.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt import Spooler
from spoolrt.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from spoolrt.cli.check import parse_since
from spoolrt.spooldir.presence import KIND_WORKER, announce
from spoolrt.testing import LocalSpool, local_spool


@Spooler.task(retries=0)
def health_fails() -> None:
    raise RuntimeError("health check me")


@Spooler.task()
def health_waits() -> str:
    return "ok"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as spool:
        yield spool


@pytest.fixture
def served(spool: LocalSpool) -> Iterator[LocalSpool]:
    """The directory with a live spooler process announced in it (this one)."""
    presence = announce(str(spool.dir), KIND_WORKER, ordered=True)
    assert presence is not None
    yield spool
    presence.withdraw()


def run(capsys: pytest.CaptureFixture[str], spool: LocalSpool, *args: str) -> tuple[int, str]:
    code = main(["check", "--spool", str(spool.dir), *args])
    return code, capsys.readouterr().out


def test_healthy_directory_exits_0(served: LocalSpool, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, served, "--since", "1h", "--max-age", "5m")
    assert code == EXIT_OK, out
    assert out.startswith("ok: ") and "1 spooler process(es) alive" in out


def test_no_live_spooler_is_unhealthy(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    presence = announce(str(spool.dir), KIND_WORKER, ordered=True)
    assert presence is not None
    presence.withdraw()  # the process "went away": its announcement is gone
    code, out = run(capsys, spool)
    assert code == EXIT_FAILURE
    assert "UNHEALTHY:" in out and "no spooler process alive" in out
    code, out = run(capsys, spool, "--no-spooler")
    assert code == EXIT_OK, out


def test_a_stale_announcement_is_not_a_live_spooler(
    spool: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    presence = announce(str(spool.dir), KIND_WORKER, ordered=True)
    assert presence is not None
    path = Path(presence.path)
    data = json.loads(path.read_text())
    presence.withdraw()
    data["start"] = "another-boot:1"  # same pid, another process: what a recycled pid looks like
    path.write_text(json.dumps(data))
    code, out = run(capsys, spool)
    assert code == EXIT_FAILURE and "no spooler process alive" in out


def test_a_failure_since_the_given_time_is_unhealthy(
    served: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    health_fails()
    served.run_until_empty()
    assert len(served.failed()) == 1
    code, out = run(capsys, served, "--since", "1h")
    assert code == EXIT_FAILURE
    assert "1 task(s) failed since" in out and "health_fails (1)" in out
    # A failure before --since is history, not a problem now.
    code, out = run(capsys, served, "--since", "2999-01-01T00:00:00+00:00")
    assert code == EXIT_OK, out
    # Without --since failures are not checked at all.
    assert run(capsys, served)[0] == EXIT_OK
    # --quiet: silent when healthy, the reasons when not (what cron mails).
    assert run(capsys, served, "--quiet") == (EXIT_OK, "")
    code, out = run(capsys, served, "--quiet", "--since", "1h")
    assert code == EXIT_FAILURE and "health_fails" in out


def test_a_due_task_waiting_too_long_is_unhealthy(
    served: LocalSpool, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = health_waits()  # nothing runs it: the spooler this test announced never scans
    code, out = run(capsys, served, "--max-age", "0")
    assert code == EXIT_FAILURE
    assert "the oldest due task has waited" in out and handle.task_id in out
    assert run(capsys, served, "--max-age", "1h")[0] == EXIT_OK


def test_json_names_the_problems(served: LocalSpool, capsys: pytest.CaptureFixture[str]) -> None:
    health_fails()
    served.run_until_empty()
    code, out = run(capsys, served, "--since", "1h", "--json")
    data = json.loads(out)
    assert code == EXIT_FAILURE and data["ok"] is False
    assert len(data["problems"]) == 1 and "failed" in data["problems"][0]
    assert data["spoolers"][0]["alive"] == 1 and data["spoolers"][0]["failed"] == 1


def test_since_takes_an_age_or_an_aware_time() -> None:
    assert abs(parse_since("1h") - (time.time() - 3600)) < 5
    assert parse_since("2026-01-31T08:00:00+00:00") == 1_769_846_400.0
    with pytest.raises(argparse.ArgumentTypeError, match="no time zone"):
        parse_since("2026-01-31T08:00:00")
    with pytest.raises(argparse.ArgumentTypeError, match="neither an age"):
        parse_since("yesterday")


def test_a_bad_since_is_a_usage_error(spool: LocalSpool) -> None:
    assert main(["check", "--spool", str(spool.dir), "--since", "yesterday"]) == EXIT_USAGE
