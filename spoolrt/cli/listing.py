"""``spoolrt ls``, ``spoolrt show`` and ``spoolrt stats``: look without touching.

JSON shapes (stable: fields are only ever added):

``ls --json``::

    {"spoolers": [DIR, ...], "tasks": [TASK, ...]}
    (with --status done/skipped/cancelled also "history": [...], "more": bool: see
    spoolrt.cli.history)

    TASK = {"state": "pending|scheduled|running|failed|quarantined", "id": str|null,
            "task": str|null, "type": str|null, "kind": "spoolrt|foreign|corrupt|bad-signature|...",
            "verified": bool, "attempt": int|null, "max_attempts": int|null,
            "priority": int|null, "due": unix time|null, "enqueued_at": unix time|null,
            "since": unix time, "age": seconds, "reason": str|null, "error": str|null,
            "locked_by": pid|null, "note": str|null, "spooler": DIR, "path": str,
            "size": bytes}

``show --json``: TASK plus ``"arguments"`` (a preview), ``"vars"`` (the spool file's uWSGI
vars), ``"record"`` (the failed/quarantine record: error, traceback, attempts...) and
``"result"`` (the result store's record, or null); for a task known only to the result store,
``{"id", "result"}``.

``stats --json``::

    {"spoolers": [{"spooler": DIR, "counts": {STATE: n}, "by_task": {TASK: {STATE: n}},
                   "oldest_pending_age": seconds|null, "results": {STATUS: n}|null}],
     "total": {"counts": ..., "by_task": ..., "oldest_pending_age": ...}}
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spoolrt.cli import history, nodes, results, stats
from spoolrt.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    add_discovery_options,
    examples,
    find_spool_dirs,
    format_table,
    format_when,
    import_apps,
    read_signer,
    warn,
    write_json,
)
from spoolrt.cli.check import parse_since
from spoolrt.observe.scan import Entry, State, entry_for_path, find, scan
from spoolrt.observe.times import format_time
from spoolrt.spooldir.inspect import TaskInfo

if TYPE_CHECKING:
    from spoolrt.results import TaskRecord


def register(subparsers: Any) -> None:
    ls = subparsers.add_parser(
        "ls",
        help="list pending, scheduled, running, failed, quarantined (and done, skipped, "
        "cancelled) tasks",
        description="List the task files of the spool directories, oldest first; with --status "
        "done, skipped or cancelled, the finished tasks the result store keeps, newest first.",
        epilog=examples(
            "spoolrt ls",
            "spoolrt ls --status failed --status quarantined",
            "spoolrt ls --task 'myapp.tasks:send_*' --newest -n 20",
            "spoolrt ls --status done --since 1h -n 20 --offset 20   # history, second page",
            "spoolrt ls --spool /var/spool/app --json | jq '.tasks[].id'",
            "spoolrt ls --node 10.0.0.5:9181 --node 10.0.0.6:9181 --status failed",
        )
        + "\n\n"
        + "JSON shape: see `pydoc spoolrt.cli.listing`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.add_argument(
        "--status",
        action="append",
        choices=[*(s.value for s in State), *history.HISTORY_STATES],
        help="only this state; repeatable; done, skipped and cancelled come from the result store",
    )
    ls.add_argument("--since", type=parse_since, help="only since then: an age (1h) or ISO time")
    ls.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N tasks")
    ls.add_argument(
        "--task",
        metavar="NAME",
        help="only this task (module:qualname, qualname, type id, or a glob)",
    )
    order = ls.add_mutually_exclusive_group()
    order.add_argument("--oldest", action="store_true", help="oldest first (the default)")
    order.add_argument("--newest", action="store_true", help="newest first")
    ls.add_argument("-n", "--limit", type=int, metavar="N", help="show at most N tasks")
    nodes.add_view_options(ls)
    ls.set_defaults(handler=cmd_ls)

    show = subparsers.add_parser(
        "show",
        help="show one task: envelope, arguments, attempts, last error, result",
        description="Show one task, found by its task id (or a unique prefix of it), its file "
        "name, or a path. A task that already finished is looked up in the result store.",
        epilog=examples(
            "spoolrt show 19a4c7e0b12-5f2e9a1c3d-1",
            "spoolrt show 19a4c7e0",
            "spoolrt show .spoolrt-state/spool/.spoolrt/failed/uwsgi_spoolfile_on_host_1_2_3",
            "spoolrt show 19a4c7e0 --json",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("target", metavar="ID_OR_PATH")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(show)
    show.set_defaults(handler=cmd_show)

    counting = subparsers.add_parser(
        "stats",
        help="counts per state and per task, oldest pending age, per spooler",
        description="Count the task files of each spool directory by state and by task.",
        epilog=examples(
            "spoolrt stats",
            "spoolrt stats --spool /var/spool/a --spool /b --json",
            "spoolrt stats --node reports --node-auth-file ~/.spoolrt-nodes   # a pool",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nodes.add_view_options(counting)
    counting.set_defaults(handler=stats.cmd_stats)


# --- ls -----------------------------------------------------------------------------------------


def cmd_ls(args: argparse.Namespace) -> int:
    import_apps(args.app)
    if args.node:
        return nodes.cmd_ls(args)
    dirs, _source = find_spool_dirs(args.spool)
    signer, warning = read_signer()
    now = time.time()
    asked = args.status or [s.value for s in State]
    done = [s for s in asked if s in history.HISTORY_STATES]
    states = [State(s) for s in asked if s not in history.HISTORY_STATES]
    entries = scan(dirs, signer, states=states, now=now) if states else []
    if args.task:
        entries = [e for e in entries if e.matches_task(args.task)]
    if args.since is not None:
        entries = [e for e in entries if e.since >= args.since]
    entries.sort(key=lambda e: (e.since, e.path), reverse=args.newest)
    entries = entries[max(0, args.offset) :]
    if args.limit is not None:
        entries = entries[: max(0, args.limit)]
    limit = history.DEFAULT_HISTORY_LIMIT if args.limit is None else args.limit
    page, more = history.rows(
        dirs, done, task=args.task, since=args.since, offset=args.offset, limit=limit
    ) if done else ([], False)  # fmt: skip
    if args.json:
        tasks = [e.to_json(now) for e in entries]
        write_json({"spoolers": dirs, "tasks": tasks} | _history_json(page, more, done))
        return EXIT_OK
    if warning:
        warn(warning)
    if states:
        print(render_ls(entries, dirs, now))
    if done:
        print(history.render(page, more, args.offset, now))
    return EXIT_OK


def _history_json(page: Sequence[history.Row], more: bool, asked: Sequence[str]) -> dict[str, Any]:
    return {"history": [history.to_json(r) for r in page], "more": more} if asked else {}


def render_ls(entries: Sequence[Entry], dirs: Sequence[str], now: float) -> str:
    several = len(dirs) > 1
    headers = ["STATE", "ID", "TASK", "TRY", "PRIO", "WHEN"]
    headers += ["SPOOLER"] if several else []
    headers += ["NOTE"]
    rows = []
    for e in entries:
        info = e.info
        when = format_when(e.due, now) if e.state is State.SCHEDULED else format_when(e.since, now)
        row = [
            e.state.value,
            e.task_id or "-",
            e.label or f"({e.kind})",
            f"{info.attempt}/{info.max_attempts}" if info.attempt else "-",
            "-" if info.priority is None else str(info.priority),
            when,
        ]
        row += [_short_dir(e.spool_dir, dirs)] if several else []
        row += [_note(e)]
        rows.append(row)
    counts = Counter(e.state.value for e in entries)
    summary = ", ".join(f"{counts[s.value]} {s.value}" for s in State if counts[s.value])
    where = f"{len(dirs)} spool dirs" if several else dirs[0]
    footer = f"{len(entries)} task(s) in {where}" + (f": {summary}" if summary else "")
    return (format_table(headers, rows) + "\n" if rows else "") + footer


def _note(entry: Entry) -> str:
    if entry.state is State.RUNNING:
        return f"locked by pid {entry.locked_by}"
    if entry.state in (State.FAILED, State.QUARANTINED):
        reason = entry.record.get("reason") or entry.kind
        return f"{reason}: {entry.error}" if entry.error else str(reason)
    if entry.info.problem:
        return entry.info.problem
    return entry.note


def _short_dir(spool_dir: str, dirs: Sequence[str]) -> str:
    base = os.path.basename(spool_dir.rstrip(os.sep))
    same = [d for d in dirs if os.path.basename(d.rstrip(os.sep)) == base]
    return base if len(same) == 1 else spool_dir


# --- show ---------------------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    import_apps(args.app)
    signer, warning = read_signer()
    now = time.time()
    target: str = args.target
    if os.path.isfile(target):
        entry = entry_for_path(target, signer, now)
        matches = [entry] if entry is not None else []
        dirs = [entry.spool_dir] if entry is not None else []
    else:
        dirs, _source = find_spool_dirs(args.spool)
        matches = find(scan(dirs, signer, now=now), target)
    exact = any(m.task_id == target or os.path.basename(m.path) == target for m in matches)
    # A prefix may match files and, as well, finished tasks whose files are gone.
    found = [] if exact else results.candidates(dirs, target)
    if _ambiguous(target, matches, found):
        return EXIT_FAILURE
    if not matches:
        if not found:
            warn(f"no task {target!r} in {', '.join(dirs) or 'any spool directory'}")
            return EXIT_FAILURE
        (record,) = found
        if args.json:
            write_json({"id": record.task_id, "result": results.to_json(record)})
        else:
            print(results.render(record))
        return EXIT_OK
    entry = matches[0]
    stored = results.lookup([entry.spool_dir], entry.task_id) if entry.task_id else None
    if args.json:
        data = entry.to_json(now)
        data.update(
            arguments=entry.info.arguments or None,
            vars=entry.info.vars,
            record=entry.record or None,
            result=results.to_json(stored) if stored else None,
        )
        write_json(data)
        return EXIT_OK
    if warning:
        warn(warning)
    print(render_show(entry, now))
    if stored is not None:
        print()
        print(results.render(stored))
    return EXIT_OK


def _ambiguous(target: str, matches: Sequence[Entry], stored: Sequence[TaskRecord]) -> bool:
    """Whether ``target`` names more than one task (task files and stored results of the same
    id are one task); if so, list the candidates."""
    on_file = {m.task_id or m.path for m in matches}
    only_stored = [r for r in stored if r.task_id not in on_file]
    if len(matches) <= 1 and len(on_file | {r.task_id for r in stored}) <= 1:
        return False
    count = len(matches) + len(only_stored)
    warn(f"{target!r} matches {count} tasks; give more of the id or a path:")
    for m in matches:
        warn(f"  {m.state.value:<12} {m.task_id or '-'}  {m.path}")
    for r in only_stored:
        when = format_time(r.finished_at or r.started_at or r.enqueued_at)
        warn(f"  {r.status.value:<12} {r.task_id}  {r.name or '-'}  {when}  (result store)")
    return True


def render_show(entry: Entry, now: float) -> str:
    info = entry.info
    rows: list[tuple[str, str]] = [
        ("state", entry.state.value + (f" (pid {entry.locked_by})" if entry.locked_by else "")),
        ("id", entry.task_id or "-"),
        ("task", entry.label or "-"),
        ("type", info.type_id or "-"),
        ("file", entry.path),
        ("spooler", entry.spool_dir),
        ("signature", _signature(entry)),
    ]
    if info.task_id:
        rows += [
            ("attempt", f"{info.attempt} of {info.max_attempts}"),
            ("priority", "-" if info.priority is None else str(info.priority)),
            ("enqueued", f"{format_time(info.enqueued_at)} ({format_when(info.enqueued_at, now)})"),
            ("due", f"{format_time(info.at)} ({format_when(info.at, now)})" if info.at else "now"),
            ("serializer", info.serializer or "-"),
            ("arguments", _call(info) or "(not shown: signature not verified)"),
        ]
    if info.message and info.message != f"ucfg_{info.type_id}":
        rows.append(("message", info.message))
    if info.problem:
        rows.append(("problem", info.problem))
    record = entry.record
    if record:
        rows.append(("kept", f"{format_time(record.get('kept_at'))} as {record.get('reason')}"))
        if record.get("attempts"):
            rows.append(("attempts", str(record["attempts"])))
        if entry.error:
            rows.append(("last error", entry.error))
    width = max(len(k) for k, _ in rows)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    traceback = str(record.get("traceback") or "").rstrip()
    if traceback:
        text += "\n\ntraceback of the last attempt:\n" + traceback
    if not info.task_id and info.vars:
        text += "\n\nspool vars:\n" + "\n".join(f"  {k} = {v}" for k, v in info.vars.items())
    return text


def _call(info: TaskInfo) -> str:
    """The arguments as the call they were, ``invoice('invoice-9', copies=2)``: a bare
    ``('invoice-9')`` reads as a one-tuple that lost its comma."""
    if info.name and info.arguments.startswith("("):
        return info.name.rpartition(":")[2] + info.arguments
    return info.arguments


def _signature(entry: Entry) -> str:
    if entry.info.verified:
        return "verified"
    if entry.kind in ("foreign", "corrupt"):
        return f"none ({entry.kind} file)"
    return "NOT verified (" + (entry.info.problem or "unknown") + ")"
