"""Helpers for aotc.numpy functions that work along one axis of static size: slices, pads,
broadcasts and static takes."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import shape_text
from aotc.frontend.numpy.shape import ravel
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace.tracer import Tracer, to_tracer

INT32 = dtypes.int32


def same_type(value, like: Tracer) -> Tracer:
    return Tracer(value, like.weak_type)


def static_axis(name: str, x: Tracer, axis: int) -> int:
    """The static size of x along axis (dynamic sizes are refused with a clear message)."""
    if x.shape[axis] is None:
        raise TracingError(f"{caller_site()}: {name}: axis {axis} of {shape_text(x.shape)} is "
                           "dynamic; "
                           f"{name} needs a static size along the axis it works on")
    return x.shape[axis]


def static_shape(name: str, x: Tracer) -> tuple:
    if None in x.shape:
        raise TracingError(f"{caller_site()}: {name} of an array with dynamic dims "
                           f"{shape_text(x.shape)} is not supported; give it a static shape")
    return x.shape


def flat_axis(x, axis):
    """(x, axis) with axis=None meaning 'the flattened array, axis 0'."""
    x = to_tracer(x)
    if axis is None or x.ndim == 0:
        return ravel(x), 0
    return x, axis


def slice_axis(x: Tracer, axis: int, lo: int, hi: int, step: int = 1) -> Tracer:
    start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
    start[axis], limit[axis], strides[axis] = lo, hi, step
    return same_type(shape_ops.slice(x.value, start, limit, strides), x)


def pad_axis(x: Tracer, axis: int, low: int, high: int, value: Tracer) -> Tracer:
    lows, highs = [0] * x.ndim, [0] * x.ndim
    lows[axis], highs[axis] = low, high
    return same_type(shape_ops.pad(x.value, value.value, lows, highs), x)


def broadcast_axis(x: Tracer, axis: int, size: int) -> Tracer:
    """x (of size 1 along axis) repeated `size` times along axis."""
    shape = list(x.shape)
    shape[axis] = size
    return same_type(shape_ops.broadcast_in_dim(x.value, shape, range(x.ndim)), x)


def runs(indices: np.ndarray):
    """Split static indices into runs (first, step, length) with step -1, 0 or +1."""
    runs, i, n = [], 0, len(indices)
    while i < n:
        step = int(indices[i + 1] - indices[i]) if i + 1 < n else 1
        step = step if step in (-1, 0, 1) else 1
        j = i + 1
        while j < n and indices[j] - indices[j - 1] == step:
            j += 1
        runs.append((int(indices[i]), step, j - i))
        i = j
    return runs


def take_static(x: Tracer, indices, axis: int) -> Tracer:
    """x[..., indices, ...] along axis for static indices, as slices of runs (no gather)."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        return slice_axis(x, axis, 0, 0)
    pieces = []
    for first, step, length in runs(indices):
        if step == 1:
            pieces.append(slice_axis(x, axis, first, first + length))
        elif step == -1:
            piece = slice_axis(x, axis, first - length + 1, first + 1)
            pieces.append(same_type(shape_ops.reverse(piece.value, [axis]), piece))
        else:
            pieces.append(broadcast_axis(slice_axis(x, axis, first, first + 1), axis, length))
    return same_type(shape_ops.concatenate([p.value for p in pieces], axis), x)
