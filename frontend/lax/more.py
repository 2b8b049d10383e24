"""More of jax.lax's names: elementwise math and bit ops, dtype and shape helpers, sorting,
reductions, cumulative reductions and `associative_scan`.

jax.lax is strict about dtypes: a binary op of two arrays of different dtypes is an error
(Python scalars adapt). These functions mirror that with a TracingError naming both dtypes,
and float-only functions reject integer operands, as jax.lax does.

    import aotc.lax as lax
    lax.cumsum(x, axis=0, reverse=True)
    lax.sort((keys, values), num_keys=1)
    lax.associative_scan(lax.add, xs)
"""

import builtins
import enum
import itertools
from typing import NamedTuple

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import astype, normalize_axes, normalize_axis, promote, shape_text
from aotc.frontend.numpy.core import broadcast_shapes as _broadcast_shapes
from aotc.frontend.ops import control as control_ops
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import reduction
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import sort as sort_ops
from aotc.frontend.trace.staging import stop_gradient
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = [
    "ConvDimensionNumbers", "Precision", "RoundingMethod",
    # convolutions
    "conv_dimension_numbers", "conv_general_permutations", "conv_general_shape_tuple",
    "conv_shape_tuple", "conv_transpose", "conv_transpose_shape_tuple", "conv_with_general_padding",
    "reduce_window_shape_tuple",
    # elementwise
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and", "bitwise_not",
    "bitwise_or", "bitwise_xor", "cbrt", "clz", "cosh", "erfc", "exp2", "expm1", "integer_pow",
    "is_finite", "log1p", "mulhi", "nextafter", "reduce_precision", "lgamma", "digamma",
    "polygamma", "zeta", "erf_inv",
    "optimization_barrier", "population_count", "reciprocal", "round", "shift_left",
    "shift_right_arithmetic", "shift_right_logical", "sinh", "tan",
    # dtypes and shapes
    "bitcast_convert_type", "broadcast", "broadcast_like", "broadcast_shapes", "broadcast_to_rank",
    "broadcasted_iota", "collapse", "dynamic_index_in_dim", "dynamic_slice_in_dim",
    "dynamic_update_index_in_dim", "dynamic_update_slice_in_dim", "full", "full_like",
    "index_in_dim", "rev", "select_n", "slice_in_dim", "split", "stack", "tile", "unstack",
    # sorting, reductions, scans, products
    "approx_max_k", "approx_min_k", "argmax", "argmin", "associative_scan", "batch_matmul",
    "cumlogsumexp", "cummax", "cummin",
    "cumprod", "cumsum", "reduce_and", "reduce_max", "reduce_min", "reduce_or", "reduce_prod",
    "reduce_sum", "reduce_xor", "sort", "sort_key_val", "top_k",
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


class ConvDimensionNumbers(NamedTuple):
    """A convolution's layouts as dim permutations: (batch, feature, *spatial) of lhs and out,
    (out feature, in feature, *spatial) of rhs."""

    lhs_spec: tuple
    rhs_spec: tuple
    out_spec: tuple


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
    return Tracer(ew.zeta(x.value, q.value), x.weak_type)


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


def _bitwise(name: str, builder):
    def binary(x, y):
        x, y = _same_dtype(name, x, y)
        _require(name, x, "ib")
        return Tracer(builder(x.value, y.value), x.weak_type)

    binary.__name__ = name
    binary.__doc__ = (f"lax.{name}: elementwise on integer or boolean operands of one dtype.\n\n"
                      f"    Example:\n        >>> lax.{name}(anp.array([6]), anp.array([3]))\n"
                      "    ")
    return binary


bitwise_and, bitwise_or = _bitwise("bitwise_and", ew.and_), _bitwise("bitwise_or", ew.or_)
bitwise_xor = _bitwise("bitwise_xor", ew.xor)


def _shift(name: str, builder):
    def binary(x, y):
        x, y = _same_dtype(name, x, y)
        _require(name, x, "i")
        return Tracer(builder(x.value, y.value), x.weak_type)

    binary.__name__ = name
    binary.__doc__ = (f"lax.{name}: x shifted by y bits, integer operands of one dtype; a shift "
                      "by the bit width or more gives 0 (or the sign, arithmetic right).\n\n"
                      f"    Example:\n        >>> lax.{name}(anp.array([-8]), anp.array([1]))\n"
                      "    ")
    return binary


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


# ---- dtypes and shapes -------------------------------------------------------------------------


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


def broadcast(operand, sizes):
    """operand broadcast to shape (*sizes, *operand.shape).

    Example:
        >>> lax.broadcast(anp.ones(3), (2,)).shape   # (2, 3)
    """
    x = to_tracer(operand)
    sizes = tuple(int(s) for s in sizes)
    dims = tuple(range(len(sizes), len(sizes) + x.ndim))
    return Tracer(shape_ops.broadcast_in_dim(x.value, sizes + x.shape, dims), x.weak_type)


def broadcast_to_rank(x, rank: int):
    """x with leading dims of size 1 added up to `rank`.

    Example:
        >>> lax.broadcast_to_rank(anp.ones(3), 3).shape   # (1, 1, 3)
    """
    x = to_tracer(x)
    return anp.reshape(x, (1,) * builtins.max(int(rank) - x.ndim, 0) + x.shape)


def broadcast_like(arr, like_arr):
    """arr broadcast (numpy rules) to the shape of like_arr.

    Example:
        >>> lax.broadcast_like(anp.ones(3), anp.zeros((2, 3))).shape   # (2, 3)
    """
    return anp.broadcast_to(arr, to_tracer(like_arr).shape)


def broadcast_shapes(*shapes) -> tuple:
    """The shape numpy broadcasting gives shapes (static ints).

    Example:
        >>> lax.broadcast_shapes((3, 1), (1, 4))   # (3, 4)
    """
    return tuple(_broadcast_shapes("broadcast_shapes", *[tuple(s) for s in shapes]))


def broadcasted_iota(dtype, shape, dimension: int):
    """An array of `shape` counting 0, 1, ... along `dimension`.

    Example:
        >>> lax.broadcasted_iota(anp.int32, (2, 3), 1)   # [[0, 1, 2], [0, 1, 2]]
    """
    shape = tuple(int(s) for s in shape)
    dimension = normalize_axis("broadcasted_iota", dimension, len(shape))
    return Tracer(shape_ops.iota(shape, dimension, dtypes.to_mlir(dtypes.canonicalize(dtype))))


def collapse(operand, start_dimension: int, stop_dimension: int | None = None):
    """operand with dims [start, stop) merged into one.

    Example:
        >>> lax.collapse(anp.ones((2, 3, 4)), 1).shape   # (2, 12)
    """
    x = to_tracer(operand)
    start, stop = builtins.slice(start_dimension, stop_dimension).indices(x.ndim)[:2]
    size = int(np.prod(x.shape[start:stop], dtype=np.int64))
    return anp.reshape(x, (*x.shape[:start], size, *x.shape[stop:]))


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with fill_value (of dtype, else fill_value's dtype).

    Example:
        >>> lax.full((2, 2), 3.0)
    """
    return anp.full(tuple(shape) if np.ndim(shape) else (int(shape),), fill_value, dtype)


def full_like(x, fill_value, dtype=None, shape=None):
    """An array like x (or of `shape`) filled with fill_value, of x's dtype unless given.

    Example:
        >>> lax.full_like(anp.ones((2, 3)), 7)
    """
    x = to_tracer(x)
    shape = x.shape if shape is None else tuple(shape)
    return anp.full(shape, fill_value, x.dtype if dtype is None else dtype)


def slice_in_dim(operand, start_index, limit_index, stride: int = 1, axis: int = 0):
    """operand[start:limit:stride] along one axis; None or negative bounds as in Python.

    Example:
        >>> lax.slice_in_dim(anp.arange(6), 1, 5, 2)   # [1, 3]
    """
    x = to_tracer(operand)
    axis = normalize_axis("slice_in_dim", axis, x.ndim)
    n = x.shape[axis]
    start = 0 if start_index is None else int(start_index) + (n if start_index < 0 else 0)
    limit = n if limit_index is None else int(limit_index) + (n if limit_index < 0 else 0)
    starts, limits, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
    starts[axis], limits[axis], strides[axis] = start, limit, int(stride)
    return Tracer(shape_ops.slice(x.value, starts, limits, strides), x.weak_type)


def index_in_dim(operand, index: int, axis: int = 0, keepdims: bool = True):
    """operand[index] along one axis (static index), keeping that axis unless keepdims=False.

    Example:
        >>> lax.index_in_dim(anp.ones((3, 4)), 1, keepdims=False).shape   # (4,)
    """
    x = to_tracer(operand)
    axis = normalize_axis("index_in_dim", axis, x.ndim)
    index = int(index) + (x.shape[axis] if index < 0 else 0)
    out = slice_in_dim(x, index, index + 1, 1, axis)
    return out if keepdims else anp.squeeze(out, axis)


def _dynamic_starts(x: Tracer, axis: int, start) -> list:
    starts = [np.int32(0)] * x.ndim
    starts[axis] = start
    return starts


def dynamic_slice_in_dim(operand, start_index, slice_size: int, axis: int = 0):
    """lax.dynamic_slice along one axis: slice_size elements from a traced start.

    Example:
        >>> lax.dynamic_slice_in_dim(x, i, 2, axis=1)
    """
    from aotc.frontend.lax import dynamic_slice

    x = to_tracer(operand)
    axis = normalize_axis("dynamic_slice_in_dim", axis, x.ndim)
    sizes = list(x.shape)
    sizes[axis] = int(slice_size)
    return dynamic_slice(x, _dynamic_starts(x, axis, start_index), sizes)


def dynamic_update_slice_in_dim(operand, update, start_index, axis: int):
    """lax.dynamic_update_slice along one axis, at a traced start.

    Example:
        >>> lax.dynamic_update_slice_in_dim(x, rows, i, axis=0)
    """
    from aotc.frontend.lax import dynamic_update_slice

    x = to_tracer(operand)
    axis = normalize_axis("dynamic_update_slice_in_dim", axis, x.ndim)
    return dynamic_update_slice(x, update, _dynamic_starts(x, axis, start_index))


def dynamic_index_in_dim(operand, index, axis: int = 0, keepdims: bool = True):
    """operand[index] along one axis at a traced index.

    Example:
        >>> lax.dynamic_index_in_dim(x, i, axis=0, keepdims=False)
    """
    x = to_tracer(operand)
    axis = normalize_axis("dynamic_index_in_dim", axis, x.ndim)
    out = dynamic_slice_in_dim(x, index, 1, axis)
    return out if keepdims else anp.squeeze(out, axis)


def dynamic_update_index_in_dim(operand, update, index, axis: int):
    """operand with operand[index] (along axis, traced index) replaced by update, which has
    that axis of size 1 or lacks it.

    Example:
        >>> lax.dynamic_update_index_in_dim(x, row, i, axis=0)
    """
    x = to_tracer(operand)
    axis = normalize_axis("dynamic_update_index_in_dim", axis, x.ndim)
    update = to_tracer(update)
    if update.ndim == x.ndim - 1:
        update = anp.expand_dims(update, axis)
    return dynamic_update_slice_in_dim(x, update, index, axis)


def rev(operand, dimensions):
    """operand reversed along each of `dimensions`.

    Example:
        >>> lax.rev(anp.arange(3), (0,))   # [2, 1, 0]
    """
    x = to_tracer(operand)
    dims = normalize_axes("rev", tuple(dimensions), x.ndim)
    return Tracer(shape_ops.reverse(x.value, dims), x.weak_type) if dims else x


def select_n(which, *cases):
    """cases[which] elementwise: which is boolean (two cases) or int32 in [0, len(cases)).

    Example:
        >>> lax.select_n(anp.array([0, 2, 1]), a, b, c)
    """
    which = to_tracer(which)
    if not cases:
        raise TracingError(f"{caller_site()}: lax.select_n needs at least one case")
    cases = _same_dtype("select_n", *cases)
    if dtypes.is_bool(which.dtype):
        if len(cases) > 2:
            raise TracingError(f"{caller_site()}: lax.select_n: a boolean `which` picks from "
                               f"two cases, got {len(cases)}")
        return cases[0] if len(cases) == 1 else anp.where(which, cases[1], cases[0])
    out = cases[-1]
    for k in builtins.range(len(cases) - 2, -1, -1):
        out = anp.where(which == k, cases[k], out)
    return out


def split(operand, sizes, axis: int = 0):
    """operand cut along axis into pieces of the given sizes (which sum to that dim).

    Example:
        >>> a, b = lax.split(anp.arange(5), (2, 3))
    """
    x = to_tracer(operand)
    axis = normalize_axis("split", axis, x.ndim)
    sizes = [int(s) for s in sizes]
    if builtins.sum(sizes) != x.shape[axis]:
        raise TracingError(f"{caller_site()}: lax.split: sizes {sizes} do not sum to dim {axis} "
                           f"of {shape_text(x.shape)}")
    bounds = np.cumsum([0, *sizes])
    return [slice_in_dim(x, int(lo), int(hi), 1, axis)
            for lo, hi in itertools.pairwise(bounds)]


def stack(operands, axis: int = 0):
    """operands (of one shape) stacked along a new axis.

    Example:
        >>> lax.stack([a, b], axis=1)
    """
    return anp.stack(list(operands), axis=axis)


def unstack(x, axis: int = 0):
    """The slices of x along axis, as a tuple.

    Example:
        >>> first, second = lax.unstack(anp.ones((2, 3)))
    """
    x = to_tracer(x)
    axis = normalize_axis("unstack", axis, x.ndim)
    return tuple(index_in_dim(x, i, axis, keepdims=False) for i in builtins.range(x.shape[axis]))


def tile(operand, reps):
    """operand repeated reps[i] times along dim i (len(reps) == operand.ndim).

    Example:
        >>> lax.tile(anp.arange(2), (3,))   # [0, 1, 0, 1, 0, 1]
    """
    return anp.tile(operand, tuple(int(r) for r in reps))


# ---- sorting -----------------------------------------------------------------------------------


def _lexicographic(num_keys: int):
    """A comparator over (lhs, rhs) pairs of num_keys keys, the payloads, then an index: keys
    in order with NaNs last, ties by the index (so the sort is stable on IREE)."""

    def comparator(*args):
        keys = [args[2 * k: 2 * k + 2] for k in range(num_keys)]
        lhs_index, rhs_index = args[-2:]
        less = ew.compare("LT", lhs_index, rhs_index)
        for lhs, rhs in reversed(keys):
            tie = ew.not_(sort_ops.less_nan_last(rhs, lhs))
            less = ew.or_(sort_ops.less_nan_last(lhs, rhs), ew.and_(tie, less))
        return less

    return comparator


def _sort_values(values: list[Tracer], dimension: int, num_keys: int) -> list[Tracer]:
    shape = values[0].shape
    index = shape_ops.iota(shape, dimension, dtypes.to_mlir(dtypes.int32))
    out = sort_ops.sort([v.value for v in values] + [index], dimension,
                        _lexicographic(num_keys))
    return [Tracer(o, v.weak_type) for o, v in zip(out, values)]


def sort(operand, dimension: int = -1, is_stable: bool = True, num_keys: int = 1):
    """operand sorted along dimension; a sequence of operands (of one shape) is sorted
    together by its first num_keys operands, lexicographically. NaNs sort last; the sort is
    always stable, and -0.0 and 0.0 are equal keys (JAX puts -0.0 first).

    Example:
        >>> keys, vals = lax.sort((keys, vals), num_keys=1)
    """
    single = not isinstance(operand, (tuple, list))
    values = [to_tracer(v) for v in ([operand] if single else operand)]
    if builtins.any(v.shape != values[0].shape for v in values):
        raise TracingError(f"{caller_site()}: lax.sort: operands of shapes "
                           f"{[shape_text(v.shape) for v in values]} must have one shape")
    if not 1 <= num_keys <= len(values):
        raise TracingError(f"{caller_site()}: lax.sort: num_keys={num_keys} for "
                           f"{len(values)} operands")
    dimension = normalize_axis("sort", dimension, values[0].ndim)
    out = _sort_values(values, dimension, num_keys)
    return out[0] if single else tuple(out)


def sort_key_val(keys, values, dimension: int = -1, is_stable: bool = True):
    """(keys sorted along dimension, values permuted the same way).

    Example:
        >>> k, v = lax.sort_key_val(anp.array([3, 1, 2]), anp.array([0.0, 1.0, 2.0]))
    """
    return sort((keys, values), dimension, is_stable, num_keys=1)


def _top(name: str, operand, k: int, axis: int, largest: bool) -> list[Tracer]:
    x = to_tracer(operand)
    axis = normalize_axis(name, axis, x.ndim)
    k = int(k)
    if not 0 <= k <= x.shape[axis]:
        raise TracingError(f"{caller_site()}: lax.{name}: k={k} for dim {axis} of "
                           f"{shape_text(x.shape)}")
    index = shape_ops.iota(x.shape, axis, dtypes.to_mlir(dtypes.int32))

    def before(a, b):
        return sort_ops.less_nan_last(b, a) if largest else sort_ops.less_nan_last(a, b)

    def comparator(lhs, rhs, lhs_index, rhs_index):
        earlier = ew.and_(ew.not_(before(rhs, lhs)), ew.compare("LT", lhs_index, rhs_index))
        return ew.or_(before(lhs, rhs), earlier)

    values, indices = sort_ops.sort([x.value, index], axis, comparator)
    values, indices = Tracer(values, x.weak_type), Tracer(indices)
    return [slice_in_dim(values, 0, k, 1, axis), slice_in_dim(indices, 0, k, 1, axis)]


def top_k(operand, k: int, *, axis: int = -1):
    """The k largest entries along axis (largest first, ties by lower index) and their int32
    indices.

    Example:
        >>> values, indices = lax.top_k(anp.array([1.0, 3.0, 2.0]), 2)   # [3, 2], [1, 2]
    """
    return _top("top_k", operand, k, axis, largest=True)


def approx_max_k(operand, k: int, reduction_dimension: int = -1, recall_target: float = 0.95,
                 reduction_input_size_override: int = -1, aggregate_to_topk: bool = True):
    """The k largest entries along reduction_dimension and their int32 indices; exact (as
    JAX on CPU), so the recall arguments are ignored; float operands only.

    Example:
        >>> values, indices = lax.approx_max_k(x, 2)
    """
    x = _require("approx_max_k", to_tracer(operand), "f")
    return _top("approx_max_k", x, k, reduction_dimension, largest=True)


def approx_min_k(operand, k: int, reduction_dimension: int = -1, recall_target: float = 0.95,
                 reduction_input_size_override: int = -1, aggregate_to_topk: bool = True):
    """The k smallest entries along reduction_dimension (smallest first) and their int32
    indices; exact (as JAX on CPU), so the recall arguments are ignored; floats only.

    Example:
        >>> values, indices = lax.approx_min_k(x, 2)
    """
    x = _require("approx_min_k", to_tracer(operand), "f")
    return _top("approx_min_k", x, k, reduction_dimension, largest=False)


def _arg_reduce(name: str, fn, operand, axis, index_dtype):
    x = to_tracer(operand)
    axis = normalize_axis(name, axis, x.ndim)
    return astype(fn(x, axis=axis), dtypes.canonicalize(index_dtype))


def argmax(operand, axis: int, index_dtype):
    """Index of the largest entry along axis (the first one at ties and NaNs), of index_dtype.

    Example:
        >>> lax.argmax(anp.array([1.0, 3.0, 3.0]), 0, anp.int32)   # 1
    """
    return _arg_reduce("argmax", anp.argmax, operand, axis, index_dtype)


def argmin(operand, axis: int, index_dtype):
    """Index of the smallest entry along axis (the first one at ties and NaNs), of index_dtype.

    Example:
        >>> lax.argmin(anp.array([2.0, 1.0, 1.0]), 0, anp.int32)   # 1
    """
    return _arg_reduce("argmin", anp.argmin, operand, axis, index_dtype)


# ---- reductions --------------------------------------------------------------------------------


def _identity(kind: str, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if kind in ("max", "min"):
        if dtypes.is_bool(dtype):
            return np.array(kind == "min", dtype)
        info = dtypes.finfo_or_iinfo(dtype)
        big = np.inf if dtypes.is_float(dtype) else info.max
        small = -np.inf if dtypes.is_float(dtype) else info.min
        return np.array(small if kind == "max" else big, dtype)
    if kind == "and":
        return np.array(True if dtypes.is_bool(dtype) else -1, dtype) if not \
            dtypes.is_unsigned(dtype) else np.array(np.iinfo(dtype).max, dtype)
    return np.array(1 if kind == "prod" else 0, dtype)


_COMBINE = {"sum": ew.add, "prod": ew.multiply, "max": ew.maximum, "min": ew.minimum,
            "and": ew.and_, "or": ew.or_, "xor": ew.xor}


def _reduction(kind: str, kinds: str):
    name = f"reduce_{kind}"

    def reduce_(operand, axes):
        x = _require(name, to_tracer(operand), kinds)
        axes = normalize_axes(name, tuple(axes), x.ndim)
        if not axes:
            return x
        init = shape_ops.constant(_identity(kind, x.dtype))
        return Tracer(reduction.reduce_binary(x.value, init, axes, _COMBINE[kind]), x.weak_type)

    reduce_.__name__ = name
    reduce_.__doc__ = (f"lax.{name}: reduce over `axes` with {kind}, keeping the dtype.\n\n"
                       f"    Example:\n        >>> lax.{name}(x, (0,))\n    ")
    return reduce_


reduce_sum, reduce_prod = _reduction("sum", "fi"), _reduction("prod", "fi")
reduce_max, reduce_min = _reduction("max", "fib"), _reduction("min", "fib")
reduce_and, reduce_or = _reduction("and", "ib"), _reduction("or", "ib")
reduce_xor = _reduction("xor", "ib")


# ---- scans -------------------------------------------------------------------------------------


def _interleave(a: Tracer, b: Tracer, axis: int) -> Tracer:
    """a[0], b[0], a[1], b[1], ... along axis (len(a) is len(b) or one more), as JAX: two
    interior-padded copies added."""
    same = a.shape[axis] == b.shape[axis]
    lo, hi = [0] * a.ndim, [0] * a.ndim
    interior = [0] * a.ndim
    interior[axis] = 1
    zero = shape_ops.constant(np.zeros((), a.dtype))
    hi[axis] = 1 if same else 0
    a_pad = Tracer(shape_ops.pad(a.value, zero, lo, hi, interior), a.weak_type)
    lo_b, hi_b = [0] * a.ndim, [0] * a.ndim
    lo_b[axis], hi_b[axis] = 1, 0 if same else 1
    b_pad = Tracer(shape_ops.pad(b.value, zero, lo_b, hi_b, interior), b.weak_type)
    return (a_pad | b_pad) if dtypes.is_bool(a.dtype) else a_pad + b_pad


def associative_scan(fn, elems, reverse: bool = False, axis: int = 0):
    """Inclusive scan of elems (a pytree of arrays sharing dim `axis`) with an associative
    fn(a, b) on pytrees of slices, in O(log n) depth (JAX's odd/even recursion, so results
    match jax.lax.associative_scan's rounding).

    Example:
        >>> lax.associative_scan(lambda a, b: a + b, anp.arange(5.0))   # [0, 1, 3, 6, 10]
    """
    leaves, treedef = tree.flatten(elems)
    leaves = [to_tracer(x) for x in leaves]
    if not leaves:
        return elems
    axis = normalize_axis("associative_scan", axis, leaves[0].ndim)
    n = leaves[0].shape[axis]
    if builtins.any(x.shape[axis] != n for x in leaves):
        raise TracingError(f"{caller_site()}: lax.associative_scan: elems differ in dim {axis}: "
                           f"{[shape_text(x.shape) for x in leaves]}")
    if reverse:
        leaves = [rev(x, (axis,)) for x in leaves]

    def combine(a, b):
        out = fn(tree.unflatten(treedef, a), tree.unflatten(treedef, b))
        return [to_tracer(x) for x in tree.flatten(out)[0]]

    def part(xs, start, stop, stride=1):
        return [slice_in_dim(x, start, stop, stride, axis) for x in xs]

    def scan(xs):
        count = xs[0].shape[axis]
        if count < 2:
            return xs
        odd = scan(combine(part(xs, 0, count - 1, 2), part(xs, 1, None, 2)))
        if count % 2 == 0:
            even = combine(part(odd, 0, odd[0].shape[axis] - 1), part(xs, 2, None, 2))
        else:
            even = combine(odd, part(xs, 2, None, 2))
        even = [anp.concatenate([slice_in_dim(x, 0, 1, 1, axis), e], axis)
                for x, e in zip(xs, even)]
        return [_interleave(e, o, axis) for e, o in zip(even, odd)]

    out = scan(leaves)
    if reverse:
        out = [rev(x, (axis,)) for x in out]
    return tree.unflatten(treedef, out)


def _cumulative(name: str, combine, kinds: str):
    def cumulative(operand, axis: int = 0, reverse: bool = False):
        x = _require(name, to_tracer(operand), kinds)
        return associative_scan(combine, x, reverse=reverse, axis=axis)

    cumulative.__name__ = name
    cumulative.__doc__ = (f"lax.{name}: inclusive cumulative reduction along axis (reverse=True "
                          "runs from the end), by associative_scan.\n\n"
                          f"    Example:\n        >>> lax.{name}(x, axis=0, reverse=True)\n    ")
    return cumulative


def _keep_dtype(fn):
    return lambda a, b: astype(fn(a, b), to_tracer(a).dtype)


cumsum = _cumulative("cumsum", _keep_dtype(anp.add), "fi")
cumprod = _cumulative("cumprod", _keep_dtype(anp.multiply), "fi")
cummax = _cumulative("cummax", anp.maximum, "fi")
cummin = _cumulative("cummin", anp.minimum, "fi")
cumlogsumexp = _cumulative("cumlogsumexp", anp.logaddexp, "f")


def batch_matmul(lhs, rhs, precision=None):
    """Batched matrix product: lhs (..., m, k) @ rhs (..., k, n), of one rank >= 2 and one
    batch shape.

    Example:
        >>> lax.batch_matmul(anp.ones((4, 2, 3)), anp.ones((4, 3, 5))).shape   # (4, 2, 5)
    """
    lhs, rhs = to_tracer(lhs), to_tracer(rhs)
    if lhs.ndim < 2 or lhs.ndim != rhs.ndim or lhs.shape[:-2] != rhs.shape[:-2]:
        raise TracingError(f"{caller_site()}: lax.batch_matmul: operands of one rank >= 2 and one "
                           f"batch shape, got {shape_text(lhs.shape)} and "
                           f"{shape_text(rhs.shape)}")
    lhs, rhs = _same_dtype("batch_matmul", lhs, rhs, broadcast=False)
    return anp.matmul(lhs, rhs)


# ---- convolutions ------------------------------------------------------------------------------


def conv_general_permutations(dimension_numbers):
    """The (lhs, rhs, out) dim permutations of three layout strings such as
    ("NHWC", "HWIO", "NHWC"); spatial dims are ordered as in the rhs layout.

    Example:
        >>> lax.conv_general_permutations(("NHWC", "HWIO", "NHWC"))   # ((0, 3, 1, 2), ...)
    """
    from aotc.frontend.lax import _conv_specs

    return _conv_specs(dimension_numbers, len(dimension_numbers[0]))


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers):
    """ConvDimensionNumbers from None (NCHW, OIHW, NCHW), layout strings or integer specs.

    Example:
        >>> dn = lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))
    """
    from aotc.frontend.lax import _conv_specs

    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return dimension_numbers
    if len(lhs_shape) != len(rhs_shape):
        raise TracingError(f"{caller_site()}: lax.conv_dimension_numbers: lhs rank "
                           f"{len(lhs_shape)} and rhs rank {len(rhs_shape)} differ")
    return ConvDimensionNumbers(*_conv_specs(dimension_numbers, len(lhs_shape)))


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    """conv_general_dilated in the default NCHW/OIHW layout, with dilations.

    Example:
        >>> lax.conv_with_general_padding(x, w, (1, 1), [(1, 1), (0, 0)], None, (2, 2))
    """
    from aotc.frontend.lax import conv_general_dilated

    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)


def _conv_transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else -(-pad_len // 2)
    elif padding == "VALID":
        pad_len = k + s - 2 + builtins.max(k - s, 0)
        pad_a = k - 1
    else:
        raise TracingError(f"{caller_site()}: lax.conv_transpose: padding {padding!r}; use "
                           "'SAME', 'VALID' or (low, high) pairs")
    return pad_a, pad_len - pad_a


_DEFAULT_TRANSPOSE_LAYOUTS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                              4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel: bool = False, precision=None, preferred_element_type=None):
    """The transposed ("deconvolution") convolution: lhs dilated by strides, then convolved
    (JAX's definition; default layouts NHWC / HWIO; transpose_kernel flips the kernel's spatial
    dims and swaps its feature dims, the gradient of conv).

    Example:
        >>> lax.conv_transpose(x, w, (2, 2), "SAME")   # NHWC in and out, spatial size x2
    """
    from aotc.frontend.lax import conv_general_dilated

    lhs, rhs = to_tracer(lhs), to_tracer(rhs)
    ndim = lhs.ndim
    if dimension_numbers is None:
        dimension_numbers = _DEFAULT_TRANSPOSE_LAYOUTS.get(ndim)
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    rhs_dilation = tuple(rhs_dilation) if rhs_dilation else (1,) * (ndim - 2)
    if isinstance(padding, str):
        kernel = [rhs.shape[d] for d in dn.rhs_spec[2:]]
        pads = [_conv_transpose_padding(0 if k == 0 else 1 + r * (k - 1), s, padding.upper())
                for k, r, s in zip(kernel, rhs_dilation, strides)]
    else:
        pads = padding
    if transpose_kernel:
        rhs = rev(rhs, dn.rhs_spec[2:])
        rhs = anp.swapaxes(rhs, dn.rhs_spec[0], dn.rhs_spec[1])
    return conv_general_dilated(lhs, rhs, (1,) * (ndim - 2), pads, tuple(strides), rhs_dilation,
                                dn, precision=precision,
                                preferred_element_type=preferred_element_type)


# ---- static shape helpers (Python ints in, a tuple of Python ints out) -------------------------


def _window_count(size: int, window: int, stride: int) -> int:
    return builtins.max(0, (size - window) // stride + 1)


def conv_shape_tuple(lhs_shape, rhs_shape, strides, pads, batch_group_count: int = 1) -> tuple:
    """The output shape of a convolution in the default NCHW/OIHW layout; pads is a padding
    string or (low, high) pairs.

    Example:
        >>> lax.conv_shape_tuple((1, 2, 5, 5), (4, 2, 3, 3), (2, 2), "SAME")   # (1, 4, 3, 3)
    """
    from aotc.frontend.lax import padtype_to_pads

    if isinstance(pads, str):
        pads = padtype_to_pads(lhs_shape[2:], rhs_shape[2:], strides, pads)
    space = tuple(_window_count(int(n) + int(lo) + int(hi), int(k), int(s))
                  for n, k, s, (lo, hi) in zip(lhs_shape[2:], rhs_shape[2:], strides, pads))
    return (int(lhs_shape[0]) // batch_group_count, int(rhs_shape[0]), *space)


def _permuted(shape, perm) -> tuple:
    return tuple(int(shape[p]) for p in perm)


def _unpermuted(shape, perm) -> tuple:
    return tuple(int(shape[i]) for i in np.argsort(perm))


def conv_general_shape_tuple(lhs_shape, rhs_shape, window_strides, padding,
                             dimension_numbers) -> tuple:
    """The output shape of conv_general_dilated (no dilation) with these layouts.

    Example:
        >>> lax.conv_general_shape_tuple((1, 5, 5, 2), (3, 3, 2, 4), (1, 1), "VALID",
        ...                              ("NHWC", "HWIO", "NHWC"))   # (1, 3, 3, 4)
    """
    lhs_perm, rhs_perm, out_perm = conv_dimension_numbers(lhs_shape, rhs_shape,
                                                          dimension_numbers)
    out = conv_shape_tuple(_permuted(lhs_shape, lhs_perm), _permuted(rhs_shape, rhs_perm),
                           window_strides, padding)
    return _unpermuted(out, out_perm)


def conv_transpose_shape_tuple(lhs_shape, rhs_shape, window_strides, padding,
                               dimension_numbers) -> tuple:
    """The output shape of conv_transpose with these layouts (no rhs dilation).

    Example:
        >>> lax.conv_transpose_shape_tuple((1, 5, 5, 2), (3, 3, 2, 4), (2, 2), "SAME",
        ...                                ("NHWC", "HWIO", "NHWC"))   # (1, 10, 10, 4)
    """
    lhs_perm, rhs_perm, out_perm = conv_dimension_numbers(lhs_shape, rhs_shape,
                                                          dimension_numbers)
    lhs_t, rhs_t = _permuted(lhs_shape, lhs_perm), _permuted(rhs_shape, rhs_perm)
    if isinstance(padding, str):
        padding = [_conv_transpose_padding(k, s, padding.upper())
                   for k, s in zip(rhs_t[2:], window_strides)]
    space = tuple((n - 1) * s - k + 2 + int(lo) + int(hi)
                  for n, k, s, (lo, hi) in zip(lhs_t[2:], rhs_t[2:], window_strides, padding))
    return _unpermuted((lhs_t[0], rhs_t[0], *space), out_perm)


def reduce_window_shape_tuple(operand_shape, window_dimensions, window_strides, padding,
                              base_dilation=None, window_dilation=None) -> tuple:
    """The output shape of reduce_window with (low, high) padding pairs and dilations.

    Example:
        >>> lax.reduce_window_shape_tuple((6, 6), (2, 2), (2, 2), ((0, 0), (1, 1)))   # (3, 4)
    """
    def dilate(shape, rates):
        if rates is None:
            return [int(d) for d in shape]
        return [0 if d == 0 else 1 + int(r) * (int(d) - 1) for d, r in zip(shape, rates)]

    sizes, windows = dilate(operand_shape, base_dilation), dilate(window_dimensions,
                                                                  window_dilation)
    return tuple(_window_count(n + int(lo) + int(hi), w, int(s))
                 for n, w, s, (lo, hi) in zip(sizes, windows, window_strides, padding))
