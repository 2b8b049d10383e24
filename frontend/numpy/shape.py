"""Shape functions of aotc.numpy: reshape, transpose, expand/squeeze, concatenate, stack, split."""

import itertools
import math

import numpy as np

from aotc.frontend.core.errors import ConcretizationError, TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import (
    asarray,
    normalize_axes,
    normalize_axis,
    promote,
    shape_tensor,
    shape_text,
)
from aotc.frontend.numpy.core import broadcast_to as _broadcast_to
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import reduction as reduction_ops
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.trace import symbolic
from aotc.frontend.trace.symbolic import Dim
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer


def _same(value, like: Tracer) -> Tracer:
    return Tracer(value, like.weak_type)


def reshape(x, *shape, order="C"):
    """Reshape to `shape` (one -1 allowed), like numpy.reshape. Row-major order only.

    A dynamic dimension of x reads as a symbolic `Dim` in `x.shape` (aotc.frontend.trace.
    symbolic), so the JAX spellings work with dynamic dims: `b, t, d = x.shape;
    x.reshape(b * t, d)`, `x.reshape(b, -1)`, `x.reshape(-1, t * d)`. A None in `shape` also
    stands for the next dynamic dim of x.
    """
    if order != "C":
        raise NotImplementedError("aotc.numpy.reshape supports order='C' only")
    x = to_tracer(x)
    if len(shape) == 1 and (shape[0] is None or not isinstance(shape[0], (int, np.integer, Dim))):
        shape = (None,) if shape[0] is None else tuple(shape[0])
    if any(isinstance(d, Dim) for d in shape):
        return _symbolic_reshape(x, shape)
    shape = tuple(None if d is None else _dim(d, x) for d in shape)
    if None in x.shape or None in shape:
        return _dynamic_reshape(x, shape)
    if shape.count(-1) > 1:
        raise TracingError(f"{caller_site()}: reshape: only one -1 allowed in {shape}")
    known = math.prod(d for d in shape if d != -1)
    if -1 in shape:
        if known == 0 or x.size % known:
            raise TracingError(f"{caller_site()}: cannot reshape {shape_text(x.shape)} into "
                               f"{shape}")
        shape = tuple(x.size // known if d == -1 else d for d in shape)
    if math.prod(shape) != x.size:
        raise TracingError(f"{caller_site()}: cannot reshape array of shape {shape_text(x.shape)} "
                           f"(size {x.size}) into shape {shape_text(shape)}")
    if shape == x.shape:
        return x
    return _same(shape_ops.reshape(x.value, shape), x)


def _dim(d, x: Tracer) -> int:
    try:
        return int(d)
    except (TypeError, ConcretizationError):
        raise TracingError(
            f"{caller_site()}: reshape of {shape_text(x.shape)}: size {d!r} is not a static int; "
            "a dynamic dimension reads as None in x.shape and cannot take part in arithmetic "
            "while tracing: pass None for it (x.reshape(b, t * d) with b = None) or -1 "
            "(x.reshape(-1, t * d))") from None


def _symbolic_reshape(x: Tracer, shape) -> Tracer:
    """Reshape to sizes that include Dims (and ints, at most one -1, None for x's next dynamic
    dim): the sizes are computed at run time; without a -1 the total size must provably be
    x's."""
    own = symbolic.user_shape(x.value)
    dynamic = iter([d for d in own if isinstance(d, Dim)])
    where = f"{caller_site()}: reshape of {shape_text(x.shape)} to ({', '.join(map(str, shape))})"
    try:
        shape = [next(dynamic) if d is None else d if isinstance(d, Dim) else int(d)
                 for d in shape]
    except StopIteration:
        raise TracingError(f"{where}: more None sizes than x has dynamic dims") from None
    if shape.count(-1) > 1:
        raise TracingError(f"{where}: only one -1 allowed")
    total = math.prod(own)
    known = math.prod(d for d in shape if not (isinstance(d, int) and d == -1))
    if -1 in shape:
        missing = total // known
        shape = [missing if isinstance(d, int) and d == -1 else d for d in shape]
    elif total != known:
        raise TracingError(f"{where}: aotc cannot prove that the new size {known} equals x's "
                           f"size {total}; write -1 for one of the sizes")
    if not any(isinstance(d, Dim) for d in shape):
        return reshape(x, shape)
    value = shape_ops.reshape(x.value, symbolic.static_or_none(shape),
                              symbolic.shape_tensor(shape))
    return _same(symbolic.remember(value, shape), x)


def _dynamic_reshape(x: Tracer, shape) -> Tracer:
    """Reshape involving dynamic sizes: a None in `shape` is the run-time size of x's dynamic
    dim (in order), one -1 takes whatever size is left."""
    dynamic_axes = [i for i, d in enumerate(x.shape) if d is None]
    nones = shape.count(None)
    where = f"{caller_site()}: reshape of {shape_text(x.shape)} to {shape_text(shape)}"
    if nones and nones != len(dynamic_axes):
        raise TracingError(f"{where}: each None stands for one dynamic dim of the input, which "
                           f"has {len(dynamic_axes)}; use one -1 for the combined dynamic size")
    static = math.prod(d for d in x.shape if d is not None)
    known = math.prod(d for d in shape if d not in (None, -1))
    if shape.count(-1) > 1 or (not nones and shape.count(-1) != 1):
        raise TracingError(f"{where}: needs exactly one -1 (or a None per dynamic input dim) "
                           "to carry the dynamic size")
    if (-1 in shape and (known == 0 or static % known)) or (-1 not in shape and static != known):
        raise TracingError(f"{where}: the static sizes do not fit ({static} elements per "
                           f"dynamic element into {known})")
    i32 = ir.IntegerType.get_signless(32)
    if nones:
        rest = static // known
        sizes = iter(dynamic_axes)
        parts = [reshape(Tracer(shape_ops.get_dimension_size(x.value, next(sizes))), (1,))
                 if d is None else asarray(np.array([rest if d == -1 else d], np.int32))
                 for d in shape]
    else:
        sizes = shape_tensor(x.shape, {i: (x, i) for i in dynamic_axes})
        total = reduction_ops.reduce_binary(sizes, values.scalar(1, i32), [0], ew.multiply)
        missing = Tracer(ew.divide(total, values.scalar(known, i32)))  # sizes are >= 0: exact
        parts = [reshape(missing, (1,)) if d == -1 else asarray(np.array([d], np.int32))
                 for d in shape]
    if nones:
        out_shape = tuple(static // known if d == -1 else d for d in shape)
    else:
        out_shape = tuple(None if d == -1 else d for d in shape)
    return _same(shape_ops.reshape(x.value, out_shape, concatenate(parts).value), x)


def ravel(x):
    """x flattened to one dimension in C order, as numpy.ravel."""
    x = to_tracer(x)
    return reshape(x, (-1,))


def transpose(x, axes=None):
    """x with its axes permuted (reversed by default), as numpy.transpose.

    Example: `anp.transpose(anp.zeros((2, 3, 4)), (1, 0, 2)).shape` is `(3, 2, 4)`.
    """
    x = to_tracer(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(
        normalize_axis("transpose", a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise TracingError(f"{caller_site()}: transpose: axes {axes} are not a permutation of "
                           f"{x.ndim} dims")
    return _same(shape_ops.transpose(x.value, axes), x)


def swapaxes(x, axis1, axis2):
    """x with axis1 and axis2 interchanged, as numpy.swapaxes."""
    x = to_tracer(x)
    perm = list(range(x.ndim))
    a, b = normalize_axis("swapaxes", axis1, x.ndim), normalize_axis("swapaxes", axis2, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x, source, destination):
    """x with the `source` axes moved to `destination`, as numpy.moveaxis."""
    x = to_tracer(x)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [normalize_axis("moveaxis", a, x.ndim) for a in src]
    dst = [normalize_axis("moveaxis", a, x.ndim) for a in dst]
    order = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def expand_dims(x, axis):
    """x with length-1 axes inserted at `axis` (an int or a tuple), as numpy.expand_dims."""
    x = to_tracer(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    axes = sorted(normalize_axis("expand_dims", a, out_ndim) for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    if None in shape:
        kept = [i for i in range(out_ndim) if i not in axes]
        return _same(shape_ops.broadcast_in_dim(
            x.value, shape, kept, shape_tensor(shape, {i: (x, kept.index(i)) for i in kept
                                                       if shape[i] is None})), x)
    return reshape(x, shape)


def squeeze(x, axis=None):
    """x without its length-1 axes (or only those in `axis`), as numpy.squeeze."""
    x = to_tracer(x)
    if axis is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    else:
        axes = normalize_axes("squeeze", axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise TracingError(f"{caller_site()}: squeeze: axis {a} of {shape_text(x.shape)} "
                                   "has "
                                   "size != 1")
    shape = [d for i, d in enumerate(x.shape) if i not in axes]
    if None in shape:
        # IREE 3.13 cannot lower dynamic_reshape: drop the unit axes with a one-element reduce
        combine = ew.or_ if x.dtype == np.bool_ else ew.add
        zero = constant(np.zeros((), x.dtype))
        return _same(reduction_ops.reduce_binary(x.value, zero.value, axes, combine), x)
    return reshape(x, shape)


def broadcast_to(x, shape):
    """x broadcast to `shape` by NumPy's rules, as numpy.broadcast_to."""
    return _broadcast_to(x, tuple(shape))


def atleast_1d(x):
    """x, reshaped to one dimension if it is a scalar, as numpy.atleast_1d."""
    x = to_tracer(x)
    return reshape(x, (1,)) if x.ndim == 0 else x


def atleast_2d(x):
    """x with leading length-1 axes up to two dimensions, as numpy.atleast_2d."""
    x = to_tracer(x)
    return reshape(x, (1,) * (2 - x.ndim) + x.shape) if x.ndim < 2 else x


def concatenate(arrays, axis=0):
    """Join arrays along an existing axis; dtypes promote like JAX."""
    arrays = promote("concatenate", *arrays, broadcast=False)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    ndim = arrays[0].ndim
    axis = normalize_axis("concatenate", axis, ndim)
    for a in arrays:
        first = arrays[0].shape
        if a.ndim != ndim or any(d1 != d2 for i, (d1, d2) in enumerate(zip(a.shape, first))
                                 if i != axis):
            listed = ", ".join(shape_text(t.shape) for t in arrays)
            raise TracingError(f"{caller_site()}: concatenate: shapes {listed} differ off axis "
                               f"{axis}")
    return _same(shape_ops.concatenate([a.value for a in arrays], axis), arrays[0])


def stack(arrays, axis=0):
    """Join arrays of one shape along a new axis, as numpy.stack.

    Example: `anp.stack([a, b], axis=-1)` for two (2, 3) arrays has shape (2, 3, 2).
    """
    arrays = promote("stack", *arrays, broadcast=False)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        listed = ", ".join(shape_text(a.shape) for a in arrays)
        raise TracingError(f"{caller_site()}: stack: all arrays need one shape, got {listed}")
    axis = normalize_axis("stack", axis, arrays[0].ndim + 1)
    return concatenate([expand_dims(a, axis) for a in arrays], axis)


def hstack(arrays):
    """Concatenate along axis 1 (axis 0 for 1-D arrays), as numpy.hstack."""
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, 0 if arrays[0].ndim == 1 else 1)


def vstack(arrays):
    """Concatenate along axis 0 after making each array at least 2-D, as numpy.vstack."""
    return concatenate([atleast_2d(a) for a in arrays], 0)


def split(x, indices_or_sections, axis=0):
    """Split into equal sections or at indices along axis, like numpy.split."""
    x = to_tracer(x)
    axis = normalize_axis("split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise TracingError(f"{caller_site()}: split: axis {axis} of size {n} does not divide "
                               f"into {k} equal sections")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], n]
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        lo, hi = min(max(lo, 0), n), min(max(hi, lo), n)
        start = [0] * x.ndim
        limit = list(x.shape)
        start[axis], limit[axis] = lo, hi
        pieces.append(_same(shape_ops.slice(x.value, start, limit), x))
    return pieces


def flip(x, axis=None):
    """x with the order of elements reversed along `axis` (None: all axes), as numpy.flip."""
    x = to_tracer(x)
    return _same(shape_ops.reverse(x.value, normalize_axes("flip", axis, x.ndim)), x)


def fliplr(x):
    """x reversed along axis 1, as numpy.fliplr."""
    return flip(x, 1)


def flipud(x):
    """x reversed along axis 0, as numpy.flipud."""
    return flip(x, 0)
