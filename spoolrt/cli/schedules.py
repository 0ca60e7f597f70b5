"""``spoolrt schedules``: each registered schedule, its next runs, and how its last run ended.

Schedules are defined in code, so the app's modules must be imported (``--app`` or
``$SPOOLRT_APP``). The last run is looked up in the result stores by the slot task ids
(``<schedule token>@<UTC stamp>``, see ``spoolrt.api.schedules.slot_key``): a slot spooled by
``spoolrt run --spool`` has an ordinary id and does not count.

JSON shape (``--json``)::

    {"schedules": [{"name": str, "schedule": str, "task": str, "next": [ISO time, ...],
                    "last": {"id": str, "status": str, "finished_at": t|null,
                             "error": str|null, "spooler": DIR} | null,
                    "last_success": t|null}]}
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from spoolrt.api.schedules import ScheduledEntry, registry
from spoolrt.cli._common import (
    EXIT_OK,
    add_discovery_options,
    examples,
    find_spool_dirs,
    format_table,
    import_apps,
    warn,
    write_json,
)
from spoolrt.core.errors import ResultStoreError
from spoolrt.observe.history import last_activity, last_success, schedule_runs, store_of
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
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--next", type=int, default=3, metavar="N", help="next runs to show")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(parser)
    parser.set_defaults(handler=cmd_schedules)


def target_name(entry: ScheduledEntry) -> str:
    target = entry.target
    name = getattr(target, "name", None)
    if isinstance(name, str):
        return name
    module, qualname = getattr(target, "__module__", "?"), getattr(target, "__qualname__", "?")
    return f"{module}:{qualname}"


def next_runs(entry: ScheduledEntry, count: int, now: datetime) -> list[datetime]:
    runs: list[datetime] = []
    moment = now
    for _ in range(max(0, count)):
        moment = entry.schedule.next_slot(moment)
        runs.append(moment)
    return runs


def describe(
    entry: ScheduledEntry, dirs: Sequence[str], count: int, now: datetime
) -> dict[str, Any]:
    """One schedule as the JSON shape above."""
    last: dict[str, Any] | None = None
    success: float | None = None
    for spool_dir in dirs:
        with store_of(spool_dir) as store:
            if store is None:
                continue
            try:
                runs = schedule_runs(store, entry.name, limit=1)
                when = last_success(store, entry.name)
            except ResultStoreError as exc:
                warn(f"result store of {spool_dir}: {exc}")
                continue
        if when is not None:
            success = max(when, success or 0.0)
        if runs and (last is None or (last_activity(runs[0]) or 0.0) > last["_at"]):
            record = runs[0]
            last = {
                "id": record.task_id,
                "status": record.status.value,
                "finished_at": record.finished_at,
                "error": record.error,
                "spooler": spool_dir,
                "_at": last_activity(record) or 0.0,
            }
    if last is not None:
        del last["_at"]
    return {
        "name": entry.name,
        "schedule": str(entry.schedule),
        "task": target_name(entry),
        "next": [moment.isoformat() for moment in next_runs(entry, count, now)],
        "last": last,
        "last_success": success,
    }


def cmd_schedules(args: argparse.Namespace) -> int:
    imported = import_apps(args.app)
    dirs, _source = find_spool_dirs(args.spool, required=False)
    now = datetime.now(timezone.utc)
    listed = [describe(entry, dirs, args.next, now) for entry in registry]
    if args.json:
        write_json({"schedules": listed})
        return EXIT_OK
    if not listed:
        hint = "" if imported else " (import the app that defines them: --app MODULE)"
        print(f"no schedules registered{hint}")
        return EXIT_OK
    print(render(listed))
    return EXIT_OK


def render(listed: Sequence[dict[str, Any]]) -> str:
    rows = []
    for item in listed:
        last = item["last"]
        outcome = "-" if last is None else f"{last['status']} {format_time(last['finished_at'])}"
        upcoming = datetime.fromisoformat(item["next"][0]).timestamp() if item["next"] else None
        rows.append([item["name"], item["schedule"], format_time(upcoming), outcome])
    return format_table(["NAME", "SCHEDULE", "NEXT", "LAST RUN"], rows)
