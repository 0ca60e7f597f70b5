"""``spoolrt check``: a health check that exits non-zero, with the reason, when something is wrong.

``stats`` describes and always exits 0, so nothing can act on it. ``check`` answers one
question for a container health check, cron or a monitoring probe: is this spool directory
being served, and did anything go wrong recently? It is unhealthy (exit 1) when, for any spool
directory:

- no spooler process is alive for it (a uWSGI spooler running spoolrt, or ``spoolrt worker``:
  each announces itself in ``<spool>/.spoolrt/run/``, see ``spoolrt.spooldir.presence``); only
  processes of this host can be checked, so run it where the spoolers run, or pass ``--no-spooler``;
- with ``--since``: a task failed (retries used up) or was quarantined since then;
- with ``--max-age``: the oldest task that is due and not running has waited longer than that
  (since it became due: a postponed task does not count before its time).

JSON shape (``--json``)::

    {"ok": bool, "problems": [str, ...], "since": float | null, "max_age": float | null,
     "spoolers": [{"spooler": dir, "alive": int, "failed": int, "quarantined": int,
                   "oldest_pending_age": float | null}, ...]}
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from spoolrt.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_discovery_options,
    examples,
    find_spool_dirs,
    format_duration,
    import_apps,
    parse_age,
    read_signer,
    write_json,
)
from spoolrt.observe.scan import Entry, State, scan
from spoolrt.observe.times import format_time
from spoolrt.spooldir.presence import HOST, list_announcements


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check",
        help="health check: exit 1 with the reason if no spooler runs, tasks failed, or wait",
        description="Exit 0 if every spool directory is healthy, else 1 with the reasons:\n"
        "no spooler process alive (on this host), tasks failed or quarantined since --since,\n"
        "or a due task waiting longer than --max-age. For container health checks and cron.",
        epilog=examples(
            "spoolrt check",
            "spoolrt check --since 1h --max-age 5m",
            "spoolrt check --quiet --since 1h   # in cron: prints (is mailed) only if unhealthy",
            "spoolrt check --since 2026-01-31T08:00:00+00:00 --json",
            "spoolrt check --spool /var/spool/app --no-spooler --since 1d   # on another host",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--since",
        type=parse_since,
        metavar="AGE_OR_TIME",
        help="unhealthy if a task failed or was quarantined since then: an age (1h, 30m, 1d) "
        "or an ISO 8601 time with its zone; default: not checked",
    )
    check.add_argument(
        "--max-age",
        type=parse_age,
        metavar="AGE",
        help="unhealthy if a due task has waited longer than AGE (e.g. 5m); default: not checked",
    )
    check.add_argument(
        "--no-spooler",
        dest="spooler",
        action="store_false",
        help="do not require a live spooler process (run from another host than the spoolers)",
    )
    check.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print nothing when healthy (cron mails only output, so only problems)",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(check)
    check.set_defaults(handler=cmd_check)


def parse_since(text: str) -> float:
    """``--since``: an age before now (``1h``), or an aware ISO 8601 time; a timestamp."""
    try:
        return time.time() - parse_age(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an age (1h, 30m) nor an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone (add +00:00 or Z): it would mean another instant "
            "on every machine"
        )
    return moment.timestamp()


def cmd_check(args: argparse.Namespace) -> int:
    import_apps(args.app)
    dirs, _source = find_spool_dirs(args.spool)
    signer, _warning = read_signer()
    now = time.time()
    entries = scan(dirs, signer, now=now)
    problems: list[str] = []
    spoolers = []
    for spool_dir in dirs:
        mine = [e for e in entries if e.spool_dir == spool_dir]
        found, summary = check_dir(
            spool_dir,
            mine,
            now,
            since=args.since,
            max_age=args.max_age,
            spooler=args.spooler,
        )
        problems += found
        spoolers.append(summary)
    if args.json:
        write_json(
            {
                "ok": not problems,
                "problems": problems,
                "since": args.since,
                "max_age": args.max_age,
                "spoolers": spoolers,
            }
        )
    elif problems:
        print("\n".join(f"UNHEALTHY: {p}" for p in problems))
    elif not args.quiet:
        print("ok: " + "; ".join(_describe(s) for s in spoolers))
    return EXIT_FAILURE if problems else EXIT_OK


def check_dir(
    spool_dir: str,
    entries: Sequence[Entry],
    now: float,
    *,
    since: float | None,
    max_age: float | None,
    spooler: bool = True,
) -> tuple[list[str], dict[str, Any]]:
    """The problems of one spool directory, and its summary (the JSON's ``spoolers`` item)."""
    problems: list[str] = []
    announced = list_announcements(spool_dir)
    alive = sum(1 for a in announced if a.host == HOST and a.is_alive())
    if spooler and not alive:
        elsewhere = {a.host for a in announced if a.host != HOST}
        hint = (
            f" (announced on other hosts: {', '.join(sorted(elsewhere))}; they cannot be checked "
            "from here: run check there, or pass --no-spooler)"
            if elsewhere
            else ""
        )
        problems.append(f"{spool_dir}: no spooler process alive on {HOST}{hint}")
    kept: dict[State, list[Entry]] = {State.FAILED: [], State.QUARANTINED: []}
    for e in entries:
        if e.state in kept and (since is None or e.since >= since):
            kept[e.state].append(e)
    if since is not None:
        for state, found in kept.items():
            if found:
                names = Counter(e.label or f"({e.kind})" for e in found)
                listed = ", ".join(f"{name} ({n})" for name, n in names.most_common(5))
                problems.append(
                    f"{spool_dir}: {len(found)} task(s) {state.value} since "
                    f"{format_time(since)}: {listed}; see `spoolrt ls --status {state.value}`"
                )
    waiting = [(max(e.since, e.info.mtime), e) for e in entries if e.state is State.PENDING]
    oldest = min(waiting, key=lambda pair: pair[0], default=None)
    oldest_age = round(now - oldest[0], 3) if oldest else None
    if max_age is not None and oldest is not None and now - oldest[0] > max_age:
        entry = oldest[1]
        problems.append(
            f"{spool_dir}: the oldest due task has waited {format_duration(now - oldest[0])} "
            f"(more than {format_duration(max_age)}): {entry.task_id or entry.path} "
            f"{entry.label or ''}".rstrip()
        )
    summary = {
        "spooler": spool_dir,
        "alive": alive,
        "failed": len(kept[State.FAILED]),
        "quarantined": len(kept[State.QUARANTINED]),
        "oldest_pending_age": oldest_age,
    }
    return problems, summary


def _describe(summary: dict[str, Any]) -> str:
    age = summary["oldest_pending_age"]
    waited = "nothing due" if age is None else f"oldest due task waited {format_duration(age)}"
    return f"{summary['spooler']}: {summary['alive']} spooler process(es) alive, {waited}"
