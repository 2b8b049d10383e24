"""Sums of matrix products as one product over concatenated operands (issue 15, item 4).

The gradient of a scan unrolled n steps per iteration (frontend/lax/unroll.py) sums a weight's
per-step products into its accumulator: `acc + x_1.T @ d_1 + ... + x_n.T @ d_n`. IREE 3.13
runs each product as its own dispatch, writing a full weight-sized result, and a last
dispatch reads all n results back to add them. The same sum is one product with the steps
stacked along the contracted dimension: `acc + concat(x_i).T @ concat(d_i)`, a 256x256 product
with 320 terms per entry instead of ten with 32 for the suite's RNN.

`rewrite(module)` finds such sums in loop bodies: a tree of stablehlo.add ops whose inner
sums have no other use, with at least two leaves that are rank-2 dot_generals (without batch
dimensions) of the same operand and result types and dimension numbers, each used only there
(a transpose of such a product, used only there, also counts: the merged product comes out
transposed). Each group of alike products becomes one, laid out as IREE's CPU code reads
fastest; the other leaves are added as before.

Example:
    >>> changed = rewrite(module)            # an ir.Module of StableHLO, rewritten in place
"""

from aotc.frontend.core.ir import ir
from aotc.frontend.ops.elementwise import add
from aotc.frontend.ops.linalg import dot_general
from aotc.frontend.ops.shape import concatenate, transpose

_ADD = "stablehlo.add"
_WHILE = "stablehlo.while"
_DOT = "stablehlo.dot_general"
_TRANSPOSE = "stablehlo.transpose"


def rewrite(module: ir.Module) -> int:
    """Rewrite module's sums of alike matrix products in place; the number of products that
    were merged into others."""
    roots = []

    def visit(op):
        if (op.name == _ADD and _rank(op.results[0].type) == 2 and not _inner_sum(op)
                and _in_loop(op.operation)):
            roots.append(op.operation)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return sum(_rewrite_sum(root) for root in roots)


def _in_loop(op: ir.Operation) -> bool:
    """Whether op is inside a stablehlo.while (its body or condition)."""
    parent = op.parent
    while parent is not None:
        if parent.name == _WHILE:
            return True
        parent = parent.parent
    return False


def _inner_sum(op: ir.Operation) -> bool:
    """Whether op's only use is as an operand of an add in the same block (it is then part of
    that add's tree)."""
    op = op.operation
    uses = list(op.results[0].uses)
    if len(uses) != 1:
        return False
    user = uses[0].owner.operation
    return user.name == _ADD and user.block == op.block


def _rewrite_sum(root: ir.Operation) -> int:
    """Merge the alike products among root's leaves (see the module docstring)."""
    leaves = _leaves(root)
    groups: dict = {}
    others = []
    for leaf in leaves:
        key = _product_key(leaf, root.block)
        (groups.setdefault(key, []) if key else others).append(leaf)
    merged = [products for products in groups.values() if len(products) > 1]
    if not merged:
        return 0
    others += [products[0] for products in groups.values() if len(products) == 1]
    with ir.InsertionPoint(root), root.location:
        terms = others + [_one_product(products, key[0]) for key, products in groups.items()
                                  if len(products) > 1]
        total = terms[0]
        for term in terms[1:]:
            total = add(total, term)
    root.results[0].replace_all_uses_with(total)
    _erase_tree(root)
    return sum(len(products) - 1 for products in merged)


def _leaves(root: ir.Operation) -> list:
    """The operands of root's add tree that are not inner sums, left to right."""
    leaves, stack = [], [root]
    while stack:
        op = stack.pop()
        for operand in reversed(list(op.operands)):
            owner = operand.owner
            if not isinstance(owner, ir.Block) and owner.name == _ADD and _inner_sum(owner):
                stack.append(owner.operation)
            else:
                leaves.append(operand)
    return leaves


def _product_key(value: ir.Value, block: ir.Block) -> tuple | None:
    """What alike products share (transposed or not, operand and result types, dimension
    numbers), or None if value is not a single-use rank-2 product made in block."""
    transposed = False
    op = _single_use_op(value, block)
    if op is not None and op.name == _TRANSPOSE:
        permutation = list(ir.DenseI64ArrayAttr(op.attributes["permutation"]))
        transposed, op = permutation == [1, 0], _single_use_op(op.operands[0], block)
        if not transposed:
            return None
    if op is None or op.name != _DOT or set(op.attributes) != {"dot_dimension_numbers"}:
        return None
    numbers = str(op.attributes["dot_dimension_numbers"])
    lhs, rhs = op.operands
    if "batching" in numbers or _rank(lhs.type) != 2 or _rank(rhs.type) != 2:
        return None
    return transposed, str(lhs.type), str(rhs.type), str(op.results[0].type), numbers


def _single_use_op(value: ir.Value, block: ir.Block) -> ir.Operation | None:
    """The op in block that made value, if value has that one use only."""
    owner = value.owner
    if isinstance(owner, ir.Block) or len(list(value.uses)) != 1:
        return None
    return owner.operation if owner.operation.block == block else None


def _one_product(products: list, transposed: bool) -> ir.Value:
    """The sum of alike products (see _product_key; transposed: each is a transpose of a
    product) as one product of their operands concatenated along the contracted dimensions,
    laid out as IREE's CPU code reads fastest: left operand contracted along its rows' last
    dimension, right along its first (a transposed sum swaps the operands instead)."""
    dots = [_dot_of(value) for value in products]
    numbers = str(dots[0].attributes["dot_dimension_numbers"])
    sides = [([dot.operands[0] for dot in dots],
              1 if "lhs_contracting_dimensions = [1]" in numbers else 0),
             ([dot.operands[1] for dot in dots],
              1 if "rhs_contracting_dimensions = [1]" in numbers else 0)]
    (lhs_terms, lhs_dim), (rhs_terms, rhs_dim) = sides[::-1] if transposed else sides
    lhs = concatenate(lhs_terms, lhs_dim)
    rhs = concatenate(rhs_terms, rhs_dim)
    element = ir.RankedTensorType(dots[0].results[0].type).element_type
    return dot_general(transpose(lhs, [1, 0]) if lhs_dim == 0 else lhs,
                       transpose(rhs, [1, 0]) if rhs_dim == 1 else rhs, ([1], [0]),
                       element=element)


def _dot_of(value: ir.Value) -> ir.Operation:
    """The dot_general that made value, directly or under its transpose."""
    op = value.owner.operation
    return op.operands[0].owner.operation if op.name == _TRANSPOSE else op


def _erase_tree(root: ir.Operation) -> None:
    """Erase root and every op of its tree left without uses (inner sums, merged products
    and their transposes), users before producers."""
    stack = [root]
    while stack:
        op = stack.pop()
        if list(op.results[0].uses):
            continue
        operands = [v.owner.operation for v in op.operands if not isinstance(v.owner, ir.Block)]
        op.erase()
        stack.extend(o for o in operands if o.name in (_ADD, _DOT, _TRANSPOSE))


def _rank(t: ir.Type) -> int:
    return ir.RankedTensorType(t).rank if t.typeid == ir.RankedTensorType.static_typeid else -1
