"""Polynomials (coefficients highest power first) and log-spaced values of aotc.numpy, with JAX's
semantics and dtypes: vander, polyval, polyadd/sub/mul, polyder, polyint, poly, logspace and
geomspace."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import static_shape
from aotc.frontend.numpy.core import asarray, astype, promote
from aotc.frontend.numpy.creation import ones, zeros
from aotc.frontend.numpy.math import log10, power, sign
from aotc.frontend.numpy.shape import atleast_1d, concatenate, stack
from aotc.frontend.numpy.statistics import convolve
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "geomspace", "logspace", "poly", "polyadd", "polyder", "polyint", "polymul", "polysub",
    "polyval", "vander",
]


def _error(name: str, message: str) -> TracingError:
    return TracingError(f"{caller_site()}: {name}: {message}")


def _inexact(name: str, *xs) -> list[Tracer]:
    return promote(name, *xs, inexact=True, broadcast=False)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D x (powers N-1 .. 0, or increasing), like jnp.vander.

    Example:
        >>> anp.vander(anp.array([1, 2, 3]), 3)   # [[1, 1, 1], [4, 2, 1], [9, 3, 1]]
    """
    x = to_tracer(x)
    if x.ndim != 1:
        raise _error("vander", "x must be one-dimensional")
    n = static_shape("vander", x)[0] if N is None else int(N)
    if n == 0:
        return zeros((x.shape[0], 0), x.dtype)
    columns = [ones(x.shape, x.dtype)]
    for _ in range(n - 1):  # repeated products: exact for ints and for negative float bases
        columns.append(columns[-1] * x)
    return stack(columns if increasing else columns[::-1], axis=1)


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """num values base**t for t evenly spaced from start to stop, like jnp.logspace.

    Example:
        >>> anp.logspace(0.0, 2.0, 3)   # [1.0, 10.0, 100.0]
    """
    dt = _space_dtype(start, stop, dtype)
    if axis != 0:
        raise _error("logspace", "only axis=0 is supported (start and stop are scalars)")
    start, stop = (astype(t, _inexact_of(dt)) for t in _inexact("logspace", start, stop))
    return astype(power(base, linspace_between(start, stop, num, endpoint)), dt)


def linspace_between(start: Tracer, stop: Tracer, num: int, endpoint: bool) -> Tracer:
    """JAX's linspace of traced scalars: start * (1 - t) + stop * t, then stop itself."""
    div = num - 1 if endpoint else num
    if num <= 1:
        return start[None][:num]
    t = astype(asarray(np.arange(div, dtype=np.float32)), start.dtype) / div
    out = start * (1 - t) + stop * t
    return concatenate([out, stop[None]]) if endpoint else out


def _space_dtype(start, stop, dtype):
    if dtype is not None:
        return dtypes.canonicalize(dtype)
    return promote("space", start, stop, inexact=True, broadcast=False)[0].dtype


def _inexact_of(dt):
    return dt if dtypes.is_float(dt) else dtypes.float32


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """num values evenly spaced on a log scale from start to stop, like jnp.geomspace.

    Example:
        >>> anp.geomspace(1.0, 1000.0, 4)   # [1.0, 10.0, 100.0, 1000.0]
    """
    dt = _space_dtype(start, stop, dtype)
    start, stop = (astype(t, _inexact_of(dt)) for t in _inexact("geomspace", start, stop))
    s = sign(start)
    values = s * logspace(log10(start / s), log10(stop / s), num, endpoint, 10.0, start.dtype, axis)
    return astype(values, dt)


def polyval(p, x):
    """The polynomial with coefficients p (highest power first) at x, by Horner's rule, like
    jnp.polyval.

    Example:
        >>> anp.polyval(anp.array([1.0, 0.0, -1.0]), 3.0)   # 8.0
    """
    p, x = promote("polyval", p, x, broadcast=False)
    n = static_shape("polyval", p)[0]
    y = zeros(x.shape, x.dtype) if p.ndim == 1 else zeros(np.broadcast_shapes(p.shape[1:],
                                                                             x.shape), x.dtype)
    for k in range(n):
        y = y * x + p[k]
    return y


def _padded(a: Tracer, n: int) -> Tracer:
    m = a.shape[0]
    return a if m == n else concatenate([zeros((n - m,), a.dtype), a])


def polyadd(a1, a2):
    """The sum of two polynomials (coefficients highest power first), like jnp.polyadd.

    Example:
        >>> anp.polyadd(anp.array([1, 2]), anp.array([1, 0, 0]))   # [1, 1, 2]
    """
    a1, a2 = promote("polyadd", a1, a2, broadcast=False)
    n = max(a1.shape[0], a2.shape[0])
    return _padded(a1, n) + _padded(a2, n)


def polysub(a1, a2):
    """The difference of two polynomials (coefficients highest power first), like jnp.polysub.

    Example:
        >>> anp.polysub(anp.array([1, 2]), anp.array([1, 0, 0]))   # [-1, 1, 2]
    """
    a1, a2 = promote("polysub", a1, a2, broadcast=False)
    n = max(a1.shape[0], a2.shape[0])
    return _padded(a1, n) - _padded(a2, n)


def polymul(a1, a2, *, trim_leading_zeros=False):
    """The product of two polynomials (a full convolution, in a float dtype), like jnp.polymul.

    Example:
        >>> anp.polymul(anp.array([1.0, 1.0]), anp.array([1.0, -1.0]))   # [1.0, 0.0, -1.0]
    """
    if trim_leading_zeros:
        raise _error("polymul", "trim_leading_zeros=True needs data-dependent sizes")
    a1, a2 = _inexact("polymul", a1, a2)
    return convolve(a1, a2, mode="full")


def polyder(p, m=1):
    """The m-th derivative of a polynomial (a float dtype), like jnp.polyder.

    Example:
        >>> anp.polyder(anp.array([1.0, 1.0, 1.0]))   # [2.0, 1.0]
    """
    (p,) = _inexact("polyder", p)
    n = static_shape("polyder", p)[0]
    if m == 0:
        return p
    coeff = np.prod(np.arange(m, n)[None] - np.arange(m)[:, None], axis=0)[::-1]
    return p[:-m] * astype(asarray(coeff.astype(np.float64)), p.dtype)


def polyint(p, m=1, k=None):
    """The m-th antiderivative of a polynomial with integration constants k, like jnp.polyint.

    Example:
        >>> anp.polyint(anp.array([3.0, 2.0]))   # [1.5, 2.0, 0.0]
    """
    p, k = _inexact("polyint", p, 0 if k is None else k)
    k = atleast_1d(k)
    if m == 0:
        return p
    if k.shape[0] == 1:
        k = concatenate([k] * m)
    if k.shape[0] != m:
        raise _error("polyint", f"k must be a scalar or have m={m} values")
    n = static_shape("polyint", p)[0]
    grid = np.arange(n + m)[None] - np.arange(m)[:, None]
    coeff = np.prod(np.maximum(1, grid), axis=0)[::-1].astype(np.float64)
    return concatenate([p, k]) / astype(asarray(coeff), p.dtype)


def poly(seq_of_zeros):
    """The coefficients of the monic polynomial with the given 1-D roots, like jnp.poly.

    Example:
        >>> anp.poly(anp.array([1.0, 2.0]))   # [1.0, -3.0, 2.0]
    """
    (roots,) = _inexact("poly", seq_of_zeros)
    roots = atleast_1d(roots)
    if roots.ndim != 1:
        raise _error("poly", "only 1-D roots are supported (a matrix needs eigvals)")
    a = ones((1,), roots.dtype)
    for k in range(static_shape("poly", roots)[0]):
        a = convolve(a, concatenate([ones((1,), roots.dtype), -roots[k:k + 1]]), mode="full")
    return a
