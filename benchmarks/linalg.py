"""aotc.numpy.linalg (portable StableHLO compiled by IREE, aotc.jit) against jax.numpy.linalg
(XLA calling LAPACK), interleaved in one process, medians of the rounds.

    .venv/bin/python benchmarks/linalg.py [--sizes 16 32 64 128 256] [--rounds 15]
        [--functions cholesky solve ...] [--device local-task] [--flags=--iree-opt-level=O3]
        [--cpu-time]

Functions: cholesky, solve, inv, det, qr, lu_factor, and eigh, svd, norm when
aotc.frontend.linalg.spectral has them. Prints one row per (function, n): aotc and JAX times
per call in microseconds (median and best round) and their ratio (aotc / JAX; < 1: aotc is
faster). On a loaded machine the best rounds are the steadier comparison; --cpu-time measures
the process's CPU time per call instead of wall time (aotc's default CPU device for these
programs, local-sync, runs on the calling thread, so its CPU time barely depends on the load
from other processes; JAX's counts every thread it uses, spinning workers included).
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

import aotc
import aotc.numpy as anp
import aotc.scipy.linalg as asl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_times

jax.config.update("jax_platforms", "cpu")


def _spd(rng, n):
    a = rng.standard_normal((n, n)).astype(np.float32)
    return (a @ a.T / n + np.eye(n, dtype=np.float32)).astype(np.float32)


def _general(rng, n):
    return (rng.standard_normal((n, n)) + n ** 0.5 * np.eye(n)).astype(np.float32)


# name -> (aotc function, jax function, inputs from (rng, n))
CASES = {
    "cholesky": (anp.linalg.cholesky, jnp.linalg.cholesky, lambda r, n: (_spd(r, n),)),
    "solve": (anp.linalg.solve, jnp.linalg.solve,
              lambda r, n: (_general(r, n), r.standard_normal((n, 1)).astype(np.float32))),
    "inv": (anp.linalg.inv, jnp.linalg.inv, lambda r, n: (_general(r, n),)),
    "det": (anp.linalg.det, jnp.linalg.det, lambda r, n: (_general(r, n),)),
    "qr": (anp.linalg.qr, jnp.linalg.qr, lambda r, n: (_general(r, n),)),
    "lu_factor": (asl.lu_factor, jsl.lu_factor, lambda r, n: (_general(r, n),)),
}
for _name, _inputs in (("eigh", lambda r, n: (_spd(r, n),)),
                       ("svd", lambda r, n: (_general(r, n),)),
                       ("norm", lambda r, n: (_general(r, n),))):
    if hasattr(anp.linalg, _name):  # spectral.py's functions, when present
        CASES[_name] = (getattr(anp.linalg, _name), getattr(jnp.linalg, _name), _inputs)


def cpu_times(fns: dict, rounds: int, calls: int = 5) -> dict:
    """(median, best) CPU seconds (time.process_time) per call of each function over
    interleaved rounds of `calls` calls each."""
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            start = time.process_time()
            for _ in range(calls):
                fn()
            samples[name].append((time.process_time() - start) / calls)
    return {name: (float(np.median(s)), float(np.min(s))) for name, s in samples.items()}


def measure(names, sizes, rounds, device, flags, cpu=False):
    rows = []
    for name in names:
        ours, theirs, inputs = CASES[name]
        for n in sizes:
            args = inputs(np.random.default_rng(n), n)
            fast = aotc.jit(ours, device=device, flags=flags)
            reference = jax.jit(theirs)
            jax_args = [jnp.asarray(x) for x in args]
            fast(*args)
            jax.block_until_ready(reference(*jax_args))
            timer = cpu_times if cpu else median_times
            times = timer({
                "aotc": lambda fast=fast, args=args: fast(*args),
                "jax": lambda ref=reference, args=jax_args: jax.block_until_ready(ref(*args))},
                rounds)
            rows.append((name, n, times["aotc"], times["jax"]))
            print(f"{name:>10} n={n:<4} aotc {times['aotc'][0] * 1e6:9.1f} us   "
                  f"jax {times['jax'][0] * 1e6:9.1f} us   ratio "
                  f"{times['aotc'][0] / times['jax'][0]:6.2f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--functions", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--device", default=None, help="IREE driver, e.g. local-sync")
    parser.add_argument("--flags", action="append", default=[], help="extra IREE flag")
    parser.add_argument("--cpu-time", action="store_true", help="CPU time per call, not wall")
    args = parser.parse_args()
    rows = measure(args.functions, args.sizes, args.rounds, args.device, args.flags,
                   args.cpu_time)
    print("\n| function | n | aotc median (best) us | JAX/LAPACK median (best) us | ratio of "
          "medians (of bests) |\n|---|---|---|---|---|")
    for name, n, (ours, our_best), (theirs, their_best) in rows:
        print(f"| {name} | {n} | {ours * 1e6:.1f} ({our_best * 1e6:.1f}) | {theirs * 1e6:.1f} "
              f"({their_best * 1e6:.1f}) | {ours / theirs:.2f} ({our_best / their_best:.2f}) |")


if __name__ == "__main__":
    main()
