"""Writing the audit log of the changes people make (dashboard actions, ``spoolrt retry``,
``cancel`` and ``purge``, ``handle.cancel()``): who, what, when. Reading and showing it is
``spoolrt.observe.audit``'s.

It lives this low so that every layer that changes a spool directory can write it: the cancel
primitive (``spoolrt.results.cancelling``, under handles, the CLI and the dashboard) writes the
one line of each cancel itself, whoever asked.

Each action is one JSON line appended to ``<spool>/.spoolrt/audit.log`` of the spool directory
it changed, and the same said to the ``spoolrt.audit`` logger. The file is what survives: a
logger may be unconfigured (nothing shown) or rotated away, while the file sits next to the
tasks it speaks of, where an operator looks. A line is written with one ``write`` on an
``O_APPEND`` descriptor, so lines of several web workers never interleave; the file is 0600
and never followed through a symlink (``O_NOFOLLOW``), and the state area is checked as for
task files. A failure to write it is logged and does not undo the action (it already happened).

Line shape: ``{"at": ISO-8601 UTC, "who": str, "action": str, "target": str, ...details}``;
``via`` (a detail) says which face acted: ``cli``, ``api`` (a handle), ``dashboard``.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
from datetime import datetime, timezone
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.errors import SpoolrtError
from spoolrt.spooldir.layout import ensure_state_dir

AUDIT_FILENAME = "audit.log"
log = logging.getLogger("spoolrt.audit")


def audit_path(spool_dir: str) -> str:
    """Where the audit log of ``spool_dir`` is (whether or not it exists yet)."""
    return os.path.join(spool_dir, defaults.STATE_DIR, AUDIT_FILENAME)


def os_user() -> str:
    """Who runs this process, as the audit log names a CLI or API user: the name of the real
    uid in the password database (not ``$USER``, which anyone can set), else ``uid <n>``."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no entry (a container's arbitrary uid)
        return f"uid {os.getuid()}"


def record_action(
    spool_dir: str, who: str, action: str, target: str, **details: Any
) -> dict[str, Any]:
    """Append one action to ``spool_dir``'s audit log and the logger; returns the line's data."""
    line = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "who": who,
        "action": action,
        "target": target,
        **details,
    }
    log.info("%s %s %s at %s", who, action, target, line["at"])
    data = (json.dumps(line, sort_keys=True, default=str) + "\n").encode()
    try:
        folder = ensure_state_dir(spool_dir)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(folder / AUDIT_FILENAME, flags, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except (OSError, SpoolrtError) as exc:
        log.error("could not write the audit log of %s: %s", spool_dir, exc)
    return line
