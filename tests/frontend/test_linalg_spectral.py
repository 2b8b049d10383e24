"""aotc.numpy.linalg's spectral functions (eigh, svd, pinv, lstsq, matrix_rank, cond, norms)
against float64 NumPy/LAPACK and JAX: values interpreted and compiled by IREE, grads and jvps
against jax.grad / jax.jvp, vmap against a Python loop, degenerate inputs and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_entries_close, assert_tree_close, interpret_fn

import aotc
import aotc.numpy as anp
import aotc.numpy.linalg as la
import aotc.scipy.linalg as sla
from aotc.frontend.linalg import jacobi

jax.config.update("jax_platforms", "cpu")
RNG = np.random.default_rng(7)
F32 = np.float32


def _sym(n, batch=()):
    a = RNG.normal(size=(*batch, n, n))
    return (a + np.swapaxes(a, -1, -2)).astype(F32)


def _decompose(a, b):
    """The program of the accuracy checks: eigh of a, svd/svdvals of b (tall) and b^T (wide)."""
    w, v = la.eigh(a)
    u, s, vh = la.svd(b, full_matrices=False)
    uw, sw, vhw = la.svd(anp.swapaxes(b, -1, -2), full_matrices=True)
    return {"w": w, "v": v, "u": u, "s": s, "vh": vh, "uw": uw, "sw": sw, "vhw": vhw,
            "svals": la.svdvals(b)}


def _decompose_square(a, b):
    """The large sizes' program: eigh of a and one svd of the square b (b^T's svd and svdvals
    run the same Jacobi sweeps on a square b: 2 of the 4 minutes of CPU at n = 256)."""
    w, v = la.eigh(a)
    u, s, vh = la.svd(b, full_matrices=False)
    return {"w": w, "v": v, "u": u, "s": s, "vh": vh}


def _check_decomposition(out, a, b, tol):
    """Values within tol of float64 LAPACK (relative to the largest); vectors by reconstruction
    and orthogonality."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    w_ref = np.linalg.eigvalsh(a64)
    scale = np.abs(w_ref).max(axis=-1, keepdims=True) + 1e-30
    np.testing.assert_array_less(np.abs(out["w"] - w_ref) / scale, tol)
    v, w = out["v"].astype(np.float64), out["w"].astype(np.float64)
    n = a.shape[-1]
    assert np.abs(a64 @ v - v * w[..., None, :]).max() / scale.max() < 10 * tol
    assert np.abs(np.swapaxes(v, -1, -2) @ v - np.eye(n)).max() < 10 * tol
    s_ref = np.linalg.svd(b64, compute_uv=False)
    top = s_ref[..., :1] + 1e-30
    for key in ("s", "sw", "svals"):
        if key in out:
            np.testing.assert_array_less(np.abs(out[key] - s_ref) / top, tol)
    k = s_ref.shape[-1]
    factors = [(out["u"], out["s"], out["vh"], b64)]
    if "uw" in out:  # _decompose's svd of b^T (not in _decompose_square)
        factors.append((out["uw"], out["sw"], out["vhw"], np.swapaxes(b64, -1, -2)))
    for u, s, vh, x in factors:
        u, vh = u.astype(np.float64), vh.astype(np.float64)
        recon = (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :]
        assert np.abs(recon - x).max() / top.max() < 10 * tol
        assert np.abs(np.swapaxes(u, -1, -2) @ u - np.eye(u.shape[-1])).max() < 10 * tol
        assert np.abs(vh @ np.swapaxes(vh, -1, -2) - np.eye(vh.shape[-2])).max() < 10 * tol


@pytest.mark.parametrize("n", [1, 2, 3, 8, pytest.param(33, marks=pytest.mark.slow)])
def test_accuracy_small(n):
    a, b = _sym(n, (2,)), RNG.normal(size=(2, n + 2, n)).astype(F32)
    _check_decomposition(aotc.jit(_decompose)(a, b), a, b, 1e-5)
    if n <= 3:
        _check_decomposition(interpret_fn(_decompose, a, b), a, b, 1e-5)


@pytest.mark.slow  # one IREE compile per size: 64 and 256 (128 took the same path, 2 min of CPU)
@pytest.mark.parametrize("n", [64, 256])
def test_accuracy_large(n):
    a, b = _sym(n), RNG.normal(size=(n, n)).astype(F32)
    _check_decomposition(aotc.jit(_decompose_square)(a, b), a, b, 1e-5)


def test_sign_convention_and_order():
    a, b = _sym(5), RNG.normal(size=(6, 4)).astype(F32)
    out = aotc.jit(_decompose)(a, b)
    assert np.all(np.diff(out["w"]) >= 0) and np.all(np.diff(out["s"]) <= 0)
    for vecs in (out["v"], out["u"], out["uw"]):
        picked = vecs[np.abs(vecs).argmax(axis=0), np.arange(vecs.shape[1])]
        assert np.all(picked > 0)


def _degenerate_inputs():
    q, _ = np.linalg.qr(RNG.normal(size=(6, 6)))
    repeated = (q * np.array([1.0, 1.0, 1.0, 2.0, -3.0, -3.0])) @ q.T
    outer = np.outer(RNG.normal(size=7), RNG.normal(size=6))
    rank2 = RNG.normal(size=(7, 2)) @ RNG.normal(size=(2, 6))
    return (repeated.astype(F32), np.zeros((6, 6), F32), np.stack([outer, rank2,
                                                                   np.zeros((7, 6))]).astype(F32))


def test_degenerate_cases():
    """Repeated eigenvalues, a zero matrix, rank-1/rank-2/zero svd (U completed to orthonormal)."""
    repeated, zero, lowrank = _degenerate_inputs()

    def program(r, z, low):
        return {"rep": la.eigh(r), "zero": la.eigh(z), "low": la.svd(low),
                "thin": la.svd(low, full_matrices=False), "rank": la.matrix_rank(low),
                "zero_svals": la.svdvals(z)}

    out = aotc.jit(program)(repeated, zero, lowrank)
    w, v = out["rep"]
    np.testing.assert_allclose(w, [-3, -3, 1, 1, 1, 2], atol=1e-5)
    np.testing.assert_allclose(repeated @ v, v * w, atol=1e-5)
    np.testing.assert_allclose(v.T @ v, np.eye(6), atol=1e-5)
    np.testing.assert_array_equal(out["zero"][0], np.zeros(6))
    np.testing.assert_allclose(out["zero"][1], np.eye(6), atol=0)
    np.testing.assert_array_equal(out["zero_svals"], np.zeros(6))
    np.testing.assert_array_equal(out["rank"], jnp.linalg.matrix_rank(lowrank))
    s_ref = np.linalg.svd(lowrank.astype(np.float64), compute_uv=False)
    top = s_ref[:, :1] + 1e-30
    for key in ("low", "thin"):
        u, s, vh = out[key]
        np.testing.assert_array_less(np.abs(s - s_ref) / top, 1e-5)
        np.testing.assert_allclose((u[..., :6] * s[..., None, :]) @ vh, lowrank,
                                   atol=1e-5 * top.max())
        np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(
            np.eye(u.shape[-1]), (3, u.shape[-1], u.shape[-1])), atol=1e-5)
        np.testing.assert_allclose(vh @ np.swapaxes(vh, -1, -2), np.broadcast_to(
            np.eye(6), (3, 6, 6)), atol=1e-5)


def test_svd_keeps_small_singular_values():
    """Columns scaled down to 3e-6 (a = B D, B a Gaussian 64 x 16 matrix): one-sided Jacobi keeps
    every singular value to high relative accuracy, the smallest included, and U orthonormal.
    svd used to treat columns below M eps |a|_F (here ~8e-5) as numerically zero and left them
    unrotated (a 256 x 256 Gaussian matrix lost 7 % of its smallest singular value)."""
    a = (RNG.normal(size=(64, 16)) * np.geomspace(1.0, 3e-6, 16)).astype(F32)
    s_ref = np.linalg.svd(a.astype(np.float64), compute_uv=False)
    u, s, vh = aotc.jit(lambda x: la.svd(x, full_matrices=False))(a)
    np.testing.assert_allclose(s, s_ref, rtol=1e-4)
    np.testing.assert_allclose(u.T @ u, np.eye(16), atol=1e-5)
    np.testing.assert_allclose((u * s) @ vh, a, atol=1e-6)


def test_convergence_limits_are_documented_constants():
    assert jacobi.MAX_SWEEPS >= 10 and jacobi.EIGH_TOL < 1e-5 and jacobi.SVD_TOL < 1e-5
    assert jacobi._iterations(64) == (jacobi.UNROLL, -(-jacobi.MAX_SWEEPS * 63 // jacobi.UNROLL))


# ---- values of the functions built on svd, against JAX --------------------------------------


def _table(m, x, b, c):
    """Everything that is not a decomposition, written once against jnp.linalg or aotc's.
    (c is b's first column, passed separately: IREE 3.13 with --iree-global-opt-data-tiling
    miscomputes a^T @ b[:, 0:1], see the report.)"""
    v = x[0]
    out = {"pinv": m.pinv(x), "pinv_rtol": m.pinv(x, rtol=0.3), "pinv_h": m.pinv(x[:, :3, :3]
                                                                                + x[:, :3, :3].mT,
                                                                                hermitian=True),
           "rank": m.matrix_rank(x), "rank_tol": m.matrix_rank(x, tol=0.5),
           "rank_h": m.matrix_rank(x[:, :3, :3] + x[:, :3, :3].mT, hermitian=True),
           "lstsq": m.lstsq(x[0], b), "lstsq_vec": m.lstsq(x[0], c, rcond=0.2),
           "svals_h": m.svd(x[:, :3, :3] + x[:, :3, :3].mT, hermitian=True, compute_uv=False),
           "eigvalsh": m.eigvalsh(x[:, :3, :3], UPLO="U", symmetrize_input=False)}
    for p in (None, 2, -2, "fro", "nuc", 1, -1, np.inf, -np.inf):
        out[f"cond_{p}"] = m.cond(x[:, :3, :3], p)
    out["cond_wide"] = m.cond(x, -2)
    for ord_ in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        out[f"mnorm_{ord_}"] = m.norm(x, ord_, axis=(1, 2))
        out[f"mnorm_T_{ord_}"] = m.norm(x, ord_, axis=(2, 0), keepdims=True)
        out[f"matrix_norm_{ord_}"] = m.matrix_norm(x, ord="fro" if ord_ is None else ord_)
    for ord_ in (None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, -1):
        out[f"vnorm_{ord_}"] = m.norm(v, ord_, axis=-1)
        out[f"vnorm_k_{ord_}"] = m.norm(v, ord_, axis=0, keepdims=True)
        out[f"vector_norm_{ord_}"] = m.vector_norm(v, ord=2 if ord_ is None else ord_,
                                                   axis=(0, 1))
    out["norm_all"] = m.norm(x)
    out["norm_all_k"] = m.norm(x, keepdims=True)
    out["norm_mat2d"] = m.norm(v, 2)
    out["vector_norm_all"] = m.vector_norm(x)
    return out


def _jax_table(args) -> dict:
    """JAX's values of the table, in one jax.jit (eager JAX dispatches its many small svds op by
    op: ~3x the CPU)."""
    return jax.tree.map(np.asarray, jax.jit(lambda *a: _table(jnp.linalg, *a))(*args))


def _table_args():
    x = RNG.normal(size=(2, 4, 3)).astype(F32)
    x[1, 3] = 0.0  # zeros for ord=0
    b = RNG.normal(size=(4, 2)).astype(F32)
    return x, b, np.ascontiguousarray(b[:, 0])


@pytest.mark.slow
def test_table_against_jax():
    args = _table_args()
    expected = _jax_table(args)
    compiled = aotc.jit(lambda *a: _table(la, *a))(*args)
    assert_entries_close(compiled, expected, rtol=2e-5, atol=2e-5, prefix="compiled ")


def test_table_interpreted():
    args = _table_args()
    expected = _jax_table(args)
    got = interpret_fn(lambda *a: _table(la, *a), *args)
    assert_entries_close(got, expected, rtol=2e-5, atol=2e-5)


def test_scipy_signatures():
    a, b = _sym(4), RNG.normal(size=(5, 3)).astype(F32)
    w, _ = sla.eigh(a)
    np.testing.assert_allclose(w, jax.scipy.linalg.eigh(a)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sla.eigh(a, eigvals_only=True), w)
    u, s, vh = sla.svd(b, False)
    np.testing.assert_allclose(s, jax.scipy.linalg.svd(b, compute_uv=False), rtol=1e-5)
    np.testing.assert_allclose(sla.svd(b, compute_uv=False), s)
    assert u.shape == (5, 3) and vh.shape == (3, 3)


# ---- derivatives against JAX --------------------------------------------------------------------


def _align(got_vectors, jax_vectors):
    """Column signs making aotc's vectors match JAX's (the sign convention differs)."""
    return np.sign(np.sum(np.asarray(got_vectors) * np.asarray(jax_vectors), axis=-2,
                          keepdims=True))


def _well_separated(n):
    q, _ = np.linalg.qr(RNG.normal(size=(n, n)))
    return ((q * np.linspace(-2.0, 3.0, n)) @ q.T + 0.01 * RNG.normal(size=(n, n))).astype(F32)


def test_eigh_grad_and_jvp():
    a = _well_separated(4)
    d = RNG.normal(size=a.shape).astype(F32)
    sign = _align(la.eigh(a)[1], jnp.linalg.eigh(a)[1])
    wts = RNG.normal(size=(2, 4, 4)).astype(F32)

    def loss(m, sign):
        def f(x):
            w, v = m.eigh(x)
            return (w * wts[0, 0]).sum() + (v * sign * wts[1]).sum()
        return f

    assert_tree_close(aotc.grad(loss(la, sign))(a), np.asarray(jax.grad(loss(jnp.linalg, 1))(a)),
                      rtol=1e-4, atol=1e-4)
    _, (dw, dv) = aotc.jvp(la.eigh, (a,), (d,))
    _, (dwj, dvj) = jax.jvp(jnp.linalg.eigh, (a,), (d,))
    assert_tree_close((dw, dv * sign), (np.asarray(dwj), np.asarray(dvj)), rtol=1e-4, atol=1e-4)
    # symmetrize_input=False reads one triangle; its JVP uses the whole tangent, as JAX's
    f = lambda m: lambda x: m.eigh(x, UPLO="U", symmetrize_input=False)[0]
    assert_tree_close(aotc.jvp(f(la), (a,), (d,))[1], np.asarray(jax.jvp(f(jnp.linalg), (a,),
                                                                         (d,))[1]), rtol=1e-4,
                      atol=1e-4)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_svd_grad_and_jvp(shape):
    a = RNG.normal(size=shape).astype(F32)
    d = RNG.normal(size=shape).astype(F32)
    u, _, vh = la.svd(a, full_matrices=False)
    uj = jnp.linalg.svd(a, full_matrices=False)[0]
    sign = _align(u, uj)
    wts = [RNG.normal(size=x.shape).astype(F32) for x in (u, vh)]

    def loss(m, sign):
        def f(x):
            u, s, vh = m.svd(x, full_matrices=False)
            return ((u * sign * wts[0]).sum() + (s * s).sum() + (vh * sign.T * wts[1]).sum()
                    + m.norm(x, 2) + m.norm(x, "nuc") - m.norm(x, -2))
        return f

    assert_tree_close(aotc.grad(loss(la, sign))(a),
                      np.asarray(jax.grad(loss(jnp.linalg, np.ones_like(sign)))(a)),
                      rtol=1e-4, atol=1e-4)
    thin = lambda m: lambda x: m.svd(x, full_matrices=False)
    (_, (du, ds, dvh)) = aotc.jvp(thin(la), (a,), (d,))
    (_, (duj, dsj, dvhj)) = jax.jvp(thin(jnp.linalg), (a,), (d,))
    assert_tree_close((du * sign, ds, dvh * sign.T),
                      (np.asarray(duj), np.asarray(dsj), np.asarray(dvhj)), rtol=1e-4, atol=1e-4)


def test_pinv_lstsq_grads():
    a = RNG.normal(size=(5, 3)).astype(F32)
    b = RNG.normal(size=(5, 2)).astype(F32)

    def loss(m):
        def f(x, y):
            x_ls, resid, _, s = m.lstsq(x, y)
            return ((m.pinv(x) ** 2).sum() + m.pinv(x.T, hermitian=False).sum() + x_ls.sum()
                    + resid.sum() + s.sum()
                    + m.pinv(x[:3] @ x[:3].T + 3 * np.eye(3, dtype=F32), hermitian=True).sum())
        return f

    got = aotc.grad(loss(la), argnums=(0, 1))(a, b)
    expected = jax.grad(loss(jnp.linalg), argnums=(0, 1))(a, b)
    assert_tree_close(got, jax.tree.map(np.asarray, expected), rtol=1e-4, atol=1e-4)
    d = RNG.normal(size=a.shape).astype(F32)
    assert_tree_close(aotc.jvp(la.pinv, (a,), (d,))[1],
                      np.asarray(jax.jvp(jnp.linalg.pinv, (a,), (d,))[1]), rtol=1e-4, atol=1e-4)


def test_grad_compiled():
    """grad of eigh and svd through IREE (one compile) matches JAX."""
    a, b = _well_separated(4), RNG.normal(size=(5, 3)).astype(F32)

    def loss(m):
        def f(x, y):
            w = m.eigvalsh(x)
            return (w * w * np.arange(1, 5)).sum() + (m.svdvals(y) ** 3).sum() + m.norm(y, 2)
        return f

    got = aotc.jit(aotc.grad(loss(la), argnums=(0, 1)))(a, b)
    expected = jax.grad(loss(jnp.linalg), argnums=(0, 1))(a, b)
    assert_tree_close(got, jax.tree.map(np.asarray, expected), rtol=1e-4, atol=1e-4)


def test_full_matrices_grad_error():
    a = RNG.normal(size=(5, 3)).astype(F32)
    with pytest.raises(aotc.TracingError, match="full_matrices"):
        aotc.grad(lambda x: la.svd(x)[0].sum())(a)


# ---- vmap ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_vmap_matches_loop():
    a = _sym(5, (3,))
    b = RNG.normal(size=(3, 4, 3)).astype(F32)

    def f(x, y):
        w, v = la.eigh(x)
        u, s, vh = la.svd(y, full_matrices=False)
        return w, v, u, s, vh, la.pinv(y), la.norm(y, "nuc")

    batched = aotc.jit(aotc.vmap(f))(a, b)
    looped = [f(a[i], b[i]) for i in range(3)]
    expected = tuple(np.stack([np.asarray(r[k]) for r in looped]) for k in range(7))
    assert_tree_close(batched, expected, rtol=1e-5, atol=2e-5)


def test_vmap_of_grad_matches_loop():
    a = np.stack([_well_separated(3) for _ in range(3)])
    g = aotc.grad(lambda x: (la.eigvalsh(x) * np.arange(3)).sum() + la.norm(x, 2))
    batched = aotc.vmap(g)(a)
    assert_tree_close(batched, np.stack([g(x) for x in a]), rtol=1e-5, atol=1e-5)


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda: la.eigh(np.ones((3, 4), F32)),
    lambda: la.eigh(np.ones(3, F32)),
    lambda: la.norm(np.ones((3, 3), F32), ord="bad"),
    lambda: la.norm(np.ones((3, 3), F32), ord=3),
    lambda: la.norm(np.ones(3, F32), ord="inf"),
    lambda: la.norm(np.ones((3, 3), F32), axis=2),
    lambda: la.norm(np.ones((3, 3, 3), F32), axis=(0, 1, 2)),
    lambda: la.vector_norm(np.ones(3, F32), axis=(0, 0)),
    lambda: la.cond(np.ones((3, 4), F32), 1),
    lambda: la.cond(np.eye(3, dtype=F32), "bad"),
    lambda: la.lstsq(np.ones((3, 2), F32), np.ones(4, F32)),
    lambda: la.eigh(np.eye(2, dtype=F32), UPLO="X"),
])
def test_errors_name_the_user_line(call):
    with pytest.raises(aotc.TracingError, match=r"test_linalg_spectral\.py"):
        call()
