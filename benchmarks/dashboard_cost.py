"""What a dashboard page and a metrics scrape cost with 10,000 finished and 10,000 pending
tasks (``python -m benchmarks.dashboard_cost``).

A measurement that prints figures, not a test: the target (issue 16) is < 200 ms for each of a
page and a scrape. Fills a spool directory (tmpfs by default) with ``--pending`` tasks through
the local writer, nothing consuming them, and its result store with ``--finished`` final
records over 20 task names; then calls the dashboard's WSGI app directly (no HTTP server, so
the figure is the app's own work) for each page, and ``metrics.render`` for the scrape, and
prints the median and the slowest of ``--calls`` calls each.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from spoolrt import Spooler, configure
from spoolrt.core.config import overridden
from spoolrt.core.outcomes import TaskStatus
from spoolrt.dashboard import Dashboard, basic_auth, make_app
from spoolrt.observe import metrics
from spoolrt.observe.history import store_path
from spoolrt.results import SQLiteResultStore, TaskDescription
from spoolrt.testing import local_spool

TARGET_MS = 200.0
PAGES = (
    "/",
    "/tasks",
    "/tasks?status=pending&sort=name",
    "/tasks?status=done",
    "/tasks?status=done&since=1h&name=*:task7",
    "/timings",
    "/api/overview",
)


@Spooler.task()
def waiting(n: int) -> int:
    return n


def fill_store(spool_dir: str, count: int) -> float:
    """``count`` final records finished over the last 6 hours; returns seconds taken."""
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


def get(app: Dashboard, path: str) -> int:
    """One GET through the WSGI app as an operator; the status code."""
    page, _, query = path.partition("?")
    token = base64.b64encode(b"ops:bench-pass").decode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "PATH_INFO": page, "QUERY_STRING": query,
        "HTTP_AUTHORIZATION": f"Basic {token}", "wsgi.input": io.BytesIO(b""),
        "SERVER_NAME": "bench", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
    }  # fmt: skip
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    b"".join(app(environ, start_response))
    return int(seen["status"].split()[0])


def timed(call: Callable[[], object], times: int) -> tuple[float, float]:
    """Median and slowest of ``times`` calls, in ms (one warm-up call first, not counted)."""
    call()
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1e3)
    return statistics.median(samples), max(samples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--finished", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--dir", default="/dev/shm")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="spoolrt-dashboard-cost-", dir=args.dir)
    try:
        with overridden(durable_writes=False), local_spool(os.path.join(root, "spool")) as spool:
            spool_dir = str(spool.dir)
            configure(spool_dirs=[spool_dir])
            began = time.perf_counter()
            for i in range(args.pending):
                waiting(i)
            print(f"filled {args.pending} pending files in {time.perf_counter() - began:.1f} s")
            took = fill_store(spool_dir, args.finished)
            print(f"filled {args.finished} finished records in {took:.1f} s")
            app = make_app([spool_dir], authorize=basic_auth({"ops": ("bench-pass", "operator")}))
            print(f"\n{'what':<48} {'median':>9} {'slowest':>9}  (target < {TARGET_MS:.0f} ms)")
            for path in PAGES:
                assert get(app, path) == 200, path
                median, worst = timed(lambda p=path: get(app, p), args.calls)  # type: ignore[misc]
                print(f"page {path:<43} {median:7.1f} ms {worst:7.1f} ms")
            median, worst = timed(lambda: metrics.render([spool_dir]), args.calls)
            print(f"{'scrape (metrics.render)':<48} {median:7.1f} ms {worst:7.1f} ms")
            median, worst = timed(lambda: get(app, "/metrics"), args.calls)
            print(f"{'scrape (GET /metrics)':<48} {median:7.1f} ms {worst:7.1f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
