"""Ticking schedules under uWSGI: a timer signal from the master, handled by a spooler process.

How it works. In the master, before it forks, spoolrt registers a handler for a free uWSGI
signal number with target ``"spooler"`` and a one-second timer for it
(``uwsgi.register_signal(n, "spooler", handler)``, ``uwsgi.add_timer(n, 1)``). Every second the
master writes that signal into the pipe all spooler processes of the instance share; one of
them reads it between two directory passes and runs the handler, which moves parked far-future
tasks that come due into the spool directories (``spoolrt.spooldir.parking``) and calls
``spoolrt.api.schedules.tick()``. So one tick per second per instance, in a spooler process,
never in a web worker; instances sharing a spool directory each tick, and the slot claims make each
slot run once.

A spooler busy with a long task reads the signal after the task: ticks come late, none is lost
(the pipe keeps them), and slots that passed meanwhile follow the schedule's missed-slot
policy. With ``spooler-processes`` of 2 or more an idle spooler takes the tick instead.

When it is installed. uWSGI runs a signal handler only in processes that share the memory it was
registered in, and only the master or a worker may register one, so it must happen in the
master: automatically when spoolrt is imported there (the app, loaded in the master as uWSGI
does by default, imports its tasks), or by importing this module in the master. With
``lazy-apps`` the master loads no app code, so add::

    shared-import = spoolrt.schedule_uwsgi

The handler then ticks whatever the spooler process registered through ``spooler-import``.

Fallback. A spooler process that registers schedules but inherited no timer from its master
(``lazy-apps`` without that line) ticks from a daemon thread once a second instead, and logs
how to switch to the timer. Same slots, same claims; one tick per spooler process.

The signal number is ``SPOOLRT_SCHEDULE_SIGNAL`` if set, else the highest one not registered yet:
uwsgidecorators hands out numbers from 0 upwards, and hand-picked numbers tend to be low.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from types import ModuleType

from spoolrt.api.schedules import ticking
from spoolrt.core.config import get_settings
from spoolrt.results.tracking import flush_stores
from spoolrt.sending.backends.uwsgi import is_spooler, uwsgi_module
from spoolrt.spooldir import ids
from spoolrt.spooldir.misdated import restore_misdated
from spoolrt.spooldir.parking import promote_due

log = logging.getLogger("spoolrt.schedule")

ENV_SIGNAL = "SPOOLRT_SCHEDULE_SIGNAL"

#: Seconds between two ticks: uWSGI timers count whole seconds, and slots have whole seconds.
TICK_SECONDS = 1

#: Signal number this instance's master registered (inherited by the processes it forks).
_installed_signal: int | None = None
_thread_pid = 0


def installed_signal() -> int | None:
    """The uWSGI signal number that drives the ticks, once the master installed it."""
    return _installed_signal


def _handle_tick(signum: int) -> None:
    """The signal handler: never raises (uWSGI would only log "error managing signal")."""
    _tick_once()


def _tick_once() -> None:
    """One tick of a spooler process: move parked tasks that come due into the spool
    directories, put back files whose mtime was moved far later than their signed time
    (``spoolrt.spooldir.misdated``), then spool the schedule slots that are due (when the app
    has schedules)."""
    try:
        module = uwsgi_module()
        signer = get_settings().signer()
        for raw in getattr(module, "spoolers", None) or ():
            spool_dir = raw.decode() if isinstance(raw, bytes) else str(raw)
            promote_due(spool_dir)
            ids.sweep_throttled(spool_dir)
            restore_misdated(spool_dir, signer)
        flush_stores()  # journaled records that waited, and dead processes' journals
    except Exception:
        log.exception("promoting parked tasks failed in pid %d", os.getpid())
    try:  # without schedules this is a loop over nothing
        ticking.tick()
    except Exception:
        log.exception("scheduled tick failed in pid %d", os.getpid())


def _is_master(module: ModuleType) -> bool:
    master = getattr(module, "masterpid", None)
    return master is not None and master() == os.getpid()


def _pick_signal(module: ModuleType) -> int:
    wanted = os.environ.get(ENV_SIGNAL, "").strip()
    if wanted:
        number = int(wanted)
        if not 0 <= number <= 255:
            raise ValueError(f"{ENV_SIGNAL}={wanted} is not a uWSGI signal number (0-255)")
        return number
    for number in range(255, -1, -1):
        if not module.signal_registered(number):
            return number
    raise ValueError("all 256 uWSGI signal numbers are registered already")


def install(module: ModuleType | None = None) -> int | None:
    """In a uWSGI master: register the tick handler and its timer; return the signal number.

    Does nothing (None) outside a uWSGI master or when the instance has no spooler; installs
    once per master.
    """
    global _installed_signal
    module = module or uwsgi_module()
    if module is None or not _is_master(module):
        return None
    if _installed_signal is not None:
        return _installed_signal
    if not list(getattr(module, "spoolers", None) or ()):
        log.warning(
            "this uWSGI instance has no spooler, so nothing here runs scheduled tasks; "
            "add `spooler = <dir>` (or run `spoolrt worker` on the spool directory)"
        )
        return None
    try:
        number = _pick_signal(module)
        module.register_signal(number, "spooler", _handle_tick)
        module.add_timer(number, TICK_SECONDS)
    except (ValueError, OSError) as exc:
        log.error(
            "could not install the schedule timer in the uWSGI master (%s); scheduled "
            "tasks will not run in this instance. Set %s to a free signal number.",
            exc,
            ENV_SIGNAL,
        )
        return None
    _installed_signal = number
    log.info("schedules tick every %ds on uWSGI signal %d", TICK_SECONDS, number)
    return number


def ensure_ticking(module: ModuleType | None = None) -> None:
    """Called when a schedule is registered: make sure something in this instance ticks.

    In the master: install the timer. In a spooler process without one from its master: start
    the fallback thread. Elsewhere (web workers, mules, outside uWSGI): nothing, the spoolers or
    the pure-Python worker tick.
    """
    module = module or uwsgi_module()
    if module is None or _installed_signal is not None:
        return
    if _is_master(module):
        install(module)
    elif is_spooler(module):
        start_thread()


def start_thread() -> threading.Thread | None:
    """Tick from a daemon thread in this process, once per process (the fallback)."""
    global _thread_pid
    if _thread_pid == os.getpid():
        return None
    _thread_pid = os.getpid()
    log.warning(
        "spooler %d ticks (schedules, parked tasks) from a thread: its uWSGI master "
        "installed no timer (lazy-apps?). Add `shared-import = spoolrt.schedule_uwsgi` to the "
        "ini to use uWSGI's timer instead.",
        os.getpid(),
    )
    thread = threading.Thread(target=_tick_forever, name="spoolrt-schedule", daemon=True)
    thread.start()
    return thread


def _tick_forever() -> None:
    while True:
        _tick_once()
        # Just past the next slot, so the tick finds it due; never longer than a tick.
        time.sleep(ticking.seconds_until_wakeup(float(TICK_SECONDS)) + 0.01)


__all__ = [
    "ENV_SIGNAL",
    "TICK_SECONDS",
    "ensure_ticking",
    "install",
    "installed_signal",
    "start_thread",
]
