"""JAX programs whose CPU lowering calls LAPACK (`stablehlo.custom_call @lapack_*_ffi`), imported.

Each program is exported with `jax.jit(f).lower(...).as_text()`; aotc.differentiate (reverse and
forward) and aotc.vectorize add `main_vjp`, `main_jvp` and `main_vmap`, which run through the
reference interpreter (the LAPACK calls expand into frontend/linalg's portable StableHLO, see
frontend/linalg/lapack_calls.py) and are compared with jax.grad, jax.jvp and jax.vmap of the same
function (JAX runs LAPACK). One IREE compile runs a program that combines most calls. Each
program is a weighted sum of its results; eigen- and singular vectors enter squared (their signs
are a convention: aotc's differ from LAPACK's).
"""

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
from helpers import check_vjp_jvp_vmap
from jax._src.lax import linalg as lax_linalg  # geqrf: JAX exports it only privately
from scipy.linalg import lapack as scipy_lapack

import aotc
from aotc.frontend.core import registry
from aotc.frontend.core.emit import Attrs
from aotc.frontend.core.ir import ir
from aotc.frontend.linalg import lapack_calls
from aotc.frontend.trace.staging import parse_module
from aotc.tools.compile import compile_stablehlo
from aotc_runtime import load_bytes

jax.config.update("jax_platforms", "cpu")

F32 = np.float32
RNG = np.random.default_rng(3)
SIZE = 3  # vmap lanes


def normal(*shape):
    return RNG.standard_normal(shape).astype(F32)


def weights(*shape):  # fixed per shape, so aotc and JAX see the same constants
    return np.random.default_rng(sum(shape) * 7 + len(shape)).standard_normal(shape).astype(F32)


def spd(x):
    return x @ x.T + x.shape[0] * jnp.eye(x.shape[0], dtype=x.dtype)


def wsum(*arrays):
    return sum(jnp.sum(weights(*a.shape) * a) for a in arrays)


def _cholesky(x):
    return wsum(jnp.linalg.cholesky(spd(x)))


def _batched_cholesky(x):  # num_batch_dims = 1
    return wsum(jnp.linalg.cholesky(jax.vmap(spd)(x)))


def _solve(a, b):
    return wsum(jnp.linalg.solve(a, b))


def _det(a):  # n >= 4: LU (2x2 and 3x3 have closed forms)
    return jnp.linalg.det(a)


def _slogdet(a):
    sign, logdet = jnp.linalg.slogdet(a)
    return sign * logdet


def _qr(a):
    return wsum(*jnp.linalg.qr(a))


def _qr_complete(a):
    return wsum(*jnp.linalg.qr(a, mode="complete"))


def _eigh(x):
    w, v = jnp.linalg.eigh(spd(x))
    return wsum(w, v * v)


def _svd(a):
    u, s, vt = jnp.linalg.svd(a, full_matrices=False)
    return wsum(s, u * u, vt * vt)


def _svd_full(a):  # square: JAX differentiates full_matrices=True there
    u, s, vt = jnp.linalg.svd(a)
    return wsum(s, u * u, vt * vt)


def _svdvals(a):
    return wsum(jnp.linalg.svd(a, compute_uv=False))


def _lu(a):
    p, low, up = jsl.lu(a)
    return wsum(p, low, up)


def _cho_solve(x, b):
    return wsum(jsl.cho_solve(jsl.cho_factor(spd(x), lower=True), b))


def _triangular_right(a, b):  # side R, transposed, unit diagonal
    x = jax.lax.linalg.triangular_solve(a, b, left_side=False, lower=True, transpose_a=True,
                                        unit_diagonal=True)
    return wsum(x)


def _upper_solve(a, b):
    return wsum(jsl.solve_triangular(a + 4 * jnp.eye(4), b, lower=False, trans=1))


def _well_conditioned(n):
    return normal(n, n) + F32(n) * np.eye(n, dtype=F32)


CASES = [  # name, fn, args, gradient tolerance
    ("cholesky", _cholesky, (normal(4, 4),), 2e-4),
    ("batched_cholesky", _batched_cholesky, (normal(2, 3, 3),), 2e-4),
    ("solve", _solve, (_well_conditioned(4), normal(4, 2)), 2e-4),
    ("det", _det, (normal(5, 5),), 2e-4),
    ("slogdet", _slogdet, (normal(4, 4),), 2e-4),
    ("qr", _qr, (normal(5, 3),), 2e-4),
    ("qr_complete", _qr_complete, (normal(4, 4),), 2e-4),
    ("eigh", _eigh, (normal(4, 4),), 1e-3),
    ("svd", _svd, (normal(5, 3),), 1e-3),
    ("svd_full", _svd_full, (normal(4, 4),), 1e-3),
    ("svdvals", _svdvals, (normal(3, 5),), 2e-4),
    ("lu", _lu, (normal(4, 4),), 2e-4),
    ("cho_solve", _cho_solve, (normal(4, 4), normal(4, 1)), 2e-4),
    ("triangular_right", _triangular_right, (normal(3, 3), normal(2, 3)), 2e-4),
    ("upper_solve", _upper_solve, (normal(4, 4), normal(4, 2)), 2e-4),
]


def _lanes(args):
    return [np.stack([np.asarray(a) * F32(1 + 0.25 * k) for k in range(SIZE)]) for a in args]


def _build(fn, args):
    argnums = tuple(range(len(args)))
    module = aotc.differentiate(jax.jit(fn).lower(*args).as_text(), argnums=argnums)
    aotc.differentiate(module, argnums=argnums, mode="forward")
    return aotc.vectorize(module, in_axes=(0,) * len(args), axis_size=SIZE)


def _expected(fn, args):
    grads = jax.jit(jax.grad(fn, argnums=tuple(range(len(args)))))(*args)
    rng = np.random.default_rng(11)
    directions = [rng.standard_normal(np.shape(a)).astype(F32) for a in args]
    value, tangent = jax.jit(lambda p, t: jax.jvp(fn, p, t))(list(args), directions)
    batched = _lanes(args)
    return value, grads, directions, tangent, batched, jax.jit(jax.vmap(fn))(*batched)


def _check(run, args, expected, tol):
    value, *derivatives = expected
    check_vjp_jvp_vmap(run, args, *derivatives, tol, vmap_tol=1e-4, value=value)


@pytest.mark.parametrize("name, fn, args, tol", CASES, ids=[c[0] for c in CASES])
def test_lapack_calls_through_the_interpreter(name, fn, args, tol):
    module = _build(fn, args)
    _check(lambda f, *a: aotc.interpret(module, f, *a), args, _expected(fn, args), tol)


def _combined(x, a, r, b):  # one IREE compile: potrf, trsm (two forms), getrf, geqrf, orgqr
    return _cho_solve(x, b) + _slogdet(a) + _qr(r)


COMBINED_ARGS = (normal(4, 4), normal(4, 4), normal(5, 3), normal(4, 1))


@pytest.fixture(scope="module")
def combined_artifact():
    module = _build(_combined, COMBINED_ARGS)
    text = str(module)
    assert "lapack_" in text  # the calls reach the compiler; its bounds pass expands them
    with module.context:
        return load_bytes(compile_stablehlo(text), require_aotc=False)


@pytest.mark.slow
def test_lapack_calls_through_iree(combined_artifact):
    _check(lambda f, *a: combined_artifact[f](*a), COMBINED_ARGS,
           _expected(_combined, COMBINED_ARGS), 1e-3)


@pytest.mark.slow
def test_eigh_through_iree():
    args = (normal(4, 4),)
    module = _build(_eigh, args)
    with module.context:
        compiled = load_bytes(compile_stablehlo(str(module)), require_aotc=False)
    _check(lambda f, *a: compiled[f](*a), args, _expected(_eigh, args), 1e-3)


def _orthogonal(key):
    return jax.nn.initializers.orthogonal()(jax.random.wrap_key_data(key), (4, 3))


def test_orthogonal_initializer_and_its_vmap():
    keys = np.stack([np.asarray(jax.random.key_data(jax.random.PRNGKey(k))) for k in range(3)])
    module = aotc.vectorize(jax.jit(_orthogonal).lower(keys[0]).as_text(), axis_size=3)
    (got,) = aotc.interpret(module, "main", keys[0])
    np.testing.assert_allclose(got, jax.jit(_orthogonal)(keys[0]), atol=2e-6)
    (got,) = aotc.interpret(module, "main_vmap", keys)
    np.testing.assert_allclose(got, jax.jit(jax.vmap(_orthogonal))(keys), atol=2e-6)


def test_raw_lapack_outputs_match_lapack_conventions():
    """The calls' own results, not only what JAX makes of them: getrf's packed LU and pivots,
    geqrf's Householder reflectors and taus (scipy's LAPACK as the oracle), orgqr's Q from
    LAPACK's own reflectors."""
    a = _well_conditioned(4)
    text = jax.jit(jax.lax.linalg.lu).lower(a).as_text()
    lu, pivots, perm = aotc.interpret(parse_module(text), "main", a)
    want = jax.jit(jax.lax.linalg.lu)(a)
    np.testing.assert_allclose(lu, want[0], atol=1e-5)
    np.testing.assert_array_equal(pivots, want[1])
    np.testing.assert_array_equal(perm, want[2])
    r = normal(5, 3)
    qr_packed, tau, _, _ = scipy_lapack.sgeqrf(r)
    text = jax.jit(lax_linalg.geqrf).lower(r).as_text()
    packed, taus = aotc.interpret(parse_module(text), "main", r)
    np.testing.assert_allclose(packed, qr_packed, atol=1e-5)
    np.testing.assert_allclose(taus, tau, atol=1e-6)
    text = jax.jit(jax.lax.linalg.householder_product).lower(qr_packed, tau).as_text()
    (q,) = aotc.interpret(parse_module(text), "main", qr_packed, tau)
    np.testing.assert_allclose(q, scipy_lapack.sorgqr(qr_packed, tau)[0], atol=1e-6)


def test_float64_calls():
    with jax.enable_x64(True):
        x = RNG.standard_normal((4, 4))
        b = RNG.standard_normal((4, 2))
        text = jax.jit(lambda x, b: (jnp.linalg.cholesky(spd(x)), jnp.linalg.solve(x, b),
                                     jnp.linalg.eigvalsh(spd(x)))).lower(x, b).as_text()
        assert "lapack_dpotrf_ffi" in text and "lapack_dgetrf_ffi" in text
        want = jax.jit(lambda x, b: (jnp.linalg.cholesky(spd(x)), jnp.linalg.solve(x, b),
                                     jnp.linalg.eigvalsh(spd(x))))(x, b)
    got = aotc.interpret(parse_module(text), "main", x, b)
    for g, w in zip(got, want):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


def test_not_positive_definite_gives_nans_like_jax():
    a = np.array([[1.0, 2.0], [2.0, 1.0]], F32)
    text = jax.jit(jnp.linalg.cholesky).lower(a).as_text()
    (got,) = aotc.interpret(parse_module(text), "main", a)
    want = jax.jit(jnp.linalg.cholesky)(a)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got).any()


def _scanned_cholesky(x):  # the call inside a loop body: reverse mode boxes it per iteration
    def body(c, _):
        low = jnp.linalg.cholesky(c @ c.T + 4 * jnp.eye(4))
        return 0.5 * low + 0.1 * c, jnp.sum(low)

    c, ys = jax.lax.scan(body, x, jnp.arange(3))
    return jnp.sum(c) + jnp.sum(ys)


def test_reverse_mode_through_a_loop_of_lapack_calls():
    x = normal(4, 4)
    module = aotc.differentiate(jax.jit(_scanned_cholesky).lower(x).as_text())
    _, grad = aotc.interpret(module, "main_vjp", x, F32(1.0))
    np.testing.assert_allclose(grad, jax.grad(_scanned_cholesky)(x), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("in_axes", [(None, 0), (0, None)])
def test_vmap_with_an_unbatched_operand(in_axes):
    a, b = _well_conditioned(4), normal(4, 2)
    module = aotc.vectorize(jax.jit(_solve).lower(a, b).as_text(), in_axes=in_axes,
                            axis_size=SIZE)
    args = [x if ax is None else lanes for x, ax, lanes in zip((a, b), in_axes, _lanes((a, b)))]
    (got,) = aotc.interpret(module, "main_vmap", *args)
    np.testing.assert_allclose(got, jax.vmap(_solve, in_axes)(*args), rtol=1e-4, atol=1e-4)


def test_type_rules_give_jax_result_types():
    programs = [(fn, args) for _, fn, args, _ in CASES] + [(_orthogonal, (np.zeros(2, np.uint32),))]
    seen = set()
    for fn, args in programs:
        module = parse_module(jax.jit(fn).lower(*args).as_text())
        with module.context, ir.Location.unknown():
            for op in _lapack_ops(module.operation):
                key = registry.rule_key(op)
                rule = registry.lookup("type", key)
                got = rule([v.type for v in op.operands], Attrs.of(op))
                assert [str(t) for t in got] == [str(r.type) for r in op.results], key
                seen.add(key)
    assert len(seen) == 7  # every routine, float32


def _lapack_ops(root):
    pending = [root]
    while pending:
        op = pending.pop()
        for region in op.regions:
            for block in region.blocks:
                pending.extend(o.operation for o in block.operations)
        if op.name == "stablehlo.custom_call" and "lapack_" in registry.rule_key(op):
            yield op


def test_every_float_routine_has_all_rules():
    for target in lapack_calls.targets():
        key = registry.custom_call_key(target)
        for table in ("type", "interpret", "jvp", "vjp", "batch", "bounds"):
            assert key in registry.TABLES[table], (table, key)


def test_complex_calls_name_the_missing_rule():
    a = (normal(3, 3) + 1j * normal(3, 3)).astype(np.complex64)
    text = jax.jit(lambda a: jnp.linalg.qr(a)[1]).lower(a).as_text()
    with pytest.raises(aotc.MissingRuleError, match="lapack_cgeqrf_ffi"):
        aotc.interpret(parse_module(text), "main", a)
