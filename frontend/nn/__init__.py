"""`aotc.nn`: activation functions, softmax and friends, with jax.nn's semantics.

    import aotc.nn as ann
    probs = ann.softmax(logits, axis=-1)
"""

import math

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.missing import missing_attribute
from aotc.frontend.core.source import caller_site
from aotc.frontend.lax import clamp
from aotc.frontend.numpy.core import normalize_axis, promote, shape_text
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace.tracer import Tracer

__all__ = [
    "celu", "dot_product_attention", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "identity", "leaky_relu", "log1mexp", "log_sigmoid", "log_softmax",
    "logmeanexp", "logsumexp", "mish", "normalize", "one_hot", "relu", "relu6", "selu", "sigmoid",
    "silu", "soft_sign", "softmax", "softplus", "sparse_plus", "sparse_sigmoid", "squareplus",
    "standardize", "swish", "tanh",
]


def _float(name: str, x) -> Tracer:
    (x,) = promote(name, x, inexact=True)
    return x


def relu(x):
    """max(x, 0) elementwise; its derivative at 0 is 0, like jax.nn.relu's.

    A select rather than a maximum (whose derivative splits a tie 1/2, 1/2); NaN stays NaN.

    Example:
        >>> ann.relu(anp.array([-1.0, 2.0]))   # [0.0, 2.0]
    """
    return anp.where(anp.less_equal(x, 0), 0, x)


def relu6(x):
    """min(max(x, 0), 6) elementwise, as one clamp: its derivative is 0 at 0 and 6, like JAX's.

    Example:
        >>> ann.relu6(anp.array([-1.0, 7.0]))   # [0.0, 6.0]
    """
    return clamp(0, x, 6)


def sigmoid(x):
    """1 / (1 + exp(-x)) as one `logistic` op.

    Example:
        >>> ann.sigmoid(anp.array([0.0]))   # [0.5]
    """
    x = _float("sigmoid", x)
    return Tracer(ew.logistic(x.value), x.weak_type)


def softplus(x):
    """log(1 + exp(x)) without overflow, with jax.nn.softplus's (logaddexp(x, 0)'s) derivatives.

    Computed as [x >= 0] x + log1p(exp(-|x|)): one exp, and since |x|' is 1 at 0 (JAX's rule)
    the derivative at 0 is 1 - 1/2 = 1/2 and the second 1/4, as logaddexp's at a tie.

    Example:
        >>> ann.softplus(anp.array([0.0, 100.0]))   # [0.6931, 100.0]
    """
    x = _float("softplus", x)
    linear = anp.where(anp.greater_equal(x, 0), x, 0.0)
    return anp.add(linear, anp.log1p(anp.exp(anp.negative(anp.abs(x)))))


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|.

    Example:
        >>> ann.log_sigmoid(anp.array([0.0]))   # [-0.6931]
    """
    return anp.negative(softplus(anp.negative(_float("log_sigmoid", x))))


def silu(x):
    """x * sigmoid(x) (also called swish).

    Example:
        >>> ann.silu(anp.array([1.0]))   # [0.7311]
    """
    x = _float("silu", x)
    return anp.multiply(x, sigmoid(x))


swish = silu


def gelu(x, approximate: bool = True):
    """Gaussian error linear unit: the tanh approximation by default (like jax.nn.gelu), else erf.

    Example:
        >>> ann.gelu(anp.array([1.0]))                      # [0.8412]
        >>> ann.gelu(anp.array([1.0]), approximate=False)   # [0.8413]
    """
    x = _float("gelu", x)
    if approximate:
        cubic = anp.multiply(0.044715, anp.multiply(x, anp.multiply(x, x)))
        inner = anp.multiply(math.sqrt(2 / math.pi), anp.add(x, cubic))
        return anp.multiply(anp.multiply(0.5, x), anp.add(1.0, anp.tanh(inner)))
    erf = Tracer(ew.erf(anp.multiply(x, 1 / math.sqrt(2)).value), x.weak_type)
    return anp.multiply(anp.multiply(0.5, x), anp.add(1.0, erf))


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise.

    Example:
        >>> ann.elu(anp.array([-1.0, 1.0]))   # [-0.6321, 1.0]
    """
    x = _float("elu", x)
    positive = anp.greater(x, 0)
    safe = anp.where(positive, 0.0, x)  # keeps expm1 of large positives out of the result
    return anp.where(positive, x, anp.multiply(alpha, anp.expm1(safe)))


def celu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise.

    Example:
        >>> ann.celu(anp.array([-1.0]), alpha=2.0)   # [-0.7869]
    """
    x = _float("celu", x)
    # JAX's formula: max(x, 0) + alpha * expm1(min(x, 0) / alpha), whose derivative at 0 is 1
    return anp.add(anp.maximum(x, 0), anp.multiply(alpha, anp.expm1(anp.divide(
        anp.minimum(x, 0), alpha))))


def selu(x):
    """Scaled ELU with the self-normalizing constants of Klambauer et al.

    Example:
        >>> ann.selu(anp.array([1.0]))   # [1.0507]
    """
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    return anp.multiply(scale, elu(x, alpha))


def leaky_relu(x, negative_slope=1e-2):
    """x for x >= 0, negative_slope * x otherwise.

    Example:
        >>> ann.leaky_relu(anp.array([-2.0, 3.0]))   # [-0.02, 3.0]
    """
    x = _float("leaky_relu", x)
    return anp.where(anp.greater_equal(x, 0), x, anp.multiply(negative_slope, x))


def hard_tanh(x):
    """x clipped to [-1, 1]; its derivative at -1 and 1 is 1, like jax.nn.hard_tanh's.

    Example:
        >>> ann.hard_tanh(anp.array([-3.0, 0.5]))   # [-1.0, 0.5]
    """
    return anp.where(anp.greater(x, 1), 1, anp.where(anp.less(x, -1), -1, x))


def hard_sigmoid(x):
    """relu6(x + 3) / 6.

    Example:
        >>> ann.hard_sigmoid(anp.array([0.0]))   # [0.5]
    """
    return anp.divide(relu6(anp.add(x, 3.0)), 6.0)


def hard_silu(x):
    """x * hard_sigmoid(x) (also called hard_swish).

    Example:
        >>> ann.hard_silu(anp.array([1.0]))   # [0.6667]
    """
    return anp.multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


def soft_sign(x):
    """x / (|x| + 1).

    Example:
        >>> ann.soft_sign(anp.array([1.0]))   # [0.5]
    """
    x = _float("soft_sign", x)
    return anp.divide(x, anp.add(anp.abs(x), 1.0))


def glu(x, axis=-1):
    """Gated linear unit: the first half of x along axis times sigmoid of the second half.

    Example:
        >>> ann.glu(anp.ones((2, 4))).shape   # (2, 2)
    """
    x = _float("glu", x)
    axis = normalize_axis("glu", axis, x.ndim)
    size = x.shape[axis]
    if size is None or size % 2:
        raise TracingError(f"{caller_site()}: glu: axis {axis} of {shape_text(x.shape)} must have "
                           "an even, static size")
    a, b = anp.split(x, 2, axis)
    return anp.multiply(a, sigmoid(b))


def identity(x):
    """x itself, as an array.

    Example:
        >>> ann.identity(anp.array([1.0]))   # [1.0]
    """
    return anp.asarray(x)


def tanh(x):
    """Hyperbolic tangent, as jax.nn.tanh (= jnp.tanh).

    Example:
        >>> ann.tanh(anp.array([0.0]))   # [0.0]
    """
    return anp.tanh(x)


def mish(x):
    """x * tanh(softplus(x)).

    Example:
        >>> ann.mish(anp.array([1.0]))   # [0.8651]
    """
    x = _float("mish", x)
    return anp.multiply(x, anp.tanh(softplus(x)))


def squareplus(x, b=4):
    """(x + sqrt(x**2 + b)) / 2, a smooth relu.

    Example:
        >>> ann.squareplus(anp.array([0.0]))   # [1.0]
    """
    x = _float("squareplus", x)
    return anp.divide(anp.add(x, anp.sqrt(anp.add(anp.multiply(x, x), b))), 2.0)


def sparse_plus(x):
    """0 for x <= -1, x for x >= 1, (x + 1)**2 / 4 between: a piecewise-quadratic softplus.

    Example:
        >>> ann.sparse_plus(anp.array([-2.0, 0.0, 2.0]))   # [0.0, 0.25, 2.0]
    """
    x = _float("sparse_plus", x)
    quadratic = anp.divide(anp.square(anp.add(x, 1.0)), 4.0)
    return anp.where(anp.less_equal(x, -1.0), 0.0, anp.where(anp.greater_equal(x, 1.0), x,
                                                                quadratic))


def sparse_sigmoid(x):
    """clip(x + 1, 0, 2) / 2: the derivative of sparse_plus, a piecewise-linear sigmoid.

    Example:
        >>> ann.sparse_sigmoid(anp.array([-2.0, 0.0, 2.0]))   # [0.0, 0.5, 1.0]
    """
    x = _float("sparse_sigmoid", x)
    return anp.multiply(0.5, anp.clip(anp.add(x, 1.0), 0.0, 2.0))


def log1mexp(x):
    """log(1 - exp(-x)), stable on both sides of log(2); NaN for x < 0, -inf at 0, like JAX.

    The derivative is 1 / expm1(x) (jax.nn.log1mexp's rule); the branch not taken gets an input
    where it is finite, so reverse mode does not turn its infinities into NaN.

    Example:
        >>> ann.log1mexp(anp.array([1.0]))   # [-0.4587]
    """
    x = _float("log1mexp", x)
    small = anp.less(x, math.log(2.0))
    large_x = anp.where(small, 1.0, x)
    return anp.where(small, anp.log(anp.negative(anp.expm1(anp.negative(x)))),
                     anp.log1p(anp.negative(anp.exp(anp.negative(large_x)))))


def logmeanexp(x, axis=None, where=None, keepdims: bool = False):
    """log(mean(exp(x))) over axis, stable: logsumexp minus the log of the count.

    `where` (a boolean mask) keeps only the entries where it is True, like jax.nn.logmeanexp.

    Example:
        >>> ann.logmeanexp(anp.array([0.0, 0.0]))   # 0.0
    """
    x = _float("logmeanexp", x)
    if where is None:
        count = math.prod(x.shape) if axis is None else math.prod(
            x.shape[a] for a in ((axis,) if isinstance(axis, int) else axis))
        return anp.subtract(logsumexp(x, axis=axis, keepdims=keepdims), math.log(count))
    where = anp.broadcast_to(where, x.shape)
    lse = logsumexp(anp.where(where, x, -np.inf), axis=axis, keepdims=keepdims)
    count = anp.sum(where, axis=axis, keepdims=keepdims, dtype=lse.dtype)
    return anp.subtract(lse, anp.log(count))


def _grouped(name: str, t, heads: int, groups: int):
    """A [B, N or 1, T, S] bias or mask as [B, K, G or 1, T, S] for K key heads of G queries."""
    if t is None:
        return None
    t = anp.asarray(t)
    t = anp.reshape(t, (1,) * (4 - t.ndim) + t.shape)
    b, n, rows, cols = t.shape
    if n == 1:
        return anp.reshape(t, (b, 1, 1, rows, cols))
    if n != heads * groups:
        raise TracingError(f"{caller_site()}: dot_product_attention: {name} has {n} heads; "
                           f"expected 1 or {heads * groups}")
    return anp.reshape(t, (b, heads, groups, rows, cols))


def dot_product_attention(query, key, value, bias=None, mask=None, *, scale=None,
                          is_causal: bool = False, query_seq_lengths=None,
                          key_value_seq_lengths=None, local_window_size=None,
                          implementation=None):
    """softmax(q k^T * scale + bias, masked) v per head, like jax.nn.dot_product_attention's 'xla'
    implementation.

    query is [B, T, N, H] (or [T, N, H]), key and value [B, S, K, H] with N a multiple of K
    (grouped-query attention: each key/value head serves N // K query heads). bias and mask
    broadcast to [B, N, T, S]; masked-out logits become -0.7 * the dtype's max, as in JAX. The
    logits and softmax are float32 at least.

    Example:
        >>> q = anp.ones((2, 5, 4, 8)); kv = anp.ones((2, 7, 2, 8))
        >>> ann.dot_product_attention(q, kv, kv, is_causal=True).shape   # (2, 5, 4, 8)
    """
    if implementation not in (None, "xla"):
        raise TracingError(f"{caller_site()}: dot_product_attention: implementation="
                           f"{implementation!r} is not supported; use None or 'xla'")
    query, key, value = (anp.asarray(a) for a in (query, key, value))
    out_shape = query.shape
    query, key, value = (anp.reshape(a, (1,) * (4 - a.ndim) + a.shape)
                         for a in (query, key, value))
    batch, t_len, n_heads, depth = query.shape
    s_len, k_heads = key.shape[1], key.shape[2]
    if n_heads % k_heads:
        raise TracingError(f"{caller_site()}: dot_product_attention: the number of query heads "
                           f"({n_heads}) must be a multiple of key/value heads ({k_heads})")
    groups = n_heads // k_heads
    scale = 1.0 / math.sqrt(depth) if scale is None else scale
    logits_dtype = dtypes.float32 if query.dtype.itemsize < 4 else query.dtype
    grouped = anp.reshape(query, (batch, t_len, k_heads, groups, depth))
    logits = anp.einsum("BTKGH,BSKH->BKGTS", anp.astype(grouped, logits_dtype),
                        anp.astype(key, logits_dtype))
    logits = anp.multiply(logits, anp.asarray(scale, logits_dtype))
    if bias is not None:
        logits = anp.astype(anp.add(logits, _grouped("bias", bias, k_heads, groups)),
                            logits_dtype)
    keep = _grouped("mask", mask, k_heads, groups)
    rows = anp.arange(t_len)[:, None]
    cols = anp.arange(s_len)[None, :]
    if is_causal:
        keep = _and(keep, anp.greater_equal(rows, cols))
    if local_window_size is not None:
        left, right = ((local_window_size, local_window_size)
                       if isinstance(local_window_size, int) else local_window_size)
        keep = _and(keep, anp.logical_and(anp.less_equal(rows, cols + left),
                                          anp.greater_equal(rows, cols - right)))
    if query_seq_lengths is not None:
        lengths = anp.reshape(query_seq_lengths, (-1, 1, 1, 1, 1))
        keep = _and(keep, anp.less(rows, lengths))
    if key_value_seq_lengths is not None:
        lengths = anp.reshape(key_value_seq_lengths, (-1, 1, 1, 1, 1))
        keep = _and(keep, anp.less(cols, lengths))
    if keep is not None:
        large_negative = -0.7 * min(float(np.finfo(logits_dtype).max),
                                    float(np.finfo(np.float32).max))
        logits = anp.where(keep, logits, anp.asarray(large_negative, logits_dtype))
    probs = anp.astype(softmax(anp.astype(logits, dtypes.float32), axis=-1), key.dtype)
    encoded = anp.einsum("BKGTS,BSKH->BTKGH", probs, value)
    if query_seq_lengths is not None:
        valid = anp.less(anp.arange(t_len)[None, :], anp.reshape(query_seq_lengths, (-1, 1)))
        encoded = anp.multiply(encoded, anp.astype(valid[:, :, None, None, None], encoded.dtype))
    return anp.reshape(encoded, out_shape)


def _and(keep, more):
    return more if keep is None else anp.logical_and(keep, more)


# ---- softmax family ----------------------------------------------------------------------------


def _accumulating(name: str, x) -> tuple[Tracer, np.dtype]:
    """x as float, 16-bit floats widened to float32 for the exp-sum; and the dtype to return.

    Widening also sidesteps an IREE 3.13 llvm-cpu failure on f16 softmax ("undefined symbol:
    fmaxf" when exp(x - max) / sum fuse into one dispatch).
    """
    x = _float(name, x)
    if x.dtype.itemsize < 4:
        return anp.astype(x, dtypes.float32), x.dtype
    return x, x.dtype


def _shift_by_max(x: Tracer, axis) -> tuple[Tracer, Tracer]:
    """(x - max, max) with the max over axis kept; a non-finite max is replaced by 0 (like JAX)."""
    top = anp.max(x, axis=axis, keepdims=True)
    top = anp.where(anp.isfinite(top), top, 0.0)
    return anp.subtract(x, top), top


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along axis, computed with the max subtracted.

    Example:
        >>> ann.softmax(anp.array([1.0, 1.0]))   # [0.5, 0.5]
    """
    x, dtype = _accumulating("softmax", x)
    unnormalized = anp.exp(anp.subtract(x, anp.max(x, axis=axis, keepdims=True)))
    out = anp.divide(unnormalized, anp.sum(unnormalized, axis=axis, keepdims=True))
    return anp.astype(out, dtype)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along axis, computed with the max subtracted.

    Example:
        >>> ann.log_softmax(anp.array([1.0, 1.0]))   # [-0.6931, -0.6931]
    """
    x, dtype = _accumulating("log_softmax", x)
    shifted = anp.subtract(x, anp.max(x, axis=axis, keepdims=True))
    out = anp.subtract(shifted, anp.log(anp.sum(anp.exp(shifted), axis=axis, keepdims=True)))
    return anp.astype(out, dtype)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over axis, stable; -inf where every term is -inf, like JAX.

    Example:
        >>> ann.logsumexp(anp.array([0.0, 0.0]))   # 0.6931
    """
    if return_sign:
        raise TracingError(f"{caller_site()}: logsumexp: return_sign=True is not supported")
    x, dtype = _accumulating("logsumexp", a)
    shifted, top = _shift_by_max(x, axis)
    terms = anp.exp(shifted)
    if b is not None:
        terms = anp.multiply(b, terms)
    out = anp.astype(anp.add(anp.log(anp.sum(terms, axis=axis, keepdims=True)), top), dtype)
    if keepdims:
        return out
    return anp.squeeze(out, axis=tuple(range(x.ndim)) if axis is None else axis)


def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5):
    """(x - mean) / sqrt(variance + epsilon) along axis; mean and variance computed when None.

    The variance is mean(x**2) - mean(x)**2 clipped at 0, like jax.nn.standardize's default.

    Example:
        >>> ann.standardize(anp.array([1.0, 3.0]))   # [-1.0, 1.0] (up to epsilon)
    """
    x = _float("standardize", x)
    if mean is None:
        mean = anp.mean(x, axis, keepdims=True)
    if variance is None:
        squares = anp.mean(anp.multiply(x, x), axis, keepdims=True)
        variance = anp.maximum(anp.subtract(squares, anp.multiply(mean, mean)), 0)
    centered = anp.subtract(x, mean)
    scale = _float("standardize", anp.add(variance, epsilon))
    return anp.multiply(centered, Tracer(ew.rsqrt(scale.value), scale.weak_type))


normalize = standardize


def one_hot(x, num_classes: int, *, dtype=np.float32, axis=-1):
    """x's integer classes as one-hot vectors along a new axis; out-of-range classes give zeros.

    Example:
        >>> ann.one_hot(anp.array([0, 2]), 3)   # [[1, 0, 0], [0, 0, 1]]
    """
    x = anp.asarray(x)
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise TracingError(f"{caller_site()}: one_hot: num_classes must be a static int >= 0, got "
                           f"{num_classes!r}")
    axis = normalize_axis("one_hot", axis, x.ndim + 1)
    if None in x.shape:
        raise TracingError(f"{caller_site()}: one_hot of an array with dynamic dims is not "
                           "supported")
    if dtypes.is_bool(x.dtype):
        x = anp.astype(x, dtypes.int32)
    shape = list(x.shape)
    shape.insert(axis, int(num_classes))
    classes = Tracer(shape_ops.iota(shape, axis, dtypes.to_mlir(x.dtype)))
    hits = anp.equal(anp.expand_dims(x, axis), classes)
    return anp.astype(hits, dtype)


def __getattr__(name):
    """A missing name is an AttributeError (so hasattr works) that says what to use instead."""
    raise missing_attribute("aotc.nn", name, __all__, None)
