"""The rest of jax.nn a JAX user ports (identity, tanh, mish, log1mexp, logmeanexp, sparse_plus,
sparse_sigmoid, squareplus, dot_product_attention) against jax.nn: values interpreted and
compiled, and gradients. Derivatives at the activations' kinks are in
tests/passes/test_kinks_vs_jax.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close, interpret_fn

import aotc
import aotc.nn as ann
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")

RNG = np.random.default_rng(0)
X = np.array([[-3.0, -1.0, -0.5, 0.0], [0.25, 0.6931, 1.0, 4.0]], np.float32)
Q = RNG.normal(size=(2, 5, 4, 8)).astype(np.float32)
K = RNG.normal(size=(2, 6, 2, 8)).astype(np.float32)  # 2 key/value heads: groups of 2 queries
V = RNG.normal(size=(2, 6, 2, 8)).astype(np.float32)
BIAS = RNG.normal(size=(2, 4, 5, 6)).astype(np.float32)
MASK = RNG.random((2, 1, 5, 6)) < 0.7
LENGTHS = np.array([3, 6], np.int32)


def _table(m, x, q, k, v, bias, mask, lengths):
    """Every new jax.nn name, the attention in each of its masking modes."""
    return {
        "identity": m.identity(x), "tanh": m.tanh(x), "mish": m.mish(x),
        "log1mexp": m.log1mexp(x[1]), "squareplus": m.squareplus(x),
        "squareplus_b": m.squareplus(x, 1.5), "sparse_plus": m.sparse_plus(x),
        "sparse_sigmoid": m.sparse_sigmoid(x), "logmeanexp": m.logmeanexp(x),
        "logmeanexp_axis": m.logmeanexp(x, axis=1, keepdims=True),
        "logmeanexp_where": m.logmeanexp(x, axis=0, where=x > -0.7),
        "attention": m.dot_product_attention(q, k, v),
        "attention_mha": m.dot_product_attention(q, q, q, scale=0.5),
        "attention_3d": m.dot_product_attention(q[0], k[0], v[0]),
        "attention_bias_mask": m.dot_product_attention(q, k, v, bias, mask),
        "attention_causal": m.dot_product_attention(q, k, v, bias[:1, :1], is_causal=True),
        "attention_window": m.dot_product_attention(q, k, v, local_window_size=(1, 2)),
        "attention_lengths": m.dot_product_attention(
            q, k, v, query_seq_lengths=lengths - 1, key_value_seq_lengths=lengths),
    }


def _args():
    return X, Q, K, V, BIAS, MASK, LENGTHS


def test_table_matches_jax_interpreted_and_compiled():
    expected = jax.tree.map(np.asarray, _table(jax.nn, *map(jnp.asarray, _args())))
    got = interpret_fn(lambda *a: _table(ann, *a), *_args())
    compiled = aotc.jit(lambda *a: _table(ann, *a))(*_args())
    assert got.keys() == expected.keys()
    for key in expected:
        for how, result in (("interpreted", got), ("compiled", compiled)):
            try:
                assert_tree_close(result[key], expected[key], 1e-5, 1e-5)
            except AssertionError as err:
                raise AssertionError(f"{how} {key}: {err}") from None


def _loss(m):
    def loss(x, q, k, v, bias):
        weights = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
        return ((m.mish(x) + m.squareplus(x) + m.sparse_plus(x) + m.sparse_sigmoid(x)) * weights
                ).sum() + m.log1mexp(x[1] + 0.1).sum() + m.logmeanexp(x * weights) + (
            m.dot_product_attention(q, k, v, bias, is_causal=True) * q).sum()
    return loss


def test_grads_match_jax():
    x = X + 0.05  # off the kinks
    args = (x, Q, K, V, BIAS)
    expected = jax.grad(_loss(jax.nn), argnums=(0, 1, 2, 3, 4))(*args)
    got = aotc.grad(_loss(ann), argnums=(0, 1, 2, 3, 4))(*args)
    assert_tree_close(got, jax.tree.map(np.asarray, expected), 1e-4, 1e-4)


def test_attention_rejects_head_counts_that_do_not_group():
    with pytest.raises(TracingError, match="multiple of key/value heads"):
        aotc.lower(ann.dot_product_attention, Q[:, :, :3], K, V)
