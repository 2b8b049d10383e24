"""aotc.numpy.linalg's products (matrix_power, multi_dot, tensorsolve, tensorinv and the
array-API functions) against jax.numpy.linalg, through the interpreter and one IREE program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import interpret_fn

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.linalg.products import _chain_order

jax.config.update("jax_platforms", "cpu")
RNG = np.random.default_rng(3)


def _data():
    square = (RNG.standard_normal((2, 4, 4)) + 3 * np.eye(4)).astype(np.float32)
    chain = [RNG.standard_normal(s).astype(np.float32) for s in ((5,), (5, 2), (2, 7), (7, 3),
                                                                   (3,))]
    tensor = (RNG.standard_normal((2, 3, 6)) + np.eye(6).reshape(2, 3, 6)).astype(np.float32)
    rhs = RNG.standard_normal((2, 3)).astype(np.float32)
    tinv = (RNG.standard_normal((2, 3, 3, 2)) + 3 * np.eye(6).reshape(2, 3, 3, 2)).astype(
        np.float32)
    vectors = RNG.standard_normal((2, 3, 3)).astype(np.float32)
    return square, chain, tensor, rhs, tinv, vectors


def _table(m, square, chain, tensor, rhs, tinv, vectors):
    """One result per function; m is aotc.numpy or jax.numpy."""
    la = m.linalg
    return {
        "matrix_power 0": la.matrix_power(square, 0),
        "matrix_power 1": la.matrix_power(square, 1),
        "matrix_power 5": la.matrix_power(square, 5),
        "matrix_power -2": la.matrix_power(square, -2),
        "multi_dot": la.multi_dot(chain),
        "multi_dot matrices": la.multi_dot([chain[1], chain[2], chain[3]]),
        "tensorsolve": la.tensorsolve(tensor, rhs),
        "tensorsolve axes": la.tensorsolve(m.moveaxis(tensor, 2, 0), rhs, axes=(0,)),
        "tensorinv": la.tensorinv(tinv, ind=2),
        "cross": la.cross(vectors[0], vectors[1]),
        "outer": la.outer(vectors[0, 0], vectors[1, 1]),
        "matmul": la.matmul(square, square),
        "vecdot": la.vecdot(vectors[0], vectors[1], axis=0),
        "matrix_transpose": la.matrix_transpose(tensor),
        "tensordot": la.tensordot(tensor, tinv.reshape(6, 6), axes=1),
        "trace": la.trace(square, offset=1),
        "diagonal": la.diagonal(square, offset=-1),
    }


def _compare(got, want):
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=2e-5,
                                   atol=2e-5, err_msg=key)


def test_products_match_jax_interpreted():
    data = _data()
    want = _table(jnp, *data)
    _compare(interpret_fn(lambda *d: _table(anp, *d), *data), want)


@pytest.mark.slow
def test_products_match_jax_iree():
    data = _data()
    _compare(aotc.jit(lambda *d: _table(anp, *d))(*data), _table(jnp, *data))


def test_multi_dot_order_is_numpys():
    # numpy's textbook example: (A B) C costs 10*100*5 + 10*5*50, A (B C) 100*5*50 + 10*100*50.
    split = _chain_order([10, 100, 5, 50])
    assert split[0][2] == 1  # (A B) C
    split = _chain_order([30, 35, 15, 5, 10, 20, 25])  # CLRS: ((A1 (A2 A3)) ((A4 A5) A6))
    assert split[0][5] == 2 and split[0][2] == 0 and split[3][5] == 4


def test_product_errors_name_the_users_line():
    cases = [
        (lambda: anp.linalg.matrix_power(np.ones((2, 3), np.float32), 2), "square"),
        (lambda: anp.linalg.matrix_power(np.eye(2, dtype=np.float32), 1.5), "Python int"),
        (lambda: anp.linalg.multi_dot([np.ones((2, 3), np.float32)]), "at least two"),
        (lambda: anp.linalg.multi_dot([np.ones((2, 3), np.float32)] * 2), "do not chain"),
        (lambda: anp.linalg.cross(np.ones(2, np.float32), np.ones(2, np.float32)), "3-vectors"),
        (lambda: anp.linalg.outer(np.ones((2, 2), np.float32), np.ones(2, np.float32)), "1-D"),
        (lambda: anp.linalg.tensorinv(np.ones((2, 3), np.float32), ind=1), "same size"),
        (lambda: anp.linalg.tensorsolve(np.ones((2, 3), np.float32), np.ones(3, np.float32)),
         "tensorsolve"),
        (lambda: anp.linalg.trace(np.ones(3, np.float32)), "at least 2 dims"),
    ]
    for call, message in cases:
        with pytest.raises(TracingError, match=rf"test_linalg_products.py:\d+: .*{message}"):
            call()
