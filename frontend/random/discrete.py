"""Integer and index samplers: randint, permutation, shuffle, choice, categorical; each JAX's
algorithm (jax._src.random.core) op for op."""

import math

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.core import normalize_axis, shape_text
from aotc.frontend.random import threefry
from aotc.frontend.random.distributions import check_shape, gumbel_real, uniform_bits
from aotc.frontend.random.keys import int_dtype, shape_arg, split_keys
from aotc.frontend.trace.tracer import Tracer, to_tracer


def _clip_convert(x: Tracer, dtype) -> Tracer:
    """An integer x converted to dtype, clipped to the values both dtypes hold (JAX's
    _convert_and_clip_integer)."""
    low = max(int(np.iinfo(dtype).min), int(np.iinfo(x.dtype).min))
    high = min(int(np.iinfo(dtype).max), int(np.iinfo(x.dtype).max))
    clipped = anp.clip(x, anp.asarray(np.array(low, x.dtype)), anp.asarray(np.array(high,
                                                                                    x.dtype)))
    return anp.astype(clipped, dtype)


def _int_param(x) -> Tracer:
    x = to_tracer(x)
    return x if dtypes.is_int(x.dtype) else anp.astype(x, dtypes.int32)


def randint(key, shape, minval, maxval, dtype=None) -> Tracer:
    """Uniform integers in [minval, maxval), as jax.random.randint (two 32-bit draws per value,
    reduced modulo the span; 8- and 16-bit dtypes are drawn as int32 and converted).

    Example:
        >>> random.randint(key, (5,), 0, 10)
    """
    key = threefry.check_key("randint", key)
    dtype = int_dtype("randint", dtype)
    shape = shape_arg("randint", shape)
    info = np.iinfo(dtype)
    sampling = dtype
    minval, maxval = _int_param(minval), _int_param(maxval)
    if info.bits < 32:
        sampling = dtypes.int32
        minval = anp.clip(anp.astype(minval, dtypes.int32), int(info.min), int(info.max))
        maxval = anp.clip(anp.astype(maxval, dtypes.int32), int(info.min), int(info.max) + 1)
    return anp.astype(_randint(key, shape, minval, maxval, sampling), dtype)


def _word(x: Tracer, dtype) -> Tracer:
    """An integer parameter converted (clipped, as JAX) to the 32-bit dtype, as an int32 word."""
    x = _clip_convert(x, dtype) if x.dtype != dtype else x
    return x if dtype == dtypes.int32 else threefry.to_words(x)


def _randint(key: Tracer, shape: tuple, minval: Tracer, maxval: Tracer, dtype) -> Tracer:
    """JAX's _randint for the 32-bit dtypes (int32, uint32), on int32 words. Its
    `maxval_out_of_range` case needs a maxval wider than the dtype, which a 32-bit program
    cannot hold, so it is left out."""
    check_shape("randint", shape, minval.shape, maxval.shape)
    unsigned = dtype == dtypes.uint32
    lo, hi = _word(minval, dtype), _word(maxval, dtype)
    rank = len(shape)
    lo = anp.broadcast_to(anp.reshape(lo, (1,) * (rank - lo.ndim) + lo.shape), shape)
    hi = anp.broadcast_to(anp.reshape(hi, (1,) * (rank - hi.ndim) + hi.shape), shape)
    k1, k2 = split_keys(key, 2)
    higher_bits = threefry.random_words(k1, 32, shape)
    lower_bits = threefry.random_words(k2, 32, shape)
    empty = anp.logical_not(threefry.ult(lo, hi)) if unsigned else anp.less_equal(hi, lo)
    span = anp.where(empty, threefry.word(1), anp.subtract(hi, lo))
    # (a * b) % n == ((a % n) * (b % n)) % n, with 2**32 % n as (2**16 % n)**2 % n
    multiplier = threefry.urem(anp.broadcast_to(threefry.word(2**16), shape), span)
    multiplier = threefry.urem(anp.multiply(multiplier, multiplier), span)
    offset = anp.add(anp.multiply(threefry.urem(higher_bits, span), multiplier),
                     threefry.urem(lower_bits, span))
    out = anp.add(lo, threefry.urem(offset, span))
    return threefry.to_uint32(out) if unsigned else out


def shuffle_along(key: Tracer, x: Tracer, axis: int) -> Tracer:
    """JAX's _shuffle: sort x along axis by fresh 32-bit random keys, in as many rounds as
    needed for all keys to differ with high probability (one round below ~1,600 entries)."""
    rounds = math.ceil(3 * np.log(max(1, x.size)) / np.log(np.iinfo(np.uint32).max))
    for _ in range(rounds):
        key, subkey = split_keys(key, 2)
        # the words with the sign bit flipped sort as JAX's uint32 sort keys do
        sort_keys = lax.bitwise_xor(threefry.random_words(subkey, 32, x.shape),
                                    threefry.word(2**31))
        _, x = lax.sort_key_val(sort_keys, x, axis)
    return x


def permutation(key, x, axis: int = 0, independent: bool = False) -> Tracer:
    """A random permutation of arange(x) (int x) or of x's slices along axis, as
    jax.random.permutation; independent=True shuffles each 1-D slice on its own.

    Example:
        >>> random.permutation(key, 10)
    """
    key = threefry.check_key("permutation", key)
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return shuffle_along(key, anp.arange(int(x)), 0)
    x = to_tracer(x)
    if x.ndim == 0:
        raise TracingError(f"{caller_site()}: random.permutation: x must be a static int or an "
                           "array with at least one dim")
    axis = normalize_axis("permutation", axis, x.ndim)
    if independent or x.ndim == 1:
        return shuffle_along(key, x, axis)
    order = shuffle_along(key, anp.arange(x.shape[axis]), 0)
    return anp.take(x, order, axis=axis)


def shuffle(key, x, axis: int = 0) -> Tracer:
    """x with each 1-D slice along axis shuffled on its own (jax.random.shuffle, which JAX
    deprecated for permutation(..., independent=True); same bits).

    Example:
        >>> random.shuffle(key, anp.arange(5))
    """
    key = threefry.check_key("shuffle", key)
    x = to_tracer(x)
    return shuffle_along(key, x, normalize_axis("shuffle", axis, x.ndim))


def choice(key, a, shape=(), replace: bool = True, p=None, axis: int = 0,
           mode: str | None = None) -> Tracer:
    """Samples of a (an array, along axis, or arange(a) for an int), with or without
    replacement, uniform or with probabilities p, as jax.random.choice.

    Example:
        >>> random.choice(key, 5, (3,), replace=False)
    """
    key = threefry.check_key("choice", key)
    shape = shape_arg("choice", shape)
    arr = anp.asarray(a)
    if arr.ndim == 0:
        if not isinstance(a, (int, np.integer)):
            raise TracingError(f"{caller_site()}: random.choice: a must be a static int or an "
                               "array")
        n_inputs = int(a)
    else:
        axis = normalize_axis("choice", axis, arr.ndim)
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return anp.zeros(shape, arr.dtype)
    if n_inputs <= 0:
        raise TracingError(f"{caller_site()}: random.choice: a must be greater than 0 unless no "
                           "samples are taken")
    if not replace and n_draws > n_inputs:
        raise TracingError(f"{caller_site()}: random.choice: cannot take {n_draws} samples from "
                           f"{n_inputs} without replacement")
    if p is None:
        if replace:
            ind = randint(key, shape, 0, n_inputs)
            result = ind if arr.ndim == 0 else anp.take(arr, ind, axis=axis)
        else:
            perm = permutation(key, n_inputs if arr.ndim == 0 else arr, axis)
            result = lax.slice_in_dim(perm, 0, n_draws, 1, 0 if arr.ndim == 0 else axis)
    else:
        p = to_tracer(p)
        if not dtypes.is_float(p.dtype):
            p = anp.astype(p, dtypes.float32)
        if p.shape != (n_inputs,):
            raise TracingError(f"{caller_site()}: random.choice: p must be None or of shape "
                               f"({n_inputs},), got {shape_text(p.shape)}")
        if replace:
            p_cuml = anp.cumsum(p)
            total = p_cuml[-1]
            r = anp.multiply(total, anp.subtract(1, uniform_bits(key, shape, p.dtype, 0.0, 1.0)))
            ind = anp.astype(anp.searchsorted(p_cuml, r), dtypes.int32)
        else:
            g = anp.add(gumbel_real(key, (n_inputs,), p.dtype, mode or "low"), anp.log(p))
            ind = anp.astype(lax.top_k(g, n_draws)[1], dtypes.int32)
        result = ind if arr.ndim == 0 else anp.take(arr, ind, axis=axis)
    out_shape = shape if arr.ndim == 0 else arr.shape[:axis] + shape + arr.shape[axis + 1:]
    return anp.reshape(result, out_shape)


def categorical(key, logits, axis: int = -1, shape=None, replace: bool = True,
                mode: str | None = None) -> Tracer:
    """Category indices drawn with probabilities softmax(logits) along axis, by the Gumbel-max
    trick (Gumbel top-k without replacement), as jax.random.categorical.

    Example:
        >>> random.categorical(key, anp.log(anp.array([0.2, 0.8])), shape=(5,))
    """
    key = threefry.check_key("categorical", key)
    logits = to_tracer(logits)
    if not dtypes.is_float(logits.dtype):
        logits = anp.astype(logits, dtypes.float32)
    axis = normalize_axis("categorical", axis, logits.ndim)
    batch_shape = logits.shape[:axis] + logits.shape[axis + 1:]
    shape = batch_shape if shape is None else shape_arg("categorical", shape)
    check_shape("categorical", shape, batch_shape)
    prefix = shape[:len(shape) - len(batch_shape)]
    if replace:
        logits_shape = list(shape[len(shape) - len(batch_shape):])
        logits_shape.insert(axis, logits.shape[axis])
        noise = gumbel_real(key, (*prefix, *logits_shape), logits.dtype, mode or "low")
        expanded = anp.reshape(logits, (1,) * len(prefix) + logits.shape)
        return anp.argmax(anp.add(noise, expanded), axis=len(prefix) + axis)
    k = math.prod(prefix)
    if k > logits.shape[axis]:
        raise TracingError(f"{caller_site()}: random.categorical: {k} samples without "
                           f"replacement from {logits.shape[axis]} categories")
    perturbed = anp.add(logits, gumbel_real(key, logits.shape, logits.dtype, mode or "low"))
    _, indices = lax.top_k(anp.moveaxis(perturbed, axis, -1), k)
    indices = anp.moveaxis(indices, -1, 0)
    return anp.reshape(indices, shape)
