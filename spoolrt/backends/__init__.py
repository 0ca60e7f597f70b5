"""Choosing where tasks go: inside uWSGI its spooler; elsewhere (until the local backend lands)
a clear error instead of silently dropping the call."""

from __future__ import annotations

import logging

from ..errors import BackendUnavailable
from .base import Backend

log = logging.getLogger("spoolrt")

_forced: Backend | None = None


def current() -> Backend:
    """The backend for this process: the forced one, else uWSGI when running inside it."""
    if _forced is not None:
        return _forced
    from .uwsgi import UwsgiBackend, uwsgi_module

    module = uwsgi_module()
    if module is not None:
        return UwsgiBackend(module)
    raise BackendUnavailable(
        "spoolrt is not running inside uWSGI, so there is no spooler to send this task to. "
        "Run the app under uWSGI (see uwsgi_configs/basic.ini), or call the function inline "
        "with task.func(...)"
    )


def force(backend: Backend | None) -> None:
    """Use ``backend`` for this process (None: choose automatically again)."""
    global _forced
    _forced = backend
    if backend is not None:
        log.debug("spoolrt: backend forced to %s", backend.name)


__all__ = ["Backend", "current", "force"]
