"""MPI allreduce bandwidth: aotc_runtime.distributed against raw mpi4py, and bucketing.

    mpiexec -n 2 .venv/bin/python benchmarks/mpi_allreduce.py [--rounds 5]
    (as root, or with more ranks than cores, take the command line from
     aotc_runtime.distributed.mpiexec_command(2, [sys.executable, "benchmarks/mpi_allreduce.py"]))

Two tables, printed by rank 0 (median over interleaved rounds of the slowest rank's time per
call):
1. one float32 array of 1 KB .. 64 MB, summed in place: mpi4py's
   `comm.Allreduce(MPI.IN_PLACE, x)` against `World.allreduce_(x)`; bandwidth = bytes / time
   (each rank's array, the "algorithm bandwidth");
2. many small arrays (a gradient pytree of N arrays of B bytes): one `allreduce_` of the whole
   tree (packed into 4 MiB buckets) against one raw `Allreduce` per array.
Every variant is first checked against the expected sums.
"""

import argparse
import time

import numpy as np
from mpi4py import MPI

from aotc_runtime import distributed

SIZES = [1 << k for k in range(10, 27, 2)]  # 1 KiB .. 64 MiB
MANY = [(1000, 1 << 10), (1000, 1 << 12), (200, 1 << 14), (100, 1 << 16)]  # (arrays, bytes)


def iterations(nbytes: int) -> int:
    """Calls per timed round: about 64 MiB moved, between 2 and 2000 calls (the same on
    every rank, so the collective calls pair up)."""
    return int(min(2000, max(2, (64 << 20) // nbytes)))


def times_per_call(world, fns: dict, calls: int, rounds: int) -> dict:
    """Median over rounds of the slowest rank's seconds per call, for each function; the
    functions take turns within every round, so load from other processes hits them alike."""
    samples: dict = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            world.barrier()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            elapsed = (time.perf_counter() - start) / calls
            samples[name].append(world.comm.allreduce(elapsed, op=MPI.MAX))
    return {name: float(np.median(s)) for name, s in samples.items()}


def _size(nbytes: int) -> str:
    return f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"


def one_array(world, rounds: int) -> list[str]:
    rows = ["| array | raw mpi4py Allreduce | aotc allreduce_ | aotc / raw |",
            "|---|---|---|---|"]
    comm = world.comm
    for nbytes in SIZES:
        x = np.full(nbytes // 4, world.rank + 1, np.float32)
        expected = world.size * (world.size + 1) / 2
        check = x.copy()
        world.allreduce_(check)
        assert np.all(check == expected), "allreduce_ gave a wrong sum"

        def raw(x=x):
            comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)

        def ours(x=x):
            world.allreduce_(x)

        times = times_per_call(world, {"raw": raw, "ours": ours}, iterations(nbytes), rounds)
        t_raw, t_ours = times["raw"], times["ours"]
        rows.append(f"| {_size(nbytes)} | {t_raw * 1e6:9.1f} us, {nbytes / t_raw / 1e9:6.2f} GB/s "
                    f"| {t_ours * 1e6:9.1f} us, {nbytes / t_ours / 1e9:6.2f} GB/s "
                    f"| {t_ours / t_raw:.2f} |")
    return rows


class CountingComm:
    """A communicator that counts its Allreduce calls (how many buckets a tree took)."""

    def __init__(self, comm):
        self.comm, self.allreduces = comm, 0

    def Allreduce(self, *args, **kwargs):
        self.allreduces += 1
        return self.comm.Allreduce(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.comm, name)


def many_arrays(world, rounds: int) -> list[str]:
    rows = ["| tree | raw Allreduce per array | aotc allreduce_ (bucketed) | MPI calls "
            "| speed-up |", "|---|---|---|---|---|"]
    comm = world.comm
    counted = distributed.World(CountingComm(comm))
    for count, nbytes in MANY:
        tree = [np.full(nbytes // 4, world.rank + 1, np.float32) for _ in range(count)]
        check = [a.copy() for a in tree]
        counted.comm.allreduces = 0
        counted.allreduce_(check)
        assert all(np.all(a == world.size * (world.size + 1) / 2) for a in check)
        buckets = counted.comm.allreduces

        def raw(tree=tree):
            for a in tree:
                comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)

        def ours(tree=tree):
            world.allreduce_(tree)

        calls = max(2, iterations(count * nbytes) // 4)
        times = times_per_call(world, {"raw": raw, "ours": ours}, calls, rounds)
        t_raw, t_ours = times["raw"], times["ours"]
        total = count * nbytes
        rows.append(f"| {count} x {_size(nbytes)} | {t_raw * 1e3:8.2f} ms, "
                    f"{total / t_raw / 1e9:5.2f} GB/s | {t_ours * 1e3:8.2f} ms, "
                    f"{total / t_ours / 1e9:5.2f} GB/s | {count} vs {buckets} "
                    f"| {t_raw / t_ours:.1f}x |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    world = distributed.init()
    tables = [one_array(world, args.rounds), many_arrays(world, args.rounds)]
    if world.rank == 0:
        library = MPI.Get_library_version().rstrip("\0").split(",")[0]  # "Open MPI v5.0.11"
        print(f"{world.size} ranks, {library}; "
              f"median of {args.rounds} rounds, the slowest rank's time per call")
        for table in tables:
            print()
            print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
