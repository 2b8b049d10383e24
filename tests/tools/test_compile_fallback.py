"""The cpu presets' data tiling is a speed choice: a program IREE 3.13 cannot compile with it
(the gradient of a 16x16 Cholesky) compiles without it, and gives JAX's values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from iree.compiler import CompilerToolError, compile_str

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.passes.bounds import legalize_bounds_text
from aotc.tools.targets import DATA_TILING, flags


def _logdet_half(np_):
    return lambda a: np_.sum(np_.log(np_.diagonal(np_.linalg.cholesky(a))))


@pytest.fixture(scope="module")
def grad_text():
    return aotc.lower(aotc.grad(_logdet_half(anp)), aotc.ShapeSpec((16, 16))).text


def test_iree_still_fails_on_it_with_data_tiling(grad_text):
    # When this starts passing compile, IREE is fixed and the fallback can go.
    assert DATA_TILING in flags("cpu")
    with pytest.raises(CompilerToolError, match="expected 4 offset values"):
        compile_str(legalize_bounds_text(grad_text), input_type="stablehlo",
                    extra_args=flags("cpu"))


@pytest.mark.parametrize("target", ["cpu", "x86_64"])
def test_the_preset_compiles_it_without_data_tiling(target):
    module = aotc_runtime.load_bytes(aotc.compile(aotc.grad(_logdet_half(anp)),
                                                  aotc.ShapeSpec((16, 16)), target=target))
    rng = np.random.default_rng(0)
    b = rng.standard_normal((16, 16)).astype(np.float32)
    a = b @ b.T + 16 * np.eye(16, dtype=np.float32)
    (name,) = module.functions
    got = getattr(module, name)(a)
    np.testing.assert_allclose(got, jax.grad(_logdet_half(jnp))(a), rtol=1e-4, atol=1e-6)
