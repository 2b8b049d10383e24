"""Sorting float32 vectors: numpy.sort, jax.jit(jnp.sort) and aotc.jit(anp.sort).

    .venv/bin/python benchmarks/sort.py [--log2 16 20 24] [--rounds 5]

For each size, checks that the three agree, then times them interleaved (medians and best of
per-call wall time, one call per round for large sizes). aotc sorts rows of >= 512 entries with
a bitonic network (aotc.frontend.ops.sort.lower_large_sorts), so its time grows as
n log^2 n; numpy and JAX run an O(n log n) sort on the host. Also reports aotc's compile time.
"""

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from timing import median_times

import aotc
import aotc.numpy as anp


def bench(log2: int, rounds: int) -> dict:
    n = 1 << log2
    x = np.random.default_rng(log2).standard_normal(n).astype(np.float32)
    jax_sort = jax.jit(jnp.sort)
    start = time.perf_counter()
    aotc_sort = aotc.jit(anp.sort)
    got = np.asarray(aotc_sort(x))
    compile_s = time.perf_counter() - start
    expected = np.sort(x)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.asarray(jax_sort(x)), expected)
    fns = {
        "numpy": lambda: np.sort(x),
        "jax": lambda: jax_sort(x).block_until_ready(),
        "aotc": lambda: aotc_sort(x),
    }
    calls = {name: 1 for name in fns} if n > 1 << 18 else None
    times = median_times(fns, rounds, calls)
    return {"n": n, "compile_s": compile_s, **times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2", type=int, nargs="+", default=[16, 20, 24])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    print(f"{'n':>10} {'numpy ms':>10} {'jax ms':>10} {'aotc ms':>10} {'aotc/jax':>9} "
          f"{'aotc compile s':>15}")
    for log2 in args.log2:
        r = bench(log2, args.rounds)
        numpy_ms, jax_ms, aotc_ms = (1e3 * r[k][0] for k in ("numpy", "jax", "aotc"))
        print(f"{r['n']:>10} {numpy_ms:>10.2f} {jax_ms:>10.2f} {aotc_ms:>10.2f} "
              f"{aotc_ms / jax_ms:>9.1f} {r['compile_s']:>15.1f}")


if __name__ == "__main__":
    main()
