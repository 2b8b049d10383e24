"""aotc.numpy cumulative ops, sorting, tile/repeat/roll/pad, diff, diagonals vs JAX and NumPy.

One table of calls is written once against a numpy-like module `m` and run with `m = anp`
(interpreter and IREE) and `m = jax.numpy` (the oracle for JAX's dtypes and NaN order), one
IREE compile per (shape, dtype) group.
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close, interpret_fn

import aotc
import aotc.numpy as anp
from aotc.frontend.ops import sort as sort_ops
from aotc.frontend.trace.tracer import Tracer

jax.config.update("jax_platforms", "cpu")

def _running(op):
    def fn(x, axis=None):
        x, axis = (jnp.ravel(x), 0) if axis is None else (x, axis)
        return jax.lax.associative_scan(op, x, axis=axis)

    return fn


# jax.numpy plus aotc.numpy's running max/min.
JNP = types.SimpleNamespace(**{k: getattr(jnp, k) for k in dir(jnp) if not k.startswith("_")},
                            cummax=_running(jnp.maximum), cummin=_running(jnp.minimum))


def _any_dtype_table(m, x):
    """Calls valid for float, int and bool arrays of rank >= 2."""
    n1 = x.shape[1]
    return {
        "cumsum": m.cumsum(x), "cumsum_0": m.cumsum(x, axis=0),
        "cumsum_f32": m.cumsum(x, axis=-1, dtype=m.float32),
        "cumsum_bool": m.cumsum(x, axis=1, dtype=bool), "cumprod": m.cumprod(x, axis=-1),
        "cummax": m.cummax(x, axis=1), "cummin": m.cummin(x),
        "sort": m.sort(x), "sort_0": m.sort(x, axis=0), "sort_none": m.sort(x, axis=None),
        "sort_desc": m.sort(x, axis=1, descending=True),
        "argsort": m.argsort(x), "argsort_0": m.argsort(x, axis=0),
        "argsort_desc": m.argsort(x, axis=-1, descending=True),
        "tile": m.tile(x, (2, 1)), "tile_int": m.tile(x, 3), "tile_up": m.tile(x, (2, 1, 1, 2)),
        "repeat": m.repeat(x, 2), "repeat_0": m.repeat(x, 3, axis=0),
        "repeat_list": m.repeat(x, np.arange(n1) % 3, axis=1),
        "roll": m.roll(x, 2), "roll_axes": m.roll(x, (1, -2), (0, -1)),
        "roll_big": m.roll(x, -7, axis=0),
        "pad": m.pad(x, 1), "pad_pairs": m.pad(x, [(i, 2 - i % 2) for i in range(x.ndim)]),
        "pad_edge": m.pad(x, 2, mode="edge"), "pad_reflect": m.pad(x, 7, mode="reflect"),
        "pad_symmetric": m.pad(x, (1, 4), mode="symmetric"), "pad_wrap": m.pad(x, 5, mode="wrap"),
        "diff": m.diff(x), "diff2_0": m.diff(x, 2, axis=0),
        "diag": m.diag(m.ravel(x), 1), "diag_2d": m.diag(m.reshape(x, (x.shape[0], -1)), -1),
        "diagonal": m.diagonal(x), "diagonal_1": m.diagonal(x, 1, -1, 0),
        "diagonal_neg": m.diagonal(x, -1), "diagonal_far": m.diagonal(x, 50),
        "meshgrid": m.meshgrid(m.ravel(x), m.ravel(m.flip(x, 0))),
        "meshgrid_ij": m.meshgrid(m.ravel(x), m.ravel(m.tile(x, 2)), indexing="ij",
                                  sparse=True),
        "count_nonzero": m.count_nonzero(x), "count_nonzero_0": m.count_nonzero(x, axis=0),
        "count_nonzero_kd": m.count_nonzero(x, axis=-1, keepdims=True),
        "take": m.take(x, np.array([n1 - 1, 0, 1]), axis=1),
        "take_flat": m.take(x, np.array([[3, 0], [5, 2]])),
        "take_along_axis": m.take_along_axis(x, np.indices(x.shape).sum(0) * 7 % n1, axis=1),
    }


def _numeric_table(m, x):
    """Calls for float and int arrays (not bool)."""
    return {
        "pad_values": m.pad(x, 2, constant_values=5),
        "pad_value_pairs": m.pad(x, 1, constant_values=[(i, -i) for i in range(x.ndim)]),
        "diff_edges": m.diff(x, axis=0, prepend=-1, append=3), "cumprod_none": m.cumprod(x),
    }


def _float_table(m, x):
    return {"nansum": m.nansum(x, axis=0), "nanmean": m.nanmean(x, axis=-1),
            "nancumsum": m.nancumsum(x, axis=1), "nanmean_all": m.nanmean(x),
            "nancumprod": m.nancumprod(x, axis=-1)}


def _table(m, x):
    table = _any_dtype_table(m, x)
    if x.dtype != bool:
        table.update(_numeric_table(m, x))
    if np.issubdtype(x.dtype, np.floating):
        table.update(_float_table(m, x))
    return table


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    values = rng.integers(-4, 5, shape)  # many ties, so stability shows
    if dtype == np.int32:
        return values.astype(dtype)
    x = (values / 2 + 0.25 * (values % 2 == 0)).astype(dtype)
    flat = x.reshape(-1)
    flat[[1, 7]], flat[[4, 9]], flat[[5, 11]] = np.nan, -0.0, 0.0
    flat[3], flat[10] = np.inf, -np.inf
    return x


def _expected(x):
    return jax.tree.map(np.asarray, _table(JNP, jnp.asarray(x)))


def assert_tables_close(actual: dict, expected: dict, rtol: float, atol: float) -> None:
    assert actual.keys() == expected.keys()
    for key in expected:
        try:
            assert_tree_close(actual[key], expected[key], rtol, atol)
        except AssertionError as err:
            raise AssertionError(f"{key}: {err}") from None


GROUPS = [  # (shape, dtype, also compiled with IREE)
    ((4, 6), np.float32, True), ((2, 3, 5), np.float32, True), ((4, 6), np.int32, True),
    ((2, 3, 5), np.int32, False), ((4, 6), np.bool_, True), ((2, 3, 5), np.bool_, False),
    ((4, 6), np.float16, True), ((2, 3, 5), np.float16, False),
]


@pytest.mark.parametrize("shape,dtype,compile", GROUPS,
                         ids=[f"{np.dtype(d).name}{list(s)}" for s, d, _ in GROUPS])
def test_table_matches_jax(shape, dtype, compile):
    """Every table entry, interpreted and (one compile for the whole table) run by IREE."""
    x = _data(shape, dtype)
    expected = _expected(x)
    tol = 2e-3 if dtype == np.float16 else 1e-6
    assert_tables_close(interpret_fn(lambda x: _table(anp, x), x), expected, tol, tol)
    if compile:
        tol = 1e-2 if dtype == np.float16 else 1e-5
        assert_tables_close(aotc.jit(lambda x: _table(anp, x))(x), expected, tol, tol)


def test_sort_matches_numpy_nan_order_and_stability():
    x = np.array([[3.0, np.nan, -np.nan, 0.0, -0.0, -np.inf, 1.0, np.inf, 0.0, 3.0]], np.float32)
    expected = {"sort": np.sort(x), "argsort": np.argsort(x, kind="stable").astype(np.int32)}
    fn = lambda x: {"sort": anp.sort(x), "argsort": anp.argsort(x)}
    got = interpret_fn(fn, x)
    assert_tree_close(got, expected)
    stable_order = [[5, 3, 4, 8, 6, 0, 9, 7, 1, 2]]  # 0.0, -0.0 and NaN, -NaN keep input order
    assert np.array_equal(np.signbit(got["sort"]), np.signbit(np.take(x, stable_order)))
    assert_tree_close(aotc.jit(fn)(x), expected)


def test_cumulative_ops_are_log_depth_scans():
    x = np.random.default_rng(1).integers(-3, 4, 1000).astype(np.float32)  # exact sums
    text = aotc.lower(lambda x: anp.cumsum(x), x).text
    assert text.count("stablehlo.add") == 10  # ceil(log2(1000)) shifted adds, not 1000
    assert "stablehlo.reduce" not in text
    np.testing.assert_array_equal(interpret_fn(anp.cumsum, x), np.cumsum(x))


@pytest.mark.parametrize("dtype,expected", [
    (np.int8, np.int8), (np.uint8, np.uint8), (np.int16, np.int16), (np.bool_, np.int32),
    (np.float16, np.float16), (np.int32, np.int32),
])
def test_cumulative_result_dtypes_follow_jax(dtype, expected):
    x = np.ones((3, 4), dtype)
    for ours, jax_fn in ((anp.cumsum, jnp.cumsum), (anp.cumprod, jnp.cumprod)):
        traced = aotc.lower(lambda x, fn=ours: fn(x, axis=1), x)
        out = aotc.interpret(traced.module, traced.name, x)[0]
        assert out.dtype == expected == jax_fn(x, axis=1).dtype, ours.__name__
        np.testing.assert_array_equal(out, np.asarray(jax_fn(x, axis=1)), ours.__name__)


def test_traced_roll_shift_and_pad_value():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)

    def fn(x, shift, value):
        return {"roll": anp.roll(x, anp.reshape(shift, ()), axis=1),
                "pad": anp.pad(x, ((1, 0), (0, 2)), constant_values=anp.reshape(value, ()))}

    for s in (-5, 0, 3, 9):
        args = (x, np.array([s], np.int32), np.array([7.5], np.float32))
        expected = {"roll": np.roll(x, s, axis=1),
                    "pad": np.pad(x, ((1, 0), (0, 2)), constant_values=7.5)}
        assert_tree_close(interpret_fn(fn, *args), expected)
        assert_tree_close(aotc.jit(fn)(*args), expected)


def _by_abs_then_sign(a, b, *rest):
    """A multi-op comparator: |a| < |b|, then negative before positive."""
    from aotc.frontend.ops import elementwise as ew

    abs_a, abs_b = ew.abs(a), ew.abs(b)
    sign_first = ew.and_(ew.compare("EQ", abs_a, abs_b), ew.compare("LT", a, b))
    return ew.or_(ew.compare("LT", abs_a, abs_b), sign_first)


@pytest.mark.parametrize("n", [1, 2, 7, 33])
def test_sort_op_with_several_operands_and_a_general_comparator(n):
    rng = np.random.default_rng(n)
    keys = rng.integers(-3, 4, (3, n)).astype(np.float32)
    payload = rng.standard_normal((3, n)).astype(np.float32)

    def fn(keys, payload):
        # keys twice: sorted once (IREE cannot compile a sort given one tensor twice)
        by_abs = sort_ops.sort([keys.value, payload.value, keys.value], 1, _by_abs_then_sign)
        descending = sort_ops.sort([keys.value, payload.value], 1,
                                   lambda a, b, c, d: sort_ops.ew.compare("GT", a, b))
        return [Tracer(v) for v in by_abs + descending]

    order = np.lexsort((keys, np.abs(keys)), axis=1)  # stable by |key|, then key
    flip = n - 1 - np.argsort(keys[:, ::-1], axis=1, kind="stable")[:, ::-1]
    by_abs = np.take_along_axis(keys, order, 1)
    expected = [by_abs, np.take_along_axis(payload, order, 1), by_abs,
                np.take_along_axis(keys, flip, 1), np.take_along_axis(payload, flip, 1)]
    assert_tree_close(interpret_fn(fn, keys, payload), expected)
    if n < 7:
        return
    got = aotc.jit(fn)(keys, payload)
    for i in (0, 2, 3):  # IREE sorts unstably: compare keys only
        assert_tree_close(got[i], expected[i])


def test_tracer_methods_and_eager_calls():
    x = np.array([[3, 1, 2], [0, 5, 4]], np.int32)
    got = interpret_fn(lambda x: {"cumsum": x.cumsum(axis=1), "sort": x.sort(),
                                  "argsort": x.argsort(axis=0), "repeat": x.repeat(2, axis=0),
                                  "cumprod": x.cumprod()}, x)
    assert_tree_close(got, {"cumsum": np.cumsum(x, 1).astype(np.int32), "sort": np.sort(x),
                            "argsort": np.argsort(x, 0).astype(np.int32),
                            "repeat": np.repeat(x, 2, 0),
                            "cumprod": np.cumprod(x).astype(np.int32)})
    np.testing.assert_array_equal(anp.sort(np.array([2.0, np.nan, 1.0])), [1.0, 2.0, np.nan])


X = np.ones((2, 3), np.float32)


@pytest.mark.parametrize("fn,match", [
    (lambda x: anp.pad(x, ((1, -1), (0, 0))), r"negative pad_width .*\(2, 3\)"),
    (lambda x: anp.pad(x, ((1, 2, 3),)), "pad_width"),
    (lambda x: anp.pad(x, 1, mode="median"), "mode 'median' is not supported"),
    (lambda x: anp.pad(x, 1, constant_values=anp.ones(2)), "constant_values must be scalars"),
    (lambda x: anp.repeat(x, [1, 2], axis=1), r"2 repeats for axis 1 of size 3 in \(2, 3\)"),
    (lambda x: anp.repeat(x, -1), "negative repeats"),
    (lambda x: anp.repeat(x, anp.ones(3, anp.int32), axis=1), "data-dependent shape"),
    (lambda x: anp.roll(x, (1, 2, 3), (0, 1)), "3 shifts for 2 axes"),
    (lambda x: anp.roll(x, anp.ones(2, anp.int32), 0), "integer scalar"),
    (lambda x: anp.tile(x, (-1, 2)), "negative repetitions"),
    (lambda x: anp.diagonal(x, 0, 1, -1), "axis1 and axis2 are both 1"),
    (lambda x: anp.diag(anp.ones((2, 2, 2))), r"1-D or 2-D .*\(2, 2, 2\)"),
    (lambda x: anp.cumsum(x, axis=2), "axis 2 is out of range"),
    (lambda x: anp.sort(x, axis=-3), "axis -3 is out of range"),
    (lambda x: anp.argsort(x, order="a"), "order= .* not supported"),
    (lambda x: anp.diff(x, -1), "order n=-1"),
    (lambda x: anp.meshgrid(x, indexing="xz"), "indexing must be"),
])
def test_errors_name_the_problem_and_the_user_line(fn, match):
    with pytest.raises(aotc.TracingError, match=match) as err:
        aotc.lower(fn, X)
    assert "test_extra.py:" in str(err.value)


def test_dynamic_dims_are_refused_with_a_clear_message():
    spec = aotc.ShapeSpec((None, 3))
    with pytest.raises(aotc.TracingError, match=r"cumulative op of an array with dynamic dims "
                       r"\(\?, 3\)") as err:
        aotc.lower(lambda x: anp.cumsum(x, axis=1), spec)
    assert "test_extra.py:" in str(err.value)
    with pytest.raises(aotc.TracingError, match=r"repeat: axis 0 of \(\?, 3\) is dynamic"):
        aotc.lower(lambda x: anp.repeat(x, 2, axis=0), spec)


def _loss(m, x):
    """One scalar through every differentiable extra op (weights make each position count)."""
    w = np.linspace(-1.0, 2.0, x.size, dtype=np.float32).reshape(x.shape)
    terms = [m.sort(x, axis=1) * w, m.sort(x, axis=0) * w, m.cumsum(x, axis=1) * w,
             m.cumprod(x, axis=0) * w, m.roll(x, 2, axis=1) * w, m.diff(x, axis=0),
             m.pad(x, 2, mode="reflect") ** 2, m.tile(x, (1, 2)) ** 3, m.repeat(x, 2) ** 2]
    return sum(m.sum(t) for t in terms)


def test_grad_through_extra_ops_matches_jax():
    x = np.array([[3.0, 1.0, 2.0, 5.0], [0.5, -1.0, 4.0, 4.5], [2.0, 2.5, -3.0, 1.5]],
                 np.float32)
    expected = np.asarray(jax.grad(lambda x: _loss(jnp, x))(x))
    grad = aotc.grad(lambda x: _loss(anp, x))
    np.testing.assert_allclose(interpret_fn(grad, x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(aotc.jit(grad)(x), expected, rtol=1e-5, atol=1e-5)


def test_vmap_of_sort_argsort_and_cumsum_matches_a_loop():
    x = _data((3, 7), np.float32)
    fn = lambda row: {"sort": anp.sort(row), "argsort": anp.argsort(row, descending=True),
                      "cumsum": anp.cumsum(row), "roll": anp.roll(row, 2)}
    rows = [{"sort": jnp.sort(r), "argsort": jnp.argsort(r, descending=True),
             "cumsum": jnp.cumsum(r), "roll": jnp.roll(r, 2)} for r in x]
    expected = {k: np.stack([np.asarray(row[k]) for row in rows]) for k in rows[0]}
    assert_tree_close(interpret_fn(aotc.vmap(fn), x), expected)
    assert_tree_close(aotc.jit(aotc.vmap(fn))(x), expected)
