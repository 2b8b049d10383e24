"""Sorting: stablehlo.sort of several operands along one dimension, ordered by a comparator region.

The comparator region takes 2*N scalar tensors `(lhs0, rhs0, lhs1, rhs1, ...)`, one pair per
operand, and returns an i1 scalar: true when the lhs element belongs strictly before the rhs one.
"""

import numpy as np

from aotc.frontend.core.emit import emit, i64
from aotc.frontend.core.errors import MissingRuleError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import defop, register
from aotc.frontend.core.source import at_location
from aotc.frontend.ops import control
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.control import build_region
from aotc.frontend.ops.indexing import gather


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


def _equivalent(a: ir.Value, b: ir.Value, depth: int = 4) -> bool:
    """a and b are one value, or results of identical region-free ops that CSE would merge."""
    if a == b:
        return True
    if depth == 0 or a.type != b.type or not isinstance(a, ir.OpResult) or not isinstance(
            b, ir.OpResult) or a.result_number != b.result_number:
        return False
    x, y = a.owner.operation, b.owner.operation
    if x.name != y.name or len(x.regions) or len(y.regions) or len(x.operands) != len(
            y.operands):
        return False
    attrs = [{n: str(op.attributes[n]) for n in op.attributes} for op in (x, y)]
    return attrs[0] == attrs[1] and all(
        _equivalent(u, v, depth - 1) for u, v in zip(x.operands, y.operands))


def sort(operands, dimension: int, comparator_builder, is_stable: bool = True) -> list[ir.Value]:
    """`stablehlo.sort` of operands of one shape along `dimension`.

    comparator_builder(lhs0, rhs0, lhs1, rhs1, ...) gets 0-d tensors and returns an i1 0-d tensor.
    Repeated operands (also equal ones that CSE would merge) are sorted once: IREE 3.13 fails
    to compile a sort that receives one tensor twice.
    """
    unique, slot = [], []
    for x in operands:
        k = next((i for i, u in enumerate(unique) if _equivalent(u, x)), len(unique))
        if k == len(unique):
            unique.append(x)
        slot.append(k)
    op = emit("stablehlo.sort", unique, {
        "dimension": i64(dimension),
        "is_stable": ir.BoolAttr.get(is_stable),
    }, result_types=[x.type for x in unique], regions=1)
    scalars = []
    for x in unique:
        scalar = tensor_type((), ir.RankedTensorType(x.type).element_type)
        scalars += [scalar, scalar]

    def body(*args):
        return [comparator_builder(*[a for k in slot for a in (args[2 * k], args[2 * k + 1])])]

    build_region(op.regions[0], scalars, body)
    return [op.results[k] for k in slot]


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


# ---- JVP: the sorting permutation (a sort of the primals plus an iota) gathers the tangents ----


def _i32() -> ir.Type:
    return ir.IntegerType.get_signless(32)


def _sort_with_index(op: ir.Operation, operands, index: ir.Value) -> ir.Value:
    """Re-run op's sort on operands plus an index operand; its comparator ignores the index."""
    dimension, stable = op.attributes["dimension"], op.attributes["is_stable"]
    new = emit("stablehlo.sort", [*operands, index], {"dimension": dimension, "is_stable": stable},
               result_types=[*[v.type for v in operands], index.type], regions=1)
    old_block = op.regions[0].blocks[0]
    scalar = tensor_type((), _i32())
    block = new.regions[0].blocks.append(*[a.type for a in old_block.arguments], scalar, scalar)
    mapping = dict(zip(old_block.arguments, block.arguments))
    with ir.InsertionPoint(block):
        for inner in old_block.operations:
            cloned = inner.operation.clone()
            for i, v in enumerate(cloned.operands):
                if v in mapping:
                    cloned.operands[i] = mapping[v]
            mapping.update(zip(inner.operation.results, cloned.results))
    return new.results[len(operands)]


def take_along(x: ir.Value, index: ir.Value, dimension: int) -> ir.Value:
    """x[..., index, ...] with index (of x's shape, but for `dimension`) along `dimension`, as
    one gather."""
    shape = shape_of(index)
    rank = len(shape)
    columns = [index if d == dimension else shape_ops.iota(shape, d, _i32())
               for d in range(rank)]
    coords = shape_ops.concatenate([shape_ops.reshape(c, (*shape, 1)) for c in columns], rank)
    return gather(x, coords, offset_dims=[], collapsed_slice_dims=list(range(rank)),
                  start_index_map=list(range(rank)), index_vector_dim=rank, slice_sizes=[1] * rank)


def _sort_jvp(ctx, primals, tangents):
    if all(values.is_zero(t) for t in tangents):
        return [values.Zero.of(r) for r in ctx.results]
    shape = shape_of(primals[0])
    if None in shape:
        raise MissingRuleError("jvp", "stablehlo.sort of a dynamic shape", ctx.location)
    dimension = ctx.attrs.int("dimension")
    index = shape_ops.iota(shape, dimension, _i32())
    # An operand that is already this iota (argsort) is sorted into the permutation itself.
    carried = [r for x, r in zip(primals, ctx.results) if _equivalent(x, index)]
    order = carried[0] if carried else _sort_with_index(ctx.op, primals, index)
    return [t and take_along(t, order, dimension) for t in tangents]


register("jvp", "stablehlo.sort", _sort_jvp)


def _sort_batch(ctx, operands, batched):
    inputs = [v if b else values.broadcast_batch(v, ctx.size) for v, b in zip(operands, batched)]
    new = values.clone_with(ctx.op, inputs, ctx.batched_types())
    new.attributes["dimension"] = i64(ctx.attrs.int("dimension") + 1)
    return list(new.results), [True] * len(operands)


register("batch", "stablehlo.sort", _sort_batch)


# ---- chlo.top_k: the k largest along the last dim, and their i32 indices ----------------------


def _top_k_type(types, attrs):
    shape = (*shape_of(types[0])[:-1], attrs.int("k"))
    return [tensor_type(shape, values.element(types[0])), tensor_type(shape, _i32())]


def _top_k_impl(ctx, x):
    """Descending in the total order (NaN first, then +0 before -0), ties by lower index, as
    XLA's TopK."""
    k = ctx.attrs.int("k")
    rows = x.reshape(-1, x.shape[-1]) if x.shape[-1] else x.reshape(-1, 0)
    order = np.empty(rows.shape, np.int64)
    for r, row in enumerate(rows):
        index = np.arange(row.size)
        if row.dtype.kind == "f" or row.dtype.kind == "V":
            v = row.astype(np.float64)
            nan = np.isnan(v)
            v = np.where(nan, 0.0, v)
            order[r] = np.lexsort((index, np.signbit(v), -v, ~nan))
        else:
            order[r] = np.lexsort((index, -row.astype(np.float64)))
    order = order[:, :k].reshape(*x.shape[:-1], k)
    return [np.take_along_axis(x, order, -1), order.astype(np.int32)]


defop("chlo.top_k", _top_k_type, _top_k_impl)


def top_k(x: ir.Value, k: int) -> list[ir.Value]:
    """`chlo.top_k`: (values, i32 indices) of the k largest entries along the last dim."""
    return list(emit("chlo.top_k", [x], {"k": i64(k)}).results)


def _top_k_jvp(ctx, primals, tangents):
    (x_dot,) = tangents
    if values.is_zero(x_dot):
        return [values.Zero.of(ctx.results[0]), None]
    return [take_along(x_dot, ctx.results[1], len(shape_of(x_dot)) - 1), None]


def _top_k_batch(ctx, operands, batched):  # the batch dim is first, top_k works on the last
    return list(values.clone_with(ctx.op, operands, ctx.batched_types()).results), [True, True]


def _top_k_dims(ctx):  # both results: the operand's dims, the last one k
    dims = (*ctx.dims(0)[:-1], ctx.attrs.int("k"))
    return [ctx.info(dims), ctx.info(dims)]


register("jvp", "chlo.top_k", _top_k_jvp)
register("batch", "chlo.top_k", _top_k_batch)
register("dims", "chlo.top_k", _top_k_dims)


# ---- dims (aotc.passes.dims): operands sorted together share their dims ----


def _sort_dims(ctx):
    shape = ctx.same_shape()
    return [shape] * ctx.num_operands


register("dims", "stablehlo.sort", _sort_dims)


# ---- large sorts for IREE: a bitonic sorting network in one while loop --------------------------
#
# IREE 3.13 lowers a CPU sort to a quadratic loop per row: a 65,536-element sort runs ~5 s, and
# with the CPU targets' flags a row of >= 8,193 f32 fails to compile ("exceeded stack allocation
# limit of 32768 bytes"; --iree-llvmcpu-stack-allocation-limit lifts that, not the n^2). So,
# before IREE, `lower_large_sorts` replaces every sort of a long static row by a bitonic
# network: rows padded to a power of two P, log2(P)(log2(P)+1)/2 compare-exchange stages, one
# loop iteration each (the comparator on whole arrays against the partner position i ^ mask,
# then one gather per operand). An index operand breaks ties, so the result is the stable sort
# whatever the comparator.

NETWORK_MIN_SIZE = 512  # rows at least this long take the network: faster from 512 on (measured)


def _apply_comparator(block: ir.Block, args, size: int) -> ir.Value:
    """The comparator region's result for 1-D (size,) tensors standing for its 0-d arguments
    (its ops are elementwise, or reshapes of 0-d tensors: `_large_sort` checked)."""
    mapping = dict(zip(block.arguments, args))
    for inner in block.operations:
        op = inner.operation
        if op.name == "stablehlo.return":
            return mapping[op.operands[0]]
        operands = [mapping[v] for v in op.operands]
        if op.name in ("stablehlo.reshape", "stablehlo.broadcast_in_dim"):
            mapping[op.results[0]] = operands[0]
            continue
        types = [tensor_type(() if op.name == "stablehlo.constant" else (size,),
                             ir.RankedTensorType(r.type).element_type) for r in op.results]
        new = ir.Operation.create(op.name, results=types, operands=operands, attributes={
            name: op.attributes[name] for name in op.attributes}, loc=op.location)
        outs = list(new.results)
        if op.name == "stablehlo.constant":
            outs = [shape_ops.broadcast_in_dim(outs[0], (size,), [])]
        mapping.update(zip(op.results, outs))
    raise ValueError("a sort comparator without stablehlo.return")


def _scalar(value: int) -> ir.Value:
    return shape_ops.constant(np.array(value, np.int32))


def _flat_rows(x: ir.Value, dimension: int, padded: int) -> ir.Value:
    """x with `dimension` last, as rows padded to `padded` and flattened to one dimension."""
    shape = shape_of(x)
    rank = len(shape)
    if dimension != rank - 1:
        order = [d for d in range(rank) if d != dimension] + [dimension]
        x = shape_ops.transpose(x, order)
    n = shape[dimension]
    rows = int(np.prod(shape)) // n if n else 0
    x = shape_ops.reshape(x, (rows, n))
    if padded > n:
        element = ir.RankedTensorType(x.type).element_type
        zero = ew.convert(_scalar(0), element)
        x = shape_ops.pad(x, zero, [0, 0], [0, padded - n])
    return shape_ops.reshape(x, (rows * padded,))


def _unflat_rows(x: ir.Value, shape, dimension: int, padded: int) -> ir.Value:
    n = shape[dimension]
    rows = int(np.prod(shape)) // n
    x = shape_ops.reshape(x, (rows, padded))
    if padded > n:
        x = shape_ops.slice(x, [0, 0], [rows, n])
    moved = [shape[d] for d in range(len(shape)) if d != dimension] + [n]
    x = shape_ops.reshape(x, moved)
    if dimension != len(shape) - 1:
        order = [d for d in range(len(shape)) if d != dimension] + [dimension]
        x = shape_ops.transpose(x, [order.index(d) for d in range(len(shape))])
    return x


def _take_flat(x: ir.Value, index: ir.Value) -> ir.Value:
    size = shape_of(index)[0]
    return gather(x, shape_ops.reshape(index, (size, 1)), offset_dims=[],
                  collapsed_slice_dims=[0], start_index_map=[0], index_vector_dim=1,
                  slice_sizes=[1], indices_are_sorted=False)


def _network_sort(op: ir.Operation) -> list[ir.Value]:
    """op's sort as a bitonic network (see above); results of op's types."""
    dimension = ir.IntegerAttr(op.attributes["dimension"]).value
    shape = shape_of(op.operands[0])
    n = shape[dimension]
    padded = 1 << (n - 1).bit_length()
    stages = padded.bit_length() - 1
    flat = [_flat_rows(x, dimension, padded) for x in op.operands]
    size = shape_of(flat[0])[0]
    block = op.regions[0].blocks[0]
    i32 = _i32()
    position = shape_ops.iota((size,), 0, i32)
    index = ew.and_(position, shape_ops.broadcast_in_dim(_scalar(padded - 1), (size,), []))

    def before(lhs, rhs):
        """Strictly before in a total order: valid entries by the comparator, ties by index."""
        (*lhs, lhs_index), (*rhs, rhs_index) = lhs, rhs
        first = _apply_comparator(block, [v for pair in zip(lhs, rhs) for v in pair], size)
        second = _apply_comparator(block, [v for pair in zip(rhs, lhs) for v in pair], size)
        earlier = ew.compare("LT", lhs_index, rhs_index)
        ordered = ew.or_(first, ew.and_(ew.not_(second), earlier))
        limit = shape_ops.broadcast_in_dim(_scalar(n), (size,), [])
        lhs_valid = ew.compare("LT", lhs_index, limit)
        rhs_valid = ew.compare("LT", rhs_index, limit)
        return ew.select(lhs_valid, ew.or_(ew.not_(rhs_valid), ordered), ew.and_(
            ew.not_(rhs_valid), earlier))

    def cond(stage_bits, stride_bits, *arrays):
        return ew.compare("LE", stage_bits, _scalar(stages))

    def body(stage_bits, stride_bits, *arrays):
        one = _scalar(1)
        # stage b merges runs of 2^(b-1): its first step pairs mirror positions (mask 2^b - 1),
        # then half-cleaners of stride 2^t for t = b-2 .. 0, every pair ascending
        flip = ew.compare("EQ", stride_bits, ew.subtract(stage_bits, one))
        mask = ew.select(flip, ew.subtract(ew.shift_left(one, stage_bits), one),
                         ew.shift_left(one, stride_bits))
        partner = ew.xor(position, shape_ops.broadcast_in_dim(mask, (size,), []))
        others = [_take_flat(x, partner) for x in arrays]
        lower = ew.compare("LT", position, partner)
        lhs = [ew.select(lower, g, x) for x, g in zip(arrays, others)]
        rhs = [ew.select(lower, x, g) for x, g in zip(arrays, others)]
        # one gather per operand from the chosen source: IREE fuses each stage into two dispatches
        source = ew.select(before(lhs, rhs), partner, position)
        new = [_take_flat(x, source) for x in arrays]
        next_stride = ew.subtract(stride_bits, one)
        wrap = ew.compare("LT", next_stride, _scalar(0))
        next_stage = ew.add(stage_bits, ew.convert(wrap, i32))
        next_stride = ew.select(wrap, ew.subtract(next_stage, one), next_stride)
        return [next_stage, next_stride, *new]

    out = control.while_([_scalar(1), _scalar(0), *flat, index], cond, body)
    return [_unflat_rows(x, shape, dimension, padded) for x in out[2:-1]]


def _large_sort(op: ir.Operation) -> bool:
    """op is a sort of long static rows whose comparator applies to whole arrays."""
    if op.name != "stablehlo.sort":
        return False
    shape = shape_of(op.operands[0])
    dimension = ir.IntegerAttr(op.attributes["dimension"]).value
    if None in shape or shape[dimension] < NETWORK_MIN_SIZE:
        return False
    for inner in op.regions[0].blocks[0].operations:
        inner = inner.operation
        reshaped = inner.name in ("stablehlo.reshape", "stablehlo.broadcast_in_dim")
        if inner.regions or (reshaped and any(shape_of(r) != () for r in inner.results)):
            return False
    return True


def lower_large_sorts(module: ir.Module) -> ir.Module:
    """Replace, in place, every sort of rows of at least NETWORK_MIN_SIZE entries (static shape)
    by a bitonic network that IREE compiles and runs in O(n log^2 n); returns the module.
    Sorts whose comparator is not elementwise (never one aotc traced) stay as they are.
    """
    found = []

    def collect(op):
        if _large_sort(op.operation):
            found.append(op.operation)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    for op in found:
        with ir.InsertionPoint(op), op.location, at_location(op.location):
            outs = _network_sort(op)
        for old, new in zip(op.results, outs):
            old.replace_all_uses_with(new)
        op.erase()
    return module
