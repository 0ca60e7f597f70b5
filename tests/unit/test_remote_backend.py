"""The remote backend against fake uWSGI nodes on loopback: rotation, failover, the size limit,
and the configuration that names the pools. (Real uWSGI nodes: tests/integration/test_remote.py.)"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import spoolrt
from spoolrt.core.codec.envelope import ENVELOPE_KEY, decode_body
from spoolrt.core.codec.packet import HEADER, unpack
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.config import overridden
from spoolrt.core.errors import ConfigurationError, EnqueueError, NoNodeAvailable
from spoolrt.core.errors import RemotePayloadTooLarge as TooLarge
from spoolrt.core.pools import RemotePool
from spoolrt.sending.handle import RemoteTaskHandle

KEY = "unit-remote-backend-key-0123456789"


@spoolrt.Spooler.task
def remote_job(data: str) -> str:
    return data


class FakeNode:
    """Answers uwsgi packets as a uWSGI spooler would: ``reply`` 1 (written), 0 (refused), or
    None (read the packet, never answer: a node that hangs after the send); ``first``: the
    answers to the first packets, before ``reply``."""

    def __init__(self, reply: int | None = 1, first: tuple[int | None, ...] = ()) -> None:
        self.reply = reply
        self.first = list(first)
        self.packets: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                head = conn.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    continue
                body = conn.recv(HEADER.unpack(head)[1], socket.MSG_WAITALL)
                self.packets.append(head + body)
                reply = self.next_reply()
                if reply is None:
                    conn.recv(1)  # until the client gives up and closes
                elif isinstance(reply, int):
                    conn.sendall(HEADER.pack(255, 0, reply))
                # anything else: close without a reply

    def next_reply(self) -> int | str | None:
        """The answer to the packet just read."""
        return self.first.pop(0) if self.first else self.reply

    def task_ids(self) -> list[str]:
        signer = Signer([KEY])
        return [decode_body(unpack(p).vars[ENVELOPE_KEY], signer).task_id for p in self.packets]

    def close(self) -> None:
        self.stopping.set()
        self.server.close()


@pytest.fixture
def nodes() -> Iterator[list[FakeNode]]:
    made: list[FakeNode] = []
    yield made
    for node in made:
        node.close()


def pool(*addresses: str, **options: Any) -> Any:
    return overridden(
        secret_key=KEY, remote={"reports": {"nodes": list(addresses), **options}}, eager=False
    )


def node_of(handle: object) -> str:
    """The node a remote handle names (and a failure if the call did not go remote)."""
    assert isinstance(handle, RemoteTaskHandle), handle
    return handle.node


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # nobody listens there once closed


def test_calls_rotate_over_the_nodes_and_the_handle_knows_its_node(nodes: list[FakeNode]) -> None:
    nodes += [FakeNode(), FakeNode(), FakeNode()]
    with pool(*(n.address for n in nodes)):
        handles = [remote_job.spool_with(("x",), spooler="reports") for _ in range(9)]
    assert [len(n.packets) for n in nodes] == [3, 3, 3]
    assert all(isinstance(h, RemoteTaskHandle) and h.pool == "reports" for h in handles)
    for node in nodes:
        mine = {h.task_id for h in handles if node_of(h) == node.address}
        assert set(node.task_ids()) == mine and len(mine) == 3
    assert all(b"spooler" not in unpack(p).vars for n in nodes for p in n.packets)


def test_a_refusal_moves_the_task_to_the_next_node(nodes: list[FakeNode]) -> None:
    nodes += [FakeNode(reply=0), FakeNode()]
    with pool(nodes[0].address, nodes[1].address):
        handle = remote_job.spool_with(("x",), spooler="reports")
    assert node_of(handle) == nodes[1].address
    assert nodes[0].task_ids() == nodes[1].task_ids() == [handle.task_id]


def test_a_connection_error_moves_the_task_to_the_next_node(nodes: list[FakeNode]) -> None:
    nodes.append(FakeNode())
    with pool(closed_port(), nodes[0].address):
        handles = [spoolrt.Spooler.send_message_raw("m", spooler="reports") for _ in range(2)]
    assert all(isinstance(h, RemoteTaskHandle) for h in handles)
    assert {getattr(h, "node", "") for h in handles} == {nodes[0].address}
    assert nodes[0].task_ids() == [h.task_id for h in handles]


def test_a_timeout_after_sending_resends_the_same_task_id_to_the_same_node_first(
    nodes: list[FakeNode],
) -> None:
    # The node may have written the file it did not acknowledge: the resend goes where that
    # file would be, so the node's duplicate check sees both, and the other node gets nothing.
    nodes += [FakeNode(first=(None,)), FakeNode()]
    with pool(nodes[0].address, nodes[1].address, timeout=0.2):
        handle = remote_job.spool_with(("x",), spooler="reports")
    assert node_of(handle) == nodes[0].address
    assert nodes[0].task_ids() == [handle.task_id] * 2 and nodes[1].packets == []


def test_a_node_that_times_out_twice_hands_the_same_task_id_to_the_next_node(
    nodes: list[FakeNode],
) -> None:
    nodes += [FakeNode(reply=None), FakeNode()]
    with pool(nodes[0].address, nodes[1].address, timeout=0.2):
        handle = remote_job.spool_with(("x",), spooler="reports")
    assert node_of(handle) == nodes[1].address
    assert nodes[0].task_ids() == [handle.task_id] * 2
    assert nodes[1].task_ids() == [handle.task_id]


def test_no_node_taking_the_task_is_an_enqueue_error_naming_each_node(
    nodes: list[FakeNode],
) -> None:
    nodes.append(FakeNode(reply=0))
    dead = closed_port()
    with pool(dead, nodes[0].address), pytest.raises(NoNodeAvailable) as caught:
        remote_job.spool_with(("x",), spooler="reports")
    assert isinstance(caught.value, EnqueueError)
    assert {node for node, _what in caught.value.attempts} == {dead, nodes[0].address}
    assert "refused" in str(caught.value) and "reports" in str(caught.value)


def test_an_oversize_payload_is_refused_before_anything_is_sent(nodes: list[FakeNode]) -> None:
    nodes.append(FakeNode())
    with pool(nodes[0].address), pytest.raises(TooLarge, match="at most 4096"):
        remote_job.spool_with(("x" * 4000,), spooler="reports")
    with pool(nodes[0].address, buffer_size=16384):
        remote_job.spool_with(("x" * 4000,), spooler="reports")  # fits a bigger buffer
    assert len(nodes[0].packets) == 1 and len(nodes[0].packets[0]) > 4000


def test_eager_mode_runs_a_pools_tasks_inline_without_the_network() -> None:
    with pool(closed_port()), spoolrt.eager():
        handle = remote_job.spool_with(("inline",), spooler="reports")
        assert not isinstance(handle, RemoteTaskHandle) and handle.result() == "inline"


@pytest.mark.parametrize(
    ("value", "nodes"),
    [
        ({"p": ["127.0.0.1:3031", "[::1]:3032"]}, (("127.0.0.1", 3031), ("::1", 3032))),
        ({"p": {"nodes": ["/run/node.sock"], "timeout": "0.5"}}, (("/run/node.sock", 0),)),
    ],
)
def test_pools_are_read_by_type(value: Any, nodes: Any) -> None:
    with overridden(remote=value) as settings:
        assert settings.remote["p"].nodes == nodes
        assert isinstance(settings.remote["p"], RemotePool)


@pytest.mark.parametrize(
    "value",
    [
        ["127.0.0.1:3031"],
        {"p": "127.0.0.1:3031"},
        {"p": []},
        {"p": ["localhost"]},
        {"p": ["host:99999"]},
        {"p": {"nodes": ["h:1"], "size": 1}},
        {"p": {"nodes": ["h:1"], "timeout": 0}},
        {"a/b": ["h:1"]},
    ],
)
def test_a_pool_that_means_nothing_is_refused(value: Any) -> None:
    with overridden(), pytest.raises(ConfigurationError):
        spoolrt.configure(remote=value)
