"""Choosing where tasks go, once per call, in this order:

1. a backend forced with ``force()`` (``spoolrt.eager()`` and the test fixtures use this);
2. eager, when ``configure(eager=True)`` or ``SPOOLRT_EAGER=1``: run inline at call time;
3. uWSGI, when this process is part of a uWSGI instance: ``uwsgi.spool`` into its spoolers;
4. local, when spool directories are configured: write the file here and wake the spoolers;
5. otherwise a ``BackendUnavailable`` that says how to fix it, never a silently dropped call.

``spoolrt.backend()`` shows the choice; it is logged at DEBUG level whenever it changes.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from ..config import get_settings
from ..errors import BackendUnavailable
from .base import Backend

if TYPE_CHECKING:
    from .uwsgi import UwsgiBackend

log = logging.getLogger("spoolrt")

_forced: Backend | None = None
_logged: str = ""
_no_uwsgi = False
_local_cache: tuple[tuple[str, ...], Backend] | None = None
_eager_cache: Backend | None = None
_uwsgi_cache: UwsgiBackend | None = None


def _uwsgi() -> ModuleType | None:
    """The uwsgi module, without a failing import on every call outside uWSGI."""
    global _no_uwsgi
    from .uwsgi import uwsgi_module

    if "uwsgi" in sys.modules:
        return uwsgi_module()
    if _no_uwsgi:
        return None
    module = uwsgi_module()
    _no_uwsgi = module is None
    return module


def _choose() -> Backend:
    global _local_cache, _eager_cache
    if _forced is not None:
        return _forced
    settings = get_settings()
    if settings.eager:
        if _eager_cache is None:
            from .eager import EagerBackend

            _eager_cache = EagerBackend()
        return _eager_cache
    module = _uwsgi()
    if module is not None:
        global _uwsgi_cache
        if _uwsgi_cache is None or _uwsgi_cache.uwsgi is not module:
            from .uwsgi import UwsgiBackend

            _uwsgi_cache = UwsgiBackend(module)
        return _uwsgi_cache
    if settings.spool_dirs:
        key = tuple(settings.spool_dirs)
        if _local_cache is None or _local_cache[0] != key:
            from .local import LocalBackend

            _local_cache = (key, LocalBackend(list(key)))
        return _local_cache[1]
    raise BackendUnavailable(
        "spoolrt is not running inside uWSGI and no spool directory is configured, so there is "
        "nowhere to send this task. Set SPOOLRT_SPOOL_DIRS=/path/to/spool (or "
        "spoolrt.configure(spool_dirs=[...])) to write spool files for a uWSGI spooler or "
        "`spoolrt worker`, use spoolrt.eager() to run tasks inline, or call task.func(...)"
    )


def current() -> Backend:
    """The backend this process sends tasks to now (see the module docstring for the order)."""
    global _logged
    chosen = _choose()
    if chosen.name != _logged:
        _logged = chosen.name
        log.debug("spoolrt: using the %s backend (%r)", chosen.name, chosen)
    return chosen


def force(backend: Backend | None) -> None:
    """Use ``backend`` for this process (None: choose automatically again)."""
    global _forced
    _forced = backend
    if backend is not None:
        log.debug("spoolrt: backend forced to %s", backend.name)


def forced() -> Backend | None:
    """The backend set with ``force()``, if any (to restore it after a temporary change)."""
    return _forced


__all__ = ["Backend", "current", "force", "forced"]
