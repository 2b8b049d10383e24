"""aotc.numpy.linalg / aotc.scipy.linalg factorizations and solves against float64 NumPy/SciPy
(values), JAX (jvp and grad, JAX's derivative rules), Python loops (vmap) and IREE.

The accuracy tables run every function at once in one program per size: IREE-compiled once per
size up to n = 256, interpreted up to n = 64 (past every block size, so the interpreter runs each
blocked loop; beyond that it is Python-level slow and adds no code path). The big sizes are
marked slow."""

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
import scipy.linalg as sl
from helpers import interpret_fn

import aotc
import aotc.lax as lax
import aotc.numpy as anp
import aotc.scipy.linalg as asl
from aotc.frontend.core import tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.linalg import kernels

jax.config.update("jax_platforms", "cpu")
F64 = np.float64


def _rel(x, y) -> float:
    """Normwise relative error of x against the float64 reference y."""
    x, y = np.asarray(x, F64), np.asarray(y, F64)
    assert x.shape == y.shape, (x.shape, y.shape)
    return float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-30))


def _inputs(n: int, batch=(), seed=0):
    """A well-conditioned general matrix, an SPD matrix, a right-hand side, a lower factor."""
    rng = np.random.default_rng(seed + n)
    a = (rng.standard_normal((*batch, n, n)) + np.sqrt(n) * 2 * np.eye(n)).astype(np.float32)
    g = rng.standard_normal((*batch, n, n))
    spd = (g @ np.swapaxes(g, -1, -2) / n + np.eye(n)).astype(np.float32)
    b = rng.standard_normal((*batch, n, 3)).astype(np.float32)
    low = np.linalg.cholesky(spd.astype(F64)).astype(np.float32)
    return a, spd, b, low


def _det_scale(a):
    """A factor that keeps det(a * factor) within float32's range for every n."""
    return np.float32(1 / (2 * np.sqrt(a.shape[-1])))


def _everything(a, spd, b, low):
    q, r = anp.linalg.qr(a)
    lu, piv = asl.lu_factor(a)
    sign, logdet = anp.linalg.slogdet(a)
    return {"cholesky": anp.linalg.cholesky(spd), "solve": anp.linalg.solve(a, b),
            "inv": anp.linalg.inv(a), "det": anp.linalg.det(a * _det_scale(a)),
            "slogdet": (sign, logdet),
            "qr": (q, r), "lu_factor": (lu, piv),
            "solve_triangular": asl.solve_triangular(low, b, lower=True),
            "solve_triangular_T": asl.solve_triangular(low, b, lower=True, trans=1),
            "lu_solve": asl.lu_solve((lu, piv), b)}


def _errors(out, a, spd, b, low) -> dict:
    """Max relative error of each result against float64 NumPy/SciPy."""
    a64, spd64, b64, low64 = (x.astype(F64) for x in (a, spd, b, low))
    lu64, piv64 = sl.lu_factor(a64)
    q64, r64 = np.linalg.qr(a64)
    sign, logdet = out["slogdet"]
    np.testing.assert_array_equal(out["lu_factor"][1], piv64)  # LAPACK's pivots exactly
    np.testing.assert_array_equal(sign, np.linalg.slogdet(a64)[0])
    return {
        "cholesky": _rel(out["cholesky"], np.linalg.cholesky(spd64)),
        "solve": _rel(out["solve"], np.linalg.solve(a64, b64)),
        "inv": _rel(out["inv"], np.linalg.inv(a64)),
        "det": _rel(out["det"], np.linalg.det((a * _det_scale(a)).astype(F64))),
        "slogdet": _rel(logdet, np.linalg.slogdet(a64)[1]),
        "qr": max(_rel(out["qr"][0], q64), _rel(out["qr"][1], r64)),
        "lu_factor": _rel(out["lu_factor"][0], lu64),
        "solve_triangular": _rel(out["solve_triangular"], np.linalg.solve(low64, b64)),
        "solve_triangular_T": _rel(out["solve_triangular_T"],
                                   np.linalg.solve(np.swapaxes(low64, -1, -2), b64)),
        "lu_solve": _rel(out["lu_solve"], np.linalg.solve(a64, b64)),
    }


SMALL = [1, 2, 3, 8, 33]
LARGE = [64, 256]  # 128 takes the same blocked paths as 64 and 256 (a minute of CPU)


@pytest.mark.parametrize("n", [pytest.param(n, marks=pytest.mark.slow) if n > 8 else n
                               for n in [*SMALL, LARGE[0]]])
def test_accuracy_interpreted(n):
    args = _inputs(n)
    errors = _errors(interpret_fn(_everything, *args), *args)
    assert max(errors.values()) < 1e-5, errors


# 33 (a remainder block) runs on the interpreter (test_accuracy_interpreted), and the blocked
# gradient program at n = 19 compiles a remainder block; its IREE compile took ~35 s of CPU for
# paths that 8, 64 and 256 already take
@pytest.mark.parametrize("n", [pytest.param(n, marks=pytest.mark.slow) if n > 3 else n
                               for n in [3, 8, *LARGE]])
def test_accuracy_iree(n):
    args = _inputs(n)
    errors = _errors(aotc.jit(_everything)(*args), *args)
    assert max(errors.values()) < 1e-5, errors


def _traced_once(fn, *example):
    """fn traced once for arguments shaped like example, as a function that interprets that
    program: the loop over same-shaped matrices need not retrace fn for each (~40% of its CPU)."""
    traced = aotc.lower(fn, *example)

    def run(*args):
        outs = aotc.interpret(traced.module, traced.name, *map(np.asarray, args))
        return tree.unflatten(traced.out_tree, outs)
    return run


@pytest.mark.parametrize("n", [3, pytest.param(kernels.BLOCK + 1, marks=pytest.mark.slow)])
def test_batched_matches_a_loop_and_vmap(n):
    """Leading batch dims and aotc.vmap both match a Python loop over the matrices."""
    a, spd, b, low = _inputs(n, batch=(2, 2))
    out = interpret_fn(_everything, a, spd, b, low)
    mapped = interpret_fn(aotc.vmap(_everything), a[:, 0], spd[:, 0], b[:, 0], low[:, 0])
    single = _traced_once(_everything, a[0, 0], spd[0, 0], b[0, 0], low[0, 0])
    for i in range(2):
        for j in range(2):
            one = single(a[i, j], spd[i, j], b[i, j], low[i, j])
            for key, value in one.items():
                for got, want in zip(jax.tree.leaves(out[key]), jax.tree.leaves(value)):
                    np.testing.assert_allclose(np.asarray(got)[i, j], want, rtol=1e-5,
                                               atol=1e-6, err_msg=key)
                if j == 0:
                    for got, want in zip(jax.tree.leaves(mapped[key]), jax.tree.leaves(value)):
                        np.testing.assert_allclose(np.asarray(got)[i], want, rtol=1e-5,
                                                   atol=1e-6, err_msg=key)


def test_solve_broadcasts_batch_dims_and_vector_rhs():
    a, _, b, _ = _inputs(4, batch=(3,))
    x = anp.linalg.solve(a, b[0])  # b (n, k) against a (3, n, n)
    np.testing.assert_allclose(x, np.linalg.solve(a.astype(F64), b[0]), rtol=1e-5, atol=1e-6)
    v = anp.linalg.solve(a, b[0, :, 0])  # b (n,): one vector for every matrix
    np.testing.assert_allclose(v, jnp.linalg.solve(a, b[0, :, 0]), rtol=1e-5, atol=1e-6)


# ---- derivatives: JAX's rules -------------------------------------------------------------------

W = np.random.default_rng(7).standard_normal((40, 40)).astype(np.float32)


def _scalar_cases(m, sl_m, n):
    """Scalar functions of one matrix through each factorization; m: aotc.numpy or jax.numpy,
    sl_m: the scipy namespace."""
    w = W[:n, :n]
    b = W[:n, :3]
    return {
        "cholesky": lambda x: (m.linalg.cholesky(x @ x.T + n * np.eye(n, dtype=np.float32))
                               * w).sum(),
        "solve": lambda x: (m.linalg.solve(x, b) * b).sum(),
        "inv": lambda x: (m.linalg.inv(x) * w).sum(),
        "det": lambda x: m.linalg.det(x),
        "slogdet": lambda x: m.linalg.slogdet(x)[1],
        "qr": lambda x: (m.linalg.qr(x)[0] * w).sum() + (m.linalg.qr(x)[1] * w).sum(),
        "lu_factor": lambda x: (sl_m.lu_factor(x)[0] * w).sum(),
        "solve_triangular": lambda x: (sl_m.solve_triangular(x, b, lower=True) * b).sum(),
        "cho_solve": lambda x: (sl_m.cho_solve(sl_m.cho_factor(x @ x.T + np.eye(
            n, dtype=np.float32)), b) * b).sum(),
    }


def _point(n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((n, n)) + 2 * np.sqrt(n) * np.eye(n)).astype(np.float32)
    return x, rng.standard_normal((n, n)).astype(np.float32)


def _assert_derivative_close(got, want, key):
    """Within 1e-4 relative, or 1e-5 of the array's largest magnitude: det's gradient at n = 19
    spans 1e13..1e17, and JAX's own float32 value of a 1.6e13 entry is 1e-4 off float64 (aotc's
    is 9e-7 off)."""
    atol = max(1e-4, 1e-5 * float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol, err_msg=key)


def _jax_derivatives(cases, x, t) -> dict:
    """{key: (jax.grad, jax.jvp tangent)} of every case, in one jax.jit (eager JAX dispatches
    the factorizations' derivatives op by op: ~4x the CPU)."""
    return jax.jit(lambda x, t: {k: (jax.grad(f)(x), jax.jvp(f, (x,), (t,))[1])
                                 for k, f in cases.items()})(x, t)


@pytest.mark.parametrize("keys", [("cholesky", "solve", "qr"),
                                  pytest.param(("inv", "det", "slogdet", "lu_factor",
                                                "solve_triangular", "cho_solve"),
                                               marks=pytest.mark.slow)])
def test_grad_and_jvp_match_jax_interpreted(keys):
    n = 4
    x, t = _point(n)
    ours, theirs = _scalar_cases(anp, asl, n), _scalar_cases(jnp, jsl, n)
    theirs = {k: theirs[k] for k in keys}

    def all_derivatives(x, t):
        return {k: (aotc.grad(ours[k])(x), aotc.jvp(ours[k], (x,), (t,))[1]) for k in keys}

    got = interpret_fn(all_derivatives, x, t)
    expected = _jax_derivatives(theirs, x, t)
    for key in theirs:
        for ours_, jax_ in zip(got[key], expected[key]):
            _assert_derivative_close(ours_, jax_, key)


# The blocked size compiles the three blocked factorizations only (Cholesky, Householder QR,
# LU: solve, inv, det and slogdet are LU plus triangular solves); the blocked derivatives of
# solve and det also run on the interpreter (test_grad_matches_jax_interpreted_blocked). All
# nine functions at n = 19 took 80-120 s of CPU in one compile.
BLOCKED_IREE_KEYS = ("cholesky", "qr", "lu_factor")


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, kernels.BLOCK * 2 + 3])
def test_grad_and_jvp_match_jax_iree(n):
    """IREE-compiled grads and jvps, in one program (one compile, not a grad and a jvp
    program); n > BLOCK runs the blocked loops."""
    x, t = _point(n)
    ours, theirs = _scalar_cases(anp, asl, n), _scalar_cases(jnp, jsl, n)
    if n > kernels.BLOCK:
        ours = {k: ours[k] for k in BLOCKED_IREE_KEYS}
        theirs = {k: theirs[k] for k in BLOCKED_IREE_KEYS}
    grads, jvps = aotc.jit(lambda x, t: ({k: aotc.grad(f)(x) for k, f in ours.items()},
                                         {k: aotc.jvp(f, (x,), (t,))[1]
                                          for k, f in ours.items()}))(x, t)
    expected = _jax_derivatives(theirs, x, t)
    for key in theirs:
        _assert_derivative_close(grads[key], expected[key][0], key)
        _assert_derivative_close(jvps[key], expected[key][1], key)


@pytest.mark.slow
def test_grad_matches_jax_interpreted_blocked():
    n = kernels.BLOCK * 2 + 3
    x, t = _point(n)
    ours, theirs = _scalar_cases(anp, asl, n), _scalar_cases(jnp, jsl, n)
    keys = ("cholesky", "solve", "det", "qr", "lu_factor")
    expected = _jax_derivatives({k: theirs[k] for k in keys}, x, t)
    for key in keys:
        g = interpret_fn(aotc.grad(ours[key]), x)
        _assert_derivative_close(g, expected[key][0], key)
        tangent = interpret_fn(lambda x, t, f=ours[key]: aotc.jvp(f, (x,), (t,))[1], x, t)
        _assert_derivative_close(tangent, expected[key][1], key)


def test_det_grad_of_singular_matrices_is_the_adjugate_as_jax():
    rank_n1 = np.array([[1, 2, 3], [2, 4, 6], [1, 0, 1], ], np.float32)
    rank_n1 = np.pad(rank_n1, ((0, 1), (0, 1))) + np.diag([0, 0, 0, 1]).astype(np.float32)
    rank_n2 = np.ones((4, 4), np.float32)
    for x in (rank_n1, rank_n2):
        assert abs(np.linalg.det(x.astype(F64))) < 1e-6
        np.testing.assert_allclose(interpret_fn(aotc.grad(anp.linalg.det), x),
                                   jax.grad(jnp.linalg.det)(x), atol=1e-5)


def test_grad_through_a_custom_jvp_rule_with_a_loop_on_tangents():
    """Reverse mode linearizes a custom_jvp rule whose tangent goes through a fori_loop."""

    @aotc.custom_jvp
    def f(x):
        return anp.sin(x) * 8.0

    @f.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), lax.fori_loop(0, 3, lambda i, c: c * 2.0, anp.cos(x) * t)

    x = np.linspace(0.1, 1.0, 4).astype(np.float32)
    np.testing.assert_allclose(interpret_fn(aotc.grad(lambda x: f(x).sum()), x),
                               8 * np.cos(x), rtol=1e-6)


# ---- hard inputs ---------------------------------------------------------------------------------


def _hilbert(n):
    i = np.arange(n)
    return 1.0 / (i[:, None] + i[None, :] + 1.0)


def test_ill_conditioned_hilbert_matrices():
    for n in (4, 6):  # cond 1.6e4, 1.5e7: float32 keeps ~cond * 1e-7
        h = _hilbert(n)
        h32 = h.astype(np.float32)
        low = np.asarray(interpret_fn(anp.linalg.cholesky, h32), F64)
        assert np.max(np.abs(low @ low.T - h)) < 1e-6  # backward stable
        x = np.asarray(interpret_fn(anp.linalg.solve, h32, np.ones(n, np.float32)), F64)
        assert np.max(np.abs(h32.astype(F64) @ x - 1)) < 1e-4
        assert _rel(x, np.linalg.solve(h32.astype(F64), np.ones(n))) < np.linalg.cond(h) * 1e-6


def test_not_positive_definite_gives_nans_like_jax():
    x = np.array([[1.0, 2.0], [2.0, 1.0]], np.float32)
    big = -np.eye(12, dtype=np.float32)
    for m, run in ((x, aotc.jit(anp.linalg.cholesky)), (big, anp.linalg.cholesky)):
        ours = np.asarray(run(m))
        np.testing.assert_array_equal(ours, jnp.linalg.cholesky(m))  # NaN below, 0 above
        assert np.isnan(ours[np.tril_indices(len(m))]).all()


def test_singular_matrices():
    s = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]], np.float32)
    s4 = np.pad(s, ((0, 1), (0, 1)))
    assert interpret_fn(anp.linalg.det, s4) == 0
    sign, logdet = interpret_fn(anp.linalg.slogdet, s4)
    assert sign == 0 and logdet == -np.inf
    x = aotc.jit(anp.linalg.solve)(s4, np.ones(4, np.float32))
    assert not np.isfinite(x).all()
    lu, piv = interpret_fn(asl.lu_factor, s4)
    np.testing.assert_array_equal(piv, sl.lu_factor(s4.astype(F64))[1])
    assert np.diag(lu)[-1] == 0


# ---- scipy signatures ----------------------------------------------------------------------------


def test_scipy_signatures_match_jax_scipy():
    a, spd, b, low = _inputs(5)
    up = low.T.copy()
    cases = {
        "cholesky upper": lambda m: m.cholesky(spd),
        "cholesky lower": lambda m: m.cholesky(spd, lower=True),
        "cho_solve upper": lambda m: m.cho_solve(m.cho_factor(spd), b),
        "cho_solve lower": lambda m: m.cho_solve(m.cho_factor(spd, lower=True), b[:, 0]),
        "solve_triangular N": lambda m: m.solve_triangular(up, b),
        "solve_triangular T": lambda m: m.solve_triangular(up, b, trans="T"),
        "solve_triangular C unit": lambda m: m.solve_triangular(low, b, trans=2, lower=True,
                                                                unit_diagonal=True),
        "lu": lambda m: m.lu(a),
        "lu permute_l": lambda m: m.lu(a, permute_l=True),
        "lu wide": lambda m: m.lu(a[:3]),
        "lu tall": lambda m: m.lu(a[:, :3]),
        "lu_solve": lambda m: m.lu_solve(m.lu_factor(a), b),
        "lu_solve trans": lambda m: m.lu_solve(m.lu_factor(a), b, trans=1),
        "solve gen": lambda m: m.solve(a, b),
        "solve pos": lambda m: m.solve(spd, b, assume_a="pos"),
        "solve pos lower": lambda m: m.solve(np.tril(spd), b, assume_a="pos", lower=True),
        "inv": lambda m: m.inv(a),
        "det": lambda m: m.det(a),
        "qr full": lambda m: m.qr(a[:, :3]),
        "qr economic": lambda m: m.qr(a[:, :3], mode="economic"),
        "qr r": lambda m: m.qr(a[:, :3], mode="r"),
    }
    for name, case in cases.items():
        got, want = case(asl), case(jsl)
        got_leaves, want_leaves = jax.tree.leaves(got), jax.tree.leaves(want)
        assert len(got_leaves) == len(want_leaves), name
        for g, w in zip(got_leaves, want_leaves):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-5, atol=2e-5,
                                       err_msg=name)


def test_numpy_qr_modes_and_result_types():
    a = _inputs(5)[0][:, :3]
    for mode in ("reduced", "complete"):
        q, r = anp.linalg.qr(a, mode=mode)
        qj, rj = jnp.linalg.qr(a, mode=mode)
        np.testing.assert_allclose(q, qj, atol=2e-5)
        np.testing.assert_allclose(r, rj, atol=2e-5)
    np.testing.assert_allclose(anp.linalg.qr(a, mode="r"), jnp.linalg.qr(a, mode="r"), atol=2e-5)
    assert anp.linalg.qr(a).Q.shape == (5, 3) and anp.linalg.slogdet(a[:3, :3]).logabsdet.ndim == 0
    np.testing.assert_allclose(anp.linalg.cholesky(_inputs(4)[1], upper=True),
                               jnp.linalg.cholesky(_inputs(4)[1], upper=True), rtol=1e-5)


# ---- errors --------------------------------------------------------------------------------------


def test_bad_shapes_are_tracing_errors_at_the_users_line():
    square = np.eye(3, dtype=np.float32)
    cases = [
        (lambda: anp.linalg.cholesky(np.ones((3, 4), np.float32)), "square matrices"),
        (lambda: anp.linalg.inv(np.ones(3, np.float32)), "square matrices"),
        (lambda: anp.linalg.det(np.ones((2, 3), np.float32)), "square matrices"),
        (lambda: anp.linalg.solve(square, np.ones(4, np.float32)), "b must have shape"),
        (lambda: anp.linalg.solve(square, np.ones((2, 3), np.float32)), "b must have shape"),
        (lambda: asl.lu_solve(asl.lu_factor(square), np.ones((5, 1), np.float32)),
         "b must have shape"),
        (lambda: anp.linalg.qr(square, mode="full"), "mode must be"),
        (lambda: asl.solve_triangular(square, np.ones(3, np.float32), trans=3), "trans must be"),
        (lambda: asl.solve(square, np.ones(3, np.float32), assume_a="tri"), "assume_a"),
        (lambda: asl.qr(square, pivoting=True), "pivoting"),
    ]
    for call, message in cases:
        with pytest.raises(TracingError, match=rf"test_linalg_factor.py:\d+: .*{message}"):
            call()
