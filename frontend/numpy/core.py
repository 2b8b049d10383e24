"""The machinery under aotc.numpy: conversion, dtype promotion, broadcasting, axis handling."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace import symbolic
from aotc.frontend.trace import tracer as tracer_module
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer


def asarray(x, dtype=None) -> Tracer:
    """Like jnp.asarray: tracers, numpy arrays, scalars and nested lists become a traced array."""
    if isinstance(x, (list, tuple)) and not isinstance(x, Tracer):
        if any(isinstance(leaf, Tracer) for leaf in _flat(x)):
            t = _stack_items([asarray(item) for item in x])
        else:
            t = to_tracer(dtypes.canonicalize_array(np.asarray(x)))
    else:
        t = to_tracer(x)
    return astype(t, dtypes.requested(dtype, "asarray")) if dtype is not None else t


tracer_module.convert_sequences_with(asarray)  # to_tracer([...]) of nested lists


def _stack_items(items) -> Tracer:
    """A list of same-shaped traced arrays as one array with a new leading axis."""
    items = promote("asarray", *items, broadcast=False)
    if len({t.shape for t in items}) != 1:
        listed = ", ".join(shape_text(t.shape) for t in items)
        raise TracingError(f"{caller_site()}: asarray: the list's arrays need one shape, got "
                           f"{listed}")
    shape = items[0].shape
    dynamic = {i + 1: (items[0], i) for i, d in enumerate(shape) if d is None}
    sizes = shape_tensor((1, *shape), dynamic) if dynamic else None
    dims = list(range(1, len(shape) + 1))
    rows = [shape_ops.broadcast_in_dim(t.value, (1, *shape), dims, sizes) for t in items]
    return Tracer(shape_ops.concatenate(rows, 0), items[0].weak_type)


def _flat(x):
    todo, out = [x], []
    while todo:
        item = todo.pop()
        if isinstance(item, (list, tuple)):
            todo.extend(item)
        else:
            out.append(item)
    return out


def astype(x, dtype) -> Tracer:
    """x converted to `dtype` (floats truncate toward zero into ints), as numpy's astype."""
    x = to_tracer(x)
    dt = dtypes.canonicalize(dtype)
    if dt == x.dtype:
        return Tracer(x.value, False)
    dt = dtypes.requested(dt, "astype")
    return Tracer(ew.convert(x.value, dtypes.to_mlir(dt)), False)


def shape_text(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1
                                                                         else "") + ")"


def broadcast_shapes(name: str, *shapes) -> tuple:
    """NumPy's broadcast rule; None (dynamic) broadcasts against 1 and matches any size."""
    rank = max((len(s) for s in shapes), default=0)
    result = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        static = {d for d in dims if d is not None and d != 1}
        if len(static) > 1:
            listed = " and ".join(shape_text(s) for s in shapes)
            raise TracingError(f"{caller_site()}: {name}: shapes {listed} cannot be broadcast "
                               "together")
        if static:
            result.append(static.pop())
        elif None in dims:
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


def shape_tensor(shape, sources) -> ir.Value:
    """A 1-D i32 tensor of `shape`, reading dynamic dims from (tracer, dim) pairs in `sources`."""
    parts = []
    for i, d in enumerate(shape):
        if d is None:
            src, dim = sources[i]
            size = shape_ops.get_dimension_size(src.value, dim)
            parts.append(shape_ops.reshape(size, (1,)))
        else:
            parts.append(constant(np.array([d], np.int32)).value)
    return shape_ops.concatenate(parts, 0)


def broadcast_to(x, shape, like=()) -> Tracer:
    """Broadcast x to `shape`; dynamic dims take their size from x or the `like` tracers."""
    x = to_tracer(x)
    shape = tuple(shape)
    if symbolic.has_dims(shape):  # sizes computed at run time from the user's Dims
        return Tracer(symbolic.broadcast(x.value, shape), x.weak_type)
    if x.shape == shape:
        return x
    broadcast_shapes("broadcast_to", x.shape, shape)
    if len(x.shape) > len(shape):
        raise TracingError(f"{caller_site()}: cannot broadcast {shape_text(x.shape)} to a lower "
                           "rank "
                           f"{shape_text(shape)}")
    offset = len(shape) - x.ndim
    dims = list(range(offset, len(shape)))
    # operand dims of size 1 going to a bigger dim are broadcast; keep them mapped (legal).
    output_dims = None
    if any(d is None for d in shape):
        sources = {}
        for i, d in enumerate(shape):
            if d is None:
                for t in (x, *like):
                    j = i - (len(shape) - t.ndim)
                    if j >= 0 and t.shape[j] is None:
                        sources[i] = (t, j)
                        break
                else:
                    raise TracingError(f"{caller_site()}: no source for dynamic dimension {i}")
        output_dims = shape_tensor(shape, sources)
    value = shape_ops.broadcast_in_dim(x.value, shape, dims, output_dims)
    return Tracer(value, x.weak_type)


def promote(name: str, *xs, inexact: bool = False, broadcast: bool = True) -> list[Tracer]:
    """JAX-style promotion of xs to one dtype (weak scalars adapt), then broadcasting."""
    xs = [x if _is_python_scalar(x) else to_tracer(x) for x in xs]
    typed = [(dtypes.python_scalar_dtype(x), not isinstance(x, bool)) if _is_python_scalar(x)
             else (x.dtype, x.weak_type) for x in xs]
    dt, weak = dtypes.promote(*typed)
    if inexact and not dtypes.is_inexact(dt):  # JAX: ints and bools become float32, weak or not
        dt = dtypes.float32
    # Python scalars become constants of the result dtype directly (no convert op).
    ts = [_scalar_constant(x, dt) if _is_python_scalar(x) else
          x if x.dtype == dt else astype(x, dt) for x in xs]
    ts = [Tracer(t.value, weak) for t in ts]
    if broadcast:
        shape = broadcast_shapes(name, *[t.shape for t in ts])
        ts = [broadcast_to(t, shape, like=ts) for t in ts]
    return ts


def _is_python_scalar(x) -> bool:
    return isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic)


def _scalar_constant(x, dt) -> Tracer:
    try:
        return constant(np.asarray(x, dt))
    except OverflowError:
        raise TracingError(f"{caller_site()}: Python scalar {x} does not fit in {dt}; cast the "
                           "array "
                           "to a wider dtype first") from None


def normalize_axis(name: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise TracingError(f"{caller_site()}: {name}: axis {axis} is out of range for an array "
                           "of rank "
                           f"{ndim}")
    return axis % max(ndim, 1)


def normalize_axes(name: str, axis, ndim: int) -> tuple[int, ...]:
    """None -> all axes; an int or a sequence -> sorted, non-negative, checked axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(sorted(normalize_axis(name, int(a), ndim) for a in axes))
    if len(set(out)) != len(out):
        raise TracingError(f"{caller_site()}: {name}: repeated axis in {axis}")
    return out


def scalar_like(value, x: Tracer) -> Tracer:
    """A 0-d constant of x's dtype."""
    return constant(np.asarray(value, x.dtype))


def full_like_shape(value, x: Tracer) -> Tracer:
    """`value` broadcast to x's shape and dtype (dynamic dims included)."""
    return broadcast_to(scalar_like(value, x), x.shape, like=[x])
