"""Vectorization on StableHLO: `vmap(module, "f", in_axes)` adds the batched form of a function.

The new function takes each argument with an extra axis at in_axes[i] (None: not batched) and
returns each output with the batch axis at out_axes[i]. Inside, every batched value carries its
batch dimension first; each op's BATCH rule (beside the op in frontend/ops/) maps its operands,
some batched, to its batched results. The walk, with calls inlined on the fly, is the shared
Walker's. Ops without a rule raise MissingRuleError; nothing falls back to a Python loop.

A call of a function with a custom JVP (custom_jvp, random.gamma's implicit derivative) is not
inlined, which would drop its rule: it becomes a call of the function's batched form, which
keeps the batched rule (JAX's vmap of a custom_jvp is a custom_jvp of the vmapped function and
the vmapped rule), so grad(vmap(f)) uses the user's derivative as vmap(grad(f)) does.
"""

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import clone_remapped, ir, shape_of, tensor_type, uses_any
from aotc.frontend.core.registry import CUSTOM_ATTRIBUTE, add_custom_rule, find_custom_rule
from aotc.frontend.core.source import at_location
from aotc.frontend.ops import control
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import spmd as spmd_ops
from aotc.frontend.ops import tensors as values
from aotc.passes import functions as util
from aotc.passes.walker import RuleContext, Walker


class BatchContext(RuleContext):
    """What a BATCH rule sees: the source op, its attributes, the batch size, the walker."""

    def __init__(self, op: ir.Operation, walker: "BatchWalker"):
        super().__init__(op, walker)
        self.size = walker.size

    def batched_types(self, flags=None) -> list[ir.Type]:
        """The source op's result types, with the batch dim where flags say (default: all)."""
        flags = flags or [True] * len(self.op.results)
        return [values.with_batch(r.type, self.size) if f else r.type
                for r, f in zip(self.op.results, flags)]


class BatchWalker(Walker):
    """Re-emits a block's ops batched, at the current insertion point. A source value becomes
    (value, batched flag); a batched value carries its batch dimension first."""

    table = "batch"

    def __init__(self, module, size: int, axis_name: str | None = None):
        super().__init__(module)
        self.size = size
        self.axis_name = axis_name  # the collectives over this name run across the batch lanes
        self.batched: set = set()

    def bind(self, source: ir.Value, value) -> None:
        self.env[source], flag = value
        if flag:
            self.batched.add(source)
        else:
            self.batched.discard(source)

    def read(self, source: ir.Value):
        return self.env[source], source in self.batched

    def get(self, v: ir.Value) -> ir.Value:
        return self.env[v]

    def is_batched(self, v: ir.Value) -> bool:
        return v in self.batched

    def batch_block(self, block: ir.Block, args, flags):
        """Batch a block; returns (mapped terminator operands, their batched flags)."""
        outs = self.run_block(block, list(zip(args, flags)))
        return [v for v, _ in outs], [f for _, f in outs]

    def _over_batch_axis(self, op: ir.Operation) -> bool:
        """A collective over this vmap's axis_name depends on the lanes even when its operand
        does not (axis_index, psum of an unbatched value)."""
        return (self.axis_name is not None and spmd_ops.is_collective(op)
                and self.axis_name in spmd_ops.collective_config(op)["axes"])

    def call(self, op: ir.Operation, fn) -> list:
        """A call of a custom-JVP/VJP function stays a call (of its batched form when an operand is
        batched), so the rule survives; other calls are inlined."""
        rule = _custom_rule(fn)
        if rule is None:
            return super().call(op, fn)
        if not uses_any(op, self.batched) and not self._over_batch_axis(op):
            return [(r, False) for r in clone_remapped(op, self.env).results]
        operands = [self.read(v) for v in op.operands]
        name = batched_custom_function(self, fn, rule, [f for _, f in operands])
        results = [values.with_batch(r.type, self.size) for r in op.results]
        with at_location(op.location):
            outs = control.call(name, [v for v, _ in operands], results)
        return [(v, True) for v in outs]

    def visit(self, op: ir.Operation) -> list:
        if not uses_any(op, self.batched) and not self._over_batch_axis(op):
            return [(r, False) for r in clone_remapped(op, self.env).results]
        operands = [self.read(v) for v in op.operands]
        outs, flags = self.apply(self.rule(op), op, BatchContext(op, self),
                                 [v for v, _ in operands], [f for _, f in operands])
        return list(zip(outs, flags))


def _custom_rule(fn):
    """The custom JVP or VJP rule kept for `fn`, or None (no rule, or a checkpoint, which
    inlining only un-checkpoints)."""
    if CUSTOM_ATTRIBUTE not in fn.attributes:
        return None
    rule = find_custom_rule(fn, ir.StringAttr(fn.attributes[CUSTOM_ATTRIBUTE]).value)
    return rule if getattr(rule, "kind", None) in ("jvp", "vjp") else None


def batched_custom_function(walker: BatchWalker, fn, rule, flags) -> str:
    """Add the batched form of custom-derivative function `fn` (its arguments batched where
    `flags` say, every output batched) with the batched rule; returns its name."""
    name = util.fresh_name(walker.module, f"{ir.StringAttr(fn.attributes['sym_name']).value}"
                                          "_vmap")
    types = list(util.function_type(fn).inputs)
    arg_types = [values.with_batch(t, walker.size) if f else t for t, f in zip(types, flags)]
    new_fn, entry = util.new_function(walker.module, name, arg_types, True, fn.location)
    with ir.InsertionPoint(entry), fn.location:
        inner = BatchWalker(walker.module, walker.size, walker.axis_name)
        outs, out_flags = inner.batch_block(util.entry_block(fn), list(entry.arguments), flags)
        util.finish_function(new_fn, [_all_batched(v, f, walker.size)
                                      for v, f in zip(outs, out_flags)])
    new_fn.attributes[CUSTOM_ATTRIBUTE] = ir.StringAttr.get(name)
    batched = BatchedJvp if rule.kind == "jvp" else BatchedVjp
    add_custom_rule(walker.module, name, batched(rule, flags, walker))
    return name


def _unbatched_type(t: ir.Type) -> ir.RankedTensorType:
    """`t` without its leading batch dimension."""
    return tensor_type(shape_of(t)[1:], values.element(t))


def _all_batched(v: ir.Value, batched: bool, size: int) -> ir.Value:
    return v if batched else values.broadcast_batch(v, size)


class BatchedJvp:
    """The custom JVP rule of a batched custom-JVP function: the original rule, staged on one
    batch element's types and batched like any function (arguments and tangents batched where
    the call's arguments are; every output batched)."""

    kind = "jvp"

    def __init__(self, rule, flags, walker: BatchWalker):
        self.rule, self.flags = rule, list(flags)
        self.module, self.size, self.axis_name = walker.module, walker.size, walker.axis_name

    def jvp(self, primals, tangents):
        unbatched = [_unbatched_type(p.type) if f else p.type
                     for p, f in zip(primals, self.flags)]
        floats = [i for i, t in enumerate(tangents) if t is not None]
        point = ir.InsertionPoint.current
        loc = ir.Location.current
        staged, entry = util.new_function(self.module, util.fresh_name(self.module, "aotc_rule"),
                                          unbatched + [unbatched[i] for i in floats], True, loc)
        try:
            with ir.InsertionPoint(entry):
                args = list(entry.arguments)
                rule_tangents = [None] * len(primals)
                for k, i in enumerate(floats):
                    rule_tangents[i] = args[len(primals) + k]
                outs, touts = self.rule.jvp(args[:len(primals)], rule_tangents)
                kept = [k for k, t in enumerate(touts) if t is not None]
                util.finish_function(staged, list(outs) + [touts[k] for k in kept])
            with point:
                walker = BatchWalker(self.module, self.size, self.axis_name)
                results, flags = walker.batch_block(
                    entry, list(primals) + [tangents[i] for i in floats],
                    self.flags + [self.flags[i] for i in floats])
                results = [_all_batched(v, f, self.size) for v, f in zip(results, flags)]
        finally:
            staged.operation.erase()
        batched_touts = [None] * len(outs)
        for k, t in zip(kept, results[len(outs):]):
            batched_touts[k] = t
        return results[:len(outs)], batched_touts


class _StagedCall:
    """Stands for the call op inside a staged rule: its operands and results are the staged
    function's arguments."""

    def __init__(self, operands, results):
        self.operands, self.results = operands, results


class _StagedContext:
    """The part of a VJP context a custom_vjp rule reads, over a staged function's arguments."""

    def __init__(self, operands, results):
        self.op = _StagedCall(operands, results)

    def primal(self, v: ir.Value) -> ir.Value:
        return v


class BatchedVjp(BatchedJvp):
    """The custom VJP rule of a batched custom-VJP function: the original rule staged on one
    batch element's primals and result cotangents, batched like any function; an unbatched
    argument's cotangent is summed over the batch (the transpose of its broadcast)."""

    kind = "vjp"

    def vjp(self, ctx, result_cts, wrt):
        operands, results = list(ctx.op.operands), list(ctx.op.results)
        primals = [ctx.primal(v) for v in operands]
        cts = [values.instantiate(c, ctx.primal(r)) for c, r in zip(result_cts, results)]
        arg_types = [_unbatched_type(p.type) if f else p.type
                     for p, f in zip(primals, self.flags)]
        floats = [i for i, v in enumerate(operands) if values.is_float(v.type)]
        staged, entry = util.new_function(
            self.module, util.fresh_name(self.module, "aotc_rule"),
            arg_types + [_unbatched_type(c.type) for c in cts], True, ir.Location.current)
        point = ir.InsertionPoint.current
        try:
            with ir.InsertionPoint(entry):
                args = list(entry.arguments)
                staged_ops = args[:len(primals)]
                staged_cts = args[len(primals):]
                grads = self.rule.vjp(_StagedContext(staged_ops, staged_cts), staged_cts,
                                      [staged_ops[i] for i in floats])
                util.finish_function(staged, [values.instantiate(g, staged_ops[i])
                                              for g, i in zip(grads, floats)])
            with point:
                walker = BatchWalker(self.module, self.size, self.axis_name)
                outs, flags = walker.batch_block(entry, primals + cts,
                                                 self.flags + [True] * len(cts))
                found = {operands[i]: _as_batched(g, f, self.flags[i], self.size)
                         for i, g, f in zip(floats, outs, flags)}
        finally:
            staged.operation.erase()
        return [found.get(v) for v in wrt]


def _as_batched(ct: ir.Value, batched: bool, want: bool, size: int) -> ir.Value:
    """A cotangent with a batch dim exactly when its argument has one."""
    if batched == want:
        return ct
    if want:
        return values.broadcast_batch(ct, size)
    from aotc.frontend.ops.reduction import reduce_binary

    return reduce_binary(ct, values.scalar(0, values.element(ct)), [0], ew.add)


def _insert_axis(t: ir.Type, axis: int, size: int) -> ir.RankedTensorType:
    shape = list(shape_of(t))
    shape.insert(axis, size)
    return tensor_type(shape, values.element(t))


def _place_output(v: ir.Value, batched: bool, axis, size: int, what: str) -> ir.Value:
    """An output with its batch dim (first inside the pass) moved to `axis` (None: unbatched)."""
    if axis is None:
        if batched:
            raise TracingError(f"vmap: {what} depends on the mapped axis, but its out_axes is "
                               "None; give it an axis, or compute it from unmapped arguments "
                               "only")
        return v
    if not batched:
        v = values.broadcast_batch(v, size)
    rank = len(shape_of(v))
    if not -rank <= axis < rank:
        raise TracingError(f"vmap: out_axes {axis} is out of range for {what}, of rank "
                           f"{rank - 1} before batching")
    return values.move_axis(v, 0, axis % rank) if axis % rank else v


def vmap(module, fn_name: str, in_axes, axis_size: int, out_axes=0, *,
         name: str | None = None, private: bool = False, out_names=None,
         axis_name: str | None = None) -> str:
    """Add the batched form of `fn_name`; returns the new function's name.

    in_axes: one int or None per argument (negative ints count from the end of the batched
    argument). out_axes: an int or None for all outputs, or one per output. out_names: how
    error messages call the outputs (default: "output 0 of 'f'", ...). axis_name: the name the
    collectives of the function (`@aotc.collective`, e.g. aotc.lax.psum(x, axis_name)) use for
    the batch axis; they then run across the batch lanes.
    """
    fn = util.find_function(module, fn_name)
    ftype = util.function_type(fn)
    inputs, results = list(ftype.inputs), list(ftype.results)
    if len(in_axes) != len(inputs):
        raise TracingError(f"vmap: {len(in_axes)} in_axes for {len(inputs)} arguments of "
                           f"'{fn_name}'")
    axes = []
    for i, (t, axis) in enumerate(zip(inputs, in_axes)):
        if axis is None:
            axes.append(None)
            continue
        rank = len(shape_of(t)) + 1
        if not -rank <= axis < rank:
            raise TracingError(f"vmap: in_axes {axis} is out of range for argument {i} of "
                               f"rank {rank - 1}")
        axes.append(axis % rank)
    if not isinstance(out_axes, (list, tuple)):
        out_axes = [out_axes] * len(results)
    if len(out_axes) != len(results):
        raise TracingError(f"vmap: {len(out_axes)} out_axes for {len(results)} outputs of "
                           f"'{fn_name}'")
    name = name or util.fresh_name(module, f"{fn_name}_vmap")
    with util.module_op(module).context, fn.location:
        arg_types = [t if a is None else _insert_axis(t, a, axis_size)
                     for t, a in zip(inputs, axes)]
        new_fn, entry = util.new_function(module, name, arg_types, private, fn.location)
        try:
            with ir.InsertionPoint(entry):
                args = [a if axis in (None, 0) else values.move_axis(a, axis, 0)
                        for a, axis in zip(entry.arguments, axes)]
                walker = BatchWalker(module, axis_size, axis_name)
                outs, flags = walker.batch_block(util.entry_block(fn), args,
                                                 [a is not None for a in axes])
                names = out_names or [f"output {k} of '{fn_name}'" for k in range(len(outs))]
                final = [_place_output(v, batched, axis, axis_size, what)
                         for v, batched, axis, what in zip(outs, flags, out_axes, names)]
                util.finish_function(new_fn, final)
        except Exception:
            new_fn.operation.erase()  # leave the module as it was
            raise
    util.verify_after(new_fn, "batching (vmap)")
    return name
