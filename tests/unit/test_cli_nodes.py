"""``--node`` command lines that cannot work are refused with the reason, before any request;
the credentials file is read like ``spoolrt dashboard``'s password file."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import spoolrt
from spoolrt.cli import main
from spoolrt.cli.nodes import EXIT_NODE_DOWN, read_credentials, window_for
from spoolrt.core.errors import CommandError


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["ls", "--node", "nowhere"], "HOST:PORT"),
        (["stats", "--node", "127.0.0.1:1", "--node-timeout", "0"], "--node-timeout"),
        (["ps", "--node", "127.0.0.1:1", "--node-timeout", "nan"], "--node-timeout"),
        (["ls", "--node", "127.0.0.1:1", "--since", "soon"], "--since"),
    ],
)
def test_a_node_command_line_that_cannot_work_is_a_usage_error(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert problem in capsys.readouterr().err


def test_a_closed_port_is_marked_with_exit_3_and_json_still_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOOLRT_DASHBOARD_PASSWORD", raising=False)
    assert main(["stats", "--node", "127.0.0.1:1", "--json"]) == EXIT_NODE_DOWN
    out, err = capsys.readouterr()
    (node,) = json.loads(out)["nodes"]
    assert node["node"] == "127.0.0.1:1" and not node["ok"]
    assert "node 127.0.0.1:1: did not answer" in err


def test_the_credentials_file_is_one_private_user_password_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nodes"
    path.write_text("# the pool's viewer\nviewer:s3:cret\n")
    path.chmod(0o600)
    credentials = read_credentials(str(path), "ignored")
    assert credentials is not None and (credentials.user, credentials.password) == (
        "viewer",
        "s3:cret",
    )
    path.chmod(0o644)
    with pytest.raises(CommandError, match="readable by others"):
        read_credentials(str(path), "admin")
    path.write_text("a:b\nc:d\n")
    path.chmod(0o600)
    with pytest.raises(CommandError, match="one line user:password"):
        read_credentials(str(path), "admin")
    monkeypatch.setenv("SPOOLRT_DASHBOARD_PASSWORD", "from-env")
    from_env = read_credentials(None, "ops")
    assert from_env is not None and (from_env.user, from_env.password) == ("ops", "from-env")
    monkeypatch.delenv("SPOOLRT_DASHBOARD_PASSWORD")
    assert read_credentials(None, "ops") is None


def test_a_pool_name_asks_every_dashboard_of_the_pool(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOOLRT_DASHBOARD_PASSWORD", raising=False)
    spoolrt.configure(dashboards={"reports": ["127.0.0.1:1", "127.0.0.1:2"]})
    assert main(["ps", "--node", "reports", "--json"]) == EXIT_NODE_DOWN
    nodes = json.loads(capsys.readouterr().out)["nodes"]
    assert [n["node"] for n in nodes] == ["127.0.0.1:1", "127.0.0.1:2"]


def test_a_remote_pool_without_dashboards_says_what_to_configure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spoolrt.configure(remote={"reports": ["127.0.0.1:3031"]})
    assert main(["stats", "--node", "reports"]) == 2
    assert "configure(dashboards=" in capsys.readouterr().err


class FakeDashboard(BaseHTTPRequestHandler):
    """``/api/tasks`` of a node: the rows of ``server.rows`` (one page), each query kept."""

    server: Any

    def do_GET(self) -> None:
        self.server.queries.append(parse_qs(urlsplit(self.path).query))
        body = json.dumps({"tasks": self.server.rows, "more": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def dashboard() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), FakeDashboard)
    server.queries, server.rows = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_ls_since_asks_each_node_for_a_window_holding_it_and_keeps_the_rows_from_then(
    dashboard: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOOLRT_DASHBOARD_PASSWORD", raising=False)
    now = time.time()
    dashboard.rows = [
        {"state": "done", "task_id": f"t{age}", "name": "n", "spooler": "/s", "when": now - age}
        for age in (60, 3 * 3600, 5 * 3600)
    ] + [{"state": "pending", "task_id": "never", "name": "n", "spooler": "/s", "when": None}]
    node = f"127.0.0.1:{dashboard.server_address[1]}"
    assert main(["ls", "--node", node, "--since", "4h", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)["tasks"]
    assert [t["task_id"] for t in tasks] == [f"t{3 * 3600}", "t60"]  # oldest first
    assert dashboard.queries[0]["since"] == ["6h"]  # the narrowest window that holds 4 h


def test_the_window_asked_for_is_the_narrowest_that_holds_the_time() -> None:
    now = time.time()
    assert window_for(None) == ""
    assert window_for(now - 60) == "15m" and window_for(now - 3600) == "6h"
    assert window_for(now - 8 * 86400) == ""  # none does: no filter there, the cut is here
