"""``spoolrt ps``: the spooler processes of each spool directory and what each runs now.

Spoolers announce themselves in ``<spool>/.spoolrt/run/`` (``spoolrt.spooldir.presence``) and
hold a lock on their announcement while a task runs; the task is the spool file whose
``fcntl`` lock the same pid holds. Processes of another host are listed as ``remote``: whether
they live cannot be checked from here. Stale announcements (dead processes) are listed as
``gone`` and left alone.

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

from spoolrt.cli import results
from spoolrt.cli._common import (
    EXIT_OK,
    add_discovery_options,
    examples,
    find_spool_dirs,
    format_table,
    format_when,
    import_apps,
    read_signer,
    write_json,
)
from spoolrt.observe.scan import Entry, State, locked_by, scan
from spoolrt.spooldir.presence import HOST, Announcement, list_announcements


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ps",
        help="spooler processes of each spool directory, busy or idle, and their current task",
        description="List the spooler processes announced in each spool directory (uWSGI "
        "spoolers running spoolrt, `spoolrt worker`), whether each is busy, and the task it runs.",
        epilog=examples("spoolrt ps", "spoolrt ps --spool /var/spool/app --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(parser)
    parser.set_defaults(handler=cmd_ps)


def state_of(announcement: Announcement) -> str:
    """``remote`` (another host), ``gone`` (dead), ``busy`` (running a task) or ``idle``."""
    if announcement.host != HOST:
        return "remote"
    if not announcement.is_alive():
        return "gone"
    return "busy" if locked_by(announcement.path) is not None else "idle"


def processes(spool_dir: str, running: Sequence[Entry]) -> list[dict[str, Any]]:
    """Every announced process of ``spool_dir`` with the running entries whose lock it holds."""
    found = []
    for announcement in list_announcements(spool_dir):
        mine = [e for e in running if e.locked_by == announcement.pid]
        found.append(
            {
                "pid": announcement.pid,
                "host": announcement.host,
                "kind": announcement.kind,
                "state": state_of(announcement),
                "running": [
                    {
                        "id": e.task_id or None,
                        "task": e.label or None,
                        "started_at": _started_at(spool_dir, e.task_id),
                        "path": e.path,
                    }
                    for e in mine
                ],
            }
        )
    return found


def _started_at(spool_dir: str, task_id: str) -> float | None:
    record = results.lookup([spool_dir], task_id) if task_id else None
    return record.started_at if record is not None else None


def cmd_ps(args: argparse.Namespace) -> int:
    import_apps(args.app)
    dirs, _source = find_spool_dirs(args.spool)
    signer, _warning = read_signer()
    now = time.time()
    running = scan(dirs, signer, states=[State.RUNNING], now=now)
    listed = [
        {"spooler": d, "processes": processes(d, [e for e in running if e.spool_dir == d])}
        for d in dirs
    ]
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
