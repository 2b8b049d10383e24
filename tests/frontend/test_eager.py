"""aotc.numpy called outside a trace evaluates eagerly with JAX's dtypes."""

import numpy as np

import aotc
import aotc.numpy as anp


def test_eager_calls_return_numpy_arrays_with_jax_dtypes():
    x = np.linspace(0.0, 1.0, 6).reshape(2, 3)  # float64 in, float32 out (JAX default)
    y = anp.tanh(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    np.testing.assert_allclose(y, np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(anp.sum(x, axis=0), x.sum(axis=0), rtol=1e-6)
    assert anp.arange(4).dtype == np.int32 and anp.arange(4).tolist() == [0, 1, 2, 3]
    halves = anp.add(np.ones(2, np.float16), 2.0)
    assert halves.dtype == np.float16 and halves.tolist() == [3.0, 3.0]


def test_eager_keeps_static_arguments_static():
    parts = anp.split(np.arange(6.0), 3)
    assert [p.tolist() for p in parts] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert anp.shape(np.ones((2, 5))) == (2, 5)


def test_eager_and_jit_agree():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    eager = anp.mean(anp.exp(x) * 2 - 1, axis=1)
    compiled = aotc.jit(lambda x: anp.mean(anp.exp(x) * 2 - 1, axis=1))(x)
    np.testing.assert_allclose(eager, compiled, rtol=1e-5)
