"""``spoolrt ls/stats/ps/schedules --node ...``: the same views over a pool of nodes, read from
each node's dashboard JSON API (``spoolrt.observe.fanout``) and merged with a NODE column.

A node is ``HOST:PORT`` of its dashboard (``spoolrt dashboard --bind``), an ``http(s)://`` URL
(a dashboard mounted in the node's app at a prefix), or the name of a pool in
``configure(dashboards={"reports": [...]})`` (``SPOOLRT["DASHBOARDS"]``), which stands for all
its nodes. Credentials, the way ``spoolrt dashboard`` takes them: ``--node-auth-file FILE``
(one ``user:password`` line, the file not readable by others), else
``$SPOOLRT_DASHBOARD_PASSWORD`` for the user ``--node-user`` (default ``admin``).

``ls --node`` reads at most 200 rows per node and status (``-n`` and ``--offset`` raise that),
a page of 50 at a time; ``--since`` asks each node for the narrowest of its fixed windows (15m,
1h, 6h, 24h, 7d) that holds it and keeps the rows from then on (``when`` >= since).

A node that does not answer within ``--node-timeout`` (3 s), refuses the credentials or
answers something else is named on stderr (and in ``"nodes"`` with ``--json``); the rows of
the others still show, and the exit code is ``EXIT_NODE_DOWN`` (3).

JSON shapes (``--json``): every answer has ``"nodes": [{"node", "url", "ok", "error"}]`` and
the rows of the single-node ``--json`` twin of the API, each with ``"node"``:
``ls``: ``"tasks"`` (``/api/tasks`` rows); ``stats``: ``"spoolers"`` (``/api/overview``);
``ps``: ``"spoolers"`` (``/api/processes``); ``schedules``: ``"schedules"`` plus
``"duplicates": [{"schedule", "slot", "nodes"}]``, the slots that ran on more than one node.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from spoolrt.cli._common import (
    ENV_DASHBOARD_PASSWORD,
    EXIT_OK,
    CliError,
    UsageError,
    add_discovery_options,
    format_table,
    format_when,
    warn,
    write_json,
)
from spoolrt.core import defaults
from spoolrt.core.config import get_settings
from spoolrt.core.errors import ConfigurationError
from spoolrt.dashboard.pages import WINDOWS
from spoolrt.observe.fanout import (
    Answer,
    Credentials,
    Node,
    duplicate_slots,
    fan_out,
    merged,
    resolve_nodes,
    warning_of,
)
from spoolrt.observe.times import format_time

ENV_PASSWORD = ENV_DASHBOARD_PASSWORD

#: Some node did not answer (its rows are missing; the others' are shown).
EXIT_NODE_DOWN = 3
#: Pages of 50 rows asked of each node at most, per status (``ls --node``).
MAX_PAGES = 20


def add_view_options(parser: argparse.ArgumentParser) -> None:
    """What every view that reads local spool directories or a pool's nodes takes (``ls``,
    ``stats``, ``ps``, ``schedules``): ``--json``, the local discovery and the node options."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(parser)
    add_node_options(parser)


def add_node_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a pool of nodes (their dashboards' JSON API)")
    group.add_argument(
        "--node",
        action="append",
        default=[],
        metavar="HOST:PORT|URL|POOL",
        help="ask this node's dashboard instead of local spool dirs; repeatable; a pool name "
        "of configure(dashboards=...) means all its nodes",
    )
    group.add_argument("--node-auth-file", metavar="FILE", help="one user:password line")
    group.add_argument("--node-user", default="admin", help=f"the user of ${ENV_PASSWORD}")
    group.add_argument(
        "--node-timeout",
        type=float,
        default=defaults.NODE_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for the nodes (default %(default)s)",
    )


def read_credentials(path: str | None, user: str) -> Credentials | None:
    """From ``--node-auth-file`` (0600, ``user:password``), else ``$SPOOLRT_DASHBOARD_PASSWORD``
    for ``user``, else none (the nodes will then refuse with 401, and say so)."""
    if path:
        try:
            mode = os.stat(path).st_mode
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as exc:
            raise CliError(f"cannot read the node auth file: {exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CliError(f"{path} is readable by others: chmod 600 it")
        found = [x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#")]
        name, _, password = (found[0] if len(found) == 1 else "").partition(":")
        if not (name and password):
            raise CliError(f"{path}: expected one line user:password")
        return Credentials(name, password)
    password = os.environ.get(ENV_PASSWORD, "")
    return Credentials(user, password) if password else None


def pool(args: argparse.Namespace) -> tuple[list[Node], Credentials | None]:
    """The nodes the command line names, and the credentials to show them."""
    if not (math.isfinite(args.node_timeout) and args.node_timeout > 0):
        raise UsageError("--node-timeout must be a number of seconds > 0")
    settings = get_settings()
    for name in args.node:
        if name in settings.remote and name not in settings.dashboards:
            raise UsageError(
                f"{name!r} is a pool of spool sockets (configure(remote=...)); the pool views "
                f"read dashboards: name them with configure(dashboards={{{name!r}: [HOST:PORT, "
                "...]}) or give --node HOST:PORT"
            )
    try:
        nodes = resolve_nodes(args.node, settings.dashboards)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc
    return nodes, read_credentials(args.node_auth_file, args.node_user)


def ask(args: argparse.Namespace, path: str) -> list[Answer]:
    nodes, credentials = pool(args)
    return fan_out(nodes, path, credentials, args.node_timeout)


def report(answers: Sequence[Answer], shown: bool) -> int:
    """Name each node that did not answer on stderr; the exit code."""
    down = [a for a in answers if not a.ok]
    for answer in down:
        warn(f"node {answer.node.label}: {answer.error}")
    if down and shown:
        warn(f"{len(down)} of {len(answers)} node(s) did not answer; their rows are missing")
    return EXIT_NODE_DOWN if down else EXIT_OK


def statuses(answers: Sequence[Answer]) -> list[dict[str, Any]]:
    return [a.status() for a in answers]


# --- ls -----------------------------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace) -> int:
    wanted = max(0, args.offset) + (200 if args.limit is None else max(0, args.limit))
    rows: list[dict[str, Any]] = []
    worst: dict[str, Answer] = {}
    for status in args.status or [""]:
        found, answered = _pages(args, status, wanted)
        rows += found
        for answer in answered:  # down for one status is down
            if answer.node.url not in worst or not answer.ok:
                worst[answer.node.url] = answer
    answers = list(worst.values())
    rows.sort(key=lambda r: (r.get("when") or 0.0, r["node"]), reverse=args.newest)
    rows = rows[max(0, args.offset) :]
    if args.limit is not None:
        rows = rows[: max(0, args.limit)]
    if args.json:
        write_json({"nodes": statuses(answers), "tasks": rows})
        return report(answers, False)
    print(render_ls(rows, time.time()))
    return report(answers, True)


def _pages(
    args: argparse.Namespace, status: str, wanted: int
) -> tuple[list[dict[str, Any]], list[Answer]]:
    """Rows of ``status`` from every node, a page of each at a time, until no node has more
    (or each gave ``wanted``); with each node's last answer (a failed page marks it down)."""
    nodes, credentials = pool(args)
    query = {"status": status, "name": args.task or "", "since": window_for(args.since)}
    offsets = {node.url: 0 for node in nodes}
    kept = dict.fromkeys(offsets, 0)
    last: dict[str, Answer] = {}
    rows: list[dict[str, Any]] = []

    def page_of(node: Node) -> str:
        return "/api/tasks?" + urlencode({**query, "offset": offsets[node.url]})

    pending = nodes
    for _ in range(MAX_PAGES):
        answers = fan_out(pending, page_of, credentials, args.node_timeout)
        pending = []
        for answer in answers:
            last[answer.node.url] = answer
            page = merged([answer], "tasks")
            offsets[answer.node.url] += len(page)
            recent = [r for r in page if args.since is None or (r.get("when") or 0) >= args.since]
            rows += recent
            kept[answer.node.url] += len(recent)
            more = answer.ok and bool(answer.data.get("more"))
            if more and page and kept[answer.node.url] < wanted:
                pending.append(answer.node)
        if not pending:
            break
    return rows, [last[node.url] for node in nodes]


def window_for(since: float | None) -> str:
    """The dashboards' narrowest fixed ``?since=`` window (``15m`` ... ``7d``) that holds
    ``since``, so each node sends only rows near it ("": none does; every row comes). The rows
    are then cut at ``since`` here, which is what ``--since`` asks for: the API takes only
    those windows (an unknown one means no filter there, never a wrong one)."""
    if since is None:
        return ""
    age = time.time() - since
    fits = [(seconds, name) for name, seconds in WINDOWS.items() if seconds > age + 1.0]
    return min(fits)[1] if fits else ""


def render_ls(rows: Sequence[dict[str, Any]], now: float) -> str:
    table = [
        [r["node"], r.get("state", "-"), r.get("task_id") or "-", r.get("name") or "-",
         format_when(r.get("when"), now), r.get("note") or ""]
        for r in rows
    ]  # fmt: skip
    footer = f"{len(rows)} task(s) on {len({r['node'] for r in rows})} node(s)"
    head = format_table(["NODE", "STATE", "ID", "TASK", "WHEN", "NOTE"], table)
    return (head + "\n" if table else "") + footer


# --- stats --------------------------------------------------------------------------------------


def cmd_stats(args: argparse.Namespace) -> int:
    answers = ask(args, "/api/overview")
    rows = merged(answers, "spoolers")
    if args.json:
        write_json({"nodes": statuses(answers), "spoolers": rows})
        return report(answers, False)
    print(render_stats(rows))
    return report(answers, True)


def render_stats(rows: Sequence[dict[str, Any]]) -> str:
    states = sorted({state for r in rows for state in (r.get("files") or {})})
    table = []
    for r in rows:
        files = r.get("files") or {}
        stored = r.get("stored") or {}
        table.append(
            [r["node"], str(r.get("spooler")), *(str(files.get(s, 0)) for s in states),
             f"{float(r.get('oldest_pending_age') or 0):.1f}s",
             " ".join(f"{k} {v}" for k, v in sorted(stored.items()) if v) or "-"]
        )  # fmt: skip
    headers = ["NODE", "SPOOLER", *(s.upper() for s in states), "OLDEST", "STORED"]
    return format_table(headers, table) if table else "no spooler on any node that answered"


# --- ps -----------------------------------------------------------------------------------------


def cmd_ps(args: argparse.Namespace) -> int:
    answers = ask(args, "/api/processes")
    rows = merged(answers, "spoolers")
    if args.json:
        write_json({"nodes": statuses(answers), "spoolers": rows})
        return report(answers, False)
    now = time.time()
    table = []
    for spooler in rows:
        for p in spooler.get("processes") or []:
            runs = p.get("running") or []
            doing = ", ".join(f"{r.get('task') or '-'} {r.get('id') or ''}".strip() for r in runs)
            since = format_when(runs[0].get("started_at"), now) if runs else ""
            table.append(
                [spooler["node"], str(p.get("pid")), str(p.get("host")), str(p.get("state")),
                 doing or "-", since]
            )  # fmt: skip
    headers = ["NODE", "PID", "HOST", "STATE", "RUNNING", "STARTED"]
    print(format_table(headers, table) if table else "no spooler process on any node that answered")
    return report(answers, True)


# --- schedules ----------------------------------------------------------------------------------


def cmd_schedules(args: argparse.Namespace) -> int:
    answers = ask(args, "/api/schedules")
    rows = merged(answers, "schedules")
    duplicates = duplicate_slots(answers)
    warning = warning_of(duplicates)
    if args.json:
        write_json({"nodes": statuses(answers), "schedules": rows, "duplicates": duplicates})
    else:
        table = []
        for r in rows:
            last = r.get("last") or {}
            when = format_time(last.get("finished_at"))
            outcome = f"{last.get('status')} {when}" if last else "-"
            table.append([r["node"], str(r.get("name")), str(r.get("schedule")), outcome])
        print(format_table(["NODE", "NAME", "SCHEDULE", "LAST RUN"], table) if table else
              "no schedules on any node that answered")  # fmt: skip
    if warning:
        warn("WARNING: " + warning)
        for d in duplicates[:10]:
            warn(f"  {d['slot']} ran on {', '.join(d['nodes'])}")
    return report(answers, not args.json)
