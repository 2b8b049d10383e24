"""Elementwise ops: unary math, binary arithmetic (same shapes), compare, select, clamp, convert.

Families (JAX's `unop`/`naryop`): one factory per shape of op. A stanza gives the factory the
op's numpy reference and its derivative (`derivative=` f'(x), or a whole `jvp=` rule) or, for a
linear op, its transpose (`linear=`, `bilinear=`, `transpose=`); the factory adds the batching
rule and the "same_shape" trait, so each op is one stanza. Only odd rules are written by hand.
StableHLO elementwise ops need operands of one shape; `aotc.numpy` broadcasts before calling.
"""

import math

import numpy as np

from aotc.frontend.core.emit import emit1, enum, same_shape_type, with_element
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.registry import defop, deftrait, defzero, register, zero_jvp
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import complex as cx
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.rules import defbilinear, defelementwise_shard, deflinear, defvectorized

_UNARY_OPS: list[str] = []
_BINARY_OPS: list[str] = []


def _rules(op_name: str, *, jvp=None, transpose=None, linear=None, bilinear=None) -> None:
    """The rules a family stanza names: a JVP (`jvp`), or linear (`linear`: the transpose rule)
    or bilinear (`bilinear`: the two transposes) structure; `transpose` for an op linear in some
    operands only. Every elementwise op batches lane by lane and keeps its operands' shape."""
    if linear is not None:
        deflinear(op_name, linear)
    elif bilinear is not None:
        defbilinear(op_name, *bilinear)
    elif jvp is not None:
        register("jvp", op_name, jvp)
    else:
        raise TypeError(f"{op_name}: a family stanza needs derivative=, jvp=, linear= or "
                        "bilinear=")
    if transpose is not None:
        register("transpose", op_name, transpose)
    defvectorized(op_name)
    deftrait("same_shape", op_name)


# ---- unary -------------------------------------------------------------------------------------


def _unary_family(op_name: str, reference, *, derivative=None, jvp=None, linear=None,
                  result_element=None):
    """A unary op. derivative(x, y) builds f'(x) from x and y = f(x); the JVP is x_dot * f'(x)."""
    _UNARY_OPS.append(op_name)

    def type_rule(operand_types, attrs):
        if result_element is None:
            return [operand_types[0]]
        element = ir.RankedTensorType(operand_types[0]).element_type
        return [with_element(operand_types[0], result_element(element))]

    defop(op_name, type_rule, lambda ctx, x: reference(x))
    _rules(op_name, jvp=jvp if derivative is None else _unary_jvp(derivative), linear=linear)

    def build(x: ir.Value) -> ir.Value:
        return emit1(op_name, [x])

    build.__name__ = op_name.split(".")[-1]
    build.__doc__ = f"`{op_name}`"
    return build


def _unary_jvp(derivative):
    def jvp(ctx, primals, tangents):
        (x,), (x_dot,) = primals, tangents
        return [multiply(x_dot, derivative(x, ctx.results[0]))]

    return jvp


def _c(value, like):
    return values.full_like(like, value)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _round_afz(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _not(x):
    return np.logical_not(x) if x.dtype == np.bool_ else np.invert(x)


def _i1(element=None):
    return ir.IntegerType.get_signless(1)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _erfc(x):
    return np.vectorize(math.erfc, otypes=[np.float64])(x).astype(x.dtype)


def _negate_transpose(ctx, cts, operands):
    return [negate(cts[0])]


_ERF_SCALE = 2 / math.sqrt(math.pi)

def _abs_jvp(ctx, primals, tangents):
    (x,), (x_dot,) = primals, tangents
    if cx.is_complex_type(x):
        return [cx.abs_jvp(x, x_dot, ctx.results[0])]
    # JAX: d|x|/dx is 1 at 0 (select(x >= 0, 1, -1)), not sign(x)
    return [multiply(x_dot, select(compare("GE", x, _c(0, x)), _c(1, x), _c(-1, x)))]


abs = _unary_family("stablehlo.abs", np.abs, jvp=_abs_jvp, result_element=cx.part_element)
cbrt = _unary_family("stablehlo.cbrt", np.cbrt,
                     derivative=lambda x, y: divide(_c(1 / 3, y), multiply(y, y)))
ceil = _unary_family("stablehlo.ceil", np.ceil, jvp=zero_jvp)
cosine = _unary_family("stablehlo.cosine", np.cos, derivative=lambda x, y: negate(sine(x)))
exponential = _unary_family("stablehlo.exponential", np.exp, derivative=lambda x, y: y)
exponential_minus_one = _unary_family("stablehlo.exponential_minus_one", np.expm1,
                                      derivative=lambda x, y: add(y, _c(1, y)))
floor = _unary_family("stablehlo.floor", np.floor, jvp=zero_jvp)
is_finite = _unary_family("stablehlo.is_finite", np.isfinite, jvp=zero_jvp, result_element=_i1)
log = _unary_family("stablehlo.log", np.log, derivative=lambda x, y: divide(_c(1, x), x))
log_plus_one = _unary_family("stablehlo.log_plus_one", np.log1p,
                             derivative=lambda x, y: divide(_c(1, x), add(x, _c(1, x))))
logistic = _unary_family("stablehlo.logistic", _logistic,
                         derivative=lambda x, y: multiply(y, subtract(_c(1, y), y)))
negate = _unary_family("stablehlo.negate", np.negative, linear=_negate_transpose)
not_ = _unary_family("stablehlo.not", _not, jvp=zero_jvp)
round_nearest_afz = _unary_family("stablehlo.round_nearest_afz", _round_afz, jvp=zero_jvp)
round_nearest_even = _unary_family("stablehlo.round_nearest_even", np.round, jvp=zero_jvp)
rsqrt = _unary_family("stablehlo.rsqrt", lambda x: 1.0 / np.sqrt(x), derivative=lambda x, y:
                      multiply(_c(-0.5, y), multiply(y, multiply(y, y))))
sign = _unary_family("stablehlo.sign", np.sign, jvp=zero_jvp)
sine = _unary_family("stablehlo.sine", np.sin, derivative=lambda x, y: cosine(x))
sqrt = _unary_family("stablehlo.sqrt", np.sqrt, derivative=lambda x, y: divide(_c(0.5, y), y))
tan = _unary_family("stablehlo.tan", np.tan,
                    derivative=lambda x, y: add(_c(1, y), multiply(y, y)))
tanh = _unary_family("stablehlo.tanh", np.tanh,
                     derivative=lambda x, y: subtract(_c(1, y), multiply(y, y)))
# CHLO: decomposed by IREE into StableHLO with care for precision.
asin = _unary_family("chlo.asin", np.arcsin,
                     derivative=lambda x, y: rsqrt(subtract(_c(1, x), multiply(x, x))))
acos = _unary_family("chlo.acos", np.arccos,
                     derivative=lambda x, y: negate(rsqrt(subtract(_c(1, x), multiply(x, x)))))
atan = _unary_family("chlo.atan", np.arctan,
                     derivative=lambda x, y: divide(_c(1, x), add(_c(1, x), multiply(x, x))))
sinh = _unary_family("chlo.sinh", np.sinh, derivative=lambda x, y: cosh(x))
cosh = _unary_family("chlo.cosh", np.cosh, derivative=lambda x, y: sinh(x))
asinh = _unary_family("chlo.asinh", np.arcsinh,
                      derivative=lambda x, y: rsqrt(add(multiply(x, x), _c(1, x))))
acosh = _unary_family("chlo.acosh", np.arccosh,
                      derivative=lambda x, y: rsqrt(subtract(multiply(x, x), _c(1, x))))
atanh = _unary_family("chlo.atanh", np.arctanh,
                      derivative=lambda x, y: divide(_c(1, x), subtract(_c(1, x), multiply(x, x))))
# JAX exports these two (gelu, var)
erf = _unary_family("chlo.erf", lambda x: _erf(x), derivative=lambda x, y: multiply(
    _c(_ERF_SCALE, x), exponential(negate(multiply(x, x)))))
erfc = _unary_family("chlo.erfc", lambda x: _erfc(x), derivative=lambda x, y: multiply(
    _c(-_ERF_SCALE, x), exponential(negate(multiply(x, x)))))
square = _unary_family("chlo.square", np.square, derivative=lambda x, y: multiply(_c(2, x), x))


def _as_unsigned(x):
    return x.view(np.dtype(f"u{x.dtype.itemsize}"))


def _count_leading_zeros(x):
    bits = 8 * x.dtype.itemsize
    lengths = np.vectorize(lambda v: int(v).bit_length(), otypes=[np.int64])(_as_unsigned(x))
    return (bits - lengths).astype(x.dtype)


popcnt = _unary_family("stablehlo.popcnt",
                       lambda x: np.bitwise_count(_as_unsigned(x)).astype(x.dtype), jvp=zero_jvp)
count_leading_zeros = _unary_family("stablehlo.count_leading_zeros", _count_leading_zeros,
                                    jvp=zero_jvp)


def _is_pole(x):
    return (x <= 0) & (x == np.floor(x))


def _lgamma(x):
    pole = _is_pole(x)
    out = np.vectorize(math.lgamma, otypes=[np.float64])(np.where(pole, 1.0, x))
    return np.where(pole, np.inf, out).astype(x.dtype)


def _digamma(x):
    # Reflection below 1/2, the recurrence psi(y) = psi(y + 1) - 1/y up to y >= 6, then the
    # asymptotic series.
    x64 = x.astype(np.float64)
    reflect = x64 < 0.5
    y, acc = np.where(reflect, 1 - x64, x64), np.zeros_like(x64)
    for _ in range(6):
        small = y < 6
        acc -= np.where(small, 1 / y, 0)
        y = np.where(small, y + 1, y)
    inv2 = 1 / (y * y)
    out = acc + np.log(y) - 0.5 / y - inv2 * (
        1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    with np.errstate(all="ignore"):
        out = np.where(reflect, out - np.pi / np.tan(np.pi * x64), out)
    return np.where(_is_pole(x64), np.nan, out).astype(x.dtype)


def _erf_inv(x):
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        log_term = np.log1p(-x64 * x64)
        t = 2 / (np.pi * 0.147) + log_term / 2
        y = np.sign(x64) * np.sqrt(np.sqrt(t * t - log_term / 0.147) - t)
        for _ in range(3):  # Newton steps on erf(y) = x
            erf_y = np.vectorize(math.erf, otypes=[np.float64])(np.nan_to_num(y))
            y = y - (erf_y - x64) / (_ERF_SCALE * np.exp(-y * y))
        y = np.where(np.abs(x64) == 1, np.sign(x64) * np.inf, y)
    return np.where(np.abs(x64) > 1, np.nan, y).astype(x.dtype)


lgamma = _unary_family("chlo.lgamma", _lgamma, derivative=lambda x, y: digamma(x))
digamma = _unary_family("chlo.digamma", _digamma,
                        derivative=lambda x, y: polygamma(_c(1, x), x))
erf_inv = _unary_family("chlo.erf_inv", _erf_inv, derivative=lambda x, y: multiply(
    _c(math.sqrt(math.pi) / 2, y), exponential(multiply(y, y))))


# ---- binary (operands of one shape) ------------------------------------------------------------


def _binary_family(op_name: str, reference, *, jvp=None, transpose=None, linear=None,
                   bilinear=None):
    _BINARY_OPS.append(op_name)
    defop(op_name, same_shape_type, lambda ctx, x, y: reference(x, y))
    _rules(op_name, jvp=jvp, transpose=transpose, linear=linear, bilinear=bilinear)

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


def _i1_wraps(ufunc):
    """add/subtract on i1 wrap modulo 2 (xor) in StableHLO; numpy's bool add is `or`."""
    return lambda x, y: np.logical_xor(x, y) if x.dtype == np.bool_ else ufunc(x, y)


# Rules of the binary ops. A transpose sees ctx.linear[i] (which operands are linear) and one
# cotangent per result; it returns None for an operand that is not linear.


def _add_transpose(ctx, cts, operands):
    return [cts[0], cts[0]]


def _subtract_transpose(ctx, cts, operands):
    return [cts[0], negate(cts[0])]


def _divide_jvp(ctx, primals, tangents):
    (_, y), (x_dot, y_dot) = primals, tangents
    out = ctx.results[0]
    t = x_dot if values.is_zero(y_dot) else subtract(values.instantiate(x_dot),
                                                      multiply(y_dot, out))
    return [divide(t, y)]


def _divide_transpose(ctx, cts, operands):
    if ctx.linear[1]:
        raise TracingError("division by a tangent is not linear")
    return [divide(cts[0], operands[1]), None]


def _remainder_jvp(ctx, primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    if values.is_zero(y_dot):
        return [x_dot]
    quotient = divide(subtract(x, ctx.results[0]), y)  # x/y rounded toward zero
    return [values.add_any(x_dot, negate(multiply(y_dot, quotient)))]


def _power_jvp(ctx, primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    out = ctx.results[0]
    total = values.Zero.of(out)
    if not values.is_zero(x_dot):  # y * x^(y-1), written to stay finite at x = 0
        total = multiply(x_dot, multiply(y, power(x, subtract(y, _c(1, y)))))
    if not values.is_zero(y_dot):  # log(x) * x^y, with 0 where x == 0
        at_zero = compare("EQ", x, _c(0, x))
        safe_log = log(select(at_zero, _c(1, x), x))
        total = values.add_any(total, multiply(y_dot, multiply(out, safe_log)))
    return [total]


def _balanced_eq(a, out, b):
    """1 where a == out (0.5 when b ties too), else 0: JAX's choice for max/min at ties."""
    one, half, zero = _c(1, out), _c(0.5, out), _c(0, out)
    return select(compare("EQ", a, out), select(compare("EQ", b, out), half, one), zero)


def _minmax_jvp(ctx, primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    out = ctx.results[0]
    return [values.add_any(x_dot and multiply(x_dot, _balanced_eq(x, out, y)),
                           y_dot and multiply(y_dot, _balanced_eq(y, out, x)))]


def _atan2_jvp(ctx, primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    denom = add(multiply(x, x), multiply(y, y))
    return [values.add_any(x_dot and multiply(x_dot, divide(y, denom)),
                           y_dot and negate(multiply(y_dot, divide(x, denom))))]


add = _binary_family("stablehlo.add", _i1_wraps(np.add), linear=_add_transpose)
subtract = _binary_family("stablehlo.subtract", _i1_wraps(np.subtract),
                          linear=_subtract_transpose)
multiply = _binary_family("stablehlo.multiply", np.multiply, bilinear=(
    lambda ctx, ct, y: multiply(ct, y), lambda ctx, ct, x: multiply(x, ct)))
divide = _binary_family("stablehlo.divide", _divide, jvp=_divide_jvp, transpose=_divide_transpose)
remainder = _binary_family("stablehlo.remainder", _remainder, jvp=_remainder_jvp)
power = _binary_family("stablehlo.power", _power, jvp=_power_jvp)
maximum = _binary_family("stablehlo.maximum", np.maximum, jvp=_minmax_jvp)
minimum = _binary_family("stablehlo.minimum", np.minimum, jvp=_minmax_jvp)
atan2 = _binary_family("stablehlo.atan2", np.arctan2, jvp=_atan2_jvp)
and_ = _binary_family("stablehlo.and", np.bitwise_and, jvp=zero_jvp)
or_ = _binary_family("stablehlo.or", np.bitwise_or, jvp=zero_jvp)
xor = _binary_family("stablehlo.xor", np.bitwise_xor, jvp=zero_jvp)
shift_left = _binary_family("stablehlo.shift_left", np.left_shift, jvp=zero_jvp)
shift_right_arithmetic = _binary_family("stablehlo.shift_right_arithmetic", np.right_shift,
                                        jvp=zero_jvp)
shift_right_logical = _binary_family("stablehlo.shift_right_logical", _shift_right_logical,
                                     jvp=zero_jvp)


def _zeta(s, q):
    # Hurwitz zeta by Euler-Maclaurin summation: nine terms, then Bernoulli corrections.
    s64, q64 = s.astype(np.float64), q.astype(np.float64)
    with np.errstate(all="ignore"):
        total = sum((q64 + k) ** -s64 for k in range(9))
        a = q64 + 9
        total += a ** (1 - s64) / (s64 - 1) + 0.5 * a ** -s64
        rising, power, factorial = s64, a ** (-s64 - 1), 2.0
        for j, b in enumerate((1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6), 1):
            total += b / factorial * rising * power
            rising = rising * (s64 + 2 * j - 1) * (s64 + 2 * j)
            power, factorial = power / (a * a), factorial * (2 * j + 1) * (2 * j + 2)
    total = np.where(s64 == 1, np.inf, np.where((s64 < 1) | (q64 <= 0), np.nan, total))
    return total.astype(s.dtype)


def _polygamma(n, x):
    sign_factorial = np.vectorize(lambda k: (-1) ** (int(k) + 1) * math.factorial(int(k)),
                                  otypes=[np.float64])(np.maximum(n, 1))
    out = sign_factorial * _zeta(n.astype(np.float64) + 1, x.astype(np.float64))
    out = np.where(n == 0, _digamma(x).astype(np.float64), out)
    return np.where((n < 0) | (n != np.floor(n)), np.nan, out).astype(x.dtype)


def _not_in_first(name):
    def check(first_dot):
        if not values.is_zero(first_dot):
            raise TracingError(f"{name} is not differentiable in its first operand")

    return check


def _polygamma_jvp(ctx, primals, tangents):
    (n, x), (n_dot, x_dot) = primals, tangents
    _not_in_first("polygamma")(n_dot)
    if values.is_zero(x_dot):
        return [values.Zero.of(ctx.results[0])]
    return [multiply(x_dot, polygamma(add(n, _c(1, n)), x))]


polygamma = _binary_family("chlo.polygamma", _polygamma, jvp=_polygamma_jvp)
# chlo.zeta (whose numpy reference is _zeta above) is defined in special.py, with its JVP.

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
    if isinstance(element, ir.ComplexType) and direction not in ("EQ", "NE"):
        raise TracingError(f"{caller_site()}: complex numbers have no order: compare "
                           f"{direction} takes real operands (compare real and imaginary parts)")
    kind = "FLOAT" if isinstance(element, (ir.F32Type, ir.F16Type, ir.BF16Type, ir.F64Type,
                                           ir.ComplexType)) else (
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
    if x.dtype.kind == "c" and target.kind != "c":  # StableHLO: the real part
        x = x.real
    if target == np.bool_:
        return x != 0
    if target.kind in "iu" and x.dtype.kind in "fV":  # saturating, NaN to 0 (as XLA);
        # "V": ml_dtypes' bfloat16 and float8
        info = np.iinfo(target)
        wide = np.nan_to_num(np.trunc(x.astype(np.float64)))
        with np.errstate(invalid="ignore"):
            inside = np.clip(wide, info.min, info.max).astype(target)
        return np.where(wide >= info.max, np.asarray(info.max, target), inside)
    return x.astype(target)


def _explicit_type(types, attrs):
    raise TypeError("this op's result type must be given by its builder")


defop("stablehlo.convert", _explicit_type, _convert_impl)


def convert(x: ir.Value, element: ir.Type) -> ir.Value:
    if element == shape_and_element(x)[1]:
        return x
    return emit1("stablehlo.convert", [x], result_types=[with_element(x.type, element)])


def _integer_dtype(t: ir.IntegerType) -> np.dtype:
    return np.dtype(f"{'u' if t.is_unsigned else 'i'}{t.width // 8}")


def _saturating_bounds(src: ir.Type, dst: ir.IntegerType) -> tuple[float, float]:
    """The floats of type `src` (f32 or f64) that clamp a value into integer type `dst`:
    its minimum (a power of two, exact) and the largest float not above its maximum (above
    it, the result is the maximum itself)."""
    info = np.iinfo(_integer_dtype(dst))
    kind = np.float64 if isinstance(src, ir.F64Type) else np.float32
    high = kind(info.max)
    if int(high) > info.max:
        high = np.nextafter(high, kind(-np.inf))
    return kind(info.min), high


def _convert_bounds(ctx, operands):
    """A float-to-integer convert saturates, as XLA's does (and the interpreter's): NaN is 0,
    values beyond the integer range are its min or max. IREE lowers the convert to LLVM's
    fptosi/fptoui, whose result for NaN, infinities and out-of-range values is poison: any
    integer, and one that survives the clamp of a gather's start index (LLVM may fold a min/max
    of poison), so `table[int(nan)]` read memory the program does not own. Clamping first makes
    every conversion defined."""
    (x,) = operands
    source, target = values.element(x), values.element(ctx.result_types[0])
    floats = (ir.F16Type, ir.BF16Type, ir.F32Type, ir.F64Type)
    if not (isinstance(source, floats) and isinstance(target, ir.IntegerType)
            and target.width in (8, 16, 32, 64)):
        return None
    if not isinstance(source, (ir.F32Type, ir.F64Type)):  # f16, bf16: exact in f32
        x = convert(x, ir.F32Type.get())
    low, high = _saturating_bounds(values.element(x), target)
    element = values.element(x)
    high_value = values.scalar(high, element)
    clamped = clamp(values.scalar(low, element), x, high_value)
    finite = select(compare("NE", x, x), values.zeros_like(clamped), clamped)
    (converted,) = values.clone_with(ctx.op, [finite], ctx.result_types).results
    top = values.full_like(converted, int(np.iinfo(_integer_dtype(target)).max))
    above = compare("GT", x, values.broadcast_scalar(high_value, x))
    return [select(above, top, converted)]


register("bounds", "stablehlo.convert", _convert_bounds)


# Same-width reinterpretation only, so the shape is kept and the op is elementwise.
defop("stablehlo.bitcast_convert", _explicit_type,
      lambda ctx, x: x.view(ctx.result_dtype(0)).reshape(x.shape))
defzero("stablehlo.bitcast_convert")
defvectorized("stablehlo.bitcast_convert")
deftrait("same_shape", "stablehlo.bitcast_convert")
register("dims", "stablehlo.bitcast_convert", lambda ctx: [ctx.info(ctx.same_shape(), None)])


def bitcast_convert(x: ir.Value, element: ir.Type) -> ir.Value:
    """`stablehlo.bitcast_convert` to an element type of the same bit width."""
    return emit1("stablehlo.bitcast_convert", [x], result_types=[with_element(x.type, element)])


def shape_and_element(x: ir.Value):
    return shape_of(x), ir.RankedTensorType(x.type).element_type


# ---- decompositions into the core ops above: their JVP, transpose and batching rules follow ----


def logaddexp(x: ir.Value, y: ir.Value) -> ir.Value:
    """log(exp(x) + exp(y)) of float operands of one shape, without overflow (numpy.logaddexp).

    Two smooth branches picked by a select: x + log1p(exp(y - x)) where x >= y, else
    y + log1p(exp(x - y)); each exponent is <= 0 where its branch is used and 0 where it is not,
    so nothing overflows and reverse mode never meets 0 * inf. The branches agree at a tie in
    value and in every derivative, so derivatives of all orders are the smooth function's
    (exp(x - out), 1/2 each at a tie; 1/4 for the second). Where x - y is NaN (a NaN operand,
    or infinities of one sign) the result is max(x, y): NaN, or that infinity.
    """
    delta = subtract(x, y)
    undefined = compare("NE", delta, delta)
    x_larger = and_(compare("GE", x, y), not_(undefined))
    zero = _c(0, delta)
    from_x = add(x, log_plus_one(exponential(select(x_larger, negate(delta), zero))))
    from_y = add(y, log_plus_one(exponential(select(x_larger, zero, select(undefined, zero,
                                                                               delta)))))
    return select(undefined, maximum(x, y), select(x_larger, from_x, from_y))


# ---- autodiff and batching rules of compare, select, clamp and convert -------------------------


defzero("stablehlo.compare")


def _select_jvp(ctx, primals, tangents):
    pred, (_, a_dot, b_dot) = primals[0], tangents
    if values.is_zero(a_dot) and values.is_zero(b_dot):
        return [values.Zero.of(ctx.results[0])]
    return [select(pred, values.instantiate(a_dot), values.instantiate(b_dot))]


def _select_transpose(ctx, cts, operands):
    pred = operands[0]
    zeros = values.zeros_like(cts[0])
    on_true = select(pred, cts[0], zeros) if ctx.linear[1] else values.Zero(ctx.operand_types[1])
    on_false = select(pred, zeros, cts[0]) if ctx.linear[2] else values.Zero(ctx.operand_types[2])
    return [None, on_true, on_false]


def _clamp_jvp(ctx, primals, tangents):
    # JAX's rule: each operand's tangent flows where it strictly decides the result; at the
    # bounds (x == lo or x == hi) nothing flows.
    (lo, x, hi), (lo_dot, x_dot, hi_dot) = primals, tangents
    out = ctx.results[0]
    lo, x, hi = (_shaped_like(v, out) for v in (lo, x, hi))
    masks = (and_(compare("GT", lo, x), compare("LT", lo, hi)),
             and_(compare("GT", x, lo), compare("LT", x, hi)),
             compare("LT", hi, x))
    total = values.Zero.of(out)
    for mask, t in zip(masks, (lo_dot, x_dot, hi_dot)):
        if not values.is_zero(t):
            total = values.add_any(total, select(mask, _shaped_like(t, out), _c(0, out)))
    return [total]


def _shaped_like(v, out):
    return v if shape_of(v) == shape_of(out) else values.broadcast_scalar(v, out)


def _convert_jvp(ctx, primals, tangents):
    (t,) = tangents
    if not values.is_float(ctx.results[0]):
        return [values.Zero.of(ctx.results[0])]
    return [convert(t, values.element(ctx.results[0]))]


def _convert_transpose(ctx, cts, operands):
    return [convert(cts[0], values.element(ctx.operand_types[0]))]


register("jvp", "stablehlo.select", _select_jvp)
register("jvp", "stablehlo.clamp", _clamp_jvp)
register("jvp", "stablehlo.convert", _convert_jvp)
register("transpose", "stablehlo.select", _select_transpose)
register("transpose", "stablehlo.convert", _convert_transpose)
deftrait("same_shape", "stablehlo.select", "stablehlo.convert")
defvectorized("stablehlo.compare", "stablehlo.select", "stablehlo.clamp", "stablehlo.convert")


# ---- dims (aotc.passes.dims): elementwise operands share their dims ----


def _elementwise_dims(ctx):
    contents = [ctx.content(i) for i in range(ctx.num_operands)]
    content = None  # sizes held in small integer tensors: carried through shape arithmetic
    if ctx.op.name == "stablehlo.convert":
        content = contents[0]
    elif ctx.op.name in ("stablehlo.multiply", "stablehlo.divide") and None not in contents:
        combine = ctx.times if ctx.op.name == "stablehlo.multiply" else ctx.divide
        content = tuple(combine(a, b) for a, b in zip(*contents))
    return [ctx.info(ctx.same_shape(), content)]


for _name in [*_UNARY_OPS, *_BINARY_OPS, "stablehlo.compare", "stablehlo.select",
              "stablehlo.clamp", "stablehlo.convert"]:
    register("dims", _name, _elementwise_dims)
defelementwise_shard(*_UNARY_OPS, *_BINARY_OPS, "stablehlo.compare", "stablehlo.select",
                     "stablehlo.clamp", "stablehlo.convert")

__all__ = [name for name, v in list(globals().items())
           if callable(v) and not name.startswith("_") and getattr(v, "__module__", "") == __name__]
