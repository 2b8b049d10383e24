"""Bounds legalization: index semantics made explicit before IREE compiles a module.

StableHLO (and JAX on top of it) says that a gather or dynamic_slice clamps its start indices
into the operand, that dynamic_update_slice clamps its starts so the update fits, and XLA (so
JAX's `x.at[i].set/add/...`) drops a scatter update whose window is not inside the operand.
IREE 3.13 enforces none of it: an out-of-range gather reads other memory (or segfaults), a
batched scatter writes into the next lane. This pass rewrites every such op of every function
of a module, in place, with the op's rule from the registry's "bounds" table (filled beside the
ops in frontend/ops/indexing.py and shape.py): starts are clamped, and a dropped scatter window
gets an in-range index with an update that changes nothing (a neutral element for add, max, ...,
or a spare window padded onto the operand and sliced off for set and other bodies).

It runs on every module aotc compiles (`aotc.tools.compile.compile_stablehlo`): traced,
transformed, or imported StableHLO. Left as traced: a scatter with `set` (or a body that is not
one binary op) into an operand of dynamic shape.
"""

import aotc.frontend.ops  # noqa: F401  (registers every op's bounds rule)
from aotc.frontend.core.errors import CompileError
from aotc.frontend.core.ir import functions, ir, new_context
from aotc.frontend.core.registry import TABLES, rule_key
from aotc.passes.functions import verify_after
from aotc.passes.walker import TERMINATORS, RuleContext, Walker, entry_block


class BoundsLegalizer(Walker):
    """Walks every function in place: source values stand for themselves; an op with a bounds
    rule is re-emitted before itself with legal indices, its uses moved to the new results."""

    table = "bounds"

    def __init__(self, module):
        super().__init__(module)
        self.replaced: list[ir.Operation] = []

    def bind(self, source: ir.Value, value) -> None:
        pass  # in place: nothing to remember

    def read(self, source: ir.Value):
        return source

    def call(self, op: ir.Operation, fn) -> list:
        return list(op.results)  # every callee is legalized once, as a function of its own

    def visit(self, op: ir.Operation) -> list:
        for region in op.regions:
            for block in region.blocks:
                self._walk_nested(block)
        if rule_key(op) not in TABLES[self.table]:
            return list(op.results)
        with ir.InsertionPoint(op), op.location:
            outs = self.apply(self.rule(op), op, RuleContext(op, self), list(op.operands))
        if outs is None:  # already in range (constant indices, nothing indexed)
            return list(op.results)
        for old, new in zip(op.results, outs):
            old.replace_all_uses_with(new)
        self.replaced.append(op)
        return outs

    def _walk_nested(self, block: ir.Block) -> None:
        ops = list(block.operations)
        if ops and ops[-1].operation.name in TERMINATORS:
            self.run_block(block, list(block.arguments))
            return
        for op in ops:  # a region of another dialect (its own terminator): visit each op
            op = op.operation
            if op.regions or rule_key(op) in TABLES[self.table]:
                self.visit(op)

    def run(self) -> None:
        for fn in functions(self.module).values():
            if fn.regions[0].blocks:  # external declarations have no body
                self._walk_nested(entry_block(fn))
        for op in reversed(self.replaced):
            op.erase()
        self.replaced.clear()


def legalize_bounds(module: ir.Module) -> ir.Module:
    """Rewrite `module` in place so that every gather, scatter, dynamic_slice and
    dynamic_update_slice has JAX's index semantics whatever its indices; returns it.

    Example:
        >>> legalize_bounds(aotc.lower(lambda x, i: x[i], x, i).module)
    """
    with module.context:
        BoundsLegalizer(module).run()
    verify_after(module, "bounds")
    return module


def legalize_bounds_text(text: str) -> str:
    """`legalize_bounds` on MLIR text; returns the text with its source locations."""
    with new_context():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as exc:
            raise CompileError(f"aotc could not parse the module to legalize its indices: "
                               f"{exc}") from None
        legalize_bounds(module)
        return module.operation.get_asm(enable_debug_info=True)
