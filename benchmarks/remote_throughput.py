"""Pool throughput with 1, 2 and 3 nodes, in one run: tasks that wait on I/O (a 10 ms sleep).

Three spooler nodes on loopback, one spooler process each, and a fastrouter they subscribe to
(node i under the keys ``pool<k>`` for every k > i, so one set of processes makes pools of 1, 2
and 3 nodes). For each pool size, in direct mode (the pool's node list) and through the
fastrouter, this process sends ``--per-node`` x k tasks, each ``time.sleep(0.01)`` (the
benchmark's ``busy`` task), all due at one instant ``--lead`` seconds ahead, so that every
node holds its share before it starts and the figure is the pool's drain, not the send:

    tasks/s = tasks / (last task's end - the instant they were due)

uWSGI runs a postponed file at the first scan after it is due (``spooler-frequency = 1``), so
each node starts up to 1 s late; that is counted against the pool, as a user would see it.
Sizes and modes are interleaved rep by rep. The issue's target: 3 nodes >= 2.5x one node.

Run: ``python -m benchmarks.remote_throughput [--reps 3] [--per-node 200] [--dir /dev/shm]``;
prints one JSON object (medians, ratios to 1 node, samples).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import spoolrt
from benchmarks.marks import BUSY, MarkReader
from benchmarks.processes import wait_until
from benchmarks.remote_nodes import Fastrouter, Node
from benchmarks.subjects.spoolrt_worker import BENCH_KEY, busy

SIZES = (1, 2, 3)
MODES = ("direct", "fastrouter")
TASK_SECONDS = 0.01


def measure(reader: MarkReader, pool: str, tasks: int, lead: float) -> float:
    """Tasks per second for ``tasks`` sleeps sent to ``pool``, all due ``lead`` s from now."""
    reader.clear()
    due = time.time() + lead
    for _ in range(tasks):
        busy.spool_with((TASK_SECONDS,), spooler=pool, postpone=due - time.time())
    if time.time() > due:
        raise RuntimeError(f"sending {tasks} tasks took longer than --lead {lead} s")
    wait_until(lambda: reader.count(BUSY) >= tasks, 120, f"{tasks} tasks on {pool}", 0.02)
    last_end = max(end for _start, end in reader.busy_spans())
    return tasks / (last_end - due)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--per-node", type=int, default=200, help="tasks per node of the pool")
    parser.add_argument("--lead", type=float, default=1.5, help="seconds until the tasks are due")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="spoolrt-remote-throughput-", dir=args.dir))
    marks = work / "marks"
    marks.mkdir()
    samples: dict[str, list[float]] = {f"{m}-{k}": [] for m in MODES for k in SIZES}
    try:
        with ExitStack() as stack:
            (work / "router").mkdir()
            router = Fastrouter(stack, work / "router")
            nodes = []
            for i in range(max(SIZES)):
                keys = [f"pool{k}" for k in SIZES if k > i]
                (work / f"node{i}").mkdir()
                node = Node(
                    stack, work / f"node{i}", run=True, marks_dir=marks, router=router, keys=keys
                )
                nodes.append(node)
            pools: dict[str, object] = {}
            for k in SIZES:
                router.wait_for(f"pool{k}", nodes[:k])
                pools[f"direct-{k}"] = [n.address for n in nodes[:k]]
                pools[f"fastrouter-{k}"] = {"fastrouter": router.address, "key": f"pool{k}"}
            spoolrt.configure(secret_key=BENCH_KEY, remote=pools, results="off")
            reader = MarkReader(marks)
            for _rep in range(args.reps):
                for k in SIZES:
                    for mode in MODES:
                        name = f"{mode}-{k}"
                        samples[name].append(measure(reader, name, args.per_node * k, args.lead))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    out = {
        "tasks_per_s": medians,
        "ratio_to_1_node": {
            name: round(value / medians[f"{name.split('-')[0]}-1"], 2)
            for name, value in medians.items()
        },
        "ideal_1_node": round(1 / TASK_SECONDS),
        "reps": args.reps,
        "per_node": args.per_node,
        "samples": samples,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
