"""The task list over files, ordered before it is decoded (``spoolrt.dashboard.paging``,
``spoolrt.observe.waiting``): pages cover every file once, in order, and the filters hold,
over a temporary spool directory with real files and real locks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Spooler
from spoolrt.dashboard import CHALLENGE, Dashboard, basic_auth, make_app
from spoolrt.observe.waiting import waiting_files, written_at
from spoolrt.spooldir.layout import new_file_name
from spoolrt.testing import LocalSpool, local_spool
from tests.support.holding import running_elsewhere
from tests.unit.test_dashboard import USERS, call


@Spooler.task()
def alpha(n: int) -> int:
    return n


@Spooler.task()
def beta(n: int) -> int:
    return n


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


@pytest.fixture
def app(spool: LocalSpool) -> Dashboard:
    return make_app([str(spool.dir)], authorize=basic_auth(USERS), challenge=CHALLENGE)


def tasks(app: Dashboard, query: str) -> Any:
    return json.loads(call(app, "/api/tasks", user="eve", query=query).text)


def test_a_file_name_says_when_it_was_written() -> None:
    assert written_at("uwsgi_spoolfile_on_host_12_3_1700000000_250000", 1.0) == 1700000000.25
    before = time.time()
    assert before - 1 <= written_at(new_file_name(), 0.0) <= time.time() + 1
    assert written_at("uwsgi_spoolfile_on_odd-name", 7.0) == 7.0


def test_pages_cover_every_pending_file_once_oldest_first(app: Dashboard) -> None:
    handles = [alpha(i) for i in range(60)] + [beta(i) for i in range(60)]
    seen: list[str] = []
    for offset in (0, 50, 100):
        page = tasks(app, f"offset={offset}")
        seen += [r["task_id"] for r in page["tasks"]]
        assert page["more"] is (offset < 100)
    assert seen == [h.task_id for h in handles]  # written in this order
    newest = tasks(app, "sort=new")["tasks"]
    assert newest[0]["task_id"] == handles[-1].task_id


def test_status_name_and_sort_filters_hold_before_decoding(
    app: Dashboard, spool: LocalSpool
) -> None:
    now = [alpha(1), beta(2), alpha(3)]
    later = alpha.spool_with((4,), postpone=30)
    parked = beta.spool_with((5,), postpone=7200)
    assert [f.path for f in waiting_files(str(spool.dir))][-1] == parked.path
    scheduled = tasks(app, "status=scheduled")["tasks"]
    assert {r["task_id"] for r in scheduled} == {later.task_id, parked.task_id}
    pending = tasks(app, "status=pending")["tasks"]
    assert [r["task_id"] for r in pending] == [h.task_id for h in now]
    only_beta = tasks(app, "name=*:beta")["tasks"]
    assert {r["task_id"] for r in only_beta} == {now[1].task_id, parked.task_id}
    by_name = [r["name"] for r in tasks(app, "sort=name")["tasks"]]
    assert by_name == sorted(by_name) and len(by_name) == 5


def test_a_locked_file_is_listed_as_running(app: Dashboard) -> None:
    first, second = alpha(1), alpha(2)
    with running_elsewhere(first.path):
        running = tasks(app, "status=running")["tasks"]
        pending = tasks(app, "status=pending")["tasks"]
    assert [(r["task_id"], r["state"]) for r in running] == [(first.task_id, "running")]
    assert [r["task_id"] for r in pending] == [second.task_id]
