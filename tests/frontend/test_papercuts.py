"""Paper cuts a JAX user hits when porting by changing imports: dynamic-dim reshapes,
out-of-range static indices, float64 requests."""


import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc import ShapeSpec, TracingError
from aotc.frontend.core import dtypes

X = np.arange(60, dtype=np.float32).reshape(3, 4, 5)


def merge_last(x):
    b, t, d = x.shape  # b is None: the dim is dynamic
    return x.reshape(b, t * d)


def round_trip(x):
    b, t, d = x.shape
    return x.reshape(b, -1).reshape(b, t, d) * 2


def flatten(x):
    return x.reshape(-1, 20)


def test_dynamic_dim_reshapes_compile_and_run():
    for fn, expected in [(merge_last, X.reshape(3, 20)), (round_trip, X * 2),
                         (flatten, X.reshape(3, 20))]:
        module = aotc_runtime.load_bytes(aotc.compile(fn, ShapeSpec(("b", 4, 5))))
        for n in (3, 1):
            np.testing.assert_array_equal(getattr(module, fn.__name__)(X[:n]), expected[:n])
        np.testing.assert_array_equal(aotc.jit(fn)(X), expected)


def test_dynamic_dim_arithmetic_in_reshape_names_the_fix():
    with pytest.raises(TracingError, match=r"test_papercuts.py:\d+.*pass None for it"):
        aotc.lower(lambda x: x.reshape(2, anp.zeros(())), ShapeSpec((None, 4, 5)))
    with pytest.raises(TracingError, match=r"test_papercuts.py:\d+.*one -1"):
        aotc.lower(lambda x: x.reshape(None, None, 20), ShapeSpec((None, 4, 5)))


@pytest.mark.parametrize("index", [10, -6, (7, 1), (slice(None), 5), (np.int32(9), 0),
                                   np.array([1, 9, -7]), (slice(2, 10), 2), (slice(-10, 3), -9)])
def test_out_of_range_static_indices_clamp_like_jax(index):
    m = np.arange(15, dtype=np.float32).reshape(5, 3)
    expected = np.asarray(jnp.asarray(m)[index])
    np.testing.assert_array_equal(aotc.jit(lambda x: x[index])(m), expected)


def test_float64_requests_become_float32_with_one_warning(monkeypatch):
    monkeypatch.setattr(dtypes, "_WARNED_FLOAT64", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # implicit canonicalization is silent
        assert aotc.jit(lambda x: x * np.float64(2))(np.ones(2)).dtype == np.float32
        assert not caught
        made = [anp.zeros(2, dtype="float64"), anp.ones(2, anp.float64),
                anp.arange(3, dtype=np.float64), anp.asarray(np.ones(2), dtype=np.float64),
                aotc.jit(lambda x: x.astype(np.float64))(np.ones(2, np.float32))]
    assert [np.asarray(m).dtype for m in made] == [np.float32] * len(made)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "Explicitly requested dtype float64 requested in zeros" in str(caught[0].message)
    assert caught[0].filename == __file__


def test_float64_trace_keeps_float64_requests():
    traced = aotc.lower(lambda x: x + anp.zeros(x.shape, x.dtype), ShapeSpec((2,), "float64"))
    assert "f64" in traced.text and "f32" not in traced.text
