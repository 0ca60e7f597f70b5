"""Small statistics, defined once so every figure uses the same rules."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank-below percentile, ``sorted[int(fraction * (n - 1))]``.

    The research benchmarks used this rule; keeping it keeps p99 comparable with theirs.
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))]


@dataclass(frozen=True)
class Summary:
    """Median of the repetitions, with their spread."""

    median: float
    low: float
    high: float
    samples: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("summary of no values")
        return cls(statistics.median(values), min(values), max(values), len(values))
