"""x[...] and x.at[...] against NumPy; stablehlo.gather / scatter references against jax.lax.

Every index expression runs through the reference interpreter on its own (cheap); IREE checks are
grouped into a few compiles of functions that return many results at once.
"""

import jax
import numpy as np
import pytest
from helpers import check, interpret_fn

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import indexing as index_ops
from aotc.frontend.trace.tracer import Tracer

X = np.arange(60, dtype=np.float32).reshape(3, 4, 5) - 17.0

# name -> static index into X (shape (3, 4, 5)); NumPy gives the expected result.
GETITEM = {
    "int": 1,
    "negative_int": -1,
    "two_ints": (2, -3),
    "numpy_int": np.int32(2),
    "slice": slice(1, 3),
    "negative_step": (slice(None), slice(None, None, -1)),
    "negative_steps_2": (slice(None, None, -2), slice(3, 0, -2), slice(-1, 1, -3)),
    "strided": (Ellipsis, slice(1, None, 2)),
    "empty_slice": slice(3, 1),
    "none": (None, 1),
    "ellipsis": (Ellipsis, 2),
    "ellipsis_none": (Ellipsis, None),
    "int_ellipsis_none_int": (1, Ellipsis, None, 0),
    "int_array": np.array([2, 0, 2]),
    "negative_array": np.array([-1, 0]),
    "list": [0, 2],
    "nested_list": [[0], [2]],
    "two_arrays_broadcast": (np.array([[0], [2]]), np.array([1, 3, -1])),
    "slice_then_array": (slice(None), [3, 0]),
    "arrays_split_by_slice": ([0, 2], slice(None), [1, 4]),
    "int_and_array_split": (1, slice(None), [0, 4]),
    "array_and_int_adjacent": (slice(None), [0, 1], 2),
    "arrays_split_by_none": ([0, 1], None, [0, 1]),
    "array_and_negative_step": ([2, 0], slice(None, None, -1)),
    "array_2d_last_axis": (Ellipsis, np.array([[4, 0], [1, 1]])),
    "array_with_strided_slice": (slice(None, None, 2), np.array([3, 1]), slice(4, 0, -2)),
}


@pytest.mark.parametrize("name", GETITEM)
def test_getitem_matches_numpy_in_interpreter(name):
    index = GETITEM[name]
    expected = X[index]
    got = interpret_fn(lambda x: x[index], X)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_getitem_table_compiles_with_iree():
    indices = list(GETITEM.values())
    check(lambda x: tuple(x[i] for i in indices), lambda x: tuple(x[i] for i in indices), X)


def _traced_cases(x, i, big, idx, rows):
    return (x[i], x[:, i], x[i, 1:, i], x[idx], x[:, idx, -1], x[idx, i], x[rows, idx[:2]],
            x[big], x[:, [big]], x[..., idx[::-1]])


def _traced_cases_numpy(x, i, big, idx, rows):
    clamped = min(int(big), 2)
    return (x[i], x[:, i], x[i, 1:, i], x[idx], x[:, idx, -1], x[idx, i], x[rows, idx[:2]],
            x[clamped], x[:, [min(int(big), 3)]], x[..., idx[::-1]])


def test_traced_indices_wrap_negative_and_clamp_out_of_range():
    args = (X, np.int32(-2), np.int32(7), np.array([2, -1, 0], np.int32),
            np.array([[1], [0]], np.int32))
    check(_traced_cases, _traced_cases_numpy, *args)


def test_static_indices_lower_to_slices_and_arrays_to_one_gather():
    text = aotc.lower(lambda x: x[1:, ::-1, 2], X).text
    assert "stablehlo.slice" in text and "stablehlo.reverse" in text
    assert "gather" not in text and "dynamic_slice" not in text
    text = aotc.lower(lambda x, i: x[i, 1:], X, np.int32(1)).text
    assert "stablehlo.dynamic_slice" in text and "gather" not in text
    text = aotc.lower(lambda x: x[[0, 2], :, [1, 1]], X).text
    assert text.count("\"stablehlo.gather\"(") == 1
    got = interpret_fn(lambda x, i: (x[1:, ::-1, 2], x[i, 1:], x[[0, 2], :, [1, 1]]), X,
                       np.int32(1))
    for g, want in zip(got, (X[1:, ::-1, 2], X[1, 1:], X[[0, 2], :, [1, 1]])):
        np.testing.assert_array_equal(g, want)


def test_dynamic_leading_axis_with_static_indices():
    fn = lambda x: (x[:, 1], x[-1], x[:, ::-2], x[0, 1:3], x[[2, 0], 1:])
    traced = aotc.lower(fn, aotc.ShapeSpec((None, 4)))
    assert "tensor<?x4xf32>" in traced.text
    for n in (3, 5):
        x = np.arange(4 * n, dtype=np.float32).reshape(n, 4)
        got = aotc.interpret(traced.module, traced.name, x)
        for g, e in zip(got, fn(x)):
            np.testing.assert_array_equal(g, e)


# ---- x.at[...] ---------------------------------------------------------------------------------


def _copy_with(x, fn):
    y = x.copy()
    fn(y)
    return y


def _updates(x, idx, v):
    return (
        x.at[1].set(7.0),
        x.at[:, 3:0:-1].set(v[:, :1]),
        x.at[:, [0, 0, 3, -1]].add(1.0),
        x.at[idx, ::2, 1].multiply(v[:, :2]),
        x.at[..., None].max(3.0),
        x.at[[0, 0, 1], 2].add(v[0, :1]),
        x.at[:, ::-2, -1].min(-1.0),
        x.at[None, 2, 1:3].set(v[:2, :1]),
        x.at[np.array([[0], [2]]), :, np.array([1, 4])].add(v[:2, :, None] * 0 + 5.0),
        x.at[1:, 2].get(),
    )


def _updates_numpy(x, idx, v):
    return (
        _copy_with(x, lambda y: y.__setitem__(1, 7.0)),
        _copy_with(x, lambda y: y.__setitem__((slice(None), slice(3, 0, -1)), v[:, :1])),
        _copy_with(x, lambda y: np.add.at(y, (slice(None), [0, 0, 3, -1]), 1.0)),
        _copy_with(x, lambda y: np.multiply.at(y, (idx, slice(None, None, 2), 1), v[:, :2])),
        np.maximum(x, 3.0),
        _copy_with(x, lambda y: np.add.at(y, ([0, 0, 1], 2), v[0, :1])),
        _copy_with(x, lambda y: y.__setitem__((slice(None), slice(None, None, -2), -1),
                                              np.minimum(y[:, ::-2, -1], -1.0))),
        _copy_with(x, lambda y: y.__setitem__((2, slice(1, 3)), v[:2, :1])),
        _copy_with(x, lambda y: np.add.at(y, (np.array([[0], [2]]), slice(None),
                                              np.array([1, 4])), 5.0)),
        x[1:, 2],
    )


def test_at_updates_match_numpy():
    idx = np.array([2, 0, -1], np.int32)
    v = np.arange(6, dtype=np.float32).reshape(3, 2) * 10 - 20
    expected = _updates_numpy(X, idx, v)
    got = interpret_fn(_updates, X, idx, v)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    check(_updates, _updates_numpy, X, idx, v)


def test_at_is_pure_and_casts_to_the_array_dtype():
    def fn(x, i):
        y = x.at[i].add(1.7)
        return x, y, x.at[-1].set(i)

    x = np.arange(4, dtype=np.int32)
    original, added, set_last = interpret_fn(fn, x, np.int32(-3))
    np.testing.assert_array_equal(original, x)
    np.testing.assert_array_equal(added, [0, 2, 2, 3])
    np.testing.assert_array_equal(set_last, [0, 1, 2, -3])
    assert added.dtype == np.int32


def test_at_traced_index_out_of_range_drops_the_update():
    fn = lambda x, i: x.at[i].set(9.0)
    x = np.zeros(4, np.float32)
    np.testing.assert_array_equal(interpret_fn(fn, x, np.int32(6)), x)
    np.testing.assert_array_equal(interpret_fn(fn, x, np.int32(-1)), [0, 0, 0, 9])


def test_take_and_take_along_axis():
    idx = np.array([[0, 3], [2, 2], [1, 0]])

    def fn(x):
        return (anp.take(x, [2, -1], axis=1), anp.take(x, [7, 0]), anp.take(x, [99], mode="clip"),
                anp.take(x, [-6], axis=2, mode="wrap"),
                anp.take_along_axis(x[:, :, 0], idx, axis=1))

    def ref(x):
        return (np.take(x, [2, -1], axis=1), np.take(x, [7, 0]), np.take(x, [99], mode="clip"),
                np.take(x, [-6], axis=2, mode="wrap"),
                np.take_along_axis(x[:, :, 0], idx, axis=1))

    for g, e in zip(interpret_fn(fn, X), ref(X)):
        np.testing.assert_array_equal(g, e)


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [np.array([True, False, True]), True, (slice(None), [True] * 4)])
def test_boolean_masks_are_refused_with_a_hint(index):
    with pytest.raises(TracingError, match=r"boolean mask.*anp\.where"):
        aotc.lower(lambda x: x[index], X)


def test_traced_boolean_mask_is_refused():
    with pytest.raises(TracingError, match=r"anp\.where"):
        aotc.lower(lambda x: x[x > 0], X)
    with pytest.raises(TracingError, match=r"anp\.where"):
        aotc.lower(lambda x: x.at[x > 0].set(0.0), X)


@pytest.mark.parametrize("index, message", [  # out-of-range static indices clamp, as in JAX
    ((0, 0, 0, 0), "too many indices"),
    (1.5, "cannot index with float"),
    ((Ellipsis, Ellipsis), "single ellipsis"),
])
def test_bad_static_indices_raise(index, message):
    with pytest.raises(TracingError, match=message) as info:
        aotc.lower(lambda x: x[index], X)
    assert "test_indexing.py" in str(info.value)


# ---- stablehlo.gather / scatter references against jax.lax ------------------------------------


def _interpret_op(build, *arrays):
    traced = aotc.lower(lambda *ts: Tracer(build(*[t.value for t in ts])), *arrays)
    return aotc.interpret(traced.module, traced.name, *arrays)[0]


GATHERS = {
    # name: operand shape, start indices, dims (index vector dim last unless given), slice sizes
    "rows": ((5, 3), [[4], [0], [-2], [9]],
             dict(offset_dims=[1], collapsed_slice_dims=[0], start_index_map=[0]), [1, 3]),
    "windows_clamped": ((6, 7), [[[0, 0], [5, 6], [2, -1]], [[1, 4], [3, 3], [9, 9]]],
                        dict(offset_dims=[2, 3], collapsed_slice_dims=[], start_index_map=[1, 0]),
                        [2, 3]),
    "points_offset_first": ((4, 5, 2), [[1, 2], [3, 0], [0, 4]],
                            dict(offset_dims=[0], collapsed_slice_dims=[0, 1],
                                 start_index_map=[0, 1]), [1, 1, 2]),
    "batching": ((2, 5, 3), [[[1], [4]], [[0], [2]]],
                 dict(offset_dims=[2], collapsed_slice_dims=[1], start_index_map=[1],
                      operand_batching_dims=[0], start_indices_batching_dims=[0]), [1, 1, 3]),
}


@pytest.mark.parametrize("name", GATHERS)
def test_gather_reference_matches_jax(name):
    shape, indices, dims, sizes = GATHERS[name]
    operand = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    indices = np.asarray(indices, np.int32)
    got = _interpret_op(lambda x, i: index_ops.gather(x, i, index_vector_dim=indices.ndim - 1,
                                                      slice_sizes=sizes, **dims),
                        operand, indices)
    jax_dims = jax.lax.GatherDimensionNumbers(**{k: tuple(v) for k, v in dims.items()})
    expected = jax.lax.gather(operand, indices, jax_dims,
                              tuple(sizes), mode=jax.lax.GatherScatterMode.CLIP)
    np.testing.assert_array_equal(got, np.asarray(expected))


def test_gather_with_index_vector_dim_first_and_implicit():
    operand = np.arange(20, dtype=np.float32).reshape(4, 5)
    columns = np.array([[1, 3, 0], [4, 0, 2]], np.int32)  # vector dim 0: (row, col) per column
    got = _interpret_op(lambda x, i: index_ops.gather(
        x, i, offset_dims=[], collapsed_slice_dims=[0, 1], start_index_map=[0, 1],
        index_vector_dim=0, slice_sizes=[1, 1]), operand, columns)
    np.testing.assert_array_equal(got, operand[columns[0], columns[1]])
    rows = np.array([3, 1], np.int32)  # index_vector_dim == rank: one index per element
    got = _interpret_op(lambda x, i: index_ops.gather(
        x, i, offset_dims=[1], collapsed_slice_dims=[0], start_index_map=[0],
        index_vector_dim=1, slice_sizes=[1, 5]), operand, rows)
    np.testing.assert_array_equal(got, operand[rows])


SCATTERS = {
    # name: operand shape, indices (vector dim last), updates shape, dims, jax op, our combine
    "add_rows_with_duplicates": ((5, 3), [[1], [1], [4]], (3, 3),
                                 dict(update_window_dims=[1], inserted_window_dims=[0],
                                      scatter_dims_to_operand_dims=[0]),
                                 jax.lax.scatter_add, ew.add),
    "multiply_windows": ((4, 6), [[0, 1], [2, 3]], (2, 2, 3),
                         dict(update_window_dims=[1, 2], inserted_window_dims=[],
                              scatter_dims_to_operand_dims=[0, 1]),
                         jax.lax.scatter_mul, ew.multiply),
    "max_points": ((4, 5), [[3, 1], [4, 0], [3, 1]], (3,),
                   dict(update_window_dims=[], inserted_window_dims=[0, 1],
                        scatter_dims_to_operand_dims=[1, 0]),
                   jax.lax.scatter_max, ew.maximum),
    "set_batching": ((2, 5, 3), [[[1], [4]], [[0], [2]]], (2, 2, 3),
                     dict(update_window_dims=[2], inserted_window_dims=[1],
                          scatter_dims_to_operand_dims=[1], operand_batching_dims=[0],
                          scatter_indices_batching_dims=[0]),
                     jax.lax.scatter, lambda current, update: update),
}


@pytest.mark.parametrize("name", SCATTERS)
def test_scatter_reference_matches_jax(name):
    shape, indices, update_shape, dims, jax_op, combine = SCATTERS[name]
    operand = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) - 7
    updates = np.arange(np.prod(update_shape), dtype=np.float32).reshape(update_shape) * 3 - 5
    indices = np.asarray(indices, np.int32)
    ours = {k.replace("operand_batching", "input_batching"): v for k, v in dims.items()}
    got = _interpret_op(lambda x, i, u: index_ops.scatter(
        x, i, u, index_vector_dim=indices.ndim - 1, combine=combine, **ours),
        operand, indices, updates)
    jax_dims = jax.lax.ScatterDimensionNumbers(**{k: tuple(v) for k, v in dims.items()})
    expected = jax_op(operand, indices, updates, jax_dims)
    np.testing.assert_array_equal(got, np.asarray(expected))


def test_scatter_general_body_and_out_of_bounds_skip():
    def body(current, update):  # not a single op: runs the region per update element
        return ew.add(ew.multiply(current, update), update)

    operand = np.arange(6, dtype=np.float32)
    indices = np.array([[1], [7], [1], [-1]], np.int32)
    updates = np.array([2, 100, 3, 100], np.float32)
    got = _interpret_op(lambda x, i, u: index_ops.scatter(
        x, i, u, update_window_dims=[], inserted_window_dims=[0],
        scatter_dims_to_operand_dims=[0], index_vector_dim=1, combine=body),
        operand, indices, updates)
    np.testing.assert_array_equal(got, [0, (1 * 2 + 2) * 3 + 3, 2, 3, 4, 5])


def test_dimension_numbers_round_trip_through_attribute_text():
    text = aotc.lower(lambda x, i: Tracer(index_ops.gather(
        x.value, i.value, offset_dims=[1], collapsed_slice_dims=[0], start_index_map=[0],
        index_vector_dim=1, slice_sizes=[1, 3])), np.zeros((4, 3), np.float32),
        np.zeros((2, 1), np.int32)).text
    attr = text[text.index("#stablehlo.gather"):text.index(">", text.index("#stablehlo.gather"))]
    parsed = index_ops.dimension_numbers(attr, index_ops.GATHER_DIMS)
    assert parsed == {"offset_dims": [1], "collapsed_slice_dims": [0],
                      "operand_batching_dims": [], "start_indices_batching_dims": [],
                      "start_index_map": [0], "index_vector_dim": 1}


def test_vmap_of_dynamic_slices_with_per_lane_starts():
    xs = np.arange(40, dtype=np.float32).reshape(2, 5, 4)
    starts = np.array([3, -1], np.int32)
    update = -np.ones((2, 2), np.float32)

    def fn(xs, starts, update):
        sliced = aotc.vmap(lambda x, i: aotc.lax.dynamic_slice(x, (i, 1), (2, 3)))(xs, starts)
        shared = aotc.vmap(lambda x, i: aotc.lax.dynamic_slice(x, (i, 1), (2, 3)),
                           in_axes=(None, 0))(xs[0], starts)
        updated = aotc.vmap(lambda x, i, u: aotc.lax.dynamic_update_slice(x, u, (i, 2)),
                            in_axes=(0, 0, None))(xs, starts, update)
        return sliced, shared, updated

    def reference(xs, starts, update):
        # as jax.lax: a negative start counts from the end once, then clamps so 2 rows fit in 5
        lows = [min(max(int(i) + 5 * (int(i) < 0), 0), 3) for i in starts]
        updated = xs.copy()
        for lane, low in enumerate(lows):
            updated[lane, low:low + 2, 2:4] = update
        return (np.stack([xs[lane, low:low + 2, 1:4] for lane, low in enumerate(lows)]),
                np.stack([xs[0, low:low + 2, 1:4] for low in lows]), updated)

    check(fn, reference, xs, starts, update)


# ---- gather / scatter under grad and vmap ------------------------------------------------------

LOGITS = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
LABELS = np.array([1, 4, 0, 4], np.int32)


def _indexing_loss(x, labels, m):
    """Cross-entropy through take_along_axis and paired arrays, plus .at add and set (label 4
    is out of range for the 4 rows that .at[labels, 1] indexes: JAX drops that update)."""
    logp = x - m.log(m.exp(x).sum(axis=1, keepdims=True))
    picked = m.take_along_axis(logp, labels[:, None], axis=1).sum() + logp[m.arange(4), labels]
    added = x.at[labels, 1].add(x[0, :4] * 2.0)
    overwritten = x.at[1:3, m.array([0, 2])].set(x[0, :2] * 2.0)
    return -picked.sum() + (added ** 2).sum() + (overwritten ** 3).sum() + (x[:, [3, 3]]).sum()


def test_grad_through_gather_and_scatter_matches_jax():
    import jax.numpy as jnp

    expected = np.asarray(jax.jit(jax.grad(_indexing_loss), static_argnums=2)(LOGITS, LABELS,
                                                                              jnp))
    per_example = np.asarray(jax.jit(jax.vmap(jax.grad(
        lambda x, y: -jax.nn.log_softmax(x)[y])))(LOGITS, LABELS))

    def fn(x, labels):
        return (aotc.grad(lambda x, y: _indexing_loss(x, y, anp))(x, labels),
                aotc.vmap(aotc.grad(lambda x, y: -(x - anp.log(anp.exp(x).sum()))[y]))(x, labels))

    check(fn, lambda x, labels: (expected, per_example), LOGITS, LABELS, rtol=1e-4, atol=1e-5)


def test_vmap_of_indexing_matches_a_loop():
    xs = np.arange(30, dtype=np.float32).reshape(2, 5, 3)
    idx = np.array([[4, 0, 4], [1, 1, -2]], np.int32)
    vs = np.arange(18, dtype=np.float32).reshape(2, 3, 3) * 10

    def fn(xs, idx, vs):
        vmap = aotc.vmap
        return (vmap(lambda x, i: x[i])(xs, idx),
                vmap(lambda x: x[[2, 0], 1:])(xs),
                vmap(lambda t, i: t[i, ::-1], in_axes=(None, 0))(xs[0], idx),
                vmap(lambda x, i: x[i[0], i[1]])(xs, idx),
                vmap(lambda x, i, v: x.at[i].add(v))(xs, idx, vs),
                vmap(lambda x, i: x.at[i, 1].set(-1.0), in_axes=(0, None))(xs, idx[0]),
                vmap(lambda x, i, v: x.at[i].max(v), in_axes=(None, 0, 0))(xs[1], idx, vs))

    def loop(xs, idx, vs):
        outs = [[] for _ in range(7)]
        for x, i, v in zip(xs, idx, vs):
            added, set_, maxed = x.copy(), x.copy(), xs[1].copy()
            np.add.at(added, i, v)
            set_[idx[0], 1] = -1.0
            np.maximum.at(maxed, i, v)
            for out, value in zip(outs, (x[i], x[[2, 0], 1:], xs[0][i, ::-1], x[i[0], i[1]],
                                         added, set_, maxed)):
                out.append(value)
        return tuple(np.stack(out) for out in outs)

    check(fn, loop, xs, idx, vs)
