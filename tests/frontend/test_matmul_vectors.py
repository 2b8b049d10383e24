"""matmul with a 1-D operand contracts the vector directly, and with dynamic dims it compiles
(IREE 3.13 fails on a dot_general of a dynamic-dim matrix and a vector)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.tools.export import compile_function

CASES = [  # (spec of x, spec of y, run-time shape of x, of y)
    ((None, 4), (4,), (5, 4), (4,)),
    ((4,), (4, None), (4,), (4, 6)),
    ((2, None, 4), (4,), (2, 3, 4), (4,)),
    ((4,), (None, 4, 6), (4,), (3, 4, 6)),
    ((4,), (4,), (4,), (4,)),
]


def _loss(np_):
    return lambda x, y: np_.sum(np_.sin(np_.matmul(x, y)))


@pytest.mark.parametrize("sx, sy, shape_x, shape_y", CASES)
def test_vector_matmul_with_dynamic_dims_compiles_and_matches_jax(sx, sy, shape_x, shape_y):
    rng = np.random.default_rng(len(shape_x) + 3 * len(shape_y))
    x = rng.standard_normal(shape_x).astype(np.float32)
    y = rng.standard_normal(shape_y).astype(np.float32)
    both = aotc.value_and_grad(_loss(anp), argnums=(0, 1))
    module = aotc_runtime.load_bytes(compile_function(
        lambda x, y: (anp.matmul(x, y), both(x, y)), aotc.ShapeSpec(sx), aotc.ShapeSpec(sy)))
    product, (value, (gx, gy)) = module.main(x, y)
    np.testing.assert_allclose(product, x @ y, rtol=1e-5, atol=1e-5)
    value_j, (gx_j, gy_j) = jax.value_and_grad(_loss(jnp), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(value, value_j, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx, gx_j, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gy, gy_j, rtol=1e-4, atol=1e-5)


def test_misaligned_vector_matmul_names_the_shapes():
    with pytest.raises(aotc.TracingError, match=r"do not align \(4 != 3\)"):
        aotc.lower(anp.matmul, aotc.ShapeSpec((None, 4)), aotc.ShapeSpec((3,)))
