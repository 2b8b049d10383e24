"""Continuous samplers, each JAX's algorithm op for op (jax._src.random.core), so that equal keys
give equal bits: uniform sets the mantissa of 1.0 from random bits, normal is sqrt(2) *
erf_inv(uniform(-1, 1)), and the rest transform uniforms or normals exactly as JAX does."""

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import broadcast_shapes, shape_text
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.random import threefry, xla_math
from aotc.frontend.random.keys import float_dtype, shape_arg
from aotc.frontend.trace.tracer import Tracer, to_tracer

_UINT = {16: dtypes.uint16, 32: dtypes.uint32}


def finfo(dtype):
    return dtypes.finfo_or_iinfo(dtype)


def check_shape(name: str, shape: tuple, *param_shapes) -> None:
    """JAX's rule: parameters broadcast to exactly `shape`."""
    if param_shapes and broadcast_shapes(f"random.{name}", shape, *param_shapes) != shape:
        listed = ", ".join(shape_text(s) for s in param_shapes)
        raise TracingError(f"{caller_site()}: random.{name}: parameter shapes {listed} must "
                           f"broadcast to shape {shape_text(shape)}")


def param(x, dtype) -> Tracer:
    """A distribution parameter converted to the sample dtype."""
    return anp.astype(to_tracer(x), dtype)


def uniform_bits(key: Tracer, shape: tuple, dtype, minval, maxval) -> Tracer:
    """JAX's _uniform: random mantissa bits under 1.0's exponent, minus 1, scaled, max'ed."""
    info = finfo(dtype)
    nbits, nmant = info.bits, info.nmant
    minval = anp.reshape(param(minval, dtype), (1,) * (len(shape) - np.ndim(minval))
                         + tuple(np.shape(minval)))
    maxval = anp.reshape(param(maxval, dtype), (1,) * (len(shape) - np.ndim(maxval))
                         + tuple(np.shape(maxval)))
    rng_bits = 8 if nmant < 8 else nbits  # bfloat16 draws 8 bits, as JAX
    words = threefry.random_words(key, rng_bits, shape)
    one_bits = int(np.array(1.0, dtype).view(_UINT[nbits]))
    float_bits = lax.bitwise_or(lax.shift_right_logical(words, threefry.word(rng_bits - nmant)),
                                threefry.word(one_bits))
    if nbits == 16:  # below 2**15: the sign bit is 0
        float_bits = anp.astype(float_bits, dtypes.int16)
    one = anp.asarray(np.array(1.0, dtype))
    floats = anp.subtract(lax.bitcast_convert_type(float_bits, dtype), one)
    return anp.maximum(minval, anp.reshape(_affine(floats, maxval, minval, dtype), shape))


def _convert(x: Tracer, dtype) -> Tracer:
    return Tracer(ew.convert(x.value, dtypes.to_mlir(dtype)))


def _affine(floats: Tracer, maxval: Tracer, minval: Tracer, dtype) -> Tracer:
    """floats * (maxval - minval) + minval rounded as XLA:CPU rounds it: float32 and float16 with
    one rounding of the sum (XLA contracts float32 to an fma and computes float16 in float32),
    bfloat16 with one rounding per op. The product of a uniform's mantissa and the span is exact
    one float width up, so computing there (float64 for float32: IREE demotes it back to float32
    and fuses to an fma too) gives the fma's bits everywhere."""
    span = anp.subtract(maxval, minval)
    if np.dtype(dtype) == dtypes.bfloat16:
        # products of bfloat16s are exact in float32; rounding each op's result to bfloat16 by
        # bit manipulation keeps IREE from fusing the two roundings away (it computes bfloat16
        # in float32)
        floats, span, minval = (_convert(t, dtypes.float32) for t in (floats, span, minval))
        product = lax.reduce_precision(anp.multiply(floats, span), 8, 7)
        return _convert(lax.reduce_precision(anp.add(product, minval), 8, 7), dtype)
    wide = {dtypes.float32: dtypes.float64, dtypes.float16: dtypes.float32}[np.dtype(dtype)]
    floats, span, minval = (_convert(t, wide) for t in (floats, span, minval))
    return _convert(anp.add(anp.multiply(floats, span), minval), dtype)


def uniform(key, shape=(), dtype=None, minval=0.0, maxval=1.0) -> Tracer:
    """Uniform floats in [minval, maxval), bit-equal to jax.random.uniform.

    Example:
        >>> random.uniform(random.PRNGKey(0), (3,))
    """
    key = threefry.check_key("uniform", key)
    dtype = float_dtype("uniform", dtype)
    shape = shape_arg("uniform", shape)
    check_shape("uniform", shape, np.shape(minval), np.shape(maxval))
    return uniform_bits(key, shape, dtype, minval, maxval)


# Giles' single-precision erfinv, as XLA expands chlo.erf_inv (w < 5 and w >= 5 coefficients).
_ERF_INV_SMALL = np.array([2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                           0.00021858087, -0.00125372503, -0.00417768164, 0.246640727,
                           1.50140941], np.float32)
_ERF_INV_LARGE = np.array([-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                           0.00573950773, -0.0076224613, 0.00943887047, 1.00167406,
                           2.83297682], np.float32)


def _log(x: Tracer) -> Tracer:
    """log as XLA:CPU computes it (bit-equal) for float32; IREE's log for 16-bit floats."""
    return xla_math.log(x) if x.dtype == dtypes.float32 else anp.log(x)


def _log1p(x: Tracer) -> Tracer:
    """log1p as XLA:CPU computes it (bit-equal) for float32; IREE's log1p for 16-bit floats."""
    return xla_math.log1p(x) if x.dtype == dtypes.float32 else anp.log1p(x)


def _fma(a: Tracer, b: Tracer, c: Tracer) -> Tracer:
    """a * b + c for float32 a, b, c with one rounding (XLA:CPU contracts these to fmas): the
    product is exact in float64, which IREE demotes to float32 and fuses to an fma itself."""
    wide = [_convert(t, dtypes.float64) for t in (a, b, c)]
    return _convert(anp.add(anp.multiply(wide[0], wide[1]), wide[2]), dtypes.float32)


def erf_inv(x: Tracer) -> Tracer:
    """erf_inv(x) by XLA's expansion of chlo.erf_inv (16-bit floats computed in float32), op for
    op, so only log1p and the fma rounding can differ from JAX on CPU."""
    dtype = x.dtype
    x = _convert(x, dtypes.float32) if dtype != dtypes.float32 else x
    w = anp.negative(_log1p(anp.multiply(x, anp.negative(x))))
    small = anp.less(w, np.float32(5.0))
    w = anp.where(small, anp.add(w, np.float32(-2.5)), anp.add(anp.sqrt(w), np.float32(-3.0)))
    p = anp.where(small, _ERF_INV_SMALL[0], _ERF_INV_LARGE[0])
    for lo, hi in zip(_ERF_INV_SMALL[1:], _ERF_INV_LARGE[1:]):
        p = _fma(p, w, anp.where(small, lo, hi))
    # p * x through a select: Vulkan's path rewrites sqrt(2) * (p * x) in normal to
    # (sqrt(2) * p) * x, 1 ulp off on a third of the draws
    out = anp.where(anp.equal(anp.abs(x), np.float32(1.0)), anp.multiply(x, np.float32(np.inf)),
                    xla_math.opaque(anp.multiply(p, x)))
    return _convert(out, dtype) if dtype != dtypes.float32 else out


def normal_real(key: Tracer, shape: tuple, dtype) -> Tracer:
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = uniform_bits(key, shape, dtype, lo, np.array(1.0, dtype))
    return anp.multiply(anp.asarray(np.array(np.sqrt(2), dtype)), erf_inv(u))


def normal(key, shape=(), dtype=None) -> Tracer:
    """Standard normal floats: sqrt(2) * erf_inv(u) for u uniform in (-1, 1), as jax.random.normal.

    The uniforms are bit-equal to JAX's; erf_inv is XLA's polynomial with XLA:CPU's log1p.

    Example:
        >>> random.normal(random.PRNGKey(0), (2, 3))
    """
    key = threefry.check_key("normal", key)
    return normal_real(key, shape_arg("normal", shape), float_dtype("normal", dtype))


def truncated_normal(key, lower, upper, shape=None, dtype=None) -> Tracer:
    """Normal floats truncated to the open interval (lower, upper), as jax.random.truncated_normal.

    Example:
        >>> random.truncated_normal(key, -2.0, 2.0, (4,))
    """
    key = threefry.check_key("truncated_normal", key)
    dtype = float_dtype("truncated_normal", dtype)
    if shape is None:
        shape = broadcast_shapes("random.truncated_normal", np.shape(lower), np.shape(upper))
    else:
        shape = shape_arg("truncated_normal", shape)
        check_shape("truncated_normal", shape, np.shape(lower), np.shape(upper))
    sqrt2 = anp.asarray(np.array(np.sqrt(2), dtype))
    a, b = (_erf_of_bound(bound, dtype) for bound in (lower, upper))
    lower, upper = param(lower, dtype), param(upper, dtype)
    u = uniform_bits(key, shape, dtype, a, b)
    out = anp.multiply(sqrt2, erf_inv(u))
    return anp.clip(out, lax.nextafter(lax.stop_gradient(lower), anp.asarray(np.array(np.inf,
                                                                                      dtype))),
                    lax.nextafter(lax.stop_gradient(upper), anp.asarray(np.array(-np.inf, dtype))))


def _erf_of_bound(bound, dtype) -> Tracer:
    """erf(bound / sqrt(2)) as JAX computes it on CPU: for float32, XLA's constant folder's
    value when the bound is a concrete number and XLA:CPU's erf kernel when it is traced.

    Concrete bounds match JAX under jax.jit, where XLA folds the constants. Called eagerly,
    jax.random.truncated_normal runs its inner jit with the bounds as arguments, so erf runs
    the kernel there; its result can differ from the folded value by an ulp, and the samples
    by a few.
    """
    if dtype != dtypes.float32:
        return lax.erf(anp.divide(param(bound, dtype), anp.asarray(np.array(np.sqrt(2), dtype))))
    if not isinstance(bound, Tracer):
        scaled = np.asarray(bound, np.float32) / np.float32(np.sqrt(2))
        return anp.asarray(xla_math.erf_constant(scaled))
    return xla_math.erf(anp.divide(param(bound, dtype), anp.asarray(np.float32(np.sqrt(2)))))


def bernoulli(key, p=0.5, shape=None, mode: str = "low") -> Tracer:
    """Booleans, True with probability p: uniform(key, shape, p's dtype) < p, as
    jax.random.bernoulli (mode='high' adds a second uniform for tiny p, as JAX).

    Example:
        >>> random.bernoulli(key, 0.3, (5,))
    """
    key = threefry.check_key("bernoulli", key)
    if mode not in ("low", "high"):
        raise TracingError(f"{caller_site()}: random.bernoulli: mode={mode!r}; use 'low' or 'high'")
    p = to_tracer(p)
    if not dtypes.is_float(p.dtype):
        raise TracingError(f"{caller_site()}: random.bernoulli: p must be a float, got {p.dtype}")
    shape = p.shape if shape is None else shape_arg("bernoulli", shape)
    check_shape("bernoulli", shape, p.shape)
    if mode == "high":
        u = uniform_bits(key, (2, *shape), p.dtype, 0.0, 1.0)
        u1, u2 = u[0], u[1]
        u2 = anp.multiply(u2, 2.0 ** -finfo(p.dtype).nmant)
        return anp.less(u2, anp.subtract(p, u1))
    return anp.less(uniform_bits(key, shape, p.dtype, 0.0, 1.0), p)


def gumbel(key, shape=(), dtype=None, mode: str | None = None) -> Tracer:
    """Standard Gumbel floats, -log(-log(u)), as jax.random.gumbel (mode 'low', JAX's default,
    or 'high', which draws two uniforms for a longer tail).

    Example:
        >>> random.gumbel(key, (3,))
    """
    key = threefry.check_key("gumbel", key)
    dtype = float_dtype("gumbel", dtype)
    shape = shape_arg("gumbel", shape)
    return gumbel_real(key, shape, dtype, mode or "low")


def gumbel_real(key: Tracer, shape: tuple, dtype, mode: str) -> Tracer:
    info = finfo(dtype)
    if mode == "high":
        u = uniform_bits(key, (2, *shape), dtype, 0.0, 1.0)
        high, low = u[0], u[1]
        x = anp.where(anp.greater_equal(high, 0.5), high,
                      anp.add(anp.add(high, anp.multiply(2.0 ** -info.nmant, low)),
                              float(info.tiny)))
        return anp.negative(_log(anp.negative(_log1p(anp.negative(x)))))
    if mode != "low":
        raise TracingError(f"{caller_site()}: random.gumbel: mode={mode!r}; aotc has 'low' (JAX's "
                           "default) and 'high'")
    u = uniform_bits(key, shape, dtype, np.array(info.tiny, dtype), 1.0)
    return anp.negative(_log(anp.negative(_log(u))))


def exponential(key, shape=(), dtype=None) -> Tracer:
    """Exponential(1) floats, -log1p(-u), as jax.random.exponential.

    Example:
        >>> random.exponential(key, (3,))
    """
    key = threefry.check_key("exponential", key)
    u = uniform_bits(key, shape_arg("exponential", shape), float_dtype("exponential", dtype),
                     0.0, 1.0)
    return anp.negative(_log1p(anp.negative(u)))


def laplace(key, shape=(), dtype=None) -> Tracer:
    """Laplace(0, 1) floats, sign(u) * log1p(-|u|) for u in (-1, 1), as jax.random.laplace.

    Example:
        >>> random.laplace(key, (3,))
    """
    key = threefry.check_key("laplace", key)
    dtype = float_dtype("laplace", dtype)
    minval = np.array(-1.0 + float(finfo(dtype).epsneg), dtype)
    u = uniform_bits(key, shape_arg("laplace", shape), dtype, minval, 1.0)
    # sign(u) by selects (u is finite): IREE 3.13 cannot lower float16 sign (math.copysign)
    # for Vulkan
    sign = anp.where(anp.greater(u, 0), np.array(1, dtype), anp.where(anp.less(u, 0),
                                                                      np.array(-1, dtype), u))
    return anp.multiply(sign, _log1p(anp.negative(anp.abs(u))))


def logistic(key, shape=(), dtype=None) -> Tracer:
    """Standard logistic floats, log(u) - log1p(-u), as jax.random.logistic.

    Example:
        >>> random.logistic(key, (3,))
    """
    key = threefry.check_key("logistic", key)
    dtype = float_dtype("logistic", dtype)
    u = uniform_bits(key, shape_arg("logistic", shape), dtype, np.array(finfo(dtype).tiny,
                                                                        dtype), 1.0)
    return anp.subtract(_log(u), _log1p(anp.negative(u)))


def cauchy(key, shape=(), dtype=None) -> Tracer:
    """Standard Cauchy floats, tan(pi * (u - 1/2)), as jax.random.cauchy.

    Example:
        >>> random.cauchy(key, (3,))
    """
    key = threefry.check_key("cauchy", key)
    dtype = float_dtype("cauchy", dtype)
    u = uniform_bits(key, shape_arg("cauchy", shape), dtype, np.array(finfo(dtype).eps, dtype),
                     1.0)
    x = anp.multiply(anp.asarray(np.array(np.pi, dtype)),
                     anp.subtract(u, anp.asarray(np.array(0.5, dtype))))
    return xla_math.tan(x) if dtype == dtypes.float32 else anp.tan(x)


def rademacher(key, shape=(), dtype=None) -> Tracer:
    """-1 or +1 with equal probability (int32 by default), as jax.random.rademacher.

    Example:
        >>> random.rademacher(key, (4,))
    """
    key = threefry.check_key("rademacher", key)
    dt = dtypes.int32 if dtype is None else dtypes.canonical_default(dtypes.canonicalize(dtype))
    shape = shape_arg("rademacher", shape)
    b = anp.astype(anp.less(uniform_bits(key, shape, dtypes.float32, 0.0, 1.0), 0.5), dt)
    return anp.astype(anp.subtract(anp.multiply(2, b), 1), dt)


def cholesky_lower(a: Tracer) -> Tracer:
    """The lower Cholesky factor of (a batch of) SPD matrices, column by column in a fori_loop.

    random sits below aotc's linalg layer, so multivariate_normal carries this small one. Only
    the lower triangle of `a` is read, as LAPACK's potrf (and so JAX) does.
    """
    n = a.shape[-1]
    rows = lax.broadcasted_iota(dtypes.int32, (n, n), 0)
    cols = lax.broadcasted_iota(dtypes.int32, (n, n), 1)
    a = anp.where(anp.greater_equal(rows, cols), a, anp.swapaxes(a, -1, -2))
    index = anp.arange(n)
    one, zero = anp.ones((), a.dtype), anp.zeros((), a.dtype)

    def column(j, factor):
        unit = anp.where(anp.equal(index, j), one, zero)                      # e_j (a select:
        # IREE 3.13 fails on a bool-to-float convert fused into the matmul)
        row_j = anp.matmul(unit, factor)                                      # L[j, :]
        a_col = anp.matmul(a, unit)                                           # A[:, j]
        v = anp.subtract(a_col, anp.matmul(factor, row_j[..., None])[..., 0])
        pivot = anp.sqrt(anp.sum(anp.multiply(v, unit), axis=-1, keepdims=True))
        col = anp.where(anp.greater(index, j), anp.divide(v, pivot),
                        anp.where(anp.equal(index, j), pivot, anp.zeros_like(v)))
        return anp.add(factor, anp.multiply(col[..., :, None], unit))

    return lax.fori_loop(0, n, column, anp.zeros_like(a))


def multivariate_normal(key, mean, cov, shape=None, dtype=None, method: str = "cholesky"
                        ) -> Tracer:
    """mean + L @ z for z standard normal and L the Cholesky factor of cov, as
    jax.random.multivariate_normal's default method='cholesky' (the only one aotc has).

    Example:
        >>> random.multivariate_normal(key, anp.zeros(2), anp.eye(2), (5,))   # (5, 2)
    """
    key = threefry.check_key("multivariate_normal", key)
    if method != "cholesky":
        raise TracingError(f"{caller_site()}: random.multivariate_normal: method={method!r}; aotc "
                           "has method='cholesky' (JAX's default)")
    mean, cov = to_tracer(mean), to_tracer(cov)
    work = dtypes.promote((mean.dtype, mean.weak_type), (cov.dtype, cov.weak_type))[0]
    work = dtypes.float32 if not dtypes.is_float(work) or work == dtypes.float64 else work
    mean, cov = anp.astype(mean, work), anp.astype(cov, work)
    dtype = mean.dtype if dtype is None else float_dtype("multivariate_normal", dtype)
    if mean.ndim < 1 or cov.ndim < 2 or cov.shape[-2:] != (mean.shape[-1],) * 2:
        raise TracingError(f"{caller_site()}: random.multivariate_normal: mean must be (..., n) "
                           f"and cov (..., n, n), got {shape_text(mean.shape)} and "
                           f"{shape_text(cov.shape)}")
    if shape is None:
        shape = broadcast_shapes("random.multivariate_normal", mean.shape[:-1], cov.shape[:-2])
    else:
        shape = shape_arg("multivariate_normal", shape)
        check_shape("multivariate_normal", shape, mean.shape[:-1], cov.shape[:-2])
    factor = cholesky_lower(cov)
    z = normal_real(key, (*shape, mean.shape[-1]), dtype)
    return anp.add(mean, anp.matmul(factor, z[..., None])[..., 0])




