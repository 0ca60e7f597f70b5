"""What the cost benchmarks share: a spool directory filled with tasks nobody consumes, a
result store filled with final records, and a timer that prints median and slowest.

``python -m benchmarks.dashboard_cost`` and ``python -m benchmarks.status_cost`` both measure
reads over a full directory; the directory is made the same way for both (tmpfs by default,
the local writer, non-durable writes: the fill is not what they measure).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from spoolrt import Spooler, TaskHandle, configure
from spoolrt.core.config import overridden
from spoolrt.core.outcomes import TaskStatus
from spoolrt.observe.history import store_path
from spoolrt.results import SQLiteResultStore, TaskDescription
from spoolrt.testing import local_spool


@Spooler.task()
def waiting(n: int) -> int:
    return n


@contextmanager
def filled_spool(root_dir: str, prefix: str) -> Iterator[str]:
    """A fresh spool directory under ``root_dir`` (the process's only one, non-durable
    writes), removed afterwards; yields its path."""
    root = tempfile.mkdtemp(prefix=prefix, dir=root_dir)
    try:
        with overridden(durable_writes=False), local_spool(os.path.join(root, "spool")) as spool:
            configure(spool_dirs=[str(spool.dir)])
            yield str(spool.dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fill_pending(count: int) -> tuple[list[TaskHandle], float]:
    """Spool ``count`` tasks through the local writer; returns their handles and us/enqueue."""
    began = time.perf_counter()
    handles = [waiting(i) for i in range(count)]
    return handles, (time.perf_counter() - began) / max(1, count) * 1e6


def fill_store(spool_dir: str, count: int) -> float:
    """``count`` final records finished over the last 6 hours, over 20 task names (one in 50
    failed); returns the seconds taken."""
    began = time.perf_counter()
    rng = random.Random(16)
    now = time.time()
    with SQLiteResultStore(store_path(spool_dir), purge_interval=None) as store:
        for i in range(count):
            finished = now - rng.uniform(0, 6 * 3600)
            ran = rng.expovariate(1 / 0.2)
            status = TaskStatus.FAILED if i % 50 == 0 else TaskStatus.DONE
            store.finished(
                f"done-{i:05d}", status, at=finished, started_at=finished - ran,
                enqueued_at=finished - ran - rng.uniform(0, 2),
                task=TaskDescription(name=f"app.tasks:task{i % 20}", spooler=spool_dir),
            )  # fmt: skip
    return time.perf_counter() - began


def timed(call: Callable[[], object], times: int, *, warm_up: bool = True) -> tuple[float, float]:
    """Median and slowest of ``times`` calls, in ms (after one uncounted warm-up call)."""
    if warm_up:
        call()
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1e3)
    return statistics.median(samples), max(samples)
