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
that skips ``started`` (one write per task; no ``running`` status); "slot+finished" is what the
dispatcher does now: "running" in the process's slot (``spoolrt.spooldir.slots``), then the
one ``finished`` write.
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
from spoolrt.spooldir.slots import board_for, forget_boards

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


def run_slotted(store: ResultStore, ids: Sequence[str], spool_dir: str) -> float:
    """What the dispatcher does per task now: "running" in this process's slot (a look at the
    peers' slots for a dead run of the same attempt, one pwrite), the slot back to idle, then
    the one store write, ``finished``, with the start time and pid."""
    pid = os.getpid()
    board = board_for(spool_dir)
    assert board is not None
    began = time.perf_counter()
    for task_id in ids:
        now = time.time()
        board.start(task_id, 1, NAME, now)
        board.finish()
        store.finished(
            task_id,
            TaskStatus.DONE,
            result=RESULT,
            result_serializer="pickle",
            attempt=1,
            task=TASK,
            started_at=now,
            pid=pid,
        )
    return time.perf_counter() - began


def one_process_round(
    store: ResultStore, tasks: int, spool_dir: str
) -> tuple[float, float, float, float]:
    """(enqueued, started+finished, finished only, slot+finished) in us/task for batches of
    new tasks."""
    ids = [new_task_id() for _ in range(tasks)]
    enqueue = enqueue_all(store, ids) / tasks * 1e6
    run = run_all(store, ids) / tasks * 1e6
    ids = [new_task_id() for _ in range(tasks)]
    enqueue_all(store, ids)
    lean = run_lean(store, ids) / tasks * 1e6
    ids = [new_task_id() for _ in range(tasks)]
    return enqueue, run, lean, run_slotted(store, ids, spool_dir) / tasks * 1e6


#: What each of the 2 processes does per task: "all" (enqueued, started, finished), "spooler"
#: (started, finished), "slotted" (slot, finished: the dispatcher now).
MODES = ("all", "spooler", "slotted")


def _worker(
    store: SQLiteResultStore, tasks: int, mode: str, spool_dir: str, go: Any, out: Any
) -> None:
    ids = [new_task_id() for _ in range(tasks)]
    if mode == "spooler":
        enqueue_all(store, ids)
    store.get("open-the-connection")
    board_for(spool_dir)
    go.wait()
    began = time.perf_counter()
    if mode == "all":
        enqueue_all(store, ids)
    if mode == "slotted":
        run_slotted(store, ids, spool_dir)
    else:
        run_all(store, ids)
    out.put((began, time.perf_counter()))
    forget_boards()


def two_process_round(store: SQLiteResultStore, tasks: int, mode: str, spool_dir: str) -> float:
    """Wall us/task of 2 processes running ``tasks`` tasks each against one store."""
    go, out = FORK.Barrier(2), FORK.Queue()
    workers = [
        FORK.Process(target=_worker, args=(store, tasks, mode, spool_dir, go, out))
        for _ in range(2)
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
        spools = {label: roots[label.split(" ", 1)[1]] for label in stores if " " in label}
        spools["memory"] = roots[dirs[0]] if dirs else tempfile.mkdtemp()
        one: dict[str, list[tuple[float, float, float, float]]] = {label: [] for label in stores}
        two: dict[tuple[str, str], list[float]] = {(d, m): [] for d in dirs for m in MODES}
        for label, store in stores.items():
            one_process_round(store, 200, spools[label])  # warm up: open, create the schema
        for _ in range(args.rounds):
            for label, store in stores.items():
                one[label].append(one_process_round(store, args.tasks, spools[label]))
            for d in dirs:
                for mode in MODES:
                    two[d, mode].append(two_process_round(shared[d], args.tasks, mode, roots[d]))
    finally:
        forget_boards()
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)

    print(f"us per task: median of {args.rounds} rounds of {args.tasks} tasks (best round)")
    print(
        f"{'1 process':20s} {'enqueued':>15s} {'started+finished':>16s} {'x 27us':>7s} "
        f"{'finished only':>15s} {'x 27us':>7s} {'slot+finished':>15s} {'x 27us':>7s}"
    )
    for label, samples in one.items():
        run = [r for _, r, _, _ in samples]
        lean = [x for _, _, x, _ in samples]
        slotted = [x for _, _, _, x in samples]
        print(
            f"{label:20s} {_median_best([e for e, _, _, _ in samples]):>15s} "
            f"{_median_best(run):>16s} {_ratio(run):6.2f}x {_median_best(lean):>15s} "
            f"{_ratio(lean):6.2f}x {_median_best(slotted):>15s} {_ratio(slotted):6.2f}x"
        )
    print(
        f"{'2 processes, wall':20s} {'all 3 calls':>15s} {'started+finished':>16s} "
        f"{'slot+finished':>15s}"
    )
    for d in dirs:
        print(
            f"{'sqlite ' + d:20s} {_median_best(two[d, 'all']):>15s} "
            f"{_median_best(two[d, 'spooler']):>16s} {_median_best(two[d, 'slotted']):>15s}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
