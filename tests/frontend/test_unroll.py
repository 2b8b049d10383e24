"""Partial unrolling of fori_loop and scan (frontend/lax/unroll.py): the factor chosen by body size,
the emitted loop (a counted loop of trip/factor iterations, factor body copies each), and values
that do not depend on it, against jax.lax and plain Python loops.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.frontend.core.ir
from aotc import lax
from aotc import numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.lax.unroll import MAX_FACTOR, SMALL_BODY, choose_factor
from aotc.frontend.ops.loops import counted_loop, static_int
from aotc.passes import functions as util

RNG = np.random.default_rng(0)
XS = RNG.standard_normal((12, 3)).astype(np.float32)
W = (RNG.standard_normal((3, 3)) / 2).astype(np.float32)


@pytest.mark.parametrize("trip, size, unroll, factor", [
    (50, 15, None, 10),  # small body: MAX_FACTOR steps per iteration, a divisor of 50
    (50, 52, None, 10),  # RK4's body: 11 steps fit the budget
    (50, SMALL_BODY, None, 5),  # 6 steps fit: the largest divisor of 50 up to 6
    (50, SMALL_BODY + 1, None, 1),  # a large body is not unrolled
    (7, 5, None, 1),  # a prime trip count has no divisor to unroll by
    (6, 1, None, 3),  # at least two iterations stay
    (6, 1, 4, 3),  # an asked factor becomes the largest divisor up to it
    (6, 500, True, 6),
    (6, 1, False, 1),
    (6, 1, 1, 1),
])
def test_choose_factor(trip, size, unroll, factor):
    assert choose_factor(trip, size, unroll) == factor
    assert choose_factor(trip, size, None) <= MAX_FACTOR


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2"])
def test_bad_unroll_names_the_argument(bad):
    with pytest.raises(TracingError, match="unroll must be None, a bool or an int >= 1"):
        aotc.lower(lambda x: lax.fori_loop(0, 4, lambda i, c: c * 2.0, x, unroll=bad), XS[0])


def _loops(fn, *args):
    """(trip count, dot_general count in the body) of each top-level while loop of fn's trace."""
    traced = aotc.lower(fn, *args)
    found = []
    with traced.module.context:
        for op in util.entry_block(util.find_function(traced.module, traced.name)).operations:
            op = op.operation
            if op.name == "stablehlo.while":
                _, start, stop = counted_loop(op)
                assert static_int(op.operands[0]) == start
                found.append((stop - start, _count(op, "stablehlo.dot_general")))
    return found


def _count(op, name: str) -> int:
    count = 0

    def visit(inner):
        nonlocal count
        count += inner.operation.name == name
        return aotc.frontend.core.ir.ir.WalkResult.ADVANCE

    op.walk(visit)
    return count


def fori_program(m, lx, xs, w, unroll):
    return lx.fori_loop(0, 12, lambda i, c: m.tanh(c @ w + xs[i]), xs[0], unroll=unroll)


def scan_program(m, lx, xs, w, unroll, reverse=False):
    def cell(c, x):
        c = m.tanh(c @ w + x)
        return c, c * 2.0

    return lx.scan(cell, xs[0], xs, reverse=reverse, unroll=unroll)


@pytest.mark.parametrize("unroll, iterations", [(1, 12), (4, 3), (True, 1), (None, None)])
def test_fori_loop_runs_factor_steps_per_iteration(unroll, iterations):
    [(trip, dots)] = _loops(lambda xs, w: fori_program(anp, lax, xs, w, unroll), XS, W)
    if iterations is None:  # chosen: a small body, so more than one step, and two iterations
        iterations = trip
        assert 2 <= trip < 12
    assert (trip, dots) == (iterations, 12 // iterations)


@pytest.mark.parametrize("unroll", [1, 3, 5, True, None])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_values_do_not_depend_on_unroll(unroll, reverse):
    want = jax.jit(lambda xs, w: scan_program(jnp, jax.lax, xs, w, 1, reverse))(XS, W)
    traced = aotc.lower(lambda xs, w: scan_program(anp, lax, xs, w, unroll, reverse), XS, W)
    got = aotc.interpret(traced.module, traced.name, XS.astype(np.float64), W.astype(np.float64))
    for g, v in zip(got, jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(g, v, rtol=1e-5, atol=1e-6)


def test_unrolled_loops_compiled_match_python_loops():
    """One IREE compile: an unrolled fori_loop, an unrolled scan and a scan without outputs."""
    def program(xs, w):
        c = fori_program(anp, lax, xs, w, 4)
        carry, ys = scan_program(anp, lax, xs, w, 6)
        last, _ = lax.scan(lambda c, x: (c * 0.5 + x, None), xs[0], xs, unroll=3)
        return c, carry, ys, last

    got = aotc.jit(program)(XS, W)
    c = XS[0].astype(np.float64)
    for i in range(12):
        c = np.tanh(c @ W + XS[i])
    carry, ys = XS[0].astype(np.float64), []
    for x in XS:
        carry = np.tanh(carry @ W + x)
        ys.append(carry * 2.0)
    last = XS[0].astype(np.float64)
    for x in XS:
        last = last * 0.5 + x
    for g, v in zip(got, [c, carry, np.stack(ys), last]):
        np.testing.assert_allclose(g, v, rtol=2e-5, atol=2e-6)


def test_unrolled_loop_gradient_matches_jax():
    def loss(m, lx, w, xs, unroll):
        return m.sum(scan_program(m, lx, xs, w, unroll)[1] ** 2)

    want = jax.grad(lambda w: loss(jnp, jax.lax, w, XS, 1))(W)
    for unroll in (1, 4, True):
        traced = aotc.lower(aotc.grad(lambda w, xs, u=unroll: loss(anp, lax, w, xs, u)), W, XS)
        got = aotc.interpret(traced.module, traced.name, W.astype(np.float64),
                             XS.astype(np.float64))[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_body_that_calls_a_large_function_is_not_unrolled():
    """body_size counts the ops of the functions a body calls: a loop whose body calls a linalg
    kernel (a private function of ~900 ops, one func.call in the body) keeps one step per
    iteration instead of being copied twice."""
    spd = (np.eye(32) * 4 + 0.1).astype(np.float32)
    loop = lambda x: lax.fori_loop(0, 4, lambda i, c: c + anp.linalg.cholesky(c), x)
    assert _loops(loop, spd) == [(4, 0)]
