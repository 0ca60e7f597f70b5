"""What ``Spooler.get_result(id)`` costs with many tasks pending (``python -m
benchmarks.status_cost``).

A quick measurement, not a test. Fills a spool directory (tmpfs by default) with ``--pending``
tasks through the local writer, nothing consuming, then times ``get_result`` for a queued id,
an unknown id, and (for comparison) the old way: opening every pending file for its id. The
target (issue 13) is 1 ms median at 10,000 pending for a queued id and for an unknown one.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from benchmarks.filling import fill_pending, filled_spool, timed
from spoolrt import Spooler
from spoolrt.spooldir.inspect import peek_header


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--dir", default="/dev/shm")
    args = parser.parse_args(argv)
    with filled_spool(args.dir, "spoolrt-status-cost-") as spool_dir:
        handles, fill = fill_pending(args.pending)
        middle = handles[len(handles) // 2].task_id

        def scan() -> object:
            for path in Spooler(spool_dir).pending():
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
            median, worst = timed(call, times, warm_up=False)
            print(f"{label:28s} median {median:8.3f} ms   max {worst:8.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
