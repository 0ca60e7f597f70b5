"""Turn samples into tables (Markdown, also printed to the terminal) and a JSON record."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.stats import Summary
from benchmarks.subject import DRAIN, ENQUEUE, LATENCY, PICKUP, POSTPONED

#: samples[filesystem][subject name][metric key] -> one value per repetition
Samples = dict[str, dict[str, dict[str, list[float]]]]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    figure: str
    higher_is_better: bool
    decimals: int


def metrics(postponed_counts: Sequence[int]) -> list[Metric]:
    """Every row of the table, in order; postponed rows exist per requested count."""
    rows = [
        Metric("enqueue_us", "enqueue µs/call ↓", ENQUEUE, False, 1),
        Metric("drain_p1", "drain tasks/s, 1 process ↑", DRAIN, True, 0),
        Metric("drain_p2", "drain tasks/s, 2 processes ↑", DRAIN, True, 0),
        Metric("drain_p4", "drain tasks/s, 4 processes ↑", DRAIN, True, 0),
        Metric("latency_p50_ms", "idle enqueue→start ms, median ↓", LATENCY, False, 2),
        Metric("latency_p99_ms", "idle enqueue→start ms, p99 ↓", LATENCY, False, 2),
        Metric("pickup_p50_ms", "pickup under load ms, median ↓", PICKUP, False, 1),
        Metric("pickup_max_ms", "pickup under load ms, max ↓", PICKUP, False, 1),
    ]
    for waiting in postponed_counts:
        rows += [
            Metric(
                f"postponed_{waiting}_drain",
                f"drain tasks/s, 1 process, {waiting:,} postponed ↑",
                POSTPONED,
                True,
                0,
            ),
            Metric(
                f"postponed_{waiting}_p50_ms",
                f"idle enqueue→start ms, median, {waiting:,} postponed ↓",
                POSTPONED,
                False,
                2,
            ),
            Metric(
                f"postponed_{waiting}_p99_ms",
                f"idle enqueue→start ms, p99, {waiting:,} postponed ↓",
                POSTPONED,
                False,
                2,
            ),
        ]
    return rows


def _number(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def cell(summary: Summary | None, baseline: Summary | None, decimals: int) -> str:
    """``median (min-max) ratio``; the ratio is to the baseline's median of the same run."""
    if summary is None:
        return "FAILED"
    text = f"**{_number(summary.median, decimals)}**"
    if summary.samples > 1:
        text += f" ({_number(summary.low, decimals)}-{_number(summary.high, decimals)})"
    if baseline is not None and baseline.median > 0:
        text += f" {ratio(summary.median / baseline.median)}"
    return text


def ratio(value: float) -> str:
    """Two decimals, or one significant digit below 0.1 so that 1 ms vs 1 s is not "0.00x"."""
    return f"{value:.2f}x" if value >= 0.1 or value == 0 else f"{value:.1g}x"


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    is_baseline: bool
    figures: frozenset[str]


def summarize(samples: Samples) -> dict[str, dict[str, dict[str, Summary]]]:
    return {
        fs: {
            subject: {key: Summary.of(values) for key, values in by_key.items() if values}
            for subject, by_key in by_subject.items()
        }
        for fs, by_subject in samples.items()
    }


def table(
    summaries: Mapping[str, Mapping[str, Summary]],
    columns: Sequence[Column],
    rows: Iterable[Metric],
    postponed_counts: Sequence[int],
) -> str:
    """One Markdown table for one filesystem: figures down, subjects across."""
    baseline = next((c.name for c in columns if c.is_baseline), None)
    head = ["figure", *(f"{c.title}{' (baseline)' if c.is_baseline else ''}" for c in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric in rows:
        base = summaries.get(baseline or "", {}).get(metric.key)
        cells = [metric.label]
        for column in columns:
            mine = summaries.get(column.name, {}).get(metric.key)
            if metric.figure not in column.figures:
                cells.append("n/a")
            else:
                ratio_to = None if column.is_baseline else base
                cells.append(cell(mine, ratio_to, metric.decimals))
        lines.append("| " + " | ".join(cells) + " |")
    if len(postponed_counts) > 1:
        first, last = postponed_counts[0], postponed_counts[-1]
        cells = [f"drain with {last:,} postponed ÷ with {first:,} ↑"]
        for column in columns:
            by_key = summaries.get(column.name, {})
            low = by_key.get(f"postponed_{first}_drain")
            high = by_key.get(f"postponed_{last}_drain")
            if low is None or high is None or low.median <= 0:
                cells.append("n/a" if POSTPONED not in column.figures else "FAILED")
            else:
                cells.append(f"{high.median / low.median:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, record: dict[str, Any], samples: Samples) -> None:
    summaries = summarize(samples)
    record = dict(record)
    record["samples"] = samples
    record["summary"] = {
        fs: {
            subject: {key: asdict(s) for key, s in by_key.items()}
            for subject, by_key in by_s.items()
        }
        for fs, by_s in summaries.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
