"""lax.random_gamma_grad: d x / d a of a Gamma(a, 1) sample x, by implicit differentiation of the
regularized incomplete gamma function P(a, x) (what a sample's CDF value stays fixed at):
d x / d a = -(dP/da) / (dP/dx).

Ported op for op from JAX's `random_gamma_grad_impl` (jax._src.lax.special, itself TensorFlow's
igamma gradient, mode SAMPLE_DERIVATIVE): below x = max(1, a) the power series of P, above it
the continued fraction of Q = 1 - P (at most 2000 terms), each a while loop that carries the
series and its derivative in a until every element's relative update falls under the dtype's
epsilon. 16-bit floats are computed in float32, as JAX does.
"""

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.lax.control import while_loop
from aotc.frontend.lax.more_elementwise import _require, _same_dtype, digamma, lgamma
from aotc.frontend.trace.tracer import Tracer

__all__ = ["random_gamma_grad"]


def _full(like: Tracer, value) -> Tracer:
    return anp.full(like.shape, value, like.dtype)


def _const(like: Tracer, value) -> Tracer:
    return anp.asarray(np.array(value, like.dtype))


def _series(x: Tracer, a: Tracer, enabled: Tracer, eps: float) -> Tracer:
    """JAX's `_igamma_series` in SAMPLE_DERIVATIVE mode: dx/da = -(dP/da) / (dP/dx) from P's
    power series, for the enabled elements (the series' factor x^a e^-x / Gamma(a) cancels)."""

    def body(vals):
        enabled, r, c, ans, x, dc_da, dans_da = vals
        r = r + _const(r, 1.0)
        dc_da = dc_da * (x / r) - (c * x) / (r * r)
        dans_da = dans_da + dc_da
        c = c * (x / r)
        ans = ans + c
        conditional = anp.logical_and(enabled, anp.abs(dc_da / dans_da) > _const(r, eps))
        new = (r, c, ans, x, dc_da, dans_da)
        return (conditional, *(anp.where(enabled, n, o) for n, o in zip(new, vals[1:])))

    init = (enabled, a, _full(a, 1.0), _full(a, 1.0), x, _full(a, 0.0), _full(a, 0.0))
    vals = while_loop(lambda vals: anp.any(vals[0]), body, init)
    ans, dans_da = vals[3], vals[6]
    dlogax_da = anp.log(x) - digamma(a + _const(a, 1.0))
    return -(dans_da + ans * dlogax_da) * x / a


def _continued_fraction_step(vals: tuple, eps: float) -> tuple:
    """One term of Q's continued fraction (JAX's body_fn of `_igammac_continued_fraction`)."""
    (enabled, ans, t, y, z, c, pkm1, qkm1, pkm2, qkm2,
     dpkm2_da, dqkm2_da, dpkm1_da, dqkm1_da, dans_da) = vals
    c = c + _const(c, 1.0)
    y = y + _const(y, 1.0)
    z = z + _const(z, 2.0)
    yc = y * c
    pk = pkm1 * z - pkm2 * yc
    qk = qkm1 * z - qkm2 * yc
    qk_is_nonzero = anp.not_equal(qk, _const(qk, 0.0))
    r = pk / qk
    t = anp.where(qk_is_nonzero, anp.abs((ans - r) / r), _full(r, 1.0))
    ans = anp.where(qk_is_nonzero, r, ans)
    dpk_da = dpkm1_da * z - pkm1 - dpkm2_da * yc + pkm2 * c
    dqk_da = dqkm1_da * z - qkm1 - dqkm2_da * yc + qkm2 * c
    dans_da_new = anp.where(qk_is_nonzero, (dpk_da - ans * dqk_da) / qk, dans_da)
    grad_conditional = anp.where(qk_is_nonzero, anp.abs(dans_da_new - dans_da),
                                 _full(dans_da, 1.0))
    pkm2, pkm1, qkm2, qkm1 = pkm1, pk, qkm1, qk
    dpkm2_da, dqkm2_da, dpkm1_da, dqkm1_da = dpkm1_da, dqkm1_da, dpk_da, dqk_da
    rescale = anp.abs(pk) > anp.reciprocal(_const(pk, eps))
    scaled = [anp.where(rescale, v * _const(v, eps), v)
              for v in (pkm2, pkm1, qkm2, qkm1, dpkm2_da, dqkm2_da, dpkm1_da, dqkm1_da)]
    pkm2, pkm1, qkm2, qkm1, dpkm2_da, dqkm2_da, dpkm1_da, dqkm1_da = scaled
    conditional = anp.logical_and(enabled, grad_conditional > _const(grad_conditional, eps))
    new = (ans, t, y, z, c, pkm1, qkm1, pkm2, qkm2, dpkm2_da, dqkm2_da, dpkm1_da, dqkm1_da,
           dans_da_new)
    kept = [n if i == 4 else anp.where(enabled, n, o)              # c counts for every element
            for i, (n, o) in enumerate(zip(new, vals[1:]))]
    return (conditional, *kept)


def _continued_fraction(x: Tracer, a: Tracer, enabled: Tracer, eps: float) -> Tracer:
    """JAX's `_igammac_continued_fraction` in SAMPLE_DERIVATIVE mode: -dx/da = -(dQ/da) / (dP/dx)
    from Q's continued fraction, for the enabled elements (the factor cancels, as above)."""
    y = _const(a, 1.0) - a
    z = x + y + _const(x, 1.0)
    pkm1 = x + _const(x, 1.0)
    qkm1 = z * x
    ans = pkm1 / qkm1
    dqkm1_da = -x
    zeros = _full(x, 0.0)
    dans_da = (zeros - ans * dqkm1_da) / qkm1
    init = (enabled, ans, _full(x, 1.0), y, z, _const(x, 0.0), pkm1, qkm1, _full(x, 1.0), x,
            zeros, zeros, zeros, dqkm1_da, dans_da)

    def cond(vals):
        return anp.logical_and(vals[5] < _const(vals[5], 2000.0), anp.any(vals[0]))

    vals = while_loop(cond, lambda vals: _continued_fraction_step(vals, eps), init)
    ans, dans_da = vals[1], vals[14]
    dlogax_da = anp.log(x) - digamma(a)
    return -((dans_da + ans * dlogax_da) * x)


def _random_gamma_grad(a: Tracer, x: Tracer) -> Tracer:
    """JAX's `random_gamma_grad_impl` on float32 or float64 arrays of one shape."""
    info = np.finfo(a.dtype)
    is_nan = anp.logical_or(anp.isnan(a), anp.isnan(x))
    x_is_zero = anp.equal(x, _full(x, 0.0))
    domain_error = anp.logical_or(x < _full(x, 0.0), a <= _full(a, 0.0))
    use_igammac = anp.logical_and(x > _full(x, 1.0), x > a)
    ax = a * anp.log(x) - x - lgamma(a)
    underflow = ax < -anp.log(_const(a, info.max))
    enabled = anp.logical_not(anp.logical_or(anp.logical_or(anp.logical_or(
        x_is_zero, domain_error), underflow), is_nan))
    eps = float(info.eps)
    output = anp.where(
        use_igammac,
        -_continued_fraction(x, a, anp.logical_and(enabled, use_igammac), eps),
        _series(x, a, anp.logical_and(enabled, anp.logical_not(use_igammac)), eps))
    output = anp.where(x_is_zero, _full(output, 0.0), output)
    return anp.where(anp.logical_or(domain_error, is_nan), _full(a, np.nan), output)


def random_gamma_grad(a, x):
    """d x / d a of a sample x of Gamma(a, 1), holding its CDF value fixed (implicit
    reparameterization), as jax.lax.random_gamma_grad; floating-point operands of one dtype.
    NaN where a <= 0 or x < 0, 0 where x = 0. aotc.random.gamma's derivative in a uses it.

    Example:
        >>> lax.random_gamma_grad(anp.array([0.5, 2.0]), anp.array([0.3, 1.7]))
    """
    a, x = _same_dtype("random_gamma_grad", a, x)
    _require("random_gamma_grad", a, "f")
    weak, dtype = a.weak_type and x.weak_type, a.dtype
    if dtype in (dtypes.float16, dtypes.bfloat16):
        out = _random_gamma_grad(anp.astype(a, dtypes.float32), anp.astype(x, dtypes.float32))
        return Tracer(anp.astype(out, dtype).value, weak)
    return Tracer(_random_gamma_grad(a, x).value, weak)
