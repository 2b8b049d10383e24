"""The blocked code paths of aotc.frontend.linalg.kernels (LU with the one-reduction pivot search,
Cholesky with inverted diagonal blocks, triangular solves with inverted diagonal blocks) against
float64 NumPy/SciPy, compiled by IREE once (one program holding every case), plus the traced
structure that makes them fast (no gather in the LU loop, two matmuls per triangular block)."""

import numpy as np
import pytest
import scipy.linalg as sl

import aotc
import aotc.numpy as anp
import aotc.scipy.linalg as asl
from aotc.frontend.linalg import jacobi, kernels

F64 = np.float64
# blocked, padded, and more blocks than kernels.block_loop unrolls: a loop
LU_N = kernels.LU_UNROLLED + 4
CHOL_N = kernels.CHOL_UNROLL * kernels.CHOL_BLOCK + 5
TRI_N = kernels.TRI_BLOCK + 9


def _rel(x, y) -> float:
    x, y = np.asarray(x, F64), np.asarray(y, F64)
    assert x.shape == y.shape, (x.shape, y.shape)
    return float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-30))


def _lu_inputs():
    """A batch of matrices whose pivots test LAPACK's choice: random, small integers (ties
    between equal magnitudes), all ones (every pivot a tie), and a row permutation of I."""
    rng = np.random.default_rng(0)
    n = LU_N
    return np.stack([rng.standard_normal((n, n)), rng.integers(-2, 3, (n, n)), np.ones((n, n)),
                     np.eye(n)[rng.permutation(n)]]).astype(np.float32)


def _tri_inputs():
    rng = np.random.default_rng(1)
    n = TRI_N
    t = (rng.standard_normal((n, n)) / np.sqrt(n) + 2 * np.eye(n)).astype(np.float32)
    return t, rng.standard_normal((n, 3)).astype(np.float32)


def _spd():
    rng = np.random.default_rng(2)
    g = rng.standard_normal((2, CHOL_N, CHOL_N))
    return (g @ np.swapaxes(g, -1, -2) / CHOL_N + np.eye(CHOL_N)).astype(np.float32)


def _program(lu_in, t, b, spd):
    lu, piv = asl.lu_factor(lu_in)
    return {"lu": lu, "piv": piv,
            "lower": asl.solve_triangular(t, b, lower=True),
            "upper": asl.solve_triangular(t, b, lower=False),
            "unit": asl.solve_triangular(t, b, lower=True, unit_diagonal=True),
            "trans": asl.solve_triangular(t, b, lower=True, trans=1),
            "solve": anp.linalg.solve(lu_in[0], b[:LU_N]),
            "cholesky": anp.linalg.cholesky(spd)}


@pytest.fixture(scope="module")
def results():
    args = (_lu_inputs(), *_tri_inputs(), _spd())
    return args, aotc.jit(_program)(*args)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # the all-ones matrix
def test_blocked_lu_pivots_are_lapacks_and_factors_match(results):
    (lu_in, *_), out = results
    for k in range(lu_in.shape[0]):
        lu64, piv64 = sl.lu_factor(lu_in[k].astype(F64))
        np.testing.assert_array_equal(out["piv"][k], piv64, err_msg=f"matrix {k}")
        assert _rel(out["lu"][k], lu64) < 1e-5, k


def test_blocked_solve_matches_numpy(results):
    (lu_in, _, b, _), out = results
    assert _rel(out["solve"], np.linalg.solve(lu_in[0].astype(F64), b[:LU_N].astype(F64))) < 1e-4


def test_blocked_triangular_solves_match_scipy(results):
    (_, t, b, _), out = results
    t64, b64 = t.astype(F64), b.astype(F64)
    cases = {"lower": dict(lower=True), "upper": dict(lower=False),
             "unit": dict(lower=True, unit_diagonal=True), "trans": dict(lower=True, trans=1)}
    for name, kw in cases.items():
        assert _rel(out[name], sl.solve_triangular(t64, b64, **kw)) < 1e-5, name


def test_blocked_cholesky_matches_numpy(results):
    (*_, spd), out = results
    assert _rel(out["cholesky"], np.linalg.cholesky(spd.astype(F64))) < 1e-5


def test_blocked_lu_searches_each_pivot_with_one_reduction():
    """One variadic reduction per column (pivot position, row and the row's entries), plus one
    after the loop for the row order; the previous version made five per column."""
    text = str(aotc.lower(lambda a: kernels.lu(a)[0], np.eye(LU_N, dtype=np.float32)))
    assert text.count("stablehlo.while") == 1
    assert text.count("stablehlo.reduce(") == kernels.LU_BLOCK + 1


@pytest.mark.parametrize("kernel, n, blocked", [
    (lambda a: kernels.lu(a)[0], kernels.LU_UNROLLED, False),
    (kernels.cholesky, kernels.CHOL_UNROLL * kernels.CHOL_BLOCK, True),
    (lambda a: kernels.qr(a)[1], kernels.QR_UNROLL * kernels.BLOCK, True)])
def test_a_few_blocks_are_unrolled(kernel, n, blocked):
    """Up to CHOL_UNROLL / QR_UNROLL blocks run as straight-line code (no loop for IREE to
    drive from the host); LU up to LU_UNROLLED columns is one unblocked panel: no matmuls."""
    text = str(aotc.lower(kernel, np.eye(n, dtype=np.float32)))
    assert "stablehlo.while" not in text
    assert ("stablehlo.dot_general" in text) == blocked


def test_blocked_triangular_solve_is_n_over_block_iterations_of_two_matmuls():
    n = 4 * kernels.TRI_BLOCK
    spec = (np.eye(n, dtype=np.float32), np.ones((n, 2), np.float32))
    text = str(aotc.lower(lambda t, b: kernels.triangular(t, b, True, False), *spec))
    assert text.count("stablehlo.while") <= 1
    loop = text[text.index("stablehlo.while"):] if "stablehlo.while" in text else text
    # unrolled or not, each block row is two matmuls (a_i x and D_i^-1 rhs), nothing sequential
    assert loop.count("stablehlo.dot_general") in (2, 4, 8)


@pytest.fixture(scope="module")
def eigh_results():
    """eigh on the two-sided one-op Jacobi step (matrices up to jacobi.GATHER_MAX): an odd size
    (padded), and a batch at GATHER_MAX itself."""
    rng = np.random.default_rng(3)
    g = rng.standard_normal((17, 17))
    odd = ((g + g.T) / 2).astype(np.float32)
    g = rng.standard_normal((2, jacobi.GATHER_MAX, jacobi.GATHER_MAX))
    batch = ((g + np.swapaxes(g, -1, -2)) / 2).astype(np.float32)
    # jacobi.eigh_jacobi itself: eigh takes the tridiagonal path at these sizes
    return (odd, batch), aotc.jit(lambda x, y: (jacobi.eigh_jacobi(x), jacobi.eigh_jacobi(y)))(
        odd, batch)


def test_small_eigh_matches_lapack(eigh_results):
    inputs, outputs = eigh_results
    for a, (w, v) in zip(inputs, outputs):
        a64, w, v = a.astype(F64), np.asarray(w, F64), np.asarray(v, F64)
        assert _rel(w, np.linalg.eigvalsh(a64)) < 1e-5
        n = a.shape[-1]
        assert np.max(np.abs(np.swapaxes(v, -1, -2) @ v - np.eye(n))) < 1e-5
        residual = a64 @ v - v * w[..., None, :]
        assert np.max(np.abs(residual)) / np.max(np.abs(a64)) < 1e-5
