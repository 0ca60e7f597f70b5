"""How much web workers polling ``get_result`` slow the drain (``python -m
benchmarks.polling_cost``).

A quick measurement, not a test. Each repetition pre-fills a fresh spool directory (tmpfs by
default) with ``--n`` no-op tasks, all due at the same second a few seconds ahead, then starts
real uWSGI (2 web workers, ``--spooler-processes`` spoolers, results on: the default). With
polling on, ``--pollers`` client threads keep both web workers busy answering
``GET /status/<id>`` (``Spooler.get_result`` of a random task of the batch, queued or done, as a
page polling its tasks would) for the whole drain. The drain rate is read from the store
itself: tasks / (last ``finished_at`` - first ``started_at``), so uWSGI's start-up is not in
it. Variants alternate rep by rep; the figure is the median, and the ratio polled / quiet in
the same run. The issue's target: polling slows the drain by less than 10 % (ratio > 0.9).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.polling_app import noop
from benchmarks.processes import wait_until
from benchmarks.uwsgi_host import uwsgi_binary
from spoolrt.core import defaults
from spoolrt.core.config import overridden
from spoolrt.results.sqlite_schema import TABLE

REPO_ROOT = Path(__file__).resolve().parent.parent
KEY = "polling-cost-benchmark-key-0123456789"
#: Seconds between the pre-fill and the tasks' due time: uWSGI starts and pollers warm up.
LEAD = 4.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def _command(port: int, spool: Path, spoolers: int) -> list[str]:
    binary = uwsgi_binary()
    if binary is None:
        raise SystemExit("uwsgi binary not found")
    command = [
        binary,
        "--master",
        "--processes",
        "2",
        "--http-socket",
        f"127.0.0.1:{port}",
        "--pythonpath",
        str(REPO_ROOT),
        "--module",
        "benchmarks.polling_app:application",
        "--spooler",
        str(spool),
        "--spooler-import",
        "benchmarks.polling_app",
        "--spooler-processes",
        str(spoolers),
        "--spooler-frequency",
        "1",
        "--spooler-quiet",
        "--disable-logging",
        "--need-app",
        "--strict",
        "--die-on-term",
    ]
    if sys.prefix != sys.base_prefix:
        command += ["--home", sys.prefix]
    return command


def _finished(store: Path) -> tuple[int, float | None, float | None]:
    """(finished tasks, first started_at, last finished_at) read straight from the store."""
    if not store.exists():
        return 0, None, None
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute(
            f"SELECT count(*), min(started_at), max(finished_at) FROM {TABLE} WHERE status = 'done'"
        ).fetchone()
    except sqlite3.Error:
        return 0, None, None
    finally:
        conn.close()
    return int(row[0]), row[1], row[2]


def run_once(
    root: Path, n: int, pollers: int, spoolers: int, rate: float = 0.0, control: bool = False
) -> tuple[float, float]:
    """One drain of ``n`` tasks; returns (tasks/s, status polls/s answered meanwhile).
    ``rate``: polls per second of each poller, 0 for as fast as the web workers answer;
    ``control``: poll ``/ping`` instead (what the HTTP requests cost without ``get_result``)."""
    spool = root / "spool"
    spool.mkdir(parents=True)
    with overridden(spool_dirs=[str(spool)], durable_writes=False, secret_key=KEY):
        due = time.time() + LEAD
        ids = [
            noop.spool_with((i,), postpone=max(0.0, due - time.time())).task_id for i in range(n)
        ]
    port = _free_port()
    env = {**os.environ, "SPOOLRT_SECRET_KEY": KEY}
    with open(root / "uwsgi.log", "wb") as log:
        proc = subprocess.Popen(
            _command(port, spool, spoolers),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            start_new_session=True,
        )
    stop = threading.Event()
    polls = [0] * pollers

    def poll(slot: int) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                _get(port, "/ping" if control else f"/status/{random.choice(ids)}")
                polls[slot] += 1
            except OSError:
                time.sleep(0.01)
            if rate:
                next_at += 1 / rate
                stop.wait(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(pollers)]
    store = spool / defaults.STATE_DIR / defaults.RESULTS_FILENAME
    try:
        wait_until(lambda: _answers(port), 30, "uWSGI to answer")
        began = time.monotonic()
        for thread in threads:
            thread.start()
        wait_until(lambda: _finished(store)[0] >= n, 300, "the drain", interval=0.2)
        polled_for = time.monotonic() - began
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        _stop(proc)
    count, first, last = _finished(store)
    assert first is not None and last is not None and count >= n
    return n / (last - first), sum(polls) / polled_for


def _answers(port: int) -> bool:
    try:
        return _get(port, "/ping") == b"pong"
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the master we started, then SIGKILL its own process group if it lingers."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(15)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="tasks per drain")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--pollers", type=int, default=2, help="client threads polling")
    parser.add_argument("--spoolers", type=int, default=1, help="spooler processes")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="polls/s of each poller (0: as fast as answered)"
    )
    parser.add_argument(
        "--control", action="store_true", help="poll /ping: the requests without get_result"
    )
    parser.add_argument("--dir", default="/dev/shm")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="spoolrt-polling-cost-", dir=args.dir))
    rates: dict[str, list[float]] = {"quiet": [], "polled": []}
    poll_rates: list[float] = []
    try:
        for rep in range(args.reps):
            for name, pollers in (("quiet", 0), ("polled", args.pollers)):
                rate, polled = run_once(
                    base / f"{name}-{rep}", args.n, pollers, args.spoolers, args.rate, args.control
                )
                rates[name].append(rate)
                if pollers:
                    poll_rates.append(polled)
                print(
                    f"rep {rep + 1} {name:6}: {rate:8.0f} tasks/s"
                    + (f"  ({polled:.0f} status polls/s answered)" if pollers else ""),
                    flush=True,
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    quiet, polled = statistics.median(rates["quiet"]), statistics.median(rates["polled"])
    pace = f"{args.rate:g}/s each" if args.rate else "flat out"
    print(
        f"\ndrain, {args.spoolers} spooler process(es), {args.n:,} tasks, median of {args.reps}, "
        f"{args.pollers} pollers {pace}{' of /ping (control)' if args.control else ''}: "
        f"quiet {quiet:.0f} tasks/s, 2 web workers answering "
        f"{'/ping' if args.control else 'get_result'} "
        f"({statistics.median(poll_rates):.0f} polls/s) {polled:.0f} tasks/s: "
        f"ratio {polled / quiet:.2f} (target > 0.90)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
