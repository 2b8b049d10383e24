"""jax.scipy.linalg's signatures of the factorizations and solves in factor.py: cholesky returns
the upper factor by default, solve takes assume_a, lu returns (p, l, u), qr's modes are scipy's,
solve_triangular takes trans=0/1/2. The overwrite_* and check_finite arguments are accepted and
ignored, as in JAX."""

from aotc.frontend import numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.linalg import factor
from aotc.frontend.linalg.factor import det, float_matrix, inv, lu_factor, lu_solve
from aotc.frontend.trace.eager import eager

__all__ = ["cholesky", "cho_factor", "cho_solve", "solve_triangular", "lu", "lu_factor",
           "lu_solve", "solve", "inv", "det", "qr"]


def cholesky(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """Cholesky factor as jax.scipy.linalg.cholesky: upper U with a = U.T @ U by default
    (lower=True: L with a = L @ L.T). Not positive definite: all NaN.

    Example:
        >>> U = aotc.scipy.linalg.cholesky(a)
    """
    return factor.cholesky(a, upper=not lower)


def cho_factor(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """(c, lower) for cho_solve, as jax.scipy.linalg.cho_factor: c is the Cholesky factor (upper
    unless lower=True) with zeros in the other triangle.

    Example:
        >>> x = aotc.scipy.linalg.cho_solve(aotc.scipy.linalg.cho_factor(a), b)
    """
    return _eager_cholesky(a, lower=lower), lower


# Outside a trace only the array part runs eagerly (the facade does not wrap this function), so
# `lower` stays a Python bool that cho_solve can branch on.
cho_factor.__module__ = "aotc.scipy.linalg"


def cho_solve(c_and_lower, b, overwrite_b: bool = False, check_finite: bool = True):
    """x with a @ x = b from cho_factor's (c, lower), as jax.scipy.linalg.cho_solve: two
    triangular solves; b is (n,) or (..., n, k).

    Example:
        >>> x = aotc.scipy.linalg.cho_solve((c, False), b)
    """
    c, lower = c_and_lower
    if lower:
        y = factor.solve_triangular(c, b, lower=True)
        return factor.solve_triangular(c, y, lower=True, transpose=True)
    y = factor.solve_triangular(c, b, lower=False, transpose=True)
    return factor.solve_triangular(c, y, lower=False)


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, debug=None, check_finite: bool = True):
    """x with op(a) @ x = b for a triangular a, as jax.scipy.linalg.solve_triangular: trans
    0/'N' (a), 1/'T' or 2/'C' (a.T); only the lower (lower=True) or upper triangle is read;
    b is (n,) or (..., n, k).

    Example:
        >>> x = aotc.scipy.linalg.solve_triangular(L, b, lower=True)
    """
    transposes = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}
    if trans not in transposes:
        raise TracingError(f"{caller_site()}: solve_triangular: trans must be 0, 1, 2, 'N', "
                           f"'T' or 'C'; got {trans!r}")
    return factor.solve_triangular(a, b, lower=lower, transpose=transposes[trans],
                                   unit_diagonal=unit_diagonal)


def lu(a, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """(p, l, u) with a = p @ l @ u, as jax.scipy.linalg.lu (a may be (..., m, n)): p a
    permutation matrix, l unit lower (m, k), u upper (k, n), k = min(m, n); permute_l=True
    gives (p @ l, u).

    Example:
        >>> p, l, u = aotc.scipy.linalg.lu(a)
    """
    packed, _, perm = factor.lu_decompose(a, "lu")
    m, n = packed.shape[-2:]
    k = min(m, n)
    low = anp.tril(packed[..., :, :k], -1) + anp.eye(m, k, dtype=packed.dtype)
    up = anp.triu(packed[..., :k, :])
    p = (perm[..., :, None] == anp.arange(m)).astype(packed.dtype)  # a[perm] = l @ u
    p = anp.swapaxes(p, -1, -2)
    if permute_l:
        return anp.matmul(p, low), up
    return p, low, up


def solve(a, b, lower: bool = False, overwrite_a: bool = False, overwrite_b: bool = False,
          debug: bool = False, check_finite: bool = True, assume_a: str = "gen"):
    """x with a @ x = b, as jax.scipy.linalg.solve: assume_a 'gen', 'sym' or 'her' use LU,
    'pos' (positive definite) Cholesky of the lower (or upper) triangle.

    Example:
        >>> x = aotc.scipy.linalg.solve(a, b, assume_a="pos")
    """
    if assume_a not in ("gen", "sym", "her", "pos"):
        raise TracingError(f"{caller_site()}: solve: assume_a must be 'gen', 'sym', 'her' or "
                           f"'pos'; got {assume_a!r}")
    if assume_a != "pos":
        return factor.solve(a, b)
    a = float_matrix(a, "solve")
    c = factor.cholesky(a if lower else anp.swapaxes(a, -1, -2), symmetrize_input=False)
    return cho_solve((c, True), b)


def qr(a, overwrite_a: bool = False, lwork=None, mode: str = "full", pivoting: bool = False,
       check_finite: bool = True):
    """QR decomposition as jax.scipy.linalg.qr: mode 'full' (q (m, m), r (m, n)), 'economic'
    (q (m, k), r (k, n)) or 'r' (a 1-tuple (r,)); Householder with LAPACK's signs.

    Example:
        >>> q, r = aotc.scipy.linalg.qr(a, mode="economic")
    """
    if pivoting:
        raise TracingError(f"{caller_site()}: qr: pivoting=True is not supported; use "
                           "pivoting=False")
    if mode not in ("full", "economic", "r"):
        raise TracingError(f"{caller_site()}: qr: mode must be 'full', 'economic' or 'r'; got "
                           f"{mode!r}")
    q, r = factor.qr_decompose(a, mode == "full" or mode == "r", "qr")
    return (r,) if mode == "r" else (q, r)


_REEXPORTED = (det, inv, lu_factor, lu_solve)  # same signature in scipy and in factor.py
_eager_cholesky = eager(cholesky)
