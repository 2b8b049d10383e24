"""Structured control flow of `aotc.lax`: cond, switch, while_loop, fori_loop, scan, map.

Bodies are Python functions traced once into the regions of `stablehlo.if` / `case` / `while`
(built by ops/control.py). Operands and carries are pytrees; bodies may use traced values of the
enclosing function, since StableHLO regions see the values defined above them.

Branch outputs and scan outputs are only known after tracing, while an op needs its result
types when it is created. So a body is first traced into a throwaway op, checked, and its ops are
then moved (`control.move_block`) into the real op: every user function is traced once (twice
only when a weakly typed carry is promoted, as JAX also retraces).
"""

import math

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import CUSTOM_ATTRIBUTE, add_custom_rule
from aotc.frontend.core.source import at_location, caller_site
from aotc.frontend.lax import unroll as unrolling
from aotc.frontend.numpy.core import astype, shape_text
from aotc.frontend.ops import control, loops
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.trace.tracer import Tracer, constant, to_tracer
from aotc.passes import functions as util
from aotc.passes.autodiff import STOP_GRADIENT, free_values

__all__ = ["cond", "fori_loop", "map", "scan", "switch", "while_loop"]

# ---- pytrees of traced values ------------------------------------------------------------------


def flatten_traced(value) -> tuple[list[Tracer], tree.TreeDef]:
    leaves, treedef = tree.flatten(value)
    return [to_tracer(leaf) for leaf in leaves], treedef


def _aval(t: Tracer) -> str:
    return f"{t.dtype}{list(t.shape)}" + (" (weakly typed)" if t.weak_type else "")


def with_weak(values, like) -> list[Tracer]:
    return [Tracer(v, t.weak_type) for v, t in zip(values, like)]


def _remap(block: ir.Block, args, value: ir.Value) -> ir.Value:
    for old, new in zip(block.arguments, args):
        if value == old:
            return new
    return value


# ---- cond and switch ---------------------------------------------------------------------------


def _join_branch_outputs(what, labels, traced):
    """The common (dtype, weak) of each output leaf; weak leaves adapt, as in JAX promotion."""
    def0 = traced[0][1]
    for label, (_, out_def) in zip(labels[1:], traced[1:]):
        if out_def != def0:
            raise TracingError(f"{caller_site()}: {what}: {labels[0]} returns structure {def0!r} "
                               "but "
                               f"{label} returns {out_def!r}; all branches must return the "
                               "same pytree structure")
    joined = []
    for k, path in enumerate(tree.leaf_paths(def0)):
        leaves = [outs[k] for outs, _ in traced]
        dt, weak = dtypes.promote(*[(t.dtype, t.weak_type) for t in leaves])
        if len({t.shape for t in leaves}) > 1 or any(t.dtype != dt and not t.weak_type
                                                     for t in leaves):
            listed = ", ".join(f"{label} returns {_aval(t)}" for label, t in zip(labels, leaves))
            raise TracingError(f"{caller_site()}: {what}: output{path} differs between branches: "
                               f"{listed}; branches must return identical shapes and dtypes")
        joined.append((leaves[0].shape, dt, weak))
    return def0, joined


def _branches(what, labels, fns, operands, build):
    """Trace each of fns(*operands) into a scratch op, check and join, then build the real op.

    build(result_types, bodies) emits the region op (control.if_ or control.case).
    """
    operands = tree.map(to_tracer, operands)
    traced, blocks = [], []

    def scratch_body(fn):
        def body():
            blocks.append(ir.InsertionPoint.current.block)
            leaves, out_def = flatten_traced(fn(*operands))
            traced.append((leaves, out_def))
            return [t.value for t in leaves]

        return body

    build([], [scratch_body(fn) for fn in fns])
    out_def, joined = _join_branch_outputs(what, labels, traced)
    result_types = [tensor_type(shape, dtypes.to_mlir(dt)) for shape, dt, _ in joined]

    def real_body(block):
        def body():
            values = control.move_block(block)
            return [ew.convert(v, dtypes.to_mlir(dt)) for v, (_, dt, _) in zip(values, joined)]

        return body

    results = build(result_types, [real_body(block) for block in blocks])
    blocks[0].owner.operation.erase()
    return tree.unflatten(out_def, [Tracer(v, weak) for v, (_, _, weak) in zip(results, joined)])


def scalar_operand(x, what: str, name: str) -> Tracer:
    x = to_tracer(x)
    if x.shape != ():
        raise TracingError(f"{caller_site()}: {what}: {name} must be a scalar, got shape "
                           f"{shape_text(x.shape)}")
    return x


def cond(pred, true_fn, false_fn, *operands):
    """true_fn(*operands) if pred else false_fn(*operands), both traced (`stablehlo.if`).

    pred is a scalar (a number means pred != 0); both branches must return the same pytree of
    shapes and dtypes. A concrete (Python or NumPy) pred just calls the chosen branch.

    Example:
        >>> lax.cond(x.sum() > 0, lambda v: v * 2, lambda v: -v, x)
    """
    if not isinstance(pred, Tracer):
        if np.ndim(pred) != 0:
            raise TracingError(f"{caller_site()}: cond: pred must be a scalar, got shape "
                               f"{np.shape(pred)}")
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    pred = scalar_operand(pred, "cond", "pred")
    if not dtypes.is_bool(pred.dtype):
        pred = anp.not_equal(pred, 0)
    return _branches("cond", ["true_fn", "false_fn"], [true_fn, false_fn], operands,
                     lambda types, bodies: control.if_(pred.value, types, *bodies))


def switch(index, branches, *operands):
    """branches[clamp(index, 0, n - 1)](*operands), all traced (`stablehlo.case`).

    Example:
        >>> lax.switch(k, [lambda v: v, lambda v: v * 2, lambda v: -v], x)
    """
    branches = list(branches)
    if not branches:
        raise TracingError(f"{caller_site()}: switch: needs at least one branch")
    if not isinstance(index, Tracer):
        return branches[int(np.clip(int(index), 0, len(branches) - 1))](*operands)
    index = scalar_operand(index, "switch", "index")
    if not dtypes.is_int(index.dtype):
        raise TracingError(f"{caller_site()}: switch: index must be an integer, got {index.dtype}")
    if len(branches) == 1:
        return branches[0](*operands)
    index = astype(index, dtypes.int32)
    lo, hi = constant(np.int32(0)), constant(np.int32(len(branches) - 1))
    index = ew.clamp(lo.value, index.value, hi.value)
    labels = [f"branch {i}" for i in range(len(branches))]
    return _branches("switch", labels, branches, operands,
                     lambda types, bodies: control.case(index, types, bodies))


# ---- loops -------------------------------------------------------------------------------------


def _loop_predicate(what, value) -> ir.Value:
    value = to_tracer(value)
    if value.shape != () or not dtypes.is_bool(value.dtype):
        raise TracingError(f"{caller_site()}: {what}: cond_fun must return a boolean scalar, got "
                           f"{_aval(value)}")
    return value.value


def _check_structure(what, old_def, new_def) -> None:
    if new_def != old_def:
        raise TracingError(f"{caller_site()}: {what}: the body returns structure {new_def!r} but "
                           "the "
                           f"carry is {old_def!r}; it must return the carry's structure")


def _check_carry(what, paths, old, new) -> dict[int, np.dtype]:
    """Raise unless new carry leaves keep old's types; returns {leaf: dtype} to retrace with.

    As in JAX, a weakly typed initial leaf (a Python scalar) is promoted to what the body makes
    of it, and the loop is traced again.
    """
    promoted = {}
    for k, (path, a, b) in enumerate(zip(paths, old, new)):
        if a.shape == b.shape and a.dtype == b.dtype:
            continue
        if a.shape == b.shape and a.weak_type:
            dt, _ = dtypes.promote((a.dtype, True), (b.dtype, b.weak_type))
            if dt != a.dtype:
                promoted[k] = dt
                continue
        raise TracingError(
            f"{caller_site()}: {what}: the body changes {path} from {_aval(a)} to {_aval(b)}; the "
            "carry must keep its shape and dtype (use .astype(...) in the body or change the "
            "initial value)")
    return promoted


def _trace_while(what, cond_fun, body_fun, init: list[Tracer], paths):
    outcome = {"promoted": {}, "weak": []}

    def cond(*args):
        return _loop_predicate(what, cond_fun(with_weak(args, init)))

    def body(*args):
        new = body_fun(with_weak(args, init))
        outcome["promoted"] = _check_carry(what, paths, init, new)
        outcome["weak"] = [a.weak_type and b.weak_type for a, b in zip(init, new)]
        return list(args) if outcome["promoted"] else [t.value for t in new]

    return control.while_([t.value for t in init], cond, body), outcome


def _while(what, cond_fun, body_fun, init: list[Tracer], paths):
    """A stablehlo.while over flat carry tracers; cond_fun/body_fun take and give flat lists.

    Returns the result tracers and the while op.
    """
    while True:
        results, outcome = _trace_while(what, cond_fun, body_fun, init, paths)
        op = results[0].owner.operation if results else None
        if not outcome["promoted"]:
            return [Tracer(v, w) for v, w in zip(results, outcome["weak"])], op
        op.erase()
        init = [astype(t, outcome["promoted"][k]) if k in outcome["promoted"] else t
                for k, t in enumerate(init)]


def while_loop(cond_fun, body_fun, init_val, *, max_steps: int | None = None,
               checkpoint: str = "all"):
    """Repeat `val = body_fun(val)` while cond_fun(val); val is a pytree (`stablehlo.while`).

    Python scalars in init_val are weakly typed; the body must keep each leaf's shape and dtype.

    Reverse mode (grad, vjp) needs `max_steps=N`: the loop then becomes a counted loop of N
    steps whose step keeps body_fun's result only while cond_fun holds, so it differentiates
    like fori_loop (body_fun also runs, discarded, on finished steps: like jnp.where, its
    derivative there must be finite). Its value equals the plain loop's whenever that ends
    within N steps; a loop that would need more stops after N applications of body_fun,
    without an error (make N a safe bound). It always takes N steps.
    checkpoint="all" keeps every step's carry for the backward pass (memory O(N));
    checkpoint="sqrt" keeps one carry per chunk of ceil(sqrt(N)) steps and recomputes the
    chunk in the backward pass (memory O(sqrt(N)), about one more forward pass of time).

    Example:
        >>> lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, c[1] * 2.0), (0, x))
        >>> aotc.grad(lambda x: lax.while_loop(lambda v: v < 1e3, lambda v: v * x, 1.0,
        ...                                    max_steps=100))(2.0)
    """
    if max_steps is not None:
        _check_bound(max_steps, checkpoint)
    init, treedef = flatten_traced(init_val)

    def body(carry):
        new, new_def = flatten_traced(body_fun(tree.unflatten(treedef, carry)))
        _check_structure("while_loop", treedef, new_def)
        return new

    paths = [f"carry{p}" for p in tree.leaf_paths(treedef)]
    results, op = _while("while_loop", lambda c: cond_fun(tree.unflatten(treedef, c)), body,
                         init, paths)
    if max_steps is not None and op is not None:
        results = with_weak(bound_while(op, max_steps, checkpoint), results)
    return tree.unflatten(treedef, results)


# ---- bounded while loops: reverse mode through a counted loop that stops early ------------------

CHECKPOINTS = ("all", "sqrt")


def _check_bound(max_steps, checkpoint) -> None:
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) \
            or max_steps < 0:
        raise TracingError(f"{caller_site()}: while_loop: max_steps must be a Python int >= 0, "
                           f"got {max_steps!r}")
    if checkpoint not in CHECKPOINTS:
        raise TracingError(f"{caller_site()}: while_loop: checkpoint must be one of "
                           f"{', '.join(repr(c) for c in CHECKPOINTS)}, got {checkpoint!r}")


class _Recompute:
    """The custom rule of a checkpointed chunk function (what aotc.checkpoint attaches): its
    VJP recomputes the chunk's steps instead of keeping their carries."""

    kind = "checkpoint"


def _counted(steps: int, state, step) -> list[ir.Value]:
    """`for k in range(steps): state = step(state)` as a counted stablehlo.while."""
    i32 = ir.IntegerType.get_signless(32)
    out = control.while_([_scalar(0, i32), *state],
                         lambda k, *s: ew.compare("LT", k, _scalar(steps, i32)),
                         lambda k, *s: [ew.add(k, _scalar(1, i32)), *step(list(s))])
    return out[1:]


def _scalar(value, elem) -> ir.Value:
    return shape_ops.constant(np.asarray(value, dtypes.from_mlir(elem)))


def _guarded_step(while_op, max_steps: int, env: dict):
    """One step of the bounded loop on state (steps taken, active, carry...): runs the body when
    the loop is still active and under max_steps, then re-evaluates cond on the new carry."""
    cond_block, body_block = (region.blocks[0] for region in while_op.regions)
    i32 = ir.IntegerType.get_signless(32)
    captures = [v for v in free_values(while_op, 1) if values.is_float(v.type)]
    frozen = _stop_gradient_function(while_op, [c.type for c in captures]
                                     + [v.type for v in while_op.operands])

    def step(state):
        taken, active, carry = state[0], state[1], state[2:]
        run = ew.and_(active, ew.compare("LT", taken, _scalar(max_steps, i32)))
        # select, not stablehlo.if: IREE 3.13 fails at run time on the reverse-mode program
        # of an if inside this loop. The body also runs on finished steps (its result is
        # dropped); it reads its inputs through selects on `run` too, so that no derivative
        # of those steps reaches the carry or the captures (0 * inf would be NaN)
        inputs = _guarded_inputs(run, [env.get(c, c) for c in captures] + list(carry), frozen)
        body_env = dict(env) | dict(zip(captures, inputs[:len(captures)]))
        stepped = control.inline_block(body_block, inputs[len(captures):], body_env)
        new = [_select(run, c_new, c) for c_new, c in zip(stepped, carry)]
        active = ew.and_(run, control.inline_block(cond_block, new, env)[0])
        return [ew.add(taken, _scalar(1, i32)), active, *new]

    return step


def _select(run: ir.Value, on: ir.Value, off: ir.Value) -> ir.Value:
    """select(run, on, off) for a scalar predicate run."""
    shape = shape_of(on)
    return ew.select(run if not shape else shape_ops.broadcast_in_dim(run, shape, []), on, off)


def _guarded_inputs(run: ir.Value, inputs: list[ir.Value], frozen: str) -> list[ir.Value]:
    """Each float input v as select(run, v, stop_gradient(v)): the same value, whose derivative
    is exactly zero (a select, not a product) where run is false."""
    floats = [i for i, v in enumerate(inputs) if values.is_float(v.type)]
    if not floats:
        return inputs
    stopped = control.call(frozen, [inputs[i] for i in floats], [inputs[i].type for i in floats])
    guarded = list(inputs)
    for i, v in zip(floats, stopped):
        guarded[i] = _select(run, inputs[i], v)
    return guarded


def _stop_gradient_function(while_op, types) -> str | None:
    """A private identity function of the float `types` marked as a stop_gradient (None when
    there are none)."""
    module = _module_of(while_op)
    floats = [t for t in types if values.is_float(t)]
    if not floats:
        return None
    name = util.fresh_name(module, "while_frozen")
    fn, entry = util.new_function(module, name, floats, True, while_op.location)
    with ir.InsertionPoint(entry):
        util.finish_function(fn, list(entry.arguments))
    fn.attributes[STOP_GRADIENT] = ir.UnitAttr.get()
    return name


def _module_of(op: ir.Operation) -> ir.Operation:
    parent = op.parent
    while parent.name != "builtin.module":
        parent = parent.parent
    return parent


def _chunk_function(while_op, captures, state_types, chunk: int, max_steps: int) -> str:
    """A private function (captures..., state...) -> state running `chunk` guarded steps, marked
    for recomputation in reverse mode (like aotc.checkpoint)."""
    module = _module_of(while_op)
    name = util.fresh_name(module, "while_chunk")
    fn, entry = util.new_function(module, name, [c.type for c in captures] + state_types, True,
                                  while_op.location)
    with ir.InsertionPoint(entry):
        args = list(entry.arguments)
        env = dict(zip(captures, args[:len(captures)]))
        out = _counted(chunk, args[len(captures):], _guarded_step(while_op, max_steps, env))
        util.finish_function(fn, out)
    fn.attributes[CUSTOM_ATTRIBUTE] = ir.StringAttr.get(name)
    add_custom_rule(module, name, _Recompute())
    return name


def bound_while(while_op, max_steps: int, checkpoint: str = "all") -> list[ir.Value]:
    """Replace a stablehlo.while (emitted or imported) by its bounded form, a counted loop of
    max_steps guarded steps that reverse mode can differentiate; returns the new results.

    checkpoint="sqrt" nests chunks of ceil(sqrt(max_steps)) steps, each a checkpointed call,
    in an outer counted loop, so reverse mode keeps only one carry per chunk.
    """
    while_op = while_op.operation
    cond_block = while_op.regions[0].blocks[0]
    captures = free_values(while_op)
    with ir.InsertionPoint(while_op), at_location(while_op.location), while_op.location:
        init = list(while_op.operands)
        i32 = ir.IntegerType.get_signless(32)
        state = [_scalar(0, i32), control.inline_block(cond_block, init, {})[0], *init]
        if checkpoint == "sqrt" and max_steps > 1:
            chunk = math.isqrt(max_steps - 1) + 1  # ceil(sqrt(max_steps))
            name = _chunk_function(while_op, captures, [v.type for v in state], chunk, max_steps)
            types = [v.type for v in state]
            out = _counted(-(-max_steps // chunk), state,
                           lambda s: control.call(name, [*captures, *s], types))
        else:
            out = _counted(max_steps, state, _guarded_step(while_op, max_steps, {}))
    results = out[2:]
    for old, new in zip(while_op.results, results):
        old.replace_all_uses_with(new)
    while_op.erase()
    return results


def bound_while_loops(module, max_steps: int, checkpoint: str = "all") -> int:
    """Rewrite every while loop of `module` that is not a counted loop into its bounded form
    (see bound_while); returns how many were rewritten. Inner loops go first."""
    found = []

    def visit(op):
        if op.operation.name == "stablehlo.while":
            found.append(op.operation)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)  # post-order: inner loops before the loops holding them
    rewritten = 0
    for op in found:
        if loops.counted_loop(op) is None:
            bound_while(op, max_steps, checkpoint)
            rewritten += 1
    return rewritten


def _counted_paths(treedef) -> list[str]:
    return ["the loop index", *[f"carry{p}" for p in tree.leaf_paths(treedef)]]


def fori_loop(lower, upper, body_fun, init_val, *, unroll=None):
    """`for i in range(lower, upper): val = body_fun(i, val)`, with i an int32 scalar.

    Emitted as a stablehlo.while whose state starts with the counter: the cond region compares
    it LT against the bound and the body adds one to it (a counted loop). Bounds may be traced.
    With Python int bounds, each iteration runs several steps (frontend/lax/unroll.py): unroll=None
    chooses how many by body size, an int asks for (a divisor of the trip count up to) that many,
    True for all, 1 or False for one. Results never depend on it.

    Example:
        >>> lax.fori_loop(0, n, lambda i, x: x + i, 0.0)
    """
    weak = isinstance(lower, int) and isinstance(upper, int)  # Python bounds: a weak index
    if isinstance(upper, Tracer):
        upper = astype(scalar_operand(upper, "fori_loop", "upper"), dtypes.int32)
    else:
        upper = int(upper)
    i0 = Tracer(astype(scalar_operand(lower, "fori_loop", "lower"), dtypes.int32).value, weak)
    init, treedef = flatten_traced(init_val)

    def body(state):
        new, new_def = flatten_traced(body_fun(state[0], tree.unflatten(treedef, state[1:])))
        _check_structure("fori_loop", treedef, new_def)
        return [anp.add(state[0], 1), *new]

    results, op = _while("fori_loop", lambda s: anp.less(s[0], upper), body, [i0, *init],
                         _counted_paths(treedef))
    if op is not None:
        results = with_weak(unrolling.unroll(op, unroll), results)
    return tree.unflatten(treedef, results[1:])


def _scan_length(x_leaves, length):
    sizes = {x.shape[0] if x.ndim else None for x in x_leaves}
    if None in sizes:
        raise TracingError(f"{caller_site()}: scan: every leaf of xs needs a static leading "
                           "axis, got "
                           + ", ".join(shape_text(x.shape) for x in x_leaves))
    if length is not None:
        sizes.add(int(length))
    if len(sizes) != 1:
        raise TracingError(f"{caller_site()}: scan: xs leaves and length disagree on the number of "
                           f"steps: {sorted(sizes)}")
    return sizes.pop()


def _index_leading(x: Tracer, i: Tracer) -> Tracer:
    """x[i] along axis 0 for a traced int32 scalar i."""
    if x.shape[0] == 0:  # a zero-step scan never runs its body; only the types matter
        return anp.zeros(x.shape[1:], x.dtype)
    zero = constant(np.int32(0)).value
    piece = shape_ops.dynamic_slice(x.value, [i.value] + [zero] * (x.ndim - 1), (1, *x.shape[1:]))
    return Tracer(shape_ops.reshape(piece, x.shape[1:]), x.weak_type)


def scan(f, init, xs=None, length=None, reverse=False, unroll=None):
    """`carry, y = f(carry, x)` over the leading axis of xs; returns (carry, stacked ys).

    Emitted as a stablehlo.while that dynamic_slices xs[i] and dynamic_update_slices ys.
    xs and the ys are pytrees; xs=None with `length` runs f(carry, None) length times.
    unroll: steps per loop iteration, as in fori_loop (None: chosen by body size).

    Example:
        >>> total, partial_sums = lax.scan(lambda c, x: (c + x, c + x), 0.0, xs)
    """
    carry, carry_def = flatten_traced(init)
    x_leaves, x_def = flatten_traced(xs)
    if not x_leaves and length is None:
        raise TracingError(f"{caller_site()}: scan: pass xs with a leading axis, or length")
    n = _scan_length(x_leaves, length)
    seen = {}

    def body(state):
        i = state[0]
        idx = anp.subtract(n - 1, i) if reverse else i
        x = tree.unflatten(x_def, [_index_leading(leaf, idx) for leaf in x_leaves])
        out = f(tree.unflatten(carry_def, state[1:]), x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TracingError(f"{caller_site()}: scan: f must return a pair (carry, y), got "
                               f"{type(out).__name__}")
        new, new_def = flatten_traced(out[0])
        _check_structure("scan", carry_def, new_def)
        seen["idx"], (seen["ys"], seen["y_def"]) = idx, flatten_traced(out[1])
        return [anp.add(i, 1), *new]

    i0 = Tracer(constant(np.int32(0)).value)
    results, scratch_op = _while("scan", lambda s: anp.less(s[0], n), body, [i0, *carry],
                                 _counted_paths(carry_def))
    ys, y_def = seen["ys"], seen["y_def"]
    if not ys:
        results = with_weak(unrolling.unroll(scratch_op, unroll), results)
        return tree.unflatten(carry_def, results[1:]), tree.unflatten(y_def, [])
    # The loop must also carry the ys buffers: move the traced body into a loop that does.
    cond_block, body_block = (region.blocks[0] for region in scratch_op.regions)
    buffers = [anp.zeros((n, *y.shape), y.dtype) for y in ys]
    state = len(results)

    def loop_cond(*args):
        return control.move_block(cond_block, args[:state])[0]

    def loop_body(*args):
        returned = control.move_block(body_block, args[:state])
        idx = _remap(body_block, args[:state], seen["idx"].value)
        zero = constant(np.int32(0)).value
        updated = []
        for buf, y in zip(args[state:], ys):
            if n == 0:  # the body never runs: keep the empty buffers
                updated.append(buf)
                continue
            y_value = _remap(body_block, args[:state], y.value)
            row = shape_ops.reshape(y_value, (1, *y.shape))
            updated.append(shape_ops.dynamic_update_slice(buf, row, [idx] + [zero] * y.ndim))
        return [*returned, *updated]

    values = control.while_([*scratch_op.operands, *[b.value for b in buffers]], loop_cond,
                            loop_body)
    scratch_op.erase()
    values = unrolling.unroll(values[0].owner.operation, unroll)
    final = with_weak(values[1:state], results[1:])
    return (tree.unflatten(carry_def, final),
            tree.unflatten(y_def, with_weak(values[state:], ys)))


def map(f, xs):
    """[f(x) for x in xs] along the leading axis, stacked (a scan without carry).

    Example:
        >>> lax.map(lambda row: row @ w, xs)
    """
    return scan(lambda carry, x: (carry, f(x)), None, xs)[1]
