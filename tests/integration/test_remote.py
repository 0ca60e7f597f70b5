"""Remote spooling on loopback with real uWSGI nodes (spooler_node.ini): each node its own spool
directory, store and ``--socket``; this process sends through ``configure(remote=...)``."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from spoolrt.core.codec.envelope import Envelope, encode_body, remote_vars
from spoolrt.core.codec.packet import HEADER, MODIFIER1_SPOOL, pack_vars
from spoolrt.core.codec.serializers import PickleSerializer, Signer
from spoolrt.core.config import overridden
from spoolrt.core.errors import NoNodeAvailable, RemotePayloadTooLarge
from spoolrt.sending.backends.remote import send_packet
from tests.support.pool import Node, drained, send_storm
from tests.support.uwsgi import UwsgiInstance, free_port, wait_for
from tests.support.worker import SECRET_KEY

TASKS = 600


@pytest.fixture
def make_nodes(tmp_path: Path) -> Iterator[Any]:
    started: list[Node] = []

    def make(count: int) -> list[Node]:
        for _ in range(count):
            started.append(Node(tmp_path / f"node{len(started)}").start())
        return started[-count:]

    yield make
    for node in started:
        node.stop()


def pool_of(nodes: list[Node], **options: Any) -> Any:
    spec = {"nodes": [n.address for n in nodes], "timeout": 5, **options}
    return overridden(secret_key=SECRET_KEY, remote={"reports": spec}, eager=False)


def runs_by_node(nodes: list[Node]) -> dict[str, Counter[tuple[str, int]]]:
    return {
        n.address: Counter((r["tag"], r["attempt"]) for r in n.uwsgi.runs("storm")) for n in nodes
    }


def wait_all_ran(nodes: list[Node], tags: set[str], timeout: float = 60) -> None:
    def done() -> bool:
        ran = {tag for runs in runs_by_node(nodes).values() for tag, _attempt in runs}
        return tags <= ran

    wait_for(done, timeout, 0.1, f"{len(tags)} tasks to run on the pool")


def test_tasks_sent_through_the_pool_run_once_each_and_every_node_takes_a_share(
    make_nodes: Any,
) -> None:
    nodes = make_nodes(3)
    with pool_of(nodes):
        handles = {f"t{i}": send_storm(f"t{i}") for i in range(TASKS)}
    wait_all_ran(nodes, set(handles))
    by_node = runs_by_node(nodes)
    total = sum(by_node.values(), Counter())
    assert {tag for tag, _ in total} == set(handles) and max(total.values()) == 1
    for node in nodes:
        ran_here = {tag for tag, _ in by_node[node.address]}
        assert ran_here == {t for t, h in handles.items() if h.node == node.address}
        assert len(ran_here) >= TASKS // 6, (node.address, len(ran_here))  # a real share
        # A task marks its run before uWSGI removes its file: wait for the file, then look.
        wait_for(partial(drained, node), 20, 0.05, "the node's files to go")
        assert node.uwsgi.area("quarantine") == []


def test_kill_9_of_a_node_mid_run_loses_no_acknowledged_task_and_runs_none_twice(
    make_nodes: Any,
) -> None:
    nodes = make_nodes(2)
    victim = nodes[0]
    # A third of the first half waits 3 s, so the victim holds acknowledged tasks on
    # its disk when it dies: they must run when it is back, not be lost or run elsewhere.
    with pool_of(nodes):
        handles = {}
        for i in range(TASKS):
            if i == TASKS // 2:
                victim.kill_9()
            postpone = 3 if i < TASKS // 2 and i % 3 == 0 else None
            handles[f"k{i}"] = send_storm(f"k{i}", postpone=postpone)
    after = [h.node for i, h in enumerate(handles.values()) if i > TASKS // 2]
    assert set(after) == {nodes[1].address}  # the survivor took every task after the kill
    waiting = {t for i, t in enumerate(handles) if i < TASKS // 2 and i % 3 == 0}
    on_victim = {t for t in waiting if handles[t].node == victim.address}
    assert on_victim  # the rotation gave the victim some of them
    victim.start()  # same spool directory and socket: the tasks it acknowledged run now
    wait_all_ran(nodes, set(handles))
    by_node = runs_by_node(nodes)
    total = sum(by_node.values(), Counter())
    assert {tag for tag, _ in total} == set(handles)
    # No attempt runs twice. The one task the victim's spooler was running when it was killed
    # may run again after the restart, but as its next attempt: the dead spooler's slot names
    # the lost run (a restart faster than the dead spooler is reaped once ran it again as the
    # same attempt, taking the zombie for alive).
    twice = [k for k, n in total.items() if n > 1]
    assert not twice, twice
    on_both = {t for t, _ in by_node[victim.address]} & {t for t, _ in by_node[nodes[1].address]}
    assert not on_both, on_both
    assert on_victim <= {tag for tag, _ in by_node[victim.address]}


def test_with_no_node_alive_the_call_fails_and_names_each_node(make_nodes: Any) -> None:
    nodes = make_nodes(2)
    for node in nodes:
        node.stop()
    with pool_of(nodes, timeout=2), pytest.raises(NoNodeAvailable) as caught:
        send_storm("nowhere")
    assert {node for node, _what in caught.value.attempts} == {n.address for n in nodes}


def raw_packet(key: str | None, tag: str, extra_vars: dict[bytes, bytes] | None = None) -> bytes:
    envelope = Envelope(
        task_id=f"raw-{tag}",
        type_id="fcall",
        message="ucfg_fcall",
        name="coretasks:storm",
        payload=PickleSerializer().dumps({"func": "coretasks:storm", "arg": (tag,), "kwg": {}}),
    )
    body = encode_body(envelope, None if key is None else Signer([key]))
    block = pack_vars({**remote_vars(envelope, body), **(extra_vars or {})})
    return HEADER.pack(MODIFIER1_SPOOL, len(block), 0) + block


def test_forged_and_unsigned_packets_sent_to_a_node_are_quarantined_never_run(
    make_nodes: Any,
) -> None:
    (node,) = make_nodes(1)
    target = ("127.0.0.1", node.port)
    send_packet(target, raw_packet("another-key-0123456789abcdef", "forged"), 5)
    send_packet(target, raw_packet(None, "unsigned"), 5)
    # a signed one, with the fastrouter's routing var beside it: runs, the var is ignored
    send_packet(target, raw_packet(SECRET_KEY, "signed", {b"UWSGI_FASTROUTER_KEY": b"reports"}), 5)
    node.uwsgi.wait_runs("storm", 1, tag="signed")
    kept = wait_for(
        lambda: len(node.uwsgi.area("quarantine")) == 2 and node.uwsgi.area("quarantine")
    )
    reasons = {json.loads(Path(f"{p}.json").read_text())["reason"] for p in kept}
    assert reasons == {"bad-signature"}
    assert [r["tag"] for r in node.uwsgi.runs("storm")] == ["signed"]


def test_an_oversize_payload_is_refused_before_it_reaches_a_node(make_nodes: Any) -> None:
    (node,) = make_nodes(1)
    with pool_of([node]), pytest.raises(RemotePayloadTooLarge, match="at most 4096"):
        send_storm("x" * 5000)
    with pool_of([node]):
        send_storm("after")  # the node is fine and took nothing else
    node.uwsgi.wait_runs("storm", 1, tag="after")
    assert [r["tag"] for r in node.uwsgi.runs("storm")] == ["after"]
    assert node.uwsgi.area("quarantine") == []


def test_a_send_that_timed_out_on_a_paused_node_runs_there_once_and_nowhere_else(
    make_nodes: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A node stopped (SIGSTOP of its master and children, by its process group) for longer than
    # the timeout takes the packet into its socket buffer and writes it once it resumes: the
    # file it never acknowledged exists. The resend goes to the same node, so that node holds
    # two files of one attempt and runs one; the other node never hears of the task.
    paused, other = make_nodes(2)
    assert paused.uwsgi.proc is not None
    group = paused.uwsgi.proc.pid
    caplog.set_level(logging.WARNING, logger="spoolrt")
    resending = "sending it to the same node again"

    def resume_once_resending() -> None:
        try:
            wait_for(lambda: resending in caplog.text, 30, 0.02, "the resend")
        finally:
            os.killpg(group, signal.SIGCONT)

    with pool_of([paused, other], timeout=1):
        os.killpg(group, signal.SIGSTOP)
        resumer = threading.Thread(target=resume_once_resending)
        resumer.start()
        try:
            handle = send_storm("paused")
        finally:
            resumer.join(60)
    assert handle.node == paused.address
    paused.uwsgi.wait_runs("storm", 1, tag="paused")
    kept = wait_for(lambda: paused.uwsgi.area("quarantine"), 20, 0.05, "the duplicate")
    records = [json.loads(Path(f"{p}.json").read_text()) for p in kept]
    assert [(r["reason"], r["task_id"]) for r in records] == [("duplicate", handle.task_id)]
    wait_for(lambda: paused.uwsgi.pending() == [], 20, 0.05, "the paused node to drain")
    assert [r["tag"] for r in paused.uwsgi.runs("storm")] == ["paused"]
    assert other.uwsgi.runs("storm") == [] and other.uwsgi.pending() == []


def test_a_delivery_that_arrives_while_its_twin_runs_waits_and_is_refused_not_run(
    tmp_path: Path,
) -> None:
    # Two spooler processes: the second file of one attempt (a resend after a timeout) must
    # not start beside the first one's run, where the store does not know the outcome yet.
    release = tmp_path / "release"
    envelope = Envelope(
        task_id="twin-1",
        type_id="fcall",
        message="ucfg_fcall",
        name="coretasks:holds",
        payload=PickleSerializer().dumps(
            {"func": "coretasks:holds", "arg": ("twin", str(release)), "kwg": {}}
        ),
    )
    block = pack_vars(remote_vars(envelope, encode_body(envelope, Signer([SECRET_KEY]))))
    packet = HEADER.pack(MODIFIER1_SPOOL, len(block), 0) + block
    port = free_port()
    with UwsgiInstance(
        "spooler_node.ini",
        tmp_path / "node",
        env={"SPOOLRT_SOCKET": f"127.0.0.1:{port}"},
        extra_args=("--spooler-processes", "2"),
    ) as node:
        send_packet(("127.0.0.1", port), packet, 5)
        node.wait_runs("holds", 1)
        send_packet(("127.0.0.1", port), packet, 5)
        wait_for(
            lambda: len(node.runs("holds")) > 1 or "runs in another process" in node.log(),
            20, 0.05, "the second spooler to look at the twin",
        )  # fmt: skip
        release.touch()
        kept = wait_for(lambda: node.area("quarantine"), 20, 0.05, "the twin set aside")
        records = [json.loads(Path(f"{p}.json").read_text()) for p in kept]
        assert [(r["reason"], r["task_id"]) for r in records] == [("duplicate", "twin-1")]
        wait_for(lambda: node.pending() == [], 20, 0.05, "the node to drain")
        assert [r["tag"] for r in node.runs("holds")] == ["twin"]
