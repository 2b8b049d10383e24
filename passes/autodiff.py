"""Autodiff on StableHLO: forward mode (JVP) and reverse mode (linearize, then transpose).

Both passes take a module and a function name, add a new `func.func`, and return its name; the
input function is never edited. Per-op math lives beside each op in `frontend/ops/` (registry
tables JVP, TRANSPOSE and, for control flow, VJP); this file only walks IR.

- `jvp(module, "f")` adds `@f_jvp(primals..., tangents of float args...) -> (outs..., tangents of
  float outs...)`. Symbolic zeros are never materialized inside; integer and bool values carry no
  tangent; calls are inlined on the fly.
- `vjp(module, "f", argnums)` adds `@f_vjp(primals..., cotangents of float outs...) -> (outs...,
  cotangents of args[argnums]...)`: it linearizes f (the JVP, emitted into a scratch function),
  re-emits the linearization's primal part, then transposes its linear part op by op in reverse
  (JAX's recipe). Control flow (if, case, counted while loops) enters the linear part as a
  "box" whose transpose is the op's VJP rule, which differentiates the op's regions recursively
  (branches recompute their primal values; loops keep each iteration's carry and recompute).
"""

from aotc.frontend.core import registry
from aotc.frontend.core.emit import Attrs
from aotc.frontend.core.errors import MissingRuleError, TracingError
from aotc.frontend.core.ir import clone_remapped, ir, uses_any
from aotc.frontend.core.registry import has_trait, is_zero_jvp
from aotc.frontend.core.source import at_location, location_text
from aotc.frontend.ops import tensors as values
from aotc.passes import functions as util
from aotc.passes.walker import RuleContext, Walker, callee_of

_BOX = "aotc.linear_box"  # scratch op of the linearization only; never reaches IREE
STOP_GRADIENT = "aotc.stop_gradient"  # unit attribute on an identity function: no derivative
CUSTOM = registry.CUSTOM_ATTRIBUTE  # string attribute: name of the function's custom rule


def custom_rule(fn):
    """The custom rule (custom_jvp, custom_vjp, checkpoint) fn's module keeps for it, or None."""
    if CUSTOM not in fn.attributes:
        return None
    key = ir.StringAttr(fn.attributes[CUSTOM]).value
    rule = registry.find_custom_rule(fn, key)
    if rule is None:
        raise TracingError(f"function with custom derivative '{key}' has no rule in this module; "
                           "re-trace the program that defines it")
    return rule


class AutodiffContext(RuleContext):
    """What a JVP or TRANSPOSE rule sees: the op, its attributes, operand and result types, and
    (for control-flow ops) the JVP walker, to differentiate nested regions. A JVP rule gets and
    returns tangents that are values or typed zeros (`tensors.Zero`). In a transpose rule,
    `linear[i]` says whether operand i is linear; the rule gets one cotangent (a value or a Zero)
    per result and returns one per operand: a value or a Zero for a linear operand, None for
    the others."""

    def __init__(self, op: ir.Operation, walker: "JvpWalker | None" = None, linear=None,
                 like=None):
        super().__init__(op, walker)
        self.linear = linear
        self._like = like

    def like(self, i: int) -> ir.Value:
        """In a transpose rule: a value shaped like operand i at run time (for dynamic shapes);
        raises MissingRuleError when none is known."""
        found = self._like(self.op.operands[i]) if self._like else None
        if found is None:
            raise MissingRuleError("transpose", f"{self.op.name} of a dynamic shape",
                                   self.location)
        return found


def free_values(op: ir.Operation, region_index: int | None = None) -> list[ir.Value]:
    """Values used inside op's regions (or one region) but defined outside them, in first-use
    order."""
    inside: set = set()
    used: list = []
    regions = op.regions if region_index is None else [op.regions[region_index]]

    def visit(inner):
        inner = inner.operation
        for region in inner.regions:
            for block in region.blocks:
                inside.update(block.arguments)
        used.extend(inner.operands)
        inside.update(inner.results)
        return ir.WalkResult.ADVANCE

    for region in regions:
        for block in region.blocks:
            inside.update(block.arguments)
            for inner in block.operations:
                inner.operation.walk(visit)
    seen, free = set(), []
    for v in used:
        if v not in inside and v not in seen:
            seen.add(v)
            free.append(v)
    return free


class JvpWalker(Walker):
    """Re-emits a function's ops with their tangents at the current insertion point. A source
    value becomes (primal, tangent), the tangent a typed `Zero` for a symbolic zero; rules get and
    return typed zeros (a rule may still return None for one).

    With linearize=True, control-flow ops are not differentiated inside: their primal clone is
    emitted, and their tangents come out of a box op recorded in `boxes` (see module doc).
    """

    table = "jvp"

    def __init__(self, module, linearize: bool = False):
        super().__init__(module)
        self.linearize = linearize
        self.primal: dict = {}
        self.tangent: dict = {}
        self.boxes: list = []  # (source op, differentiated source values, float result indices)
        self.rules: list = []  # staged custom JVP rules that boxes refer to (see block_vjp)
        self.in_rule = False  # walking a staged rule: its custom calls are plain functions

    def bind(self, source: ir.Value, value) -> None:
        self.primal[source], tangent = value
        if values.is_zero(tangent):  # None or a typed Zero: nothing to keep
            self.tangent.pop(source, None)
        else:
            self.tangent[source] = tangent

    def read(self, source: ir.Value):
        return self.primal[source], self.tangent_of(source)

    def tangent_of(self, source: ir.Value):
        """The tangent of a source value: a value, or the typed zero of its primal."""
        tangent = self.tangent.get(source)
        return values.Zero.of(self.primal[source]) if tangent is None else tangent

    def jvp_block(self, block: ir.Block, primals, tangents):
        """Differentiate a block: returns (mapped terminator operands, their tangents or Zero)."""
        outs = self.run_block(block, list(zip(primals, tangents)))
        return [p for p, _ in outs], [t for _, t in outs]

    def call(self, op: ir.Operation, fn) -> list:
        """Calls are inlined, except stop_gradient and custom derivatives."""
        if STOP_GRADIENT in fn.attributes:
            return [(self.primal[v], values.Zero.of(self.primal[v])) for v in op.operands]
        custom = custom_rule(fn)
        if custom is not None and uses_any(op, self.tangent) and not self.in_rule:
            if custom.kind == "jvp":
                return self._custom_jvp(op, custom)
            if self.linearize:
                return self._box(op)
            if custom.kind == "vjp":
                raise TracingError(f"{location_text(op.location)}: forward-mode differentiation "
                                   "(jvp, jacfwd) of a custom_vjp function is not defined; use "
                                   "custom_jvp, or reverse mode (grad, vjp, jacrev)")
        return super().call(op, fn)

    def _custom_jvp(self, op: ir.Operation, custom) -> list:
        primals = [self.primal[v] for v in op.operands]
        tangents = [values.instantiate(self.tangent_of(v)) if values.is_float(p.type) else None
                    for v, p in zip(op.operands, primals)]
        if self.linearize:
            return self._linearized_custom_jvp(op, custom, primals, tangents)
        with at_location(op.location):
            outs, touts = custom.jvp(primals, tangents)
        return list(zip(outs, touts))

    def _linearized_custom_jvp(self, op: ir.Operation, custom, primals, tangents) -> list:
        """Linearize a custom JVP rule (which may hold loops on its tangents, e.g. triangular
        solves): stage the rule as a scratch function rule(primals, tangents) and walk it here,
        its tangent arguments differentiated at zero. The rule is linear in its tangents, so
        the walk's tangents are the rule's, and its control flow on them becomes boxes that
        the transposer can reverse. Custom functions that the rule calls on tangents are walked
        as plain functions (they are linear there), as JAX transposes them."""
        floats = [i for i, t in enumerate(tangents) if t is not None]
        point = ir.InsertionPoint.current
        fn, entry = util.new_function(self.module, util.fresh_name(self.module, "aotc_rule"),
                                      [p.type for p in primals] + [primals[i].type for i in floats],
                                      True, op.location)
        self.rules.append(fn)
        with ir.InsertionPoint(entry), at_location(op.location):
            args = list(entry.arguments)
            rule_tangents = [None] * len(primals)
            for k, i in enumerate(floats):
                rule_tangents[i] = args[len(primals) + k]
            outs, touts = custom.jvp(args[:len(primals)], rule_tangents)
            kept = [k for k, t in enumerate(touts) if t is not None]
            util.finish_function(fn, outs + [touts[k] for k in kept])
        with point:
            pairs = [(p, values.Zero.of(p)) for p in primals]
            pairs += [(values.zeros_like(primals[i]), tangents[i]) for i in floats]
            self.in_rule, outer = True, self.in_rule
            try:
                walked = self.run_block(entry, pairs)
            finally:
                self.in_rule = outer
        touts = [values.Zero.of(o) for o, _ in walked[:len(outs)]]
        for k, (_, t) in zip(kept, walked[len(outs):]):
            touts[k] = t
        return [(o, t) for (o, _), t in zip(walked[:len(outs)], touts)]

    def visit(self, op: ir.Operation) -> list:
        rule = None
        if any(values.is_float(r.type) for r in op.results) and uses_any(op, self.tangent):
            rule = self.rule(op)
            if is_zero_jvp(rule):
                rule = None
        if rule is not None and getattr(rule, "builds_own_op", False):
            if self.linearize:
                return self._box(op)
            outs, touts = self.apply(rule, op, AutodiffContext(op, self),
                                     [self.primal.get(v) for v in op.operands],
                                     [self.tangent_of(v) for v in op.operands])
            return list(zip(outs, touts))
        new = clone_remapped(op, self.primal)
        if rule is None:
            return [(r, values.Zero.of(r)) for r in new.results]
        touts = self.apply(rule, op, AutodiffContext(new, self), list(new.operands),
                           [self.tangent_of(v) for v in op.operands])
        return list(zip(new.results, touts))

    def _box(self, op: ir.Operation) -> list:
        """Primal clone of a control-flow op, plus a box standing for its linear tangent map."""
        new = clone_remapped(op, self.primal)
        wrt = [v for v in [*op.operands, *free_values(op)] if v in self.tangent]
        wrt = list(dict.fromkeys(wrt))
        float_results = [i for i, r in enumerate(op.results) if values.is_float(r.type)]
        op.context.allow_unregistered_dialects = True
        box = ir.Operation.create(
            _BOX, results=[op.results[i].type for i in float_results],
            operands=[self.tangent[v] for v in wrt],
            attributes={"index": ir.IntegerAttr.get(ir.IntegerType.get_signless(64),
                                                    len(self.boxes))},
            loc=op.location)
        self.boxes.append((op, wrt, float_results))
        touts = [values.Zero.of(r) for r in new.results]
        for i, t in zip(float_results, box.results):
            touts[i] = t
        return list(zip(new.results, touts))


def _float_indices(types) -> list[int]:
    return [i for i, t in enumerate(types) if values.is_float(t)]


def module_context(module) -> ir.Context:
    return util.module_op(module).context


def jvp(module, fn_name: str, *, tangent_args=None, name: str | None = None,
        private: bool = False) -> str:
    """Add the forward-mode derivative of `fn_name`; returns the new function's name.

    tangent_args: indices of the (float) arguments that get a tangent input (default: all float).
    The new function returns the outputs, then one tangent per float output.
    """
    fn = util.find_function(module, fn_name)
    ftype = util.function_type(fn)
    inputs = list(ftype.inputs)
    tangent_args = _float_indices(inputs) if tangent_args is None else list(tangent_args)
    _check_float_args(fn_name, inputs, tangent_args)
    name = name or util.fresh_name(module, f"{fn_name}_jvp")
    with module_context(module), fn.location:
        _linearization(module, util.entry_block(fn), [], tangent_args, name, private,
                       linearize=False)
    util.verify_after(util.find_function(module, name), "autodiff (jvp)")
    return name


def _check_float_args(fn_name, inputs, indices) -> None:
    for i in indices:
        if not 0 <= i < len(inputs):
            raise TracingError(f"argnums {i} is out of range: '{fn_name}' takes {len(inputs)} "
                               "arguments")
        if not values.is_float(inputs[i]):
            raise TracingError(f"argument {i} of '{fn_name}' is {inputs[i]}; only float arguments "
                               "can be differentiated")


def _linearization(module, block: ir.Block, captures, wrt, name, private, linearize):
    """A function (free values..., tangents of free[wrt]...) -> (outs..., float out tangents...)
    differentiating `block`, whose free values are its captures then its arguments.

    Returns (function op, the JVP walker that emitted it).
    """
    free_types = [v.type for v in captures] + [a.type for a in block.arguments]
    fn, entry = util.new_function(module, name, free_types + [free_types[i] for i in wrt],
                                  private, ir.Location.unknown())
    args = list(entry.arguments)
    n = len(free_types)
    tangents = [values.Zero.of(a) for a in args[:n]]
    for k, i in enumerate(wrt):
        tangents[i] = args[n + k]
    walker = JvpWalker(module, linearize)
    for i, v in enumerate(captures):
        walker.bind(v, (args[i], tangents[i]))
    with ir.InsertionPoint(entry):
        start = len(captures)
        outs, touts = walker.jvp_block(block, args[start:n], tangents[start:n])
        touts = [values.instantiate(touts[i]) for i in _float_indices([o.type for o in outs])]
        util.finish_function(fn, outs + touts)
    return fn, walker


# ---- reverse mode ------------------------------------------------------------------------------


def _mark_linear(block: ir.Block, linear: set) -> None:
    """Grow `linear` (values depending on tangent inputs) along the block, in order."""
    for op in block.operations:
        if uses_any(op, linear):
            linear.update(op.operation.results)


class RegionVjpContext(RuleContext):
    """What a control-flow VJP rule sees: the source op, primal values, recursive block VJP. Its
    walker is the transposer running the linearization backward."""

    def __init__(self, op: ir.Operation, walker: "Transposer"):
        super().__init__(op, walker)
        self.module = walker.module

    def primal(self, v: ir.Value) -> ir.Value:
        """The value, at the current insertion point, of a value of the source program."""
        return self.walker.forward_value(v)

    def free_values(self, region_index: int | None = None) -> list[ir.Value]:
        return free_values(self.op, region_index)

    def callee(self):
        """(function op, custom rule or None) of a func.call source op."""
        fn = util.find_function(self.module, callee_of(self.op))
        return fn, custom_rule(fn)

    def block_vjp(self, block: ir.Block, captures, capture_values, arg_values, wrt, out_cts):
        """Emit the VJP of `block` here. Its free values are `captures` (source values, given
        here as capture_values) then its arguments (arg_values). wrt indexes those free values;
        out_cts has one cotangent (or Zero) per float terminator operand. Returns (terminator
        values, cotangents of free[wrt], each a value or a Zero)."""
        return block_vjp(self.module, block, list(captures),
                         list(capture_values) + list(arg_values), wrt, out_cts)

    def staged_vjp(self, block: ir.Block, captures, wrt) -> "StagedVjp":
        """The VJP of `block` in two halves to emit at two places (see StagedVjp); free values
        and wrt as in block_vjp. The caller closes it."""
        return StagedVjp(self.module, block, list(captures), wrt)

    def replace_primal(self, old: list[ir.Value], new: list[ir.Value]) -> None:
        """Values emitted here that stand in for old ones from now on (a loop's VJP that also
        computes the primal loop's results replaces that loop by itself): every use and every
        value of the source program mapped to old[i] move to new[i]."""
        mapping = dict(zip(old, new))
        for o, n in mapping.items():
            o.replace_all_uses_with(n)
        env = self.walker.env
        for source, value in env.items():
            if value in mapping:
                env[source] = mapping[value]


def block_vjp(module, block: ir.Block, captures, free_values_now, wrt, out_cts):
    """VJP of a block at the current insertion point; see RegionVjpContext.block_vjp."""
    point = ir.InsertionPoint.current
    staged = StagedVjp(module, block, captures, wrt)
    try:
        with point:
            staged.forward(free_values_now)
            cts = staged.backward(out_cts)
            return staged.outputs(), cts
    finally:
        staged.close()


class StagedVjp:
    """A block's VJP in two halves that may be emitted at two places: `forward` re-emits the
    primal part of the block's linearization (its outputs and every value the transposition
    reads), `backward` the transposed linear part. A loop's VJP runs the first in a forward loop
    and the second in a reverse loop, and carries the forward values that the backward half
    uses (its residuals) from one to the other, as JAX's scan does; `block_vjp` emits both
    halves at one place. Call `close` when done: it erases the scratch linearization."""

    def __init__(self, module, block: ir.Block, captures, wrt):
        self.module = module
        self.wrt = list(wrt)
        self.n_free = len(captures) + len(block.arguments)
        self.n_outs = len(list(block.operations)[-1].operands)
        self.lin, self.jvp = _linearization(module, block, captures, self.wrt,
                                            util.fresh_name(module, "aotc_lin"), True,
                                            linearize=True)
        self.transposer: Transposer | None = None
        self.free_now: list = []

    def _block(self) -> ir.Block:
        return util.entry_block(self.lin)

    def forward(self, free_now) -> list[ir.Value]:
        """Emit the primal part here, free values bound to free_now; returns the block's
        outputs."""
        block = self._block()
        tangent_args = list(block.arguments)[self.n_free:]
        linear: set = set(tangent_args)
        _mark_linear(block, linear)
        self.transposer = Transposer(self.module, self.jvp, linear)
        self.free_now = list(free_now)
        returned = self.transposer.run_block(block, self.free_now + [None] * len(tangent_args))
        return returned[:self.n_outs]

    def outputs(self) -> list[ir.Value]:
        """The block's outputs as `forward` emitted them, read again: a loop VJP in `backward`
        may have replaced the primal loop that computed some of them (replace_primal)."""
        terminator = list(self._block().operations)[-1]
        return [self.transposer.read(v) for v in terminator.operands[:self.n_outs]]

    def backward(self, out_cts, initial=None) -> list:
        """Emit the transposition here (after `forward`), seeded with out_cts (one per float
        output); returns the cotangents of free[wrt], each a value or a Zero. initial (one value
        or None per wrt) starts those cotangents from given values, e.g. a loop's accumulators,
        so that each contribution is added into them (slices in place, see tensors.add_any)."""
        block, transposer = self._block(), self.transposer
        tangent_args = list(block.arguments)[self.n_free:]
        for t, start in zip(tangent_args, initial or ()):
            if start is not None:
                transposer.ct[t] = start
        transposer.like = _shape_sources(self.jvp, transposer.env, transposer.linear)
        transposer.run_block_backward(block, [None] * self.n_outs + list(out_cts))
        return [transposer.ct[t] if t in transposer.ct else values.Zero.of(self.free_now[i])
                for t, i in zip(tangent_args, self.wrt)]

    def close(self) -> None:
        for fn in [self.lin, *self.jvp.rules]:
            fn.operation.erase()


class Transposer(Walker):
    """Runs a linearization (from `_linearization(..., linearize=True)`) as a VJP: forward, it
    re-emits the primal part (env: value of the linearization -> value emitted here); backward
    (`run_block_backward`), it transposes the linear part op by op, accumulating cotangents in
    `ct`. A box op's transpose is its source op's VJP rule."""

    table = "transpose"

    def __init__(self, module, jvp: JvpWalker, linear: set):
        super().__init__(module)
        self.jvp = jvp
        self.linear = linear
        self.ct: dict = {}
        self.like = None

    def bind(self, source: ir.Value, value) -> None:
        if value is not None:
            self.env[source] = value

    def read(self, source: ir.Value):
        return self.env.get(source)  # None for linear values: they exist only backward

    def forward_value(self, source: ir.Value) -> ir.Value:
        """The value emitted here for a value of the source program (of the JVP walk)."""
        return self.env[self.jvp.primal[source]]

    def visit(self, op: ir.Operation) -> list:
        if any(r in self.linear for r in op.results):
            return []
        return list(clone_remapped(op, self.env).results)

    def call(self, op: ir.Operation, fn) -> list:
        return self.visit(op)  # the linearization's calls are kept, not inlined

    def seed(self, source: ir.Value, value) -> None:
        if source in self.linear and not values.is_zero(value):
            self.ct[source] = values.add_any(self.ct.get(source), value)

    def visit_backward(self, op: ir.Operation) -> None:
        if not any(r in self.linear for r in op.results):
            return
        cts = [self.ct.pop(r) if r in self.ct else values.Zero(r.type) for r in op.results]
        if all(values.is_zero(c) for c in cts):
            return
        if op.name == _BOX:
            operand_cts = self._transpose_box(op, cts)
        else:
            is_linear = [v in self.linear for v in op.operands]
            operands = [None if lin_v else self.env[v]
                        for v, lin_v in zip(op.operands, is_linear)]
            operand_cts = self.apply(self.rule(op), op,
                                     AutodiffContext(op, linear=is_linear, like=self.like),
                                     cts, operands)
        for v, c in zip(op.operands, operand_cts):
            self.seed(v, c)

    def _transpose_box(self, box: ir.Operation, cts) -> list:
        source, wrt, float_results = self.jvp.boxes[Attrs.of(box).int("index")]
        rule = self.rule(source, "vjp")
        result_cts = [values.Zero.of(self.forward_value(r)) for r in source.results]
        for i, c in zip(float_results, cts):
            result_cts[i] = c
        return self.apply(rule, source, RegionVjpContext(source, self), result_cts, wrt)


def _shape_sources(jvp: JvpWalker, fwd: dict, linear: set):
    """like(v): for a linear value v of the linearization, a value of the transposed program
    with v's run-time shape (a tangent has its primal's shape; other linear values take it
    from a same-typed operand), or None."""
    known = {}
    for source, tangent in jvp.tangent.items():
        primal = jvp.primal.get(source)
        if primal in fwd:
            known.setdefault(tangent, fwd[primal])

    def like(v):
        pending = [v]
        while pending:  # depth-first along same-typed operands, without recursion
            u = pending.pop()
            if u in known:
                known.setdefault(v, known[u])
                return known[u]
            if u not in linear:
                return fwd.get(u)
            if isinstance(u, ir.OpResult) and has_trait(u.owner.operation.name, "same_shape"):
                pending.extend(w for w in u.owner.operation.operands if w.type == u.type)
        return None

    return like


def vjp(module, fn_name: str, argnums=None, *, name: str | None = None,
        private: bool = False) -> str:
    """Add the reverse-mode derivative of `fn_name`; returns the new function's name.

    The new function takes the primal arguments then one cotangent per float output, and returns
    the outputs then the cotangents of args[argnums] (default: every float argument).
    """
    fn = util.find_function(module, fn_name)
    ftype = util.function_type(fn)
    inputs, results = list(ftype.inputs), list(ftype.results)
    argnums = _float_indices(inputs) if argnums is None else list(argnums)
    _check_float_args(fn_name, inputs, argnums)
    name = name or util.fresh_name(module, f"{fn_name}_vjp")
    float_outs = _float_indices(results)
    with module_context(module), fn.location:
        new_fn, entry = util.new_function(module, name, inputs + [results[i] for i in float_outs],
                                          private, fn.location)
        args = list(entry.arguments)
        with ir.InsertionPoint(entry):
            outs, cts = block_vjp(module, util.entry_block(fn), [], args[:len(inputs)], argnums,
                                  args[len(inputs):])
            grads = [values.instantiate(c) for c in cts]
            util.finish_function(new_fn, outs + grads)
    util.verify_after(new_fn, "autodiff (vjp)")
    return name
