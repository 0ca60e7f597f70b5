"""Sending tasks to a pool of uWSGI nodes over the network: direct (a static node list) or
through a uWSGI fastrouter.

uWSGI writes a uwsgi packet with modifier1 17, sent to any ``--socket`` of an instance that has
a spooler, as a spool file of that instance's first spooler, and answers 4 bytes: modifier1 255,
then modifier2 1 (the file is written: if uWSGI cannot send this reply it unlinks the file, so an
acknowledgement means the file exists) or 0 (refused: no spooler, or it could not write). The
packet has no body and at most the node's ``buffer-size`` bytes (a bigger one resets the
connection), and anyone who reaches the socket may send one: the envelope travels signed in a var
(``envelope.remote_vars``) and the node verifies it like any file.

Delivery, per call: nodes are tried in turn from a rotating start (so calls spread over the
pool). A refusal or a connection error before the whole packet was sent moves on to the next
node: nothing can be on the first one's disk. A send that got no answer after the whole packet
was sent (``NoAnswer``: a timeout, a reset or a close) is ambiguous, since the node may have
written the file all the same (a node paused or overloaded past ``timeout`` writes it when it
resumes), so the same bytes (the same ``task_id`` and attempt) are sent to that same node again,
``SAME_NODE_RESENDS`` times: two files of one attempt on one node run once, the node's
duplicate check (``runtime.dispatch``) sets the second aside as ``duplicate``. Only when that
resend fails too does the task move on to the next node; that is the one way a task can run on
two nodes (each node has its own store): the first node wrote a file it never acknowledged and
the next one took the task. A node that failed is skipped for ``RETRY_DOWN`` seconds, unless
every node is marked down, so a dead host does not cost each call a timeout.

Fastrouter mode: every packet goes to the router with the var ``UWSGI_FASTROUTER_KEY`` = the
pool's key; the router passes it on unchanged to a node subscribed under that key (with
``modifier1=17``; without it the router turns the packet into a WSGI request) and relays the
node's reply. The router itself skips a node that refuses the connection (measured: it marks it
failed and tries the next); a node that does not connect within its ``fastrouter-timeout`` (a
partition) makes it close the sender's connection. A send it could not place (closed without an
answer: that, or no node alive) or a refusal is tried again through the router,
``pool.attempts`` times in all, then ``NoNodeAvailable``; a timeout after sending is resent with
the same bytes, as in direct mode, but the router picks the node again (round robin over the
key's nodes; uWSGI has no option to keep a packet's node), so after a timeout the task can run on
two nodes: at-least-once across the pool. uWSGI's reply says nothing of the node, so the
handle names the router; the node's own store has the task's record. The node ignores the
routing var (``envelope.envelope_bytes`` reads only spoolrt's own).
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time

from spoolrt.core.codec.envelope import Envelope, remote_vars
from spoolrt.core.codec.packet import HEADER, MODIFIER1_SPOOL, pack_vars
from spoolrt.core.errors import NoNodeAvailable, PayloadTooLarge, RemotePayloadTooLarge
from spoolrt.core.pools import RemotePool
from spoolrt.sending.backends.base import Backend

log = logging.getLogger("spoolrt")

#: uWSGI's reply: modifier1 255, size 0, modifier2 1 (written) or 0 (refused).
MODIFIER1_REPLY = 255
WRITTEN, REFUSED = 1, 0

#: Seconds a node that failed is left out of the rotation (while another node is up).
RETRY_DOWN = 2.0

#: The var a uWSGI fastrouter routes by (the subscription key).
ROUTER_KEY_VAR = b"UWSGI_FASTROUTER_KEY"

#: Seconds before the n-th retry through a fastrouter after it could not be reached or placed
#: nothing (times n): a router or a node restarting gets a moment; a refusal is retried at once.
ROUTER_PAUSE = 0.05


#: Resends of the same bytes to a node that got the whole packet but did not answer, before
#: the task moves on to the next node (direct mode).
SAME_NODE_RESENDS = 1


class NodeRefused(Exception):
    """The node answered modifier2 0: it has no spooler, or could not write the file."""


NO_ANSWER = "sent, then no answer: "


class NoAnswer(OSError):
    """The whole packet was sent but no answer came (a timeout, a reset, a close): unlike an
    error before that, the node may have written the file."""


def node_label(node: tuple[str, int]) -> str:
    host, port = node
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_packet(envelope: Envelope, body: bytes, pool: RemotePool) -> bytes:
    """The packet for ``envelope``, or ``RemotePayloadTooLarge`` naming the limit: checked here,
    because a node resets a packet over its ``buffer-size`` instead of refusing it."""
    spool_vars = remote_vars(envelope, body)
    if pool.fastrouter is not None:
        spool_vars = {ROUTER_KEY_VAR: pool.key.encode("ascii"), **spool_vars}
    try:
        block = pack_vars(spool_vars)
    except PayloadTooLarge as exc:
        raise RemotePayloadTooLarge(f"{exc}; remote pool {pool.name!r}: {_advice(pool)}") from exc
    size = HEADER.size + len(block)
    if size > pool.buffer_size:
        raise RemotePayloadTooLarge(
            f"task {envelope.label} takes {size} bytes as a uwsgi packet; remote pool "
            f"{pool.name!r} takes at most {pool.buffer_size} (its buffer_size, which must match "
            f"the nodes' buffer-size): {_advice(pool)}"
        )
    return HEADER.pack(MODIFIER1_SPOOL, len(block), 0) + block


def _advice(pool: RemotePool) -> str:
    return (
        "a remote packet has no body, so the arguments travel in it; pass a reference (a key "
        "in a store the nodes share) instead of the data, or raise buffer-size on the nodes and "
        f"buffer_size in configure(remote={{{pool.name!r}: {{{_where(pool)}, "
        "'buffer_size': N}})"
    )


def _where(pool: RemotePool) -> str:
    return "'nodes': [...]" if pool.fastrouter is None else "'fastrouter': ..., 'key': ..."


def send_packet(node: tuple[str, int], packet: bytes, timeout: float) -> None:
    """Send one packet and wait for the node's answer; returns only when the file is written.

    Raises ``NodeRefused`` on modifier2 0, ``NoAnswer`` when the whole packet went out and no
    answer came back (the node may have the file), and another ``OSError`` when the node could
    not be reached or took only part of the packet (then it cannot have written it), or answered
    nonsense.
    """
    host, port = node
    if port:
        sock = socket.create_connection((host, port), timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
    try:
        if port:  # one small packet, then the reply: no Nagle delay
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            sock.connect(host)
        sock.sendall(packet)
        reply = b""
        while len(reply) < HEADER.size:
            try:
                chunk = sock.recv(HEADER.size - len(reply))
            except OSError as exc:
                raise NoAnswer(f"{NO_ANSWER}{type(exc).__name__}: {exc}") from exc
            if not chunk:
                raise NoAnswer(f"sent, then the connection closed after {len(reply)} bytes")
            reply += chunk
    finally:
        sock.close()
    modifier1, _size, modifier2 = HEADER.unpack(reply)
    if modifier1 != MODIFIER1_REPLY or modifier2 not in (WRITTEN, REFUSED):
        raise ConnectionError(f"unexpected reply {reply!r}: not a uWSGI spooler")
    if modifier2 == REFUSED:
        raise NodeRefused("refused (no spooler there, or it could not write the file)")


class RemoteBackend(Backend):
    """Sends the tasks of one ``RemotePool``; ``spool`` returns the node that acknowledged."""

    name = "remote"
    parks = False  # the parked area is on the node's disk, not here

    def __init__(self, pool: RemotePool) -> None:
        self.pool = pool
        self._start = itertools.count()
        self._down_until: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        if self.pool.fastrouter is not None:
            where = f"fastrouter {node_label(self.pool.fastrouter)} key {self.pool.key!r}"
            return f"RemoteBackend({self.pool.name!r}, {where})"
        return f"RemoteBackend({self.pool.name!r}, {[node_label(n) for n in self.pool.nodes]})"

    def spooler_dirs(self) -> list[str]:
        return []

    def check_priority(self, spool_dir: str) -> None:
        # A node writes remote packets into its spooler's top directory (uWSGI ignores the
        # priority var there), so a priority cannot strand a task; it only orders nothing.
        return None

    def order(self) -> list[tuple[str, int]]:
        """The nodes to try for one call: rotated by one per call, nodes marked down last."""
        nodes = self.pool.nodes
        with self._lock:
            first = next(self._start) % len(nodes)
        rotated = nodes[first:] + nodes[:first]
        now = time.monotonic()
        up = [n for n in rotated if self._down_until.get(n, 0.0) <= now]
        return up + [n for n in rotated if n not in up]

    def spool(self, spool_dir: str, envelope: Envelope, body: bytes) -> str:
        """Send the task until a node acknowledges it; returns that node's label (in fastrouter
        mode the router's: its reply does not say which node wrote the file)."""
        packet = build_packet(envelope, body, self.pool)
        if self.pool.fastrouter is not None:
            return self._through_router(self.pool.fastrouter, envelope, packet)
        attempts: list[tuple[str, str]] = []
        for node in self.order():
            if self._send_to(node, envelope, packet, attempts):
                with self._lock:
                    self._down_until.pop(node, None)
                return node_label(node)
            with self._lock:
                self._down_until[node] = time.monotonic() + RETRY_DOWN
        raise self._none_took(envelope, attempts)

    def _send_to(
        self,
        node: tuple[str, int],
        envelope: Envelope,
        packet: bytes,
        attempts: list[tuple[str, str]],
    ) -> bool:
        """Whether ``node`` acknowledged the packet; after ``NoAnswer`` it gets the same bytes
        again first (it may hold the file: one node runs one attempt once)."""
        label = node_label(node)
        for resend in range(SAME_NODE_RESENDS + 1):
            try:
                send_packet(node, packet, self.pool.timeout)
            except (OSError, NodeRefused) as exc:
                attempts.append((label, f"{type(exc).__name__}: {exc}"))
                again = isinstance(exc, NoAnswer) and resend < SAME_NODE_RESENDS
                log.warning("remote pool %r: node %s did not take task %s (%s), %s",
                            self.pool.name, label, envelope.task_id, exc,
                            "sending it to the same node again" if again
                            else "trying the next")  # fmt: skip
                if again:
                    continue
                return False
            return True
        return False

    def _through_router(self, router: tuple[str, int], envelope: Envelope, packet: bytes) -> str:
        label = node_label(router)
        attempts: list[tuple[str, str]] = []
        for attempt in range(1, self.pool.attempts + 1):
            try:
                send_packet(router, packet, self.pool.timeout)
            except (OSError, NodeRefused) as exc:
                attempts.append((label, f"attempt {attempt}: {type(exc).__name__}: {exc}"))
                log.warning("remote pool %r: fastrouter %s did not place task %s (%s)",
                            self.pool.name, label, envelope.task_id, exc)  # fmt: skip
                if attempt < self.pool.attempts and not isinstance(exc, NodeRefused):
                    time.sleep(ROUTER_PAUSE * attempt)
                continue
            return label
        raise self._none_took(envelope, attempts)

    def _none_took(self, envelope: Envelope, attempts: list[tuple[str, str]]) -> NoNodeAvailable:
        # After a timeout once sent the node may have the file all the same: say so, not
        # "nothing". (A close once sent is what a router does when it placed nothing.)
        timed_out = any(f"{NO_ANSWER}TimeoutError" in what for _, what in attempts)
        outcome = "it may be spooled where a send timed out" if timed_out else "nothing was spooled"
        return NoNodeAvailable(
            f"no node of remote pool {self.pool.name!r} took task {envelope.label} "
            f"({envelope.task_id}); {outcome}: "
            + "; ".join(f"{label}: {what}" for label, what in attempts),
            attempts,
        )
