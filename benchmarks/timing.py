"""Timing shared by the benchmarks: interleaved rounds, so that load from other processes
affects every measured function alike."""

import time

import numpy as np


def calls_for(fn, seconds: float = 0.005) -> int:
    """How many back-to-back calls of fn take about `seconds`."""
    fn()
    start = time.perf_counter()
    fn()
    return max(1, int(seconds / max(time.perf_counter() - start, 1e-7)))


def median_times(fns: dict, rounds: int, calls: dict | None = None) -> dict:
    """(median, best) seconds per call of each function over interleaved rounds. Each round
    times calls[name] back-to-back calls (default: about 5 ms worth), after a short pause and
    one untimed call: JAX's worker threads keep spinning for a while after a call and would
    otherwise slow down the next timed block."""
    calls = calls or {name: calls_for(fn) for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(0.005)
            fn()
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return {name: (float(np.median(s)), float(np.min(s))) for name, s in samples.items()}
