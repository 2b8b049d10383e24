"""aotc.lax's shape helpers (via aotc.frontend.lax.more): broadcasting, slicing and indexing
along one dim, splitting, stacking and tiling.
"""

import builtins
import itertools

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.lax.more_elementwise import _same_dtype
from aotc.frontend.numpy.core import broadcast_shapes as _broadcast_shapes
from aotc.frontend.numpy.core import normalize_axes, normalize_axis, shape_text
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "broadcast",
    "broadcast_like",
    "broadcast_shapes",
    "broadcast_to_rank",
    "broadcasted_iota",
    "collapse",
    "dynamic_index_in_dim",
    "dynamic_slice_in_dim",
    "dynamic_update_index_in_dim",
    "dynamic_update_slice_in_dim",
    "full",
    "full_like",
    "index_in_dim",
    "rev",
    "select_n",
    "slice_in_dim",
    "split",
    "stack",
    "tile",
    "unstack",
]


# ---- shapes --------------------------------------------------------------------------------------


def broadcast(operand, sizes):
    """operand broadcast to shape (*sizes, *operand.shape).

    Example:
        >>> lax.broadcast(anp.ones(3), (2,)).shape   # (2, 3)
    """
    x = to_tracer(operand)
    sizes = tuple(int(s) for s in sizes)
    dims = tuple(range(len(sizes), len(sizes) + x.ndim))
    return Tracer(shape_ops.broadcast_in_dim(x.value, sizes + x.shape, dims), x.weak_type)


def broadcast_to_rank(x, rank: int):
    """x with leading dims of size 1 added up to `rank`.

    Example:
        >>> lax.broadcast_to_rank(anp.ones(3), 3).shape   # (1, 1, 3)
    """
    x = to_tracer(x)
    return anp.reshape(x, (1,) * builtins.max(int(rank) - x.ndim, 0) + x.shape)


def broadcast_like(arr, like_arr):
    """arr broadcast (numpy rules) to the shape of like_arr.

    Example:
        >>> lax.broadcast_like(anp.ones(3), anp.zeros((2, 3))).shape   # (2, 3)
    """
    return anp.broadcast_to(arr, to_tracer(like_arr).shape)


def broadcast_shapes(*shapes) -> tuple:
    """The shape numpy broadcasting gives shapes (static ints).

    Example:
        >>> lax.broadcast_shapes((3, 1), (1, 4))   # (3, 4)
    """
    return tuple(_broadcast_shapes("broadcast_shapes", *[tuple(s) for s in shapes]))


def broadcasted_iota(dtype, shape, dimension: int):
    """An array of `shape` counting 0, 1, ... along `dimension`.

    Example:
        >>> lax.broadcasted_iota(anp.int32, (2, 3), 1)   # [[0, 1, 2], [0, 1, 2]]
    """
    shape = tuple(int(s) for s in shape)
    dimension = normalize_axis("broadcasted_iota", dimension, len(shape))
    return Tracer(shape_ops.iota(shape, dimension, dtypes.to_mlir(dtypes.canonicalize(dtype))))


def collapse(operand, start_dimension: int, stop_dimension: int | None = None):
    """operand with dims [start, stop) merged into one.

    Example:
        >>> lax.collapse(anp.ones((2, 3, 4)), 1).shape   # (2, 12)
    """
    x = to_tracer(operand)
    start, stop = builtins.slice(start_dimension, stop_dimension).indices(x.ndim)[:2]
    size = int(np.prod(x.shape[start:stop], dtype=np.int64))
    return anp.reshape(x, (*x.shape[:start], size, *x.shape[stop:]))


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with fill_value (of dtype, else fill_value's dtype).

    Example:
        >>> lax.full((2, 2), 3.0)
    """
    return anp.full(tuple(shape) if np.ndim(shape) else (int(shape),), fill_value, dtype)


def full_like(x, fill_value, dtype=None, shape=None):
    """An array like x (or of `shape`) filled with fill_value, of x's dtype unless given.

    Example:
        >>> lax.full_like(anp.ones((2, 3)), 7)
    """
    x = to_tracer(x)
    shape = x.shape if shape is None else tuple(shape)
    return anp.full(shape, fill_value, x.dtype if dtype is None else dtype)


def slice_in_dim(operand, start_index, limit_index, stride: int = 1, axis: int = 0):
    """operand[start:limit:stride] along one axis; None or negative bounds as in Python.

    Example:
        >>> lax.slice_in_dim(anp.arange(6), 1, 5, 2)   # [1, 3]
    """
    x = to_tracer(operand)
    axis = normalize_axis("slice_in_dim", axis, x.ndim)
    n = x.shape[axis]
    start = 0 if start_index is None else int(start_index) + (n if start_index < 0 else 0)
    limit = n if limit_index is None else int(limit_index) + (n if limit_index < 0 else 0)
    starts, limits, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
    starts[axis], limits[axis], strides[axis] = start, limit, int(stride)
    return Tracer(shape_ops.slice(x.value, starts, limits, strides), x.weak_type)


def index_in_dim(operand, index: int, axis: int = 0, keepdims: bool = True):
    """operand[index] along one axis (static index), keeping that axis unless keepdims=False.

    Example:
        >>> lax.index_in_dim(anp.ones((3, 4)), 1, keepdims=False).shape   # (4,)
    """
    x = to_tracer(operand)
    axis = normalize_axis("index_in_dim", axis, x.ndim)
    index = int(index) + (x.shape[axis] if index < 0 else 0)
    out = slice_in_dim(x, index, index + 1, 1, axis)
    return out if keepdims else anp.squeeze(out, axis)


def _dynamic_starts(x: Tracer, axis: int, start) -> list:
    starts = [np.int32(0)] * x.ndim
    starts[axis] = start
    return starts


def dynamic_slice_in_dim(operand, start_index, slice_size: int, axis: int = 0):
    """lax.dynamic_slice along one axis: slice_size elements from a traced start.

    Example:
        >>> lax.dynamic_slice_in_dim(x, i, 2, axis=1)
    """
    from aotc.frontend.lax import dynamic_slice

    x = to_tracer(operand)
    axis = normalize_axis("dynamic_slice_in_dim", axis, x.ndim)
    sizes = list(x.shape)
    sizes[axis] = int(slice_size)
    return dynamic_slice(x, _dynamic_starts(x, axis, start_index), sizes)


def dynamic_update_slice_in_dim(operand, update, start_index, axis: int):
    """lax.dynamic_update_slice along one axis, at a traced start.

    Example:
        >>> lax.dynamic_update_slice_in_dim(x, rows, i, axis=0)
    """
    from aotc.frontend.lax import dynamic_update_slice

    x = to_tracer(operand)
    axis = normalize_axis("dynamic_update_slice_in_dim", axis, x.ndim)
    return dynamic_update_slice(x, update, _dynamic_starts(x, axis, start_index))


def dynamic_index_in_dim(operand, index, axis: int = 0, keepdims: bool = True):
    """operand[index] along one axis at a traced index.

    Example:
        >>> lax.dynamic_index_in_dim(x, i, axis=0, keepdims=False)
    """
    x = to_tracer(operand)
    axis = normalize_axis("dynamic_index_in_dim", axis, x.ndim)
    out = dynamic_slice_in_dim(x, index, 1, axis)
    return out if keepdims else anp.squeeze(out, axis)


def dynamic_update_index_in_dim(operand, update, index, axis: int):
    """operand with operand[index] (along axis, traced index) replaced by update, which has
    that axis of size 1 or lacks it.

    Example:
        >>> lax.dynamic_update_index_in_dim(x, row, i, axis=0)
    """
    x = to_tracer(operand)
    axis = normalize_axis("dynamic_update_index_in_dim", axis, x.ndim)
    update = to_tracer(update)
    if update.ndim == x.ndim - 1:
        update = anp.expand_dims(update, axis)
    return dynamic_update_slice_in_dim(x, update, index, axis)


def rev(operand, dimensions):
    """operand reversed along each of `dimensions`.

    Example:
        >>> lax.rev(anp.arange(3), (0,))   # [2, 1, 0]
    """
    x = to_tracer(operand)
    dims = normalize_axes("rev", tuple(dimensions), x.ndim)
    return Tracer(shape_ops.reverse(x.value, dims), x.weak_type) if dims else x


def select_n(which, *cases):
    """cases[which] elementwise: which is boolean (two cases) or int32 in [0, len(cases)).

    Example:
        >>> lax.select_n(anp.array([0, 2, 1]), a, b, c)
    """
    which = to_tracer(which)
    if not cases:
        raise TracingError(f"{caller_site()}: lax.select_n needs at least one case")
    cases = _same_dtype("select_n", *cases)
    if dtypes.is_bool(which.dtype):
        if len(cases) > 2:
            raise TracingError(f"{caller_site()}: lax.select_n: a boolean `which` picks from "
                               f"two cases, got {len(cases)}")
        return cases[0] if len(cases) == 1 else anp.where(which, cases[1], cases[0])
    out = cases[-1]
    for k in builtins.range(len(cases) - 2, -1, -1):
        out = anp.where(which == k, cases[k], out)
    return out


def split(operand, sizes, axis: int = 0):
    """operand cut along axis into pieces of the given sizes (which sum to that dim).

    Example:
        >>> a, b = lax.split(anp.arange(5), (2, 3))
    """
    x = to_tracer(operand)
    axis = normalize_axis("split", axis, x.ndim)
    sizes = [int(s) for s in sizes]
    if builtins.sum(sizes) != x.shape[axis]:
        raise TracingError(f"{caller_site()}: lax.split: sizes {sizes} do not sum to dim {axis} "
                           f"of {shape_text(x.shape)}")
    bounds = np.cumsum([0, *sizes])
    return [slice_in_dim(x, int(lo), int(hi), 1, axis)
            for lo, hi in itertools.pairwise(bounds)]


def stack(operands, axis: int = 0):
    """operands (of one shape) stacked along a new axis.

    Example:
        >>> lax.stack([a, b], axis=1)
    """
    return anp.stack(list(operands), axis=axis)


def unstack(x, axis: int = 0):
    """The slices of x along axis, as a tuple.

    Example:
        >>> first, second = lax.unstack(anp.ones((2, 3)))
    """
    x = to_tracer(x)
    axis = normalize_axis("unstack", axis, x.ndim)
    return tuple(index_in_dim(x, i, axis, keepdims=False) for i in builtins.range(x.shape[axis]))


def tile(operand, reps):
    """operand repeated reps[i] times along dim i (len(reps) == operand.ndim).

    Example:
        >>> lax.tile(anp.arange(2), (3,))   # [0, 1, 0, 1, 0, 1]
    """
    return anp.tile(operand, tuple(int(r) for r in reps))
