"""Reading the audit log of the changes people make (the dashboard's ``/audit`` and
``/api/audit``). Writing it is ``spoolrt.spooldir.audit``'s (re-exported here), low enough that
the cancel primitive under ``handle.cancel()`` writes its own line: see that module for the file,
its guarantees and the line shape (``{"at", "who", "action", "target", ...details}``).
"""

from __future__ import annotations

import json
from typing import Any

from spoolrt.spooldir.audit import AUDIT_FILENAME, audit_path, os_user, record_action

__all__ = ["AUDIT_FILENAME", "audit_path", "os_user", "read_actions", "record_action"]


def read_actions(spool_dir: str, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` lines of the audit log, newest first (unreadable lines skipped)."""
    try:
        with open(audit_path(spool_dir), "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    found: list[dict[str, Any]] = []
    for raw in reversed(lines):
        if len(found) >= limit:
            break
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            found.append(item)
    return found
