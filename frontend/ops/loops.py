"""Reverse mode through counted loops (the VJP rule of stablehlo.while), as JAX's scan does it.

A forward loop runs the body's primal part once per step and stacks, per step, the values the
body's transposition reads (its residuals); a reverse loop runs the transposition on them, from
the last step to the first. Work and memory are linear in the number of steps and in the
residuals' size, never in the size of a carry (a scan's stacked outputs are not copied per
step). The forward loop also yields the loop's results, so it replaces the primal loop.
"""

import numpy as np

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import clone_remapped, ir, shape_of, tensor_type
from aotc.frontend.core.registry import register
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.control import move_block, while_


def static_int(v: ir.Value):
    """The integer a value always holds when it is a (converted, reshaped) constant, else None."""
    while isinstance(v, ir.OpResult):
        op = v.owner.operation
        if op.name == "stablehlo.constant":
            array = np.array(ir.DenseElementsAttr(op.attributes["value"]))
            return int(array.ravel()[0]) if array.size == 1 or array.min() == array.max() else None
        if op.name not in ("stablehlo.convert", "stablehlo.reshape", "stablehlo.broadcast_in_dim"):
            return None
        v = op.operands[0]
    return None


def counted_loop(op: ir.Operation):
    """(counter index, start, stop) of a while loop `for i in range(start, stop)` with static
    bounds (what fori_loop and scan emit, and what JAX exports), else None."""
    cond_block, body_block = op.regions[0].blocks[0], op.regions[1].blocks[0]
    pred = list(cond_block.operations)[-1].operands[0]
    if not isinstance(pred, ir.OpResult) or pred.owner.operation.name != "stablehlo.compare":
        return None
    compare = pred.owner.operation
    lhs, rhs = compare.operands
    args = list(cond_block.arguments)
    if "LT" not in str(compare.attributes["comparison_direction"]) or lhs not in args:
        return None
    k = args.index(lhs)
    stop, start = static_int(rhs), static_int(op.operands[k])
    step = list(body_block.operations)[-1].operands[k]
    if stop is None or start is None or not isinstance(step, ir.OpResult):
        return None
    add = step.owner.operation
    if add.name != "stablehlo.add" or list(body_block.arguments)[k] not in list(add.operands):
        return None
    other = [v for v in add.operands if v != list(body_block.arguments)[k]]
    if not other or static_int(other[0]) != 1:
        return None
    return k, start, stop


def _stack_shape(v: ir.Value, trip: int, where: str) -> tuple:
    shape = shape_of(v)
    if None in shape:
        raise TracingError(f"{where}: reverse-mode through a loop whose carry has a dynamic "
                           "shape is not supported")
    return (max(trip, 1), *shape)  # one row at least: a zero-step loop still slices a row


def _index_tuple(j: ir.Value, rank: int) -> list[ir.Value]:
    zero = values.scalar(0, values.element(j))
    return [j] + [zero] * rank


def _counted_while(trip: int, init, body) -> ir.Operation:
    """`for j in range(trip): state = body(j, *state)` as a counted stablehlo.while whose state
    starts with j; returns the op."""
    i32 = ir.IntegerType.get_signless(32)
    results = while_([values.scalar(0, i32), *init],
                      lambda j, *s: ew.compare("LT", j, values.scalar(trip, i32)),
                      lambda j, *s: [ew.add(j, values.scalar(1, i32)), *body(j, *s)])
    return results[0].owner.operation


def _primal_loop_here(ctx) -> ir.Operation | None:
    """The primal clone of the source loop when it sits in the block being emitted into (the
    loop's VJP then computes its results too, and replaces it), else None."""
    results = [ctx.primal(r) for r in ctx.op.results]
    owner = results[0].owner if isinstance(results[0], ir.OpResult) else None
    if owner is None or owner.operation.name != "stablehlo.while":
        return None
    owner = owner.operation
    if list(owner.results) != results or owner.block != ir.InsertionPoint.current.block:
        return None
    return owner


def _block_values(block: ir.Block) -> set:
    return set(block.arguments) | {r for op in block.operations for r in op.operation.results}


def _escaping_uses(op: ir.Operation, defined: set) -> list:
    """(user, operand index, value) for each operand, anywhere inside op, of a value in
    `defined`."""
    uses = []

    def visit(inner):
        inner = inner.operation
        for i, v in enumerate(inner.operands):
            if v in defined:
                uses.append((inner, i, v))
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    return uses


def _invariant_ops(v: ir.Value, block: ir.Block, defined: set) -> list | None:
    """The ops of `block` computing v, in program order, when v depends on no block argument
    and none of them has regions or is a call (a constant, a broadcast of a loop-invariant
    value), else None: such a value is recomputed where it is used, not carried."""
    if not isinstance(v, ir.OpResult):
        return None
    needed, pending = {}, [v.owner.operation]
    while pending:
        op = pending.pop()
        if op in needed.values():
            continue
        if len(op.regions) or op.name in _KEEP:
            return None
        for w in op.operands:
            if w in defined:
                if not isinstance(w, ir.OpResult):
                    return None
                pending.append(w.owner.operation)
        needed[len(needed)] = op
    order = [op.operation for op in block.operations]
    return sorted(needed.values(), key=lambda op: order.index(op))


def _carry_residuals(scratch: ir.Operation, backward: ir.Operation, trip: int, where: str):
    """Rebuild the forward loop `scratch` so that it also stacks, row j at step j, each of its
    body's values that the reverse loop `backward` uses, and make the reverse loop read row
    trip-1-k of those stacks at its step k (loop-invariant values are recomputed there
    instead). Returns the new forward loop's results."""
    cond_block, body = (region.blocks[0] for region in scratch.regions)
    defined = _block_values(body)
    uses = _escaping_uses(backward, defined)
    escaping = list(dict.fromkeys(v for _, _, v in uses))
    invariant = {v: _invariant_ops(v, body, defined) for v in escaping}
    stacked = [v for v in escaping if invariant[v] is None]
    m = len(scratch.operands)
    with ir.InsertionPoint(scratch):
        inits = [values.zeros_like(tensor_type(_stack_shape(v, trip, where), values.element(v)))
                 for v in stacked]

        def forward_body(*state):
            renamed = dict(zip(body.arguments, state[:m]))
            outs = move_block(body, state[:m])
            rows = [renamed.get(v, v) for v in stacked]
            return [*outs, *[shape_ops.dynamic_update_slice(
                stack, shape_ops.reshape(row, (1, *shape_of(row))),
                _index_tuple(state[0], len(shape_of(row))))
                for stack, row in zip(state[m:], rows)]]

        forward = while_([*scratch.operands, *inits],
                         lambda *s: move_block(cond_block, s[:m])[0], forward_body)
    now = _read_rows(backward, trip, stacked, forward[m:], invariant)
    for user, i, v in uses:
        user.operands[i] = now[v]
    for old, new in zip(scratch.results, forward):
        old.replace_all_uses_with(new)
    scratch.erase()  # last: the stacked values may be its (now unused) block arguments
    for loop in (forward[0].owner.operation, backward):
        _erase_unused(loop.regions[1].blocks[0])
    return forward


_KEEP = frozenset({"stablehlo.custom_call", "func.call", "stablehlo.composite"})


def _erase_unused(block: ir.Block) -> None:
    """Erase the block's region-free ops whose results are all unused (what a rule emitted that
    nothing read, such as the zeros a cotangent was not added into), last to first."""
    for op in reversed([op.operation for op in block.operations]):
        if (op.results and not len(op.regions) and op.name not in _KEEP
                and all(next(iter(r.uses), None) is None for r in op.results)):
            op.erase()


def _read_rows(backward: ir.Operation, trip: int, stacked, stacks, invariant) -> dict:
    """At the start of the reverse loop's body (step k): row trip-1-k of each stack, and each
    loop-invariant value recomputed; returns {forward value: its value here}."""
    block = backward.regions[1].blocks[0]
    k = block.arguments[0]
    now = {}
    with ir.InsertionPoint.at_block_begin(block):
        j = ew.subtract(values.scalar(trip - 1, values.element(k)), k)
        for v, stack in zip(stacked, stacks):
            shape = shape_of(v)
            row = shape_ops.dynamic_slice(stack, _index_tuple(j, len(shape)), (1, *shape))
            now[v] = shape_ops.reshape(row, shape)
        for ops in invariant.values():
            for op in ops or ():
                if op.results[0] not in now:
                    clone = clone_remapped(op, now)
                    now.update(zip(op.results, clone.results))
    return now


def _while_vjp(ctx, result_cts, wrt):
    """Reverse mode through a counted loop, as JAX's scan: a forward loop runs the body's
    primal part and stacks, per step, the values its transposition reads (residuals); a loop
    from the last step to the first runs the transposition on them. Work and memory are linear
    in the number of steps and in the residuals' size (never in the carry's, so a scan's
    stacked outputs are not copied per step). The forward loop also yields the loop's results,
    so it replaces the primal loop when that loop is in the same block."""
    src = ctx.op
    counted = counted_loop(src)
    if counted is None:
        raise TracingError(
            f"{ctx.location}: reverse-mode differentiation of a while_loop needs a counted loop "
            "with static bounds; pass max_steps=N to aotc.lax.while_loop (or to "
            "aotc.differentiate / `aotc grad --max-steps N` for imported StableHLO), or use "
            "aotc.lax.fori_loop with Python int bounds or aotc.lax.scan")
    _, start, stop = counted
    trip = max(stop - start, 0)
    body_block = src.regions[1].blocks[0]
    init = [ctx.primal(v) for v in src.operands]
    n = len(init)
    captures = ctx.free_values(1)
    captures_now = [ctx.primal(c) for c in captures]
    float_idx = [i for i, v in enumerate(init) if values.is_float(v.type)]
    capture_wrt = [c for c in captures if c in wrt]
    picked = [captures.index(c) for c in capture_wrt] + [len(captures) + i for i in float_idx]
    primal_loop = _primal_loop_here(ctx)
    staged = ctx.staged_vjp(body_block, captures, picked)
    try:
        with ir.InsertionPoint(primal_loop) if primal_loop else ir.InsertionPoint.current:
            scratch = _counted_while(trip, init,
                                     lambda j, *carry: staged.forward(captures_now + list(carry)))

        def backward_body(k, *state):  # counts up (a counted loop again, for higher orders)
            cts, accs = list(state[:len(float_idx)]), list(state[len(float_idx):])
            grads = staged.backward(cts, initial=accs)  # captures' cotangents add into accs
            capture_grads, carry_grads = grads[:len(capture_wrt)], grads[len(capture_wrt):]
            return [values.instantiate(g) for g in [*carry_grads, *capture_grads]]

        cts0 = [values.instantiate(result_cts[i]) for i in float_idx]
        accs0 = [values.zeros_like(ctx.primal(c)) for c in capture_wrt]
        backward = _counted_while(trip, [*cts0, *accs0], backward_body)
        forward = _carry_residuals(scratch, backward, trip, ctx.location)
    finally:
        staged.close()
    if primal_loop is not None:
        ctx.replace_primal(list(primal_loop.results), forward[1:1 + n])
        primal_loop.erase()
    init_cts = list(backward.results)[1:1 + len(float_idx)]
    capture_cts = list(backward.results)[1 + len(float_idx):]
    grads = []
    for v in wrt:
        total = values.Zero(v.type)
        for i, operand in enumerate(src.operands):
            if operand == v and i in float_idx:
                total = values.add_any(total, init_cts[float_idx.index(i)])
        if v in capture_wrt:
            total = values.add_any(total, capture_cts[capture_wrt.index(v)])
        grads.append(total)
    return grads


register("vjp", "stablehlo.while", _while_vjp)
