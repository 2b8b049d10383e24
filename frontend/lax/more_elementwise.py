"""aotc.lax's elementwise names beyond the basics (via aotc.frontend.lax.more): math, special
functions and bit ops with jax.lax's strict dtype rules, and bitcast_convert_type.
"""

import builtins
import enum

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import astype, promote
from aotc.frontend.ops import complex as complex_ops
from aotc.frontend.ops import control as control_ops
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import special as special_ops
from aotc.frontend.trace.staging import stop_gradient
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "Precision",
    "RoundingMethod",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "bessel_i0e",
    "bessel_i1e",
    "bitcast_convert_type",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "cbrt",
    "clz",
    "complex",
    "conj",
    "cosh",
    "digamma",
    "erf_inv",
    "erfc",
    "exp2",
    "expm1",
    "imag",
    "integer_pow",
    "is_finite",
    "lgamma",
    "log1p",
    "mulhi",
    "nextafter",
    "optimization_barrier",
    "polygamma",
    "population_count",
    "real",
    "reciprocal",
    "reduce_precision",
    "round",
    "shift_left",
    "shift_right_arithmetic",
    "shift_right_logical",
    "sinh",
    "tan",
    "zeta",
]


class RoundingMethod(enum.IntEnum):
    """lax.round's tie rule: AWAY_FROM_ZERO (0, the default) or TO_NEAREST_EVEN (1)."""

    AWAY_FROM_ZERO = 0
    TO_NEAREST_EVEN = 1


class Precision(enum.Enum):
    """jax.lax.Precision, accepted (and ignored: IREE picks the precision) by dot and conv."""

    DEFAULT = 0
    HIGH = 1
    HIGHEST = 2


# ---- dtype checks ------------------------------------------------------------------------------


def _same_dtype(name: str, *xs, broadcast: bool = True) -> list[Tracer]:
    """xs promoted to one dtype (and shape, if `broadcast`); arrays (not Python scalars) of two
    dtypes are an error, as in jax.lax."""
    arrays = [to_tracer(x) for x in xs if not isinstance(x, (bool, int, float))]
    strong = {str(t.dtype) for t in arrays if not t.weak_type}
    if len(strong) > 1:
        raise TracingError(f"{caller_site()}: lax.{name} requires arguments of one dtype, got "
                           f"{', '.join(sorted(strong))}; convert with "
                           "lax.convert_element_type first")
    return promote(name, *xs, broadcast=broadcast)


def _require(name: str, x: Tracer, kinds: str) -> Tracer:
    """x unchanged if its dtype kind is one of `kinds` ('f' float, 'i' integer, 'b' bool)."""
    kind = ("f" if dtypes.is_float(x.dtype) else "b" if dtypes.is_bool(x.dtype)
            else "i" if dtypes.is_int(x.dtype) else "?")
    if kind not in kinds:
        wanted = {"f": "floating-point", "i": "integer", "b": "boolean"}
        raise TracingError(f"{caller_site()}: lax.{name} requires "
                           f"{' or '.join(wanted[k] for k in kinds)} operands, got {x.dtype}")
    return x


# ---- elementwise -------------------------------------------------------------------------------


def _float_unary(name: str, fn):
    def unary(x):
        return fn(_require(name, to_tracer(x), "f"))

    unary.__name__ = name
    unary.__doc__ = (f"lax.{name}: elementwise, floating-point operands only (as jax.lax).\n\n"
                     f"    Example:\n        >>> lax.{name}(anp.array([0.5, 0.25]))\n    ")
    return unary


acos, acosh, asin = (_float_unary("acos", anp.arccos), _float_unary("acosh", anp.arccosh),
                     _float_unary("asin", anp.arcsin))
asinh, atan, atanh = (_float_unary("asinh", anp.arcsinh), _float_unary("atan", anp.arctan),
                      _float_unary("atanh", anp.arctanh))
cbrt, cosh, sinh = (_float_unary("cbrt", anp.cbrt), _float_unary("cosh", anp.cosh),
                    _float_unary("sinh", anp.sinh))
tan, exp2, expm1 = (_float_unary("tan", anp.tan), _float_unary("exp2", anp.exp2),
                    _float_unary("expm1", anp.expm1))
log1p, is_finite = _float_unary("log1p", anp.log1p), _float_unary("is_finite", anp.isfinite)
reciprocal = _float_unary("reciprocal", anp.reciprocal)


def erfc(x):
    """1 - erf(x), accurate for large x (chlo.erfc); floating-point operands only.

    Example:
        >>> lax.erfc(anp.array([0.0, 3.0]))
    """
    x = _require("erfc", to_tracer(x), "f")
    return Tracer(ew.erfc(x.value), x.weak_type)


def _special(name: str, builder, example: str):
    def unary(x):
        x = _require(name, to_tracer(x), "f")
        return Tracer(builder(x.value), x.weak_type)

    unary.__name__ = name
    unary.__doc__ = (f"lax.{name}: {example}; floating-point operands only.\n\n"
                     f"    Example:\n        >>> lax.{name}(anp.array([0.5, 3.0]))\n    ")
    return unary


lgamma = _special("lgamma", ew.lgamma, "log |gamma(x)| (chlo.lgamma), inf at the poles")
digamma = _special("digamma", ew.digamma, "the derivative of lgamma (chlo.digamma)")
erf_inv = _special("erf_inv", ew.erf_inv, "the inverse of erf on (-1, 1) (chlo.erf_inv)")
bessel_i0e = _special("bessel_i0e", special_ops.bessel_i0e,
                      "exp(-|x|) I0(x), from core ops as JAX writes it")
bessel_i1e = _special("bessel_i1e", special_ops.bessel_i1e, "exp(-|x|) I1(x) (chlo.bessel_i1e)")


def polygamma(m, x):
    """The m-th derivative of digamma at x (m a non-negative integer value, of x's float
    dtype); differentiable in x only.

    Example:
        >>> lax.polygamma(anp.float32(1.0), anp.array([1.0, 2.0]))   # [1.645, 0.645]
    """
    m, x = _same_dtype("polygamma", m, x)
    _require("polygamma", x, "f")
    return Tracer(ew.polygamma(m.value, x.value), x.weak_type)


def zeta(x, q):
    """The Hurwitz zeta function sum_k (q + k) ** -x, for x > 1 and q > 0; float operands of one
    dtype, differentiable in q only.

    Example:
        >>> lax.zeta(anp.float32(2.0), anp.array([1.0]))   # [1.645]
    """
    x, q = _same_dtype("zeta", x, q)
    _require("zeta", x, "f")
    return Tracer(special_ops.zeta(x.value, q.value), x.weak_type)


def optimization_barrier(operand):
    """operand (a pytree of arrays) unchanged, but the compiler moves no computation across it;
    derivatives pass straight through.

    Example:
        >>> a, b = lax.optimization_barrier((a, b))
    """
    leaves, treedef = tree.flatten(operand)
    leaves = [to_tracer(x) for x in leaves]
    if not leaves:
        return operand
    out = control_ops.optimization_barrier([x.value for x in leaves])
    return tree.unflatten(treedef, [Tracer(o, x.weak_type) for o, x in zip(out, leaves)])


def atan2(x, y):
    """atan(x / y) with the quadrant of (y, x); float operands of one dtype.

    Example:
        >>> lax.atan2(anp.array([1.0]), anp.array([-1.0]))   # [2.356]
    """
    x, y = _same_dtype("atan2", x, y)
    return anp.arctan2(_require("atan2", x, "f"), y)


def _integer_binary(name: str, builder, kinds: str, summary: str, example: str):
    """A jax.lax binary op on operands of one dtype whose kind is in `kinds` (numpy kind codes)."""

    def binary(x, y):
        x, y = _same_dtype(name, x, y)
        _require(name, x, kinds)
        return Tracer(builder(x.value, y.value), x.weak_type)

    binary.__name__ = name
    binary.__doc__ = (f"lax.{name}: {summary}\n\n"
                      f"    Example:\n        >>> lax.{name}({example})\n    ")
    return binary


def _bitwise(name: str, builder):
    return _integer_binary(name, builder, "ib",
                           "elementwise on integer or boolean operands of one dtype.",
                           "anp.array([6]), anp.array([3])")


bitwise_and, bitwise_or = _bitwise("bitwise_and", ew.and_), _bitwise("bitwise_or", ew.or_)
bitwise_xor = _bitwise("bitwise_xor", ew.xor)


def _shift(name: str, builder):
    return _integer_binary(name, builder, "i",
                           "x shifted by y bits, integer operands of one dtype; a shift by the "
                           "bit width or more gives 0 (or the sign, arithmetic right).",
                           "anp.array([-8]), anp.array([1])")


shift_left = _shift("shift_left", ew.shift_left)
shift_right_arithmetic = _shift("shift_right_arithmetic", ew.shift_right_arithmetic)
shift_right_logical = _shift("shift_right_logical", ew.shift_right_logical)


def bitwise_not(x):
    """~x for integers, logical not for booleans.

    Example:
        >>> lax.bitwise_not(anp.array([0, 5]))   # [-1, -6]
    """
    x = _require("bitwise_not", to_tracer(x), "ib")
    return Tracer(ew.not_(x.value), x.weak_type)


def population_count(x):
    """The number of set bits of each integer (stablehlo.popcnt), in x's dtype.

    Example:
        >>> lax.population_count(anp.array([7, -1], anp.int8))   # [3, 8]
    """
    x = _require("population_count", to_tracer(x), "i")
    return Tracer(ew.popcnt(x.value), x.weak_type)


def clz(x):
    """The number of leading zero bits of each integer (stablehlo.count_leading_zeros).

    Example:
        >>> lax.clz(anp.array([1, 0], anp.int32))   # [31, 32]
    """
    x = _require("clz", to_tracer(x), "i")
    return Tracer(ew.count_leading_zeros(x.value), x.weak_type)


def integer_pow(x, y: int):
    """x ** y for a static Python int y, by repeated squaring (negative y: 1 / x ** -y).

    Example:
        >>> lax.integer_pow(anp.array([2.0, 3.0]), 3)   # [8.0, 27.0]
    """
    x = to_tracer(x)
    y = int(y)
    if y < 0 and not dtypes.is_float(x.dtype):
        raise TracingError(f"{caller_site()}: lax.integer_pow: a negative power {y} needs a "
                           f"floating-point operand, got {x.dtype}")
    result, base, n = None, x, builtins.abs(y)
    while n:
        if n & 1:
            result = base if result is None else result * base
        n >>= 1
        if n:
            base = base * base
    if result is None:
        return anp.ones_like(x)
    return 1 / result if y < 0 else result


def round(x, rounding_method=RoundingMethod.AWAY_FROM_ZERO):
    """x rounded to integral values; ties away from zero (default) or to nearest even.

    Example:
        >>> lax.round(anp.array([0.5, 2.5]))   # [1.0, 3.0]
        >>> lax.round(anp.array([0.5, 2.5]), lax.RoundingMethod.TO_NEAREST_EVEN)   # [0.0, 2.0]
    """
    x = _require("round", to_tracer(x), "f")
    even = RoundingMethod(int(rounding_method)) == RoundingMethod.TO_NEAREST_EVEN
    builder = ew.round_nearest_even if even else ew.round_nearest_afz
    return Tracer(builder(x.value), x.weak_type)


def nextafter(x1, x2):
    """The next float after x1 towards x2 (x2 where they are equal, NaN if either is NaN), by
    stepping the bit pattern; float operands of one dtype.

    Example:
        >>> lax.nextafter(anp.float32(1.0), anp.float32(2.0))   # 1.0000001
    """
    x, y = _same_dtype("nextafter", x1, x2)
    _require("nextafter", x, "f")
    bits = np.dtype(x.dtype).itemsize * 8
    int_type = np.dtype(f"int{bits}")
    as_int = bitcast_convert_type(x, int_type)
    step = anp.where((x < y) == (x > 0), 1, -1).astype(int_type)
    sign_y = bitcast_convert_type(y, int_type) & np.array(np.iinfo(int_type).min, int_type)
    smallest = bitcast_convert_type(sign_y | np.array(1, int_type), x.dtype)
    stepped = bitcast_convert_type(as_int + step, x.dtype)
    out = anp.where(x == 0, smallest, stepped)
    out = anp.where(x == y, y, out)
    return anp.where(anp.isnan(x) | anp.isnan(y), np.array(np.nan, x.dtype), out)


def mulhi(x, y):
    """The high half of the double-width product x * y, integers of one dtype of up to 32 bits.

    Example:
        >>> lax.mulhi(anp.int32(1 << 30), anp.int32(8))   # 2
    """
    x, y = _same_dtype("mulhi", x, y)
    _require("mulhi", x, "i")
    bits = np.dtype(x.dtype).itemsize * 8
    if bits > 32:
        raise TracingError(f"{caller_site()}: lax.mulhi: {x.dtype} would need a 128-bit product; "
                           "aotc supports integers of up to 32 bits")
    if bits < 32:
        wide = np.dtype(f"{'u' if dtypes.is_unsigned(x.dtype) else ''}int{2 * bits}")
        product = astype(x, wide) * astype(y, wide)
        return astype(shift_right_arithmetic(product, np.array(bits, wide)), x.dtype)
    # 32 bits without a 64-bit type: the unsigned product from 16-bit halves, then the signed
    # correction high(a * b) = high_unsigned(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0).
    u32 = np.dtype("uint32")
    a, b = astype(x, u32), astype(y, u32)
    half, low_mask = np.array(16, u32), np.array(0xFFFF, u32)
    a_hi, a_lo = shift_right_logical(a, half), a & low_mask
    b_hi, b_lo = shift_right_logical(b, half), b & low_mask
    hi_lo, lo_hi = a_hi * b_lo, a_lo * b_hi
    cross = shift_right_logical(a_lo * b_lo, half) + (hi_lo & low_mask) + lo_hi
    high = a_hi * b_hi + shift_right_logical(hi_lo, half) + shift_right_logical(cross, half)
    if dtypes.is_unsigned(x.dtype):
        return high
    zero = np.array(0, u32)
    high = high - anp.where(x < 0, b, zero) - anp.where(y < 0, a, zero)
    return astype(high, x.dtype)


def reduce_precision(operand, exponent_bits: int, mantissa_bits: int):
    """operand rounded to a float format with the given exponent and mantissa bits (to nearest
    even; too large becomes inf, too small a signed zero; NaN stays NaN), still in operand's
    dtype, by XLA's bit manipulation. Its derivative is 1 (JAX rounds the tangent as well).

    Example:
        >>> lax.reduce_precision(x, exponent_bits=8, mantissa_bits=7)   # bfloat16's values
    """
    x = _require("reduce_precision", to_tracer(operand), "f")
    info = np.finfo(x.dtype)
    src_mantissa, src_exponent, nbits = info.nmant, info.bits - 1 - info.nmant, info.bits
    int_type = np.dtype(f"int{nbits}")

    def c(value):
        return np.array(value, np.uint64).astype(f"uint{nbits}").view(int_type)

    bits = bitcast_convert_type(stop_gradient(x), int_type)
    if mantissa_bits < src_mantissa:
        drop = src_mantissa - mantissa_bits
        last_bit = c(1 << drop)
        last = shift_right_logical(bits & last_bit, np.array(drop, int_type))
        bits = (bits + last + c((1 << (drop - 1)) - 1)) & ~c((1 << drop) - 1)
    if exponent_bits < src_exponent:
        exponent_mask = c(((1 << src_exponent) - 1) << src_mantissa)
        bias, reduced_bias = (1 << (src_exponent - 1)) - 1, (1 << (exponent_bits - 1)) - 1
        exponent = bits & exponent_mask
        signed_zero = bits & c(1 << (nbits - 1))
        overflows = exponent > c((bias + reduced_bias) << src_mantissa)
        underflows = exponent <= c((bias - reduced_bias) << src_mantissa)
        bits = anp.where(overflows, signed_zero | exponent_mask,
                         anp.where(underflows, signed_zero, bits))
    rounded = anp.where(anp.isnan(x), x, bitcast_convert_type(bits, x.dtype))
    return x + stop_gradient(rounded - x)


# ---- bit casts -------------------------------------------------------------------------


def bitcast_convert_type(operand, new_dtype):
    """The same bits read as `new_dtype`, which must have operand's bit width (JAX also allows
    other widths, adding or dropping a trailing dim; aotc does not).

    Example:
        >>> lax.bitcast_convert_type(anp.float32(1.0), anp.int32)   # 1065353216
    """
    x = to_tracer(operand)
    new = dtypes.canonicalize(new_dtype)
    if np.dtype(new).itemsize != np.dtype(x.dtype).itemsize or dtypes.is_bool(new) or \
            dtypes.is_bool(x.dtype):
        raise TracingError(f"{caller_site()}: lax.bitcast_convert_type: {x.dtype} to {new} "
                           "changes the bit width; aotc bitcasts only between non-boolean dtypes "
                           "of one width")
    if new == x.dtype:
        return x
    return Tracer(ew.bitcast_convert(x.value, dtypes.to_mlir(new)))


# ---- complex numbers ---------------------------------------------------------------------


def complex(x, y):
    """x + i y of two float32 (or float64) arrays of one dtype, broadcast (as jax.lax.complex).

    Example:
        >>> lax.complex(anp.array([1.0]), anp.array([2.0]))   # [1+2j]
    """
    x, y = _same_dtype("complex", x, y)
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise TracingError(f"{caller_site()}: lax.complex requires float32 or float64 operands, "
                           f"got {x.dtype}; convert with lax.convert_element_type first")
    return Tracer(complex_ops.complex(x.value, y.value), x.weak_type)


def _complex_part(name: str, builder, summary: str):
    def part(x):
        x = to_tracer(x)
        if not dtypes.is_complex(x.dtype):
            raise TracingError(f"{caller_site()}: lax.{name} requires a complex operand, got "
                               f"{x.dtype} (aotc.numpy.{name} also takes real arrays)")
        return Tracer(builder(x.value), x.weak_type)

    part.__name__ = part.__qualname__ = name
    part.__doc__ = (f"lax.{name}: {summary} of a complex array (as jax.lax.{name}).\n\n"
                    f"    Example:\n        >>> lax.{name}(anp.array([1 + 2j]))\n    ")
    return part


real = _complex_part("real", complex_ops.real, "the real part (float32)")
imag = _complex_part("imag", complex_ops.imag, "the imaginary part (float32)")


def conj(x):
    """The complex conjugate, as jax.lax.conj (a real operand becomes complex).

    Example:
        >>> lax.conj(anp.array([1 + 2j]))   # [1-2j]
    """
    x = to_tracer(x)
    if not dtypes.is_inexact(x.dtype):
        x = astype(x, dtypes.float32)
    if not dtypes.is_complex(x.dtype):
        x = astype(x, dtypes.complex_dtype(x.dtype))
    return Tracer(complex_ops.conj(x.value), x.weak_type)
