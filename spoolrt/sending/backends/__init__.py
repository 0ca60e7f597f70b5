"""Choosing where tasks go, once per call, in this order:

1. a backend forced with ``force()`` (``spoolrt.eager()`` and the test fixtures use this);
2. eager, when ``configure(eager=True)`` or ``SPOOLRT_EAGER=1``: run inline at call time;
3. uWSGI, when this process is part of a uWSGI instance: ``uwsgi.spool`` into its spoolers;
4. local, when spool directories are configured: write the file here and wake the spoolers;
   also, with none configured, when the call names its spool directory by its path
   (``Spooler("/srv/spool")``): the local writer writes there;
5. otherwise a ``BackendUnavailable`` that says how to fix it, never a silently dropped call.

A call whose spooler names a pool of ``configure(remote=...)`` goes to that pool's
``RemoteBackend`` instead (``remote()``), except under 1. and 2., where it runs as any task.

``spoolrt.backend()`` shows the choice; it is logged at DEBUG level whenever it changes.

The choice is made once per process and kept until ``choice_token()`` changes: a new settings
generation (``configure()``, ``reset()``, see ``spoolrt.core.config.generation``), another
``uwsgi`` module in ``sys.modules``, or another forced backend. Enqueue is a hot path, and
choosing costs more than spooling the vars.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from types import ModuleType

from spoolrt.core.config import generation, get_settings
from spoolrt.core.errors import BackendUnavailable, ConfigurationError
from spoolrt.sending.backends.base import Backend
from spoolrt.sending.backends.local import LocalBackend
from spoolrt.sending.backends.remote import RemoteBackend
from spoolrt.sending.backends.uwsgi import UwsgiBackend, uwsgi_module

log = logging.getLogger("spoolrt")

_forced: Backend | None = None
_logged: str = ""
_no_uwsgi = False
_local_cache: tuple[tuple[str, ...], Backend] | None = None
_eager_cache: Backend | None = None
_uwsgi_cache: UwsgiBackend | None = None
_named_cache: dict[str, Backend] = {}
_remote_cache: dict[str, RemoteBackend] = {}
#: (choice token, named_dir, backend) of the last choice
_choice: tuple[tuple[object, ...], str | None, Backend] | None = None

#: Makes the eager backend. Eager mode runs tasks, which is the running layer's business, so
#: ``spoolrt.runtime.eager`` registers its factory here when it is imported (``import spoolrt``
#: always imports it); the sending layer never imports the running one.
_eager_factory: Callable[[], Backend] | None = None


def register_eager(factory: Callable[[], Backend]) -> None:
    """Say how to make the backend that ``configure(eager=True)`` selects."""
    global _eager_factory, _eager_cache, _choice
    _eager_factory, _eager_cache, _choice = factory, None, None


def _uwsgi() -> ModuleType | None:
    """The uwsgi module, without a failing import on every call outside uWSGI."""
    global _no_uwsgi
    if "uwsgi" in sys.modules:
        return uwsgi_module()
    if _no_uwsgi:
        return None
    module = uwsgi_module()
    _no_uwsgi = module is None
    return module


def _choose(named_dir: str | None = None) -> Backend:
    global _local_cache, _eager_cache
    if _forced is not None:
        return _forced
    settings = get_settings()
    if settings.eager:
        if _eager_cache is None:
            if _eager_factory is None:
                raise ConfigurationError("eager mode needs spoolrt.runtime.eager (import spoolrt)")
            _eager_cache = _eager_factory()
        return _eager_cache
    module = _uwsgi()
    if module is not None:
        global _uwsgi_cache
        if _uwsgi_cache is None or _uwsgi_cache.uwsgi is not module:
            _uwsgi_cache = UwsgiBackend(module)
        return _uwsgi_cache
    if settings.spool_dirs:
        key = tuple(settings.spool_dirs)
        if _local_cache is None or _local_cache[0] != key:
            _local_cache = (key, LocalBackend(list(key)))
        return _local_cache[1]
    if named_dir is not None:
        if named_dir not in _named_cache:
            _named_cache[named_dir] = LocalBackend([named_dir])
        return _named_cache[named_dir]
    raise BackendUnavailable(
        "spoolrt is not running inside uWSGI and no spool directory is configured, so there is "
        "nowhere to send this task. Set SPOOLRT_SPOOL_DIRS=/path/to/spool (or "
        "spoolrt.configure(spool_dirs=[...])) to write spool files for a uWSGI spooler or "
        "`spoolrt worker`, use spoolrt.eager() to run tasks inline, or call task.func(...)"
    )


def choice_token() -> tuple[object, ...]:
    """What the choice depends on besides the call: equal tokens, equal choices."""
    return (generation(), sys.modules.get("uwsgi"), _forced)


def current(named_dir: str | None = None) -> Backend:
    """The backend this process sends tasks to now (see the module docstring for the order);
    ``named_dir``: the directory the call names by its path, written to locally when nothing
    else is configured."""
    global _logged, _choice
    token = choice_token()
    cached = _choice
    if cached is not None and cached[0] == token and cached[1] == named_dir:
        return cached[2]
    chosen = _choose(named_dir)
    _choice = (token, named_dir, chosen)
    if chosen.name != _logged:
        _logged = chosen.name
        log.debug("using the %s backend (%r)", chosen.name, chosen)
    return chosen


def remote(spooler: object) -> RemoteBackend | None:
    """The backend of the remote pool ``spooler`` names, else None.

    None too under a forced backend or eager mode, which take every task: a test of code that
    sends to a pool then runs those tasks like the others instead of reaching for the network.
    """
    if not isinstance(spooler, str):
        return None
    settings = get_settings()
    pool = settings.remote.get(spooler)
    if pool is None or _forced is not None or settings.eager:
        return None
    found = _remote_cache.get(spooler)
    if found is None or found.pool is not pool:  # reconfigured: a new rotation for the new pool
        found = _remote_cache[spooler] = RemoteBackend(pool)
    return found


def force(backend: Backend | None) -> None:
    """Use ``backend`` for this process (None: choose automatically again)."""
    global _forced, _choice
    _forced, _choice = backend, None
    if backend is not None:
        log.debug("backend forced to %s", backend.name)


def forced() -> Backend | None:
    """The backend set with ``force()``, if any (to restore it after a temporary change)."""
    return _forced


__all__ = [
    "Backend",
    "RemoteBackend",
    "choice_token",
    "current",
    "force",
    "forced",
    "register_eager",
    "remote",
]
