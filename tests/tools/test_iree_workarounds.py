"""tools/iree_workarounds.py: each IREE 3.13 bug is pinned on its reproducer with plain
iree-compile (when a pin starts failing, IREE is fixed and the workaround can go), and the same
reproducer through compile_stablehlo gives JAX's (or numpy's) values."""

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import ml_dtypes
import numpy as np
import pytest
from iree.compiler import CompilerToolError, compile_str

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import CompileError
from aotc.tools import iree_workarounds
from aotc.tools.compile import UNSIGNED_SCALAR_HINT, compile_stablehlo
from aotc.tools.targets import flags
from aotc_runtime import load_bytes

F32 = np.float32


def _run(vmfb: bytes, *args) -> np.ndarray:
    (out,) = load_bytes(vmfb, require_aotc=False)["main"](*args)
    return np.asarray(out)


def _plain(text: str) -> bytes:
    """The cpu preset's IREE compile without aotc's workarounds."""
    return compile_str(text, input_type="stablehlo", extra_args=flags("cpu"))


def _aotc(text: str) -> bytes:
    return compile_stablehlo(text, use_cache=False)


# ---- stablehlo.power of a negative base ----

def _power_cases() -> tuple[np.ndarray, np.ndarray]:
    """Bases x exponents: signs, zeros, infinities, NaN, integer / odd / fractional powers."""
    bases = np.array([-2.0, -0.5, -0.0, 0.0, 0.5, 1.0, -1.0, 3.0, -np.inf, np.inf, np.nan],
                     F32)
    exponents = np.array([0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 2.5, 1e8, np.inf, -np.inf,
                          np.nan], F32)
    x, y = np.meshgrid(bases, exponents)
    return x.ravel(), y.ravel()


@pytest.fixture(scope="module")
def power_text():
    x, y = _power_cases()
    return jax.jit(lambda a, b: a ** b).lower(x, y).as_text()


def test_iree_still_returns_nan_for_a_negative_base(power_text):
    x, y = _power_cases()
    got = _run(_plain(power_text), x, y)
    finite_integer_power = (x < 0) & np.isfinite(x) & (y == np.round(y)) & np.isfinite(y)
    assert np.isnan(got[finite_integer_power]).all()  # C's pow: (-2) ** 2 = 4, (-0.5) ** 1 ...


def test_power_matches_c_pow(power_text):
    x, y = _power_cases()
    got = _run(_aotc(power_text), x, y)
    want = np.power(x, y)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{x=} {y=}")
    number = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(want[number]))
    np.testing.assert_allclose(got, want, rtol=2e-6)


@pytest.mark.slow  # 10-40 s: JAX's expn is three series loops
def test_series_special_functions_match_jax():
    # expn(n, x) for x < 1 takes (-x) ** (n - 1): NaN from IREE before the workaround
    x = np.linspace(0.2, 2.0, 8, dtype=F32)
    fn = jax.jit(lambda x: (jss.expn(2, x), jss.expn(3, x)))
    text = fn.lower(x).as_text()
    got = load_bytes(_aotc(text), require_aotc=False)["main"](x)
    for g, w in zip(got, fn(x)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5)


# ---- float32 -> bfloat16 -> float32 round trips ----

def _bf16_matmul(a, b, t):
    return (a @ b).astype(jnp.bfloat16).astype(jnp.float32) * t


def test_iree_still_drops_the_bf16_rounding_of_a_matmul():
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((4, 5)).astype(F32), rng.standard_normal((5, 8)).astype(F32),
            rng.standard_normal((4, 8)).astype(F32))
    text = jax.jit(_bf16_matmul).lower(*args).as_text()
    want = np.asarray(jax.jit(_bf16_matmul)(*args))
    assert np.abs(_run(_plain(text), *args) - want).max() > 1e-3
    np.testing.assert_array_equal(_run(_aotc(text), *args), want)


def _bf16_edge_values() -> np.ndarray:
    """Random floats of every exponent, exact ties (odd and even kept bit), the largest bf16
    and the values that round past it, infinities, NaN, zeros and float32 denormals."""
    rng = np.random.default_rng(1)
    random_bits = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 2**16, 2000, dtype=np.uint32) << 16) | np.uint32(0x8000)
    special = np.array([0x7F7F7FFF, 0x7F7F8000, 0x7F7FFFFF, 0xFF7F8000, 0x7F800000, 0xFF800000,
                        0x7FC00000, 0xFFC00001, 0x00000000, 0x80000000, 0x00000001, 0x00008000,
                        0x00018000, 0x007FFFFF, 0x807F8000, 0x3F808000, 0x3F818000], np.uint32)
    return np.concatenate([random_bits, ties, special]).view(F32)


def test_bf16_rounding_is_exact():
    x = _bf16_edge_values()
    text = jax.jit(lambda x: x.astype(jnp.bfloat16).astype(jnp.float32)).lower(x).as_text()
    assert "stablehlo.convert" not in iree_workarounds.rewrite(text)
    got = _run(_aotc(text), x)
    want = x.astype(ml_dtypes.bfloat16).astype(F32)
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


# ---- stream partitioning cycle on JAX's series while loops ----

@pytest.fixture(scope="module")
def exp1_text():
    return jax.jit(jss.exp1).lower(np.ones(4, F32)).as_text()


def test_iree_still_fails_to_partition_exp1(exp1_text):
    with pytest.raises(CompilerToolError, match=iree_workarounds.CIRCULAR_DEPENDENCY):
        _plain(iree_workarounds.rewrite(exp1_text))


@pytest.mark.slow  # two IREE compiles of three series loops (the first one fails)
def test_exp1_compiles_and_matches_jax(exp1_text):
    x = np.array([0.3, 0.7, 1.5, 2.9], F32)
    np.testing.assert_allclose(_run(_aotc(exp1_text), x), jss.exp1(x), rtol=2e-6)


def test_text_without_powers_or_bf16_is_returned_unparsed():
    text = "not even MLIR"
    assert iree_workarounds.rewrite(text) is text


# ---- unsigned scalar arithmetic on a loop counter (not worked around: the error says what to do)

def _counter_times_three(i, acc):
    return acc + anp.astype(i, np.uint32) * np.uint32(3)


def _counter_times_three_in_int32(i, acc):
    return acc + i * 3


def test_iree_still_fails_on_unsigned_arithmetic_of_a_loop_counter():
    loop = lambda x: aotc.lax.fori_loop(0, 4, _counter_times_three, x)
    text = aotc.jit(loop).lower(np.uint32(5)).text_with_locations()
    with pytest.raises(CompilerToolError, match="must be signless"):
        _plain(text)


def test_unsigned_loop_counter_error_names_the_fix():
    loop = lambda x: aotc.lax.fori_loop(0, 4, _counter_times_three, x)
    with pytest.raises(CompileError) as caught:
        aotc.jit(loop)(np.uint32(5))
    message = str(caught.value)
    assert "test_iree_workarounds.py" in message  # the user's line
    assert UNSIGNED_SCALAR_HINT.strip() in message
    fixed = lambda x: anp.astype(
        aotc.lax.fori_loop(0, 4, _counter_times_three_in_int32, anp.astype(x, np.int32)),
        np.uint32)
    assert aotc.jit(fixed)(np.uint32(5)) == np.uint32(5 + 3 * (0 + 1 + 2 + 3))
