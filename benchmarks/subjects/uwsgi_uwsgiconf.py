"""uwsgiconf 2.4's ``Spooler.task``: pickled call arguments in the body, its own dispatcher.

uwsgiconf's ``postpone=`` raises ``ValueError`` under uWSGI 2.0.31 (it passes ``at`` as an int),
and postponed files are scanned by the same uWSGI loop as the raw subject's, so this subject
does not take part in the postponed figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks import subject
from benchmarks.marks import task_marks
from benchmarks.subject import Adapter
from benchmarks.uwsgi_host import UwsgiSubject


class UwsgiconfAdapter(Adapter):
    """Tasks registered with ``@Spooler.task()``; each returns ``True`` (uwsgiconf's OK)."""

    def install(self) -> None:
        # Importing it replaces uwsgi.spooler with uwsgiconf's dispatcher.
        from uwsgiconf.runtime.spooler import Spooler

        marks = task_marks()

        @Spooler.task()
        def bench_noop(i: int) -> bool:
            marks.done()
            return True

        @Spooler.task()
        def bench_probe(t0: float) -> bool:
            marks.probe(t0)
            return True

        @Spooler.task()
        def bench_busy(seconds: float) -> bool:
            marks.busy(seconds)
            return True

        self._noop: Callable[..., Any] = bench_noop
        self._probe: Callable[..., Any] = bench_probe
        self._busy: Callable[..., Any] = bench_busy

    def enqueue_many(self, count: int) -> float:
        noop = self._noop
        started = time.perf_counter()
        for i in range(count):
            noop(i)
        return time.perf_counter() - started

    def enqueue_postponed(self, count: int, delay_s: float) -> None:
        raise NotImplementedError("uwsgiconf 2.4 postpone is broken under uWSGI 2.0.31")

    def enqueue_probe(self) -> None:
        self._probe(time.time())

    def enqueue_busy(self, seconds: float) -> None:
        self._busy(seconds)

    def stored(self) -> int:
        return sum(
            1
            for entry in self.settings.queue_dir.iterdir()
            if entry.name.startswith("uwsgi_spoolfile")
        )


class UwsgiconfSpooler(UwsgiSubject):
    name = "uwsgiconf"
    title = "uwsgiconf 2.4 Spooler.task"
    order = 10
    adapter = "benchmarks.subjects.uwsgi_uwsgiconf:UwsgiconfAdapter"
    figures = subject.ALL_FIGURES - {subject.POSTPONED}
    note = "postpone= raises under uWSGI 2.0.31, so no postponed figure (its scan is uWSGI's)."

    @classmethod
    def missing(cls) -> str | None:
        try:
            import uwsgiconf  # noqa: F401
        except ImportError:
            return "uwsgiconf is not installed"
        return super().missing()
