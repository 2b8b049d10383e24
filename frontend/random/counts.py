"""Count samplers, JAX's algorithms op for op (jax._src.random.core): geometric (inverse CDF),
poisson (Knuth's product of uniforms for lam < 10, Hormann's transformed rejection above),
binomial (inversion by geometric waiting times where n min(p, 1 - p) <= 10, BTRS rejection
above) and multinomial (a scan of binomials), all with JAX's while loops over the whole sample
and one key split per step.

Like JAX, a loop runs until every element of the sample is done, and later steps keep
rewriting the elements that finished earlier exactly as JAX's do (the rejection steps
overwrite an accepted k whenever a later step accepts again); under aotc.vmap each key's loop
stops where its own condition fails, as jax.vmap's batched while loop.

float32 is rounded as XLA:CPU rounds it: log and log1p are xla_math's, lgamma is chlo's Lanczos
expansion with XLA:CPU's roundings, multiply-adds XLA contracts are fmas, a division by a
concrete value is a multiplication by its folded reciprocal, and parameters that are concrete
numbers are folded as XLA's constant folder folds them (log1p with the C library's log1pf, log
in float64).
"""

import ctypes
import ctypes.util

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.random import threefry, xla_math
from aotc.frontend.random.distributions import _log, _log1p, check_shape, param, uniform_bits
from aotc.frontend.random.keys import float_dtype, int_dtype, shape_arg, split_keys
from aotc.frontend.random.transformed import concrete, sample_shape, sampler_args
from aotc.frontend.trace.tracer import Tracer, to_tracer


def _libm_log1pf():
    """The C library's log1pf, which XLA's constant folder calls for a float32 log1p of a
    constant (measured: equal to JAX's folded values on 100 of 100, where float64 log1p
    rounded to float32 missed 12); None where there is no C math library."""
    name = ctypes.util.find_library("m")
    if name is None:
        return None
    function = ctypes.CDLL(name).log1pf
    function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
    return function


_LOG1PF = _libm_log1pf()


def _log1p_folded(x: np.ndarray) -> np.ndarray:
    """log1p of concrete float32 values as XLA's constant folder computes it."""
    flat = np.asarray(x, np.float32).ravel()
    if _LOG1PF is None:
        values = np.log1p(flat.astype(np.float64))
    else:
        values = [_LOG1PF(float(v)) for v in flat]
    return np.array(values, np.float32).reshape(np.shape(x))


def _const(value, dtype) -> Tracer:
    return anp.asarray(np.array(value, dtype))


def geometric(key, p, shape=None, dtype=None) -> Tracer:
    """Geometric counts (trials up to the first success, >= 1) with success probability p,
    floor(log(u) / log1p(-p)) + 1, as jax.random.geometric (int32 by default).

    Example:
        >>> random.geometric(random.PRNGKey(0), 0.3, (4,))
    """
    key = threefry.check_key("geometric", key)
    dtype = int_dtype("geometric", dtype)
    shape = sample_shape("geometric", shape, p)
    p_tracer = to_tracer(p)
    work = p_tracer.dtype if dtypes.is_float(p_tracer.dtype) else dtypes.float32
    work = dtypes.float32 if work == dtypes.float64 else work
    u = uniform_bits(key, shape, work, 0.0, 1.0)
    u = anp.where(anp.equal(u, _const(0, work)), _const(1, work), u)
    log_u = _log(u)
    folded = concrete(p, work) if work == dtypes.float32 else None
    if folded is not None:
        # log1p(-p) folded, and the division by that constant a multiplication by its inverse
        inverse = (np.float32(1) / _log1p_folded(-folded)).astype(np.float32)
        ratio = anp.multiply(log_u, anp.broadcast_to(anp.asarray(inverse), shape))
    else:
        log_q = anp.broadcast_to(_log1p(anp.negative(param(p, work))), shape)
        ratio = anp.divide(log_u, log_q)
    return anp.astype(anp.add(anp.floor(ratio), _const(1, work)), dtype)


def _knuth(key: Tracer, lam: Tracer, dtype) -> Tracer:
    """JAX's _poisson_knuth: count uniforms until their product falls below exp(-lam)."""
    neg_lam = anp.negative(lam)

    def body(carry):
        k, rng, log_prod = carry
        rng, subkey = split_keys(rng, 2)
        k = anp.where(anp.greater(log_prod, neg_lam), anp.add(k, _const(1, dtype)), k)
        u = uniform_bits(subkey, lam.shape, dtypes.float32, 0.0, 1.0)
        return k, rng, anp.add(log_prod, _log(u))

    init = (anp.zeros(lam.shape, dtype), key, anp.zeros(lam.shape, dtypes.float32))
    k = lax.while_loop(lambda c: anp.any(anp.greater(c[2], neg_lam)), body, init)[0]
    return anp.subtract(k, _const(1, dtype))


def _rejection_constants(lam, lam_value: np.ndarray | None) -> list:
    """log(lam), b, a, 1/alpha and v_r of Hormann's method, computed as XLA computes them:
    folded per op (float64 log rounded) for a concrete lam, at run time otherwise (where XLA
    contracts b's multiply-add into an fma)."""
    if lam_value is not None:
        f = np.float32
        with np.errstate(divide="ignore", invalid="ignore"):
            log_lam = f(np.log(lam_value.astype(np.float64)))
            b = f(0.931) + f(2.53) * np.sqrt(lam_value)
            a = f(-0.059) + f(0.02483) * b
            inv_alpha = f(1.1239) + f(1.1328) / (b - f(3.4))
            v_r = f(0.9277) - f(3.6224) / (b - f(2))
        return [anp.asarray(np.asarray(v, np.float32)) for v in (log_lam, b, a, inv_alpha, v_r)]
    fma = xla_math.fma
    b = fma(_const(2.53, np.float32), anp.sqrt(lam), _const(0.931, np.float32))
    a = fma(_const(0.02483, np.float32), b, _const(-0.059, np.float32))
    inv_alpha = anp.add(_const(1.1239, np.float32),
                        anp.divide(_const(1.1328, np.float32),
                                   anp.subtract(b, _const(3.4, np.float32))))
    v_r = anp.subtract(_const(0.9277, np.float32),
                       anp.divide(_const(3.6224, np.float32), anp.subtract(b, _const(2,
                                                                                   np.float32))))
    return [_log(lam), b, a, inv_alpha, v_r]


# chlo.lgamma's Lanczos approximation (g = 7, 9 coefficients), as XLA expands it
_LANCZOS_BASE = np.float32(0.99999999999980993227684700473478)
_LANCZOS = np.array([676.520368121885098567009190444019, -1259.13921672240287047156078755283,
                     771.3234287776530788486528258894, -176.61502916214059906584551354,
                     12.507343278686904814458936853, -0.13857109526572011689554707,
                     9.984369578019570859563e-6, 1.50563273514931155834e-7], np.float32)
_LOG_SQRT_2PI = np.float32((np.log(2) + np.log(np.pi)) / 2)


def _lgamma(x: Tracer) -> Tracer:
    """lgamma of float32 x >= 0.5 as XLA:CPU computes chlo.lgamma there: Lanczos with
    z / 7.5 as z * (1 / 7.5), the last multiply-add an fma, and xla_math's log and log1p
    (measured bit-equal to jax.lax.lgamma on the integers 1 .. 200000, the inputs poisson
    uses). Below 0.5 (the reflection branch) the value is not lgamma: poisson rejects those
    k anyway."""
    f32 = np.float32
    z = anp.subtract(x, _const(1, f32))
    a = anp.full(x.shape, _LANCZOS_BASE)
    for i, c in enumerate(_LANCZOS):
        a = anp.add(a, anp.divide(_const(c, f32), anp.add(z, _const(i + 1, f32))))
    t = anp.add(_const(7.5, f32), z)
    log_t = anp.add(_const(np.log(7.5), f32), xla_math.log1p(anp.multiply(z, _const(1 / 7.5,
                                                                                  f32))))
    s = anp.subtract(anp.add(z, _const(0.5, f32)), anp.divide(t, log_t))
    return anp.add(xla_math.fma(s, log_t, _const(_LOG_SQRT_2PI, f32)), xla_math.log(a))


def _rejection(key: Tracer, lam: Tracer, constants: list, dtype) -> Tracer:
    """JAX's _poisson_rejection (Hormann's transformed rejection, PTRS)."""
    log_lam, b, a, inv_alpha, v_r = constants
    f32 = np.float32
    two_a = anp.multiply(_const(2, f32), a)

    def step(key0, key1):
        u = anp.subtract(uniform_bits(key0, lam.shape, f32, 0.0, 1.0), _const(0.5, f32))
        v = uniform_bits(key1, lam.shape, f32, 0.0, 1.0)
        us = anp.subtract(_const(0.5, f32), anp.abs(u))
        slope = anp.add(anp.divide(two_a, us), b)
        k = anp.floor(anp.add(xla_math.fma(slope, u, lam), _const(0.43, f32)))
        s = _log(anp.divide(anp.multiply(v, inv_alpha),
                            anp.add(anp.divide(a, anp.multiply(us, us)), b)))
        t = anp.subtract(xla_math.fma(k, log_lam, anp.negative(lam)),
                         _lgamma(anp.add(k, _const(1, f32))))
        accept1 = anp.logical_and(anp.greater_equal(us, _const(0.07, f32)),
                                  anp.less_equal(v, v_r))
        reject = anp.logical_or(anp.less(k, _const(0, f32)),
                                anp.logical_and(anp.less(us, _const(0.013, f32)),
                                                anp.greater(v, us)))
        return k, accept1, reject, s, t

    return _transformed_rejection(key, lam.shape, dtype, step)


def _transformed_rejection(key: Tracer, shape: tuple, dtype, step) -> Tracer:
    """Hormann's transformed rejection loop of PTRS and BTRS, JAX's whole-sample while loop:
    each round splits the key in three, `step(key0, key1)` proposes k with its squeeze test
    (accept1), its reject test and the two sides of its log test; k is taken where accept1, or
    where it is not rejected and the log test holds, until every element has one."""
    f32 = np.float32

    def body(carry):
        k_out, accepted, rng = carry
        rng, key0, key1 = split_keys(rng, 3)
        k, accept1, reject, lhs, rhs = step(key0, key1)
        accept = anp.logical_or(accept1, anp.logical_and(anp.logical_not(reject),
                                                         anp.less_equal(lhs, rhs)))
        return anp.where(accept, k, k_out), anp.logical_or(accepted, accept), rng

    init = (anp.full(shape, -1.0, f32), anp.zeros(shape, dtypes.bool_), key)
    k = lax.while_loop(lambda c: anp.any(anp.logical_not(c[1])), body, init)[0]
    return anp.astype(k, dtype)


def poisson(key, lam, shape=None, dtype=None) -> Tracer:
    """Poisson counts with rate lam, as jax.random.poisson (int32 by default): Knuth's method
    for lam < 10 (and NaN), Hormann's transformed rejection for lam >= 10, both run for every
    element and selected, 0 where lam is 0.

    Example:
        >>> random.poisson(random.PRNGKey(0), 3.0, (4,))
    """
    key = threefry.check_key("poisson", key)
    dtype = int_dtype("poisson", dtype)
    shape = tuple(np.shape(lam)) if shape is None else shape_arg("poisson", shape)
    check_shape("poisson", shape, np.shape(lam))
    lam_value = concrete(lam, np.float32)
    lam = anp.broadcast_to(param(lam, dtypes.float32), shape)
    f32 = np.float32
    use_knuth = anp.logical_or(anp.isnan(lam), anp.less(lam, _const(10, f32)))
    lam_knuth = anp.where(use_knuth, lam, _const(0, f32))
    lam_rejection = anp.where(use_knuth, _const(1e5, f32), lam)
    rejection_value = None
    if lam_value is not None:
        lam_value = np.broadcast_to(lam_value, shape)
        knuth_value = np.isnan(lam_value) | (lam_value < 10)
        rejection_value = np.where(knuth_value, f32(1e5), lam_value).astype(f32)
    constants = _rejection_constants(lam_rejection, rejection_value)
    result = anp.where(use_knuth, _knuth(key, lam_knuth, dtype),
                       _rejection(key, lam_rejection, constants, dtype))
    return anp.where(anp.equal(lam, _const(0, f32)), anp.zeros(shape, dtype), result)


# Stirling's series remainder log(k!) - Stirling(k) for k = 0 .. 9 (JAX's table)
_STIRLING_TAIL = np.array([0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                           0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                           0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                           0.00833056343336287], np.float32)


def _stirling_tail(k: Tracer) -> Tracer:
    """JAX's _stirling_approx_tail: the table for k <= 9, else the series at min(k, 9) (JAX
    clamps k before the series, so every k > 9 gets the value at 9)."""
    f32 = np.float32
    use_table = anp.less_equal(k, _const(9, f32))
    k = anp.clip(k, _const(0, f32), _const(9, f32))
    kp1 = anp.add(k, _const(1, f32))
    kp1sq = anp.multiply(kp1, kp1)
    inner = anp.subtract(_const(1 / 360, f32), anp.divide(_const(1 / 1260, f32), kp1sq))
    approx = anp.divide(anp.subtract(_const(1 / 12, f32), anp.divide(inner, kp1sq)), kp1)
    # the index is taken where the table is used and 0 elsewhere, before the conversion to
    # int: k is NaN for n = inf (inf - inf), and a NaN converted to int32 is LLVM poison that no
    # later clamp removes (its gather read out of bounds: a segfault on IREE's cpu)
    index = anp.astype(anp.floor(anp.where(use_table, k, _const(0, f32))), dtypes.int32)
    table = anp.take(anp.asarray(_STIRLING_TAIL), index)
    return anp.where(use_table, table, approx)


def _over_log1p_neg(x: Tracer, q: Tracer, q_value: np.ndarray | None) -> Tracer:
    """x / log1p(-q) as XLA computes it: times the folded 1 / log1p(-q) for a concrete q."""
    if q_value is None:
        return anp.divide(x, _log1p(anp.negative(q)))
    return anp.multiply(x, anp.asarray((np.float32(1) / _log1p_folded(-q_value))
                                       .astype(np.float32)))


def _binomial_inversion(key: Tracer, count: Tracer, q: Tracer, q_value, dtype) -> Tracer:
    """JAX's _binomial_inversion: count geometric waiting times until they pass count."""
    f32 = np.float32

    def body(carry):
        num_geom, geom_sum, rng = carry
        subkey, rng = split_keys(rng, 2)
        num_geom = anp.where(anp.less_equal(geom_sum, count), anp.add(num_geom, _const(1, f32)),
                             num_geom)
        u = uniform_bits(subkey, q.shape, f32, 0.0, 1.0)
        return num_geom, anp.add(geom_sum, anp.ceil(_over_log1p_neg(_log(u), q, q_value))), rng

    init = (anp.zeros(q.shape, f32), anp.zeros(q.shape, f32), key)
    k = lax.while_loop(lambda c: anp.any(anp.less_equal(c[1], count)), body, init)[0]
    return anp.astype(anp.subtract(k, _const(1, f32)), dtype)


def _btrs_constants(count: Tracer, p: Tracer, values) -> dict:
    """stddev, b, a, c, v_r, r, alpha, m of JAX's _btrs and its constant first term of the
    bound; folded op by op (float64 log rounded) for concrete count and p."""
    f32 = np.float32
    if values is not None:
        n, q = values
        with np.errstate(divide="ignore", invalid="ignore"):
            stddev = np.sqrt(n * q * (f32(1) - q))
            b = f32(1.15) + f32(2.53) * stddev
            m = np.floor((n + f32(1)) * q)
            r = q / (f32(1) - q)
            first = (m + f32(0.5)) * np.log((m + f32(1)) / (r * (n - m + f32(1)))
                                            .astype(np.float64)).astype(f32)
            folded = {"b": b, "a": f32(-0.0873) + f32(0.0248) * b + f32(0.01) * q,
                      "c": n * q + f32(0.5), "v_r": f32(0.92) - f32(4.2) / b, "r": r,
                      "alpha": (f32(2.83) + f32(5.1) / b) * stddev, "m": m, "first": first}
        return {name: anp.asarray(np.asarray(v, f32)) for name, v in folded.items()}
    fma, one = xla_math.fma, _const(1, f32)
    stddev = anp.sqrt(anp.multiply(anp.multiply(count, p), anp.subtract(one, p)))
    b = fma(_const(2.53, f32), stddev, _const(1.15, f32))
    m = anp.floor(anp.multiply(anp.add(count, one), p))
    r = anp.divide(p, anp.subtract(one, p))
    first = anp.multiply(anp.add(m, _const(0.5, f32)), _log(anp.divide(
        anp.add(m, one), anp.multiply(r, anp.add(anp.subtract(count, m), one)))))
    return {"b": b, "a": fma(_const(0.01, f32), p, fma(_const(0.0248, f32), b,
                                                        _const(-0.0873, f32))),
            "c": fma(count, p, _const(0.5, f32)),
            "v_r": anp.subtract(_const(0.92, f32), anp.divide(_const(4.2, f32), b)), "r": r,
            "alpha": anp.multiply(anp.add(_const(2.83, f32), anp.divide(_const(5.1, f32), b)),
                                  stddev),
            "m": m, "first": xla_math.opaque(first)}


def _btrs(key: Tracer, count: Tracer, p: Tracer, values, dtype) -> Tracer:
    """JAX's _btrs (Hormann's transformed rejection with squeeze)."""
    f32 = np.float32
    const = _btrs_constants(count, p, values)
    a, b, m, r = const["a"], const["b"], const["m"], const["r"]
    one, half = _const(1, f32), _const(0.5, f32)
    count_m1 = anp.add(anp.subtract(count, m), one)

    def step(key0, key1):
        u = anp.subtract(uniform_bits(key0, p.shape, f32, 0.0, 1.0), half)
        v = uniform_bits(key1, p.shape, f32, 0.0, 1.0)
        us = anp.subtract(half, anp.abs(u))
        accept1 = anp.logical_and(anp.greater_equal(us, _const(0.07, f32)),
                                  anp.less_equal(v, const["v_r"]))
        k = anp.floor(xla_math.fma(anp.add(anp.divide(anp.multiply(_const(2, f32), a), us), b),
                                   u, const["c"]))
        reject = anp.logical_or(anp.less(k, _const(0, f32)), anp.greater(k, count))
        log_v = _log(anp.divide(anp.multiply(v, const["alpha"]),
                                anp.add(anp.divide(a, anp.multiply(us, us)), b)))
        count_k1 = anp.add(anp.subtract(count, k), one)
        bound = xla_math.fma(anp.add(count, one), _log(anp.divide(count_m1, count_k1)),
                             const["first"])
        bound = xla_math.fma(anp.add(k, half), _log(anp.divide(anp.multiply(r, count_k1),
                                                               anp.add(k, one))), bound)
        bound = anp.add(anp.add(bound, _stirling_tail(m)),
                        _stirling_tail(anp.subtract(count, m)))
        bound = anp.subtract(anp.subtract(bound, _stirling_tail(k)),
                             _stirling_tail(anp.subtract(count, k)))
        return k, accept1, reject, log_v, bound

    return _transformed_rejection(key, p.shape, dtype, step)


def binomial(key, n, p, shape=None, dtype=None) -> Tracer:
    """Binomial(n, p) counts as floats (float32 by default), as jax.random.binomial: the
    inversion method (geometric waiting times) where n * min(p, 1 - p) <= 10, BTRS rejection
    above, both run for every element and selected; NaN for p outside [0, 1] or n < 0, inf for
    n = inf.

    Example:
        >>> random.binomial(random.PRNGKey(0), 20.0, 0.3, (4,))
    """
    key, dtype, shape = sampler_args("binomial", key, dtype, shape, n, p)
    f32 = np.float32
    n_value, p_value = concrete(n, f32), concrete(p, f32)
    count = anp.broadcast_to(param(n, f32), shape)
    prob = anp.broadcast_to(param(p, f32), shape)
    p_lt_half = anp.less(prob, _const(0.5, f32))
    q = anp.where(p_lt_half, prob, anp.subtract(_const(1, f32), prob))
    count_nan_or_neg = anp.logical_or(anp.isnan(count), anp.less(count, _const(0, f32)))
    count_inf = anp.isinf(count)
    q_is_nan, q_negative = anp.isnan(q), anp.less(q, _const(0, f32))
    q = anp.where(anp.logical_or(q_is_nan, q_negative), _const(0.01, f32), q)
    use_inversion = anp.logical_or(count_nan_or_neg, anp.less_equal(anp.multiply(count, q),
                                                                    _const(10, f32)))
    count = anp.floor(count)
    count_inv = anp.where(use_inversion, count, _const(0, f32))
    count_btrs = anp.where(use_inversion, _const(1e4, f32), count)
    q_btrs = anp.where(use_inversion, _const(0.5, f32), q)
    q_value = btrs_values = None
    if n_value is not None and p_value is not None:
        n_all, p_all = (np.broadcast_to(v, shape) for v in (n_value, p_value))
        q_all = np.where(p_all < 0.5, p_all, f32(1) - p_all).astype(f32)
        q_all = np.where(np.isnan(q_all) | (q_all < 0), f32(0.01), q_all).astype(f32)
        inversion = np.isnan(n_all) | (n_all < 0) | (n_all * q_all <= 10)
        q_value = q_all
        btrs_values = (np.where(inversion, f32(1e4), np.floor(n_all)).astype(f32),
                       np.where(inversion, f32(0.5), q_all).astype(f32))
    samples = anp.where(use_inversion, _binomial_inversion(key, count_inv, q, q_value, dtype),
                        _btrs(key, count_btrs, q_btrs, btrs_values, dtype))
    invalid = anp.logical_or(anp.logical_or(q_negative, q_is_nan), count_nan_or_neg)
    samples = anp.where(invalid, _const(np.nan, dtype), samples)
    samples = anp.where(anp.logical_and(count_inf, anp.logical_not(invalid)),
                        _const(np.inf, dtype), samples)
    keep = anp.logical_or(anp.logical_or(p_lt_half, count_nan_or_neg),
                          anp.logical_or(q_is_nan, count_inf))
    return anp.where(keep, samples, anp.subtract(anp.astype(count, dtype), samples))


def multinomial(key, n, p, *, shape=None, dtype=None, unroll=1) -> Tracer:
    """Multinomial counts (floats) of n trials over the outcomes along p's last axis, as
    jax.random.multinomial: a scan over the outcomes drawing binomial(remaining trials,
    p_i / remaining probability) with one split key per outcome. `unroll` is accepted for
    JAX's signature; aotc's scan is not unrolled (the same values).

    Example:
        >>> random.multinomial(random.PRNGKey(0), 10.0, anp.array([0.2, 0.3, 0.5]))
    """
    del unroll
    key = threefry.check_key("multinomial", key)
    dtype = float_dtype("multinomial", dtype)
    f32 = np.float32
    p = anp.astype(to_tracer(p), f32)
    shape = p.shape if shape is None else shape_arg("multinomial", shape)
    if p.ndim < 1 or len(shape) < 1:
        raise TracingError(f"{caller_site()}: random.multinomial: p needs an outcome axis (its "
                           f"last), got shape {p.shape} and shape={shape}")
    check_shape("multinomial", shape, p.shape)
    check_shape("multinomial", shape[:-1], np.shape(n))
    remaining_n = anp.broadcast_to(param(n, f32), shape[:-1])
    p = anp.moveaxis(anp.broadcast_to(p, shape), -1, 0)
    # the reverse cumulative sum, each entry summed left to right as XLA's reduce-window
    remaining = [p[i] for i in range(shape[-1])]
    for i in range(shape[-1]):
        for j in range(i + 1, shape[-1]):
            remaining[i] = anp.add(remaining[i], p[j])
    remaining = anp.stack(remaining)
    ratios = anp.divide(p, anp.where(anp.equal(remaining, _const(0, f32)), _const(1, f32),
                                     remaining))
    keys = threefry.split_key(key, (shape[-1],))

    def step(rest, ratio_key):
        ratio, step_key = ratio_key
        count = binomial(step_key, rest, anp.clip(ratio, 0, 1), dtype=f32)
        return anp.subtract(rest, count), count

    counts = lax.scan(step, remaining_n, (ratios, keys))[1]
    return anp.astype(anp.moveaxis(counts, 0, -1), dtype)
