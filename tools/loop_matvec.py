"""Matrix-vector products in loops, laid out for IREE's x86 CPU code (issue 15, item 4).

IREE 3.13 vectorizes `linalg.matvec` (`a @ v`, the reduction over a's contiguous rows) with a
16x16 in-register transpose per tile, and `linalg.vecmat` (`v @ a`) with one 16-wide
accumulator, so every multiply-add waits on the previous one. Both ran 100 products of a
512x512 f32 matrix in 2.1-2.4 ms of CPU time against 1.0-1.1 ms for jax.jit (local-sync,
interleaved rounds; a chain of 10 products: 22 us each). Two changes make it 9 us, as fast as
XLA's:

- `rewrite(module)`: in a while body, a product of a loop-invariant matrix along its last
  dimension (`a @ v`, `v @ a.T`) becomes `v @ t`, with `t = a.T` computed once before the
  loop (a `vecmat`, read row by row).
- `tuning_spec_flag()`: an IREE tuning spec that tiles every `linalg.vecmat` 64 outputs wide
  (4 AVX-512 accumulators) and 8 deep. Chained 512x512 products per tile setting (us):
  IREE's 16 / 16: 21-22; 64 / 8: 8.9; 128 / 4: 8.5; at 256: 5.6 against 2.9; at 100 outputs,
  128-wide tiles waste half a tile (2.6 against 1.5 for 64 / 8).

Both apply to x86-64 CPU targets only (`applies`), the ones measured. tools.flags_policy
passes the spec for programs with such loops and drops data tiling for them: IREE's data
tiling would turn the vecmats into packed mmt4d products before the spec could apply.

Example:
    >>> changed = rewrite(module)            # an ir.Module of StableHLO, rewritten in place
    >>> flags.append(tuning_spec_flag())
"""

import functools
import hashlib
import os
import tempfile

from aotc.frontend.core.ir import ir
from aotc.frontend.ops.linalg import dot_general
from aotc.frontend.ops.shape import transpose
from aotc.tools import cache
from aotc.tools.targets import host_arch
from aotc_runtime.files import write_atomic

_WHILE = "stablehlo.while"
_DOT = "stablehlo.dot_general"
_TRANSPOSE = "stablehlo.transpose"
_TRIPLE_FLAG = "--iree-llvmcpu-target-triple="
TUNING_SPEC_FLAG = "--iree-codegen-tuning-spec-path="
# Outputs per vector tile (4 AVX-512 registers of f32) and reduction steps per tile.
VECMAT_TILE = 64
VECMAT_DEPTH = 8

TUNING_SPEC = f"""\
module attributes {{transform.with_named_sequence,
                    iree_codegen.tuning_spec_with_default_entrypoint}} {{
  transform.named_sequence @apply_op_config(%op: !transform.any_op {{transform.readonly}},
                                            %config: !transform.any_param {{transform.readonly}}) {{
    transform.annotate %op "compilation_info" = %config : !transform.any_op, !transform.any_param
    transform.yield
  }}
  transform.named_sequence @match_vecmat(%op: !transform.any_op {{transform.readonly}})
      -> (!transform.any_op, !transform.any_param) {{
    transform.match.operation_name %op ["linalg.vecmat"] : !transform.any_op
    %config = transform.param.constant #iree_codegen.compilation_info<
        lowering_config = #iree_cpu.lowering_config<distribution = [{VECMAT_TILE}, 0],
          vector_common_parallel = [{VECMAT_TILE}, 0], vector_reduction = [0, {VECMAT_DEPTH}]>,
        translation_info = #iree_codegen.translation_info<
          pipeline = #iree_cpu.pipeline<DoubleTilingExpert>>> -> !transform.any_param
    transform.yield %op, %config : !transform.any_op, !transform.any_param
  }}
  transform.named_sequence @__kernel_config(%variant: !transform.any_op {{transform.consumed}})
      -> !transform.any_op attributes {{iree_codegen.tuning_spec_entrypoint}} {{
    %result = transform.foreach_match in %variant @match_vecmat -> @apply_op_config
        : (!transform.any_op) -> !transform.any_op
    transform.yield %result : !transform.any_op
  }}
}}
"""


def applies(flags) -> bool:
    """Whether a CPU compile with these IREE flags targets x86-64 (a named triple, or the
    host's when none is named)."""
    triples = [f[len(_TRIPLE_FLAG):] for f in flags if f.startswith(_TRIPLE_FLAG)]
    arch = triples[-1].split("-")[0] if triples else host_arch()
    return arch == "x86_64"


@functools.cache
def tuning_spec_flag() -> str:
    """The IREE flag that passes TUNING_SPEC: a file named by its content's hash, in aotc's
    cache folder (or, where that is not writable, a temporary folder of this process)."""
    name = f"vecmat-{hashlib.sha256(TUNING_SPEC.encode()).hexdigest()[:16]}.mlir"
    try:
        folder = os.path.join(cache.directory(), "tuning")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name)
        if not _holds(path, TUNING_SPEC):
            write_atomic(path, TUNING_SPEC.encode())
    except OSError:
        path = os.path.join(tempfile.mkdtemp(prefix="aotc-tuning-"), name)
        write_atomic(path, TUNING_SPEC.encode())
    return TUNING_SPEC_FLAG + path


def _holds(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == text
    except OSError:
        return False


def rewrite(module: ir.Module) -> int:
    """Rewrite module's loop matrix-vector products in place (see the module docstring); the
    number rewritten. One transpose per matrix and loop serves all of its products."""
    transposed: dict = {}
    return sum(_rewrite_dot(op, loops, transposed) for op, loops in _loop_dots(module))


def _loop_dots(module: ir.Module) -> list:
    """(dot_general, the while ops whose body holds it, innermost first) for every
    dot_general in a loop body of module."""
    found = []
    stack = [(op.operation, ()) for op in module.body.operations]
    while stack:
        op, loops = stack.pop()
        if op.name == _DOT and loops:
            found.append((op, loops))
        for index, region in enumerate(op.regions):
            inner = (op, *loops) if op.name == _WHILE and index == 1 else loops
            for block in region.blocks:
                stack.extend((child.operation, inner) for child in block.operations)
    return found


def _rewrite_dot(op: ir.Operation, loops: tuple, transposed: dict) -> bool:
    """Replace op by `v @ t` if it is a product of a vector and a matrix a that loops[0] does
    not change, taken along a's last dimension (`a @ v`, `v @ a.T`): t is `a.T`, made once
    before the loop, or a itself where the loop body transposed it. False if op is not."""
    found = _matvec_operands(op)
    if found is None:
        return False
    matrix, vector, contracted = found
    inner = _transposed_inside(matrix, loops[0])
    if inner is not None:
        matrix, contracted = inner.operands[0], 1 - contracted
    elif contracted == 0:
        return False  # already `v @ a`
    placed = _placement(matrix, loops)
    if placed is None:
        return False
    rows = matrix
    if contracted == 1:
        source, loop = placed
        if (source, loop) not in transposed:
            with ir.InsertionPoint(loop), loop.location:
                transposed[source, loop] = transpose(source, [1, 0])
        rows = transposed[source, loop]
    with ir.InsertionPoint(op), op.location:
        element = ir.RankedTensorType(op.results[0].type).element_type
        product = dot_general(vector, rows, ([0], [0]), element=element)
    op.results[0].replace_all_uses_with(product)
    op.erase()
    if inner is not None and not list(inner.results[0].uses):
        inner.erase()
    return True


def _matvec_operands(op: ir.Operation) -> tuple | None:
    """(matrix, vector, the matrix's contracted dimension) of a dot_general of a static
    matrix and a vector (no batch dimensions, no precision or algorithm attributes), else
    None."""
    if set(op.attributes) != {"dot_dimension_numbers"}:
        return None
    numbers = str(op.attributes["dot_dimension_numbers"])
    lhs, rhs = op.operands
    ranks = (_static_rank(lhs.type), _static_rank(rhs.type))
    if "batching" in numbers or ranks not in ((2, 1), (1, 2)):
        return None
    side, matrix, vector = ("lhs", lhs, rhs) if ranks == (2, 1) else ("rhs", rhs, lhs)
    contracted = 1 if f"{side}_contracting_dimensions = [1]" in numbers else 0
    return matrix, vector, contracted


def _transposed_inside(value: ir.Value, loop: ir.Operation) -> ir.Operation | None:
    """The stablehlo.transpose op inside loop that made the matrix value, if one did."""
    if isinstance(value.owner, ir.Block) or value.owner.name != _TRANSPOSE:
        return None
    permutation = list(ir.DenseI64ArrayAttr(value.owner.attributes["permutation"]))
    if permutation != [1, 0] or _defined_outside(value, loop):
        return None
    return value.owner.operation


def _static_rank(t: ir.Type) -> int | None:
    """The rank of a statically shaped tensor type, None for any other type."""
    if t.typeid != ir.RankedTensorType.static_typeid:
        return None
    shaped = ir.RankedTensorType(t)
    return shaped.rank if shaped.has_static_shape else None


def _placement(matrix: ir.Value, loops: tuple) -> tuple | None:
    """(value to transpose, loop to put the transpose before) for a matrix that loops[0]
    does not change: the matrix itself, before the outermost of loops that it is defined
    outside of; or, for a matrix carried by loops[0] whose body returns it unchanged, the
    loop's initial value, before loops[0]. None if loops[0] changes the matrix."""
    innermost = loops[0]
    body = innermost.regions[1].blocks[0]
    if isinstance(matrix.owner, ir.Block) and matrix.owner == body:
        index = ir.BlockArgument(matrix).arg_number
        if list(body.operations)[-1].operands[index] != matrix:
            return None
        return innermost.operands[index], innermost
    if not _defined_outside(matrix, innermost):
        return None
    outer = innermost
    for loop in loops[1:]:
        if not _defined_outside(matrix, loop):
            break
        outer = loop
    return matrix, outer


def _defined_outside(value: ir.Value, loop: ir.Operation) -> bool:
    """Whether value is defined outside loop (not by an op or block inside it)."""
    owner = value.owner
    defining = owner.owner if isinstance(owner, ir.Block) else owner
    while defining is not None:
        if defining.operation == loop:
            return False
        defining = defining.parent
    return True
