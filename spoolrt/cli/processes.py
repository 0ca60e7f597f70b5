"""``spoolrt ps``: the spooler processes of each spool directory and what each runs now.

What is computed (and how a process is judged busy, idle, remote or gone) lives in
``spoolrt.observe.processes``, shared with the dashboard's processes page.

JSON shape (``--json``)::

    {"spoolers": [{"spooler": DIR, "processes": [
        {"pid": int, "host": str, "kind": "uwsgi|worker", "state": "idle|busy|remote|gone",
         "running": [{"id": str|null, "task": str|null, "started_at": t|null, "path": str}]}]}]}

``started_at`` is the result store's (null without a store record).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from spoolrt.cli import nodes
from spoolrt.cli._common import (
    EXIT_OK,
    examples,
    find_spool_dirs,
    format_table,
    format_when,
    import_apps,
    read_signer,
    write_json,
)
from spoolrt.observe.processes import spoolers


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ps",
        help="spooler processes of each spool directory, busy or idle, and their current task",
        description="List the spooler processes announced in each spool directory (uWSGI "
        "spoolers running spoolrt, `spoolrt worker`), whether each is busy, and the task it runs.",
        epilog=examples(
            "spoolrt ps",
            "spoolrt ps --spool /var/spool/app --json",
            "spoolrt ps --node 10.0.0.5:9181 --node 10.0.0.6:9181",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nodes.add_view_options(parser)
    parser.set_defaults(handler=cmd_ps)


def cmd_ps(args: argparse.Namespace) -> int:
    import_apps(args.app)
    if args.node:
        return nodes.cmd_ps(args)
    dirs, _source = find_spool_dirs(args.spool)
    signer, _warning = read_signer()
    now = time.time()
    listed = spoolers(dirs, signer, now)
    if args.json:
        write_json({"spoolers": listed})
        return EXIT_OK
    print(render(listed, now))
    return EXIT_OK


def render(listed: Sequence[dict[str, Any]], now: float) -> str:
    blocks = []
    for spooler in listed:
        rows = []
        for p in spooler["processes"]:
            runs = p["running"]
            doing = ", ".join(f"{r['task'] or '-'} {r['id'] or ''}".strip() for r in runs)
            since = format_when(runs[0]["started_at"], now) if runs else ""
            rows.append([str(p["pid"]), p["host"], p["kind"], p["state"], doing or "-", since])
        table = format_table(["PID", "HOST", "KIND", "STATE", "RUNNING", "STARTED"], rows)
        body = table if rows else "  no spooler process announced"
        blocks.append(f"{spooler['spooler']}\n{body}")
    return "\n\n".join(blocks)
