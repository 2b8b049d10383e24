"""The bounds legalization pass: out-of-range gather / dynamic_slice indices clamp and
out-of-range scatter updates drop, as in JAX, on code compiled by IREE (which enforces neither).

One compiled function per op kind; every index case runs through the same artifact. Each result
is compared with the same program run by JAX.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.lax as alax
import aotc.numpy as anp
import aotc_runtime
from aotc.frontend.core.ir import ir, new_context
from aotc.passes.bounds import legalize_bounds, legalize_bounds_text
from aotc.passes.interpreter import interpret
from aotc.tools.compile import compile_stablehlo

BIG = 2**31 - 1


def index_cases(n: int) -> list[int]:
    """0, -1, ±size, ±(size+1), ±(2**31-1): in range, wrapped, just out, far out."""
    return [0, -1, n, -n, n + 1, -(n + 1), BIG, -BIG]


X = np.arange(20, dtype=np.float32).reshape(5, 4) * 1.5 - 7.0


# ---- gathers: x[i], take, take_along_axis, .at[].get ------------------------------------------


def row_gather(x, i):
    return x[i]


def test_getitem_clamps_like_jax():
    i = np.array(index_cases(5), np.int32)
    np.testing.assert_array_equal(aotc.jit(row_gather)(X, i), jax.jit(row_gather)(X, i))


def test_at_get_clamps_like_jax():
    i = np.array(index_cases(5), np.int32)

    def at_get(x, i):
        return x.at[i].get()

    np.testing.assert_array_equal(aotc.jit(at_get)(X, i), jax.jit(at_get)(X, i))


@pytest.mark.parametrize("mode", [None, "clip", "fill"])
def test_take_matches_jax_in_every_mode(mode):
    # JAX's default for take is "fill" (NaN out of range); "clip" clamps after the gather
    i = np.array(index_cases(4), np.int32)
    got = aotc.jit(lambda x, i: anp.take(x, i, axis=1, mode=mode))(X, i)
    np.testing.assert_array_equal(got, jnp.take(X, i, axis=1, mode=mode))


@pytest.mark.parametrize("mode", [None, "clip", "fill"])
def test_take_along_axis_matches_jax_in_every_mode(mode):
    i = np.array(index_cases(4), np.int32).reshape(1, 8).repeat(5, axis=0)
    got = aotc.jit(lambda x, i: anp.take_along_axis(x, i, axis=1, mode=mode))(X, i)
    np.testing.assert_array_equal(got, jnp.take_along_axis(X, i, axis=1, mode=mode))


def test_embedding_lookup_of_missing_ids_reads_the_last_row():
    table = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float32)
    ids = np.array([0, 999, 1000, 100000, -1, -1001, BIG, -BIG], np.int32)

    def lookup(table, ids):
        return table[ids]

    np.testing.assert_array_equal(aotc.jit(lookup)(table, ids), jax.jit(lookup)(table, ids))


# ---- scatters: .at[].set/add/multiply/min/max drop out-of-range updates ------------------------

SCATTERS = ["set", "add", "multiply", "min", "max"]


@pytest.mark.parametrize("method", SCATTERS)
def test_scatter_drops_out_of_range_updates_like_jax(method):
    def update(x, i, u):
        return getattr(x.at[i], method)(u)

    compiled = aotc.jit(update)
    u = np.array([[3.0, -2.0, 0.5, 9.0], [-4.0, 6.0, 1.0, -8.0]], np.float32)
    for case in index_cases(5):
        i = np.array([case, 2], np.int32)  # one case beside an in-range row
        np.testing.assert_array_equal(compiled(X, i, u), jax.jit(update)(X, i, u),
                                      err_msg=f"x.at[{case}].{method}")


def test_scatter_into_columns_drops_like_jax():
    def add_columns(x, i):
        return x.at[:, i].add(100.0)

    compiled = aotc.jit(add_columns)
    for case in index_cases(4):
        i = np.array([case, 1], np.int32)
        np.testing.assert_array_equal(compiled(X, i), jax.jit(add_columns)(X, i),
                                      err_msg=f"x.at[:, {case}].add")


# ---- dynamic_slice / dynamic_update_slice ------------------------------------------------------


# aotc.lax, like jax.lax, wraps a negative start once (start + size); the pass then clamps.
# The JAX exports below check JAX's own programs through the pass alone.


def test_dynamic_slice_clamps_like_jax():
    def window(x, i, j):
        return alax.dynamic_slice(x, (i, j), (2, 3))

    def jax_window(x, i, j):
        return jax.lax.dynamic_slice(x, (i, j), (2, 3))

    compiled = aotc.jit(window)
    for case in index_cases(5):
        i, j = np.int32(case), np.int32(-case)
        np.testing.assert_array_equal(compiled(X, i, j),
                                      jax.jit(jax_window)(X, i, j),
                                      err_msg=f"dynamic_slice at ({case}, {-case})")


def test_dynamic_update_slice_clamps_like_jax():
    u = np.full((2, 3), 50.0, np.float32)

    def write(x, u, i, j):
        return alax.dynamic_update_slice(x, u, (i, j))

    def jax_write(x, u, i, j):
        return jax.lax.dynamic_update_slice(x, u, (i, j))

    compiled = aotc.jit(write)
    for case in index_cases(5):
        i, j = np.int32(case), np.int32(-case)
        np.testing.assert_array_equal(compiled(X, u, i, j),
                                      jax.jit(jax_write)(X, u, i, j),
                                      err_msg=f"dynamic_update_slice at ({case}, {-case})")


@pytest.mark.parametrize("name", ["slice", "update"])
def test_jax_export_of_dynamic_slices(name):
    u = np.full((2, 3), 50.0, np.float32)
    if name == "slice":
        program = lambda x, u, ij: jax.lax.dynamic_slice(x, (ij[0], ij[1]), (2, 3)) + u
    else:
        program = lambda x, u, ij: jax.lax.dynamic_update_slice(x, u, (ij[0], ij[1]))
    ij = np.zeros(2, np.int32)
    text = jax.jit(program).lower(X, u, ij).as_text()
    module = aotc_runtime.load_bytes(compile_stablehlo(text), require_aotc=False)
    for case in index_cases(5):
        ij = np.array([case, -case], np.int32)
        (got,) = module["main"](X, u, ij)
        np.testing.assert_array_equal(got, program(X, u, ij), err_msg=f"{name} at {ij}")


# ---- imported StableHLO with batching dims (jax.vmap's gathers and scatters) -------------------

XB = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
IB = np.array([[5, 0], [1, -3], [BIG, 1]], np.int32)  # per lane: out of range beside in range
BATCHED = {
    "gather": lambda x, i: x[i],
    "set": lambda x, i: x.at[i].set(100.0),
    "add": lambda x, i: x.at[i].add(100.0),
}


@pytest.mark.parametrize("name", list(BATCHED))
def test_jax_export_with_batching_dims(name):
    batched = jax.vmap(BATCHED[name])
    text = jax.jit(batched).lower(XB, IB).as_text()
    assert "batching_dims" in text
    module = aotc_runtime.load_bytes(compile_stablehlo(text), require_aotc=False)
    (got,) = module["main"](XB, IB)
    np.testing.assert_array_equal(got, batched(XB, IB))


# ---- the rewrite itself, checked with the reference interpreter (no IREE) ----------------------


def test_rewrite_keeps_stablehlo_semantics_in_the_interpreter():
    # the interpreter follows the spec (clamp, drop), so legalizing must not change its results
    def program(x, i, u):
        return (x[i], x.at[i].set(u), x.at[i].max(u),
                alax.dynamic_slice(x, (i[0], i[1]), (2, 2)))

    i = np.array([7, -9], np.int32)
    u = np.ones((2, 4), np.float32)
    traced = aotc.lower(program, X, i, u)
    before = interpret(traced.text_with_locations(), traced.name, X, i, u)
    after = interpret(legalize_bounds_text(traced.text_with_locations()), traced.name, X, i, u)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_constant_in_range_indices_are_left_alone():
    text = str(aotc.lower(lambda x: x[np.array([1, 3])], X))
    with new_context():
        module = ir.Module.parse(text)
        assert str(legalize_bounds(module)) == str(ir.Module.parse(text))
    assert "clamp" in legalize_bounds_text(str(aotc.lower(row_gather, X,
                                                          np.zeros(2, np.int32))))
