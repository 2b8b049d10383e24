"""float32 programs on vmvx, IREE's portable interpreter backend, where IREE 3.13 folds a compare
of a value with itself as if NaN did not exist (`x != x` false for NaN), computes `x >= y` as
true when either is NaN, says is_finite(NaN), and cannot compile math.copysign (atan2, sign).
aotc rewrites those ops before IREE for vmvx only (aotc.frontend.ops.vmvx.legalize_for_vmvx);
each program group is compiled once and checked against numpy (JAX for sign's signed zero) on
NaN (both signs), +-inf and +-0.0. Denormals are left out: vmvx flushes them in compares, as
XLA and aotc's CPU targets do."""

import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.lax as alax
import aotc.numpy as anp
import aotc_runtime
from aotc.tools.compile import compile_stablehlo

NEG_NAN = np.array([0xFFC00000], np.uint32).view(np.float32)[0]  # NaN with the sign bit set
# as rows of 3 (nanmax_rows), no row has both zeros: which one max picks is not specified
X = np.array([np.nan, NEG_NAN, np.inf, -np.inf, 0.0, 1.5, -0.0, -2.5, 3.0, np.nan, -0.0, 2.0],
             np.float32)
Y = np.array([1.0, 2.0, np.inf, np.nan, -0.0, 1.5, 0.0, 4.0, -3.0, np.nan, -1.0, -0.0],
             np.float32)


def nan_checks(m, x, y):
    """NaN tests, self-compares, every compare direction and the functions built on them."""
    return {
        "isnan": m.isnan(x), "isfinite": m.isfinite(x), "isinf": m.isinf(x),
        "x!=x": x != x, "x==x": x == x, "x<=x": x <= x, "x>=x": x >= x, "x<x": x < x,
        "x>x": x > x, "eq": x == y, "ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y,
        "ge": x >= y, "ge0": x >= 0, "le0": x <= 0,
        "nan_to_num": m.nan_to_num(x), "where_nan": m.where(x != x, -1.0, x),
        "nanmax": m.nanmax(x), "nanmin": m.nanmin(x), "nansum": m.nansum(m.where(
            m.isinf(x), 0.0, x)), "nanmax_rows": m.nanmax(m.reshape(x, (4, 3)), axis=1),
        "nanargmax": m.nanargmax(x), "argmax": m.argmax(x), "max": m.max(x),
        "fmax": m.fmax(x, y), "fmin": m.fmin(x, y), "maximum": m.maximum(x, y),
        "heaviside": m.heaviside(x, 0.5), "isclose": m.isclose(x, y, equal_nan=True),
    }


def without_copysign(m, atan2, x, y):
    """The functions IREE expands with math.copysign (copysign's sign source has no NaN:
    anp.signbit does not read a NaN's sign, on any target)."""
    return {"atan2": atan2(x, y), "arctan2": m.arctan2(y, x), "sign": m.sign(x),
            "copysign": m.copysign(x, y), "angle": m.angle(x), "signbit": m.signbit(y)}


def _run_vmvx(fn):
    return {k: np.asarray(v) for k, v in aotc.jit(fn, target="vmvx")(X, Y).items()}


@pytest.fixture(scope="module")
def nan_results():
    return _run_vmvx(lambda x, y: nan_checks(anp, x, y))


@pytest.fixture(scope="module")
def copysign_results():
    return _run_vmvx(lambda x, y: without_copysign(anp, alax.atan2, x, y))


def _numpy(fn, *args):
    with np.errstate(all="ignore"):
        return {k: np.asarray(v) for k, v in fn(np, *args).items()}


def _assert_same(got: np.ndarray, want: np.ndarray, key: str, rtol: float = 0.0) -> None:
    """Equal values (NaN where NaN, zeros of the same sign), dtype kind and shape."""
    assert got.shape == want.shape and got.dtype.kind == want.dtype.kind, key
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=key)
        return
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True, err_msg=key)
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]), err_msg=key)


EXPECTED_NAN = _numpy(nan_checks, X, Y)


@pytest.mark.parametrize("key", sorted(EXPECTED_NAN))
def test_nan_checks_match_numpy(nan_results, key):
    _assert_same(nan_results[key], EXPECTED_NAN[key], key)


def _expected_without_copysign():
    expected = _numpy(lambda m, x, y: without_copysign(m, np.arctan2, x, y), X, Y)
    # StableHLO's sign (and JAX's) keeps the zero's sign where numpy's gives +0.0
    jax_sign = np.asarray(jnp.sign(jnp.asarray(X)))
    np.testing.assert_array_equal(jax_sign, np.where(X == 0, X, expected["sign"]))
    expected["sign"] = jax_sign
    return expected


EXPECTED_COPYSIGN = _expected_without_copysign()


@pytest.mark.parametrize("key", sorted(EXPECTED_COPYSIGN))
def test_atan2_sign_copysign_match_numpy(copysign_results, key):
    _assert_same(copysign_results[key], EXPECTED_COPYSIGN[key], key, rtol=2e-6)


def test_atan2_at_its_special_points():
    """atan2 on every pair of the special values (zeros, infinities, NaN): numpy's quadrants."""
    y, x = (a.ravel() for a in np.meshgrid(X, X, indexing="ij"))
    got = np.asarray(aotc.jit(alax.atan2, target="vmvx")(y, x))
    _assert_same(got, np.arctan2(y, x), "atan2", rtol=2e-6)


COMPARES = """
func.func @main(%x: tensor<12xf32>, %y: tensor<12xf32>) -> (tensor<12xi1>, tensor<12xi1>,
    tensor<12xi1>, tensor<12xi1>, tensor<12xi1>, tensor<12xi1>, tensor<12xi1>, tensor<12xi1>) {
  %0 = stablehlo.compare NE, %x, %x, FLOAT : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xi1>
  %1 = stablehlo.compare EQ, %x, %x : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xi1>
  %2 = stablehlo.compare GE, %x, %y, FLOAT : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xi1>
  %3 = stablehlo.compare LE, %x, %x, FLOAT : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xi1>
  %4 = stablehlo.is_finite %x : (tensor<12xf32>) -> tensor<12xi1>
  %5 = stablehlo.compare EQ, %x, %x, TOTALORDER : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xi1>
  %6 = stablehlo.compare LT, %x, %y, TOTALORDER : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xi1>
  %7 = stablehlo.compare GE, %x, %y, TOTALORDER : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xi1>
  return %0, %1, %2, %3, %4, %5, %6, %7 : tensor<12xi1>, tensor<12xi1>, tensor<12xi1>,
    tensor<12xi1>, tensor<12xi1>, tensor<12xi1>, tensor<12xi1>, tensor<12xi1>
}
"""


def _total_order_key(a: np.ndarray) -> np.ndarray:
    """StableHLO's TOTALORDER as integers: -NaN < -inf < ... < -0.0 < +0.0 < ... < inf < NaN."""
    bits = a.view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)


@pytest.mark.parametrize("target", ["vmvx", "cpu"])
def test_stablehlo_compares_as_jax_exports_them(target):
    """Raw StableHLO (the form JAX exports: `compare NE, %x, %x` is jnp.isnan; TOTALORDER sorts):
    FLOAT compares follow IEEE on both targets; TOTALORDER ones are left as they are."""
    module = aotc_runtime.load_bytes(compile_stablehlo(COMPARES, target), require_aotc=False)
    got = [np.asarray(v) for v in module["main"](X, Y)]
    kx, ky = _total_order_key(X), _total_order_key(Y)
    with np.errstate(invalid="ignore"):
        want = [X != X, X == X, X >= Y, X <= X, np.isfinite(X), kx == kx, kx < ky, kx >= ky]
    for i, (have, expected) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(have, expected, err_msg=f"result {i}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_float_arithmetic_on_vmvx_says_what_to_do(dtype):
    """IREE 3.13's vmvx lowers no 16-bit float arithmetic ("'vm.add.f32' op operand #0 must be
    32-bit float") and no float16 conversion: the error says so and names the fixes."""
    with pytest.raises(aotc.CompileError, match=r"vmvx \(IREE 3.13\) has no 16-bit float "
                       r"arithmetic.*give it float32 arrays.*compile for a CPU target"):
        aotc.compile(lambda x: x + x, aotc.ShapeSpec((3,), dtype), target="vmvx")


def test_bfloat16_converts_on_vmvx():
    fn = aotc.jit(lambda x: anp.astype(anp.astype(x, "bfloat16"), "float32") * 2, target="vmvx")
    x = np.array([1.0, 1.00390625, -3.0], np.float32)  # 1 + 2**-8 rounds to 1 in bfloat16
    np.testing.assert_array_equal(np.asarray(fn(x)), [2.0, 2.0, -6.0])
