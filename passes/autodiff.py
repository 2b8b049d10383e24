"""Autodiff on StableHLO: forward mode (JVP) and reverse mode (linearize, then transpose).

Both passes take a module and a function name, add a new `func.func`, and return its name; the
input function is never edited. Per-op math lives beside each op in `frontend/ops/` (registry
tables JVP and TRANSPOSE); this file only walks IR.

- `jvp(module, "f")` adds `@f_jvp(primals..., tangents of float args...) -> (outs..., tangents of
  float outs...)`. Symbolic zeros are never materialized inside; integer and bool values carry no
  tangent; calls are inlined on the fly.
- `vjp(module, "f", argnums)` adds `@f_vjp(primals..., cotangents of float outs...) -> (outs...,
  cotangents of args[argnums]...)`, by building the JVP, splitting it into its primal (non-linear)
  part and its linear tangent part, and transposing the linear part op by op (JAX's recipe).
"""

from aotc.frontend.errors import TracingError
from aotc.frontend.ir import ir
from aotc.frontend.ops import values
from aotc.frontend.registry import Attrs, at_location, is_zero_jvp, location_text, lookup
from aotc.passes import util

_TERMINATORS = ("func.return", "stablehlo.return")


class RuleContext:
    """What a JVP or TRANSPOSE rule sees: the op's attributes, operand and result types, and (for
    region ops) the emitter, to differentiate nested regions."""

    def __init__(self, op: ir.Operation, emitter: "JvpEmitter | None" = None, linear=None):
        self.op = op
        self.attrs = Attrs.of(op)
        self.emitter = emitter
        self.linear = linear
        self.operand_types = [v.type for v in op.operands]
        self.result_types = [r.type for r in op.results]

    @property
    def results(self) -> list:
        return list(self.op.results)

    @property
    def location(self) -> str:
        return location_text(self.op.location)


class JvpEmitter:
    """Re-emits a function's ops with their tangents at the current insertion point."""

    def __init__(self, module):
        self.module = module
        self.primal: dict = {}
        self.tangent: dict = {}

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
            if op.name == "func.call":
                self._inline_call(op)
            else:
                self._differentiate(op)
        raise TracingError("block without terminator")

    def _inline_call(self, op: ir.Operation) -> None:
        fn = util.find_function(self.module, util.callee(op))
        outs, touts = self.run_block(util.entry_block(fn), [self.primal[v] for v in op.operands],
                                     [self.tangent.get(v) for v in op.operands])
        for result, p, t in zip(op.results, outs, touts):
            self.primal[result] = p
            if t is not None:
                self.tangent[result] = t

    def _has_tangent_inputs(self, op: ir.Operation) -> bool:
        found = False

        def visit(inner):
            nonlocal found
            if any(v in self.tangent for v in inner.operation.operands):
                found = True
            return ir.WalkResult.ADVANCE

        op.walk(visit)
        return found

    def _differentiate(self, op: ir.Operation) -> None:
        has_tangents = self._has_tangent_inputs(op)
        rule = None
        if has_tangents and any(values.is_float(r.type) for r in op.results):
            rule = lookup("jvp", op.name, location_text(op.location))
            if is_zero_jvp(rule):
                rule = None
        if rule is not None and getattr(rule, "builds_own_op", False):
            # region ops build their own differentiated op (bodies include tangent code)
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


def _float_indices(types) -> list[int]:
    return [i for i, t in enumerate(types) if values.is_float(t)]


def jvp(module, fn_name: str, *, tangent_args=None, name: str | None = None,
        private: bool = False) -> str:
    """Add the forward-mode derivative of `fn_name`; returns the new function's name.

    tangent_args: indices of the (float) arguments that get a tangent input (default: all float).
    The new function returns the outputs, then one tangent per float output.
    """
    fn = util.find_function(module, fn_name)
    ftype = util.function_type(fn)
    inputs, results = list(ftype.inputs), list(ftype.results)
    tangent_args = _float_indices(inputs) if tangent_args is None else list(tangent_args)
    for i in tangent_args:
        if not values.is_float(inputs[i]):
            raise TracingError(f"argument {i} of '{fn_name}' is {inputs[i]}; only float arguments "
                               "can be differentiated")
    name = name or util.fresh_name(module, f"{fn_name}_jvp")
    with module_context(module), fn.location:
        new_fn, block = util.new_function(module, name, inputs + [inputs[i] for i in tangent_args],
                                          private, fn.location)
        args = list(block.arguments)
        tangents = [None] * len(inputs)
        for k, i in enumerate(tangent_args):
            tangents[i] = args[len(inputs) + k]
        with ir.InsertionPoint(block):
            outs, touts = JvpEmitter(module).run_block(util.entry_block(fn), args[:len(inputs)],
                                                       tangents)
            touts = [values.instantiate(touts[i], outs[i]) for i in _float_indices(results)]
            util.finish_function(new_fn, outs + touts)
    return name


def module_context(module) -> ir.Context:
    return util.module_op(module).context


# ---- reverse mode ------------------------------------------------------------------------------


def _linear_ops(block: ir.Block, linear: set) -> None:
    """Grow `linear` (values depending on tangent inputs) along the block, in order."""
    for op in block.operations:
        op = op.operation
        depends = False

        def visit(inner):
            nonlocal depends
            if any(v in linear for v in inner.operation.operands):
                depends = True
            return ir.WalkResult.ADVANCE

        op.walk(visit)
        if depends:
            linear.update(op.results)


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
    lin_name = jvp(module, fn_name, tangent_args=argnums, private=True)
    lin = util.find_function(module, lin_name)
    name = name or util.fresh_name(module, f"{fn_name}_vjp")
    float_outs = _float_indices(results)
    try:
        with module_context(module), fn.location:
            _emit_vjp(module, lin, name, inputs, results, argnums, float_outs, private, fn)
    finally:
        lin.operation.erase()
    return name


def _emit_vjp(module, lin, name, inputs, results, argnums, float_outs, private, fn):
    lin_block = util.entry_block(lin)
    lin_args = list(lin_block.arguments)
    tangent_args = lin_args[len(inputs):]
    linear: set = set(tangent_args)
    _linear_ops(lin_block, linear)
    new_fn, block = util.new_function(module, name, inputs + [results[i] for i in float_outs],
                                      private, fn.location)
    new_args = list(block.arguments)
    fwd = dict(zip(lin_args[:len(inputs)], new_args[:len(inputs)]))
    ops = [op.operation for op in lin_block.operations]
    terminator = ops[-1]
    with ir.InsertionPoint(block):
        # forward: every op that does not depend on tangents (the primal program and residuals)
        for op in ops[:-1]:
            if not any(r in linear for r in op.results):
                new = util.clone_remapped(op, fwd)
                fwd.update(zip(op.results, new.results))
        returned = list(terminator.operands)
        outs = [fwd[v] for v in returned[:len(results)]]
        # backward: seed output cotangents, then transpose linear ops in reverse order
        ct: dict = {}
        for k, v in enumerate(returned[len(results):]):
            if v in linear:
                ct[v] = values.add_any(ct.get(v), new_args[len(inputs) + k])
        for op in reversed(ops[:-1]):
            if not any(r in linear for r in op.results):
                continue
            cts = [ct.pop(r, None) for r in op.results]
            if all(c is None for c in cts):
                continue
            is_linear = [v in linear for v in op.operands]
            rule = lookup("transpose", op.name, location_text(op.location))
            operands = [None if lin_v else fwd[v] for v, lin_v in zip(op.operands, is_linear)]
            with at_location(op.location):
                operand_cts = rule(RuleContext(op, linear=is_linear), cts, operands)
            for v, c, lin_v in zip(op.operands, operand_cts, is_linear):
                if lin_v and c is not None:
                    ct[v] = values.add_any(ct.get(v), c)
        grads = [values.instantiate(ct.get(t), inputs[i]) for t, i in zip(tangent_args, argnums)]
        util.finish_function(new_fn, outs + grads)
