"""Sorts past IREE's limits: rows of >= NETWORK_MIN_SIZE entries compile to a bitonic network
(aotc.frontend.ops.sort.lower_large_sorts). IREE 3.13's own CPU sort is quadratic and fails to
compile at 65,536 entries; these tests run the IREE-compiled programs at and around that size
and at 2**20 and 2**22 (2**24 in benchmarks/sort.py), against numpy's stable sort and JAX
(ties, NaN and -0.0 as JAX orders them), plus grad and vmap of a large sort once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.lax as lax
import aotc.numpy as anp
from aotc.frontend.ops import sort as sort_ops

SIZES = (65_535, 65_536, 65_537)


def _edgy_keys(n: int, seed: int) -> np.ndarray:
    """float32 keys with many ties, both zeros, NaNs and infinities in scattered places."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, n).astype(np.float32) / 4
    for value, step in ((0.0, 7), (-0.0, 11), (np.nan, 13), (np.inf, 17), (-np.inf, 19)):
        x[rng.integers(0, n, n // step)] = value
    return x


def _same_floats(got, expected) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # NaNs in the same places count as equal
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))  # -0.0 where JAX has it


def test_sizes_at_the_old_limit_are_networks():
    text = str(aotc.lower(anp.sort, aotc.ShapeSpec((65_536,), anp.float32)))
    assert text.count("stablehlo.sort") == 1  # traced as one sort: the interpreter and rules see it
    small = sort_ops.NETWORK_MIN_SIZE - 1
    from aotc.tools.compile import _lower_large_sorts_text

    assert "stablehlo.sort" not in _lower_large_sorts_text(text)
    small_text = str(aotc.lower(anp.sort, aotc.ShapeSpec((small,), anp.float32)))
    assert "stablehlo.sort" in _lower_large_sorts_text(small_text)


@pytest.fixture(scope="module")
def around_limit():
    xs = [_edgy_keys(n, seed) for seed, n in enumerate(SIZES)]
    fn = aotc.jit(lambda *xs: [(anp.sort(x), anp.argsort(x)) for x in xs])
    return xs, fn(*xs)


def test_sort_and_argsort_around_65536(around_limit):
    xs, outs = around_limit
    for x, (sorted_x, order) in zip(xs, outs):
        expected_order = np.asarray(jnp.argsort(x, stable=True))
        np.testing.assert_array_equal(order, expected_order)  # stable: ties in input order
        _same_floats(sorted_x, jnp.sort(x))
        _same_floats(sorted_x, x[expected_order])


def test_sort_along_axes_and_lax_sort_with_keys():
    rng = np.random.default_rng(5)
    rows = _edgy_keys(3 * 70_000, 1).reshape(3, 70_000)
    cols = _edgy_keys(70_000 * 2, 2).reshape(70_000, 2)
    k1 = rng.integers(0, 4, 70_001).astype(np.int32)
    k2 = rng.integers(0, 300, 70_001).astype(np.float32)
    payload = rng.standard_normal(70_001).astype(np.float32)

    def programs(rows, cols, k1, k2, payload):
        return (anp.sort(rows, axis=1), anp.argsort(cols, axis=0), anp.sort(cols, axis=0),
                lax.sort((k1, k2, payload), num_keys=2),
                lax.sort_key_val(k2, payload))

    got = aotc.jit(programs)(rows, cols, k1, k2, payload)
    _same_floats(got[0], jnp.sort(rows, axis=1))
    np.testing.assert_array_equal(got[1], jnp.argsort(cols, axis=0, stable=True))
    _same_floats(got[2], jnp.sort(cols, axis=0))
    expected = jax.lax.sort((k1, k2, payload), num_keys=2, is_stable=True)
    for g, e in zip(got[3], expected):
        np.testing.assert_array_equal(g, e)
    for g, e in zip(got[4], jax.lax.sort_key_val(k2, payload, is_stable=True)):
        np.testing.assert_array_equal(g, e)


def test_grad_and_vmap_of_a_large_sort():
    n = 65_537
    rng = np.random.default_rng(3)
    x = rng.permutation(n).astype(np.float32) / n  # distinct: the gradient is a permutation
    w = rng.standard_normal(n).astype(np.float32)
    batch = rng.standard_normal((2, n)).astype(np.float32)

    def program(x, w, batch):
        grad = aotc.grad(lambda x: anp.sum(anp.sort(x) * w))(x)
        return grad, aotc.vmap(anp.sort)(batch)

    grad, mapped = aotc.jit(program)(x, w, batch)
    expected = jax.grad(lambda x: jnp.sum(jnp.sort(x) * w))(x)
    np.testing.assert_array_equal(grad, expected)
    np.testing.assert_array_equal(mapped, np.stack([np.sort(b) for b in batch]))


@pytest.mark.slow
def test_two_to_the_20_sort_top_k_unique():
    n = 1 << 20
    x = _edgy_keys(n, 7)
    rng = np.random.default_rng(8)
    values = rng.standard_normal(n).astype(np.float32)
    ints = rng.integers(0, 5000, n).astype(np.int32)  # many duplicates

    def program(x, values, ints):
        top1, top1000 = lax.top_k(values, 1), lax.top_k(values, 1000)
        return anp.argsort(x), top1, top1000, anp.unique(ints, size=6000, fill_value=-1)

    order, top1, top1000, uniq = aotc.jit(program)(x, values, ints)
    np.testing.assert_array_equal(order, jnp.argsort(x, stable=True))
    for (got_v, got_i), k in ((top1, 1), (top1000, 1000)):
        exp_v, exp_i = jax.lax.top_k(values, k)
        np.testing.assert_array_equal(got_v, exp_v)
        np.testing.assert_array_equal(got_i, exp_i)
    np.testing.assert_array_equal(uniq, jnp.unique(ints, size=6000, fill_value=-1))


@pytest.mark.slow
def test_two_to_the_22_sort():
    # 2**24 takes minutes per sort on 2 cores (the network does O(n log^2 n) work);
    # benchmarks/sort.py sorts 2**24 and checks it equal to numpy's.
    x = _edgy_keys(1 << 22, 9)
    _same_floats(aotc.jit(anp.sort)(x), np.sort(x, kind="stable"))
