"""The cpu presets' data tiling, and the flags aotc.tools.flags_policy chooses, are speed
choices: a program IREE 3.13 cannot compile with them compiles without them (unless the user
gave them). The reproducer, data/cholesky16_grad_data_tiling.mlir.gz, is the gradient of a
16x16 Cholesky as aotc wrote it before its blocked kernels (552d510), bounds-legalized, without
locations; today's Cholesky gradient compiles either way and gives JAX's values."""

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
from aotc.frontend.core.errors import CompileError
from aotc.tools import flags_policy
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


# A reverse that IREE 3.13 cannot compile with TRANSFER_GATHER_FLAG (flags_policy gives the flag
# only to programs of row gathers, and none with a reverse).
REVERSE = """
func.func @main(%a: tensor<3x3x3x4xf32>) -> tensor<3x3x3x4xf32> {
  %r = stablehlo.reverse %a, dims = [0, 1] : tensor<3x3x3x4xf32>
  return %r : tensor<3x3x3x4xf32>
}
"""


def test_iree_still_fails_on_a_reverse_with_transfer_gathers():
    # When this starts passing compile, IREE is fixed and flags_policy's exclusion can go.
    with pytest.raises(CompilerToolError, match="unrealized_conversion_cast"):
        compile_str(REVERSE, input_type="stablehlo",
                    extra_args=[*flags("cpu"), flags_policy.TRANSFER_GATHER_FLAG])


def _rows_and_flip(xp):
    return lambda table, ids, w: (xp.take(table, ids, axis=0) * 2.0, xp.flip(w, (0, 1)))


ROWS_AND_FLIP = (np.arange(40, dtype=np.float32).reshape(10, 4), np.array([3, 1, 7], np.int32),
                 np.arange(108, dtype=np.float32).reshape(3, 3, 3, 4))


def test_a_policy_flag_that_fails_is_dropped(monkeypatch):
    """An embedding lookup and a flip in one program, as a strided convolution's gradient does
    (it failed to compile before flags_policy excluded reverses): with the policy made to
    choose TRANSFER_GATHER_FLAG anyway, the failed compile is followed by one without it."""
    seen, real = [], compile_module.compile_str
    choose = flags_policy.choose_flags

    def counting(text, **kwargs):
        seen.append(flags_policy.TRANSFER_GATHER_FLAG in kwargs["extra_args"])
        return real(text, **kwargs)

    monkeypatch.setattr(compile_module, "compile_str", counting)
    monkeypatch.setattr(flags_policy, "choose_flags", lambda *args: [
        *choose(*args), flags_policy.TRANSFER_GATHER_FLAG])
    monkeypatch.setenv("AOTC_CACHE", "0")
    got = aotc.jit(_rows_and_flip(anp))(*ROWS_AND_FLIP)
    assert seen == [True, False]
    for g, w in zip(got, _rows_and_flip(np)(*ROWS_AND_FLIP), strict=True):
        np.testing.assert_array_equal(g, w)


def test_a_users_flag_that_fails_is_kept():
    """The user's own flags are theirs: no second compile without them, IREE's error."""
    with pytest.raises(CompileError, match="unrealized_conversion_cast"):
        aotc.jit(_rows_and_flip(anp), flags=[flags_policy.TRANSFER_GATHER_FLAG])(*ROWS_AND_FLIP)
