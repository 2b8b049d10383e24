"""Per-program compiler flags and run-time cost, chosen from features of the StableHLO program
(issue 15, items 3 and 6). The user never sets these: tools.compile.compile_stablehlo applies
them to the CPU presets that data-tile, unless the user's own flags already decide.

- Flags (`choose_flags`): IREE's global-opt data tiling packs a matmul operand into tiles. On a
  loop-invariant matrix inside a while body, IREE 3.13 repacks it on every iteration (a
  `pack` dispatch in the loop). Measured with benchmarks/suite.py since loops are unrolled
  (frontend/lax/unroll.py): that costs more than tiling saves for matrix-matrix products (the
  RNN gradient). Loops of matrix-vector products of an invariant matrix drop it too, and on
  x86-64 get aotc.tools.loop_matvec's tuning spec (with its rewrite of `a @ v` into `v @ a.T`):
  in process CPU time on local-sync, power iteration (512, 10 products per unrolled
  iteration) went from 2.5 ms with data tiling to 1.0-1.1 ms, RK4 (256, 40 per iteration)
  from 2.1 to 0.9 ms. Straight-line matmul code keeps it (the 1024^2 matmul is 3.5x slower
  without).
- Inner tiling: `--iree-llvmcpu-enable-inner-tiled` makes IREE's data-tiled matmuls use its
  `inner_tiled` op with a 29x16 register tile on AVX-512 (29 accumulators; the default mmt4d
  16x16 tile has 16, so it does 17 loads per 16 FMAs). Measured in process CPU time on
  local-sync (benchmarks/suite.py workloads): 1024^2 matmul 23.3 -> 19.2 ms, 2048^2 288 -> 227
  ms; single 2-D matmuls of MLP shapes 8% less; on x86-64-v3 (AVX2) the same within noise. But
  batched matmuls fail to compile with it (then data tiling is dropped: the transformer block
  forward ran 25% slower), and in MLP training steps the unpacks fused with the large
  elementwise updates got slower (SGD +10%, Adam +22%). So only loop-free x86-64 programs whose
  every dot is a plain 2-D f32 matmul, with at least MATMUL_BOUND FLOPs of them per element of
  other work, get it. The MLP forward (217 per element) is one: on an Intel Xeon with AVX-512
  (Emerald Rapids, 2 cores) its first matmul's dispatch took 532 instead of 921 us per call
  with it (IREE's HAL profile), and the whole call 2.2-2.4 instead of 2.5-3.0 ms on either
  device (interleaved medians of 9 rounds).
- Row gathers: IREE 3.13 vectorizes a gather's loads one element at a time (vmovss/vinsertps:
  it cannot tell that the row index, an input of the generic op, is the same across a vector)
  unless `--iree-llvmcpu-experimental-vectorize-to-transfer-gather`. With it, the suite's
  embedding (4096 rows of a 50000x128 table) took 0.45 instead of 0.74 ms CPU per call. It
  fails to compile other gathers (a column take, take_along_axis, a middle-axis index, rows of
  a 3-D array, rows taken inside a loop) and reverses, which IREE lowers to reads at computed
  indices too (a flip of a 3x3x3x4 filter, as in a strided convolution's gradient: "LLVM
  Translation failed for operation: builtin.unrealized_conversion_cast"), so only loop-free
  programs whose every gather takes whole rows of a matrix, and that reverse nothing, get it.
  (A program that fails with it anyway compiles again without it: tools.compile.)
- Transpose propagation: tools/product_sums.py merges a loop body's sums of products into one
  product whose operands it transposes into IREE's fastest layout; IREE's global optimization
  folds those transposes back into the matmul (reading one operand against its rows), unless
  `--iree-global-opt-propagate-transposes=false`. Programs with such merged products get it:
  the suite's RNN gradient, process CPU per call, in-process interleaved: 16.5 -> 15.0 ms on
  local-sync, 28.9 -> 26.4 ms on local-task.
- Input alignment: IREE's CPU code assumes 64-byte aligned buffers by default, so aotc_runtime
  had to copy every large numpy input that malloc placed 16 bytes past a 64-byte boundary (most
  of them; a 25.6 MB embedding table took 10x the gather's time). CPU programs are compiled
  for 16-byte aligned bindings instead (the flag goes last, so it wins), and say so in the
  artifact (`aotc.input_alignment`), which lets aotc_runtime import such inputs in place.
- Cost (`cost_metadata`): the work of the largest single operation, outside and inside loops,
  recorded in the artifact (`aotc.cost`) so that aotc_runtime picks local-sync or local-task
  without the compiler (see aotc_runtime.policy).

Example:
    >>> feats = features(module)            # an ir.Module of StableHLO
    >>> choose_flags(feats, ["--iree-global-opt-data-tiling", ...], user_flags=[])
"""

import json
import math
import re
from dataclasses import dataclass

from aotc.frontend.core.ir import ir
from aotc.tools import loop_matvec
from aotc.tools.targets import DATA_TILING
from aotc_runtime.artifact import KEY_COST, KEY_INPUT_ALIGNMENT

_WHILE = "stablehlo.while"
_DOT = "stablehlo.dot_general"
_CONV = "stablehlo.convolution"
_CONSTANT = "stablehlo.constant"
_UPDATE_SLICE = "stablehlo.dynamic_update_slice"
# The binding alignment CPU programs are compiled for, and the flag that sets it (IREE's
# default: 64). Appended after the user's flags: the artifact's KEY_INPUT_ALIGNMENT must be true.
INPUT_ALIGNMENT = 16
ALIGNMENT_FLAG = f"--iree-stream-resource-min-offset-alignment={INPUT_ALIGNMENT}"
INNER_TILED_FLAG = "--iree-llvmcpu-enable-inner-tiled=true"
# Matmul FLOPs per element of other ops from which a program counts as matmul-bound (the
# suite: lone matmuls have no other ops; MLP forward 217, its SGD step 109, Adam 38).
MATMUL_BOUND = 150
# Programs whose largest dot_general or convolution has fewer FLOPs than this compile without
# data tiling: packing tiny operands costs a pack dispatch per operand and an unpack per
# result, more than the tiled product saves. The small linear algebra kernels (many products
# of at most 64x64x16), per call in iree-benchmark-module on local-sync, with -> without:
# qr 16 245 -> 133 us, 32 485 -> 270, 64 977 -> 626, 128 3.17 -> 2.25 ms; lu_factor 32 341
# -> 265 us, 64 719 -> 468, 128 1.82 -> 1.68 ms; but lu_factor 256 (2.1e6-FLOP updates)
# 7.00 -> 7.47 ms, so it keeps data tiling, as do the suite's MLPs, transformer and matmuls.
SMALL_PRODUCT = 1_000_000
# Flag stems whose presence in the user's flags means the user decides that setting.
_DATA_TILING_STEMS = ("data-tiling",)
_INNER_TILED_STEMS = ("inner-tiled",)
TRANSFER_GATHER_FLAG = "--iree-llvmcpu-experimental-vectorize-to-transfer-gather=true"
_TRANSFER_GATHER_STEMS = ("transfer-gather",)
_GATHER = "stablehlo.gather"
_REVERSE = "stablehlo.reverse"
_TUNING_SPEC_STEMS = ("tuning-spec",)
NO_TRANSPOSE_PROPAGATION = "--iree-global-opt-propagate-transposes=false"
_TRANSPOSE_STEMS = ("propagate-transposes",)
_CONCATENATE = "stablehlo.concatenate"
_TRANSPOSE = "stablehlo.transpose"


@dataclass(frozen=True)
class ProgramFeatures:
    """What the flag and device choices read off a program.

    loops: stablehlo.while ops; invariant_loop_matmuls: dot_generals inside a while body with a
    matrix result and a matrix operand (rank >= 2) that the loop does not change (defined
    outside the loop, or a carried value the body returns unchanged); matrix-vector products
    do not count. invariant_loop_matvecs: matrix-vector products (dot_generals with a vector
    result) inside a while body of a matrix that the loop does not change.
    loop_concat_products: dot_generals inside a while body with an operand made by a
    concatenate, directly or through a transpose (tools/product_sums.py's merged sums).
    Work, outside loops (per call) and inside loop
    bodies (per iteration, all loops together): dot_flops / loop_dot_flops, the FLOPs of
    dot_generals and convolutions; elements / loop_elements, the result elements of every
    other op but constants (of a dynamic_update_slice, the update's: it writes that in place).
    row_gathers: gathers of whole rows of a matrix (an index per row, slices of one whole row,
    the columns the result's last dimension); other_gathers: every other gather, and every
    reverse (to IREE's vectorizer, a read at computed indices too).
    plain_matmuls: dot_generals outside loops of two f32 matrices (rank 2, no batch
    dimensions) into an f32 matrix; other_dots: every other dot_general and convolution.
    largest_product: the FLOPs of the largest single dot_general or convolution, anywhere.
    """

    ops: int = 0
    loops: int = 0
    largest_product: int = 0
    invariant_loop_matmuls: int = 0
    invariant_loop_matvecs: int = 0
    loop_concat_products: int = 0
    dot_flops: int = 0
    elements: int = 0
    loop_dot_flops: int = 0
    loop_elements: int = 0
    plain_matmuls: int = 0
    other_dots: int = 0
    row_gathers: int = 0
    other_gathers: int = 0


def features(module: ir.Module) -> ProgramFeatures:
    """The ProgramFeatures of a StableHLO module (every function, nested regions included)."""
    counts = dict.fromkeys(ProgramFeatures.__dataclass_fields__, 0)
    for op in module.body.operations:
        _visit(op.operation, [], counts)
    return ProgramFeatures(**counts)


def _visit(op: ir.Operation, loops: list, counts: dict) -> None:
    """Accumulate op's features into counts; loops holds the enclosing while ops (innermost
    last)."""
    counts["ops"] += 1
    name = op.name
    if name == _WHILE:
        counts["loops"] += 1
    prefix = "loop_" if loops else ""
    if name == _GATHER:
        counts["row_gathers" if _row_gather(op) else "other_gathers"] += 1
    elif name == _REVERSE:
        counts["other_gathers"] += 1
    if name in (_DOT, _CONV):
        flops = _flops(op)
        counts[prefix + "dot_flops"] += flops
        counts["largest_product"] = max(counts["largest_product"], flops)
        counts["plain_matmuls" if not loops and _plain_matmul(op) else "other_dots"] += 1
    elif name == _UPDATE_SLICE:
        counts[prefix + "elements"] += _elements(op.operands[1].type)
    elif name != _CONSTANT and not op.regions:
        counts[prefix + "elements"] += sum(_elements(r.type) for r in op.results)
    if loops and name == _DOT:
        matrices = [v for v in op.operands if _rank(v.type) >= 2 and _invariant(v, loops[-1])]
        kind = "matmuls" if _rank(op.results[0].type) >= 2 else "matvecs"
        counts[f"invariant_loop_{kind}"] += bool(matrices)
        counts["loop_concat_products"] += any(_concatenated(v) for v in op.operands)
    for index, region in enumerate(op.regions):
        inner = [*loops, op] if name == _WHILE and index == 1 else loops
        for block in region.blocks:
            for child in block.operations:
                _visit(child.operation, inner, counts)


def _invariant(value: ir.Value, loop: ir.Operation) -> bool:
    """Whether value is the same on every iteration of loop's body: defined outside loop, or
    an argument of loop's body that the body's terminator returns in the same position."""
    if isinstance(value.owner, ir.Block):
        block = value.owner
        if block.owner == loop:
            index = ir.BlockArgument(value).arg_number
            return list(block.operations)[-1].operands[index] == value
        defining = block.owner
    else:
        defining = value.owner.operation
    while defining is not None:
        if defining == loop:
            return False
        defining = defining.parent
    return True


def _plain_matmul(op: ir.Operation) -> bool:
    """Whether op is a dot_general of two f32 matrices into an f32 matrix, without batch
    dimensions."""
    types = [v.type for v in (*op.operands, *op.results)]
    return (op.name == _DOT and all(_rank(t) == 2 for t in types)
            and all(str(ir.RankedTensorType(t).element_type) == "f32" for t in types)
            and "batching_dimensions" not in str(op.attributes["dot_dimension_numbers"]))


def _concatenated(value: ir.Value) -> bool:
    """Whether value is made by a concatenate, directly or through one transpose."""
    for _ in range(2):
        if isinstance(value.owner, ir.Block):
            return False
        if value.owner.name == _CONCATENATE:
            return True
        if value.owner.name != _TRANSPOSE:
            return False
        value = value.owner.operands[0]
    return False


def _row_gather(op: ir.Operation) -> bool:
    """Whether a gather takes whole rows of a matrix: one start index per row (the last index
    dimension of size 1), slices [1, columns], the row dimension collapsed and the columns the
    result's last dimension. (IREE 3.13 fails to compile rows of a 3-D operand with
    TRANSFER_GATHER_FLAG.)"""
    operand, indices = (ir.RankedTensorType(v.type) for v in op.operands[:2])
    rank = ir.RankedTensorType(op.results[0].type).rank
    numbers = str(op.attributes["dimension_numbers"])
    slices = list(ir.DenseI64ArrayAttr(op.attributes["slice_sizes"]))
    found = {key: re.search(rf"{key} = \[([\d, ]*)\]", numbers)
             for key in ("offset_dims", "collapsed_slice_dims", "start_index_map")}
    dims = {key: [int(d) for d in m.group(1).split(",") if d.strip()] if m else []
            for key, m in found.items()}
    vector_dim = re.search(r"index_vector_dim = (\d+)", numbers)
    return (operand.rank == 2 and slices == [1, operand.shape[1]]
            and dims["collapsed_slice_dims"] == [0]
            and dims["start_index_map"] == [0] and "batching_dims" not in numbers
            and dims["offset_dims"] == list(range(rank - operand.rank + 1, rank))
            and vector_dim is not None and int(vector_dim.group(1)) == indices.rank - 1
            and indices.shape[-1] == 1)


def _rank(t: ir.Type) -> int:
    return ir.RankedTensorType(t).rank if t.typeid == ir.RankedTensorType.static_typeid else 0


def _elements(t: ir.Type) -> int:
    """The element count of a ranked tensor type (dynamic dimensions count as 1)."""
    if not t.typeid == ir.RankedTensorType.static_typeid:
        return 1
    shape = ir.RankedTensorType(t)
    return math.prod(max(d, 1) if not shape.is_dynamic_dim(i) else 1
                     for i, d in enumerate(shape.shape))


def _flops(op: ir.Operation) -> int:
    """FLOPs of a dot_general or convolution (2 per multiply-add)."""
    out = _elements(op.results[0].type)
    if op.name == _DOT:
        numbers = str(op.attributes["dot_dimension_numbers"])
        found = re.search(r"lhs_contracting_dimensions = \[([\d, ]*)\]", numbers)
        dims = [int(d) for d in found.group(1).split(",") if d.strip()] if found else []
        lhs = ir.RankedTensorType(op.operands[0].type).shape
        return 2 * out * math.prod(max(lhs[d], 1) for d in dims)
    kernel = ir.RankedTensorType(op.operands[1].type).shape
    found = re.search(r"x\[([^\]]*)\]", str(op.attributes["dimension_numbers"]))
    spec = [s.strip() for s in found.group(1).split(",")] if found else []
    out_features = kernel[spec.index("o")] if "o" in spec else 1
    return 2 * out * math.prod(max(k, 1) for k in kernel) // max(out_features, 1)


def _mentions(flags, stems) -> bool:
    return any(stem in flag for flag in flags for stem in stems)


def choose_flags(feats: ProgramFeatures, flags: list, user_flags=()) -> list:
    """flags (a preset's, then the user's) with the per-program choices applied.

    Data tiling is dropped when a loop body multiplies a loop-invariant matrix by a matrix or
    a vector (IREE repacks it every iteration), or when every product is smaller than
    SMALL_PRODUCT, unless user_flags mention data tiling themselves. Loops of matrix-vector
    products also get loop_matvec's tuning spec on x86-64, unless user_flags name a tuning
    spec. Loops with merged product sums get NO_TRANSPOSE_PROPAGATION, unless user_flags
    mention transpose propagation. Matmul-bound x86-64 programs of plain matmuls that keep
    data tiling get INNER_TILED_FLAG, unless user_flags mention inner tiling. Loop-free
    programs whose gathers all take rows of a matrix get TRANSFER_GATHER_FLAG, unless
    user_flags mention transfer gathers.
    ALIGNMENT_FLAG goes last, whatever the user's flags say: stamp_cost records
    INPUT_ALIGNMENT in the artifact, and the runtime imports inputs that aligned in place.
    """
    chosen = list(flags)
    if (DATA_TILING in flags
            and (feats.invariant_loop_matmuls or feats.invariant_loop_matvecs
                 or 0 < feats.largest_product < SMALL_PRODUCT)
            and not _mentions(user_flags, _DATA_TILING_STEMS)):
        chosen = [f for f in chosen if f != DATA_TILING]
    if (feats.invariant_loop_matvecs and loop_matvec.applies(flags)
            and not _mentions(user_flags, _TUNING_SPEC_STEMS)):
        chosen.append(loop_matvec.tuning_spec_flag())
    if feats.loop_concat_products and not _mentions(user_flags, _TRANSPOSE_STEMS):
        chosen.append(NO_TRANSPOSE_PROPAGATION)
    if (DATA_TILING in chosen and _matmul_bound(feats) and loop_matvec.applies(flags)
            and not _mentions(user_flags, _INNER_TILED_STEMS)):
        chosen.append(INNER_TILED_FLAG)
    if (feats.row_gathers and not feats.other_gathers and not feats.loops
            and loop_matvec.applies(flags)
            and not _mentions(user_flags, _TRANSFER_GATHER_STEMS)):
        chosen.append(TRANSFER_GATHER_FLAG)
    return [*chosen, ALIGNMENT_FLAG]


def _matmul_bound(feats: ProgramFeatures) -> bool:
    """A loop-free program of plain matmuls only, with MATMUL_BOUND FLOPs of them per element
    of its other ops (IREE's inner tiling pays off there; see the module docstring)."""
    return (not feats.loops and feats.plain_matmuls > 0 and not feats.other_dots
            and feats.elements * MATMUL_BOUND <= feats.dot_flops)


def cost_metadata(feats: ProgramFeatures) -> str:
    """The `aotc.cost` reflection value: JSON of the work figures aotc_runtime.policy reads."""
    return json.dumps({"dot_flops": feats.dot_flops, "elements": feats.elements,
                       "loop_dot_flops": feats.loop_dot_flops,
                       "loop_elements": feats.loop_elements, "loops": feats.loops},
                      separators=(",", ":"))


def stamp_cost(module: ir.Module, feats: ProgramFeatures) -> None:
    """Record cost_metadata(feats) under `aotc.cost`, and INPUT_ALIGNMENT under
    `aotc.input_alignment`, in every public function's iree.reflection (added to what is there:
    aotc's export metadata, or nothing for aotc.jit's programs). Only host (CPU) devices read
    the alignment, and choose_flags compiles every program for them with it."""
    value = cost_metadata(feats)
    for op in module.body.operations:
        fn = op.operation
        if fn.name != "func.func" or ("sym_visibility" in fn.attributes and ir.StringAttr(
                fn.attributes["sym_visibility"]).value != "public"):
            continue
        reflection = ({a.name: a.attr for a in ir.DictAttr(fn.attributes["iree.reflection"])}
                      if "iree.reflection" in fn.attributes else {})
        reflection[KEY_COST] = ir.StringAttr.get(value)
        reflection[KEY_INPUT_ALIGNMENT] = ir.StringAttr.get(str(INPUT_ALIGNMENT))
        fn.attributes["iree.reflection"] = ir.DictAttr.get(reflection)
