"""The dashboard's routes beyond the core WSGI plumbing of ``app``: the URL's filters, the JSON
API behind every page, and the actions other than one task's retry or cancel and the purge
(``spoolrt.dashboard.purging``).

Each HTML page has a JSON twin under ``/api/`` built from the same function, so what a script
polls is what a person sees (documented in README's Dashboard section):

- ``/api/overview``: ``{"spoolers": [overview per spooler]}``
- ``/api/tasks?status=&name=&spooler=&since=&sort=&offset=``: ``{"tasks": [row], "more": bool}``
- ``/api/task/<id>``: the detail (``null`` fields where unknown), 404 when no file nor record
- ``/api/timings?since=``: ``{"timings": [{"spooler", "task", "finished", "run", "wait"}]}``
- ``/api/schedules``: ``{"schedules": [spoolrt.observe.schedules.describe]}``
- ``/api/processes``: ``{"spoolers": [spoolrt.observe.processes.spoolers]}``
- ``/api/audit``: ``{"actions": [audit line, newest first]}``
- ``/api/pool`` (served by ``app`` from ``dashboard.pool``): ``{"nodes", "spoolers", "duplicates"}``
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from spoolrt.api.schedules import registry as schedule_registry
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import SpoolFileError
from spoolrt.dashboard import pages
from spoolrt.observe.actions import requeue
from spoolrt.observe.audit import read_actions
from spoolrt.observe.processes import spoolers
from spoolrt.observe.schedules import describe_all, run_now, spool_dir_of
from spoolrt.spooldir.audit import record_action

#: How many next runs the schedules page shows per schedule.
NEXT_RUNS = 3


def filters(query: Mapping[str, str]) -> dict[str, Any]:
    """The task list's filters from the URL, each checked: an unknown ``since`` or ``sort``
    is dropped (the page shows unfiltered rather than failing), a bad offset becomes 0."""
    try:
        offset = max(0, int(query.get("offset", "0")))
    except ValueError:
        offset = 0
    since = query.get("since", "")
    sort = query.get("sort", "")
    return {
        "status": query.get("status", ""),
        "name": query.get("name", ""),
        "spooler": query.get("spooler", ""),
        "since": since if since in pages.WINDOWS else "",
        "sort": sort if sort in pages.SORTS else "",
        "offset": offset,
    }


def api(
    path: str,
    spool_dirs: Sequence[str],
    signer: Callable[[], Signer | None],
    query: Mapping[str, str],
) -> Any:
    """The JSON of ``/api/<path>`` (``KeyError``: no such endpoint or task)."""
    if path == "/api/overview":
        return {"spoolers": pages.overview(spool_dirs)}
    if path == "/api/tasks":
        listing = pages.task_list(spool_dirs, signer(), **filters(query))
        return {"tasks": [asdict(r) for r in listing.rows], "more": listing.more}
    if path.startswith("/api/task/") and path.count("/") == 3:
        found = pages.task_detail(spool_dirs, signer(), path[len("/api/task/") :])
        if found is None:
            raise KeyError(path)
        return {k: v for k, v in found.items() if k != "entry"}
    if path == "/api/timings":
        return {"timings": pages.timings(spool_dirs, query.get("since", ""))}
    if path == "/api/schedules":
        return {"schedules": describe_all(spool_dirs, NEXT_RUNS)}
    if path == "/api/processes":
        return {"spoolers": spoolers(spool_dirs, signer(), time.time())}
    if path == "/api/audit":
        return {"actions": audit_lines(spool_dirs)}
    raise KeyError(path)


def audit_lines(spool_dirs: Sequence[str], limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` audit lines of all the spool directories, newest first."""
    lines = [line for d in spool_dirs for line in read_actions(d, limit)]
    lines.sort(key=lambda line: str(line.get("at", "")), reverse=True)
    return lines[:limit]


def retry_failed(
    spool_dirs: Sequence[str], signer: Signer | None, form: Mapping[str, str], who: str
) -> tuple[int, list[str]]:
    """Re-queue every failed file the filter in ``form`` matches, each from its own signed
    file; returns how many went and the refusals (a file that does not verify stays)."""
    chosen = filters(form)
    matching = pages.failed_matching(
        spool_dirs, signer, name=chosen["name"], spooler=chosen["spooler"], since=chosen["since"]
    )
    done, refused = 0, []
    described = {k: chosen[k] for k in ("name", "spooler", "since") if chosen[k]}
    for entry in matching:
        try:
            requeue(entry, signer)
        except SpoolFileError as exc:
            refused.append(f"{entry.task_id or entry.path}: {exc}")
            continue
        done += 1
        record_action(
            entry.spool_dir, who, "retried", entry.task_id or entry.path, filter=described
        )
    return done, refused


def run_schedule(name: str, who: str) -> str:
    """Spool one run of schedule ``name`` now and audit it; returns the task id (``KeyError``:
    no such schedule here, ``SpoolrtError``: it could not be spooled)."""
    spool_dir = spool_dir_of(schedule_registry.get(name))
    handle = run_now(name, datetime.now(timezone.utc))
    record_action(spool_dir, who, "ran schedule", name, task_id=handle.task_id)
    return handle.task_id
