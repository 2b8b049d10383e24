"""Collectives over named mapped axes, with JAX's signatures and semantics (jax.lax.psum, ...).

Each emits one `@aotc.collective` op (frontend/ops/spmd.py) of its tiled form; shard_map's
unroller or vmap's batching rule resolves it. Outside a mapped context they raise.

Example:
    >>> def step(w, x):               # inside aotc.shard_map(step, mesh=mesh, ...)
    ...     g = aotc.grad(loss)(w, x)
    ...     return aotc.lax.pmean(g, "data")
"""

from aotc.frontend.core import tree
from aotc.frontend.core.ir import shape_of
from aotc.frontend.core.mesh import ShardingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import spmd as spmd_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.sharding.context import axis_names, axis_size
from aotc.frontend.trace.tracer import Tracer, to_tracer


def _emit(kind: str, x, names, size: int, **params) -> Tracer:
    t = to_tracer(x)
    return Tracer(spmd_ops.collective(kind, t.value, names, size, **params), t.weak_type)


def _reduce(kind: str, x, axis_name) -> object:
    names = axis_names(axis_name)
    size = axis_size(names, kind)
    return tree.map(lambda leaf: _emit(kind, leaf, names, size), x)


def psum(x, axis_name):
    """The sum of x over the members of the mapped axes (a pytree: leaf by leaf)."""
    return _reduce("psum", x, axis_name)


def pmax(x, axis_name):
    """The maximum of x over the members of the mapped axes."""
    return _reduce("pmax", x, axis_name)


def pmin(x, axis_name):
    """The minimum of x over the members of the mapped axes."""
    return _reduce("pmin", x, axis_name)


def pmean(x, axis_name):
    """The mean of x over the members of the mapped axes: psum(x) / their number."""
    names = axis_names(axis_name)
    size = axis_size(names, "pmean")

    def mean(leaf):
        total = _emit("psum", leaf, names, size)
        return Tracer(ew.divide(total.value, values.full_like(total.value, size)),
                      total.weak_type)

    return tree.map(mean, x)


def _axis(axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < rank:
        raise ShardingError(f"{caller_site()}: {what}: axis {axis} is out of range for rank "
                            f"{rank}")
    return axis % rank


def _insert(v, dim: int):
    shape = list(shape_of(v))
    shape.insert(dim, 1)
    return shape_ops.reshape(v, shape)


def _drop(v, dim: int):
    shape = list(shape_of(v))
    del shape[dim]
    return shape_ops.reshape(v, shape)


def all_gather(x, axis_name, *, axis: int = 0, tiled: bool = False):
    """Every member's x, stacked along a new axis `axis` (tiled: concatenated along `axis`),
    in member order."""
    names = axis_names(axis_name)
    size = axis_size(names, "all_gather")

    def gather(leaf):
        t = to_tracer(leaf)
        dim = _axis(axis, t.ndim + (0 if tiled else 1), "all_gather")
        v = t.value if tiled else _insert(t.value, dim)
        return _emit("all_gather", Tracer(v, t.weak_type), names, size, dim=dim)

    return tree.map(gather, x)


def psum_scatter(x, axis_name, *, scatter_dimension: int = 0, tiled: bool = False):
    """Member k gets block k (along scatter_dimension) of the sum over members; untiled, that
    dimension's size must equal the number of members and is dropped."""
    names = axis_names(axis_name)
    size = axis_size(names, "psum_scatter")
    t = to_tracer(x)
    dim = _axis(scatter_dimension, t.ndim, "psum_scatter")
    if not tiled and t.shape[dim] != size:
        raise ShardingError(f"{caller_site()}: psum_scatter: dimension {dim} of shape "
                            f"{t.shape} must equal the {size} members of {names} (or pass "
                            "tiled=True)")
    out = _emit("psum_scatter", t, names, size, dim=dim)
    return out if tiled else Tracer(_drop(out.value, dim), out.weak_type)


def ppermute(x, axis_name, perm):
    """Member dst gets member src's x for each (src, dst) in perm; members no pair sends to get
    zeros."""
    names = axis_names(axis_name)
    size = axis_size(names, "ppermute")
    pairs = [[int(s), int(d)] for s, d in perm]
    sources, targets = [s for s, _ in pairs], [d for _, d in pairs]
    if (len(set(sources)) != len(sources) or len(set(targets)) != len(targets)
            or any(not 0 <= i < size for i in sources + targets)):
        raise ShardingError(f"{caller_site()}: ppermute: perm {perm} must pair distinct "
                            f"sources with distinct destinations, each in 0..{size - 1}")
    return tree.map(lambda leaf: _emit("ppermute", leaf, names, size, perm=pairs), x)


def all_to_all(x, axis_name, split_axis: int, concat_axis: int, *, tiled: bool = False):
    """Split x along split_axis into one chunk per member, send chunk k to member k, and
    concatenate what arrives along concat_axis (jax.lax.all_to_all; untiled, split_axis's size
    equals the number of members and the split axis moves to concat_axis)."""
    names = axis_names(axis_name)
    size = axis_size(names, "all_to_all")
    t = to_tracer(x)
    split = _axis(split_axis, t.ndim, "all_to_all")
    concat = _axis(concat_axis, t.ndim, "all_to_all")
    if tiled:
        return _emit("all_to_all", t, names, size, split=split, concat=concat)
    if t.shape[split] != size:
        raise ShardingError(f"{caller_site()}: all_to_all: split_axis {split} of shape "
                            f"{t.shape} must equal the {size} members of {names} (or pass "
                            "tiled=True)")
    v = t.value
    if split < concat:  # as JAX: concat_axis counts positions after split_axis is removed
        concat += 1
        v = _insert(v, concat)
    elif concat < split:
        v = _insert(v, concat)
        split += 1
    out = spmd_ops.collective("all_to_all", v, names, size, split=split, concat=concat)
    if split != concat:
        out = _drop(out, split)
    return Tracer(out, t.weak_type)


def axis_index(axis_name) -> Tracer:
    """This member's index along the mapped axes (int32; mixed radix over several names)."""
    names = axis_names(axis_name)
    size = axis_size(names, "axis_index")
    return Tracer(spmd_ops.collective("axis_index", None, names, size))


__all__ = ["all_gather", "all_to_all", "axis_index", "pmax", "pmean", "pmin", "ppermute",
           "psum", "psum_scatter"]
