"""Small statistics and measurement helpers for the benchmark.

The target machine has 2 shared cores, so a single timing means little: every
figure is summarised as median and p95 over repeats, and comparisons are ratios
of medians measured side by side.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, like numpy's default."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """n, median, p95, mean, min and max of the non-None values (None fields when empty)."""
    kept = [float(v) for v in values if v is not None]
    if not kept:
        return {"n": 0, "median": None, "p95": None, "mean": None, "min": None, "max": None}
    return {
        "n": len(kept),
        "median": statistics.median(kept),
        "p95": percentile(kept, 95),
        "mean": statistics.fmean(kept),
        "min": min(kept),
        "max": max(kept),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (how busy the shared machine was)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def tree_rss(pid: int) -> int:
    """Resident memory in bytes of a process and all its children (0 if it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


@dataclass
class RssPeak:
    """The highest resident memory seen by :func:`sample_rss`, in bytes."""

    peak: int = 0
    samples: int = 0


@contextmanager
def sample_rss(pid: int | None = None, interval: float = 0.1) -> Iterator[RssPeak]:
    """Sample a process tree's RSS on a thread while the block runs; yields the running peak."""
    target = pid if pid is not None else os.getpid()
    result = RssPeak()
    stop = threading.Event()

    def run() -> None:
        while True:
            result.peak = max(result.peak, tree_rss(target))
            result.samples += 1
            if stop.wait(interval):
                return

    thread = threading.Thread(target=run, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result.peak = max(result.peak, tree_rss(target))


class Stopwatch:
    """perf_counter seconds since creation; ``lap()`` returns the time since start."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def lap(self) -> float:
        return time.perf_counter() - self.start


def mib(value: float | int | None) -> float | None:
    return None if value is None else value / 2**20
