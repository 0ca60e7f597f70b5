"""examples/flask_app under real uWSGI (started by `flask spoolrt serve`), with the Flask test
client in eager mode (the example's own tests), and `flask spoolrt` delegating to the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.served import ServedCommand
from tests.support.uwsgi import REPO, wait_for

EXAMPLE = REPO / "examples" / "flask_app"
FLASK = [sys.executable, "-m", "flask", "--app", "app"]


def flask_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLASK, "spoolrt", *args],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedCommand]:
    command = [*FLASK, "spoolrt", "serve", "-w", "2", "--threads", "2"]
    instance = ServedCommand(command, cwd=EXAMPLE, workdir=tmp_path).start()
    try:
        yield instance
    finally:
        instance.stop()


def test_view_spools_a_task_that_a_uwsgi_spooler_runs_in_an_app_context(
    served: ServedCommand,
) -> None:
    status, started = served.request("/reports", {"text": "to be or not to be"})
    assert status == 202 and started["status"] in ("queued", "running", "done"), started

    def finished() -> dict[str, object] | None:
        report = served.get(started["status_url"])
        return report if report["status"] in ("done", "failed") else None

    report = wait_for(finished, what="the report task to finish")
    assert report["status"] == "done", report
    # REPORT_TITLE comes from app.config: the spooler ran the task inside an app context.
    assert report["result"]["title"] == "Word count"
    assert report["result"]["words"] == 6 and report["result"]["distinct"] == 4
    # The outcome is stored before uWSGI removes the file: it goes right after, never stays.
    wait_for(lambda: served.pending() == [], what="the spool file to go")
    # Web workers and the spooler signed and verified with the key derived from SECRET_KEY:
    # no key file was generated.
    assert not Path(os.environ["SPOOLRT_KEY_FILE"]).exists()
    config = (Path(served.workdir) / "uwsgi.ini").read_text()
    assert "workers = 2" in config and "threads = 2" in config
    assert "wsgi = app:app" in config and "spooler-python-import = app" in config


def test_readme_command_spools_and_waits_for_the_result(served: ServedCommand) -> None:
    status, report = served.post_form("/reports?wait=5", {"text": "a a b"})
    assert status == 200 and report["status"] == "done", report
    assert report["result"]["words"] == 3 and report["result"]["distinct"] == 2


def test_flask_spoolrt_stats_reads_the_served_spool_dir(served: ServedCommand) -> None:
    started = served.request("/reports", {"text": "a"})[1]
    wait_for(lambda: served.get(started["status_url"])["status"] == "done", what="the task")
    result = flask_cli("stats", "--json", "--spool", str(served.spool_dir))
    assert result.returncode == 0, result.stderr
    (spooler,) = json.loads(result.stdout)["spoolers"]
    assert spooler["spooler"] == str(served.spool_dir.resolve())
    assert spooler["results"]["done"] == 1


def test_flask_spoolrt_run_runs_a_task_inline_with_the_app_config() -> None:
    result = flask_cli("run", "tasks:word_count", "one two two", "--json")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["result"]["title"] == "Word count"
    assert outcome["result"]["distinct"] == 2


def test_flask_spoolrt_passes_help_and_exit_codes_through() -> None:
    helped = flask_cli("--help")
    assert helped.returncode == 0 and "serve" in helped.stdout
    unknown = flask_cli("no-such-command")
    assert unknown.returncode == 2


def test_example_tests_pass_with_the_flask_test_client_in_eager_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
