"""Progress marks: how tasks tell the harness when they ran, across process boundaries.

Tasks append short lines to files in the marks directory; appends of one short line with
``O_APPEND`` do not interleave between processes. A plain task writes only on its first run in
a process and then every ``mark_every`` runs, so the cost per task stays a fraction of a
microsecond and the drain rate is still exact to ``mark_every`` tasks per process.

Files: ``done`` ("pid n t" per mark), ``probe`` ("t0 t_start" per probe), ``busy-start``
("t_start"), ``busy`` ("t_start t_end").
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.subject import ENV_MARK_EVERY, ENV_MARKS

DONE = "done"
PROBE = "probe"
BUSY_START = "busy-start"
BUSY = "busy"


def _append(path: str, line: str) -> None:
    with open(path, "a") as handle:
        handle.write(line)


class TaskMarks:
    """The task side: one instance per process (``task_marks()``)."""

    def __init__(self, marks_dir: str | Path, mark_every: int = 100) -> None:
        self._dir = str(marks_dir)
        self._every = max(1, mark_every)
        self._runs = itertools.count(1)

    def _path(self, name: str) -> str:
        return os.path.join(self._dir, name)

    def done(self) -> None:
        """A plain task ran."""
        run = next(self._runs)
        if run == 1 or run % self._every == 0:
            _append(self._path(DONE), f"{os.getpid()} {run} {time.time():.6f}\n")

    def probe(self, t0: float) -> None:
        """A latency probe started; ``t0`` is when it was enqueued."""
        _append(self._path(PROBE), f"{t0:.6f} {time.time():.6f}\n")

    def busy(self, seconds: float) -> None:
        """Keep this consumer busy for ``seconds``."""
        started = time.time()
        _append(self._path(BUSY_START), f"{started:.6f}\n")
        if seconds > 0:
            time.sleep(seconds)
        _append(self._path(BUSY), f"{started:.6f} {time.time():.6f}\n")


_TASK_MARKS: TaskMarks | None = None


def task_marks() -> TaskMarks:
    """The marks writer of this process, configured from the environment on first use.

    A forked child inherits the parent's writer, so its run counter restarts only if the
    parent never ran a task, which is the case for every consumer the harness starts.
    """
    global _TASK_MARKS
    if _TASK_MARKS is None:
        _TASK_MARKS = TaskMarks(os.environ[ENV_MARKS], int(os.environ.get(ENV_MARK_EVERY, "100")))
    return _TASK_MARKS


@dataclass(frozen=True)
class DrainProgress:
    """What the ``done`` marks say about a drain."""

    tasks: int  # sum over processes of the last marked run count
    first_t: float  # first task of any process
    last_t: float  # last mark of any process
    processes: int

    def rate(self) -> float:
        """Tasks per second between the first task and the last mark."""
        span = self.last_t - self.first_t
        return self.tasks / span if span > 0 else 0.0


class MarkReader:
    """The harness side: reads what the tasks wrote."""

    def __init__(self, marks_dir: Path) -> None:
        self.marks_dir = marks_dir

    def clear(self) -> None:
        """Forget all marks; only while no consumer runs."""
        for name in (DONE, PROBE, BUSY_START, BUSY):
            (self.marks_dir / name).unlink(missing_ok=True)

    def _rows(self, name: str) -> list[list[str]]:
        try:
            text = (self.marks_dir / name).read_text()
        except FileNotFoundError:
            return []
        # The last line may still be being written: keep complete lines only.
        return [line.split() for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def count(self, name: str) -> int:
        return len(self._rows(name))

    def drain(self) -> DrainProgress | None:
        last: dict[str, tuple[int, float]] = {}
        first_t = float("inf")
        for pid, run, t in self._rows(DONE):
            first_t = min(first_t, float(t))
            if pid not in last or int(run) > last[pid][0]:
                last[pid] = (int(run), float(t))
        if not last:
            return None
        return DrainProgress(
            tasks=sum(run for run, _ in last.values()),
            first_t=first_t,
            last_t=max(t for _, t in last.values()),
            processes=len(last),
        )

    def probes(self) -> list[tuple[float, float]]:
        """``(enqueued, started)`` per probe, in the order they started."""
        return [(float(t0), float(t1)) for t0, t1 in self._rows(PROBE)]

    def busy_spans(self) -> list[tuple[float, float]]:
        return [(float(t0), float(t1)) for t0, t1 in self._rows(BUSY)]
