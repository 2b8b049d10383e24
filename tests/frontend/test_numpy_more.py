"""The jnp names a JAX user needs when porting (statistics, searching and sets, floating-point
helpers, more array functions, n-ary einsum) against jax.numpy.

One table of calls is written once against a numpy-like module `m` and run with `m = anp`
(interpreted, and one IREE compile of the whole table) and `m = jax.numpy`; float entries are
also differentiated with aotc.grad and compared with jax.grad.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_grads, check_table, edgy

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")


X = edgy((4, 5))
Y = (X + np.random.default_rng(1).normal(size=X.shape) * 1e-6).astype(np.float32)
INTS = np.random.default_rng(2).integers(-1, 5, (3, 4)).astype(np.int32)
B = np.random.default_rng(3).random((3, 4)) < 0.4
SORTED = np.sort(X.ravel())
V = np.array([0.5, -1.0, 2.0], np.float32)


def _table(m, x, y, i, b):
    """Every new name on float arrays with edge values, plus int and bool cases."""
    row, vec = x[2], y[3]
    return {
        # statistics
        "quantile": m.quantile(x, 0.3),
        "quantile_q": m.quantile(x, np.array([0.0, 0.5, 1.0], np.float32), axis=1),
        "quantile_kd": m.quantile(y, 0.7, axis=0, keepdims=True),
        "quantile_methods": [m.quantile(y, 0.4, axis=1, method=k)
                             for k in ("lower", "higher", "midpoint", "nearest")],
        "quantile_int": m.quantile(i, 0.5, axis=0), "nanquantile": m.nanquantile(x, 0.25, axis=1),
        "percentile": m.percentile(y, np.array([10.0, 90.0], np.float32), axis=0),
        "median": m.median(y, axis=1), "median_all": m.median(x), "median_int": m.median(i),
        "nanmedian": m.nanmedian(x, axis=0), "nanpercentile": m.nanpercentile(x, 30),
        "average": m.average(y, axis=0), "average_w": m.average(
            y, axis=1, weights=np.arange(1.0, 6.0, dtype=np.float32), returned=True),
        "average_int": m.average(i, returned=True),
        "bincount": m.bincount(i.ravel(), length=4),
        "bincount_w": m.bincount(i.ravel(), weights=np.linspace(0, 1, 12, dtype=np.float32),
                                 length=6),
        "convolve": [m.convolve(row, V, mode=k) for k in ("full", "same", "valid")],
        "convolve_swap": m.convolve(V, vec, mode="same"), "convolve_int": m.convolve(i[0], i[1]),
        "correlate": [m.correlate(vec, V, mode=k) for k in ("full", "same", "valid")],
        "correlate_swap": m.correlate(V, vec, mode="full"),
        "trapezoid": m.trapezoid(y), "trapezoid_x": m.trapezoid(y, x=V[[0, 1, 2, 0, 1]] + 3),
        "trapezoid_dx": m.trapezoid(i, dx=0.5, axis=0),
        # searching and sets
        "searchsorted": m.searchsorted(SORTED, x),
        "searchsorted_right": m.searchsorted(SORTED, x, side="right"),
        "searchsorted_int": m.searchsorted(np.arange(4, dtype=np.int32), i, side="right"),
        "select": m.select([x < 0, x > 1], [x, y * 2], 7.0),
        "select_int": m.select([i == 0, b], [i, i * 5]),
        "nonzero": m.nonzero(x, size=25), "nonzero_fill": m.nonzero(i, size=5, fill_value=-1),
        "nonzero_bool": m.nonzero(b, size=3, fill_value=(7, 8)),
        "flatnonzero": m.flatnonzero(i, size=14, fill_value=99),
        "argwhere": m.argwhere(x, size=4), "argwhere_bool": m.argwhere(b, size=13, fill_value=-2),
        "unique": m.unique(x, size=22), "unique_short": m.unique(x, size=3),
        "unique_int": m.unique(i, size=8, fill_value=-9), "unique_bool": m.unique(b, size=3),
        "unique_all_outputs": m.unique(x, return_index=True, return_inverse=True,
                                       return_counts=True, size=22),
        "unique_outputs_short": m.unique(i, return_index=True, return_counts=True, size=3),
        "unique_inverse_fill": m.unique(i, return_inverse=True, size=9, fill_value=-1),
        "unique_nan_distinct": m.unique(x, return_counts=True, size=22, equal_nan=False),
        "isin": m.isin(x, np.array([0.0, np.nan, np.inf, 0.5], np.float32)),
        "isin_int": m.isin(i, np.array([1, 2]), invert=True),
        # floating-point helpers
        "isclose": m.isclose(x, y), "isclose_nan": m.isclose(x, y, equal_nan=True),
        "isclose_int": m.isclose(i, 1), "allclose": m.allclose(x, y, equal_nan=True),
        "allclose_not": m.allclose(x, y + 1e-3),
        "nan_to_num": m.nan_to_num(x), "nan_to_num_int": m.nan_to_num(i),
        "nan_to_num_values": m.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-3.0),
        "logaddexp2": m.logaddexp2(x, y), "logaddexp2_int": m.logaddexp2(i, 2.0),
        # more array functions
        "concat": m.concat([x, y], axis=1),
        "broadcast_arrays": m.broadcast_arrays(x[:3, :1], i, 2.0),
        "atleast_3d": [m.atleast_3d(x), m.atleast_3d(row), m.atleast_3d(i[0, 0]),
                       *m.atleast_3d(x, b)],
        "rot90": [m.rot90(x, k) for k in (-1, 0, 1, 2, 3)], "rot90_axes": m.rot90(b[None], 1,
                                                                                  (2, 0)),
        "cross": m.cross(x[:, :3], y[:, 2:]), "cross_2d": m.cross(x[:, :2], y[:, :2]),
        "cross_mixed": m.cross(y[:, :2], x[:, 1:4]), "cross_axis": m.cross(y[:, :3].T, V, axisa=0),
        "cross_int": m.cross(i[:, :3], i[:, 1:]),
        "kron": m.kron(y[:2, :3], i), "kron_rank": m.kron(row, b),
        "triu_indices": m.triu_indices(4), "triu_indices_km": m.triu_indices(3, 1, 5),
        "tril_indices": m.tril_indices(4, -1), "diag_indices": m.diag_indices(3, 3),
        # einsum: repeated indices and three or more operands
        "einsum_trace": m.einsum("ii->", y[:, :4]), "einsum_diag": m.einsum("ii->i", y[:, 1:]),
        "einsum_diag_implicit": m.einsum("ii", i[:, :3]),
        "einsum_diag_batch": m.einsum("iji->ji", m.reshape(y[:, :3], (2, 2, 3))[:, :, :2]),
        "einsum_chain": m.einsum("ij,jk,kl->il", y, y.T, y[:, :2]),
        "einsum_chain_sum": m.einsum("ij,jk,kl", y, y.T, y[:, :2]),
        "einsum_three": m.einsum("i,i,i->i", row, vec, row),
        "einsum_four": m.einsum("ab,bc,ca,d->d", y[:, :4], y[:, 1:].T, y[:, :4], V),
        "einsum_mixed": m.einsum("ii,ij->j", y[:, :4], y[:, :3]),
        "einsum_int": m.einsum("ij,kj,kl->il", i, i, i),
        # einsum with '...': explicit and implicit output, broadcast size-1 dims, diagonals
        "einsum_ellipsis": m.einsum("...ij,jk->...ik", m.stack([y, x]), y.T),
        "einsum_ellipsis_implicit": m.einsum("...ij,jk", y[None], y.T[:, :3]),
        "einsum_ellipsis_broadcast": m.einsum("...ij,...jk", y[None, :, :3],
                                              m.stack([y[:3, :2], y[1:4, :2]])),
        "einsum_ellipsis_sum": m.einsum("i...->...", y), "einsum_ellipsis_only": m.einsum(
            "...", y),
        "einsum_ellipsis_trailing": m.einsum("ij...,jk...->ik...", m.reshape(y, (2, 2, 5)),
                                             m.reshape(y[:2], (2, 5, 1))),
        "einsum_ellipsis_diag": m.einsum("...ii->...i", m.reshape(y[:, :4], (1, 4, 4))),
        "einsum_ellipsis_scalar": m.einsum("...,...", y, 2.0),
        "einsum_ellipsis_int": m.einsum("...j,j", i, i[0]),
    }


def _args():
    return X, Y, INTS, B


def test_table_matches_jax_interpreted_and_compiled():
    check_table(_table, jnp, anp, _args(), 1e-5, 1e-5)


def _grad_table(m, x, y):
    """Float functions JAX differentiates, on finite inputs (ties only for logaddexp2)."""
    row = x[0]
    return {
        "quantile": m.quantile(x, np.array([0.3, 0.5], np.float32), axis=1),
        "percentile": m.percentile(x, 75), "median": m.median(x, axis=0),
        "nanmedian": m.nanmedian(m.where(x > 1.5, np.nan, x), axis=1),
        "average": m.average(x, axis=1, weights=y[0] ** 2 + 1),
        "convolve": m.convolve(row, y[1, :3], mode="same"), "correlate": m.correlate(row, y[1]),
        "trapezoid": m.trapezoid(x, x=row + y[0] ** 2, axis=1),
        "select": m.select([x < 0, x > 1], [x * y, x ** 2], 1.0),
        "nan_to_num": m.nan_to_num(x / y),
        "logaddexp2": m.logaddexp2(x, m.concat([x[:2], y[2:]])),
        "cross": m.cross(x[:, :3], y[:, 1:4]), "kron": m.kron(x[:2, :2], y[:2]),
        "rot90": m.rot90(x * y), "isin_weighted": m.isin(x, y) * x,
        "einsum_diag": m.einsum("ii->i", x[:, :4] * y[:, 1:]),
        "einsum_chain": m.einsum("ij,jk,kl->il", x, y.T, x[:, :2]),
        "einsum_mixed": m.einsum("ii,ij,j->", x[:, :4], y[:, :3], row[:3]),
        "einsum_ellipsis": m.einsum("...ij,...jk", x[None, :, :3], m.stack([y[:3], y[1:]])),
    }


def _unique_rows_table(m, x, y, i, b):
    """unique along an axis, compiled apart from the main table in two programs: IREE 3.13
    fails to compile (LLVM translation of builtin.unrealized_conversion_cast) some programs
    holding two of these uniques (the two row cases; a 1-D float unique with a row unique)."""
    return {
        "unique_rows": m.unique(i[np.array([2, 0, 2, 1, 0])], axis=0, return_index=True,
                                return_inverse=True, return_counts=True, size=4),
        "unique_columns": m.unique(y[:, np.array([1, 3, 1, 0])], axis=-1, return_index=True,
                                   return_inverse=True, size=3),
    }


def _unique_fill_table(m, x, y, i, b):
    return {
        "unique_rows_fill": m.unique(i[np.array([2, 0, 2])], axis=0, size=3, fill_value=-1),
        "unique_columns_bool": m.unique(b[:, np.array([0, 0, 1])], axis=1, return_counts=True,
                                        size=2),
    }


def test_unique_along_an_axis_matches_jax():
    check_table(_unique_rows_table, jnp, anp, _args(), 1e-6, 1e-6)
    check_table(_unique_fill_table, jnp, anp, _args(), 1e-6, 1e-6)
    # eagerly on concrete arrays, size= defaults to the number of unique values, as in JAX
    rows = INTS[np.array([2, 0, 2, 1])]
    for got, want in zip(anp.unique(rows, axis=0, return_inverse=True, return_counts=True),
                         jnp.unique(rows, axis=0, return_inverse=True, return_counts=True)):
        np.testing.assert_array_equal(got, want)


def test_grads_match_jax():
    rng = np.random.default_rng(4)
    x, y = (rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2))
    check_grads(_grad_table, jnp, anp, x, y)


@pytest.mark.parametrize("call", [
    lambda x: anp.unique(x), lambda x: anp.nonzero(x), lambda x: anp.argwhere(x),
    lambda x: anp.flatnonzero(x), lambda x: anp.bincount(anp.astype(x, anp.int32)),
], ids=["unique", "nonzero", "argwhere", "flatnonzero", "bincount"])
def test_data_dependent_sizes_need_a_static_size(call):
    with pytest.raises(TracingError, match=r"size=|length="):
        aotc.lower(call, np.ones(3, np.float32))


def test_finfo_and_iinfo_follow_jnp():
    for dt in (anp.float16, anp.bfloat16, anp.float32):
        assert anp.finfo(dt).eps == jnp.finfo(dt).eps and anp.finfo(dt).max == jnp.finfo(dt).max
    assert anp.finfo(anp.ones(2)).bits == 32
    assert (anp.iinfo(anp.int8).min, anp.iinfo(anp.uint16).max) == (-128, 65535)
    assert anp.iinfo(np.ones(2, np.int32)).max == jnp.iinfo(jnp.int32).max
