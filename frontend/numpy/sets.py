"""Set operations of aotc.numpy with JAX's semantics under jit: union1d, intersect1d, setdiff1d,
setxor1d and the Array API unique_all / unique_counts / unique_inverse / unique_values. Output
lengths depend on the values, so a static `size=` fixes them and `fill_value=` pads (defaults as
jax.numpy's). Everything is a stable sort, a compare, a cumulative sum or a gather."""

import numpy as np

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import INT32, slice_axis, static_shape
from aotc.frontend.numpy.core import asarray, astype, promote
from aotc.frontend.numpy.cumulative import cumsum
from aotc.frontend.numpy.indexing import take
from aotc.frontend.numpy.math import logical_and, logical_not, not_equal, where
from aotc.frontend.numpy.rearranging import argsort
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.searching import isin, nonzero, unique
from aotc.frontend.numpy.shape import concatenate, ravel, reshape
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer

__all__ = [
    "intersect1d", "setdiff1d", "setxor1d", "union1d", "unique_all", "unique_counts",
    "unique_inverse", "unique_values",
]


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
    is not supported.

    Example:
        >>> anp.intersect1d(anp.array([3, 1, 2]), anp.array([2, 3]), size=2)   # [2, 3]
    """
    if return_indices:
        raise TracingError(f"{caller_site()}: intersect1d: return_indices=True is not supported; "
                           "use searchsorted on the result to find positions")
    size = _need_size("intersect1d", size)
    a, b = promote("intersect1d", ar1, ar2, broadcast=False)
    values, _, is_new = _sorted("intersect1d", a)
    return _pick(values, logical_and(is_new, isin(values, b)), size, fill_value)


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
    return values, _counts(is_new, int(size))


def unique_inverse(x, /, *, size=None, fill_value=None):
    """(values, inverse_indices) with values[inverse_indices] == x, like jnp.unique_inverse
    under jit (inverse_indices int32 of x's shape).

    Example:
        >>> anp.unique_inverse(anp.array([2, 1, 2]), size=2)   # ([1, 2], [1, 0, 1])
    """
    x, _, perm, is_new, _, values = _unique_parts("unique_inverse", x, size, fill_value)
    return values, _inverse(x, perm, is_new)


def unique_all(x, /, *, size=None, fill_value=None):
    """(values, indices, inverse_indices, counts) of x's sorted unique values, like
    jnp.unique_all under jit: indices of first occurrences in ravel(x), the inverse map of x's
    shape and the counts (int32).

    Example:
        >>> anp.unique_all(anp.array([2, 1, 2]), size=2)   # values [1, 2], indices [1, 0], ...
    """
    x, _, perm, is_new, positions, values = _unique_parts("unique_all", x, size, fill_value)
    return values, take(perm, positions), _inverse(x, perm, is_new), _counts(is_new, int(size))
