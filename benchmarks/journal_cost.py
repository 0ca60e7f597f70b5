"""What group commit saves per task: ``python -m benchmarks.journal_cost``.

A quick measurement, not a test. Each task makes the two store calls the dispatcher makes on
the spooler side: the duplicate check (``known``) and the outcome (``finished``, with a small
result). For each directory (tmpfs and disk by default), each of 1, 2 and 4 processes sharing
one store runs its share of the tasks at once; the figure is the wall time per task of them all
together, with one commit per task ("plain") and with the journal ("group commit",
``SQLiteResultStore(group_commit=True)``). Rounds are interleaved and the median printed with
the best round: the machine is shared, so only the ratio within a row means much.
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
from spoolrt.results import SQLiteResultStore, TaskDescription

FORK = multiprocessing.get_context("fork")
TASK = TaskDescription("bench:task", "/spool", 1)
RESULT = bytes(40)
PROCESSES = (1, 2, 4)


def _worker(path: str, group: bool, tasks: int, go: Any, out: Any) -> None:
    store = SQLiteResultStore(path, group_commit=group)
    ids = [new_task_id() for _ in range(tasks)]
    store.get("open-the-connection")
    go.wait()
    began = time.perf_counter()
    pid = os.getpid()
    for task_id in ids:
        store.known(task_id)
        now = time.time()
        store.finished(
            task_id, TaskStatus.DONE, result=RESULT, result_serializer="pickle", attempt=1,
            task=TASK, started_at=now, pid=pid,
        )  # fmt: skip
    out.put((began, time.perf_counter()))
    store.close()


def one_round(path: str, group: bool, processes: int, tasks: int) -> float:
    """Wall us/task of ``processes`` processes running ``tasks`` tasks in all."""
    go, out = FORK.Barrier(processes), FORK.Queue()
    share = tasks // processes
    workers = [
        FORK.Process(target=_worker, args=(path, group, share, go, out)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    spans = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    return (max(e for _, e in spans) - min(s for s, _ in spans)) / (share * processes) * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000, help="tasks per round (4000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per setup (5)")
    parser.add_argument("--dirs", nargs="+", default=["/dev/shm", "/tmp"])
    args = parser.parse_args(argv)
    dirs = [d for d in args.dirs if os.path.isdir(d)]
    for skipped in set(args.dirs) - set(dirs):
        print(f"{skipped}: not a directory, skipped", file=sys.stderr)
    roots = {d: tempfile.mkdtemp(prefix="spoolrt-journal-cost-", dir=d) for d in dirs}
    samples: dict[tuple[str, int, bool], list[float]] = {}
    try:
        for _ in range(args.rounds):
            for d in dirs:
                for processes in PROCESSES:
                    for group in (False, True):
                        path = os.path.join(roots[d], f"{processes}-{group}.sqlite3")
                        key = (d, processes, group)
                        samples.setdefault(key, []).append(
                            one_round(path, group, processes, args.tasks)
                        )
    finally:
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)
    print(f"known + finished, wall us per task: median of {args.rounds} rounds (best)")
    print(f"{'dir':10s} {'processes':>9s} {'plain':>15s} {'group commit':>15s} {'ratio':>7s}")
    for d in dirs:
        for processes in PROCESSES:
            plain, group = samples[d, processes, False], samples[d, processes, True]
            ratio = statistics.median(group) / statistics.median(plain)
            print(
                f"{d:10s} {processes:9d} {statistics.median(plain):8.1f} ({min(plain):4.1f}) "
                f"{statistics.median(group):8.1f} ({min(group):4.1f}) {ratio:6.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
