"""How each figure is measured, for any subject, one repetition at a time.

Each function starts from an empty queue and fresh marks, runs the subject's processes inside
``with`` blocks (so they are stopped by PID whatever happens), and returns ``{metric: value}``.
Timings come from the marks the tasks write, not from polling, so they do not depend on how
often the harness looks. Metric keys are defined in ``benchmarks.report``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from benchmarks import marks
from benchmarks.processes import wait_until
from benchmarks.stats import percentile
from benchmarks.subject import BenchError, Producer, Subject

#: Postponed tasks become due this far in the future: never during a run.
POSTPONE_S = 86_400.0


@dataclass(frozen=True)
class Load:
    """Sizes of one run; ``quick()`` is the smoke-test preset."""

    tasks: int = 20_000
    latency_probes: int = 200
    latency_gap_s: float = 0.02
    pickup_probes: int = 10
    busy_s: float = 0.05
    busy_offset_s: float = 0.01

    @classmethod
    def quick(cls) -> Load:
        return cls(tasks=200, latency_probes=20, latency_gap_s=0.01, pickup_probes=2)

    @property
    def mark_every(self) -> int:
        """Marks every 1/20th of a drain at most, every 100 tasks at most."""
        return max(1, min(100, self.tasks // 20))


def drain_size(subject: Subject, load: Load) -> int:
    cap = subject.max_drain_tasks
    return load.tasks if cap is None else min(load.tasks, cap)


def _wait_drained(
    feeder: Producer, reader: marks.MarkReader, expected: int, left: int, subject: Subject
) -> float:
    """Wait until ``expected`` tasks ran and only ``left`` remain stored; return tasks/s."""
    slack = subject.mark_every * 4  # up to 4 processes' unmarked tail
    timeout = 120.0 + expected / 100

    def marked_enough() -> bool:
        progress = reader.drain()
        return progress is not None and progress.tasks >= expected - slack

    wait_until(marked_enough, timeout, f"{subject.name} to run {expected} tasks", interval=0.02)
    wait_until(
        lambda: int(feeder.call("stored")) <= left,
        timeout,
        f"{subject.name} to empty its ready queue",
        interval=0.05,
    )
    ended = time.time()
    progress = reader.drain()
    if progress is None or progress.tasks > expected:
        raise BenchError(f"{subject.name}: marks say {progress} for {expected} tasks")
    if progress.tasks >= expected / 2 and progress.last_t > progress.first_t:
        return progress.rate()
    # Too few marks to time (a handful of tasks): fall back to when the queue was seen empty.
    return expected / max(ended - progress.first_t, 1e-6)


def _fresh(subject: Subject) -> marks.MarkReader:
    reader = marks.MarkReader(subject.marks_dir)
    subject.clear()
    reader.clear()
    return reader


def _prefill(subject: Subject, count: int, expect_stored: int) -> float:
    with subject.producer() as producer:
        seconds = float(producer.call("enqueue", count=count))
        stored = int(producer.call("stored"))
    if stored != expect_stored:
        raise BenchError(
            f"{subject.name}: {stored} tasks stored after enqueue, not {expect_stored}"
        )
    return seconds


def enqueue_only(subject: Subject, load: Load) -> dict[str, float]:
    """Enqueue µs/call for subjects whose drain is capped below ``load.tasks``."""
    _fresh(subject)
    seconds = _prefill(subject, load.tasks, load.tasks)
    subject.clear()
    return {"enqueue_us": seconds / load.tasks * 1e6}


def drain(subject: Subject, load: Load, processes: int, record_enqueue: bool) -> dict[str, float]:
    """Pre-fill with nothing consuming (also an enqueue sample), then drain with ``processes``."""
    reader = _fresh(subject)
    count = drain_size(subject, load)
    seconds = _prefill(subject, count, count)
    out: dict[str, float] = {}
    if record_enqueue and count == load.tasks:
        out["enqueue_us"] = seconds / count * 1e6
    with subject.consumer(processes) as feeder:
        out[f"drain_p{processes}"] = _wait_drained(feeder, reader, count, 0, subject)
    return out


def _probe_latencies_ms(
    feeder: Producer, reader: marks.MarkReader, load: Load, count: int
) -> list[float]:
    before = reader.count(marks.PROBE)
    feeder.call("warmup")
    feeder.call("latency", count=count, gap_s=load.latency_gap_s)
    wait_until(
        lambda: reader.count(marks.PROBE) >= before + count, 30.0, "latency probes", interval=0.05
    )
    return [(t1 - t0) * 1e3 for t0, t1 in reader.probes()[before:]]


def idle_latency(subject: Subject, load: Load) -> dict[str, float]:
    """Enqueue→start of probes sent one by one to an idle consumer (one process)."""
    reader = _fresh(subject)
    with subject.consumer(1) as feeder:
        latencies = _probe_latencies_ms(feeder, reader, load, load.latency_probes)
    return {
        "latency_p50_ms": statistics.median(latencies),
        "latency_p99_ms": percentile(latencies, 0.99),
    }


def pickup(subject: Subject, load: Load) -> dict[str, float]:
    """How long a task enqueued during a busy task waits once the consumer is free again."""
    reader = _fresh(subject)
    with subject.consumer(1) as feeder:
        feeder.call("warmup")
        feeder.call(
            "pickup",
            count=load.pickup_probes,
            busy_s=load.busy_s,
            offset_s=load.busy_offset_s,
        )
    spans = reader.busy_spans()[-load.pickup_probes :]
    probes = reader.probes()[-load.pickup_probes :]
    if len(spans) != load.pickup_probes or len(probes) != load.pickup_probes:
        raise BenchError(f"{subject.name}: {len(spans)} busy spans, {len(probes)} probes")
    pairs = zip(probes, spans, strict=True)
    waits = [(started - max(t0, end)) * 1e3 for (t0, started), (_, end) in pairs]
    return {"pickup_p50_ms": statistics.median(waits), "pickup_max_ms": max(waits)}


def _settle(subject: Subject, waiting: int) -> None:
    """Run a consumer until every postponed task waits where the subject keeps them."""
    with subject.consumer(1) as feeder:
        wait_until(
            lambda: int(feeder.call("unscheduled")) == 0,
            60.0 + waiting / 200,
            f"{subject.name} to file {waiting:,} postponed tasks away",
            interval=0.2,
        )


def postponed(subject: Subject, load: Load, waiting: int) -> dict[str, float]:
    """Ready-task drain and idle latency while ``waiting`` postponed tasks sit in the queue.

    The postponed tasks stay between calls: call with ascending ``waiting`` to top them up.
    """
    reader = marks.MarkReader(subject.marks_dir)
    reader.clear()
    count = drain_size(subject, load)
    with subject.producer() as producer:
        have = int(producer.call("stored"))
        if have > waiting:
            raise BenchError(f"{subject.name}: {have} postponed tasks stored, want {waiting}")
        if have < waiting:
            producer.call("postpone", count=waiting - have, delay_s=POSTPONE_S)
        unsettled = int(producer.call("unscheduled"))
        if not unsettled:
            producer.call("enqueue", count=count)
            stored = int(producer.call("stored"))
    if unsettled:
        _settle(subject, waiting)
        with subject.producer() as producer:
            producer.call("enqueue", count=count)
            stored = int(producer.call("stored"))
    if stored != waiting + count:
        raise BenchError(f"{subject.name}: {stored} stored, want {waiting} + {count}")
    reader.clear()
    probes = max(5, load.latency_probes // 4)
    with subject.consumer(1) as feeder:
        rate = _wait_drained(feeder, reader, count, waiting, subject)
        latencies = _probe_latencies_ms(feeder, reader, load, probes)
    return {
        f"postponed_{waiting}_drain": rate,
        f"postponed_{waiting}_p50_ms": statistics.median(latencies),
        f"postponed_{waiting}_p99_ms": percentile(latencies, 0.99),
    }
