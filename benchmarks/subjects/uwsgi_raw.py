"""The physical limit: bare ``uwsgi.spool()`` and a callable that returns ``SPOOL_OK``.

Every other subject's figures are divided by this one's, measured in the same run.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.marks import task_marks
from benchmarks.subject import Adapter
from benchmarks.uwsgi_host import UwsgiSubject


class RawSpoolAdapter(Adapter):
    """Plain dicts of bytes, as ``uwsgi.spool`` wants them; no serialization at all."""

    def install(self) -> None:
        import uwsgi

        marks = task_marks()
        spool_ok = uwsgi.SPOOL_OK

        def spooler(env: dict[Any, bytes]) -> int:
            t0 = env.get(b"t0")
            if t0 is not None:
                marks.probe(float(t0))
            elif b"busy" in env:
                marks.busy(float(env[b"busy"]))
            else:
                marks.done()
            return spool_ok

        uwsgi.spooler = spooler

    def enqueue_many(self, count: int) -> float:
        import uwsgi

        spool = uwsgi.spool
        started = time.perf_counter()
        for i in range(count):
            spool({b"i": b"%d" % i})
        return time.perf_counter() - started

    def enqueue_postponed(self, count: int, delay_s: float) -> None:
        import uwsgi

        at = b"%d" % int(time.time() + delay_s)
        for i in range(count):
            uwsgi.spool({b"i": b"%d" % i, b"at": at})

    def enqueue_probe(self) -> None:
        import uwsgi

        uwsgi.spool({b"t0": repr(time.time()).encode()})

    def enqueue_busy(self, seconds: float) -> None:
        import uwsgi

        uwsgi.spool({b"busy": repr(seconds).encode()})

    def stored(self) -> int:
        return sum(
            1
            for entry in self.settings.queue_dir.iterdir()
            if entry.name.startswith("uwsgi_spoolfile")
        )


class RawUwsgiSpool(UwsgiSubject):
    name = "uwsgi-raw"
    title = "uWSGI raw spool"
    order = 0
    is_baseline = True
    adapter = "benchmarks.subjects.uwsgi_raw:RawSpoolAdapter"
