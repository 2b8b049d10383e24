"""The JVP of a stablehlo.reduce_window with any elementwise body (JAX's cumlogsumexp has a
logaddexp body), as a fold of the body over the window's elements.

A window's elements are W strided slices ("taps") of the dilated, padded operand, each shaped
like the output (conv._window_taps). Which taps are padding at which output position is
static, so each position folds only its real elements: acc = its first real tap, then
acc = body(acc, tap) for each later real tap, and the result is body(init, acc) (init alone
where a window holds only padding). Each fold step is differentiated by the body's own rules
(the JVP walker runs a copy of the body lifted from scalars to the output's shape), so reverse
mode and vmap follow from the rules of the ops emitted here.

Where a position skips a step, the body runs on a safe input (the operand's first element)
and a select drops its result: the select on the inputs makes that step's derivative exactly
zero in reverse mode too (a logaddexp of two -inf paddings is NaN, and 0 * NaN would leak).
"""

import weakref

import numpy as np

from aotc.frontend.core.emit import emit
from aotc.frontend.core.errors import MissingRuleError
from aotc.frontend.core.ir import clone_remapped, func, ir, shape_of, tensor_type
from aotc.frontend.core.registry import has_trait, register
from aotc.frontend.ops import conv
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values

MAX_WINDOW = 256  # elements per window: the JVP emits the body once per element
_ELEMENTWISE_TO_BOOL = frozenset({"stablehlo.compare", "chlo.is_inf", "chlo.is_neg_inf",
                                  "chlo.is_pos_inf"})
_SCALAR_IDENTITIES = frozenset({"stablehlo.reshape", "stablehlo.broadcast_in_dim"})


def _reduce_window_jvp(ctx, primals, tangents):
    """conv's rules for sum, product, max and min windows; any other body is folded."""
    special = conv.special_window_jvp(ctx, primals, tangents)
    return special if special is not None else _folded_jvp(ctx, primals, tangents)


register("jvp", "stablehlo.reduce_window", _reduce_window_jvp)


def _folded_jvp(ctx, primals, tangents):
    """The JVP of reduce_window(x..., init...) with any elementwise body, as a fold."""
    n = len(primals) // 2
    if all(values.is_zero(t) for t in tangents):
        return [values.Zero.of(r) for r in ctx.results]
    x_shape, out_shape = shape_of(primals[0]), shape_of(ctx.results[0])
    if None in x_shape:
        raise MissingRuleError("jvp", "stablehlo.reduce_window of a dynamic shape", ctx.location)
    geometry = conv.window_geometry(ctx)
    size = int(np.prod(geometry[0]))
    if size > MAX_WINDOW:
        raise MissingRuleError(
            "jvp", f"stablehlo.reduce_window with this body over windows of {size} elements "
            f"(at most {MAX_WINDOW}: the rule applies the body once per window element)",
            ctx.location)
    if 0 in out_shape:
        return [values.zeros_like(r) for r in ctx.results]
    scratch, body = _lifted_body(ctx.op.regions[0].blocks[0], out_shape, ctx.location)
    # the walker keeps the body's values (as keys): the scratch module lives as long as it
    weakref.finalize(ctx.walker, _keep_until_collected, scratch)
    xs, inits = primals[:n], primals[n:]
    x_dots = [values.instantiate(t) for t in tangents[:n]]
    init_dots = [values.instantiate(t) for t in tangents[n:]]
    taps = [conv.window_taps(x, init, geometry, out_shape) for x, init in zip(xs, inits)]
    dots = [conv.window_taps(d, fill, geometry, out_shape) for d, fill in zip(x_dots, init_dots)]
    real = _real_masks(geometry, x_shape, out_shape)
    safe = [_first_element(x, out_shape) for x in xs] if real[0].size else []

    def step(mask, acc, acc_dot, other, other_dot):
        """body(acc, other) where mask holds, on safe inputs elsewhere; returns the body's
        (primal, tangent) lists, valid only where mask holds."""
        args = [_where(mask, a, s) for a, s in zip([*acc, *other], safe + safe)]
        arg_dots = [_where(mask, d, values.zeros_like(d)) for d in [*acc_dot, *other_dot]]
        outs, out_dots = ctx.walker.jvp_block(body, args, arg_dots)
        return outs, [values.instantiate(d) for d in out_dots]

    acc = acc_dot = None
    started = np.zeros(out_shape, bool)
    for k in range(size):
        tap, tap_dot = [t[k] for t in taps], [d[k] for d in dots]
        if acc is None:  # no position has started: take this tap (padding stays unstarted)
            acc, acc_dot, started = tap, tap_dot, real[k]
            continue
        combine, first = started & real[k], real[k] & ~started
        if combine.any():
            outs, out_dots = step(combine, acc, acc_dot, tap, tap_dot)
            acc = [_where(combine, o, a) for o, a in zip(outs, acc)]
            acc_dot = [_where(combine, o, a) for o, a in zip(out_dots, acc_dot)]
        acc = [_where(first, t, a) for t, a in zip(tap, acc)]
        acc_dot = [_where(first, t, a) for t, a in zip(tap_dot, acc_dot)]
        started = started | real[k]
    init_b = [values.broadcast_scalar(v, r) for v, r in zip(inits, ctx.results)]
    init_b_dot = [values.broadcast_scalar(d, r) for d, r in zip(init_dots, ctx.results)]
    if not started.any():
        return init_b_dot
    _, out_dots = step(started, init_b, init_b_dot, acc, acc_dot)
    return [_where(started, o, i) for o, i in zip(out_dots, init_b_dot)]


def _where(mask: np.ndarray, a: ir.Value, b: ir.Value) -> ir.Value:
    """select(mask, a, b) for a static mask, without a select where it is uniform."""
    if mask.all():
        return a
    if not mask.any():
        return b
    return ew.select(shape_ops.constant(mask), a, b)


def _first_element(x: ir.Value, out_shape) -> ir.Value:
    """x's first element broadcast to out_shape: an input on which the body is as finite as on
    the data (skipped steps run on it)."""
    rank = len(shape_of(x))
    first = shape_ops.reshape(shape_ops.slice(x, [0] * rank, [1] * rank, [1] * rank), ())
    return shape_ops.broadcast_in_dim(first, out_shape, [])


def _real_masks(geometry, x_shape, out_shape) -> list[np.ndarray]:
    """For each window offset (row-major), where in the output that tap is an element of x
    (not padding or dilation)."""
    dims, strides, base, window, pads = geometry
    real = conv.dilate_and_pad(np.ones(x_shape, bool), range(len(x_shape)), base, pads, False)
    masks = []
    for offset in np.ndindex(*dims):
        start = [k * d for k, d in zip(offset, window)]
        index = tuple(slice(s, s + st * (n - 1) + 1, st)
                      for s, st, n in zip(start, strides, out_shape))
        masks.append(real[index])
    return masks


def _keep_until_collected(scratch: ir.Module) -> None:
    """The finalizer holding a scratch module until the walker that read it is collected."""


def _lifted_body(block: ir.Block, out_shape, location) -> tuple[ir.Module, ir.Block]:
    """A copy of the scalar body `block` whose values are shaped like the output (its ops are
    elementwise), as the entry block of a function in a scratch module (the JVP walker runs
    it; nothing of it is emitted into the program); returns (module, block)."""
    scratch = ir.Module.create()
    types = [tensor_type(out_shape, ir.RankedTensorType(a.type).element_type)
             for a in block.arguments]
    with ir.InsertionPoint(scratch.body):
        fn = func.FuncOp("body", ir.FunctionType.get(types, []))
    entry = fn.add_entry_block()
    now = dict(zip(block.arguments, entry.arguments))
    with ir.InsertionPoint(entry):
        for op in block.operations:
            op = op.operation
            if op.name == "stablehlo.return":
                func.ReturnOp([now[v] for v in op.operands])
                break
            now.update(zip(op.results, _lifted(op, now, out_shape, location)))
    return scratch, entry


def _lifted(op: ir.Operation, now: dict, out_shape, location) -> list[ir.Value]:
    """op (on 0-d tensors) applied elementwise to values shaped out_shape."""
    if any(shape_of(v) != () for v in [*op.operands, *op.results]) or len(op.regions):
        raise MissingRuleError("jvp", f"stablehlo.reduce_window whose body holds {op.name} on "
                               "non-scalars (the general rule lifts elementwise bodies)",
                               location)
    if op.name == "stablehlo.constant":
        return [shape_ops.broadcast_in_dim(clone_remapped(op, {}).result, out_shape, [])]
    if op.name in _SCALAR_IDENTITIES:
        return [now[op.operands[0]]]
    if not (has_trait(op.name, "same_shape") or op.name in _ELEMENTWISE_TO_BOOL):
        raise MissingRuleError("jvp", f"stablehlo.reduce_window whose body holds {op.name} "
                               "(the general rule lifts elementwise bodies)", location)
    types = [tensor_type(out_shape, ir.RankedTensorType(r.type).element_type)
             for r in op.results]
    attributes = {name: op.attributes[name] for name in op.attributes}
    return list(emit(op.name, [now[v] for v in op.operands], attributes,
                     result_types=types).results)
