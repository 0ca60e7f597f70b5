"""Inside a uWSGI spooler: how long each call of the spooler callable takes (loaded by
``benchmarks.uwsgi_app`` when ``$BENCH_SPLIT_DIR`` is set; see ``benchmarks.drain_split``).

The callable is what uWSGI's C loop calls for each spool file; the time outside it is the C
loop's own (scanning, opening, locking, reading and unlinking the file). Every
``WRITE_EVERY`` calls the process writes ``<dir>/<pid>.json``: calls so far and seconds spent
inside them. spoolrt's callable is timed at its class (its post-fork hook puts its own instance
back as ``uwsgi.spooler``); any other callable is wrapped where it is.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

ENV_SPLIT = "BENCH_SPLIT_DIR"
WRITE_EVERY = 500


class CallTimer:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.calls = 0
        self.seconds = 0.0

    def timed(self, call: Callable[..., int], *args: Any) -> int:
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1
            if self.calls % WRITE_EVERY == 0:
                self._write()

    def _write(self) -> None:
        path = os.path.join(self.directory, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as out:
            json.dump({"calls": self.calls, "seconds": self.seconds}, out)
        os.replace(path + ".tmp", path)


def install() -> None:
    """Time the spooler callable of this uWSGI process if ``$BENCH_SPLIT_DIR`` asks for it."""
    directory = os.environ.get(ENV_SPLIT)
    if not directory:
        return
    import uwsgi

    timer = CallTimer(directory)
    current = getattr(uwsgi, "spooler", None)
    # Only a subject that loaded spoolrt gets it imported: importing it installs its hooks.
    if "spoolrt.runtime.uwsgi_spooler" in sys.modules:
        from spoolrt.runtime.uwsgi_spooler import SpoolerCallable

        inner = SpoolerCallable.__call__

        def timed_call(self: SpoolerCallable, env: dict[Any, Any]) -> int:
            return timer.timed(inner, self, env)

        SpoolerCallable.__call__ = timed_call  # type: ignore[method-assign]
    elif current is not None:
        uwsgi.spooler = lambda env: timer.timed(current, env)
