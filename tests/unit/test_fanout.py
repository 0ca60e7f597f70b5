"""The pool-wide view's pure parts: node addresses, pools by name, merging answers, finding a
slot that ran on two nodes (the real fan-out over uWSGI nodes: tests/integration/test_pool.py)."""

from __future__ import annotations

import socket
import threading

import pytest

import spoolrt
from spoolrt.core.errors import ConfigurationError
from spoolrt.observe.fanout import (
    Answer,
    Credentials,
    Node,
    duplicate_slots,
    fan_out,
    fetch,
    merged,
    parse_node,
    resolve_nodes,
    warning_of,
)


def test_a_node_is_host_port_or_a_url_with_a_prefix() -> None:
    assert parse_node("10.0.0.5:9181") == Node("10.0.0.5:9181", "http://10.0.0.5:9181")
    assert parse_node("[::1]:9181").url == "http://[::1]:9181"
    assert parse_node("https://n1.example/spoolrt/").url == "https://n1.example/spoolrt"


@pytest.mark.parametrize(
    "bad", ["", "n1", "n1:0", "/run/dash.sock", "ftp://n1/", "http://n1/?a=1", "http:///x"]
)
def test_a_bad_node_address_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="node"):
        parse_node(bad)


def test_a_pool_name_stands_for_its_nodes_and_duplicates_go() -> None:
    pools = {"reports": ["n1:9181", "n2:9181"]}
    nodes = resolve_nodes(["reports", "n1:9181", "n3:9181"], pools)
    assert [n.url for n in nodes] == ["http://n1:9181", "http://n2:9181", "http://n3:9181"]
    with pytest.raises(ConfigurationError, match="no node"):
        resolve_nodes([], pools)


def test_dashboards_are_a_setting_read_by_type() -> None:
    spoolrt.configure(dashboards={"reports": ["n1:9181"]})
    assert spoolrt.get_settings().dashboards == {"reports": ["n1:9181"]}
    bad_values: list[object] = [
        ["n1:9181"],
        {"reports": "n1:9181"},
        {"reports": []},
        {"": ["n1:1"]},
    ]
    for bad in bad_values:
        with pytest.raises(ConfigurationError, match="dashboards"):
            spoolrt.configure(dashboards=bad)


def test_credentials_never_show_the_password() -> None:
    credentials = Credentials("viewer", "s3cret")
    assert "s3cret" not in repr(credentials)
    assert credentials.header() == "Basic dmlld2VyOnMzY3JldA=="


def _schedules(node: str, *rows: dict[str, object]) -> Answer:
    return Answer(Node(node, f"http://{node}"), data={"schedules": list(rows)})


def test_a_slot_on_two_nodes_is_a_duplicate_and_a_node_down_only_loses_its_rows() -> None:
    answers = [
        _schedules(
            "a:1", {"name": "beat", "last": {"id": "beat@2"}, "recent": ["beat@2", "beat@1"]}
        ),
        _schedules(
            "b:1", {"name": "beat", "last": {"id": "beat@3"}, "recent": ["beat@3", "beat@1"]}
        ),
        _schedules("c:1", {"name": "beat", "last": None, "recent": []}),
        Answer(Node("d:1", "http://d:1"), error="did not answer: Connection refused"),
    ]
    assert [r["node"] for r in merged(answers, "schedules")] == ["a:1", "b:1", "c:1"]
    assert duplicate_slots(answers) == [
        {"schedule": "beat", "slot": "beat@1", "nodes": ["a:1", "b:1"]}
    ]
    warning = warning_of(duplicate_slots(answers))
    assert warning is not None and "a:1, b:1" in warning
    assert warning_of([]) is None
    assert duplicate_slots(answers[2:]) == []


def test_fan_out_to_a_closed_port_answers_with_the_reason_at_once() -> None:
    (answer,) = fan_out([parse_node("127.0.0.1:1")], "/api/overview", None, timeout=2)
    assert not answer.ok and answer.error is not None and "did not answer" in answer.error
    assert answer.status()["ok"] is False


def test_a_node_that_drips_its_answer_is_cut_off_at_the_timeout() -> None:
    """The asking thread itself ends (not only the caller's wait): a dashboard process asking
    a dripping node every request must not pile up threads."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        stop = threading.Event()

        def drip() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                while not stop.wait(0.05):
                    try:
                        connection.sendall(b" ")
                    except OSError:
                        return

        server = threading.Thread(target=drip, daemon=True)
        server.start()
        node = parse_node(f"127.0.0.1:{listener.getsockname()[1]}")
        answers: list[Answer] = []
        asking = threading.Thread(target=lambda: answers.append(fetch(node, "/", None, 0.5)))
        asking.start()
        asking.join(20)
        stop.set()
        server.join(5)
    assert not asking.is_alive(), "fetch kept reading a dripping answer"
    assert answers[0].error == "no answer within 0.5s"
