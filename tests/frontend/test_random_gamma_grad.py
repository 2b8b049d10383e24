"""Derivatives of aotc.random.gamma / loggamma / beta / dirichlet in their parameters against
jax.grad / jax.jvp / jax.vmap of jax.random's: implicit reparameterization (a sample's tangent is
lax.random_gamma_grad(a, x) * a_dot, in log space divided by x), with no derivative through
the rejection loops. Alphas below 1 (boosted), at 1, above 1 and large, float32; interpreted,
and one IREE cpu program of the gamma and loggamma gradients.

tests/frontend/test_lax_igamma.py checks random_gamma_grad itself against finite differences of
the incomplete gamma function.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import interpret_fn

import aotc
import aotc.numpy as anp
import aotc.random as ar

jax.config.update("jax_platforms", "cpu")

ALPHAS = np.array([0.01, 0.1, 0.7, 1.0, 3.5, 50.0], np.float32)
BETAS = np.array([2.0, 0.05, 0.3, 1.0, 9.0, 0.9], np.float32)
KEY = np.asarray(jax.random.PRNGKey(42))
KEYS = np.stack([np.asarray(jax.random.PRNGKey(seed)) for seed in (0, 1, 2)])
SHAPE = (4, len(ALPHAS))
WEIGHTS = np.random.default_rng(0).uniform(0.5, 1.5, SHAPE).astype(np.float32)
RTOL = 2e-5  # measured: at most 2.7e-6 interpreted (dirichlet), 1.3e-7 on cpu


def losses(r, n) -> dict:
    """Scalar functions (key, a, b) -> sum(weights * samples) of each sampler of namespace r
    (aotc.random or jax.random), n its numpy."""
    return {
        "gamma": lambda key, a, b: n.sum(WEIGHTS * r.gamma(key, a, SHAPE)),
        "loggamma": lambda key, a, b: n.sum(WEIGHTS * r.loggamma(key, a, SHAPE)),
        "beta": lambda key, a, b: n.sum(WEIGHTS * r.beta(key, a, b, SHAPE)),
        "dirichlet": lambda key, a, b: n.sum(WEIGHTS * r.dirichlet(key, a, SHAPE[:1])),
    }


def jax_grads(names=None) -> dict:
    return {name: np.asarray(jax.grad(f, (1, 2))(KEY, ALPHAS, BETAS))
            for name, f in losses(jax.random, jnp).items() if names is None or name in names}


def aotc_grad_program(names=None):
    """(key, a, b) -> {name: (d/da, d/db)}: the losses' gradients in one traced program (the
    key an argument: IREE would spend minutes folding the threefry hashes of a constant one)."""
    fs = {name: f for name, f in losses(ar, anp).items() if names is None or name in names}
    return lambda key, a, b: {name: aotc.grad(f, (1, 2))(key, a, b) for name, f in fs.items()}


def check(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in want:
        for got_part, want_part in zip(got[name], want[name]):
            np.testing.assert_allclose(got_part, want_part, rtol=RTOL, err_msg=name)


def test_grad_matches_jax_interpreted():
    got = interpret_fn(aotc_grad_program(), KEY, ALPHAS, BETAS)
    check(got, jax_grads())


def test_jvp_matches_jax_interpreted():
    tangents = (ALPHAS, -BETAS)  # beta grows with a and falls with b: no cancellation
    want = {name: np.asarray(jax.jvp(partial(f, KEY), (ALPHAS, BETAS), tangents)[1])
            for name, f in losses(jax.random, jnp).items() if name in ("gamma", "beta")}
    fs = {name: f for name, f in losses(ar, anp).items() if name in want}
    got = interpret_fn(lambda key, a, b, ta, tb: {
        name: aotc.jvp(partial(f, key), (a, b), (ta, tb))[1] for name, f in fs.items()},
        KEY, ALPHAS, BETAS, *tangents)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, err_msg=name)


def test_vmap_of_grad_over_keys_matches_jax():
    def loss(r, n):
        return lambda key, a: n.sum(WEIGHTS * r.gamma(key, a, SHAPE))

    want = jax.vmap(jax.grad(loss(jax.random, jnp), 1), (0, None))(KEYS, ALPHAS)
    got = interpret_fn(aotc.vmap(aotc.grad(loss(ar, anp), 1), (0, None)), KEYS, ALPHAS)
    np.testing.assert_allclose(got, want, rtol=RTOL)


@pytest.fixture(scope="module")
def compiled_grads():
    """One IREE cpu compile of the gamma and loggamma gradients (sampler loops + series)."""
    return aotc.jit(aotc_grad_program(("gamma", "loggamma")))


def test_grad_on_cpu_matches_jax(compiled_grads):
    got = jax.tree.map(np.asarray, compiled_grads(KEY, ALPHAS, BETAS))
    check(got, jax_grads(("gamma", "loggamma")))


def test_samples_are_unchanged_by_differentiation():
    """The primal of the custom rule is the sampler's own output: jvp's primal is the sample."""
    sample, _ = interpret_fn(lambda a: aotc.jvp(lambda a: ar.gamma(KEY, a, SHAPE), (a,), (a,)),
                             ALPHAS)
    np.testing.assert_array_equal(sample, interpret_fn(lambda a: ar.gamma(KEY, a, SHAPE), ALPHAS))
