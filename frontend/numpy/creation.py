"""Array creation in aotc.numpy: zeros, ones, full, *_like, arange, linspace, eye, tri, tril."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import asarray, astype, broadcast_to, promote, scalar_like
from aotc.frontend.numpy.math import add, multiply, subtract, where
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace import symbolic
from aotc.frontend.trace.symbolic import Dim, has_dims
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer


def _shape(shape) -> tuple:
    if isinstance(shape, (int, np.integer, Dim)):
        shape = (shape,)
    return tuple(d if isinstance(d, Dim) else int(d) for d in shape)  # Dim: a dynamic size


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with fill_value (a scalar or traced value)."""
    value = asarray(fill_value)
    if dtype is not None:
        value = astype(value, dtypes.requested(dtype, "full"))
    return broadcast_to(value, _shape(shape))  # a Python scalar stays weakly typed, as in JAX


def zeros(shape, dtype=None):
    """An array of zeros, as numpy.zeros (float32 by default).

    Example: `anp.zeros((2, 3), anp.int32)`.
    """
    if has_dims(_shape(shape)):
        return full(shape, 0, dtypes.requested(dtype or dtypes.float32, "zeros"))
    return constant(np.zeros(_shape(shape), dtypes.requested(dtype or dtypes.float32, "zeros")))


def ones(shape, dtype=None):
    """An array of ones, as numpy.ones (float32 by default)."""
    if has_dims(_shape(shape)):
        return full(shape, 1, dtypes.requested(dtype or dtypes.float32, "ones"))
    return constant(np.ones(_shape(shape), dtypes.requested(dtype or dtypes.float32, "ones")))


def empty(shape, dtype=None):
    """An array of the given shape; its values are zeros, like jax.numpy.empty."""
    return zeros(shape, dtype)


def _like(x, dtype, shape):
    x = to_tracer(x)
    return x, (dtype or x.dtype), (x.shape if shape is None else _shape(shape))


def full_like(x, fill_value, dtype=None, shape=None):
    """An array shaped like x (or `shape`) filled with fill_value, as numpy.full_like."""
    x, dt, shp = _like(x, dtype, shape)
    if None in shp:
        return broadcast_to(astype(asarray(fill_value), dt), shp, like=[x])
    return full(shp, fill_value, dt)


def zeros_like(x, dtype=None, shape=None):
    """Zeros shaped like x, with x's dtype unless `dtype` is given, as numpy.zeros_like."""
    return full_like(x, 0, dtype, shape)


def ones_like(x, dtype=None, shape=None):
    """Ones shaped like x, with x's dtype unless `dtype` is given, as numpy.ones_like."""
    return full_like(x, 1, dtype, shape)


def empty_like(x, dtype=None, shape=None):
    """An array shaped like x; its values are zeros, like jax.numpy.empty_like."""
    return zeros_like(x, dtype, shape)


def arange(start, stop=None, step=1, dtype=None):
    """Like numpy.arange with static bounds; int32 for int bounds, float32 otherwise."""
    if stop is None:
        start, stop = 0, start
    if any(isinstance(v, Dim) for v in (start, stop, step)):
        return _dynamic_arange(start, stop, step, dtype)
    values = np.arange(start, stop, step)
    dt = (dtypes.requested(dtype, "arange") if dtype is not None
          else dtypes.canonical_default(values.dtype))
    if dtypes.is_int(dt) and all(isinstance(v, (int, np.integer)) for v in (start, stop, step)):
        n = len(values)
        index = Tracer(shape_ops.iota((n,), 0, dtypes.to_mlir(dt)))
        if start == 0 and step == 1:
            return index
        return add(multiply(index, step), start) if step != 1 else add(index, start)
    return constant(values.astype(dt))


def _dynamic_arange(start, stop, step, dtype):
    """arange with a symbolic bound (`anp.arange(b)`, b = x.shape[0] dynamic): int32 values
    of run-time length (stop - start) // step, from a dynamic_iota."""
    if not all(isinstance(v, (int, np.integer, Dim)) for v in (start, stop)) or not (
            isinstance(step, (int, np.integer)) and step > 0):
        raise TracingError(f"{caller_site()}: arange({start}, {stop}, {step}) with a dynamic "
                           "size needs int or dim bounds and a positive int step")
    n = (stop - start + step - 1) // step
    i32 = dtypes.to_mlir(dtypes.int32)
    if isinstance(n, Dim):
        index = Tracer(symbolic.remember(
            shape_ops.dynamic_iota(symbolic.shape_tensor((n,)), (None,), 0, i32), (n,)))
    else:
        index = Tracer(shape_ops.iota((max(int(n), 0),), 0, i32))
    out = add(multiply(index, int(step)), start) if step != 1 else add(index, start)
    return astype(out, dtypes.requested(dtype, "arange")) if dtype is not None else out


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    """`num` evenly spaced values from start to stop, as numpy.linspace (float32 default).

    Example: `anp.linspace(0, 1, 5)` is `[0.0, 0.25, 0.5, 0.75, 1.0]`.
    """
    values = np.linspace(start, stop, num, endpoint=endpoint)
    dt = dtypes.requested(dtype, "linspace") if dtype is not None else dtypes.float32
    if not isinstance(start, Tracer) and not isinstance(stop, Tracer):
        return constant(values.astype(dt))
    start, stop = promote("linspace", start, stop, inexact=True)
    div = (num - 1) if endpoint else num
    frac = constant(np.arange(num, dtype=np.float64) / max(div, 1), start.dtype)
    frac = Tracer(frac.value)
    return astype(add(start, multiply(frac, subtract(stop, start))), dt)


def eye(N, M=None, k=0, dtype=None):
    """A 2-D array with ones on the k-th diagonal, as numpy.eye."""
    M = N if M is None else M
    return constant(np.eye(N, M, k, dtype=dtypes.requested(dtype or dtypes.float32, "eye")))


def identity(n, dtype=None):
    """The n x n identity matrix, as numpy.identity."""
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    """Ones at and below the k-th diagonal, zeros above, as numpy.tri."""
    M = N if M is None else M
    return constant(np.tri(N, M, k, dtype=dtypes.requested(dtype or dtypes.float32, "tri")))


def _triangle_mask(x: Tracer, k: int, lower: bool) -> Tracer:
    n, m = x.shape[-2:]
    mask = np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)
    return constant(mask)


def tril(x, k=0):
    """x with the elements above the k-th diagonal zeroed, as numpy.tril."""
    x = to_tracer(x)
    return where(_triangle_mask(x, k, True), x, scalar_like(0, x))


def triu(x, k=0):
    """x with the elements below the k-th diagonal zeroed, as numpy.triu."""
    x = to_tracer(x)
    return where(_triangle_mask(x, k, False), x, scalar_like(0, x))
