"""Rule factories shared by the op families (JAX's `deflinear` style): one call gives an op its
derivative rule from a structural fact about it."""

from aotc.frontend.ops import tensors


def structural_jvp(*linear_operands: int):
    """JVP of an op that is linear in `linear_operands` (others are indices, shapes, ...): the same
    op, cloned, with those operands replaced by their tangents (zeros filled in)."""

    def jvp(ctx, primals, tangents):
        if all(tensors.is_zero(tangents[i]) for i in linear_operands):
            return [None] * len(ctx.results)
        filled = {i: tensors.instantiate(tangents[i], primals[i]) for i in linear_operands}
        new = ctx.op.clone()  # after the zeros it uses, so they are defined before it
        for i, v in filled.items():
            new.operation.operands[i] = v
        return list(new.operation.results)

    return jvp
