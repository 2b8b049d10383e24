"""Reductions: stablehlo.reduce with a body region (sum, prod, max, min, and, or, argmax, ...)."""

import numpy as np

from aotc.frontend.core.emit import emit, i64_array
from aotc.frontend.core.errors import MissingRuleError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import defop, register
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.control import build_region

# A body made of one of these ops on its two block arguments reduces with the numpy ufunc.
UFUNC_OF_BODY = {
    "stablehlo.add": np.add,
    "stablehlo.multiply": np.multiply,
    "stablehlo.maximum": np.maximum,
    "stablehlo.minimum": np.minimum,
    "stablehlo.and": np.bitwise_and,
    "stablehlo.or": np.bitwise_or,
    "stablehlo.xor": np.bitwise_xor,
}


def body_ufunc(region: ir.Region):
    """The numpy ufunc a single-op reduction body computes, or None for other bodies."""
    block = region.blocks[0]
    ops = list(block.operations)
    if len(ops) != 2 or len(block.arguments) != 2:
        return None
    name = ops[0].operation.name
    if name not in UFUNC_OF_BODY or set(ops[0].operands) != set(block.arguments):
        return None
    if list(ops[1].operands) != [ops[0].result]:
        return None
    return UFUNC_OF_BODY[name]


def _reduce_type(types, attrs):
    raise TypeError("stablehlo.reduce result types are given by its builder")


def fold_trailing(ctx, arrays, inits, out_rank: int) -> list[np.ndarray]:
    """Reduce the axes after the first `out_rank` of each array with the op's region 0 (the
    reference of reduce and reduce_window): a ufunc for single-op bodies, else element by
    element through the region in row-major order."""
    n = len(arrays)
    axes = tuple(range(out_rank, arrays[0].ndim))
    ufunc = body_ufunc(ctx.region(0)) if n == 1 else None
    if ufunc is not None:
        x = arrays[0]
        if x.dtype == np.bool_ and ufunc in (np.bitwise_and, np.bitwise_or):
            ufunc = np.logical_and if ufunc is np.bitwise_and else np.logical_or
        return ufunc.reduce(x, axis=axes, initial=inits[0][()])
    out_shape = arrays[0].shape[:out_rank]
    flat = [x.reshape(int(np.prod(out_shape, dtype=int)), -1) for x in arrays]
    results = [np.empty(flat[0].shape[0], dtype=ctx.result_dtype(i)) for i in range(n)]
    for row in range(flat[0].shape[0]):
        acc = list(inits)
        for k in range(flat[0].shape[1]):
            acc = ctx.run_region(0, *acc, *[x[row, k] for x in flat])
        for i in range(n):
            results[i][row] = acc[i]
    return [r.reshape(out_shape) for r in results]


def _reduce_impl(ctx, *operands):
    n = len(operands) // 2
    inputs, inits = operands[:n], operands[n:]
    dims = list(ctx.attrs.ints("dimensions"))
    kept = [d for d in range(inputs[0].ndim) if d not in dims]
    moved = [np.transpose(x, kept + dims) for x in inputs]
    return fold_trailing(ctx, moved, inits, len(kept))


defop("stablehlo.reduce", _reduce_type, _reduce_impl)


def reduce(operands, inits, dimensions, body) -> list[ir.Value]:
    """`stablehlo.reduce` of several operands; body(*accumulators, *elements) -> accumulators."""
    dimensions = sorted(int(d) for d in dimensions)
    result_types = []
    for x in operands:
        shape = [n for i, n in enumerate(shape_of(x)) if i not in dimensions]
        result_types.append(tensor_type(shape, ir.RankedTensorType(x.type).element_type))
    op = emit("stablehlo.reduce", [*operands, *inits], {"dimensions": i64_array(dimensions)},
              result_types=result_types, regions=1)
    scalars = [tensor_type((), ir.RankedTensorType(x.type).element_type) for x in operands]
    build_region(op.regions[0], scalars * 2, body)
    return list(op.results)


def reduce_binary(x: ir.Value, init: ir.Value, dimensions, combine) -> ir.Value:
    """Reduce one operand with a binary op builder such as `ew.add` or `ew.maximum`."""
    return reduce([x], [init], dimensions, lambda acc, elem: [combine(acc, elem)])[0]


REDUCERS = {"sum": ew.add, "prod": ew.multiply, "max": ew.maximum, "min": ew.minimum,
            "all": ew.and_, "any": ew.or_}


# ---- autodiff rules ----------------------------------------------------------------------------



def _reduce_jvp(ctx, primals, tangents):
    n = len(primals) // 2
    ufunc = body_ufunc(ctx.op.regions[0]) if n == 1 else None
    if ufunc is None or ufunc not in (np.add, np.maximum, np.minimum, np.multiply):
        return _selection_jvp(ctx, primals, tangents)
    (x, _), (tx, tinit) = primals, tangents
    dims = ctx.attrs.ints("dimensions")
    out = ctx.results[0]
    zero = values.scalar(0, values.element(out))
    if ufunc is np.add:
        t = tx and reduce_binary(tx, zero, dims, ew.add)
        return [values.add_any(t, tinit and values.broadcast_scalar(tinit, out))]
    if not values.is_zero(tinit):
        raise MissingRuleError("jvp", "stablehlo.reduce with a differentiated init value",
                               ctx.location)
    if values.is_zero(tx):
        return [values.Zero.of(out)]
    if ufunc is np.multiply:  # d prod = sum(t * product of the other elements)
        others = _product_of_others(x, primals[1], dims)
        return [reduce_binary(ew.multiply(tx, others), zero, dims, ew.add)]
    return [_selected_tangent(x, tx, out, dims)]


def _product_of_others(x: ir.Value, init: ir.Value, dims) -> ir.Value:
    """init times the product over dims of the elements other than each x: exclusive prefix
    times suffix products (no division, so zeros are fine and higher derivatives stay exact)."""
    shape, kept = shape_of(x), _kept(x, dims)
    init_b = values.broadcast_scalar(init, x)
    if None in shape:  # dynamic shapes: prod / x (0/0 where x has zeros)
        product = _broadcast_back(reduce_binary(x, init, dims, ew.multiply), x, kept)
        return ew.divide(product, x)
    order = kept + list(dims)
    n = int(np.prod([shape[d] for d in dims], dtype=int))
    flat = shape_ops.reshape(shape_ops.transpose(x, order), [shape[d] for d in kept] + [n])
    prefix = _exclusive_cumprod(flat)
    suffix = shape_ops.reverse(_exclusive_cumprod(shape_ops.reverse(flat, [len(kept)])),
                               [len(kept)])
    others = shape_ops.reshape(ew.multiply(prefix, suffix), [shape[d] for d in order])
    inverse = [order.index(d) for d in range(len(shape))]
    return ew.multiply(shape_ops.transpose(others, inverse), init_b)


def _exclusive_cumprod(v: ir.Value) -> ir.Value:
    """Products of the elements before each one along the last axis (log-step scan)."""
    shape = list(shape_of(v))
    last, n = len(shape) - 1, shape[-1]
    one = values.scalar(1, values.element(v))

    def shifted(u, k):  # u moved k places along the last axis, ones coming in
        if k >= n:
            return values.full_like(u, 1)
        part = shape_ops.slice(u, [0] * len(shape), [*shape[:last], n - k])
        return shape_ops.pad(part, one, [0] * last + [k], [0] * len(shape))

    v = shifted(v, 1)
    k = 1
    while k < n:
        v = ew.multiply(v, shifted(v, k))
        k *= 2
    return v


def _kept(x: ir.Value, dims) -> list[int]:
    return [d for d in range(len(shape_of(x))) if d not in dims]


def _selected_tangent(x, tx, out, dims) -> ir.Value:
    """Tangent of a reduction that picks one element (max, min, argmax's value): the average
    of the tangents of the elements equal to the result (JAX's choice at ties)."""
    zero = values.scalar(0, values.element(out))
    mask = ew.select(ew.compare("EQ", x, _broadcast_back(out, x, _kept(x, dims))),
                     values.full_like(x, 1), values.zeros_like(x))
    count = reduce_binary(mask, zero, dims, ew.add)
    picked = reduce_binary(ew.multiply(tx, mask), zero, dims, ew.add)
    return ew.divide(picked, count)


def _picks_an_input(region: ir.Region, k: int, n: int) -> bool:
    """Whether a reduce body's k-th result is always its k-th accumulator or element: a select,
    max or min of the two (argmax/argmin bodies carry the value this way)."""
    block = region.blocks[0]
    pair = {block.arguments[k], block.arguments[n + k]}
    result = list(block.operations)[-1].operands[k]
    if result in pair:
        return True
    if not isinstance(result, ir.OpResult):
        return False
    op = result.owner.operation
    if op.name == "stablehlo.select":
        return set(op.operands[1:]) <= pair
    return op.name in ("stablehlo.maximum", "stablehlo.minimum") and set(op.operands) <= pair


def _selection_jvp(ctx, primals, tangents):
    """JVP of a general reduce: integer results carry no tangent; float results need a body
    that picks one of its inputs (argmax, argmin, max with an index)."""
    n = len(primals) // 2
    dims = ctx.attrs.ints("dimensions")
    touts = []
    for k, out in enumerate(ctx.results):
        tx, tinit = tangents[k], tangents[n + k]
        if not values.is_float(out) or (values.is_zero(tx) and values.is_zero(tinit)):
            touts.append(values.Zero.of(out))
            continue
        if not values.is_zero(tinit) or not _picks_an_input(ctx.op.regions[0], k, n):
            raise MissingRuleError("jvp", "stablehlo.reduce with this body", ctx.location)
        touts.append(_selected_tangent(primals[k], tx, out, dims))
    return touts


def _broadcast_back(v: ir.Value, like: ir.Value, kept) -> ir.Value:
    shape = shape_of(like)
    if None in shape:
        return shape_ops.broadcast_in_dim(v, shape, kept, values.shape_tensor_of(like))
    return shape_ops.broadcast_in_dim(v, shape, kept)


def _reduce_transpose(ctx, cts, operands):
    if len(operands) != 2 or body_ufunc(ctx.op.regions[0]) is not np.add:
        raise MissingRuleError("transpose", "stablehlo.reduce (only sums are linear)",
                               ctx.location)
    dims = ctx.attrs.ints("dimensions")
    x_shape = shape_of(ctx.operand_types[0])
    kept = [d for d in range(len(x_shape)) if d not in dims]
    if None in x_shape:
        x_ct = _broadcast_back(cts[0], ctx.like(0), kept)
    else:
        x_ct = shape_ops.broadcast_in_dim(cts[0], x_shape, kept)
    init_ct = None
    if ctx.linear[1]:
        zero = values.scalar(0, values.element(cts[0]))
        init_ct = reduce_binary(cts[0], zero, list(range(len(shape_of(cts[0])))), ew.add)
    return [x_ct, init_ct]


register("jvp", "stablehlo.reduce", _reduce_jvp)
register("transpose", "stablehlo.reduce", _reduce_transpose)


# ---- batching ----------------------------------------------------------------------------------


def batched_reduction(ctx, operands, batched) -> ir.Operation:
    """The op of a (windowed) reduction cloned over batched inputs (unbatched ones broadcast);
    init values must stay unbatched. The caller shifts the op's dimension attributes."""
    n = len(operands) // 2
    if any(batched[n:]):
        raise MissingRuleError("batch", f"{ctx.op.name} with a batched init value", ctx.location)
    inputs = [v if b else values.broadcast_batch(v, ctx.size)
              for v, b in zip(operands[:n], batched[:n])]
    return values.clone_with(ctx.op, inputs + list(operands[n:]), ctx.batched_types())


def _reduce_batch(ctx, operands, batched):
    n = len(operands) // 2
    new = batched_reduction(ctx, operands, batched)
    new.attributes["dimensions"] = i64_array([d + 1 for d in ctx.attrs.ints("dimensions")])
    return list(new.results), [True] * n


register("batch", "stablehlo.reduce", _reduce_batch)


# ---- dims (aotc.passes.dims): inputs share dims; the reduced ones go ----


def _reduce_dims(ctx):
    n = ctx.num_operands // 2
    shape = ctx.same_shape(range(n))
    reduced = ctx.attrs.ints("dimensions")
    kept = [d for k, d in enumerate(shape) if k not in reduced]
    body = [op.operation.name for op in ctx.op.regions[0].blocks[0].operations]
    content = None  # the product of a vector of sizes (a dynamic reshape's element count)
    if n == 1 and ctx.content(0) is not None and body[0] == "stablehlo.multiply":
        content = [ctx.product(ctx.content(0))]
    return [ctx.info(kept, content)] + [kept] * (n - 1)


register("dims", "stablehlo.reduce", _reduce_dims)


# ---- SPMD partitioning (aotc.passes.sharding) ----

_COMBINE = {np.add: "sum", np.maximum: "max", np.minimum: "min"}


def _identity_of(kind: str, dtype: np.dtype):
    if kind == "sum":
        return 0
    if dtype.kind == "f":
        return -np.inf if kind == "max" else np.inf
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    if info is None:
        return None
    return info.min if kind == "max" else info.max


def _starts_at_identity(init: ir.Value, kind: str) -> bool:
    """Whether a reduction's init is a constant equal to its combiner's identity (so that each
    device may start from it and the partial results combine exactly)."""
    owner = init.owner
    if not isinstance(owner, ir.Operation) and hasattr(owner, "operation"):
        owner = owner.operation
    if not isinstance(owner, ir.Operation) or owner.name != "stablehlo.constant":
        return False
    value = np.array(ir.DenseElementsAttr(owner.attributes["value"]))
    identity = _identity_of(kind, value.dtype)
    return identity is not None and bool(np.all(value == identity))


def _reduce_shard(ctx, operands):
    """Kept dims keep their split. Reduced split dims: a sum, max or min from its identity
    reduces each block, then all-reduces over their axes; any other reduction gathers them."""
    n = len(ctx.op.results)
    xs, inits = operands[:n], operands[n:]
    reduced = ctx.attrs.ints("dimensions")
    kind = _COMBINE.get(body_ufunc(ctx.op.regions[0])) if n == 1 else None
    spec = list(xs[0].spec)
    split = [a for d in reduced for a in spec[d]]
    if split and (kind is None or not _starts_at_identity(ctx.op.operands[1], kind)):
        spec = [() if d in reduced else axes for d, axes in enumerate(spec)]
        split = []
    xs = [ctx.reshard(x, spec) for x in xs]
    inits = [ctx.replicate(x) for x in inits]
    kept = [axes for d, axes in enumerate(spec) if d not in reduced]
    outs = ctx.local(xs + inits, [kept] * n)
    return [ctx.all_reduce(out, split, kind) for out in outs] if split else outs


register("shard", "stablehlo.reduce", _reduce_shard)
