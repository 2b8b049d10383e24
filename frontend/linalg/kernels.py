"""The primal algorithms of factor.py: blocked loops over the last two axes of (..., n, n).

IREE drives a loop from the host, one round trip (and a few dispatches) per iteration, while
straight-line code fuses well; what costs is the number of dispatches (each a few microseconds),
not flops. So each algorithm is a fori_loop over blocks of columns (BLOCK for QR, CHOL_BLOCK,
LU_BLOCK, TRI_BLOCK) whose body handles one block with Python-unrolled column steps (traced
once, whatever n), plus dot_general for the updates of the rest of the matrix: n / block
iterations instead of n. Each unrolled step is written to cost as few dispatches as possible:
LU's pivot search and pivot row are one variadic reduction; Cholesky and the triangular solves
use inverted diagonal blocks, so their panels are matmuls, not chains of row steps. Matrices of
at most one block need no loop at all; Cholesky and QR unroll a few blocks (block_loop), and LU
of up to LU_UNROLLED columns is one unblocked panel. Sizes that are not a multiple of the block
are padded with an identity block, which every algorithm here leaves alone.
"""

from aotc.frontend import lax
from aotc.frontend import numpy as anp

BLOCK = 8  # columns per loop iteration (and the largest fully unrolled size)
CHOL_BLOCK = 16  # columns per loop iteration of Cholesky
# LU_BLOCK 16 ran ~20% faster at n = 256 but rounds differently (as LAPACK's own error, but a
# float32 det gradient entry at n = 19 moved 2e-4 from JAX's): 8 keeps the earlier rounding.
LU_BLOCK = 8  # columns per loop iteration of LU
# LU of at most this many columns is unblocked and unrolled: 3x faster than two blocks at n = 16
# (no triangular solve and update matmul per block). The pivot search reduces every column of
# the panel at once, one dispatch binding each, and IREE 3.13 refuses a dispatch of more than 32
# bindings ("binding count 37 > 32" at 24 columns), so this stays at 16.
LU_UNROLLED = 16
TRI_BLOCK = 32  # rows per loop iteration of triangular solves (and their largest unrolled size)
# Loops over at most this many blocks run unrolled (block_loop). CPU time per call, A/B on an
# idle machine: Cholesky 32 131 -> 93 us, 64 232 -> 148 us (4 blocks); QR 16 216 -> 192 us
# (2 blocks). Not LU: unrolled, lu_factor at 32 gained 20 % but solve at 32 lost 14 %.
CHOL_UNROLL = 4
QR_UNROLL = 2


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


def block_loop(count: int, step, carry, unroll: int):
    """lax.fori_loop(0, count, step, carry); with at most `unroll` iterations the steps are
    traced one after another with Python-int indices instead (the same blocks and arithmetic,
    static slices, and no loop: IREE drives each iteration from the host)."""
    if count > unroll:
        return lax.fori_loop(0, count, step, carry)
    for i in range(count):
        carry = step(i, carry)
    return carry


def _blocks(n: int, width: int) -> tuple[int, int]:
    """(padded size, number of blocks) of n columns in blocks of width."""
    count = -(-n // width)
    return count * width, count


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
    a (..., n, n), b (..., n, k) with the same batch dims. Up to TRI_BLOCK rows: substitution,
    unrolled. Larger: blocked, block row i of x is D_i^-1 (b_i - a_i x), a_i the block row of a
    and x zero where not solved yet, with the inverses D_i^-1 of all diagonal blocks computed
    up front in one batched substitution (no sequential chain of rows inside the loop: each
    iteration is two matmuls, and there are n / TRI_BLOCK of them)."""
    n = a.shape[-1]
    if n <= TRI_BLOCK:
        return triangular_unrolled(a, b, lower, unit)
    a = anp.tril(a) if lower else anp.triu(a)
    if unit:
        a = anp.where(anp.eye(n, dtype=bool), 1.0, a)
    size, count = _blocks(n, TRI_BLOCK)
    a, b = _pad_identity(a, size), _pad_rows(b, size)
    k = b.shape[-1]
    diagonals = anp.stack([a[..., i:i + TRI_BLOCK, i:i + TRI_BLOCK]
                           for i in range(0, size, TRI_BLOCK)], axis=-3)
    inverses = triangular_unrolled(diagonals, eye_like(diagonals), lower, unit)
    batch = [0] * (a.ndim - 2)

    def step(i, x):
        index = i if lower else count - 1 - i
        start = index * TRI_BLOCK
        rows = block(a, start, 0, TRI_BLOCK, size)
        rhs = block(b, start, 0, TRI_BLOCK, k) - anp.matmul(rows, x)
        inverse = lax.dynamic_slice(inverses, [*batch, index, 0, 0],
                                    (*inverses.shape[:-3], 1, TRI_BLOCK, TRI_BLOCK))[..., 0, :, :]
        return put(x, anp.matmul(inverse, rhs), start, 0)

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


def cholesky_and_inverse(a):
    """(L, L^-1) of a small matrix's lower triangle, unrolled: cholesky_unrolled's steps, each
    also applying its row operations (row j / l_jj, rows below minus l_ij times row j) to X,
    which goes from I to L^-1 in the same elementwise steps (no separate substitution)."""
    m = a.shape[-1]
    index = anp.arange(m)
    w, x = a, eye_like(a)
    for j in range(m):
        col = column(w, j)
        c = anp.where(index >= j, col / anp.sqrt(entry(col, j))[..., None], 0.0)
        w = anp.where(index == j, c[..., :, None], w - outer(c, c))
        xj = row(x, j) / entry(c, j)[..., None]
        x = anp.where((index == j)[:, None], xj[..., None, :],
                      x - outer(anp.where(index > j, c, 0.0), xj))
    return anp.tril(w), x


def cholesky(a):
    """Lower Cholesky factor (reading a's lower triangle), blocked right-looking: per block of
    CHOL_BLOCK columns, factor the diagonal block (with its inverse), get the panel below it as
    L21 = A21 L11^-T (a matmul) and subtract L21 L21^T from the trailing matrix."""
    n = a.shape[-1]
    if n <= CHOL_BLOCK:
        return cholesky_unrolled(a)
    size, count = _blocks(n, CHOL_BLOCK)
    a = _pad_identity(a, size)
    index = anp.arange(size)

    def step(i, w):
        start = i * CHOL_BLOCK
        l11, inverse = cholesky_and_inverse(block(w, start, start, CHOL_BLOCK, CHOL_BLOCK))
        panel = block(w, 0, start, size, CHOL_BLOCK)
        l21 = anp.where((index >= start + CHOL_BLOCK)[:, None], anp.matmul(panel, mT(inverse)),
                        0.0)
        w = w - anp.matmul(l21, mT(l21))
        return put(w, put(l21, l11, start, 0), 0, start)

    low = anp.tril(block_loop(count, step, a, CHOL_UNROLL))
    return low[..., :n, :n]


# ---- LU with partial pivoting ------------------------------------------------------------------
#
# Rows are never moved (a row exchange of the whole matrix costs a gather per block): each row's
# `position` in LAPACK's current row order is tracked instead. Step r picks its pivot among the
# rows at positions >= r, LAPACK's way (largest magnitude, the first in the current order on
# ties) with one variadic reduction, eliminates below it, and records LAPACK's exchange of
# positions r and first in `position` and `pivots`. The packed result is put into pivot order
# once at the end. Per column that is a reduction and an elementwise update: no scalar index
# reaches the host (a traced index into a vector would cost a device round-trip per column).


def _pivot_search(magnitude, position, panel):
    """(first, row, pivot_row, entries): the smallest position among the rows of largest
    magnitude ((..., 1) int32), that row ((..., 1) int32) and its entries in panel (..., n, b)
    (a (..., b) vector, and the list of b (...) scalars), all from one variadic reduction
    (reading the row by its index would be a gather: more dispatches per column). Rows with
    magnitude -1 (already used) lose to any unused row; NaN magnitudes never win."""
    n, width = panel.shape[-2:]
    rows = anp.broadcast_to(anp.arange(n, dtype=anp.int32), magnitude.shape)
    columns = tuple(panel[..., :, c] for c in range(width))

    def better(acc, x):
        take = (x[0] > acc[0]) | ((x[0] == acc[0]) & (x[1] < acc[1]))
        return tuple(anp.where(take, new, old) for new, old in zip(x, acc))

    init = (anp.asarray(-2.0, magnitude.dtype), anp.asarray(n, anp.int32),
            anp.asarray(n, anp.int32), *[anp.asarray(0.0, panel.dtype)] * width)
    _, first, row, *entries = lax.reduce((magnitude, position, rows, *columns), init, better,
                                         (magnitude.ndim - 1,))
    local = anp.arange(width)
    pivot_row = anp.zeros((*panel.shape[:-2], width), panel.dtype)
    for c, value in enumerate(entries):  # selects, not a stack: they fuse into the consumers
        pivot_row = anp.where(local == c, value[..., None], pivot_row)
    return first[..., None], row[..., None], pivot_row, entries


def _lu_steps(panel, start, columns: int, state):
    """`columns` unrolled elimination steps on a column panel (..., n, b) of the matrix, for the
    matrix's columns start, start + 1, ...; state = (position (..., n), pivots (..., n)), the
    rows at positions < start already used. Returns (panel, state)."""
    position, pivots = state
    n, width = panel.shape[-2:]
    local = anp.arange(width, dtype=anp.int32)
    for j in range(columns):
        r = start + j  # the position this step fills
        col = column(panel, j)
        first, pick, pivot_row, entries = _pivot_search(
            anp.where(position >= r, anp.abs(col), -1.0), position, panel)
        pivot = entries[j]
        # LAPACK's exchange of positions r and first: the row at r moves to first.
        position = anp.where(anp.arange(n, dtype=anp.int32) == pick, r,
                             anp.where(position == r, first, position))
        pivots = anp.where(anp.arange(pivots.shape[-1]) == r, first, pivots)
        unused = position > r
        safe = anp.where(pivot == 0, 1.0, pivot)[..., None]
        low = anp.where(unused & (pivot != 0)[..., None], col / safe, 0.0)
        urow = anp.where(local > j, pivot_row, 0.0)
        panel = anp.where(unused[..., :, None] & (local == j), low[..., :, None],
                          panel - outer(low, urow))
    return panel, (position, pivots)


def _pivot_rows(position, start, count: int, dtype):
    """One-hot (..., count, n): row k picks the row at position start + k."""
    wanted = start + anp.arange(count, dtype=anp.int32)
    return anp.where(position[..., None, :] == wanted[:, None], 1.0, 0.0).astype(dtype)


def _lu_square(a):
    n = a.shape[-1]
    batch = a.shape[:-2]
    iota = anp.broadcast_to(anp.arange(n, dtype=anp.int32), (*batch, n))
    state = (iota, anp.zeros((*batch, n), anp.int32))
    if n <= LU_UNROLLED:
        w, state = _lu_steps(a, 0, n, state)
    else:
        index = anp.arange(n)

        def step(i, carry):
            w, state = carry
            start = i * LU_BLOCK
            panel, state = _lu_steps(block(w, 0, start, n, LU_BLOCK), start, LU_BLOCK, state)
            pick = _pivot_rows(state[0], start, LU_BLOCK, w.dtype)  # (..., b, n)
            l11 = anp.matmul(pick, panel)  # the pivot rows of the panel: unit lower L11 below
            a12 = anp.matmul(pick, w)  # the pivot rows of the matrix
            right = index >= start + LU_BLOCK
            u12 = anp.where(right, triangular_unrolled(l11, a12, lower=True, unit=True), 0.0)
            unused = state[0] >= start + LU_BLOCK
            l21 = anp.where(unused[..., :, None], panel, 0.0)
            # one matmul: the pivot rows get u12 in place of a12, the unused rows lose l21 u12
            left = anp.concatenate([mT(pick), -l21], axis=-1)
            right_factor = anp.concatenate([u12 - anp.where(right, a12, 0.0), u12], axis=-2)
            return put(w + anp.matmul(left, right_factor), panel, 0, start), state

        w, state = lax.fori_loop(0, n // LU_BLOCK, step, (a, state))
    position, pivots = state
    order = anp.sum(anp.where(position[..., None, :] == anp.arange(n, dtype=anp.int32)[:, None],
                              iota[..., None, :], 0), axis=-1).astype(anp.int32)
    return permute_rows(w, order), pivots, order


def permute_rows(x, order):
    """x[..., order, :] (order (..., m) int32, in range), as one elementwise gather on the
    flattened matrix: a row gather's index tensors cost IREE several copy dispatches."""
    m, k = x.shape[-2:]
    batch = x.shape[:-2]
    index = order[..., :, None] * k + anp.arange(k, dtype=anp.int32)
    flat = anp.take_along_axis(anp.reshape(x, (*batch, m * k)),
                               anp.reshape(index, (*batch, order.shape[-1] * k)), axis=-1,
                               mode="promise_in_bounds")
    return anp.reshape(flat, (*batch, order.shape[-1], k))


def lu(a):
    """(lu, pivots, permutation) as jax.lax.linalg.lu: a[permutation] = L U, L unit lower in
    lu's strict lower triangle, U upper; pivots[i] the row exchanged with row i (LAPACK's ipiv,
    0-based). Blocked (getrf): per block, eliminate a column panel with pivoting (unrolled),
    solve for the pivot rows' block of U and update the unused rows with one matmul.
    Rectangular matrices are padded square with zeros, which never win a pivot."""
    m, n = a.shape[-2:]
    size = max(m, n)
    if size > LU_UNROLLED:
        size = _blocks(size, LU_BLOCK)[0]
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
        r, q = block_loop(full, step, (r, q), QR_UNROLL)
    start, rest = full * BLOCK, k - full * BLOCK
    if rest:
        panel, v, t = _reflect(r[..., :, start:start + rest], start, rest)
        r, q = _apply_panel(r, q, panel, v, t, start, rest)
    return q, anp.triu(r)
