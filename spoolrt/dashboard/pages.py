"""What each dashboard page shows, read from the spool directories and the stores at request
time (nothing is kept between requests: several workers and a restart all show the same)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.dashboard.paging import FILE_STATES, Listing, Row, file_listing
from spoolrt.observe.actions import CANCELLABLE
from spoolrt.observe.history import (
    history,
    name_matches,
    run_seconds,
    store_of,
    wait_seconds,
)
from spoolrt.observe.history import timings as history_timings
from spoolrt.observe.metrics import snapshot
from spoolrt.observe.scan import Entry, State, find, scan
from spoolrt.results import TaskRecord

STORE_STATES = (TaskStatus.DONE.value, TaskStatus.SKIPPED.value, TaskStatus.CANCELLED.value)
#: The list's ``?status=`` choices: the file states (``paging``), then those only the store knows.
STATES = (*FILE_STATES, *STORE_STATES)
PAGE_SIZE = 50
#: The task list's time filter (``?since=``): a fixed set of windows, so a URL stays readable.
WINDOWS = {"15m": 900.0, "1h": 3600.0, "6h": 6 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
#: The task list's orders (``?sort=``); empty: newest first for history, oldest first for files
#: (the order a spooler takes them in).
SORTS = ("new", "old", "name", "state")


def cutoff(window: str, now: float) -> float | None:
    """The start of the ``?since=`` window (None: no such window, so no time filter)."""
    seconds = WINDOWS.get(window)
    return None if seconds is None else now - seconds


def sort_rows(rows: list[Row], sort: str) -> None:
    """Order ``rows`` in place by ``sort`` (one of ``SORTS``); a stable order for equal keys."""
    if sort == "new":
        rows.sort(key=lambda r: (r.when or 0.0, r.task_id), reverse=True)
    elif sort == "old":
        rows.sort(key=lambda r: (r.when or 0.0, r.task_id))
    elif sort == "name":
        rows.sort(key=lambda r: (r.name, -(r.when or 0.0), r.task_id))
    elif sort == "state":
        rows.sort(key=lambda r: (r.state, r.when or 0.0, r.task_id))


def overview(spool_dirs: Sequence[str]) -> list[dict[str, Any]]:
    """Per spooler: file counts by state, backlog age, processes, and the store's counts."""
    data = snapshot(spool_dirs)
    found = []
    for spooler in data.spoolers:
        stored: dict[str, int] = {}
        with store_of(spooler.spooler) as store:
            if store is not None:
                try:
                    stored = {s.value: n for s, n in store.counts().items()}
                except ResultStoreError:
                    stored = {}
        found.append(
            {
                "spooler": spooler.spooler,
                "files": spooler.files,
                "oldest_pending_age": round(spooler.oldest_pending_age, 3),
                "processes": spooler.processes,
                "stored": stored,
            }
        )
    return found


def _row_of_record(spool_dir: str, record: TaskRecord) -> Row:
    return Row(
        record.status.value,
        record.task_id,
        record.name or "",
        spool_dir,
        record.finished_at,
        record.error or "",
    )


def task_list(
    spool_dirs: Sequence[str],
    signer: Signer | None,
    *,
    status: str,
    name: str,
    spooler: str,
    offset: int,
    sort: str = "",
    since: str = "",
) -> Listing:
    """The rows matching the URL's filters: ``status`` (a file state or done/skipped; empty:
    every file), ``name`` (exact or glob), ``spooler`` (a directory), ``since`` (a window of
    ``WINDOWS``), in the order ``sort``, paged from ``offset``."""
    dirs = [d for d in spool_dirs if not spooler or d == spooler]
    start_at = cutoff(since, time.time())
    rows: list[Row] = []
    if status in STORE_STATES:
        for spool_dir in dirs:
            with store_of(spool_dir) as store:
                if store is None:
                    continue
                try:
                    page = history(
                        store, status=[TaskStatus.of(status)], since=start_at, limit=10_000
                    )
                except ResultStoreError:  # the store only adds to the files
                    continue
            for record in page.records:
                if name and not name_matches(record.name or "", name):
                    continue
                rows.append(_row_of_record(spool_dir, record))
        rows.sort(key=lambda r: r.when or 0.0, reverse=True)
    else:
        # Files are ordered before they are decoded, and only the page is (``paging``).
        return file_listing(
            dirs, signer, status=status, name=name, start_at=start_at, sort=sort,
            offset=offset, page_size=PAGE_SIZE,
        )  # fmt: skip
    sort_rows(rows, sort)
    start = max(0, offset)
    return Listing(rows[start : start + PAGE_SIZE], more=len(rows) > start + PAGE_SIZE)


def failed_matching(
    spool_dirs: Sequence[str], signer: Signer | None, *, name: str, spooler: str, since: str
) -> list[Entry]:
    """The failed task files the task list's filter shows (its status aside): what "retry all
    failed matching the filter" re-queues, and what its confirmation step counts first."""
    return _matching(spool_dirs, signer, [State.FAILED], name=name, spooler=spooler, since=since)


#: The ``?status=`` a purge takes: every file state but running (a running task is never
#: purged), as ``spoolrt purge --failed / --quarantine / --pending`` do, then the statuses
#: only the store knows, whose records it deletes (``spoolrt purge --status``).
PURGEABLE = (State.FAILED.value, State.QUARANTINED.value, State.PENDING.value,
             State.SCHEDULED.value, *STORE_STATES)  # fmt: skip


def purge_candidates(
    spool_dirs: Sequence[str],
    signer: Signer | None,
    *,
    status: str,
    name: str,
    spooler: str,
    since: str,
) -> list[Entry]:
    """The files "purge" deletes for the list's filter: its status (a file state of
    ``PURGEABLE``; anything else: nothing), name, spooler and time window."""
    if status not in PURGEABLE or status in STORE_STATES:
        return []
    states = [State(status)]
    return _matching(spool_dirs, signer, states, name=name, spooler=spooler, since=since)


def _matching(
    spool_dirs: Sequence[str],
    signer: Signer | None,
    states: list[State],
    *,
    name: str,
    spooler: str,
    since: str,
) -> list[Entry]:
    dirs = [d for d in spool_dirs if not spooler or d == spooler]
    now = time.time()
    start_at = cutoff(since, now)
    entries = scan(dirs, signer, states=states, now=now)
    return [
        e
        for e in entries
        if (not name or e.matches_task(name)) and (start_at is None or e.since >= start_at)
    ]


def timings(spool_dirs: Sequence[str], since: str) -> list[dict[str, Any]]:
    """Run and wait p50/p95 per task name from each store (the store computes them), over the
    ``since`` window (default: everything the stores keep)."""
    start_at = cutoff(since, time.time())
    found: list[dict[str, Any]] = []
    for spool_dir in spool_dirs:
        with store_of(spool_dir) as store:
            if store is None:
                continue
            try:
                rows = history_timings(store, since=start_at)
            except ResultStoreError:
                continue
        for t in rows:
            found.append(
                {
                    "spooler": spool_dir,
                    "task": t.name,
                    "finished": t.finished,
                    "run": {"count": t.run.count, "p50": t.run.p50, "p95": t.run.p95,
                            "max": t.run.max},
                    "wait": {"count": t.wait.count, "p50": t.wait.p50, "p95": t.wait.p95,
                             "max": t.wait.max},
                }
            )  # fmt: skip
    return found


def task_detail(
    spool_dirs: Sequence[str], signer: Signer | None, task_id: str
) -> dict[str, Any] | None:
    """Everything known of one task: its file (if any) and its store record (if any); and
    where the two disagree (the store says it waits, but no file is there), a note saying so."""
    entries = [e for e in find(scan(spool_dirs, signer, now=time.time()), task_id)]
    entry = next((e for e in entries if e.task_id == task_id), None)
    record: TaskRecord | None = None
    for spool_dir in spool_dirs:
        with store_of(spool_dir) as store:
            if store is None:
                continue
            try:
                record = store.get(task_id)
            except ResultStoreError:
                record = None
        if record is not None:
            break
    if entry is None and record is None:
        return None
    disagreement = ""
    if record is not None and entry is None and not record.status.is_final:
        disagreement = f"the store says {record.status.value}, but no task file is there"
    info = entry.info if entry is not None else None
    kept = entry.record if entry is not None else {}
    return {
        "task_id": task_id,
        "state": entry.state.value if entry is not None else record.status.value,  # type: ignore[union-attr]
        "name": (entry.label if entry is not None else "") or (record.name if record else ""),
        "file": entry.path if entry is not None else "",
        "file_name": os.path.basename(entry.path) if entry is not None else "",
        "verified": bool(info and info.verified),
        "arguments": info.arguments if info is not None and info.verified else "",
        "attempt": record.attempt if record else (info.attempt if info else 0),
        "max_attempts": (record.max_attempts if record else None)
        or (info.max_attempts if info else None),
        "enqueued_at": (record.enqueued_at if record else None)
        or (info.enqueued_at if info else None),
        "started_at": record.started_at if record else None,
        "finished_at": record.finished_at if record else None,
        "run_seconds": run_seconds(record) if record else None,
        "wait_seconds": wait_seconds(record) if record else None,
        "error": (record.error if record else None) or (entry.error if entry else ""),
        "reason": (record.reason if record else None) or kept.get("reason") or "",
        "traceback": (kept.get("traceback") or (record.traceback if record else "") or ""),
        "retryable": entry is not None and entry.state in (State.FAILED, State.QUARANTINED),
        "cancelable": entry is not None and entry.state in CANCELLABLE,
        "disagreement": disagreement,
        "entry": entry,
    }
