"""Autodiff and vmap of complex programs, checked directly against JAX: grad of real-valued
functions of complex inputs (JAX's conjugate convention), grad(holomorphic=True), jvp, vjp with
complex cotangents, and vmap against a Python loop; through the interpreter and one IREE compile
per check."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_entries_close

import aotc
import aotc.lax as alax
import aotc.numpy as anp

RNG = np.random.default_rng(11)


def _complex(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


Z = _complex(4)
A = _complex(3, 4)
X = RNG.standard_normal(4).astype(np.float32)

# Real-valued functions of a complex z (and a float x), each with its own rule mix.
REAL_FUNCTIONS = {
    "abs_squared": lambda m, z, x: m.sum(m.abs(z) ** 2),
    "abs": lambda m, z, x: m.sum(m.abs(z) * x),
    "real_exp": lambda m, z, x: m.sum(m.real(m.exp(z) * (2 - 3j))),
    "imag_log": lambda m, z, x: m.sum(m.imag(m.log(z * z))),
    "conj_product": lambda m, z, x: m.sum(m.real(z * m.conj(z) * 1j + z)),
    "sqrt_divide": lambda m, z, x: m.sum(m.abs(m.sqrt(z) / (z + 2))),
    "trig": lambda m, z, x: m.sum(m.real(m.sin(z) * m.cos(z)) + m.imag(m.tanh(z))),
    "expm1_log1p": lambda m, z, x: m.sum(m.real(m.expm1(z)) * m.imag(m.log1p(z))),
    "power": lambda m, z, x: m.sum(m.real(m.power(z, 1.5 + 0.5j))),
    "mixed_float": lambda m, z, x: m.sum(m.abs(z + x * 1j) * x),
    "angle": lambda m, z, x: m.sum(m.angle(z)),
    "where_complex": lambda m, z, x: m.sum(m.real(m.where(x > 0, z * z, m.conj(z)))),
    "vdot": lambda m, z, x: m.real(m.vdot(z, z * (1 + 1j))),
    "matmul": lambda m, z, x: m.sum(m.abs(m.outer(z, z) @ z)),
    "mean_prod": lambda m, z, x: m.real(m.mean(z) * m.prod(z[:3])),
    "gather_scatter": lambda m, z, x: m.sum(m.imag(z.at[m.asarray([1, 3])].add(z[:2] * z[2:]))),
}


def _grads(m, transforms, z, x):
    return {name: transforms.grad(lambda z, x, f=f: f(m, z, x), argnums=(0, 1))(z, x)
            for name, f in REAL_FUNCTIONS.items()}


@pytest.fixture(scope="module")
def jax_grads():
    return jax.tree.map(np.asarray, _grads(jnp, jax, Z, X))


def test_grad_matches_jax_interpreted(jax_grads):
    assert_entries_close(_grads(anp, aotc, Z, X), jax_grads, rtol=2e-5, atol=2e-5)


def test_grad_matches_jax_compiled(jax_grads):
    compiled = aotc.jit(lambda z, x: _grads(anp, aotc, z, x))(Z, X)
    assert_entries_close(compiled, jax_grads, rtol=2e-5, atol=2e-5)


def _holomorphic(m, z):
    return m.sum(m.exp(z) * z + m.sin(z) / (z + 3) + m.sqrt(z) ** 2)


def test_holomorphic_grad_jvp_vjp_and_vmap():
    def program(z, a, t):
        out = {}
        out["holomorphic"] = aotc.grad(lambda z: _holomorphic(anp, z), holomorphic=True)(z)
        out["jvp"] = aotc.jvp(lambda z: anp.sin(z) * anp.conj(z), (z,), (t,))
        y, pullback = aotc.vjp(lambda a: anp.exp(a) @ z, a)
        out["vjp"] = (y, pullback(anp.ones(3) * (1 - 2j)))
        out["vmap"] = aotc.vmap(lambda row: anp.sum(anp.exp(row) * row.conj()))(a)
        out["vmap_grad"] = aotc.vmap(aotc.grad(lambda row: anp.sum(anp.abs(row * z))))(a)
        return out

    def oracle(z, a, t):
        out = {}
        out["holomorphic"] = jax.grad(lambda z: _holomorphic(jnp, z), holomorphic=True)(z)
        out["jvp"] = jax.jvp(lambda z: jnp.sin(z) * jnp.conj(z), (z,), (t,))
        y, pullback = jax.vjp(lambda a: jnp.exp(a) @ z, a)
        out["vjp"] = (y, pullback(jnp.ones(3) * (1 - 2j)))
        # vmap against a Python loop, as for real programs
        out["vmap"] = np.stack([np.sum(np.exp(r) * r.conj()) for r in np.asarray(a)])
        out["vmap_grad"] = np.stack([jax.grad(lambda r: jnp.sum(jnp.abs(r * z)))(r) for r in a])
        return jax.tree.map(np.asarray, out)

    t = _complex(4)
    expected = oracle(Z, A, t)
    assert_entries_close(program(Z, A, t), expected, rtol=2e-5, atol=2e-5)
    assert_entries_close(aotc.jit(program)(Z, A, t), expected, rtol=2e-5, atol=2e-5,
                         prefix="compiled ")


def test_transpose_of_complex_constant_multiplication_is_not_conjugated():
    # JAX's transpose of z -> c z is ct -> c ct (a plain linear transpose)
    c = 0.5 - 2j
    transposed = aotc.linear_transpose(lambda z: z * c, aotc.ShapeDtypeStruct((4,), "complex64"))
    (ct,) = transposed(Z)
    np.testing.assert_allclose(ct, Z * c, rtol=1e-6)


def test_lax_complex_parts_differentiate_like_jax():
    def f(m, lax, x, y):
        z = lax.complex(x, y)
        return m.sum(lax.real(z * z) + lax.imag(lax.conj(z) * 3j))

    got = aotc.grad(lambda x, y: f(anp, alax, x, y), argnums=(0, 1))(X, X[::-1])
    expected = jax.grad(lambda x, y: f(jnp, jax.lax, x, y), argnums=(0, 1))(X, X[::-1])
    assert_entries_close({"g": got}, {"g": jax.tree.map(np.asarray, expected)})


def test_grad_errors_name_the_fix():
    with pytest.raises(aotc.TracingError, match=r"test_complex_grad.py:\d+: grad needs a "
                                                r"real-valued function.*holomorphic=True"):
        aotc.grad(lambda z: anp.sum(z * z))(Z)
    with pytest.raises(aotc.TracingError, match="holomorphic=True needs complex inputs"):
        aotc.grad(lambda x: anp.sum(x * x), holomorphic=True)(X)
    with pytest.raises(aotc.TracingError, match="holomorphic=True needs a function returning a "
                                                "complex scalar"):
        aotc.grad(lambda z: anp.sum(anp.abs(z)), holomorphic=True)(Z)


def test_complex_loop_carry_value_and_grad_match_jax():
    def iterate(m, lax, z):
        return lax.fori_loop(0, 5, lambda i, c: c * c + z, z)

    def loss(m, lax, z):
        return m.sum(m.abs(iterate(m, lax, z)))

    def program(m, lax, transforms, z):
        return {"value": iterate(m, lax, z),
                "grad": transforms.grad(lambda z: loss(m, lax, z))(z)}

    z = Z * 0.3
    expected = jax.tree.map(np.asarray, program(jnp, jax.lax, jax, z))
    program = functools.partial(program, anp, alax, aotc)
    assert_entries_close(program(z), expected, rtol=2e-5, atol=2e-6)
    assert_entries_close(aotc.jit(program)(z), expected, rtol=2e-5, atol=2e-6, prefix="compiled ")
