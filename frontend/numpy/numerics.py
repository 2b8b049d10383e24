"""Numerical helpers of aotc.numpy with JAX's semantics and dtypes: NaN-skipping reductions,
array-API cumulative ops, interpolation and binning, finite differences, covariance and
histograms, piecewise functions (polynomials are in polynomial.py)."""

import math as _math

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import INT32, slice_axis, static_shape
from aotc.frontend.numpy.core import asarray, astype, normalize_axes, normalize_axis, promote
from aotc.frontend.numpy.creation import ones, zeros
from aotc.frontend.numpy.cumulative import cumprod, cumsum, nanmean
from aotc.frontend.numpy.indexing import take
from aotc.frontend.numpy.math import (
    abs,
    clip,
    divide,
    isnan,
    logical_not,
    remainder,
    sqrt,
    where,
)
from aotc.frontend.numpy.polynomial import linspace_between
from aotc.frontend.numpy.products import dot
from aotc.frontend.numpy.rearranging import argsort, diag, diff
from aotc.frontend.numpy.reductions import all as reduce_all
from aotc.frontend.numpy.reductions import argmax, argmin
from aotc.frontend.numpy.reductions import max as reduce_max
from aotc.frontend.numpy.reductions import min as reduce_min
from aotc.frontend.numpy.reductions import prod as reduce_prod
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.searching import searchsorted
from aotc.frontend.numpy.shape import (
    atleast_2d,
    concatenate,
    expand_dims,
    ravel,
    reshape,
    squeeze,
)
from aotc.frontend.numpy.statistics import average, bincount
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "apply_over_axes", "corrcoef", "cov", "cumulative_prod", "cumulative_sum", "digitize",
    "ediff1d", "gradient", "histogram", "histogram_bin_edges", "interp", "nanargmax", "nanargmin",
    "nanmax", "nanmin", "nanprod", "nanstd", "nanvar", "piecewise", "ptp", "unwrap",
]


def _error(name: str, message: str) -> TracingError:
    return TracingError(f"{caller_site()}: {name}: {message}")


def _inexact(name: str, *xs) -> list[Tracer]:
    return promote(name, *xs, inexact=True, broadcast=False)


# ---- NaN-skipping reductions --------------------------------------------------------------------


def _nan_reduction(reduce, a, fill, axis, keepdims, nan_if_all_nan):
    """reduce over a with NaNs replaced by fill (JAX's _nan_reduction); ints reduce as they are."""
    x = to_tracer(a)
    if not dtypes.is_float(x.dtype):
        return reduce(x, axis, keepdims=keepdims)
    nans = isnan(x)
    out = reduce(where(nans, fill, x), axis, keepdims=keepdims)
    return where(reduce_all(nans, axis, keepdims=keepdims), np.nan, out) if nan_if_all_nan else out


def nanmax(a, axis=None, out=None, keepdims=False):
    """Maximum ignoring NaNs (NaN where all are NaN), like jnp.nanmax.

    Example:
        >>> anp.nanmax(anp.array([1.0, anp.nan, 3.0]))   # 3.0
    """
    return _nan_reduction(reduce_max, a, -np.inf, axis, keepdims, True)


def nanmin(a, axis=None, out=None, keepdims=False):
    """Minimum ignoring NaNs (NaN where all are NaN), like jnp.nanmin.

    Example:
        >>> anp.nanmin(anp.array([1.0, anp.nan, 3.0]))   # 1.0
    """
    return _nan_reduction(reduce_min, a, np.inf, axis, keepdims, True)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False):
    """Product with NaNs counted as one, like jnp.nanprod.

    Example:
        >>> anp.nanprod(anp.array([2.0, anp.nan, 3.0]))   # 6.0
    """
    def reduce(x, axis, keepdims):
        return reduce_prod(x, axis, dtype, keepdims)
    return _nan_reduction(reduce, a, 1, axis, keepdims, False)


def _nan_arg(reduce, fill, a, axis, keepdims):
    x = to_tracer(a)
    if not dtypes.is_float(x.dtype):
        return reduce(x, axis, keepdims)
    nans = isnan(x)
    result = reduce(where(nans, fill, x), axis, keepdims)
    return where(reduce_all(nans, axis, keepdims=keepdims), -1, result)


def nanargmax(a, axis=None, out=None, keepdims=False):
    """Index (int32) of the maximum ignoring NaNs (-1 where all are NaN), like jnp.nanargmax.

    Example:
        >>> anp.nanargmax(anp.array([1.0, anp.nan, 3.0]))   # 2
    """
    return _nan_arg(argmax, -np.inf, a, axis, keepdims)


def nanargmin(a, axis=None, out=None, keepdims=False):
    """Index (int32) of the minimum ignoring NaNs (-1 where all are NaN), like jnp.nanargmin.

    Example:
        >>> anp.nanargmin(anp.array([1.0, anp.nan, 3.0]))   # 0
    """
    return _nan_arg(argmin, np.inf, a, axis, keepdims)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Variance of the non-NaN elements (NaN where fewer than ddof + 1), like jnp.nanvar.

    Example:
        >>> anp.nanvar(anp.array([1.0, anp.nan, 3.0]))   # 1.0
    """
    (x,) = _inexact("nanvar", a)
    if dtype is not None:
        x = astype(x, dtype)
    nans = isnan(x)
    centered = where(nans, 0, x - nanmean(x, axis, keepdims=True))
    count = reduce_sum(logical_not(nans), axis, keepdims=keepdims) - ddof
    empty = count <= 0
    total = where(empty, np.nan, reduce_sum(centered * centered, axis, keepdims=keepdims))
    return total / astype(where(empty, 1, count), x.dtype)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Standard deviation of the non-NaN elements, like jnp.nanstd.

    Example:
        >>> anp.nanstd(anp.array([1.0, anp.nan, 3.0]))   # 1.0
    """
    return sqrt(nanvar(a, axis, dtype, ddof=ddof, keepdims=keepdims))


def ptp(a, axis=None, out=None, keepdims=False):
    """Peak to peak (max - min) along axis, like jnp.ptp.

    Example:
        >>> anp.ptp(anp.array([[1, 5], [2, 3]]), axis=1)   # [4, 1]
    """
    x = to_tracer(a)
    return reduce_max(x, axis, keepdims=keepdims) - reduce_min(x, axis, keepdims=keepdims)


# ---- array-API cumulative ops -------------------------------------------------------------------


def _cumulative(name, scan, x, axis, dtype, include_initial, initial):
    x = to_tracer(x)
    if axis is None:
        if x.ndim > 1:
            raise _error(name, f"axis= is required for a {x.ndim}-D array")
        axis = 0
    if x.ndim == 0:
        raise _error(name, "needs an array of at least one dimension")
    axis = normalize_axis(name, axis, x.ndim)
    out = scan(x, axis, dtype)
    if not include_initial:
        return out
    shape = list(static_shape(name, x))
    shape[axis] = 1
    return concatenate([initial(tuple(shape), out.dtype), out], axis)


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    """Cumulative sum (array API): axis may be omitted for 1-D x; include_initial prepends 0.

    Example:
        >>> anp.cumulative_sum(anp.array([1, 2, 3]), include_initial=True)   # [0, 1, 3, 6]
    """
    return _cumulative("cumulative_sum", cumsum, x, axis, dtype, include_initial, zeros)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    """Cumulative product (array API): axis may be omitted for 1-D x; include_initial prepends 1.

    Example:
        >>> anp.cumulative_prod(anp.array([1, 2, 3]), include_initial=True)   # [1, 1, 2, 6]
    """
    return _cumulative("cumulative_prod", cumprod, x, axis, dtype, include_initial, ones)


# ---- interpolation and binning ------------------------------------------------------------------


def interp(x, xp, fp, left=None, right=None, period=None):
    """1-D piecewise-linear interpolation of (xp, fp) at x, like jnp.interp.

    left/right: the values below xp[0] / above xp[-1] (default fp[0] / fp[-1], or "extrapolate");
    period: the x period, for angles (then left/right do not apply).

    Example:
        >>> anp.interp(anp.array([0.5, 3.0]), anp.array([0.0, 1.0]), anp.array([0.0, 2.0]))
        ... # [1.0, 2.0]
    """
    x, xp = _inexact("interp", x, xp)
    (fp,) = _inexact("interp", fp)
    if xp.ndim != 1 or xp.shape != fp.shape:
        raise _error("interp", "xp and fp must be one-dimensional arrays of equal size")
    for side in (left, right):
        if isinstance(side, str) and side != "extrapolate":
            raise _error("interp", f"the only string left/right is 'extrapolate', got {side!r}")
    if period is not None:
        period = abs(period)
        x, xp = remainder(x, period), remainder(xp, period)
        order = argsort(xp)
        xp, fp = take(xp, order), take(fp, order)
        xp = concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = concatenate([fp[-1:], fp, fp[:1]])
    n = static_shape("interp", xp)[0]
    i = clip(searchsorted(xp, x, side="right"), 1, n - 1)
    lo_f, hi_f, lo_x, hi_x = take(fp, i - 1), take(fp, i), take(xp, i - 1), take(xp, i)
    dx = hi_x - lo_x
    tiny = np.spacing(np.finfo(np.dtype(xp.dtype)).eps)
    flat = abs(dx) <= tiny
    f = where(flat, lo_f, lo_f + ((x - lo_x) / where(flat, 1, dx)) * (hi_f - lo_f))
    if period is None and not isinstance(left, str):
        f = where(x < xp[0], fp[0] if left is None else left, f)
    if period is None and not isinstance(right, str):
        f = where(x > xp[-1], fp[-1] if right is None else right, f)
    return f


def digitize(x, bins, right=False):
    """Index (int32) of the bin each x falls in (bins increasing or decreasing), like jnp.digitize.

    Example:
        >>> anp.digitize(anp.array([0.5, 1.5, 3.0]), anp.array([0.0, 1.0, 2.0]))   # [1, 2, 3]
    """
    x, bins = to_tracer(x), to_tracer(bins)
    if bins.ndim != 1:
        raise _error("digitize", f"bins must be one-dimensional, got shape {bins.shape}")
    n = static_shape("digitize", bins)[0]
    if n == 0:
        return zeros(x.shape, INT32)
    side = "left" if right else "right"
    rising = searchsorted(bins, x, side=side)
    falling = n - searchsorted(bins[::-1], x, side=side)
    return where(bins[-1] >= bins[0], rising, falling)


def _static_bins(name: str, bins):
    if isinstance(bins, str):
        raise _error(name, "string bins (estimators) are not supported; pass a count or edges")
    return bins if isinstance(bins, Tracer) or np.ndim(bins) else _math_index(name, bins)


def _math_index(name: str, value) -> int:
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        raise _error(name, f"bins must be a static int or 1-D edges, got {value!r}") from None


def histogram_bin_edges(a, bins=10, range=None, weights=None):
    """The bin edges histogram uses: bins edges as given, or a static count over range (default
    a's min and max), like jnp.histogram_bin_edges.

    Example:
        >>> anp.histogram_bin_edges(anp.array([0.0, 1.0, 4.0]), bins=4)   # [0, 1, 2, 3, 4]
    """
    x = to_tracer(a)
    dt = x.dtype if dtypes.is_float(x.dtype) else dtypes.float32
    bins = _static_bins("histogram_bin_edges", bins)
    if not isinstance(bins, int):
        return astype(asarray(bins), dt)
    lo, hi = (reduce_min(x), reduce_max(x)) if range is None else range
    lo, hi = astype(asarray(lo), dt), astype(asarray(hi), dt)
    same = lo == hi
    return linspace_between(where(same, lo - 0.5, lo), where(same, hi + 0.5, hi), bins + 1, True)


def histogram(a, bins=10, range=None, weights=None, density=None):
    """(counts, edges) of a's values in bins (a static count or static edges), like jnp.histogram.

    Values outside the edges are not counted; the last bin includes its right edge; density=True
    scales counts to a probability density.

    Example:
        >>> anp.histogram(anp.array([0.0, 1.0, 1.5, 4.0]), bins=2)   # ([3., 1.], [0., 2., 4.])
    """
    if weights is None:
        (x,) = _inexact("histogram", a)
        weights = ones(x.shape, x.dtype)
    else:
        x, weights = _inexact("histogram", a, weights)
    edges = histogram_bin_edges(x, bins, range)
    n = static_shape("histogram", edges)[0]
    index = searchsorted(edges, x, side="right")
    index = where(x == edges[-1], n - 1, index)
    counts = bincount(ravel(index), ravel(weights), length=n + 1)[1:n]
    if density:
        counts = counts / diff(edges) / reduce_sum(counts)
    return counts, edges


# ---- finite differences -------------------------------------------------------------------------


def _gradient_along(a: Tracer, h, axis: int) -> Tracer:
    n = a.shape[axis]
    upper = slice_axis(a, axis, 1, 2) - slice_axis(a, axis, 0, 1)
    lower = slice_axis(a, axis, n - 1, n) - slice_axis(a, axis, n - 2, n - 1)
    if np.ndim(h) == 0:
        inner = (slice_axis(a, axis, 2, n) - slice_axis(a, axis, 0, n - 2)) * 0.5 / h
        return concatenate([upper / h, inner, lower / h], axis)
    if h.ndim != 1 or h.shape[0] != n:
        raise _error("gradient", f"coordinates must be 1-D with the axis' {n} values")
    h = reshape(h, tuple(n if i == axis else 1 for i in range(a.ndim)))
    dx1 = slice_axis(h, axis, 1, n - 1) - slice_axis(h, axis, 0, n - 2)
    dx2 = slice_axis(h, axis, 2, n) - slice_axis(h, axis, 1, n - 1)
    inner = (-dx2 / (dx1 * (dx1 + dx2)) * slice_axis(a, axis, 0, n - 2)
             + (dx2 - dx1) / (dx1 * dx2) * slice_axis(a, axis, 1, n - 1)
             + dx1 / (dx2 * (dx1 + dx2)) * slice_axis(a, axis, 2, n))
    upper = upper / (slice_axis(h, axis, 1, 2) - slice_axis(h, axis, 0, 1))
    lower = lower / (slice_axis(h, axis, n - 1, n) - slice_axis(h, axis, n - 2, n - 1))
    return concatenate([upper, inner, lower], axis)


def gradient(f, *varargs, axis=None, edge_order=None):
    """Central differences inside, one-sided at the edges, like jnp.gradient (edge_order=1).

    varargs: one spacing for all axes or one per axis, each a scalar or 1-D coordinates.

    Returns one array for one axis, else a list (one per axis).

    Example:
        >>> anp.gradient(anp.array([1.0, 2.0, 4.0, 7.0]))   # [1.0, 1.5, 2.5, 3.0]
    """
    if edge_order not in (None, 1):
        raise _error("gradient", f"only edge_order=1 is supported, got {edge_order}")
    a, *spacing = _inexact("gradient", f, *varargs)
    axes = normalize_axes("gradient", axis, a.ndim)
    if not axes:
        return []
    shape = static_shape("gradient", a)
    if min(shape[ax] for ax in axes) < 2:
        raise _error("gradient", "each axis needs at least 2 elements")
    if len(spacing) > 1 and len(spacing) != len(axes):
        raise _error("gradient", f"{len(spacing)} spacings for {len(axes)} axes")
    steps = spacing * len(axes) if len(spacing) == 1 else spacing or [1.0] * len(axes)
    grads = [_gradient_along(a, h, ax) for ax, h in zip(axes, steps)]
    return grads[0] if len(axes) == 1 else grads


def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with optional values before and after, like
    jnp.ediff1d.

    Example:
        >>> anp.ediff1d(anp.array([1, 4, 9]), to_begin=0)   # [0, 3, 5]
    """
    x = ravel(to_tracer(ary))
    parts = [x[1:] - x[:-1]]
    if to_begin is not None:
        parts.insert(0, ravel(astype(asarray(to_begin), x.dtype)))
    if to_end is not None:
        parts.append(ravel(astype(asarray(to_end), x.dtype)))
    return concatenate(parts) if len(parts) > 1 else parts[0]


def unwrap(p, discont=None, axis=-1, period=2 * _math.pi):
    """Unwrap phase jumps larger than discont (default period/2) along axis, like jnp.unwrap.

    Example:
        >>> anp.unwrap(anp.array([0.0, 3.0, 6.5]))   # [0.0, 3.0, 0.2168...]
    """
    p, period = promote("unwrap", p, period, broadcast=False)
    axis = normalize_axis("unwrap", axis, p.ndim)
    n = static_shape("unwrap", p)[axis]
    if n == 0:
        return p
    if discont is None:
        discont = period / 2
    interval = period // 2 if dtypes.is_int(p.dtype) else period / 2
    dd = diff(p, axis=axis)
    ddmod = remainder(dd + interval, period) - interval
    ddmod = where((ddmod == -interval) & (dd > 0), interval, ddmod)
    correct = where(abs(dd) < discont, 0, ddmod - dd)
    rest = slice_axis(p, axis, 1, n) + cumsum(correct, axis=axis)
    return concatenate([slice_axis(p, axis, 0, 1), rest], axis)


# ---- covariance ---------------------------------------------------------------------------------


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
        dtype=None):
    """The covariance matrix of variables in rows (columns if not rowvar), like jnp.cov.

    Example:
        >>> anp.cov(anp.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))   # [[1, -1], [-1, 1]]
    """
    xs = _inexact("cov", m) if y is None else _inexact("cov", m, y)
    x = atleast_2d(xs[0])
    if not rowvar and xs[0].ndim != 1:
        x = x.T
    if y is not None:
        other = atleast_2d(xs[1])
        if not rowvar and other.shape[0] != 1:
            other = other.T
        x = concatenate([x, other], 0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        w = abs(to_tracer(fweights))
    if aweights is not None:
        aweights = abs(to_tracer(aweights))
        w = aweights if w is None else w * aweights
    if dtype is not None:
        x = astype(x, dtype)
        w = None if w is None else astype(w, dtype)
    avg, w_sum = average(x, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        f = static_shape("cov", x)[1] - ddof
    elif ddof == 0:
        f = w_sum
    elif aweights is None:
        f = w_sum - ddof
    else:
        f = w_sum - ddof * reduce_sum(w * aweights) / w_sum
    x = x - avg[:, None]
    x_t = x.T if w is None else (x * w[None, :]).T
    return squeeze(divide(dot(x, x_t), f))


def corrcoef(x, y=None, rowvar=True, dtype=None):
    """Pearson correlation coefficients (clipped to [-1, 1]), like jnp.corrcoef.

    Example:
        >>> anp.corrcoef(anp.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))   # [[1, -1], [-1, 1]]
    """
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    stddev = sqrt(diag(c))
    return clip(c / stddev[:, None] / stddev[None, :], -1, 1)


# ---- functions applied piecewise or over axes ---------------------------------------------------


def piecewise(x, condlist, funclist, *args, **kw):
    """Values of funclist's functions (or constants) where each condition holds; the last true
    condition wins and an extra function is the default, like jnp.piecewise.

    Every function is traced on all of x and its values are selected.

    Example:
        >>> anp.piecewise(x, [x < 0, x >= 0], [lambda v: -v, lambda v: v])   # abs(x)
    """
    x = to_tracer(x)
    if isinstance(condlist, (Tracer, np.ndarray)) and np.ndim(condlist) == x.ndim:
        condlist = [condlist]  # one condition, as numpy
    conds = [astype(asarray(c), dtypes.bool_) for c in condlist]
    nc, nf = len(conds), len(funclist)
    if nf == nc + 1:
        funclist = [funclist[-1], *funclist[:-1]]
    elif nf == nc:
        funclist = [0, *funclist]
    else:
        raise _error("piecewise", f"{nf} functions for {nc} conditions (need {nc} or {nc + 1})")

    def value(f):
        out = f(x, *args, **kw) if callable(f) else f
        return astype(asarray(out), x.dtype)

    result = value(funclist[0]) + zeros(x.shape, x.dtype)
    for cond, f in zip(conds, funclist[1:]):
        result = where(cond, value(f), result)
    return result


def apply_over_axes(func, a, axes):
    """func(a, axis) applied for each axis in turn, keeping reduced axes, like
    jnp.apply_over_axes.

    Example:
        >>> anp.apply_over_axes(anp.sum, anp.ones((2, 3)), [0, 1])   # [[6.0]]
    """
    a = to_tracer(a)
    for axis in [axes] if isinstance(axes, int) else axes:
        b = func(a, axis)
        if b.ndim == a.ndim - 1:
            b = expand_dims(b, normalize_axis("apply_over_axes", axis, a.ndim))
        elif b.ndim != a.ndim:
            raise _error("apply_over_axes", "func must keep or drop exactly the one axis")
        a = b
    return a

