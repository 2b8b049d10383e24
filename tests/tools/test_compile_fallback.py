"""The cpu presets' data tiling is a speed choice: a program IREE 3.13 cannot compile with it
compiles without it. The reproducer, data/cholesky16_grad_data_tiling.mlir.gz, is the gradient
of a 16x16 Cholesky as aotc wrote it before its blocked kernels (552d510), bounds-legalized,
without locations; today's Cholesky gradient compiles either way and gives JAX's values."""

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
from aotc.tools.compile import compile_stablehlo
from aotc.tools.targets import DATA_TILING, flags


def _logdet_half(np_):
    return lambda a: np_.sum(np_.log(np_.diagonal(np_.linalg.cholesky(a))))


REPRODUCER = os.path.join(os.path.dirname(__file__), "data",
                          "cholesky16_grad_data_tiling.mlir.gz")


@pytest.fixture(scope="module")
def reproducer():
    with gzip.open(REPRODUCER, "rt", encoding="utf-8") as f:
        return f.read()


def test_iree_still_fails_on_it_with_data_tiling(reproducer):
    # When this starts passing compile, IREE is fixed and the fallback can go.
    assert DATA_TILING in flags("cpu")
    with pytest.raises(CompilerToolError, match="expected 4 offset values"):
        compile_str(reproducer, input_type="stablehlo", extra_args=flags("cpu"))


def _spd(n=16):
    b = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    return b @ b.T + n * np.eye(n, dtype=np.float32)


def test_the_fallback_compiles_the_reproducer(reproducer):
    vmfb = compile_stablehlo(reproducer, "cpu", bounds=False, use_cache=False)
    module = aotc_runtime.load_bytes(vmfb, require_aotc=False)
    (got,) = module[module.functions[0]](_spd())
    np.testing.assert_allclose(got, jax.grad(_logdet_half(jnp))(_spd()), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("target", ["cpu", "x86_64"])
def test_the_preset_compiles_it_without_data_tiling(target):
    module = aotc_runtime.load_bytes(aotc.compile(aotc.grad(_logdet_half(anp)),
                                                  aotc.ShapeSpec((16, 16)), target=target))
    a = _spd()
    (name,) = module.functions
    got = getattr(module, name)(a)
    np.testing.assert_allclose(got, jax.grad(_logdet_half(jnp))(a), rtol=1e-4, atol=1e-6)


def test_cholesky_gradient_compiles_with_data_tiling_at_once(monkeypatch):
    """grad of log det / 2 through a 64x64 Cholesky (two 32-row triangular blocks): one IREE
    compile, with data tiling, and jax.grad's values. aotc's Cholesky once wrote
    tril(where(ok, L, NaN)) around an L that is lower-triangular already; in the gradient that
    nested three selects on which IREE 3.13's data tiling failed ("expected 4 offset values,
    got 2"), so every such program was compiled twice. It now writes where(ok, L, tril(NaN))."""
    seen, real = [], compile_module.compile_str

    def counting(text, **kwargs):
        seen.append(DATA_TILING in kwargs["extra_args"])
        return real(text, **kwargs)

    monkeypatch.setattr(compile_module, "compile_str", counting)
    monkeypatch.setenv("AOTC_CACHE", "0")  # a compile, not a hit on the session's cache
    # data tiling asked for: its products are too small for aotc to choose it (SMALL_PRODUCT)
    module = aotc_runtime.load_bytes(aotc.compile(aotc.grad(_logdet_half(anp)),
                                                  aotc.ShapeSpec((64, 64)), target="cpu",
                                                  flags=[DATA_TILING]))
    assert seen == [True]
    (name,) = module.functions
    a = _spd(64)
    np.testing.assert_allclose(getattr(module, name)(a), jax.grad(_logdet_half(jnp))(a),
                               rtol=1e-4, atol=1e-6)
