"""Order statistics and averages of aotc.numpy: quantile (by sorting), median, average, bincount,
convolve/correlate and trapezoid, with JAX's semantics and dtypes."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import INT32, slice_axis, static_shape
from aotc.frontend.numpy.core import (
    astype,
    broadcast_to,
    normalize_axis,
    promote,
    scalar_like,
    shape_text,
)
from aotc.frontend.numpy.indexing import take, take_along_axis
from aotc.frontend.numpy.math import (
    add,
    ceil,
    clip,
    divide,
    equal,
    floor,
    isnan,
    less_equal,
    logical_not,
    maximum,
    multiply,
    subtract,
    where,
)
from aotc.frontend.numpy.rearranging import diff, sort
from aotc.frontend.numpy.reductions import any as reduce_any
from aotc.frontend.numpy.reductions import mean
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.shape import concatenate, expand_dims, flip, moveaxis, reshape
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer

__all__ = [
    "average", "bincount", "convolve", "correlate", "median", "nanmedian", "nanpercentile",
    "nanquantile", "percentile", "quantile", "trapezoid",
]

_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name: str, a, q, axis, method: str, keepdims: bool, skip_nans: bool) -> Tracer:
    """JAX's _quantile: sort along axis, then interpolate between the two neighbouring ranks."""
    if method not in _METHODS:
        raise TracingError(f"{caller_site()}: {name}: method={method!r} is not one of {_METHODS}")
    a, q = promote(name, a, q, inexact=True, broadcast=False)
    if axis is None:
        a, axis, kept_shape = reshape(a, (-1,)), 0, (1,) * a.ndim
    else:
        axis = normalize_axis(name, axis, a.ndim)
        kept_shape = (*a.shape[:axis], 1, *a.shape[axis + 1:])
    n = static_shape(name, a)[axis]
    rows = moveaxis(a, axis, -1)
    batch = rows.shape[:-1]
    rows = reshape(rows, (-1, n))  # (B, n)
    if skip_nans:
        count = reduce_sum(logical_not(isnan(rows)), axis=-1, dtype=q.dtype)  # (B,)
    else:
        rows = where(reduce_any(isnan(rows), axis=-1, keepdims=True), np.nan, rows)
        count = scalar_like(n, q)
    rows = sort(rows, axis=-1)
    flat_q = reshape(q, (-1, 1))  # (Q, 1)
    position = multiply(flat_q, subtract(count, 1))  # (Q, B) or (Q, 1)
    position = broadcast_to(position, (flat_q.shape[0], rows.shape[0]))
    low, high = floor(position), ceil(position)
    high_weight = subtract(position, low)
    low_weight = subtract(1, high_weight)
    low_index = astype(clip(low, 0, n - 1), INT32)
    high_index = astype(clip(high, 0, n - 1), INT32)
    grid = broadcast_to(expand_dims(rows, 0), (flat_q.shape[0], *rows.shape))  # (Q, B, n)

    def at(index):
        return take_along_axis(grid, expand_dims(index, -1), axis=-1)[..., 0]

    low_value, high_value = at(low_index), at(high_index)
    if method == "linear":
        out = add(multiply(low_value, low_weight), multiply(high_value, high_weight))
    elif method == "lower":
        out = low_value
    elif method == "higher":
        out = high_value
    elif method == "nearest":
        out = where(less_equal(high_weight, 0.5), low_value, high_value)
    else:
        out = multiply(add(low_value, high_value), 0.5)
    return reshape(out, q.shape + (kept_shape if keepdims else batch))


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
             *, interpolation=None):
    """The q-th quantiles (q in [0, 1], scalar or array) of a along axis, like jnp.quantile.

    Sorts along the axis; a NaN in a slice makes its quantiles NaN. The result's leading axes
    are q's. `method` is 'linear' (default), 'lower', 'higher', 'midpoint' or 'nearest'.

    Example:
        >>> anp.quantile(anp.array([1.0, 2.0, 4.0]), 0.25)   # 1.5
    """
    if out is not None:
        raise NotImplementedError("aotc.numpy.quantile: out= is not supported")
    return _quantile("quantile", a, q, axis, interpolation or method, keepdims, skip_nans=False)


def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, interpolation=None):
    """quantile ignoring NaNs, like jnp.nanquantile (an all-NaN slice gives NaN).

    Example:
        >>> anp.nanquantile(anp.array([1.0, anp.nan, 3.0]), 0.5)   # 2.0
    """
    if out is not None:
        raise NotImplementedError("aotc.numpy.nanquantile: out= is not supported")
    return _quantile("nanquantile", a, q, axis, interpolation or method, keepdims, skip_nans=True)


def _percent(q):
    (q,) = promote("percentile", q, inexact=True)
    return divide(q, 100.0)


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, interpolation=None):
    """The q-th percentiles (q in [0, 100]) of a along axis, like jnp.percentile.

    Example:
        >>> anp.percentile(anp.array([1.0, 2.0, 3.0]), 50)   # 2.0
    """
    return quantile(a, _percent(q), axis, out, overwrite_input, method, keepdims,
                    interpolation=interpolation)


def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=False, *, interpolation=None):
    """percentile ignoring NaNs, like jnp.nanpercentile.

    Example:
        >>> anp.nanpercentile(anp.array([1.0, anp.nan, 3.0]), 50)   # 2.0
    """
    return nanquantile(a, _percent(q), axis, out, overwrite_input, method, keepdims,
                       interpolation=interpolation)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median along axis (the mean of the two middle values for even sizes), like jnp.median.

    Example:
        >>> anp.median(anp.array([3.0, 1.0, 4.0, 2.0]))   # 2.5
    """
    return quantile(a, 0.5, axis, out, overwrite_input, "midpoint", keepdims)


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """median ignoring NaNs, like jnp.nanmedian.

    Example:
        >>> anp.nanmedian(anp.array([3.0, anp.nan, 1.0]))   # 2.0
    """
    return nanquantile(a, 0.5, axis, out, overwrite_input, "midpoint", keepdims)


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """The (weighted) mean along axis, like jnp.average; returned=True also gives the weights' sum.

    1-D weights with a multi-dimensional `a` weight the entries along `axis`.

    Example:
        >>> anp.average(anp.array([1.0, 2.0]), weights=anp.array([3.0, 1.0]))   # 1.25
    """
    if weights is None:
        (a,) = promote("average", a, inexact=True)
        avg = mean(a, axis=axis, keepdims=keepdims)
        count = a.size if axis is None else a.shape[normalize_axis("average", axis, a.ndim)]
        weight_sum = broadcast_to(scalar_like(count, avg), avg.shape)
    else:
        a, w = promote("average", a, weights, inexact=True, broadcast=False)
        if a.shape != w.shape:
            if axis is None:
                raise TracingError(f"{caller_site()}: average: weights of shape "
                                   f"{shape_text(w.shape)} differ from a's "
                                   f"{shape_text(a.shape)}; pass axis=")
            axis = normalize_axis("average", axis, a.ndim)
            if w.ndim != 1 or w.shape[0] != a.shape[axis]:
                raise TracingError(f"{caller_site()}: average: 1-D weights must have a's length "
                                   f"{a.shape[axis]} along axis {axis}, got {shape_text(w.shape)}")
            w = reshape(w, tuple(a.shape[axis] if i == axis else 1 for i in range(a.ndim)))
            w = broadcast_to(w, a.shape)
        weight_sum = reduce_sum(w, axis=axis, keepdims=keepdims)
        avg = divide(reduce_sum(multiply(a, w), axis=axis, keepdims=keepdims), weight_sum)
    return (avg, weight_sum) if returned else avg


def bincount(x, weights=None, minlength=0, *, length=None):
    """Counts (or summed weights) of each value 0..length-1 in the 1-D int array x, like
    jnp.bincount under jit: `length` is required (the output size is static); negative values
    count as 0 and values >= length are dropped, as in JAX.

    Example:
        >>> anp.bincount(anp.array([0, 1, 1, 3]), length=4)   # [1, 2, 0, 1]
    """
    x = to_tracer(x)
    if length is None:
        raise TracingError(f"{caller_site()}: bincount needs a static length= (the output size "
                           "depends on the values otherwise), as jnp.bincount under jit")
    if x.ndim != 1 or not dtypes.is_int(x.dtype):
        raise TracingError(f"{caller_site()}: bincount needs a 1-D integer array, got "
                           f"{x.dtype} {shape_text(x.shape)}")
    length = max(int(length), int(minlength))
    bins = constant(np.arange(length, dtype=np.int32))
    hits = equal(expand_dims(maximum(astype(x, INT32), 0), 1), bins)  # (n, length)
    if weights is None:
        return reduce_sum(hits, axis=0, dtype=INT32)
    w = expand_dims(to_tracer(weights), 1)
    return reduce_sum(where(hits, w, scalar_like(0, w)), axis=0)


def _conv(name: str, a, v, mode: str, flip_kernel: bool) -> Tracer:
    """JAX's _conv: a cross-correlation of the longer with the (flipped) shorter array."""
    a, v = promote(name, a, v, inexact=True, broadcast=False)
    if a.ndim != 1 or v.ndim != 1:
        raise TracingError(f"{caller_site()}: {name} needs 1-D arrays, got {shape_text(a.shape)} "
                           f"and {shape_text(v.shape)}")
    n, m = static_shape(name, a)[0], static_shape(name, v)[0]
    if n == 0 or m == 0:
        raise TracingError(f"{caller_site()}: {name}: empty input")
    reverse_out = False
    if n < m:
        a, v, n, m = v, a, m, n
        reverse_out = not flip_kernel
    if flip_kernel:
        v = flip(v, 0)
    pads = {"valid": (0, 0), "same": (m // 2, m - m // 2 - 1), "full": (m - 1, m - 1)}
    if mode not in pads:
        raise TracingError(f"{caller_site()}: {name}: mode={mode!r} is not one of {list(pads)}")
    low, high = pads[mode]
    zeros = constant(np.zeros(low + high, a.dtype))
    padded = concatenate([zeros[:low], a, zeros[low:]])
    length = n + low + high - m + 1
    windows = np.arange(length)[:, None] + np.arange(m)[None, :]  # (length, m)
    out = reduce_sum(multiply(take(padded, windows), v), axis=-1)
    return flip(out, 0) if reverse_out else out


def convolve(a, v, mode="full", *, precision=None, preferred_element_type=None):
    """Discrete linear convolution of two 1-D arrays (modes 'full', 'same', 'valid'), like
    jnp.convolve; integer inputs become float32 as in JAX.

    Example:
        >>> anp.convolve(anp.array([1.0, 2.0, 3.0]), anp.array([0.0, 1.0]))   # [0, 1, 2, 3]
    """
    return _conv("convolve", a, v, mode, flip_kernel=True)


def correlate(a, v, mode="valid", *, precision=None, preferred_element_type=None):
    """Cross-correlation of two 1-D arrays (modes 'valid' (default), 'same', 'full'), like
    jnp.correlate.

    Example:
        >>> anp.correlate(anp.array([1.0, 2.0, 3.0]), anp.array([0.0, 1.0]))   # [2, 3]
    """
    return _conv("correlate", a, v, mode, flip_kernel=False)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of y along axis by the trapezoidal rule (sample points x, or spacing dx), like
    jnp.trapezoid.

    Example:
        >>> anp.trapezoid(anp.array([1.0, 2.0, 3.0]))   # 4.0
    """
    (y,) = promote("trapezoid", y, inexact=True)
    axis = normalize_axis("trapezoid", axis, y.ndim)
    if x is None:
        spacing = dx
    else:
        (x,) = promote("trapezoid", x, inexact=True)
        spacing = diff(x) if x.ndim == 1 else moveaxis(diff(x, axis=axis), axis, -1)
    y = moveaxis(y, axis, -1)
    n = static_shape("trapezoid", y)[-1]
    pair_sums = add(slice_axis(y, y.ndim - 1, 1, n), slice_axis(y, y.ndim - 1, 0, max(n - 1, 0)))
    return multiply(0.5, reduce_sum(multiply(spacing, pair_sums), axis=-1))

