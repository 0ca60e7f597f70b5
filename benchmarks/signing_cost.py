"""What signing costs per enqueue: HMAC-SHA256 on, off, and raw ``uwsgi.spool`` for scale.

Three measurements, each alternating the variants rep by rep (so drift hits both alike) and
reporting the median of the reps in µs per call:

1. ``encode``: ``message.encode_body`` with and without a signer, for small, 64 KiB and 1 MiB
   payloads; and ``decode_body`` (the spooler's verification) likewise.
2. ``local``: a whole task call through the local writer (serialise, envelope, sign, pack,
   atomic write + rename into a spool dir on tmpfs, no fsync), signing on vs off.
3. ``uwsgi``: a whole task call inside a uWSGI request (``uwsgi.spool`` into a
   ``--spooler-external`` dir on tmpfs, nothing consuming), signing on vs off, next to a raw
   ``uwsgi.spool`` with a body of the same size.

Run: ``python -m benchmarks.signing_cost [--reps 7] [--calls 4000] [--dir /dev/shm]``.
This module is also the WSGI app that part 3 runs in uWSGI (``application`` below).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import spoolrt
from spoolrt import Spooler, backends
from spoolrt.core.codec.envelope import Envelope, decode_body, encode_body
from spoolrt.core.codec.serializers import PickleSerializer, Signer

REPO_ROOT = Path(__file__).resolve().parent.parent
KEY = "signing-cost-benchmark-key-0123456789"
SIZES = {"small": 100, "64KiB": 64 * 1024, "1MiB": 1024 * 1024}


@Spooler.task()
def noop(data: bytes) -> None:
    """Never runs here: the benchmark measures the enqueue side only."""


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def alternate(variants: dict[str, Callable[[], float]], reps: int) -> dict[str, float]:
    """Run each variant once per rep, in turn; the median per variant."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(reps):
        for name, run in variants.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def clear(directory: str) -> None:
    for entry in os.scandir(directory):
        if entry.is_file():
            os.unlink(entry.path)


# --- 1. encode / decode ----------------------------------------------------------------------


def bench_encode(reps: int, calls: int) -> list[dict[str, Any]]:
    signer = Signer([KEY])
    return [_encode_row(label, size, reps, calls, signer) for label, size in SIZES.items()]


def _encode_row(label: str, size: int, reps: int, calls: int, signer: Signer) -> dict[str, Any]:
    payload = PickleSerializer().dumps({"func": noop.name, "arg": (b"x" * size,), "kwg": {}})
    envelope = Envelope(task_id="t", type_id="fcall", name=noop.name, payload=payload)
    signed, unsigned = encode_body(envelope, signer), encode_body(envelope, None)
    n = max(50, calls // max(1, size // 1024))
    medians = alternate(
        {
            "encode signed": lambda: per_call_us(lambda: encode_body(envelope, signer), n),
            "encode unsigned": lambda: per_call_us(lambda: encode_body(envelope, None), n),
            "decode verified": lambda: per_call_us(lambda: decode_body(signed, signer), n),
            "decode unverified": lambda: per_call_us(lambda: decode_body(unsigned, None), n),
        },
        reps,
    )
    return {"payload": label, "body_bytes": len(signed), **medians}


# --- 2. whole call through the local writer -------------------------------------------------


def bench_local(reps: int, calls: int, base: str) -> dict[str, float] | None:
    try:
        from spoolrt.sending.backends.local import LocalBackend
    except ImportError:
        return None
    spool = tempfile.mkdtemp(prefix="spoolrt-sign-local-", dir=base)
    try:
        backends.force(LocalBackend([spool]))
        spoolrt.configure(secret_key=KEY, durable_writes=False)
        arg = b"x" * SIZES["small"]

        def run(signing: bool) -> float:
            spoolrt.configure(signing=signing)
            spoolrt.get_settings().signer()  # key resolution is a one-off, not per call
            try:
                return per_call_us(lambda: noop(arg), calls)
            finally:
                clear(spool)

        return alternate({"signed": lambda: run(True), "unsigned": lambda: run(False)}, reps)
    finally:
        backends.force(None)
        spoolrt.configure(signing=True)
        shutil.rmtree(spool, ignore_errors=True)


# --- 3. whole call inside uWSGI ---------------------------------------------------------------


def _uwsgi_run(mode: str, calls: int, size: int) -> float:
    import uwsgi  # only inside the uWSGI worker

    spool = os.environ["SIGNING_COST_SPOOL"]
    arg = b"x" * size
    try:
        if mode == "raw":
            body = encode_body(
                Envelope(task_id="t", type_id="fcall", payload=PickleSerializer().dumps(arg)),
                None,
            )
            return per_call_us(lambda: uwsgi.spool({b"spoolrt": b"1", b"body": body}), calls)
        spoolrt.configure(signing=mode == "signed")
        spoolrt.get_settings().signer()
        return per_call_us(lambda: noop(arg), calls)
    finally:
        clear(spool)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The timing endpoint: ``/run?mode=signed|unsigned|raw&calls=N&size=B`` -> µs per call."""
    if environ["PATH_INFO"] == "/ping":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"pong"]
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    value = _uwsgi_run(query["mode"][0], int(query["calls"][0]), int(query["size"][0]))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"us_per_call": value}).encode()]


def bench_uwsgi(reps: int, calls: int, base: str) -> dict[str, float] | None:
    binary = Path(sys.executable).parent / "uwsgi"
    if not binary.exists():
        binary = Path(shutil.which("uwsgi") or "/nonexistent")
    if not binary.exists():
        return None
    work = tempfile.mkdtemp(prefix="spoolrt-sign-uwsgi-", dir=base)
    spool = os.path.join(work, "spool")
    os.mkdir(spool, 0o700)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "SPOOLRT_SECRET_KEY": KEY,
        "SIGNING_COST_SPOOL": os.path.realpath(spool),
        "PYTHONPATH": str(REPO_ROOT),
    }
    command = [
        str(binary), "--master", "--processes", "1", "--need-app", "--die-on-term",
        "--http-socket", f"127.0.0.1:{port}", "--pythonpath", str(REPO_ROOT),
        "--module", "benchmarks.signing_cost", "--spooler-external", spool,
        "--disable-logging",
    ]  # fmt: skip
    with open(os.path.join(work, "uwsgi.log"), "wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/ping", timeout=2) as resp:
                    if resp.read() == b"pong":
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uwsgi did not start; see {work}/uwsgi.log") from None
                time.sleep(0.05)

        def call(mode: str) -> float:
            query = urllib.parse.urlencode({"mode": mode, "calls": calls, "size": SIZES["small"]})
            with urllib.request.urlopen(f"{base_url}/run?{query}", timeout=300) as resp:
                return float(json.loads(resp.read())["us_per_call"])

        call("signed")  # warm-up: imports, key, first files
        return alternate(
            {"signed": lambda: call("signed"), "unsigned": lambda: call("unsigned"),
             "raw uwsgi.spool": lambda: call("raw")},
            reps,
        )  # fmt: skip
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


# --- report -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--calls", type=int, default=4000, help="calls per rep (small payload)")
    parser.add_argument("--dir", default="/dev/shm", help="where spool dirs go (tmpfs)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    logging.getLogger("spoolrt").setLevel(logging.ERROR)  # "signing is OFF" on every switch

    result: dict[str, Any] = {
        "encode": bench_encode(args.reps, args.calls),
        "local": bench_local(args.reps, args.calls, args.dir),
        "uwsgi": bench_uwsgi(args.reps, args.calls, args.dir),
        "reps": args.reps,
        "calls": args.calls,
        "dir": args.dir,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"median of {args.reps} reps, µs per call ({args.calls} calls/rep, dir {args.dir})")
    print("\n1. envelope (in process)")
    for row in result["encode"]:
        cost = row["encode signed"] - row["encode unsigned"]
        verify = row["decode verified"] - row["decode unverified"]
        print(
            f"  {row['payload']:>6} ({row['body_bytes']} B body): encode "
            f"{row['encode unsigned']:.2f} -> {row['encode signed']:.2f} signed (+{cost:.2f}); "
            f"decode {row['decode unverified']:.2f} -> {row['decode verified']:.2f} "
            f"verified (+{verify:.2f})"
        )
    for label in ("local", "uwsgi"):
        found = result[label]
        title = {"local": "2. whole call, local writer", "uwsgi": "3. whole call in uWSGI"}[label]
        if found is None:
            print(f"\n{title}: not available here")
            continue
        extra = found["signed"] - found["unsigned"]
        print(f"\n{title}")
        print(
            f"  unsigned {found['unsigned']:.2f}  signed {found['signed']:.2f}  "
            f"signing +{extra:.2f} ({extra / found['unsigned']:+.1%})"
        )
        if "raw uwsgi.spool" in found:
            raw = found["raw uwsgi.spool"]
            print(f"  raw uwsgi.spool {raw:.2f} (signed spoolrt = {found['signed'] / raw:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
