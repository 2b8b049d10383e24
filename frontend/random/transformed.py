"""Samplers that transform other samplers, each JAX's algorithm op for op (jax._src.random.core):
chisquare, f and t (gamma), lognormal, pareto, weibull_min, rayleigh, maxwell,
double_sided_maxwell, generalized_normal, ball, triangular and wald.

float32 is rounded as XLA:CPU rounds it, so equal keys give equal bits on the interpreter and
IREE's CPU targets: log, log1p and erf_inv come from xla_math (through distributions), exp and
gamma from gamma.py, a multiply feeding an add is an fma where XLA contracts one, and parameters
that are concrete numbers are folded as XLA's constant folder folds them (`concrete`,
`_single_value`: the rules differ between single-valued and other constants, as measured).
What stays inexact is pow with a non-trivial exponent (weibull_min, generalized_normal, ball and
gamma-based samplers with a < 1): XLA:CPU calls glibc's powf, which computes in double with
tables, and IREE demotes double to float (see gamma.py).
"""

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import broadcast_shapes
from aotc.frontend.random import threefry, xla_math
from aotc.frontend.random.distributions import (
    _log,
    _log1p,
    check_shape,
    erf_inv,
    normal_real,
    param,
    uniform_bits,
)
from aotc.frontend.random.gamma import (
    _exp_any,
    _flush,
    _gamma,
    _marsaglia_tsang,
    _split,
    _uniform01,
)
from aotc.frontend.random.keys import float_dtype, shape_arg, split_keys
from aotc.frontend.trace.tracer import Tracer, to_tracer


def sample_shape(name: str, shape, *params) -> tuple[int, ...]:
    """JAX's `_check_broadcast_shapes`: the parameters' broadcast shape when shape is None, else
    shape, which the parameters must broadcast to."""
    shapes = [np.shape(p) for p in params]
    if shape is None:
        return broadcast_shapes(f"random.{name}", *shapes)
    shape = shape_arg(name, shape)
    check_shape(name, shape, *shapes)
    return shape


def sampler_args(name: str, key, dtype, shape, *params) -> tuple[Tracer, object, tuple[int, ...]]:
    """A float sampler's checked key, float dtype and sample shape (`sample_shape`)."""
    return (threefry.check_key(name, key), float_dtype(name, dtype),
            sample_shape(name, shape, *params))


def concrete(x, dtype) -> np.ndarray | None:
    """x as a numpy array of `dtype` when it is a concrete value (XLA folds arithmetic on it at
    compile time), None when it is traced."""
    return None if isinstance(x, Tracer) else np.asarray(x).astype(dtype)


def _const(value, dtype) -> Tracer:
    return anp.asarray(np.array(value, dtype))


def _fma(a: Tracer, b: Tracer, c: Tracer) -> Tracer:
    """a * b + c as XLA:CPU computes float32: one rounding (an fma); 16-bit floats round per op
    (XLA computes their fusions in float32, so those stay within a few ulps, not exact)."""
    if a.dtype == dtypes.float32:
        return xla_math.fma(a, b, c)
    return anp.add(anp.multiply(a, b), c)


def _exponential(key: Tracer, shape: tuple, dtype) -> Tracer:
    return anp.negative(_log1p(anp.negative(uniform_bits(key, shape, dtype, 0.0, 1.0))))


def _half(df, dtype) -> Tracer | np.ndarray:
    """df / 2 in the sample dtype: a numpy value for a concrete df (so gamma folds its constants
    as XLA does), a tracer otherwise."""
    folded = concrete(df, dtype)
    if folded is not None:
        return (folded / np.array(2, dtype)).astype(dtype)
    return anp.divide(param(df, dtype), _const(2, dtype))


def _single_value(x, dtype) -> np.ndarray | None:
    """The one value of a concrete x whose entries are all equal (XLA folds such a splat
    constant into scalar arithmetic), else None."""
    values = concrete(x, dtype)
    if values is None or values.size == 0 or not np.all(values == values.ravel()[0]):
        return None
    return values.ravel()[0]


def _gamma_of(name: str, key: Tracer, a, shape: tuple, dtype, log_space: bool) -> Tracer:
    """jax.random.gamma / loggamma(key, a, shape, dtype) as JAX computes them under jit.

    For a float32 a with one concrete value, XLA folds d = a - 1/3 (a + 2/3 below 1),
    c = (1/3) / sqrt(d) and log(d) at compile time: c as that division (gamma.py's folded
    1/3 * (1 / sqrt(d)) differs for a = 2.5: 12 of 80 samples) and log(d) as float64 log
    rounded to float32 (equal to the folder on 300 of 300 values; gamma.py's loggamma runs the
    log kernel, 67 of 80 samples differ for a = 2). This path draws gamma.py's V and u with
    those constants; other a go to gamma.py."""
    alpha = _single_value(a, dtype) if dtype == dtypes.float32 else None
    n = int(np.prod(shape, dtype=np.int64))
    if alpha is None or n == 0:
        return _gamma(name, key, a, shape, dtype, log_space=log_space)
    check_shape(name, shape, np.shape(a))
    boost = bool(alpha >= 1)
    d = (alpha if boost else alpha + np.float32(1)) + np.float32(-1.0 / 3.0)
    c = np.float32(1.0 / 3.0) / np.sqrt(d)
    key_v, subkey = _split(threefry.hash_counters(key, (n,)), 2)
    V = _marsaglia_tsang(key_v, anp.full((n,), d), anp.full((n,), c))
    u = _uniform01(subkey, dtype)
    if log_space:
        out = anp.add(_const(np.log(np.float64(d)), dtype), _log(V))
        if not boost:
            log_samples = _log1p(anp.negative(u))
            scaled = anp.multiply(log_samples, _const(np.float32(1) / alpha, dtype))
            out = anp.add(out, anp.where(anp.equal(log_samples, _const(0, dtype)),
                                         _const(0, dtype), scaled))
    else:
        out = _flush(anp.multiply(_const(d, dtype), V))
        if not boost:
            factor = anp.power(anp.subtract(_const(1, dtype), u), _const(np.float32(1) / alpha,
                                                                         dtype))
            out = _flush(anp.multiply(out, _flush(factor)))
    return anp.reshape(out, shape)


def _divide(x: Tracer, y, dtype) -> Tracer:
    """x / y as XLA computes it: times the folded reciprocal when y is a concrete value
    (XLA's simplifier rewrites a division by a constant so), a division otherwise."""
    folded = concrete(y, dtype)
    if folded is not None:
        return anp.multiply(x, anp.asarray((np.array(1, dtype) / folded).astype(dtype)))
    return anp.divide(x, param(y, dtype))


def _chisquare(name: str, key: Tracer, df, shape: tuple, dtype) -> Tracer:
    log_g = _gamma_of(name, key, _half(df, dtype), shape, dtype, log_space=True)
    return anp.multiply(_exp_any(log_g), _const(2, dtype))


def chisquare(key, df, shape=None, dtype=None) -> Tracer:
    """Chi-square floats with df degrees of freedom: 2 exp(loggamma(df / 2)), as
    jax.random.chisquare (bit-equal for float32 on CPU: loggamma and exp are XLA's).

    Example:
        >>> random.chisquare(random.PRNGKey(0), 3.0, (4,))
    """
    key = threefry.check_key("chisquare", key)
    dtype = float_dtype("chisquare", dtype)
    return _chisquare("chisquare", key, df, sample_shape("chisquare", shape, df), dtype)


def f(key, dfnum, dfden, shape=None, dtype=None) -> Tracer:
    """F-distributed floats, (chisquare(dfnum) / dfnum) / (chisquare(dfden) / dfden) from split
    keys, as jax.random.f.

    Example:
        >>> random.f(random.PRNGKey(0), 2.0, 5.0, (4,))
    """
    key, dtype, shape = sampler_args("f", key, dtype, shape, dfnum, dfden)
    key_dfd, key_dfn = split_keys(key, 2)
    chi2_num = _chisquare("f", key_dfn, dfnum, shape, dtype)
    chi2_den = _chisquare("f", key_dfd, dfden, shape, dtype)
    num = _divide(chi2_num, dfnum, dtype)
    den = _divide(chi2_den, dfden, dtype)
    return anp.divide(num, den)


def t(key, df, shape=None, dtype=None) -> Tracer:
    """Student's t floats, normal * sqrt((df / 2) / gamma(df / 2)) from split keys, as
    jax.random.t. Bit-equal for float32 on CPU when df >= 2; below, gamma's a < 1 boost goes
    through pow (see random.gamma).

    Example:
        >>> random.t(random.PRNGKey(0), 5.0, (4,))
    """
    key, dtype, shape = sampler_args("t", key, dtype, shape, df)
    key_n, key_g = split_keys(key, 2)
    n = normal_real(key_n, shape, dtype)
    half_df = _half(df, dtype)
    g = _gamma_of("t", key_g, half_df, shape, dtype, log_space=False)
    return anp.multiply(n, anp.sqrt(anp.divide(to_tracer(half_df), g)))


def lognormal(key, sigma=1.0, shape=None, dtype=None) -> Tracer:
    """Log-normal floats, exp(sigma * normal), as jax.random.lognormal.

    Example:
        >>> random.lognormal(random.PRNGKey(0), 0.5, (4,))
    """
    key, dtype, shape = sampler_args("lognormal", key, dtype, shape, sigma)
    folded = concrete(sigma, dtype)
    if folded is None or dtype != dtypes.float32:
        return _exp_any(anp.multiply(normal_real(key, shape, dtype), param(sigma, dtype)))
    # XLA reassociates (sqrt(2) * erf_inv(u)) * sigma to erf_inv(u) * (sqrt(2) * sigma)
    lo = np.nextafter(np.float32(-1), np.float32(0))
    u = uniform_bits(key, shape, dtype, lo, np.float32(1))
    return _exp_any(anp.multiply(erf_inv(u), anp.asarray(np.float32(np.sqrt(2)) * folded)))


def pareto(key, b, shape=None, dtype=None) -> Tracer:
    """Pareto(b) floats on [1, inf), exp(exponential / b), as jax.random.pareto.

    Example:
        >>> random.pareto(random.PRNGKey(0), 3.0, (4,))
    """
    key, dtype, shape = sampler_args("pareto", key, dtype, shape, b)
    return _exp_any(_divide(_exponential(key, shape, dtype), b, dtype))


def weibull_min(key, scale, concentration, shape=(), dtype=None) -> Tracer:
    """Weibull floats, (-log1p(-u)) ** (1 / concentration) * scale, as jax.random.weibull_min
    (the result broadcasts shape with the parameters' shapes, as JAX's).

    The power is the backend's pow where XLA:CPU calls glibc's powf, so the bits differ from
    JAX's by a few ulps unless 1 / concentration is 1 (see the module docstring).

    Example:
        >>> random.weibull_min(random.PRNGKey(0), 1.0, 1.5, (4,))
    """
    key = threefry.check_key("weibull_min", key)
    dtype = float_dtype("weibull_min", dtype)
    shape = shape_arg("weibull_min", shape)
    u = uniform_bits(key, shape, dtype, 0.0, 1.0)
    base = anp.negative(_log1p(anp.negative(u)))
    return anp.multiply(_power(base, concentration, dtype), param(scale, dtype))


def _reciprocal(x, dtype) -> Tracer | np.ndarray:
    """1 / x in the sample dtype: a numpy value for a concrete x (XLA folds it; gamma folds its
    constants from it), a tracer otherwise."""
    folded = concrete(x, dtype)
    if folded is not None:
        return (np.array(1, dtype) / folded).astype(dtype)
    return anp.divide(_const(1, dtype), param(x, dtype))


def _power(x: Tracer, p, dtype) -> Tracer:
    """x ** (1 / p); x itself for a concrete p = 1, where XLA drops the power."""
    if not isinstance(p, Tracer) and np.all(np.asarray(p) == 1):
        return x
    return anp.power(x, to_tracer(_reciprocal(p, dtype)))


def rayleigh(key, scale, shape=None, dtype=None) -> Tracer:
    """Rayleigh floats, scale * sqrt(-2 log(u)), as jax.random.rayleigh.

    Example:
        >>> random.rayleigh(random.PRNGKey(0), 2.0, (4,))
    """
    key, dtype, shape = sampler_args("rayleigh", key, dtype, shape, scale)
    u = uniform_bits(key, shape, dtype, 0.0, 1.0)
    scale = anp.broadcast_to(param(scale, dtype), shape)
    return anp.multiply(scale, anp.sqrt(anp.multiply(_log(u), _const(-2, dtype))))


def _maxwell(key: Tracer, shape: tuple, dtype) -> Tracer:
    """JAX's norm of 3 normals z: sqrt(z0^2 + z1^2 + z2^2), rounded as XLA:CPU's reduce loop
    rounds it (read from its object code): fma(z2, z2, fma(z0, z0, z1^2)) with z1^2 rounded."""
    z = normal_real(key, (*shape, 3), dtype)
    z0, z1, z2 = z[..., 0], z[..., 1], z[..., 2]
    square = anp.multiply(z1, z1)
    if dtype == dtypes.float32:
        square = xla_math.opaque(square)
    return anp.sqrt(_fma(z2, z2, _fma(z0, z0, square)))


def maxwell(key, shape=(), dtype=None) -> Tracer:
    """Maxwell floats, the norm of 3 standard normals, as jax.random.maxwell.

    Example:
        >>> random.maxwell(random.PRNGKey(0), (4,))
    """
    key = threefry.check_key("maxwell", key)
    dtype = float_dtype("maxwell", dtype)
    return _maxwell(key, shape_arg("maxwell", shape), dtype)


def double_sided_maxwell(key, loc, scale, shape=(), dtype=None) -> Tracer:
    """Double-sided Maxwell floats, rademacher * maxwell * scale + loc from split keys, as
    jax.random.double_sided_maxwell (whose result shape is shape + the parameters' broadcast
    shape, or that broadcast shape when shape is ()).

    Example:
        >>> random.double_sided_maxwell(random.PRNGKey(0), 0.0, 1.0, (4,))
    """
    key = threefry.check_key("double_sided_maxwell", key)
    dtype = float_dtype("double_sided_maxwell", dtype)
    params = broadcast_shapes("random.double_sided_maxwell", np.shape(loc), np.shape(scale))
    shape = shape_arg("double_sided_maxwell", shape) or params
    shape = (*shape, *params)
    maxwell_key, sign_key = split_keys(key, 2)
    magnitude = _maxwell(maxwell_key, shape, dtype)
    sign = _rademacher(sign_key, shape, dtype)
    return _fma(anp.multiply(sign, magnitude), param(scale, dtype), param(loc, dtype))


def _rademacher(key: Tracer, shape: tuple, dtype) -> Tracer:
    """JAX's rademacher: 2 * bernoulli(0.5) - 1 in dtype."""
    b = anp.astype(anp.less(uniform_bits(key, shape, dtypes.float32, 0.0, 1.0), 0.5), dtype)
    return anp.subtract(anp.multiply(_const(2, dtype), b), _const(1, dtype))


def generalized_normal(key, p, shape=(), dtype=None) -> Tracer:
    """Generalized normal floats, rademacher * gamma(1 / p) ** (1 / p) from split keys, as
    jax.random.generalized_normal (p = 2 is a normal / sqrt(2), p = 1 a Laplace).

    Bit-equal for float32 on CPU when p = 1 (no pow); otherwise within the ulps of pow (see
    random.gamma and the module docstring).

    Example:
        >>> random.generalized_normal(random.PRNGKey(0), 1.5, (4,))
    """
    key = threefry.check_key("generalized_normal", key)
    dtype = float_dtype("generalized_normal", dtype)
    return _generalized_normal("generalized_normal", key, p, shape_arg("generalized_normal",
                                                                        shape), dtype)


def _generalized_normal(name: str, key: Tracer, p, shape: tuple, dtype) -> Tracer:
    gamma_key, sign_key = split_keys(key, 2)
    g = _gamma_of(name, gamma_key, _reciprocal(p, dtype), shape, dtype, log_space=False)
    sign = _rademacher(sign_key, shape, dtype)
    return anp.multiply(sign, _power(g, p, dtype))


def ball(key, d: int, p: float = 2, shape=(), dtype=None) -> Tracer:
    """Points uniform in the d-dimensional unit p-ball, as jax.random.ball: g / (sum |g|^p +
    e) ** (1/p) for g generalized_normal(p) and e exponential, from split keys. Within a few
    ulps of JAX (pow; see generalized_normal).

    Example:
        >>> random.ball(random.PRNGKey(0), 3, 2, (4,))   # (4, 3)
    """
    key = threefry.check_key("ball", key)
    dtype = float_dtype("ball", dtype)
    shape = shape_arg("ball", shape)
    if not isinstance(d, (int, np.integer)) or d < 0:
        raise TracingError(f"{caller_site()}: random.ball: d must be a static int >= 0, got "
                           f"{d!r}")
    k1, k2 = split_keys(key, 2)
    g = _generalized_normal("ball", k1, p, (*shape, int(d)), dtype)
    e = _exponential(k2, shape, dtype)
    powered = anp.power(anp.abs(g), param(p, dtype))
    total = anp.add(anp.sum(powered, axis=-1), e)
    return anp.divide(g, _power(total, p, dtype)[..., None])


def wald(key, mean, shape=None, dtype=None) -> Tracer:
    """Wald (inverse Gaussian) floats with the given mean, as jax.random.wald: Michael, Schucany
    and Haas' transformation of a normal (key 1) with a uniform (key 2) choosing the root.
    float32 rounds as XLA:CPU (read off JAX's bits): fma(4 mean, y, mean^2 y^2) under the
    square root and x = fma(-mean / 2, sqrt_term, mean + mean^2 y / 2).

    Example:
        >>> random.wald(random.PRNGKey(0), 1.5, (4,))
    """
    key, dtype, shape = sampler_args("wald", key, dtype, shape, mean)
    k1, k2 = split_keys(key, 2)
    mean = anp.broadcast_to(param(mean, dtype), shape)
    v = normal_real(k1, shape, dtype)
    z = uniform_bits(k2, shape, dtype, 0.0, 1.0)
    y = anp.multiply(v, v)
    mean_sq = anp.multiply(mean, mean)
    y_sq_term = anp.multiply(mean_sq, anp.multiply(y, y))
    if dtype == dtypes.float32:
        y_sq_term = xla_math.opaque(y_sq_term)
    sqrt_term = anp.sqrt(_fma(anp.multiply(_const(4, dtype), mean), y, y_sq_term))
    half = anp.divide(anp.multiply(mean_sq, y), _const(2, dtype))
    x = _fma(anp.negative(anp.divide(mean, _const(2, dtype))), sqrt_term, anp.add(mean, half))
    return anp.where(anp.less_equal(z, anp.divide(mean, anp.add(mean, x))), x,
                     anp.divide(mean_sq, x))


def triangular(key, left, mode, right, shape=None, dtype=None) -> Tracer:
    """Triangular(left, mode, right) floats by the inverse CDF, as jax.random.triangular.

    Example:
        >>> random.triangular(random.PRNGKey(0), 0.0, 0.3, 1.0, (4,))
    """
    key, dtype, shape = sampler_args("triangular", key, dtype, shape, left, mode, right)
    u = uniform_bits(key, shape, dtype, 0.0, 1.0)
    values = [_single_value(x, dtype) for x in (left, mode, right)]
    if all(v is not None for v in values):
        return _triangular_folded(u, *values)
    left, mode, right = (anp.broadcast_to(param(x, dtype), shape) for x in (left, mode, right))
    width = anp.subtract(right, left)
    fc = anp.divide(anp.subtract(mode, left), width)
    out1 = anp.add(left, anp.sqrt(anp.multiply(anp.multiply(u, width), anp.subtract(mode, left))))
    out2 = anp.subtract(right, anp.sqrt(anp.multiply(anp.multiply(anp.subtract(_const(1, dtype), u),
                                                               width),
                                                  anp.subtract(right, mode))))
    return anp.where(anp.less(u, fc), out1, out2)


def _triangular_folded(u: Tracer, left: np.ndarray, mode: np.ndarray, right: np.ndarray
                       ) -> Tracer:
    """triangular for single-valued concrete bounds as XLA folds it: the constant factors of
    u * (right - left) * (mode - left) are multiplied first ((u * c1) * c2 -> u * (c1 * c2));
    measured: XLA does not reassociate so for bounds of several values."""
    dtype = u.dtype
    width = right - left
    fc, up, down = (mode - left) / width, width * (mode - left), width * (right - mode)
    out1 = anp.add(anp.asarray(left), anp.sqrt(anp.multiply(u, anp.asarray(up))))
    out2 = anp.subtract(anp.asarray(right), anp.sqrt(anp.multiply(
        anp.subtract(_const(1, dtype), u), anp.asarray(down))))
    return anp.where(anp.less(u, anp.asarray(fc)), out1, out2)


__all__ = ["ball", "chisquare", "double_sided_maxwell", "f", "generalized_normal", "lognormal",
           "maxwell", "pareto", "rayleigh", "t", "triangular", "wald", "weibull_min"]
