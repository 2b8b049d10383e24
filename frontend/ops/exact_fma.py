"""Correctly rounded float32 fused multiply-adds for the targets that never fuse: vmvx and Vulkan.

aotc writes a float32 fma `a * b + c` (rounded once) as a float64 multiply and add of float32
operands, converted back to float32 (aotc.frontend.random.xla_math.fma; uniform's affine step):
the product of two float32s is exact in float64, IREE demotes float64 to float32, and its CPU
backends contract the multiply-add into one fma instruction. vmvx and Vulkan (lavapipe here)
compile neither float64 (the demotion is the only way in) nor a fused multiply-add: math.fma
becomes vm.fma.f32, which the VM runs as `a * b + c` (IREE's runtime is built without
FP_FAST_FMAF), and lavapipe does the same, so each fma rounds twice there.

`emulate_fmas` replaces each such float64 multiply-add with `fma_f32`: an fma from float32
operations only, rounded exactly as the hardware instruction rounds it. The product is split
exactly (Dekker's TwoProduct: p + e = a * b), and the sum of three floats p + c + e is rounded
once by Boldo and Melquiond's algorithm (two TwoSums, then the low parts added with rounding to
odd, then one rounding to nearest). Checked against a float64 reference in numpy on 6 million
operand triples (uniform, cancelling and wide-ranging ones): 0 mismatches.

These error-free transformations only work when every float op rounds as written, and both
targets fold float algebra that is only true of real numbers: IREE's VM canonicalizer rewrites
`(a + b) - a` to `b` (vmvx), and the Vulkan path does the same. So each intermediate value that
such a fold would look through passes `_opaque`, a select that maps values above the largest
float32 (+inf) to +inf: an identity no folder can prove (optimization barriers would also work
but split the dispatch, at 35x the compile time).

Operands beyond the range of the split (|a| above ~2**115) or a non-finite result fall back to
the twice-rounded `a * b + c`; float32 denormals are flushed as the targets flush them.
"""

import numpy as np

from aotc.frontend.core.emit import with_element
from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import at_location
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import tensors as values

__all__ = ["emulate_fmas", "fma_f32", "EXACT_FMA_BACKENDS"]

# IREE backends that compile a float32 multiply-add into two roundings
EXACT_FMA_BACKENDS = ("vmvx", "vulkan", "vulkan-spirv")

_SPLITTER = np.float32(4097.0)  # 2**12 + 1: Veltkamp's split of a 24-bit significand
_F32_MAX = float(np.finfo(np.float32).max)
_SHAPE_OPS = ("stablehlo.broadcast_in_dim", "stablehlo.reshape",
              "stablehlo.dynamic_broadcast_in_dim")


def emulate_fmas(module: ir.Module) -> int:
    """Replace, in place, every float32 multiply-add written as float64 (convert to f32 of an
    f64 add, used once, of an f64 multiply, used once, where all three operands are float32
    values widened) by fma_f32 of the float32 operands. Returns how many were replaced."""
    found = []

    def collect(op):
        match = _match(op.operation)
        if match is not None:
            found.append(match)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    for convert, add, multiply, operands in found:
        with ir.InsertionPoint(convert), convert.location, at_location(convert.location):
            a, b, c = (build() for build in operands)
            out = fma_f32(a, b, c)
        convert.results[0].replace_all_uses_with(out)
        widened = [_owner(v) for v in (*multiply.operands, *add.operands)
                   if v != multiply.results[0]]
        for op in (convert, add, multiply):
            op.erase()
        _erase_unused(widened)
    return len(found)


def _erase_unused(ops: list) -> None:
    """Erase the float64 widening ops (converts, broadcasts, reshapes, constants) among ops, and
    those feeding them, that have no use left."""
    while ops:
        op = ops.pop()
        if op is None or op.name not in ("stablehlo.convert", "stablehlo.constant", *_SHAPE_OPS) \
                or any(_uses(r) for r in op.results):
            continue
        ops[:] = [o for o in ops if o != op]  # no erased op is looked at again
        ops.extend(_owner(v) for v in op.operands)
        op.erase()


def _match(op: ir.Operation):
    """(convert, add, multiply, builders of the float32 a, b, c) when op is the final convert of
    a float64 fma of float32 operands; None otherwise."""
    if op.name != "stablehlo.convert" or not _is(op.results[0], ir.F32Type):
        return None
    add = _owner(op.operands[0])
    if add is None or add.name != "stablehlo.add" or not _is(add.results[0], ir.F64Type) \
            or _uses(add.results[0]) != 1:
        return None
    for product, addend in (tuple(add.operands), tuple(add.operands)[::-1]):
        multiply = _owner(product)
        if multiply is None or multiply.name != "stablehlo.multiply" or _uses(product) != 1:
            continue
        builders = [_narrowed(v) for v in (*multiply.operands, addend)]
        if all(b is not None for b in builders):
            return op, add, multiply, builders
    return None


def _narrowed(v: ir.Value):
    """A function emitting v as float32 when v is a float32 value widened to float64 (through
    broadcasts and reshapes, or a constant whose values are float32s); None otherwise."""
    op = _owner(v)
    if op is None:
        return None
    if op.name == "stablehlo.convert":
        # read when building: an earlier replacement may have replaced this operand
        return (lambda: op.operands[0]) if _is(op.operands[0], ir.F32Type) else None
    if op.name in _SHAPE_OPS:
        inner = _narrowed(op.operands[0])
        if inner is None:
            return None
        rest = list(op.operands)[1:]
        return lambda: values.clone_with(op, [inner(), *rest],
                                         [with_element(v.type, ir.F32Type.get())]).results[0]
    if op.name == "stablehlo.constant":
        array = np.asarray(ir.DenseElementsAttr(op.attributes["value"]))
        narrow = array.astype(np.float32)
        if array.dtype != np.float64 or not np.array_equal(narrow.astype(np.float64), array,
                                                           equal_nan=True):
            return None
        return lambda: _constant(narrow)
    return None


def _constant(array: np.ndarray) -> ir.Value:
    attr = ir.DenseElementsAttr.get(np.ascontiguousarray(array))
    return ir.Operation.create("stablehlo.constant", results=[attr.type],
                               attributes={"value": attr}).results[0]


def _owner(v: ir.Value) -> ir.Operation | None:
    return v.owner.operation if isinstance(v, ir.OpResult) else None


def _uses(v: ir.Value) -> int:
    return sum(1 for _ in v.uses)


def _is(v: ir.Value, element_class) -> bool:
    return isinstance(v.type, ir.RankedTensorType) and isinstance(
        ir.RankedTensorType(v.type).element_type, element_class)


def fma_f32(a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
    """a * b + c rounded once, from float32 tensors of one shape, with float32 ops that each
    round as written (see the module docstring)."""
    p, e = _two_product(a, b)
    high, low = _two_sum(c, e)
    s, t = _two_sum(p, high)
    exact = ew.add(s, _add_round_to_odd(t, low))
    plain = ew.add(ew.multiply(a, b), c)
    return ew.select(_finite(exact), exact, plain)


def _opaque(x: ir.Value) -> ir.Value:
    """x, through a select the float folders cannot see through (x > FLT_MAX ? +inf : x)."""
    above = ew.compare("GT", x, values.full_like(x, _F32_MAX))
    return ew.select(above, values.full_like(x, np.inf), x)


def _two_sum(a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """s = fl(a + b) and the exact error a + b - s (Knuth)."""
    s = _opaque(ew.add(a, b))
    bb = _opaque(ew.subtract(s, a))
    return s, ew.add(ew.subtract(a, ew.subtract(s, bb)), ew.subtract(b, bb))


def _split(a: ir.Value) -> tuple[ir.Value, ir.Value]:
    """a = high + low with 12-bit significands (Veltkamp), computed in numpy for a splat
    constant."""
    splat = _splat(a)
    if splat is not None:
        t = splat * _SPLITTER
        high = np.float32(t - np.float32(t - splat))
        return values.full_like(a, high), values.full_like(a, np.float32(splat - high))
    t = _opaque(ew.multiply(a, values.full_like(a, _SPLITTER)))
    high = ew.subtract(t, _opaque(ew.subtract(t, a)))
    return high, ew.subtract(a, high)


def _two_product(a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """p = fl(a * b) and the exact error a * b - p (Dekker). The partial products are exact,
    so contracting any of them into an fma changes nothing."""
    p = ew.multiply(a, b)
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    e = ew.subtract(ew.multiply(a_high, b_high), p)
    e = ew.add(ew.add(e, ew.multiply(a_high, b_low)), ew.multiply(a_low, b_high))
    return p, ew.add(e, ew.multiply(a_low, b_low))


def _add_round_to_odd(x: ir.Value, y: ir.Value) -> ir.Value:
    """x + y rounded to odd: the nearest float, or where that is inexact and has an even
    significand, its neighbour towards the exact sum (which then has an odd one)."""
    s, error = _two_sum(x, y)
    i32 = ir.IntegerType.get_signless(32)
    bits, error_bits = ew.bitcast_convert(s, i32), ew.bitcast_convert(error, i32)
    inexact = ew.compare("NE", _magnitude_bits(error_bits), values.full_like(bits, 0))
    even = ew.compare("EQ", ew.and_(bits, values.full_like(bits, 1)), values.full_like(bits, 0))
    same_sign = ew.compare("GE", ew.xor(bits, error_bits), values.full_like(bits, 0))
    step = ew.select(same_sign, values.full_like(bits, 1), values.full_like(bits, -1))
    bumped = ew.select(ew.and_(inexact, even), ew.add(bits, step), bits)
    return ew.bitcast_convert(bumped, ir.F32Type.get())


def _finite(x: ir.Value) -> ir.Value:
    """isfinite from the bits (vmvx folds float self-compares)."""
    bits = _magnitude_bits(ew.bitcast_convert(x, ir.IntegerType.get_signless(32)))
    return ew.compare("LT", bits, values.full_like(bits, 0x7F800000))


def _magnitude_bits(bits: ir.Value) -> ir.Value:
    return ew.and_(bits, values.full_like(bits, 0x7FFFFFFF))


def _splat(v: ir.Value) -> np.float32 | None:
    """The value of a float32 constant splat (through broadcasts), else None."""
    op = _owner(v)
    while op is not None and op.name in ("stablehlo.broadcast_in_dim", "stablehlo.reshape"):
        op = _owner(op.operands[0])
    if op is None or op.name != "stablehlo.constant":
        return None
    array = np.asarray(ir.DenseElementsAttr(op.attributes["value"]))
    if array.dtype != np.float32 or array.size == 0 or not np.all(array == array.flat[0]):
        return None
    return np.float32(array.flat[0])
