"""The dashboard's purge of one status (``/purge``): what it counts on its confirmation page
and what it deletes on ``POST`` (operators only, CSRF and ``confirm=yes`` checked by ``app``
and ``actions``), with the list's filter (name, spooler, time window).

- A file state (``failed``, ``quarantined``, ``pending``, ``scheduled``): every matching file
  goes as ``spoolrt purge`` deletes it (``observe.actions.purge_entry``: a waiting file under
  its spooler's lock, never a running one), one audit line per file.
- A status only the store knows (``done``, ``skipped``, ``cancelled``): the matching records go
  from each store (``observe.actions.purge_history`` -> ``ResultStore.purge``), one audit line
  per store with the count and the filter, not one per record. The confirmation page fixes the
  cut (``before``, sent back with the form), so what goes is what was counted, not also the
  tasks that finished while the operator read it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import ResultStoreError
from spoolrt.core.outcomes import TaskStatus
from spoolrt.dashboard import pages
from spoolrt.dashboard.views import filters
from spoolrt.observe.actions import HistoryFilter, count_history, purge_entry, purge_history
from spoolrt.observe.history import store_of
from spoolrt.results import ResultStore
from spoolrt.spooldir.audit import record_action


def purge_filter(chosen: Mapping[str, Any]) -> dict[str, str]:
    """The part of the list's filters a purge keeps to (its paging and order aside)."""
    return {k: str(chosen[k]) for k in ("status", "name", "spooler", "since")}


def cut_of(form: Mapping[str, str], now: float) -> float:
    """The ``before`` the confirmation page sent (never later than ``now``); ``now`` when it
    is missing or not a time."""
    try:
        before = float(form.get("before", ""))
    except ValueError:
        return now
    return min(before, now) if math.isfinite(before) else now


def history_filter(chosen: Mapping[str, str], before: float) -> HistoryFilter:
    """The records of the history ``chosen`` names (a status of ``pages.STORE_STATES``, the
    list's name and time window), cut at ``before``."""
    return HistoryFilter(
        TaskStatus.of(chosen["status"]),
        task=chosen["name"],
        since=pages.cutoff(chosen["since"], before),
        before=before,
    )


def _stores(spool_dirs: Sequence[str], spooler: str) -> Iterator[tuple[str, ResultStore]]:
    """Each spool directory of the filter with its store (those without one left out)."""
    for spool_dir in spool_dirs:
        if spooler and spool_dir != spooler:
            continue
        with store_of(spool_dir) as store:
            if store is not None:
                yield spool_dir, store


def purge_count(
    spool_dirs: Sequence[str], signer: Signer | None, query: Mapping[str, str], before: float
) -> int:
    """How many files or records the purge with the filter in ``query`` would delete."""
    chosen = purge_filter(filters(query))
    if chosen["status"] not in pages.STORE_STATES:
        return len(pages.purge_candidates(spool_dirs, signer, **chosen))
    wanted, total = history_filter(chosen, before), 0
    for _spool_dir, store in _stores(spool_dirs, chosen["spooler"]):
        try:
            total += count_history(store, wanted)
        except ResultStoreError:  # the store only adds to the files: nothing to show
            continue
    return total


def purge_matching(
    spool_dirs: Sequence[str], signer: Signer | None, form: Mapping[str, str], who: str
) -> tuple[str, list[str]]:
    """Delete what the purge filter in ``form`` matches (see the module doc), audited.
    Returns what went, in words, and the ones left, each with why."""
    chosen = purge_filter(filters(form))
    described: dict[str, Any] = {k: v for k, v in chosen.items() if v}
    if chosen["status"] in pages.STORE_STATES:
        before = cut_of(form, time.time())
        wanted, total, left = history_filter(chosen, before), 0, []
        for spool_dir, store in _stores(spool_dirs, chosen["spooler"]):
            try:
                went = purge_history(store, wanted)
            except ResultStoreError as exc:
                left.append(f"{spool_dir}: {exc}")
                continue
            if went:
                total += went
                record_action(
                    spool_dir, who, "purged", f"{went} {chosen['status']} record(s)",
                    count=went, filter={**described, "before": before},
                )  # fmt: skip
        return f"purged {total} {chosen['status']} record(s) from the store", left
    done, left = 0, []
    for entry in pages.purge_candidates(spool_dirs, signer, **chosen):
        why = purge_entry(entry)
        target = entry.task_id or entry.path
        if why:
            left.append(f"{target}: {why}")
            continue
        done += 1
        record_action(entry.spool_dir, who, "purged", target, filter=described)
    return f"purged {done} task file(s)", left
