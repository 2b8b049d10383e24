"""Constant folding before IREE: ops whose operands are all constants become constants.

aotc's programs compute many small values from constants only: broadcasts of scalar
constants, index arithmetic, the integer ranges and bit masks of aotc.random, the clamped
indices of the bounds pass. IREE 3.13 folds few of them (a `select` on a broadcast `false`, an
integer division of two splats): it hoists each such expression into a global initializer and
then, with const-eval on (its default), compiles every initializer a second time for the host
to run it at compile time (JitGlobalsPass). Measured on the random table of
tests/targets/test_random_targets.py for cpu (63,646 ops, 20,729 of them fed only by
constants, 184 hoisted initializers): JitGlobalsPass was 36% of iree-compile's wall time.
XLA folds such expressions itself (its HloConstantFolding); this pass does the same before
IREE, with the numpy rules of aotc's interpreter.

Only ops whose value does not depend on how a backend rounds are folded:
- data movement and selection, of any element type (broadcast, reshape, transpose, slice,
  concatenate, reverse, pad, select, compare, bitcast_convert);
- integer and boolean arithmetic (wrapping, as every backend computes it), except divisions by
  zero and shifts by the width or more, which backends define differently;
- float32 add, subtract, multiply, divide (IEEE-rounded, one op at a time: IREE's backends
  would contract a*b+c into one fma only within one dispatch, and XLA's folder rounds each op
  too), negate, abs, and float conversions between float types other than
  float64 (IREE demotes float64 to float32, so float64 arithmetic is left to it), integer to
  float conversions;
and only where the folded value is one repeated value (a splat), which IREE materializes as a
fill wherever it is used. Array constants are never made: IREE keeps them in a global resource,
and with them IREE 3.13 miscompiled or failed on programs that compiled before: the GP model
(models/gp_regression.py) gave NaN on aarch64, a sort of an iota sorted the constant in place
("write affecting operations on global resources are restricted to workgroup distributed
contexts"), and multinomial's loop reading an array by its counter failed to form stream
regions. Folding splats only keeps most of the gain: the random table above compiles in 40 s
of one-thread CPU (52 s unfolded, 38 s with array constants too).

Example:
    >>> folded = fold_constants(module)     # an ir.Module of StableHLO, rewritten in place
"""

import math

import numpy as np

from aotc.frontend.core.ir import ir
from aotc.passes.interpreter import Interpreter

_CONSTANT = "stablehlo.constant"
# Values larger than this are not evaluated at all.
LARGEST = 1 << 16
# No arithmetic: the result's entries are operands' entries (or comparisons of them).
MOVES = frozenset(f"stablehlo.{name}" for name in (
    "broadcast_in_dim", "reshape", "transpose", "slice", "concatenate", "reverse", "pad",
    "select", "compare", "bitcast_convert", "iota"))
# Exact on integers and booleans (two's complement, wrapping).
INTEGER_OPS = frozenset(f"stablehlo.{name}" for name in (
    "add", "subtract", "multiply", "divide", "remainder", "and", "or", "xor", "not",
    "shift_left", "shift_right_logical", "shift_right_arithmetic", "minimum", "maximum",
    "negate", "abs", "clamp", "popcnt", "convert", "sign"))
# Correctly rounded float32 ops (the result is the same on every IEEE backend).
FLOAT32_OPS = frozenset(f"stablehlo.{name}" for name in (
    "add", "subtract", "multiply", "divide", "negate", "abs", "convert"))
# Moves whose result from a splat is the same splat.
_SPLAT_MOVES = frozenset({"stablehlo.broadcast_in_dim", "stablehlo.reshape"})
# Integer ops with operands where backends disagree with numpy (and with each other): a
# division by zero or of the smallest integer by -1, a shift by the width or more.
_DIVISIONS = frozenset({"stablehlo.divide", "stablehlo.remainder"})
_SHIFTS = frozenset({"stablehlo.shift_left", "stablehlo.shift_right_logical",
                     "stablehlo.shift_right_arithmetic"})


def fold_constants(module: ir.Module) -> int:
    """Replace module's foldable ops whose operands are constants and whose value is a splat
    by splat constants, in place; the number of ops folded. Constants left without uses are
    erased."""
    ops = []
    module.operation.walk(lambda op: ops.append(op.operation) or ir.WalkResult.ADVANCE)
    interpreter = Interpreter(module, float64=False)
    folded = 0
    for op in ops:
        if (op.name == _CONSTANT or not op.name.startswith("stablehlo.") or len(op.results) != 1
                or op.regions or not _all_tensors(op)):
            continue
        if not all(_is_constant(v) for v in op.operands):
            continue
        replacement = _splat_moved(op)
        if replacement is None:
            replacement = _folded(interpreter, op)
        if replacement is None:
            continue
        op.results[0].replace_all_uses_with(replacement)
        operands = {v.owner.operation for v in op.operands}
        op.erase()
        for owner in operands:
            if not list(owner.results[0].uses):
                owner.erase()
        folded += 1
    return folded


def _all_tensors(op: ir.Operation) -> bool:
    """Whether op's operands and result are ranked tensors of static shape (other programs'
    ops, such as the index values of parameter loads, are left alone)."""
    for value in (*op.operands, op.results[0]):
        if not isinstance(value.type, ir.RankedTensorType) or \
                not ir.RankedTensorType(value.type).has_static_shape:
            return False
    return True


def _is_constant(value: ir.Value) -> bool:
    return isinstance(value, ir.OpResult) and value.owner.name == _CONSTANT


def _element(value: ir.Value) -> ir.Type:
    return ir.RankedTensorType(value.type).element_type


def _size(value: ir.Value) -> int:
    return math.prod(ir.RankedTensorType(value.type).shape)


def _splat_moved(op: ir.Operation) -> ir.Value | None:
    """The constant a broadcast or reshape of a splat constant is (the same entry in op's
    result type, built without reading the entry), else None."""
    if op.name not in _SPLAT_MOVES:
        return None
    attr = ir.DenseElementsAttr(op.operands[0].owner.attributes["value"])
    if not attr.is_splat:
        return None
    return _splat_constant(op, attr.get_splat_value())


def _folded(interpreter: Interpreter, op: ir.Operation) -> ir.Value | None:
    """The constant op's value is, where it may be folded (see the module docstring)."""
    if not _foldable(op):
        return None
    value = _evaluate(interpreter, op)
    if value is None or not _defined(op, value):
        return None
    return _splat_like(op, value[1])


def _foldable(op: ir.Operation) -> bool:
    """Whether op's folded value is the same as any backend's (see the module docstring)."""
    result = op.results[0]
    if _size(result) > LARGEST or any(_size(v) > LARGEST for v in op.operands):
        return False
    elements = [_element(v) for v in (*op.operands, result)]
    if any(isinstance(e, ir.ComplexType) or isinstance(e, ir.BF16Type) for e in elements):
        return False  # the bindings read neither back from a constant
    if op.name == "stablehlo.compare" and "compare_type" in op.attributes \
            and "TOTALORDER" in str(op.attributes["compare_type"]):
        return False  # the interpreter compares as IEEE does
    if op.name in MOVES:
        return True
    if all(isinstance(e, ir.IntegerType) for e in elements):
        return op.name in INTEGER_OPS
    if op.name == "stablehlo.convert":
        source, target = elements
        return (isinstance(target, ir.FloatType) and not isinstance(target, ir.F64Type)
                and (isinstance(source, ir.IntegerType) or not isinstance(source, ir.F64Type)))
    return op.name in FLOAT32_OPS and all(isinstance(e, ir.F32Type) for e in elements)


def _defined(op: ir.Operation, value: tuple) -> bool:
    """Whether every backend computes op on these operand values as numpy does."""
    operands, _ = value
    if op.name in _DIVISIONS and operands[0].dtype.kind in "iu":
        x, y = operands
        smallest = np.iinfo(x.dtype).min
        return bool(np.all(y != 0) and not np.any((x == smallest) & (y == -1)))
    if op.name in _SHIFTS:
        width = operands[0].dtype.itemsize * 8
        return bool(np.all((operands[1] >= 0) & (operands[1] < width)))
    return True


def _evaluate(interpreter: Interpreter, op: ir.Operation) -> tuple | None:
    """(operand values, op's value) from its operands' constant values, by the interpreter's
    rules; None where a value cannot be read."""
    try:
        operands = []
        for value in op.operands:
            operands.append(interpreter.visit(value.owner)[0])
            interpreter.env[value] = operands[-1]
        (result,) = interpreter.visit(op)
        result = np.asarray(result).astype(interpreter.dtype_of(op.results[0].type))
    except Exception:  # noqa: BLE001 (a rule that cannot evaluate this op: leave it to IREE)
        return None
    finally:
        interpreter.env.clear()
    return operands, result


def _splat_like(op: ir.Operation, value: np.ndarray) -> ir.Value | None:
    """A splat stablehlo.constant of op's result type holding value, before op; None when
    value's entries differ (bit for bit: -0.0 is not 0.0)."""
    flat = np.ascontiguousarray(value).reshape(-1)
    bits = flat.view(f"u{flat.dtype.itemsize}")
    if flat.size == 0 or not np.all(bits == bits[0]):
        return None
    return _splat_constant(op, flat[0].item())


def _splat_constant(op: ir.Operation, entry) -> ir.Value:
    """A stablehlo.constant of op's result type with every entry `entry` (an attribute, or a
    Python number of the element type), before op and at its location."""
    t = ir.RankedTensorType(op.results[0].type)
    with ir.InsertionPoint(op), op.location:
        if not isinstance(entry, ir.Attribute):
            entry = (ir.FloatAttr.get(t.element_type, float(entry))
                     if isinstance(t.element_type, ir.FloatType)
                     else ir.IntegerAttr.get(t.element_type, int(entry)))
        value = ir.DenseElementsAttr.get_splat(t, entry)
        return ir.Operation.create(_CONSTANT, results=[t], attributes={"value": value}).result
