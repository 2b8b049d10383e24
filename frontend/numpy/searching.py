"""Searching and sets of aotc.numpy: searchsorted, select, nonzero/argwhere/flatnonzero, unique
and isin. Data-dependent sizes are static, as JAX requires under jit: `size=` and `fill_value=`
pick the output length and its padding; everything is a sort, a compare or a gather."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import INT32, slice_axis, static_shape
from aotc.frontend.numpy.core import asarray, astype, promote, scalar_like, shape_text
from aotc.frontend.numpy.indexing import take
from aotc.frontend.numpy.math import (
    equal,
    isnan,
    less,
    logical_and,
    logical_not,
    logical_or,
    minimum,
    not_equal,
    where,
)
from aotc.frontend.numpy.rearranging import argsort, sort
from aotc.frontend.numpy.reductions import any as reduce_any
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.shape import concatenate, expand_dims, ravel, stack
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer

__all__ = ["argwhere", "flatnonzero", "isin", "nonzero", "searchsorted", "select", "unique"]


def _before(x: Tracer, y: Tracer) -> Tracer:
    """x < y in sort order (NaN after everything, as anp.sort places it)."""
    if not dtypes.is_float(x.dtype):
        return less(x, y)
    return logical_or(less(x, y), logical_and(isnan(y), logical_not(isnan(x))))


def searchsorted(a, v, side="left", sorter=None, *, method=None):
    """Indices (int32) where v's elements would be inserted into the sorted 1-D array a to keep
    it sorted, like jnp.searchsorted; side='left' gives the first such index, 'right' the last.

    Computed as a count of the elements of `a` before each v (one compare and one sum), with
    NaNs ordered last as in anp.sort.

    Example:
        >>> anp.searchsorted(anp.array([1.0, 2.0, 3.0]), anp.array([2.0, 5.0]))   # [1, 3]
    """
    if side not in ("left", "right"):
        raise TracingError(f"{caller_site()}: searchsorted: side must be 'left' or 'right', "
                           f"got {side!r}")
    a, v = promote("searchsorted", a, v, broadcast=False)
    if a.ndim != 1:
        raise TracingError(f"{caller_site()}: searchsorted needs a 1-D sorted array, got "
                           f"{shape_text(a.shape)}")
    if sorter is not None:
        a = take(a, sorter)
    static_shape("searchsorted", a)
    values = expand_dims(v, -1)
    # left: a[i] < v; right: a[i] <= v, i.e. not v < a[i]
    counted = _before(a, values) if side == "left" else logical_not(_before(values, a))
    return reduce_sum(counted, axis=-1, dtype=INT32)


def select(condlist, choicelist, default=0):
    """Elementwise, the choice of the first true condition (else `default`), like jnp.select.

    Example:
        >>> x = anp.arange(4.0)
        >>> anp.select([x < 1, x > 2], [x, -x], 9.0)   # [0, 9, 9, -3]
    """
    if len(condlist) != len(choicelist):
        raise TracingError(f"{caller_site()}: select: {len(condlist)} conditions but "
                           f"{len(choicelist)} choices")
    if not condlist:
        raise TracingError(f"{caller_site()}: select needs at least one condition")
    default, *choices = promote("select", default, *choicelist, broadcast=False)
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choices)):
        out = where(cond, choice, out)
    return out


def _need_size(name: str, size) -> int:
    if size is None:
        raise TracingError(f"{caller_site()}: {name}'s output size depends on the values; pass "
                           f"a static size= (and fill_value=) as jnp.{name} needs under jit")
    return int(size)


def _first_true(name: str, mask: Tracer, size: int) -> tuple[Tracer, Tracer]:
    """The flat positions of mask's first `size` true entries (int32, in order) and, per output
    slot, whether it holds a real position (False where mask has fewer than `size` trues)."""
    flat = ravel(mask)
    n = static_shape(name, flat)[0]
    order = argsort(logical_not(flat))  # stable: the true positions first, in order
    if size > n:
        order = concatenate([order, constant(np.zeros(size - n, np.int32))])
    order = slice_axis(order, 0, 0, size)
    valid = less(constant(np.arange(size, dtype=np.int32)), reduce_sum(flat, dtype=INT32))
    return order, valid


def nonzero(a, *, size=None, fill_value=None):
    """Indices (int32, one array per axis) of a's nonzero entries in C order, like jnp.nonzero
    under jit: `size` is required and fixes the output length; missing entries are `fill_value`
    (default 0; a scalar or one value per axis).

    Example:
        >>> anp.nonzero(anp.array([0, 3, 0, 5]), size=3)   # (array([1, 3, 0]),)
    """
    x = to_tracer(a)
    size = _need_size("nonzero", size)
    if x.ndim == 0:
        raise TracingError(f"{caller_site()}: nonzero of a 0-d array is not defined; use "
                           "atleast_1d first")
    shape = static_shape("nonzero", x)
    mask = x if dtypes.is_bool(x.dtype) else not_equal(x, scalar_like(0, x))
    flat, valid = _first_true("nonzero", mask, size)
    fills = fill_value if isinstance(fill_value, (tuple, list)) else [fill_value] * x.ndim
    if len(fills) != x.ndim:
        raise TracingError(f"{caller_site()}: nonzero: {len(fills)} fill values for a "
                           f"{x.ndim}-d array")
    out, stride = [], int(np.prod(shape))
    for dim, fill in zip(shape, fills):
        stride //= dim
        index = flat // stride % dim if stride else flat
        fill = 0 if fill is None else fill
        out.append(astype(where(valid, index, fill), INT32))
    return tuple(out)


def flatnonzero(a, *, size=None, fill_value=None):
    """Indices (int32) of the nonzero entries of ravel(a), like jnp.flatnonzero under jit
    (`size` required, padding `fill_value`, default 0).

    Example:
        >>> anp.flatnonzero(anp.array([[0, 1], [2, 0]]), size=2)   # [1, 2]
    """
    return nonzero(ravel(a), size=size, fill_value=fill_value)[0]


def argwhere(a, *, size=None, fill_value=None):
    """Indices (int32, shape (size, a.ndim)) of a's nonzero entries, like jnp.argwhere under jit.

    Example:
        >>> anp.argwhere(anp.array([[0, 1], [2, 0]]), size=2)   # [[0, 1], [1, 0]]
    """
    x = to_tracer(a)
    return stack(nonzero(x, size=size, fill_value=fill_value), axis=1)


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, size=None, fill_value=None):
    """The sorted unique values of ravel(ar), like jnp.unique under jit: `size` is required and
    fixes the output length; missing entries are `fill_value` (default: the smallest value).
    NaNs count as one value (equal_nan=True). Only the values are returned (no index, inverse
    or counts yet) and axis must be None.

    Example:
        >>> anp.unique(anp.array([3, 1, 3, 2]), size=4, fill_value=0)   # [1, 2, 3, 0]
    """
    if return_index or return_inverse or return_counts or axis is not None:
        raise NotImplementedError("aotc.numpy.unique returns the values only (axis=None)")
    size = _need_size("unique", size)
    s = sort(ravel(to_tracer(ar)))
    n = static_shape("unique", s)[0]
    if n == 0:
        raise TracingError(f"{caller_site()}: unique of an empty array")
    later, earlier = slice_axis(s, 0, 1, n), slice_axis(s, 0, 0, n - 1)
    repeated = equal(later, earlier)
    if equal_nan and dtypes.is_float(s.dtype):
        repeated = logical_or(repeated, logical_and(isnan(later), isnan(earlier)))
    is_new = concatenate([constant(np.ones(1, bool)), logical_not(repeated)])
    positions, valid = _first_true("unique", is_new, size)
    values = take(s, minimum(positions, n - 1))
    fill = slice_axis(values, 0, 0, 1) if fill_value is None else fill_value
    return where(valid, values, astype(asarray(fill), s.dtype))


def isin(element, test_elements, assume_unique=False, invert=False, *, method="auto"):
    """Whether each element of `element` occurs in test_elements (boolean, element's shape), like
    jnp.isin; NaN occurs nowhere.

    Example:
        >>> anp.isin(anp.array([1, 2, 3]), anp.array([3, 1]))   # [True, False, True]
    """
    x, tests = promote("isin", element, test_elements, broadcast=False)
    found = reduce_any(equal(expand_dims(x, -1), ravel(tests)), axis=-1)
    return logical_not(found) if invert else found
