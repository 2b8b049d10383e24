"""aotc.jit of whole models matches NumPy to 1e-5 relative: a 3-layer MLP, a CNN, attention."""

import numpy as np

import aotc
import aotc.numpy as anp

RNG = np.random.default_rng(42)


def _normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# ---- 3-layer MLP -----------------------------------------------------------------------------

MLP_PARAMS = {f"w{i}": _normal(m, n, scale=1 / np.sqrt(m))
              for i, (m, n) in enumerate([(64, 128), (128, 64), (64, 10)], 1)}
MLP_PARAMS |= {f"b{i}": _normal(n, scale=0.1) for i, n in enumerate([128, 64, 10], 1)}


def mlp(params, x):
    h = anp.tanh(x @ params["w1"] + params["b1"])
    h = anp.maximum(h @ params["w2"] + params["b2"], 0.0)
    logits = h @ params["w3"] + params["b3"]
    shifted = logits - anp.max(logits, axis=-1, keepdims=True)
    return shifted - anp.log(anp.sum(anp.exp(shifted), axis=-1, keepdims=True))


def mlp_numpy(params, x):
    h = np.tanh(x @ params["w1"] + params["b1"])
    h = np.maximum(h @ params["w2"] + params["b2"], 0.0)
    logits = h @ params["w3"] + params["b3"]
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_mlp_matches_numpy():
    x = _normal(32, 64)
    got = aotc.jit(mlp)(MLP_PARAMS, x)
    want = mlp_numpy({k: v.astype(np.float64) for k, v in MLP_PARAMS.items()}, x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- one attention block ---------------------------------------------------------------------

D, HEADS = 32, 4
ATTN_PARAMS = {k: _normal(D, D, scale=1 / np.sqrt(D)) for k in ("wq", "wk", "wv", "wo")}
ATTN_PARAMS |= {"gamma": 1 + _normal(D, scale=0.1), "beta": _normal(D, scale=0.1)}


def attention_block(p, x, xp=anp):
    """Pre-norm multi-head self-attention with a residual; written once for anp and numpy."""
    seq = x.shape[0]
    mu = xp.mean(x, axis=-1, keepdims=True)
    var = xp.mean((x - mu) ** 2, axis=-1, keepdims=True)
    h = (x - mu) / xp.sqrt(var + 1e-5) * p["gamma"] + p["beta"]

    def heads(t):
        return xp.transpose(xp.reshape(t, (seq, HEADS, D // HEADS)), (1, 0, 2))

    q, k, v = heads(h @ p["wq"]), heads(h @ p["wk"]), heads(h @ p["wv"])
    scores = q @ xp.swapaxes(k, -1, -2) / np.float32(np.sqrt(D // HEADS))
    scores = scores - xp.max(scores, axis=-1, keepdims=True)
    weights = xp.exp(scores) / xp.sum(xp.exp(scores), axis=-1, keepdims=True)
    mixed = xp.reshape(xp.transpose(weights @ v, (1, 0, 2)), (seq, D))
    return x + mixed @ p["wo"]


def test_attention_block_matches_numpy():
    x = _normal(16, D)
    got = aotc.jit(attention_block)(ATTN_PARAMS, x)
    want = attention_block({k: v.astype(np.float64) for k, v in ATTN_PARAMS.items()},
                           x.astype(np.float64), xp=np)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- a small CNN (NHWC) ----------------------------------------------------------------------

CNN_PARAMS = {"k1": _normal(3, 3, 1, 8, scale=0.3), "c1": _normal(8, scale=0.1),
              "k2": _normal(3, 3, 8, 16, scale=0.1), "c2": _normal(16, scale=0.1),
              "w": _normal(4 * 4 * 16, 10, scale=0.05), "b": _normal(10, scale=0.1)}


def cnn(p, images):
    lax = aotc.lax
    dn = ("NHWC", "HWIO", "NHWC")
    h = lax.conv_general_dilated(images, p["k1"], (1, 1), "SAME", dimension_numbers=dn)
    h = lax.max_pool(anp.maximum(h + p["c1"], 0.0), (2, 2), (2, 2), "VALID")
    h = lax.conv_general_dilated(h, p["k2"], (1, 1), "SAME", dimension_numbers=dn)
    h = lax.avg_pool(anp.maximum(h + p["c2"], 0.0), (2, 2), (2, 2), "VALID")
    return anp.reshape(h, (h.shape[0], -1)) @ p["w"] + p["b"]


def _conv_same_numpy(x, k):
    kh, kw = k.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    return np.einsum("nhwcij,ijco->nhwo", windows, k)


def _pool_numpy(x, reduce):
    n, h, w, c = x.shape
    return reduce(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def cnn_numpy(p, images):
    h = _pool_numpy(np.maximum(_conv_same_numpy(images, p["k1"]) + p["c1"], 0), np.max)
    h = _pool_numpy(np.maximum(_conv_same_numpy(h, p["k2"]) + p["c2"], 0), np.mean)
    return h.reshape(h.shape[0], -1) @ p["w"] + p["b"]


def test_cnn_matches_numpy():
    images = _normal(4, 16, 16, 1)
    got = aotc.jit(cnn)(CNN_PARAMS, images)
    want = cnn_numpy({k: v.astype(np.float64) for k, v in CNN_PARAMS.items()},
                     images.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_jit_on_the_local_sync_device_matches():
    x = _normal(8, 64)
    got = aotc.jit(mlp, device="local-sync")(MLP_PARAMS, x)
    np.testing.assert_allclose(got, aotc.jit(mlp)(MLP_PARAMS, x), rtol=1e-6, atol=1e-6)
