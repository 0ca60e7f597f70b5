"""The contract between the harness and one system under test.

A subject is split in two halves because they live in different processes:

* ``Subject`` runs in the harness. It owns a work directory, knows how to empty its queue, and
  starts two kinds of contexts: a *producer* (something that can enqueue while nothing consumes,
  e.g. a uWSGI instance with ``--spooler-external``) and a *consumer* (the spooler or worker
  processes, plus a producer that enqueues into them the way an application would, so the
  subject's own wake-up mechanism applies).
* ``Adapter`` runs inside the producer (a uWSGI worker, or a plain Python process). It enqueues
  the benchmark's four task kinds with the subject's real API, and installs the task side,
  which reports progress through ``benchmarks.marks``.

The harness never calls a subject's API directly: it sends named operations (``benchmarks.ops``)
to the producer, so the timed loops run where an application's calls would run.
"""

from __future__ import annotations

import abc
import importlib
import os
import shutil
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

#: Figures a subject can take part in (``Subject.figures``).
ENQUEUE = "enqueue"
DRAIN = "drain"
LATENCY = "latency"
PICKUP = "pickup"
POSTPONED = "postponed"
ALL_FIGURES: frozenset[str] = frozenset({ENQUEUE, DRAIN, LATENCY, PICKUP, POSTPONED})

#: Environment variables through which the harness configures the producer and task sides.
ENV_ADAPTER = "BENCH_ADAPTER"
ENV_QUEUE = "BENCH_QUEUE"
ENV_MARKS = "BENCH_MARKS"
ENV_MARK_EVERY = "BENCH_MARK_EVERY"


class BenchError(RuntimeError):
    """A measurement could not be taken (a process died, a wait timed out, a count was wrong)."""


@dataclass(frozen=True)
class Settings:
    """What a producer or task process needs to know, passed through the environment."""

    queue_dir: Path
    marks_dir: Path
    mark_every: int = 100
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            queue_dir=Path(env[ENV_QUEUE]),
            marks_dir=Path(env[ENV_MARKS]),
            mark_every=int(env.get(ENV_MARK_EVERY, "100")),
            extra={k: v for k, v in env.items() if k.startswith("BENCH_")},
        )

    def to_env(self) -> dict[str, str]:
        env = dict(self.extra)
        env.update(
            {
                ENV_QUEUE: str(self.queue_dir),
                ENV_MARKS: str(self.marks_dir),
                ENV_MARK_EVERY: str(self.mark_every),
            }
        )
        return env


class Adapter(abc.ABC):
    """The subject's own API, driven from inside its producer process.

    Each method must do exactly what an application would do, nothing more, because the
    harness times them. Task functions installed by ``install`` report through
    ``benchmarks.marks.task_marks()``: ``done()`` for a plain task, ``probe(t0)`` for a latency
    probe, ``busy(seconds)`` for a task that keeps the consumer occupied.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def install(self) -> None:  # noqa: B027 - optional hook
        """Register the task side; runs in the producer process before consumers fork from it."""

    @abc.abstractmethod
    def enqueue_many(self, count: int) -> float:
        """Enqueue ``count`` plain tasks in a tight loop; return the seconds the loop took."""

    @abc.abstractmethod
    def enqueue_postponed(self, count: int, delay_s: float) -> None:
        """Enqueue ``count`` plain tasks that become due ``delay_s`` seconds from now."""

    @abc.abstractmethod
    def enqueue_probe(self) -> None:
        """Enqueue one latency probe that carries ``time.time()`` taken just before the call."""

    @abc.abstractmethod
    def enqueue_busy(self, seconds: float) -> None:
        """Enqueue one task that sleeps ``seconds`` (it keeps one consumer busy)."""

    @abc.abstractmethod
    def stored(self) -> int:
        """Tasks still stored and not yet run, ready and postponed together."""

    def unscheduled(self) -> int:
        """Postponed tasks the consumer has not yet put where postponed tasks wait.

        huey enqueues a postponed task like any other and its consumer moves it to the
        schedule when it first dequeues it; before measuring with postponed tasks the harness
        runs a consumer until this is 0, so they wait where they would in steady state.
        """
        return 0


def load_adapter(spec: str, settings: Settings) -> Adapter:
    """Instantiate an adapter named ``"package.module:ClassName"``."""
    module_name, _, class_name = spec.partition(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    adapter = adapter_class(settings)
    if not isinstance(adapter, Adapter):
        raise TypeError(f"{spec} is not a benchmarks.subject.Adapter")
    return adapter


class Producer(Protocol):
    """A running producer: runs one ``benchmarks.ops`` operation and returns its JSON result."""

    def call(self, op: str, **params: Any) -> Any: ...


class Subject(abc.ABC):
    """One system under test, as seen from the harness (see the module docstring).

    Subclasses live in ``benchmarks/subjects/`` and are found there automatically; set the
    class attributes and implement ``producer`` and ``consumer``.
    """

    #: Name used on the command line (``--only``) and in the JSON results.
    name: ClassVar[str]
    #: Column heading in the tables.
    title: ClassVar[str]
    #: Columns are sorted by this, then by name.
    order: ClassVar[int] = 100
    #: ``"package.module:ClassName"`` of the ``Adapter`` that runs in the producer.
    adapter: ClassVar[str]
    #: The one subject every ratio is computed against.
    is_baseline: ClassVar[bool] = False
    #: Figures this subject takes part in; the others are shown as "n/a".
    figures: ClassVar[frozenset[str]] = ALL_FIGURES
    #: Cap on pre-filled drain size, for queues whose dequeue cost grows with depth.
    max_drain_tasks: ClassVar[int | None] = None
    #: Footnote printed under the tables (method differences, known limits).
    note: ClassVar[str] = ""

    def __init__(self, workdir: Path, mark_every: int = 100) -> None:
        self.workdir = workdir
        self.queue_dir = workdir / "queue"
        self.marks_dir = workdir / "marks"
        self.log_dir = workdir / "logs"
        self.mark_every = mark_every
        for directory in (self.queue_dir, self.marks_dir, self.log_dir):
            directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def missing(cls) -> str | None:
        """Why this subject cannot run here (a missing package or binary), or ``None``."""
        return None

    def settings(self) -> Settings:
        return Settings(
            queue_dir=self.queue_dir,
            marks_dir=self.marks_dir,
            mark_every=self.mark_every,
            extra={"BENCH_ADAPTER": self.adapter, **self.extra_env()},
        )

    def extra_env(self) -> dict[str, str]:
        """Subject-specific ``BENCH_*`` variables for the producer and consumer processes."""
        return {}

    def clear(self) -> None:
        """Drop every stored task; only called while no producer or consumer runs."""
        shutil.rmtree(self.queue_dir, ignore_errors=True)
        self.queue_dir.mkdir(parents=True)

    @abc.abstractmethod
    def producer(self) -> AbstractContextManager[Producer]:
        """A producer with nothing consuming, stopped (by PID) when the context exits."""

    @abc.abstractmethod
    def consumer(self, processes: int) -> AbstractContextManager[Producer]:
        """Consumers with ``processes`` spooler/worker processes, and a producer feeding them."""
