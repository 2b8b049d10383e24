"""A pre-norm transformer block (causal multi-head self-attention + GELU MLP), in the model.py
convention.

    aotc compile models/attention.py -o attention.vmfb

`block(params, x)` maps one sequence (16, 32) -> (16, 32), with 4 heads of 8. Shapes are
static: with a dynamic batch, IREE 3.13 lowers a matmul of 3-D activations through a
dynamic_reshape, which it cannot compile (vmap the function for batches instead).
"""

import numpy as np

import aotc
import aotc.numpy as anp

SEQ, DIM, HEADS = 16, 32, 4
HEAD_DIM = DIM // HEADS
HIDDEN = 4 * DIM
CAUSAL = np.tril(np.ones((SEQ, SEQ), dtype=bool))
# An additive mask: IREE 3.13 with data tiling (the cpu and x86_64 presets) fails to compile a
# select on a broadcast boolean fused into a batched matmul ('iree_codegen.load_from_buffer').
MASK = np.where(CAUSAL, 0.0, -1e9).astype(np.float32)


def init_params(seed: int = 0) -> dict:
    """Random float32 weights, scaled so that activations stay O(1)."""
    rng = np.random.default_rng(seed)

    def normal(shape, fan_in):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    return {
        "ln1": {"scale": np.ones(DIM, np.float32), "bias": np.zeros(DIM, np.float32)},
        "ln2": {"scale": np.ones(DIM, np.float32), "bias": np.zeros(DIM, np.float32)},
        "wq": normal((DIM, DIM), DIM), "wk": normal((DIM, DIM), DIM),
        "wv": normal((DIM, DIM), DIM), "wo": normal((DIM, DIM), DIM),
        "w1": normal((DIM, HIDDEN), DIM), "b1": np.zeros(HIDDEN, np.float32),
        "w2": normal((HIDDEN, DIM), HIDDEN), "b2": np.zeros(DIM, np.float32),
    }


PARAMS_SPEC = aotc.tree.map(lambda a: aotc.ShapeSpec(a.shape, "float32"), init_params())


def split_heads(x):
    """(seq, dim) -> (heads, seq, head_dim)."""
    return anp.transpose(anp.reshape(x, (SEQ, HEADS, HEAD_DIM)), (1, 0, 2))


def layer_norm(x, p, epsilon=1e-5):
    return aotc.nn.standardize(x, axis=-1, epsilon=epsilon) * p["scale"] + p["bias"]


@aotc.export(params=PARAMS_SPEC, x=aotc.ShapeSpec((SEQ, DIM), "float32"))
def block(params, x):
    """One transformer block: x + attention(ln(x)), then + mlp(ln(.))."""
    h = layer_norm(x, params["ln1"])
    q, k, v = (split_heads(h @ params[w]) for w in ("wq", "wk", "wv"))
    scores = q @ anp.swapaxes(k, 1, 2) / np.float32(np.sqrt(HEAD_DIM)) + MASK
    attended = aotc.nn.softmax(scores, axis=-1) @ v
    x = x + anp.reshape(anp.transpose(attended, (1, 0, 2)), (SEQ, DIM)) @ params["wo"]
    h = layer_norm(x, params["ln2"])
    return x + aotc.nn.gelu(h @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


# ---- NumPy float64 reference -----------------------------------------------------------------


def _ln(x, p, epsilon=1e-5):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + epsilon) * p["scale"] + p["bias"]


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def reference_block(params: dict, x: np.ndarray) -> np.ndarray:
    """NumPy float64 reference of `block`."""
    p = aotc.tree.map(lambda a: a.astype(np.float64), params)
    x = x.astype(np.float64)
    h = _ln(x, p["ln1"])
    q, k, v = ((h @ p[w]).reshape(SEQ, HEADS, HEAD_DIM).transpose(1, 0, 2)
               for w in ("wq", "wk", "wv"))
    scores = np.where(CAUSAL, q @ k.transpose(0, 2, 1) / np.sqrt(HEAD_DIM), -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    x = x + (weights @ v).transpose(1, 0, 2).reshape(SEQ, DIM) @ p["wo"]
    h = _ln(x, p["ln2"])
    return x + _gelu(h @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def example_input(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((SEQ, DIM)).astype(np.float32)
