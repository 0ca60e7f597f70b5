"""The backend for code running inside uWSGI: ``uwsgi.spool`` writes the file.

uWSGI's own ``uwsgi.spool`` writes the file and wakes idle spoolers (enqueue to start in under a
millisecond). This is the sending side only; the spooler side (the callable uWSGI runs for each
file) is ``spoolrt.runtime.uwsgi_spooler``. ``uwsgi_module()`` here is the one place spoolrt
imports ``uwsgi``.
"""

from __future__ import annotations

import errno
import os
import sys
from types import ModuleType
from typing import Any

from spoolrt.core.codec.envelope import Envelope, spool_vars
from spoolrt.core.errors import ConfigurationError, EnqueueError
from spoolrt.sending.backends.base import Backend
from spoolrt.spooldir.layout import spool_write_error


def uwsgi_module() -> ModuleType | None:
    """The ``uwsgi`` module when this process is part of a uWSGI instance, else None."""
    module = sys.modules.get("uwsgi")
    if module is None:
        try:
            import uwsgi as module  # type: ignore[no-redef]
        except ImportError:
            return None
    return module if hasattr(module, "opt") else None


class UwsgiBackend(Backend):
    name = "uwsgi"
    places_only = True

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
        return bool(option(self.uwsgi, "spooler-ordered"))

    def check_priority(self, spool_dir: str) -> None:
        if not self.ordered():
            raise ConfigurationError(
                "this uWSGI instance runs without spooler-ordered, so a task with a priority "
                "would never run; start it with `spoolrt serve --ordered` (serve rewrites its "
                "ini at each start), or add `spooler-ordered = true` to your own ini, or drop "
                "the priority"
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


def is_spooler(module: ModuleType) -> bool:
    """Whether this process is one of uWSGI's spooler processes."""
    check = getattr(module, "i_am_the_spooler", None)
    return bool(check()) if check is not None else False


def option(module: ModuleType, name: str) -> Any:
    """One of uWSGI's options (``uwsgi.opt``), None when not set."""
    opt = getattr(module, "opt", {}) or {}
    return opt.get(name)


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
