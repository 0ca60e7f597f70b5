"""Operations the harness asks a producer to run, by name, with JSON parameters and results.

They run inside the producer (a uWSGI worker or a plain Python process) so that enqueue calls
are made from where an application makes them, and so that a uWSGI producer's ``uwsgi.spool``
wakes its own idle spoolers exactly as it would in production. Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks import marks
from benchmarks.subject import Adapter, BenchError


def _wait_for_count(reader: marks.MarkReader, name: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while reader.count(name) < count:
        if time.monotonic() > deadline:
            raise BenchError(f"waited {timeout:.1f}s for {count} '{name}' marks")
        time.sleep(0.001)


def op_ping(adapter: Adapter) -> str:
    return "pong"


def op_enqueue(adapter: Adapter, count: int) -> float:
    """Seconds taken by ``count`` enqueues of a plain task in one loop."""
    return adapter.enqueue_many(count)


def op_postpone(adapter: Adapter, count: int, delay_s: float) -> float:
    started = time.perf_counter()
    adapter.enqueue_postponed(count, delay_s)
    return time.perf_counter() - started


def op_stored(adapter: Adapter) -> int:
    return adapter.stored()


def op_unscheduled(adapter: Adapter) -> int:
    return adapter.unscheduled()


def op_warmup(adapter: Adapter, settle_s: float = 0.5, timeout: float = 20.0) -> None:
    """Run one zero-length task, then let the consumer go idle, so latencies start from rest."""
    reader = marks.MarkReader(adapter.settings.marks_dir)
    before = reader.count(marks.BUSY)
    adapter.enqueue_busy(0.0)
    _wait_for_count(reader, marks.BUSY, before + 1, timeout)
    time.sleep(settle_s)


def op_latency(adapter: Adapter, count: int, gap_s: float) -> None:
    """Enqueue ``count`` probes ``gap_s`` apart into an idle consumer (the harness reads marks)."""
    for _ in range(count):
        adapter.enqueue_probe()
        time.sleep(gap_s)


def op_pickup(
    adapter: Adapter, count: int, busy_s: float, offset_s: float, timeout: float = 10.0
) -> None:
    """Enqueue each probe while the only consumer runs a busy task, then wait for the probe.

    The next round starts only after the probe ran, so each probe measures one pickup.
    """
    reader = marks.MarkReader(adapter.settings.marks_dir)
    started_before = reader.count(marks.BUSY_START)
    probes_before = reader.count(marks.PROBE)
    for round_no in range(1, count + 1):
        adapter.enqueue_busy(busy_s)
        _wait_for_count(reader, marks.BUSY_START, started_before + round_no, timeout)
        time.sleep(offset_s)
        adapter.enqueue_probe()
        _wait_for_count(reader, marks.PROBE, probes_before + round_no, timeout)
        time.sleep(0.02)


OPS: dict[str, Callable[..., Any]] = {
    "ping": op_ping,
    "enqueue": op_enqueue,
    "postpone": op_postpone,
    "stored": op_stored,
    "unscheduled": op_unscheduled,
    "warmup": op_warmup,
    "latency": op_latency,
    "pickup": op_pickup,
}


def run_op(adapter: Adapter, op: str, params: dict[str, Any]) -> Any:
    try:
        function = OPS[op]
    except KeyError:
        raise BenchError(f"unknown op {op!r}") from None
    return function(adapter, **params)
