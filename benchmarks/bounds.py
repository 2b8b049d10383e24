"""Cost of the bounds legalization pass on in-range code: an embedding lookup TABLE[ids]
(TABLE (50000, 128) f32, ids (4096,) int32) compiled for the CPU with and without the pass,
timed in interleaved rounds.

    .venv/bin/python benchmarks/bounds.py [--rounds 30]

Prints the median (and best) time per call of each and the guard's overhead in percent.
"""

import argparse
import os
import sys

import numpy as np

import aotc
import aotc.numpy as anp  # noqa: F401  (installs the Tracer methods x[i] uses)
import aotc_runtime
from aotc.tools.compile import compile_stablehlo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_times

ROWS, WIDTH, BATCH = 50000, 128, 4096


def lookup(table, ids):
    return table[ids]


def compiled(text: str, bounds: bool):
    vmfb = compile_stablehlo(text, "cpu", bounds=bounds)
    return aotc_runtime.load_bytes(vmfb, require_aotc=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = rng.standard_normal((ROWS, WIDTH)).astype(np.float32)
    ids = rng.integers(0, ROWS, BATCH).astype(np.int32)
    traced = aotc.lower(lookup, table, ids)
    text = traced.text_with_locations()
    guarded, bare = compiled(text, True)[traced.name], compiled(text, False)[traced.name]
    np.testing.assert_array_equal(guarded(table, ids), bare(table, ids))
    times = median_times({"with pass": lambda: guarded(table, ids),
                          "without pass": lambda: bare(table, ids)}, args.rounds)
    for name, (median, best) in times.items():
        print(f"{name:>13}: median {median * 1e6:8.1f} us   best {best * 1e6:8.1f} us")
    overhead = times["with pass"][0] / times["without pass"][0] - 1
    print(f"guard overhead (medians): {overhead * 100:+.1f}%")


if __name__ == "__main__":
    main()
