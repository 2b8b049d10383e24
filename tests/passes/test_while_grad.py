"""Reverse mode through while loops with data-dependent trip counts (`max_steps=`).

A bounded while_loop is a counted loop of max_steps guarded steps. Its gradients are checked
against central finite differences of the same program in float64 (reference interpreter),
against the same loop written as fori_loop with the trip count the plain loop took, with
checkpoint="sqrt" against "all", under vmap with lanes of different trip counts (interpreted
and one IREE compile), and for JAX-exported while loops (aotc.differentiate(max_steps=...)) against
jax.grad of the equivalent fori_loop.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_checks import interpreted

import aotc
from aotc import lax
from aotc import numpy as anp
from aotc.frontend.core.errors import TracingError

F32 = np.float32
EPS = 1e-6


# ---- the programs: Newton to a tolerance, an ODE integrated until t >= T --------------------


def newton_cbrt(c, max_steps=None, checkpoint="all"):
    """Cube root of c by Newton's method until |x^3 - c| <= 1e-6 (a data-dependent trip count);
    returns (root, steps)."""
    def cond(s):
        return anp.abs(s[0] ** 3 - c) > 1e-6

    def body(s):
        return s[0] - (s[0] ** 3 - c) / (3 * s[0] ** 2), s[1] + 1

    kw = {} if max_steps is None else {"max_steps": max_steps, "checkpoint": checkpoint}
    return lax.while_loop(cond, body, (c + 1.0, 0), **kw)


def newton_cbrt_fori(c, steps):
    return lax.fori_loop(0, steps, lambda i, x: x - (x ** 3 - c) / (3 * x ** 2), c + 1.0)


def ode(a, y0, max_steps=None, checkpoint="all"):
    """y' = -a y + sin(t) by Euler steps of 0.05 until t >= 2 * a (the end time depends on a);
    returns (t, y, steps)."""
    def body(s):
        t, y, k = s
        return t + 0.05, y + 0.05 * (-a * y + anp.sin(t)), k + 1

    kw = {} if max_steps is None else {"max_steps": max_steps, "checkpoint": checkpoint}
    return lax.while_loop(lambda s: s[0] < 2 * a, body, (anp.zeros_like(a), y0, 0), **kw)


def ode_fori(a, y0, steps):
    def body(i, s):
        t, y = s
        return t + 0.05, y + 0.05 * (-a * y + anp.sin(t))

    return lax.fori_loop(0, steps, body, (anp.zeros_like(a), y0))[1]


def _fd(f, x, eps=EPS):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


# ---- Newton: interpreter in float64 -------------------------------------------------------


@pytest.fixture(scope="module")
def newton():
    spec = aotc.ShapeSpec((), F32)
    value = interpreted(lambda c: newton_cbrt(c, 40), [spec])
    grads = {ck: interpreted(aotc.grad(lambda c, ck=ck: newton_cbrt(c, 40, ck)[0]), [spec])
             for ck in ("all", "sqrt")}
    return value, grads


@pytest.mark.parametrize("c", [0.5, 3.0, 27.0, 200.0])
def test_newton_grad_vs_finite_differences_and_fori(newton, c):
    value, grads = newton
    root, steps = value(c)
    assert 2 <= int(steps) < 40  # converged inside the bound, after a c-dependent count
    np.testing.assert_allclose(root, np.cbrt(c), rtol=1e-6)
    got = float(grads["all"](c))
    fd = _fd(lambda x: float(value(x)[0]), c)
    np.testing.assert_allclose(got, fd, rtol=1e-5)
    np.testing.assert_allclose(float(grads["sqrt"](c)), got, rtol=1e-12)
    fori = interpreted(aotc.grad(lambda x: newton_cbrt_fori(x, int(steps))),
                       [aotc.ShapeSpec((), F32)])
    np.testing.assert_allclose(got, float(fori(c)), rtol=1e-12)


def test_trip_counts_differ_across_inputs(newton):
    value, _ = newton
    assert len({int(value(c)[1]) for c in [0.5, 3.0, 27.0, 200.0]}) > 1


# ---- ODE until t >= T: gradients w.r.t. the rate (which moves T) and the initial value -----


@pytest.mark.parametrize("checkpoint", ["all", "sqrt"])
def test_ode_grad_vs_finite_differences_and_fori(checkpoint):
    specs = [aotc.ShapeSpec((), F32), aotc.ShapeSpec((3,), F32)]
    value = interpreted(lambda a, y0: ode(a, y0, 100, checkpoint), specs)
    grad = interpreted(aotc.grad(lambda a, y0: anp.sum(ode(a, y0, 100, checkpoint)[1] ** 2),
                                 argnums=(0, 1)), specs)
    a, y0 = 0.83, np.array([1.0, -0.5, 2.0])
    steps = int(value(a, y0)[2])
    assert 10 < steps < 100
    g_a, g_y0 = grad(a, y0)

    def loss(a_, y0_):
        return float(np.sum(np.asarray(value(a_, y0_)[1]) ** 2))

    # the trip count is piecewise constant in a: a small step keeps it (checked) and the FD is
    # that of the loop the gradient differentiates
    assert int(value(a + 1e-4, y0)[2]) == int(value(a - 1e-4, y0)[2]) == steps
    np.testing.assert_allclose(g_a, _fd(lambda x: loss(x, y0), a), rtol=1e-5)
    for i in range(3):
        e = np.eye(3)[i]
        np.testing.assert_allclose(g_y0[i], _fd(lambda s, e=e: loss(a, y0 + s * e), 0.0), rtol=1e-5)
    fori = interpreted(aotc.grad(lambda a_, y_: anp.sum(ode_fori(a_, y_, steps) ** 2),
                                 argnums=(0, 1)), specs)
    want_a, want_y0 = fori(a, y0)
    np.testing.assert_allclose(g_a, want_a, rtol=1e-12)
    np.testing.assert_allclose(g_y0, want_y0, rtol=1e-12)


# ---- semantics: more steps than max_steps, max_steps=0, errors --------------------------------


def test_stops_after_max_steps():
    spec = aotc.ShapeSpec((), F32)
    bounded = interpreted(lambda c: newton_cbrt(c, 3)[0], [spec])
    three = interpreted(lambda c: newton_cbrt_fori(c, 3), [spec])
    plain_steps = int(interpreted(lambda c: newton_cbrt(c)[1], [spec])(200.0))
    assert plain_steps > 3
    np.testing.assert_allclose(bounded(200.0), three(200.0), rtol=1e-12)
    assert float(interpreted(lambda c: newton_cbrt(c, 0)[0], [spec])(2.0)) == 3.0


def test_forward_value_equals_plain_while_loop():
    spec = aotc.ShapeSpec((), F32)
    plain = interpreted(lambda c: newton_cbrt(c), [spec])
    bounded = interpreted(lambda c: newton_cbrt(c, 64, "sqrt"), [spec])
    for c in [0.1, 5.0, 1000.0]:
        np.testing.assert_array_equal(plain(c)[0], bounded(c)[0])
        assert int(plain(c)[1]) == int(bounded(c)[1])


def test_errors_name_max_steps():
    with pytest.raises(TracingError, match="max_steps=N"):
        aotc.lower(aotc.grad(lambda c: newton_cbrt(c)[0]), aotc.ShapeSpec((), F32))
    with pytest.raises(TracingError, match=r"test_while_grad\.py.*max_steps must be"):
        aotc.lower(lambda c: newton_cbrt(c, -1)[0], aotc.ShapeSpec((), F32))
    with pytest.raises(TracingError, match=r"test_while_grad\.py.*checkpoint must be one of"):
        aotc.lower(lambda c: newton_cbrt(c, 4, "revolve")[0], aotc.ShapeSpec((), F32))


# ---- vmap of the grad: lanes with different trip counts ---------------------------------------

LANES = np.array([0.5, 3.0, 27.0, 200.0, 1e-3], F32)


def _lane_grads():
    return aotc.vmap(aotc.grad(lambda c: newton_cbrt(c, 40, "sqrt")[0]))


def test_vmap_grad_interpreted():
    got = interpreted(_lane_grads(), [aotc.ShapeSpec((5,), F32)])(LANES)
    one = interpreted(aotc.grad(lambda c: newton_cbrt(c, 40)[0]), [aotc.ShapeSpec((), F32)])
    np.testing.assert_allclose(got, [float(one(c)) for c in LANES], rtol=1e-12)
    # the tolerance |x^3 - c| <= 1e-6 leaves the root of c = 1e-3 0.1% off: the grad 0.2%
    np.testing.assert_allclose(got, 1 / (3 * np.cbrt(LANES.astype(np.float64)) ** 2), rtol=5e-3)


def test_vmap_grad_compiled():
    got = np.asarray(aotc.jit(_lane_grads())(LANES))  # float32 through IREE
    want = interpreted(_lane_grads(), [aotc.ShapeSpec((5,), F32)])(LANES)
    # float32 stops Newton at |x^3 - c| <= 1e-6 a little off the root for the smallest c
    np.testing.assert_allclose(got, want, rtol=5e-3)
    np.testing.assert_allclose(got[:4], want[:4], rtol=1e-5)


# ---- imported: JAX's exported while_loop vs jax.grad of the equivalent fori_loop ---------------


def _jax_newton(c):
    def body(s):
        return s[0] - (s[0] ** 3 - c) / (3 * s[0] ** 2), s[1] + 1

    return jax.lax.while_loop(lambda s: (jnp.abs(s[0] ** 3 - c) > 1e-4) & (s[1] < 60), body,
                              (c + 1.0, 0))


@pytest.mark.parametrize("checkpoint", ["all", "sqrt"])
def test_imported_while_loop_vs_jax_fori(checkpoint):
    text = jax.jit(lambda c: _jax_newton(c)[0]).lower(F32(1.0)).as_text()
    module = aotc.differentiate(text, max_steps=40, checkpoint=checkpoint)
    for c in [0.5, 2.0, 8.0]:
        steps = int(_jax_newton(F32(c))[1])
        want = jax.grad(lambda x, n=steps: jax.lax.fori_loop(
            0, n, lambda i, r: r - (r ** 3 - x) / (3 * r ** 2), x + 1.0))(F32(c))
        root, got = aotc.interpret(module, "main_vjp", np.float64(c), np.float64(1.0))
        np.testing.assert_allclose(root, np.cbrt(c), rtol=1e-4)
        np.testing.assert_allclose(got, want, rtol=1e-4)


def test_imported_without_max_steps_names_the_option():
    text = jax.jit(lambda c: _jax_newton(c)[0]).lower(F32(1.0)).as_text()
    with pytest.raises(TracingError, match="max-steps"):
        aotc.differentiate(text)
