"""Summaries of measured seconds: min/median/max, nearest-rank percentiles, latency percentiles in ms."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def summary(values: Sequence[float]) -> dict[str, float]:
    """min / median / max (and mean) of seconds, rounded to 0.1 ms."""
    vs = sorted(values)
    return {
        "n": len(vs),
        "min": round(vs[0], 4),
        "median": round(statistics.median(vs), 4),
        "mean": round(statistics.fmean(vs), 4),
        "max": round(vs[-1], 4),
    }


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(-(-p * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def latency_percentiles(lat: Sequence[float], digits: int = 2) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of ascending latencies in seconds (the bench and the soak)."""
    return {
        "p50_ms": round(percentile(lat, 50) * 1000, digits),
        "p95_ms": round(percentile(lat, 95) * 1000, digits),
        "p99_ms": round(percentile(lat, 99) * 1000, digits),
        "max_ms": round((lat[-1] if lat else 0.0) * 1000, digits),
    }
