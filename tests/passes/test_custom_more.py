"""custom_jvp.defjvps, custom_vjp's nondiff_argnums and None cotangents from bwd, against JAX
(the clip_gradient examples of JAX's custom-derivatives documentation)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")

X = np.array([-2.0, -0.3, 0.0, 0.7, 3.0], np.float32)
Y = np.array([1.5, -1.0, 2.0, 0.5, -0.25], np.float32)


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


def _defjvps(lib, m):
    @lib.custom_jvp
    def f(x, y):
        return m.sin(x) * y

    f.defjvps(lambda x_dot, ans, x, y: m.cos(x) * x_dot * y * 2.0,  # * 2: the rule is used
              lambda y_dot, ans, x, y: m.sin(x) * y_dot)
    return f


def test_defjvps_matches_jax_forward_and_reverse():
    ours, theirs = _defjvps(aotc, anp), _defjvps(jax, jnp)
    _close(ours(X, Y), theirs(X, Y))
    _close(aotc.jvp(ours, (X, Y), (Y, X))[1], jax.jvp(theirs, (X, Y), (Y, X))[1])
    got = aotc.grad(lambda x, y: anp.sum(ours(x, y)), argnums=(0, 1))(X, Y)
    want = jax.grad(lambda x, y: jnp.sum(theirs(x, y)), argnums=(0, 1))(X, Y)
    _close(got[0], want[0])
    _close(got[1], want[1])


def test_defjvps_none_means_no_derivative():
    def build(lib, m):
        @lib.custom_jvp
        def f(x, y):
            return x * y

        f.defjvps(None, lambda g, ans, x, y: g * x)
        return f

    got = aotc.grad(lambda x, y: anp.sum(build(aotc, anp)(x, y)), argnums=(0, 1))(X, Y)
    want = jax.grad(lambda x, y: jnp.sum(build(jax, jnp)(x, y)), argnums=(0, 1))(X, Y)
    _close(got[0], want[0])
    _close(got[1], want[1])


def _clip_nondiff(lib, m):
    """JAX's docs: lo and hi as nondiff_argnums, passed first to bwd."""
    @partial(lib.custom_vjp, nondiff_argnums=(0, 1))
    def clip_gradient(lo, hi, x):
        return x

    def clip_gradient_fwd(lo, hi, x):
        return x, None

    def clip_gradient_bwd(lo, hi, _, g):
        return (m.clip(g, lo, hi),)

    clip_gradient.defvjp(clip_gradient_fwd, clip_gradient_bwd)
    return clip_gradient


def _clip_none_cotangents(lib, m):
    """JAX's docs: lo and hi as residuals, bwd returning None (zero) for them."""
    @lib.custom_vjp
    def clip_gradient(lo, hi, x):
        return x

    def clip_gradient_fwd(lo, hi, x):
        return x, (lo, hi)

    def clip_gradient_bwd(res, g):
        lo, hi = res
        return (None, None, m.clip(g, lo, hi))

    clip_gradient.defvjp(clip_gradient_fwd, clip_gradient_bwd)
    return clip_gradient


@pytest.mark.parametrize("build", [_clip_nondiff, _clip_none_cotangents])
def test_clip_gradient_examples_match_jax(build):
    ours, theirs = build(aotc, anp), build(jax, jnp)

    def loss(clip, m):
        return lambda x: m.sum(m.sin(clip(-0.75, 0.75, x)) * 4.0)

    _close(ours(-0.75, 0.75, X), theirs(-0.75, 0.75, X))
    _close(aotc.grad(loss(ours, anp))(X), jax.grad(loss(theirs, jnp))(X))
    _close(aotc.jit(aotc.grad(loss(ours, anp)))(X), jax.grad(loss(theirs, jnp))(X))


def test_nondiff_array_argument_gets_no_cotangent():
    def build(lib, m):
        @partial(lib.custom_vjp, nondiff_argnums=(1,))
        def scale(x, w):
            return x * w

        scale.defvjp(lambda x, w: (x * w, x), lambda w, x, g: (g * w * 3.0,))
        return scale

    ours, theirs = build(aotc, anp), build(jax, jnp)
    _close(aotc.grad(lambda x, w: anp.sum(ours(x, w)))(X, Y),
           jax.grad(lambda x, w: jnp.sum(theirs(x, w)))(X, Y))


def test_bwd_with_the_wrong_structure_is_an_error():
    @aotc.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g,))
    with pytest.raises(TracingError, match="one cotangent per argument"):
        aotc.grad(lambda x, y: anp.sum(f(x, y)))(X, Y)
