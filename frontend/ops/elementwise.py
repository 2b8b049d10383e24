"""Elementwise ops: unary math, broadcasting-free binary arithmetic, compare, select, clamp, convert.

Families (JAX's `unop`/`naryop`): one factory per shape of op; only odd rules are written by hand.
StableHLO elementwise ops need operands of one shape; `aotc.numpy` broadcasts before calling.
"""

import math

import numpy as np

from aotc.frontend.ir import ir, shape_of
from aotc.frontend.registry import defop, emit1, enum, same_shape_type, with_element

# ---- unary -------------------------------------------------------------------------------------


def _unary_family(op_name: str, reference, *, result_element=None):
    def type_rule(operand_types, attrs):
        if result_element is None:
            return [operand_types[0]]
        return [with_element(operand_types[0], result_element())]

    defop(op_name, type_rule, lambda ctx, x: reference(x))

    def build(x: ir.Value) -> ir.Value:
        return emit1(op_name, [x])

    build.__name__ = op_name.split(".")[-1]
    build.__doc__ = f"`{op_name}`"
    return build


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _round_afz(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _not(x):
    return np.logical_not(x) if x.dtype == np.bool_ else np.invert(x)


def _i1():
    return ir.IntegerType.get_signless(1)


abs = _unary_family("stablehlo.abs", np.abs)
cbrt = _unary_family("stablehlo.cbrt", np.cbrt)
ceil = _unary_family("stablehlo.ceil", np.ceil)
cosine = _unary_family("stablehlo.cosine", np.cos)
exponential = _unary_family("stablehlo.exponential", np.exp)
exponential_minus_one = _unary_family("stablehlo.exponential_minus_one", np.expm1)
floor = _unary_family("stablehlo.floor", np.floor)
is_finite = _unary_family("stablehlo.is_finite", np.isfinite, result_element=_i1)
log = _unary_family("stablehlo.log", np.log)
log_plus_one = _unary_family("stablehlo.log_plus_one", np.log1p)
logistic = _unary_family("stablehlo.logistic", _logistic)
negate = _unary_family("stablehlo.negate", np.negative)
not_ = _unary_family("stablehlo.not", _not)
round_nearest_afz = _unary_family("stablehlo.round_nearest_afz", _round_afz)
round_nearest_even = _unary_family("stablehlo.round_nearest_even", np.round)
rsqrt = _unary_family("stablehlo.rsqrt", lambda x: 1.0 / np.sqrt(x))
sign = _unary_family("stablehlo.sign", np.sign)
sine = _unary_family("stablehlo.sine", np.sin)
sqrt = _unary_family("stablehlo.sqrt", np.sqrt)
tan = _unary_family("stablehlo.tan", np.tan)
tanh = _unary_family("stablehlo.tanh", np.tanh)
# CHLO: decomposed by IREE into StableHLO with care for precision.
asin = _unary_family("chlo.asin", np.arcsin)
acos = _unary_family("chlo.acos", np.arccos)
atan = _unary_family("chlo.atan", np.arctan)
sinh = _unary_family("chlo.sinh", np.sinh)
cosh = _unary_family("chlo.cosh", np.cosh)
asinh = _unary_family("chlo.asinh", np.arcsinh)
acosh = _unary_family("chlo.acosh", np.arccosh)
atanh = _unary_family("chlo.atanh", np.arctanh)
erf = _unary_family("chlo.erf", lambda x: _erf(x))


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


# ---- binary (operands of one shape) ------------------------------------------------------------


def _binary_family(op_name: str, reference):
    defop(op_name, same_shape_type, lambda ctx, x, y: reference(x, y))

    def build(x: ir.Value, y: ir.Value) -> ir.Value:
        return emit1(op_name, [x, y])

    build.__name__ = op_name.split(".")[-1]
    build.__doc__ = f"`{op_name}`"
    return build


def _divide(x, y):
    if x.dtype.kind in "iu":  # integer division truncates toward zero
        q = np.abs(x) // np.where(y == 0, 1, np.abs(y))
        return np.where((x < 0) != (y < 0), -q, q).astype(x.dtype)
    return x / y


def _remainder(x, y):
    if x.dtype.kind in "iu":
        return np.fmod(x, np.where(y == 0, 1, y))
    return np.fmod(x, y)


def _power(x, y):
    if x.dtype.kind in "iu":
        return np.power(x, np.maximum(y, 0))
    return np.power(x, y)


def _shift_right_logical(x, y):
    unsigned = x.view(np.dtype(f"u{x.dtype.itemsize}"))
    return (unsigned >> y.astype(unsigned.dtype)).view(x.dtype)


add = _binary_family("stablehlo.add", np.add)
subtract = _binary_family("stablehlo.subtract", np.subtract)
multiply = _binary_family("stablehlo.multiply", np.multiply)
divide = _binary_family("stablehlo.divide", _divide)
remainder = _binary_family("stablehlo.remainder", _remainder)
power = _binary_family("stablehlo.power", _power)
maximum = _binary_family("stablehlo.maximum", np.maximum)
minimum = _binary_family("stablehlo.minimum", np.minimum)
atan2 = _binary_family("stablehlo.atan2", np.arctan2)
and_ = _binary_family("stablehlo.and", np.bitwise_and)
or_ = _binary_family("stablehlo.or", np.bitwise_or)
xor = _binary_family("stablehlo.xor", np.bitwise_xor)
shift_left = _binary_family("stablehlo.shift_left", np.left_shift)
shift_right_arithmetic = _binary_family("stablehlo.shift_right_arithmetic", np.right_shift)
shift_right_logical = _binary_family("stablehlo.shift_right_logical", _shift_right_logical)

# ---- compare, select, clamp, convert -----------------------------------------------------------

_COMPARE = {"EQ": np.equal, "NE": np.not_equal, "LT": np.less, "LE": np.less_equal,
            "GT": np.greater, "GE": np.greater_equal}


def _compare_type(operand_types, attrs):
    return [with_element(operand_types[0], _i1())]


defop("stablehlo.compare", _compare_type,
      lambda ctx, x, y: _COMPARE[ctx.attrs.enum("comparison_direction")](x, y))


def compare(direction: str, x: ir.Value, y: ir.Value) -> ir.Value:
    """`stablehlo.compare` with direction EQ, NE, LT, LE, GT or GE."""
    element = shape_and_element(x)[1]
    kind = "FLOAT" if isinstance(element, (ir.F32Type, ir.F16Type, ir.BF16Type, ir.F64Type)) else (
        "UNSIGNED" if str(element).startswith("ui") or str(element) == "i1" else "SIGNED")
    return emit1("stablehlo.compare", [x, y], {
        "comparison_direction": enum("comparison_direction", direction),
        "compare_type": enum("comparison_type", kind),
    })


defop("stablehlo.select", lambda types, attrs: [types[1]],
      lambda ctx, pred, on_true, on_false: np.where(pred, on_true, on_false))


def select(pred: ir.Value, on_true: ir.Value, on_false: ir.Value) -> ir.Value:
    return emit1("stablehlo.select", [pred, on_true, on_false])


defop("stablehlo.clamp", lambda types, attrs: [types[1]],
      lambda ctx, lo, x, hi: np.minimum(np.maximum(x, lo), hi))


def clamp(lo: ir.Value, x: ir.Value, hi: ir.Value) -> ir.Value:
    """`stablehlo.clamp`: lo and hi are scalars or of x's shape."""
    return emit1("stablehlo.clamp", [lo, x, hi])


def _convert_impl(ctx, x):
    target = ctx.result_dtype(0)
    if target == np.bool_:
        return x != 0
    if target.kind in "iu" and x.dtype.kind == "f":
        info = np.iinfo(target)
        x = np.clip(np.nan_to_num(np.trunc(x)), info.min, info.max)
    return x.astype(target)


def _explicit_type(types, attrs):
    raise TypeError("this op's result type must be given by its builder")


defop("stablehlo.convert", _explicit_type, _convert_impl)


def convert(x: ir.Value, element: ir.Type) -> ir.Value:
    if element == shape_and_element(x)[1]:
        return x
    return emit1("stablehlo.convert", [x], result_types=[with_element(x.type, element)])


def shape_and_element(x: ir.Value):
    return shape_of(x), ir.RankedTensorType(x.type).element_type


__all__ = [name for name, v in list(globals().items())
           if callable(v) and not name.startswith("_") and getattr(v, "__module__", "") == __name__]
