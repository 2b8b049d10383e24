"""JAX's index modes (`.at[].get(mode=, fill_value=)`, updates with mode='drop'/'clip'),
`.at[].divide/.power`, jnp.take/take_along_axis's default 'fill', jax.ops's segment reductions
as aotc.ops, and dot/matmul's preferred_element_type, against JAX (interpreted and compiled)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close, interpret_fn

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")

X = np.arange(12, dtype=np.float32).reshape(3, 4) - 4.5
INTS = np.arange(12, dtype=np.int32).reshape(3, 4) - 6
IDX = np.array([-1, 3, -4, 2, 0], np.int32)  # 3 and -4 are out of range for an axis of 3
IDS = np.array([0, 2, -1, 2, 5], np.int32)  # -1 and 5 dropped with num_segments=4


def _program(m, ops, x, ints, idx, ids):
    """The same calls on jax.numpy/jax.ops or aotc.numpy/aotc.ops; idx and ids traced."""
    col = idx[:4] % 4
    pos = abs(x) + 0.5  # IREE computes pow of a negative base as NaN, even for exponent 2.0
    return {
        "get_fill": x.at[idx].get(mode="fill"),
        "get_fill_value": x.at[idx, 1:].get(mode="fill", fill_value=-7.0),
        "get_fill_axis1": x.at[:, idx].get(mode="fill"),
        "get_fill_nonadjacent": x.at[idx[:3], :, None].get(mode="fill"),
        "get_fill_2d": x.at[idx[:, None], idx[None, :4]].get(mode="fill"),
        "get_fill_static": x.at[np.array([5, -1]), 2].get(mode="fill"),
        "get_fill_int": ints.at[idx].get(mode="fill"),
        "get_clip": x.at[idx].get(mode="clip"), "get_promise": x.at[1].get(
            mode="promise_in_bounds"),
        "get_default": x.at[idx].get(),
        "set_drop": x.at[idx].set(9.0), "set_drop_static": x.at[np.array([4, -4, 1])].set(9.0),
        "add_drop_mode": x.at[idx, 0].add(1.0, mode="drop"),
        "set_clip": x.at[idx].set(9.0, mode="clip"), "max_clip": ints.at[idx, 2].max(
            100, mode="clip"),
        "divide": x.at[1, col].divide(2.0), "divide_repeat": x.at[idx].divide(4.0),
        "power": pos.at[0].power(2.0), "power_idx": pos.at[:, col].power(3.0),
        "take": m.take(x, idx), "take_axis": m.take(x, idx, axis=1),
        "take_fill_value": m.take(x, idx, axis=0, fill_value=0.5),
        "take_int": m.take(ints, idx * 5), "take_clip": m.take(x, idx, axis=1, mode="clip"),
        "take_wrap": m.take(x, idx, axis=1, mode="wrap"),
        "take_along": m.take_along_axis(x, m.reshape(idx[:3], (3, 1)) * 2, axis=1),
        "take_along_clip": m.take_along_axis(x, m.reshape(idx[:3], (3, 1)) * 2, 1, mode="clip"),
        "segment_sum": ops.segment_sum(x[:, :1].repeat(2)[:5], ids, num_segments=4),
        "segment_sum_rows": ops.segment_sum(m.concatenate([x, x[:2]]), ids, 4),
        "segment_prod": ops.segment_prod(x[0, :1].repeat(5) + idx, ids, 4),
        "segment_max": ops.segment_max(m.concatenate([x, x[:2]]), ids, 4),
        "segment_min": ops.segment_min(m.concatenate([ints, ints[:2]]), ids, 4),
        "dot_pref": m.dot(ints.astype(m.int8), ints.T.astype(m.int8),
                          preferred_element_type=m.int32),
        "matmul_pref": m.matmul(x.astype(m.float16), x.T.astype(m.float16),
                                preferred_element_type=m.float32),
    }


def _run(fn):
    return fn(X, INTS, IDX, IDS)


def test_modes_match_jax_interpreted_and_compiled():
    expected = jax.tree.map(np.asarray, _run(lambda *a: _program(jnp, jax.ops, *map(
        jnp.asarray, a))))
    got = interpret_fn(lambda *a: _program(anp, aotc.ops, *a), X, INTS, IDX, IDS)
    compiled = aotc.jit(lambda *a: _program(anp, aotc.ops, *a))(X, INTS, IDX, IDS)
    assert got.keys() == expected.keys()
    for key in expected:
        for how, result in (("interpreted", got), ("compiled", compiled)):
            try:
                assert_tree_close(result[key], expected[key], 1e-3, 1e-3)
            except AssertionError as err:
                raise AssertionError(f"{how} {key}: {err}") from None


def test_grads_through_fill_divide_and_segment_sum_match_jax():
    """(Differentiating segment_max/min/prod, like x.at[].multiply/min/max, is not supported.)"""
    def loss(m, ops):
        def f(x):
            return ((x.at[IDX].get(mode="fill", fill_value=0.0) ** 2).sum()
                    + (x.at[1, :2].divide(3.0) * x).sum()
                    + (ops.segment_sum(m.concatenate([x, x[:2]]) ** 2, IDS, 4) * 3.0).sum()
                    + m.take(x, IDX, axis=1, fill_value=0.0).sum())
        return f

    expected = jax.grad(loss(jnp, jax.ops))(X)
    got = aotc.grad(loss(anp, aotc.ops))(X)
    assert_tree_close(got, np.asarray(expected), 1e-4, 1e-4)


def test_eager_calls_and_errors():
    got = aotc.ops.segment_sum(np.ones(3, np.float32), np.array([0, 2, 2]), 3)
    np.testing.assert_array_equal(got, [1.0, 0.0, 2.0])
    with pytest.raises(TracingError, match="num_segments"):
        aotc.lower(lambda ids: aotc.ops.segment_sum(anp.ones(3), ids), IDS[:3])
    with pytest.raises(TracingError, match="index mode"):
        aotc.lower(lambda x: x.at[0].get(mode="bogus"), X)
