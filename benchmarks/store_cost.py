"""What the result store costs per task, in microseconds: ``python -m benchmarks.store_cost``.

A quick measurement, not a test. A task makes three store calls: ``enqueued`` on the enqueue
side, ``started`` + ``finished`` on the spooler side. For each directory (tmpfs and disk by
default) this times them in one process, then in 2 processes writing at once (SQLite has one
write lock, so what matters there is the wall time per task of both together). The memory
store shows the cost of the calls without any I/O.

The machine is shared, so rounds are interleaved (round 1 of every setup, then round 2...) and
the median of the rounds is printed with the best one. The last column relates the spooler-side
cost to the raw uWSGI spooler's drain of ~27 us/task on tmpfs (DESIGN.md): with the store on,
a task may cost no more than 2x what it costs with the store off. "finished only" is a spooler
that skips ``started`` (one write per task; no ``running`` status).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from spoolrt.core.codec.envelope import new_task_id
from spoolrt.core.outcomes import TaskStatus
from spoolrt.results import (
    MemoryResultStore,
    ResultStore,
    SQLiteResultStore,
    TaskDescription,
    TaskRecord,
)

RAW_DRAIN_US = 27.0
RESULT = b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02ok\x94."  # pickle.dumps("ok")
NAME = "app.tasks:send_welcome_email"
SPOOLER = "/var/spool/app"
TASK = TaskDescription(NAME, SPOOLER, max_attempts=4)
FORK = multiprocessing.get_context("fork")


def enqueue_all(store: ResultStore, ids: Sequence[str]) -> float:
    began = time.perf_counter()
    for task_id in ids:
        store.enqueued(
            TaskRecord(task_id, name=NAME, spooler=SPOOLER, max_attempts=4, enqueued_at=time.time())
        )
    return time.perf_counter() - began


def run_all(store: ResultStore, ids: Sequence[str]) -> float:
    """What a spooler does per task: started, then finished with a small pickled result."""
    pid = os.getpid()
    began = time.perf_counter()
    for task_id in ids:
        store.started(task_id, 1, pid=pid, task=TASK)
        store.finished(
            task_id, TaskStatus.DONE, result=RESULT, result_serializer="pickle", attempt=1
        )
    return time.perf_counter() - began


def run_lean(store: ResultStore, ids: Sequence[str]) -> float:
    """A spooler that skips ``started``: one write per task, start time and pid still kept."""
    pid = os.getpid()
    began = time.perf_counter()
    for task_id in ids:
        store.finished(
            task_id,
            TaskStatus.DONE,
            result=RESULT,
            result_serializer="pickle",
            attempt=1,
            started_at=time.time(),
            pid=pid,
            task=TaskDescription(NAME),
        )
    return time.perf_counter() - began


def one_process_round(store: ResultStore, tasks: int) -> tuple[float, float, float]:
    """(enqueued, started+finished, finished only) in us/task for batches of new tasks."""
    ids = [new_task_id() for _ in range(tasks)]
    enqueue = enqueue_all(store, ids) / tasks * 1e6
    run = run_all(store, ids) / tasks * 1e6
    ids = [new_task_id() for _ in range(tasks)]
    enqueue_all(store, ids)
    return enqueue, run, run_lean(store, ids) / tasks * 1e6


def _worker(store: SQLiteResultStore, tasks: int, spooler_only: bool, go: Any, out: Any) -> None:
    ids = [new_task_id() for _ in range(tasks)]
    if spooler_only:
        enqueue_all(store, ids)
    store.get("open-the-connection")
    go.wait()
    began = time.perf_counter()
    if not spooler_only:
        enqueue_all(store, ids)
    run_all(store, ids)
    out.put((began, time.perf_counter()))


def two_process_round(store: SQLiteResultStore, tasks: int, spooler_only: bool) -> float:
    """Wall us/task of 2 processes running ``tasks`` tasks each against one store."""
    go, out = FORK.Barrier(2), FORK.Queue()
    workers = [
        FORK.Process(target=_worker, args=(store, tasks, spooler_only, go, out)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    spans = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    return wall / (2 * tasks) * 1e6


def _median_best(samples: list[float]) -> str:
    return f"{statistics.median(samples):6.1f} ({min(samples):5.1f})"


def _ratio(spooler_side: list[float]) -> float:
    """Per-task cost with the store on relative to the raw spooler's drain, store off."""
    return (RAW_DRAIN_US + statistics.median(spooler_side)) / RAW_DRAIN_US


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per round (1000)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per setup (9)")
    parser.add_argument("--dirs", nargs="+", default=["/dev/shm", "/tmp"])
    args = parser.parse_args(argv)
    dirs = [d for d in args.dirs if os.path.isdir(d)]
    for skipped in set(args.dirs) - set(dirs):
        print(f"{skipped}: not a directory, skipped", file=sys.stderr)

    roots = {d: tempfile.mkdtemp(prefix="spoolrt-store-cost-", dir=d) for d in dirs}
    try:
        stores: dict[str, ResultStore] = {"memory": MemoryResultStore()}
        for d in dirs:
            stores[f"sqlite {d}"] = SQLiteResultStore(os.path.join(roots[d], "one.sqlite3"))
        shared = {d: SQLiteResultStore(os.path.join(roots[d], "two.sqlite3")) for d in dirs}
        one: dict[str, list[tuple[float, float, float]]] = {label: [] for label in stores}
        two: dict[tuple[str, bool], list[float]] = {(d, s): [] for d in dirs for s in (False, True)}
        for store in stores.values():
            one_process_round(store, 200)  # warm up: open, create the schema
        for _ in range(args.rounds):
            for label, store in stores.items():
                one[label].append(one_process_round(store, args.tasks))
            for d in dirs:
                for spooler_only in (False, True):
                    two[d, spooler_only].append(
                        two_process_round(shared[d], args.tasks, spooler_only)
                    )
    finally:
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)

    print(f"us per task: median of {args.rounds} rounds of {args.tasks} tasks (best round)")
    print(
        f"{'1 process':20s} {'enqueued':>15s} {'started+finished':>16s} {'x 27us':>7s} "
        f"{'finished only':>15s} {'x 27us':>7s}"
    )
    for label, samples in one.items():
        run = [r for _, r, _ in samples]
        lean = [x for _, _, x in samples]
        print(
            f"{label:20s} {_median_best([e for e, _, _ in samples]):>15s} "
            f"{_median_best(run):>16s} {_ratio(run):6.2f}x {_median_best(lean):>15s} "
            f"{_ratio(lean):6.2f}x"
        )
    print(f"{'2 processes, wall':20s} {'all 3 calls':>15s} {'started+finished':>16s}")
    for d in dirs:
        print(
            f"{'sqlite ' + d:20s} {_median_best(two[d, False]):>15s} "
            f"{_median_best(two[d, True]):>16s}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
