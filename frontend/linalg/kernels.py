"""The primal algorithms of factor.py: blocked loops over the last two axes of (..., n, n).

IREE drives a loop from the host, one round trip (and a few dispatches) per iteration, while
straight-line code fuses well. So each algorithm is a fori_loop over blocks of BLOCK columns
whose body handles one block with Python-unrolled column steps (traced once, whatever n), plus
dot_general for the updates of the rest of the matrix: n / BLOCK iterations instead of n.
Matrices of at most BLOCK columns need no loop at all. Sizes that are not a multiple of BLOCK
are padded with an identity block, which every algorithm here leaves alone.
"""

from aotc.frontend import lax
from aotc.frontend import numpy as anp

BLOCK = 8  # columns per loop iteration (and the largest fully unrolled size)


# ---- indexing on the last two axes, for Python ints (static slices) and traced ints ------------


def mT(x):
    return anp.swapaxes(x, -1, -2)


def column(x, j):
    """x[..., :, j]."""
    if isinstance(j, int):
        return x[..., :, j]
    return lax.dynamic_slice(x, [0] * (x.ndim - 1) + [j], (*x.shape[:-1], 1))[..., 0]


def row(x, j):
    """x[..., j, :]."""
    if isinstance(j, int):
        return x[..., j, :]
    start = [0] * (x.ndim - 2) + [j, 0]
    return lax.dynamic_slice(x, start, (*x.shape[:-2], 1, x.shape[-1]))[..., 0, :]


def entry(v, j):
    """v[..., j]."""
    if isinstance(j, int):
        return v[..., j]
    return lax.dynamic_slice(v, [0] * (v.ndim - 1) + [j], (*v.shape[:-1], 1))[..., 0]


def block(x, i, j, rows, cols):
    """x[..., i:i + rows, j:j + cols] for traced starts."""
    return lax.dynamic_slice(x, [0] * (x.ndim - 2) + [i, j], (*x.shape[:-2], rows, cols))


def put(x, update, i, j):
    return lax.dynamic_update_slice(x, update, [0] * (x.ndim - 2) + [i, j])


def outer(c, r):
    return c[..., :, None] * r[..., None, :]


def eye_like(x, n=None):
    n = x.shape[-1] if n is None else n
    return anp.broadcast_to(anp.eye(n, dtype=x.dtype), (*x.shape[:-2], n, n))


def _blocks(n: int) -> tuple[int, int]:
    """(padded size, number of blocks)."""
    count = -(-n // BLOCK)
    return count * BLOCK, count


def _pad_identity(a, size):
    """blockdiag(a, I) of size (..., size, size)."""
    n = a.shape[-1]
    if size == n:
        return a
    wide = anp.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, size - n), (0, size - n)])
    corner = anp.pad(anp.eye(size - n, dtype=a.dtype), [(n, 0), (n, 0)])
    return wide + corner


def _pad_rows(b, size):
    return anp.pad(b, [(0, 0)] * (b.ndim - 2) + [(0, size - b.shape[-2]), (0, 0)])


# ---- triangular solves -------------------------------------------------------------------------


def triangular_unrolled(a, b, lower: bool, unit: bool):
    """x = a^-1 b for a small triangular a (..., m, m), b (..., m, k): substitution, one
    unrolled step per row, each removing that row's contribution from the rest."""
    m = a.shape[-1]
    index = anp.arange(m)
    x = b
    for i in range(m):
        j = i if lower else m - 1 - i
        col = column(a, j)
        xj = row(x, j) if unit else row(x, j) / entry(col, j)[..., None]
        below = (index > j) if lower else (index < j)
        x = x - outer(anp.where(below, col, 0.0), xj)
        x = anp.where((index == j)[:, None], xj[..., None, :], x)
    return x


def triangular(a, b, lower: bool, unit: bool):
    """x = a^-1 b reading only a's lower (or upper) triangle (and not its diagonal when unit);
    a (..., n, n), b (..., n, k) with the same batch dims. Blocked: block row i of x is
    D_i^-1 (b_i - a_i x), a_i the block row of a and x zero where not solved yet."""
    n = a.shape[-1]
    if n <= BLOCK:
        return triangular_unrolled(a, b, lower, unit)
    a = anp.tril(a) if lower else anp.triu(a)
    if unit:
        a = anp.where(anp.eye(n, dtype=bool), 1.0, a)
    size, count = _blocks(n)
    a, b = _pad_identity(a, size), _pad_rows(b, size)
    k = b.shape[-1]

    def step(i, x):
        start = (i if lower else count - 1 - i) * BLOCK
        rows = block(a, start, 0, BLOCK, size)
        rhs = block(b, start, 0, BLOCK, k) - anp.matmul(rows, x)
        diagonal = block(a, start, start, BLOCK, BLOCK)
        return put(x, triangular_unrolled(diagonal, rhs, lower, unit), start, 0)

    x = lax.fori_loop(0, count, step, anp.zeros_like(b))
    return x[..., :n, :]


# ---- cholesky ----------------------------------------------------------------------------------


def cholesky_unrolled(a):
    """Right-looking Cholesky of a small matrix's lower triangle (unrolled): column j of L
    replaces column j, the trailing part loses the outer product of that column. Returns the
    lower triangle (NaN from the first non-positive pivot on)."""
    m = a.shape[-1]
    index = anp.arange(m)
    w = a
    for j in range(m):
        col = column(w, j)
        c = anp.where(index >= j, col / anp.sqrt(entry(col, j))[..., None], 0.0)
        w = anp.where(index == j, c[..., :, None], w - outer(c, c))
    return anp.tril(w)


def cholesky(a):
    """Lower Cholesky factor (reading a's lower triangle), blocked right-looking: per block,
    factor the diagonal block, solve for the panel below it (L21 = A21 L11^-T), and subtract
    L21 L21^T from the trailing matrix."""
    n = a.shape[-1]
    if n <= BLOCK:
        return cholesky_unrolled(a)
    size, count = _blocks(n)
    a = _pad_identity(a, size)
    index = anp.arange(size)

    def step(i, w):
        start = i * BLOCK
        l11 = cholesky_unrolled(block(w, start, start, BLOCK, BLOCK))
        panel = block(w, 0, start, size, BLOCK)
        l21 = mT(triangular_unrolled(l11, mT(panel), lower=True, unit=False))
        l21 = anp.where((index >= start + BLOCK)[:, None], l21, 0.0)
        w = w - anp.matmul(l21, mT(l21))
        return put(w, put(l21, l11, start, 0), 0, start)

    low = anp.tril(lax.fori_loop(0, count, step, a))
    return low[..., :n, :n]


# ---- LU with partial pivoting ------------------------------------------------------------------
#
# Rows are never moved (a row exchange of the whole matrix costs a gather per block): each step
# picks its pivot among the rows not used yet, LAPACK's way (largest magnitude, the first in the
# current row order on ties, tracked by `position`), eliminates below it in the unused rows, and
# records LAPACK's row exchange in `order` (the row at each position) and `pivots`. The packed
# result is gathered into pivot order once at the end.


def _lu_steps(panel, start, columns: int, state):
    """`columns` unrolled elimination steps on a column panel (..., n, b) of the matrix, for the
    matrix's columns start, start + 1, ...; state = (unused (..., n) bool, position, order,
    pivots). Returns (panel, state, chosen) with chosen the one-hot pivot rows (..., b, n)."""
    unused, position, order, pivots = state
    n = panel.shape[-2]
    rows = anp.arange(n, dtype=anp.int32)
    local = anp.arange(panel.shape[-1])
    chosen = []
    for j in range(columns):
        r = start + j  # the position this step fills
        col = column(panel, j)
        magnitude = anp.where(unused, anp.abs(col), -1.0)
        top = anp.max(magnitude, axis=-1, keepdims=True)
        first = anp.min(anp.where(unused & (magnitude == top), position, n), axis=-1,
                        keepdims=True)
        pick = unused & (position == first)  # one-hot pivot row
        chosen.append(pick)
        pivot_row = anp.sum(anp.where(pick[..., :, None], panel, 0.0), axis=-2)
        pivot = entry(pivot_row, j)
        # LAPACK's exchange of positions r and first: the row at r moves to first.
        row_at_r = anp.sum(anp.where(rows == r, order, 0), axis=-1, keepdims=True)
        picked_id = anp.sum(anp.where(pick, rows, 0), axis=-1, keepdims=True)
        position = anp.where(pick, r, anp.where(rows == row_at_r, first, position))
        order = anp.where(rows == r, picked_id, anp.where(rows == first, row_at_r, order))
        pivots = anp.where(anp.arange(pivots.shape[-1]) == r, first, pivots)
        unused = unused & ~pick
        safe = anp.where(pivot == 0, 1.0, pivot)[..., None]
        low = anp.where(unused & (pivot != 0)[..., None], col / safe, 0.0)
        urow = anp.where(local > j, pivot_row, 0.0)
        panel = anp.where(unused[..., :, None] & (local == j), low[..., :, None],
                          panel - outer(low, urow))
    return panel, (unused, position, order, pivots), anp.stack(chosen, axis=-2)


def _lu_square(a):
    n = a.shape[-1]
    batch = a.shape[:-2]
    iota = anp.broadcast_to(anp.arange(n, dtype=anp.int32), (*batch, n))
    state = (anp.ones((*batch, n), bool), iota, iota, anp.zeros((*batch, n), anp.int32))
    if n <= BLOCK:
        w, state, _ = _lu_steps(a, 0, n, state)
    else:
        index = anp.arange(n)

        def step(i, carry):
            w, state = carry
            start = i * BLOCK
            panel, state, chosen = _lu_steps(block(w, 0, start, n, BLOCK), start, BLOCK, state)
            pick = chosen.astype(w.dtype)  # (..., b, n)
            l11 = anp.matmul(pick, panel)  # the pivot rows of the panel: unit lower L11 below
            a12 = anp.matmul(pick, w)  # the pivot rows of the matrix
            right = index >= start + BLOCK
            u12 = anp.where(right, triangular_unrolled(l11, a12, lower=True, unit=True), 0.0)
            w = put(w, panel, 0, start)
            w = w + anp.matmul(mT(pick), u12 - anp.where(right, a12, 0.0))
            l21 = anp.where(state[0][..., :, None], panel, 0.0)  # the rows not used yet
            return w - anp.matmul(l21, u12), state

        w, state = lax.fori_loop(0, n // BLOCK, step, (a, state))
    _, _, order, pivots = state
    return anp.take_along_axis(w, order[..., :, None], axis=-2), pivots, order


def lu(a):
    """(lu, pivots, permutation) as jax.lax.linalg.lu: a[permutation] = L U, L unit lower in
    lu's strict lower triangle, U upper; pivots[i] the row exchanged with row i (LAPACK's ipiv,
    0-based). Blocked (getrf): per block, eliminate a column panel with pivoting (unrolled),
    solve for the pivot rows' block of U and update the unused rows with one matmul.
    Rectangular matrices are padded square with zeros, which never win a pivot."""
    m, n = a.shape[-2:]
    size = max(m, n)
    if size > BLOCK:
        size = _blocks(size)[0]
    padded = anp.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, size - m), (0, size - n)])
    if size > max(m, n) or m != n:  # an identity block keeps the padded steps trivial
        corner = anp.pad(anp.eye(size - max(m, n), dtype=a.dtype),
                         [(max(m, n), 0), (max(m, n), 0)])
        padded = padded + corner
    packed, pivots, order = _lu_square(padded)
    k = min(m, n)
    return packed[..., :m, :n], pivots[..., :k], order[..., :m]


# ---- QR (Householder) --------------------------------------------------------------------------


def _reflect(panel, start, columns: int):
    """LAPACK's geqr2 on a column panel (..., m, b) for the matrix's columns start, ...,
    unrolled: per column, the reflector H = I - tau v v^T maps the column at and below row
    start + j to beta e with beta = -sign(alpha) |x| (tau = 0 when the part below is zero).
    Returns (panel, V (..., m, columns), T (..., columns, columns)) with H_0 ... H_last =
    I - V T V^T (compact WY)."""
    m = panel.shape[-2]
    rows = anp.arange(m)
    local = anp.arange(panel.shape[-1])
    vs, taus = [], []
    for j in range(columns):
        r = start + j
        x = anp.where(rows >= r, column(panel, j), 0.0)
        alpha = anp.sum(anp.where(rows == r, x, 0.0), axis=-1)
        sigma = anp.sum(anp.where(rows > r, x * x, 0.0), axis=-1)
        norm = anp.sqrt(alpha * alpha + sigma)
        beta = anp.where(alpha >= 0, -norm, norm)
        v = anp.where(rows == r, (alpha - beta)[..., None], x)
        vtv = (alpha - beta) ** 2 + sigma
        tau = anp.where(sigma == 0, 0.0, 2.0 / anp.where(sigma == 0, 1.0, vtv))
        update = tau[..., None] * anp.matmul(v[..., None, :], panel)[..., 0, :]
        panel = panel - outer(v, anp.where(local >= j, update, 0.0))
        vs.append(v)
        taus.append(tau)
    v_all = anp.stack(vs, axis=-1)  # (..., m, columns)
    t = anp.zeros((*panel.shape[:-2], columns, columns), panel.dtype)
    index = anp.arange(columns)
    for j in range(columns):  # T[:j, j] = -tau_j T[:j, :j] V[:, :j]^T v_j, T[j, j] = tau_j
        vtv_j = anp.matmul(mT(v_all), vs[j][..., :, None])[..., 0]
        earlier = anp.where(index < j, vtv_j, 0.0)[..., :, None]
        tcol = -taus[j][..., None] * anp.matmul(t, earlier)[..., 0]
        tcol = anp.where(index == j, taus[j][..., None], tcol)
        t = anp.where(index == j, tcol[..., :, None], t)
    return panel, v_all, t


def _apply_panel(r, q, panel, v, t, start, width):
    """Write the reflected panel into r, apply Q_panel^T = I - V T^T V^T to r's columns right of
    it and accumulate Q <- Q (I - V T V^T)."""
    cols = anp.arange(r.shape[-1])
    right = cols >= start + width
    r_right = anp.where(right, r, 0.0)
    r = r - anp.matmul(v, anp.matmul(mT(t), anp.matmul(mT(v), r_right)))
    r = put(r, panel, 0, start) if not isinstance(start, int) else anp.where(
        (cols >= start) & (cols < start + width), _place(panel, start, r.shape[-1]), r)
    q = q - anp.matmul(anp.matmul(q, v), anp.matmul(t, mT(v)))
    return r, q


def _place(panel, start: int, width: int):
    return anp.pad(panel, [(0, 0)] * (panel.ndim - 1) + [(start, width - start - panel.shape[-1])])


def qr(a):
    """Householder QR as LAPACK's geqrf + orgqr, blocked: per block of columns, the unrolled
    reflectors of the panel (compact WY form I - V T V^T), then two matmuls each for the rest
    of R and for Q. Returns (Q (..., m, m), R (..., m, n)), R's diagonal -sign(alpha) |x|."""
    m, n = a.shape[-2:]
    k = min(m, n)
    r, q = a, eye_like(a, m)
    full = k // BLOCK if k > BLOCK else 0

    def step(i, carry):
        r, q = carry
        start = i * BLOCK
        panel, v, t = _reflect(block(r, 0, start, m, BLOCK), start, BLOCK)
        return _apply_panel(r, q, panel, v, t, start, BLOCK)

    if full:
        r, q = lax.fori_loop(0, full, step, (r, q))
    start, rest = full * BLOCK, k - full * BLOCK
    if rest:
        panel, v, t = _reflect(r[..., :, start:start + rest], start, rest)
        r, q = _apply_panel(r, q, panel, v, t, start, rest)
    return q, anp.triu(r)
