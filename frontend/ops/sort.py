"""Sorting: stablehlo.sort of several operands along one dimension, ordered by a comparator region.

The comparator region takes 2*N scalar tensors `(lhs0, rhs0, lhs1, rhs1, ...)`, one pair per
operand, and returns an i1 scalar: true when the lhs element belongs strictly before the rhs one.
"""

import numpy as np

from aotc.frontend.ir import ir, tensor_type
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops.control import build_region
from aotc.frontend.registry import defop, emit, i64


def _sort_type(types, attrs):
    return list(types)


def _single_compare(region: ir.Region):
    """'LT' or 'GT' when the comparator is one compare of the first operand's pair, else None."""
    block = region.blocks[0]
    ops = list(block.operations)
    if len(ops) != 2 or ops[0].operation.name != "stablehlo.compare":
        return None
    compare = ops[0].operation
    if list(compare.operands) != list(block.arguments)[:2] or list(ops[1].operands) != [
            compare.result]:
        return None
    direction = str(compare.attributes["comparison_direction"]).rstrip(">").split()[-1]
    return direction if direction in ("LT", "GT") else None


def _stable_argsort(keys: np.ndarray, direction: str) -> np.ndarray:
    """Stable argsort along the last axis, ascending (LT) or descending (GT)."""
    if direction == "LT":
        return np.argsort(keys, axis=-1, kind="stable")
    # Descending and stable: sort the reversed row ascending, reverse back, undo the index flip.
    n = keys.shape[-1]
    return n - 1 - np.argsort(keys[..., ::-1], axis=-1, kind="stable")[..., ::-1]


def _network_order(ctx, rows) -> np.ndarray:
    """Stable order of each row by a bitonic sorting network over the comparator.

    Each of the network's log2(n)^2 / 2 stages evaluates the comparator region once per direction
    on all compared pairs as whole arrays. Ties (neither element before the other) fall back to
    the input order, which makes the sort stable for any strict weak order.
    """
    n = rows[0].shape[-1]
    size = 1 << (n - 1).bit_length()
    pos = np.broadcast_to(np.arange(size), (*rows[0].shape[:-1], size)).copy()

    def before(i, j):
        """Element at row position i goes strictly before the one at j (padding goes last)."""
        ic, jc = np.minimum(i, n - 1), np.minimum(j, n - 1)
        lhs = [np.take_along_axis(x, ic, axis=-1) for x in rows]
        rhs = [np.take_along_axis(x, jc, axis=-1) for x in rows]
        less = np.asarray(ctx.run_region(0, *[v for pair in zip(lhs, rhs) for v in pair])[0])
        more = np.asarray(ctx.run_region(0, *[v for pair in zip(rhs, lhs) for v in pair])[0])
        ordered = less | (~more & (i < j))
        return np.where((i < n) & (j < n), ordered, i < n)

    index = np.arange(size)
    block = 2
    while block <= size:
        stride = block // 2
        while stride >= 1:
            first = index[(index ^ stride) > index]
            second = first ^ stride
            ascending = (first & block) == 0
            p, q = pos[..., first], pos[..., second]
            swap = np.where(ascending, before(q, p), before(p, q))
            pos[..., first], pos[..., second] = np.where(swap, q, p), np.where(swap, p, q)
            stride //= 2
        block *= 2
    return pos[..., :n]


def _sort_impl(ctx, *operands):
    dim = ctx.attrs.int("dimension")
    rows = [np.moveaxis(x, dim, -1) for x in operands]
    n = rows[0].shape[-1] if rows[0].ndim else 0
    direction = _single_compare(ctx.region(0))
    if n <= 1:
        order = np.zeros(rows[0].shape, dtype=np.int64)
    elif direction is not None:
        order = _stable_argsort(rows[0], direction)
    else:
        order = _network_order(ctx, rows)
    return [np.moveaxis(np.take_along_axis(x, order, axis=-1), -1, dim) for x in rows]


defop("stablehlo.sort", _sort_type, _sort_impl)


def sort(operands, dimension: int, comparator_builder, is_stable: bool = True) -> list[ir.Value]:
    """`stablehlo.sort` of operands of one shape along `dimension`.

    comparator_builder(lhs0, rhs0, lhs1, rhs1, ...) gets 0-d tensors and returns an i1 0-d tensor.
    """
    operands = list(operands)
    op = emit("stablehlo.sort", operands, {
        "dimension": i64(dimension),
        "is_stable": ir.BoolAttr.get(is_stable),
    }, result_types=[x.type for x in operands], regions=1)
    scalars = []
    for x in operands:
        scalar = tensor_type((), ir.RankedTensorType(x.type).element_type)
        scalars += [scalar, scalar]
    build_region(op.regions[0], scalars, lambda *args: [comparator_builder(*args)])
    return list(op.results)


def _is_float(x: ir.Value) -> bool:
    return isinstance(ir.RankedTensorType(x.type).element_type,
                      (ir.F16Type, ir.BF16Type, ir.F32Type, ir.F64Type))


def less_nan_last(lhs: ir.Value, rhs: ir.Value) -> ir.Value:
    """lhs < rhs in a strict weak order that puts every NaN after all numbers (numpy, JAX order).

    -0.0 and 0.0 are equivalent, so a stable sort keeps them in input order.
    """
    less = ew.compare("LT", lhs, rhs)
    if not _is_float(lhs):
        return less
    lhs_nan = ew.compare("NE", lhs, lhs)
    rhs_nan = ew.compare("NE", rhs, rhs)
    return ew.or_(less, ew.and_(rhs_nan, ew.not_(lhs_nan)))


def with_index_tiebreak(less):
    """A comparator over (key, index) operand pairs: by `less` on keys, ties by smaller index.

    IREE's sort ignores is_stable (equal keys come out in any order), so a stable sort carries
    an iota operand and breaks ties with it.
    """

    def comparator(lhs, rhs, lhs_index, rhs_index):
        earlier = ew.and_(ew.not_(less(rhs, lhs)), ew.compare("LT", lhs_index, rhs_index))
        return ew.or_(less(lhs, rhs), earlier)

    return comparator
