"""Keeping spoolrt's spooler callable in front when other code assigns ``uwsgi.spooler`` later.

Importing ``uwsgidecorators`` or ``uwsgiconf.runtime.spooler`` after spoolrt sets
``uwsgi.spooler`` (and ``uwsgi.post_fork_hook``) again. uWSGI calls whatever is there when a file
comes up, so spoolrt's signed files would go to a callable that cannot read them (uwsgiconf:
``UnpicklingError`` at every pass, for ever). ``guard`` makes such an assignment chain the
newcomer behind spoolrt's callable instead; ``reclaim`` is the fallback at each spooler's fork
where the guard could not be set.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

log = logging.getLogger("spoolrt")


class _GuardedUwsgi(ModuleType):
    """The ``uwsgi`` module, except that code assigning ``uwsgi.spooler`` or
    ``uwsgi.post_fork_hook`` after spoolrt installed its own (importing ``uwsgidecorators`` or
    ``uwsgiconf.runtime.spooler`` does) is chained behind spoolrt's instead of replacing it.

    uWSGI calls whatever ``uwsgi.spooler`` is when a file comes up, so a replaced callable
    would get spoolrt's signed files it cannot read (uwsgiconf: ``UnpicklingError`` at every
    pass, for ever). Chained, the newcomer still gets every file spoolrt did not write, as it
    would have alone, and its post-fork hook still runs.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        current: Any = self.__dict__.get(name)
        ours = getattr(current, "_spoolrt", False)
        if name in _CHAINED and ours and not getattr(value, "_spoolrt", False):
            current.previous = value
            log.warning(
                "uwsgi.%s was set to %r after spoolrt installed its own; chained "
                "behind spoolrt's (it gets what spoolrt does not handle)",
                name,
                value,
            )
            return
        super().__setattr__(name, value)


_CHAINED = ("spooler", "post_fork_hook")


def guard(module: ModuleType) -> bool:
    """Make later assignments of the spooler callable chain (see ``_GuardedUwsgi``)."""
    if isinstance(module, _GuardedUwsgi):
        return True
    try:
        module.__class__ = _GuardedUwsgi
    except TypeError:
        log.warning(
            "cannot guard uwsgi.spooler against later assignments; a library that "
            "sets it after spoolrt is chained only when each spooler process starts"
        )
        return False
    return True


def reclaim(module: ModuleType, installed: Any) -> None:
    """In a spooler process before its first scan: if ``uwsgi.spooler`` was replaced after all
    (the guard could not be set), put spoolrt's callable ``installed`` back in front and chain
    the other."""
    current = getattr(module, "spooler", None)
    if installed is None or current is installed:
        return
    installed.previous = current
    ModuleType.__setattr__(module, "spooler", installed)
    log.warning(
        "uwsgi.spooler had been replaced by %r; spoolrt's callable is back in front "
        "and %r gets the files spoolrt did not write",
        current,
        current,
    )
