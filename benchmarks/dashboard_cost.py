"""What a dashboard page and a metrics scrape cost with 10,000 finished and 10,000 pending
tasks (``python -m benchmarks.dashboard_cost``).

A measurement that prints figures, not a test: the target (issue 16) is < 200 ms for each of a
page and a scrape. Fills a spool directory (tmpfs by default) with ``--pending`` tasks through
the local writer, nothing consuming them, and its result store with ``--finished`` final
records over 20 task names; then calls the dashboard's WSGI app directly (no HTTP server, so
the figure is the app's own work) for each page, and ``metrics.render`` for the scrape, and
prints the median and the slowest of ``--calls`` calls each. The filling is shared with
``benchmarks.status_cost`` (``benchmarks.filling``).
"""

from __future__ import annotations

import argparse
import base64
import io
from collections.abc import Sequence
from typing import Any

from benchmarks.filling import fill_pending, fill_store, filled_spool, timed
from spoolrt.dashboard import Dashboard, basic_auth, make_app
from spoolrt.observe import metrics

TARGET_MS = 200.0
PAGES = (
    "/",
    "/tasks",
    "/tasks?status=pending",
    "/tasks?offset=9950",
    "/tasks?sort=new&since=1h",
    "/tasks?status=pending&sort=name",
    "/tasks?name=*:waiting&offset=5000",
    "/tasks?status=done",
    "/tasks?status=done&since=1h&name=*:task7",
    "/timings",
    "/api/overview",
)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--finished", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--dir", default="/dev/shm")
    args = parser.parse_args(argv)
    with filled_spool(args.dir, "spoolrt-dashboard-cost-") as spool_dir:
        _handles, per_call = fill_pending(args.pending)
        print(f"filled {args.pending} pending files ({per_call:.1f} us each)")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
