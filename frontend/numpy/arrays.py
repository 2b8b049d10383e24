"""More array building and rearranging of aotc.numpy: concat, broadcast_arrays, atleast_3d, rot90,
cross, kron and the static index helpers triu_indices/tril_indices/diag_indices."""

import numpy as np

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.axes import static_shape
from aotc.frontend.numpy.core import (
    broadcast_shapes,
    broadcast_to,
    normalize_axis,
    promote,
    scalar_like,
    shape_text,
)
from aotc.frontend.numpy.math import multiply, subtract
from aotc.frontend.numpy.shape import (
    concatenate,
    expand_dims,
    flip,
    moveaxis,
    reshape,
    stack,
    transpose,
)
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer

__all__ = [
    "atleast_3d", "broadcast_arrays", "concat", "cross", "diag_indices", "kron", "rot90",
    "tril_indices", "triu_indices",
]


def concat(arrays, /, *, axis=0):
    """Join arrays along an existing axis: the array-API name of concatenate, like jnp.concat.

    Example:
        >>> anp.concat([anp.zeros(2), anp.ones(1)])   # [0, 0, 1]
    """
    return concatenate(arrays, axis=axis)


def broadcast_arrays(*args):
    """The arrays broadcast against each other to one shape (dtypes kept), like
    jnp.broadcast_arrays.

    Example:
        >>> a, b = anp.broadcast_arrays(anp.zeros((2, 1)), anp.ones(3))   # both (2, 3)
    """
    arrays = [to_tracer(a) for a in args]
    shape = broadcast_shapes("broadcast_arrays", *[a.shape for a in arrays])
    return [broadcast_to(a, shape, like=arrays) for a in arrays]


def _atleast_3d(x) -> Tracer:
    x = to_tracer(x)
    if x.ndim == 0:
        return reshape(x, (1, 1, 1))
    if x.ndim == 1:
        return reshape(x, (1, x.shape[0], 1))
    if x.ndim == 2:
        return reshape(x, (*x.shape, 1))
    return x


def atleast_3d(*arys):
    """Each array viewed with at least three dimensions ((N,) -> (1, N, 1), (M, N) -> (M, N, 1)),
    like jnp.atleast_3d; one argument gives one array, several a list.

    Example:
        >>> anp.atleast_3d(anp.ones(4)).shape   # (1, 4, 1)
    """
    out = [_atleast_3d(a) for a in arys]
    return out[0] if len(out) == 1 else out


def rot90(m, k=1, axes=(0, 1)):
    """m rotated by 90 degrees k times in the plane of `axes` (from the first axis towards the
    second), like jnp.rot90.

    Example:
        >>> anp.rot90(anp.array([[1, 2], [3, 4]]))   # [[2, 4], [1, 3]]
    """
    x = to_tracer(m)
    if len(axes) != 2:
        raise TracingError(f"{caller_site()}: rot90: axes must be two axes, got {axes}")
    ax1, ax2 = (normalize_axis("rot90", a, x.ndim) for a in axes)
    if ax1 == ax2:
        raise TracingError(f"{caller_site()}: rot90: the two axes are both {ax1}")
    k = int(k) % 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, ax1), ax2)
    perm = list(range(x.ndim))
    perm[ax1], perm[ax2] = perm[ax2], perm[ax1]
    return transpose(flip(x, ax2), perm) if k == 1 else flip(transpose(x, perm), ax2)


def _components(name: str, x: Tracer) -> list[Tracer]:
    size = static_shape(name, x)[-1]
    if size not in (2, 3):
        raise TracingError(f"{caller_site()}: {name}: vectors need 2 or 3 components, got "
                           f"{shape_text(x.shape)}")
    parts = [x[..., i] for i in range(size)]
    return parts if size == 3 else [*parts, scalar_like(0, x)]


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 2- or 3-component vectors along axisa/axisb (broadcasting the others),
    like jnp.cross; two 2-vectors give the scalar z component.

    Example:
        >>> anp.cross(anp.array([1.0, 0, 0]), anp.array([0.0, 1, 0]))   # [0, 0, 1]
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = promote("cross", a, b, broadcast=False)
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    a0, a1, a2 = _components("cross", a)
    b0, b1, b2 = _components("cross", b)
    z = subtract(multiply(a0, b1), multiply(a1, b0))
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return z
    x = subtract(multiply(a1, b2), multiply(a2, b1))
    y = subtract(multiply(a2, b0), multiply(a0, b2))
    shape = broadcast_shapes("cross", x.shape, y.shape, z.shape)
    out = stack([broadcast_to(c, shape) for c in (x, y, z)], axis=-1)
    return moveaxis(out, -1, axisc)


def kron(a, b):
    """Kronecker product: blocks a[i, j] * b, like jnp.kron (the lower rank padded with leading
    length-1 axes).

    Example:
        >>> anp.kron(anp.array([1, 2]), anp.array([1, 10]))   # [1, 10, 2, 20]
    """
    a, b = promote("kron", a, b, broadcast=False)
    ndim = max(a.ndim, b.ndim)
    a = reshape(a, (1,) * (ndim - a.ndim) + static_shape("kron", a))
    b = reshape(b, (1,) * (ndim - b.ndim) + static_shape("kron", b))
    spread_a = expand_dims(a, tuple(range(1, 2 * ndim, 2)))
    spread_b = expand_dims(b, tuple(range(0, 2 * ndim, 2)))
    return reshape(multiply(spread_a, spread_b), tuple(n * m for n, m in zip(a.shape, b.shape)))


def _index_arrays(rows: np.ndarray, cols: np.ndarray) -> tuple[Tracer, Tracer]:
    return constant(rows.astype(np.int32)), constant(cols.astype(np.int32))


def triu_indices(n, k=0, m=None):
    """Row and column indices (int32, static) of the upper triangle of an (n, m) array from
    diagonal k on, like jnp.triu_indices.

    Example:
        >>> anp.triu_indices(2)   # ([0, 0, 1], [0, 1, 1])
    """
    return _index_arrays(*np.triu_indices(int(n), int(k), None if m is None else int(m)))


def tril_indices(n, k=0, m=None):
    """Row and column indices (int32, static) of the lower triangle of an (n, m) array up to
    diagonal k, like jnp.tril_indices.

    Example:
        >>> anp.tril_indices(2)   # ([0, 1, 1], [0, 0, 1])
    """
    return _index_arrays(*np.tril_indices(int(n), int(k), None if m is None else int(m)))


def diag_indices(n, ndim=2):
    """Indices (int32, static) of the main diagonal of an n x ... x n array of rank ndim, like
    jnp.diag_indices: ndim copies of arange(n).

    Example:
        >>> anp.diag_indices(2)   # ([0, 1], [0, 1])
    """
    index = constant(np.arange(int(n), dtype=np.int32))
    return (index,) * int(ndim)
