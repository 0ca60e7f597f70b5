"""``spoolrt cancel ID...``: take pending, scheduled or parked tasks away before they run.

Each file is locked as a spooler locks it and removed under that lock, so a running task is
refused (with that reason) and never half-cancelled; the store records the task as
``cancelled`` (``spoolrt.results.cancelling``, what ``handle.cancel()`` calls too). Each
cancel is one line in the directory's audit log, written by that primitive (who: the OS user,
``"via": "cli"``).
Exit 1 if any id was not found or refused.

JSON shape (``--json``)::

    {"cancelled": [{"id", "task", "path"}], "refused": [{"id", "reason", "code"}],
     "missing": [ID]}

``code`` of a refusal: ``running``, ``gone`` (it ran meanwhile) or ``not-waiting``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from spoolrt.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_discovery_options,
    examples,
    find_spool_dirs,
    import_apps,
    read_signer,
    warn,
    write_json,
)
from spoolrt.observe.actions import cancel
from spoolrt.observe.scan import State, find, scan


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cancel",
        help="cancel pending or scheduled tasks (a running one is refused)",
        description="Remove pending, scheduled or parked tasks, each under the spooler's file "
        "lock, and record them as cancelled. A running task is refused.",
        epilog=examples("spoolrt cancel 19a4c7e0b12-5f2e9a1c3d-1", "spoolrt cancel 19a4 --json"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ids", nargs="+", metavar="ID", help="a task id (or a 4+ char prefix)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(parser)
    parser.set_defaults(handler=cmd_cancel)


def cmd_cancel(args: argparse.Namespace) -> int:
    import_apps(args.app)
    dirs, _source = find_spool_dirs(args.spool)
    signer, _warning = read_signer()
    entries = scan(dirs, signer, states=[State.PENDING, State.SCHEDULED, State.RUNNING],
                   now=time.time())  # fmt: skip
    cancelled: list[dict[str, Any]] = []
    refused: list[dict[str, str]] = []
    missing: list[str] = []
    for key in args.ids:
        found = find(entries, key)
        if len(found) != 1:
            missing.append(key)
            if found:
                warn(f"{key!r} matches {len(found)} tasks; give more of the id")
            else:
                warn(f"no pending, scheduled or running task {key!r}")
            continue
        (entry,) = found
        done = cancel(entry, who=None, via="cli")
        if not done:
            refused.append({"id": entry.task_id, "reason": done.reason, "code": done.code})
            warn(f"not cancelled {entry.task_id}: {done.reason}")
        else:
            cancelled.append({"id": entry.task_id, "task": entry.label, "path": entry.path})
            if not args.json:
                print(f"cancelled {entry.task_id} {entry.label}")
    if args.json:
        write_json({"cancelled": cancelled, "refused": refused, "missing": missing})
    return EXIT_FAILURE if refused or missing else EXIT_OK
