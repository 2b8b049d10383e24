"""JAX's default PRNG, threefry2x32, from 32-bit adds, xors, shifts and ors (portable StableHLO).

Keys are uint32[..., 2] arrays, as `jax.random.PRNGKey` returns. The counters follow JAX's
default `jax_threefry_partitionable=True` layout: a value at flat index i of the output hashes
the 64-bit counter i (high word, low word), and the two output words are xored for 32 bits
(`bits`) or kept side by side for new keys (`split`).

The words are computed as int32 (bitcast from and to the uint32 keys): adds, xors, ors and
logical shifts give the same bits for either signedness, and IREE 3.13 fails to compile unsigned
arithmetic on scalars and one-element tensors inside loop bodies ("'arith.addi' op operand #1
must be signless-non-zero-bitwidth-integer-like, but got 'ui32'"), which a fold_in inside a
fori_loop would hit. `urem` and `ult` give the unsigned remainder and comparison on int32 words.
"""

import math

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.trace.tracer import Tracer, to_tracer

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA  # Threefry's key-schedule constant


def word(value) -> Tracer:
    """The int32 word with the bits of the uint32 `value`."""
    return anp.asarray(np.array(value % 2**32, np.uint32).view(np.int32))


def _rotate_left(x: Tracer, d: int) -> Tracer:
    return lax.bitwise_or(lax.shift_left(x, word(d)), lax.shift_right_logical(x, word(32 - d)))


def threefry2x32(k1: Tracer, k2: Tracer, x1: Tracer, x2: Tracer) -> tuple[Tracer, Tracer]:
    """The Threefry-2x32 hash (20 rounds) of the counter pairs (x1, x2) under key (k1, k2).

    All int32 words: k1, k2 scalars, x1, x2 arrays of one shape. Unrolled, as XLA's lowering.
    """
    k1, k2 = anp.broadcast_to(k1, x1.shape), anp.broadcast_to(k2, x1.shape)
    ks = [k1, k2, lax.bitwise_xor(lax.bitwise_xor(k1, k2), anp.broadcast_to(word(_PARITY),
                                                                              x1.shape))]
    x = [anp.add(x1, ks[0]), anp.add(x2, ks[1])]
    for step in range(5):
        for r in _ROTATIONS[step % 2]:
            x[0] = anp.add(x[0], x[1])
            x[1] = lax.bitwise_xor(x[0], _rotate_left(x[1], r))
        x[0] = anp.add(x[0], ks[(step + 1) % 3])
        x[1] = anp.add(anp.add(x[1], ks[(step + 2) % 3]), word(step + 1))
    return x[0], x[1]


def check_key(name: str, key, *, batched: bool = False) -> Tracer:
    """key as a uint32 tracer of shape (2,) (or (..., 2) when `batched`), else a TracingError."""
    key = to_tracer(key)
    ok_shape = (key.ndim >= 1 and key.shape[-1] == 2) if batched else key.shape == (2,)
    if key.dtype != dtypes.uint32 or not ok_shape:
        wanted = "uint32[..., 2]" if batched else "uint32[2] (one key; vmap over many)"
        raise TracingError(f"{caller_site()}: random.{name}: a key is a {wanted} array as "
                           f"random.PRNGKey(seed) returns, got {key.dtype}"
                           f"{list(key.shape)}")
    return key


def to_words(x: Tracer) -> Tracer:
    return lax.bitcast_convert_type(x, dtypes.int32)


def to_uint32(x: Tracer) -> Tracer:
    return lax.bitcast_convert_type(x, dtypes.uint32)


def key_words(key: Tracer) -> tuple[Tracer, Tracer]:
    """The two int32 words of a uint32[2] key, as scalars."""
    words = to_words(key)
    return (anp.reshape(lax.slice(words, (0,), (1,)), ()),
            anp.reshape(lax.slice(words, (1,), (2,)), ()))


def iota_2x32(shape: tuple[int, ...]) -> tuple[Tracer, Tracer]:
    """(high, low) words of the row-major flat index of every entry of `shape`."""
    size = math.prod(shape)
    if size >= 2**31:
        raise TracingError(f"{caller_site()}: random: {size} values in one call; aotc counts "
                           "them in 31 bits (split the key and draw in pieces)")
    low = anp.reshape(lax.iota(dtypes.int32, size), shape)
    return anp.zeros(shape, dtypes.int32), low


def hash_counters(key: Tracer, shape: tuple[int, ...]) -> tuple[Tracer, Tracer]:
    k1, k2 = key_words(key)
    high, low = iota_2x32(shape)
    return threefry2x32(k1, k2, high, low)


def random_words(key: Tracer, bit_width: int, shape: tuple[int, ...]) -> Tracer:
    """JAX's threefry_random_bits of `bit_width` (8, 16 or 32) bits, as int32 words holding the
    unsigned value's bits (the top 24 or 16 bits zero for 8 and 16)."""
    bits1, bits2 = hash_counters(key, shape)
    bits = lax.bitwise_xor(bits1, bits2)
    if bit_width == 32:
        return bits
    return lax.bitwise_and(bits, word(2**bit_width - 1))


def split_key(key: Tracer, shape: tuple[int, ...]) -> Tracer:
    """New keys of shape (*shape, 2), as JAX's threefry split (fold-like layout)."""
    bits1, bits2 = hash_counters(key, shape)
    return to_uint32(anp.stack([bits1, bits2], axis=len(shape)))


def fold_in_key(key: Tracer, data: Tracer) -> Tracer:
    """threefry2x32(key, [0, data]) for an int32 word `data`: JAX's fold_in."""
    k1, k2 = key_words(key)
    out1, out2 = threefry2x32(k1, k2, word(0), data)
    return to_uint32(anp.stack([out1, out2]))


def ult(a: Tracer, b: Tracer) -> Tracer:
    """a < b for int32 words read as unsigned (flip the sign bits, compare signed)."""
    sign = word(2**31)
    return anp.less(lax.bitwise_xor(a, sign), lax.bitwise_xor(b, sign))


def urem(a: Tracer, b: Tracer) -> Tracer:
    """a mod b for int32 words read as unsigned; a when b is 0 (as XLA). Hacker's Delight 9-3:
    divide a/2 by b signed (both nonnegative when b < 2**31), double, and correct once."""
    b_big = anp.less(b, 0)                                              # b >= 2**31
    safe_b = anp.where(anp.logical_or(b_big, anp.equal(b, 0)), word(1), b)
    half = lax.shift_right_logical(a, word(1))
    q = lax.shift_left(lax.div(half, safe_b), word(1))
    r = anp.subtract(a, anp.multiply(q, safe_b))
    r = anp.where(ult(r, safe_b), r, anp.subtract(r, safe_b))
    big = anp.where(ult(a, b), a, anp.subtract(a, b))                  # at most one b fits
    return anp.where(anp.equal(b, 0), a, anp.where(b_big, big, r))
