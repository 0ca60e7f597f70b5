"""A spool file held as a running spooler holds it, by a child process, for tests of what may
and may not be done to a task while it runs (cancel, purge, ``ps``, the dashboard's list)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_HOLD = """
import contextlib, fcntl, os, sys
busy = contextlib.nullcontext()
if len(sys.argv) > 2:  # also announce a busy spooler process of that directory
    from spoolrt.spooldir.presence import announce
    busy = announce(sys.argv[2], "worker", ordered=False).busy()
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)  # as a spooler running the file holds it
with busy:
    print("busy", flush=True)
    sys.stdin.read()
"""


@contextmanager
def running_elsewhere(path: str, announce_in: str | None = None) -> Iterator[subprocess.Popen[str]]:
    """For the block, a child process holds ``path``'s lock (and, with ``announce_in``, is an
    announced busy spooler of that directory); it is stopped by the test at the end."""
    args = [sys.executable, "-c", _HOLD, path, *([announce_in] if announce_in else [])]
    holder = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "busy\n"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
