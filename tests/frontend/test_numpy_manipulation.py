"""Array manipulation, index tricks and set operations of aotc.numpy against jax.numpy.

One table of calls is written once against a numpy-like module `m` and run with `m = anp`
(interpreted, and one IREE compile of the whole table) and `m = jax.numpy`; float
manipulations are also differentiated with aotc.grad and compared with jax.grad.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_grads, check_table, jax_oracle

import aotc
import aotc.numpy as anp
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")

rng = np.random.default_rng(0)
X = np.round(rng.normal(size=(4, 5)) * 2).astype(np.float32) / 2
Y = rng.normal(size=(4, 5)).astype(np.float32)
INTS = rng.integers(-2, 6, (3, 4)).astype(np.int32)
B = rng.random((3, 4)) < 0.5
CUBE = rng.normal(size=(2, 3, 4)).astype(np.float32)
STATIC_MASK = np.array([True, False, True, True])


def _table(m, x, y, i, b, c):
    """Every new name on float, int and bool arrays."""
    return {**_traced_rows(m, x, y, i, b, c), **_value_rows(m, x, y, i, b, c)}


def _value_rows(m, x, y, i, b, c):
    """The rows jax.numpy computes only from concrete values (a static mask, a constant array):
    JAX runs them op by op (one XLA compile per op and shape); the other rows run under one
    jax.jit."""
    return {
        "compress": m.compress(STATIC_MASK, x, axis=0),
        "compress_flat": m.compress(np.array([False, True, True]), i),
        "extract_static": m.extract(B, i),
        "trim_zeros": m.trim_zeros(np.array([0, 0, 3, 0, 4, 0], np.int32)),
        "trim_zeros_f": m.trim_zeros(np.array([0.0, 1.0, 0.0], np.float32), "f"),
        "mask_indices": m.mask_indices(3, np.triu, 1),
        "mask_indices_own": m.mask_indices(4, m.tril, -1),
    }


def _traced_rows(m, x, y, i, b, c):
    """The rows JAX computes under jax.jit (traced arguments)."""
    row = x[1]
    return {
        # manipulation
        "choose": m.choose(i % 2 + 2, [x[:3, :4], y[:3, :4], i, 7.0], mode="clip"),
        "choose_wrap": m.choose(i, [x[:3, 0:1], y[0, :4]], mode="wrap"),
        "compress_size": m.compress(b[0], i, axis=1, size=3, fill_value=-1),
        "extract": m.extract(x > 0, y, size=12),
        "place": m.place(x, x > 0, y[0, :3], inplace=False),
        "put": m.put(x, i[0], y[1, :2], inplace=False),
        "put_clip": m.put(i, np.array([0, 50, -60], np.int32), 9, mode="clip", inplace=False),
        "put_wrap": m.put(y, np.array([1, 22, -1]), 0.5, mode="wrap", inplace=False),
        "put_along_axis": m.put_along_axis(x, m.argmax(y, 1, keepdims=True), -5.0, 1,
                                           inplace=False),
        "put_along_axis_none": m.put_along_axis(i, np.array([3, 0]), np.array([7, 8]), None,
                                                inplace=False),
        "resize": m.resize(x, (3, 7)), "resize_int": m.resize(i[0], 6),
        "append": m.append(x, y[0]), "append_axis": m.append(i, i[:1], axis=0),
        "insert": m.insert(x, 2, y[0, :4], axis=1),
        "insert_flat": m.insert(i, np.array([1, 1, -1]), 0),
        "insert_row": m.insert(x, np.array([0, 4]), y[0], axis=0),
        "insert_scalar": m.insert(row, 3, 9.0),
        "insert_slice": m.insert(i, slice(0, 4, 2), i[:, :2], axis=1),
        "delete": m.delete(x, np.array([0, 2]), axis=1),
        "delete_flat": m.delete(i, slice(1, None, 3)),
        "delete_int": m.delete(b, -1, axis=0),
        "block": m.block([[x, y], [y[:1], x[:1]]]), "block_1d": m.block([row, 2.0, y[0]]),
        "block_mixed": m.block([[i[:2], i[:2, :1]], [i[2:], i[2:, 1:2]]]),
        "column_stack": m.column_stack([row, y[0], x[0]]), "column_2d": m.column_stack([x, y]),
        "dstack": m.dstack([x, y]), "dstack_1d": m.dstack([row, row]),
        "dsplit": m.dsplit(c, 2), "dsplit_at": m.dsplit(c, [1, 3]),
        "hsplit": m.hsplit(x[:, :4], 2), "hsplit_1d": m.hsplit(row, [2]),
        "vsplit": m.vsplit(x, 2), "array_split": m.array_split(x, 3, axis=1),
        "array_split_at": m.array_split(i, [1, 3, 3], axis=1),
        "unstack": m.unstack(c, axis=1), "rollaxis": [m.rollaxis(c, 2), m.rollaxis(c, 0, 3),
                                                      m.rollaxis(c, 1, -1)],
        "permute_dims": m.permute_dims(c, (2, 0, 1)), "matrix_transpose": m.matrix_transpose(c),
        "matvec": m.matvec(c, y[:2, :4]), "matvec_int": m.matvec(i, i[0]),
        "vecmat": m.vecmat(y[0, :3], c), "vecdot": m.vecdot(x, y), "vecdot_axis":
        m.vecdot(c, c[:1], axis=1), "vecdot_int": m.vecdot(i, i[1:2]),
        "diagflat": m.diagflat(x[:2, :2]), "diagflat_k": m.diagflat(i[0], -1),
        "fill_diagonal": m.fill_diagonal(x, y[0, :3], inplace=False),
        "fill_diagonal_int": m.fill_diagonal(i, 9, inplace=False),
        "fill_diagonal_3d": m.fill_diagonal(m.reshape(c[0, :2], (2, 2, 2)), 1.5, inplace=False),
        "lexsort": m.lexsort([i[0], i[1]]), "lexsort_2d": m.lexsort(i[:2]),
        "lexsort_axis": m.lexsort((x[:3, :4], i), axis=0),
        "partition": m.partition(y, 2), "partition_axis": m.partition(y, -1, axis=0),
        "argpartition": m.argpartition(y, 1), "argpartition_int": m.argpartition(i, 2, axis=0),
        "argpartition_ties": m.argpartition(x, 3),
        # index tricks
        "indices": m.indices((2, 3)), "indices_sparse": m.indices((2, 3), sparse=True),
        "ix_": x[m.ix_(np.array([0, 2]), np.array([1, 3, 4]))], "ix_traced": m.ix_(i[0], i[1]),
        "mgrid": m.mgrid[0:3, 1:5:2], "mgrid_float": m.mgrid[0:1:5j, -1:1:0.5],
        "mgrid_1d": m.mgrid[2:6], "ogrid": m.ogrid[0:3, 0:4:2],
        "r_": m.r_[row, 0:3, y[0]], "r_axis": m.r_["1", x, y], "r_ndmin": m.r_["0,2", row, row],
        "c_": m.c_[row, y[0]], "c_2d": m.c_[x, y],
        "s_": x[m.s_[1:3, ::2]], "index_exp": y[m.index_exp[:, 1]],
        "diag_indices_from": m.diag_indices_from(x[:3, :3]),
        "tril_indices_from": m.tril_indices_from(x, -1), "triu_indices_from":
        m.triu_indices_from(i, 1),
        "fromfunction": m.fromfunction(lambda r, s: r * 10 + s, (2, 3)),
        "fromfunction_int": m.fromfunction(lambda r: r * 2, (3,), dtype=m.int32),
        "unravel_index": m.unravel_index(i * 3 - 4, (3, 4)),
        "ravel_multi_index": m.ravel_multi_index((i[0], i[1]), (3, 4), mode="clip"),
        "ravel_multi_index_wrap": m.ravel_multi_index((i[0], i[1], i[2]), (2, 3, 4),
                                                      mode="wrap"),
        "ravel_multi_index_f": m.ravel_multi_index((i[0], i[1]), (3, 4), mode="clip", order="F"),
        "packbits": m.packbits(i), "packbits_axis": m.packbits(b, axis=1),
        "packbits_little": m.packbits(b, axis=0, bitorder="little"),
        "unpackbits": m.unpackbits(m.packbits(i)),
        "unpackbits_axis": m.unpackbits(m.packbits(b, axis=1), axis=1, count=4),
        "unpackbits_little": m.unpackbits(m.astype(i % 256, m.uint8), bitorder="little",
                                          count=-3),
        # sets
        "union1d": m.union1d(i[0], x[0], size=9), "union1d_fill": m.union1d(i[0], i[1], size=9,
                                                                           fill_value=-9),
        "intersect1d": m.intersect1d(i[0], i[1:], size=4),
        "intersect1d_indices": m.intersect1d(i[1:], i[0], size=5, return_indices=True),
        "intersect1d_fill": m.intersect1d(x, y.round(), size=4, fill_value=99.0),
        "setdiff1d": m.setdiff1d(i, i[0], size=10), "setdiff1d_float": m.setdiff1d(x, i, size=6),
        "setdiff1d_unique": m.setdiff1d(np.array([5, 1, 3], np.int32), i[0],
                                        assume_unique=True, size=4, fill_value=-1),
        "setxor1d": m.setxor1d(i[0], i[1], size=6), "setxor1d_fill": m.setxor1d(x[0], x[1],
                                                                               size=8,
                                                                               fill_value=0.5),
        "unique_values": m.unique_values(x, size=12),
        "unique_values_fill": m.unique_values(i, size=10, fill_value=-1),
        "unique_counts": tuple(m.unique_counts(i, size=9)),
        "unique_counts_short": tuple(m.unique_counts(x, size=3)),
        "unique_inverse": tuple(m.unique_inverse(x, size=20)),
        "unique_all": tuple(m.unique_all(i, size=6)),
        "unique_all_fill": tuple(m.unique_all(b, size=3, fill_value=False)),
    }


# _table's parts, which JAX runs differently (test_public_api records each part on its own:
# eval_shape traces the first, the second runs op by op)
_TABLE_PARTS = (_traced_rows, _value_rows)


def _args():
    return X, Y, INTS, B, CUBE


def test_table_matches_jax_interpreted_and_compiled():
    # JAX's answers: the traced rows under one jax.jit (XLA's backend at -O0: at its default
    # level the compile of this table takes ~60 s CPU), the rows that need values op by op;
    # ~25 s CPU where the whole table op by op took ~34 s
    args = [jnp.asarray(a) for a in _args()]
    traced = jax.jit(partial(_traced_rows, jnp)).lower(*args).compile(
        compiler_options={"xla_backend_optimization_level": 0})(*args)
    expected = {**jax.tree.map(np.asarray, traced), **jax_oracle(partial(_value_rows, jnp), *args)}
    check_table(_table, jnp, anp, _args(), 1e-5, 1e-5, expected=expected)


def _grad_table(m, x, y):
    """Float manipulations JAX differentiates (distinct put indices, no ties in partition)."""
    c = m.reshape(x[:4, :4] * y[:4, :4], (2, 2, 4))
    return {
        "choose": m.choose(np.array([[0, 1, 2, 1, 0]]), [x, y, x * y], mode="clip"),
        "compress": m.compress(STATIC_MASK, x * y, axis=0),
        "extract": m.extract(x > 0, y, size=8),
        "place": m.place(x, x > 0, y[0, :3], inplace=False),
        "put": m.put(x, np.array([0, 7, -1]), y[1, :3], inplace=False),
        "put_along_axis": m.put_along_axis(x, np.array([[1], [0], [4], [2]]), y[:, :1], 1,
                                           inplace=False),
        "resize": m.resize(x, (3, 8)), "append": m.append(x, y[0]),
        "insert": m.insert(x, np.array([1, 1]), y[:, :2], axis=1),
        "delete": m.delete(x * y, np.array([0, 3]), axis=1),
        "block": m.block([[x, y], [y[:1], x[:1]]]), "column_stack": m.column_stack([x[0], y[0]]),
        "dstack": m.dstack([x, y]), "splits": [m.dsplit(c, 2), m.hsplit(x, [2]), m.vsplit(y, 2),
                                               m.array_split(x * y, 3, axis=1)],
        "unstack": m.unstack(c, axis=2), "rollaxis": m.rollaxis(c, 2),
        "permute_dims": m.permute_dims(c, (1, 2, 0)), "matrix_transpose": m.matrix_transpose(c),
        "matvec": m.matvec(c, y[:2, :4]), "vecmat": m.vecmat(x[0, :2], c),
        "vecdot": m.vecdot(x, y), "diagflat": m.diagflat(x[:2, :2], 1),
        "fill_diagonal": m.fill_diagonal(x, y[0, :2], inplace=False),
        "partition": m.partition(x * y, 2), "r_": m.r_[x[0], y[1]], "c_": m.c_[x[0], y[1]],
    }


def test_grads_match_jax():
    rng = np.random.default_rng(4)
    x, y = (rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2))
    check_grads(_grad_table, jnp, anp, x, y)


@pytest.mark.parametrize("call", [
    lambda x: anp.trim_zeros(x), lambda x: anp.compress(x > 0, x),
    lambda x: anp.union1d(x, x), lambda x: anp.unique_counts(x),
    lambda x: anp.put(x, np.array([0]), 1.0), lambda x: anp.insert(x, anp.argmax(x), 1.0),
    lambda x: anp.choose(anp.astype(x, anp.int32), [x, x]),
], ids=["trim_zeros", "compress", "union1d", "unique_counts", "put_inplace", "insert_traced",
        "choose_raise"])
def test_traced_limits_raise_clear_errors(call):
    with pytest.raises(TracingError, match=r"size=|inplace=False|static|mode|traced"):
        aotc.lower(call, np.ones(3, np.float32))


def test_unique_results_are_named_as_jax():
    for name in ("unique_all", "unique_counts", "unique_inverse"):
        ours = getattr(anp, name)(INTS, size=3)
        assert ours._fields == getattr(jnp, name)(INTS, size=3)._fields


def test_trim_zeros_and_grids_work_outside_a_trace():
    np.testing.assert_array_equal(anp.trim_zeros(np.array([0, 2, 0, 3, 0])), [2, 0, 3])
    np.testing.assert_array_equal(anp.mgrid[0:2, 0:2], jnp.mgrid[0:2, 0:2])
    np.testing.assert_array_equal(anp.r_[np.arange(2), 5:7], jnp.r_[jnp.arange(2), 5:7])
