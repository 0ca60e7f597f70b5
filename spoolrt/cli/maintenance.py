"""``spoolrt retry`` and ``spoolrt purge``: the two commands that change a spool directory.

Both keep the spool directory's promise that nothing is lost by accident:

- ``retry`` writes the new spool file (attempt 1, re-signed with the current key) atomically
  *before* it removes the kept copy and its record, so a crash in between leaves the task
  twice, never zero times. It only re-queues files whose signature verifies: re-signing a
  file that did not verify would turn a forged file into a trusted one.
- ``purge`` never removes a file a spooler is running. For a waiting file it takes the same
  ``fcntl`` lock a uWSGI spooler takes, then unlinks it while holding the lock: a spooler that
  opened the file in that instant finds it locked, or (after ``access()``) gone, and skips it.

Each task either changes is one line in its directory's audit log (``spoolrt.spooldir.audit``,
who: the OS user, ``"via": "cli"``), as the dashboard's actions are; ``purge --status done``
(records of finished tasks, from the store: ``spoolrt.cli.purge_history``) writes one line per
store and status, with the count.

JSON shapes (stable: fields are only ever added)::

    retry --json  {"requeued": [{"id", "task", "from": kept path, "path": new spool file}],
                   "refused": [{"id", "path", "reason": "bad-signature|foreign|...", "error"}],
                   "missing": [ID_OR_PATH, ...]}
    purge --json  {"removed": [{"id", "task", "state", "path"}],
                   "skipped": [{"id", "task", "state", "path", "reason"}],
                   "records": [{"spooler", "status", "count"}]}
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from spoolrt.cli import purge_history
from spoolrt.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    add_discovery_options,
    confirm,
    examples,
    find_spool_dirs,
    format_duration,
    import_apps,
    parse_age,
    read_signer,
    warn,
    write_json,
)
from spoolrt.cli.check import parse_since
from spoolrt.cli.history import HISTORY_STATES
from spoolrt.cli.progress import Progress
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import SpoolFileError
from spoolrt.observe.actions import purge_entry, requeue
from spoolrt.observe.scan import KEPT, Entry, State, entry_for_path, find, scan
from spoolrt.spooldir.audit import os_user, record_action


def register(subparsers: Any) -> None:
    retry = subparsers.add_parser(
        "retry",
        help="re-queue failed (or quarantined) tasks as a fresh first attempt",
        description="Re-queue kept tasks: each gets attempt 1 and a new signature and goes back "
        "into its spool directory; the kept copy and its record are removed once the new file "
        "is in place. Quarantined files are re-queued only when their signature verifies (for "
        "example a task whose module was missing in the spooler); forged, foreign and corrupt "
        "files never are.",
        epilog=examples(
            "spoolrt retry 19a4c7e0b12-5f2e9a1c3d-1",
            "spoolrt retry --failed",
            "spoolrt retry --failed --task 'myapp.tasks:send_*'",
            "spoolrt retry --quarantined --json",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    retry.add_argument("ids", nargs="*", metavar="ID_OR_PATH", help="a kept task (id or path)")
    retry.add_argument("--failed", action="store_true", help="every failed task")
    retry.add_argument(
        "--quarantined", action="store_true", help="every quarantined task whose signature verifies"
    )
    retry.add_argument("--task", metavar="NAME", help="only this task (name, type id or glob)")
    retry.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(retry)
    retry.set_defaults(handler=cmd_retry)

    purge = subparsers.add_parser(
        "purge",
        help="delete failed, quarantined or waiting tasks, or finished history (asks first)",
        description="Delete task files (and their records), or with --status the store's "
        "records of finished tasks (done, skipped, cancelled: they have no file) before they "
        "expire, after confirmation on a terminal. Without a terminal it refuses unless --yes "
        "is given. Files a spooler is running are never removed. Age is counted from when a "
        "waiting task was enqueued, from when a failed or quarantined one was set aside, and "
        "from when a record's task finished.",
        epilog=examples(
            "spoolrt purge --failed --older-than 7d",
            "spoolrt purge --quarantine --yes",
            "spoolrt purge --pending --task myapp.tasks:resize --yes",
            "spoolrt purge --failed --quarantine --older-than 2w --yes --json",
            "spoolrt purge --status done --older-than 1d",
            "spoolrt purge --status skipped --status cancelled --task 'myapp.tasks:*' --yes",
            "spoolrt purge --status done --before 2026-11-01T00:00:00+00:00 --yes --json",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    purge.add_argument("--failed", action="store_true", help="failed tasks")
    purge.add_argument(
        "--quarantine", "--quarantined", action="store_true", help="quarantined files"
    )
    purge.add_argument(
        "--pending", action="store_true", help="waiting tasks: pending and scheduled"
    )
    purge.add_argument(
        "--status",
        action="append",
        choices=HISTORY_STATES,
        default=[],
        help="records of finished tasks in this status, from the store (repeatable)",
    )
    purge.add_argument(
        "--older-than",
        type=parse_age,
        metavar="AGE",
        help="only older than AGE: 90s, 10m, 2h, 7d, 1w, 1h30m",
    )
    purge.add_argument(
        "--before",
        type=parse_since,
        metavar="TIME",
        help="only older than TIME: an ISO 8601 time with its zone, or an age as --older-than",
    )
    purge.add_argument("--task", metavar="NAME", help="only this task (name, type id or glob)")
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    purge.add_argument("--json", action="store_true", help="machine-readable output")
    add_discovery_options(purge)
    purge.set_defaults(handler=cmd_purge)


# --- retry --------------------------------------------------------------------------------------


def cmd_retry(args: argparse.Namespace) -> int:
    if not (args.ids or args.failed or args.quarantined):
        raise UsageError("retry what? give task ids, --failed or --quarantined")
    import_apps(args.app)
    signer, warning = read_signer()
    if warning and signer is not None:
        warn(warning)
    now = time.time()
    selected, missing = _select_kept(args, signer, now)
    for key in missing:
        warn(f"no failed or quarantined task {key!r}")
    if args.task:
        selected = [e for e in selected if e.matches_task(args.task)]
    done: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    quiet = args.json
    with Progress(len(selected), "retry", quiet=quiet) as progress:
        for entry in selected:
            try:
                new_path = requeue(entry, signer)
            except SpoolFileError as exc:
                refused.append(
                    {
                        "id": entry.task_id or None,
                        "path": entry.path,
                        "reason": exc.reason,
                        "error": str(exc),
                    }
                )
                progress.echo(f"refused {entry.path}: {exc.reason}: {exc}")
            else:
                done.append(
                    {"id": entry.task_id, "task": entry.label, "from": entry.path, "path": new_path}
                )
                record_action(
                    entry.spool_dir, os_user(), "retried", entry.task_id or entry.path, via="cli"
                )
                progress.echo(f"re-queued {entry.task_id} {entry.label} -> {new_path}")
            progress.advance()
    if args.json:
        write_json({"requeued": done, "refused": refused, "missing": missing})
    else:
        print(f"{len(done)} re-queued, {len(refused)} refused")
    explicit_failure = bool(missing) or (bool(refused) and bool(args.ids))
    return EXIT_FAILURE if explicit_failure else EXIT_OK


def _select_kept(
    args: argparse.Namespace, signer: Signer | None, now: float
) -> tuple[list[Entry], list[str]]:
    """The kept entries named by ids/paths and by --failed/--quarantined, without repeats."""
    states = [
        s
        for s, flag in ((State.FAILED, args.failed), (State.QUARANTINED, args.quarantined))
        if flag
    ]
    ids = [i for i in args.ids if not os.path.isfile(i)]
    paths = [i for i in args.ids if os.path.isfile(i)]
    chosen: dict[str, Entry] = {}
    missing: list[str] = []
    for path in paths:
        entry = entry_for_path(path, signer, now)
        if entry is None or entry.state not in KEPT:
            missing.append(path)
        else:
            chosen[entry.path] = entry
    if ids or states:
        dirs, _source = find_spool_dirs(args.spool)
        kept = scan(dirs, signer, states=list(KEPT), now=now)
        for entry in kept:
            if entry.state in states:
                chosen.setdefault(entry.path, entry)
        for key in ids:
            found = find(kept, key)
            if len(found) != 1:
                missing.append(key if not found else f"{key} (ambiguous: {len(found)} matches)")
            else:
                chosen.setdefault(found[0].path, found[0])
    return sorted(chosen.values(), key=lambda e: (e.since, e.path)), missing


# --- purge --------------------------------------------------------------------------------------


def cmd_purge(args: argparse.Namespace) -> int:
    wanted: set[State] = set()
    if args.failed:
        wanted.add(State.FAILED)
    if args.quarantine:
        wanted.add(State.QUARANTINED)
    if args.pending:
        wanted |= {State.PENDING, State.SCHEDULED}
    if not (wanted or args.status):
        raise UsageError("purge what? give --failed, --quarantine, --pending and/or --status")
    import_apps(args.app)
    dirs, _source = find_spool_dirs(args.spool)
    signer, _warning = read_signer()
    now = time.time()
    # The cut: older than --older-than and --before, and never a task finishing from now on.
    cuts = [now, args.before] + ([now - args.older_than] if args.older_than is not None else [])
    before = min(c for c in cuts if c is not None)
    entries: list[Entry] = []
    if wanted:
        entries = _purgeable_files(args, dirs, signer, wanted, now, before)
    records = purge_history.select(dirs, sorted(set(args.status)), task=args.task or "",
                                   before=before)  # fmt: skip
    if not entries and not records:
        if args.json:
            write_json({"removed": [], "skipped": [], "records": []})
        else:
            print("nothing to purge")
        return EXIT_OK
    parts = [_describe_selection(entries)] if entries else []
    parts += [purge_history.describe(records)] if records else []
    if not confirm(f"Remove {' and '.join(parts)}?", assume_yes=args.yes, what="purge"):
        print("nothing removed")
        return EXIT_OK
    removed, skipped = purge(entries, quiet=args.json) if entries else ([], [])
    purged = purge_history.purge(records, quiet=args.json)
    if args.json:
        write_json({"removed": removed, "skipped": skipped, "records": purged})
    elif entries:
        print(f"{len(removed)} removed" + (f", {len(skipped)} skipped" if skipped else ""))
    return EXIT_OK


def _purgeable_files(
    args: argparse.Namespace,
    dirs: Sequence[str],
    signer: Signer | None,
    wanted: set[State],
    now: float,
    before: float,
) -> list[Entry]:
    """The files of the ``wanted`` states the filters keep, oldest first (running ones are
    never purged: the count of those left alone is said)."""
    entries = scan(dirs, signer, states=wanted | {State.RUNNING}, now=now)
    running = [e for e in entries if e.state is State.RUNNING]
    entries = [e for e in entries if e.state in wanted]
    if args.task:
        entries = [e for e in entries if e.matches_task(args.task)]
        running = [e for e in running if e.matches_task(args.task)]
    if args.older_than is not None:
        entries = [e for e in entries if now - e.since > args.older_than]
    if args.before is not None:
        entries = [e for e in entries if e.since < before]
    if running and not args.json:
        warn(f"leaving {len(running)} running task(s) alone")
    return sorted(entries, key=lambda e: (e.since, e.path))


def _describe_selection(entries: Sequence[Entry]) -> str:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.state.value] = counts.get(e.state.value, 0) + 1
    oldest = min(e.since for e in entries)
    parts = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"{len(entries)} task file(s) ({parts}; oldest {format_duration(time.time() - oldest)})"


def purge(
    entries: Sequence[Entry], *, quiet: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    removed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with Progress(len(entries), "purge", quiet=quiet) as progress:
        for entry in entries:
            item = {
                "id": entry.task_id or None,
                "task": entry.label or None,
                "state": entry.state.value,
                "path": entry.path,
            }
            why = purge_entry(entry)
            if why:
                skipped.append({**item, "reason": why})
                progress.echo(f"skipped {entry.path}: {why}")
            else:
                target = entry.task_id or entry.path
                record_action(
                    entry.spool_dir, os_user(), "purged", target, state=entry.state.value,
                    via="cli",
                )  # fmt: skip
                removed.append(item)
                progress.echo(
                    f"removed {entry.state.value} {entry.task_id or '-'} "
                    f"{entry.label or '(' + entry.kind + ')'} {entry.path}"
                )
            progress.advance()
    return removed, skipped
