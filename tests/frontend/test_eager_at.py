"""Eager results and aotc.jit results are aotc.Array: numpy arrays with JAX's `.at[]`,
`.block_until_ready()` and clamping out-of-range reads; checked against jax.numpy. Also the
porting paper cuts of issue 14 that are not about shapes: feature detection, transforms that
keep the wrapped function's signature."""

import inspect
import pickle
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc import ShapeSpec, TracingError
from aotc.frontend.core import dtypes

X = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
VALUES = np.float32(2.5)

# (index, method, values, kwargs): JAX's .at semantics, out-of-range and modes included
AT_CASES = [
    ((1, 2), "set", VALUES, {}),
    ((slice(None), 0), "add", np.arange(3, dtype=np.float32), {}),
    ((np.array([0, 0, 2]),), "add", VALUES, {}),            # repeated indices accumulate
    ((np.array([0, 5]),), "set", VALUES, {}),               # out of range: dropped
    ((7, 1), "set", VALUES, {}),                            # static out of range: dropped
    ((7, 1), "set", VALUES, {"mode": "clip"}),              # ... or clamped
    ((-1, slice(1, 3)), "multiply", np.float32(-2), {}),
    ((slice(None, None, 2), slice(None, None, -1)), "min", np.float32(0), {}),
    ((Ellipsis, 3), "max", np.float32(1), {}),
    ((1,), "divide", np.float32(4), {}),
    ((slice(0, 2), 1), "power", np.float32(2), {}),
    ((np.array([2, 0]), np.array([1, 3])), "set", np.array([7, 8], np.float32), {}),
    ((1, 2), "get", None, {}),
    ((np.array([0, 9]),), "get", None, {}),                 # reads clamp
    ((np.array([0, 9]),), "get", None, {"mode": "fill", "fill_value": -1.0}),
    ((5, 0), "get", None, {"mode": "fill"}),                # NaN by default
    ((X > 0,), "set", np.float32(0), {}),                   # a concrete mask, as JAX eager
]


def _at(x, index, method, values, kwargs):
    ref = x.at[index]
    return ref.get(**kwargs) if method == "get" else getattr(ref, method)(values, **kwargs)


@pytest.mark.parametrize("index, method, values, kwargs", AT_CASES)
def test_eager_at_matches_jax(index, method, values, kwargs):
    x = anp.asarray(X)
    assert isinstance(x, aotc.Array)
    out = _at(x, index, method, values, kwargs)
    jax_index = tuple(jnp.asarray(i) if isinstance(i, np.ndarray) else i for i in index)
    expected = _at(jnp.asarray(X), jax_index, method, values, kwargs)
    assert isinstance(out, aotc.Array)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, np.asarray(expected), rtol=1e-6)
    np.testing.assert_array_equal(x, X)  # functional: x itself is unchanged


def test_at_on_int_and_zero_d_arrays_and_repeated_calls_hit_the_cache():
    counts = anp.zeros(4, anp.int32).at[np.array([1, 1, 3])].add(1)
    np.testing.assert_array_equal(counts, [0, 2, 0, 1])
    assert counts.dtype == np.int32
    scalar = anp.asarray(3.0).at[()].set(5.0)
    assert scalar.shape == () and float(scalar) == 5.0
    first = anp.zeros(3).at[0].set(1.0)
    again = anp.zeros(3).at[0].set(2.0)  # another value, same trace
    np.testing.assert_array_equal(first, [1, 0, 0])
    np.testing.assert_array_equal(again, [2, 0, 0])


@pytest.mark.parametrize("index", [10, -10, (1, 9), (slice(None), -9), np.array([0, 7, -8])])
def test_out_of_range_reads_of_an_array_clamp_like_jax(index):
    x = anp.asarray(X)
    jax_index = jnp.asarray(index) if isinstance(index, np.ndarray) else index
    np.testing.assert_array_equal(x[index], np.asarray(jnp.asarray(X)[jax_index]))
    np.testing.assert_array_equal(x[1:, 2], X[1:, 2])  # in range: numpy's indexing
    with pytest.raises(IndexError):
        x[np.ones(5, bool)]  # a wrong-size mask stays numpy's error


def test_jit_results_are_arrays_and_flow_back_everywhere():
    fast = aotc.jit(lambda x: (x * 2, anp.sum(x)))
    doubled, total = fast(X)
    assert isinstance(doubled, aotc.Array) and isinstance(total, aotc.Array)
    assert doubled.block_until_ready() is doubled
    assert aotc.block_until_ready(doubled) is doubled
    updated = doubled.at[0, 0].set(100.0)
    expected = jnp.asarray(X * 2).at[0, 0].set(100.0)
    np.testing.assert_array_equal(updated, np.asarray(expected))
    # Arrays go back into aotc.jit (same cache entry as numpy arrays), eager calls and runtime
    again, _ = fast(updated)
    np.testing.assert_array_equal(again, np.asarray(expected) * 2)
    np.testing.assert_allclose(anp.tanh(updated), np.tanh(np.asarray(expected)), rtol=1e-6)
    module = aotc_runtime.load_bytes(aotc.compile(lambda x: x + 1, ShapeSpec((3, 4))))
    out = module.main(updated)
    assert type(out) is np.ndarray  # aotc_runtime keeps returning plain numpy arrays
    np.testing.assert_array_equal(out, np.asarray(expected) + 1)


def test_array_is_a_numpy_array_for_numpy_code():
    x = anp.asarray(X)
    y = np.ones((3, 4), np.float32)
    # numpy arithmetic and functions give numpy's values and dtypes (numpy's promotion)
    for got, want in [(x + y, X + y), (x * 2, X * 2), (x @ y.T, X @ y.T),
                      (np.sin(x), np.sin(X)), (x + np.float64(1), X + np.float64(1)),
                      (x.astype(np.float64) + 1, X.astype(np.float64) + 1)]:
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert isinstance(x, np.ndarray) and x.sum() == X.sum()
    assert repr(anp.zeros(2)) == "Array([0., 0.], dtype=float32)"
    assert str(anp.zeros(2)) == str(np.zeros(2, np.float32))
    loaded = pickle.loads(pickle.dumps(x))
    assert type(loaded) is np.ndarray  # unpickling needs no aotc
    np.testing.assert_array_equal(loaded, X)
    np.testing.assert_array_equal(np.asarray(x), X)
    assert type(np.asarray(x)) is np.ndarray


def test_feature_detection_and_float64_requests():
    assert not hasattr(anp, "nope") and not hasattr(aotc.nn, "nope")
    assert hasattr(anp, "unique") and hasattr(anp.zeros(1), "at")
    dtypes._WARNED_FLOAT64.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = [anp.zeros(2, dtype=np.float64), anp.ones(2, np.float64)]
    assert [m.dtype for m in made] == [np.float32, np.float32]
    assert len(caught) == 1 and caught[0].filename == __file__


def loss(x, scale=2.0):
    return anp.sum(anp.sin(x) * scale)


def test_transforms_keep_the_signature_of_the_function():
    x = np.linspace(-1, 1, 5).astype(np.float32)
    for transform in (aotc.grad, aotc.value_and_grad, aotc.jacfwd, aotc.jacrev, aotc.hessian,
                      aotc.vmap):
        wrapped = transform(loss)
        assert inspect.signature(wrapped) == inspect.signature(loss), transform
        assert wrapped.__name__ == "loss"
    expected = np.asarray(jax.grad(lambda x: jnp.sum(jnp.sin(x) * 2.0))(x))
    np.testing.assert_allclose(aotc.grad(loss)(x=x), expected, rtol=1e-6)
    np.testing.assert_allclose(aotc.jit(aotc.grad(loss))(x=x), expected, rtol=1e-6)
    np.testing.assert_allclose(aotc.grad(loss)(x, scale=3.0), expected * 1.5, rtol=1e-6)
    module = aotc_runtime.load_bytes(aotc.compile(aotc.grad(loss), ShapeSpec((5,))))
    np.testing.assert_allclose(module.loss(x=x), expected, rtol=1e-6)
    with pytest.raises(TracingError, match=r"test_eager_at.py:\d+.*signature \(x, scale=2.0\)"):
        aotc.grad(loss)(x, y=1.0)
