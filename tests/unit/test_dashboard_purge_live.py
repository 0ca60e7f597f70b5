"""The dashboard's purge of one status (operator only, CSRF, a confirmation step, audited) and
its live refresh script (served by itself, allowed by its CSP, named by every page), called as
a WSGI app over a temporary spool directory run by the pure-Python worker."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoolrt import Spooler
from spoolrt.dashboard import CHALLENGE, Dashboard, basic_auth, make_app
from spoolrt.observe.audit import read_actions
from spoolrt.testing import LocalSpool, local_spool
from tests.unit.test_dashboard import USERS, Answer, call, csrf_of


@Spooler.task(retries=0)
def doomed(n: int) -> None:
    raise RuntimeError(f"doomed {n}")


@Spooler.task()
def later(n: int) -> int:
    return n


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


@pytest.fixture
def app(spool: LocalSpool) -> Dashboard:
    return make_app([str(spool.dir)], authorize=basic_auth(USERS), challenge=CHALLENGE)


def post(app: Dashboard, user: str, **form: str) -> Answer:
    cookie, token = csrf_of(app, user, "/purge?status=failed")
    return call(
        app, "/purge", method="POST", user=user, cookie=cookie, form={"csrf": token, **form}
    )


def test_purge_failed_asks_first_keeps_to_the_filter_and_is_audited(
    app: Dashboard, spool: LocalSpool
) -> None:
    gone = [doomed(1), doomed(2)]
    waits = later.spool_with((3,), postpone=30)
    spool.run_until_empty()
    assert len(spool.failed()) == 2
    listing = call(app, "/tasks", user="ops", query="status=failed").text
    assert 'id="purge"' in listing and "/purge?status=failed" in listing
    confirm = call(app, "/purge", user="ops", query="status=failed")
    assert confirm.code == 200 and 'id="confirm"' in confirm.text
    assert "2 failed task file(s) match" in confirm.text
    assert 'id="confirm"' not in call(app, "/purge", user="eve", query="status=failed").text

    assert post(app, "eve", status="failed", confirm="yes").code == 403  # a viewer
    assert post(app, "ops", status="failed").code == 400  # no confirmation
    assert post(app, "ops", status="running", confirm="yes").code == 400  # never running ones
    assert len(spool.failed()) == 2

    done = post(app, "ops", status="failed", confirm="yes")
    assert done.code == 200 and "purged 2 task file(s)" in done.text
    assert spool.failed() == [] and spool.pending() == [waits.path]  # the waiting one stays
    lines = read_actions(str(spool.dir))
    assert sorted(line["target"] for line in lines) == sorted(h.task_id for h in gone)
    assert {(line["who"], line["action"]) for line in lines} == {("ops", "purged")}
    assert lines[0]["filter"] == {"status": "failed"}


def test_purge_scheduled_takes_the_file_under_the_lock_and_drops_the_record(
    app: Dashboard, spool: LocalSpool
) -> None:
    waits = later.spool_with((4,), postpone=30)
    keep = later(5)
    assert post(app, "ops", status="scheduled", confirm="yes").code == 200
    assert not os.path.exists(waits.path) and spool.pending() == [keep.path]
    assert waits.status is None  # no file, no record: purged, not finished
    assert spool.run_until_empty() == {"done": 1}


def test_live_refresh_script_is_served_by_the_dashboard_and_named_by_pages(
    app: Dashboard, spool: LocalSpool
) -> None:
    script = call(app, "/live.js", user="eve")
    assert script.code == 200 and script.headers["Content-Type"] == "text/javascript"
    assert "fetch(" in script.text and "data-api" in script.text
    page = call(app, "/tasks", user="eve", query="status=pending&sort=new")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert '<script src="/live.js" defer></script>' in page.text
    assert 'data-api="/api/tasks?status=pending&amp;sort=new"' in page.text
    handle = later(6)
    detail = call(app, f"/task/{handle.task_id}", user="eve").text
    assert f'data-api="/api/task/{handle.task_id}"' in detail
    assert json.loads(call(app, f"/api/task/{handle.task_id}", user="eve").text)["state"]
    assert 'data-api="/api/overview"' in call(app, "/", user="eve").text
