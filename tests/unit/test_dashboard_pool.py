"""The dashboard's pool page in process: a node served over real loopback HTTP (wsgiref in a
thread, shut down by the test), a closed port, and a node that answers something else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

import spoolrt
from spoolrt.dashboard import CHALLENGE, basic_auth, make_app
from spoolrt.dashboard.pool import NO_NODES
from spoolrt.observe.fanout import Credentials
from spoolrt.testing import LocalSpool, local_spool
from tests.unit.test_dashboard import USERS, call, fine


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[Any] = []

    def start(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


def _not_a_dashboard(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<h1>hello</h1>"]


def test_the_pool_page_merges_the_nodes_and_marks_the_others(spool: LocalSpool, serve: Any) -> None:
    fine.spool_with((1,), postpone=30)
    node = serve(make_app([str(spool.dir)], authorize=basic_auth(USERS)))
    stranger = serve(_not_a_dashboard)
    nodes = [node, "127.0.0.1:1", stranger]
    pool = make_app(
        [str(spool.dir)],
        authorize=basic_auth(USERS),
        challenge=CHALLENGE,
        nodes=nodes,
        node_credentials=Credentials("eve", USERS["eve"][0]),
        node_timeout=2,
    )
    assert call(pool, "/pool").code == 401  # behind the dashboard's own authorize
    view = json.loads(call(pool, "/api/pool", user="eve").text)
    status = {n["node"]: n for n in view["nodes"]}
    assert status[node]["ok"] and not status["127.0.0.1:1"]["ok"]
    assert "not JSON" in status[stranger]["error"]
    assert [(s["node"], s["files"]["scheduled"]) for s in view["spoolers"]] == [(node, 1)]
    html = call(pool, "/pool", user="eve").text
    assert "127.0.0.1:1" in html and "did not answer" in html and 'id="pool"' in html
    assert 'id="pool-link"' in call(pool, "/", user="eve").text


def test_wrong_node_credentials_mark_the_node(spool: LocalSpool, serve: Any) -> None:
    node = serve(make_app([str(spool.dir)], authorize=basic_auth(USERS)))
    pool = make_app([str(spool.dir)], authorize=basic_auth(USERS), nodes=[node])
    (answer,) = json.loads(call(pool, "/api/pool", user="eve").text)["nodes"]
    assert answer["error"] == "refused the credentials (HTTP 403)"  # no challenge: 403


def test_without_nodes_the_page_says_how_to_name_them(spool: LocalSpool) -> None:
    pool = make_app([str(spool.dir)], authorize=basic_auth(USERS))
    assert NO_NODES.split(":")[0] in call(pool, "/pool", user="eve").text
    assert 'id="pool-link"' not in call(pool, "/", user="eve").text
    spoolrt.configure(dashboards={"reports": ["127.0.0.1:1"]})  # read at each request
    assert 'id="pool-link"' in call(pool, "/", user="eve").text
    bad = make_app([str(spool.dir)], authorize=basic_auth(USERS), nodes=["not a node"])
    assert "HOST:PORT" in call(bad, "/pool", user="eve").text
