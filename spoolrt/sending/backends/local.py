"""The backend for code running outside uWSGI: write the spool file here, then wake the spoolers.

A task called from ``manage.py``, a cron script, a shell or a dev server writes a spool file in
exactly uWSGI's format into a configured spool directory, where a uWSGI spooler or a
``spoolrt worker`` picks it up. Writing is atomic (temp name in the same directory, fsync,
``rename()``; ``at`` as the file's mtime; priorities in numeric sub-directories), so a scanner
never sees half a file.

Spool directories, first that gives any wins:

1. ``spoolrt.configure(spool_dirs=[...])`` in code (the Django/Flask integrations call it from
   their settings);
2. the ``SPOOLRT_SPOOL_DIRS`` environment variable, ``os.pathsep``-separated
   (``/var/spool/app:/var/spool/mail``).

The first directory is the default spooler; ``spooler=`` picks another one by path or basename.

Waking: after each write the spoolers of that directory that announced themselves (see
``spoolrt.spooldir.presence``) and are idle get ``SIGUSR1``, as uWSGI does for its own
spoolers, so an idle spooler starts the task within a millisecond or two instead of at its next
scan. A busy one, or one that cannot be verified, finds the file at its next scan
(``spooler-frequency``).
"""

from __future__ import annotations

import os
import threading

from spoolrt.core.codec.envelope import Envelope, spool_vars
from spoolrt.core.codec.packet import pack
from spoolrt.core.config import get_settings
from spoolrt.core.errors import ConfigurationError
from spoolrt.sending.backends.base import Backend
from spoolrt.spooldir.layout import write_spool_file
from spoolrt.spooldir.presence import KIND_UWSGI, Peers

_peers: dict[str, Peers] = {}
_peers_lock = threading.Lock()


def peers(spool_dir: str) -> Peers:
    """The (cached) live spoolers of ``spool_dir``, shared by every local backend here."""
    found = _peers.get(spool_dir)
    if found is None:
        with _peers_lock:
            found = _peers.setdefault(spool_dir, Peers(spool_dir))
    return found


class LocalBackend(Backend):
    """Writes spool files into directories of this host and wakes their spoolers."""

    name = "local"
    places_only = True

    def __init__(self, spool_dirs: list[str]) -> None:
        if not spool_dirs:
            raise ConfigurationError("the local backend needs at least one spool directory")
        self.dirs = [os.path.realpath(os.fspath(d)) for d in spool_dirs]

    def __repr__(self) -> str:
        return f"LocalBackend({self.dirs!r})"

    def spooler_dirs(self) -> list[str]:
        return list(self.dirs)

    def check_priority(self, spool_dir: str) -> None:
        # A worker always honours priorities; a uWSGI spooler only with spooler-ordered. When no
        # spooler has announced itself we cannot know, and refusing would block every
        # worker-only deployment, so only a known unordered uWSGI spooler refuses.
        for found in peers(spool_dir).announcements():
            if found.kind == KIND_UWSGI and not found.ordered:
                raise ConfigurationError(
                    f"the uWSGI spooler (pid {found.pid}) on {spool_dir} runs without "
                    "spooler-ordered, so a task with a priority would never run; run it with "
                    "`spoolrt serve --ordered` (serve rewrites its ini at each start), or add "
                    "`spooler-ordered = true` to your own ini, or drop the priority"
                )

    def spool(self, spool_dir: str, envelope: Envelope, body: bytes) -> str:
        data = pack(spool_vars(envelope), body)
        path = write_spool_file(
            spool_dir,
            data,
            at=envelope.at,
            priority=envelope.priority,
            durable=get_settings().durable_writes,
        )
        peers(spool_dir).wake()  # postponed too: a worker then re-plans its next wake-up
        return path

    def pids(self) -> list[int]:
        return [found.pid for d in self.dirs for found in peers(d).announcements()]

    def wake(self, spool_dir: str | None = None) -> int:
        """Signal the idle spoolers of one directory (default: all of them); returns how many."""
        dirs = self.dirs if spool_dir is None else [os.path.realpath(spool_dir)]
        return sum(peers(d).wake() for d in dirs)
