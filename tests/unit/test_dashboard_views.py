"""The dashboard's views beyond overview/list/detail, called as a WSGI app over a temporary
spool run by the pure-Python worker: timings, schedules, processes, the list's sort and time
filter in the URL, the audit log file, "retry all failed matching", "run a schedule now" and
the JSON API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from spoolrt import Spooler
from spoolrt.api.schedules import registry
from spoolrt.core.outcomes import TaskStatus
from spoolrt.dashboard import CHALLENGE, Dashboard, basic_auth, make_app
from spoolrt.observe.audit import audit_path
from spoolrt.observe.history import slot_prefix, store_path
from spoolrt.results import SQLiteResultStore, TaskDescription
from spoolrt.testing import LocalSpool, local_spool
from tests.unit.test_dashboard import USERS, Answer, call, csrf_of, fine

SCHEDULE = "tests.dashboard.nightly"


@Spooler.task(retries=0)
def broken(n: int) -> None:
    raise RuntimeError(f"broken {n}")


@Spooler.task(retries=0)
def other_broken() -> None:
    raise RuntimeError("another failure")


@Spooler.task()
def nightly_job() -> str:
    return "ok"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


@pytest.fixture
def app(spool: LocalSpool) -> Dashboard:
    return make_app([str(spool.dir)], authorize=basic_auth(USERS), challenge=CHALLENGE)


@pytest.fixture
def nightly() -> Iterator[str]:
    Spooler.cron("0 3 * * *", name=SCHEDULE)(nightly_job)
    yield SCHEDULE
    registry.unregister(SCHEDULE)


def post(app: Dashboard, path: str, user: str, page: str, **form: str) -> Answer:
    cookie, token = csrf_of(app, user, page)
    return call(app, path, method="POST", user=user, cookie=cookie, form={"csrf": token, **form})


def audit_lines(spool: LocalSpool) -> list[dict[str, object]]:
    with open(audit_path(str(spool.dir))) as f:
        return [json.loads(line) for line in f]


def test_timings_show_run_and_wait_percentiles_per_task(app: Dashboard, spool: LocalSpool) -> None:
    for n in range(3):
        fine(n)
    assert spool.run_until_empty() == {"done": 3}
    page = call(app, "/timings", user="eve")
    assert page.code == 200 and "tests.unit.test_dashboard:fine" in page.text
    (row,) = json.loads(call(app, "/api/timings", user="eve").text)["timings"]
    assert row["task"] == "tests.unit.test_dashboard:fine" and row["finished"] == 3
    assert row["run"]["count"] == 3 and 0 <= row["run"]["p50"] <= row["run"]["p95"]


def test_the_list_keeps_sort_and_time_window_in_the_url(app: Dashboard, spool: LocalSpool) -> None:
    fine(1)
    assert spool.run_until_empty() == {"done": 1}
    with SQLiteResultStore(store_path(str(spool.dir)), purge_interval=None) as store:
        store.finished(
            "two-hours-ago", TaskStatus.DONE, at=time.time() - 7200,
            task=TaskDescription(name="a.tasks:old"),
        )  # fmt: skip
    everything = call(app, "/tasks", user="eve", query="status=done&sort=name")
    assert everything.text.index("a.tasks:old") < everything.text.index("test_dashboard:fine")
    recent = call(app, "/tasks", user="eve", query="status=done&since=1h&sort=name")
    assert "two-hours-ago" not in recent.text and "test_dashboard:fine" in recent.text
    assert '<option value="1h" selected>' in recent.text  # the form shows the URL's filter
    assert "since=1h" in recent.text and "sort=state" in recent.text  # column links keep it
    rows = json.loads(call(app, "/api/tasks", user="eve", query="status=done&sort=new").text)
    assert [r["task_id"] for r in rows["tasks"]][-1] == "two-hours-ago" and not rows["more"]


def test_retry_all_failed_matching_asks_first_and_keeps_to_the_filter(
    app: Dashboard, spool: LocalSpool
) -> None:
    broken(1), broken(2), other_broken()
    assert spool.run_until_empty() == {"failed": 3}
    confirm = call(app, "/tasks/retry-failed", user="ops", query="name=*:broken")
    assert "2 failed task(s) match" in confirm.text and 'id="confirm"' in confirm.text
    page = "/tasks/retry-failed?name=*:broken"
    refused = post(app, "/tasks/retry-failed", "ops", page, name="*:broken")
    assert refused.code == 400 and len(spool.failed()) == 3
    viewer = post(app, "/tasks/retry-failed", "eve", page, name="*:broken", confirm="yes")
    assert viewer.code == 403 and len(spool.failed()) == 3
    done = post(app, "/tasks/retry-failed", "ops", page, name="*:broken", confirm="yes")
    assert done.code == 200 and "retried 2 failed task(s)" in done.text
    assert len(spool.failed()) == 1 and len(spool.pending()) == 2
    lines = audit_lines(spool)
    assert [(a["who"], a["action"]) for a in lines] == [("ops", "retried")] * 2
    assert all(a["filter"] == {"name": "*:broken"} and a["at"] for a in lines)


def test_an_action_is_a_json_line_in_the_audit_log_and_in_api_audit(
    app: Dashboard, spool: LocalSpool
) -> None:
    handle = fine.spool_with((5,), postpone=30)
    answer = post(app, f"/task/{handle.task_id}/cancel", "ops", f"/task/{handle.task_id}")
    assert answer.code == 303
    (line,) = audit_lines(spool)
    assert (line["who"], line["action"], line["target"]) == ("ops", "cancelled", handle.task_id)
    assert oct(Path(audit_path(str(spool.dir))).stat().st_mode & 0o777) == "0o600"
    (listed,) = json.loads(call(app, "/api/audit", user="eve").text)["actions"]
    assert listed == line
    assert handle.task_id in call(app, "/audit", user="eve").text


def test_schedules_page_lists_next_runs_and_runs_one_now(
    app: Dashboard, spool: LocalSpool, nightly: str
) -> None:
    page = call(app, "/schedules", user="ops")
    assert nightly in page.text and "0 3 * * *" in page.text and "run now" in page.text
    assert "run now" not in call(app, "/schedules", user="eve").text
    answer = post(app, "/schedules/run", "ops", "/schedules", schedule=nightly)
    assert answer.code == 303
    task_id = unquote(answer.headers["Location"].rsplit("/", 1)[1])
    assert task_id.startswith(slot_prefix(nightly))  # a slot id: it counts as the last run
    assert spool.run_until_empty() == {"done": 1}
    (described,) = json.loads(call(app, "/api/schedules", user="eve").text)["schedules"]
    assert described["last"]["id"] == task_id and described["last"]["status"] == "done"
    assert [(a["action"], a["target"]) for a in audit_lines(spool)] == [("ran schedule", nightly)]
    missing = post(app, "/schedules/run", "ops", "/schedules", schedule="no.such")
    assert missing.code == 404


def test_processes_page_and_json_say_when_nothing_is_announced(
    app: Dashboard, spool: LocalSpool
) -> None:
    assert "no spooler process announced" in call(app, "/processes", user="eve").text
    (spooler,) = json.loads(call(app, "/api/processes", user="eve").text)["spoolers"]
    assert spooler == {"spooler": str(spool.dir), "processes": []}


def test_task_detail_json_and_unknown_endpoints(app: Dashboard, spool: LocalSpool) -> None:
    handle = fine(7)
    detail = json.loads(call(app, f"/api/task/{handle.task_id}", user="eve").text)
    assert detail["state"] == "pending" and detail["arguments"] and "entry" not in detail
    assert call(app, "/api/task/nope", user="eve").code == 404
    assert call(app, "/api/nothing", user="eve").code == 404
    assert call(app, "/api/tasks").code == 401  # the API is guarded like the pages
