"""spoolrt outside uWSGI (local writer + ``spoolrt worker``) against spoolrt inside uWSGI.

Both subjects spool the same task functions through spoolrt's public API, so both write the same
signed spool files and both run them through the same ``Dispatcher`` (result store included, as
users get it). What differs is only who writes and who runs the files:

- ``spoolrt-uwsgi``: the application calls tasks inside a uWSGI worker (``uwsgi.spool``) and the
  uWSGI C spooler runs them;
- ``spoolrt-worker``: the application is a plain Python process (local backend: atomic write,
  then ``SIGUSR1`` to announced idle workers) and ``python -m spoolrt.runtime.worker`` runs them;
- ``spoolrt-local-uwsgi``: the local writer's files, drained by the uWSGI C spooler.

Enqueue: ``spoolrt-worker ÷ spoolrt-uwsgi`` is the local writer against ``uwsgi.spool``.
Drain: ``spoolrt-worker ÷ spoolrt-local-uwsgi`` is the pure-Python spooler loop against the C
one on the same files (target: at least 0.7). The ``-noresults`` pair leaves the result store
out, so the loops' own cost shows.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import ClassVar

from benchmarks import subject
from benchmarks.marks import task_marks
from benchmarks.processes import ManagedProcess
from benchmarks.stdio_producer import REPO_ROOT, StdioProducer
from benchmarks.subject import Adapter, Producer, Subject
from benchmarks.uwsgi_host import UwsgiSubject
from spoolrt import Spooler
from spoolrt.core.codec.packet import FILE_PREFIX
from spoolrt.results.tracking import ENV_STORE_JOURNAL
from spoolrt.spooldir.parking import iter_parked

#: Both sides must verify what the other signed; a fixed key keeps the run off ~/.config.
BENCH_KEY = "spoolrt-benchmark-key-0123456789"
ENV_RESULTS = "BENCH_SPOOLRT_RESULTS"


def _configure_from_env() -> None:
    """Apply the subject's settings in every process that imports the tasks: the producer, and
    the worker (``--app``), where the adapter's ``install`` never runs."""
    import spoolrt

    if os.environ.get(ENV_RESULTS):
        spoolrt.configure(results=os.environ[ENV_RESULTS])


_configure_from_env()


@Spooler.task()
def noop(i: int) -> bool:
    task_marks().done()
    return True


@Spooler.task()
def probe(t0: float) -> bool:
    task_marks().probe(t0)
    return True


@Spooler.task()
def busy(seconds: float) -> bool:
    task_marks().busy(seconds)
    return True


class SpoolrtAdapter(Adapter):
    """The application side: the same calls whether the backend is uwsgi or local."""

    def install(self) -> None:
        import spoolrt

        if "uwsgi" not in sys.modules:
            spoolrt.configure(spool_dirs=[str(self.settings.queue_dir)])
        spoolrt.backend()  # choose (and cache) the backend before anything is timed

    def enqueue_many(self, count: int) -> float:
        call = noop.spool
        started = time.perf_counter()
        for i in range(count):
            call(i)
        return time.perf_counter() - started

    def enqueue_postponed(self, count: int, delay_s: float) -> None:
        for i in range(count):
            noop.spool_with((i,), postpone=delay_s)

    def enqueue_probe(self) -> None:
        probe(time.time())

    def enqueue_busy(self, seconds: float) -> None:
        busy(seconds)

    def stored(self) -> int:
        """Ready files (priority sub-directories included) plus the far-future ones parked
        under ``.spoolrt/parked/``: both are tasks not yet run."""
        queue_dir = str(self.settings.queue_dir)
        return _count_spool_files(queue_dir) + sum(1 for _ in iter_parked(queue_dir))


def _count_spool_files(directory: str) -> int:
    count = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.isdigit() and entry.is_dir():  # priority dirs, not .spoolrt/
                count += _count_spool_files(entry.path)
            elif entry.name.startswith(FILE_PREFIX):
                count += 1
    return count


class _SpoolrtEnv:
    results: ClassVar[str] = "all"

    def spoolrt_env(self) -> dict[str, str]:
        return {"SPOOLRT_SECRET_KEY": BENCH_KEY, ENV_RESULTS: self.results}


class SpoolrtInUwsgi(_SpoolrtEnv, UwsgiSubject):
    name = "spoolrt-uwsgi"
    title = "spoolrt in uWSGI"
    order = 20
    adapter = "benchmarks.subjects.spoolrt_worker:SpoolrtAdapter"
    note = "tasks called in the uWSGI worker, run by the uWSGI spooler; result store on."

    def extra_env(self) -> dict[str, str]:
        return self.spoolrt_env()


class SpoolrtInUwsgiNoResults(SpoolrtInUwsgi):
    name = "spoolrt-uwsgi-noresults"
    title = "spoolrt in uWSGI, results off"
    order = 20
    results = "off"
    note = "as spoolrt in uWSGI with configure(results='off'): the status store's cost shows."


class SpoolrtInUwsgiNoJournal(SpoolrtInUwsgi):
    name = "spoolrt-uwsgi-nojournal"
    title = "spoolrt in uWSGI, one commit a task"
    order = 20
    note = (
        "as spoolrt in uWSGI with SPOOLRT_STORE_JOURNAL=0: each finished record is its own "
        "SQLite commit instead of being journaled and merged 64 at a time."
    )

    def extra_env(self) -> dict[str, str]:
        return {**self.spoolrt_env(), ENV_STORE_JOURNAL: "0"}


class SpoolrtWorker(_SpoolrtEnv, Subject):
    name = "spoolrt-worker"
    title = "spoolrt local + worker"
    order = 21
    adapter = "benchmarks.subjects.spoolrt_worker:SpoolrtAdapter"
    note = (
        "tasks called in a plain Python process (local backend), run by "
        "`python -m spoolrt.runtime.worker --frequency 1`; result store on."
    )

    def extra_env(self) -> dict[str, str]:
        return self.spoolrt_env()

    def producer(self) -> AbstractContextManager[Producer]:
        return StdioProducer(self.settings(), self.log_dir / "producer.log", self.workdir)

    @contextmanager
    def _consumer(self, processes: int) -> Iterator[Producer]:
        env = dict(os.environ, **self.settings().to_env())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        argv = [
            sys.executable,
            "-m",
            "spoolrt.worker",
            "--spool",
            str(self.queue_dir),
            "--processes",
            str(processes),
            "--frequency",
            "1",
            "--app",
            "benchmarks.subjects.spoolrt_worker",
            "--log-level",
            "WARNING",
        ]
        log_path = self.log_dir / f"worker-p{processes}.log"
        with (
            ManagedProcess(argv, env=env, cwd=self.workdir, log_path=log_path),
            StdioProducer(self.settings(), self.log_dir / "producer.log", self.workdir) as feeder,
        ):
            _wait_announced(self.queue_dir, processes)
            yield feeder

    def consumer(self, processes: int) -> AbstractContextManager[Producer]:
        return self._consumer(processes)


def _wait_announced(queue_dir: object, processes: int, timeout: float = 30.0) -> None:
    """Latency probes must not start before the spoolers can be woken."""
    from spoolrt.spooldir.presence import list_announcements

    deadline = time.monotonic() + timeout
    while sum(a.is_alive() for a in list_announcements(str(queue_dir))) < processes:
        if time.monotonic() > deadline:
            raise subject.BenchError(f"{processes} worker process(es) did not announce")
        time.sleep(0.02)


class LocalFilesOnUwsgi(SpoolrtInUwsgi):
    """The worker's comparison on the same files: written by the local writer (fsynced, as
    ``durable_writes`` does by default), drained by the uWSGI C spooler. On ext4 draining
    fsynced files costs several times more than draining files still in the page cache
    (unlink has blocks to free), so only this pair compares the two spoolers fairly."""

    name = "spoolrt-local-uwsgi"
    title = "spoolrt local files, uWSGI spooler"
    order = 22
    note = (
        "written by the local writer (as spoolrt local + worker), run by the uWSGI spooler, "
        "which the writer wakes through its announcement."
    )

    def producer(self) -> AbstractContextManager[Producer]:
        return StdioProducer(self.settings(), self.log_dir / "producer.log", self.workdir)

    @contextmanager
    def _local_feeder(self, processes: int) -> Iterator[Producer]:
        with (
            super().consumer(processes),
            StdioProducer(self.settings(), self.log_dir / "producer.log", self.workdir) as feeder,
        ):
            _wait_announced(self.queue_dir, processes)
            yield feeder

    def consumer(self, processes: int) -> AbstractContextManager[Producer]:
        return self._local_feeder(processes)


class SpoolrtWorkerNoResults(SpoolrtWorker):
    name = "spoolrt-worker-noresults"
    title = "spoolrt local + worker, results off"
    order = 23
    results = "off"
    figures = frozenset({subject.ENQUEUE, subject.DRAIN})
    note = "as spoolrt local + worker with configure(results='off'): the runtimes' own cost."


class LocalFilesOnUwsgiNoResults(LocalFilesOnUwsgi):
    name = "spoolrt-local-uwsgi-noresults"
    title = "spoolrt local files, uWSGI spooler, results off"
    order = 24
    results = "off"
    figures = frozenset({subject.ENQUEUE, subject.DRAIN})
    note = "as spoolrt local files, uWSGI spooler with configure(results='off')."
