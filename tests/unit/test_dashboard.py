"""The dashboard WSGI app called directly (wsgiref's request environ), over a temporary spool
directory whose tasks the pure-Python worker ran: authorization, CSRF, roles, escaping, retry."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client.parser import text_string_to_metric_families

from spoolrt import Spooler
from spoolrt.core.errors import ConfigurationError
from spoolrt.dashboard import CHALLENGE, CSRF_COOKIE, Dashboard, basic_auth, make_app
from spoolrt.testing import LocalSpool, local_spool

USERS = {"ops": ("op-pass", "operator"), "eve": ("view-pass", "viewer")}
flaky_calls: list[str] = []


@Spooler.task(retries=0)
def flaky(label: str) -> str:
    flaky_calls.append(label)
    if len(flaky_calls) == 1:
        raise RuntimeError("first call fails")
    return label


@Spooler.task()
def fine(n: int) -> int:
    return n


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    flaky_calls.clear()
    with local_spool(tmp_path / "spool") as local:
        yield local


@pytest.fixture
def app(spool: LocalSpool) -> Dashboard:
    return make_app([str(spool.dir)], authorize=basic_auth(USERS), challenge=CHALLENGE)


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.code = int(status.split()[0])
        self.headers = dict(headers)
        self.body = body
        self.text = body.decode()


def call(
    app: Any,
    path: str,
    *,
    method: str = "GET",
    user: str | None = None,
    form: dict[str, str] | None = None,
    cookie: str = "",
    query: str = "",
) -> Answer:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
    setup_testing_defaults(environ)
    if user is not None:
        password = USERS[user][0] if user in USERS else "wrong"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        environ["HTTP_AUTHORIZATION"] = f"Basic {token}"
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    body = urlencode(form or {}).encode()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.update(status=status, headers=headers)

    chunks = b"".join(app(environ, start_response))
    return Answer(seen["status"], seen["headers"], chunks)


def csrf_of(app: Any, user: str, path: str) -> tuple[str, str]:
    """A page's CSRF cookie and the token its form carries."""
    page = call(app, path, user=user)
    cookie = page.headers["Set-Cookie"].split(";")[0]
    found = re.search(r'name="csrf"\s+value="([^"]+)"', page.text)
    return cookie, found.group(1) if found else cookie.split("=", 1)[1]


def failed_task(spool: LocalSpool) -> str:
    handle = flaky("<script>alert(1)</script>")
    fine(1)
    assert spool.run_until_empty() == {"failed": 1, "done": 1}
    return handle.task_id


PAGES = ["/", "/tasks", "/tasks?status=failed", "/metrics", "/api/overview", "/style.css"]


def test_the_dashboard_refuses_to_be_made_without_authorization(spool: LocalSpool) -> None:
    with pytest.raises(ConfigurationError, match="refuses to serve without authorization"):
        make_app([str(spool.dir)])


@pytest.mark.parametrize("path", [*PAGES, "/task/x"])
def test_no_credentials_get_401_on_every_page(app: Dashboard, path: str) -> None:
    page, _, query = path.partition("?")
    answer = call(app, page, query=query)
    assert answer.code == 401
    assert answer.headers["WWW-Authenticate"] == CHALLENGE
    assert call(app, page, query=query, user="mallory").code == 403  # wrong password


def test_no_credentials_get_401_on_the_retry_action(app: Dashboard, spool: LocalSpool) -> None:
    task_id = failed_task(spool)
    answer = call(app, f"/task/{task_id}/retry", method="POST", form={"csrf": "x" * 43})
    assert answer.code == 401
    assert spool.failed()  # nothing happened


def test_a_post_without_the_csrf_token_is_403(app: Dashboard, spool: LocalSpool) -> None:
    task_id = failed_task(spool)
    cookie, token = csrf_of(app, "ops", f"/task/{task_id}")
    path = f"/task/{task_id}/retry"
    assert call(app, path, method="POST", user="ops", cookie=cookie).code == 403
    assert call(app, path, method="POST", user="ops", form={"csrf": token}).code == 403  # no cookie
    wrong = {"csrf": "y" * len(token)}
    assert call(app, path, method="POST", user="ops", cookie=cookie, form=wrong).code == 403
    assert len(spool.failed()) == 1


def test_a_read_only_user_sees_but_cannot_act(app: Dashboard, spool: LocalSpool) -> None:
    task_id = failed_task(spool)
    page = call(app, f"/task/{task_id}", user="eve")
    assert page.code == 200
    assert 'id="retry"' not in page.text  # no button for a viewer
    cookie, token = csrf_of(app, "eve", f"/task/{task_id}")
    answer = call(
        app, f"/task/{task_id}/retry", method="POST", user="eve", cookie=cookie,
        form={"csrf": token},
    )  # fmt: skip
    assert answer.code == 403
    assert len(spool.failed()) == 1


def test_a_task_argument_with_html_shows_escaped(app: Dashboard, spool: LocalSpool) -> None:
    task_id = failed_task(spool)
    page = call(app, f"/task/{task_id}", user="ops")
    assert page.code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "RuntimeError: first call fails" in page.text  # the traceback is shown
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_an_operator_retries_from_the_stored_file_and_the_task_runs(
    app: Dashboard, spool: LocalSpool, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = failed_task(spool)
    cookie, token = csrf_of(app, "ops", f"/task/{task_id}")
    with caplog.at_level("INFO", logger="spoolrt.audit"):
        answer = call(
            app, f"/task/{task_id}/retry", method="POST", user="ops", cookie=cookie,
            form={"csrf": token},
        )  # fmt: skip
    assert answer.code == 303 and answer.headers["Location"].endswith(f"/task/{task_id}")
    assert spool.failed() == [] and len(spool.pending()) == 1
    assert any(f"ops retried {task_id}" in r.getMessage() for r in caplog.records)
    assert spool.run_until_empty() == {"done": 1}
    assert flaky_calls == ["<script>alert(1)</script>"] * 2  # the same arguments, from the file
    page = call(app, f"/task/{task_id}", user="eve")
    assert ">done<" in page.text


def test_the_task_list_filters_by_status_and_name_from_the_url(
    app: Dashboard, spool: LocalSpool
) -> None:
    task_id = failed_task(spool)
    failed = call(app, "/tasks", user="eve", query="status=failed")
    assert task_id in failed.text
    done = call(app, "/tasks", user="eve", query="status=done&name=fine")
    assert "tests.unit.test_dashboard:fine" in done.text and task_id not in done.text
    none = call(app, "/tasks", user="eve", query="status=done&name=nothing-like-this")
    assert "nothing here" in none.text


def test_metrics_and_the_overview_json(app: Dashboard, spool: LocalSpool) -> None:
    failed_task(spool)
    answer = call(app, "/metrics", user="eve")
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(answer.text)}
    assert {"spoolrt_spool_files", "spoolrt_tasks_finished"} <= names
    overview = json.loads(call(app, "/api/overview", user="eve").text)
    (spooler,) = overview["spoolers"]
    assert spooler["files"]["failed"] == 1 and spooler["stored"]["done"] == 1
    assert CSRF_COOKIE in call(app, "/", user="eve").headers["Set-Cookie"]


def test_an_operator_cancels_a_scheduled_task_and_a_viewer_cannot(
    app: Dashboard, spool: LocalSpool
) -> None:
    handle = fine.spool_with((5,), postpone=30)  # scheduled, in the spool dir itself
    path = f"/task/{handle.task_id}/cancel"
    cookie, token = csrf_of(app, "eve", f"/task/{handle.task_id}")
    viewer = call(app, path, method="POST", user="eve", cookie=cookie, form={"csrf": token})
    assert viewer.code == 403 and len(spool.pending()) == 1
    cookie, token = csrf_of(app, "ops", f"/task/{handle.task_id}")
    assert 'id="cancel"' in call(app, f"/task/{handle.task_id}", user="ops", cookie=cookie).text
    answer = call(app, path, method="POST", user="ops", cookie=cookie, form={"csrf": token})
    assert answer.code == 303
    assert spool.pending() == []
    assert handle.status == "cancelled"
    again = call(app, path, method="POST", user="ops", cookie=cookie, form={"csrf": token})
    assert again.code == 409  # nothing left to cancel
