"""grad and vmap of `x[:, 1:]` on a dynamic batch (stablehlo.real_dynamic_slice), against JAX.

Through the reference interpreter (float64) for several slices, and once through IREE (one
artifact with every function, compiled once per session).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime


@pytest.fixture(autouse=True)
def _x64():
    """float64 in JAX for this module's oracles only (x64 is process-wide state)."""
    with jax.enable_x64(True):
        yield


DYN = aotc.ShapeSpec(("n", 5))  # one name: x and its cotangent share the batch

# (name, aotc slice, jax slice of the same rows): each weighted so every element's gradient differs
SLICES = {
    "tail": (lambda x: x[:, 1:], lambda x: x[:, 1:]),
    "strided": (lambda x: x[:, 1::2], lambda x: x[:, 1::2]),
    "middle": (lambda x: x[:, 1:4], lambda x: x[:, 1:4]),
    "every_third": (lambda x: x[:, ::3], lambda x: x[:, ::3]),
}


def _loss(take, np_mod):
    """sum(sin(take(x)) * [1, 2, ...]) in aotc.numpy or jax.numpy."""

    def loss(x):
        y = take(x)
        return np_mod.sum(np_mod.sin(y) * np_mod.arange(1.0, 1.0 + y.shape[-1]))

    return loss


def _run(fn, *specs):
    traced = aotc.lower(fn, *specs)

    def call(*args):
        out = aotc.interpret(traced.module, traced.name, *args)
        return out[0] if isinstance(out, (list, tuple)) and len(out) == 1 else out

    return call


@pytest.mark.parametrize("name", sorted(SLICES))
@pytest.mark.parametrize("rows", [1, 4])
def test_grad_of_dynamic_slice_matches_jax(name, rows):
    ours, theirs = SLICES[name]
    x = np.random.default_rng(rows).standard_normal((rows, 5))
    got = _run(aotc.grad(_loss(ours, anp)), DYN)(x)
    np.testing.assert_allclose(got, jax.grad(_loss(theirs, jnp))(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SLICES))
def test_jvp_and_vjp_of_dynamic_slice_match_jax(name):
    ours, theirs = SLICES[name]
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    tangent = _run(lambda x, t: aotc.jvp(ours, (x,), (t,))[1], DYN, DYN)(x, t)
    np.testing.assert_allclose(tangent, jax.jvp(theirs, (x,), (t,))[1])
    ct = rng.standard_normal(theirs(x).shape)
    out_spec = aotc.ShapeSpec(("n", ct.shape[1]))
    x_ct = _run(lambda x, c: aotc.vjp(ours, x)[1](c)[0], DYN, out_spec)(x, ct)
    np.testing.assert_allclose(x_ct, jax.vjp(theirs, x)[1](ct)[0])


@pytest.mark.parametrize("name", sorted(SLICES))
def test_vmap_of_dynamic_slice_matches_jax(name):
    ours, theirs = SLICES[name]
    x = np.random.default_rng(3).standard_normal((4, 3, 5))
    got = _run(aotc.vmap(lambda v: ours(v) * 2.0), aotc.ShapeSpec((4, None, 5)))(x)
    np.testing.assert_allclose(got, jax.vmap(lambda v: theirs(v) * 2.0)(x))


def test_vmap_of_grad_of_dynamic_slice_matches_jax():
    ours, theirs = SLICES["strided"]
    x = np.random.default_rng(4).standard_normal((2, 3, 5))
    got = _run(aotc.vmap(aotc.grad(_loss(ours, anp))), aotc.ShapeSpec((2, None, 5)))(x)
    np.testing.assert_allclose(got, jax.vmap(jax.grad(_loss(theirs, jnp)))(x), rtol=1e-12)


@pytest.fixture(scope="module")
def compiled():
    """One artifact: grad and vmap of the tail and strided slices, on a dynamic batch."""

    def slice_rules(x, xs):
        return {name: (aotc.grad(_loss(SLICES[name][0], anp))(x),
                       aotc.vmap(lambda v, take=SLICES[name][0]: take(v) * 2.0)(xs))
                for name in ("tail", "strided")}

    vmfb = aotc.compile(slice_rules, DYN, aotc.ShapeSpec((3, None, 5)))
    return aotc_runtime.load_bytes(vmfb).slice_rules


@pytest.mark.parametrize("rows", [1, 6])
def test_dynamic_slice_rules_through_iree(compiled, rows):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 5)).astype(np.float32)
    xs = rng.standard_normal((3, rows, 5)).astype(np.float32)
    got = compiled(x, xs)
    for name in ("tail", "strided"):
        theirs = SLICES[name][1]
        want_grad = jax.grad(_loss(theirs, jnp))(x.astype(np.float64))
        want_vmap = jax.vmap(lambda v, take=theirs: take(v) * 2.0)(xs)
        np.testing.assert_allclose(got[name][0], want_grad, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(got[name][1], want_vmap, rtol=1e-6, err_msg=name)
