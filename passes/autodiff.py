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

from aotc.frontend.core.emit import Attrs
from aotc.frontend.core.errors import MissingRuleError, TracingError
from aotc.frontend.core.ir import ir, uses_any
from aotc.frontend.core.registry import CUSTOM_ATTRIBUTE, find_custom_rule, is_zero_jvp, lookup
from aotc.frontend.core.source import at_location, location_text
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.elementwise import SAME_SHAPE
from aotc.passes import functions as util
from aotc.passes.walker import callee_of

_TERMINATORS = ("func.return", "stablehlo.return")
_BOX = "aotc.linear_box"  # scratch op of the linearization only; never reaches IREE
STOP_GRADIENT = "aotc.stop_gradient"  # unit attribute on an identity function: no derivative
CUSTOM = CUSTOM_ATTRIBUTE  # string attribute: name of the function's custom rule


def custom_rule(fn):
    """The custom rule (custom_jvp, custom_vjp, checkpoint) fn's module keeps for it, or None."""
    if CUSTOM not in fn.attributes:
        return None
    key = ir.StringAttr(fn.attributes[CUSTOM]).value
    rule = find_custom_rule(fn, key)
    if rule is None:
        raise TracingError(f"function with custom derivative '{key}' has no rule in this module; "
                           "re-trace the program that defines it")
    return rule


class RuleContext:
    """What a JVP or TRANSPOSE rule sees: the op's attributes, operand and result types, and (for
    control-flow ops) the emitter, to differentiate nested regions."""

    def __init__(self, op: ir.Operation, emitter: "JvpEmitter | None" = None, linear=None,
                 like=None):
        self.op = op
        self.attrs = Attrs.of(op)
        self.emitter = emitter
        self.linear = linear
        self._like = like
        self.operand_types = [v.type for v in op.operands]
        self.result_types = [r.type for r in op.results]

    def like(self, i: int) -> ir.Value:
        """In a transpose rule: a value shaped like operand i at run time (for dynamic shapes);
        raises MissingRuleError when none is known."""
        found = self._like(self.op.operands[i]) if self._like else None
        if found is None:
            raise MissingRuleError("transpose", f"{self.op.name} of a dynamic shape",
                                   self.location)
        return found

    @property
    def results(self) -> list:
        return list(self.op.results)

    @property
    def location(self) -> str:
        return location_text(self.op.location)


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


class JvpEmitter:
    """Re-emits a function's ops with their tangents at the current insertion point.

    With linearize=True, control-flow ops are not differentiated inside: their primal clone is
    emitted, and their tangents come out of a box op recorded in `boxes` (see module doc).
    """

    def __init__(self, module, linearize: bool = False):
        self.module = module
        self.linearize = linearize
        self.primal: dict = {}
        self.tangent: dict = {}
        self.boxes: list = []  # (source op, differentiated source values, float result indices)

    def run_block(self, block: ir.Block, primals, tangents):
        """Differentiate a block: returns (mapped terminator operands, their tangents or None)."""
        for arg, p, t in zip(block.arguments, primals, tangents):
            self.primal[arg] = p
            if t is not None:
                self.tangent[arg] = t
        for op in block.operations:
            op = op.operation
            if op.name in _TERMINATORS:
                return ([self.primal[v] for v in op.operands],
                        [self.tangent.get(v) for v in op.operands])
            if callee_of(op) is not None:
                self._inline_call(op)
            else:
                self._differentiate(op)
        raise TracingError("block without terminator")

    def _inline_call(self, op: ir.Operation) -> None:
        fn = util.find_function(self.module, callee_of(op))
        if STOP_GRADIENT in fn.attributes:
            for result, v in zip(op.results, op.operands):
                self.primal[result] = self.primal[v]
            return
        custom = custom_rule(fn)
        if custom is not None and uses_any(op, self.tangent):
            if custom.kind == "jvp":
                self._custom_jvp(op, custom)
                return
            if self.linearize:
                self._box(op)
                return
            if custom.kind == "vjp":
                raise TracingError(f"{location_text(op.location)}: forward-mode differentiation "
                                   "(jvp, jacfwd) of a custom_vjp function is not defined; use "
                                   "custom_jvp, or reverse mode (grad, vjp, jacrev)")
        outs, touts = self.run_block(util.entry_block(fn), [self.primal[v] for v in op.operands],
                                     [self.tangent.get(v) for v in op.operands])
        for result, p, t in zip(op.results, outs, touts):
            self.primal[result] = p
            if t is not None:
                self.tangent[result] = t

    def _custom_jvp(self, op: ir.Operation, custom) -> None:
        primals = [self.primal[v] for v in op.operands]
        tangents = [values.instantiate(self.tangent.get(v), p) if values.is_float(p.type) else None
                    for v, p in zip(op.operands, primals)]
        with at_location(op.location):
            outs, touts = custom.jvp(primals, tangents)
        for result, p, t in zip(op.results, outs, touts):
            self.primal[result] = p
            if t is not None:
                self.tangent[result] = t

    def _differentiate(self, op: ir.Operation) -> None:
        rule = None
        if any(values.is_float(r.type) for r in op.results) and uses_any(op, self.tangent):
            rule = lookup("jvp", op.name, location_text(op.location))
            if is_zero_jvp(rule):
                rule = None
        if rule is not None and getattr(rule, "builds_own_op", False):
            if self.linearize:
                self._box(op)
                return
            with at_location(op.location):
                outs, touts = rule(RuleContext(op, self), [self.primal.get(v) for v in op.operands],
                                   [self.tangent.get(v) for v in op.operands])
            for result, p, t in zip(op.results, outs, touts):
                self.primal[result] = p
                if t is not None:
                    self.tangent[result] = t
            return
        new = util.clone_remapped(op, self.primal)
        for old, fresh in zip(op.results, new.results):
            self.primal[old] = fresh
        if rule is None:
            return
        with at_location(op.location):
            touts = rule(RuleContext(new, self), list(new.operands),
                         [self.tangent.get(v) for v in op.operands])
        for old, t in zip(op.results, touts):
            if t is not None:
                self.tangent[old] = t

    def _box(self, op: ir.Operation) -> None:
        """Primal clone of a control-flow op, plus a box standing for its linear tangent map."""
        new = util.clone_remapped(op, self.primal)
        for old, fresh in zip(op.results, new.results):
            self.primal[old] = fresh
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
        for i, t in zip(float_results, box.results):
            self.tangent[op.results[i]] = t


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

    Returns (function op, emitter).
    """
    free_types = [v.type for v in captures] + [a.type for a in block.arguments]
    fn, entry = util.new_function(module, name, free_types + [free_types[i] for i in wrt],
                                  private, ir.Location.unknown())
    args = list(entry.arguments)
    n = len(free_types)
    tangents = [None] * n
    for k, i in enumerate(wrt):
        tangents[i] = args[n + k]
    emitter = JvpEmitter(module, linearize)
    for i, v in enumerate(captures):
        emitter.primal[v] = args[i]
        if tangents[i] is not None:
            emitter.tangent[v] = tangents[i]
    with ir.InsertionPoint(entry):
        start = len(captures)
        outs, touts = emitter.run_block(block, args[start:n], tangents[start:n])
        touts = [values.instantiate(touts[i], outs[i]) for i in _float_indices(
            [o.type for o in outs])]
        util.finish_function(fn, outs + touts)
    return fn, emitter


# ---- reverse mode ------------------------------------------------------------------------------


def _mark_linear(block: ir.Block, linear: set) -> None:
    """Grow `linear` (values depending on tangent inputs) along the block, in order."""
    for op in block.operations:
        if uses_any(op, linear):
            linear.update(op.operation.results)


class RegionVjpContext:
    """What a control-flow VJP rule sees: the source op, primal values, recursive block VJP."""

    def __init__(self, module, op: ir.Operation, primal):
        self.module = module
        self.op = op
        self.attrs = Attrs.of(op)
        self._primal = primal

    def primal(self, v: ir.Value) -> ir.Value:
        """The value, at the current insertion point, of a value of the source program."""
        return self._primal(v)

    def free_values(self, region_index: int | None = None) -> list[ir.Value]:
        return free_values(self.op, region_index)

    def callee(self):
        """(function op, custom rule or None) of a func.call source op."""
        fn = util.find_function(self.module, callee_of(self.op))
        return fn, custom_rule(fn)

    def block_vjp(self, block: ir.Block, captures, capture_values, arg_values, wrt, out_cts):
        """Emit the VJP of `block` here. Its free values are `captures` (source values, given
        here as capture_values) then its arguments (arg_values). wrt indexes those free values;
        out_cts has one cotangent (or None) per float terminator operand. Returns (terminator
        values, cotangents of free[wrt])."""
        return block_vjp(self.module, block, list(captures),
                         list(capture_values) + list(arg_values), wrt, out_cts)

    @property
    def location(self) -> str:
        return location_text(self.op.location)


def block_vjp(module, block: ir.Block, captures, free_values_now, wrt, out_cts):
    """VJP of a block at the current insertion point; see RegionVjpContext.block_vjp."""
    n_free = len(captures) + len(block.arguments)
    point = ir.InsertionPoint.current
    lin, emitter = _linearization(module, block, captures, wrt,
                                  util.fresh_name(module, "aotc_lin"), True, linearize=True)
    try:
        with point:
            return _emit_transposed(module, lin, emitter, n_free, free_values_now, out_cts)
    finally:
        lin.operation.erase()


def _emit_transposed(module, lin, emitter: JvpEmitter, n_free: int, free_now, out_cts):
    """Re-emit lin's primal part, then transpose its linear part; returns (outs, input cts)."""
    block = util.entry_block(lin)
    args = list(block.arguments)
    tangent_args = args[n_free:]
    linear: set = set(tangent_args)
    _mark_linear(block, linear)
    fwd = dict(zip(args[:n_free], free_now))
    ops = [op.operation for op in block.operations]
    returned = list(ops[-1].operands)
    n_out = len(returned) - len(out_cts)
    for op in ops[:-1]:
        if not any(r in linear for r in op.results):
            new = util.clone_remapped(op, fwd)
            fwd.update(zip(op.results, new.results))
    outs = [fwd[v] for v in returned[:n_out]]
    like = _shape_sources(emitter, fwd, linear)
    ct: dict = {}
    for v, c in zip(returned[n_out:], out_cts):
        if v in linear and c is not None:
            ct[v] = values.add_any(ct.get(v), c)
    for op in reversed(ops[:-1]):
        if not any(r in linear for r in op.results):
            continue
        cts = [ct.pop(r, None) for r in op.results]
        if all(c is None for c in cts):
            continue
        if op.name == _BOX:
            operand_cts = _transpose_box(module, op, emitter, fwd, cts)
        else:
            is_linear = [v in linear for v in op.operands]
            rule = lookup("transpose", op.name, location_text(op.location))
            operands = [None if lin_v else fwd[v] for v, lin_v in zip(op.operands, is_linear)]
            with at_location(op.location):
                operand_cts = rule(RuleContext(op, linear=is_linear, like=like), cts, operands)
        for v, c in zip(op.operands, operand_cts):
            if v in linear and c is not None:
                ct[v] = values.add_any(ct.get(v), c)
    return outs, [ct.get(t) for t in tangent_args]


def _shape_sources(emitter: JvpEmitter, fwd: dict, linear: set):
    """like(v): for a linear value v of the linearization, a value of the transposed program
    with v's run-time shape (a tangent has its primal's shape; other linear values take it
    from a same-typed operand), or None."""
    known = {}
    for source, tangent in emitter.tangent.items():
        primal = emitter.primal.get(source)
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
            if isinstance(u, ir.OpResult) and u.owner.operation.name in SAME_SHAPE:
                pending.extend(w for w in u.owner.operation.operands if w.type == u.type)
        return None

    return like


def _transpose_box(module, box: ir.Operation, emitter: JvpEmitter, fwd, cts):
    source, wrt, float_results = emitter.boxes[Attrs.of(box).int("index")]
    rule = lookup("vjp", source.name, location_text(source.location))
    result_cts = [None] * len(source.results)
    for i, c in zip(float_results, cts):
        result_cts[i] = c
    ctx = RegionVjpContext(module, source, lambda v: fwd[emitter.primal[v]])
    with at_location(source.location):
        return rule(ctx, result_cts, wrt)


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
            grads = [values.instantiate(c, args[i]) for c, i in zip(cts, argnums)]
            util.finish_function(new_fn, outs + grads)
    return name
