"""Reductions with axis/keepdims: sum, mean, prod, max, min, argmax, argmin, var, std, all, any."""

import builtins

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import (
    astype,
    broadcast_to,
    normalize_axes,
    normalize_axis,
    promote,
    scalar_like,
)
from aotc.frontend.numpy.math import multiply, sqrt, subtract
from aotc.frontend.numpy.shape import expand_dims, ravel, reshape
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import reduction
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace.tracer import Tracer, to_tracer


def _keepdims(result: Tracer, x: Tracer, axes) -> Tracer:
    return expand_dims(result, axes)


def reduction_identity(kind: str, dt: np.dtype):
    """The identity element of reduction `kind` (sum, prod, max, min, all, any) for dtype dt."""
    if kind in ("sum", "any"):
        return 0
    if kind in ("prod", "all"):
        return 1
    if dtypes.is_bool(dt):
        return kind == "min"
    if dtypes.is_float(dt):
        return -np.inf if kind == "max" else np.inf
    info = dtypes.finfo_or_iinfo(dt)
    return info.min if kind == "max" else info.max


def _reduce(kind: str, x, axis, keepdims: bool, dtype=None) -> Tracer:
    x = to_tracer(x)
    if dtype is not None:
        x = astype(x, dtype)
    elif kind in ("sum", "prod") and (dtypes.is_bool(x.dtype) or (
            dtypes.is_int(x.dtype) and x.dtype.itemsize < 4)):
        x = astype(x, dtypes.uint32 if dtypes.is_unsigned(x.dtype) else dtypes.int32)
    if kind in ("all", "any"):
        x = astype(x, dtypes.bool_) if not dtypes.is_bool(x.dtype) else x
    axes = normalize_axes(kind, axis, x.ndim)
    if kind in ("max", "min") and builtins.any(x.shape[a] == 0 for a in axes):
        raise TracingError(f"{caller_site()}: {kind} of an empty axis has no identity")
    init = scalar_like(reduction_identity(kind, x.dtype), x)
    value = reduction.reduce_binary(x.value, init.value, axes, reduction.REDUCERS[kind])
    result = Tracer(value, x.weak_type if kind not in ("all", "any") else False)
    return _keepdims(result, x, axes) if keepdims else result


def sum(x, axis=None, dtype=None, keepdims=False):
    """Sum over `axis` (None: all); small ints and bools accumulate in int32, like JAX."""
    return _reduce("sum", x, axis, keepdims, dtype)


def prod(x, axis=None, dtype=None, keepdims=False):
    """Product over `axis` (None: all); small ints and bools accumulate in int32, like JAX."""
    return _reduce("prod", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over `axis` (None: all); NaN propagates, as numpy.max.

    Example: `anp.max(anp.array([[1, 5], [3, 2]]), axis=0)` is `[3, 5]`.
    """
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over `axis` (None: all); NaN propagates, as numpy.min."""
    return _reduce("min", x, axis, keepdims)


amax, amin = max, min


def all(x, axis=None, keepdims=False):
    """Whether every element over `axis` is true (nonzero), as numpy.all."""
    return _reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    """Whether any element over `axis` is true (nonzero), as numpy.any."""
    return _reduce("any", x, axis, keepdims)


def _count(x: Tracer, axes) -> Tracer:
    """The number of elements reduced over `axes`, as x's (float) dtype; dynamic dims included."""
    static = 1
    count = None
    for a in axes:
        if x.shape[a] is None:
            size = Tracer(ew.convert(shape_ops.get_dimension_size(x.value, a),
                                     dtypes.to_mlir(x.dtype)))
            count = size if count is None else Tracer(ew.multiply(count.value, size.value))
        else:
            static *= x.shape[a]
    const = scalar_like(static, x)
    return const if count is None else Tracer(ew.multiply(count.value, const.value))


def mean(x, axis=None, dtype=None, keepdims=False):
    """Mean over `axis`; integers give float32, like JAX."""
    (x,) = promote("mean", x, inexact=True)
    if dtype is not None:
        x = astype(x, dtype)
    axes = normalize_axes("mean", axis, x.ndim)
    total = _reduce("sum", x, axes, keepdims)
    n = _count(x, axes)
    return Tracer(ew.divide(total.value, _broadcast_scalar(n, total).value), x.weak_type)


def _broadcast_scalar(s: Tracer, like: Tracer) -> Tracer:
    return broadcast_to(s, like.shape, like=[like])


def var(x, axis=None, dtype=None, ddof=0, keepdims=False):
    """Variance (mean of squared deviations), with `ddof` like numpy."""
    (x,) = promote("var", x, inexact=True)
    if dtype is not None:
        x = astype(x, dtype)
    axes = normalize_axes("var", axis, x.ndim)
    centered = subtract(x, mean(x, axes, keepdims=True))
    total = _reduce("sum", multiply(centered, centered), axes, keepdims)
    n = _count(x, axes)
    if ddof:
        n = Tracer(ew.subtract(n.value, scalar_like(ddof, n).value))
    return Tracer(ew.divide(total.value, _broadcast_scalar(n, total).value), x.weak_type)


def std(x, axis=None, dtype=None, ddof=0, keepdims=False):
    """Standard deviation over `axis` with `ddof` delta degrees of freedom, as numpy.std."""
    return sqrt(var(x, axis, dtype, ddof, keepdims))


def _arg_reduce(kind: str, x, axis, keepdims: bool) -> Tracer:
    """Index of the first max (min); NaN counts as the extreme value, like numpy."""
    x = to_tracer(x)
    if axis is None:
        result = _arg_reduce(kind, ravel(x), 0, False)
        return reshape(result, (1,) * x.ndim) if keepdims else result
    axis = normalize_axis(f"arg{kind}", axis, x.ndim)
    if x.shape[axis] == 0:
        raise TracingError(f"{caller_site()}: arg{kind} of an empty axis")
    index_type = dtypes.to_mlir(dtypes.int32)
    if x.shape[axis] is None:
        raise TracingError(f"{caller_site()}: arg{kind} over a dynamic axis is not supported yet")
    if None in x.shape:  # iota along the axis, broadcast to x's dynamic shape
        line = shape_ops.iota([d if i == axis else 1 for i, d in enumerate(x.shape)], axis,
                              index_type)
        indices = broadcast_to(Tracer(line), x.shape, like=(x,)).value
    else:
        indices = shape_ops.iota(x.shape, axis, index_type)
    is_float = dtypes.is_float(x.dtype)
    better_dir = "GT" if kind == "max" else "LT"

    def body(acc_v, acc_i, v, i):
        better = ew.compare(better_dir, v, acc_v)
        if is_float:  # NaN wins and stays
            better = ew.or_(better, ew.and_(ew.compare("NE", v, v), ew.compare("EQ", acc_v, acc_v)))
        tie = ew.and_(ew.compare("EQ", v, acc_v), ew.compare("LT", i, acc_i))
        take = ew.or_(better, tie)
        return [ew.select(take, v, acc_v), ew.select(take, i, acc_i)]

    init_v = scalar_like(reduction_identity(kind, x.dtype), x)
    init_i = scalar_like(np.iinfo(np.int32).max, Tracer(indices))
    _, idx = reduction.reduce([x.value, indices], [init_v.value, init_i.value], [axis], body)
    result = Tracer(idx)
    return _keepdims(result, x, (axis,)) if keepdims else result


def argmax(x, axis=None, keepdims=False):
    """Index (int32) of the first maximum over `axis` (None: flattened), as numpy.argmax."""
    return _arg_reduce("max", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index (int32) of the first minimum over `axis` (None: flattened), as numpy.argmin."""
    return _arg_reduce("min", x, axis, keepdims)
