"""Keys: PRNGKey/key from a seed, split, fold_in, raw bits, and the argument checks every sampler
shares (key, shape, dtype)."""

from collections.abc import Sequence

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.random import threefry
from aotc.frontend.trace.tracer import Tracer, to_tracer


def shape_arg(name: str, shape) -> tuple[int, ...]:
    """A static shape (tuple of ints >= 0; an int n means (n,))."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not isinstance(shape, Sequence) or not all(
            isinstance(d, (int, np.integer)) and d >= 0 for d in shape):
        raise TracingError(f"{caller_site()}: random.{name}: shape must be a tuple of static "
                           f"ints >= 0, got {shape!r}")
    return tuple(int(d) for d in shape)


def float_dtype(name: str, dtype) -> np.dtype:
    """The float dtype a sampler draws (default float32; float64 is float32, as JAX without x64)."""
    dt = dtypes.float32 if dtype is None else dtypes.requested(dtype, name)
    if dt == dtypes.float64:
        dt = dtypes.float32
    if not dtypes.is_float(dt):
        raise TracingError(f"{caller_site()}: random.{name}: dtype must be a float dtype "
                           f"(float32, float16, bfloat16), got {dt}")
    return dt


def int_dtype(name: str, dtype) -> np.dtype:
    """The integer dtype a sampler draws (default int32; 64-bit ints are 32-bit, as JAX w/o x64)."""
    dt = dtypes.int32 if dtype is None else dtypes.canonicalize(dtype)
    dt = {dtypes.int64: dtypes.int32, np.dtype(np.uint64): dtypes.uint32}.get(dt, dt)
    if not dtypes.is_int(dt):
        raise TracingError(f"{caller_site()}: random.{name}: dtype must be an integer dtype, got "
                           f"{dt}")
    return dt


def PRNGKey(seed) -> Tracer:
    """A key, uint32[2], from an integer seed: [0, seed mod 2**32], as jax.random.PRNGKey
    without x64 (the seed is a 32-bit integer, so the high word is 0).

    Example:
        >>> key = random.PRNGKey(0)   # [0, 0]
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return anp.asarray(np.array([0, int(seed) % 2**32], np.uint32))
    seed = to_tracer(seed)
    if seed.shape != () or not dtypes.is_int(seed.dtype):
        raise TracingError(f"{caller_site()}: random.PRNGKey: the seed must be one integer, got "
                           f"{seed.dtype}{list(seed.shape)}; vmap PRNGKey for many seeds")
    return anp.stack([anp.zeros((), dtypes.uint32), anp.astype(seed, dtypes.uint32)])


def key(seed) -> Tracer:
    """A key from an integer seed. JAX's typed key (`jax.random.key`) carries the same two
    uint32 words; aotc's keys are those words, uint32[2], so key(s) equals PRNGKey(s).

    Example:
        >>> k = random.key(42)   # [0, 42]
    """
    return PRNGKey(seed)


def key_data(keys) -> Tracer:
    """The uint32[..., 2] data of keys: aotc's keys are their data, so this checks and returns
    them (jax.random.key_data of a typed key gives the same array).

    Example:
        >>> random.key_data(random.key(1))   # [0, 1]
    """
    return threefry.check_key("key_data", keys, batched=True)


def wrap_key_data(key_bits_array, *, impl=None) -> Tracer:
    """Keys from uint32[..., 2] data (checked; returned as they are: aotc's keys are data).

    Example:
        >>> random.wrap_key_data(anp.array([0, 1], anp.uint32))
    """
    if impl not in (None, "threefry2x32"):
        raise TracingError(f"{caller_site()}: random.wrap_key_data: impl={impl!r}; aotc has "
                           "only JAX's default, 'threefry2x32'")
    return threefry.check_key("wrap_key_data", key_bits_array, batched=True)


def split(key, num=2) -> Tracer:
    """`num` new keys (uint32[num, 2]; a tuple num gives shape (*num, 2)), as jax.random.split.

    Example:
        >>> k1, k2 = random.split(random.PRNGKey(0))
    """
    key = threefry.check_key("split", key)
    return threefry.split_key(key, shape_arg("split", num))


def fold_in(key, data) -> Tracer:
    """A new key from key and a 32-bit integer (data mod 2**32), as jax.random.fold_in.

    Example:
        >>> step_key = random.fold_in(key, 7)
    """
    key = threefry.check_key("fold_in", key)
    if isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        return threefry.fold_in_key(key, threefry.word(int(data)))
    data = to_tracer(data)
    if data.shape != () or not (dtypes.is_int(data.dtype) or dtypes.is_bool(data.dtype)):
        raise TracingError(f"{caller_site()}: random.fold_in: data must be one integer, got "
                           f"{data.dtype}{list(data.shape)}; vmap over many")
    # JAX converts data to uint32: the bits of a 32-bit int, the value of a narrower one
    data = (threefry.to_words(data) if data.dtype == dtypes.uint32
            else anp.astype(data, dtypes.int32))
    return threefry.fold_in_key(key, data)


def bits(key, shape=(), dtype=None) -> Tracer:
    """Uniform random unsigned integers (uint32 by default; uint8, uint16), as jax.random.bits.

    Example:
        >>> random.bits(key, (3,))   # uint32[3]
    """
    key = threefry.check_key("bits", key)
    dt = dtypes.uint32 if dtype is None else dtypes.canonicalize(dtype)
    if dt not in (dtypes.uint8, dtypes.uint16, dtypes.uint32):
        raise TracingError(f"{caller_site()}: random.bits: dtype must be uint8, uint16 or uint32 "
                           f"(aotc has no 64-bit ints, as JAX without x64), got {dt}")
    words = threefry.random_words(key, dt.itemsize * 8, shape_arg("bits", shape))
    return threefry.to_uint32(words) if dt == dtypes.uint32 else anp.astype(words, dt)


def split_keys(key: Tracer, num: int) -> list[Tracer]:
    """`num` subkeys of key as a list (JAX's internal `_split` followed by unpacking)."""
    keys = threefry.split_key(key, (num,))
    return [anp.reshape(keys[i], (2,)) for i in range(num)]

