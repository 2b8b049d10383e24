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
    """Whether values of this type carry tangents: float or complex elements (inexact)."""
    return dtypes.is_inexact(dtypes.from_mlir(element(v)))


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


class Zero:
    """A symbolic zero tangent or cotangent of MLIR type `type` (JAX's `Zero(aval)`): nothing is
    emitted for it until `instantiate`. Falsy, so `t and f(t)` skips it as it skips None, the
    untyped zero older rules still use. A type with dynamic dims also keeps `like`, a value of
    that shape at run time (see `Zero.of`), so that instantiating it needs nothing else."""

    __slots__ = ("like", "type")

    def __init__(self, type: ir.Type, like: ir.Value | None = None):
        self.type = type
        self.like = like

    @classmethod
    def of(cls, v: ir.Value) -> "Zero":
        """The zero tangent of value v: its type, and v itself when that type has dynamic dims."""
        return cls(v.type, v if None in shape_of(v.type) else None)

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Zero({self.type})"


def is_zero(v) -> bool:
    """Whether a tangent or cotangent is a symbolic zero (Zero, or the untyped None)."""
    return v is None or isinstance(v, Zero)


def add_any(a, b):
    """Sum of two tangents or cotangents, either of which may be a symbolic zero.

    A term that is slices placed into zeros (what the transpose of dynamic_slice makes, or a
    chain of them) is added slice by slice into the other term:
    `a + dynamic_update_slice(base, u, idx)` is `dynamic_update_slice(a + base, a[idx] + u, idx)`,
    work of the slices' size, not the whole array's. A loop that accumulates one row per step
    (the gradient of scan's xs) then stays linear in its number of steps."""
    if is_zero(a):
        return b
    if is_zero(b):
        return a
    for total, term in ((a, b), (b, a)):
        placed = _slices_into_zeros(term)
        if placed is not None:
            result = total
            for update, starts in reversed(placed):
                old = shape_ops.dynamic_slice(total, starts, shape_of(update))
                result = shape_ops.dynamic_update_slice(result, ew.add(old, update), starts)
            return result
    return ew.add(a, b)


def _slices_into_zeros(v: ir.Value):
    """[(update, starts), ...], outermost first, when v is a chain of dynamic_update_slices with
    static update shapes over a constant of zeros, else None."""
    placed = []
    while isinstance(v, ir.OpResult) and v.owner.operation.name == \
            "stablehlo.dynamic_update_slice":
        op = v.owner.operation
        if None in shape_of(op.operands[1]):
            return None
        placed.append((op.operands[1], list(op.operands[2:])))
        v = op.operands[0]
    return placed if placed and is_zero_constant(v) else None


def is_zero_constant(v: ir.Value) -> bool:
    """Whether v is a float constant of zeros, or a broadcast of one (what zeros_like emits)."""
    while isinstance(v, ir.OpResult):
        op = v.owner.operation
        if op.name in ("stablehlo.broadcast_in_dim", "stablehlo.dynamic_broadcast_in_dim"):
            v = op.operands[0]
            continue
        if op.name != "stablehlo.constant":
            return False
        attr = ir.DenseElementsAttr(op.attributes["value"])
        splat = attr.get_splat_value() if attr.is_splat else None
        return isinstance(splat, ir.FloatAttr) and splat.value == 0.0
    return False


def instantiate(v, like: ir.Value | ir.Type | None = None) -> ir.Value:
    """A symbolic zero made concrete: a Zero knows its type (and, for dynamic dims, a value to
    read their sizes from); None needs `like` (a value, or a static type)."""
    if not is_zero(v):
        return v
    if like is None and v is not None:
        like = v.type if v.like is None else v.like
    if like is None or (isinstance(like, ir.Type) and None in shape_of(like)):
        raise TypeError("instantiate: an untyped or dynamically shaped zero needs `like`")
    return zeros_like(like)


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
