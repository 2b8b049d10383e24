"""Sharding on one machine and over MPI: data-parallel scaling, collective schedules, MPI.

    .venv/bin/python benchmarks/sharding.py [--rounds 9] [--workers 1] [--only dp,collectives,mpi]

Three tables (medians over interleaved rounds, so other processes' load hits every variant
alike; the load average is printed before and after):
1. dp: an MLP's SGD step (models/data_parallel.py's train_step) under a plain aotc.jit on one
   CPU device against `aotc.jit(..., in_shardings=...)` with the batch split over 2 devices;
   speed-up = t1 / t2 and parallel efficiency = speed-up / 2; "cores used" is the process's
   CPU time over the wall time of a block of calls. In one process, IREE's `local-task`
   devices all share the driver's one task executor (its pool of worker threads, one per core
   by default; `--workers K` makes it K), so on CPU the devices add no compute threads: one
   device's dispatches already spread over every core, and the figure shows what partitioning
   costs or saves at the same cores (separate processes, e.g. MPI ranks, get separate pools).
2. collectives: time per MB of one all-reduce (aotc.lax.psum in aotc.shard_map, followed by
   one elementwise add on each device: see chained_psums) per schedule
   ("ring": reduce-scatter + all-gather of 1/n chunks; "tree": reduce to device 0 and send the
   sum back down a binary tree) on 2 and 4 devices, for each device's array of 64 KiB..16 MiB.
   The time of one all-reduce is the slope between a program of CHAIN chained psums and a
   program of one (the same inputs, outputs and call overhead; the best of the rounds, since
   load from other processes only adds time), so the fixed cost of a call cancels out. The
   inputs are made on each device and the outputs reduced to two numbers per device, so no
   large array crosses the host boundary.
3. mpi: benchmarks/mpi_allreduce.py (aotc_runtime.distributed's allreduce_ against raw mpi4py
   Allreduce) run with mpiexec on 2 ranks; needs the `aotc-runtime[mpi]` extra.
"""

import argparse
import importlib.util
import itertools
import os
import subprocess
import sys
import time

import numpy as np
from timing import median_times

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20]  # bytes per device
MESHES = [2, 4]
SCHEDULES = ["ring", "tree"]
CHAIN = 9  # all-reduces in the long program (the short one has 1)
DP_CONFIGS = [  # (name, layer sizes, global batch)
    ("small (models/data_parallel.py)", (16, 64, 4), 64),
    ("large", (256, 1024, 256), 1024),
]


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def import_model(name: str):
    """models/<name>.py as a module (its train_step and numpy oracle)."""
    path = os.path.join(HERE, "..", "models", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- 1. data-parallel train step on 1 vs 2 devices ----------------------------------------------


def dp_row(dp, name: str, sizes: tuple, batch: int, rounds: int) -> str:
    """One row: 1-device and 2-device step times, speed-up and efficiency (results checked)."""
    import aotc
    from aotc.sharding import Mesh

    params, ((x, y),) = dp.init_params(0, sizes), dp.make_batches(1, batch=batch, sizes=sizes)
    one, two = aotc.jit(dp.train_step), dp.data_parallel(Mesh((2,), ("data",)))
    got, want = two(params, x, y), one(params, x, y)
    difference = dp.relative_difference(got[0], want[0])
    if difference > dp.TOLERANCE:
        raise AssertionError(f"2-device step differs from the 1-device step by {difference:.2e}")
    fns = {"1": lambda: one(params, x, y), "2": lambda: two(params, x, y)}
    times = median_times(fns, rounds)
    t1, t2 = times["1"][0], times["2"][0]
    cores1, cores2 = (cores_used(fns[k], max(3, int(0.2 / times[k][0]))) for k in ("1", "2"))
    flops = 6 * batch * sum(a * b for a, b in itertools.pairwise(sizes))  # forward + backward
    return (f"| {name}: {'-'.join(map(str, sizes))}, batch {batch} | {t1 * 1e3:.3f} ms, "
            f"{flops / t1 / 1e9:.1f} GFLOP/s, {cores1:.2f} cores | {t2 * 1e3:.3f} ms, "
            f"{cores2:.2f} cores | {t1 / t2:.2f}x | {t1 / t2 / 2:.0%} |")


def cores_used(fn, calls: int) -> float:
    """CPU time of this process (all threads) over wall time, for `calls` calls of fn."""
    fn()
    start_cpu, start = os.times(), time.perf_counter()
    for _ in range(calls):
        fn()
    wall, end_cpu = time.perf_counter() - start, os.times()
    return (end_cpu.user - start_cpu.user + end_cpu.system - start_cpu.system) / wall


def data_parallel_table(rounds: int) -> list[str]:
    dp = import_model("data_parallel")
    rows = ["| MLP step | 1 device | 2 devices (batch split) | speed-up | efficiency |",
            "|---|---|---|---|---|"]
    for name, sizes, batch in DP_CONFIGS:
        rows.append(dp_row(dp, name, sizes, batch, rounds))
    return rows


# ---- 2. all-reduce time per MB and schedule -----------------------------------------------------


def chained_psums(mesh, elements: int, chain: int, schedule: str):
    """A jitted program: each device makes a block of `elements` float32 from its seed, then
    `chain` times all-reduces it over "x" (psum, with `schedule`) and adds its own position + 1,
    and returns the block's min and max (every element stays live; exact, unlike a sum). The
    add makes each device's block differ before the next psum: without it IREE folds a
    transfer's round trip (device 0 -> 1 -> 0) and the adds of the chain fuse, and "tree"
    looked 5-10x faster than it is."""
    import aotc
    import aotc.numpy as anp
    from aotc.sharding import P

    def body(seed):
        block = anp.ones((elements,), anp.float32) * seed
        bump = aotc.lax.axis_index("x").astype(anp.float32) + 1
        for _ in range(chain):
            block = aotc.lax.psum(block, "x") + bump
        return anp.stack([anp.min(block), anp.max(block)])

    return aotc.jit(aotc.shard_map(body, mesh=mesh, in_specs=P("x"), out_specs=P("x"),
                                   schedule=schedule))


def expected_extremes(n: int, chain: int) -> np.ndarray:
    """What chained_psums returns for seeds of 1 (integers below 2**24: exact in float32)."""
    blocks = np.ones(n)
    for _ in range(chain):
        blocks = blocks.sum() + np.arange(1, n + 1)
    return np.repeat(blocks, 2)


def collective_rows(n: int, nbytes: int, rounds: int) -> list[str]:
    """Rows for one mesh size and block size: each schedule's time per all-reduce and per MB."""
    from aotc.sharding import Mesh

    mesh, elements = Mesh((n,), ("x",)), nbytes // 4
    seeds = np.ones(n, np.float32)
    fns, rows = {}, []
    for schedule in SCHEDULES:
        for chain in (1, CHAIN):
            program = chained_psums(mesh, elements, chain, schedule)
            expected = expected_extremes(n, chain)
            got = np.asarray(program(seeds))
            if not np.array_equal(got, expected):
                raise AssertionError(f"{schedule} psum x{chain} on {n} devices gave {got}, "
                                     f"expected {expected}")
            fns[schedule, chain] = lambda p=program: p(seeds)
    times = median_times(fns, rounds)
    for schedule in SCHEDULES:  # the best round: other processes' load only adds time
        per_call = (times[schedule, CHAIN][1] - times[schedule, 1][1]) / (CHAIN - 1)
        megabytes = nbytes / (1 << 20)
        rows.append(f"| {n} | {nbytes >> 10} KiB | {schedule} | {per_call * 1e6:9.1f} us "
                    f"| {per_call * 1e6 / megabytes:8.1f} us/MiB |")
    return rows


def collectives_table(rounds: int) -> list[str]:
    rows = ["| devices | block per device | schedule | one all-reduce | per MiB |",
            "|---|---|---|---|---|"]
    for n in MESHES:
        for nbytes in SIZES:
            rows.extend(collective_rows(n, nbytes, rounds))
    return rows


# ---- 3. MPI allreduce through aotc_runtime.distributed vs mpi4py --------------------------------


def mpi_table(rounds: int, ranks: int = 2) -> list[str]:
    """benchmarks/mpi_allreduce.py's tables, run on `ranks` MPI ranks."""
    from aotc_runtime import distributed

    script = os.path.join(HERE, "mpi_allreduce.py")
    command = distributed.mpiexec_command(ranks, [sys.executable, script, "--rounds",
                                                  str(rounds)])
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.rstrip().splitlines()


SECTIONS = {"dp": data_parallel_table, "collectives": collectives_table, "mpi": mpi_table}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker threads per CPU device (default: IREE's, one per core)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, of {', '.join(SECTIONS)}")
    args = parser.parse_args()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    if args.workers is not None:  # before the first device is created
        import iree.runtime

        iree.runtime.flags.parse_flags(f"--task_topology_group_count={args.workers}")
    workers = "IREE's default" if args.workers is None else args.workers
    print(f"{os.cpu_count()} cores, workers per device: {workers}; median of {args.rounds} "
          f"interleaved rounds; {load_average()}")
    for section in sections:
        print(f"\n## {section}\n")
        print("\n".join(SECTIONS[section](args.rounds)))
    print(f"\n{load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
