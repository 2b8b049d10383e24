"""aotc.lax.random_gamma_grad (d x / d a of a Gamma(a, 1) sample x) against jax.lax's and against
an independent oracle: central finite differences, in float64, of JAX's regularized incomplete
gamma function P(a, x) (jax.scipy.special.gammainc), through dx/da = -(dP/da) / (dP/dx).

The points are samples of Gamma(a) for a below 1, at 1 and above, and points on both sides of
max(1, a), where the power series of P gives way to the continued fraction of 1 - P.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import interpret_fn

import aotc
import aotc.lax as alax
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")

ALPHAS = np.array([0.1, 0.7, 1.0, 3.5, 50.0], np.float32)


def _points() -> tuple[np.ndarray, np.ndarray]:
    """(a, x): 8 samples of Gamma(a) per alpha, and x = a / 2 and x = 2 max(1, a) + 1."""
    samples = np.stack([np.asarray(jax.random.gamma(jax.random.PRNGKey(seed), ALPHAS))
                        for seed in range(8)])
    edges = np.stack([ALPHAS / 2, 2 * np.maximum(ALPHAS, 1) + 1])
    x = np.concatenate([samples, edges]).astype(np.float32)
    return np.broadcast_to(ALPHAS, x.shape).copy(), x


def _args():
    return _points()


def _table(m, a, x):
    """The spec-table row (tests/frontend/test_public_api.py reads it with m = jax.lax)."""
    return {"random_gamma_grad": m.random_gamma_grad(a, x)}


def _finite_difference_oracle(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """-(dF/da) / (dF/dx) by central differences (steps 1e-6 relative) in float64, of F = P
    (gammainc) below a and F = 1 - P (gammaincc) above it: the smaller tail keeps its digits."""
    with jax.enable_x64(True):
        a64, x64 = jnp.asarray(a, jnp.float64), jnp.asarray(x, jnp.float64)
        ha, hx = 1e-6 * a64, 1e-6 * x64

        def cdf(a, x):
            return jnp.where(x64 < a64, jax.scipy.special.gammainc(a, x),
                             jax.scipy.special.gammaincc(a, x))

        df_da = (cdf(a64 + ha, x64) - cdf(a64 - ha, x64)) / (2 * ha)
        df_dx = (cdf(a64, x64 + hx) - cdf(a64, x64 - hx)) / (2 * hx)
        return np.asarray(-df_da / df_dx)


@pytest.fixture(scope="module")
def points():
    return _points()


def test_matches_finite_differences_of_the_cdf(points):
    a, x = points
    assert np.any(x > np.maximum(a, 1)) and np.any(x < np.maximum(a, 1))   # both branches
    got = interpret_fn(alax.random_gamma_grad, a, x)
    np.testing.assert_allclose(got, _finite_difference_oracle(a, x), rtol=1e-5)  # measured 2.7e-6


def test_matches_jax_interpreted_and_on_cpu(points):
    """The interpreter and one IREE cpu program, against jax.lax.random_gamma_grad (float32)."""
    a, x = points
    want = np.asarray(jax.jit(jax.lax.random_gamma_grad)(a, x))
    np.testing.assert_allclose(interpret_fn(alax.random_gamma_grad, a, x), want, rtol=2e-5)
    np.testing.assert_allclose(aotc.jit(alax.random_gamma_grad)(a, x), want, rtol=2e-5)


def test_special_values_and_16_bit_floats():
    """NaN outside the domain (a <= 0, x < 0, NaN), 0 at x = 0, as JAX; float16 in float32."""
    a = np.array([0.0, -1.0, 2.0, np.nan, 2.0, 0.5], np.float32)
    x = np.array([1.0, 1.0, 0.0, 1.0, -1.0, 0.3], np.float32)
    want = np.asarray(jax.lax.random_gamma_grad(a, x))
    np.testing.assert_allclose(interpret_fn(alax.random_gamma_grad, a, x), want, rtol=2e-5)
    half = interpret_fn(alax.random_gamma_grad, a.astype(np.float16), x.astype(np.float16))
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, jax.lax.random_gamma_grad(a.astype(np.float16),
                                                               x.astype(np.float16)), rtol=1e-3)


def test_operands_of_two_dtypes_are_an_error():
    with pytest.raises(TracingError, match=r"lax\.random_gamma_grad requires arguments of one "):
        aotc.jit(alax.random_gamma_grad)(np.ones(2, np.float32), np.ones(2, np.float16))
    with pytest.raises(TracingError, match=r"lax\.random_gamma_grad requires floating-point"):
        aotc.jit(alax.random_gamma_grad)(np.ones(2, np.int32), np.ones(2, np.int32))
