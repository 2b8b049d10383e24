"""aotc.nn against jax.nn: one table of calls run through the interpreter and IREE.

The table is written once against an nn-like module and run with aotc.nn and jax.nn; each
(shape, dtype) group is one IREE compile.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close, interpret_fn

import aotc
import aotc.nn as ann

jax.config.update("jax_platforms", "cpu")


def _table(nn, x):
    return {
        "relu": nn.relu(x), "relu6": nn.relu6(x), "sigmoid": nn.sigmoid(x),
        "softplus": nn.softplus(x), "log_sigmoid": nn.log_sigmoid(x), "silu": nn.silu(x),
        "swish": nn.swish(x), "gelu": nn.gelu(x), "gelu_exact": nn.gelu(x, approximate=False),
        "elu": nn.elu(x), "elu_alpha": nn.elu(x, alpha=0.5), "celu": nn.celu(x, alpha=2.0),
        "selu": nn.selu(x), "leaky_relu": nn.leaky_relu(x),
        "leaky_relu_slope": nn.leaky_relu(x, negative_slope=0.2), "hard_tanh": nn.hard_tanh(x),
        "hard_sigmoid": nn.hard_sigmoid(x), "hard_silu": nn.hard_silu(x),
        "hard_swish": nn.hard_swish(x),
        "soft_sign": nn.soft_sign(x), "glu": nn.glu(x), "glu_0": nn.glu(x, axis=0),
        "softmax": nn.softmax(x), "softmax_0": nn.softmax(x, axis=0),
        "softmax_all": nn.softmax(x, axis=(0, 1)), "log_softmax": nn.log_softmax(x),
        "log_softmax_0": nn.log_softmax(x, axis=0), "logsumexp": nn.logsumexp(x),
        "logsumexp_1": nn.logsumexp(x, axis=1), "logsumexp_kd": nn.logsumexp(x, -1, keepdims=True),
        "logsumexp_b": nn.logsumexp(x, axis=0, b=0.5),
        "standardize": nn.standardize(x), "standardize_0": nn.standardize(x, axis=0),
        "standardize_given": nn.standardize(x, mean=0.5, variance=2.0, epsilon=1e-3),
    }


def _data(shape, dtype, scale):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) * scale
    x.reshape(-1)[:4] = [0.0, -0.0, scale * 10, -scale * 10]  # large magnitudes: stability
    return x.astype(dtype)


GROUPS = [  # (shape, dtype, scale of the data, tolerance)
    ((4, 6), np.float32, 3.0, 2e-6),
    ((2, 3, 8), np.float32, 30.0, 2e-5),  # standardize: E[x^2] - E[x]^2 at |x| ~ 300
    ((4, 6), np.float16, 2.0, 4e-3),
]


@pytest.mark.parametrize("shape,dtype,scale,tol", GROUPS,
                         ids=[f"{np.dtype(d).name}{list(s)}" for s, d, *_ in GROUPS])
def test_table_matches_jax_nn(shape, dtype, scale, tol):
    x = _data(shape, dtype, scale)
    expected = jax.tree.map(np.asarray, _table(jax.nn, jnp.asarray(x)))
    for name, got in [("interpreter", interpret_fn(lambda x: _table(ann, x), x)),
                      ("iree", aotc.jit(lambda x: _table(ann, x))(x))]:
        for key in expected:
            try:
                assert_tree_close(got[key], expected[key], rtol=tol, atol=tol)
            except AssertionError as err:
                raise AssertionError(f"{name} {key}: {err}") from None


def test_reductions_at_infinities_match_jax():
    """Rows of -inf give logsumexp -inf (not NaN); +inf rows give inf, like jax.nn."""
    x = np.array([[-np.inf, -np.inf, -np.inf], [1.0, np.inf, 0.0], [-np.inf, 2.0, 1.0],
                  [1e30, -1e30, 3.0]], np.float32)
    table = lambda nn, x: {
        "logsumexp": nn.logsumexp(x, axis=1), "log_softmax": nn.log_softmax(x),
        "softmax": nn.softmax(x), "softplus": nn.softplus(x), "log_sigmoid": nn.log_sigmoid(x),
        "sigmoid": nn.sigmoid(x), "elu": nn.elu(x), "gelu": nn.gelu(x, approximate=False)}
    expected = jax.tree.map(np.asarray, table(jax.nn, jnp.asarray(x)))
    assert expected["logsumexp"][0] == -np.inf and expected["logsumexp"][1] == np.inf
    assert_tree_close(interpret_fn(lambda x: table(ann, x), x), expected)
    assert_tree_close(aotc.jit(lambda x: table(ann, x))(x), expected)


def _one_hot_table(nn, x):
    return {"default": nn.one_hot(x, 4), "axis0": nn.one_hot(x, 4, axis=0),
            "int": nn.one_hot(x, 3, dtype=np.int32),
            "mid": nn.one_hot(x, 6, axis=1, dtype=np.float16)}


ONE_HOT_LABELS = np.array([[0, 2, 5], [-1, 3, 1]], np.int32)  # 5 and -1 are out of range: zeros


def test_one_hot_matches_jax():
    labels = ONE_HOT_LABELS
    expected = jax.tree.map(np.asarray, _one_hot_table(jax.nn, jnp.asarray(labels)))
    assert_tree_close(interpret_fn(lambda x: _one_hot_table(ann, x), labels), expected)
    assert_tree_close(aotc.jit(lambda x: _one_hot_table(ann, x))(labels), expected)


def test_integer_inputs():
    """relu keeps ints (like jax.nn); float-only functions promote ints to float32."""
    x = np.array([-2, 0, 3], np.int32)
    got = interpret_fn(lambda x: {"relu": ann.relu(x), "sigmoid": ann.sigmoid(x),
                                  "softmax": ann.softmax(x)}, x)
    assert got["relu"].dtype == jax.nn.relu(x).dtype == np.int32
    np.testing.assert_array_equal(got["relu"], [0, 0, 3])
    as_float = jnp.asarray(x, np.float32)
    assert_tree_close({"sigmoid": got["sigmoid"], "softmax": got["softmax"]},
                      {"sigmoid": np.asarray(jax.nn.sigmoid(as_float)),
                       "softmax": np.asarray(jax.nn.softmax(as_float))})


def test_gelu_uses_erf_only_when_exact():
    x = np.ones(3, np.float32)
    assert "chlo.erf" not in aotc.lower(ann.gelu, x).text
    assert "chlo.erf" in aotc.lower(lambda x: ann.gelu(x, approximate=False), x).text
    assert "stablehlo.logistic" in aotc.lower(ann.sigmoid, x).text


def test_eager_call_outside_a_trace():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_allclose(ann.softmax(x), jax.nn.softmax(x), rtol=1e-6)


X = np.ones((2, 3), np.float32)


@pytest.mark.parametrize("fn,match", [
    (lambda x: ann.glu(x), r"glu: axis 1 of \(2, 3\) must have an even"),
    (lambda x: ann.one_hot(x, -2), "num_classes must be a static int"),
    (lambda x: ann.softmax(x, axis=2), "axis 2 is out of range"),
    (lambda x: ann.logsumexp(x, return_sign=True), "return_sign"),
])
def test_errors_name_the_problem_and_the_user_line(fn, match):
    with pytest.raises(aotc.TracingError, match=match) as err:
        aotc.lower(fn, X)
    assert "test_nn.py:" in str(err.value)
