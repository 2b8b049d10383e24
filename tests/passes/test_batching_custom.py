"""vmap keeps custom derivatives: grad/jacfwd of vmap(f), for f a custom_jvp or custom_vjp
function (and random.gamma's implicit derivative), use f's rule as JAX does. Before, vmap
inlined f and autodiff silently differentiated its body instead (grad of a custom_jvp sin
with rule 100 * t gave cos(x))."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc.random as arandom

jax.config.update("jax_platforms", "cpu")

X = np.array([-1.5, -0.2, 0.4, 0.9, 2.0, 3.5], np.float32)
W = np.float32(1.7)


def _close(got, want, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=1e-6)


def _scaled_sin(lib, m):
    """sin with a JVP that is not sin's own (x * 100 * t), so a dropped rule shows."""

    @lib.custom_jvp
    def f(x, w):
        return m.sin(x) * w

    @f.defjvp
    def _(primals, tangents):
        (x, w), (tx, tw) = primals, tangents
        return m.sin(x) * w, 100.0 * x * tx + 3.0 * tw

    return f


def _clip(lib, m):
    """Identity with a clipped cotangent (JAX's clip_gradient example)."""

    @lib.custom_vjp
    def f(x, w):
        return x * w

    f.defvjp(lambda x, w: (x * w, (x, w)), lambda res, g: (m.clip(g * res[1], -1.0, 1.0),
                                                             m.sum(g * res[0]) * 0.5))
    return f


@pytest.mark.parametrize("make", [_scaled_sin, _clip])
def test_grad_of_vmap_uses_the_rule(make):
    ours, theirs = make(aotc, anp), make(jax, jnp)

    def loss(lib, m, f):
        return lambda x, w: m.sum(lib.vmap(f, in_axes=(0, None))(x, w) * 2.0)

    got = aotc.grad(loss(aotc, anp, ours), argnums=(0, 1))(X, W)
    want = jax.grad(loss(jax, jnp, theirs), argnums=(0, 1))(X, W)
    _close(got[0], want[0])
    _close(got[1], want[1], rtol=1e-5)


def test_jacfwd_and_nested_vmap_of_custom_jvp():
    ours, theirs = _scaled_sin(aotc, anp), _scaled_sin(jax, jnp)
    x2 = X.reshape(2, 3)
    _close(aotc.jacfwd(aotc.vmap(ours, in_axes=(0, None)))(X, W),
           jax.jacfwd(jax.vmap(theirs, in_axes=(0, None)))(X, W))
    got = aotc.grad(lambda x: anp.sum(aotc.vmap(aotc.vmap(ours, in_axes=(0, None)),
                                                in_axes=(0, None))(x, W)))(x2)
    want = jax.grad(lambda x: jnp.sum(jax.vmap(jax.vmap(theirs, in_axes=(0, None)),
                                               in_axes=(0, None))(x, W)))(x2)
    _close(got, want)


def test_vmap_of_unbatched_call_keeps_the_rule():
    """A custom function called only on unbatched values inside a vmapped function."""
    ours, theirs = _scaled_sin(aotc, anp), _scaled_sin(jax, jnp)
    got = aotc.grad(lambda w: anp.sum(aotc.vmap(lambda x: x * ours(w, w))(X)))(W)
    want = jax.grad(lambda w: jnp.sum(jax.vmap(lambda x: x * theirs(w, w))(X)))(W)
    _close(got, want, rtol=1e-5)


def test_compiled_grad_of_vmap_matches_jax():
    ours, theirs = _clip(aotc, anp), _clip(jax, jnp)
    got = aotc.jit(aotc.grad(lambda x: anp.sum(aotc.vmap(ours, in_axes=(0, None))(x, W))))(X)
    want = jax.grad(lambda x: jnp.sum(jax.vmap(theirs, in_axes=(0, None))(x, W)))(X)
    _close(got, want)


def test_grad_of_vmapped_gamma_matches_jax():
    keys = np.stack([np.asarray(jax.random.PRNGKey(i)) for i in range(3)])
    a = np.float32(2.5)
    got = aotc.grad(lambda a: anp.sum(aotc.vmap(lambda k: arandom.gamma(k, a, (4,)))(keys)))(a)
    want = jax.grad(lambda a: jnp.sum(jax.vmap(lambda k: jax.random.gamma(k, a, (4,)))(keys)))(a)
    _close(got, want, rtol=1e-5)
