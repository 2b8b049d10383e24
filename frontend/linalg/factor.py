"""Triangular factorizations and solves: cholesky, solve_triangular, lu, qr, solve, inv, det.

Every primal is a blocked loop over the whole batch `(..., n, n)` in plain StableHLO (dynamic
slices, dot_general, selects; see kernels.py), so it compiles for every IREE target. Each
factorization is a custom_jvp with JAX's derivative
formula (jax/_src/lax/linalg.py and jax/_src/numpy/linalg.py), so jvp and grad give JAX's
numbers; reverse mode transposes the rules' (linear) triangular solves.
"""

import functools
from typing import NamedTuple

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.linalg import kernels
from aotc.frontend.numpy.core import shape_text
from aotc.frontend.trace.tracer import to_tracer
from aotc.frontend.transforms.custom import custom_jvp

# jax.numpy.linalg's names; solve_triangular, lu_factor and lu_solve reach aotc.scipy.linalg
# through scipy_api.py.
__all__ = ["cholesky", "solve", "inv", "det", "slogdet", "qr"]


class SlogdetResult(NamedTuple):
    """slogdet's result, as jax.numpy.linalg's: sign and the log of the absolute determinant."""

    sign: object
    logabsdet: object


class QRResult(NamedTuple):
    """qr's result, as jax.numpy.linalg's: Q (orthonormal columns) and R (upper triangular)."""

    Q: object
    R: object


# ---- argument checks ---------------------------------------------------------------------------


def float_matrix(a, what: str, square: bool = True):
    """a as a float tracer of shape (..., m, n) (square: m == n); a TracingError at the user's
    line otherwise."""
    a = to_tracer(a)
    if a.ndim < 2 or (square and a.shape[-1] != a.shape[-2]):
        kind = "square matrices (..., n, n)" if square else "matrices (..., m, n)"
        raise TracingError(f"{caller_site()}: {what} takes {kind}; got an array of shape "
                           f"{shape_text(a.shape)}")
    if None in a.shape[-2:]:
        raise TracingError(f"{caller_site()}: {what} needs static matrix dims; got "
                           f"{shape_text(a.shape)}")
    if not dtypes.is_float(a.dtype):
        a = a.astype(anp.float32)
    return a


def _rhs(a, b, what: str):
    """(a, b as (..., n, k) broadcast against a's batch, whether b was a vector)."""
    b = to_tracer(b).astype(a.dtype)
    n = a.shape[-1]
    vector = b.ndim == 1
    if vector:
        b = b[:, None]
    if b.ndim < 2 or b.shape[-2] != n:
        raise TracingError(f"{caller_site()}: {what}: b must have shape (n,) or (..., n, k) "
                           f"with n = {n} (a is {shape_text(a.shape)}); got "
                           f"{shape_text(to_tracer(b).shape if not vector else (b.shape[0],))}")
    batch = anp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return (anp.broadcast_to(a, (*batch, n, n)), anp.broadcast_to(b, (*batch, n, b.shape[-1])),
            vector)


# ---- small helpers on the last two axes ---------------------------------------------------------


_mT, _eye_like = kernels.mT, kernels.eye_like


def _diagonal(x):
    return anp.diagonal(x, axis1=-2, axis2=-1)


def _trace(x):
    return anp.sum(_diagonal(x), axis=-1)


# ---- cholesky ----------------------------------------------------------------------------------


@custom_jvp
def _cholesky_core(a):
    low = kernels.cholesky(a)
    ok = anp.all(_diagonal(low) > 0, axis=-1)  # LAPACK's info == 0; JAX fills NaNs otherwise
    # `low` is lower-triangular already: only the NaN fill needs the triangle. (tril around the
    # where nested three selects, on which IREE 3.13's data tiling failed in the gradient.)
    nans = anp.tril(anp.full(low.shape[-2:], np.nan, low.dtype))
    return anp.where(ok[..., None, None], low, nans)


@_cholesky_core.defjvp
def _cholesky_jvp(primals, tangents):
    """JAX's cholesky_jvp_rule: L_dot = L phi(L^-1 A_dot L^-T), phi = lower triangle with a
    halved diagonal (Murray, arXiv:1602.07527)."""
    (a,), (a_dot,) = primals, tangents
    low = _cholesky_core(a)
    tmp = _mT(_triangular(low, _mT(a_dot), lower=True))  # A_dot L^-T
    inner = _triangular(low, tmp, lower=True)
    phi = anp.tril(inner) / (1.0 + anp.eye(a.shape[-1], dtype=a.dtype))
    return low, anp.matmul(low, phi)


def cholesky(a, *, upper: bool = False, symmetrize_input: bool = True):
    """Cholesky factor of a symmetric positive-definite matrix, as jax.numpy.linalg.cholesky:
    lower L with a = L @ L.T (upper=True: U = L.T). Batched over leading dims; only the
    (symmetrized) lower triangle is read.

    A matrix that is not positive definite (Cholesky breaks down) gives NaN in the whole
    lower triangle (zeros above), like JAX. In
    float32, matrices with condition number beyond ~1e7 (Hilbert n >= 8) may break down.

    Example:
        >>> L = anp.linalg.cholesky(np.array([[4.0, 2.0], [2.0, 3.0]], np.float32))
    """
    a = float_matrix(a, "cholesky")
    if symmetrize_input:
        a = (a + _mT(a)) / 2.0
    low = _cholesky_core(a)
    return _mT(low) if upper else low


# ---- triangular solves -------------------------------------------------------------------------


@functools.cache
def _triangular_core(lower: bool, unit: bool):
    """x = a^-1 b reading only a's lower (or upper) triangle; JAX's triangular_solve JVP:
    x_dot = a^-1 (b_dot - tri(a_dot) x)."""

    def solve_tri(a, b):
        return kernels.triangular(a, b, lower, unit)

    core = custom_jvp(solve_tri)

    def jvp(primals, tangents):
        (a, b), (a_dot, b_dot) = primals, tangents
        x = core(a, b)
        shift = 1 if unit else 0
        a_dot = anp.tril(a_dot, -shift) if lower else anp.triu(a_dot, shift)
        return x, core(a, b_dot - anp.matmul(a_dot, x))

    core.defjvp(jvp)
    return core


def _triangular(a, b, lower: bool, unit: bool = False, transpose: bool = False):
    """a^-1 b (transpose: a^-T b) for a triangular a (..., n, n) and b (..., n, k)."""
    if transpose:
        a, lower = _mT(a), not lower
    return _triangular_core(lower, unit)(a, b)


def solve_triangular(a, b, *, lower: bool = False, transpose: bool = False,
                     unit_diagonal: bool = False):
    """x with a @ x = b (transpose: a.T @ x = b) for a triangular a, reading only its lower
    (lower=True) or upper triangle; b is (n,) or (..., n, k). See aotc.scipy.linalg for
    scipy's signature (trans=0/1/2).

    A zero on the diagonal gives inf/NaN, as LAPACK's trsm.

    Example:
        >>> x = solve_triangular(L, b, lower=True)
    """
    a = float_matrix(a, "solve_triangular")
    a, b, vector = _rhs(a, b, "solve_triangular")
    x = _triangular(a, b, lower, unit_diagonal, transpose)
    return x[..., 0] if vector else x


# ---- LU with partial pivoting ------------------------------------------------------------------


def _lu_factors(lu):
    """(l (..., m, m) unit lower, u (..., n, n) upper) of a packed lu, padded as JAX's rule."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    low = anp.tril(lu[..., :, :k], -1)
    low = anp.pad(low, [(0, 0)] * (lu.ndim - 1) + [(0, m - k)]) + _eye_like(lu, m)
    up = anp.pad(anp.triu(lu[..., :k, :]), [(0, 0)] * (lu.ndim - 2) + [(0, n - k), (0, 0)])
    extra = anp.pad(anp.eye(n - k, dtype=lu.dtype), [(k, 0), (k, 0)])
    return low, up + extra


def _permute_rows(x, perm):
    """x[..., perm, :] with a batched permutation (one flat gather when the batch dims agree:
    fewer IREE dispatches than a row gather)."""
    if tuple(perm.shape[:-1]) == tuple(x.shape[:-2]):
        return kernels.permute_rows(x, perm.astype(anp.int32))
    return anp.take_along_axis(x, perm[..., :, None], axis=-2)


@custom_jvp
def _lu_core(a):
    return kernels.lu(a)


@_lu_core.defjvp
def _lu_jvp(primals, tangents):
    """JAX's lu_jvp_rule: with x = P^T a_dot, lau = L^-1 x U^-1: L_dot = L tril(lau, -1),
    U_dot = triu(lau) U."""
    (a,), (a_dot,) = primals, tangents
    lu, pivots, perm = _lu_core(a)
    low, up = _lu_factors(lu)
    x = _permute_rows(a_dot, perm)
    la = _triangular(low, x, lower=True, unit=True)
    lau = _mT(_triangular(up, _mT(la), lower=False, transpose=True))  # la U^-1
    lu_dot = anp.matmul(low, anp.tril(lau, -1)) + anp.matmul(anp.triu(lau), up)
    return (lu, pivots, perm), (lu_dot, anp.zeros_like(pivots), anp.zeros_like(perm))


def lu_decompose(a, what: str = "lu"):
    """(lu, pivots, permutation) of a (..., m, n), as jax.lax.linalg.lu: a[perm] = L @ U with L
    unit lower (below lu's diagonal) and U upper; pivots[i] is the row swapped with row i."""
    return _lu_core(float_matrix(a, what, square=False))


def lu_factor(a):
    """(lu, piv) of a square matrix, as jax.scipy.linalg.lu_factor: partial pivoting, piv[i] the
    row swapped with row i (0-based). A singular matrix gives a zero on U's diagonal.

    Example:
        >>> lu, piv = lu_factor(a); x = lu_solve((lu, piv), b)
    """
    lu, pivots, _ = _lu_core(float_matrix(a, "lu_factor"))
    return lu, pivots


def _pivots_to_permutation(pivots, m):
    batch = pivots.shape[:-1]

    def step(i, perm):
        p = kernels.entry(pivots, i)
        rows = anp.arange(m)
        swap = (rows == i).astype(perm.dtype) - (rows == p[..., None]).astype(perm.dtype)
        perm_p = anp.sum(anp.where(rows == p[..., None], perm, 0), axis=-1)
        return perm + swap * (perm_p - kernels.entry(perm, i))[..., None]

    init = anp.broadcast_to(anp.arange(m, dtype=anp.int32), (*batch, m))
    return lax.fori_loop(0, pivots.shape[-1], step, init)


def lu_solve(lu_and_piv, b, trans: int = 0):
    """x with a @ x = b (trans=1: a.T @ x = b) from lu_factor's (lu, piv), as
    jax.scipy.linalg.lu_solve; b is (n,) or (..., n, k).

    Example:
        >>> x = lu_solve(lu_factor(a), b)
    """
    lu, pivots = lu_and_piv
    lu = float_matrix(lu, "lu_solve")
    pivots = to_tracer(pivots).astype(anp.int32)
    perm = _pivots_to_permutation(pivots, lu.shape[-1])
    return _lu_solve_perm(lu, perm, b, trans, "lu_solve")


def _lu_solve_perm(lu, perm, b, trans, what):
    if trans not in (0, 1, 2):
        raise TracingError(f"{caller_site()}: {what}: trans must be 0, 1 or 2; got {trans!r}")
    lu_b, b, vector = _rhs(lu, b, what)
    perm = anp.broadcast_to(perm, (*lu_b.shape[:-2], lu.shape[-1]))
    if trans == 0:
        x = _triangular(lu_b, _permute_rows(b, perm), lower=True, unit=True)
        x = _triangular(lu_b, x, lower=False)
    else:
        x = _triangular(lu_b, b, lower=False, transpose=True)
        x = _triangular(lu_b, x, lower=True, unit=True, transpose=True)
        inverse = anp.argsort(perm, axis=-1).astype(anp.int32)
        x = _permute_rows(x, inverse)
    return x[..., 0] if vector else x


# ---- solve, inv --------------------------------------------------------------------------------


def _solve_lu(a, b):
    lu, _, perm = kernels.lu(a)
    x = kernels.triangular(lu, _permute_rows(b, perm), lower=True, unit=True)
    return lu, perm, kernels.triangular(lu, x, lower=False, unit=False)


@custom_jvp
def _solve_core(a, b):
    return _solve_lu(a, b)[2]


@_solve_core.defjvp
def _solve_jvp(primals, tangents):
    """x_dot = a^-1 (b_dot - a_dot x), JAX's custom_linear_solve derivative, with one LU."""
    (a, b), (a_dot, b_dot) = primals, tangents
    lu, perm, x = _solve_lu(a, b)
    rhs = _permute_rows(b_dot - anp.matmul(a_dot, x), perm)
    x_dot = _triangular(lu, _triangular(lu, rhs, lower=True, unit=True), lower=False)
    return x, x_dot


def solve(a, b):
    """x with a @ x = b, as jax.numpy.linalg.solve: a (..., n, n), b (n,) or (..., n, k)
    (broadcast batch); LU with partial pivoting. A singular a gives inf/NaN; the error grows
    with a's condition number (float32: ~cond * 1e-7).

    Example:
        >>> x = anp.linalg.solve(a, b)
    """
    a = float_matrix(a, "solve")
    a, b, vector = _rhs(a, b, "solve")
    x = _solve_core(a, b)
    return x[..., 0] if vector else x


def inv(a):
    """The inverse of a square matrix (batched), as jax.numpy.linalg.inv: solve(a, I). A
    singular a gives inf/NaN.

    Example:
        >>> anp.linalg.inv(np.array([[2.0, 0.0], [0.0, 4.0]], np.float32))
    """
    a = float_matrix(a, "inv")
    return _solve_core(a, _eye_like(a))


# ---- determinants ------------------------------------------------------------------------------


def _lu_sign_and_diag(a):
    """(lu, permutation, the permutation's sign, lu's diagonal)."""
    lu, pivots, perm = kernels.lu(a)
    parity = anp.sum((pivots != anp.arange(a.shape[-1])).astype(anp.int32), axis=-1)
    return lu, perm, 1.0 - 2.0 * (parity % 2).astype(a.dtype), _diagonal(lu)


def _slogdet_values(a):
    _, _, sign, diag = _lu_sign_and_diag(a)
    sign = sign * anp.prod(anp.sign(diag), axis=-1)
    return sign, anp.sum(anp.log(anp.abs(diag)), axis=-1)


@custom_jvp
def _slogdet_core(a):
    return _slogdet_values(a)


@_slogdet_core.defjvp
def _slogdet_jvp(primals, tangents):
    """JAX's _slogdet_jvp: logabsdet_dot = trace(a^-1 a_dot); the sign has no derivative."""
    (a,), (a_dot,) = primals, tangents
    sign, logdet = _slogdet_core(a)
    return (sign, logdet), (anp.zeros_like(sign), _trace(_solve_core(a, a_dot)))


def slogdet(a, *, method=None):
    """(sign, logabsdet) of square matrices, as jax.numpy.linalg.slogdet (a SlogdetResult); by LU.
    A singular matrix gives sign 0 and logabsdet -inf.

    Example:
        >>> sign, logdet = anp.linalg.slogdet(a)
    """
    if method not in (None, "lu"):
        raise TracingError(f"{caller_site()}: slogdet: method must be None or 'lu'; got "
                           f"{method!r}")
    return SlogdetResult(*_slogdet_core(float_matrix(a, "slogdet")))


def _cofactor_solve(a, b):
    """JAX's _cofactor_solve: (det(a), adj(a) @ b), well defined for singular a (rank n-1 gives
    the rank-1 adjugate, lower ranks zero)."""
    n = a.shape[-1]
    if n == 1:
        return a[..., 0, 0], b
    lu, perm, sign, diag = _lu_sign_and_diag(a)
    partial = anp.cumprod(diag, axis=-1) * sign[..., None]
    corner = (anp.arange(n) == n - 1)[:, None] & (anp.arange(n) == n - 1)[None, :]
    lu = anp.where(corner, (1.0 / partial[..., -2])[..., None, None], lu)
    ones = anp.ones((*a.shape[:-1], 1), a.dtype)
    d = kernels.triangular(lu, ones, lower=False, unit=False)
    singular = anp.any(~anp.isfinite(d[..., 0]), axis=-1)[..., None, None]
    x = anp.where(singular, 0.0, b)
    x = kernels.triangular(lu, _permute_rows(x, perm), lower=True, unit=True)
    x = x * anp.where(anp.arange(n) < n - 1, partial[..., -1, None], 1.0)[..., :, None]
    x = kernels.triangular(lu, x, lower=False, unit=False)
    return partial[..., -1], anp.where(singular, 0.0, x)


@custom_jvp
def _det_core(a):
    sign, logdet = _slogdet_values(a)
    return sign * anp.exp(logdet)


@_det_core.defjvp
def _det_jvp(primals, tangents):
    """JAX's _det_jvp: det_dot = trace(adj(a) a_dot), through the cofactor solve."""
    (a,), (a_dot,) = primals, tangents
    y, z = _cofactor_solve(a, a_dot)
    return y, _trace(z)


def _det_small(a):
    n = a.shape[-1]
    e = [[a[..., i, j] for j in range(n)] for i in range(n)]
    if n == 2:
        return e[0][0] * e[1][1] - e[0][1] * e[1][0]
    return (e[0][0] * e[1][1] * e[2][2] + e[0][1] * e[1][2] * e[2][0]
            + e[0][2] * e[1][0] * e[2][1] - e[0][2] * e[1][1] * e[2][0]
            - e[0][0] * e[1][2] * e[2][1] - e[0][1] * e[1][0] * e[2][2])


def det(a):
    """Determinant of square matrices (batched), as jax.numpy.linalg.det: closed forms for 2x2
    and 3x3 (as JAX), else sign * exp(logabsdet) from LU. Its derivative is JAX's (the
    adjugate), finite for singular matrices too.

    Example:
        >>> anp.linalg.det(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    """
    a = float_matrix(a, "det")
    if a.shape[-1] in (2, 3):
        return _det_small(a)
    return _det_core(a)


# ---- QR (Householder) --------------------------------------------------------------------------


@functools.cache
def _qr_core(full: bool):
    def qr_fun(a):
        q, r = kernels.qr(a)
        m, n = a.shape[-2:]
        if full or m <= n:
            return q, r
        return q[..., :, :n], r[..., :n, :]

    core = custom_jvp(qr_fun)

    def jvp(primals, tangents):
        """JAX's qr_jvp_rule (j-towns.github.io/papers/qr-derivative.pdf), for m >= n (and
        m == n when full)."""
        (a,), (a_dot,) = primals, tangents
        q, r = core(a)
        m, n = a.shape[-2:]
        if m < n or (full and m != n):
            raise TracingError(f"{caller_site()}: the derivative of qr is defined for m >= n "
                               f"(mode 'reduced' or 'r') and for square matrices; got "
                               f"{shape_text(a.shape)}")
        dx_rinv = _mT(_triangular(r, _mT(a_dot), lower=False, transpose=True))
        qt_dx_rinv = anp.matmul(_mT(q), dx_rinv)
        lower = anp.tril(qt_dx_rinv, -1)
        do = lower - _mT(lower)
        return (q, r), (anp.matmul(q, do - qt_dx_rinv) + dx_rinv, anp.matmul(qt_dx_rinv - do, r))

    core.defjvp(jvp)
    return core


def qr_decompose(a, full: bool, what: str = "qr"):
    """(Q, R) of a (..., m, n): full: Q (m, m), R (m, n); else Q (m, k), R (k, n), k = min(m, n)."""
    return _qr_core(full)(float_matrix(a, what, square=False))


def qr(a, mode: str = "reduced"):
    """QR decomposition by Householder reflections, as jax.numpy.linalg.qr (LAPACK's signs: R's
    diagonal is -sign(a_jj) |column|). mode 'reduced' (Q (..., m, k), R (..., k, n)),
    'complete' (Q (..., m, m), R (..., m, n)) or 'r' (R only).

    Example:
        >>> q, r = anp.linalg.qr(a)
    """
    if mode not in ("reduced", "complete", "r"):
        raise TracingError(f"{caller_site()}: qr: mode must be 'reduced', 'complete' or 'r'; "
                           f"got {mode!r}")
    q, r = qr_decompose(a, mode == "complete")
    return r if mode == "r" else QRResult(q, r)
