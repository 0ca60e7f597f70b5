"""The task list's rows over task files, ordered and filtered first and decoded one page at a
time: with 10,000 pending files the list used to decode all of them to show 50 (404 ms).

Waiting files are ordered by what ``spoolrt.observe.waiting`` knows without decoding (when
the file was written, its state, and, only to filter or sort by name, its unverified header);
kept (failed, quarantined) files are decoded as before, for their kept time and reason. Only
the page shown is then decoded; a file that went meanwhile (it ran) drops out of that page.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from spoolrt.core.codec.serializers import Signer
from spoolrt.observe.scan import KEPT, WAITING, Entry, State, label_matches, scan, waiting_entry
from spoolrt.observe.waiting import waiting_files

FILE_STATES = tuple(s.value for s in State)


@dataclass
class Row:
    """One line of the task list, from a file or from the store."""

    state: str
    task_id: str
    name: str
    spooler: str
    when: float | None
    note: str = ""


@dataclass
class Listing:
    rows: list[Row] = field(default_factory=list)
    more: bool = False


def row_of_entry(entry: Entry) -> Row:
    note = entry.error if entry.state in (State.FAILED, State.QUARANTINED) else ""
    reason = entry.record.get("reason")
    if reason:
        note = f"{reason}: {note}" if note else str(reason)
    return Row(entry.state.value, entry.task_id, entry.label, entry.spool_dir, entry.since, note)


@dataclass(frozen=True)
class _Item:
    """A file of the list before it is decoded: its sort keys, and its entry once decoded."""

    state: str
    when: float
    name: str
    path: str
    spool_dir: str
    entry: Entry | None = None


def file_listing(
    spool_dirs: Sequence[str],
    signer: Signer | None,
    *,
    status: str,
    name: str,
    start_at: float | None,
    sort: str,
    offset: int,
    page_size: int,
) -> Listing:
    """The page of task files matching ``status`` (a file state; anything else: every file),
    ``name`` and ``start_at`` in the order ``sort``, from ``offset``."""
    now = time.time()
    wanted = {State(status)} if status in FILE_STATES else set(State)
    items = _waiting_items(spool_dirs, wanted, name, start_at, sort, now)
    kept = [s for s in wanted if s in KEPT]
    for entry in scan(spool_dirs, signer, states=kept, now=now) if kept else []:
        if name and not entry.matches_task(name):
            continue
        if start_at is not None and entry.since < start_at:
            continue
        state, spool_dir = entry.state.value, entry.spool_dir
        items.append(_Item(state, entry.since, entry.label, entry.path, spool_dir, entry))
    _order(items, sort)
    start = max(0, offset)
    page = [
        item.entry or waiting_entry(item.spool_dir, item.path, signer, now)
        for item in items[start : start + page_size]
    ]
    rows = [row_of_entry(entry) for entry in page if entry is not None]
    return Listing(rows, more=len(items) > start + page_size)


def _waiting_items(
    spool_dirs: Sequence[str],
    wanted: set[State],
    name: str,
    start_at: float | None,
    sort: str,
    now: float,
) -> list[_Item]:
    """The waiting files as items, with only the keys the filter and order need: the lock is
    asked only to filter or sort by state, the header read only to filter or sort by name."""
    items: list[_Item] = []
    if not wanted & WAITING:
        return items
    by_state = sort == "state" or not wanted >= WAITING
    by_name = bool(name) or sort == "name"
    for spool_dir in spool_dirs:
        for found in waiting_files(spool_dir):
            when = found.written
            if start_at is not None and when < start_at:
                continue
            state = ""
            if by_state:
                state = found.state(now).value
                if State(state) not in wanted:
                    continue
            label = ""
            if by_name:
                label, type_id = found.label()
                if name and not label_matches(label, type_id, name):
                    continue
            items.append(_Item(state, when, label, found.path, spool_dir))
    return items


def _order(items: list[_Item], sort: str) -> None:
    """``sort`` as ``pages.SORTS`` spells it; empty: oldest first, as before."""
    if sort == "new":
        items.sort(key=lambda i: (i.when, i.path), reverse=True)
    elif sort == "name":
        items.sort(key=lambda i: (i.name, -i.when, i.path))
    elif sort == "state":
        items.sort(key=lambda i: (i.state, i.when, i.path))
    else:
        items.sort(key=lambda i: (i.when, i.path))
