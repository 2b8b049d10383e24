"""Elementwise aotc.numpy functions: arithmetic, math, comparisons, logic, bitwise, where."""

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
    scalar_like,
)
from aotc.frontend.ops import complex as cx
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.trace.tracer import Tracer, to_tracer


def _wrap(value, like: Tracer) -> Tracer:
    return Tracer(value, like.weak_type)


def _float_unary(builder, name):
    def fn(x):
        (x,) = promote(name, x, inexact=True)
        return _wrap(builder(x.value), x)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise `{name}`, as numpy.{name}; integers are promoted to float32."
    return fn


def _binary(builder, name, inexact=False, bool_builder=None):
    def fn(x, y):
        x, y = promote(name, x, y, inexact=inexact)
        build = bool_builder if bool_builder and dtypes.is_bool(x.dtype) else builder
        return _wrap(build(x.value, y.value), x)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise `{name}` with broadcasting and JAX type promotion."
    return fn


exp = _float_unary(ew.exponential, "exp")
expm1 = _float_unary(ew.exponential_minus_one, "expm1")
log = _float_unary(ew.log, "log")
log1p = _float_unary(ew.log_plus_one, "log1p")
sqrt = _float_unary(ew.sqrt, "sqrt")
cbrt = _float_unary(ew.cbrt, "cbrt")
sin = _float_unary(ew.sine, "sin")
cos = _float_unary(ew.cosine, "cos")
tan = _float_unary(ew.tan, "tan")
tanh = _float_unary(ew.tanh, "tanh")
arcsin = _float_unary(ew.asin, "arcsin")
arccos = _float_unary(ew.acos, "arccos")
arctan = _float_unary(ew.atan, "arctan")
sinh = _float_unary(ew.sinh, "sinh")
cosh = _float_unary(ew.cosh, "cosh")
arcsinh = _float_unary(ew.asinh, "arcsinh")
arccosh = _float_unary(ew.acosh, "arccosh")
arctanh = _float_unary(ew.atanh, "arctanh")
rsqrt = _float_unary(ew.rsqrt, "rsqrt")

add = _binary(ew.add, "add", bool_builder=ew.or_)  # JAX and numpy: adding bools is `or`
subtract = _binary(ew.subtract, "subtract")
multiply = _binary(ew.multiply, "multiply")
true_divide = divide = _binary(ew.divide, "divide", inexact=True)


def _ordered_binary(builder, name, first_wins):
    """maximum/minimum: complex values by real part, then imaginary part (as jnp; IREE 3.13's
    complex max is not lexicographic)."""
    real_fn = _binary(builder, name)

    def fn(x, y):
        x, y = promote(name, x, y)
        if dtypes.is_complex(x.dtype):
            return where(first_wins(x, y), x, y)
        return real_fn(x, y)

    fn.__name__, fn.__doc__ = name, real_fn.__doc__
    return fn


maximum = _ordered_binary(ew.maximum, "maximum", lambda x, y: greater_equal(x, y))
minimum = _ordered_binary(ew.minimum, "minimum", lambda x, y: less_equal(x, y))


def arctan2(x1, x2):
    """The angle of the point (x2, x1), as numpy.arctan2 (signed zeros included)."""
    y, x = promote("arctan2", x1, x2, inexact=True)
    # IREE's atan2 gives NaN at (+-0, +-0); atan2(+-0, +-1) is exact, so divide by x's sign there
    both_zero = logical_and(equal(y, 0), equal(x, 0))
    x = where(both_zero, sign(divide(scalar_like(1, x), x)), x)
    return _wrap(ew.atan2(y.value, x.value), y)


def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)) without overflow, as numpy.logaddexp; integers become float32.

    Stable for large differences and exact at infinities (logaddexp(-inf, x) == x).

        >>> anp.logaddexp(anp.array([1000.0, 0.0]), 1000.0)  # [1000.6931, 1000.0]
    """
    x1, x2 = promote("logaddexp", x1, x2, inexact=True)
    return _wrap(ew.logaddexp(x1.value, x2.value), x1)


def exp2(x):
    """2 ** x elementwise."""
    (x,) = promote("exp2", x, inexact=True)
    return exp(multiply(x, float(np.log(2.0))))


def log2(x):
    """Base-2 logarithm elementwise, as numpy.log2; integers are promoted to float32."""
    (x,) = promote("log2", x, inexact=True)
    return divide(log(x), float(np.log(2.0)))


def log10(x):
    """Base-10 logarithm elementwise, as numpy.log10; integers are promoted to float32."""
    (x,) = promote("log10", x, inexact=True)
    return divide(log(x), float(np.log(10.0)))


def negative(x):
    """-x elementwise, as numpy.negative (integers wrap)."""
    x = to_tracer(x)
    return _wrap(ew.negate(x.value), x)


def positive(x):
    """+x: x itself, as numpy.positive."""
    return to_tracer(x)


def abs(x):
    """Absolute value elementwise, as numpy.abs; unsigned and bool arrays are unchanged.

    Example: `anp.abs(anp.array([-1.5, 2.0]))` is `[1.5, 2.0]`.
    """
    x = to_tracer(x)
    if dtypes.is_unsigned(x.dtype) or dtypes.is_bool(x.dtype):
        return x
    return _wrap(ew.abs(x.value), x)


absolute = abs


def sign(x):
    """-1, 0 or 1 by the sign of each element (NaN stays NaN), as numpy.sign."""
    x = to_tracer(x)
    if dtypes.is_unsigned(x.dtype):
        return astype(not_equal(x, 0), x.dtype)
    return _wrap(ew.sign(x.value), x)


def _int_identity(builder, name):
    def fn(x):
        x = to_tracer(x)
        if not dtypes.is_float(x.dtype):
            return x
        return _wrap(builder(x.value), x)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise `{name}`, as numpy.{name}; integer and bool arrays are unchanged."
    return fn


floor = _int_identity(ew.floor, "floor")
ceil = _int_identity(ew.ceil, "ceil")


def trunc(x):
    """Round toward zero elementwise, as numpy.trunc; integers are unchanged."""
    x = to_tracer(x)
    if not dtypes.is_float(x.dtype):
        return x
    return where(less(x, 0), ceil(x), floor(x))


fix = trunc


def round(x, decimals: int = 0):
    """Round half to even, like numpy.round (complex: each part)."""
    x = to_tracer(x)
    if dtypes.is_complex(x.dtype):
        re, im = (round(part, decimals) for part in _parts(x))
        return _wrap(cx.complex(re.value, im.value), x)
    if not dtypes.is_float(x.dtype):
        return x
    if decimals == 0:
        return _wrap(ew.round_nearest_even(x.value), x)
    scale = 10.0**decimals
    return divide(round(multiply(x, scale)), scale)


around = round


def square(x):
    """x * x elementwise, as numpy.square."""
    return multiply(x, x)


def reciprocal(x):
    """1 / x elementwise, as jax.numpy.reciprocal (integers are promoted to float32)."""
    x = to_tracer(x)
    return divide(full_like_shape(1, x) if not x.weak_type else 1.0, x)


def power(x, y):
    """x ** y; an integer Python exponent becomes repeated multiplication (exact, like JAX)."""
    if isinstance(y, int) and not isinstance(y, bool) and 0 <= y <= 64 and not isinstance(x, int):
        x = to_tracer(x)
        result, base, n = None, x, y
        while n:
            if n & 1:
                result = base if result is None else multiply(result, base)
            base, n = multiply(base, base), n >> 1
        return result if result is not None else _wrap(full_like_shape(1, x).value, x)
    if not isinstance(y, (bool, int, float, complex)):
        y = to_tracer(y)
    strong_int_exponent = isinstance(y, Tracer) and not (y.weak_type or
                                                         dtypes.is_inexact(y.dtype))
    x, y = promote("power", x, y)
    # JAX raises a float base to an integer array without promoting it: the result is strong
    weak = x.weak_type and not (strong_int_exponent and dtypes.is_float(x.dtype))
    return Tracer(ew.power(x.value, y.value), weak)


def float_power(x, y):
    """x ** y computed in float32 (JAX's float_power without x64), as numpy.float_power."""
    return power(astype(x, dtypes.float32), y)


def floor_divide(x, y):
    """x // y with Python's floor semantics (also for negatives), as numpy.floor_divide.

    Example: `anp.floor_divide(anp.array([7, -7]), 2)` is `[3, -4]`.
    """
    x, y = promote("floor_divide", x, y)
    if dtypes.is_float(x.dtype):  # CPython's float divmod, as JAX: floor(x / y) can round up
        mod = _wrap(ew.remainder(x.value, y.value), x)
        div = divide(where(equal(y, 0), x, subtract(x, mod)), y)  # x // 0 is +-inf, as JAX
        adjust = logical_and(not_equal(mod, 0), not_equal(less(mod, 0), less(y, 0)))
        return _wrap(ew.round_nearest_afz(where(adjust, subtract(div, 1), div).value), x)
    if dtypes.is_unsigned(x.dtype):
        return _wrap(ew.divide(x.value, y.value), x)
    q = _wrap(ew.divide(x.value, y.value), x)
    r = _wrap(ew.remainder(x.value, y.value), x)
    adjust = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return where(adjust, subtract(q, 1), q)


def remainder(x, y):
    """Python/NumPy modulo: the result has the sign of the divisor."""
    x, y = promote("remainder", x, y)
    r = _wrap(ew.remainder(x.value, y.value), x)
    if dtypes.is_unsigned(x.dtype):
        return r
    adjust = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return where(adjust, add(r, y), r)


mod = remainder


def fmod(x, y):
    """C-style remainder: the result has the sign of the dividend, as numpy.fmod."""
    x, y = promote("fmod", x, y)
    return _wrap(ew.remainder(x.value, y.value), x)


def hypot(x, y):
    """sqrt(x**2 + y**2) elementwise without overflow, as numpy.hypot."""
    x, y = promote("hypot", x, y, inexact=True)
    big, small = maximum(abs(x), abs(y)), minimum(abs(x), abs(y))
    safe = where(equal(big, 0), 1.0, big)
    ratio = divide(small, safe)
    out = where(equal(big, 0), 0.0, multiply(big, sqrt(add(1.0, multiply(ratio, ratio)))))
    return where(logical_or(isinf(x), isinf(y)), np.inf, out)  # inf even beside a NaN, as JAX


def clip(x, min=None, max=None, a_min=None, a_max=None):
    """Clip x to [min, max] (either may be None)."""
    lo = min if min is not None else a_min
    hi = max if max is not None else a_max
    x = to_tracer(x)
    if lo is not None:
        x = maximum(x, lo)
    if hi is not None:
        x = minimum(x, hi)
    return x


# ---- comparisons and logic ---------------------------------------------------------------------


def _compare(direction, name):
    def fn(x, y):
        x, y = promote(name, x, y)
        if dtypes.is_complex(x.dtype) and direction not in ("EQ", "NE"):
            # numpy and jnp order complex numbers by real part, then imaginary part
            (x_re, x_im), (y_re, y_im) = _parts(x), _parts(y)
            return where(equal(x_re, y_re), fn(x_im, y_im), fn(x_re, y_re))
        return Tracer(ew.compare(direction, x.value, y.value), False)

    fn.__name__ = name
    fn.__doc__ = (f"Elementwise `{name}` with broadcasting, as numpy.{name}; returns bool "
                  "(complex values compare by real part, then imaginary part).")
    return fn


equal = _compare("EQ", "equal")
not_equal = _compare("NE", "not_equal")
less = _compare("LT", "less")
less_equal = _compare("LE", "less_equal")
greater = _compare("GT", "greater")
greater_equal = _compare("GE", "greater_equal")


def _as_bool(x) -> Tracer:
    x = to_tracer(x)
    return x if dtypes.is_bool(x.dtype) else not_equal(x, 0)


def _logical(builder, name):
    def fn(x, y):
        x, y = promote(name, _as_bool(x), _as_bool(y))
        return Tracer(builder(x.value, y.value), False)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise `{name}` of the truth values, as numpy.{name}; returns bool."
    return fn


logical_and = _logical(ew.and_, "logical_and")
logical_or = _logical(ew.or_, "logical_or")
logical_xor = _logical(ew.xor, "logical_xor")


def logical_not(x):
    """Elementwise `not` of the truth values, as numpy.logical_not; returns bool."""
    return Tracer(ew.not_(_as_bool(x).value), False)


def _int_only(x: Tracer, name: str):
    if dtypes.is_float(x.dtype):
        raise TracingError(f"{caller_site()}: {name} needs integer or bool arrays, got {x.dtype}")


def _bitwise(builder, name):
    def fn(x, y):
        x, y = promote(name, x, y)
        _int_only(x, name)
        return _wrap(builder(x.value, y.value), x)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise `{name}` of integer or bool arrays, as numpy.{name}."
    return fn


bitwise_and = _bitwise(ew.and_, "bitwise_and")
bitwise_or = _bitwise(ew.or_, "bitwise_or")
bitwise_xor = _bitwise(ew.xor, "bitwise_xor")
left_shift = _bitwise(ew.shift_left, "left_shift")


def right_shift(x, y):
    """x >> y elementwise (arithmetic for signed, logical for unsigned), as numpy.right_shift."""
    x, y = promote("right_shift", x, y)
    _int_only(x, "right_shift")
    builder = ew.shift_right_logical if dtypes.is_unsigned(x.dtype) else ew.shift_right_arithmetic
    return _wrap(builder(x.value, y.value), x)


def bitwise_not(x):
    """Elementwise `~x` of integer or bool arrays, as numpy.bitwise_not."""
    x = to_tracer(x)
    _int_only(x, "bitwise_not")
    return _wrap(ew.not_(x.value), x)


invert = bitwise_not


def where(condition, x=None, y=None):
    """Elementwise select: x where condition is true, else y (the 3-argument form only)."""
    if x is None or y is None:
        raise NotImplementedError(
            "aotc.numpy.where(condition) with one argument has a data-dependent shape; pass "
            "both x and y")
    x, y = promote("where", x, y, broadcast=False)
    c = _as_bool(condition)
    shape = broadcast_shapes("where", c.shape, x.shape, y.shape)
    c, x2, y2 = (broadcast_to(t, shape, like=[c, x, y]) for t in (c, x, y))
    return Tracer(ew.select(c.value, x2.value, y2.value), x.weak_type)


def isnan(x):
    """True where x is NaN, as numpy.isnan (always False for integers and bools)."""
    x = to_tracer(x)
    if dtypes.is_complex(x.dtype):
        return logical_or(*[isnan(part) for part in _parts(x)])
    if not dtypes.is_float(x.dtype):
        return full_like_shape(False, astype(x, dtypes.bool_))
    return not_equal(x, x)


def isinf(x):
    """True where x is +inf or -inf, as numpy.isinf."""
    x = to_tracer(x)
    if dtypes.is_complex(x.dtype):
        return logical_or(*[isinf(part) for part in _parts(x)])
    if not dtypes.is_float(x.dtype):
        return full_like_shape(False, astype(x, dtypes.bool_))
    return equal(abs(x), float("inf"))


def isfinite(x):
    """True where x is neither infinite nor NaN, as numpy.isfinite."""
    x = to_tracer(x)
    if dtypes.is_complex(x.dtype):
        return logical_and(*[isfinite(part) for part in _parts(x)])
    if not dtypes.is_float(x.dtype):
        return full_like_shape(True, astype(x, dtypes.bool_))
    return Tracer(ew.is_finite(x.value), False)


def _parts(z: Tracer) -> tuple[Tracer, Tracer]:
    """The real and imaginary parts of a complex array."""
    return Tracer(cx.real(z.value)), Tracer(cx.imag(z.value))
