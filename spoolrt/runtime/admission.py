"""Whether this process may take a spool file at all: can it resolve the task, is it due.

A spool directory can be shared (uWSGI spoolers, ``spoolrt worker`` processes, several
instances), and not every process has every task module. A process that cannot resolve a task
must not take it from the others: it leaves the file exactly as it is (same place, same mtime,
so the spoolers that can run it still see it due) and quarantines it only after
``Settings.unresolved_grace``, counted from the task's signed times. When no other spooler is
announced for the directory (``spoolrt.spooldir.presence``) but this process's siblings (the
other spoolers of its uWSGI master or worker supervisor, which load the same code), nobody else
could run it and it is quarantined at once, as a lone spooler always did. It first tries to import
the module a *verified* function-call envelope names (``module:qualname``); what the import
registers is then checked like any other task, so an import never makes an unregistered
function runnable.

A file also never runs before its signed ``at``: uWSGI reads ``at`` from the file's mtime, which
anyone with write access can move. A file found early is put back to its time and left.

A file of an attempt that another process runs now (from another file: a resend) waits too.

All these outcomes raise ``FileKept``: the file stays, nothing was run, nothing is recorded.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import re
import time
from typing import Any, NoReturn

from spoolrt.core.codec.envelope import Envelope
from spoolrt.core.registry import FUNCTION_CALL_TYPE
from spoolrt.spooldir.layout import priority_dir
from spoolrt.spooldir.presence import HOST, list_announcements
from spoolrt.spooldir.regular import escape_name

log = logging.getLogger("spoolrt")

#: Seconds before a module that failed to import is tried again (a deploy may bring it).
IMPORT_RETRY_SECONDS = 60.0

#: Files remembered per process for "say it once": beyond this the memory starts afresh, so a
#: directory of unresolvable files cannot grow it without bound (a file may then be logged again).
_REMEMBERED = 10_000

#: Seconds the answer "are other spoolers announced here?" is reused (one listing per pass
#: over a directory of unresolvable files, not one per file).
_PEERS_TTL = 5.0

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


class FileKept(Exception):
    """The spool file must stay where it is; nothing ran and nothing was recorded.

    Not an error: the uWSGI callable answers ``SPOOL_RETRY`` without a traceback, the worker
    leaves the file and does not count it.
    """


def spool_file_path(spool_dir: str, file_name: str, priority: int | None) -> str:
    """Where the file ``file_name`` of a task of ``priority`` lies in ``spool_dir`` (uWSGI
    hands the callable the basename only)."""
    if os.sep in file_name:
        return file_name
    return os.path.join(priority_dir(spool_dir, priority), file_name)


def signed_due(envelope: Envelope) -> float:
    """The whole second a task may run from, by its signed times (``at``, else enqueue time),
    rounded up as the spool file's mtime is."""
    return float(math.ceil(envelope.at if envelope.at is not None else envelope.enqueued_at))


class Admission:
    """Per-process memory of the files left alone, so each is logged once, not per pass."""

    def __init__(self, spooler_side: bool = True) -> None:
        #: Off for eager mode: a task it cannot resolve is refused at once, and postpone is
        #: ignored on purpose (the caller wants the result now).
        self.spooler_side = spooler_side
        self._said: set[tuple[str, str, str]] = set()
        self._failed_imports: dict[str, float] = {}
        self._peers: dict[str, tuple[float, bool]] = {}

    def _once(self, kind: str, spool_dir: str, file_name: str) -> bool:
        key = (kind, spool_dir, file_name)
        if key in self._said:
            return False
        if len(self._said) >= _REMEMBERED:
            self._said.clear()
        self._said.add(key)
        return True

    def hold_twin(self, spool_dir: str, file_name: str, envelope: Envelope) -> NoReturn:
        """Another process runs this very attempt now, from another file of it (a remote resend
        after a timeout, a replayed copy): leave this one until that run is over, when the
        store's duplicate check refuses it (``spoolrt.spooldir.attempts``)."""
        what = (
            f"attempt {envelope.attempt} of task {envelope.task_id} runs in another process "
            f"now: {escape_name(file_name)} waits for its outcome"
        )
        if self._once("twin", spool_dir, file_name):
            log.warning("left for now: %s", what)
        raise FileKept(what)

    # --- resolving ----------------------------------------------------------------------------

    def import_task_module(self, type_id: str, payload: Any) -> None:
        """Import the module a function-call payload names (``module:qualname``), once per
        process (a failure is retried after ``IMPORT_RETRY_SECONDS``). Call it only for a
        verified envelope: the module name comes from the file."""
        if type_id != FUNCTION_CALL_TYPE or not isinstance(payload, dict):
            return
        func = payload.get("func")
        if not isinstance(func, str) or ":" not in func:
            return
        module = func.partition(":")[0]
        if not _MODULE_NAME.match(module):
            return
        now = time.monotonic()
        if self._failed_imports.get(module, 0.0) > now:
            return
        try:
            importlib.import_module(module)
        except Exception as exc:  # not importable here: the spoolers that have it run it
            self._failed_imports[module] = now + IMPORT_RETRY_SECONDS
            log.debug("cannot import %s for task %s: %s", module, escape_name(func), exc)

    def hold_unresolved(
        self,
        spool_dir: str,
        file_name: str,
        envelope: Envelope,
        why: str,
        grace: float,
        now: float | None = None,
    ) -> None:
        """Raise ``FileKept`` while the unresolvable task is within its grace period (logged
        once per file); return once the grace is over and it may be quarantined."""
        if not self.spooler_side:
            return
        now = time.time() if now is None else now
        since = max(envelope.enqueued_at, envelope.at or 0.0)
        left = since + grace - now
        if left <= 0 or not self._others_announced(spool_dir):
            return
        if self._once("unresolved", spool_dir, file_name):
            log.warning(
                "task %s (%s) cannot run in this process (%s); leaving %s for the spoolers "
                "that can, quarantined here in %.0fs if still unclaimed",
                envelope.label, envelope.task_id, why, escape_name(file_name), left,
            )  # fmt: skip
        raise FileKept(f"unresolved: {why}")

    def _others_announced(self, spool_dir: str) -> bool:
        """Whether a live spooler of ``spool_dir`` other than this process and its siblings
        (same parent, same command line: forked by one uWSGI master or worker supervisor, so
        the same code) is announced. One on another host counts: it cannot be checked."""
        now = time.monotonic()
        cached = self._peers.get(spool_dir)
        if cached is not None and cached[0] > now:
            return cached[1]
        me = os.getpid()
        family = _family(me)
        others = False
        for found in list_announcements(spool_dir):
            if found.host != HOST:
                others = True
            elif found.pid != me and found.is_alive():
                others = family is None or _family(found.pid) != family
            if others:
                break
        self._peers[spool_dir] = (now + _PEERS_TTL, others)
        return others

    # --- timing -------------------------------------------------------------------------------

    def hold_until_due(
        self, spool_dir: str, file_name: str, envelope: Envelope, now: float | None = None
    ) -> None:
        """Raise ``FileKept`` for a file that came up before its signed ``at`` (its mtime was
        moved back), after putting its mtime back to that time so no spooler takes it early
        again."""
        now = time.time() if now is None else now
        if envelope.at is None or now >= envelope.at:
            return
        due = signed_due(envelope)
        path = spool_file_path(spool_dir, file_name, envelope.priority)
        try:
            os.utime(path, (due, due))
        except OSError as exc:  # gone or not ours: it is still not run early
            log.debug("cannot restore the mtime of %s: %s", escape_name(path), exc)
        if self._once("early", spool_dir, file_name):
            log.warning(
                "task %s (%s) came up %.0fs before its signed time (its file's mtime was "
                "moved); put back to its time, not run: %s",
                envelope.label, envelope.task_id, due - now, escape_name(path),
            )  # fmt: skip
        raise FileKept("not due")


def _family(pid: int) -> tuple[int, bytes] | None:
    """``pid``'s parent pid and command line (Linux ``/proc``), else None: a stranger."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        return int(stat[stat.rindex(b")") + 2 :].split()[1]), cmdline
    except (OSError, ValueError, IndexError):
        return None
