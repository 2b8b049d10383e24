"""Index helpers of aotc.numpy with JAX's semantics: indices, ix_, the index-trick objects mgrid,
ogrid, r_, c_, s_ and index_exp (static slices), mask_indices and the *_indices_from family,
fromfunction (static shape), unravel_index / ravel_multi_index and packbits / unpackbits.
Static index arrays are constants of the trace; outside a trace the grids are numpy arrays."""

import math

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.arrays import diag_indices, tril_indices, triu_indices
from aotc.frontend.numpy.axes import static_shape
from aotc.frontend.numpy.core import asarray, astype, normalize_axis, shape_text
from aotc.frontend.numpy.math import bitwise_and, clip, left_shift, remainder, right_shift, where
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.shape import concatenate, moveaxis, reshape, transpose
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.tracer import Tracer, constant, is_tracing, to_tracer

__all__ = [
    "c_", "diag_indices_from", "fromfunction", "index_exp", "indices", "ix_", "mask_indices",
    "mgrid", "ogrid", "packbits", "r_", "ravel_multi_index", "s_", "tril_indices_from",
    "triu_indices_from", "unpackbits", "unravel_index",
]



class IndexTrick:
    """Base of the index-trick objects (mgrid, ogrid, r_, c_, s_, index_exp): values used with
    [...] rather than functions."""


class _Expression(IndexTrick, type(np.s_)):
    """Index expressions built with [...], exactly numpy's (and jnp's) s_ and index_exp."""


s_ = _Expression(maketuple=False)
s_.__doc__ = "A slice or tuple of slices built with [...], like jnp.s_: x[anp.s_[1:3, ::2]]."
index_exp = _Expression(maketuple=True)
index_exp.__doc__ = "Like s_ but always a tuple, as jnp.index_exp: anp.index_exp[1:3]."


def _fail(message: str) -> TracingError:
    return TracingError(f"{caller_site()}: {message}")


def _static(value: np.ndarray):
    """A static array as a trace constant (inside a trace) or as itself (outside one)."""
    return constant(value) if is_tracing() else value


def _jax_dtype(value: np.ndarray) -> np.ndarray:
    if value.dtype == np.int64:
        return value.astype(np.int32)
    if value.dtype == np.float64:
        return value.astype(np.float32)
    return value


def indices(dimensions, dtype=None, sparse=False):
    """The index grid of an array of shape `dimensions` (int32 by default), like jnp.indices:
    one stacked array, or a tuple of broadcastable ones with sparse=True.

    Example:
        >>> anp.indices((2, 3)).shape   # (2, 2, 3)
    """
    dt = np.int32 if dtype is None else dtypes.canonicalize(dtype)
    grids = np.indices(tuple(int(d) for d in dimensions), dtype=dt, sparse=sparse)
    return tuple(_static(g) for g in grids) if sparse else _static(grids)


def ix_(*args):
    """Open-mesh index arrays from 1-D sequences, like jnp.ix_: the k-th of n has shape
    (1, .., len, .., 1) with len at position k.

    Example:
        >>> x[anp.ix_(anp.array([0, 2]), anp.array([1, 3]))]   # the 2 x 2 sub-grid
    """
    out = []
    for k, arg in enumerate(args):
        x = to_tracer(arg)
        if x.ndim != 1:
            raise _fail(f"ix_ needs 1-D sequences, got {shape_text(x.shape)} at position {k}")
        if dtypes.is_bool(x.dtype):
            raise _fail("ix_ of a boolean mask is data-dependent; pass nonzero(mask, size=...)")
        shape = [1] * len(args)
        shape[k] = x.shape[0]
        out.append(reshape(x, shape))
    return tuple(out)


def _grid_axes(key) -> list[np.ndarray]:
    key = key if isinstance(key, tuple) else (key,)
    axes = []
    for item in key:
        if not isinstance(item, slice):
            raise _fail(f"mgrid/ogrid take static slices, got {item!r}")
        axes.append(np.r_[item])
    return axes


class _Grid(IndexTrick):
    """Dense (mgrid) or open (ogrid) grids from static slices, like jnp.mgrid / jnp.ogrid:
    int32 for integer slices, float32 with a float or complex (point count) step."""

    def __init__(self, sparse: bool):
        self.sparse = sparse

    def __getitem__(self, key):
        axes = [_jax_dtype(a) for a in _grid_axes(key)]
        dt = np.result_type(*axes)
        if not isinstance(key, tuple):
            return _static(axes[0].astype(dt))
        grids = np.meshgrid(*[a.astype(dt) for a in axes], indexing="ij", sparse=self.sparse)
        return [_static(g) for g in grids] if self.sparse else _static(np.stack(grids))


mgrid = _Grid(sparse=False)
mgrid.__doc__ = "Dense index grid from static slices, like jnp.mgrid: anp.mgrid[0:2, 0:3]."
ogrid = _Grid(sparse=True)
ogrid.__doc__ = "Open index grids from static slices, like jnp.ogrid: anp.ogrid[0:2, 0:3]."


class _Concatenator(IndexTrick):
    """Arrays, scalars and static slices joined along an axis, like jnp.r_ / jnp.c_; a leading
    string 'axis[,ndmin[,trans1d]]' sets the axis, the minimum rank and where 1-D items go."""

    def __init__(self, axis: int, ndmin: int, trans1d: int):
        self.defaults = (axis, ndmin, trans1d)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.defaults
        if key and isinstance(key[0], str):
            if key[0] in ("r", "c"):
                raise _fail("r_/c_: matrix directives 'r' and 'c' are not supported")
            spec = [int(part) for part in key[0].split(",")]
            axis, ndmin, trans1d = (*spec, *self.defaults[len(spec):])[:3]
            key = key[1:]
        static = [np.r_[item] if isinstance(item, slice) else item for item in key]
        static = [_jax_dtype(s) if isinstance(s, np.ndarray) and s.dtype.kind in "if" and
                  isinstance(k, slice) else s for s, k in zip(static, key)]
        if not is_tracing():
            return eager(_concatenate)(static, axis, ndmin, trans1d)
        return _concatenate(static, axis, ndmin, trans1d)


def _concatenate(items, axis: int, ndmin: int, trans1d: int):
    arrays = []
    for item in items:
        x = to_tracer(item)
        if x.ndim < ndmin:
            k2 = ndmin - x.ndim
            k1 = trans1d + k2 + 1 if trans1d < 0 else trans1d
            x = reshape(x, (1,) * k2 + x.shape)
            default = list(range(ndmin))
            x = transpose(x, default[:k1] + default[k2:] + default[k1:k2])
        arrays.append(x)
    return concatenate(arrays, axis)


r_ = _Concatenator(0, 1, -1)
r_.__doc__ = "Row-wise concatenation of arrays and static slices, like jnp.r_: anp.r_[x, 0:3]."
c_ = _Concatenator(-1, 2, 0)
c_.__doc__ = "Column-wise stacking of 1-D arrays and slices, like jnp.c_: anp.c_[x, y]."


def mask_indices(n, mask_func, k=0):
    """Indices (int32, static) where mask_func(ones((n, n)), k) is nonzero, like
    jnp.mask_indices; mask_func must run on a numpy array (np.triu, or anp.triu / anp.tril).

    Example:
        >>> anp.mask_indices(3, np.triu, 1)   # ([0, 0, 1], [1, 2, 2])
    """
    name = getattr(mask_func, "__name__", "")
    if getattr(mask_func, "__module__", "").startswith("aotc") and name in ("triu", "tril"):
        mask_func = getattr(np, name)  # the same mask, computed on the host
    mask = mask_func(np.ones((int(n), int(n)), np.int32), k)
    if isinstance(mask, Tracer):
        raise _fail("mask_indices needs a mask_func that runs on numpy arrays (np.triu, "
                    "np.tril, ...), since its output size depends on the mask")
    return tuple(_static(i.astype(np.int32)) for i in np.nonzero(np.asarray(mask)))


def diag_indices_from(arr):
    """Indices of the main diagonal of arr (all dims equal), like jnp.diag_indices_from.

    Example:
        >>> anp.diag_indices_from(anp.ones((2, 2)))   # ([0, 1], [0, 1])
    """
    x = to_tracer(arr)
    shape = static_shape("diag_indices_from", x)
    if x.ndim < 2 or len(set(shape)) != 1:
        raise _fail(f"diag_indices_from needs a square array of rank >= 2, got "
                    f"{shape_text(shape)}")
    return diag_indices(shape[0], x.ndim)


def _matrix_shape(name: str, arr) -> tuple:
    x = to_tracer(arr)
    if x.ndim != 2:
        raise _fail(f"{name} needs a 2-D array, got {shape_text(x.shape)}")
    return static_shape(name, x)


def tril_indices_from(arr, k=0):
    """Indices of the lower triangle of the 2-D arr up to diagonal k, like jnp.tril_indices_from.

    Example:
        >>> anp.tril_indices_from(anp.ones((2, 2)))   # ([0, 1, 1], [0, 0, 1])
    """
    rows, cols = _matrix_shape("tril_indices_from", arr)
    return tril_indices(rows, k, cols)


def triu_indices_from(arr, k=0):
    """Indices of the upper triangle of the 2-D arr from diagonal k, like jnp.triu_indices_from.

    Example:
        >>> anp.triu_indices_from(anp.ones((2, 2)))   # ([0, 0, 1], [0, 1, 1])
    """
    rows, cols = _matrix_shape("triu_indices_from", arr)
    return triu_indices(rows, k, cols)


def fromfunction(function, shape, *, dtype=float, **kwargs):
    """function called on the index grids of a static shape (float32 by default), like
    jnp.fromfunction.

    Example:
        >>> anp.fromfunction(lambda i, j: i + j, (2, 2))   # [[0, 1], [1, 2]]
    """
    dt = dtypes.canonicalize(dtype)
    grids = np.indices(tuple(int(d) for d in shape), dtype=dt)
    return function(*(constant(g) for g in grids), **kwargs)


def unravel_index(indices, shape):
    """Flat indices as a tuple of coordinate arrays for `shape`, like jnp.unravel_index:
    negative indices count from the end and out-of-range ones are clipped.

    Example:
        >>> anp.unravel_index(anp.array([5, 1]), (2, 3))   # ([1, 0], [2, 1])
    """
    flat = to_tracer(indices)
    if not dtypes.is_int(flat.dtype):
        raise _fail(f"unravel_index needs integer indices, got {flat.dtype}")
    shape = tuple(int(d) for d in shape)
    total = math.prod(shape)
    flat = clip(flat, -total, total - 1)
    flat = where(flat < 0, flat + total, flat)
    out, stride = [], total
    for dim in shape:
        stride //= dim
        out.append(remainder(flat // stride, dim) if stride else flat)
    return tuple(out)


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """Flat indices of coordinate arrays into an array of shape dims, like
    jnp.ravel_multi_index with mode 'clip' or 'wrap'.

    Example:
        >>> anp.ravel_multi_index((anp.array([1]), anp.array([2])), (2, 3), mode="clip")   # [5]
    """
    dims = tuple(int(d) for d in dims)
    if len(multi_index) != len(dims):
        raise _fail(f"ravel_multi_index: {len(multi_index)} index arrays for {len(dims)} dims")
    if order not in ("C", "F"):
        raise _fail(f"ravel_multi_index: order must be 'C' or 'F', got {order!r}")
    if mode not in ("clip", "wrap"):
        raise _fail("ravel_multi_index: mode must be 'clip' or 'wrap' (mode='raise' needs a "
                    "host check of the values)")
    coords = [to_tracer(i) for i in multi_index]
    axes = range(len(dims)) if order == "F" else range(len(dims) - 1, -1, -1)
    flat, stride = None, 1
    for k in axes:
        c = coords[k]
        if not dtypes.is_int(c.dtype):
            raise _fail(f"ravel_multi_index needs integer indices, got {c.dtype}")
        c = clip(c, 0, dims[k] - 1) if mode == "clip" else remainder(c, dims[k])
        term = c * stride
        flat = term if flat is None else flat + term
        stride *= dims[k]
    return flat


def _bit_axis(name: str, a, axis):
    x = to_tracer(a)
    if not (dtypes.is_int(x.dtype) or dtypes.is_bool(x.dtype)):
        raise _fail(f"{name} needs an integer or boolean array, got {x.dtype}")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(name, axis, x.ndim)
    return moveaxis(x, axis, -1), axis


def _bit_weights(bitorder: str, name: str) -> np.ndarray:
    if bitorder not in ("big", "little"):
        raise _fail(f"{name}: bitorder must be 'big' or 'little', got {bitorder!r}")
    shifts = np.arange(8, dtype=np.uint8)
    return shifts[::-1].copy() if bitorder == "big" else shifts


def packbits(a, axis=None, bitorder="big"):
    """Nonzero entries as bits packed into uint8 along axis (None: flattened), padding the last
    byte with zeros, like jnp.packbits.

    Example:
        >>> anp.packbits(anp.array([1, 0, 1, 1, 0, 0, 0, 1]))   # [177]
    """
    x, axis = _bit_axis("packbits", a, axis)
    shifts = _bit_weights(bitorder, "packbits")
    n = static_shape("packbits", x)[-1]
    bits = astype(x != 0, np.uint8)
    pad = -n % 8
    if pad:
        bits = concatenate([bits, constant(np.zeros((*x.shape[:-1], pad), np.uint8))], -1)
    bits = reshape(bits, (*x.shape[:-1], (n + pad) // 8, 8))
    packed = reduce_sum(left_shift(bits, constant(shifts)), axis=-1, dtype=np.uint8)
    return moveaxis(packed, -1, axis)


def unpackbits(a, axis=None, count=None, bitorder="big"):
    """The bits of a uint8 array as uint8 0/1 entries along axis (None: flattened), like
    jnp.unpackbits; count keeps that many bits (a negative count drops bits from the end).

    Example:
        >>> anp.unpackbits(anp.array([7], anp.uint8))   # [0, 0, 0, 0, 0, 1, 1, 1]
    """
    x = to_tracer(a)
    if x.dtype != np.uint8:
        raise _fail(f"unpackbits needs a uint8 array, got {x.dtype}")
    x, axis = _bit_axis("unpackbits", x, axis)
    shifts = _bit_weights(bitorder, "unpackbits")
    bits = bitwise_and(right_shift(x[..., None], constant(shifts)), asarray(np.uint8(1)))
    bits = reshape(bits, (*x.shape[:-1], x.shape[-1] * 8))
    if count is not None:
        bits = bits[..., :int(count)]
    return moveaxis(bits, -1, axis)

