"""More aotc.numpy functions: cumulative ops, sorting, tile/repeat/roll/pad, diff, diagonals.

Everything here decomposes into core StableHLO ops (slice, pad, concatenate, broadcast, sort, ...)
and needs a static size along the axis it works on.
"""

import numpy as np

from aotc.frontend import dtypes
from aotc.frontend.errors import TracingError
from aotc.frontend.ir import ir
from aotc.frontend.np_core import astype, normalize_axis, scalar_like, shape_text
from aotc.frontend.np_math import isnan, not_equal, remainder, subtract
from aotc.frontend.np_math import where as _select
from aotc.frontend.np_reductions import reduction_identity
from aotc.frontend.np_reductions import sum as _sum
from aotc.frontend.np_shape import concatenate, moveaxis, ravel, reshape
from aotc.frontend.ops import ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import sort as sort_ops
from aotc.frontend.registry import where
from aotc.frontend.tracer import Tracer, constant, to_tracer

__all__ = [
    "argsort", "count_nonzero", "cummax", "cummin", "cumprod", "cumsum", "diag", "diagonal",
    "diff", "meshgrid", "nancumprod", "nancumsum", "nanmean", "nansum", "pad", "repeat", "roll",
    "sort", "tile",
]

_INT32 = dtypes.int32


def _same(value, like: Tracer) -> Tracer:
    return Tracer(value, like.weak_type)


def _static_axis(name: str, x: Tracer, axis: int) -> int:
    """The static size of x along axis (dynamic sizes are refused with a clear message)."""
    if x.shape[axis] is None:
        raise TracingError(f"{where()}: {name}: axis {axis} of {shape_text(x.shape)} is dynamic; "
                           f"{name} needs a static size along the axis it works on")
    return x.shape[axis]


def _static_shape(name: str, x: Tracer) -> tuple:
    if None in x.shape:
        raise TracingError(f"{where()}: {name} of an array with dynamic dims "
                           f"{shape_text(x.shape)} is not supported; give it a static shape")
    return x.shape


def _flat_axis(x, axis):
    """(x, axis) with axis=None meaning 'the flattened array, axis 0'."""
    x = to_tracer(x)
    if axis is None or x.ndim == 0:
        return ravel(x), 0
    return x, axis


def _slice_axis(x: Tracer, axis: int, lo: int, hi: int, step: int = 1) -> Tracer:
    start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
    start[axis], limit[axis], strides[axis] = lo, hi, step
    return _same(shape_ops.slice(x.value, start, limit, strides), x)


def _pad_axis(x: Tracer, axis: int, low: int, high: int, value: Tracer) -> Tracer:
    lows, highs = [0] * x.ndim, [0] * x.ndim
    lows[axis], highs[axis] = low, high
    return _same(shape_ops.pad(x.value, value.value, lows, highs), x)


def _broadcast_axis(x: Tracer, axis: int, size: int) -> Tracer:
    """x (of size 1 along axis) repeated `size` times along axis."""
    shape = list(x.shape)
    shape[axis] = size
    return _same(shape_ops.broadcast_in_dim(x.value, shape, range(x.ndim)), x)


def _runs(indices: np.ndarray):
    """Split static indices into runs (first, step, length) with step -1, 0 or +1."""
    runs, i, n = [], 0, len(indices)
    while i < n:
        step = int(indices[i + 1] - indices[i]) if i + 1 < n else 1
        step = step if step in (-1, 0, 1) else 1
        j = i + 1
        while j < n and indices[j] - indices[j - 1] == step:
            j += 1
        runs.append((int(indices[i]), step, j - i))
        i = j
    return runs


def _take_static(x: Tracer, indices, axis: int) -> Tracer:
    """x[..., indices, ...] along axis for static indices, as slices of runs (no gather)."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        return _slice_axis(x, axis, 0, 0)
    pieces = []
    for first, step, length in _runs(indices):
        if step == 1:
            pieces.append(_slice_axis(x, axis, first, first + length))
        elif step == -1:
            piece = _slice_axis(x, axis, first - length + 1, first + 1)
            pieces.append(_same(shape_ops.reverse(piece.value, [axis]), piece))
        else:
            pieces.append(_broadcast_axis(_slice_axis(x, axis, first, first + 1), axis, length))
    return _same(shape_ops.concatenate([p.value for p in pieces], axis), x)


# ---- cumulative reductions: Hillis-Steele scan, log2(n) shifted combines ----------------------


def _scan(x: Tracer, axis: int, combine, identity) -> Tracer:
    """Inclusive scan along axis: ceil(log2 n) rounds of x = combine(x, x shifted by 2^k)."""
    n = _static_shape("cumulative op", x)[axis]
    fill = scalar_like(identity, x)
    shift = 1
    while shift < n:
        shifted = _pad_axis(_slice_axis(x, axis, 0, n - shift), axis, shift, 0, fill)
        x = _same(combine(x.value, shifted.value), x)
        shift *= 2
    return x


def _combiner(kind: str, dt: np.dtype):
    if dtypes.is_bool(dt) and kind in ("max", "min"):
        return ew.or_ if kind == "max" else ew.and_
    return {"sum": ew.add, "prod": ew.multiply, "max": ew.maximum, "min": ew.minimum}[kind]


def _cumulative(kind: str, x, axis, dtype) -> Tracer:
    """JAX's jnp.cum*: bool input accumulates in int32; dtype=bool accumulates x != 0 in int32."""
    x, axis = _flat_axis(x, axis)
    axis = normalize_axis(f"cum{kind}", axis, x.ndim)
    if dtype is None:
        result = _INT32 if dtypes.is_bool(x.dtype) and kind in ("sum", "prod") else x.dtype
        compute = result
    elif dtypes.canonicalize(dtype) == dtypes.bool_:
        result, compute = dtypes.bool_, _INT32
        x = x if dtypes.is_bool(x.dtype) else not_equal(x, 0)
    else:
        result = compute = dtypes.canonicalize(dtype)
    x = astype(x, compute) if x.dtype != compute else x
    out = _scan(x, axis, _combiner(kind, compute), reduction_identity(kind, compute))
    return astype(out, result) if result != compute else out


def cumsum(a, axis=None, dtype=None):
    """Cumulative sum along axis (None: the flattened array), like jnp.cumsum.

    Example:
        >>> anp.cumsum(x, axis=1)   # x = [[1, 2, 3], [4, 5, 6]] -> [[1, 3, 6], [4, 9, 15]]
    """
    return _cumulative("sum", a, axis, dtype)


def cumprod(a, axis=None, dtype=None):
    """Cumulative product along axis (None: the flattened array), like jnp.cumprod.

    Example:
        >>> anp.cumprod(anp.array([1, 2, 3, 4]))   # [1, 2, 6, 24]
    """
    return _cumulative("prod", a, axis, dtype)


def cummax(a, axis=None):
    """Running maximum along axis (NaN propagates), like jax.lax.cummax / np.maximum.accumulate.

    Example:
        >>> anp.cummax(anp.array([1, 3, 2, 5]))   # [1, 3, 3, 5]
    """
    return _cumulative("max", a, axis, None)


def cummin(a, axis=None):
    """Running minimum along axis (NaN propagates), like np.minimum.accumulate.

    Example:
        >>> anp.cummin(anp.array([4, 3, 5, 1]))   # [4, 3, 3, 1]
    """
    return _cumulative("min", a, axis, None)


def _nan_to(x, value) -> Tracer:
    x = to_tracer(x)
    return _select(isnan(x), value, x) if dtypes.is_float(x.dtype) else x


def nancumsum(a, axis=None, dtype=None):
    """cumsum with NaNs counted as zero."""
    return cumsum(_nan_to(a, 0), axis, dtype)


def nancumprod(a, axis=None, dtype=None):
    """cumprod with NaNs counted as one."""
    return cumprod(_nan_to(a, 1), axis, dtype)


def nansum(a, axis=None, dtype=None, keepdims=False):
    """Sum with NaNs counted as zero, like numpy.nansum.

    Example:
        >>> anp.nansum(anp.array([1.0, anp.nan, 2.0]))   # 3.0
    """
    return _sum(_nan_to(a, 0), axis, dtype, keepdims)


def nanmean(a, axis=None, dtype=None, keepdims=False):
    """Mean of the non-NaN elements (NaN where there are none), like numpy.nanmean.

    Example:
        >>> anp.nanmean(anp.array([1.0, anp.nan, 3.0]))   # 2.0
    """
    from aotc.frontend.np_core import promote
    from aotc.frontend.np_math import divide, logical_not

    (x,) = promote("nanmean", a, inexact=True)
    if dtype is not None:
        x = astype(x, dtype)
    total = nansum(x, axis, keepdims=keepdims)
    count = _sum(logical_not(isnan(x)), axis, x.dtype, keepdims)
    return divide(total, count)


def count_nonzero(a, axis=None, keepdims=False):
    """The number of nonzero elements along axis, as int32.

    Example:
        >>> anp.count_nonzero(anp.array([[0, 1], [2, 0]]), axis=0)   # [1, 1]
    """
    return _sum(not_equal(a, 0), axis, _INT32, keepdims)


# ---- sorting -----------------------------------------------------------------------------------


def _sort_args(name: str, a, axis, order):
    if order is not None:
        raise TracingError(f"{where()}: {name}: order= (sorting structured arrays by field) is "
                           "not supported")
    x, axis = _flat_axis(a, axis)
    return x, normalize_axis(name, axis, x.ndim)


def _sort_with_index(name: str, keys: Tracer, axis: int) -> tuple[ir.Value, ir.Value]:
    """Stable sort of keys along axis, NaNs last: (sorted keys, int32 positions they came from)."""
    _static_shape(name, keys)
    iota = shape_ops.iota(keys.shape, axis, dtypes.to_mlir(_INT32))
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
    return _same(out, x)


def argsort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    """Indices (int32) that sort a along axis; stable, NaNs last, like jnp.argsort.

    Example:
        >>> anp.argsort(anp.array([3, 1, 2]))   # [1, 2, 0]
    """
    x, axis = _sort_args("argsort", a, axis, order)
    if not descending:
        return Tracer(_sort_with_index("argsort", x, axis)[1])
    # Sorting the reversed row ascending, then reversing, keeps ties in input order.
    _, index = _sort_with_index("argsort", _same(shape_ops.reverse(x.value, [axis]), x), axis)
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
        raise TracingError(f"{where()}: tile: negative repetitions {reps}")
    ndim = max(x.ndim, len(reps))
    x = reshape(x, (1,) * (ndim - x.ndim) + _static_shape("tile", x))
    reps = (1,) * (ndim - len(reps)) + reps
    interleaved = [n for pair in zip(reps, x.shape) for n in pair]
    grown = _same(shape_ops.broadcast_in_dim(x.value, interleaved, range(1, 2 * ndim, 2)), x)
    return reshape(grown, [r * n for r, n in zip(reps, x.shape)])


def repeat(a, repeats, axis=None, *, total_repeat_length=None):
    """Each element repeated, like numpy.repeat; repeats is an int or a static list per element.

    Example:
        >>> anp.repeat(anp.array([1, 2]), [1, 3])   # [1, 2, 2, 2]
    """
    x, axis = _flat_axis(a, axis)
    axis = normalize_axis("repeat", axis, x.ndim)
    n = _static_axis("repeat", x, axis)
    if isinstance(repeats, Tracer):
        raise TracingError(f"{where()}: repeat: traced repeats give a data-dependent shape; "
                           "pass an int or a list of ints")
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or counts.ndim > 1:
        raise TracingError(f"{where()}: repeat: repeats must be an int or a 1-D list of ints, "
                           f"got {repeats!r}")
    if (counts < 0).any():
        raise TracingError(f"{where()}: repeat: negative repeats {repeats!r}")
    if counts.ndim == 1 and counts.size == 1:
        counts = counts[0]
    if counts.ndim == 0:
        r = int(counts)
        shape = list(x.shape)
        grown = [*shape[:axis + 1], r, *shape[axis + 1:]]
        dims = [d for d in range(x.ndim + 1) if d != axis + 1]
        out = _same(shape_ops.broadcast_in_dim(x.value, grown, dims), x)
        shape[axis] = n * r
        out = reshape(out, shape)
    else:
        if counts.size != n:
            raise TracingError(f"{where()}: repeat: {counts.size} repeats for axis {axis} of "
                               f"size {n} in {shape_text(x.shape)}")
        out = _take_static(x, np.repeat(np.arange(n), counts), axis)
    if total_repeat_length is not None and out.shape[axis] != total_repeat_length:
        raise TracingError(f"{where()}: repeat: total_repeat_length={total_repeat_length} but "
                           f"the repeats give {out.shape[axis]}")
    return out


def _roll_axis(x: Tracer, shift, axis: int) -> Tracer:
    n = _static_axis("roll", x, axis)
    if n == 0:
        return x
    if not isinstance(shift, Tracer):
        return _take_static(x, (np.arange(n) - int(shift)) % n, axis)
    # Traced shift: a window of [x, x] starting at (-shift) mod n.
    if shift.ndim != 0 or not dtypes.is_int(shift.dtype):
        raise TracingError(f"{where()}: roll: a traced shift must be an integer scalar, got "
                           f"{shift.dtype}{shape_text(shift.shape)}")
    start = astype(remainder(subtract(0, astype(shift, _INT32)), n), _INT32)
    doubled = concatenate([x, x], axis)
    zero = constant(np.asarray(0, np.int32))
    starts = [start.value if d == axis else zero.value for d in range(x.ndim)]
    return _same(shape_ops.dynamic_slice(doubled.value, starts, x.shape), x)


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
        raise TracingError(f"{where()}: roll: {len(shifts)} shifts for {len(axes)} axes")
    _static_shape("roll", x)
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
        raise TracingError(f"{where()}: {name}: {what} {value!r} does not fit an array of rank "
                           f"{ndim}; give an int, (before, after) or one pair per axis") from None


def pad(array, pad_width, mode="constant", constant_values=0):
    """Pad an array like numpy.pad; modes constant, edge, reflect, symmetric, wrap, empty.

    Example:
        >>> anp.pad(anp.array([1, 2]), (1, 2))                 # [0, 1, 2, 0, 0]
        >>> anp.pad(anp.array([1, 2, 3]), 2, mode="reflect")   # [3, 2, 1, 2, 3, 2, 1]
    """
    x = to_tracer(array)
    if isinstance(pad_width, Tracer):
        raise TracingError(f"{where()}: pad: pad_width must be static ints, not a traced array")
    widths = _pairs("pad", pad_width, x.ndim, "pad_width")
    if widths.dtype.kind not in "iu":
        raise TracingError(f"{where()}: pad: pad_width must be integers, got {pad_width!r}")
    if (widths < 0).any():
        raise TracingError(f"{where()}: pad: negative pad_width {pad_width!r} for "
                           f"{shape_text(x.shape)}; slice the array instead")
    widths = widths.astype(int).tolist()
    if mode in ("constant", "empty"):
        return _pad_constant(x, widths, 0 if mode == "empty" else constant_values)
    if mode not in _INDEX_MODES:
        raise TracingError(f"{where()}: pad: mode {mode!r} is not supported; use one of "
                           f"constant, empty, {', '.join(_INDEX_MODES)}")
    for axis, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        n = _static_axis("pad", x, axis)
        if n == 0:
            raise TracingError(f"{where()}: pad: mode {mode!r} cannot pad the empty axis {axis} "
                               f"of {shape_text(x.shape)}")
        x = _take_static(x, np.pad(np.arange(n), (before, after), mode=mode), axis)
    return x


def _pad_value(value, x: Tracer) -> Tracer:
    value = to_tracer(value)
    if value.ndim != 0:
        raise TracingError(f"{where()}: pad: constant_values must be scalars, got "
                           f"{shape_text(value.shape)}")
    return astype(value, x.dtype)


def _pad_constant(x: Tracer, widths, constant_values) -> Tracer:
    if isinstance(constant_values, Tracer) or np.ndim(constant_values) == 0:
        value = _pad_value(constant_values, x)
        lows, highs = zip(*widths) if widths else ((), ())
        return _same(shape_ops.pad(x.value, value.value, lows, highs), x)
    values = _pairs("pad", constant_values, x.ndim, "constant_values")
    for axis, ((before, after), (v_before, v_after)) in enumerate(zip(widths, values)):
        x = _pad_axis(x, axis, before, 0, _pad_value(v_before.item(), x))
        x = _pad_axis(x, axis, 0, after, _pad_value(v_after.item(), x))
    return x


# ---- diff, diagonals, meshgrid -----------------------------------------------------------------


def _edge_values(value, x: Tracer, axis: int) -> Tracer:
    """prepend/append values for diff: scalars broadcast to x's shape with size 1 along axis."""
    from aotc.frontend.np_core import broadcast_to

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
        raise TracingError(f"{where()}: diff needs an array of rank >= 1, got a scalar")
    axis = normalize_axis("diff", axis, x.ndim)
    if n < 0:
        raise TracingError(f"{where()}: diff: order n={n} must be >= 0")
    parts = [_edge_values(prepend, x, axis)] if prepend is not None else []
    parts += [x] + ([_edge_values(append, x, axis)] if append is not None else [])
    x = concatenate(parts, axis) if len(parts) > 1 else x
    for _ in range(n):
        size = _static_axis("diff", x, axis)
        if size == 0:
            break
        later, earlier = _slice_axis(x, axis, 1, size), _slice_axis(x, axis, 0, size - 1)
        x = not_equal(later, earlier) if dtypes.is_bool(x.dtype) else subtract(later, earlier)
    return x


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal at `offset` of the (axis1, axis2) planes, as the last axis, like np.diagonal.

    Example:
        >>> anp.diagonal(anp.arange(9).reshape(3, 3), 1)   # [1, 5]
    """
    x = to_tracer(a)
    if x.ndim < 2:
        raise TracingError(f"{where()}: diagonal needs rank >= 2, got {shape_text(x.shape)}")
    axis1, axis2 = normalize_axis("diagonal", axis1, x.ndim), normalize_axis("diagonal", axis2,
                                                                              x.ndim)
    if axis1 == axis2:
        raise TracingError(f"{where()}: diagonal: axis1 and axis2 are both {axis1}")
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = _static_shape("diagonal", x)[-2:]
    k = int(offset)
    length = max(0, min(n, m - k) if k >= 0 else min(n + k, m))
    flat = reshape(x, (*x.shape[:-2], n * m))
    if length == 0:
        return _slice_axis(flat, flat.ndim - 1, 0, 0)
    start = k if k >= 0 else -k * m
    return _slice_axis(flat, flat.ndim - 1, start, start + (length - 1) * (m + 1) + 1, m + 1)


def diag(v, k=0):
    """A 2-D array with v on diagonal k (v 1-D), or the k-th diagonal of v (v 2-D), like np.diag.

    Example:
        >>> anp.diag(anp.array([1, 2]))   # [[1, 0], [0, 2]]
    """
    x = to_tracer(v)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise TracingError(f"{where()}: diag needs a 1-D or 2-D array, got {shape_text(x.shape)}")
    n = _static_axis("diag", x, 0)
    size = n + abs(k)
    line = _pad_axis(x, 0, 0, abs(k), scalar_like(0, x))
    # Entry (i, j) is on diagonal k when j - i == k; it holds v[i] (k >= 0) or v[j] (k < 0).
    grid = _same(shape_ops.broadcast_in_dim(line.value, (size, size), [0 if k >= 0 else 1]), x)
    mask = constant(np.eye(size, size, k, dtype=bool))
    return _select(mask, grid, scalar_like(0, x))


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate arrays from 1-D coordinate vectors, like numpy.meshgrid.

    Example:
        >>> X, Y = anp.meshgrid(anp.arange(3), anp.arange(2))   # both of shape (2, 3)
    """
    if indexing not in ("xy", "ij"):
        raise TracingError(f"{where()}: meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [ravel(to_tracer(x)) for x in xi]
    shape = [_static_axis("meshgrid", x, 0) for x in xs]
    dims = list(range(len(xs)))
    if indexing == "xy" and len(xs) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
        dims[0], dims[1] = 1, 0
    out = []
    for x, d in zip(xs, dims):
        target = shape if not sparse else [n if i == d else 1 for i, n in enumerate(shape)]
        out.append(_same(shape_ops.broadcast_in_dim(x.value, target, [d]), x))
    return out
