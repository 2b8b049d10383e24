"""Array manipulation of aotc.numpy with JAX's semantics: choose, compress/extract, the functional
place/put/put_along_axis/fill_diagonal (inplace=False), resize, append/insert/delete with static
indices, block and the stacking and splitting helpers, axis permutations and
matvec/vecmat/vecdot. Everything decomposes into slices, concatenations, gathers and selects."""

import itertools
import math

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.arrays import atleast_3d
from aotc.frontend.numpy.axes import INT32, slice_axis, static_shape, take_static
from aotc.frontend.numpy.core import (
    asarray,
    astype,
    broadcast_to,
    normalize_axis,
    promote,
    shape_text,
)
from aotc.frontend.numpy.cumulative import cumsum
from aotc.frontend.numpy.indexing import take
from aotc.frontend.numpy.math import clip, equal, remainder, where
from aotc.frontend.numpy.products import matmul
from aotc.frontend.numpy.rearranging import diag, tile
from aotc.frontend.numpy.searching import nonzero
from aotc.frontend.numpy.shape import (
    concatenate,
    expand_dims,
    moveaxis,
    ravel,
    reshape,
    squeeze,
    swapaxes,
    transpose,
)
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer

__all__ = [
    "append", "array_split", "block", "choose", "column_stack", "compress", "delete", "diagflat",
    "dsplit", "dstack", "extract", "fill_diagonal", "hsplit", "insert", "matrix_transpose",
    "matvec", "permute_dims", "place", "put", "put_along_axis", "resize", "rollaxis", "unstack",
    "vecdot", "vecmat", "vsplit",
]


def _fail(message: str) -> TracingError:
    return TracingError(f"{caller_site()}: {message}")


def _no_inplace(name: str, inplace: bool) -> None:
    if inplace:
        raise _fail(f"{name}: arrays are immutable; pass inplace=False to get the updated array "
                    "back, as jnp.{name} requires")


def _index_mode(name: str, index: Tracer, n: int, mode) -> Tracer:
    if mode == "clip":
        return clip(index, 0, n - 1)
    if mode == "wrap":
        return remainder(index, n)
    raise _fail(f"{name}: mode must be 'clip' or 'wrap' (mode='raise' needs a host check), got "
                f"{mode!r}")


def choose(a, choices, out=None, mode="raise"):
    """Elementwise choices[a] (a broadcast against the choices), like jnp.choose with mode
    'clip' or 'wrap'.

    Example:
        >>> anp.choose(anp.array([0, 1, 3]), [x, y], mode="clip")   # [x[0], y[1], y[2]]
    """
    if out is not None:
        raise _fail("choose: out= is not supported; use the returned array")
    index = to_tracer(a)
    if not dtypes.is_int(index.dtype):
        raise _fail(f"choose needs integer indices, got {index.dtype}")
    choices = promote("choose", *choices, broadcast=False)
    index = _index_mode("choose", index, len(choices), mode)
    result = choices[-1]
    for k in range(len(choices) - 2, -1, -1):
        result = where(equal(index, k), choices[k], result)
    return broadcast_to(result, np.broadcast_shapes(index.shape, result.shape))


def _static_mask(value):
    """value as a static numpy bool array, or None when it is traced."""
    if isinstance(value, Tracer):
        return None
    return np.asarray(value).astype(bool)


def compress(condition, a, axis=None, *, size=None, fill_value=0):
    """The slices of `a` along axis (None: flattened) where the 1-D condition is true, like
    jnp.compress. A traced condition needs a static size= (padding with fill_value).

    Example:
        >>> anp.compress([True, False, True], anp.array([1, 2, 3]))   # [1, 3]
    """
    x = to_tracer(a)
    if axis is None:
        x, axis = ravel(x), 0
    axis = normalize_axis("compress", axis, x.ndim)
    x = moveaxis(x, axis, 0)
    n = static_shape("compress", x)[0]
    mask = _static_mask(condition)
    if mask is not None:
        if mask.ndim != 1:
            raise _fail(f"compress needs a 1-D condition, got shape {mask.shape}")
        if mask[n:].any():
            raise _fail(f"compress: condition has true entries past the {n} slices of the axis")
        mask = mask[:n]
        if size is None:
            return moveaxis(take_static(x, np.flatnonzero(mask), 0), 0, axis)
        condition = constant(mask)
    cond = to_tracer(condition)
    if cond.ndim != 1:
        raise _fail(f"compress needs a 1-D condition, got {shape_text(cond.shape)}")
    if size is None:
        raise _fail("compress with a traced condition needs a static size= (and fill_value=), "
                    "as jnp.compress does under jit")
    cond = slice_axis(cond, 0, 0, min(n, cond.shape[0]))
    (positions,) = nonzero(cond, size=size, fill_value=-1)
    picked = take(x, clip(positions, 0, n - 1), axis=0)
    valid = reshape(positions >= 0, (size,) + (1,) * (x.ndim - 1))
    return moveaxis(where(valid, picked, astype(asarray(fill_value), x.dtype)), 0, axis)


def extract(condition, arr, *, size=None, fill_value=0):
    """The elements of ravel(arr) where ravel(condition) is true, like jnp.extract (size= and
    fill_value= for a traced condition).

    Example:
        >>> anp.extract(x > 0, x, size=3)
    """
    mask = _static_mask(condition)
    flat = np.ravel(mask) if mask is not None else ravel(astype(to_tracer(condition), bool))
    return compress(flat, ravel(to_tracer(arr)), size=size, fill_value=fill_value)


def place(arr, mask, vals, *, inplace=True):
    """A copy of arr whose entries where mask is true take vals in order (vals repeated as
    needed), like jnp.place(..., inplace=False).

    Example:
        >>> anp.place(anp.zeros(4), anp.array([1, 0, 1, 1]), anp.array([7.0, 8.0]),
        ...           inplace=False)   # [7, 0, 8, 7]
    """
    _no_inplace("place", inplace)
    x = to_tracer(arr)
    chosen = astype(to_tracer(mask), bool)
    values = astype(ravel(to_tracer(vals)), x.dtype)
    rank = cumsum(astype(chosen, INT32)) - 1  # flattened order of the true entries
    picked = reshape(take(values, remainder(ravel(rank), values.shape[0])), x.shape)
    return where(chosen, picked, x)


def put(a, ind, v, mode=None, *, inplace=True):
    """A copy of a with ravel(a)[ind] = v (v repeated as needed), like jnp.put(...,
    inplace=False); mode None drops out-of-range indices, 'clip' clamps, 'wrap' wraps.

    Example:
        >>> anp.put(anp.zeros(3), anp.array([0, 2]), 5.0, inplace=False)   # [5, 0, 5]
    """
    _no_inplace("put", inplace)
    x = to_tracer(a)
    index = ravel(to_tracer(ind))
    values = ravel(astype(to_tracer(v), x.dtype))
    size, count = math.prod(static_shape("put", x)), index.shape[0]
    if size == 0 or count == 0 or values.shape[0] == 0:
        return x
    if mode is not None:
        index = _index_mode("put", index, size, mode)
    values = slice_axis(tile(values, -(-count // values.shape[0])), 0, 0, count)
    return reshape(ravel(x).at[index].set(values), x.shape)


def _along_axis_index(indices: Tracer, shape, axis: int) -> tuple:
    index = []
    for d, n in enumerate(shape):
        if d == axis:
            index.append(indices)
        else:
            grid = [1] * len(shape)
            grid[d] = n
            index.append(constant(np.arange(n, dtype=np.int32).reshape(grid)))
    return tuple(index)


def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    """A copy of arr with values written at indices along axis, like
    jnp.put_along_axis(..., inplace=False) (the inverse of take_along_axis).

    Example:
        >>> anp.put_along_axis(x, anp.argmax(x, 1, keepdims=True), 0.0, 1, inplace=False)
    """
    _no_inplace("put_along_axis", inplace)
    x, index = to_tracer(arr), to_tracer(indices)
    if axis is None:
        flat = put_along_axis(ravel(x), ravel(index), values, 0, inplace=False, mode=mode)
        return reshape(flat, x.shape)
    axis = normalize_axis("put_along_axis", axis, x.ndim)
    if index.ndim != x.ndim:
        raise _fail(f"put_along_axis: indices {shape_text(index.shape)} need the rank of arr "
                    f"{shape_text(x.shape)}")
    if mode in ("clip", "wrap"):
        index = _index_mode("put_along_axis", index, x.shape[axis], mode)
    outer = static_shape("put_along_axis", x)
    shape = np.broadcast_shapes((*outer[:axis], 1, *outer[axis + 1:]), index.shape)
    index = broadcast_to(index, shape)
    updates = broadcast_to(astype(to_tracer(values), x.dtype), shape)
    return x.at[_along_axis_index(index, shape, axis)].set(updates)


def resize(a, new_shape):
    """a's flattened elements repeated to fill new_shape, like jnp.resize.

    Example:
        >>> anp.resize(anp.array([1, 2, 3]), (2, 2))   # [[1, 2], [3, 1]]
    """
    x = ravel(to_tracer(a))
    shape = (int(new_shape),) if np.ndim(new_shape) == 0 else tuple(int(n) for n in new_shape)
    size, n = math.prod(shape), static_shape("resize", x)[0]
    if n == 0 or size == 0:
        return broadcast_to(astype(asarray(0), x.dtype), shape)
    return reshape(slice_axis(tile(x, -(-size // n)), 0, 0, size), shape)


def append(arr, values, axis=None):
    """arr with values appended along axis (None: both flattened), like jnp.append.

    Example:
        >>> anp.append(anp.array([1, 2]), [[3]])   # [1, 2, 3]
    """
    if axis is None:
        return concatenate([ravel(to_tracer(arr)), ravel(to_tracer(values))])
    return concatenate([arr, values], axis)


def _static_indices(name: str, obj, n: int) -> np.ndarray:
    if isinstance(obj, Tracer):
        raise _fail(f"{name} needs static indices (a Python int, slice or list, or a numpy "
                    "array), not a traced array")
    if isinstance(obj, slice):
        return np.arange(n)[obj]
    return np.asarray(obj)


def insert(arr, obj, values, axis=None):
    """arr with values inserted before the static indices obj along axis (None: flattened),
    like jnp.insert.

    Example:
        >>> anp.insert(anp.array([1, 2, 3]), 1, 9)   # [1, 9, 2, 3]
    """
    x = to_tracer(arr)
    if axis is None:
        x, axis = ravel(x), 0
    axis = normalize_axis("insert", axis, x.ndim)
    n = static_shape("insert", x)[axis]
    indices = _static_indices("insert", obj, n).astype(np.int64)
    if indices.ndim > 1:
        raise _fail("insert: obj must be an int, a slice or a 1-D sequence of indices")
    vals = astype(to_tracer(values), x.dtype)
    vals = reshape(vals, (1,) * (x.ndim - vals.ndim) + vals.shape)
    if indices.size == 1:
        if indices.ndim == 0:
            vals = moveaxis(vals, 0, axis)
        indices = np.full(vals.shape[axis], indices.ravel()[0])
    count = np.broadcast_shapes(indices.shape, (vals.shape[axis],))[0]
    indices = np.clip(np.where(indices < 0, indices + n, indices), 0, n)
    indices = np.broadcast_to(indices, (count,)).copy()
    order = np.argsort(indices, kind="stable")
    indices[order] += np.arange(count)
    shape = list(x.shape)
    shape[axis] = count
    vals = broadcast_to(vals, shape)
    source = np.empty(n + count, np.int64)
    kept = np.ones(n + count, bool)
    kept[indices] = False
    source[kept] = np.arange(n)
    source[indices] = n + np.arange(count)
    return take_static(concatenate([x, vals], axis), source, axis)


def delete(arr, obj, axis=None, *, assume_unique_indices=False):
    """arr without the entries at the static indices obj along axis (None: flattened), like
    jnp.delete.

    Example:
        >>> anp.delete(anp.array([1, 2, 3]), [0, 2])   # [2]
    """
    x = to_tracer(arr)
    if axis is None:
        x, axis = ravel(x), 0
    axis = normalize_axis("delete", axis, x.ndim)
    n = static_shape("delete", x)[axis]
    if isinstance(obj, Tracer):
        raise _fail("delete needs static indices (a Python int, slice or list, or a numpy "
                    "array), not a traced array")
    kept = np.delete(np.arange(n), obj)
    return take_static(x, kept, axis)


def _depth(arrays) -> int:
    if isinstance(arrays, tuple):
        raise _fail("block takes nested lists, not tuples")
    if not isinstance(arrays, list):
        return 0
    if not arrays:
        raise _fail("block: lists must not be empty")
    depths = {_depth(a) for a in arrays}
    if len(depths) != 1:
        raise _fail("block: list nesting depths differ")
    return 1 + depths.pop()


def block(arrays):
    """An array assembled from nested lists of blocks, like jnp.block: the innermost lists are
    joined along the last axis, the next ones along the one before, and so on.

    Example:
        >>> anp.block([[a, b], [c, d]])   # a 2 x 2 grid of 2-D blocks
    """
    depth = _depth(arrays)

    def leaves(item):
        return [leaf for part in item for leaf in leaves(part)] if isinstance(item, list) \
            else [to_tracer(item)]

    ndim = max([depth] + [leaf.ndim for leaf in leaves(arrays)])

    def assemble(item, level):
        if not isinstance(item, list):
            x = to_tracer(item)
            return reshape(x, (1,) * (ndim - x.ndim) + x.shape)
        return concatenate([assemble(part, level + 1) for part in item], level - depth)

    return assemble(arrays, 0)


def column_stack(tup):
    """1-D arrays as columns and 2-D arrays as they are, joined along axis 1, like
    jnp.column_stack.

    Example:
        >>> anp.column_stack([anp.array([1, 2]), anp.array([3, 4])])   # [[1, 3], [2, 4]]
    """
    columns = []
    for item in tup:
        x = to_tracer(item)
        columns.append(reshape(x, (-1, 1)) if x.ndim < 2 else x)
    return concatenate(columns, 1)


def dstack(tup, dtype=None):
    """Arrays (made at least 3-D) joined along axis 2, like jnp.dstack.

    Example:
        >>> anp.dstack([anp.ones((2, 2)), anp.zeros((2, 2))]).shape   # (2, 2, 2)
    """
    out = concatenate([atleast_3d(item) for item in tup], 2)
    return out if dtype is None else astype(out, dtype)


def array_split(ary, indices_or_sections, axis=0):
    """A list of sub-arrays along axis, like jnp.array_split: an int gives that many sections
    (the first ones one longer when they don't divide evenly), a list gives split points.

    Example:
        >>> anp.array_split(anp.arange(5), 2)   # [[0, 1, 2], [3, 4]]
    """
    x = to_tracer(ary)
    axis = normalize_axis("array_split", axis, x.ndim)
    n = static_shape("array_split", x)[axis]
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise _fail(f"array_split: number of sections must be positive, got {sections}")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
    else:
        bounds = np.concatenate([[0], np.asarray(indices_or_sections, np.int64), [n]])
    bounds = np.clip(np.where(bounds < 0, bounds + n, bounds), 0, n)
    return [slice_axis(x, axis, int(lo), int(max(lo, hi)))
            for lo, hi in itertools.pairwise(bounds)]


def _split(name: str, ary, indices_or_sections, axis: int, min_ndim: int):
    x = to_tracer(ary)
    if x.ndim < min_ndim:
        raise _fail(f"{name} needs an array of at least {min_ndim} dimensions, got "
                    f"{shape_text(x.shape)}")
    if np.ndim(indices_or_sections) == 0 and x.shape[axis] % int(indices_or_sections):
        raise _fail(f"{name}: {indices_or_sections} sections do not divide axis {axis} of "
                    f"{shape_text(x.shape)} evenly; use array_split")
    return array_split(x, indices_or_sections, axis)


def dsplit(ary, indices_or_sections):
    """Equal sections (or split points) along axis 2, like jnp.dsplit.

    Example:
        >>> anp.dsplit(anp.ones((1, 1, 4)), 2)   # two (1, 1, 2) arrays
    """
    return _split("dsplit", ary, indices_or_sections, 2, 3)


def hsplit(ary, indices_or_sections):
    """Equal sections (or split points) along axis 1 (axis 0 for 1-D), like jnp.hsplit.

    Example:
        >>> anp.hsplit(anp.ones((2, 4)), 2)   # two (2, 2) arrays
    """
    x = to_tracer(ary)
    return _split("hsplit", x, indices_or_sections, 1 if x.ndim > 1 else 0, 1)


def vsplit(ary, indices_or_sections):
    """Equal sections (or split points) along axis 0 of an array of rank >= 2, like jnp.vsplit.

    Example:
        >>> anp.vsplit(anp.ones((4, 2)), 2)   # two (2, 2) arrays
    """
    return _split("vsplit", ary, indices_or_sections, 0, 2)


def unstack(x, /, *, axis=0):
    """The slices of x along axis as a tuple, like jnp.unstack.

    Example:
        >>> anp.unstack(anp.ones((2, 3)))   # two (3,) arrays
    """
    x = to_tracer(x)
    axis = normalize_axis("unstack", axis, x.ndim)
    n = static_shape("unstack", x)[axis]
    return tuple(squeeze(slice_axis(x, axis, i, i + 1), axis) for i in range(n))


def rollaxis(a, axis, start=0):
    """a with axis moved to before position start, like jnp.rollaxis (prefer moveaxis).

    Example:
        >>> anp.rollaxis(anp.ones((2, 3, 4)), 2).shape   # (4, 2, 3)
    """
    x = to_tracer(a)
    axis = normalize_axis("rollaxis", axis, x.ndim)
    if not -x.ndim <= start <= x.ndim:
        raise _fail(f"rollaxis: start {start} out of range for {x.ndim} dimensions")
    start = start + x.ndim if start < 0 else start
    if axis < start:
        start -= 1
    return x if axis == start else moveaxis(x, axis, start)


def permute_dims(a, /, axes):
    """a with its axes permuted, like jnp.permute_dims (the Array API transpose).

    Example:
        >>> anp.permute_dims(anp.ones((2, 3)), (1, 0)).shape   # (3, 2)
    """
    return transpose(a, axes)


def matrix_transpose(x, /):
    """x with its last two axes swapped, like jnp.matrix_transpose.

    Example:
        >>> anp.matrix_transpose(anp.ones((5, 2, 3))).shape   # (5, 3, 2)
    """
    x = to_tracer(x)
    if x.ndim < 2:
        raise _fail(f"matrix_transpose needs at least 2 dimensions, got {shape_text(x.shape)}")
    return swapaxes(x, -1, -2)


def matvec(x1, x2, /):
    """Batched matrix-vector products, x1 (..., m, n) times x2 (..., n), like jnp.matvec.

    Example:
        >>> anp.matvec(anp.ones((2, 3)), anp.ones(3))   # [3, 3]
    """
    return squeeze(matmul(x1, expand_dims(to_tracer(x2), -1)), -1)


def vecmat(x1, x2, /):
    """Batched vector-matrix products, x1 (..., n) times x2 (..., n, m), like jnp.vecmat.

    Example:
        >>> anp.vecmat(anp.ones(2), anp.ones((2, 3)))   # [2, 2, 2]
    """
    return squeeze(matmul(expand_dims(to_tracer(x1), -2), x2), -2)


def vecdot(x1, x2, /, *, axis=-1):
    """Batched vector dot products along axis (other axes broadcast), like jnp.vecdot.

    Example:
        >>> anp.vecdot(anp.ones((4, 3)), anp.arange(3.0))   # [3, 3, 3, 3]
    """
    x, y = promote("vecdot", x1, x2, broadcast=False)
    x = moveaxis(x, normalize_axis("vecdot", axis, x.ndim), -1)
    y = moveaxis(y, normalize_axis("vecdot", axis, y.ndim), -1)
    return squeeze(matmul(expand_dims(x, -2), expand_dims(y, -1)), (-2, -1))


def diagflat(v, k=0):
    """A 2-D array with ravel(v) on diagonal k, like jnp.diagflat.

    Example:
        >>> anp.diagflat(anp.array([[1, 2]]))   # [[1, 0], [0, 2]]
    """
    return diag(ravel(to_tracer(v)), k)


def fill_diagonal(a, val, wrap=False, *, inplace=True):
    """A copy of a with its main diagonal set to val (repeated as needed), like
    jnp.fill_diagonal(..., inplace=False); all dims must match for rank > 2.

    Example:
        >>> anp.fill_diagonal(anp.zeros((2, 2)), 1.0, inplace=False)   # [[1, 0], [0, 1]]
    """
    _no_inplace("fill_diagonal", inplace)
    x = to_tracer(a)
    shape = static_shape("fill_diagonal", x)
    if x.ndim < 2:
        raise _fail(f"fill_diagonal needs at least 2 dimensions, got {shape_text(shape)}")
    if x.ndim > 2 and len(set(shape)) != 1:
        raise _fail(f"fill_diagonal: all dimensions must be equal for rank > 2, got "
                    f"{shape_text(shape)}")
    values = ravel(astype(to_tracer(val), x.dtype))
    n = min(shape)
    grids = np.indices(shape, sparse=True)
    on_diagonal = np.ones(shape, bool)
    for grid in grids[1:]:
        on_diagonal &= grid == grids[0]
    position = np.broadcast_to(grids[0] % values.shape[0], shape) * (grids[0] < n)
    picked = take(values, constant(position.astype(np.int32)))
    return where(constant(on_diagonal), picked, x)
