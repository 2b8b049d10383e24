"""Numerical jnp helpers (NaN reductions, array-API cumulative ops, interp/digitize, gradient,
polynomials, cov/corrcoef, histograms, piecewise, vectorize/apply_along_axis) against jax.numpy.

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
X[-1] = np.nan  # and one all-NaN row
Y = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
INTS = np.random.default_rng(2).integers(-3, 5, (3, 4)).astype(np.int32)
XP = np.array([-1.0, -0.25, 0.5, 0.5, 2.0], np.float32)
FP = np.array([1.0, -2.0, 0.5, 3.0, 0.0], np.float32)


def _table(m, x, y, i, xp, fp):
    """Every new name on float arrays with edge values, plus int cases."""
    row, col = y[1], y[:, 2]
    conds = [y < -0.5, y > 0.5]
    return {
        # NaN-skipping reductions
        "nanmax": [m.nanmax(x), m.nanmax(x, axis=1), m.nanmax(x, axis=0, keepdims=True)],
        "nanmin": [m.nanmin(x), m.nanmin(x, axis=1), m.nanmin(i, axis=0)],
        "nanprod": [m.nanprod(x, axis=1), m.nanprod(i, axis=1), m.nanprod(x[:3, 1:3])],
        "nanargmax": [m.nanargmax(x, axis=1), m.nanargmax(x[:3]), m.nanargmax(i, axis=0)],
        "nanargmin": [m.nanargmin(x, axis=1), m.nanargmin(y, axis=0, keepdims=True),
                      m.nanargmin(i)],
        "nanvar": [m.nanvar(x, axis=1), m.nanvar(y, ddof=1), m.nanvar(i, axis=0),
                   m.nanvar(x, axis=0, ddof=2, keepdims=True)],
        "nanstd": [m.nanstd(x, axis=1), m.nanstd(y, axis=0, ddof=1)],
        "ptp": [m.ptp(y), m.ptp(i, axis=1), m.ptp(x, axis=0, keepdims=True)],
        # array-API cumulative ops
        "cumulative_sum": [m.cumulative_sum(row), m.cumulative_sum(y, axis=1, include_initial=True),
                           m.cumulative_sum(i, axis=0, include_initial=True),
                           m.cumulative_sum(i[0] > 0, include_initial=True)],
        "cumulative_prod": [m.cumulative_prod(row, include_initial=True),
                            m.cumulative_prod(i, axis=1, dtype=np.float32)],
        # interpolation and binning
        "interp": [m.interp(y, xp, fp), m.interp(row, xp, fp, left=-7.0, right=9.0),
                   m.interp(col, xp, fp, left="extrapolate", right="extrapolate"),
                   m.interp(y, xp[np.array([0, 1, 2, 4])], fp[:4], period=2.5),
                   m.interp(i, xp, fp)],
        "digitize": [m.digitize(y, xp), m.digitize(y, xp, right=True), m.digitize(i, xp[::-1]),
                     m.digitize(x, xp[::-1], right=True)],
        "histogram": [m.histogram(y), m.histogram(y, bins=4, range=(-1.0, 1.0)),
                      m.histogram(y, bins=xp, density=True),
                      m.histogram(row, bins=3, weights=col[:1] + row),
                      m.histogram(i, bins=5, density=True)],
        "histogram_bin_edges": [m.histogram_bin_edges(y, bins=6),
                                m.histogram_bin_edges(i, bins=3, range=(0, 2)),
                                m.histogram_bin_edges(row, bins=xp)],
        # finite differences
        "gradient": [m.gradient(row), m.gradient(y), m.gradient(y, 0.5, axis=1),
                     m.gradient(y, 2.0, 0.5), m.gradient(i, axis=0),
                     m.gradient(y, m.cumsum(m.abs(row)) + 0.5, axis=1),
                     m.gradient(y[:, :4], col, xp[:4])],
        "ediff1d": [m.ediff1d(y), m.ediff1d(i, to_begin=0, to_end=np.array([7, 8])),
                    m.ediff1d(row, to_begin=row[:2])],
        "unwrap": [m.unwrap(y * 4), m.unwrap(y * 4, axis=0), m.unwrap(y, discont=0.3, period=1.0),
                   m.unwrap(i * 3, period=5)],
        # polynomials and spaced values
        "vander": [m.vander(row), m.vander(col, 3, increasing=True), m.vander(i[0], 2)],
        "logspace": [m.logspace(0.0, 2.0, 5), m.logspace(row[0], row[1], 4, endpoint=False),
                     m.logspace(0, 3, 4, base=2.0, dtype=np.int32)],
        "geomspace": [m.geomspace(1.0, 1000.0, 4), m.geomspace(-1.0, -8.0, 4, endpoint=False),
                      m.geomspace(1, 256, 9)],
        "polyval": [m.polyval(row, y), m.polyval(i[0], i), m.polyval(fp, 0.5)],
        "polyadd": [m.polyadd(row, col), m.polyadd(i[0], i[1, :2]), m.polyadd(fp[:2], i[0])],
        "polysub": [m.polysub(row, col), m.polysub(i[0, :1], i[1])],
        "polymul": [m.polymul(row, col), m.polymul(i[0], i[1])],
        "polyder": [m.polyder(row), m.polyder(row, 3), m.polyder(i[0], 2), m.polyder(row, 0)],
        "polyint": [m.polyint(row), m.polyint(row, 2, k=np.array([1.0, 2.0])),
                    m.polyint(i[0], k=3)],
        "poly": [m.poly(col), m.poly(i[0])],
        # covariance
        "cov": [m.cov(y), m.cov(y, rowvar=False), m.cov(row, y[2]),
                m.cov(y, bias=True), m.cov(y, ddof=2), m.cov(i), m.cov(row),
                m.cov(y, fweights=np.array([1, 2, 1, 3, 1])),
                m.cov(y, aweights=row * row), m.cov(y, fweights=np.array([1, 2, 1, 3, 1]),
                                                     aweights=col[np.array([0, 1, 2, 3, 0])] ** 2)],
        "corrcoef": [m.corrcoef(y), m.corrcoef(y, rowvar=False), m.corrcoef(row, y[2]),
                     m.corrcoef(i)],
        # functions applied piecewise, over axes, vectorized
        "piecewise": [m.piecewise(y, conds, [lambda v: v * 2, lambda v: m.sin(v), 0.5]),
                      m.piecewise(y, conds, [lambda v, s: v * s, -1.0], 3.0),
                      m.piecewise(i, [i > 0], [lambda v: v * 2, lambda v: v - 1])],
        "apply_over_axes": [m.apply_over_axes(m.sum, y, [0, 1]),
                            m.apply_over_axes(m.cumsum, i, [1])],
        "apply_along_axis": [m.apply_along_axis(lambda v: v[0] * v[-1], 1, y),
                             m.apply_along_axis(lambda v: v * 2 + v.sum(), 0, y),
                             m.apply_along_axis(m.outer, 1, y[:2], fp[:2]),
                             m.apply_along_axis(lambda v: v.max(), 0, i)],
        "vectorize": [m.vectorize(lambda a, b: a * b + 1)(y, row),
                      m.vectorize(m.dot, signature="(n),(n)->()")(y, row),
                      m.vectorize(lambda a, b: (a + b, a * b), signature="(n),()->(n),(n)")(
                          y, col),
                      m.vectorize(lambda a, p: a ** p, excluded={1})(y, 2),
                      m.vectorize(lambda a: a.sum(), signature="(n)->()")(i)],
    }


def _args():
    return X, Y, INTS, XP, FP


def test_table_matches_jax_interpreted_and_compiled():
    check_table(_table, jnp, anp, _args(), 1e-5, 1e-5)


def _grad_table(m, x, y):
    """Float functions JAX differentiates, on finite inputs without ties."""
    row, col = x[0], y[:, 1]
    xp = m.sort(y[2])
    return {
        "nanmax": m.nanmax(m.where(x > 1.0, np.nan, x), axis=1), "nanmin": m.nanmin(x, axis=0),
        "nanprod": m.nanprod(m.where(x > 1.0, np.nan, x), axis=0),
        "nanvar": m.nanvar(m.where(x > 1.0, np.nan, x), axis=1), "nanstd": m.nanstd(x, ddof=1),
        "ptp": m.ptp(x, axis=1),
        "cumulative_sum": m.cumulative_sum(x, axis=0, include_initial=True),
        "cumulative_prod": m.cumulative_prod(row, include_initial=True),
        "interp": m.interp(x, xp, y[3]), "interp_period": m.interp(row, xp, y[3], period=3.0),
        "gradient": m.stack(m.gradient(x * y, 0.5, 2.0)),
        "gradient_coords": m.gradient(x, m.cumsum(y[0] ** 2 + 1.0), axis=1),
        "ediff1d": m.ediff1d(x, to_begin=y[0, :1]),
        "unwrap": m.unwrap(x * 3), "vander": m.vander(row, 3), "polyval": m.polyval(row, y),
        "polyadd": m.polyadd(row, col), "polymul": m.polymul(row, col),
        "polyder": m.polyder(row * y[1], 2), "polyint": m.polyint(row, 2, k=y[0, :2]),
        "poly": m.poly(col), "logspace": m.logspace(x[0, 0], y[0, 0], 4),
        "geomspace": m.geomspace(m.exp(x[0, 0]), m.exp(y[0, 0]), 4),
        "cov": m.cov(x, y), "cov_w": m.cov(x, aweights=col[np.array([0, 1, 2, 3, 0])] ** 2 + 1),
        "corrcoef": m.corrcoef(x, rowvar=False),
        "histogram": m.histogram(x, bins=3, range=(-1.0, 1.0), weights=y, density=True)[0],
        "piecewise": m.piecewise(x, [x < 0], [lambda v: v * v * 3.0, m.sin]),
        "apply_over_axes": m.apply_over_axes(m.mean, x * y, [1]),
        "apply_along_axis": m.apply_along_axis(lambda v: v * v.sum(), 1, x),
        "vectorize": m.vectorize(m.dot, signature="(n),(n)->()")(x, y),
    }


def test_grads_match_jax():
    rng = np.random.default_rng(4)
    x, y = (rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2))
    check_grads(_grad_table, jnp, anp, x, y)


@pytest.mark.parametrize("call", [
    lambda x: anp.histogram(x, bins="auto"), lambda x: anp.gradient(x, edge_order=2),
    lambda x: anp.cumulative_sum(anp.reshape(x, (1, 3))), lambda x: anp.poly(anp.eye(3) * x),
], ids=["histogram_str", "gradient_edge_order", "cumulative_axis", "poly_matrix"])
def test_unsupported_forms_say_what_to_do(call):
    with pytest.raises(TracingError):
        aotc.lower(call, np.ones(3, np.float32))
