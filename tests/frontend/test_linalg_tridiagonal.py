"""eigh above tridiagonal.TRIDIAGONAL_MIN_SIZE (Householder tridiagonalisation, bisection,
inverse iteration) against float64 LAPACK: random, repeated and diagonal (no reflection to
make) matrices in one batch, interpreted, and compiled by IREE once together with an odd size
(slow: ~40 s of IREE compiles at these sizes, mostly the unrolled Sturm and inverse-iteration
recurrences), and its derivative (JAX's rule on this path's outputs) against jax.jvp."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import interpret_fn

import aotc
import aotc.numpy as anp
from aotc.frontend.linalg import tridiagonal

jax.config.update("jax_platforms", "cpu")
F64 = np.float64
N = tridiagonal.TRIDIAGONAL_MIN_SIZE + 8
ODD = tridiagonal.TRIDIAGONAL_MIN_SIZE + 1


def _batch():
    """Random symmetric; Q diag(w) Q^T with eigenvalues repeated 4 times; diagonal with ties;
    all ones (eigenvalue 0 of multiplicity N - 1: inverse iteration's vectors nearly coincide,
    the orthonormalisation needs its long tail of steps)."""
    rng = np.random.default_rng(11)
    g = rng.standard_normal((N, N))
    q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    repeated = (q * np.repeat(np.arange(N // 4) - 3.0, 4)) @ q.T
    diagonal = np.diag(np.round(rng.standard_normal(N) * 2))
    return np.stack([g + g.T, repeated, diagonal, np.ones((N, N))]).astype(np.float32)


def _odd():
    g = np.random.default_rng(12).standard_normal((ODD, ODD))
    return ((g + g.T) / 2).astype(np.float32)


@pytest.fixture(scope="module",
                params=["interpreted", pytest.param("compiled", marks=pytest.mark.slow)])
def results(request):
    batch, odd = _batch(), _odd()
    if request.param == "interpreted":
        return (batch,), (interpret_fn(anp.linalg.eigh, batch),)
    outputs = aotc.jit(lambda x, y: (anp.linalg.eigh(x), anp.linalg.eigh(y)))(batch, odd)
    return (batch, odd), outputs


def test_eigh_matches_lapack(results):
    inputs, outputs = results
    for a, (w, v) in zip(inputs, outputs):
        a64, w, v = a.astype(F64), np.asarray(w, F64), np.asarray(v, F64)
        scale = np.max(np.abs(np.linalg.eigvalsh(a64)))
        assert np.max(np.abs(w - np.linalg.eigvalsh(a64))) / scale < 1e-5
        assert np.all(np.diff(w, axis=-1) >= 0)
        n = a.shape[-1]
        assert np.max(np.abs(np.swapaxes(v, -1, -2) @ v - np.eye(n))) < 1e-5
        assert np.max(np.abs(a64 @ v - v * w[..., None, :])) / scale < 1e-5


def test_eigenvectors_follow_the_sign_convention(results):
    _, outputs = results
    for _, v in outputs:
        v = np.asarray(v)
        top = np.take_along_axis(v, np.argmax(np.abs(v), axis=-2)[..., None, :], axis=-2)
        assert np.all(top > 0)


def test_jvp_matches_jax():
    """JAX's eigh rule on this path's (w, v), interpreted, against jax.jvp (signs aligned)."""
    a = _odd()
    d = np.random.default_rng(13).standard_normal(a.shape).astype(np.float32)
    d = d + d.T
    (w, v), (dw, dv) = aotc.jvp(anp.linalg.eigh, (a,), (d,))
    (wj, vj), (dwj, dvj) = jax.jvp(jnp.linalg.eigh, (a,), (d,))
    sign = np.sign(np.sum(np.asarray(v) * np.asarray(vj), axis=-2, keepdims=True))
    np.testing.assert_allclose(w, wj, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, dwj, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(dv) * sign, dvj, rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_vmap_matches_a_loop():
    """vmap of eigh on this path (interpreted) equals eigh of each matrix (~45 s loaded)."""
    batch = _batch()[:2]
    w, v = interpret_fn(aotc.vmap(anp.linalg.eigh), batch)
    for i, a in enumerate(batch):
        wi, vi = interpret_fn(anp.linalg.eigh, a)
        np.testing.assert_allclose(w[i], wi, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(v[i], vi, rtol=1e-5, atol=1e-5)
