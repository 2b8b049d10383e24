"""Which CPU device runs a program when load() is given none: local-sync or local-task, from the
cost the compiler recorded in the artifact (`aotc.cost`, see artifact.KEY_COST).

local-sync runs a call on the calling thread: no hand-off to IREE's worker pool, so it wins on
small programs and on loops (each iteration is a host round-trip that local-task pays a
thread hand-off for). local-task splits large dispatches over the cores and wins when single
calls (or single loop iterations) carry enough work. Measured with benchmarks/suite.py on the
2-core dev machine (see the thresholds below); explicit device= and sharded artifacts are never
changed.
"""

import json
import statistics
import threading
import time

from aotc_runtime import artifact

SYNC = "local-sync"
TASK = "local-task"
# Work per call outside loops, and per iteration inside loop bodies, from which local-task's
# worker pool pays off: FLOPs of matmuls and convolutions, and result elements of other ops.
# Measured with benchmarks/suite.py workloads (medians of 3 runs at load 9-14 on 2 cores): the
# MLP SGD / Adam steps (5.8e8 FLOPs) and the 1024^2 matmul (2.1e9) ran faster on local-task;
# power iteration and RK4 (5.2e6 FLOPs per iteration), a Newton while loop (9e5 elements per
# iteration), the MLP forward (1.7e8 FLOPs) and per-example gradients (4.7e6) on local-sync.
# A loop iteration's work comes in many small dispatches, each handed to the pool and waited
# for: the RNN gradient (2e8 FLOPs per iteration, 10 unrolled steps of 4e6-FLOP products) cost
# 1.8x the process CPU time on local-task (26-28 ms against 15-16 ms per call, interleaved, load
# 15-17), and on a quiet machine (load ~2) it was faster on local-sync in wall time too (1.29x
# JAX against 2.1-2.6x). Only loops doing 1e9 FLOPs per iteration (a 1024^2 product) go to
# local-task. Under heavy load a lone thread waits for a core far longer than the pool's two
# (the RNN gradient at load 16: 68-83 ms wall on local-sync, 26-27 on local-task).
DOT_FLOPS = 4e8
ELEMENTS = 1e7
LOOP_DOT_FLOPS = 1e9
LOOP_ELEMENTS = 1e7
# Below DOT_FLOPS / ELEMENTS the better device depends on the machine and its load: the MLP
# forward ran 0.93x JAX on local-task and 1.38x on local-sync on a quiet 2-core machine, and
# 4.0x against 1.35x at load 10. Such programs (`uncertain`), unless tiny or loops, are timed
# on both devices by aotc.jit (TimedChoice); aotc_runtime.load gives them local-sync.
TINY_DOT_FLOPS = 1e6
TINY_ELEMENTS = 2.5e5


def parse_cost(text: str) -> dict | None:
    """The cost dict of an `aotc.cost` value, or None if it is not one (then no choice is
    made: the artifact's driver is used as before)."""
    try:
        cost = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    if not isinstance(cost, dict) or not all(isinstance(v, (int, float)) for v in cost.values()):
        return None
    return cost


def driver_for(cost: dict) -> str:
    """local-task if the program has enough work per call or per loop iteration to split over
    the worker pool, else local-sync.

    Example:
        >>> driver_for({"dot_flops": 2 * 1024**3})
        'local-task'
        >>> driver_for({"dot_flops": 1.7e8, "elements": 8e5})
        'local-sync'
    """
    big = (cost.get("dot_flops", 0) >= DOT_FLOPS or cost.get("elements", 0) >= ELEMENTS
           or cost.get("loop_dot_flops", 0) >= LOOP_DOT_FLOPS
           or cost.get("loop_elements", 0) >= LOOP_ELEMENTS)
    return TASK if big else SYNC


def uncertain(cost: dict) -> bool:
    """Whether the better device for cost is left to timing: programs that driver_for gives
    local-sync, but neither tiny nor loops (small-iteration loops run best on local-sync: each
    iteration is a host round-trip, cheaper without the worker pool).

    Example:
        >>> uncertain({"dot_flops": 1.7e8}), uncertain({"dot_flops": 17e9})
        (True, False)
    """
    if driver_for(cost) == TASK or cost.get("loops", 0):
        return False
    return not (cost.get("dot_flops", 0) < TINY_DOT_FLOPS
                and cost.get("elements", 0) < TINY_ELEMENTS)


def recorded_cost(reflections: dict) -> dict | None:
    """The cost recorded on an artifact's functions (the largest of each figure over them), or
    None when a function has none or an unreadable one."""
    costs = [parse_cost(r.get(artifact.KEY_COST)) for r in reflections.values()]
    if not costs or any(c is None for c in costs):
        return None
    return {key: max(c.get(key, 0) for c in costs) for c in costs for key in c}


def choose_driver(driver: str, reflections: dict, device_count: int) -> str:
    """The driver load() uses when given no device: driver_for the recorded cost of the
    artifact's functions (the largest of each figure over them) if driver is local-task and the
    program runs on one device; driver unchanged otherwise (GPU targets, sharded artifacts,
    artifacts without a recorded cost)."""
    if driver != TASK or device_count != 1:
        return driver
    cost = recorded_cost(reflections)
    return driver if cost is None else driver_for(cost)


def module_cost(module) -> dict | None:
    """The cost recorded in a loaded aotc_runtime Module's artifact (None: none recorded)."""
    return module._cost


class TimedChoice:
    """A function run on two devices for its first calls, then on the faster one only.

    calls[k] are the same compiled function loaded on different devices (their results are the
    same; only speed differs). Each call returns the result of the device it ran on, so the
    timed calls are the user's own calls: the first `rounds` rounds call each device once (the
    first round untimed: it pays the executable's first load), then the device with the lowest
    mean time serves every later call. The mean, not the best or the median time: local-task's
    worker hand-offs make its calls bimodal, usually slow on a loaded machine but sometimes not
    (suite MLP forward at load 13: 6.7 ms on local-task against 1.6 ms on local-sync, medians
    of 15 rounds), and on a quiet one fast but sometimes three times slower (the MLP forward on
    an Intel Xeon: local-task 1.9, 6.9, 2.1, 1.9 and 5.2 ms against local-sync's steady 2.9-3.1
    ms; the median chose local-task, and the suite then measured 3.3 ms per call, where
    local-sync took 2.3-2.5). What a user pays over many calls is the mean. Thread-safe.
    """

    def __init__(self, calls: dict, rounds: int = 6):
        if rounds < 2:
            raise ValueError(f"TimedChoice needs rounds >= 2 (one untimed), got {rounds}")
        self.calls = dict(calls)
        self.rounds = rounds
        self.times: dict = {name: [] for name in calls}
        self.chosen: str | None = None
        self._order = [name for _ in range(rounds) for name in calls]
        self._lock = threading.Lock()

    def __call__(self, *args):
        if self.chosen is not None:
            return self.calls[self.chosen](*args)
        with self._lock:
            if self.chosen is not None:
                return self.calls[self.chosen](*args)
            name = self._order.pop(0)
            start = time.perf_counter()
            out = self.calls[name](*args)
            self.times[name].append(time.perf_counter() - start)
            if not self._order:
                self.chosen = min(self.calls, key=lambda n: statistics.fmean(self.times[n][1:]))
                self.calls = {self.chosen: self.calls[self.chosen]}
            return out
