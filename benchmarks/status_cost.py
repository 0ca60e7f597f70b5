"""What ``Spooler.get_result(id)`` costs with many tasks pending (``python -m
benchmarks.status_cost``).

A quick measurement, not a test. Fills a spool directory (tmpfs by default) with ``--pending``
tasks through the local writer, nothing consuming, then times ``get_result`` for a queued id,
an unknown id, and (for comparison) the old way: opening every pending file for its id. The
target (issue 13) is 1 ms median at 10,000 pending for a queued id and for an unknown one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

from spoolrt import Spooler, configure
from spoolrt.core.config import overridden
from spoolrt.spooldir.inspect import peek_header
from spoolrt.testing import local_spool


@Spooler.task()
def waiting(n: int) -> int:
    return n


def _median_ms(call: Callable[[], object], times: int) -> tuple[float, float]:
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1e3)
    return statistics.median(samples), max(samples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--dir", default="/dev/shm")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="spoolrt-status-cost-", dir=args.dir)
    try:
        with overridden(durable_writes=False), local_spool(os.path.join(root, "spool")) as spool:
            configure(spool_dirs=[str(spool.dir)])
            began = time.perf_counter()
            handles = [waiting(i) for i in range(args.pending)]
            fill = (time.perf_counter() - began) / args.pending * 1e6
            middle = handles[len(handles) // 2].task_id

            def scan() -> object:
                for path in Spooler(str(spool.dir)).pending():
                    header = peek_header(path)
                    if header is not None and header.get("id") == middle:
                        return path
                return None

            rows = [
                ("get_result(queued id)", lambda: Spooler.get_result(middle)),
                ("get_result(unknown id)", lambda: Spooler.get_result("1a2b3c-none-1")),
                ("status of a rebuilt handle", lambda: Spooler.get_result(middle).status),  # type: ignore[union-attr]
                ("old way: scan every file", scan),
            ]
            print(f"{args.pending:,} pending in {args.dir} (local writer {fill:.1f} us/enqueue)")
            for label, call in rows:
                times = args.calls if not label.startswith("old") else max(5, args.calls // 20)
                median, worst = _median_ms(call, times)
                print(f"{label:28s} median {median:8.3f} ms   max {worst:8.3f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
