"""The dashboard's pool page (``/pool``, ``/api/pool``): every node's overview side by side,
read from the nodes' own dashboards at request time (``spoolrt.observe.fanout``), with the
nodes that did not answer marked and the schedule slots fired on two nodes named.

Which nodes: the ``nodes`` the dashboard was made with (``make_app(..., nodes=[...])``,
``spoolrt dashboard --node``), else every address of ``configure(dashboards=...)``, read at
each request so a reconfiguration shows at once. With none, the page says how to name them.
The nodes are asked with ``node_credentials`` (basic auth); the page itself stays behind the
dashboard's own ``authorize``.

Shape of ``/api/pool``::

    {"nodes": [{"node", "url", "ok", "error"}], "spoolers": [overview of a spooler + "node"],
     "duplicates": [{"schedule", "slot", "nodes"}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spoolrt.core.config import get_settings
from spoolrt.core.errors import ConfigurationError
from spoolrt.observe.fanout import (
    Credentials,
    Node,
    duplicate_slots,
    fan_out_paths,
    merged,
    resolve_nodes,
    warning_of,
)

POOL = """{% extends "base" %}{% block body %}<h1>Pool</h1>
{% if problem %}<p class="warn">{{ problem }}</p>{% endif %}
{% if warning %}<p class="warn" id="duplicates">{{ warning }}</p>{% endif %}
<table id="nodes"><tr><th>node</th><th>answer</th></tr>
{% for n in view.nodes %}<tr class="{{ 'done' if n.ok else 'failed' }}"><td>{{ n.node }}</td>
<td>{% if n.ok %}ok{% else %}{{ n.error }}{% endif %}</td></tr>{% endfor %}</table>
{% if view.spoolers %}<h2>Spoolers</h2><table id="pool"><tr><th>node</th><th>spooler</th>
{% for state in states %}<th>{{ state }}</th>{% endfor %}<th>oldest pending</th>
<th>spoolers busy / idle</th></tr>{% for s in view.spoolers %}<tr><td>{{ s.node }}</td>
<td>{{ s.spooler }}</td>{% for state in states %}<td class="{{ state }}">
{{ s.files.get(state, 0) }}</td>{% endfor %}
<td>{{ "%.1f"|format(s.oldest_pending_age or 0) }} s</td>
<td>{{ s.processes.get("busy", 0) }} / {{ s.processes.get("idle", 0) }}</td></tr>{% endfor %}
</table>{% endif %}{% endblock %}"""

NO_NODES = (
    "no nodes: name their dashboards with configure(dashboards={pool: [HOST:PORT, ...]}) "
    "or spoolrt dashboard --node HOST:PORT"
)


def pool_nodes(nodes: Sequence[str] | None) -> list[Node]:
    """The nodes of the pool page (see the module's text); empty when none are named."""
    configured = get_settings().dashboards.values()
    names = list(nodes) if nodes else [address for urls in configured for address in urls]
    return resolve_nodes(names, {}) if names else []


def pool_view(
    nodes: Sequence[str] | None, credentials: Credentials | None, timeout: float
) -> tuple[dict[str, Any], str]:
    """The ``/api/pool`` answer, and a problem to show (no nodes, a bad address) or ""."""
    try:
        found = pool_nodes(nodes)
    except ConfigurationError as exc:
        return {"nodes": [], "spoolers": [], "duplicates": []}, str(exc)
    if not found:
        return {"nodes": [], "spoolers": [], "duplicates": []}, NO_NODES
    answers = fan_out_paths(found, ["/api/overview", "/api/schedules"], credentials, timeout)
    overview, schedules = answers["/api/overview"], answers["/api/schedules"]
    # A node is down when its overview did not come: the schedules are the page's extra.
    view = {
        "nodes": [a.status() for a in overview],
        "spoolers": [_spooler(row) for row in merged(overview, "spoolers")],
        "duplicates": duplicate_slots(schedules),
    }
    return view, ""


def _spooler(row: dict[str, Any]) -> dict[str, Any]:
    """A node's overview row in the shape the page reads, whatever the node sent."""

    def counts(value: Any) -> dict[str, Any]:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}

    age = row.get("oldest_pending_age")
    return {
        "node": row["node"],
        "spooler": str(row.get("spooler", "")),
        "files": counts(row.get("files")),
        "oldest_pending_age": float(age) if isinstance(age, (int, float)) else 0.0,
        "processes": counts(row.get("processes")),
        "stored": counts(row.get("stored")),
    }


def page_values(view: dict[str, Any], problem: str) -> dict[str, Any]:
    """What the ``pool`` template shows besides the view."""
    states = sorted({state for s in view["spoolers"] for state in (s.get("files") or {})})
    return {
        "view": view,
        "problem": problem,
        "warning": warning_of(view["duplicates"]),
        "states": states,
    }


__all__ = ["NO_NODES", "POOL", "page_values", "pool_nodes", "pool_view"]
