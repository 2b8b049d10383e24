"""Float ops that IREE 3.13's vmvx backend (the portable interpreter) computes wrongly or cannot
compile, rewritten before IREE sees them. `aotc.tools.compile` runs `legalize_for_vmvx` on every
vmvx program (after `complex_pairs.split_complex` has turned complex values into float pairs);
other targets' programs are not touched.

- NaN in float comparisons. vmvx folds a compare of a value with itself as if NaN did not exist
  (`x != x` is false and `x == x`, `x <= x`, `x >= x` are true for NaN, so isnan, nan_to_num,
  nanmax, ... are silently wrong), and computes `x >= y` as "not less than", true when either
  is NaN, whatever the operands. So every FLOAT compare EQ, LE, GE becomes the same compare
  and-ed with "neither operand is NaN", and NE the compare or-ed with "either is NaN", where
  isnan(x) = (bits(x) & 0x7fffffff) > 0x7f800000 on the float32 bits (integer compares are
  right on vmvx). LT and GT are right there (false for NaN) and stay, as do TOTALORDER compares.
- `stablehlo.is_finite`, true for NaN on vmvx: (bits(x) & 0x7fffffff) < 0x7f800000.
- Float `stablehlo.atan2` and `stablehlo.sign` (aotc.lax.atan2, anp.arctan2, anp.sign, anp.angle):
  IREE expands them with math.copysign, which vmvx fails to compile ("failed to legalize
  operation 'math.copysign'"); see complex_pairs.replace_copysign_users.

vmvx computes float64 programs in float32 (IREE demotes them), so bits are read after a convert
to float32; float16 and bfloat16 convert exactly.
"""

from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import at_location
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.complex_pairs import replace_copysign_users

__all__ = ["legalize_for_vmvx", "NEEDS_VMVX_LEGALIZATION"]

# op names in a program's text that legalize_for_vmvx may rewrite (a program without them is
# left as it is, unparsed)
NEEDS_VMVX_LEGALIZATION = ("stablehlo.compare", "stablehlo.is_finite", "stablehlo.atan2",
                           "stablehlo.sign")

_ABS_MASK = 0x7FFFFFFF  # float32 bits without the sign
_INF_BITS = 0x7F800000  # float32 +inf; larger magnitudes are NaN
_NAN_MASKED = ("EQ", "NE", "LE", "GE")  # the directions vmvx gets wrong for NaN


def legalize_for_vmvx(module: ir.Module) -> ir.Module:
    """Rewrite module in place without the float ops vmvx gets wrong or cannot compile (see the
    module docstring); returns module."""
    replace_copysign_users(module)
    found = []

    def collect(op):
        op = op.operation
        if _is_nan_unsafe(op):
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    for op in found:
        with ir.InsertionPoint(op), op.location, at_location(op.location):
            new = _nan_correct(op)
        op.results[0].replace_all_uses_with(new)
        op.erase()
    return module


def _is_nan_unsafe(op: ir.Operation) -> bool:
    """Whether op is a float is_finite, or a float FLOAT compare with a direction in
    _NAN_MASKED."""
    if op.name not in ("stablehlo.compare", "stablehlo.is_finite"):
        return False
    if not isinstance(values.element(op.operands[0]), ir.FloatType):
        return False
    if op.name == "stablehlo.is_finite":
        return True
    kind = str(op.attributes["compare_type"]) if "compare_type" in op.attributes else "FLOAT"
    return "TOTALORDER" not in kind and _direction(op) in _NAN_MASKED


def _direction(op: ir.Operation) -> str:
    """A compare's direction: 'EQ' from `#stablehlo<comparison_direction EQ>`."""
    return str(op.attributes["comparison_direction"]).rstrip(">").split()[-1]


def _nan_correct(op: ir.Operation) -> ir.Value:
    """The value of op (see _is_nan_unsafe) with NaN read from the operands' bits."""
    if op.name == "stablehlo.is_finite":
        return _magnitude_bits_compare("LT", op.operands[0])
    x, y = op.operands
    direction = _direction(op)
    nan = _isnan(x) if x == y else ew.or_(_isnan(x), _isnan(y))
    compared = ew.compare(direction, x, y)
    if direction == "NE":
        return ew.or_(compared, nan)
    return ew.and_(compared, ew.not_(nan))


def _isnan(x: ir.Value) -> ir.Value:
    return _magnitude_bits_compare("GT", x)


def _magnitude_bits_compare(direction: str, x: ir.Value) -> ir.Value:
    """(float32 bits of x without the sign) `direction` (the bits of +inf), as int32 compares:
    GT is isnan, LT is isfinite."""
    f32 = ir.F32Type.get()
    if values.element(x) != f32:
        x = ew.convert(x, f32)
    bits = ew.and_(ew.bitcast_convert(x, ir.IntegerType.get_signless(32)),
                   values.full_like(x, _ABS_MASK, ir.IntegerType.get_signless(32)))
    return ew.compare(direction, bits, values.full_like(bits, _INF_BITS))
