"""float32 log, log1p, erf and tan computed exactly as JAX computes them on CPU, for aotc.random's
samplers (normal, truncated_normal, exponential, gumbel, laplace, logistic, cauchy).

XLA:CPU (jaxlib 0.10.2) does not call libm for `log`: it inlines the Cephes `logf` polynomial
(Eigen's `plog`); `log1p` is Cephes' rational approximation below |x| < sqrt(2) - 1 and that
log of 1 + x above; `erf` is Eigen's rational interpolant with explicit fmas; `tan` calls the C
library's `tanf` (glibc 2.36 here: Sun's k_tanf.c kernel after a reduction by pi/2 done in
double). Which multiply-adds are fmas was read from the object code XLA dumps
(`XLA_FLAGS=--xla_dump_to=...`, objdump): every Horner step of log's and log1p's polynomials,
`x - 0.5 * x2` and `+ q2 * e` in log and `y * x3 + q1 * e` (with `q1 * e` rounded first); log1p's
last steps `-0.5 * x2 + x3 * r` and `x + ...`, and all of tanf, round separately. Written out op
for op here (exponent and mantissa by integer bit manipulation) they give JAX's bits (measured
on 262144 inputs each, and on 64 keys x 4096 draws of every sampler above), where IREE's and
numpy's own functions differ in the last place on ~13 % of inputs.

Rounding control, since StableHLO has no fma:
- fma: the product of two float32s is exact in float64, so a float64 multiply and add rounded
  once to float32 is the fma (up to a double rounding that needs the float64 sum to land exactly
  on a float32 midpoint: not seen). IREE demotes float64 to float32 by default and its CPU
  backends then contract the multiply-add into an fma.
- a separate rounding: IREE's CPU backends (like clang's fp-contract=on) contract a float32
  multiply into the add it feeds when the add is its only use, so `opaque` puts a select
  between them to keep the product rounded.
- vmvx and Vulkan (lavapipe) contract nothing: for those targets only, aotc's compile step
  rewrites each float64 multiply-add of float32 values into an exact fma from float32 ops
  (aotc.frontend.ops.exact_fma), so the functions here are bit-equal there too and the CPU
  targets keep their single fma instructions.
- Vulkan's path folds float algebra that only holds for real numbers ((a + b) - a -> b, and
  c * (a * b) -> (c * a) * b), so values that such a fold would look through (TwoSum's sum and
  difference, erf_inv's last product) pass `opaque`'s select.
"""

import math

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.trace.tracer import Tracer

# Cephes logf: log(1 + x) ~ x - x^2/2 + x^3 * P(x) on [sqrt(.5) - 1, sqrt(2) - 1]
_LOG_P = np.array([7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                   1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                   3.3333331174e-1], np.float32)
_LOG_Q1 = np.float32(-2.12194440e-4)   # ln 2 = q2 - q1, q2 exact in 9 bits
_LOG_Q2 = np.float32(0.693359375)
_SQRT_HALF = np.float32(0.707106781186547524)
_MIN_NORMAL = np.float32(np.finfo(np.float32).tiny)
# Cephes log1p: x - x^2/2 + x^3 * N(x) / D(x) for |x| < sqrt(2) - 1
_LOG1P_N = np.array([4.5270000862445199635215e-5, 4.9854102823193375972212e-1,
                     6.5787325942061044846969e0, 2.9911919328553073277375e1,
                     6.0949667980987787057556e1, 5.7112963590585538103336e1,
                     2.0039553499201281259648e1], np.float32)
_LOG1P_D = np.array([1.0, 1.5062909083469192043167e1, 8.3047565967967209469434e1,
                     2.2176239823732856465394e2, 3.0909872225312059774938e2,
                     2.1642788614495947685003e2, 6.0118660497603843919306e1], np.float32)
_LOG1P_SMALL = np.float32(0.41421356237309504880)


def _convert(x: Tracer, dtype) -> Tracer:
    return Tracer(ew.convert(x.value, dtypes.to_mlir(dtype)))


def fma(a, b, c) -> Tracer:
    """a * b + c for float32 operands with one rounding (see the module docstring)."""
    a, b, c = (_convert(anp.asarray(t), dtypes.float64) for t in (a, b, c))
    return _convert(anp.add(anp.multiply(a, b), c), dtypes.float32)


def _f32(value) -> Tracer:
    return anp.asarray(np.float32(value))


def _horner(x: Tracer, coefficients: np.ndarray) -> Tracer:
    """sum c[i] x^(n-1-i), each step an fma."""
    p = anp.broadcast_to(_f32(coefficients[0]), x.shape)
    for c in coefficients[1:]:
        p = fma(p, x, _f32(c))
    return p


def _bits(x: Tracer) -> Tracer:
    return lax.bitcast_convert_type(x, dtypes.int32)


def opaque(product: Tracer) -> Tracer:
    """product, kept from being contracted into an fma by the add it feeds: the add gets a
    select instead of the multiply, and the select cannot be folded away (it maps the largest
    float32, a product the callers never make, to inf; a NaN test selecting NaN is folded by
    LLVM on aarch64). The same select hides a value from the float folds of Vulkan's path,
    which rewrites (a + b) - a to b and c * (a * b) to (c * a) * b (see _two_sum)."""
    big = np.finfo(np.float32).max
    return anp.where(anp.equal(product, _f32(big)), _f32(np.inf), product)


_rounded = opaque


def log(u: Tracer) -> Tracer:
    """log of a float32 array, bit-equal to XLA:CPU's (inputs <= 0, inf, NaN: see below).

    Subnormal inputs are raised to the smallest normal (as XLA does); 0 gives -inf, negative
    inputs NaN, +inf gives +inf.
    """
    x0 = anp.maximum(u, _f32(_MIN_NORMAL))
    bits = _bits(x0)
    mantissa = lax.bitcast_convert_type(
        lax.bitwise_or(lax.bitwise_and(bits, anp.asarray(np.int32(~0x7F800000))),
                       anp.asarray(np.int32(0x3F000000))), dtypes.float32)   # in [0.5, 1)
    exponent = anp.subtract(lax.shift_right_logical(bits, anp.asarray(np.int32(23))),
                            anp.asarray(np.int32(127)))
    e = anp.add(_f32(1.0), anp.astype(exponent, dtypes.float32))
    below = anp.less(mantissa, _f32(_SQRT_HALF))
    x = anp.add(anp.subtract(mantissa, _f32(1.0)), anp.where(below, mantissa, _f32(0.0)))
    e = anp.subtract(e, anp.where(below, _f32(1.0), _f32(0.0)))
    x2 = anp.multiply(x, x)
    x3 = anp.multiply(x2, x)
    y = fma(fma(x, _LOG_P[0], _LOG_P[1]), x, _LOG_P[2])
    y1 = fma(fma(x, _LOG_P[3], _LOG_P[4]), x, _LOG_P[5])
    y2 = fma(fma(x, _LOG_P[6], _LOG_P[7]), x, _LOG_P[8])
    y = fma(fma(y, x3, y1), x3, y2)
    y = fma(y, x3, _rounded(anp.multiply(_f32(_LOG_Q1), e)))   # aarch64 would fuse q1 * e
    out = fma(_f32(_LOG_Q2), e, anp.add(fma(_f32(-0.5), x2, x), y))
    out = anp.where(anp.equal(u, _f32(np.inf)), _f32(np.inf), out)
    out = anp.where(anp.equal(u, _f32(0.0)), _f32(-np.inf), out)
    return anp.where(anp.less(u, _f32(0.0)), _f32(np.nan), out)


def log1p(x: Tracer) -> Tracer:
    """log(1 + x) of a float32 array, bit-equal to XLA:CPU's."""
    large = log(anp.add(x, _f32(1.0)))
    x2 = anp.multiply(x, x)
    ratio = anp.divide(_horner(x, _LOG1P_N), _horner(x, _LOG1P_D))
    tail = _rounded(anp.multiply(anp.multiply(x, x2), ratio))
    half = _rounded(anp.multiply(_f32(-0.5), x2))
    small = anp.add(x, anp.add(half, tail))
    return anp.where(anp.less(anp.abs(x), _f32(_LOG1P_SMALL)), small, large)


# XLA:CPU's erf (Eigen's rational interpolant): x * P(x^2) / Q(x^2), +-1 beyond |x| >= 3.8325
_ERF_ALPHA = np.array([0.00022905065861350646, 0.0034082910107109506, 0.050955695062380861,
                       0.18520832239976145, 1.128379143519084], np.float32)
_ERF_BETA = np.array([-1.1791602954361697e-7, 0.000023547966471313185, 0.0010179625278914885,
                      0.014070470171167667, 0.11098505178285362, 0.49746925110067538, 1.0],
                     np.float32)
_ERF_ONE = np.float32(3.832506856900711)


def erf(x: Tracer) -> Tracer:
    """erf of a float32 array as XLA:CPU computes it at run time (every Horner step an fma)."""
    x2 = anp.multiply(x, x)
    p = anp.multiply(x, _horner(x2, _ERF_ALPHA))
    q = _horner(x2, _ERF_BETA)
    one = anp.where(anp.less(x, _f32(0.0)), _f32(-1.0), _f32(1.0))
    return anp.where(anp.less_equal(_f32(_ERF_ONE), anp.abs(x)), one, anp.divide(p, q))


def erf_constant(x) -> np.ndarray:
    """erf of concrete float32 values as XLA's constant folder computes it (JAX's erf of a
    constant, e.g. truncated_normal's Python-number bounds, never runs the kernel above): erf
    in float64 rounded to float32 (measured equal to JAX on 200 of 200 values; the C library's
    erff differs on 5 of them)."""
    flat = np.asarray(x, np.float32).ravel()
    return np.array([math.erf(float(v)) for v in flat], np.float32).reshape(np.shape(x))


# glibc 2.36's tanf (Sun's k_tanf.c: tan(x) ~ x + x^3 * (T0 + ...) on [-pi/4, pi/4]); XLA:CPU
# calls the C library's tanf, element by element, for stablehlo.tan.
_TAN_T = np.array([3.3333334327e-01, 1.3333334029e-01, 5.3968254477e-02, 2.1869488060e-02,
                   8.8632395491e-03, 3.5920790397e-03, 1.4562094584e-03, 5.8804126456e-04,
                   2.4646313977e-04, 7.8179444245e-05, 7.1407252108e-05, -1.8558637748e-05,
                   2.5907305826e-05], np.float32)
_PIO4 = np.float32(7.8539812565e-01)
_PIO4_LO = np.float32(3.7748947079e-08)
# pi/2 as a sum of three float32s (for a reduction as exact as glibc's, done in double)
_PIO2 = (np.float32(np.pi / 2), np.float32(np.pi / 2 - np.float64(np.float32(np.pi / 2))))
_PIO2_LO = np.float32(np.pi / 2 - np.float64(_PIO2[0]) - np.float64(_PIO2[1]))


def _mul(a, b) -> Tracer:
    """a * b rounded to float32 on its own (kept out of fma contraction)."""
    return _rounded(anp.multiply(a, b))


def _two_sum(a: Tracer, b: Tracer) -> tuple[Tracer, Tracer]:
    """s = fl(a + b) and the exact error a + b - s (Knuth's TwoSum; no products to contract).
    s and s - a pass opaque's select: Vulkan's path folds (a + b) - a to b otherwise (and
    cauchy was then 1 ulp off on 17 % of draws)."""
    s = _rounded(anp.add(a, b))
    bb = _rounded(anp.subtract(s, a))
    return s, anp.add(anp.subtract(a, anp.subtract(s, bb)), anp.subtract(b, bb))


def _mask_low_bits(x: Tracer) -> Tracer:
    """x with the low 12 mantissa bits cleared (k_tanf's split of w and -1/w)."""
    return lax.bitcast_convert_type(lax.bitwise_and(_bits(x), anp.asarray(np.int32(-4096))),
                                    dtypes.float32)


def _tan_kernel(x: Tracer, y: Tracer, odd: Tracer) -> Tracer:
    """glibc's __kernel_tanf(x, y, iy) for |x + y| <= pi/4: tan(x + y), or -1/tan(x + y) where
    `odd` (iy = -1), op for op with separate roundings (glibc is built without contraction)."""
    iy = anp.where(odd, _f32(-1.0), _f32(1.0))
    negative = anp.less(x, _f32(0.0))
    big = anp.greater_equal(anp.abs(x), np.array(0x3F2CA140, np.uint32).view(np.float32))
    xa = anp.where(negative, anp.negative(x), x)
    ya = anp.where(negative, anp.negative(y), y)
    x_big = anp.add(anp.subtract(_f32(_PIO4), xa), anp.subtract(_f32(_PIO4_LO), ya))
    x = anp.where(big, x_big, x)
    y = anp.where(big, _f32(0.0), y)
    sign = anp.where(negative, _f32(-1.0), _f32(1.0))
    z = _mul(x, x)
    w = _mul(z, z)
    r = _TAN_T[11]
    for c in (_TAN_T[9], _TAN_T[7], _TAN_T[5], _TAN_T[3], _TAN_T[1]):
        r = anp.add(_f32(c), _mul(w, r))
    v = _TAN_T[12]
    for c in (_TAN_T[10], _TAN_T[8], _TAN_T[6], _TAN_T[4], _TAN_T[2]):
        v = anp.add(_f32(c), _mul(w, v))
    v = _mul(z, v)
    s = _mul(z, x)
    r = anp.add(y, _mul(z, anp.add(_mul(s, anp.add(r, v)), y)))
    r = anp.add(r, _mul(_f32(_TAN_T[0]), s))
    w = anp.add(x, r)
    # |x| >= 0.6744: tan(pi/4 - x) by the identity, with k_tanf's shortcut for tiny pi/4 - x
    big_out = anp.multiply(sign, anp.subtract(iy, _mul(_f32(2.0), anp.subtract(
        x, anp.subtract(anp.divide(_mul(w, w), anp.add(w, iy)), r)))))
    tiny_out = anp.multiply(anp.multiply(sign, iy),
                            anp.subtract(_f32(1.0), _mul(anp.multiply(_f32(2.0), iy), x)))
    big_out = anp.where(anp.less(anp.abs(x), _f32(2.0 ** -13)), tiny_out, big_out)
    # -1 / (x + r), accurately
    zh = _mask_low_bits(w)
    vv = anp.subtract(r, anp.subtract(zh, x))
    a = anp.divide(_f32(-1.0), w)
    t = _mask_low_bits(a)
    ss = anp.add(_f32(1.0), _mul(t, zh))
    inverse = anp.add(t, _mul(a, anp.add(ss, _mul(t, vv))))
    small_out = anp.where(odd, inverse, w)
    return anp.where(big, big_out, small_out)


def tan(x: Tracer) -> Tracer:
    """tan of a float32 array as XLA:CPU computes it on glibc 2.36 (its tanf), for |x| < 3pi/4
    (cauchy's range is (-pi/2, pi/2)); IREE's tan beyond that.

    |x| <= pi/4: the kernel directly. Above, x - (+-pi/2) as the float pair glibc's double
    reduction gives (TwoSum against pi/2 in three float32 pieces) and -1/tan of that. Inputs
    below 2**-13 give x (or -1/x after reduction), as glibc does.
    """
    ax = anp.abs(x)
    reduce = anp.greater(ax, np.array(0x3F490FDA, np.uint32).view(np.float32))
    half_pi = anp.where(anp.less(x, _f32(0.0)), _f32(-1.0), _f32(1.0))
    a = anp.subtract(x, anp.multiply(half_pi, _f32(_PIO2[0])))        # exact (Sterbenz)
    s, e = _two_sum(a, anp.negative(anp.multiply(half_pi, _f32(_PIO2[1]))))
    e = anp.subtract(e, anp.multiply(half_pi, _f32(_PIO2_LO)))
    y0 = _rounded(anp.add(s, e))
    y1 = anp.subtract(e, anp.subtract(y0, s))
    x0 = anp.where(reduce, y0, x)
    x1 = anp.where(reduce, y1, _f32(0.0))
    tiny = anp.less(anp.abs(x0), _f32(2.0 ** -13))
    tiny_out = anp.where(reduce, anp.divide(_f32(-1.0), x0), x0)
    out = anp.where(tiny, tiny_out, _tan_kernel(x0, x1, reduce))
    return anp.where(anp.less(ax, _f32(2.356194)), out, anp.tan(x))
