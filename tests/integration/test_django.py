"""examples/django_project under real uWSGI (`manage.py spoolrt serve`, and lazy_apps.ini with
`spoolrt.contrib.django.spooler`), its own `manage.py test` in eager mode, and the settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.served import ServedCommand
from tests.support.uwsgi import REPO, UwsgiInstance, wait_for

EXAMPLE = REPO / "examples" / "django_project"


def project_env(workdir: Path) -> dict[str, str]:
    """A database and key file of the test's own; no spoolrt key in the environment (the
    project derives its key from SECRET_KEY)."""
    env = {k: v for k, v in os.environ.items() if k != "SPOOLRT_SECRET_KEY"}
    env["DJANGO_DB_PATH"] = str(workdir / "db.sqlite3")
    env["SPOOLRT_KEY_FILE"] = str(workdir / "secret_key")
    env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    return env


def manage(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def migrated(workdir: Path) -> dict[str, str]:
    env = project_env(workdir)
    result = manage("migrate", "-v0", env=env)
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCommand]:
    """The README's first command, once for this module (a boot costs seconds)."""
    workdir = tmp_path_factory.mktemp("django-served")
    env = migrated(workdir)
    command = [sys.executable, "manage.py", "spoolrt", "serve", "-w", "2", "--threads", "2"]
    instance = ServedCommand(command, cwd=EXAMPLE, workdir=workdir, env=env)
    instance.env.update(env)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def order_finished(instance: UwsgiInstance, status_url: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        state = instance.get(status_url)
        return state if state["task"]["ready"] else None

    return wait_for(finished, what="the order's task to finish")


def open_files(pid: int) -> set[str]:
    fd_dir = Path(f"/proc/{pid}/fd")
    found = set()
    for fd in fd_dir.iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            pass
    return found


def test_view_spools_on_commit_and_the_spooler_runs_the_orm_task(served: ServedCommand) -> None:
    status, created = served.request("/orders/", {"item": "lamp"})
    assert status == 202 and created["order"]["status"] == "new", created
    state = order_finished(served, created["status_url"])

    assert state["task"]["status"] == "done", state
    order = state["order"]
    assert order["status"] == "fulfilled" and order["task_id"] == state["task"]["id"]
    assert state["task"]["result"] == {"order": order["id"], "status": "fulfilled"}
    spooler_pid = order["fulfilled_by_pid"]
    assert spooler_pid not in (None, served.proc.pid if served.proc else None)
    # The outcome is stored before uWSGI removes the file: it goes right after, never stays.
    wait_for(lambda: served.pending() == [], what="the spool file to go")
    # The key came from SECRET_KEY in the web worker and in the spooler: no key file.
    assert not Path(served.env["SPOOLRT_KEY_FILE"]).exists()

    # The spooler closed its database connection after the task, as Django does after a request.
    database = served.env["DJANGO_DB_PATH"]
    if Path(f"/proc/{spooler_pid}/fd").is_dir():
        wait_for(
            lambda: database not in open_files(spooler_pid),
            timeout=5,
            what="the spooler to close its connection to the database",
        )


def test_readme_command_creates_an_order_and_waits_for_its_task(served: ServedCommand) -> None:
    status, state = served.post_form("/orders/?wait=5", {"item": "book"})
    assert status == 200 and state["order"]["item"] == "book", state
    assert state["order"]["status"] == "fulfilled" and state["task"]["status"] == "done"


def test_serve_generated_the_project_configuration(served: ServedCommand) -> None:
    config = (served.workdir / "uwsgi.ini").read_text()
    for line in (
        "workers = 2",
        "threads = 2",
        "wsgi = mysite.wsgi:application",
        "spooler-python-import = spoolrt.contrib.django.spooler",
        f"pythonpath = {EXAMPLE}",
    ):
        assert line in config.splitlines(), f"{line!r} not in\n{config}"


def test_manage_py_spoolrt_runs_cli_commands_with_the_project_set_up(
    served: ServedCommand,
) -> None:
    created = served.request("/orders/?wait=5", {"item": "chair"})[1]
    ran = manage(
        "spoolrt", "run", "orders.tasks:fulfil_order", str(created["order"]["id"]), "--json",
        env=served.env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["result"] == {
        "order": created["order"]["id"],
        "status": "fulfilled",
    }

    stats = manage("spoolrt", "stats", "--json", "--spool", str(served.spool_dir), env=served.env)
    assert stats.returncode == 0, stats.stderr
    (spooler,) = json.loads(stats.stdout)["spoolers"]
    assert spooler["results"]["done"] >= 1

    unknown = manage("spoolrt", "no-such-command", env=served.env)
    assert unknown.returncode == 2


def test_lazy_apps_spooler_sets_django_up_through_the_spooler_module(tmp_path: Path) -> None:
    env = migrated(tmp_path)
    instance = UwsgiInstance(
        "lazy_apps.ini",
        tmp_path,
        app_dir=EXAMPLE,
        app="mysite.wsgi",
        tasks="spoolrt.contrib.django.spooler",
        env=env,
    )
    instance.env.pop("SPOOLRT_SECRET_KEY")
    with instance:
        status, state = instance.request("/orders/?wait=5", {"item": "desk"})
        assert status == 200, f"{state}\n{instance.log()[-3000:]}"
        assert state["order"]["status"] == "fulfilled"
        assert "lazy-apps is on and no spooler-import" not in instance.log()


def test_example_project_tests_pass_in_eager_mode(tmp_path: Path) -> None:
    result = manage("test", "-v", "2", env=project_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 3 tests" in result.stderr and "OK" in result.stderr


SETTINGS_SCRIPT = """
import json, sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["spoolrt.contrib.django"],
    SECRET_KEY="new-secret",
    SECRET_KEY_FALLBACKS=["old-secret"],
    SPOOLRT=json.loads(sys.argv[1]),
)
try:
    django.setup()
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    raise SystemExit(0)
import spoolrt
from django.test import override_settings
from spoolrt.contrib._config import derive_key
s = spoolrt.get_settings()
with override_settings(SPOOLRT={"EAGER": True}):
    eager_inside = spoolrt.get_settings().eager
print(json.dumps({
    "key_derived": s.secret_key == derive_key("new-secret"),
    "old_keys_derived": s.old_keys == [derive_key("old-secret")],
    "secret_key": s.secret_key,
    "retries": s.retries,
    "eager_inside_override": eager_inside,
    "eager_after_override": spoolrt.get_settings().eager,
    "remote": {name: [list(n) for n in pool.nodes] for name, pool in s.remote.items()},
    "remote_timeout": {name: pool.timeout for name, pool in s.remote.items()},
    "dashboards": s.dashboards,
    "scheduler": s.scheduler,
}))
"""


def django_settings(spoolrt_setting: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    env = project_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SETTINGS_SCRIPT), json.dumps(spoolrt_setting)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_configure_spoolrt_with_a_key_derived_from_secret_key(tmp_path: Path) -> None:
    found = django_settings({"RETRIES": 7}, tmp_path)
    assert found["key_derived"] and found["old_keys_derived"]
    assert found["retries"] == 7
    assert found["eager_inside_override"] is True
    assert found["eager_after_override"] is False, "the override must not outlive its block"


def test_explicit_spoolrt_key_wins(tmp_path: Path) -> None:
    found = django_settings({"SECRET_KEY": "explicit-key"}, tmp_path)
    assert not found["key_derived"] and found["secret_key"] == "explicit-key"


def test_settings_name_remote_pools_their_dashboards_and_the_scheduler(tmp_path: Path) -> None:
    found = django_settings(
        {
            "REMOTE": {"reports": {"nodes": ["10.0.0.5:3031", "10.0.0.6:3031"], "timeout": 2}},
            "DASHBOARDS": {"reports": ["10.0.0.5:9181", "http://10.0.0.6/spoolrt"]},
            "SCHEDULER": "false",
        },
        tmp_path,
    )
    assert found["remote"] == {"reports": [["10.0.0.5", 3031], ["10.0.0.6", 3031]]}
    assert found["remote_timeout"] == {"reports": 2.0}
    assert found["dashboards"] == {"reports": ["10.0.0.5:9181", "http://10.0.0.6/spoolrt"]}
    assert found["scheduler"] is False


def test_a_bad_remote_pool_stops_django_start_up_naming_the_key(tmp_path: Path) -> None:
    found = django_settings({"REMOTE": {"reports": ["10.0.0.5"]}}, tmp_path)
    assert found["error"] == "ImproperlyConfigured"
    assert "settings.SPOOLRT['REMOTE']" in found["message"] and "HOST:PORT" in found["message"]


def test_misspelt_setting_stops_django_start_up(tmp_path: Path) -> None:
    found = django_settings({"EAGRE": True}, tmp_path)
    assert found["error"] == "ImproperlyConfigured"
    assert "'EAGRE' in settings.SPOOLRT" in found["message"]
