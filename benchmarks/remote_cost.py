"""What a remote enqueue costs beside a local one: µs per task call, and their ratios.

Four variants, alternated rep by rep so drift on the shared machine hits all alike, each a whole
task call (serialise, envelope, sign) of the same task with one int argument
(``benchmarks.subjects.spoolrt_worker:noop``):

- ``uwsgi_local`` (the baseline): ``noop.spool(i)`` in a loop inside one uWSGI request, the way
  ``python -m benchmarks`` measures spoolrt's enqueue (``uwsgi.spool``, ``--spooler-external``
  on tmpfs, nothing consumes);
- ``local``: the local writer in this process into a spool dir on tmpfs (atomic write + rename,
  no fsync);
- ``direct``: the remote backend to one uWSGI node on loopback (connect, send the packet, wait
  for uWSGI's acknowledgement that it wrote the file);
- ``fastrouter``: the same node, through ``uwsgi_configs/fastrouter.ini`` (the router connects
  to the node for each packet and relays its reply).

The node has ``--spooler-external`` on tmpfs, so nothing runs the tasks and only the enqueue
side is measured. Target (issue 17): direct <= 3x the in-uWSGI local enqueue.

Run: ``python -m benchmarks.remote_cost [--reps 5] [--calls 2000] [--dir /dev/shm]``; prints
one JSON object (medians in µs per call, ratios to ``uwsgi_local``, samples).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import spoolrt
from benchmarks.remote_nodes import Fastrouter, Node
from benchmarks.subjects.spoolrt_worker import BENCH_KEY, SpoolrtInUwsgi, noop

VARIANTS = ("uwsgi_local", "local", "direct", "fastrouter")


def per_call_us(call: Callable[[int], object], calls: int) -> float:
    began = time.perf_counter()
    for i in range(calls):
        call(i)
    return (time.perf_counter() - began) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="spoolrt-remote-cost-", dir=args.dir))
    for part in ("local", "node", "router", "marks"):
        (work / part).mkdir()
    figures: dict[str, list[float]] = {name: [] for name in VARIANTS}
    try:
        with ExitStack() as stack:
            router = Fastrouter(stack, work / "router")
            node = Node(
                stack,
                work / "node",
                run=False,
                marks_dir=work / "marks",
                router=router,
                keys=["bench"],
            )
            router.wait_for("bench", [node])
            in_uwsgi = stack.enter_context(SpoolrtInUwsgi(work / "uwsgi").producer())
            spoolrt.configure(
                secret_key=BENCH_KEY,
                spool_dirs=[str(work / "local")],
                durable_writes=False,
                results="off",
                remote={
                    "direct": [node.address],
                    "fastrouter": {"fastrouter": router.address, "key": "bench"},
                },
            )
            variants: dict[str, Callable[[], float]] = {
                "uwsgi_local": lambda: (
                    in_uwsgi.call("enqueue", count=args.calls) / args.calls * 1e6
                ),
                "local": lambda: per_call_us(lambda i: noop.spool_with((i,)), args.calls),
                "direct": lambda: per_call_us(
                    lambda i: noop.spool_with((i,), spooler="direct"), args.calls
                ),
                "fastrouter": lambda: per_call_us(
                    lambda i: noop.spool_with((i,), spooler="fastrouter"), args.calls
                ),
            }
            for _rep in range(args.reps):
                for name, measure in variants.items():
                    figures[name].append(measure())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: round(statistics.median(values), 1) for name, values in figures.items()}
    out = {
        "us_per_call": medians,
        "ratio_to_uwsgi_local": {
            name: round(value / medians["uwsgi_local"], 2) for name, value in medians.items()
        },
        "fastrouter_over_direct": round(medians["fastrouter"] / medians["direct"], 2),
        "reps": args.reps,
        "calls": args.calls,
        "samples": figures,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
