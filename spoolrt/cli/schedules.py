"""``spoolrt schedules``: each registered schedule, its next runs, and how its last run ended.

Schedules are defined in code, so the app's modules must be imported (``--app`` or
``$SPOOLRT_APP``). The last run is looked up in the result stores by the slot task ids
(``<schedule token>@<UTC stamp>``, see ``spoolrt.api.schedules.slot_key``): a slot spooled by
``spoolrt run --spool`` has an ordinary id and does not count. The figures come from
``spoolrt.observe.schedules``, shared with the dashboard's schedules page.

JSON shape (``--json``)::

    {"schedules": [{"name": str, "schedule": str, "task": str, "next": [ISO time, ...],
                    "last": {"id": str, "status": str, "finished_at": t|null,
                             "error": str|null, "spooler": DIR} | null,
                    "last_success": t|null}]}
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from spoolrt.cli import nodes
from spoolrt.cli._common import (
    EXIT_OK,
    examples,
    find_spool_dirs,
    format_table,
    import_apps,
    warn,
    write_json,
)
from spoolrt.core.errors import ResultStoreError
from spoolrt.observe.schedules import describe_all
from spoolrt.observe.times import format_time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schedules",
        help="the app's schedules: expression, next runs, last run and its outcome",
        description="List every schedule the app registers (import it with --app), its next "
        "runs and how its last slot ended, from the result stores of the spool directories.",
        epilog=examples(
            "spoolrt schedules --app myproject.tasks",
            "spoolrt schedules --app myproject.tasks --next 5 --json",
            "spoolrt schedules --node reports   # each node's, warns of a slot fired twice",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--next", type=int, default=3, metavar="N", help="next runs to show")
    nodes.add_view_options(parser)
    parser.set_defaults(handler=cmd_schedules)


def cmd_schedules(args: argparse.Namespace) -> int:
    imported = import_apps(args.app)
    if args.node:
        return nodes.cmd_schedules(args)
    dirs, _source = find_spool_dirs(args.spool, required=False)
    listed = describe_all(dirs, args.next, _warn_store)
    if args.json:
        write_json({"schedules": listed})
        return EXIT_OK
    if not listed:
        hint = "" if imported else " (import the app that defines them: --app MODULE)"
        print(f"no schedules registered{hint}")
        return EXIT_OK
    print(render(listed))
    return EXIT_OK


def _warn_store(spool_dir: str, exc: ResultStoreError) -> None:
    warn(f"result store of {spool_dir}: {exc}")


def render(listed: Sequence[dict[str, Any]]) -> str:
    rows = []
    for item in listed:
        last = item["last"]
        outcome = "-" if last is None else f"{last['status']} {format_time(last['finished_at'])}"
        upcoming = datetime.fromisoformat(item["next"][0]).timestamp() if item["next"] else None
        rows.append([item["name"], item["schedule"], format_time(upcoming), outcome])
    return format_table(["NAME", "SCHEDULE", "NEXT", "LAST RUN"], rows)
