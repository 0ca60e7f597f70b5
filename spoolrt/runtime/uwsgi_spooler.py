"""The spooler side under uWSGI: the callable uWSGI runs for each spool file, and its hooks.

What importing spoolrt does inside a uWSGI process (and only there; outside uWSGI importing
spoolrt does nothing at all): ``install_dispatcher()`` makes ``SpoolerCallable`` the spooler
callable (``uwsgi.spooler``), chaining to a callable that was already there for the files spoolrt
did not write; it sets ``uwsgi.post_fork_hook`` (chaining too) so that each spooler process
announces itself to writers outside uWSGI; and it makes sure something ticks once a second
(``spoolrt.runtime.ticker``: a uWSGI signal and timer registered in the master, or a thread in a
spooler whose master never loaded spoolrt) to promote parked tasks and fire schedules.
"""

from __future__ import annotations

import contextlib
import logging
import os
from types import ModuleType
from typing import Any

from spoolrt.core.codec.envelope import is_spoolrt_packet
from spoolrt.core.codec.packet import from_callable_env
from spoolrt.runtime.admission import FileKept
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.runtime.guard import guard, reclaim
from spoolrt.runtime.logs import install_fallback
from spoolrt.runtime.ticker import ensure_ticking
from spoolrt.sending.backends.uwsgi import UwsgiBackend, is_spooler, option, uwsgi_module
from spoolrt.spooldir.layout import warn_if_exposed
from spoolrt.spooldir.presence import KIND_UWSGI, Presence, announce

log = logging.getLogger("spoolrt")

#: uWSGI's return codes: only ``SPOOL_OK`` removes the file; ``SPOOL_RETRY`` keeps it.
SPOOL_OK = -2
SPOOL_RETRY = -1


def install(backend: UwsgiBackend, callable_: Any) -> None:
    """Make ``callable_`` the spooler callable, chaining to one that was there before.

    A callable set by other code (uwsgidecorators, a hand-written one) keeps receiving the
    files spoolrt did not write, instead of being silently replaced.
    """
    module = backend.uwsgi
    previous = getattr(module, "spooler", None)
    if previous is not None and not getattr(previous, "_spoolrt", False):
        callable_.previous = previous
    module.spooler = callable_  # type: ignore[attr-defined]
    if option(module, "lazy-apps") and not any(
        option(module, key)
        for key in ("spooler-import", "spooler-python-import", "spooler-pyimport")
    ):
        log.warning(
            "lazy-apps is on and no spooler-import is set: the spooler process "
            "will not load your tasks; add `spooler-import = <your tasks module>`"
        )
    for spool_dir in backend.spooler_dirs():
        warn_if_exposed(spool_dir)


class SpoolerCallable:
    """What uWSGI calls for each spool file: spoolrt files go to the dispatcher, others to the
    callable that was installed before spoolrt (if any), else to quarantine.

    Always answers ``SPOOL_OK`` once the bookkeeping is done. It answers ``SPOOL_RETRY``, so
    uWSGI keeps the file, when the dispatcher leaves it (``FileKept``: a task this process
    cannot resolve yet, a file come up before its signed time, an outcome whose bookkeeping
    failed and is retried alone) or, as a last resort, when anything else failed: a task may
    run twice, but is never lost.
    """

    _spoolrt = True

    def __init__(self, backend: UwsgiBackend, dispatcher: Dispatcher) -> None:
        self.backend = backend
        self.dispatcher = dispatcher
        self.previous: Any = None
        self._spool_dir: str | None = None
        self.presence: Presence | None = None
        self._announced_pid = 0

    def announce(self) -> None:
        """Announce this spooler process so writers outside uWSGI can wake it (see
        ``spoolrt.spooldir.presence``); once per process. Called by the post-fork hook, at import
        in a spooler, and, as a fallback, at the first task."""
        pid = os.getpid()
        if self._announced_pid == pid:
            return
        self._announced_pid = pid
        # A spooler is spoolrt's runtime: its task lines must show (see logs), unless uWSGI was
        # told to keep quiet about each task (``spooler-quiet``); retries and failures still do.
        install_fallback(logging.WARNING if spooler_quiet(self.backend.uwsgi) else logging.INFO)
        spool_dir = self.backend.own_spool_dir()
        if spool_dir is not None:
            self.presence = announce(spool_dir, KIND_UWSGI, ordered=self.backend.ordered())

    def spool_dir(self) -> str:
        # Not from the file's own vars: a forged file could point our writes elsewhere.
        if self._spool_dir is None:
            self._spool_dir = self.backend.own_spool_dir() or os.getcwd()
        return self._spool_dir

    def __call__(self, env: dict[Any, Any]) -> int:
        if self._announced_pid != os.getpid():
            self.announce()
        busy = self.presence.busy() if self.presence is not None else contextlib.nullcontext()
        try:
            file_name, packet = from_callable_env(env)
            if self.previous is not None and not is_spoolrt_packet(packet):
                with busy:
                    return int(self.previous(env))
            with busy:
                self.dispatcher.run(self.spool_dir(), file_name, packet)
            return SPOOL_OK
        except FileKept:  # not to be taken now (unresolved, early, bookkeeping deferred)
            return SPOOL_RETRY
        except Exception:
            log.exception("could not finish a spool file; uWSGI keeps it for a rerun")
            return SPOOL_RETRY


def spooler_quiet(module: ModuleType) -> bool:
    """Whether uWSGI runs with ``spooler-quiet`` (a flag: ``True``, or the ini's string)."""
    quiet = option(module, "spooler-quiet")
    if isinstance(quiet, bytes):
        quiet = quiet.decode("latin-1")
    if isinstance(quiet, str):
        return quiet.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(quiet)


def install_dispatcher(dispatcher: Dispatcher | None = None) -> SpoolerCallable | None:
    """Install spoolrt's spooler callable in this uWSGI process (no-op outside uWSGI)."""
    module = uwsgi_module()
    if module is None:
        return None
    current = getattr(module, "spooler", None)
    if getattr(current, "_spoolrt", False):
        return current
    global _installed
    backend = UwsgiBackend(module)
    callable_ = SpoolerCallable(backend, dispatcher or Dispatcher())
    install(backend, callable_)
    _installed = callable_
    _hook_post_fork(module)
    guard(module)
    if is_spooler(module):  # imported in the spooler itself (lazy-apps + spooler-import)
        callable_.announce()
    # The one-second tick that promotes parked tasks (and fires schedules): a timer in the
    # master, or a thread in a spooler whose master never loaded spoolrt.
    ensure_ticking(module)
    return callable_


def _hook_post_fork(module: ModuleType) -> None:
    """Announce each spooler process as uWSGI forks it, chaining to an existing hook.

    uWSGI calls ``uwsgi.post_fork_hook`` in every process it forks, spoolers included, so a
    spooler forked from a master that imported spoolrt announces itself before its first scan.
    A hook set *after* this one (importing ``uwsgidecorators`` later) becomes its ``previous``
    through the module guard (``spoolrt.runtime.guard``), so both run. In a spooler it also
    makes sure spoolrt's callable is the one uWSGI will call (``reclaim``).
    """
    previous = getattr(module, "post_fork_hook", None)
    if getattr(previous, "_spoolrt", False):
        return

    def post_fork_hook() -> None:
        try:
            if post_fork_hook.previous is not None:  # type: ignore[attr-defined]
                post_fork_hook.previous()  # type: ignore[attr-defined]
        finally:
            if is_spooler(module):
                reclaim(module, _installed)
                current = getattr(module, "spooler", None)
                if isinstance(current, SpoolerCallable):
                    current.announce()

    post_fork_hook._spoolrt = True  # type: ignore[attr-defined]
    post_fork_hook.previous = previous  # type: ignore[attr-defined]
    module.post_fork_hook = post_fork_hook  # type: ignore[attr-defined]


#: The callable ``install_dispatcher`` installed in this process.
_installed: SpoolerCallable | None = None
