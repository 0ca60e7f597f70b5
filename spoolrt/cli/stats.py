"""``spoolrt stats``: counts by state and by task for each spool directory, and the backlog."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from spoolrt.cli import nodes, results
from spoolrt.cli._common import (
    EXIT_OK,
    find_spool_dirs,
    format_duration,
    format_table,
    import_apps,
    read_signer,
    write_json,
)
from spoolrt.observe.scan import Entry, State, scan


def cmd_stats(args: argparse.Namespace) -> int:
    import_apps(args.app)
    if args.node:
        return nodes.cmd_stats(args)
    dirs, _source = find_spool_dirs(args.spool)
    signer, _warning = read_signer()
    now = time.time()
    entries = scan(dirs, signer, now=now)
    per_dir = [
        summarise(d, [e for e in entries if e.spool_dir == d], now, results.counts(d)) for d in dirs
    ]
    total = summarise("", entries, now, None)
    if args.json:
        del total["spooler"], total["results"]
        write_json({"spoolers": per_dir, "total": total})
        return EXIT_OK
    print(render_stats(per_dir, total))
    return EXIT_OK


def summarise(
    spool_dir: str, entries: Sequence[Entry], now: float, stored: dict[str, int] | None
) -> dict[str, Any]:
    counts = {s.value: 0 for s in State}
    by_task: dict[str, dict[str, int]] = {}
    for e in entries:
        counts[e.state.value] += 1
        name = e.label or f"({e.kind})"
        by_task.setdefault(name, {s.value: 0 for s in State})[e.state.value] += 1
    pending = [e.since for e in entries if e.state is State.PENDING]
    return {
        "spooler": spool_dir,
        "counts": counts,
        "by_task": dict(sorted(by_task.items())),
        "oldest_pending_age": round(now - min(pending), 3) if pending else None,
        "results": stored,
    }


def render_stats(per_dir: Sequence[dict[str, Any]], total: dict[str, Any]) -> str:
    blocks = []
    states = [s.value for s in State]
    for summary in [*per_dir, *([total] if len(per_dir) > 1 else [])]:
        title = summary["spooler"] or "all spool directories"
        counts = summary["counts"]
        oldest = summary["oldest_pending_age"]
        lines = [
            title,
            "  " + "  ".join(f"{s} {counts[s]}" for s in states),
            "  oldest pending: " + (format_duration(oldest) if oldest is not None else "-"),
        ]
        if summary["by_task"]:
            rows = [[n, *(str(c[s]) for s in states)] for n, c in summary["by_task"].items()]
            table = format_table(["TASK", *(s.upper() for s in states)], rows)
            lines += ["", *("  " + line for line in table.splitlines())]
        if summary.get("results"):
            stored = summary["results"]
            lines.append("  result store: " + "  ".join(f"{k} {v}" for k, v in stored.items() if v))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
