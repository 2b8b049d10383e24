"""The one IR walker under every pass (autodidax's `eval_jaxpr` shape, reused by each transform).

A pass subclasses `Walker` and says two things: what a source value becomes in its world (the
environment maps each `ir.Value` of the source program to a numpy array, a new `ir.Value`, a
(primal, tangent) pair, ...), and what to do with one op (`visit`, usually a rule looked up in
one of the registry's tables). The walker owns the rest, the same way for every pass:
- walking a block in program order, binding block arguments and op results,
- terminators (`func.return`, `stablehlo.return`), whose mapped operands a block returns,
- calls and composites, inlined on the fly (a pass may intercept them: custom derivatives),
- rule lookup, with the op's source location in the error when a rule is missing,
- the op's location while a rule emits (`at_location`), so rewritten IR keeps the user's lines,
- scratch blocks to emit into and throw away (a dry run of a region),
- a reverse sweep (`run_block_backward`), for passes that run a block backward (transposition).

Every rule sees its op through a `RuleContext` (or a pass's subclass of it): the op, its
attributes and location, and the walker running it, to walk nested regions.

Adding a pass means writing one subclass; see docs/architecture.md.
"""

import contextlib
from collections.abc import Callable, Iterator

from aotc.frontend.core.emit import Attrs
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import find_function, ir, module_body
from aotc.frontend.core.registry import lookup, rule_key
from aotc.frontend.core.source import at_location, location_text

TERMINATORS = frozenset({"func.return", "stablehlo.return"})
_CALL_ATTRIBUTE = {"func.call": "callee", "stablehlo.composite": "decomposition"}


def callee_of(op: ir.Operation) -> str | None:
    """The function a call-like op runs: func.call's callee, a composite's decomposition."""
    attribute = _CALL_ATTRIBUTE.get(op.name)
    if attribute is None:
        return None
    return ir.FlatSymbolRefAttr(op.attributes[attribute]).value


def entry_block(fn) -> ir.Block:
    return fn.regions[0].blocks[0]


class RuleContext:
    """What a rule sees of its op: the op, its attributes and location, and the walker running
    it (`ctx.emitter` is the same walker, the name control-flow rules use)."""

    def __init__(self, op: ir.Operation, walker: "Walker | None" = None):
        self.op = op
        self.attrs = Attrs.of(op)
        self.walker = walker

    @property
    def emitter(self) -> "Walker | None":
        return self.walker

    @property
    def results(self) -> list:
        return list(self.op.results)

    @property
    def operand_types(self) -> list[ir.Type]:
        return [v.type for v in self.op.operands]

    @property
    def result_types(self) -> list[ir.Type]:
        return [r.type for r in self.op.results]

    @property
    def location(self) -> str:
        return location_text(self.op.location)


class Walker:
    """Walks blocks op by op; subclasses define `visit` (and may override `bind`, `read`,
    `call`). `table` names the registry table `rule(op)` reads by default."""

    table: str | None = None

    def __init__(self, module):
        self.module = module
        self.env: dict = {}

    # ---- the environment: source value -> what this pass made of it ----

    def bind(self, source: ir.Value, value) -> None:
        self.env[source] = value

    def read(self, source: ir.Value):
        return self.env[source]

    # ---- walking ----

    def run_block(self, block: ir.Block, args) -> list:
        """Walk `block` with its arguments bound to `args`; returns what its terminator's
        operands became."""
        for param, arg in zip(block.arguments, args):
            self.bind(param, arg)
        for op in block.operations:
            op = op.operation
            if op.name in TERMINATORS:
                return [self.read(v) for v in op.operands]
            callee = callee_of(op)
            if callee is not None:
                outs = self.call(op, find_function(self.module, callee))
            else:
                outs = self.visit(op)
            for result, out in zip(op.results, outs):
                self.bind(result, out)
        raise TracingError("block ended without a terminator")

    def run_block_backward(self, block: ir.Block, seeds) -> None:
        """A reverse sweep: `seed(v, s)` for each terminator operand v and its seed s, then
        `visit_backward(op)` for the block's other ops, last to first."""
        ops = [op.operation for op in block.operations]
        if not ops or ops[-1].name not in TERMINATORS:
            raise TracingError("block ended without a terminator")
        for v, s in zip(ops[-1].operands, seeds):
            self.seed(v, s)
        for op in reversed(ops[:-1]):
            self.visit_backward(op)

    def seed(self, source: ir.Value, value) -> None:
        """In a reverse sweep: what the block's result `source` starts with."""
        raise NotImplementedError(f"{type(self).__name__} does not run blocks backward")

    def visit_backward(self, op: ir.Operation) -> None:
        """In a reverse sweep: propagate from op's results to its operands."""
        raise NotImplementedError(f"{type(self).__name__} does not run blocks backward")

    def run_function(self, name: str, args) -> list:
        fn = find_function(self.module, name)
        block = entry_block(fn)
        if len(args) != len(block.arguments):
            raise TracingError(
                f"function '{name}' takes {len(block.arguments)} arguments, got {len(args)}")
        return self.run_block(block, args)

    def call(self, op: ir.Operation, fn) -> list:
        """A func.call or composite: by default its callee is inlined."""
        return self.run_block(entry_block(fn), [self.read(v) for v in op.operands])

    def visit(self, op: ir.Operation) -> list:
        """What `op`'s results become, in the order of op.results."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to visit ops")

    # ---- rules ----

    def rule(self, op: ir.Operation, table: str | None = None) -> Callable:
        """The op's rule in `table` (default: the pass's own); MissingRuleError names the op's
        source location."""
        return lookup(table or self.table, rule_key(op), location_text(op.location))

    def apply(self, rule: Callable, op: ir.Operation, *args):
        """Call a rule that emits IR, with the op's own location on everything it emits."""
        with at_location(op.location):
            return rule(*args)

    # ---- emitting into a throw-away block ----

    @contextlib.contextmanager
    def scratch(self, arg_types) -> Iterator[list[ir.Value]]:
        """A private scratch function of the module with arguments of `arg_types`, to emit into
        (the insertion point is set) and erase on exit: what a dry run of a region emits."""
        with ir.InsertionPoint(module_body(self.module)):
            fn = ir.Operation.create("func.func", regions=1, attributes={
                "sym_name": ir.StringAttr.get("aotc_scratch"),
                "function_type": ir.TypeAttr.get(ir.FunctionType.get(list(arg_types), [])),
                "sym_visibility": ir.StringAttr.get("private")})
        block = fn.regions[0].blocks.append(*arg_types)
        try:
            with ir.InsertionPoint(block):
                yield list(block.arguments)
        finally:
            fn.erase()
