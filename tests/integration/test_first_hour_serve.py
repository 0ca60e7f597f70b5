"""``spoolrt serve`` checks, before it starts uWSGI, that the app and the task modules import,
and says which failed and why (issue 14, item 9: a typo showed only uWSGI's ``unable to load
app 0 ... (callable not found or import error)`` inside 40 lines of output). The generated
ini's header names where the signing key really comes from."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.uwsgi import REPO

FLASK_EXAMPLE = REPO / "examples" / "flask_app"


def run(command: list[str], cwd: Path, key_file: Path) -> subprocess.CompletedProcess[str]:
    """Run a serve command in its own process group. If it went on to start uWSGI (what these
    tests say must not happen), the whole group is killed by its PID and the test fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOOLRT_")}
    env["SPOOLRT_KEY_FILE"] = str(key_file)
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"`{' '.join(command)}` kept running (uWSGI started?):\n{err[-2000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything it left behind
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    state = str(tmp_path / "state")
    command = [sys.executable, "-m", "spoolrt", "serve", *args, "--state", state]
    return run(command, tmp_path, tmp_path / "key")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "site_app.py").write_text("def application(environ, start_response): ...\n")
    (tmp_path / "site_tasks.py").write_text(
        textwrap.dedent(
            """
            from spoolrt import Spooler
            import settings_that_do_not_exist  # the mistake
            """
        )
    )
    return tmp_path


def test_a_missing_callable_is_named_before_uwsgi_starts(project: Path) -> None:
    done = serve(project, "site_app:typo")
    assert done.returncode == 1
    assert "cannot load the app 'site_app:typo'" in done.stderr, done.stderr
    assert "has no attribute 'typo'" in done.stderr
    assert "unable to load app" not in done.stderr + done.stdout  # uWSGI never ran
    assert not (project / "state" / "uwsgi.ini").exists()


def test_a_missing_app_module_is_named(project: Path) -> None:
    done = serve(project, "site_ap")
    assert done.returncode == 1
    assert "cannot load the app 'site_ap:application'" in done.stderr, done.stderr
    assert "ModuleNotFoundError: No module named 'site_ap'" in done.stderr


def test_a_broken_task_module_is_named_with_its_error(project: Path) -> None:
    done = serve(project, "site_app", "--tasks", "site_tasks")
    assert done.returncode == 1
    assert "cannot import the task module 'site_tasks'" in done.stderr, done.stderr
    assert "No module named 'settings_that_do_not_exist'" in done.stderr
    assert "site_tasks.py" in done.stderr  # where: the traceback's last frame


def test_flask_ini_header_names_the_key_derived_from_secret_key(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "flask", "--app", "app", "spoolrt", "serve", "--print-config"]
    done = run(command, FLASK_EXAMPLE, tmp_path / "key")
    assert done.returncode == 0, done.stderr
    header = [line for line in done.stdout.splitlines() if line.startswith("; signing key")]
    assert header == ["; signing key: derived from the SECRET_KEY of Flask app 'app'"], header


def test_plain_ini_header_names_the_key_file(tmp_path: Path) -> None:
    done = serve(tmp_path, "proj.wsgi", "--print-config")
    assert done.returncode == 0, done.stderr
    assert f"; signing key: the key file {tmp_path / 'key'}" in done.stdout, done.stdout
