"""Rule factories shared by the op families (JAX's `deflinear`, `defbilinear`, `defvectorized`):
one call gives an op its derivative or batching rules from a structural fact about it. Tangents
and cotangents are values or typed zeros (`tensors.Zero`)."""

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import shape_of
from aotc.frontend.core.registry import register
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors


def structural_jvp(*linear_operands: int):
    """JVP of an op that is linear in `linear_operands` (others are indices, shapes, ...; none
    given: all of them): the same op, cloned, with those operands replaced by their tangents
    (zeros filled in); a zero when they are all zero."""

    def jvp(ctx, primals, tangents):
        linear = linear_operands or range(len(primals))
        if all(tensors.is_zero(tangents[i]) for i in linear):
            return [tensors.Zero.of(r) for r in ctx.results]
        filled = {i: tensors.instantiate(tangents[i]) for i in linear}
        new = ctx.op.clone()  # after the zeros it uses, so they are defined before it
        for i, v in filled.items():
            new.operation.operands[i] = v
        return list(new.operation.results)

    return jvp


def deflinear(op_name: str, transpose_rule, *, operands: tuple[int, ...] = ()) -> None:
    """An op linear in its operands (or in `operands`, the others being indices or shapes): its
    JVP is the op applied to the tangents (`structural_jvp`), its transpose `transpose_rule`."""
    register("jvp", op_name, structural_jvp(*operands))
    register("transpose", op_name, transpose_rule)


def defbilinear(op_name: str, lhs_transpose, rhs_transpose) -> None:
    """An op of two operands, linear in each (multiply, dot_general, convolution): its JVP is
    op(x_dot, y) + op(x, y_dot), each a clone of the op; its transpose is
    lhs_transpose(ctx, ct, y) for a linear x or rhs_transpose(ctx, ct, x) for a linear y."""

    def jvp(ctx, primals, tangents):
        (x, y), (x_dot, y_dot) = primals, tangents

        def op_of(a, b):
            return tensors.clone_with(ctx.op, [a, b], ctx.result_types).result

        out = tensors.Zero.of(ctx.results[0])
        if not tensors.is_zero(x_dot):
            out = op_of(x_dot, y)
        if not tensors.is_zero(y_dot):
            out = tensors.add_any(out, op_of(x, y_dot))
        return [out]

    def transpose(ctx, cts, operands):
        x, y = operands
        if ctx.linear[0] and ctx.linear[1]:
            raise TracingError(f"{ctx.location}: {op_name} of two tangents is not linear")
        if ctx.linear[0]:
            return [lhs_transpose(ctx, cts[0], y), tensors.Zero(ctx.operand_types[1])]
        return [tensors.Zero(ctx.operand_types[0]), rhs_transpose(ctx, cts[0], x)]

    register("jvp", op_name, jvp)
    register("transpose", op_name, transpose)


def vectorized_batch(ctx, operands, batched):
    """BATCH rule of an elementwise op: unbatched operands get the batch dim too (a batched
    scalar, clamp's bound, is broadcast to the result's shape), then the op is cloned."""
    size = ctx.size
    target = (size, *shape_of(ctx.op.results[0]))
    new = []
    for v, b in zip(operands, batched):
        shape = shape_of(v)
        if b and shape != target:  # a batched scalar bound of clamp
            v = shape_ops.broadcast_in_dim(v, target, [0])
        elif not b and (shape or not target[1:]):
            v = tensors.broadcast_batch(v, size)
        new.append(v)
    return [tensors.clone_with(ctx.op, new, ctx.batched_types()).result], [True]


def defvectorized(*op_names: str) -> None:
    """Elementwise ops map lane by lane: `vectorized_batch` is their BATCH rule."""
    for name in op_names:
        register("batch", name, vectorized_batch)


def elementwise_shard(ctx, operands):
    """SHARD rule of an elementwise op: the full-rank operands are laid out like the most split
    one (a scalar operand, clamp's bound or select's predicate, is replicated), then each device
    runs the op on its blocks."""
    rank = len(shape_of(ctx.op.results[0]))
    full = [x for x in operands if x.rank == rank]
    spec = ctx.widest(full) if full else ()
    aligned = [ctx.reshard(x, spec if x.rank == rank else ((),) * x.rank) for x in operands]
    return ctx.local(aligned, [spec] * len(ctx.op.results))


def defelementwise_shard(*op_names: str) -> None:
    """Elementwise ops partition block by block: `elementwise_shard` is their SHARD rule."""
    for name in op_names:
        register("shard", name, elementwise_shard)
