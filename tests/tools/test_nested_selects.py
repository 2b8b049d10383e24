"""aotc.tools.nested_selects: select(c, select(b, select(c, x, z), n), z) without the outer
select, so that IREE 3.13 compiles aotc's Cholesky gradients with the cpu presets' data tiling
the first time (before: a failed compile, then a second one without data tiling).

REPRODUCER, data/cholesky64_grad_nested_selects.mlir.gz, is the gradient of log det / 2 through
a 64x64 Cholesky as aotc traces it, cut to the ops IREE needs to fail (the first triangular
solve loop, the factor's `L @ .` and its flattening) and canonicalized. Oracles: the same
program compiled by IREE without data tiling and without the rewrite; NumPy for a small
program of the same shape; jax.grad for the Cholesky gradient."""

import gzip
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from iree.compiler import CompilerToolError, compile_str

import aotc
import aotc.numpy as anp
import aotc.tools.compile as compile_module
import aotc_runtime
from aotc.frontend.core.ir import ir, new_context
from aotc.tools import nested_selects
from aotc.tools.compile import compile_stablehlo
from aotc.tools.targets import DATA_TILING, flags

REPRODUCER = os.path.join(os.path.dirname(__file__), "data",
                          "cholesky64_grad_nested_selects.mlir.gz")
N = 64
T = f"tensor<{N}x{N}xf32>"
M = f"tensor<{N}x{N}xi1>"
V = f"tensor<{N}xf32>"


def _mask_literal(mask: np.ndarray) -> str:
    rows = ", ".join("[" + ", ".join("true" if v else "false" for v in row) + "]" for row in mask)
    return f"dense<[{rows}]> : {M}"


def reproducer(second_mask: np.ndarray | None = None) -> str:
    """A small program of the rewritten shape: L = tril(where(all(diag(tril(x)) > 0), tril(x),
    NaN)), returned as the left operand of a matmul and flattened; second_mask replaces the
    outer tril's mask (then nothing matches)."""
    outer = "%mask" if second_mask is None else "%mask2"
    mask2 = ("" if second_mask is None
             else f"%mask2 = stablehlo.constant {_mask_literal(second_mask)}")
    return f"""
func.func @main(%x: {T}, %v: {T}) -> ({T}, tensor<{N * N}xf32>) {{
  %nan = stablehlo.constant dense<0x7FC00000> : tensor<f32>
  %true = stablehlo.constant dense<true> : tensor<i1>
  %mask = stablehlo.constant {_mask_literal(np.tri(N, dtype=bool))}
  {mask2}
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %zeros = stablehlo.broadcast_in_dim %zero, dims = [] : (tensor<f32>) -> {T}
  %low = stablehlo.select %mask, %x, %zeros : {M}, {T}
  %flat = stablehlo.reshape %low : ({T}) -> tensor<{N * N}xf32>
  %diag = stablehlo.slice %flat [0:{N * N}:{N + 1}] : (tensor<{N * N}xf32>) -> tensor<{N}xf32>
  %zd = stablehlo.broadcast_in_dim %zero, dims = [] : (tensor<f32>) -> tensor<{N}xf32>
  %pos = stablehlo.compare GT, %diag, %zd, FLOAT : ({V}, {V}) -> tensor<{N}xi1>
  %ok = stablehlo.reduce(%pos init: %true) applies stablehlo.and across dimensions = [0]
      : (tensor<{N}xi1>, tensor<i1>) -> tensor<i1>
  %ok11 = stablehlo.reshape %ok : (tensor<i1>) -> tensor<1x1xi1>
  %okm = stablehlo.broadcast_in_dim %ok11, dims = [0, 1] : (tensor<1x1xi1>) -> {M}
  %nans = stablehlo.broadcast_in_dim %nan, dims = [] : (tensor<f32>) -> {T}
  %filled = stablehlo.select %okm, %low, %nans : {M}, {T}
  %l = stablehlo.select {outer}, %filled, %zeros : {M}, {T}
  %prod = stablehlo.dot_general %l, %v, contracting_dims = [1] x [0] : ({T}, {T}) -> {T}
  %lflat = stablehlo.reshape %l : ({T}) -> tensor<{N * N}xf32>
  return %prod, %lflat : {T}, tensor<{N * N}xf32>
}}"""


def numpy_reproducer(x, v, outer=None):
    outer = np.tri(N, dtype=bool) if outer is None else outer
    low = np.tril(x)
    filled = low if np.all(np.diagonal(low) > 0) else np.full_like(x, np.nan)
    lower = np.where(outer, filled, 0).astype(np.float32)
    return lower.astype(np.float64) @ v, lower.reshape(-1)


def _rewritten(text: str) -> tuple[int, str]:
    with new_context():
        module = ir.Module.parse(text)
        count = nested_selects.rewrite(module)
        return count, str(module)


@pytest.fixture(scope="module")
def stored() -> str:
    with gzip.open(REPRODUCER, "rt", encoding="utf-8") as f:
        return f.read()


@pytest.fixture
def compiles(monkeypatch):
    """Every IREE compile compile_stablehlo runs: ('ok' or 'failed', flags)."""
    seen = []
    real = compile_module.compile_str

    def counting(text, **kwargs):
        try:
            vmfb = real(text, **kwargs)
        except CompilerToolError:
            seen.append(("failed", kwargs["extra_args"]))
            raise
        seen.append(("ok", kwargs["extra_args"]))
        return vmfb

    monkeypatch.setattr(compile_module, "compile_str", counting)
    return seen


def test_iree_still_fails_on_the_reproducer_with_data_tiling(stored):
    # When this compiles, IREE is fixed and aotc.tools.nested_selects can go.
    with pytest.raises(CompilerToolError, match="expected 4 offset values, got 2"):
        compile_str(stored, input_type="stablehlo", extra_args=flags("cpu"))


def test_rewritten_reproducer_compiles_at_once_and_matches_iree_without_data_tiling(
        stored, compiles):
    count, _ = _rewritten(stored)
    assert count == 1
    vmfb = compile_stablehlo(stored, "cpu", bounds=False, use_cache=False)
    assert [status for status, _ in compiles] == ["ok"] and DATA_TILING in compiles[0][1]
    plain = compile_str(stored, input_type="stablehlo", extra_args=[
        f for f in flags("cpu") if f != DATA_TILING])
    a = np.random.default_rng(0).standard_normal((N, N)).astype(np.float32)
    a = a @ a.T + N * np.eye(N, dtype=np.float32)
    got, want = (aotc_runtime.load_bytes(v, require_aotc=False) for v in (vmfb, plain))
    for g, w in zip(got["fn_0_vjp_2"](a, np.float32(1)), want["fn_0_vjp_2"](a, np.float32(1)),
                    strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_the_rewrite_removes_the_outer_select_only_on_the_same_mask():
    count, text = _rewritten(reproducer())
    assert count == 1 and text.count("stablehlo.select") == 4  # 3 before, one replaced by two
    same = np.tri(N, dtype=bool)  # the same mask as its own constant: matched by value
    assert _rewritten(reproducer(same))[0] == 1
    other = np.tri(N, k=-1, dtype=bool)  # strictly lower: a different mask, left alone
    assert _rewritten(reproducer(other))[0] == 0


@pytest.mark.parametrize("positive", [True, False])
def test_small_program_compiles_at_once_and_matches_numpy(compiles, positive):
    vmfb = compile_stablehlo(reproducer(), "cpu", use_cache=False)
    assert [status for status, _ in compiles] == ["ok"] and DATA_TILING in compiles[0][1]
    module = aotc_runtime.load_bytes(vmfb, require_aotc=False)
    rng = np.random.default_rng(1)
    x, v = (rng.standard_normal((N, N)).astype(np.float32) for _ in range(2))
    np.fill_diagonal(x, np.abs(np.diagonal(x)) + 1 if positive else -1)  # ok / not ok
    got = module["main"](x, v)
    want = numpy_reproducer(x, v)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got[1], want[1])  # NaN where not ok, zeros above


def test_other_mask_is_compiled_as_written(compiles):
    """The rewrite leaves a different outer mask alone, which keeps its own semantics."""
    other = np.tri(N, k=-1, dtype=bool)
    module = aotc_runtime.load_bytes(compile_stablehlo(reproducer(other), "cpu",
                                                       use_cache=False), require_aotc=False)
    rng = np.random.default_rng(2)
    x, v = (rng.standard_normal((N, N)).astype(np.float32) for _ in range(2))
    np.fill_diagonal(x, 2.0)
    got = module["main"](x, v)
    want = numpy_reproducer(x, v, other)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got[1], want[1])


def test_cholesky_gradient_compiles_with_data_tiling_at_once(compiles):
    """grad of log det / 2 through a 64x64 Cholesky (two 32-row triangular blocks): one IREE
    compile, with data tiling; the values are jax.grad's."""
    def half_logdet(np_):
        return lambda a: np_.sum(np_.log(np_.diagonal(np_.linalg.cholesky(a))))

    module = aotc_runtime.load_bytes(aotc.compile(aotc.grad(half_logdet(anp)),
                                                  aotc.ShapeSpec((N, N)), target="cpu"))
    assert [status for status, _ in compiles] == ["ok"] and DATA_TILING in compiles[0][1]
    b = np.random.default_rng(0).standard_normal((N, N)).astype(np.float32)
    a = b @ b.T + N * np.eye(N, dtype=np.float32)
    (name,) = module.functions
    np.testing.assert_allclose(getattr(module, name)(a), jax.grad(half_logdet(jnp))(a),
                               rtol=1e-4, atol=1e-6)
