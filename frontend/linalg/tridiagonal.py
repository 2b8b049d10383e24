"""Symmetric eigendecomposition by Householder tridiagonalisation, bisection and inverse
iteration, in portable StableHLO (loops, matrix-vector products and elementwise ops).

Jacobi (aotc.frontend.linalg.jacobi) needs n - 1 dependent steps per sweep and ~8 sweeps; IREE
runs each step as a few dispatches, so for n > jacobi.GATHER_MAX this path is faster:

1. `tridiagonalize`: n - 2 Householder reflections H_k (a counted loop; column k is picked by
   a mask on the loop index, so no dynamic slice and no host round trip), a = Q T Q^T.
2. `_bisect`: every eigenvalue of T at once by bisection on Sturm counts. The count's
   recurrence over T's rows is unrolled into one chain of elementwise ops on the (..., n)
   vector of probes, which IREE fuses into one dispatch per bisection step.
3. `_inverse_iteration`: (T - lambda_i I) y_i = x_i for all i at once (the LDL^T recurrence
   without pivoting, unrolled the same way; zero pivots are moved to eps |T|), from fixed
   random x, twice.
4. V = Q Y orthonormalised by Newton-Schulz steps until V^T V = I to ~1e-3 (then one more), and
   the eigenvalues are the Rayleigh quotients diag(V^T a V): both errors are second order in
   the vectors' rounding. Eigenvalues that coincide get independent vectors from the random
   starts, which the orthonormalisation turns into a basis of their eigenspace.
"""

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.linalg import kernels
from aotc.frontend.linalg.jacobi import permute_vector, sort_permutation
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.trace.tracer import Tracer

TRIDIAGONAL_MIN_SIZE = 16  # eigh uses this path above this size, Jacobi up to it (equal at 16)
PROBES = 7  # Sturm counts per eigenvalue and multisection step: 3 bits per step
BISECT_STEPS = 12  # 8^12 = 2^36: the Gershgorin interval below float32 rounding of |T|
INVERSE_STEPS = 2
HOUSEHOLDER_UNROLL = 4
ORTHO_TOL = 1e-3  # Newton-Schulz steps until max|V^T V - I| <= this, then one more
ORTHO_MAX_STEPS = 60  # eigenvalues of high multiplicity (all-ones: n - 1) take 30-60
EPS = float(np.finfo(np.float32).eps)
TINY = float(np.finfo(np.float32).tiny)
_START_SEED = 20261201


def _starts(x, k) -> list:
    zero = anp.asarray(0, np.int32).value
    return [zero] * (x.ndim - 2) + [anp.asarray(k, np.int32).value, zero]


def _row(x, k):
    """x[..., k, :] for a traced k in range. One dynamic slice without lax.dynamic_slice's wrap
    of negative starts, which IREE runs as a dispatch plus a host read of the index."""
    size = x.shape[-1]
    return Tracer(shape_ops.dynamic_slice(x.value, _starts(x, k), (*x.shape[:-2], 1, size)),
                  x.weak_type)[..., 0, :]


def _put_row(x, row, k):
    """x with row k (traced, in range) replaced by row (..., n), as `_row` without the wrap."""
    update = row.astype(x.dtype)[..., None, :]
    return Tracer(shape_ops.dynamic_update_slice(x.value, update.value, _starts(x, k)),
                  x.weak_type)


def _householder_step(k, state):
    """Reflect column k of the symmetric x (col: row k, equal to it below the diagonal) to
    alpha e_(k+1): x <- H x H on the rows and columns after k, H = I - beta v v^T (v zero at
    rows <= k). Row k of x keeps T's entries (x[k, k], x[k, k+1] = alpha) and, right of them,
    v / v[k+1] (LAPACK's storage); column k below the diagonal is left stale (it is only ever
    multiplied by zeros). Returns (x, row k + 1 of the new x, betas with beta v[k+1]^2 at k).
    Rows are read and written by dynamic slices: a masked reduction over x costs a full pass
    (tridiagonalisation at n = 256: 15 ms with it, 8.5 ms with slices, CPU time)."""
    x, col, betas = state
    n = x.shape[-1]
    rows = np.arange(n, dtype=np.int32)
    u = anp.where(rows > k, col, 0.0)
    a1, sigma2 = lax.reduce((anp.where(rows == k + 1, col, 0.0), u * u),
                            (np.float32(0), np.float32(0)),
                            lambda acc, z: (acc[0] + z[0], acc[1] + z[1]), (col.ndim - 1,))
    a1, sigma2 = a1[..., None], sigma2[..., None]
    sigma = anp.sqrt(sigma2)
    alpha = anp.where(a1 >= 0, -sigma, sigma)
    head = a1 - alpha  # v[k + 1]
    v = anp.where(rows == k + 1, head, u)
    vv = 2 * (sigma2 + anp.abs(a1) * sigma)
    beta = anp.where(vv > 0, 2 / anp.where(vv > 0, vv, 1.0), 0.0)
    p = anp.where(rows > k, beta * anp.sum(x * v[..., None, :], axis=-1), 0.0)
    w = p - (beta / 2) * anp.sum(v * p, axis=-1, keepdims=True) * v
    stored = anp.where(rows > k + 1, v / anp.where(head != 0, head, 1.0), 0.0)
    stored = anp.where(rows == k + 1, alpha, stored)
    x = x - v[..., :, None] * w[..., None, :] - w[..., :, None] * v[..., None, :]
    x = _put_row(x, anp.where(rows > k, stored, col), k)
    col = _row(x, k + 1)
    betas = anp.where(rows == k, beta * head * head, betas)
    return x, col, betas


def tridiagonalize(a):
    """(d, e, u, s) of symmetric a (..., n, n): a = Q T Q^T with T's diagonal d (..., n) and
    off-diagonal e (..., n - 1), and Q = H_0 ... H_(n-3) = I - u s^-1 u^T (compact WY: u's
    columns are the reflectors, s upper triangular, see `apply_q`)."""
    n = a.shape[-1]
    x = a
    betas = anp.zeros(a.shape[:-1], a.dtype)
    if n > 2:
        x, _, betas = lax.fori_loop(0, n - 2, _householder_step, (a, a[..., :, 0], betas),
                                    unroll=HOUSEHOLDER_UNROLL)
    d = anp.diagonal(x, axis1=-2, axis2=-1)
    e = anp.diagonal(x, offset=1, axis1=-2, axis2=-1)
    rows, cols = np.arange(n)[:, None], np.arange(n)[None, :]
    live = betas[..., :, None] > 0
    # row k of u^T: e_(k+1) + the stored v / v[k+1]; zero where no reflection happened
    ut = anp.where(live & (cols >= rows + 2), x, 0.0) + anp.where(live & (cols == rows + 1),
                                                                  1.0, 0.0)
    u = anp.swapaxes(ut, -1, -2)
    inverse_betas = anp.where(betas > 0, 1 / anp.where(betas > 0, betas, 1.0), 1.0)
    s = anp.triu(anp.matmul(ut, u), 1) + inverse_betas[..., :, None] * np.eye(n, dtype=np.float32)
    return d, e, u, s


def apply_q(u, s, y):
    """Q y for Q = I - u s^-1 u^T (Puglisi's form of H_0 ... H_m: s = diag(1 / beta) +
    strictly upper part of u^T u)."""
    return y - anp.matmul(u, kernels.triangular(s, anp.matmul(anp.swapaxes(u, -1, -2), y),
                                                lower=False, unit=False))


def _sturm_count(d, e2, probe, pivmin):
    """Number of eigenvalues of T below each probe (..., m): negatives among the pivots of
    T - probe I (the LDL^T recurrence, pivots of magnitude < pivmin taken as -pivmin)."""
    n = d.shape[-1]
    count = None
    q = None
    for k in range(n):
        shifted = d[..., k:k + 1] - probe
        q = shifted if k == 0 else shifted - e2[..., k - 1:k] / q
        q = anp.where(anp.abs(q) < pivmin, -pivmin, q)
        negative = anp.where(q < 0, 1.0, 0.0)
        count = negative if count is None else count + negative
    return count


def _bisect(d, e):
    """All eigenvalues of T (..., n), ascending, and T's Gershgorin norm bound (..., 1).
    Eigenvalue i is where the Sturm count passes i; each step probes its interval at PROBES
    evenly spaced points (multisection: log2(PROBES + 1) bits per step, so BISECT_STEPS steps
    instead of 34 bisections; the counts' recurrence is a chain of dependent divisions, so
    PROBES times more lanes cost much less than PROBES times more steps)."""
    n = d.shape[-1]
    ae = anp.abs(e)
    pad = [(0, 0)] * (e.ndim - 1)
    radius = anp.pad(ae, [*pad, (1, 0)]) + anp.pad(ae, [*pad, (0, 1)])
    norm = anp.max(anp.abs(d) + radius, axis=-1, keepdims=True)
    lo0 = anp.min(d - radius, axis=-1, keepdims=True) - EPS * norm
    hi0 = anp.max(d + radius, axis=-1, keepdims=True) + EPS * norm
    e2 = e * e
    pivmin = TINY * anp.maximum(1.0, anp.max(e2, axis=-1, keepdims=True)) * 4
    index = np.arange(n, dtype=np.float32)[:, None]
    fractions = (np.arange(1, PROBES + 1) / (PROBES + 1)).astype(np.float32)
    batch = d.shape[:-1]

    def step(_, bounds):
        lo, hi = bounds
        probes = lo[..., :, None] + (hi - lo)[..., :, None] * fractions  # (..., n, PROBES)
        counts = _sturm_count(d, e2, anp.reshape(probes, (*batch, n * PROBES)), pivmin)
        below = anp.reshape(counts, (*batch, n, PROBES)) <= index  # probe below eigenvalue i
        lo = anp.maximum(lo, anp.max(anp.where(below, probes, -np.inf), axis=-1))
        hi = anp.minimum(hi, anp.min(anp.where(below, np.inf, probes), axis=-1))
        return lo, hi

    shape = (*batch, n)
    lo, hi = lax.fori_loop(0, BISECT_STEPS, step,
                           (anp.broadcast_to(lo0, shape), anp.broadcast_to(hi0, shape)),
                           unroll=1)
    return (lo + hi) / 2, norm


def _solve_shifted(d, e, lam, rows, tiny):
    """Rows of y with (T - lam_i I) y_i = x_i for every lane i: rows are x's rows (..., n)
    (row k holds entry k of every x_i); returns y (..., n, n), y_i as columns."""
    n = d.shape[-1]

    def guard(p):
        return anp.where(anp.abs(p) < tiny, anp.where(p < 0, -tiny, tiny), p)

    pivot = guard(d[..., 0:1] - lam)
    pivots, ls, z = [pivot], [], [rows[0]]
    for k in range(1, n):
        off = e[..., k - 1:k]
        ratio = off / pivot
        pivot = guard(d[..., k:k + 1] - lam - ratio * off)
        pivots.append(pivot)
        ls.append(ratio)
        z.append(rows[k] - ratio * z[-1])
    y = [None] * n
    y[n - 1] = z[n - 1] / pivots[n - 1]
    for k in range(n - 2, -1, -1):
        y[k] = z[k] / pivots[k] - ls[k] * y[k + 1]
    return anp.stack(y, axis=-2)


def _normalize_columns(y):
    return y / anp.sqrt(anp.sum(y * y, axis=-2, keepdims=True))


def _inverse_iteration(d, e, lam, norm):
    """Eigenvectors of T (..., n, n), columns for the eigenvalues lam, from fixed random
    starts: INVERSE_STEPS solves with T - lam_i I, each normalised (a loop, so that the
    unrolled solve is compiled once)."""
    n = d.shape[-1]
    start = np.random.default_rng(_START_SEED).standard_normal((n, n)).astype(np.float32)
    tiny = EPS * anp.maximum(norm, 1.0)  # a zero matrix has norm 0; others >= 1 (scaled)

    def step(_, y):
        rows = [y[..., k, :] for k in range(n)]
        return _normalize_columns(_solve_shifted(d, e, lam, rows, tiny))

    y0 = anp.broadcast_to(anp.asarray(start), (*d.shape[:-1], n, n))
    return lax.fori_loop(0, INVERSE_STEPS, step, y0, unroll=1)


def _mT(x):
    return anp.swapaxes(x, -1, -2)


def orthonormalize(v):
    """v's columns made orthonormal by Newton-Schulz steps v (3I - v^T v) / 2 (the polar
    factor: each column moves least) until max|v^T v - I| <= ORTHO_TOL, then one more. A step
    whose bound on |v|_2^2 (largest row sum of |v^T v|) exceeds 3/2 first scales v by
    1 / sqrt(bound), folded into the same step's v^T v (convergence needs |v|_2^2 < 3)."""
    n = v.shape[-1]
    eye = np.eye(n, dtype=np.float32)

    def cond(state):
        _, active, steps = state
        return active & (steps < ORTHO_MAX_STEPS)

    def body(state):
        v, active, steps = state
        gram = anp.matmul(_mT(v), v)
        bound = anp.max(anp.sum(anp.abs(gram), axis=-1), axis=-1)[..., None, None]
        shrink = anp.where(bound > 1.5, 1 / bound, 1.0)
        # `& active`: IREE 3.13 miscompiles a while carry that its body does not read
        active = (anp.max(anp.abs(gram - eye)) > ORTHO_TOL) & active
        step = anp.matmul(v, (3 * eye - shrink * gram) / 2) * anp.sqrt(shrink)
        return step, active, steps + 1

    init = (v, anp.asarray(True), anp.asarray(0, np.int32))
    v, _, _ = lax.while_loop(cond, body, init)
    return v


def eigh_tridiagonal(a):
    """(w, v) of symmetric matrices a (..., n, n), n >= 2: eigenvalues ascending, eigenvectors
    as v's columns (sign not normalized). See the module docstring."""
    scale = anp.max(anp.abs(a), axis=(-2, -1), keepdims=True)
    scale = anp.where(scale > 0, scale, 1.0).astype(a.dtype)
    x0 = a / scale
    d, e, u, s = tridiagonalize(x0)
    lam, norm = _bisect(d, e)
    y = _inverse_iteration(d, e, lam, norm)
    v = orthonormalize(apply_q(u, s, y))
    w = anp.sum(v * anp.matmul(x0, v), axis=-2)
    perm = sort_permutation(w, descending=False, keep=w.shape[-1])
    return permute_vector(w, perm) * scale[..., 0], anp.matmul(v, perm)
