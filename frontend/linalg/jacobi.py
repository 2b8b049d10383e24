"""Jacobi eigen- and singular-value kernels in portable StableHLO (loops + elementwise ops).

Both kernels keep the matrix in a "tournament" layout: positions 0..m-1 ("top") are paired with
m..2m-1 ("bottom"), so one step applies m disjoint plane rotations at once with elementwise ops
on row/column halves, then permutes rows and columns by the round-robin (Brent-Luk) schedule
that keeps position 0 fixed. 2m-1 steps make a sweep in which every pair meets once. A loop
iteration runs `UNROLL` steps (IREE drives each iteration from the host, so work per iteration
is what makes it fast) and then tests convergence; the loop stops at convergence or after
`MAX_SWEEPS` sweeps.

- `eigh_jacobi`: cyclic two-sided Jacobi on a symmetric matrix (A <- J^T A J); converged when
  the off-diagonal Frobenius norm is at most `EIGH_TOL` times the matrix's Frobenius norm.
- `svd_jacobi`: one-sided Jacobi (Hestenes) on the columns of a tall matrix (W <- W J, V <- V J);
  converged after a full round of steps in which every pair's |w_p . w_q| was at most
  `SVD_TOL` times |w_p| |w_q| (relative orthogonality, which also keeps tiny singular values
  accurate to working precision).

Inputs are scaled by their largest magnitude first (no overflow in the rotation formulas) and
matrices of odd size get a zero row/column, which the rotations never touch (its pivots are
exactly zero) and which is dropped at the end. Batch dimensions are leading dimensions; a batch
iterates until all its matrices converge.
"""

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site

UNROLL = 8
GATHER_MAX = 32  # matrices up to this size move rows/columns by gathers, larger ones by slices
MAX_SWEEPS = 20
EIGH_TOL = 4 * float(np.finfo(np.float32).eps)
SVD_TOL = 4 * float(np.finfo(np.float32).eps)


def static_matrix_dims(what: str, x) -> tuple[int, int]:
    """The (rows, cols) of a stack of matrices, which must be static; a TracingError otherwise."""
    if x.ndim < 2:
        raise TracingError(f"{caller_site()}: {what} needs an array of at least 2 dimensions "
                           f"(..., M, N); got shape {tuple(x.shape)}")
    rows, cols = x.shape[-2:]
    if not isinstance(rows, int) or not isinstance(cols, int):
        raise TracingError(f"{caller_site()}: {what} needs static matrix dimensions; got shape "
                           f"{tuple(x.shape)} (give the last two dims fixed sizes)")
    return rows, cols


def rotation(app, aqq, apq):
    """(c, s) of the rotation J = [[c, s], [-s, c]] that makes J^T [[app, apq], [apq, aqq]] J
    diagonal (Golub & Van Loan's sym.schur2, written without dividing by apq)."""
    zeta = aqq - app
    sgn = anp.where(zeta >= 0, 1.0, -1.0).astype(zeta.dtype)
    denom = anp.abs(zeta) + anp.hypot(zeta, 2 * apq)
    t = anp.where(denom > 0, 2 * apq * sgn / anp.where(denom > 0, denom, 1.0), 0.0)
    c = 1 / anp.sqrt(1 + t * t)
    return c, t * c


def tournament_order(m: int) -> np.ndarray:
    """Round-robin with position 0 fixed: the new positions take the old [t0, b0, t1..t(m-2)]
    (tops) and [b1..b(m-1), t(m-1)] (bottoms)."""
    if m == 1:
        return np.arange(2)
    return np.array([0, m, *range(1, m - 1), *range(m + 1, 2 * m), m - 1])


def _rotate(x, c, s, axis: int, m: int):
    """Rotate the pairs (i, m+i) along x's `axis` (rows -2: J^T x; columns -1: x J) and move
    them to their next tournament positions. Small matrices: one gather-and-combine (new
    position j takes c x[o] -/+ s x[partner(o)], o = order[j]: few dispatches); larger ones:
    slices and concatenations, which IREE runs faster than gathers there."""
    if 2 * m > GATHER_MAX:
        return _rotate_slices(x, c, s, axis, m)
    order = tournament_order(m)
    partner = (order + m) % (2 * m)
    sign = np.where(order < m, -1.0, 1.0).astype(np.float32)
    c_new = anp.take(c, order % m, axis=-1)  # static reads, no concatenation (IREE copies)
    s_new = anp.take(s, order % m, axis=-1) * sign
    if axis == -2:
        c_new, s_new = c_new[..., :, None], s_new[..., :, None]
    else:
        c_new, s_new = c_new[..., None, :], s_new[..., None, :]
    return c_new * anp.take(x, order, axis=axis) + s_new * anp.take(x, partner, axis=axis)


def _moved_rotations(x, m: int):
    """(c_new, s_new) (..., 2m): the rotations of this step (pairs (i, m + i)) by the position
    each row/column moves to, new[j] = c_new[j] old[o_j] + s_new[j] old[p_j] (o_j the old
    position, p_j its partner). Computed in that layout from x's pivots read at static
    positions: no concatenation or reordering of c and s (IREE copies or dispatches those)."""
    order = tournament_order(m)
    pair = order % m
    sign = np.where(order < m, -1.0, 1.0).astype(np.float32)
    pivots = _entries(x, np.concatenate([pair, pair + m, pair]),
                      np.concatenate([pair, pair + m, pair + m]))
    size = 2 * m
    c, s = rotation(pivots[..., :size], pivots[..., size:2 * size], pivots[..., 2 * size:])
    return c, s * sign


def _entries(x, rows, cols):
    """x[..., rows[k], cols[k]] (..., k) for static index vectors: one elementwise gather on the
    flattened matrix (IREE fuses it into its consumer; a 2-D gather's index tensor costs copy
    dispatches)."""
    size = x.shape[-1]
    flat = anp.reshape(x, (*x.shape[:-2], x.shape[-2] * size))
    return anp.take(flat, (rows * size + cols).astype(np.int32), axis=-1)


def _read(x, rows, cols):
    """x[..., rows[:, None], cols[None, :]] for static index vectors."""
    grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
    return anp.reshape(_entries(x, grid_rows.reshape(-1), grid_cols.reshape(-1)),
                       (*x.shape[:-2], len(rows), len(cols)))


def _rotate_two_sided(x, c_new, s_new, m: int):
    """J^T x J followed by the tournament move, for matrices up to GATHER_MAX: each entry of
    the result combines four entries of x read at static positions (o, p: a position's old
    row/column and its partner's), new[i, j] = c_i c_j x[o_i, o_j] + c_i s_j x[o_i, p_j]
    + s_i c_j x[p_i, o_j] + s_i s_j x[p_i, p_j], in one elementwise op (the rows-then-columns
    version costs IREE two dispatches and the copies of two concatenations)."""
    order = tournament_order(m)
    partner = (order + m) % (2 * m)
    ci, si = c_new[..., :, None], s_new[..., :, None]
    cj, sj = c_new[..., None, :], s_new[..., None, :]
    return (ci * cj * _read(x, order, order) + ci * sj * _read(x, order, partner)
            + si * cj * _read(x, partner, order) + si * sj * _read(x, partner, partner))


def _rotate_columns(v, c_new, s_new, m: int):
    """v J followed by the tournament move of the columns (see _moved_rotations)."""
    order = tournament_order(m)
    partner = (order + m) % (2 * m)
    return (c_new[..., None, :] * anp.take(v, order, axis=-1)
            + s_new[..., None, :] * anp.take(v, partner, axis=-1))


def _rotate_slices(x, c, s, axis: int, m: int):
    def part(x, lo, hi):
        return x[..., lo:hi] if axis == -1 else x[..., lo:hi, :]

    top, bottom = part(x, 0, m), part(x, m, 2 * m)
    c, s = (c[..., None, :], s[..., None, :]) if axis == -1 else (c[..., :, None], s[..., :, None])
    top, bottom = c * top - s * bottom, s * top + c * bottom
    pieces = [part(top, 0, 1), part(bottom, 0, 1), part(top, 1, m - 1), part(bottom, 1, m),
              part(top, m - 1, m)] if m > 1 else [top, bottom]
    return anp.concatenate([p for p in pieces if p.shape[axis] > 0], axis=axis)


def _orthogonalize(v):
    """One Newton-Schulz step v (3I - v^T v) / 2: removes the rounding drift of accumulated
    rotations (orthogonality error e -> O(e^2))."""
    n = v.shape[-1]
    gram = anp.matmul(anp.swapaxes(v, -1, -2), v)
    return anp.matmul(v, (3 * np.eye(n, dtype=np.float32) - gram) / 2)


def _eye_like(x, n: int):
    return anp.broadcast_to(anp.eye(n, dtype=x.dtype), (*x.shape[:-2], n, n))


def _scaled(x):
    """x / max|x| per matrix (1 for a zero matrix) and that scale, shaped (..., 1, 1)."""
    scale = anp.max(anp.abs(x), axis=(-2, -1), keepdims=True)
    scale = anp.where(scale > 0, scale, 1.0).astype(x.dtype)
    return x / scale, scale


def _pad_square(x):
    return anp.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, 1), (0, 1)])


def _iterations(n: int) -> tuple[int, int]:
    """(steps per loop iteration, maximum iterations) for a tournament of n (even) players."""
    unroll = min(UNROLL, n - 1)
    return unroll, -(-MAX_SWEEPS * (n - 1) // unroll)


def sort_permutation(key, descending: bool, keep: int):
    """One-hot P (..., n, keep) with P[i, r] = 1 when key[i] is the r-th smallest (largest when
    descending; ties keep their order): x @ P sorts x's columns by key and keeps the first
    `keep`. Built from ranks (O(n^2) compares) and applied by a matmul, which is exact on
    one-hot matrices: no sort or gather ops, so the order is the same on every target."""
    n = key.shape[-1]
    ki, kj = key[..., :, None], key[..., None, :]
    earlier = np.tril(np.ones((n, n), bool), -1)  # [i, j]: j < i
    ahead = (kj > ki) if descending else (kj < ki)
    rank = anp.sum(ahead | ((kj == ki) & earlier), axis=-1).astype(np.int32)
    positions = np.arange(keep, dtype=np.int32)
    return anp.where(rank[..., :, None] == positions, 1.0, 0.0).astype(key.dtype)


def permute_vector(x, perm):
    return anp.matmul(x[..., None, :], perm)[..., 0, :]


def eigh_jacobi(a):
    """(w, v) of symmetric matrices a (..., n, n): eigenvalues ascending, eigenvectors as the
    columns of v (sign not yet normalized).

    After the sweeps, v gets one Newton-Schulz step and w the Rayleigh quotients diag(v^T a v):
    both errors become second order in the rotations' accumulated rounding."""
    n = a.shape[-1]
    if n == 1:
        return a[..., 0], anp.ones_like(a)
    x0, scale = _scaled(a)
    x = _pad_square(x0) if n % 2 else x0
    size = x.shape[-1]
    m = size // 2
    off_mask = 1 - np.eye(size, dtype=np.float32)
    pair_mask = np.ones((size, size), np.float32)  # zero the pivots a_pq exactly (Rutishauser)
    pair_mask[np.arange(m), np.arange(m) + m] = pair_mask[np.arange(m) + m, np.arange(m)] = 0
    order = tournament_order(m)
    pair_mask = pair_mask[np.ix_(order, order)]  # where the pivots are after the move
    fro = anp.sqrt(anp.sum(x * x, axis=(-2, -1)))
    limit = EIGH_TOL * anp.where(fro > 0, fro, 1.0)
    unroll, max_iterations = _iterations(size)

    def body(state):
        x, v, iteration, active = state
        for _ in range(unroll):
            if size <= GATHER_MAX:
                c_new, s_new = _moved_rotations(x, m)
                x = _rotate_two_sided(x, c_new, s_new, m) * pair_mask
                v = _rotate_columns(v, c_new, s_new, m)
            else:
                d = anp.diagonal(x, axis1=-2, axis2=-1)
                c, s = rotation(d[..., :m], d[..., m:],
                                anp.diagonal(x[..., :m, m:], axis1=-2, axis2=-1))
                x = _rotate(_rotate(x, c, s, -2, m), c, s, -1, m) * pair_mask
                v = _rotate(v, c, s, -1, m)
        off = anp.sqrt(anp.sum((x * off_mask) ** 2, axis=(-2, -1)))
        # `& active`: IREE 3.13 miscompiles a while carry that its body does not read
        return x, v, iteration + 1, anp.any(off > limit) & active

    def cond(state):
        return state[3] & (state[2] < max_iterations)

    init = (x, _eye_like(x, size), anp.asarray(0, np.int32), anp.asarray(True))
    x, v, _, _ = lax.while_loop(cond, body, init)
    if n != size:  # the padding's eigenvector is exactly e_n: move it out of the way
        pad = v[..., n, :] > 0.5
        v = v[..., :n, :]
    v = _orthogonalize(v)
    w = anp.sum(v * anp.matmul(x0, v), axis=-2)
    key = w if n == size else anp.where(pad, np.inf, w)
    perm = sort_permutation(key, descending=False, keep=n)
    return permute_vector(w, perm) * scale[..., 0], anp.matmul(v, perm)


def _one_sided(x, v, null):
    """One-sided Jacobi sweeps on the columns of x (rotations also applied to v) until a full
    round finds every pair orthogonal to SVD_TOL, or MAX_SWEEPS. Pairs already orthogonal, or
    with a column of norm <= null (numerically zero), are not rotated."""
    size = x.shape[-1]
    m = size // 2
    tol = SVD_TOL * np.sqrt(x.shape[-2])
    unroll, max_iterations = _iterations(size)

    def step(x, v, clean):
        top, bottom = x[..., :m], x[..., m:]
        alpha, beta = anp.sum(top * top, axis=-2), anp.sum(bottom * bottom, axis=-2)
        gamma = anp.sum(top * bottom, axis=-2)
        c, s = rotation(alpha, beta, gamma)
        live = ((anp.abs(gamma) > tol * anp.sqrt(alpha) * anp.sqrt(beta))
                & (alpha > null) & (beta > null))
        c, s = anp.where(live, c, 1.0), anp.where(live, s, 0.0)
        x, v = _rotate(x, c, s, -1, m), _rotate(v, c, s, -1, m)
        return x, v, anp.where(anp.any(live), 0, clean + 1).astype(np.int32)

    def body(state):
        x, v, iteration, clean = state
        for _ in range(unroll):
            x, v, clean = step(x, v, clean)
        return x, v, iteration + 1, clean

    def cond(state):
        return (state[3] < size - 1) & (state[2] < max_iterations)

    init = (x, v, anp.asarray(0, np.int32), anp.asarray(0, np.int32))
    x, v, _, _ = lax.while_loop(cond, body, init)
    return x, v


def svd_jacobi(a):
    """(s, u, v, null) of tall matrices a (..., M, N), M >= N: singular values descending, u
    (..., M, N), v (..., N, N) orthogonal, a = u diag(s) v^T; null (..., N) marks the columns
    whose singular value is numerically zero (<= eps |a|_F, the rounding a column carries),
    where u's column is not orthonormal and must be completed by the caller.

    Two passes: Jacobi from v = I; then v gets a Newton-Schulz step, x = a v is recomputed from
    a (dropping the rounding the first pass accumulated in x) and a second, short pass
    restores orthogonality. Singular values then come out within a few eps of |a|."""
    n = a.shape[-1]
    x0, scale = _scaled(a)
    if n == 1:
        s = anp.sqrt(anp.sum(x0 * x0, axis=-2))
        u = x0 / anp.where(s > 0, s, 1.0)[..., None, :]
        return s * scale[..., 0], u, anp.ones_like(x0[..., :1, :]), s == 0
    x = anp.pad(x0, [(0, 0)] * (x0.ndim - 1) + [(0, 1)]) if n % 2 else x0
    size = x.shape[-1]
    fro2 = anp.sum(x * x, axis=(-2, -1))[..., None]
    # A larger floor (it was M eps |a|_F) skips columns whose singular value is small but real:
    # a 256 x 256 Gaussian matrix with sigma_min = 2e-4 sigma_max then lost 7 % of it.
    null = float(np.finfo(np.float32).eps) ** 2 * fro2
    x, v = _one_sided(x, _eye_like(x, size), null)
    v = _orthogonalize(v)
    x, v = _one_sided(anp.matmul(x0, v[..., :n, :]), v, null)
    s = anp.sqrt(anp.sum(x * x, axis=-2))
    key = s if n == size else anp.where(v[..., n, :] > 0.5, -1.0, s)
    perm = sort_permutation(key, descending=True, keep=n)
    s, x, v = permute_vector(s, perm), anp.matmul(x, perm), anp.matmul(v, perm)[..., :n, :]
    null_cols = s * s <= null
    u = x / anp.where(null_cols, 1.0, s)[..., None, :]
    return s * scale[..., 0], anp.where(null_cols[..., None, :], 0.0, u), v, null_cols
