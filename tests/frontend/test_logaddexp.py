"""aotc.numpy.logaddexp, the worked example of adding an op: values against numpy, derivatives and
batching against JAX, through the numpy interpreter (eager) and IREE (aotc.jit)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp

INF, NAN = np.inf, np.nan
# Ties (a == b), small and large differences both ways, overflow of exp, infinities, NaN.
A = np.array([0, 1, 2, -3, 80, -80, 1000, -1000, 5, 1e-3, INF, -INF, INF, -INF, INF, -INF, NAN, 1],
             np.float32)
B = np.array([0, 1, 2, 4, -80, 80, 999, 1000, 5, 0, 1, 1, INF, -INF, -INF, 2, 1, NAN], np.float32)
FINITE = np.isfinite(A) & np.isfinite(B)


def _sum_logaddexp(np_module):
    return lambda a, b: np_module.sum(np_module.logaddexp(a, b) * np.arange(1, len(A) + 1))


def _expected_grads(a, b):
    """d/da, d/db = exp(a - out), exp(b - out); a tie (same infinities too) splits 1/2 : 1/2."""
    tie = a == b
    with np.errstate(invalid="ignore"):
        out = np.logaddexp(a.astype(np.float64), b.astype(np.float64))
        da = np.where(tie, 0.5, np.exp(np.where(np.isposinf(out), 0, a - out)))
        db = np.where(tie, 0.5, np.exp(np.where(np.isposinf(out), 0, b - out)))
    da = np.where(np.isposinf(a) & ~tie, 1.0, np.where(np.isposinf(b) & ~tie, 0.0, da))
    db = np.where(np.isposinf(b) & ~tie, 1.0, np.where(np.isposinf(a) & ~tie, 0.0, db))
    return da * np.arange(1, len(A) + 1), db * np.arange(1, len(A) + 1)


@pytest.mark.parametrize("run", ["eager", "iree"])
def test_values_match_numpy_including_infinities_and_nan(run):
    fn = anp.logaddexp if run == "eager" else aotc.jit(anp.logaddexp)
    got = np.asarray(fn(A, B))
    with np.errstate(invalid="ignore"):
        want = np.logaddexp(A, B)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=0, equal_nan=True)
    np.testing.assert_allclose(got, np.asarray(jnp.logaddexp(A, B)), rtol=2e-7, equal_nan=True)


def test_eager_float64_is_exact_and_ints_promote():
    a = np.array([-745.0, 0.0, 1e-10, 700.0])
    b = np.array([-745.5, 1e-300, -1e-10, 710.0])
    np.testing.assert_allclose(anp.logaddexp(a, b), np.logaddexp(a, b).astype(np.float32))
    got = anp.logaddexp(np.arange(3), 1)  # int32 and weak int -> float32, broadcast
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.logaddexp(np.arange(3.0), 1.0), rtol=1e-6)


def test_lowers_to_plain_stablehlo():
    traced = aotc.lower(anp.logaddexp, A, B)
    text = str(traced.module)
    assert "stablehlo.log_plus_one" in text and "stablehlo.maximum" in text
    assert "chlo." not in text and "custom_call" not in text
    (got,) = aotc.interpret(traced.module, traced.name, A, B)
    with np.errstate(invalid="ignore"):
        want = np.logaddexp(A.astype(np.float64), B.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("run", ["eager", "iree"])
def test_grad_matches_jax_on_finite_values_and_the_limits_at_infinities(run):
    grad = aotc.grad(_sum_logaddexp(anp), argnums=(0, 1))
    da, db = (np.asarray(g) for g in (grad if run == "eager" else aotc.jit(grad))(A, B))
    want_a, want_b = _expected_grads(A, B)
    jax_a, jax_b = jax.grad(_sum_logaddexp(jnp), argnums=(0, 1))(A, B)
    finite = FINITE
    # JAX's float32 rule exp(a - out) loses digits near out = 1000; the float64 limits below don't.
    np.testing.assert_allclose(da[finite], np.asarray(jax_a)[finite], rtol=1e-4, atol=1e-30)
    np.testing.assert_allclose(db[finite], np.asarray(jax_b)[finite], rtol=1e-4, atol=1e-30)
    # JAX's own rule gives exp(b) at (inf, b) and NaN at (-inf, -inf); aotc gives the limits.
    # (At a NaN operand the value is NaN and the derivative unspecified: JAX NaN, aotc 0.)
    defined = ~(np.isnan(A) | np.isnan(B))
    np.testing.assert_allclose(da[defined], want_a[defined], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(db[defined], want_b[defined], rtol=1e-6, atol=1e-30)


def test_jvp_matches_jax():
    rng = np.random.default_rng(0)
    a, b = A[FINITE], B[FINITE]
    ta, tb = (rng.standard_normal(a.shape).astype(np.float32) for _ in range(2))
    out, tangent = aotc.jvp(anp.logaddexp, (a, b), (ta, tb))
    jax_out, jax_tangent = jax.jvp(jnp.logaddexp, (a, b), (ta, tb))
    np.testing.assert_allclose(out, jax_out, rtol=1e-6)
    # rtol: JAX's float32 exp(a - out) loses ~3e-5 near out = 1000 (see the grad test).
    np.testing.assert_allclose(tangent, jax_tangent, rtol=1e-4, atol=1e-6)


def test_second_derivative_matches_jax_ties_included():
    # Ties included: the two smooth branches agree there, so the second derivative is 1/4.
    a, b = A[FINITE], B[FINITE]
    assert np.any(a == b)
    f_aotc = aotc.grad(lambda a, b: anp.sum(aotc.grad(lambda a: anp.sum(anp.logaddexp(a, b)))(a)))
    f_jax = jax.grad(lambda a, b: jnp.sum(jax.grad(lambda a: jnp.sum(jnp.logaddexp(a, b)))(a)))
    np.testing.assert_allclose(f_aotc(a, b), f_jax(a, b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("in_axes", [(0, 0), (0, None), (None, 1)])
def test_vmap_matches_jax(in_axes):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4)).astype(np.float32) * 50
    b = rng.standard_normal((3, 4)).astype(np.float32) * 50
    a[0, 0] = b[0, 0]  # a tie
    if in_axes[0] is None:  # b's lanes are its columns (in_axes 1), of length 3
        a = a[:, 0]
    if in_axes[1] is None:
        b = b[0]
    got = aotc.vmap(anp.logaddexp, in_axes=in_axes)(a, b)
    np.testing.assert_allclose(got, jax.vmap(jnp.logaddexp, in_axes=in_axes)(a, b), rtol=1e-6)
