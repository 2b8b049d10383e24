"""Reverse mode through bounded while loops (max_steps=N): the steps past a loop's end.

A bounded loop runs N guarded steps; past the loop's end the body still runs on the frozen
carry and a select drops its result. The body reads its inputs (carry and captures) through
selects too, so where its derivative on the frozen values is not finite (a division by zero
there), those steps contribute exactly nothing: the gradient is the one of the steps taken.

A NaN that the program's own math produces on a step that is taken (JAX's expn series:
jnp.where(pk != 0, yk / pk, 0) with pk = 0) is kept, as JAX's reverse mode keeps it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import aotc
import aotc.lax as alax
from aotc.tools.compile import compile_stablehlo
from aotc_runtime import load_bytes

jax.config.update("jax_platforms", "cpu")

F32 = np.float32
X = np.array([1.3, 1.1, 2.0], F32)  # 2, 3 and 1 steps taken


def _end(x):
    """The number of steps the loop below takes from x (so the body divides by zero on the
    frozen carry right after the last step)."""
    return jnp.where(x < 1.2, 3.0, jnp.where(x < 1.5, 2.0, 1.0))


def _loop(x):
    """while y < 5: y = y * x * 4 / (end - k); k += 1, with end the trip count."""
    end = _end(x)

    def body(s):
        k, y = s
        return k + 1.0, y * x * 4.0 / (end - k)

    return lax.while_loop(lambda s: s[1] < 5.0, body, (jnp.float32(0), x))[1]


def _reference(x):
    """The same steps, taken while y < 5 and never past it (JAX differentiates this)."""
    end = _end(x)

    def step(k, y):
        return jnp.where(y < 5.0, y * x * 4.0 / jnp.where(y < 5.0, end - k, 1.0), y)

    return lax.fori_loop(0, 8, lambda k, y: step(jnp.float32(k), y), x)


def _grads(fn, xs):
    return np.array([jax.grad(fn)(x) for x in xs])


def test_reference_takes_the_intended_steps():
    np.testing.assert_allclose([_loop(x) for x in X], [_reference(x) for x in X], rtol=1e-6)
    assert np.all(np.isfinite(_grads(_reference, X)))


@pytest.fixture(scope="module")
def module():
    # one lane per program: a vmapped while runs the body on finished lanes itself (JAX's
    # batching select), which reverse mode cannot tell from the program's math
    text = jax.jit(_loop).lower(X[0]).as_text()
    return aotc.differentiate(text, "main", (0,), max_steps=8)


def test_steps_past_the_end_add_nothing_interpreter(module):
    out, grad = np.array([aotc.interpret(module, "main_vjp", x, F32(1)) for x in X]).T
    np.testing.assert_allclose(out, [_loop(x) for x in X], rtol=1e-6)
    np.testing.assert_allclose(grad, _grads(_reference, X), rtol=1e-5)


def test_steps_past_the_end_add_nothing_iree(module):
    with module.context:
        compiled = load_bytes(compile_stablehlo(str(module)), require_aotc=False)
    out, grad = np.array([compiled["main_vjp"](x, F32(1)) for x in X]).T
    np.testing.assert_allclose(out, [_loop(x) for x in X], rtol=1e-6)
    np.testing.assert_allclose(grad, _grads(_reference, X), rtol=1e-5)


@pytest.mark.parametrize("checkpoint", ["all", "sqrt"])
def test_aotc_while_loop_with_max_steps(checkpoint):
    def loop(x):
        end = aotc.numpy.where(x < 1.2, 3.0, aotc.numpy.where(x < 1.5, 2.0, 1.0))

        def body(s):
            k, y = s
            return k + 1.0, y * x * 4.0 / (end - k)

        return alax.while_loop(lambda s: s[1] < 5.0, body, (aotc.numpy.float32(0), x),
                               max_steps=8, checkpoint=checkpoint)[1]

    grads = [float(aotc.grad(loop)(x)) for x in X]
    np.testing.assert_allclose(grads, _grads(_reference, X), rtol=1e-5)


def _series(x, bounded):
    """JAX's _expn1 series for n = 2 (ans += where(pk != 0, yk / pk, 0), pk = 0 at step 1):
    as a while loop, or (bounded) as 20 fori steps that stop updating once it has converged."""
    zero, one = jnp.float32(0), jnp.float32(1)
    init = (-x, zero, one, -one, -one, jnp.float32(np.inf))

    def body(s):
        z, xk, yk, pk, ans, _ = s
        xk, pk = xk + one, pk + one
        yk = yk * z / xk
        ans = ans + jnp.where(pk != zero, yk / pk, zero)
        return z, xk, yk, pk, ans, jnp.where(ans != zero, abs(yk / ans), one)

    def cond(s):
        return s[5] > 1.19e-7

    if not bounded:
        return lax.while_loop(cond, body, init)[4]
    step = lambda _, s: jax.tree.map(lambda a, b: jnp.where(cond(s), a, b), body(s), s)
    return lax.fori_loop(0, 20, step, init)[4]


def test_a_nan_of_the_program_itself_is_kept_as_in_jax():
    x = F32(0.9)
    jax_grad = jax.grad(lambda x: _series(x, True))(x)
    assert np.isnan(jax_grad)  # JAX's reverse mode of the same math
    module = aotc.differentiate(jax.jit(lambda x: _series(x, False)).lower(x).as_text(),
                                "main", (0,), max_steps=20)
    out, grad = aotc.interpret(module, "main_vjp", x, F32(1))
    np.testing.assert_allclose(out, _series(x, True), rtol=1e-6)
    assert np.isnan(grad)
