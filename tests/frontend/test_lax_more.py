"""More jax.lax names (elementwise math and bit ops, dtype and shape helpers, sorting, reductions,
cumulative reductions, associative_scan) against jax.lax.

One table of calls is written once against a lax-like module `m` and run with `m = aotc.lax`
(interpreted, and one IREE compile of the whole table) and `m = jax.lax`; float entries are
also differentiated with aotc.grad and compared with jax.grad.
"""

import jax
import numpy as np
import pytest
from helpers import assert_tree_close, check_grads, check_table

import aotc
import aotc.lax as alax
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")

_RNG = np.random.default_rng(0)
X = (np.round(_RNG.normal(size=(4, 5)) * 2) / 2 + 0.0).astype(np.float32)  # ties, no -0.0
XN = X.copy()
XN[0, 1], XN[2, 3] = np.nan, np.nan
P = _RNG.uniform(0.1, 0.9, (4, 5)).astype(np.float32)
INTS = _RNG.integers(-9, 9, (3, 4)).astype(np.int32)
SHIFTS = _RNG.integers(0, 5, (3, 4)).astype(np.int32)
BYTES = _RNG.integers(0, 256, (6,)).astype(np.uint8)
B = _RNG.random((3, 4)) < 0.5
WHICH = _RNG.integers(0, 3, (4, 5)).astype(np.int32)
K = np.array(2, np.int32)


def _table(m, x, xn, p, i, s, u, b, which, k):
    """Every new name, on float arrays with ties and NaNs, ints, unsigned bytes and bools."""
    linear = (p, x)  # the recurrence h = a * h + b as pairs (a, b)
    kernel = p[:3, :3, None, None].repeat(2, 3)  # HWIO with one input and two output features
    return {
        # elementwise
        "acos": m.acos(p), "acosh": m.acosh(p + 1), "asin": m.asin(p), "asinh": m.asinh(x),
        "atan": m.atan(x), "atanh": m.atanh(p), "cbrt": m.cbrt(x), "cosh": m.cosh(x),
        "sinh": m.sinh(x), "tan": m.tan(p), "exp2": m.exp2(x), "expm1": m.expm1(x),
        "log1p": m.log1p(p), "erfc": m.erfc(x), "reciprocal": m.reciprocal(p),
        "lgamma": [m.lgamma(x), m.lgamma(p * 9)], "digamma": [m.digamma(x + 0.25),
                                                               m.digamma(p * 9)],
        "polygamma": [m.polygamma(m.full_like(p, n), p + n) for n in (0, 1, 3)],
        "zeta": [m.zeta(p + 1.5, p), m.zeta(m.full_like(x, 3.0), p * 5)],
        "erf_inv": [m.erf_inv(p * 2 - 1), m.erf_inv(-p)],
        "bessel_i0e": [m.bessel_i0e(x * 4), m.bessel_i0e(x * 40)],
        "bessel_i1e": [m.bessel_i1e(x * 4), m.bessel_i1e(x * 40)],
        "optimization_barrier": m.optimization_barrier((x, i)),
        "complex": m.complex(x, p), "real": m.real(m.complex(x, p) * (1 - 2j)),
        "imag": m.imag(m.complex(p, x) * 1j), "conj": [m.conj(m.complex(x, p)), m.conj(x)],
        "mulhi": [m.mulhi(i * 123456789, s * 987654 - 1), m.mulhi(u, u + np.uint8(77))],
        "reduce_precision": [m.reduce_precision(x * p * 1e3, e, mb) for e, mb in (
            (8, 7), (5, 10), (4, 3), (8, 23))] + [m.reduce_precision(xn * 1e-30, 5, 2)],
        "is_finite": m.is_finite(xn), "atan2": m.atan2(x, p - 0.5),
        "integer_pow": [m.integer_pow(x, n) for n in (0, 1, 2, 3, 5)],
        "integer_pow_neg": m.integer_pow(p, -3), "integer_pow_int": m.integer_pow(i, 3),
        "round": m.round(x), "round_even": m.round(x, m.RoundingMethod.TO_NEAREST_EVEN),
        "round_afz": m.round(x * 0.5, m.RoundingMethod.AWAY_FROM_ZERO),
        "nextafter": [m.nextafter(p, x), m.nextafter(x + 3, p)],
        "bitwise": [m.bitwise_and(i, s), m.bitwise_or(i, s), m.bitwise_xor(i, s),
                    m.bitwise_not(i), m.bitwise_and(b, i > 0), m.bitwise_not(b),
                    m.bitwise_xor(u, np.uint8(90))],
        "shifts": [m.shift_left(i, s), m.shift_right_arithmetic(i, s),
                   m.shift_right_logical(i, s), m.shift_left(u, np.uint8(3))],
        "population_count": [m.population_count(i), m.population_count(u)],
        "clz": [m.clz(i), m.clz(u)],
        # dtypes and shapes
        "bitcast": [m.bitcast_convert_type(x, np.int32), m.bitcast_convert_type(i, np.float32),
                    m.bitcast_convert_type(u, np.int8)],
        "broadcast": m.broadcast(i, (2,)), "broadcast_to_rank": m.broadcast_to_rank(u, 3),
        "broadcast_like": m.broadcast_like(p[0], x),
        "broadcast_shapes": m.full(m.broadcast_shapes((3, 1), (1, 4), (4,)), 2.0),
        "broadcasted_iota": [m.broadcasted_iota(np.int32, (2, 3), 1),
                             m.broadcasted_iota(np.float32, (2, 3), 0)],
        "collapse": [m.collapse(x[None], 0, 2), m.collapse(x[None, :, :, None], 1)],
        "full": [m.full((2, 3), 2.5), m.full((2,), 3, np.int32)],
        "full_like": [m.full_like(x, 1.5), m.full_like(i, 7, np.float32),
                      m.full_like(x, 2, shape=(3,))],
        "slice_in_dim": [m.slice_in_dim(x, 1, 4, 2, 1), m.slice_in_dim(x, -3, None),
                         m.slice_in_dim(i, None, -1, axis=-1)],
        "index_in_dim": [m.index_in_dim(x, 2), m.index_in_dim(x, -1, 1, keepdims=False)],
        "dynamic_slice_in_dim": [m.dynamic_slice_in_dim(x, k, 2), m.dynamic_slice_in_dim(
            i, k + 1, 3, axis=1)],
        "dynamic_update_slice_in_dim": m.dynamic_update_slice_in_dim(x, p[:2], k, 0),
        "dynamic_index_in_dim": [m.dynamic_index_in_dim(x, k, 1),
                                 m.dynamic_index_in_dim(i, k - 3, 0, keepdims=False)],
        "dynamic_update_index_in_dim": [m.dynamic_update_index_in_dim(x, p[0], k, 0),
                                        m.dynamic_update_index_in_dim(i, i[:, :1] * 0, k, 1)],
        "rev": [m.rev(x, (0,)), m.rev(x, (0, 1)), m.rev(i, ())],
        "select_n": [m.select_n(which, x, p, x * p), m.select_n(b, i, -i), m.select_n(b, i)],
        "split": m.split(x, (1, 3, 1), axis=1), "stack": m.stack([x, p], axis=1),
        "unstack": m.unstack(i, 1), "tile": m.tile(i, (2, 1)),
        # sorting
        "sort": [m.sort(xn), m.sort(x, dimension=0), m.sort(i)],
        "sort_multi": m.sort((x[0], p[0], i[0, :1].repeat(5)), num_keys=1),
        "sort_keys2": m.sort((m.round(x * 0.25), -x, p), dimension=1, num_keys=2),
        "sort_key_val": m.sort_key_val(i, s, dimension=0),
        "top_k": [m.top_k(x, 3), m.top_k(i, 2), m.top_k(x, 2, axis=0)],
        "approx_max_k": [m.approx_max_k(p, 3), m.approx_max_k(p, 2, 0)],
        "approx_min_k": [m.approx_min_k(p, 2), m.approx_min_k(p * 2, 3, 0)],
        "argmax": [m.argmax(xn, 1, np.int32), m.argmax(i, 0, np.int32)],
        "argmin": [m.argmin(x, 0, np.int32), m.argmin(xn, 1, np.int32)],
        # reductions and scans
        "reduce": [m.reduce_sum(x, (0,)), m.reduce_sum(i, (0, 1)), m.reduce_prod(p, (1,)),
                   m.reduce_max(xn, (1,)), m.reduce_min(i, (1,)), m.reduce_max(b, (0,)),
                   m.reduce_and(i, (1,)), m.reduce_or(b, (0,)), m.reduce_xor(i, (0,)),
                   m.reduce_and(b, (0, 1)), m.reduce_xor(u, (0,)), m.reduce_or(u, (0,))],
        "cumulative": [f(v, axis=a, reverse=r) for f in (m.cumsum, m.cumprod, m.cummax, m.cummin)
                       for v in (x, i) for a in (0, 1) for r in (False, True)],
        "cumlogsumexp": [m.cumlogsumexp(x, 1), m.cumlogsumexp(x, 0, reverse=True)],
        "associative_scan": m.associative_scan(
            lambda a, b: (a[0] * b[0], a[1] * b[0] + b[1]), linear, axis=1),
        "associative_scan_rev": m.associative_scan(m.max, x, reverse=True, axis=0),
        "batch_matmul": m.batch_matmul(x.reshape(2, 2, 5), p.reshape(2, 5, 2)),
        # convolutions
        "conv_transpose": [m.conv_transpose(x[None, :, :, None], kernel.transpose(
            (0, 1, 3, 2)) if t else kernel, s_, pad, transpose_kernel=t) for s_, pad, t in (
            ((2, 2), "SAME", False), ((1, 2), "VALID", True), ((2, 1), [(1, 0), (2, 1)], False))],
        "conv_with_general_padding": m.conv_with_general_padding(
            x[None, None], p[None, None, :2, :3], (1, 2), [(1, 1), (0, 2)], (2, 1), (1, 2)),
        "conv_dimension_numbers": m.conv_general_dilated(
            x[None, :, :, None], p[:2, :2, None, None], (1, 1), "SAME",
            dimension_numbers=m.conv_dimension_numbers((1, 4, 5, 1), (2, 2, 1, 1),
                                                       ("NHWC", "HWIO", "NHWC"))),
        "conv_general_permutations": m.conv_general_dilated(
            x[None, :, :, None], p[:2, :3, None, None], (1, 1), "VALID",
            dimension_numbers=m.ConvDimensionNumbers(
                *m.conv_general_permutations(("NWHC", "WHIO", "NWHC")))),
        "conv_general_dilated_patches": [
            m.conv_general_dilated_patches(x[None, None], (2, 3), (1, 2), "SAME"),
            m.conv_general_dilated_patches(m.stack([x, p], 2)[None], (2, 3), (2, 1), "VALID",
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))],
        # static shape helpers, read through arrays of those shapes
        "conv_shape_tuple": [m.full(m.conv_shape_tuple((1, 2, 7, 5), (4, 2, 3, 2), (2, 1), pad),
                                    1.0) for pad in ("SAME", "VALID", [(1, 2), (0, 1)])],
        "conv_general_shape_tuple": m.full(m.conv_general_shape_tuple(
            (1, 7, 5, 2), (3, 2, 2, 4), (2, 2), "SAME", ("NHWC", "HWIO", "NHWC")), 1.0),
        "conv_transpose_shape_tuple": [m.full(m.conv_transpose_shape_tuple(
            (1, 5, 4, 2), (3, 2, 2, 4), (2, 3), pad, ("NHWC", "HWIO", "NHWC")), 1.0)
            for pad in ("SAME", "VALID", [(1, 0), (0, 2)])],
        "reduce_window_shape_tuple": m.full(m.reduce_window_shape_tuple(
            (6, 7), (2, 3), (2, 1), ((0, 1), (1, 1)), (1, 2), (2, 1)), 1.0),
    }


def _args():
    return X, XN, P, INTS, SHIFTS, BYTES, B, WHICH, K


def test_table_matches_jax_interpreted_and_compiled():
    check_table(_table, jax.lax, alax, _args(), 1e-5, 1e-5)


def _grad_table(m, x, p):
    """Float functions jax.lax differentiates, on distinct finite inputs."""
    q = m.abs(p) * 0.4 + 0.1  # in (0.1, 0.9)
    return {
        "acos": m.acos(q), "asinh": m.asinh(x), "atanh": m.atanh(q), "cbrt": m.cbrt(q),
        "cosh": m.cosh(x), "tan": m.tan(q), "exp2": m.exp2(x), "expm1": m.expm1(x),
        "log1p": m.log1p(q), "erfc": m.erfc(x), "lgamma": m.lgamma(x * 3),
        "digamma": m.digamma(q * 5), "polygamma": m.polygamma(m.full_like(q, 2.0), q + 1),
        "erf_inv": m.erf_inv(q - 0.5),
        "bessel_i0e": m.bessel_i0e(x * 4), "bessel_i1e": m.bessel_i1e(x * 4),
        "optimization_barrier": m.optimization_barrier((x * p, q))[0],
        "reciprocal": m.reciprocal(q),
        "atan2": m.atan2(x, p), "integer_pow": m.integer_pow(x, 3) + m.integer_pow(q, -2),
        "round": m.round(x) * x,
        "shapes": [m.broadcast(x, (2,)), m.collapse(x, 0), m.slice_in_dim(x, 1, 4, 2, 1),
                   m.index_in_dim(p, 1, keepdims=False), m.dynamic_slice_in_dim(x, 1, 2, 1),
                   m.dynamic_update_index_in_dim(x, p[1], 2, 0), m.rev(x, (1,)),
                   m.select_n(x > 0, x, p * p), *m.split(x, (2, 2)), m.tile(p, (1, 2))],
        "sort": [m.sort(x), m.sort((x[0], p[0]), num_keys=1), m.top_k(p, 2)[0]],
        "reduce": [m.reduce_sum(x, (0,)), m.reduce_prod(q, (1,)), m.reduce_max(x, (1,)),
                   m.reduce_min(p, (0, 1))],
        "cumulative": [m.cumsum(x, 1), m.cumprod(q, 0, reverse=True), m.cummax(x, 1),
                       m.cummin(p, 0, reverse=True), m.cumlogsumexp(x, 1)],
        "associative_scan": m.associative_scan(
            lambda a, b: (a[0] * b[0], a[1] * b[0] + b[1]), (q, x), axis=1),
        "batch_matmul": m.batch_matmul(x.reshape(2, 2, 5), p.reshape(2, 5, 2)),
        "conv_transpose": m.conv_transpose(x[None, :, :, None], p[:2, :3, None, None], (2, 1),
                                           "SAME", transpose_kernel=True),
    }


def test_grads_match_jax():
    rng = np.random.default_rng(4)
    x, y = (rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2))
    check_grads(_grad_table, jax.lax, alax, x, y)


def test_zeta_grad_in_q():
    """jax.lax.zeta has no derivative rule; d/dq zeta(s, q) = -s zeta(s + 1, q)."""
    q = np.array([0.5, 1.0, 2.5], np.float32)
    got = aotc.grad(lambda q: alax.zeta(3.0, q).sum())(q)
    np.testing.assert_allclose(got, -3 * np.asarray(jax.lax.zeta(4.0, q)), rtol=1e-5)


@pytest.mark.parametrize("call", [
    lambda: alax.atan2(np.ones(2, np.float32), np.ones(2, np.float16)),
    lambda: alax.acos(np.ones(2, np.int32)),
    lambda: alax.shift_left(np.ones(2, np.float32), np.ones(2, np.float32)),
    lambda: alax.bitcast_convert_type(np.ones(2, np.float32), np.int16),
    lambda: alax.split(np.ones(4, np.float32), (1, 2)),
    lambda: alax.approx_max_k(np.ones(4, np.int32), 2),
], ids=["mixed_dtypes", "float_only", "int_only", "bitcast_width", "split_sizes", "approx_int"])
def test_jax_lax_errors(call):
    with pytest.raises(TracingError, match="lax"):
        call()


@pytest.mark.parametrize("fn", [
    lambda v: alax.population_count(alax.bitcast_convert_type(v, np.int32)),
    lambda v: alax.clz(alax.bitcast_convert_type(v, np.int32)),
    lambda v: (alax.lgamma(v), alax.digamma(v), alax.erf_inv(v * 0.1)),
    lambda v: (alax.polygamma(np.float32(1), v * v + 1), alax.zeta(np.float32(2.5), v * v + 1)),
    lambda v: (alax.sort((v, -v), num_keys=1), alax.top_k(v, 2)),
    lambda v: alax.optimization_barrier(alax.cumsum(v, reverse=True)),
], ids=["popcnt", "clz", "special", "polygamma_zeta", "sort_top_k", "barrier_cumsum"])
def test_vmap_matches_a_loop(fn):
    x = np.random.default_rng(5).normal(size=(3, 5)).astype(np.float32)
    expected = jax.tree.map(lambda *rows: np.stack(rows), *[fn(x[k]) for k in range(3)])
    assert_tree_close(aotc.vmap(fn)(x), expected, 1e-5, 1e-5)
