"""aotc linalg: spectral decompositions (eigh, svd) and what is built on them (pinv, lstsq,
matrix_rank, cond, norms), in portable StableHLO with JAX's derivatives.

eigh runs cyclic two-sided Jacobi on matrices up to tridiagonal.TRIDIAGONAL_MIN_SIZE and
Householder tridiagonalisation, bisection and inverse iteration (aotc.frontend.linalg.tridiagonal)
on larger ones; svd runs one-sided (Hestenes) Jacobi. The Jacobi kernels use the parallel
round-robin ordering (aotc.frontend.linalg.jacobi: convergence tests, sweep limits). Their JVPs
are JAX's rules (eigh_jvp_rule with the eigenvalue-gap matrix, svd_jvp_rule), attached with
custom_jvp, so grad/jvp/vmap of everything here match JAX wherever the eigen/singular values are
distinct.

Sign convention: decompositions are unique only up to the sign of each eigenvector (each pair of
singular vectors). aotc makes the entry of largest magnitude of each eigenvector, and of each
left singular vector (column of U), positive (the first such entry on ties); LAPACK (and so
NumPy and JAX on CPU) has no fixed convention.
"""

import functools
from collections import namedtuple

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.linalg import factor
from aotc.frontend.linalg.jacobi import (
    eigh_jacobi,
    sort_permutation,
    static_matrix_dims,
    svd_jacobi,
)
from aotc.frontend.linalg.tridiagonal import TRIDIAGONAL_MIN_SIZE, eigh_tridiagonal
from aotc.frontend.trace.tracer import Tracer, to_tracer
from aotc.frontend.transforms.custom import custom_jvp

__all__ = ["cond", "eigh", "eigvalsh", "lstsq", "matrix_norm", "matrix_rank", "norm", "pinv",
           "svd", "svdvals", "vector_norm"]
# Names whose jax.scipy.linalg signature differs: aotc.scipy.linalg binds scipy_<name> to them.
SCIPY_NAMES = ("eigh", "svd")

EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])

EPS = float(np.finfo(np.float32).eps)


def _float(what: str, a):
    x = to_tracer(a)
    if dtypes.is_complex(x.dtype):
        raise TracingError(f"{caller_site()}: {what}: complex matrices are not supported yet; "
                           "pass a real float array")
    if not dtypes.is_float(x.dtype):
        x = x.astype(np.float32)
    return x


def _mT(x):
    return anp.swapaxes(x, -1, -2)


def _column_signs(v):
    """+1/-1 per column making its entry of largest magnitude (the first on ties) positive."""
    idx = anp.argmax(anp.abs(v), axis=-2)
    rows = np.arange(v.shape[-2], dtype=np.int32)[:, None]
    pick = anp.sum(anp.where(rows == idx[..., None, :], v, 0.0), axis=-2)
    return anp.where(pick < 0, -1.0, 1.0).astype(v.dtype)


# ---- eigh ---------------------------------------------------------------------------------------


def _eigh_values_vectors(a):
    n = a.shape[-1]
    w, v = eigh_tridiagonal(a) if n > TRIDIAGONAL_MIN_SIZE else eigh_jacobi(a)
    return w, v * _column_signs(v)[..., None, :]


def _from_triangle(a, lower: bool):
    t = anp.tril(a) if lower else anp.triu(a)
    strict = anp.tril(a, -1) if lower else anp.triu(a, 1)
    return t + _mT(strict)


def _symmetrize(a):
    return (a + _mT(a)) / 2


@functools.cache
def _eigh_core(lower: bool) -> custom_jvp:
    """(w, v) of the triangle `lower` of a, with JAX's eigh_jvp_rule (its primal reads the
    symmetrized input, as JAX's does)."""

    def eigh_core(a):
        return _eigh_values_vectors(_from_triangle(a, lower))

    core = custom_jvp(eigh_core)

    @core.defjvp
    def _eigh_jvp(primals, tangents):
        (a,), (a_dot,) = primals, tangents
        w, v = _eigh_values_vectors(_symmetrize(a))
        n = a.shape[-1]
        eye = np.eye(n, dtype=np.float32)
        gaps = 1 / (eye + w[..., None, :] - w[..., :, None]) - eye
        vt_adot_v = anp.matmul(anp.matmul(_mT(v), a_dot), v)
        dv = anp.matmul(v, gaps * vt_adot_v)
        return (w, v), (anp.diagonal(vt_adot_v, axis1=-2, axis2=-1), dv)

    return core


def _square(what: str, a):
    x = _float(what, a)
    rows, cols = static_matrix_dims(what, x)
    if rows != cols:
        raise TracingError(f"{caller_site()}: {what} needs square matrices (..., n, n); got "
                           f"shape {tuple(x.shape)}")
    return x


def eigh(a, UPLO: str | None = None, symmetrize_input: bool = True) -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, like
    jnp.linalg.eigh: UPLO ('L' default, 'U') picks the triangle read when symmetrize_input is
    False; with True (default) the input is (a + a^T) / 2, which gives better derivatives.
    Batched over leading dims. Each eigenvector's largest-magnitude entry is positive.

    Example:
        >>> w, v = anp.linalg.eigh(anp.array([[2.0, 1.0], [1.0, 2.0]]))   # w = [1, 3]
    """
    if UPLO not in (None, "L", "U"):
        raise TracingError(f"{caller_site()}: eigh: UPLO must be None, 'L' or 'U'; got {UPLO!r}")
    x = _square("eigh", a)
    if symmetrize_input:
        x = _symmetrize(x)
    w, v = _eigh_core(UPLO != "U")(x)
    return EighResult(w, v)


def eigvalsh(a, UPLO: str | None = "L", *, symmetrize_input: bool = True):
    """Eigenvalues (ascending) of symmetric matrices, like jnp.linalg.eigvalsh.

    Example:
        >>> anp.linalg.eigvalsh(anp.array([[2.0, 1.0], [1.0, 2.0]]))   # [1, 3]
    """
    return eigh(a, UPLO, symmetrize_input).eigenvalues


def scipy_eigh(a, b=None, lower: bool = True, eigvals_only: bool = False,
               overwrite_a: bool = False, overwrite_b: bool = False, turbo: bool = True,
               eigvals=None, type: int = 1, check_finite: bool = True):
    """jax.scipy.linalg.eigh: (w, v), or w with eigvals_only; the input is symmetrized.

    Example:
        >>> w, v = aotc.scipy.linalg.eigh(anp.array([[2.0, 1.0], [1.0, 2.0]]))
    """
    if b is not None or type != 1 or eigvals is not None:
        raise TracingError(f"{caller_site()}: eigh: only the standard problem is supported "
                           "(b=None, type=1, eigvals=None), as in jax.scipy.linalg.eigh")
    w, v = eigh(a, "L" if lower else "U")
    return w if eigvals_only else (w, v)


# ---- svd ----------------------------------------------------------------------------------------


def _complete(u, null, width: int):
    """u (..., M, K), orthonormal where not null (null columns last), extended to `width`
    orthonormal columns: the null and new columns come from the eigenvectors of the projector
    I - u u^T with eigenvalue 1, which eigh puts after the r = #good zero ones."""
    rows, k = u.shape[-2:]
    good = anp.where(null, 0.0, 1.0)
    kept = u * good[..., None, :]
    projector = np.eye(rows, dtype=np.float32) - anp.matmul(kept, _mT(kept))
    _, basis = eigh_jacobi(projector)
    if width > k:
        kept = anp.pad(kept, [(0, 0)] * (u.ndim - 1) + [(0, width - k)])
        good = anp.pad(good, [(0, 0)] * (good.ndim - 1) + [(0, width - k)])
    return anp.where(good[..., None, :] > 0, kept, basis[..., :width])


def _svd_values_vectors(a, full_matrices: bool, compute_uv: bool):
    """(s,) or (s, u, vt) of a (..., m, n), singular values descending."""
    m, n = a.shape[-2:]
    wide = m < n
    s, u, v, null = svd_jacobi(_mT(a) if wide else a)
    if not compute_uv:
        return (s,)
    tall, k = u.shape[-2:]
    width = tall if full_matrices else k
    if width > k:
        u = _complete(u, null, width)
    else:
        u = lax.cond(anp.any(null), lambda u, z: _complete(u, z, width), lambda u, z: u, u, null)
    signs = _column_signs(v if wide else u[..., :k])
    v = v * signs[..., None, :]
    u = anp.concatenate([u[..., :k] * signs[..., None, :], u[..., k:]], axis=-1)
    if width > k:
        rest = u[..., k:]
        u = anp.concatenate([u[..., :k], rest * _column_signs(rest)[..., None, :]], axis=-1)
    return (s, v, _mT(u)) if wide else (s, u, _mT(v))


@functools.cache
def _svd_core(full_matrices: bool, compute_uv: bool) -> custom_jvp:
    """(s,) or (s, u, vt) with JAX's svd_jvp_rule."""

    def svd_core(a):
        return _svd_values_vectors(a, full_matrices, compute_uv)

    core = custom_jvp(svd_core)

    @core.defjvp
    def _svd_jvp(primals, tangents):
        (a,), (da,) = primals, tangents
        m, n = a.shape[-2:]
        if compute_uv and full_matrices and m != n:
            raise TracingError(f"{caller_site()}: the derivative of svd is not implemented for "
                               "full_matrices=True with non-square matrices (nor in JAX); pass "
                               "full_matrices=False")
        s, u, vt = _svd_values_vectors(a, False, True)
        ut, v = _mT(u), _mT(vt)
        s_dim = s[..., None, :]
        ds_mat = anp.matmul(anp.matmul(ut, da), v)
        ds = anp.diagonal(ds_mat, axis1=-2, axis2=-1)
        if not compute_uv:
            return (s,), (ds,)
        k = s.shape[-1]
        eye = np.eye(k, dtype=np.float32)
        s_diffs = (s_dim + _mT(s_dim)) * (s_dim - _mT(s_dim))
        f = 1 / (s_diffs + eye) - eye
        dss, sds = s_dim * ds_mat, _mT(s_dim) * ds_mat
        s_zeros = anp.where(s == 0, 1.0, 0.0)
        s_inv = 1 / (s + s_zeros) - s_zeros
        du_dv_diag = 0.5 * (ds_mat - _mT(ds_mat)) * (s_inv[..., None, :] * eye)
        du = anp.matmul(u, f * (dss + _mT(dss)) + du_dv_diag)
        dv = anp.matmul(v, f * (sds + _mT(sds)))
        if m > n:
            dav = anp.matmul(da, v)
            du = du + (dav - anp.matmul(u, anp.matmul(ut, dav))) / s_dim
        if n > m:
            dahu = anp.matmul(_mT(da), u)
            dv = dv + (dahu - anp.matmul(v, anp.matmul(vt, dahu))) / s_dim
        return (s, u, vt), (ds, du, _mT(dv))

    return core


def _hermitian_svd(x, compute_uv: bool):
    """JAX's svd(hermitian=True): eigh, then |w| descending (ties: later index first)."""
    w, v = eigh(x)
    s = anp.abs(w)
    perm = sort_permutation(s[..., ::-1], descending=True, keep=s.shape[-1])[..., ::-1, :]
    s_sorted = anp.matmul(s[..., None, :], perm)[..., 0, :]
    if not compute_uv:
        return s_sorted
    u = anp.matmul(v, perm)
    sign = anp.matmul(anp.sign(w)[..., None, :], perm)
    return SVDResult(u, s_sorted, _mT(u * sign))


def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False,
        subset_by_index=None):
    """Singular value decomposition, like jnp.linalg.svd: (U, S, Vh) with S descending, or S
    with compute_uv=False; full_matrices gives square U and Vh. Batched over leading dims.
    Each column of U has its largest-magnitude entry positive (Vh's rows follow).

    Example:
        >>> u, s, vh = anp.linalg.svd(x, full_matrices=False)   # x == (u * s) @ vh
    """
    if subset_by_index is not None:
        raise TracingError(f"{caller_site()}: svd: subset_by_index is not supported (JAX "
                           "supports it on TPU only); slice the result instead")
    x = _float("svd", a)
    static_matrix_dims("svd", x)
    if hermitian:
        return _hermitian_svd(x, compute_uv)
    out = _svd_core(bool(full_matrices), bool(compute_uv))(x)
    if not compute_uv:
        return out[0]
    s, u, vt = out
    return SVDResult(u, s, vt)


def scipy_svd(a, full_matrices: bool = True, compute_uv: bool = True,
              overwrite_a: bool = False, check_finite: bool = True, lapack_driver: str = "gesdd"):
    """jax.scipy.linalg.svd: (u, s, vh), or s with compute_uv=False.

    Example:
        >>> u, s, vh = aotc.scipy.linalg.svd(x, full_matrices=False)
    """
    out = svd(a, full_matrices, compute_uv)
    return out if not compute_uv else tuple(out)


def svdvals(x):
    """Singular values, descending, like jnp.linalg.svdvals.

    Example:
        >>> anp.linalg.svdvals(anp.array([[3.0, 0.0], [0.0, -4.0]]))   # [4, 3]
    """
    return svd(x, compute_uv=False)


# ---- pinv, lstsq, matrix_rank, cond -------------------------------------------------------------


def _pinv_values(a, rtol, hermitian: bool):
    m, n = a.shape[-2:]
    if rtol is None:
        rtol = 10.0 * max(m, n) * EPS
    rtol = anp.asarray(rtol, np.float32)
    u, s, vh = svd(a, full_matrices=False, hermitian=hermitian)
    cutoff = rtol[..., None] * s[..., 0:1]
    s = anp.where(s > cutoff, s, np.inf)
    return anp.matmul(_mT(vh), _mT(u) / s[..., :, None])


@functools.cache
def _pinv_core(hermitian: bool, static_rtol) -> custom_jvp:
    """pinv with JAX's pinv_jvp (Golub & Pereyra); a traced rtol is a second argument whose
    tangent is ignored (JAX's nondiff_argnums)."""

    def pinv_core(a, *rtol):
        return _pinv_values(a, rtol[0] if rtol else static_rtol, hermitian)

    core = custom_jvp(pinv_core)

    @core.defjvp
    def _pinv_jvp(primals, tangents):
        a, *rtol = primals
        a_dot = tangents[0]
        p = pinv_core(a, *rtol)
        if hermitian:
            a, a_dot = _symmetrize(a), _symmetrize(a_dot)
        m, n = a.shape[-2:]
        mm = anp.matmul
        if m >= n:
            s = mm(mm(p, _mT(p)), _mT(a_dot))
            t = mm(mm(_mT(a_dot), _mT(p)), p)
            p_dot = -mm(mm(p, a_dot), p) + s - mm(mm(s, a), p) + t - mm(mm(p, a), t)
        else:
            s = mm(p, mm(_mT(p), _mT(a_dot)))
            t = mm(_mT(a_dot), mm(_mT(p), p))
            p_dot = -mm(p, mm(a_dot, p)) + s - mm(s, mm(a, p)) + t - mm(p, mm(a, t))
        return p, p_dot

    return core


def pinv(a, rtol=None, hermitian: bool = False, *, rcond=None):
    """Moore-Penrose pseudo-inverse, like jnp.linalg.pinv: singular values <= rtol * the largest
    are dropped (default 10 * max(M, N) * eps; rcond is an alias). Batched.

    Example:
        >>> anp.linalg.pinv(anp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))   # (2, 3)
    """
    if rcond is not None:
        if rtol is not None:
            raise TracingError(f"{caller_site()}: pinv: give only one of rtol and rcond")
        rtol = rcond
    x = _float("pinv", a)
    static_matrix_dims("pinv", x)
    if isinstance(rtol, Tracer):
        return _pinv_core(bool(hermitian), None)(x, rtol.astype(np.float32))
    static = None if rtol is None else float(np.asarray(rtol)) if np.ndim(rtol) == 0 else None
    if rtol is not None and static is None:
        return _pinv_core(bool(hermitian), None)(x, anp.asarray(rtol, np.float32))
    return _pinv_core(bool(hermitian), static)(x)


def lstsq(a, b, rcond=None, *, numpy_resid: bool = False):
    """Least-squares solution of a x = b, like jnp.linalg.lstsq: (x, residuals, rank, s) with
    residuals |b - a x|^2 per column (always computed, as JAX's default), from the SVD; singular
    values below rcond * the largest count as zero (default eps * max(M, N)).

    Example:
        >>> x, resid, rank, s = anp.linalg.lstsq(a, b)
    """
    if numpy_resid:
        raise TracingError(f"{caller_site()}: lstsq: numpy_resid=True needs the rank as a Python "
                           "value, which a traced program does not have; use the default")
    a, b = _float("lstsq", a), _float("lstsq", b)
    if a.ndim != 2 or b.ndim not in (1, 2):
        raise TracingError(f"{caller_site()}: lstsq needs a of shape (M, N) and b of shape (M,) "
                           f"or (M, K); got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] != b.shape[0]:
        raise TracingError(f"{caller_site()}: lstsq: a and b need the same number of rows; got "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    vector = b.ndim == 1
    if vector:
        b = b[:, None]
    m, n = a.shape
    if rcond is None:
        rcond = EPS * max(n, m)
    else:
        rcond = anp.where(anp.asarray(rcond) < 0, EPS, rcond)
    u, s, vt = svd(a, full_matrices=False)
    mask = (s > 0) & (s >= anp.asarray(rcond, np.float32) * s[0])
    rank = anp.sum(mask).astype(np.int32)
    safe_s = anp.where(mask, s, 1.0)
    s_inv = anp.where(mask, 1 / safe_s, 0.0)[:, None]
    x = anp.matmul(_mT(vt), s_inv * anp.matmul(_mT(u), b))
    resid = anp.sum((b - anp.matmul(a, x)) ** 2, axis=0)
    return (anp.ravel(x) if vector else x), resid, rank, s


def matrix_rank(M, rtol=None, *, hermitian: bool = False, tol=None):
    """Number of singular values above the tolerance, like jnp.linalg.matrix_rank (default
    tolerance: the largest singular value * max(M, N) * eps; rtol/tol is compared with the
    singular values directly, as JAX does).

    Example:
        >>> anp.linalg.matrix_rank(anp.array([[1.0, 2.0], [2.0, 4.0]]))   # 1
    """
    if tol is not None:
        if rtol is not None:
            raise TracingError(f"{caller_site()}: matrix_rank: give only one of tol and rtol")
        rtol = tol
    x = _float("matrix_rank", M)
    if x.ndim < 2:
        return anp.any(x != 0).astype(np.int32)
    s = svd(x, full_matrices=False, compute_uv=False, hermitian=hermitian)
    if rtol is None:
        rtol = anp.max(s, axis=-1) * (max(x.shape[-2:]) * EPS)
    rtol = anp.expand_dims(anp.asarray(rtol, np.float32), -1)
    return anp.sum(s > rtol, axis=-1).astype(np.int32)


def cond(x, p=None):
    """Condition number norm(x, p) * norm(inv(x), p), like jnp.linalg.cond; p in None/2 (the
    default: largest / smallest singular value), -2, 'fro', 'nuc', 1, -1, inf, -inf (square
    matrices). NaN from a singular matrix becomes inf.

    Example:
        >>> anp.linalg.cond(anp.array([[1.0, 0.0], [0.0, 4.0]]))   # 4
    """
    arr = _float("cond", x)
    rows, cols = static_matrix_dims("cond", arr)
    if rows == 0 or cols == 0:
        raise TracingError(f"{caller_site()}: cond: the matrices are empty: {tuple(arr.shape)}")
    if p is None or _is(p, 2):
        s = svdvals(arr)
        return s[..., 0] / s[..., -1]
    if _is(p, -2):
        s = svdvals(arr)
        r = s[..., -1] / s[..., 0]
    else:
        if p not in ("fro", "nuc") and not any(_is(p, q) for q in (1, -1, np.inf, -np.inf)):
            raise TracingError(f"{caller_site()}: cond: p must be None, 1, -1, 2, -2, inf, -inf, "
                               f"'fro' or 'nuc'; got {p!r}")
        if rows != cols:
            raise TracingError(f"{caller_site()}: cond: p={p!r} needs square matrices; got "
                               f"shape {tuple(arr.shape)}")
        r = norm(arr, ord=p, axis=(-2, -1)) * norm(factor.inv(arr), ord=p, axis=(-2, -1))
    return anp.where(anp.isnan(r) & ~anp.any(anp.isnan(arr), axis=(-2, -1)), np.inf, r)


# ---- norms --------------------------------------------------------------------------------------


def _is(value, target) -> bool:
    """value == target for a static ord (no array comparison for strings)."""
    return not isinstance(value, str) and value is not None and value == target


def _axes(what: str, x, axis) -> tuple[int, ...]:
    if not isinstance(axis, tuple):
        axis = (axis,)
    out = []
    for ax in axis:
        if not isinstance(ax, (int, np.integer)) or not -x.ndim <= ax < x.ndim:
            raise TracingError(f"{caller_site()}: {what}: axis {ax!r} is out of range for an "
                               f"array of {x.ndim} dimensions (shape {tuple(x.shape)})")
        out.append(int(ax) % x.ndim)
    if len(set(out)) != len(out):
        raise TracingError(f"{caller_site()}: {what}: repeated axis in {axis!r}")
    return tuple(out)


def vector_norm(x, /, *, axis=None, keepdims: bool = False, ord=2):
    """Vector norm over `axis` (None: all elements), like jnp.linalg.vector_norm: ord 2 (default),
    1, inf, -inf, 0 (number of nonzeros) or any other number p: sum(|x|^p)^(1/p).

    Example:
        >>> anp.linalg.vector_norm(anp.array([3.0, 4.0]))   # 5
    """
    x = _float("vector_norm", x)
    if axis is not None:
        axis = _axes("vector_norm", x, axis)
    if isinstance(ord, str):
        hint = " Use anp.inf instead." if ord in ("inf", "-inf") else ""
        raise TracingError(f"{caller_site()}: vector_norm: invalid order {ord!r} for a vector "
                           f"norm.{hint}")
    if ord is None or ord == 2:
        return anp.sqrt(anp.sum(x * x, axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return anp.max(anp.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return anp.min(anp.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return anp.sum(x != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
    if ord == 1:
        return anp.sum(anp.abs(x), axis=axis, keepdims=keepdims)
    out = anp.sum(anp.abs(x) ** float(ord), axis=axis, keepdims=keepdims)
    return out ** (1.0 / float(ord))


def _matrix_norm(x, ord, row_axis: int, col_axis: int, keepdims: bool):
    axis = (row_axis, col_axis)
    if ord is None or ord in ("f", "fro"):
        return anp.sqrt(anp.sum(x * x, axis=axis, keepdims=keepdims))
    if not isinstance(ord, str) and ord in (1, -1, np.inf, -np.inf):
        inner, outer = (row_axis, col_axis) if ord in (1, -1) else (col_axis, row_axis)
        if not keepdims and outer > inner:
            outer -= 1
        sums = anp.sum(anp.abs(x), axis=inner, keepdims=keepdims)
        pick = anp.max if ord in (1, np.inf) else anp.min
        return pick(sums, axis=outer, keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        s = svdvals(anp.moveaxis(x, axis, (-2, -1)))
        y = anp.max(s, axis=-1) if _is(ord, 2) else anp.min(s, axis=-1) if _is(ord, -2) else \
            anp.sum(s, axis=-1)
        return anp.expand_dims(y, axis) if keepdims else y
    raise TracingError(f"{caller_site()}: norm: invalid order {ord!r} for a matrix norm; use "
                       "None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf")


def norm(x, ord=None, axis=None, keepdims: bool = False):
    """Vector or matrix norm, like jnp.linalg.norm: one axis gives a vector norm (ord None/2, 1,
    inf, -inf, 0, any p), two axes a matrix norm (None/'fro', 'nuc', 1, -1, 2, -2, inf, -inf);
    axis=None means all axes (with ord=None: the 2-norm of the flattened array).

    Example:
        >>> anp.linalg.norm(anp.array([[1.0, 2.0], [3.0, 4.0]]), ord=2)   # largest singular value
    """
    x = _float("norm", x)
    if axis is None:
        if ord is None:
            return anp.sqrt(anp.sum(x * x, keepdims=keepdims))
        axis = tuple(range(x.ndim))
    axes = _axes("norm", x, axis)
    if len(axes) == 1:
        return vector_norm(x, ord=2 if ord is None else ord, axis=axes, keepdims=keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes[0], axes[1], keepdims)
    raise TracingError(f"{caller_site()}: norm: give one axis (a vector norm) or two (a matrix "
                       f"norm); got axis={axis!r} for shape {tuple(x.shape)}")


def matrix_norm(x, /, *, keepdims: bool = False, ord="fro"):
    """Norm of the matrices in the last two axes, like jnp.linalg.matrix_norm (ord as in norm).

    Example:
        >>> anp.linalg.matrix_norm(anp.eye(3), ord="nuc")   # 3
    """
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)
