"""What a remote enqueue costs beside a local one: µs per task call, and their ratio.

Two variants, alternated rep by rep so drift on the shared machine hits both alike, each a whole
task call (serialise, envelope, sign) with a small payload:

- ``local``: the local writer into a spool dir on tmpfs (atomic write + rename, no fsync);
- ``remote``: the remote backend to one uWSGI node on loopback (connect, send the packet, wait
  for uWSGI's acknowledgement that it wrote the file); the node has ``--spooler-external`` on
  tmpfs, so nothing runs the tasks and only the enqueue side is measured.

Run: ``python -m benchmarks.remote_cost [--reps 5] [--calls 2000] [--dir /dev/shm]``; prints
one JSON object (medians in µs per call and ``ratio`` = remote / local).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import spoolrt
from spoolrt import Spooler
from spoolrt.core.codec.packet import pack
from spoolrt.sending.backends.remote import send_packet

KEY = "remote-cost-benchmark-key-0123456789"


@Spooler.task()
def noop(data: str) -> None:
    """Never runs: the benchmark measures the enqueue side only."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(spool_dir: str, port: int) -> subprocess.Popen[bytes]:
    """A uWSGI instance that only writes what arrives on its socket (no app, no spooler
    process): the remote side of the measurement."""
    uwsgi = Path(sys.executable).parent / "uwsgi"
    command = [str(uwsgi if uwsgi.exists() else "uwsgi"), "--master", "--die-on-term"]
    command += ["--socket", f"127.0.0.1:{port}", "--spooler-external", spool_dir]
    command += ["--processes", "1", "--disable-logging"]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while True:  # ready once a probe packet is acknowledged
        try:
            send_packet(("127.0.0.1", port), pack({b"probe": b"1"}), 1.0)
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError("the uWSGI node did not start") from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(15)


def per_call_us(call: Callable[[], object], calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - began) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="spoolrt-remote-cost-", dir=args.dir)
    local_dir, node_dir = os.path.join(work, "local"), os.path.join(work, "node")
    os.makedirs(local_dir)
    os.makedirs(node_dir)
    port = free_port()
    node = start_node(node_dir, port)
    figures: dict[str, list[float]] = {"local": [], "remote": []}
    try:
        spoolrt.configure(
            secret_key=KEY,
            spool_dirs=[local_dir],
            durable_writes=False,
            results="off",
            remote={"bench": [f"127.0.0.1:{port}"]},
        )
        variants: dict[str, Callable[[], object]] = {
            "local": lambda: noop.spool_with(("x" * 100,)),
            "remote": lambda: noop.spool_with(("x" * 100,), spooler="bench"),
        }
        for _rep in range(args.reps):
            for name, call in variants.items():
                figures[name].append(per_call_us(call, args.calls))
    finally:
        stop(node)
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: round(statistics.median(values), 1) for name, values in figures.items()}
    out = {
        "us_per_call": medians,
        "ratio": round(medians["remote"] / medians["local"], 2),
        "reps": args.reps,
        "calls": args.calls,
        "samples": figures,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
