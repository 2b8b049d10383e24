"""Value-level helpers over the op builders, for rules and passes: constants shaped like a value,
zeros, sums of tangents, batch-axis moves."""

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops


def element(v: ir.Value | ir.Type) -> ir.Type:
    t = v if isinstance(v, ir.Type) else v.type
    return ir.RankedTensorType(t).element_type


def is_float(v: ir.Value | ir.Type) -> bool:
    return dtypes.is_float(dtypes.from_mlir(element(v)))


def scalar(value, elem: ir.Type) -> ir.Value:
    """A 0-d constant of MLIR element type `elem`."""
    return shape_ops.constant(np.asarray(value, dtypes.from_mlir(elem)))


def shape_tensor_of(v: ir.Value) -> ir.Value:
    """v's shape as a 1-D i32 tensor, reading dynamic dims at run time."""
    parts = []
    for i, d in enumerate(shape_of(v)):
        if d is None:
            parts.append(shape_ops.reshape(shape_ops.get_dimension_size(v, i), (1,)))
        else:
            parts.append(shape_ops.constant(np.array([d], np.int32)))
    return shape_ops.concatenate(parts, 0)


def broadcast_scalar(s: ir.Value, like: ir.Value | ir.Type) -> ir.Value:
    """A 0-d value broadcast to the shape of `like` (a value, or a static type)."""
    shape = shape_of(like)
    if None in shape:
        return shape_ops.broadcast_in_dim(s, shape, [], shape_tensor_of(like))
    if not shape:
        return s
    return shape_ops.broadcast_in_dim(s, shape, [])


def full_like(like: ir.Value | ir.Type, value, elem: ir.Type | None = None) -> ir.Value:
    return broadcast_scalar(scalar(value, elem or element(like)), like)


def zeros_like(like: ir.Value | ir.Type) -> ir.Value:
    return full_like(like, 0)


def add_any(a: ir.Value | None, b: ir.Value | None) -> ir.Value | None:
    """Sum of two tangents or cotangents where None means a symbolic zero."""
    if a is None:
        return b
    if b is None:
        return a
    return ew.add(a, b)


def instantiate(v: ir.Value | None, like: ir.Value | ir.Type) -> ir.Value:
    """A symbolic zero (None) made concrete with the shape and type of `like`."""
    return zeros_like(like) if v is None else v


# ---- batching helpers (batch dimension first) --------------------------------------------------


def with_batch(t: ir.Value | ir.Type, size: int) -> ir.RankedTensorType:
    """The type of `t` with a leading batch dimension of `size`."""
    t = t if isinstance(t, ir.Type) else t.type
    from aotc.frontend.core.ir import tensor_type

    return tensor_type((size, *shape_of(t)), element(t))


def broadcast_batch(v: ir.Value, size: int) -> ir.Value:
    """An unbatched value repeated along a new leading batch dimension."""
    shape = shape_of(v)
    target = (size, *shape)
    dims = list(range(1, len(target)))
    if None in shape:
        parts = [shape_ops.constant(np.array([size], np.int32)), shape_tensor_of(v)]
        return shape_ops.broadcast_in_dim(v, target, dims, shape_ops.concatenate(parts, 0))
    return shape_ops.broadcast_in_dim(v, target, dims)


def move_axis(v: ir.Value, source: int, destination: int) -> ir.Value:
    rank = len(shape_of(v))
    order = [d for d in range(rank) if d != source]
    order.insert(destination, source)
    return shape_ops.transpose(v, order)


def clone_with(op: ir.Operation, operands, result_types) -> ir.Operation:
    """Clone op (regions included) here with new operands and result types."""
    new = op.clone().operation
    for i, v in enumerate(operands):
        new.operands[i] = v
    for r, t in zip(new.results, result_types):
        r.set_type(t)
    return new
