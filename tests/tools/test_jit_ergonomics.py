"""aotc.jit's JAX ergonomics against jax.jit: static_argnums/static_argnames, keyword arguments,
donate_argnums; aotc.eval_shape against jax.eval_shape; ShapeDtypeStruct, block_until_ready."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.tools import jit as jit_module

X = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)
Y = np.arange(3, dtype=np.float32)


@pytest.fixture
def compiles(monkeypatch):
    """Counts IREE compiles made by aotc.jit."""
    count = []
    real = jit_module._Compiled

    def counting(*args, **kwargs):
        count.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jit_module, "_Compiled", counting)
    return count


def _layer(np_, x, n, mode="sin"):
    act = np_.sin if mode == "sin" else np_.tanh
    for _ in range(n):  # a Python loop on a static argument
        x = act(x) * 2
    return x


def test_static_argnums_retraces_per_value(compiles):
    fast = aotc.jit(lambda x, n, mode="sin": _layer(anp, x, n, mode), static_argnums=(1, 2))
    oracle = jax.jit(lambda x, n, mode="sin": _layer(jnp, x, n, mode), static_argnums=(1, 2))
    for n, mode in [(1, "sin"), (2, "tanh"), (1, "sin")]:
        np.testing.assert_allclose(fast(X, n, mode), oracle(X, n, mode), rtol=1e-5)
    assert len(compiles) == 2  # (1, "sin") came from the cache


def test_static_argnames_and_keyword_arguments(compiles):
    def aotc_fn(x, y, *, scale, mode):
        return _layer(anp, x, 1, mode) * scale + y

    def jax_fn(x, y, *, scale, mode):
        return _layer(jnp, x, 1, mode) * scale + y

    fast = aotc.jit(aotc_fn, static_argnames="mode", donate_argnums=0)
    oracle = jax.jit(jax_fn, static_argnames="mode", donate_argnums=0)
    want = oracle(X, y=Y, scale=np.float32(3.0), mode="tanh")
    np.testing.assert_allclose(fast(X, y=Y, scale=np.float32(3.0), mode="tanh"), want, rtol=1e-5)
    np.testing.assert_allclose(fast(X, Y, scale=np.float32(3.0), mode="tanh"), want, rtol=1e-5)
    assert len(compiles) == 1  # y by keyword and by position bind to the same call


def test_static_argnums_is_static_by_name():
    fast = aotc.jit(lambda x, n: _layer(anp, x, n), static_argnums=1)
    want = jax.jit(lambda x, n: _layer(jnp, x, n), static_argnums=1)(X, n=2)
    np.testing.assert_allclose(fast(X, n=2), want, rtol=1e-5)


def test_unhashable_static_argument_is_one_clear_error():
    fast = aotc.jit(lambda x, n: _layer(anp, x, len(n)), static_argnums=1)
    with pytest.raises(aotc.InputError, match=r"test_jit_ergonomics.py:\d+: .*static argument 1 "
                                              r"of type list is not hashable"):
        fast(X, [1, 2])


def test_non_array_argument_names_static_argnums():
    fast = aotc.jit(lambda x, mode: _layer(anp, x, 1, mode))
    with pytest.raises(aotc.InputError, match=r"type str.*static_argnums= or static_argnames="):
        fast(X, "tanh")


def test_wrong_keyword_blames_the_call_not_the_function():
    fast = aotc.jit(lambda x, y: x + y)
    with pytest.raises(aotc.InputError,
                       match=r"test_jit_ergonomics.py:\d+: .*missing .*'y'.*\(x, y\)"):
        fast(X, z=Y)


def test_bad_static_argnums_type():
    with pytest.raises(aotc.InputError, match="static_argnums"):
        aotc.jit(lambda x: x, static_argnums="x")


def test_lower_with_statics_and_keywords():
    fast = aotc.jit(lambda x, n, *, y: _layer(anp, x, n) + y, static_argnums=1)
    text = fast.lower(X, 3, y=Y).text
    assert text.count("stablehlo.sine") == 3


def test_eval_shape_matches_jax():
    def make(np_):
        def f(params, x, scale=1.0):
            h = np_.tanh(x @ params["w"] + params["b"]) * scale
            return {"h": h, "stats": (np_.sum(h, axis=0), np_.argmax(h, axis=-1))}
        return f

    params = {"w": np.ones((3, 5), np.float32), "b": np.ones(5, np.float32)}
    x_spec = aotc.ShapeDtypeStruct((7, 3), np.float32)
    got = aotc.eval_shape(make(anp), params, x_spec, scale=2.0)
    want = jax.eval_shape(make(jnp), params, jax.ShapeDtypeStruct((7, 3), np.float32), scale=2.0)
    got_leaves, got_tree = jax.tree_util.tree_flatten(got, is_leaf=lambda s: isinstance(
        s, aotc.ShapeDtypeStruct))
    want_leaves, want_tree = jax.tree_util.tree_flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves):
        assert isinstance(g, aotc.ShapeDtypeStruct)
        assert (g.shape, g.dtype) == (w.shape, w.dtype)


def test_eval_shape_keeps_dynamic_dims_and_weak_types():
    out = aotc.eval_shape(lambda x, s: x.sum(axis=1) * s,
                          aotc.ShapeDtypeStruct(("batch", 4), "float32"), 2.0)
    assert out.dims == ("batch",) and out.dtype == np.float32
    assert aotc.eval_shape(lambda s: s * 2, 3.0).weak_type == jax.eval_shape(
        lambda s: s * 2, 3.0).weak_type


def test_shape_dtype_struct_is_a_shape_spec():
    spec = aotc.ShapeDtypeStruct((2, 3), np.int32)
    assert isinstance(spec, aotc.ShapeSpec)
    assert (spec.shape, spec.dtype, spec.ndim, spec.size) == ((2, 3), np.int32, 2, 6)
    assert repr(spec) == "ShapeDtypeStruct(shape=(2, 3), dtype=int32)"
    assert "tensor<2x3xi32>" in aotc.lower(lambda x: x + 1, spec).text


def test_block_until_ready_returns_its_argument():
    out = {"a": X, "b": (Y,)}
    assert aotc.block_until_ready(out) is out


@pytest.mark.parametrize("make", [
    lambda x, y: x * y + 1,  # one result
    lambda x, y: (x * y, y - 1),  # a tuple of results
    lambda x, y: {"p": x * y, "q": [y, None]},  # a pytree of results
], ids=["one", "tuple", "tree"])
def test_repeated_array_calls_take_the_fast_path_with_the_same_results(compiles, make):
    """After the first call, calls with numpy arrays (or aotc Arrays, the results of calls) of
    the compiled dtypes skip the pytree walk: same results, same structure, no new compile;
    float64 arrays are still converted to the float32 the function was compiled for."""
    f = aotc.jit(make)
    first = f(X, Y)
    again = f(X, Y)
    chained = f(aotc.jit(lambda x: x)(X), Y)  # an aotc Array argument
    wide = f(X.astype(np.float64), Y.astype(np.float64))
    want = make(X, Y)
    for got in (first, again, chained, wide):
        assert jax.tree.structure(got) == jax.tree.structure(want)
        for leaf, expected in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            assert isinstance(leaf, aotc.Array) and leaf.dtype == np.float32
            np.testing.assert_allclose(leaf, expected, rtol=1e-6)
    assert len(compiles) == 3  # f for float32 and for float64 arguments, the identity
    assert f(X[:1], Y) is not None and len(compiles) == 4  # a new shape compiles
