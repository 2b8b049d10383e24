"""One MPI rank of tests/runtime/test_distributed.py's collective checks.

    mpiexec -n 2 python tests/runtime/mpi_collectives.py OUT_DIR

Each rank builds its own arrays (`rank_arrays(rank)`, deterministic, so the test recomputes
every rank's inputs with numpy), reduces and broadcasts them with aotc_runtime.distributed, and
writes what it got to OUT_DIR/rank<r>.npz: the reduced arrays, the number of MPI calls each
collective made, and the messages of the errors it was asked to provoke. Importing this file
does not import mpi4py.
"""

import os
import sys

import numpy as np

SMALL_BUCKET = 4096  # bytes: forces many buckets out of the mixed tree
MIXED_DTYPES = ("float32", "float64", "int32", "int64", "float16", "complex64", "uint8")


def rank_arrays(rank: int, complex_arrays: bool = True) -> dict:
    """This rank's inputs: a pytree of many small arrays of mixed dtypes (bucketed), two
    arrays larger than a bucket (one contiguous, reduced in place; one strided) and a small
    strided view; complex arrays become float32 ones without complex_arrays."""
    shapes = np.random.default_rng(0)  # the same shapes on every rank, values per rank
    rng = np.random.default_rng(100 + rank)
    small = []
    for i in range(240):
        dtype = np.dtype(MIXED_DTYPES[i % len(MIXED_DTYPES)])
        if dtype.kind == "c" and not complex_arrays:
            dtype = np.dtype(np.float32)
        shape = tuple(shapes.integers(1, 6, size=i % 3))
        if dtype.kind == "c":
            value = rng.normal(size=shape) + 1j * rng.normal(size=shape)
        elif dtype.kind == "f":
            value = rng.normal(size=shape)
        else:
            value = rng.integers(0, 10, size=shape)
        small.append(np.asarray(value).astype(dtype))
    large = rng.normal(size=(64, 100)).astype(np.float32)  # 25,600 bytes > SMALL_BUCKET
    strided = rng.normal(size=(6, 8))[:, ::2]  # not contiguous: packed into a bucket
    large_strided = rng.normal(size=(64, 200))[:, ::2]  # alone, through a contiguous copy
    return {"small": small, "large": large, "strided": strided, "large_strided": large_strided,
            "scalar": np.full((), rank + 0.5)}


def float_arrays(rank: int) -> dict:
    """Float-only inputs for op='mean' (integers cannot be averaged in place)."""
    rng = np.random.default_rng(200 + rank)
    return {"w": rng.normal(size=(3, 5)).astype(np.float32), "b": rng.normal(size=7),
            "z": (rng.normal(size=4) + 1j).astype(np.complex64)}


def flat(tree, prefix: str = "") -> dict:
    """{'small/3': array, ...}: a pytree's leaves by path, for np.savez."""
    if isinstance(tree, dict):
        return {k: v for key in sorted(tree) for k, v in flat(tree[key], f"{prefix}{key}/").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, item in enumerate(tree) for k, v in flat(item, f"{prefix}{i}/").items()}
    return {prefix.rstrip("/"): np.asarray(tree)}


class CountingComm:
    """The communicator, counting the Allreduce and Bcast calls that move array data."""

    def __init__(self, comm):
        self.comm = comm
        self.calls = {"Allreduce": 0, "Bcast": 0}

    def Allreduce(self, *args, **kwargs):
        self.calls["Allreduce"] += 1
        return self.comm.Allreduce(*args, **kwargs)

    def Bcast(self, *args, **kwargs):
        self.calls["Bcast"] += 1
        return self.comm.Bcast(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.comm, name)


def _error(fn) -> str:
    from aotc_runtime import InputError

    try:
        fn()
    except InputError as exc:
        return str(exc)
    return "no error"


def main(out_dir: str) -> int:
    from mpi4py import MPI

    from aotc_runtime import distributed

    comm = CountingComm(MPI.COMM_WORLD)
    world = distributed.World(comm, bucket_bytes=SMALL_BUCKET)
    rank, results = world.rank, {}

    for op in ("sum", "max", "min"):
        tree = rank_arrays(rank, complex_arrays=op == "sum")  # MPI has no complex max/min
        before = comm.calls["Allreduce"]
        assert world.allreduce_(tree, op) is tree
        results.update({f"{op}/{k}": v for k, v in flat(tree).items()})
        results[f"calls/{op}"] = np.int64(comm.calls["Allreduce"] - before)
    mean = world.allreduce_(float_arrays(rank), "mean")
    results.update({f"mean/{k}": v for k, v in flat(mean).items()})

    tree = rank_arrays(rank)
    before = comm.calls["Bcast"]
    world.broadcast_(tree, root=1)
    results.update({f"bcast/{k}": v for k, v in flat(tree).items()})
    results["calls/bcast"] = np.int64(comm.calls["Bcast"] - before)

    # the default world (MPI_COMM_WORLD, 4 MiB buckets) through the module-level functions
    default = distributed.allreduce_({"a": np.full(3, rank + 1.0)}, "sum")
    results["default/a"] = default["a"]
    results["world_size"] = np.int64(distributed.init().size)
    results["library"] = np.array(MPI.Get_library_version().rstrip("\0"))

    mismatched = {"x": np.zeros(3 + rank, np.float32)}  # rank 1 passes a longer array
    errors = {
        "mismatch": _error(lambda: world.allreduce_(mismatched)),
        "mean_of_ints": _error(lambda: world.allreduce_({"n": np.arange(3)}, "mean")),
        "read_only": _error(lambda: world.allreduce_({"r": _read_only()})),
        "not_array": _error(lambda: world.allreduce_({"f": 1.5})),
        "bool": _error(lambda: world.allreduce_({"m": np.ones(2, bool)})),
        "complex_max": _error(lambda: world.allreduce_({"c": np.ones(2, np.complex64)}, "max")),
        "unknown_op": _error(lambda: world.allreduce_({"u": np.ones(2)}, "prod")),
    }
    results.update({f"error/{k}": np.array(v) for k, v in errors.items()})
    np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **results)
    return 0


def _read_only() -> np.ndarray:
    array = np.zeros(2)
    array.flags.writeable = False
    return array


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
