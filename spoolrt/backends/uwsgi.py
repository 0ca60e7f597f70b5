"""The backend for code running inside uWSGI: the only module that imports ``uwsgi``.

uWSGI's own ``uwsgi.spool`` writes the file and wakes idle spoolers (enqueue to start in under a
millisecond); the dispatcher is installed as ``uwsgi.spooler`` so the spooler processes run it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from types import ModuleType
from typing import Any

from ..announce import KIND_UWSGI, Presence, announce
from ..dispatch import Dispatcher
from ..errors import ConfigurationError, EnqueueError
from ..message import Envelope, is_spoolrt_packet, spool_vars
from ..spooldir import spool_write_error, warn_if_exposed
from ..spoolfile import from_callable_env
from .base import Backend

log = logging.getLogger("spoolrt")

_SPOOL_OK = -2
_SPOOL_RETRY = -1


def uwsgi_module() -> ModuleType | None:
    """The ``uwsgi`` module when this process is part of a uWSGI instance, else None."""
    module = sys.modules.get("uwsgi")
    if module is None:
        try:
            import uwsgi as module  # type: ignore[no-redef]
        except ImportError:
            return None
    return module if hasattr(module, "opt") else None


def _option(module: ModuleType, name: str) -> Any:
    opt = getattr(module, "opt", {}) or {}
    return opt.get(name)


class UwsgiBackend(Backend):
    name = "uwsgi"

    def __init__(self, module: ModuleType) -> None:
        self.uwsgi = module

    def spooler_dirs(self) -> list[str]:
        # uwsgi.opt['spooler'] shows only the last dir; uwsgi.spoolers lists one per process.
        dirs: list[str] = []
        for raw in getattr(self.uwsgi, "spoolers", ()) or ():
            path = raw.decode() if isinstance(raw, bytes) else str(raw)
            if path not in dirs:
                dirs.append(path)
        return dirs

    def ordered(self) -> bool:
        return bool(_option(self.uwsgi, "spooler-ordered"))

    def check_priority(self, spool_dir: str) -> None:
        if not self.ordered():
            raise ConfigurationError(
                "this uWSGI instance runs without spooler-ordered, so a task with a priority "
                "would never run; add `spooler-ordered = true` to the ini or drop the priority"
            )

    def spool(self, spool_dir: str, envelope: Envelope, body: bytes) -> str:
        request = spool_vars(envelope)
        request[b"body"] = body
        try:
            path = self.uwsgi.spool(request)
        except (ValueError, OSError) as exc:
            # uWSGI says only "unable to spool job" (the reason is in its log): find it here.
            raise spool_refusal(spool_dir, exc) from exc
        return path.decode() if isinstance(path, bytes) else str(path)

    def pids(self) -> list[int]:
        return [pid for pid in self.uwsgi.spooler_pids() if pid]

    def set_period(self, seconds: int) -> bool:
        return bool(self.uwsgi.set_spooler_frequency(int(seconds)))

    def own_spool_dir(self) -> str | None:
        """The directory of the spooler process calling this, from the pid/dir pairing."""
        try:
            pids = list(self.uwsgi.spooler_pids())
            dirs = [d.decode() if isinstance(d, bytes) else str(d) for d in self.uwsgi.spoolers]
            return dirs[pids.index(os.getpid())]
        except (AttributeError, ValueError, IndexError):
            known = self.spooler_dirs()
            return known[0] if len(known) == 1 else None

    def install(self, callable_: Any) -> None:
        """Make ``callable_`` the spooler callable, chaining to one that was there before.

        A callable set by other code (uwsgidecorators, a hand-written one) keeps receiving the
        files spoolrt did not write, instead of being silently replaced.
        """
        previous = getattr(self.uwsgi, "spooler", None)
        if previous is not None and not getattr(previous, "_spoolrt", False):
            callable_.previous = previous
        self.uwsgi.spooler = callable_  # type: ignore[attr-defined]
        if _option(self.uwsgi, "lazy-apps") and not any(
            _option(self.uwsgi, key)
            for key in ("spooler-import", "spooler-python-import", "spooler-pyimport")
        ):
            log.warning(
                "spoolrt: lazy-apps is on and no spooler-import is set: the spooler process "
                "will not load your tasks; add `spooler-import = <your tasks module>`"
            )
        for spool_dir in self.spooler_dirs():
            warn_if_exposed(spool_dir)


class SpoolerCallable:
    """What uWSGI calls for each spool file: spoolrt files go to the dispatcher, others to the
    callable that was installed before spoolrt (if any), else to quarantine.

    Always answers ``SPOOL_OK`` once the bookkeeping is done. Only when the bookkeeping itself
    fails (disk full) does it answer ``SPOOL_RETRY``, so uWSGI keeps the file: a task may run
    twice, but is never lost.
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
        ``spoolrt.announce``); once per process. Called by the post-fork hook, at import in a
        spooler, and, as a fallback, at the first task."""
        pid = os.getpid()
        if self._announced_pid == pid:
            return
        self._announced_pid = pid
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
        except Exception:
            log.exception("spoolrt: could not finish a spool file; uWSGI keeps it for a rerun")
            return SPOOL_RETRY


def install_dispatcher(dispatcher: Dispatcher | None = None) -> SpoolerCallable | None:
    """Install spoolrt's spooler callable in this uWSGI process (no-op outside uWSGI)."""
    module = uwsgi_module()
    if module is None:
        return None
    current = getattr(module, "spooler", None)
    if getattr(current, "_spoolrt", False):
        return current
    backend = UwsgiBackend(module)
    callable_ = SpoolerCallable(backend, dispatcher or Dispatcher())
    backend.install(callable_)
    _hook_post_fork(module)
    if _is_spooler(module):  # imported in the spooler itself (lazy-apps + spooler-import)
        callable_.announce()
    # The one-second tick that promotes parked tasks (and fires schedules): a timer in the
    # master, or a thread in a spooler whose master never loaded spoolrt.
    from ..schedule_uwsgi import ensure_ticking

    ensure_ticking(module)
    return callable_


def _is_spooler(module: ModuleType) -> bool:
    check = getattr(module, "i_am_the_spooler", None)
    return bool(check()) if check is not None else False


def _hook_post_fork(module: ModuleType) -> None:
    """Announce each spooler process as uWSGI forks it, chaining to an existing hook.

    uWSGI calls ``uwsgi.post_fork_hook`` in every process it forks, spoolers included, so a
    spooler forked from a master that imported spoolrt announces itself before its first scan.
    (A hook set *after* this one without chaining, e.g. by importing ``uwsgidecorators``
    later, replaces it; the first task still announces the spooler.)
    """
    previous = getattr(module, "post_fork_hook", None)
    if getattr(previous, "_spoolrt", False):
        return

    def post_fork_hook() -> None:
        try:
            if previous is not None:
                previous()
        finally:
            current = getattr(module, "spooler", None)
            if isinstance(current, SpoolerCallable) and _is_spooler(module):
                current.announce()

    post_fork_hook._spoolrt = True  # type: ignore[attr-defined]
    module.post_fork_hook = post_fork_hook  # type: ignore[attr-defined]


SPOOL_OK = _SPOOL_OK
SPOOL_RETRY = _SPOOL_RETRY


def spool_refusal(spool_dir: str, exc: Exception) -> EnqueueError:
    """Why uWSGI refused to spool into ``spool_dir``, as the closest ``EnqueueError``.

    ``uwsgi.spool`` raises a bare ``ValueError("unable to spool job")`` whatever went wrong;
    the likely causes are checked on the directory itself: a full filesystem, a missing or
    read-only directory, or one this process may not write.
    """
    said = str(exc) or type(exc).__name__
    probe: OSError | None = exc if isinstance(exc, OSError) and exc.errno else None
    if probe is None:
        try:
            info = os.statvfs(spool_dir)
            if info.f_bavail == 0 or info.f_favail == 0:
                probe = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            elif not os.access(spool_dir, os.W_OK | os.X_OK):
                probe = OSError(errno.EACCES, os.strerror(errno.EACCES))
        except OSError as failed:
            probe = failed
    if probe is not None:
        why = spool_write_error(probe, spool_dir)
        return type(why)(
            f"uWSGI refused to spool ({said}): {why}", errno=why.errno, filename=spool_dir
        )
    return EnqueueError(
        f"uWSGI refused to spool into {spool_dir} ({said}); check its free space and inodes "
        f"(df -h / df -i {spool_dir}), that the spooler's user may write there, and uWSGI's log "
        "for the reason"
    )
