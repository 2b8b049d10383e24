"""Float-to-integer converts saturate on IREE as in XLA: NaN is 0, out-of-range values are the
integer type's min or max. IREE lowers the convert to LLVM's fptosi, which is poison for such
values; before the bounds pass clamped them, `x.astype(int32)` of inf was INT_MIN (JAX:
INT_MAX), -2.5 to uint8 was 254 (JAX: 0), and a NaN-derived gather index could read outside
the table (random.binomial(key, inf, p) segfaulted)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp

jax.config.update("jax_platforms", "cpu")

EDGES = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.5, -2.5, -0.9, 255.9, 256.0,
                  2147483520.0, -2147483648.0, 40000.0, -40000.0], np.float32)
TARGETS = ("int8", "uint8", "int16", "uint16", "int32", "uint32")


def _casts(m, x):
    out = [x.astype(t) for t in TARGETS]
    out += [x.astype(m.float16).astype(t) for t in ("int32", "uint8", "int16")]
    out += [x.astype(m.bfloat16).astype(t) for t in ("int32", "uint8", "int16")]
    return out


@pytest.fixture(scope="module")
def compiled_casts():
    return aotc.jit(lambda x: _casts(anp, x))


def test_compiled_casts_saturate_like_jax(compiled_casts):
    got = compiled_casts(EDGES)
    want = jax.jit(lambda x: _casts(jnp, x))(EDGES)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w), err_msg=f"cast {k}")


def test_interpreter_agrees():
    f = lambda x: _casts(anp, x)
    got = aotc.interpret(aotc.lower(f, EDGES).module, "main", EDGES)
    want = jax.jit(lambda x: _casts(jnp, x))(EDGES)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w), err_msg=f"cast {k}")


def test_nan_index_reads_inside_the_table():
    table = np.arange(1.0, 11.0, dtype=np.float32)
    probe = np.array([np.nan, np.inf, -np.inf, 3.7], np.float32)
    index = lambda m: (lambda t, i: t[m.floor(i).astype(m.int32)])
    got = aotc.jit(index(anp))(table, probe)
    np.testing.assert_array_equal(got, jax.jit(index(jnp))(table, probe))
