"""Reverse mode through counted loops does work linear in the number of steps.

The loop VJP (frontend/ops/loops.py) runs the body's primal part once in a forward loop
that stacks the residuals its transposition reads, then the transposition in a reverse loop.
These tests check the structure of the emitted program (no per-step work of the size of a
scan's stacked arrays, no stack of stacked arrays, the primal loop not run twice) and the
gradients against jax.grad, in float64 (reference interpreter) and compiled by IREE.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_checks import interpreted

import aotc
from aotc import lax
from aotc import numpy as anp
from aotc.frontend.core.ir import ir, shape_of
from aotc.passes import functions as util

F32 = np.float32
STEPS, BATCH, FEATURES, HIDDEN = 6, 3, 2, 5


def rnn_loss(m, params, xs, reverse=False, unroll=1):
    """An RNN over xs (STEPS, BATCH, FEATURES); the loss reads every step's output."""
    def cell(h, x):
        h = m.tanh(x @ params["wx"] + h @ params["wh"] + params["b"])
        return h, h

    _, hs = m_lax(m).scan(cell, m.zeros((BATCH, HIDDEN), xs.dtype), xs, reverse=reverse,
                          unroll=unroll)
    return m.mean(hs ** 2) + m.sum(m.sin(hs[1]))


def m_lax(m):
    return lax if m is anp else jax.lax


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    params = {"wx": rng.standard_normal((FEATURES, HIDDEN)).astype(F32) / 2,
              "wh": rng.standard_normal((HIDDEN, HIDDEN)).astype(F32) / 3,
              "b": rng.standard_normal(HIDDEN).astype(F32) / 10}
    xs = rng.standard_normal((STEPS, BATCH, FEATURES)).astype(F32)
    return params, xs


def _grad_fn(m, reverse=False, unroll=1):
    grad = aotc.grad if m is anp else jax.grad
    return grad(lambda p, xs: rnn_loss(m, p, xs, reverse, unroll), argnums=(0, 1))


def _ops(op: ir.Operation):
    """Every op nested in op (op excluded), with how many stablehlo.while ops enclose it."""
    found = []

    def visit(inner, depth):
        for region in inner.regions:
            for block in region.blocks:
                for child in block.operations:
                    child = child.operation
                    found.append((child, depth))
                    visit(child, depth + (child.name == "stablehlo.while"))

    visit(op, 0)
    return found


@pytest.fixture(scope="module", params=[1, 3])
def vjp_ops(request):
    """The ops of the gradient's vjp function, the scan run one step per iteration and (unrolled)
    three."""
    params, xs = _inputs()
    traced = aotc.lower(_grad_fn(anp, unroll=request.param), params, xs)
    with traced.module.context:
        vjps = [fn for name, fn in util.functions(traced.module).items() if "_vjp" in name]
        assert len(vjps) == 1
        ops = _ops(vjps[0].operation)
        yield request.param, [(op.name, [shape_of(r) for r in op.results], depth)
                              for op, depth in ops]


def test_loop_bodies_do_no_work_of_the_stacked_size(vjp_ops):
    """Inside a loop, an array of a stacked shape (the scan's ys or xs) is only written a row
    at a time (dynamic_update_slice) or read a row at a time: no add, broadcast or constant of
    that size per step (the xs cotangent is accumulated row by row, not as zeros + row)."""
    _, vjp_ops = vjp_ops
    stacked = {(STEPS, BATCH, HIDDEN), (STEPS, BATCH, FEATURES)}
    in_loops = [(name, shapes) for name, shapes, depth in vjp_ops if depth > 0]
    assert any(name == "stablehlo.dot_general" for name, _ in in_loops)
    full_size = [name for name, shapes in in_loops
                 if any(s in stacked for s in shapes) and name != "stablehlo.dynamic_update_slice"]
    assert full_size == []


def test_no_stack_of_stacked_arrays(vjp_ops):
    """The forward loop stacks residuals of one step, never a carry that is itself a stack
    (the scan's ys buffer), which would cost O(steps) per step."""
    _, vjp_ops = vjp_ops
    shapes = [s for _, result_shapes, _ in vjp_ops for s in result_shapes]
    assert (STEPS, BATCH, HIDDEN) in shapes
    assert not any(len(s) > 3 and s[:2] == (STEPS, STEPS) for s in shapes)


def test_primal_loop_runs_once(vjp_ops):
    """The forward loop that stacks residuals also yields the loop's value: two loops in all
    (forward and reverse), each with the body's matmuls once per step it runs."""
    steps_per_iteration, vjp_ops = vjp_ops
    loops = [name for name, _, depth in vjp_ops if name == "stablehlo.while" and depth == 0]
    assert len(loops) == 2
    dots = [depth for name, _, depth in vjp_ops if name == "stablehlo.dot_general"]
    # forward: x@wx, h@wh; reverse: d wx, d wh, d h, d x
    assert len(dots) == (2 + 4) * steps_per_iteration


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradient_matches_jax_in_float64(reverse):
    params, xs = _inputs(1)
    run = interpreted(_grad_fn(anp, reverse), [params, xs])
    got = run(params, xs)
    p64 = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    with jax.enable_x64(True):
        want = _grad_fn(jnp, reverse)(p64, np.asarray(xs, np.float64))
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_scan_gradient_compiled_matches_jax():
    params, xs = _inputs(2)
    got = aotc.jit(_grad_fn(anp))(params, xs)
    want = jax.jit(_grad_fn(jnp))(params, xs)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


def nested_loss(m, w, xs):
    """A scan inside a fori_loop: the inner loop's VJP runs inside the outer reverse loop."""
    def outer(i, c):
        def inner(h, x):
            h = m.sin(h * w + x * (i + 1))
            return h, h * c
        h, ys = m_lax(m).scan(inner, c, xs)
        return h + m.sum(ys, axis=0)

    return m.sum(m_lax(m).fori_loop(0, 3, outer, m.ones(4, w.dtype) * 0.1) ** 2)


def test_nested_loop_gradient_matches_jax_in_float64():
    w = np.linspace(0.2, 0.8, 4)
    xs = np.linspace(-1.0, 1.0, 20).reshape(5, 4) / 3
    run = interpreted(aotc.grad(lambda w, xs: nested_loss(anp, w, xs), argnums=(0, 1)),
                      [w.astype(F32), xs.astype(F32)])
    got = run(w, xs)
    with jax.enable_x64(True):
        want = jax.grad(lambda w, xs: nested_loss(jnp, w, xs), argnums=(0, 1))(w, xs)
    for g, v in zip(got, want):  # the traced constant 0.1 is float32's: ~1e-8 apart
        np.testing.assert_allclose(g, v, rtol=1e-6, atol=1e-9)
