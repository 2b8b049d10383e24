"""gamma, loggamma, beta and dirichlet: JAX's Marsaglia-Tsang sampler, op for op, on flat arrays of
per-element keys (what jax's `vmap(_gamma_one)` over split keys lowers to).

JAX (jax._src.random.core, `_gamma_impl` with use_vmap=True) splits the key into one key per
element and runs `_gamma_one` on each: alpha < 1 is boosted to alpha + 1; d = alpha - 1/3,
c = 1/3 / sqrt(d); an outer while loop splits (key, x_key, U_key), draws x = normal(..) in an
inner while loop until v = 1 + x * c > 0, sets X = x * x, V = v * v * v, U = uniform(U_key), and
stops when U < 1 - 0.0331 X^2 or log U < X / 2 + d (1 - V + log V); the sample is d * V, times
U'^(1/alpha) for boosted alphas (U' = 1 - uniform), or in log space log d + log V +
log1p(-u) / alpha (loggamma, which beta and dirichlet draw). vmap batches a while loop as
"loop while any element is unfinished, keep the finished ones": this file writes that batched
loop directly (aotc.random sits below aotc.vmap), so each element's draws are its own.

The derivative in alpha is JAX's (random_gamma_p's JVP): the sampler is staged as a function
with a custom rule (`_ImplicitReparameterization`), whose tangent is lax.random_gamma_grad.

float32 is rounded as XLA:CPU rounds it (read from the object code XLA dumps):
- XLA rewrites 1/3 / sqrt(d) to 1/3 * rsqrt(d), and computes rsqrt with the x86 `rsqrtss`
  estimate refined by two Newton steps (y += -y/2 * fma(x * y, y, -1), as fmas). `_rsqrt`
  reproduces it: Intel's rsqrtss is 1/sqrt of the midpoint of the input's 10-bit mantissa
  interval rounded to 12 bits (measured equal on all 2**24 mantissa/parity inputs of this
  machine's Intel Xeon). AMD's estimate differs, so JAX's own bits differ there.
- v = fma(x, c, 1), and the squeeze test U >= fma(X * X, -0.0331, 1).
- log, log1p: xla_math (bit-equal to XLA:CPU's inlined Cephes polynomials).
- exp (beta, dirichlet): XLA:CPU's inlined Cephes expf, with its fmas (`_exp`).
- pow (gamma with alpha < 1, not loggamma): XLA:CPU calls glibc's powf, which computes in
  double with tables, which IREE (f64 demoted to f32) cannot reproduce; aotc uses the
  backend's pow there (see `gamma`).
- XLA:CPU flushes subnormals to zero (FTZ/DAZ); `_flush` does so where results can be
  subnormal (gamma's boost and sample, exp, beta, dirichlet), as IREE's CPU targets do too.
vmvx and Vulkan contract no fmas, so there every fma above rounds twice (see xla_math).
"""

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.registry import CUSTOM_ATTRIBUTE, add_custom_rule
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import broadcast_shapes, shape_text
from aotc.frontend.ops import control
from aotc.frontend.random import threefry, xla_math
from aotc.frontend.random.distributions import check_shape, erf_inv, finfo, param
from aotc.frontend.random.keys import float_dtype, shape_arg
from aotc.frontend.trace.staging import stage_marked
from aotc.frontend.trace.tracer import Tracer, current_module, to_tracer, tracing
from aotc.passes import functions as util

Keys = tuple[Tracer, Tracer]  # the two int32 words of one key per element, each of shape (n,)


# ---- XLA:CPU's float32 rsqrt and exp --------------------------------------------------------

def _rsqrtss_table() -> np.ndarray:
    """Intel's rsqrtss estimate for x in [1, 2) (rows 0) and [2, 4) (row 1), by the top 10
    mantissa bits: 1/sqrt of the interval's midpoint, rounded to 12 significant bits."""
    index = np.arange(1024)
    table = np.empty((2, 1024), np.uint32)
    for parity in range(2):
        mid = 2.0 ** parity * (1 + (index + 0.5) / 1024)
        bits = (1 / np.sqrt(mid)).astype(np.float32).view(np.uint32).astype(np.int64)
        table[parity] = ((bits + (1 << 10)) >> 11) << 11
    return table.reshape(-1).view(np.int32)


_RSQRTSS = _rsqrtss_table()


def _f32(value) -> Tracer:
    return anp.asarray(np.float32(value))


def _i32(value) -> Tracer:
    return anp.asarray(np.int32(value))


def _rsqrt(x: Tracer) -> Tracer:
    """1/sqrt(x) for float32 x as XLA:CPU computes it on an Intel x86: the rsqrtss estimate and
    two Newton steps; the estimate itself for x = +-0, inf, negative or subnormal."""
    bits = lax.bitcast_convert_type(x, dtypes.int32)
    exponent = lax.bitwise_and(lax.shift_right_logical(bits, _i32(23)), _i32(0xFF))
    parity = lax.bitwise_and(anp.add(exponent, _i32(1)), _i32(1))    # (exponent - 127) & 1
    top = lax.bitwise_and(lax.shift_right_logical(bits, _i32(13)), _i32(0x3FF))
    estimate = anp.take(anp.asarray(_RSQRTSS), anp.add(anp.multiply(parity, _i32(1024)), top))
    half_exponent = lax.shift_right_arithmetic(
        anp.subtract(anp.subtract(exponent, _i32(127)), parity), _i32(1))
    y = lax.bitcast_convert_type(anp.subtract(estimate, lax.shift_left(half_exponent, _i32(23))),
                                 dtypes.float32)
    for _ in range(2):
        residual = xla_math.fma(anp.multiply(x, y), y, _f32(-1.0))
        y = xla_math.fma(anp.multiply(y, _f32(-0.5)), residual, y)
    tiny = np.float32(np.finfo(np.float32).tiny)
    special = anp.where(anp.equal(x, _f32(np.inf)), _f32(0.0),
                        anp.where(anp.equal(x, _f32(0.0)), _f32(np.inf), _f32(np.nan)))
    return anp.where(anp.logical_and(anp.greater_equal(x, _f32(tiny)), anp.less(x, _f32(np.inf))),
                     y, special)


def _flush(x: Tracer) -> Tracer:
    """x with subnormals replaced by 0, as XLA:CPU computes float32 (flush-to-zero and
    denormals-are-zero)."""
    if x.dtype != dtypes.float32:
        return x
    return anp.where(anp.less(anp.abs(x), _f32(np.finfo(np.float32).tiny)), _f32(0.0), x)


# XLA:CPU's expf (Cephes): 2**n * (1 + r + r^2 * P(r)), n = floor(x log2(e) + 1/2)
_EXP_P = np.array([0x39506967, 0x3AB743CE, 0x3C088908, 0x3D2AA9C1, 0x3E2AAAAA],
                  np.uint32).view(np.float32)
_EXP_C1 = np.float32(0.693359375)
_EXP_C2 = np.array(0xB95E8083, np.uint32).view(np.float32)


def _exp(x: Tracer) -> Tracer:
    """exp of a float32 array as XLA:CPU inlines it (every Horner step and both reduction steps
    fmas), bit-equal on the CPU targets."""
    x = anp.minimum(anp.maximum(x, _f32(-87.8)), _f32(88.8))
    n = anp.floor(xla_math.fma(x, _f32(1.44269504), _f32(0.5)))
    n = anp.minimum(anp.maximum(n, _f32(-127.0)), _f32(127.0))
    r = xla_math.fma(n, _f32(-_EXP_C1), x)
    r = xla_math.fma(n, _f32(-_EXP_C2), r)
    p = anp.broadcast_to(_f32(_EXP_P[0]), r.shape)
    for c in (*_EXP_P[1:], np.float32(0.5)):
        p = xla_math.fma(p, r, _f32(c))
    y = anp.add(_f32(1.0), xla_math.fma(p, anp.multiply(r, r), r))
    scale = lax.bitcast_convert_type(
        lax.shift_left(anp.add(anp.astype(n, dtypes.int32), _i32(127)), _i32(23)), dtypes.float32)
    return _flush(anp.multiply(y, scale))


def _exp_any(x: Tracer) -> Tracer:
    return _exp(x) if x.dtype == dtypes.float32 else anp.exp(x)


def _log(x: Tracer) -> Tracer:
    return xla_math.log(x) if x.dtype == dtypes.float32 else anp.log(x)


def _log1p(x: Tracer) -> Tracer:
    return xla_math.log1p(x) if x.dtype == dtypes.float32 else anp.log1p(x)


def _fma(a: Tracer, b: Tracer, c) -> Tracer:
    if a.dtype == dtypes.float32:
        return xla_math.fma(a, b, c)
    return anp.add(anp.multiply(a, b), c)


# ---- threefry on one key per element --------------------------------------------------------

def _hash(keys: Keys, counter: int) -> Keys:
    """threefry2x32 of each element's key at the (0, counter) counter."""
    k1, k2 = keys
    return threefry.threefry2x32(k1, k2, anp.zeros(k1.shape, dtypes.int32),
                                 anp.broadcast_to(threefry.word(counter), k1.shape))


def _split(keys: Keys, num: int) -> list[Keys]:
    """jax.random.split(key, num) of each element's key, as a list of num keys per element."""
    return [_hash(keys, i) for i in range(num)]


def _uniform01(keys: Keys, dtype) -> Tracer:
    """jax.random.uniform(key, (), dtype) per element: the mantissa of 1.0 from random bits,
    minus 1 (the affine step of [0, 1) is the identity)."""
    out1, out2 = _hash(keys, 0)
    words = lax.bitwise_xor(out1, out2)
    info = finfo(dtype)
    rng_bits = 8 if info.nmant < 8 else info.bits           # bfloat16 draws 8 bits, as JAX
    if rng_bits < 32:
        words = lax.bitwise_and(words, threefry.word(2**rng_bits - 1))
    one_bits = int(np.array(1.0, dtype).view({16: np.uint16, 32: np.uint32}[info.bits]))
    shift = threefry.word(rng_bits - info.nmant)
    float_bits = lax.bitwise_or(lax.shift_right_logical(words, shift), threefry.word(one_bits))
    if info.bits == 16:
        float_bits = anp.astype(float_bits, dtypes.int16)
    return anp.subtract(lax.bitcast_convert_type(float_bits, dtype),
                        anp.asarray(np.array(1.0, dtype)))


def _normal(keys: Keys, dtype) -> Tracer:
    """jax.random.normal(key, (), dtype) per element: sqrt(2) erf_inv(u), u uniform in
    (nextafter(-1, 0), 1); the span of that interval rounds to 2, so u = 2 f + lo is one
    rounding, as XLA's fma."""
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    floats = _uniform01(keys, dtype)
    u = anp.maximum(anp.asarray(lo), anp.add(anp.multiply(floats, anp.asarray(np.array(2.0,
                                                                                     dtype))),
                                             anp.asarray(lo)))
    return anp.multiply(anp.asarray(np.array(np.sqrt(2), dtype)), erf_inv(u))


# ---- Marsaglia-Tsang, batched ---------------------------------------------------------------

def _const(value, dtype) -> Tracer:
    return anp.asarray(np.array(value, dtype))


def _rejected(d: Tracer, X: Tracer, V: Tracer, U: Tracer) -> Tracer:
    """JAX's `_cond_fn`: True where (X, V, U) is not accepted yet (the loop goes on)."""
    dtype = d.dtype
    one = _const(1.0, dtype)
    squeeze = anp.greater_equal(U, _fma(anp.multiply(X, X), _const(-0.0331, dtype), one))
    # XLA:CPU: fma(X, 0.5, d * t) with d * t rounded; X * 0.5 is exact, so the add is one
    # rounding whichever way a backend contracts it, as long as d * t stays rounded
    scaled = anp.multiply(d, anp.add(anp.subtract(one, V), _log(V)))
    if dtype == dtypes.float32:
        scaled = xla_math._rounded(scaled)
    bound = anp.add(anp.multiply(X, _const(0.5, dtype)), scaled)
    return anp.logical_and(squeeze, anp.greater_equal(_log(U), bound))


def _select(mask: Tracer, new: list[Tracer], old: list[Tracer]) -> tuple[Tracer, ...]:
    return tuple(anp.where(mask, a, b) for a, b in zip(new, old))


def _next_x_v(key: Keys, c: Tracer) -> tuple[Tracer, Tracer]:
    """JAX's inner loop: draw x = normal until v = 1 + x c > 0, from x_key (batched)."""
    dtype = c.dtype
    zero = anp.zeros(c.shape, dtype)

    def body(state):
        k1, k2, x, v = state
        (n1, n2), subkey = _split((k1, k2), 2)
        x_new = _normal(subkey, dtype)
        v_new = _fma(x_new, c, _const(1.0, dtype))
        return _select(anp.less_equal(v, zero), [n1, n2, x_new, v_new], [k1, k2, x, v])

    state = (*key, zero, anp.full(c.shape, -1.0, dtype))
    _, _, x, v = lax.while_loop(lambda s: anp.any(anp.less_equal(s[3], zero)), body, state)
    return x, v


def _marsaglia_tsang(key: Keys, d: Tracer, c: Tracer) -> Tracer:
    """JAX's outer loop (batched): V of the first accepted (X, V, U) of each element."""
    dtype = d.dtype

    def body(state):
        k1, k2, X, V, U = state
        (n1, n2), x_key, u_key = _split((k1, k2), 3)
        x, v = _next_x_v(x_key, c)
        new = [n1, n2, anp.multiply(x, x), anp.multiply(anp.multiply(v, v), v),
               _uniform01(u_key, dtype)]
        return _select(_rejected(d, X, V, U), new, [k1, k2, X, V, U])

    state = (*key, anp.zeros(d.shape, dtype), anp.ones(d.shape, dtype),
             anp.full(d.shape, 2.0, dtype))
    return lax.while_loop(lambda s: anp.any(_rejected(d, *s[2:])), body, state)[3]


def _folded_c(a) -> np.float32 | None:
    """c = (1/3) / sqrtf(d) as XLA's constant folder computes it for a concrete float32 `a`
    with one value (a scalar, or a splat XLA turns into one): a division, not the rsqrtss
    kernel of a run-time d (with 1/3 * (1 / sqrtf(d)), gamma(key, 2.5) differed from jax.jit
    in 14 of 80 samples). None where XLA computes c at run time.

    log(d) (loggamma) stays the run-time kernel: XLA folds it in float64 for a scalar alpha
    under jit (loggamma(key, 2.0): 60 of 64 samples differ) but not inside jax.vmap of beta
    (folding it there breaks 2 of 4), and aotc cannot tell the two apart."""
    if isinstance(a, Tracer):
        return None
    values = np.asarray(a, np.float32)
    if values.size == 0 or not np.all(values == values.ravel()[0]):
        return None
    alpha = values.ravel()[0]
    d = (alpha if alpha >= 1 else alpha + np.float32(1)) + np.float32(-1.0 / 3.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float32(np.float32(1.0 / 3.0) / np.sqrt(d))


def _gamma_one(keys: Keys, alpha: Tracer, log_space: bool, c_folded=None) -> Tracer:
    """JAX's `_gamma_one` for n elements at once (keys (n,) words, alpha (n,)); `c_folded` is
    XLA's folded c for a constant alpha."""
    dtype = alpha.dtype
    one = _const(1.0, dtype)
    boost = anp.greater_equal(alpha, one)
    d = anp.add(anp.where(boost, alpha, anp.add(alpha, one)), _const(-1.0 / 3.0, dtype))
    if c_folded is not None:
        c = anp.broadcast_to(_f32(c_folded), d.shape)
    elif dtype == dtypes.float32:
        c = anp.multiply(_f32(1.0 / 3.0), _rsqrt(d))
    else:
        c = anp.divide(_const(1.0 / 3.0, dtype), anp.sqrt(d))
    key, subkey = _split(keys, 2)
    V = _marsaglia_tsang(key, d, c)
    u = _uniform01(subkey, dtype)
    if log_space:
        log_samples = _log1p(anp.negative(u))                 # -exponential(subkey)
        zero = _const(0.0, dtype)
        log_boost = anp.where(anp.logical_or(boost, anp.equal(log_samples, zero)), zero,
                              anp.multiply(log_samples, anp.divide(one, alpha)))
        return anp.add(anp.add(_log(d), _log(V)), log_boost)
    boost_factor = anp.where(boost, one, anp.power(anp.subtract(one, u), anp.divide(one, alpha)))
    return _flush(anp.multiply(anp.multiply(d, V), _flush(boost_factor)))


# ---- the derivative in alpha: implicit reparameterization ------------------------------------

def _sample_grad(sample: Tracer, alpha: Tracer, log_space: bool) -> Tracer:
    """JAX's `_gamma_grad`: d sample / d alpha, by lax.random_gamma_grad; in log space
    d log(x) / d alpha = random_gamma_grad(alpha, x) / x, x = exp(sample) (tiny where exp
    underflows to 0)."""
    if not log_space:
        return lax.random_gamma_grad(alpha, sample)
    x = _exp_any(sample)
    x = anp.where(anp.equal(x, _const(0.0, x.dtype)), _const(finfo(x.dtype).tiny, x.dtype), x)
    return anp.divide(lax.random_gamma_grad(alpha, x), x)


class _ImplicitReparameterization:
    """The custom rule of a staged sampler (sampler(k1, k2, alpha) -> sample), of the kind
    aotc.custom_jvp's rules are (aotc.random sits below aotc.custom_jvp in the layers): JAX's JVP
    of random_gamma_p, tangent = alpha_dot * `_sample_grad`, with no derivative through the
    rejection loops."""

    kind = "jvp"

    def __init__(self, sampler: str, log_space: bool):
        self.sampler, self.log_space = sampler, log_space

    def jvp(self, primals: list, tangents: list) -> tuple[list, list]:
        """(primal outputs, tangent outputs) on ir.Values, as the autodiff pass calls it."""
        alpha, alpha_dot = primals[-1], tangents[-1]
        sample = control.call(self.sampler, primals, [alpha.type])[0]
        if alpha_dot is None:
            return [sample], [None]
        with tracing():
            grad = _sample_grad(Tracer(sample), Tracer(alpha), self.log_space)
            return [sample], [anp.multiply(Tracer(alpha_dot), grad).value]


def _sample(keys: Keys, alpha: Tracer, log_space: bool, c_folded) -> Tracer:
    """`_gamma_one` staged as a function of (keys, alpha) whose derivative in alpha is
    `_ImplicitReparameterization`'s."""

    def sampler(k1: Tracer, k2: Tracer, alpha: Tracer) -> Tracer:
        return _gamma_one((k1, k2), alpha, log_space, c_folded)

    traced, sample = stage_marked(sampler, (*keys, alpha), "gamma_sampler", CUSTOM_ATTRIBUTE,
                                  ir.StringAttr.get("pending"), allow_captures=False)
    module = current_module()
    util.find_function(module, traced.name).attributes[CUSTOM_ATTRIBUTE] = (
        ir.StringAttr.get(traced.name))
    add_custom_rule(module, traced.name, _ImplicitReparameterization(traced.name, log_space))
    return sample


def _gamma(name: str, key, a, shape, dtype, log_space: bool) -> Tracer:
    key = threefry.check_key(name, key)
    dtype = float_dtype(name, dtype)
    c_folded = _folded_c(a) if dtype == dtypes.float32 else None
    a = param(a, dtype)
    if shape is None:
        shape = a.shape
    else:
        shape = shape_arg(name, shape)
        check_shape(name, shape, a.shape)
        a = anp.broadcast_to(a, shape)
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return anp.zeros(shape, dtype)
    keys = threefry.hash_counters(key, (n,))                  # split(key, n), as words
    return anp.reshape(_sample(keys, anp.reshape(a, (n,)), log_space, c_folded), shape)


def gamma(key, a, shape=None, dtype=None) -> Tracer:
    """Standard gamma floats with shape parameter a (> 0), as jax.random.gamma: JAX's
    Marsaglia-Tsang rejection loop per element, with JAX's keys, draws and float32 roundings
    (see the module docstring), so float32 samples are bit-equal to JAX on CPU for a >= 1.

    For a < 1 the sample is boosted by U**(1/a); JAX's pow is glibc's powf, aotc's is the
    backend's, so those samples differ from JAX's: by <= 2 ulps on the interpreter, by up to
    ~40 ulps on IREE's CPU targets for a = 0.01 (float32 pow amplifies log's error by 1/a).
    loggamma has no pow and stays exact: prefer it (or beta/dirichlet) when bits matter.
    16-bit dtypes follow JAX's ops in that dtype, within a few ulps.

    Differentiable in a as in JAX, by implicit reparameterization: a sample x's tangent is
    lax.random_gamma_grad(a, x) * a_dot (d x / d a at a fixed CDF value), with no derivative
    through the rejection loop; loggamma, beta and dirichlet inherit it (loggamma in log space,
    divided by x). grad, jvp, vmap(grad) and grad(vmap) match JAX within 3e-6 (vmap keeps the
    rule: passes/batching.py batches custom-JVP functions as calls).

    Example:
        >>> random.gamma(random.PRNGKey(0), 2.5, (4,))
        >>> random.gamma(key, anp.array([0.5, 1.0, 3.0]))      # one draw per a
    """
    return _gamma("gamma", key, a, shape, dtype, log_space=False)


def loggamma(key, a, shape=None, dtype=None) -> Tracer:
    """log of standard gamma floats, computed in log space (accurate for tiny a), as
    jax.random.loggamma; float32 bit-equal to JAX on CPU for every a. Its derivative in a is
    gamma's divided by the sample x = exp(log x) (the smallest normal float where that
    underflows to 0), as JAX's.

    Example:
        >>> random.loggamma(random.PRNGKey(0), 0.01, (4,))
    """
    return _gamma("loggamma", key, a, shape, dtype, log_space=True)


def beta(key, a, b, shape=None, dtype=None) -> Tracer:
    """Beta(a, b) floats, as jax.random.beta: loggamma draws for a and b (keys split in two),
    combined as exp(la - m) / (exp(la - m) + exp(lb - m)) with m = max(la, lb); differentiable
    in a and b through loggamma's implicit derivative (see gamma).

    Example:
        >>> random.beta(random.PRNGKey(0), 2.0, 5.0, (3,))
    """
    key = threefry.check_key("beta", key)
    dtype = float_dtype("beta", dtype)
    a_value, b_value = a, b          # concrete values stay concrete: XLA folds constant alphas
    a, b = param(a, dtype), param(b, dtype)
    if shape is None:
        shape = broadcast_shapes("random.beta", a.shape, b.shape)
    else:
        shape = shape_arg("beta", shape)
        check_shape("beta", shape, a.shape, b.shape)
    key_a, key_b = (anp.reshape(k, (2,)) for k in threefry.split_key(key, (2,)))
    log_a = _gamma("beta", key_a, a_value, shape, dtype, log_space=True)
    log_b = _gamma("beta", key_b, b_value, shape, dtype, log_space=True)
    log_max = anp.maximum(log_a, log_b)
    scaled_a = _exp_any(anp.subtract(log_a, log_max))
    scaled_b = _exp_any(anp.subtract(log_b, log_max))
    return _flush(anp.divide(scaled_a, anp.add(scaled_a, scaled_b)))


def dirichlet(key, alpha, shape=None, dtype=None) -> Tracer:
    """Dirichlet(alpha) vectors along alpha's last axis, as jax.random.dirichlet: loggamma draws
    of shape shape + alpha.shape[-1:], then a softmax over the last axis (exp(x - max) times
    1 / sum, summed left to right, as XLA:CPU does); differentiable in alpha through
    loggamma's implicit derivative (see gamma).

    Example:
        >>> random.dirichlet(random.PRNGKey(0), anp.array([1.0, 2.0, 3.0]), (5,))   # (5, 3)
    """
    key = threefry.check_key("dirichlet", key)
    dtype = float_dtype("dirichlet", dtype)
    alpha_value, alpha = alpha, to_tracer(alpha)
    if alpha.ndim < 1:
        raise TracingError(f"{caller_site()}: random.dirichlet: alpha must have at least one "
                           f"axis (the categories), got shape {shape_text(alpha.shape)}")
    if shape is None:
        shape = alpha.shape[:-1]
    else:
        shape = shape_arg("dirichlet", shape)
        check_shape("dirichlet", shape, alpha.shape[:-1])
    full = (*shape, alpha.shape[-1])
    log_gamma = _gamma("dirichlet", key, alpha_value, full, dtype, log_space=True)
    unnormalized = _exp_any(anp.subtract(log_gamma, anp.max(log_gamma, axis=-1, keepdims=True)))
    total = unnormalized[..., 0]
    for i in range(1, full[-1]):
        total = anp.add(total, unnormalized[..., i])
    return _flush(anp.multiply(unnormalized, anp.divide(_const(1.0, dtype), total)[..., None]))
