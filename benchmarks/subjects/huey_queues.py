"""huey 3.5 ``SqliteHuey`` and ``FileHuey``: the "no broker" queues users pick instead.

The consumer polls at huey's tightest setting (``-d 0.001 -m 0.001 -b 1.0``: a constant 1 ms
poll, with no backoff), without periodic tasks or log lines (``-n -q``), and runs its workers
as processes (``-k process``), the counterpart of spooler processes. The producer is a plain
Python process, as in a web worker: enqueue timings exclude import and connection setup.

``huey_consumer`` imports ``benchmarks.subjects.huey_queues.huey``; the instance is built from
the environment on first access, so the harness can import this module without configuring it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

from benchmarks import subject
from benchmarks.marks import task_marks
from benchmarks.processes import ManagedProcess
from benchmarks.stdio_producer import REPO_ROOT, StdioProducer
from benchmarks.subject import Adapter, Producer, Subject

ENV_BACKEND = "BENCH_HUEY_BACKEND"
ENV_RESULTS = "BENCH_HUEY_RESULTS"
POLL_FLAGS = ["-d", "0.001", "-m", "0.001", "-b", "1.0"]

_huey: Any = None
_tasks: dict[str, Any] = {}


def noop(i: int) -> None:
    task_marks().done()


def probe(t0: float) -> None:
    task_marks().probe(t0)


def busy(seconds: float) -> None:
    task_marks().busy(seconds)


def _build() -> Any:
    """The huey instance described by the environment, with the three tasks registered."""
    from huey import FileHuey, SqliteHuey

    queue_dir = os.environ[subject.ENV_QUEUE]
    results = os.environ.get(ENV_RESULTS) == "1"
    # "results on" stores the None result too, so every task really writes one.
    options: dict[str, Any] = {"results": results, "store_none": results}
    if os.environ[ENV_BACKEND] == "file":
        instance = FileHuey("bench", path=os.path.join(queue_dir, "files"), **options)
    else:
        instance = SqliteHuey("bench", filename=os.path.join(queue_dir, "huey.db"), **options)
    for function in (noop, probe, busy):
        _tasks[function.__name__] = instance.task()(function)
    return instance


def __getattr__(name: str) -> Any:
    global _huey
    if name == "huey":
        if _huey is None:
            _huey = _build()
        return _huey
    raise AttributeError(name)


class HueyAdapter(Adapter):
    def install(self) -> None:
        self.huey = __getattr__("huey")
        self.huey.pending_count()  # opens the connection / creates the directories

    def enqueue_many(self, count: int) -> float:
        task = _tasks["noop"]
        started = time.perf_counter()
        for i in range(count):
            task(i)
        return time.perf_counter() - started

    def enqueue_postponed(self, count: int, delay_s: float) -> None:
        task = _tasks["noop"]
        for i in range(count):
            task.schedule(args=(i,), delay=delay_s)

    def enqueue_probe(self) -> None:
        _tasks["probe"](time.time())

    def enqueue_busy(self, seconds: float) -> None:
        _tasks["busy"](seconds)

    def stored(self) -> int:
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    def unscheduled(self) -> int:
        # Only called when nothing but postponed tasks has been enqueued.
        return int(self.huey.pending_count())


class HueySubject(Subject):
    """Base of the huey subjects: a stdio producer and a ``huey_consumer`` process."""

    adapter = "benchmarks.subjects.huey_queues:HueyAdapter"
    backend: ClassVar[str] = "sqlite"
    results: ClassVar[bool] = False

    @classmethod
    def missing(cls) -> str | None:
        try:
            import huey  # noqa: F401
        except ImportError:
            return "huey is not installed"
        return None

    def extra_env(self) -> dict[str, str]:
        return {ENV_BACKEND: self.backend, ENV_RESULTS: "1" if self.results else "0"}

    def producer(self) -> AbstractContextManager[Producer]:
        return StdioProducer(self.settings(), self.log_dir / "producer.log", self.workdir)

    @contextmanager
    def _consumer(self, processes: int) -> Iterator[Producer]:
        env = dict(os.environ, **self.settings().to_env())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        argv = [
            sys.executable,
            "-m",
            "huey.bin.huey_consumer",
            "benchmarks.subjects.huey_queues.huey",
            "-w",
            str(processes),
            "-k",
            "process",
            "-n",
            "-q",
            *POLL_FLAGS,
        ]
        log_path = self.log_dir / f"consumer-p{processes}.log"
        with (
            ManagedProcess(argv, env=env, cwd=self.workdir, log_path=log_path),
            StdioProducer(self.settings(), self.log_dir / "producer.log", self.workdir) as feeder,
        ):
            yield feeder

    def consumer(self, processes: int) -> AbstractContextManager[Producer]:
        return self._consumer(processes)


class SqliteHueySubject(HueySubject):
    name = "huey-sqlite"
    title = "huey SqliteHuey"
    order = 50
    backend = "sqlite"


class SqliteHueyResultsSubject(HueySubject):
    name = "huey-sqlite-results"
    title = "huey SqliteHuey, results on"
    order = 55
    backend = "sqlite"
    results = True
    figures = frozenset({subject.ENQUEUE, subject.DRAIN})
    note = "results=True, store_none=True: every task writes its (None) result."


class FileHueySubject(HueySubject):
    name = "huey-file"
    title = "huey FileHuey"
    order = 60
    backend = "file"
    max_drain_tasks = 2000
    figures = subject.ALL_FIGURES - {subject.POSTPONED}
    note = (
        "drains at most 2,000 pre-filled tasks: each dequeue sorts the whole queue directory"
        " under a global lock, so its cost grows with depth (as in research/huey-bench)."
        " No postponed figure: a postponed task enters the queue first and the consumer files"
        " it into the schedule with such a dequeue, so 100,000 of them would take hours to"
        " settle (10,000 took ~35 s on tmpfs)."
    )
