"""aotc.linearize, aotc.linear_transpose and aotc.jacobian against jax.linearize,
jax.linear_transpose and jax.jacobian: pytrees, several arguments, has_aux, the errors users see.
Everything runs eagerly (the reference interpreter) except one jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close

import aotc
import aotc.numpy as anp

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3)).astype(np.float32)
Y = RNG.standard_normal(3).astype(np.float32)
A = RNG.standard_normal((3, 4)).astype(np.float32)


def close(actual, expected):
    assert_tree_close(actual, expected, rtol=1e-5, atol=1e-6)


def _smooth(np_):
    def f(x, p):
        h = np_.tanh(x @ p["a"]) * np_.sin(p["y"]).sum()
        return {"h": h, "n": (np_.sum(x * x),)}
    return f


def test_linearize_matches_jax():
    primals = (X, {"a": A, "y": Y})
    tangents = (np.ones_like(X), {"a": np.full_like(A, 0.5), "y": -Y})
    out, f_jvp = aotc.linearize(_smooth(anp), *primals)
    want_out, want_jvp = jax.linearize(_smooth(jnp), *primals)
    close(out, want_out)
    close(f_jvp(*tangents), want_jvp(*tangents))
    close(f_jvp(*[jax.tree.map(lambda t: 2 * t, t) for t in tangents]),
          want_jvp(*[jax.tree.map(lambda t: 2 * t, t) for t in tangents]))


def test_linearize_has_aux():
    def make(np_):
        return lambda x: (np_.exp(x) * 3, np_.max(x))

    out, f_jvp, aux = aotc.linearize(make(anp), Y, has_aux=True)
    want_out, want_jvp, want_aux = jax.linearize(make(jnp), Y, has_aux=True)
    close((out, aux), (want_out, want_aux))
    close(f_jvp(Y), want_jvp(Y))


def test_linearize_wrong_tangent_count_is_one_error():
    _, f_jvp = aotc.linearize(lambda x, y: x * y, Y, Y)
    with pytest.raises(aotc.TracingError, match=r"test_linearize.py:\d+: .*takes 2 tangents"):
        f_jvp(Y)


def _linear(np_):
    def f(x, p):
        return {"u": 2 * x @ A + p["a"][:2] - p["y"][::-1].sum(),
                "v": (np_.transpose(x) * 3)[1:]}
    return f


def test_linear_transpose_matches_jax():
    specs = (jax.ShapeDtypeStruct(X.shape, np.float32),
             {"a": jax.ShapeDtypeStruct(A.shape, np.float32), "y": Y})
    aotc_specs = (aotc.ShapeDtypeStruct(X.shape, np.float32),
                  {"a": aotc.ShapeDtypeStruct(A.shape, np.float32), "y": Y})
    ct = {"u": RNG.standard_normal((2, 4)).astype(np.float32),
          "v": RNG.standard_normal((2, 2)).astype(np.float32)}
    got = aotc.linear_transpose(_linear(anp), *aotc_specs)(ct)
    want = jax.linear_transpose(_linear(jnp), *specs)(ct)
    assert isinstance(got, tuple) and len(got) == 2
    close(got, want)


def test_linear_transpose_is_the_adjoint():
    # <f(x), ct> == <x, f_t(ct)> for a linear f of one argument
    f = lambda x: anp.cumsum(x[::-1]) * 0.5
    (x_ct,) = aotc.linear_transpose(f, Y)(X[0])
    assert np.isclose(np.dot(aotc.jit(f)(Y), X[0]), np.dot(Y, x_ct), rtol=1e-5)
    close(x_ct, jax.linear_transpose(lambda x: jnp.cumsum(x[::-1]) * 0.5, Y)(X[0])[0])


def test_linear_transpose_of_a_closure_over_an_outer_tracer():
    """Inside a trace, fun may close over the trace's tracers (w here): its output shapes are
    traced in the same trace, not a fresh one (once: "operand from a different MLIRContext")."""
    def transposed(w, ct):
        return aotc.linear_transpose(lambda x: x @ w, aotc.ShapeDtypeStruct(Y.shape, "float32"))(ct)

    ct = RNG.standard_normal(4).astype(np.float32)
    traced = aotc.lower(transposed, A, ct)
    (got,) = aotc.interpret(traced.module, traced.name, A, ct)
    want = jax.linear_transpose(lambda x: x @ A, jax.ShapeDtypeStruct(Y.shape, np.float32))(ct)
    close(got, want[0])
    close(aotc.jit(transposed)(A, ct), want)


def test_linear_transpose_errors():
    with pytest.raises(aotc.TracingError, match=r"test_linearize.py:\d+: .*float arguments"):
        aotc.linear_transpose(lambda n: n * 2, np.arange(3))
    fun_t = aotc.linear_transpose(lambda x: 2 * x, Y)
    with pytest.raises(aotc.TracingError, match=r"test_linearize.py:\d+: .*does not match"):
        fun_t(np.ones(4, np.float32))


def test_jacobian_is_jacrev_and_matches_jax():
    assert aotc.jacobian is aotc.jacrev
    close(aotc.jacobian(lambda x: anp.sin(x) @ A)(Y), jax.jacobian(lambda x: jnp.sin(x) @ A)(Y))
    close(aotc.jacobian(lambda x, a: anp.tanh(x @ a), argnums=1)(Y, A),
          jax.jacobian(lambda x, a: jnp.tanh(x @ a), argnums=1)(Y, A))
