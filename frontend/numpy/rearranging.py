"""aotc.numpy functions that rearrange elements: sorting, tile/repeat/roll/pad, diff, diagonals.

Everything here decomposes into core StableHLO ops (slice, pad, concatenate, broadcast, sort, ...)
and needs a static size along the axis it works on.
"""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import (
    INT32,
    flat_axis,
    pad_axis,
    same_type,
    slice_axis,
    static_axis,
    static_shape,
    take_static,
)
from aotc.frontend.numpy.core import astype, broadcast_to, normalize_axis, scalar_like, shape_text
from aotc.frontend.numpy.math import not_equal, remainder, subtract
from aotc.frontend.numpy.math import where as _select
from aotc.frontend.numpy.shape import concatenate, moveaxis, ravel, reshape
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import sort as sort_ops
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer

__all__ = [
    "argsort", "diag", "diagonal", "diff", "meshgrid", "pad", "repeat", "roll", "sort", "tile",
]


# ---- sorting -----------------------------------------------------------------------------------


def _sort_args(name: str, a, axis, order):
    if order is not None:
        raise TracingError(f"{caller_site()}: {name}: order= (sorting structured arrays by "
                           "field) is "
                           "not supported")
    x, axis = flat_axis(a, axis)
    return x, normalize_axis(name, axis, x.ndim)


def _sort_with_index(name: str, keys: Tracer, axis: int) -> tuple[ir.Value, ir.Value]:
    """Stable sort of keys along axis, NaNs last: (sorted keys, int32 positions they came from)."""
    static_shape(name, keys)
    iota = shape_ops.iota(keys.shape, axis, dtypes.to_mlir(INT32))
    comparator = sort_ops.with_index_tiebreak(sort_ops.less_nan_last)
    keys_out, index = sort_ops.sort([keys.value, iota], axis, comparator)
    return keys_out, index


def sort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    """Sorted copy along axis (None: flattened); NaNs go last, like numpy and JAX.

    Example:
        >>> anp.sort(anp.array([3.0, anp.nan, 1.0]))   # [1.0, 3.0, nan]
    """
    x, axis = _sort_args("sort", a, axis, order)
    if dtypes.is_float(x.dtype):  # -0.0 and 0.0 are equal keys: keep their input order
        out, _ = _sort_with_index("sort", x, axis)
    else:
        (out,) = sort_ops.sort([x.value], axis, sort_ops.less_nan_last)
    if descending:
        out = shape_ops.reverse(out, [axis])
    return same_type(out, x)


def argsort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    """Indices (int32) that sort a along axis; stable, NaNs last, like jnp.argsort.

    Example:
        >>> anp.argsort(anp.array([3, 1, 2]))   # [1, 2, 0]
    """
    x, axis = _sort_args("argsort", a, axis, order)
    if not descending:
        return Tracer(_sort_with_index("argsort", x, axis)[1])
    # Sorting the reversed row ascending, then reversing, keeps ties in input order.
    _, index = _sort_with_index("argsort", same_type(shape_ops.reverse(x.value, [axis]), x), axis)
    flipped = Tracer(shape_ops.reverse(index, [axis]))
    return subtract(constant(np.asarray(x.shape[axis] - 1, np.int32)), flipped)


# ---- tile, repeat, roll --------------------------------------------------------------------------


def tile(A, reps):
    """A repeated `reps` times along each axis, like numpy.tile.

    Example:
        >>> anp.tile(anp.array([1, 2]), (2, 2))   # [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    x = to_tracer(A)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    if any(r < 0 for r in reps):
        raise TracingError(f"{caller_site()}: tile: negative repetitions {reps}")
    ndim = max(x.ndim, len(reps))
    x = reshape(x, (1,) * (ndim - x.ndim) + static_shape("tile", x))
    reps = (1,) * (ndim - len(reps)) + reps
    interleaved = [n for pair in zip(reps, x.shape) for n in pair]
    grown = same_type(shape_ops.broadcast_in_dim(x.value, interleaved, range(1, 2 * ndim, 2)), x)
    return reshape(grown, [r * n for r, n in zip(reps, x.shape)])


def repeat(a, repeats, axis=None, *, total_repeat_length=None):
    """Each element repeated, like numpy.repeat; repeats is an int or a static list per element.

    Example:
        >>> anp.repeat(anp.array([1, 2]), [1, 3])   # [1, 2, 2, 2]
    """
    x, axis = flat_axis(a, axis)
    axis = normalize_axis("repeat", axis, x.ndim)
    n = static_axis("repeat", x, axis)
    if isinstance(repeats, Tracer):
        raise TracingError(f"{caller_site()}: repeat: traced repeats give a data-dependent shape; "
                           "pass an int or a list of ints")
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or counts.ndim > 1:
        raise TracingError(f"{caller_site()}: repeat: repeats must be an int or a 1-D list of "
                           "ints, "
                           f"got {repeats!r}")
    if (counts < 0).any():
        raise TracingError(f"{caller_site()}: repeat: negative repeats {repeats!r}")
    if counts.ndim == 1 and counts.size == 1:
        counts = counts[0]
    if counts.ndim == 0:
        r = int(counts)
        shape = list(x.shape)
        grown = [*shape[:axis + 1], r, *shape[axis + 1:]]
        dims = [d for d in range(x.ndim + 1) if d != axis + 1]
        out = same_type(shape_ops.broadcast_in_dim(x.value, grown, dims), x)
        shape[axis] = n * r
        out = reshape(out, shape)
    else:
        if counts.size != n:
            raise TracingError(f"{caller_site()}: repeat: {counts.size} repeats for axis {axis} of "
                               f"size {n} in {shape_text(x.shape)}")
        out = take_static(x, np.repeat(np.arange(n), counts), axis)
    if total_repeat_length is not None and out.shape[axis] != total_repeat_length:
        raise TracingError(f"{caller_site()}: repeat: total_repeat_length={total_repeat_length} "
                           "but "
                           f"the repeats give {out.shape[axis]}")
    return out


def _roll_axis(x: Tracer, shift, axis: int) -> Tracer:
    n = static_axis("roll", x, axis)
    if n == 0:
        return x
    if not isinstance(shift, Tracer):
        return take_static(x, (np.arange(n) - int(shift)) % n, axis)
    # Traced shift: a window of [x, x] starting at (-shift) mod n.
    if shift.ndim != 0 or not dtypes.is_int(shift.dtype):
        raise TracingError(f"{caller_site()}: roll: a traced shift must be an integer scalar, got "
                           f"{shift.dtype}{shape_text(shift.shape)}")
    start = astype(remainder(subtract(0, astype(shift, INT32)), n), INT32)
    doubled = concatenate([x, x], axis)
    zero = constant(np.asarray(0, np.int32))
    starts = [start.value if d == axis else zero.value for d in range(x.ndim)]
    return same_type(shape_ops.dynamic_slice(doubled.value, starts, x.shape), x)


def roll(a, shift, axis=None):
    """Elements shifted along axis (None: the flattened array), wrapping around, like np.roll.

    shift and axis may be tuples; shift may also be a traced integer scalar.

    Example:
        >>> anp.roll(anp.array([1, 2, 3, 4]), 1)   # [4, 1, 2, 3]
    """
    x = to_tracer(a)
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), x.shape)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise TracingError(f"{caller_site()}: roll: {len(shifts)} shifts for {len(axes)} axes")
    static_shape("roll", x)
    for s, ax in zip(shifts, axes):
        x = _roll_axis(x, s, normalize_axis("roll", ax, x.ndim))
    return x


# ---- pad ---------------------------------------------------------------------------------------

_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


def _pairs(name: str, value, ndim: int, what: str) -> np.ndarray:
    """numpy's pad_width broadcasting: int, (n,), (before, after) or one pair per axis."""
    array = np.asarray(value)
    try:
        return np.broadcast_to(array, (ndim, 2))
    except ValueError:
        raise TracingError(f"{caller_site()}: {name}: {what} {value!r} does not fit an array of "
                           "rank "
                           f"{ndim}; give an int, (before, after) or one pair per axis") from None


def pad(array, pad_width, mode="constant", constant_values=0):
    """Pad an array like numpy.pad; modes constant, edge, reflect, symmetric, wrap, empty.

    Example:
        >>> anp.pad(anp.array([1, 2]), (1, 2))                 # [0, 1, 2, 0, 0]
        >>> anp.pad(anp.array([1, 2, 3]), 2, mode="reflect")   # [3, 2, 1, 2, 3, 2, 1]
    """
    x = to_tracer(array)
    if isinstance(pad_width, Tracer):
        raise TracingError(f"{caller_site()}: pad: pad_width must be static ints, not a traced "
                           "array")
    widths = _pairs("pad", pad_width, x.ndim, "pad_width")
    if widths.dtype.kind not in "iu":
        raise TracingError(f"{caller_site()}: pad: pad_width must be integers, got {pad_width!r}")
    if (widths < 0).any():
        raise TracingError(f"{caller_site()}: pad: negative pad_width {pad_width!r} for "
                           f"{shape_text(x.shape)}; slice the array instead")
    widths = widths.astype(int).tolist()
    if mode in ("constant", "empty"):
        return _pad_constant(x, widths, 0 if mode == "empty" else constant_values)
    if mode not in _INDEX_MODES:
        raise TracingError(f"{caller_site()}: pad: mode {mode!r} is not supported; use one of "
                           f"constant, empty, {', '.join(_INDEX_MODES)}")
    for axis, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        n = static_axis("pad", x, axis)
        if n == 0:
            raise TracingError(f"{caller_site()}: pad: mode {mode!r} cannot pad the empty axis "
                               f"{axis} "
                               f"of {shape_text(x.shape)}")
        x = take_static(x, np.pad(np.arange(n), (before, after), mode=mode), axis)
    return x


def _pad_value(value, x: Tracer) -> Tracer:
    value = to_tracer(value)
    if value.ndim != 0:
        raise TracingError(f"{caller_site()}: pad: constant_values must be scalars, got "
                           f"{shape_text(value.shape)}")
    return astype(value, x.dtype)


def _pad_constant(x: Tracer, widths, constant_values) -> Tracer:
    if isinstance(constant_values, Tracer) or np.ndim(constant_values) == 0:
        value = _pad_value(constant_values, x)
        lows, highs = zip(*widths) if widths else ((), ())
        return same_type(shape_ops.pad(x.value, value.value, lows, highs), x)
    values = _pairs("pad", constant_values, x.ndim, "constant_values")
    for axis, ((before, after), (v_before, v_after)) in enumerate(zip(widths, values)):
        x = pad_axis(x, axis, before, 0, _pad_value(v_before.item(), x))
        x = pad_axis(x, axis, 0, after, _pad_value(v_after.item(), x))
    return x


# ---- diff, diagonals, meshgrid -----------------------------------------------------------------


def _edge_values(value, x: Tracer, axis: int) -> Tracer:
    """prepend/append values for diff: scalars broadcast to x's shape with size 1 along axis."""
    value = to_tracer(value)
    if value.ndim == 0:
        shape = list(x.shape)
        shape[axis] = 1
        value = broadcast_to(value, shape)
    return value


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """n-th discrete difference along axis, like numpy.diff (bool arrays give x[i+1] != x[i]).

    Example:
        >>> anp.diff(anp.array([1, 4, 9, 16]))   # [3, 5, 7]
    """
    x = to_tracer(a)
    if x.ndim == 0:
        raise TracingError(f"{caller_site()}: diff needs an array of rank >= 1, got a scalar")
    axis = normalize_axis("diff", axis, x.ndim)
    if n < 0:
        raise TracingError(f"{caller_site()}: diff: order n={n} must be >= 0")
    parts = [_edge_values(prepend, x, axis)] if prepend is not None else []
    parts += [x] + ([_edge_values(append, x, axis)] if append is not None else [])
    x = concatenate(parts, axis) if len(parts) > 1 else x
    for _ in range(n):
        size = static_axis("diff", x, axis)
        if size == 0:
            break
        later, earlier = slice_axis(x, axis, 1, size), slice_axis(x, axis, 0, size - 1)
        x = not_equal(later, earlier) if dtypes.is_bool(x.dtype) else subtract(later, earlier)
    return x


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal at `offset` of the (axis1, axis2) planes, as the last axis, like np.diagonal.

    Example:
        >>> anp.diagonal(anp.arange(9).reshape(3, 3), 1)   # [1, 5]
    """
    x = to_tracer(a)
    if x.ndim < 2:
        raise TracingError(f"{caller_site()}: diagonal needs rank >= 2, got {shape_text(x.shape)}")
    axis1, axis2 = normalize_axis("diagonal", axis1, x.ndim), normalize_axis("diagonal", axis2,
                                                                              x.ndim)
    if axis1 == axis2:
        raise TracingError(f"{caller_site()}: diagonal: axis1 and axis2 are both {axis1}")
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = static_shape("diagonal", x)[-2:]
    k = int(offset)
    length = max(0, min(n, m - k) if k >= 0 else min(n + k, m))
    flat = reshape(x, (*x.shape[:-2], n * m))
    if length == 0:
        return slice_axis(flat, flat.ndim - 1, 0, 0)
    start = k if k >= 0 else -k * m
    return slice_axis(flat, flat.ndim - 1, start, start + (length - 1) * (m + 1) + 1, m + 1)


def diag(v, k=0):
    """A 2-D array with v on diagonal k (v 1-D), or the k-th diagonal of v (v 2-D), like np.diag.

    Example:
        >>> anp.diag(anp.array([1, 2]))   # [[1, 0], [0, 2]]
    """
    x = to_tracer(v)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise TracingError(f"{caller_site()}: diag needs a 1-D or 2-D array, got "
                           f"{shape_text(x.shape)}")
    n = static_axis("diag", x, 0)
    size = n + abs(k)
    line = pad_axis(x, 0, 0, abs(k), scalar_like(0, x))
    # Entry (i, j) is on diagonal k when j - i == k; it holds v[i] (k >= 0) or v[j] (k < 0).
    grid = same_type(shape_ops.broadcast_in_dim(line.value, (size, size), [0 if k >= 0 else 1]), x)
    mask = constant(np.eye(size, size, k, dtype=bool))
    return _select(mask, grid, scalar_like(0, x))


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate arrays from 1-D coordinate vectors, like numpy.meshgrid.

    Example:
        >>> X, Y = anp.meshgrid(anp.arange(3), anp.arange(2))   # both of shape (2, 3)
    """
    if indexing not in ("xy", "ij"):
        raise TracingError(f"{caller_site()}: meshgrid: indexing must be 'xy' or 'ij', got "
                           f"{indexing!r}")
    xs = [ravel(to_tracer(x)) for x in xi]
    shape = [static_axis("meshgrid", x, 0) for x in xs]
    dims = list(range(len(xs)))
    if indexing == "xy" and len(xs) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
        dims[0], dims[1] = 1, 0
    out = []
    for x, d in zip(xs, dims):
        target = shape if not sparse else [n if i == d else 1 for i, n in enumerate(shape)]
        out.append(same_type(shape_ops.broadcast_in_dim(x.value, target, [d]), x))
    return out
