"""A pool of real uWSGI nodes on loopback (spooler_node.ini, each its own spool directory and
store, the dashboard mounted in its app at /spoolrt): schedules fire on the one scheduler node,
two schedulers are reported, and ``spoolrt ls/stats/ps/schedules --node`` merge the nodes and
mark the ones that do not answer. Every node is stopped by its PID."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import flask
import pytest

from spoolrt.contrib.flask import Spoolrt
from spoolrt.core.options import TaskOptions
from spoolrt.sending.enqueue import enqueue
from spoolrt.sending.handle import RemoteTaskHandle
from tests.support.uwsgi import APPS, UwsgiInstance, free_port, wait_for

PASSWORD = "pool-viewer-password"
CLI_TIMEOUT = 30


class PoolNode:
    """One node: spool socket, HTTP app with the dashboard, and whether it fires schedules."""

    def __init__(self, workdir: Path, *, scheduler: bool) -> None:
        env = {
            "SPOOLRT_SOCKET": f"127.0.0.1:{free_port()}",
            "SPOOLRT_SCHEDULER": "1" if scheduler else "0",
            "POOL_DASHBOARD_PASSWORD": PASSWORD,
        }
        self.uwsgi = UwsgiInstance(
            "spooler_node.ini",
            workdir,
            env=env,
            app_dir=APPS / "pool",
            app="poolapp",
            tasks="pooltasks",
        )
        self.dashboard = f"http://127.0.0.1:{self.uwsgi.port}/spoolrt"

    def beats(self) -> Counter[str]:
        return Counter(row["key"] for row in self.uwsgi.runs("pool_beat"))


@pytest.fixture
def make_pool(tmp_path: Path) -> Iterator[Any]:
    started: list[PoolNode] = []

    def make(*schedulers: bool) -> list[PoolNode]:
        for scheduler in schedulers:
            node = PoolNode(tmp_path / f"node{len(started)}", scheduler=scheduler)
            started.append(node)
            node.uwsgi.start()
        return started[-len(schedulers) :]

    yield make
    for node in started:
        node.uwsgi.stop()


def spoolrt_cli(*args: str, auth: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPOOLRT_DASHBOARD_PASSWORD"}
    if auth:
        env["SPOOLRT_DASHBOARD_PASSWORD"] = PASSWORD
    return subprocess.run(
        [sys.executable, "-m", "spoolrt", *args, "--node-user", "viewer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def node_args(*urls: str) -> list[str]:
    return [arg for url in urls for arg in ("--node", url)]


def slot_of(key: str) -> datetime:
    stamp = key.rsplit("@", 1)[1]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


# --- schedules across nodes -------------------------------------------------------------------


def test_a_periodic_task_fires_once_per_slot_on_the_one_scheduler_node(make_pool: Any) -> None:
    scheduler, *others = make_pool(True, False, False)
    first = slot_of(min(wait_for(scheduler.beats, 20, what="a first slot")))
    last = first + timedelta(seconds=4)
    wait_for(lambda: any(slot_of(k) >= last for k in scheduler.beats()), 20, what=f"slot {last}")
    beats = scheduler.beats()
    window = [k for k in beats if first <= slot_of(k) <= last]
    assert sorted(slot_of(k) for k in window) == [first + timedelta(seconds=i) for i in range(5)]
    assert max(beats.values()) == 1, "a slot ran twice on the scheduler node"
    for node in others:  # they ran as long as the scheduler, and fired nothing
        assert node.beats() == Counter(), node.uwsgi.log()[-2000:]
        assert "scheduler=False" in node.uwsgi.log()

    result = spoolrt_cli(
        "schedules", *node_args(*(n.dashboard for n in (scheduler, *others))), "--json"
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["duplicates"] == [] and "WARNING" not in result.stderr
    by_node = {row["node"]: row for row in found["schedules"] if row["name"] == "pool_beat"}
    assert set(by_node) == {scheduler.dashboard, *(n.dashboard for n in others)}
    assert by_node[scheduler.dashboard]["last"] is not None
    assert all(by_node[n.dashboard]["last"] is None for n in others)


def test_two_scheduler_nodes_firing_the_same_slot_are_warned_about(make_pool: Any) -> None:
    nodes = make_pool(True, True)
    both = lambda: set(nodes[0].beats()) & set(nodes[1].beats())  # noqa: E731
    wait_for(both, 20, what="a slot fired on both nodes")
    urls = node_args(*(n.dashboard for n in nodes))

    def reported() -> Any:  # the slot's record reaches each store once its run ends
        found = json.loads(spoolrt_cli("schedules", *urls, "--json").stdout)
        return found["duplicates"]

    duplicates = wait_for(reported, 20, 0.2, "the pool view to see the slot on both nodes")
    assert {d["schedule"] for d in duplicates} == {"pool_beat"}
    assert all(d["nodes"] == sorted(n.dashboard for n in nodes) for d in duplicates)
    text = spoolrt_cli("schedules", *urls)
    assert text.returncode == 0
    assert "WARNING" in text.stderr and "pool_beat" in text.stderr
    assert "SPOOLRT_SCHEDULER=0" in text.stderr


# --- seeing the pool --------------------------------------------------------------------------


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_ls_stats_ps_merge_the_nodes_and_mark_the_ones_that_do_not_answer(
    make_pool: Any, silent_address: str
) -> None:
    a, b = make_pool(False, False)
    for node, tag in ((a, "on-a"), (b, "on-b")):
        node.uwsgi.request(f"/enqueue?tag={tag}&postpone=30")
    dead = f"127.0.0.1:{free_port()}"
    urls = node_args(a.dashboard, b.dashboard, dead, silent_address)

    listed = spoolrt_cli("ls", *urls, "--node-timeout", "1", "--json")
    assert listed.returncode == 3, listed.stderr
    found = json.loads(listed.stdout)
    assert {(t["node"], t["state"], t["name"]) for t in found["tasks"]} == {
        (a.dashboard, "scheduled", "pooltasks:later"),
        (b.dashboard, "scheduled", "pooltasks:later"),
    }
    status = {n["node"]: n for n in found["nodes"]}
    assert status[a.dashboard]["ok"] and status[b.dashboard]["ok"]
    assert not status[dead]["ok"] and "did not answer" in status[dead]["error"]
    assert status[silent_address]["error"] == "no answer within 1s"

    text = spoolrt_cli("ls", *urls, "--node-timeout", "1")
    assert text.returncode == 3
    assert f"node {dead}: did not answer" in text.stderr
    assert "2 of 4 node(s) did not answer" in text.stderr
    assert "NODE" in text.stdout and a.dashboard in text.stdout and b.dashboard in text.stdout

    stats = spoolrt_cli("stats", *node_args(a.dashboard, b.dashboard), "--json")
    assert stats.returncode == 0, stats.stderr
    rows = json.loads(stats.stdout)["spoolers"]
    assert {r["node"]: r["files"]["scheduled"] for r in rows} == {a.dashboard: 1, b.dashboard: 1}

    ps = spoolrt_cli("ps", *node_args(a.dashboard, b.dashboard, dead), "--json")
    assert ps.returncode == 3
    spoolers = json.loads(ps.stdout)["spoolers"]
    assert {s["node"] for s in spoolers} == {a.dashboard, b.dashboard}
    assert all(s["processes"] for s in spoolers), spoolers


def test_a_node_refusing_the_credentials_is_marked_not_skipped(make_pool: Any) -> None:
    (node,) = make_pool(False)
    result = spoolrt_cli("stats", "--node", node.dashboard, auth=False)
    assert result.returncode == 3
    assert "refused the credentials (HTTP 401)" in result.stderr


# --- the dashboard's pool page ---------------------------------------------------------------


@pytest.fixture
def pool_dashboard(tmp_path: Path) -> Iterator[Any]:
    """``spoolrt dashboard --node ...`` as a subprocess on loopback, stopped by its PID."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*nodes: str) -> str:
        port = free_port()
        spool = tmp_path / "local-spool"
        spool.mkdir(exist_ok=True)
        env = {**os.environ, "SPOOLRT_DASHBOARD_PASSWORD": PASSWORD}
        command = [sys.executable, "-m", "spoolrt", "dashboard", "--spool", str(spool)]
        command += ["--bind", f"127.0.0.1:{port}", "--user", "viewer", "--node-user", "viewer"]
        command += ["--node-timeout", "1", *node_args(*nodes)]
        with open(tmp_path / f"dashboard-{port}.log", "wb") as log:
            started.append(
                subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), 20, 0.05, "spoolrt dashboard to serve")
        return url

    yield start
    for proc in started:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _get(url: str) -> tuple[int, str]:
    auth = base64.b64encode(f"viewer:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _answers(url: str) -> bool:
    try:
        return _get(url + "/style.css")[0] == 200
    except OSError:
        return False


def test_the_dashboard_pool_page_shows_each_node_and_marks_the_dead_one(
    make_pool: Any, pool_dashboard: Any
) -> None:
    a, b = make_pool(True, True)  # two schedulers: the page must name the slots fired twice
    for node in (a, b):
        node.uwsgi.request("/enqueue?tag=x&postpone=30")
    dead = f"127.0.0.1:{free_port()}"
    url = pool_dashboard(a.dashboard, b.dashboard, dead)
    wait_for(lambda: set(a.beats()) & set(b.beats()), 20, what="a slot fired on both nodes")

    def duplicates_seen() -> Any:
        return json.loads(_get(url + "/api/pool")[1])["duplicates"]

    wait_for(duplicates_seen, 20, 0.2, "the pool page to see a slot on both nodes")
    view = json.loads(_get(url + "/api/pool")[1])
    status = {n["node"]: n for n in view["nodes"]}
    assert status[a.dashboard]["ok"] and status[b.dashboard]["ok"]
    assert not status[dead]["ok"] and "did not answer" in status[dead]["error"]
    files = {s["node"]: s["files"]["scheduled"] for s in view["spoolers"]}
    assert files == {a.dashboard: 1, b.dashboard: 1}

    code, html = _get(url + "/pool")
    assert code == 200
    assert a.dashboard in html and b.dashboard in html and dead in html
    assert 'id="duplicates"' in html and "pool_beat" in html
    code, overview = _get(url + "/")
    assert code == 200 and 'id="pool-link"' in overview and "3 nodes" in overview


# --- framework settings -----------------------------------------------------------------------


def test_a_pool_named_in_flask_config_takes_tasks_on_a_real_node(make_pool: Any) -> None:
    (node,) = make_pool(False)
    app = flask.Flask("pool_settings_app")
    app.config.update(
        SPOOLRT_SECRET_KEY=node.uwsgi.env["SPOOLRT_SECRET_KEY"],
        SPOOLRT_REMOTE={"reports": {"nodes": [node.uwsgi.env["SPOOLRT_SOCKET"]], "timeout": 5}},
    )
    Spoolrt(app)
    handle = enqueue(
        TaskOptions(spooler="reports"),
        type_id="fcall",
        message="ucfg_fcall",
        name="pooltasks:later",
        payload={"func": "pooltasks:later", "arg": ("from-flask",), "kwg": {}},
    )
    assert isinstance(handle, RemoteTaskHandle)
    assert handle.node == node.uwsgi.env["SPOOLRT_SOCKET"]
    node.uwsgi.wait_runs("later", 1, tag="from-flask")
