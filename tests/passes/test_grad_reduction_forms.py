"""The forms of two gradients that aotc emits for IREE: a broadcast's transpose and the
derivative of a max/min window reduction.

- The transpose of a broadcast sums over a static leading prefix of at least
  shape.MIN_TWO_STAGE_ROWS elements (features kept after it, as a bias gradient over N, H, W)
  in two stages: (rows/k, k, features) over k, then over rows/k. Other sums stay one reduce.
- A max or min window reduction whose windows tile the operand (window = strides, no padding
  or dilation, whole windows) differentiates through the position of the first element equal
  to the result (a select chain over strided slices), matched against x's elements as
  (out_0, k_0, out_1, k_1, ...); its transpose has no pads. Other windows keep the
  slice-and-select form.
- Numbers: in float64 through the interpreter the new forms equal the old ones (the
  two-stage sum off, `conv._tiles` false) and jax.grad, ties included (relu zeros); through
  IREE (one compile holding every case) they equal jax.grad.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close

import aotc
import aotc.lax as lax
import aotc.numpy as anp
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.ops import conv
from aotc.frontend.ops import shape as shape_ops

# name: (x shape, bias shape, broadcast: "trailing" adds the bias to x's trailing dims,
# "nchw" adds a (C, 1, 1) bias after the batch dim)
BIASES = {
    "nhwc_two_stage": ((8, 16, 16, 4), (4,)),
    "expanded_unit_dim": ((2048, 3), (1, 3)),
    "prime_rows_one_stage": ((1031, 4), (4,)),
    "nchw_one_stage": ((4, 3, 16, 32), (3, 1, 1)),
    "few_rows_one_stage": ((16, 8, 5), (5,)),
}

# name: (x shape, window (H, W), strides (H, W), reducer); NHWC, VALID
POOLS = {
    "max_2x2_tiles": ((4, 8, 8, 3), (2, 2), (2, 2), "max"),
    "max_2x3_tiles": ((2, 6, 9, 3), (2, 3), (2, 3), "max"),
    "min_2x2_tiles": ((3, 4, 6, 2), (2, 2), (2, 2), "min"),
    "max_odd_size_general": ((3, 7, 8, 2), (2, 2), (2, 2), "max"),
    "max_overlapping_general": ((2, 7, 7, 2), (3, 3), (2, 2), "max"),
}


def _bias_loss(L, np_):
    """sum(relu(x + b) * r): every cotangent differs, and relu zeroes some."""
    return lambda x, b, r: (np_.maximum(x + b, 0.0) * r).sum()


def _pool(L, np_, window, strides, reducer):
    init, op = ((-np_.inf, L.max) if reducer == "max" else (np_.inf, L.min))
    return lambda x: L.reduce_window(x, init, op, (1, *window, 1), (1, *strides, 1), "VALID")


def _pool_loss(L, np_, name):
    """sum(pool(relu(x)) * r): relu makes ties (several zeros in a window)."""
    _, window, strides, reducer = POOLS[name]
    pool = _pool(L, np_, window, strides, reducer)
    return lambda x, r: (pool(np_.maximum(x, 0.0)) * r).sum()


def _bias_inputs(name, seed=0):
    xs, bs = BIASES[name]
    rng = np.random.default_rng(seed)
    return rng.standard_normal(xs), rng.standard_normal(bs), rng.standard_normal(xs)


def _pool_inputs(name, seed=0):
    xs, window, strides, reducer = POOLS[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs)
    x[0, :window[0], :window[1], 0] = 0.5  # a tied extreme inside one window
    out = jax.eval_shape(_pool(jax.lax, jnp, window, strides, reducer),
                         jnp.zeros(xs, jnp.float32)).shape
    return x, rng.standard_normal(out)


CASES = {**{f"bias_{n}": (lambda L, np_, n=n: _bias_loss(L, np_), _bias_inputs, n, (0, 1))
            for n in BIASES},
         **{f"pool_{n}": (lambda L, np_, n=n: _pool_loss(L, np_, n), _pool_inputs, n, 0)
            for n in POOLS}}


def _args(case, seed=0):
    _, inputs, name, _ = CASES[case]
    return inputs(name, seed)


def _jax_grads(case, args):
    loss, _, _, argnums = CASES[case]
    g = jax.grad(loss(jax.lax, jnp), argnums=argnums)(*[np.float32(a) for a in args])
    return tuple(np.asarray(v) for v in (g if isinstance(g, tuple) else (g,)))


def _grad_fn(case):
    loss, _, _, argnums = CASES[case]
    return aotc.grad(loss(lax, anp), argnums=argnums)


def _interpreted(case, args):
    traced = aotc.lower(_grad_fn(case), *[np.float32(a) for a in args])
    return tuple(aotc.interpret(traced.module, traced.name,
                                *[np.asarray(a, np.float64) for a in args]))


def _close(actual, expected, rtol):
    scale = max(1.0, *[np.abs(e).max(initial=0.0) for e in expected])
    assert_tree_close([np.asarray(a, np.float64) for a in actual],
                      [np.asarray(e, np.float64) for e in expected], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("case", CASES)
def test_new_forms_equal_old_forms_and_jax(case, monkeypatch):
    args = _args(case)
    new = _interpreted(case, args)
    monkeypatch.setattr(shape_ops, "MIN_TWO_STAGE_ROWS", 10 ** 12)
    monkeypatch.setattr(conv, "_tiles", lambda *a: False)
    old = _interpreted(case, args)
    _close(new, old, 1e-12)
    _close(new, _jax_grads(case, args), 1e-4)


def _reduces_and_pads(case) -> tuple[list[list], int]:
    """The operand shapes of the gradient's reduces to non-scalars (the loss's own sums are
    to scalars), and its number of pads."""
    traced = aotc.lower(_grad_fn(case), *[np.float32(a) for a in _args(case)])
    reduces, pads = [], 0

    def visit(op):
        nonlocal pads
        if op.operation.name == "stablehlo.reduce" and shape_of(op.operation.results[0].type):
            reduces.append(list(shape_of(op.operation.operands[0].type)))
        pads += op.operation.name == "stablehlo.pad"
        return ir.WalkResult.ADVANCE

    traced.module.operation.walk(visit)
    return reduces, pads


@pytest.mark.parametrize("name, two_stage", [
    ("nhwc_two_stage", [[32, 64, 4], [32, 4]]), ("expanded_unit_dim", [[32, 64, 3], [32, 3]]),
    ("prime_rows_one_stage", None), ("nchw_one_stage", None), ("few_rows_one_stage", None)])
def test_bias_gradient_sums_leading_rows_in_two_stages(name, two_stage):
    reduces, _ = _reduces_and_pads(f"bias_{name}")
    x_shape = list(BIASES[name][0])
    assert reduces == (two_stage if two_stage else [x_shape])


@pytest.mark.parametrize("name", POOLS)
def test_tiling_windows_differentiate_without_pads(name):
    reduces, pads = _reduces_and_pads(f"pool_{name}")
    assert reduces == []  # the window sum of the picked tangents transposes to a broadcast
    assert (pads == 0) == ("tiles" in name)


# ---- through IREE: every case in one compiled program ------------------------------------------


def _all_grads(*flat):
    out, i = [], 0
    for case in CASES:
        n = len(_args(case))
        out.append(_grad_fn(case)(*flat[i:i + n]))
        i += n
    return out


@pytest.fixture(scope="module")
def iree_grads():
    args = [np.float32(a) for case in CASES for a in _args(case, seed=1)]
    return aotc.jit(_all_grads)(*args)


@pytest.mark.parametrize("case", CASES)
def test_new_forms_on_iree_equal_jax(case, iree_grads):
    got = iree_grads[list(CASES).index(case)]
    got = tuple(np.asarray(g) for g in (got if isinstance(got, tuple) else (got,)))
    _close(got, _jax_grads(case, _args(case, seed=1)), 2e-4)
