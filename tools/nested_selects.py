"""A select nested inside a select on the same mask, written without the outer select.

`select(c, select(b, select(c, x, z), n), z)` is `select(b, select(c, x, z), select(c, n, z))`:
where c holds, both give `b ? x : n`; where it does not, both give z (the inner select already
gives z there). aotc writes the first form in every Cholesky: `anp.tril(anp.where(ok, low,
nan))` around a factor `low` that is itself a `tril` (aotc.frontend.linalg.factor, its kernels
end in tril). IREE 3.13 with global-opt data tiling (the cpu presets) fails on the
gradient of such a Cholesky beyond one 32-row triangular block (log det at 64 and 128, the
models/gp_regression.py NLL gradient): "expected 4 offset values, got 2" on a
tensor.extract_slice of a diagonal block (the triangular solve's) that reads L in the packed
layout of a matmul operand (the JVP rule's `L @ phi`). aotc.tools.compile then compiled the
whole program a second time without data tiling (the GP model: about a third of its compile
CPU). The reduced program (tests/tools/data/cholesky64_grad_nested_selects.mlir.gz) needs the
nested selects, `L @ .`, L flattened and the diagonal blocks; without the outer select, IREE
compiles it with data tiling the first time, and so the GP model's nll_and_grad and
train_step. (Its `fit`, the gradient inside a loop, still fails with data tiling, on another
error: "failed to solve for timepoint coverage"; the GP module then still takes the
fallback.)

Masks and fill values are matched by value, not only as the same SSA value: each `tril`
traces its own constant mask and zero fill.

Example:
    >>> changed = rewrite(module)            # an ir.Module of StableHLO, rewritten in place
"""

from aotc.frontend.core.ir import ir

_SELECT = "stablehlo.select"
_MATCH_DEPTH = 3  # operand levels compared when two values are checked for equality


def rewrite(module: ir.Module) -> int:
    """Rewrite module's select(c, select(b, select(c, x, z), n), z) in place (every function,
    nested regions included); returns how many were rewritten."""
    found = []

    def visit(op):
        if op.name == _SELECT and _match(op.operation) is not None:
            found.append(op.operation)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    for outer in found:
        mask, flag, inner, fill, zero = _match(outer)
        with ir.InsertionPoint(outer), outer.location:
            rest = _select(mask, fill, zero, outer.results[0].type)
            value = _select(flag, inner, rest, outer.results[0].type)
        outer.results[0].replace_all_uses_with(value)
        outer.erase()
    return len(found)


def _match(outer: ir.Operation) -> tuple | None:
    """(c, b, select(c, x, z), n, z) when outer is select(c, select(b, select(c, x, z), n), z)
    with all values of one tensor type; None otherwise."""
    mask, middle, zero = outer.operands
    middle_op = _defining(middle, _SELECT)
    if middle_op is None:
        return None
    flag, inner, fill = middle_op.operands
    inner_op = _defining(inner, _SELECT)
    if inner_op is None:
        return None
    inner_mask, _, inner_zero = inner_op.operands
    if not (_equal(mask, inner_mask) and _equal(zero, inner_zero)):
        return None
    if len({str(v.type) for v in (middle, inner, fill, zero)}) != 1:
        return None
    return mask, flag, inner, fill, zero


def _defining(value: ir.Value, name: str) -> ir.Operation | None:
    """The op named name that defines value, or None (a block argument, another op)."""
    if isinstance(value.owner, ir.Block):
        return None
    op = value.owner.operation
    return op if op.name == name else None


def _equal(a: ir.Value, b: ir.Value, depth: int = _MATCH_DEPTH) -> bool:
    """Whether a and b are the same value: the same SSA value, or results of region-free ops
    of one name with equal attributes and (to depth levels) equal operands."""
    if a == b:
        return True
    if depth == 0 or isinstance(a.owner, ir.Block) or isinstance(b.owner, ir.Block):
        return False
    op_a, op_b = a.owner.operation, b.owner.operation
    if (op_a.name != op_b.name or op_a.regions or op_b.regions or a.type != b.type
            or len(op_a.results) != 1 or len(op_b.results) != 1
            or len(op_a.operands) != len(op_b.operands)):
        return False
    return _attributes(op_a) == _attributes(op_b) and all(
        _equal(x, y, depth - 1) for x, y in zip(op_a.operands, op_b.operands, strict=True))


def _attributes(op: ir.Operation) -> dict:
    return {name: op.attributes[name] for name in op.attributes}


def _select(pred: ir.Value, on_true: ir.Value, on_false: ir.Value, t: ir.Type) -> ir.Value:
    return ir.Operation.create(_SELECT, results=[t], operands=[pred, on_true, on_false]).result
