"""The JVP of a stablehlo.reduce_window with any elementwise body (ops/reduce_window_jvp.py).

JAX's own exports (cumlogsumexp: a logaddexp body over -inf padding; lax.reduce_window with
custom bodies, strides, padding and dilations) through aotc.differentiate, forward and reverse,
and aotc.vectorize of those derivatives, against jax.jvp, jax.vjp and jax.vmap of them; through
the interpreter, and one IREE compile of every case.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import aotc
from aotc.tools.compile import compile_stablehlo
from aotc_runtime import load_bytes

jax.config.update("jax_platforms", "cpu")

F32 = np.float32
LANES = 3
TOL = 2e-5


def _mul_add(a, b):
    return a * b + a + b  # (1 + a)(1 + b) - 1: associative, 0 is its identity


CASES = {
    "cumlogsumexp": (lambda x: lax.cumlogsumexp(x, axis=1), (3, 6)),
    "cumlogsumexp_reverse": (lambda x: lax.cumlogsumexp(x, axis=0, reverse=True), (5, 3)),
    "logaddexp_strided_same": (lambda x: lax.reduce_window(
        x, -jnp.inf, jnp.logaddexp, (2, 3), (1, 2), "SAME"), (4, 7)),
    "mul_add_dilated": (lambda x: lax.reduce_window(
        x, F32(0), _mul_add, (2, 2), (1, 1), ((1, 0), (0, 1)), base_dilation=(2, 1),
        window_dilation=(1, 2)), (3, 4)),
}


def _inputs(shape, seed):
    rng = np.random.default_rng(seed)
    x, d = (rng.normal(size=shape).astype(F32) * 0.5 for _ in range(2))
    lanes = rng.normal(size=(LANES, *shape)).astype(F32) * 0.5
    lane_dirs = rng.normal(size=(LANES, *shape)).astype(F32) * 0.5
    return x, d, lanes, lane_dirs


def _jacobian(jvp, x):
    """d fn(x) / d x as (*out shape, *x shape), from one jvp(x, e) per basis vector e (JAX's
    reverse mode, jacfwd and vmap refuse or mis-batch a custom-body reduce_window)."""
    basis = np.eye(x.size, dtype=F32).reshape(x.size, *x.shape)
    columns = [np.asarray(jvp(x, e)[1]) for e in basis]
    return np.moveaxis(np.stack(columns), 0, -1).reshape(*columns[0].shape, *x.shape)


def _expected(fn, x, d, lanes, lane_dirs):
    """JAX's answers: jvp and vjp at (x, d) (the cotangent is d resized to the output's shape),
    and both over the lanes (a Python loop over one jitted jvp)."""
    jvp = jax.jit(lambda x, d: jax.jvp(fn, (x,), (d,)))

    def vjp(x, ct):
        return [np.asarray(fn(x)), np.tensordot(ct, _jacobian(jvp, x), ct.ndim)]

    def mapped(rule, *args):
        return [np.stack(column) for column in zip(*(rule(*lane) for lane in zip(*args)))]

    out_shape = fn(x).shape
    ct = np.resize(d, out_shape).astype(F32)
    lane_cts = np.stack([np.resize(c, out_shape) for c in lane_dirs]).astype(F32)
    return {"main_jvp": ((x, d), jvp(x, d)),
            "main_vjp": ((x, ct), vjp(x, ct)),
            "main_jvp_vmap": ((lanes, lane_dirs), mapped(jvp, lanes, lane_dirs)),
            "main_vjp_vmap": ((lanes, lane_cts), mapped(vjp, lanes, lane_cts))}


@pytest.fixture(scope="module")
def cases():
    built = {}
    for seed, (name, (fn, shape)) in enumerate(CASES.items()):
        x, d, lanes, lane_dirs = _inputs(shape, seed)
        text = jax.jit(fn).lower(x).as_text()
        module = aotc.differentiate(text, "main", (0,), mode="forward")
        module = aotc.differentiate(module, "main", (0,))
        for entry in ("main_jvp", "main_vjp"):
            module = aotc.vectorize(module, entry, (0, 0), LANES)
        built[name] = (module, _expected(fn, x, d, lanes, lane_dirs))
    return built


def _check(run, expected, name):
    for entry, (args, want) in expected.items():
        got = run(entry, *args)
        assert len(got) == len(want), f"{name} {entry}"
        for g, w in zip(got, want):
            assert np.all(np.isfinite(g)), f"{name} {entry}: not finite"
            np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL, err_msg=f"{name} {entry}")


@pytest.mark.parametrize("name", list(CASES))
def test_matches_jax_through_the_interpreter(cases, name):
    module, expected = cases[name]
    _check(lambda entry, *a: aotc.interpret(module, entry, *a), expected, name)


@pytest.mark.slow
def test_matches_jax_through_iree(cases):
    for name, (module, expected) in cases.items():
        with module.context:
            compiled = load_bytes(compile_stablehlo(str(module)), require_aotc=False)
        _check(lambda entry, *a, run=compiled: run[entry](*a), expected, name)


def test_reverse_mode_of_all_padding_windows_is_finite():
    """Windows of only -inf padding (logaddexp(-inf, -inf) is NaN in the body's derivative)
    and a first window element preceded by padding: the gradient is exactly JAX's."""
    fn = lambda x: lax.reduce_window(x, -jnp.inf, jnp.logaddexp, (4,), (1,), ((5, 0),))
    x = np.array([0.5, -1.0, 2.0], F32)
    ct = np.arange(1, 6, dtype=F32)
    module = aotc.differentiate(jax.jit(fn).lower(x).as_text(), "main", (0,))
    out, grad = aotc.interpret(module, "main_vjp", x, ct)
    np.testing.assert_array_equal(out[:2], [-np.inf, -np.inf])
    jvp = jax.jit(lambda x, d: jax.jvp(fn, (x,), (d,)))
    np.testing.assert_allclose(grad, ct @ _jacobian(jvp, x), rtol=1e-6)


def test_windows_over_the_cap_name_their_size():
    x = np.zeros(300, F32)
    text = jax.jit(lambda x: lax.cumlogsumexp(x)).lower(x).as_text()
    with pytest.raises(aotc.MissingRuleError, match=r"windows of 300 elements.*at most 256"):
        aotc.differentiate(text, "main", (0,), mode="forward")
