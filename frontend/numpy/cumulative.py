"""Cumulative ops (Hillis-Steele scans) and NaN-skipping sums and means."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.numpy.axes import INT32, flat_axis, pad_axis, same_type, slice_axis, static_shape
from aotc.frontend.numpy.core import astype, normalize_axis, promote, scalar_like
from aotc.frontend.numpy.math import divide, isnan, logical_not, not_equal
from aotc.frontend.numpy.math import where as _select
from aotc.frontend.numpy.reductions import reduction_identity
from aotc.frontend.numpy.reductions import sum as _sum
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "count_nonzero", "cummax", "cummin", "cumprod", "cumsum", "nancumprod", "nancumsum", "nanmean",
    "nansum",
]

# ---- cumulative reductions: Hillis-Steele scan, log2(n) shifted combines ----------------------


def _scan(x: Tracer, axis: int, combine, identity) -> Tracer:
    """Inclusive scan along axis: ceil(log2 n) rounds of x = combine(x, x shifted by 2^k)."""
    n = static_shape("cumulative op", x)[axis]
    fill = scalar_like(identity, x)
    shift = 1
    while shift < n:
        shifted = pad_axis(slice_axis(x, axis, 0, n - shift), axis, shift, 0, fill)
        x = same_type(combine(x.value, shifted.value), x)
        shift *= 2
    return x


def _combiner(kind: str, dt: np.dtype):
    if dtypes.is_bool(dt) and kind in ("max", "min"):
        return ew.or_ if kind == "max" else ew.and_
    return {"sum": ew.add, "prod": ew.multiply, "max": ew.maximum, "min": ew.minimum}[kind]


def _cumulative(kind: str, x, axis, dtype) -> Tracer:
    """JAX's jnp.cum*: bool input accumulates in int32; dtype=bool accumulates x != 0 in int32."""
    x, axis = flat_axis(x, axis)
    axis = normalize_axis(f"cum{kind}", axis, x.ndim)
    if dtype is None:
        result = INT32 if dtypes.is_bool(x.dtype) and kind in ("sum", "prod") else x.dtype
        compute = result
    elif dtypes.canonicalize(dtype) == dtypes.bool_:
        result, compute = dtypes.bool_, INT32
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
    return _sum(not_equal(a, 0), axis, INT32, keepdims)
