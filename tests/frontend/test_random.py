"""aotc.random against jax.random, bit for bit: one table of draws (every sampler, several shapes
and dtypes) run for 20 keys with aotc's interpreter and with JAX; keys, vmap, loops, artifacts,
gradients and errors.

Entries of EXACT must be bit-equal. The others pass through a transcendental function (erf_inv's
log1p, log, tan) whose float32 implementations differ between numpy, IREE and XLA in the last
place: they are checked in ulps of max(|x|, 1) (ULPS), i.e. relative for |x| >= 1 and in units
of the dtype's epsilon below, since -log(-log(u)) and friends cancel near 0.
"""

import functools

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from helpers import interpret_fn

import aotc
import aotc.lax as alax
import aotc.numpy as anp
import aotc.random as ar
import aotc_runtime
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")
jr = jax.random

SEEDS = [0, 1, 2, 3, 7, 42, 123, 999, 1234, 2**16, 31337, 65537, 10**6, 2**24 + 1, 2**31 - 1,
         2**31, 3_000_000_000, 4_000_000_000, 2**32 - 2, 2**32 - 1]
KEYS = np.stack([np.asarray(jr.PRNGKey(s)) for s in SEEDS])
BF16 = ml_dtypes.bfloat16
FLOATS = (np.float32, np.float16, BF16)
LOGITS = np.log(np.array([[0.1, 0.2, 0.3, 0.4, 1e-3], [0.5, 0.1, 0.1, 0.2, 0.1],
                          [0.05, 0.05, 0.6, 0.2, 0.1]], np.float32))
P = np.array([0.1, 0.2, 0.3, 0.25, 0.15], np.float32)
MEAN = np.array([1.0, -2.0, 0.5], np.float32)
COV = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.5]], np.float32)
X = np.arange(24, dtype=np.float32).reshape(4, 6)


def draws(r, key, floats=FLOATS, tan: bool = True) -> dict:
    """Every sampler of namespace r (aotc.random or jax.random) for one key, drawing floats of
    the dtypes `floats` (vmvx cannot compile float16); cauchy (a tan) only with `tan`."""
    out = {
        "split": r.split(key), "split3": r.split(key, 3), "split_2x2": r.split(key, (2, 2)),
        "fold_in": r.fold_in(key, 12345), "fold_in_big": r.fold_in(key, 2**32 - 7),
        "bits32": r.bits(key, (3, 5, 7)), "bits16": r.bits(key, (13,), np.uint16),
        "bits8": r.bits(key, (13,), np.uint8),
        "uniform_range": r.uniform(key, (33,), minval=-3.0, maxval=2.5),
        "uniform_vector_range": r.uniform(key, (2, 3), minval=np.array([-1.0, 0.0, 5.0],
                                                                       np.float32), maxval=7.0),
        "bernoulli": r.bernoulli(key, 0.3, (3, 5, 7)),
        "bernoulli_p_array": r.bernoulli(key, np.array([0.1, 0.5, 0.9], np.float32)),
        "bernoulli_high": r.bernoulli(key, 0.25, (17,), mode="high"),
        "rademacher": r.rademacher(key, (33,)),
        "rademacher_f32": r.rademacher(key, (5,), np.float32),
        "permutation": r.permutation(key, 20),
        "permutation_rows": r.permutation(key, X),
        "permutation_cols": r.permutation(key, X, axis=1),
        "permutation_independent": r.permutation(key, X, axis=1, independent=True),
        "choice": r.choice(key, 10, (4,)),
        "choice_no_replace": r.choice(key, 10, (4,), replace=False),
        "choice_p": r.choice(key, 5, (7,), p=P),
        "choice_p_no_replace": r.choice(key, X, (3,), replace=False, p=P[:4]),
        "choice_array_axis1": r.choice(key, X, (2, 2), axis=1),
        "categorical": r.categorical(key, LOGITS),
        "categorical_axis0": r.categorical(key, LOGITS, axis=0, shape=(2, 5)),
        "categorical_no_replace": r.categorical(key, LOGITS, shape=(2, 3), replace=False),
        "multivariate_normal": r.multivariate_normal(key, MEAN, COV, (4,)),
        "truncated_normal": r.truncated_normal(key, -1.5, 2.0, (33,)),
    }
    for dt in floats:
        name = np.dtype(dt).name
        out[f"uniform_{name}"] = r.uniform(key, (3, 5, 7), dt)
        out[f"uniform_range_{name}"] = r.uniform(key, (13,), dt, -3.0, 2.5)
        out[f"normal_{name}"] = r.normal(key, (3, 5, 7), dt)
        out[f"exponential_{name}"] = r.exponential(key, (33,), dt)
        out[f"laplace_{name}"] = r.laplace(key, (33,), dt)
        out[f"logistic_{name}"] = r.logistic(key, (33,), dt)
        out[f"gumbel_{name}"] = r.gumbel(key, (33,), dt)
        if tan:
            out[f"cauchy_{name}"] = r.cauchy(key, (33,), dt)
    for dt, lo, hi in [(np.int32, 0, 10), (np.int32, -(2**31), 2**31 - 1), (np.uint32, 3, 1000),
                       (np.int8, -200, 300), (np.uint8, 0, 256), (np.int32, 5, 5)]:
        out[f"randint_{np.dtype(dt).name}_{lo}_{hi}"] = r.randint(key, (33,), lo, hi, dt)
    out["randint_vector_bounds"] = r.randint(key, (2, 3), np.array([0, -5, 100], np.int32),
                                             np.array([1, 5, 1000], np.int32))
    out["gumbel_high"] = r.gumbel(key, (17,), mode="high")
    if np.float16 in floats:
        out["truncated_normal_f16"] = r.truncated_normal(key, -2.0, 2.0, (13,), np.float16)
    return out


# Entries bit-equal to JAX everywhere; the rest end in a transcendental function.
INEXACT_PREFIXES = ("normal", "exponential", "laplace", "logistic", "gumbel", "cauchy",
                    "truncated_normal", "multivariate_normal")
ULPS = 16
# float32 entries ending in log/log1p/erf/tan, which aotc.random computes as XLA:CPU does
# (frontend/random/xla_math.py): bit-equal to JAX where float32 ops round one by one and
# float64 multiply-adds become fmas (the interpreter, the CPU targets).
EXACT_FLOAT32 = ("normal_float32", "exponential_float32", "laplace_float32", "logistic_float32",
                 "gumbel_float32", "gumbel_high", "cauchy_float32", "truncated_normal")


# Entries whose JAX bits depend on the host CPU: XLA:CPU computed uniform's float16
# `u * (max - min) + min` in float32 with one rounding on a Zen 4 (aotc.random does that) and
# rounded each float16 op on a Zen 5 (up to 2 ulps apart), with the same jax 0.10.2.
HOST_ROUNDED = ("uniform_range_float16",)


def is_exact(name: str) -> bool:
    return not name.startswith(INEXACT_PREFIXES)


def ulps(got, want) -> float:
    """max |got - want| in ulps of max(|want|, 1) (0 where both are the same bits)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                 got.dtype, want.dtype)
    if got.size == 0 or got.tobytes() == want.tobytes():
        return 0.0
    if got.dtype.kind in "biu":
        return float("inf")
    g, w = got.astype(np.float64), want.astype(np.float64)
    eps = float(ml_dtypes.finfo(got.dtype).eps)
    same = (g == w) | (np.isnan(g) & np.isnan(w))
    err = np.where(same, 0.0, np.abs(g - w) / (eps * np.maximum(np.abs(w), 1.0)))
    return float(np.max(err))


def compare(got: dict, want: dict, where: str, inexact=(), exact_float32: bool = False) -> dict:
    """Check every entry (exact ones bit-equal, others within ULPS; names starting with one of
    `inexact` or HOST_ROUNDED within 2 ulps; with `exact_float32`, EXACT_FLOAT32 bit-equal); returns
    {name: ulps}."""
    assert got.keys() == want.keys()
    table = {name: ulps(got[name], want[name]) for name in want}

    def limit(name):
        if is_exact(name):
            return 2.0 if name.startswith((*inexact, *HOST_ROUNDED)) else 0.0
        if exact_float32 and name in EXACT_FLOAT32:
            return 0.0
        return ulp_limit(name, want[name].dtype)

    bad = {name: diff for name, diff in table.items() if diff > limit(name)}
    assert not bad, f"{where}: entries differing from JAX (ulps): {bad}"
    return table


def ulp_limit(name: str, dtype) -> float:
    """float32 within ULPS; 16-bit floats within 2 * ULPS: XLA computes their transcendental
    chains in float32 inside a fusion (excess precision), so JAX rounds fewer times than an
    op-by-op evaluation. cauchy within 32 * ULPS: tan(pi * (u - 1/2)) near its poles turns the
    last-place differences of tan's implementations into ~100 ulps."""
    limit = ULPS if np.dtype(dtype).itemsize >= 4 else 2 * ULPS
    return limit * 32 if name.startswith("cauchy") else limit


@functools.cache
def jax_draws() -> dict:
    """JAX's draws for every key of KEYS (cached: tests/targets/test_random_targets.py reuses
    them in the same session)."""
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(lambda k: draws(jr, k)))(KEYS))


@pytest.fixture(scope="module")
def expected():
    return jax_draws()


def test_draws_match_jax_for_20_keys_interpreted(expected):
    got = interpret_fn(aotc.vmap(lambda k: draws(ar, k)), KEYS)
    compare(got, expected, "interpreter", exact_float32=True)


def test_scalar_and_empty_shapes_eagerly():
    key = KEYS[5]
    for shape in [(), (0,), (1,), (4, 0, 3)]:
        for name, f in [("bits", lambda r, k, s: r.bits(k, s)),
                        ("uniform", lambda r, k, s: r.uniform(k, s)),
                        ("uniform_bf16", lambda r, k, s: r.uniform(k, s, BF16)),
                        ("normal", lambda r, k, s: r.normal(k, s)),
                        ("bernoulli", lambda r, k, s: r.bernoulli(k, 0.5, s)),
                        ("randint", lambda r, k, s: r.randint(k, s, -3, 9)),
                        ("gumbel", lambda r, k, s: r.gumbel(k, s)),
                        ("split", lambda r, k, s: r.split(k, s))]:
            got, want = f(ar, key, shape), np.asarray(f(jr, key, shape))
            assert got.shape == want.shape and got.dtype == want.dtype, (name, shape)
            assert ulps(got, want) <= (ULPS if name in ("normal", "gumbel") else 0), (name, shape)
    # permutations of 0 and 1 entries take no sorting round, as in JAX
    for n in (0, 1):
        np.testing.assert_array_equal(ar.permutation(key, n), jr.permutation(key, n))


def test_keys_from_seeds():
    for seed in [0, 1, -1, 2**31, 2**32 - 1, 2**32 + 5, -(2**40)]:
        np.testing.assert_array_equal(ar.PRNGKey(seed), jr.PRNGKey(seed))
        np.testing.assert_array_equal(ar.key(seed), jr.key_data(jr.key(seed)))
    # traced seeds (int32 and uint32), compiled
    seeds = np.array([0, 5, -1, 2**31 - 1], np.int32)
    got = aotc.jit(aotc.vmap(ar.PRNGKey))(seeds)
    np.testing.assert_array_equal(got, jax.vmap(jr.PRNGKey)(seeds))
    key = ar.key(3)
    np.testing.assert_array_equal(ar.key_data(key), key)
    np.testing.assert_array_equal(ar.wrap_key_data(key), key)
    np.testing.assert_array_equal(ar.key_data(ar.split(key, 4)), jr.split(jr.PRNGKey(3), 4))
    assert ar.PRNGKey(3).dtype == np.uint32 and ar.PRNGKey(3).shape == (2,)


def test_fold_in_traced_data_matches_jax():
    data = np.array([0, 1, 77, 2**31 - 1], np.int32)
    got = aotc.jit(aotc.vmap(ar.fold_in, in_axes=(None, 0)))(KEYS[3], data)
    np.testing.assert_array_equal(got, jax.vmap(jr.fold_in, in_axes=(None, 0))(KEYS[3], data))


def test_vmap_over_keys_matches_a_python_loop_over_jax():
    def sample(key):
        k1, k2 = ar.split(key)
        return ar.normal(k1, (4,)), ar.randint(k2, (3,), 0, 100), ar.permutation(key, 6)

    got = aotc.jit(aotc.vmap(sample))(KEYS)
    for i, key in enumerate(KEYS):
        k1, k2 = jr.split(key)
        assert ulps(got[0][i], np.asarray(jr.normal(k1, (4,)))) <= ULPS
        np.testing.assert_array_equal(got[1][i], jr.randint(k2, (3,), 0, 100))
        np.testing.assert_array_equal(got[2][i], jr.permutation(key, 6))


def test_random_inside_scan_and_fori_loop():
    def scan_body(m):
        def body(key, _):
            key, sub = m.random.split(key)
            return key, m.random.uniform(sub, (3,))
        return body

    def walk(m, lax):
        def f(key):
            last, xs = lax.scan(scan_body(m), key, None, length=5)
            total = lax.fori_loop(0, 4, lambda i, acc: acc + m.random.uniform(
                m.random.fold_in(key, i), (2,)), jnp.zeros(2) if m is jax else anp.zeros(2))
            return last, xs, total
        return f

    got = aotc.jit(walk(aotc, alax))(KEYS[7])
    want = jax.jit(walk(jax, jax.lax))(KEYS[7])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, np.asarray(w))


def test_keys_as_artifact_inputs():
    def sample(key):
        return ar.uniform(key, (5,)), ar.split(key)

    vmfb = aotc.compile(sample, aotc.ShapeSpec((2,), "uint32"))
    module = aotc_runtime.load_bytes(vmfb)
    for key in KEYS[:6]:
        u, keys = module["sample"](key)
        np.testing.assert_array_equal(u, jr.uniform(key, (5,)))
        np.testing.assert_array_equal(keys, jr.split(key))


def test_grad_of_reparameterized_samples_matches_jax():
    def loss(r):
        def f(mu, sigma, key):
            z = r.normal(key, (64,))
            u = r.uniform(key, (64,), minval=mu, maxval=mu + sigma)
            return jnp.mean(z * sigma + mu) + jnp.mean(u ** 2) if r is jr else \
                anp.mean(z * sigma + mu) + anp.mean(u ** 2)
        return f

    for key in KEYS[:3]:
        got = aotc.grad(loss(ar), argnums=(0, 1))(np.float32(0.5), np.float32(2.0), key)
        want = jax.grad(loss(jr), argnums=(0, 1))(np.float32(0.5), np.float32(2.0), key)
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5)


def test_dropout_pattern_matches_flax_mask():
    """Flax's Dropout: keep = bernoulli(key, 1 - rate, x.shape); where(keep, x / (1 - rate), 0)."""

    def dropout(r, np_, key, x, rate):
        keep = r.bernoulli(key, 1.0 - rate, x.shape)
        return np_.where(keep, x / (1.0 - rate), 0)

    x = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    got = aotc.jit(lambda k, x: dropout(ar, anp, k, x, 0.25))(KEYS[2], x)
    want = dropout(jr, jnp, KEYS[2], x, 0.25)
    np.testing.assert_array_equal(got, want)
    assert 0.6 < (got != 0).mean() < 0.9


def test_bad_keys_and_arguments_name_the_user_line():
    cases = [
        lambda: ar.normal(np.array([0, 1], np.int32), (3,)),
        lambda: ar.uniform(np.zeros((3,), np.uint32)),
        lambda: ar.split(KEYS[:2]),
        lambda: ar.uniform(KEYS[0], (3,), np.int32),
        lambda: ar.randint(KEYS[0], (3,), 0, 5, np.float32),
        lambda: ar.bits(KEYS[0], (3,), np.int32),
        lambda: ar.normal(KEYS[0], (2, -1)),
        lambda: ar.fold_in(KEYS[0], np.arange(3)),
        lambda: ar.choice(KEYS[0], 3, (5,), replace=False),
        lambda: ar.uniform(KEYS[0], (3,), minval=np.zeros(4, np.float32)),
    ]
    for case in cases:
        with pytest.raises(TracingError, match=r"test_random\.py:\d+: random\.\w+"):
            case()


def test_shuffle_matches_independent_permutation():
    """jax.random.shuffle is gone from JAX 0.10; it was permutation(..., independent=True)."""
    for axis in (0, 1):
        np.testing.assert_array_equal(ar.shuffle(KEYS[4], X, axis),
                                      jr.permutation(KEYS[4], X, axis, independent=True))
