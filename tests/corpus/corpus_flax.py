"""Corpus programs written with Flax (flax.linen): layers applied as `model.apply(params, x)`.

Parameters come from `model.init` with a key drawn from the example's generator; the vmap check
shares them across lanes (`unbatched=(0,)`) and maps the inputs, as per-example inference does.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from corpus_programs import Program, normal


def _layer(name, model, *input_shapes, unbatched=(0,), **kw):
    """A program applying `model` to inputs of the given shapes: fn(params, *inputs)."""
    @functools.cache
    def params():  # one init per program: the vmap lanes share the parameters
        inputs = [np.zeros(s, np.float32) for s in input_shapes]
        return jax.tree.map(np.asarray, model.init(jax.random.PRNGKey(0), *inputs))

    def make(rng):
        return params(), *(normal(rng, *s) for s in input_shapes)

    def fn(params, *inputs):
        return model.apply(params, *inputs)

    return Program(f"flax_{name}", "flax.linen", fn, make, unbatched=unbatched, **kw)


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(8)(x))
        return nn.Dense(3, use_bias=False)(nn.Dropout(0.5, deterministic=True)(x))


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3))(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = nn.avg_pool(nn.Conv(4, (3, 3), padding="VALID")(x), (2, 2), padding="SAME")
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


class BatchNormTrain(nn.Module):
    """BatchNorm in training mode: batch statistics, and the updated running averages as a
    second output (what a train step returns)."""

    @nn.compact
    def __call__(self, x):
        return nn.BatchNorm(use_running_average=False, momentum=0.8)(nn.Dense(4)(x))


def _batchnorm_train(variables, x):
    y, updates = BatchNormTrain().apply(variables, x, mutable=["batch_stats"])
    return y, updates["batch_stats"]


@functools.cache
def _batchnorm_variables():
    x = np.zeros((6, 3), np.float32)
    return jax.tree.map(np.asarray, BatchNormTrain().init(jax.random.PRNGKey(0), x))


def _batchnorm_make(rng):
    return _batchnorm_variables(), normal(rng, 6, 3)


class Attention(nn.Module):
    @nn.compact
    def __call__(self, q, kv, mask):
        return nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=8)(q, kv, mask=mask)


MASK = np.tril(np.ones((2, 1, 4, 5), bool), k=1)


@functools.cache
def _attention_params():
    q, kv = np.zeros((2, 4, 6), np.float32), np.zeros((2, 5, 6), np.float32)
    return jax.tree.map(np.asarray, Attention().init(jax.random.PRNGKey(0), q, kv, MASK))


def _attention_make(rng):
    return _attention_params(), normal(rng, 2, 4, 6), normal(rng, 2, 5, 6), MASK


class RecurrentScan(nn.Module):
    """A recurrent cell run over time with jax.lax.scan inside the module (the cell's params are
    created once, then closed over)."""

    cell: type

    @nn.compact
    def __call__(self, xs):
        cell = self.cell(features=5)
        carry = cell.initialize_carry(jax.random.PRNGKey(0), xs[0].shape)
        if self.is_initializing():
            cell(carry, xs[0])

        def step(c, x):
            return cell(c, x)
        return jax.lax.scan(step, carry, xs)


class RematScanMLP(nn.Module):
    """nn.scan over a nn.remat'd residual block: layers with stacked params (a scanned stack)."""

    @nn.compact
    def __call__(self, x):
        block = nn.scan(nn.remat(ResidualBlock), variable_axes={"params": 0},
                        split_rngs={"params": True}, length=3)
        x, _ = block()(x, None)
        return x


class ResidualBlock(nn.Module):
    @nn.compact
    def __call__(self, x, _):
        return x + jnp.tanh(nn.Dense(x.shape[-1])(x)), None


class SequenceScan(nn.Module):
    """nn.scan of a Dense cell over a time axis with broadcast params (nn.RNN-like)."""

    @nn.compact
    def __call__(self, xs):
        cell = nn.scan(Step, variable_broadcast="params", split_rngs={"params": False},
                       in_axes=1, out_axes=1)
        return cell()(jnp.zeros((xs.shape[0], 4)), xs)


class Step(nn.Module):
    @nn.compact
    def __call__(self, h, x):
        h = jnp.tanh(nn.Dense(4)(jnp.concatenate([h, x], -1)))
        return h, h * 2.0


class EmbedDense(nn.Module):
    """Token ids -> embeddings (a gather of a parameter table) -> Dense."""

    @nn.compact
    def __call__(self, ids):
        return nn.Dense(3)(nn.Embed(10, 4)(ids)).sum(axis=1)


@functools.cache
def _embed_params():
    ids = np.zeros((2, 5), np.int32)
    return jax.tree.map(np.asarray, EmbedDense().init(jax.random.PRNGKey(0), ids))


FLAX = [
    _layer("dense_mlp", MLP(), (4, 5)),
    Program("flax_embed", "flax.linen", EmbedDense().apply, lambda rng: (
        _embed_params(), rng.integers(0, 10, (2, 5)).astype(np.int32)), unbatched=(0,),
        batch_ints=True),
    _layer("conv_strided_same", nn.Conv(4, (3, 3), strides=(2, 2), padding="SAME"), (2, 7, 7, 3)),
    _layer("conv_groups_dilated", nn.Conv(4, (3, 3), feature_group_count=2, kernel_dilation=2,
                                          padding="VALID"), (1, 8, 8, 4)),
    _layer("conv_1d_causal", nn.Conv(3, (3,), padding="CAUSAL"), (2, 6, 2)),
    _layer("conv_transpose", nn.ConvTranspose(3, (3, 3), strides=(2, 2), padding="SAME"),
           (1, 4, 4, 2)),
    _layer("cnn_pools", CNN(), (2, 10, 10, 1)),
    Program("flax_batchnorm_train", "flax.linen", _batchnorm_train, _batchnorm_make,
            unbatched=(0,)),
    _layer("layernorm", nn.LayerNorm(), (3, 6)),
    _layer("groupnorm", nn.GroupNorm(num_groups=2), (2, 3, 3, 4)),
    _layer("rmsnorm", nn.RMSNorm(), (4, 6)),
    Program("flax_attention_masked", "flax.linen", lambda p, q, kv, m: Attention().apply(
        p, q, kv, m), _attention_make, unbatched=(0,), no_grad=(3,)),
    _layer("gru_scan", RecurrentScan(nn.GRUCell), (6, 2, 3)),
    _layer("lstm_scan", RecurrentScan(nn.LSTMCell), (6, 2, 3)),
    _layer("nn_scan_remat", RematScanMLP(), (3, 4)),
    _layer("nn_scan_sequence", SequenceScan(), (2, 5, 3)),
]
