"""Sorting-based functions of aotc.numpy with JAX's semantics under jit: the set operations
union1d, intersect1d, setdiff1d, setxor1d, the Array API unique_all / unique_counts /
unique_inverse / unique_values, lexsort, partition / argpartition and trim_zeros (static input
only). Output lengths that depend on the values take a static `size=` and pad with
`fill_value=` (defaults as jax.numpy's). Everything is a stable sort, a compare, a cumulative sum
or a gather."""

from typing import NamedTuple

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import INT32, slice_axis, static_shape
from aotc.frontend.numpy.core import asarray, astype, broadcast_to, normalize_axis, promote
from aotc.frontend.numpy.cumulative import cumsum
from aotc.frontend.numpy.indexing import take, take_along_axis
from aotc.frontend.numpy.math import (
    divide,
    isnan,
    less_equal,
    logical_and,
    logical_not,
    minimum,
    not_equal,
    where,
)
from aotc.frontend.numpy.rearranging import argsort, sort
from aotc.frontend.numpy.reductions import any as reduce_any
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.searching import isin, nonzero, searchsorted
from aotc.frontend.numpy.searching import unique as _unique_sorted_values
from aotc.frontend.numpy.shape import concatenate, flip, moveaxis, ravel, reshape
from aotc.frontend.ops import complex as cx
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.tracer import Tracer, constant, is_tracing, to_tracer

__all__ = [
    "argpartition", "intersect1d", "lexsort", "partition", "setdiff1d", "setxor1d",
    "sort_complex", "trim_zeros", "union1d", "unique", "unique_all", "unique_counts",
    "unique_inverse", "unique_values",
]


class UniqueAllResult(NamedTuple):
    """unique_all's result, as jnp's."""
    values: Tracer
    indices: Tracer
    inverse_indices: Tracer
    counts: Tracer


class UniqueCountsResult(NamedTuple):
    """unique_counts's result, as jnp's."""
    values: Tracer
    counts: Tracer


class UniqueInverseResult(NamedTuple):
    """unique_inverse's result, as jnp's."""
    values: Tracer
    inverse_indices: Tracer


def _fail(message: str) -> TracingError:
    return TracingError(f"{caller_site()}: {message}")


def _need_size(name: str, size) -> int:
    if size is None:
        raise TracingError(f"{caller_site()}: {name}'s output size depends on the values; pass "
                           f"a static size= (and fill_value=) as jnp.{name} needs under jit")
    return int(size)


def _sorted(name: str, x: Tracer) -> tuple[Tracer, Tracer, Tracer]:
    """ravel(x) stably sorted, the permutation that sorts it, and where a new value starts
    (NaNs all differ, as the Array API unique_* and JAX's compares treat them)."""
    flat = ravel(x)
    n = static_shape(name, flat)[0]
    if n == 0:
        raise TracingError(f"{caller_site()}: {name} of an empty array")
    perm = argsort(flat)
    s = take(flat, perm)
    changed = not_equal(slice_axis(s, 0, 1, n), slice_axis(s, 0, 0, n - 1))
    return s, perm, concatenate([constant(np.ones(1, bool)), changed])


def _first(keep: Tracer, size: int) -> tuple[Tracer, Tracer, Tracer]:
    """Positions (int32) of keep's first `size` true entries (0 past the end), which output
    slots are real, and how many trues there are."""
    (positions,) = nonzero(keep, size=size, fill_value=0)
    count = reduce_sum(keep, dtype=INT32)
    return positions, constant(np.arange(size, dtype=np.int32)) < count, count


def _pick(values: Tracer, keep: Tracer, size: int, fill_value) -> Tracer:
    """The first `size` kept values, padded with fill_value (default: the smallest kept value,
    or 0 when none is kept, as jnp's set operations do)."""
    positions, valid, count = _first(keep, size)
    picked = take(values, positions)
    if fill_value is None:
        fill = where(count > 0, take(picked, constant(np.zeros((), np.int32))),
                     astype(asarray(0), values.dtype))
    else:
        fill = astype(asarray(fill_value), values.dtype)
    return where(valid, picked, fill)


def union1d(ar1, ar2, *, size=None, fill_value=None):
    """The sorted unique values of both arrays, like jnp.union1d under jit (size= required;
    fill_value defaults to the smallest value).

    Example:
        >>> anp.union1d(anp.array([3, 1]), anp.array([2, 3]), size=3)   # [1, 2, 3]
    """
    size = _need_size("union1d", size)
    a, b = promote("union1d", ar1, ar2, broadcast=False)
    return unique(concatenate([ravel(a), ravel(b)]), size=size, fill_value=fill_value)


def setdiff1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    """The sorted unique values of ar1 that are not in ar2 (ar1's dtype), like jnp.setdiff1d
    under jit (size= required; fill_value defaults to 0). With assume_unique=True ar1's order
    is kept.

    Example:
        >>> anp.setdiff1d(anp.array([3, 1, 2]), anp.array([2]), size=3)   # [1, 3, 0]
    """
    size = _need_size("setdiff1d", size)
    a = ravel(to_tracer(ar1))
    fill = 0 if fill_value is None else fill_value
    if assume_unique:
        values, keep = a, logical_not(isin(a, ar2))
    else:
        values, _, is_new = _sorted("setdiff1d", a)
        keep = logical_and(is_new, logical_not(isin(values, ar2)))
    return _pick(values, keep, size, fill)


def intersect1d(ar1, ar2, assume_unique=False, return_indices=False, *, size=None,
                fill_value=None):
    """The sorted unique values found in both arrays, like jnp.intersect1d under jit (size=
    required; fill_value defaults to the smallest value in the intersection). return_indices
    adds the first positions of each value in ravel(ar1) and ravel(ar2) (padded with their
    sizes).

    Example:
        >>> anp.intersect1d(anp.array([3, 1, 2]), anp.array([2, 3]), size=2)   # [2, 3]
    """
    size = _need_size("intersect1d", size)
    a, b = promote("intersect1d", ar1, ar2, broadcast=False)
    a, b = ravel(a), ravel(b)
    values, perm, is_new = _sorted("intersect1d", a)
    keep = logical_and(is_new, isin(values, b))
    out = _pick(values, keep, size, fill_value)
    if not return_indices:
        return out
    # first occurrences: the start of each run in a's stable sort, a search in b's
    positions, valid, _ = _first(keep, size)
    n1, n2 = a.shape[0], static_shape("intersect1d", b)[0]
    b_perm = argsort(b)
    found = searchsorted(take(b, b_perm), take(values, positions))
    b_index = take(b_perm, minimum(found, n2 - 1))
    return out, where(valid, take(perm, positions), n1), where(valid, b_index, n2)


def setxor1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    """The sorted unique values found in exactly one of the arrays, like jnp.setxor1d under jit
    (size= required; fill_value defaults to the smallest value in the result).

    Example:
        >>> anp.setxor1d(anp.array([1, 2]), anp.array([2, 3]), size=2)   # [1, 3]
    """
    size = _need_size("setxor1d", size)
    a, b = promote("setxor1d", ar1, ar2, broadcast=False)
    values, _, is_new = _sorted("setxor1d", concatenate([ravel(a), ravel(b)]))
    only_one = not_equal(isin(values, a), isin(values, b))
    return _pick(values, logical_and(is_new, only_one), size, fill_value)


def _unique_parts(name: str, x, size, fill_value):
    size = _need_size(name, size)
    x = to_tracer(x)
    s, perm, is_new = _sorted(name, x)
    positions, valid, _ = _first(is_new, size)
    values = take(s, positions)
    if fill_value is not None:
        values = where(valid, values, astype(asarray(fill_value), s.dtype))
    return x, s, perm, is_new, positions, values


def _counts(is_new: Tracer, size: int) -> Tracer:
    n = is_new.shape[0]
    (starts,) = nonzero(is_new, size=size + 1, fill_value=0)
    later = slice_axis(starts, 0, 1, size + 1)
    bounds = concatenate([slice_axis(starts, 0, 0, 1), where(later != 0, later, n)])
    return slice_axis(bounds, 0, 1, size + 1) - slice_axis(bounds, 0, 0, size)


def _inverse(x: Tracer, perm: Tracer, is_new: Tracer) -> Tracer:
    group = cumsum(astype(is_new, INT32)) - 1  # unique slot of each sorted element
    return reshape(take(group, argsort(perm)), x.shape)


def unique_values(x, /, *, size=None, fill_value=None):
    """The sorted unique values of x (NaNs all distinct), like jnp.unique_values under jit
    (size= required; padding fill_value, default the smallest value).

    Example:
        >>> anp.unique_values(anp.array([2, 1, 2]), size=2)   # [1, 2]
    """
    return _unique_parts("unique_values", x, size, fill_value)[-1]


def unique_counts(x, /, *, size=None, fill_value=None):
    """(values, counts) of x's sorted unique values, like jnp.unique_counts under jit (padding
    slots count 0).

    Example:
        >>> anp.unique_counts(anp.array([2, 1, 2]), size=2)   # ([1, 2], [1, 2])
    """
    _, _, _, is_new, _, values = _unique_parts("unique_counts", x, size, fill_value)
    return UniqueCountsResult(values, _counts(is_new, int(size)))


def unique_inverse(x, /, *, size=None, fill_value=None):
    """(values, inverse_indices) with values[inverse_indices] == x, like jnp.unique_inverse
    under jit (inverse_indices int32 of x's shape).

    Example:
        >>> anp.unique_inverse(anp.array([2, 1, 2]), size=2)   # ([1, 2], [1, 0, 1])
    """
    x, _, perm, is_new, _, values = _unique_parts("unique_inverse", x, size, fill_value)
    return UniqueInverseResult(values, _inverse(x, perm, is_new))


def unique_all(x, /, *, size=None, fill_value=None):
    """(values, indices, inverse_indices, counts) of x's sorted unique values, like
    jnp.unique_all under jit: indices of first occurrences in ravel(x), the inverse map of x's
    shape and the counts (int32).

    Example:
        >>> anp.unique_all(anp.array([2, 1, 2]), size=2)   # values [1, 2], indices [1, 0], ...
    """
    x, _, perm, is_new, positions, values = _unique_parts("unique_all", x, size, fill_value)
    return UniqueAllResult(values, take(perm, positions), _inverse(x, perm, is_new),
                           _counts(is_new, int(size)))


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, size=None, fill_value=None, sorted=True):
    """The sorted unique values of ar (of ravel(ar), or its unique slices along `axis`), like
    jnp.unique, with the optional first-occurrence indices, the inverse map (x's shape when
    axis is None, else 1-D) and the counts (all int32), returned in that order.

    Under a trace `size` is required and fixes the length: missing values are fill_value
    (default: the smallest value, or slice), missing indices the first unique's index and
    missing counts 0. Called eagerly on concrete arrays, size defaults to the number of unique
    values, as in JAX. NaNs count as one value with equal_nan=True.

    Example:
        >>> anp.unique(anp.array([3, 1, 3]), return_counts=True, size=3, fill_value=0)
        (Array([1, 3, 0]), Array([1, 2, 0]))
    """
    if not sorted:
        raise _fail("unique(sorted=False) is not supported; the values come back sorted")
    if not is_tracing():  # concrete inputs: the size can be read off the values, as in JAX
        if size is None:
            found = np.unique(np.asarray(ar), axis=axis, equal_nan=equal_nan)
            size = found.shape[0 if axis is None else axis]
        return _EAGER_UNIQUE(ar, return_index, return_inverse, return_counts, axis,
                             equal_nan=equal_nan, size=int(size), fill_value=fill_value)
    if not (return_index or return_inverse or return_counts) and axis is None:
        return _unique_sorted_values(ar, equal_nan=equal_nan, size=size, fill_value=fill_value)
    size = _need_size("unique", size)
    x = to_tracer(ar)
    if axis is None:
        rows = reshape(ravel(x), (-1, 1))
    else:
        axis = normalize_axis("unique", axis, x.ndim)
        moved = moveaxis(x, axis, 0)
        static_shape("unique", moved)
        rows = reshape(moved, (moved.shape[0], -1))
    n = static_shape("unique", rows)[0]
    if n == 0:
        raise _fail("unique of an empty array")
    columns = [rows[:, k] for k in range(rows.shape[1])]
    perm = lexsort(columns[::-1]) if columns else argsort(constant(np.zeros(n, np.int32)))
    s = take(rows, perm, axis=0)
    later, earlier = slice_axis(s, 0, 1, n), slice_axis(s, 0, 0, n - 1)
    differs = not_equal(later, earlier)
    if equal_nan and dtypes.is_float(s.dtype):
        differs = logical_and(differs, logical_not(logical_and(isnan(later), isnan(earlier))))
    is_new = concatenate([constant(np.ones(1, bool)), reduce_any(differs, axis=1)])
    positions, valid, _ = _first(is_new, size)
    picked = take(s, positions, axis=0)
    fill = (take(picked, constant(np.zeros(1, np.int32)), axis=0) if fill_value is None
            else astype(asarray(fill_value), s.dtype))
    values = where(reshape(valid, (size, 1)), picked, fill)
    if axis is None:
        values = reshape(values, (size,))
    else:
        values = moveaxis(reshape(values, (size, *moved.shape[1:])), 0, axis)
    out = [values]
    if return_index:
        first = take(perm, positions)
        out.append(where(valid, first, take(first, constant(np.zeros((), np.int32)))))
    if return_inverse:
        inverse = _inverse(rows[:, 0] if axis is not None else ravel(x), perm, is_new)
        out.append(reshape(inverse, x.shape) if axis is None else inverse)
    if return_counts:
        out.append(_counts(is_new, size))
    return out[0] if len(out) == 1 else tuple(out)


_EAGER_UNIQUE = eager(unique)


def lexsort(keys, axis=-1):
    """Indices (int32) that sort by the last key, ties broken by the one before, and so on,
    like jnp.lexsort.

    Example:
        >>> anp.lexsort([anp.array([1, 0]), anp.array([0, 0])])   # [1, 0]
    """
    if isinstance(keys, Tracer):
        keys = [keys[i] for i in range(static_shape("lexsort", keys)[0])]
    keys = [to_tracer(k) for k in keys]
    if not keys:
        raise _fail("lexsort needs at least one key")
    shape = np.broadcast_shapes(*(k.shape for k in keys))
    keys = [broadcast_to(k, shape) for k in keys]
    axis = normalize_axis("lexsort", axis, len(shape))
    order = argsort(keys[0], axis=axis)
    for key in keys[1:]:
        step = argsort(take_along_axis(key, order, axis), axis=axis)
        order = take_along_axis(order, step, axis)
    return order


def sort_complex(a):
    """a sorted along its last axis by real part, then imaginary part, as complex64 (numpy and
    jnp.sort_complex).

    Example:
        >>> anp.sort_complex(anp.array([1 + 2j, 1 - 1j, -3 + 0j]))   # [-3+0j, 1-1j, 1+2j]
    """
    z = to_tracer(a)
    if not dtypes.is_complex(z.dtype):
        real = z if dtypes.is_float(z.dtype) else astype(z, dtypes.float32)
        z = astype(real, dtypes.complex_dtype(real.dtype))
    if z.ndim == 0:
        return z
    re, im = Tracer(cx.real(z.value)), Tracer(cx.imag(z.value))
    return take_along_axis(z, lexsort([im, re], axis=-1), axis=-1)


def _partition_axis(name: str, a, kth, axis):
    x = to_tracer(a)
    axis = normalize_axis(name, axis, x.ndim)
    x = moveaxis(x, axis, -1)
    n = static_shape(name, x)[-1]
    kth = int(kth)
    if not -n <= kth < n:
        raise _fail(f"{name}: kth={kth} out of range for an axis of size {n}")
    return x, axis, n, kth % n


def partition(a, kth, axis=-1):
    """a with the kth element in sorted position, like jnp.partition: JAX's layout, i.e. the
    kth+1 smallest first in ascending order, then the rest in descending order.

    Example:
        >>> anp.partition(anp.array([5.0, 1, 4, 2, 3]), 2)   # [1, 2, 3, 5, 4]
    """
    x, axis, n, kth = _partition_axis("partition", a, kth, axis)
    s = sort(x, axis=-1)
    out = concatenate([slice_axis(s, x.ndim - 1, 0, kth + 1),
                       flip(slice_axis(s, x.ndim - 1, kth + 1, n), -1)], -1)
    return moveaxis(out, -1, axis)


def argpartition(a, kth, axis=-1):
    """Indices (int32) that partition a around its kth element, like jnp.argpartition: those
    of the kth+1 smallest in sorted order, then the others in increasing index order.

    Example:
        >>> anp.argpartition(anp.array([5.0, 1, 4, 2, 3]), 2)   # [1, 3, 4, 0, 2]
    """
    x, axis, n, kth = _partition_axis("argpartition", a, kth, axis)
    if dtypes.is_float(x.dtype):  # -0 before +0, as the top_k JAX uses orders them
        order = lexsort([astype(divide(1, x) > 0, INT32), x], axis=-1)
    else:
        order = argsort(x, axis=-1)
    rank = argsort(order, axis=-1)
    rest = argsort(astype(less_equal(rank, kth), INT32), axis=-1)
    out = concatenate([slice_axis(order, x.ndim - 1, 0, kth + 1),
                       slice_axis(rest, x.ndim - 1, 0, n - kth - 1)], -1)
    return moveaxis(out, -1, axis)


def trim_zeros(filt, trim="fb"):
    """The 1-D filt without its leading ('f') and/or trailing ('b') zeros, like jnp.trim_zeros.
    Its length depends on the values, so filt must be static (a numpy array), as JAX can't jit
    it either.

    Example:
        >>> anp.trim_zeros(np.array([0, 1, 0, 2, 0]))   # [1, 0, 2]
    """
    if isinstance(filt, Tracer):
        raise _fail("trim_zeros: the output length depends on the values, so it cannot be "
                    "traced (jnp.trim_zeros can't be jitted either); call it on a numpy array "
                    "outside the traced function, or use nonzero(..., size=) to find the ends")
    values = np.asarray(filt)
    if values.ndim != 1:
        raise _fail(f"trim_zeros needs a 1-D array, got shape {values.shape}")
    nonzero_at = np.flatnonzero(values)
    start = int(nonzero_at[0]) if nonzero_at.size and "f" in trim.lower() else 0
    stop = int(nonzero_at[-1]) + 1 if nonzero_at.size and "b" in trim.lower() else len(values)
    if not nonzero_at.size:
        start = stop = 0
    return asarray(values[start:stop]) if is_tracing() else values[start:stop]

