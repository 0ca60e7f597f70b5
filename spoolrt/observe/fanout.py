"""Seeing a pool of nodes: ask every node's dashboard JSON API at once, merge the answers with
a ``node`` field, and mark the nodes that did not answer.

Each node of a pool has its own spool directory and store, so nothing on one host knows what
the others hold; their dashboards do (``/api/tasks``, ``/api/overview``, ``/api/processes``,
``/api/schedules``: see README's "The dashboard's JSON API"). ``spoolrt ls/stats/ps/schedules
--node`` and the dashboard's pool page both read them through ``fan_out``.

- **Never hangs.** Every node is asked in its own daemon thread, and the caller waits for all
  of them together at most ``timeout`` seconds (plus a little): a node that has not answered
  by then is marked ``no answer within ...``, whatever its socket does afterwards.
- **Marks, never hides.** A node that refuses the connection, answers 401/403, answers
  something that is not JSON or does not answer becomes an ``Answer`` with ``error`` set; the
  others' rows still show.
- **Credentials** are HTTP basic auth (``spoolrt dashboard``'s), one user for every node.
- **Schedules fired twice.** ``duplicate_slots`` finds a slot id that more than one node ran:
  two nodes of one pool fire schedules (see ``configure(scheduler=...)``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from spoolrt.core import defaults
from spoolrt.core.errors import ConfigurationError
from spoolrt.core.readers import to_node

#: The most a node's answer may weigh: a page of the API is far smaller; a bigger one is a
#: wrong address (or a hostile one), not a dashboard.
MAX_ANSWER = 16 * 1024 * 1024


@dataclass(frozen=True)
class Node:
    """A node's dashboard: ``label`` as the user named it, ``url`` its base (no trailing /)."""

    label: str
    url: str


@dataclass(frozen=True)
class Credentials:
    """Who the pool-wide view is to the nodes' dashboards (HTTP basic auth)."""

    user: str
    password: str

    def header(self) -> str:
        raw = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:  # never the password in a log or a traceback
        return f"Credentials(user={self.user!r}, password=***)"


@dataclass(frozen=True)
class Answer:
    """One node's answer: ``data`` (the decoded JSON), or ``error`` saying why there is none."""

    node: Node
    data: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def status(self) -> dict[str, Any]:
        """The node's line of the ``"nodes"`` list of a merged JSON answer."""
        return {"node": self.node.label, "url": self.node.url, "ok": self.ok, "error": self.error}


def parse_node(text: str) -> Node:
    """``HOST:PORT`` (``http://HOST:PORT``) or an ``http(s)://`` URL with the prefix the
    dashboard is mounted at; anything else is a ``ConfigurationError`` naming it."""
    value = text.strip()
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"node {text!r}: an http(s):// URL or HOST:PORT")
        if parts.query or parts.fragment:
            raise ConfigurationError(f"node {text!r}: a base URL has no ?query or #fragment")
        return Node(value, value.rstrip("/"))
    host, port = to_node(value, f"node {text!r}")
    if not port:
        raise ConfigurationError(f"node {text!r}: a dashboard is HOST:PORT or a URL, not a path")
    shown = f"[{host}]" if ":" in host else host
    return Node(value, f"http://{shown}:{port}")


def resolve_nodes(names: Sequence[str], dashboards: Mapping[str, Sequence[str]]) -> list[Node]:
    """Each name as a pool of ``configure(dashboards=...)`` (all its nodes) or as one node's
    address; duplicates dropped, order kept."""
    nodes: dict[str, Node] = {}
    for name in names:
        for address in dashboards.get(name, [name]):
            node = parse_node(address)
            nodes.setdefault(node.url, node)
    if not nodes:
        raise ConfigurationError("no node to ask: give --node HOST:PORT (or a pool name)")
    return list(nodes.values())


def fetch(node: Node, path: str, credentials: Credentials | None, timeout: float) -> Answer:
    """Ask one node for ``path`` (``/api/...``); every failure becomes the answer's error."""
    request = urllib.request.Request(node.url + path, headers={"Accept": "application/json"})
    if credentials is not None:
        request.add_header("Authorization", credentials.header())
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = _read_until(response, deadline)
    except urllib.error.HTTPError as exc:
        refused = "refused the credentials"
        why = {401: refused, 403: refused, 404: "has no such API"}.get(exc.code, "answered")
        return Answer(node, error=f"{why} (HTTP {exc.code})")
    except urllib.error.URLError as exc:
        return Answer(node, error=f"did not answer: {_reason(exc.reason)}")
    except TimeoutError:
        return Answer(node, error=f"no answer within {timeout:g}s")
    except (OSError, ValueError) as exc:  # a reset, or a URL urllib cannot use
        return Answer(node, error=f"did not answer: {_reason(exc)}")
    if len(raw) > MAX_ANSWER:
        return Answer(node, error=f"answered more than {MAX_ANSWER} bytes: not a dashboard")
    try:
        return Answer(node, data=json.loads(raw))
    except ValueError:
        return Answer(node, error="answered something that is not JSON: is it a dashboard?")


def _read_until(response: Any, deadline: float) -> bytes:
    """The body, but no later than ``deadline`` nor more than ``MAX_ANSWER`` (+1, to tell):
    a node that sends a byte now and then must not keep the asking thread forever."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_ANSWER:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took too long")
        chunk = response.read1(64 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(getattr(reason, "strerror", None) or reason)


def fan_out(
    nodes: Sequence[Node],
    path: str | Callable[[Node], str],
    credentials: Credentials | None = None,
    timeout: float = defaults.NODE_TIMEOUT,
) -> list[Answer]:
    """Ask every node for ``path`` (or ``path(node)``: a page each node is at) at once; the
    answers in the order of ``nodes``, within about ``timeout`` seconds in all (a node still
    silent then is marked, not waited for)."""
    jobs = [(node, path if isinstance(path, str) else path(node)) for node in nodes]
    return _ask_all(jobs, credentials, timeout)


def fan_out_paths(
    nodes: Sequence[Node],
    paths: Sequence[str],
    credentials: Credentials | None = None,
    timeout: float = defaults.NODE_TIMEOUT,
) -> dict[str, list[Answer]]:
    """Every node for every one of ``paths``, all at once (one wait of ``timeout`` in all):
    the answers per path, each in the order of ``nodes``."""
    jobs = [(node, path) for path in paths for node in nodes]
    answers = _ask_all(jobs, credentials, timeout)
    count = len(nodes)
    return {path: answers[i * count : (i + 1) * count] for i, path in enumerate(paths)}


def _ask_all(
    jobs: Sequence[tuple[Node, str]], credentials: Credentials | None, timeout: float
) -> list[Answer]:
    answers: dict[int, Answer] = {}
    lock = threading.Lock()

    def ask(index: int, node: Node, path: str) -> None:
        answer = fetch(node, path, credentials, timeout)
        with lock:
            answers.setdefault(index, answer)

    threads = [
        threading.Thread(target=ask, args=(i, node, path), name="spoolrt-fanout", daemon=True)
        for i, (node, path) in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for index, (node, _path) in enumerate(jobs):
            answers.setdefault(index, Answer(node, error=f"no answer within {timeout:g}s"))
        return [answers[index] for index in range(len(jobs))]


def merged(answers: Sequence[Answer], key: str) -> list[dict[str, Any]]:
    """The ``key`` list of every node that answered, each item with its ``node``."""
    rows: list[dict[str, Any]] = []
    for answer in answers:
        if not answer.ok or not isinstance(answer.data, dict):
            continue
        for item in answer.data.get(key) or []:
            if isinstance(item, dict):
                rows.append({"node": answer.node.label, **item})
    return rows


def duplicate_slots(answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """Slots that more than one node ran, from their ``/api/schedules``: each
    ``{"schedule", "slot", "nodes"}``. Slot ids are ``<schedule>@<UTC stamp>``, the same on
    every node, so one id on two nodes means two schedulers fired it."""
    seen: dict[tuple[str, str], list[str]] = {}
    for row in merged(answers, "schedules"):
        ids = set(row.get("recent") or [])
        last = row.get("last")
        if isinstance(last, dict) and last.get("id"):
            ids.add(str(last["id"]))
        for slot in ids:
            seen.setdefault((str(row.get("name")), slot), []).append(row["node"])
    return [
        {"schedule": name, "slot": slot, "nodes": sorted(set(nodes))}
        for (name, slot), nodes in sorted(seen.items())
        if len(set(nodes)) > 1
    ]


def warning_of(duplicates: Sequence[dict[str, Any]]) -> str | None:
    """One sentence for people about slots fired on several nodes (None when there are none)."""
    if not duplicates:
        return None
    names = sorted({d["schedule"] for d in duplicates})
    nodes = sorted({n for d in duplicates for n in d["nodes"]})
    return (
        f"schedule(s) {', '.join(names)} fired the same slot on several nodes "
        f"({', '.join(nodes)}): give one node of the pool scheduler=True and the others "
        "SPOOLRT_SCHEDULER=0"
    )


__all__ = [
    "Answer",
    "Credentials",
    "MAX_ANSWER",
    "Node",
    "duplicate_slots",
    "fan_out",
    "fan_out_paths",
    "fetch",
    "merged",
    "parse_node",
    "resolve_nodes",
    "warning_of",
]
