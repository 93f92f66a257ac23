"""Timing helper shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int, sync=None, warmup: bool = False) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls [s].

    ``sync`` (e.g. ``Backend.synchronize``) is called after each call so queued GPU
    work is counted; ``warmup`` runs ``fn`` once first (allocations, kernel compilation).
    """
    sync = sync or (lambda: None)
    if warmup:
        fn()
        sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
