"""The waiting files of a spool directory, known without decoding them: what a paged list
orders and filters before it decodes only the page it shows.

Decoding a spool file (read, verify, unpickle the arguments for a preview) costs ~25 us; at
10,000 pending files the dashboard's task list spent 400 ms decoding files to show 50. What a
list needs to order them is cheaper:

- **when** the file was written, from its name: both uWSGI's names and spoolrt's end in
  ``_<seconds>_<microseconds>`` of their creation (``spoolrt.spooldir.layout.new_file_name``).
  That is the enqueue time of a first attempt and the retry time of a retry; a name that does
  not end so falls back to the file's mtime.
- its **state** from its mtime (scheduled when its ``at`` is later than now) and whether a
  process holds its lock (running; ``F_GETLK``, ~1.5 us a file).
- its **name**, only when a list filters or sorts by it: the unverified JSON header
  (``peek_header``, ~10 us a file), never used to run anything.

Each file is listed once even while a parked file is promoted (parked area read first, then
the spool directory, as ``spoolrt.observe.scan`` does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from spoolrt.observe.scan import State, locked_by
from spoolrt.spooldir.inspect import peek_header
from spoolrt.spooldir.listing import pending_files
from spoolrt.spooldir.parking import iter_parked, promoted_path


@dataclass(frozen=True)
class WaitingFile:
    """One waiting spool file: where it is and what ``stat`` says."""

    spool_dir: str
    path: str
    mtime: float

    @property
    def written(self) -> float:
        """When the file was written, from its name (else its mtime)."""
        return written_at(self.path, self.mtime)

    def state(self, now: float) -> State:
        """Running (a process holds its lock), scheduled (``at`` later than now) or pending."""
        if locked_by(self.path) is not None:
            return State.RUNNING
        # uWSGI compares whole seconds: st_mtime > now.
        return State.SCHEDULED if int(self.mtime) > int(now) else State.PENDING

    def label(self) -> tuple[str, str]:
        """``(label, type id)`` from the unverified header ("" for a foreign or gone file): the
        function name, else the message, else the type id, as ``Entry.label`` says it."""
        header = peek_header(self.path) or {}
        type_id = str(header.get("type") or "")
        label = str(header.get("name") or "") or str(header.get("msg") or "") or type_id
        return label, type_id


def written_at(name: str, fallback: float) -> float:
    """The creation time a spool file's name (or path) ends with (``..._<sec>_<usec>``), else
    ``fallback``."""
    head, _, usec = name.rpartition("_")
    _, _, sec = head.rpartition("_")
    if sec.isdigit() and usec.isdigit() and len(usec) <= 6:
        return int(sec) + int(usec) / 1e6
    return fallback


def waiting_files(spool_dir: str) -> list[WaitingFile]:
    """Every waiting file of ``spool_dir``, each once: the spool directory's in run order,
    then the parked ones (far-future) soonest first."""
    parked = {os.path.basename(path): path for path in iter_parked(spool_dir)}
    found = [WaitingFile(spool_dir, path, mtime) for path, mtime in pending_files(spool_dir)]
    if parked:
        for waiting in found:
            parked.pop(os.path.basename(waiting.path), None)
    for path in parked.values():
        for name in (path, promoted_path(spool_dir, path)):  # promoted since we listed it
            try:
                found.append(WaitingFile(spool_dir, name, os.stat(name).st_mtime))
                break
            except OSError:
                continue
    return found
