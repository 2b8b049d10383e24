"""Matrix products of jax.numpy.linalg: matrix_power, multi_dot, tensorsolve, tensorinv, and the
array-API functions it shares with jax.numpy (cross, outer, matmul, vecdot, matrix_transpose,
tensordot, trace, diagonal), with jax.numpy.linalg's signatures (last-axes conventions)."""

import math

from aotc.frontend import numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.linalg.factor import float_matrix, inv, solve
from aotc.frontend.numpy.core import shape_text
from aotc.frontend.trace.tracer import to_tracer

__all__ = ["matrix_power", "multi_dot", "tensorsolve", "tensorinv", "cross", "outer", "matmul",
           "vecdot", "matrix_transpose", "tensordot", "trace", "diagonal"]


def matrix_power(a, n: int):
    """a raised to the integer power n by repeated squaring, as jax.numpy.linalg.matrix_power:
    n = 0 gives the identity, n < 0 the power of inv(a). Batched over leading dims.

    Example:
        >>> anp.linalg.matrix_power(a, 3)   # a @ a @ a
    """
    if isinstance(n, bool) or not isinstance(n, int):
        try:
            n = int(n.__index__())
        except (AttributeError, TypeError):
            raise TracingError(f"{caller_site()}: matrix_power: n must be a Python int; got "
                               f"{type(n).__name__}") from None
    a = to_tracer(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise TracingError(f"{caller_site()}: matrix_power takes square matrices (..., n, n); "
                           f"got {shape_text(a.shape)}")
    if n == 0:
        return anp.broadcast_to(anp.eye(a.shape[-1], dtype=a.dtype), a.shape)
    if n < 0:
        a, n = inv(a), -n
    result, square = None, a
    while n:  # binary exponentiation, unrolled at trace time
        if n & 1:
            result = square if result is None else anp.matmul(result, square)
        n >>= 1
        if n:
            square = anp.matmul(square, square)
    return result


def _chain_order(dims: list[int]):
    """numpy's multi_dot order: split[i][j] of the cheapest parenthesization of matrices i..j
    (dynamic programming over the chain's dims)."""
    count = len(dims) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain_product(arrays, split, i, j):
    if i == j:
        return arrays[i]
    k = split[i][j]
    return anp.matmul(_chain_product(arrays, split, i, k),
                      _chain_product(arrays, split, k + 1, j))


def multi_dot(arrays, *, precision=None):
    """The product of a chain of matrices in the cheapest order (numpy's dynamic programming), as
    jax.numpy.linalg.multi_dot: the first array may be 1-D (a row), the last 1-D (a column),
    the others 2-D.

    Example:
        >>> anp.linalg.multi_dot([a, b, c])   # a @ b @ c, parenthesized for the fewest flops
    """
    arrays = [to_tracer(x) for x in arrays]
    if len(arrays) < 2:
        raise TracingError(f"{caller_site()}: multi_dot needs at least two arrays; got "
                           f"{len(arrays)}")
    first_vector, last_vector = arrays[0].ndim == 1, arrays[-1].ndim == 1
    if first_vector:
        arrays[0] = arrays[0][None, :]
    if last_vector:
        arrays[-1] = arrays[-1][:, None]
    for k, x in enumerate(arrays):
        if x.ndim != 2:
            raise TracingError(f"{caller_site()}: multi_dot: array {k} must be 2-D (the first "
                               f"and last may be 1-D); got {shape_text(x.shape)}")
    for k in range(len(arrays) - 1):
        if arrays[k].shape[1] != arrays[k + 1].shape[0]:
            raise TracingError(f"{caller_site()}: multi_dot: arrays {k} and {k + 1} do not "
                               f"chain: {shape_text(arrays[k].shape)} @ "
                               f"{shape_text(arrays[k + 1].shape)}")
    dims = [arrays[0].shape[0]] + [x.shape[1] for x in arrays]
    out = _chain_product(arrays, _chain_order(dims), 0, len(arrays) - 1)
    if first_vector:
        out = out[0]
    if last_vector:
        out = out[..., 0]
    return out


def tensorsolve(a, b, axes=None):
    """x with tensordot(a, x, x.ndim) = b, as jax.numpy.linalg.tensorsolve: a's trailing dims
    (after moving `axes` last) are x's shape; their product must equal b's size.

    Example:
        >>> x = anp.linalg.tensorsolve(a, b)   # a (2, 3, 6), b (2, 3): x (6,)
    """
    a, b = to_tracer(a), to_tracer(b)
    if axes is not None:
        axes = [ax % a.ndim for ax in axes]
        a = anp.moveaxis(a, axes, [a.ndim - len(axes) + k for k in range(len(axes))])
    out_shape = a.shape[b.ndim:]
    size = math.prod(b.shape)
    if math.prod(out_shape) != size or a.shape[:b.ndim] != b.shape:
        raise TracingError(f"{caller_site()}: tensorsolve: a {shape_text(a.shape)} must be "
                           f"b's shape {shape_text(b.shape)} followed by dims of the same "
                           "total size")
    x = solve(anp.reshape(a, (size, size)), anp.reshape(b, (size,)))
    return anp.reshape(x, out_shape)


def tensorinv(a, ind: int = 2):
    """The inverse of a seen as a matrix of its first `ind` dims by the rest, as
    jax.numpy.linalg.tensorinv: the result has shape a.shape[ind:] + a.shape[:ind].

    Example:
        >>> anp.linalg.tensorinv(anp.ones((4, 6, 8, 3)), ind=2).shape   # (8, 3, 4, 6)
    """
    a = to_tracer(a)
    if not isinstance(ind, int) or ind <= 0:
        raise TracingError(f"{caller_site()}: tensorinv: ind must be a positive int; got "
                           f"{ind!r}")
    rows, cols = math.prod(a.shape[:ind]), math.prod(a.shape[ind:])
    if rows != cols:
        raise TracingError(f"{caller_site()}: tensorinv: the first {ind} dims of "
                           f"{shape_text(a.shape)} and the rest must have the same size")
    matrix = float_matrix(anp.reshape(a, (rows, cols)), "tensorinv")
    return anp.reshape(inv(matrix), (*a.shape[ind:], *a.shape[:ind]))


def cross(x1, x2, /, *, axis=-1):
    """Cross product of 3-vectors along `axis`, as jax.numpy.linalg.cross (both inputs must
    have size 3 there).

    Example:
        >>> anp.linalg.cross(anp.array([1.0, 0, 0]), anp.array([0.0, 1, 0]))   # [0, 0, 1]
    """
    x1, x2 = to_tracer(x1), to_tracer(x2)
    if x1.ndim == 0 or x2.ndim == 0 or x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise TracingError(f"{caller_site()}: linalg.cross takes 3-vectors along axis {axis}; "
                           f"got {shape_text(x1.shape)} and {shape_text(x2.shape)}")
    return anp.cross(x1, x2, axis=axis)


def outer(x1, x2, /):
    """Outer product of two 1-D arrays, as jax.numpy.linalg.outer.

    Example:
        >>> anp.linalg.outer(anp.arange(2.0), anp.arange(3.0)).shape   # (2, 3)
    """
    x1, x2 = to_tracer(x1), to_tracer(x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise TracingError(f"{caller_site()}: linalg.outer takes 1-D arrays; got "
                           f"{shape_text(x1.shape)} and {shape_text(x2.shape)}")
    return anp.outer(x1, x2)


def matmul(x1, x2, /, *, precision=None, preferred_element_type=None):
    """Matrix product with broadcast batch dims, as jax.numpy.linalg.matmul (= jnp.matmul).

    Example:
        >>> anp.linalg.matmul(a, b)
    """
    return anp.matmul(x1, x2, precision=precision, preferred_element_type=preferred_element_type)


def vecdot(x1, x2, /, *, axis: int = -1, precision=None, preferred_element_type=None):
    """Dot products of vectors along `axis` (other axes broadcast), as
    jax.numpy.linalg.vecdot.

    Example:
        >>> anp.linalg.vecdot(anp.ones((4, 3)), anp.arange(3.0))   # [3, 3, 3, 3]
    """
    return anp.vecdot(x1, x2, axis=axis)


def matrix_transpose(x, /):
    """x with its last two axes swapped, as jax.numpy.linalg.matrix_transpose.

    Example:
        >>> anp.linalg.matrix_transpose(anp.ones((5, 2, 3))).shape   # (5, 3, 2)
    """
    return anp.matrix_transpose(x)


def tensordot(x1, x2, /, *, axes=2, precision=None, preferred_element_type=None):
    """Sum-product over `axes`, as jax.numpy.linalg.tensordot (axes keyword-only).

    Example:
        >>> anp.linalg.tensordot(a, b, axes=1)   # a @ b for matrices
    """
    return anp.tensordot(x1, x2, axes)


def trace(x, /, *, offset: int = 0, dtype=None):
    """Sum of the diagonal of the last two axes, as jax.numpy.linalg.trace.

    Example:
        >>> anp.linalg.trace(anp.ones((2, 3, 3)))   # [3, 3]
    """
    x = _matrices(x, "linalg.trace")
    out = anp.trace(x, offset, -2, -1)
    return out if dtype is None else out.astype(dtype)


def diagonal(x, /, *, offset: int = 0):
    """The diagonal of the last two axes, as jax.numpy.linalg.diagonal.

    Example:
        >>> anp.linalg.diagonal(anp.ones((2, 3, 3))).shape   # (2, 3)
    """
    return anp.diagonal(_matrices(x, "linalg.diagonal"), offset, -2, -1)


def _matrices(x, what):
    x = to_tracer(x)
    if x.ndim < 2:
        raise TracingError(f"{caller_site()}: {what} takes arrays of at least 2 dims; got "
                           f"{shape_text(x.shape)}")
    return x
