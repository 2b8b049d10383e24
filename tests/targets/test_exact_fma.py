"""Correctly rounded float32 fmas on vmvx and Vulkan (lavapipe), where IREE never fuses a
multiply-add: aotc rewrites the float64 multiply-adds that stand for fmas (xla_math.fma, uniform's
affine step) into an exact fma from float32 ops (aotc.frontend.ops.exact_fma) for those targets
only. Checked bit for bit against a numpy fma (float64 with rounding to odd, then to float32),
and XLA:CPU's log/log1p/erf/tan as aotc.random writes them out (xla_math) against jax.numpy, on
cpu (the control: LLVM contracts to fma instructions), vmvx and Vulkan; one program per target.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc_runtime
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.ops.exact_fma import emulate_fmas
from aotc.frontend.random import xla_math
from aotc.tools import compile as compile_module
from aotc.tools.targets import TARGETS

jax.config.update("jax_platforms", "cpu")
F32 = np.float32
N = 1 << 16


def true_fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 a * b + c rounded once: the product is exact in float64; the float64 sum is
    rounded to odd (TwoSum's error picks the odd neighbour), which a rounding to float32 then
    turns into the correctly rounded result (53 >= 24 + 2 bits)."""
    p, c64 = a.astype(np.float64) * b.astype(np.float64), c.astype(np.float64)
    s = p + c64
    bb = s - p
    error = (p - (s - bb)) + (c64 - bb)
    bits = s.view(np.int64)
    bump = np.where((error > 0) == (s > 0), bits + 1, bits - 1)
    return np.where((error != 0) & (bits % 2 == 0), bump, bits).view(np.float64).astype(F32)


def _triples() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform operands, products cancelling against c (the error term decides every bit), and
    operands over 16 decades."""
    rng = np.random.default_rng(13)
    third = N // 3
    a = rng.uniform(-2, 2, N).astype(F32)
    b = rng.uniform(-2, 2, N).astype(F32)
    c = rng.uniform(-2, 2, N).astype(F32)
    near = slice(third, 2 * third)
    c[near] = -(a[near] * b[near]) + rng.uniform(-1e-6, 1e-6, third).astype(F32)
    wide = slice(2 * third, N)
    for x in (a, b, c):
        x[wide] = (x[wide] * 10.0 ** rng.integers(-8, 8, N - 2 * third)).astype(F32)
    return a, b, c


A, B, C = _triples()
rng = np.random.default_rng(5)
U = {"log": rng.uniform(1e-7, 3, N).astype(F32),
     "log1p": rng.uniform(-0.999, 2, N).astype(F32),
     "erf": rng.uniform(-4.5, 4.5, N).astype(F32),
     "tan": rng.uniform(-1.5707963, 1.5707963, N).astype(F32)}
JNP = {"log": jnp.log, "log1p": jnp.log1p, "erf": jax.scipy.special.erf, "tan": jnp.tan}


def program(with_tan: bool):
    """fma of the triples and the xla_math functions of U (tan: vmvx cannot compile the
    fallback tan beyond 3pi/4)."""

    def run(a, b, c, log, log1p, erf, tan):
        out = {"fma": xla_math.fma(a, b, c), "log": xla_math.log(log),
               "log1p": xla_math.log1p(log1p), "erf": xla_math.erf(erf)}
        if with_tan:
            out["tan"] = xla_math.tan(tan)
        return out

    return run


@pytest.fixture(scope="module", params=["cpu", "vmvx", "vulkan"])
def results(request):
    target = request.param
    if target == "vulkan":
        request.getfixturevalue("vulkan")  # skips without a Vulkan driver, saying why
    fn = program(target != "vmvx")
    fn.__name__ = "program"
    vmfb = aotc.compile(fn, *(aotc.ShapeSpec((N,)) for _ in range(7)), target=target)
    module = aotc_runtime.load_bytes(vmfb, device=TARGETS[target].driver)
    got = module["program"](A, B, C, *(U[k] for k in ("log", "log1p", "erf", "tan")))
    return target, {k: np.asarray(v) for k, v in got.items()}


def _mismatches(got: np.ndarray, want: np.ndarray) -> int:
    return int(np.sum(got.view(np.int32) != want.view(np.int32)))


def test_fma_bit_exact(results):
    target, got = results
    want = true_fma(A, B, C)
    assert _mismatches(got["fma"], want) == 0, target
    # the triples tell an fma from a multiply and an add rounded twice
    assert _mismatches(A * B + C, want) > N // 4


def test_xla_math_bit_exact(results):
    target, got = results
    names = ["log", "log1p", "erf"] + (["tan"] if target != "vmvx" else [])
    assert sorted(got) == sorted(["fma", *names])
    bad = {name: _mismatches(got[name], np.asarray(jax.jit(JNP[name])(U[name])))
           for name in names}
    assert not any(bad.values()), (target, bad)


def _lowered_fma_text() -> str:
    return str(aotc.lower(lambda a, b, c: xla_math.fma(a, b, c), *(aotc.ShapeSpec((8,))
                                                                  for _ in range(3))))


def test_rewrite_only_for_unfused_backends():
    text = _lowered_fma_text()
    assert "f64" in text
    assert compile_module._exact_fmas_text(text, "cpu") == text
    assert compile_module._exact_fmas_text(text, "aarch64") == text
    for target in ("vmvx", "vulkan"):
        rewritten = compile_module._exact_fmas_text(text, target)
        assert "f64" not in rewritten, target


def test_other_float64_arithmetic_is_left_alone():
    """A float64 product with a second use, or a sum not converted back to float32, is not an
    fma: those programs keep their float64 ops (IREE demotes them as before)."""
    text = """
    func.func @f(%a: tensor<4xf32>, %b: tensor<4xf32>, %c: tensor<4xf32>)
        -> (tensor<4xf32>, tensor<4xf64>, tensor<4xf64>) {
      %a1 = stablehlo.convert %a : (tensor<4xf32>) -> tensor<4xf64>
      %b1 = stablehlo.convert %b : (tensor<4xf32>) -> tensor<4xf64>
      %c1 = stablehlo.convert %c : (tensor<4xf32>) -> tensor<4xf64>
      %m = stablehlo.multiply %a1, %b1 : tensor<4xf64>
      %s = stablehlo.add %m, %c1 : tensor<4xf64>
      %r = stablehlo.convert %s : (tensor<4xf64>) -> tensor<4xf32>
      %m2 = stablehlo.multiply %b1, %c1 : tensor<4xf64>
      %s2 = stablehlo.add %m2, %a1 : tensor<4xf64>
      return %r, %m, %s2 : tensor<4xf32>, tensor<4xf64>, tensor<4xf64>
    }"""
    with new_context():
        module = ir.Module.parse(text)
        assert emulate_fmas(module) == 0
        assert module.operation.verify()
