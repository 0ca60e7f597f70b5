"""Fastrouter mode of the remote backend against a fake router on loopback: the routing var, the
retries through the router, the handle, and the configuration. (Real uWSGI fastrouter and nodes:
tests/integration/test_fastrouter.py.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import spoolrt
from spoolrt.core.codec.packet import unpack
from spoolrt.core.config import overridden
from spoolrt.core.errors import ConfigurationError, NoNodeAvailable
from spoolrt.core.errors import RemotePayloadTooLarge as TooLarge
from spoolrt.core.pools import RemotePool
from spoolrt.sending.backends.remote import ROUTER_KEY_VAR, RemoteBackend
from spoolrt.sending.handle import RemoteTaskHandle
from tests.unit.test_remote_backend import KEY, FakeNode, closed_port, remote_job

#: What the fake router does with each packet in turn: 1 or 0 (a node's reply, relayed),
#: "close" (closes without a reply, as uWSGI's router does when no node took it), None (hangs).
Reply = int | str | None


class FakeRouter(FakeNode):
    """Reads each packet and answers from ``replies`` in turn (the last one repeats)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [1]
        super().__init__()

    def next_reply(self) -> Reply:
        return self.replies[min(len(self.packets), len(self.replies)) - 1]


@pytest.fixture
def routers() -> Iterator[list[FakeRouter]]:
    made: list[FakeRouter] = []
    yield made
    for router in made:
        router.close()


def through(router: str, **options: Any) -> Any:
    spec = {"fastrouter": router, "key": "reports.pool", **options}
    return overridden(secret_key=KEY, remote={"reports": spec}, eager=False)


def test_every_packet_carries_the_routing_key_and_the_handle_names_the_router(
    routers: list[FakeRouter],
) -> None:
    routers.append(FakeRouter(1))
    with through(routers[0].address):
        handles = [remote_job.spool_with(("x",), spooler="reports") for _ in range(3)]
    assert all(isinstance(h, RemoteTaskHandle) and h.node == routers[0].address for h in handles)
    assert str(handles[0]) == f"reports@{routers[0].address}"
    assert [unpack(p).vars[ROUTER_KEY_VAR] for p in routers[0].packets] == [b"reports.pool"] * 3
    assert routers[0].task_ids() == [h.task_id for h in handles]


@pytest.mark.parametrize("first", [0, "close", None], ids=["refused", "unplaced", "timeout"])
def test_a_send_the_router_did_not_place_is_resent_with_the_same_task_id(
    routers: list[FakeRouter], first: Reply
) -> None:
    routers.append(FakeRouter(first, 1))
    with through(routers[0].address, timeout=0.3):
        handle = remote_job.spool_with(("x",), spooler="reports")
    assert routers[0].task_ids() == [handle.task_id] * 2


def test_the_router_is_tried_attempts_times_then_the_call_fails(
    routers: list[FakeRouter],
) -> None:
    routers.append(FakeRouter("close"))
    with through(routers[0].address, attempts=4), pytest.raises(NoNodeAvailable) as caught:
        remote_job.spool_with(("x",), spooler="reports")
    assert len(routers[0].packets) == 4 and len(caught.value.attempts) == 4
    assert "nothing was spooled" in str(caught.value)
    with through(closed_port()), pytest.raises(NoNodeAvailable, match="attempt 3"):
        remote_job.spool_with(("x",), spooler="reports")


def test_after_a_timeout_the_error_does_not_claim_nothing_was_spooled(
    routers: list[FakeRouter],
) -> None:
    routers.append(FakeRouter(None))
    with (
        through(routers[0].address, timeout=0.2, attempts=1),
        pytest.raises(NoNodeAvailable, match="may be spooled"),
    ):
        remote_job.spool_with(("x",), spooler="reports")


def test_the_routing_var_counts_towards_the_size_limit(routers: list[FakeRouter]) -> None:
    routers.append(FakeRouter(1))
    with through(routers[0].address, key="k" * 200), pytest.raises(TooLarge, match="fastrouter"):
        remote_job.spool_with(("x" * 3800,), spooler="reports")
    assert routers[0].packets == []


def test_a_fastrouter_pool_is_read_by_type_and_its_key_defaults_to_its_name() -> None:
    value = {"p": {"fastrouter": "127.0.0.1:3030", "timeout": "2", "attempts": "5"}}
    with overridden(remote=value) as settings:
        pool = settings.remote["p"]
        assert pool == RemotePool("p", (), 2.0, fastrouter=("127.0.0.1", 3030), key="p", attempts=5)
        assert pool.mode == "fastrouter" and settings.remote["p"].nodes == ()
        assert "fastrouter 127.0.0.1:3030 key 'p'" in repr(RemoteBackend(pool))
    with overridden(remote={"u": {"fastrouter": "/run/fastrouter.sock", "key": "reports"}}) as s:
        assert s.remote["u"].fastrouter == ("/run/fastrouter.sock", 0)


@pytest.mark.parametrize(
    "value",
    [
        {"p": {"fastrouter": "127.0.0.1:3030", "nodes": ["127.0.0.1:3031"]}},
        {"p": {"fastrouter": "nowhere"}},
        {"p": {"fastrouter": "127.0.0.1:3030", "key": ""}},
        {"p": {"fastrouter": "127.0.0.1:3030", "key": "a,b"}},
        {"p": {"fastrouter": "127.0.0.1:3030", "key": 3}},
        {"p": {"fastrouter": "127.0.0.1:3030", "attempts": 0}},
        {"p": {"nodes": ["127.0.0.1:3031"], "key": "k"}},
        {"p": {"nodes": ["127.0.0.1:3031"], "attempts": 2}},
    ],
)
def test_a_fastrouter_pool_that_means_nothing_is_refused(value: Any) -> None:
    with overridden(), pytest.raises(ConfigurationError):
        spoolrt.configure(remote=value)


def test_a_pool_built_directly_is_checked_too() -> None:
    with pytest.raises(ConfigurationError, match="either nodes or a fastrouter"):
        RemotePool("p")
    with pytest.raises(ConfigurationError, match="subscription key"):
        RemotePool("p", fastrouter=("127.0.0.1", 3030))


def test_concurrent_calls_through_the_router_each_get_their_own_acknowledgement(
    routers: list[FakeRouter],
) -> None:
    routers.append(FakeRouter(1))
    handles: list[object] = []
    with through(routers[0].address):
        threads = [
            threading.Thread(
                target=lambda: handles.append(remote_job.spool_with(("x",), spooler="reports"))
            )
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert len(handles) == 8 and len(routers[0].packets) == 8
