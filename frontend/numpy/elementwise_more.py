"""More elementwise aotc.numpy functions: array-API aliases, angles, signs and rounding, float
decomposition (frexp, ldexp, modf), integer gcd/lcm and popcount, sinc, i0, and the complex
helpers (real, imag, conj, angle, iscomplex, ...; complex64 ops live in aotc.frontend.ops.complex).
"""

import ml_dtypes
import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import (
    astype,
    broadcast_shapes,
    broadcast_to,
    full_like_shape,
    promote,
)
from aotc.frontend.numpy.math import (
    abs,
    add,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    bitwise_and,
    ceil,
    divide,
    equal,
    exp,
    floor,
    floor_divide,
    greater,
    invert,
    isfinite,
    isnan,
    left_shift,
    less,
    log2,
    logical_and,
    logical_not,
    logical_or,
    multiply,
    negative,
    not_equal,
    power,
    remainder,
    right_shift,
    sin,
    sqrt,
    subtract,
    where,
)
from aotc.frontend.numpy.reductions import any as reduce_any
from aotc.frontend.ops import complex as cx
from aotc.frontend.ops import control
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "acos", "acosh", "angle", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_count",
    "bitwise_invert", "bitwise_left_shift", "bitwise_right_shift", "conj", "conjugate",
    "copysign", "deg2rad", "degrees", "divmod", "fabs", "fmax", "fmin", "frexp", "gcd",
    "heaviside", "i0", "imag", "iscomplex", "iscomplexobj", "isneginf", "isposinf", "isreal",
    "isrealobj", "lcm", "ldexp", "modf", "pow", "rad2deg", "radians", "real", "rint", "signbit",
    "sinc", "spacing",
]

# The array-API spellings (an alias shares its docstring)
acos, acosh, asin, asinh, atan, atanh = arccos, arccosh, arcsin, arcsinh, arctan, arctanh
atan2 = arctan2
pow = power
bitwise_invert = invert
bitwise_left_shift = left_shift
bitwise_right_shift = right_shift


def _int_operands(name: str, *xs) -> list[Tracer]:
    xs = promote(name, *xs)
    if not dtypes.is_int(xs[0].dtype):
        raise TracingError(f"{caller_site()}: {name} needs integer arrays, got {xs[0].dtype}")
    return xs


# ---- angles, signs, rounding --------------------------------------------------------------------


def deg2rad(x):
    """Degrees to radians elementwise, as numpy.deg2rad; integers become float32.

    Example: `anp.deg2rad(180)` is `3.1415927`.
    """
    (x,) = promote("deg2rad", x, inexact=True)
    return multiply(x, float(np.pi / 180))


def rad2deg(x):
    """Radians to degrees elementwise, as numpy.rad2deg; integers become float32.

    Example: `anp.rad2deg(anp.pi)` is `180.0`.
    """
    (x,) = promote("rad2deg", x, inexact=True)
    return multiply(x, float(180 / np.pi))


radians, degrees = deg2rad, rad2deg


def fabs(x):
    """Absolute value as a float, as numpy.fabs (integers become float32)."""
    (x,) = promote("fabs", x, inexact=True)
    return abs(x)


def rint(x):
    """Round to the nearest integer, ties to even, as numpy.rint; integers become float32.

    Example: `anp.rint(anp.array([0.5, 1.5, -2.5]))` is `[0., 2., -2.]`.
    """
    (x,) = promote("rint", x, inexact=True)
    return Tracer(ew.round_nearest_even(x.value), x.weak_type)


def signbit(x):
    """True where the sign of x is negative (-0.0 included), as numpy.signbit.

    Without a bitcast the sign of a NaN is not read: NaN gives False.
    """
    x = to_tracer(x)
    if dtypes.is_bool(x.dtype) or dtypes.is_unsigned(x.dtype):
        return full_like_shape(False, astype(x, dtypes.bool_))
    if not dtypes.is_float(x.dtype):
        return less(x, 0)
    # -0.0 is the one zero whose reciprocal is -inf
    negative_zero = logical_and(equal(x, 0), less(divide(1.0, x), 0))
    return logical_or(less(x, 0), negative_zero)


def copysign(x1, x2):
    """|x1| with the sign of x2, elementwise, as numpy.copysign; integers become float32.

    Example: `anp.copysign(anp.array([1.0, 2.0]), -0.0)` is `[-1., -2.]`.
    """
    x1, x2 = promote("copysign", x1, x2, inexact=True)
    return where(signbit(x2), negative(abs(x1)), abs(x1))


def heaviside(x1, x2):
    """The step function: 0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0, as numpy.heaviside.

    Example: `anp.heaviside(anp.array([-1.0, 0.0, 2.0]), 0.5)` is `[0., 0.5, 1.]`.
    """
    x1, x2 = promote("heaviside", x1, x2, inexact=True)
    return where(less(x1, 0), 0.0, where(greater(x1, 0), 1.0, where(isnan(x1), x1, x2)))


def _nan_ignoring(name: str, pick_first):
    def fn(x1, x2):
        x1, x2 = promote(name, x1, x2)
        return where(logical_or(pick_first(x1, x2), isnan(x2)), x1, x2)

    fn.__name__ = name
    return fn


fmax = _nan_ignoring("fmax", greater)
fmax.__doc__ = """Elementwise maximum that ignores NaN (NaN only where both are), as numpy.fmax.

    Example: `anp.fmax(anp.array([1.0, anp.nan]), 0.0)` is `[1., 0.]`.
    """
fmin = _nan_ignoring("fmin", less)
fmin.__doc__ = """Elementwise minimum that ignores NaN (NaN only where both are), as numpy.fmin.

    Example: `anp.fmin(anp.array([1.0, anp.nan]), 0.0)` is `[0., 0.]`.
    """


def isposinf(x):
    """True where x is +inf, as numpy.isposinf (always False for integers)."""
    x = to_tracer(x)
    if not dtypes.is_float(x.dtype):
        return full_like_shape(False, astype(x, dtypes.bool_))
    return equal(x, float("inf"))


def isneginf(x):
    """True where x is -inf, as numpy.isneginf (always False for integers)."""
    x = to_tracer(x)
    if not dtypes.is_float(x.dtype):
        return full_like_shape(False, astype(x, dtypes.bool_))
    return equal(x, float("-inf"))


def sinc(x):
    """sin(pi x) / (pi x) with its limit 1 at 0 (derivative 0 there), as numpy.sinc.

    Example: `anp.sinc(anp.array([0.0, 0.5]))` is `[1., 0.63661975]`.
    """
    (x,) = promote("sinc", x, inexact=True)
    pi_x = multiply(x, float(np.pi))
    # near 0 a Taylor series: exact limit and derivatives, and no reliance on sin's relative
    # accuracy for tiny arguments (IREE's polynomial has an absolute error there)
    near = less(abs(pi_x), 0.5)
    t = multiply(pi_x, pi_x)
    series = multiply(t, 1 / 362880)  # Horner: sum of (-t)^k / (2k+1)! for k = 1..4
    for coefficient in (-1 / 5040, 1 / 120, -1 / 6):
        series = multiply(add(series, coefficient), t)
    far_x = where(near, 1.0, pi_x)
    return where(near, add(series, 1.0), divide(sin(far_x), far_x))


# ---- the complex helpers -------------------------------------------------------------------------


def real(val):
    """The real part, as numpy.real: float32 of a complex64 array, x itself for real arrays.

        >>> anp.real(anp.asarray([1 + 2j]))  # [1.0]
    """
    val = to_tracer(val)
    if dtypes.is_complex(val.dtype):
        return Tracer(cx.real(val.value), val.weak_type)
    return val


def imag(val):
    """The imaginary part, as numpy.imag: float32 of a complex64 array, zeros for real arrays.

        >>> anp.imag(anp.asarray([1 + 2j]))  # [2.0]
    """
    val = to_tracer(val)
    if dtypes.is_complex(val.dtype):
        return Tracer(cx.imag(val.value), val.weak_type)
    return full_like_shape(0, val)


def conj(x):
    """The complex conjugate, as numpy.conj: real(x) - i imag(x); real arrays are unchanged.

        >>> anp.conj(anp.asarray([1 + 2j]))  # [1 - 2j]
    """
    x = to_tracer(x)
    if dtypes.is_complex(x.dtype):
        return Tracer(cx.conj(x.value), x.weak_type)
    return x


conjugate = conj


def angle(z, deg: bool = False):
    """The argument of z: 0 for x >= +0 and pi for x < 0 or -0.0 (NaN stays), as numpy.angle.

    Integers become float32; deg=True gives degrees. Example: `anp.angle(-2.0)` is `3.1415927`.
    """
    (z,) = promote("angle", z, inexact=True)
    if dtypes.is_complex(z.dtype):
        result = arctan2(imag(z), real(z))
    else:
        result = arctan2(full_like_shape(0, z), z)
    return rad2deg(result) if deg else result


def isreal(x):
    """True where the imaginary part is 0 (everywhere for real arrays), as numpy.isreal."""
    return equal(imag(x), 0)


def iscomplex(x):
    """True where the imaginary part is not 0 (nowhere for real arrays), as numpy.iscomplex."""
    return not_equal(imag(x), 0)


def iscomplexobj(x) -> bool:
    """Whether x has a complex dtype, as numpy.iscomplexobj (a Python bool)."""
    if isinstance(x, Tracer):
        return dtypes.is_complex(x.dtype)
    return bool(np.iscomplexobj(x))


def isrealobj(x) -> bool:
    """Whether x has no complex dtype, as numpy.isrealobj (a Python bool)."""
    return not iscomplexobj(x)


# ---- float decomposition ------------------------------------------------------------------------


def _scale_by_power_of_two(x: Tracer, k: Tracer) -> Tracer:
    """x * 2**k for an int32 k, exactly: one multiply by a power-of-two constant per bit of |k|
    (constants up to 2**32, so float32 never overflows in between unless the result does)."""
    k = where(less(k, -320), -320, where(greater(k, 320), 320, k))
    up, steps = greater(k, 0), abs(k)
    for bit in range(5):
        hit = not_equal(bitwise_and(steps, 1 << bit), 0)
        factor = where(up, float(2.0 ** (1 << bit)), float(2.0 ** -(1 << bit)))
        x = multiply(x, where(hit, astype(factor, x.dtype), astype(1.0, x.dtype)))
    for count in range(10):  # the rest of |k| in steps of 2**32
        hit = greater(right_shift(steps, 5), count)
        factor = where(up, float(2.0**32), float(2.0**-32))
        x = multiply(x, where(hit, astype(factor, x.dtype), astype(1.0, x.dtype)))
    return x


def _in_float32(x: Tracer) -> Tracer:
    return astype(x, dtypes.float32) if x.dtype != np.dtype(np.float64) else x


def frexp(x):
    """Mantissa in [0.5, 1) (with x's sign) and int32 exponent with x == m * 2**e, as numpy.frexp.

    0, inf and NaN give (x, 0). Example: `anp.frexp(anp.array([8.0, -3.0]))` is
    `([0.5, -0.75], [4, 2])`.
    """
    (x,) = promote("frexp", x, inexact=True)
    wide = _in_float32(x)
    regular = logical_and(isfinite(wide), not_equal(wide, 0))
    safe = where(regular, wide, 1.0)
    e = add(astype(floor(log2(abs(safe))), dtypes.int32), 1)
    m = _scale_by_power_of_two(safe, negative(e))
    # log2 may be off by one next to a power of two: bring |m| into [0.5, 1)
    high = logical_not(less(abs(m), 1.0))
    m, e = where(high, multiply(m, 0.5), m), where(high, add(e, 1), e)
    low = less(abs(m), 0.5)
    m, e = where(low, multiply(m, 2.0), m), where(low, subtract(e, 1), e)
    return astype(where(regular, m, wide), x.dtype), where(regular, e, 0)


def ldexp(x1, x2):
    """x1 * 2**x2 for an integer x2, exactly (no overflow on the way), as numpy.ldexp.

    Example: `anp.ldexp(anp.array([0.75, 1.0]), anp.array([2, -1]))` is `[3., 0.5]`.
    """
    x2 = to_tracer(x2)
    if not dtypes.is_int(x2.dtype):
        raise TracingError(f"{caller_site()}: ldexp needs an integer exponent, got {x2.dtype}")
    (x1,) = promote("ldexp", x1, inexact=True)
    shape = broadcast_shapes("ldexp", x1.shape, x2.shape)
    x1, x2 = broadcast_to(x1, shape, like=[x1, x2]), broadcast_to(x2, shape, like=[x1, x2])
    m, e = frexp(x1)
    e = add(e, astype(x2, dtypes.int32))
    out = _scale_by_power_of_two(_in_float32(m), e)
    special = logical_or(logical_not(isfinite(x1)), equal(x1, 0))
    return where(special, x1, astype(out, x1.dtype))


def spacing(x):
    """The distance from x to the next float away from zero (to the next larger one for float16),
    with x's sign, as jnp.spacing; the smallest subnormal at 0, NaN at inf and NaN.

    Example: `anp.spacing(anp.array([1.0, -2.0]))` is `[1.1920929e-07, -2.3841858e-07]`.
    """
    (x,) = promote("spacing", x, inexact=True)
    info = ml_dtypes.finfo(x.dtype)
    m, e = frexp(x)
    step = subtract(e, info.nmant + 1)
    upward = x.dtype == np.dtype(np.float16)  # JAX: nextafter(x, inf) - x for float16
    if upward:  # below a negative power of two the step up is half as long
        step = where(equal(m, -0.5), subtract(step, 1), step)
    wide = _in_float32(x)
    ulp = _scale_by_power_of_two(full_like_shape(1, wide), step)
    tiny = float(info.smallest_subnormal)
    ulp = where(less(abs(wide), float(info.smallest_normal)), tiny, ulp)
    if upward:  # the step up from the largest float is to inf
        ulp = where(equal(wide, float(info.max)), float("inf"), ulp)
    else:
        ulp = copysign(ulp, wide)
    return astype(where(isfinite(wide), ulp, float("nan")), x.dtype)


def modf(x):
    """Fractional and integral parts, both with x's sign, as numpy.modf; integers become float32.

    Example: `anp.modf(anp.array([2.5, -1.25]))` is `([0.5, -0.25], [2., -1.])`.
    """
    (x,) = promote("modf", x, inexact=True)
    whole = where(less(x, 0), ceil(x), floor(x))
    return subtract(x, whole), whole


def divmod(x1, x2):
    """(x1 // x2, x1 % x2) with Python's floor semantics, as numpy.divmod."""
    return floor_divide(x1, x2), remainder(x1, x2)


# ---- integers ----------------------------------------------------------------------------------

_UNSIGNED = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def bitwise_count(x):
    """The number of 1 bits of each element's absolute value, as uint8, like numpy.bitwise_count.

    Example: `anp.bitwise_count(anp.array([7, -1, 256]))` is `[3, 1, 1]`.
    """
    x = to_tracer(x)
    if dtypes.is_bool(x.dtype):
        return astype(x, np.uint8)
    (x,) = _int_operands("bitwise_count", x)
    bits = x.dtype.itemsize * 8
    v = astype(abs(x), _UNSIGNED[bits])
    ones = (1 << bits) - 1
    v = subtract(v, bitwise_and(right_shift(v, 1), 0x5555555555555555 & ones))
    v = add(bitwise_and(v, 0x3333333333333333 & ones),
            bitwise_and(right_shift(v, 2), 0x3333333333333333 & ones))
    v = bitwise_and(add(v, right_shift(v, 4)), 0x0F0F0F0F0F0F0F0F & ones)
    shift = 8
    while shift < bits:
        v = add(v, right_shift(v, shift))
        shift *= 2
    return astype(bitwise_and(v, 0xFF), np.uint8)


def gcd(x1, x2):
    """Greatest common divisor of |x1| and |x2| elementwise (Euclid in a while loop), as
    numpy.gcd; gcd(0, 0) is 0.

    Example: `anp.gcd(anp.array([12, 7]), 18)` is `[6, 1]`.
    """
    x1, x2 = _int_operands("gcd", x1, x2)
    weak = x1.weak_type
    a, b = abs(x1), abs(x2)

    def cond(a, b):
        return reduce_any(not_equal(Tracer(b, weak), 0)).value

    def body(a, b):
        a, b = Tracer(a, weak), Tracer(b, weak)
        nonzero = not_equal(b, 0)
        a, b = where(nonzero, b, a), where(nonzero, remainder(a, where(nonzero, b, 1)), 0)
        swap = less(a, b)
        return [where(swap, b, a).value, where(swap, a, b).value]

    result, _ = control.while_([a.value, b.value], cond, body)
    return Tracer(result, weak)


def lcm(x1, x2):
    """Least common multiple of |x1| and |x2| elementwise, as numpy.lcm; 0 if either is 0.

    Example: `anp.lcm(anp.array([4, 6]), 10)` is `[20, 30]`.
    """
    x1, x2 = _int_operands("lcm", x1, x2)
    a, b = abs(x1), abs(x2)
    d = gcd(a, b)
    zero = equal(d, 0)
    return where(zero, 0, multiply(a, floor_divide(b, where(zero, 1, d))))


# ---- Bessel ------------------------------------------------------------------------------------

# Cephes i0f: Chebyshev coefficients of exp(-x) I0(x) on [0, 8] and of sqrt(x) exp(-x) I0(x)
# on (8, inf).
_I0E_A = (
    -1.30002500998624804212e-8, 6.04699502254191894932e-8, -2.67079385394061173391e-7,
    1.11738753912010371815e-6, -4.41673835845875056359e-6, 1.64484480707288970893e-5,
    -5.75419501008210370398e-5, 1.88502885095841655729e-4, -5.76375574538582365885e-4,
    1.63947561694133579842e-3, -4.32430999505057594430e-3, 1.05464603945949983183e-2,
    -2.37374148058994688156e-2, 4.93052842396707084878e-2, -9.49010970480476444210e-2,
    1.71620901522208775349e-1, -3.04682672343198398683e-1, 6.76795274409476084995e-1,
)
_I0E_B = (
    3.39623202570838634515e-9, 2.26666899049817806459e-8, 2.04891858946906374183e-7,
    2.89137052083475648297e-6, 6.88975834691682398426e-5, 3.36911647825569408990e-3,
    8.04490411014108831608e-1,
)


def _chebyshev(y: Tracer, coefficients) -> Tracer:
    b0, b1 = add(multiply(y, 0.0), coefficients[0]), multiply(y, 0.0)
    b2 = b1
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = add(subtract(multiply(y, b1), b2), c)
    return multiply(subtract(b0, b2), 0.5)


def i0(x):
    """The modified Bessel function of the first kind, order 0, as numpy.i0 (Cephes' float32
    Chebyshev fits); integers become float32.

    Example: `anp.i0(anp.array([0.0, 1.0]))` is `[1., 1.2660658]`.
    """
    (x,) = promote("i0", x, inexact=True)
    ax = abs(x)
    small = logical_not(greater(ax, 8.0))
    near = _chebyshev(subtract(multiply(where(small, ax, 8.0), 0.5), 2.0), _I0E_A)
    far_x = where(small, 8.0, ax)
    far = divide(_chebyshev(subtract(divide(32.0, far_x), 2.0), _I0E_B), sqrt(far_x))
    return multiply(exp(ax), where(small, near, far))
