"""Purging finished history from the store: ``spoolrt purge --status done|skipped|cancelled``
and the dashboard's ``/purge?status=done`` (operator only, CSRF, a confirmation step, one audit
line per store with the count). Real files, the real SQLite store, the pure-Python worker."""

from __future__ import annotations

import json
import os
import pwd
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from spoolrt import Spooler
from spoolrt.cli import EXIT_OK, EXIT_USAGE, main
from spoolrt.core.errors import Skip
from spoolrt.core.outcomes import TaskStatus
from spoolrt.dashboard import CHALLENGE, Dashboard, basic_auth, make_app
from spoolrt.observe.audit import read_actions
from spoolrt.results import SQLiteResultStore, TaskDescription
from spoolrt.testing import LocalSpool, local_spool
from tests.unit.test_dashboard import USERS, Answer, call, csrf_of

DAY = 86400.0


@Spooler.task()
def fine(n: int) -> int:
    return n


@Spooler.task()
def idle(n: int) -> None:
    raise Skip("nothing to do")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


@pytest.fixture
def finished(spool: LocalSpool) -> dict[str, list[str]]:
    """Two done, one skipped and one cancelled task, run for real, and two done records of
    another task that finished three days ago (written as the dispatcher writes them)."""
    done = [fine(1), fine(2)]
    skipped = idle(3)
    cancelled = fine.spool_with((4,), postpone=3600)
    assert cancelled.cancel()
    assert spool.run_until_empty() == {"done": 2, "skipped": 1}
    with SQLiteResultStore.for_spool_dir(spool.dir) as store:
        for task_id in ("old1", "old2"):
            store.finished(
                task_id, TaskStatus.DONE, at=time.time() - 3 * DAY, task=TaskDescription("x:old")
            )
    return {
        "done": [h.task_id for h in done],
        "skipped": [skipped.task_id],
        "cancelled": [cancelled.task_id],
        "old": ["old1", "old2"],
    }


def counts(spool: LocalSpool) -> dict[TaskStatus, int]:
    with SQLiteResultStore.for_spool_dir(spool.dir) as store:
        return store.counts()


def purge_lines(spool: LocalSpool) -> list[dict[str, Any]]:
    return [a for a in read_actions(str(spool.dir)) if a["action"] == "purged"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json"]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_purges_one_status_and_audits_one_line_with_the_count(
    spool: LocalSpool, finished: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(spool.dir)
    data = run_json(capsys, "purge", "--spool", d, "--status", "done", "--yes")
    assert data["removed"] == [] and data["skipped"] == []
    assert data["records"] == [{"spooler": d, "status": "done", "count": 4}]
    assert counts(spool)[TaskStatus.DONE] == 0
    assert counts(spool)[TaskStatus.SKIPPED] == counts(spool)[TaskStatus.CANCELLED] == 1
    (line,) = purge_lines(spool)  # one line for the four records, not four
    me = pwd.getpwuid(os.getuid()).pw_name
    assert (line["who"], line["via"], line["count"]) == (me, "cli", 4)
    assert line["target"] == "4 done record(s)" and line["filter"]["status"] == "done"
    assert line["filter"]["before"] <= time.time()
    again = run_json(capsys, "purge", "--spool", d, "--status", "done", "--yes")
    assert again == {"removed": [], "skipped": [], "records": []}


def test_cli_keeps_to_the_age_and_the_task_filter(
    spool: LocalSpool, finished: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(spool.dir)
    data = run_json(capsys, "purge", "--spool", d, "--status", "done", "--older-than", "1d", "-y")
    assert data["records"] == [{"spooler": d, "status": "done", "count": 2}]  # the old ones
    assert {r.task_id for r in fine_records(spool)} == set(finished["done"])
    data = run_json(
        capsys, "purge", "--spool", d, "--status", "done", "--status", "skipped",
        "--task", "*:idle", "--yes",
    )  # fmt: skip
    assert data["records"] == [{"spooler": d, "status": "skipped", "count": 1}]
    assert counts(spool)[TaskStatus.DONE] == 2  # fine's: another task


def fine_records(spool: LocalSpool) -> list[Any]:
    with SQLiteResultStore.for_spool_dir(spool.dir) as store:
        return store.query(status="done")


def test_cli_before_takes_an_iso_time_and_never_a_task_finishing_later(
    spool: LocalSpool, finished: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(spool.dir)
    with SQLiteResultStore.for_spool_dir(spool.dir) as store:
        store.finished("late", TaskStatus.CANCELLED, at=time.time() + 3600)  # a clock ahead
    two_days_ago = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 2 * DAY))
    data = run_json(capsys, "purge", "--spool", d, "--status", "done", "--before", two_days_ago,
                    "--yes")  # fmt: skip
    assert data["records"] == [{"spooler": d, "status": "done", "count": 2}]
    data = run_json(capsys, "purge", "--spool", d, "--status", "cancelled", "--yes")
    assert data["records"] == [{"spooler": d, "status": "cancelled", "count": 1}]
    with SQLiteResultStore.for_spool_dir(spool.dir) as store:
        assert store.get("late") is not None  # finished after the cut: not this purge's


def test_cli_asks_first_and_refuses_without_a_terminal(
    spool: LocalSpool, finished: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(spool.dir)
    assert main(["purge", "--spool", d, "--status", "skipped"]) == EXIT_USAGE  # no --yes
    assert "without confirmation" in capsys.readouterr().err
    assert counts(spool)[TaskStatus.SKIPPED] == 1 and purge_lines(spool) == []
    assert main(["purge", "--spool", d, "--status", "failed", "--yes"]) == EXIT_USAGE  # a file
    assert main(["purge", "--spool", d, "--status", "running", "--yes"]) == EXIT_USAGE


def test_cli_purges_files_and_records_in_one_go(
    spool: LocalSpool, finished: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    waiting = fine.spool_with((5,), postpone=30)
    d = str(spool.dir)
    data = run_json(capsys, "purge", "--spool", d, "--pending", "--status", "cancelled", "-y")
    assert [r["id"] for r in data["removed"]] == [waiting.task_id]
    assert data["records"] == [{"spooler": d, "status": "cancelled", "count": 1}]
    assert spool.pending() == [] and counts(spool)[TaskStatus.CANCELLED] == 0


def test_cli_says_nothing_to_purge_without_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["purge", "--spool", str(tmp_path / "empty"), "--status", "done"]) == EXIT_OK
    assert capsys.readouterr().out == "nothing to purge\n"


# --- the dashboard ----------------------------------------------------------------------------


@pytest.fixture
def app(spool: LocalSpool) -> Dashboard:
    return make_app([str(spool.dir)], authorize=basic_auth(USERS), challenge=CHALLENGE)


def confirmation(app: Dashboard, user: str, query: str) -> tuple[Answer, dict[str, str]]:
    """The confirmation page and the form its button would send (with its CSRF cookie)."""
    page = call(app, "/purge", user=user, query=query)
    form = dict(re.findall(r'<input type="hidden"\s+name="([^"]+)"\s+value="([^"]*)"', page.text))
    form.update(re.findall(r'<input\s+type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return page, form


def send(app: Dashboard, user: str, form: dict[str, str]) -> Answer:
    cookie, token = csrf_of(app, user, "/purge?status=done")
    return call(app, "/purge", method="POST", user=user, cookie=cookie,
                form={**form, "csrf": token})  # fmt: skip


def finished_total(app: Dashboard) -> dict[str, float]:
    text = call(app, "/metrics", user="eve").text
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "spoolrt_tasks_finished"
    ]
    totals: dict[str, float] = {}
    for sample in family.samples:
        if sample.name.endswith("_total"):
            outcome = sample.labels["outcome"]
            totals[outcome] = totals.get(outcome, 0.0) + sample.value
    return totals


def test_dashboard_purges_done_records_after_asking_and_audits_one_line(
    app: Dashboard, spool: LocalSpool, finished: dict[str, list[str]]
) -> None:
    listing = call(app, "/tasks", user="ops", query="status=done").text
    assert 'id="purge"' in listing and "/purge?status=done" in listing
    page, form = confirmation(app, "ops", "status=done")
    assert page.code == 200 and "4 done record(s) match" in page.text
    assert form["status"] == "done" and form["confirm"] == "yes" and float(form["before"])
    viewer, _ = confirmation(app, "eve", "status=done")
    assert "4 done record(s) match" in viewer.text and 'id="confirm"' not in viewer.text
    assert finished_total(app)["done"] == 4

    assert send(app, "eve", form).code == 403  # a viewer
    no_token = call(app, "/purge", method="POST", user="ops", form=form)
    assert no_token.code == 403  # no CSRF token
    assert send(app, "ops", {**form, "confirm": ""}).code == 400  # no confirmation
    assert counts(spool)[TaskStatus.DONE] == 4

    # A task that finishes after the page was shown is not what the operator confirmed.
    with SQLiteResultStore.for_spool_dir(spool.dir) as store:
        store.finished("after", TaskStatus.DONE, at=float(form["before"]) + 1)
    done = send(app, "ops", form)
    assert done.code == 200 and "purged 4 done record(s) from the store" in done.text
    assert [r.task_id for r in fine_records(spool)] == ["after"]
    (line,) = purge_lines(spool)
    assert (line["who"], line["target"], line["count"]) == ("ops", "4 done record(s)", 4)
    assert line["filter"] == {"status": "done", "before": float(form["before"])}
    assert finished_total(app)["done"] == 1  # the counters come from the store's records


def test_dashboard_purge_of_history_keeps_to_the_name_and_window(
    app: Dashboard, spool: LocalSpool, finished: dict[str, list[str]]
) -> None:
    page, form = confirmation(app, "ops", "status=done&name=*:fine&since=24h")
    assert "2 done record(s) match" in page.text
    assert send(app, "ops", form).code == 200
    assert {r.task_id for r in fine_records(spool)} == set(finished["old"])
    page, form = confirmation(app, "ops", "status=done&since=24h")
    assert "0 done record(s) match" in page.text and 'id="confirm"' not in page.text
    (line,) = purge_lines(spool)
    assert line["filter"]["name"] == "*:fine" and line["filter"]["since"] == "24h"


def test_dashboard_purge_of_cancelled_and_a_forged_cut(
    app: Dashboard, spool: LocalSpool, finished: dict[str, list[str]]
) -> None:
    _, form = confirmation(app, "ops", "status=cancelled")
    # A cut in the future is taken as now; one that is not a number, too.
    assert send(app, "ops", {**form, "before": "nan"}).code == 200
    assert counts(spool)[TaskStatus.CANCELLED] == 0
    with SQLiteResultStore.for_spool_dir(spool.dir) as store:
        store.finished("later", TaskStatus.SKIPPED, at=time.time() + 3600)
    assert send(app, "ops", {**form, "status": "skipped", "before": "1e300"}).code == 200
    assert counts(spool)[TaskStatus.SKIPPED] == 1  # only the one finishing in the future left
