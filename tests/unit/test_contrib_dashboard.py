"""The dashboard mounted in Flask (a blueprint) and Django (an ``include()`` behind staff
permissions), driven through each framework's own test client over a real spool directory.

Django's settings are process-wide, so its half runs in a child interpreter (as the other
Django tests do); the child asserts with Django's test client and prints what it saw."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import flask
import pytest

from spoolrt import Spooler
from spoolrt.contrib.flask import dashboard_blueprint
from spoolrt.core.config import get_settings
from spoolrt.core.errors import ConfigurationError
from spoolrt.testing import LocalSpool, local_spool


@Spooler.task(retries=0)
def always_fails() -> None:
    raise RuntimeError("it broke")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


def flask_app(spool: LocalSpool) -> flask.Flask:
    app = flask.Flask("dashboard_mount_test")

    def authorize(environ: dict[str, object], method: str, path: str) -> bool:
        role = flask.request.headers.get("X-Role", "")
        return role == "operator" or (role == "viewer" and method in ("GET", "HEAD"))

    blueprint = dashboard_blueprint(
        [str(spool.dir)], authorize=authorize, user=lambda: flask.request.headers.get("X-Role", "")
    )
    app.register_blueprint(blueprint, url_prefix="/ops/spoolrt")
    return app


def test_the_flask_blueprint_refuses_to_be_made_without_authorization() -> None:
    with pytest.raises(ConfigurationError, match="without authorization"):
        dashboard_blueprint(["/nowhere"])


def test_the_flask_blueprint_serves_below_its_prefix_and_keeps_roles_and_csrf(
    spool: LocalSpool,
) -> None:
    handle = always_fails()
    assert spool.run_until_empty() == {"failed": 1}
    client = flask_app(spool).test_client()
    assert client.get("/ops/spoolrt/").status_code == 403  # no role: refused
    page = client.get("/ops/spoolrt/tasks?status=failed", headers={"X-Role": "viewer"})
    assert page.status_code == 200 and handle.task_id in page.text
    assert "Path=/ops/spoolrt;" in page.headers["Set-Cookie"]  # the CSRF cookie of the mount
    assert f'href="/ops/spoolrt/task/{handle.task_id}"' in page.text  # links stay below it
    detail = client.get(f"/ops/spoolrt/task/{handle.task_id}", headers={"X-Role": "operator"})
    token = re.search(r'name="csrf"\s+value="([^"]+)"', detail.text)
    assert token is not None
    action = f"/ops/spoolrt/task/{handle.task_id}/retry"
    viewer = client.post(action, data={"csrf": token.group(1)}, headers={"X-Role": "viewer"})
    assert viewer.status_code == 403 and len(spool.failed()) == 1
    no_token = client.post(action, data={}, headers={"X-Role": "operator"})
    assert no_token.status_code == 403 and len(spool.failed()) == 1
    done = client.post(action, data={"csrf": token.group(1)}, headers={"X-Role": "operator"})
    assert done.status_code == 303 and spool.failed() == [] and len(spool.pending()) == 1
    audit = json.loads(client.get("/ops/spoolrt/api/audit", headers={"X-Role": "viewer"}).text)
    assert [(a["who"], a["action"]) for a in audit["actions"]] == [("operator", "retried")]


DJANGO_CHILD = """
import json, re, sys
from urllib.parse import urlencode
import django
from django.conf import settings

spool = sys.argv[1]
settings.configure(
    DEBUG=False, SECRET_KEY="x" * 50, ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                    "django.contrib.sessions", "spoolrt.contrib.django"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    SPOOLRT={"SPOOL_DIRS": [spool], "SECRET_KEY": sys.argv[3]}, LOGIN_URL="/login/",
)
django.setup()
from django.urls import include, path
urlpatterns = [path("admin/spoolrt/", include("spoolrt.contrib.django.urls"))]
from django.core.management import call_command
call_command("migrate", verbosity=0, run_syncdb=True)
from django.contrib.auth.models import User
from django.test import Client
User.objects.create_user("staff", password="p", is_staff=True)
User.objects.create_user("plain", password="p")
User.objects.create_superuser("root", password="p")
task_id = sys.argv[2]
seen = {}
anonymous = Client().get("/admin/spoolrt/")
seen["anonymous"] = [anonymous.status_code, anonymous.get("Location", "")]
for name in ("plain", "staff", "root"):
    client = Client()
    client.login(username=name, password="p")
    page = client.get(f"/admin/spoolrt/task/{task_id}")
    found = re.search(r'name="csrf"\\s+value="([^"]+)"', page.content.decode())
    token = found.group(1) if found else ""
    answer = client.post(  # urlencoded, as the dashboard's forms are (the client's default is
        f"/admin/spoolrt/task/{task_id}/retry", urlencode({"csrf": token}),  # multipart)
        content_type="application/x-www-form-urlencoded",
    )
    seen[name] = [page.status_code, 'id="retry"' in page.content.decode(), answer.status_code,
                  answer.get("Location", "")]
print(json.dumps(seen))
"""


def test_the_django_include_lets_staff_look_and_superusers_act(
    spool: LocalSpool, tmp_path: Path
) -> None:
    handle = always_fails()
    assert spool.run_until_empty() == {"failed": 1}
    key = get_settings().secret_key  # the child must verify the files this process signed
    assert key
    script = tmp_path / "django_child.py"
    script.write_text(textwrap.dedent(DJANGO_CHILD))
    child = subprocess.run(
        [sys.executable, str(script), str(spool.dir), handle.task_id, key],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen["anonymous"][0] == 302 and seen["anonymous"][1].startswith("/login/?next=")
    assert seen["plain"][0] == 403 and seen["plain"][2] == 403  # not staff: nothing
    assert seen["staff"][:3] == [200, False, 403]  # staff look, but may not act
    root_page, root_button, root_post, root_location = seen["root"]
    assert (root_page, root_button, root_post) == (200, True, 303)
    assert root_location == f"/admin/spoolrt/task/{handle.task_id}"
    assert spool.failed() == [] and len(spool.pending()) == 1
