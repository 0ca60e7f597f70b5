"""The spooler processes of spool directories and what each runs now (``spoolrt ps``, the
dashboard's processes page and ``/api/processes``), computed in one place so both agree.

Spoolers announce themselves in ``<spool>/.spoolrt/run/`` (``spoolrt.spooldir.presence``) and
hold a lock on their announcement while a task runs; the task is the spool file whose ``fcntl``
lock the same pid holds. Processes of another host are ``remote`` (whether they live cannot be
checked from here); stale announcements (dead processes) are ``gone`` and left alone.

Shape of ``spoolers()``::

    [{"spooler": DIR, "processes": [
        {"pid": int, "host": str, "kind": "uwsgi|worker", "state": "idle|busy|remote|gone",
         "running": [{"id": str|null, "task": str|null, "started_at": t|null, "path": str}]}]}]

``started_at`` is the result store's (null without a store record).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import ResultStoreError
from spoolrt.observe.history import store_of
from spoolrt.observe.scan import Entry, State, locked_by, scan
from spoolrt.spooldir.presence import HOST, Announcement, list_announcements


def state_of(announcement: Announcement) -> str:
    """``remote`` (another host), ``gone`` (dead), ``busy`` (running a task) or ``idle``."""
    if announcement.host != HOST:
        return "remote"
    if not announcement.is_alive():
        return "gone"
    return "busy" if locked_by(announcement.path) is not None else "idle"


def processes(spool_dir: str, running: Sequence[Entry]) -> list[dict[str, Any]]:
    """Every announced process of ``spool_dir`` with the running entries whose lock it holds."""
    found = []
    for announcement in list_announcements(spool_dir):
        mine = [e for e in running if e.locked_by == announcement.pid]
        found.append(
            {
                "pid": announcement.pid,
                "host": announcement.host,
                "kind": announcement.kind,
                "state": state_of(announcement),
                "running": [
                    {
                        "id": e.task_id or None,
                        "task": e.label or None,
                        "started_at": started_at(spool_dir, e.task_id),
                        "path": e.path,
                    }
                    for e in mine
                ],
            }
        )
    return found


def started_at(spool_dir: str, task_id: str) -> float | None:
    """When the store says ``task_id`` started (None without a store or a record)."""
    if not task_id:
        return None
    with store_of(spool_dir) as store:
        if store is None:
            return None
        try:
            record = store.get(task_id)
        except ResultStoreError:  # the store only adds to what the files say
            return None
    return record.started_at if record is not None else None


def spoolers(spool_dirs: Sequence[str], signer: Signer | None, now: float) -> list[dict[str, Any]]:
    """Every spool directory with its processes (the shape above)."""
    running = scan(spool_dirs, signer, states=[State.RUNNING], now=now)
    return [
        {"spooler": d, "processes": processes(d, [e for e in running if e.spool_dir == d])}
        for d in spool_dirs
    ]
