"""aotc.vmap and aotc.vectorize as a user sees them, with jax.vmap as the oracle.

Parity programs are written once against a namespace (vmap, grad, lax, numpy, nn) and run with
aotc's and with JAX's: through the reference interpreter one by one, and through IREE together in
one compile. Then: in_axes/out_axes pytrees, None, negative axes, axis_size, nesting, composition
with grad and jit, exports, errors, and aotc.vectorize on StableHLO that JAX exported.
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close

import aotc
import aotc.lax as alax
import aotc.nn as ann
import aotc.numpy as anp
from aotc.frontend.core import registry, tree
from aotc.frontend.core.errors import MissingRuleError, TracingError
from aotc.tools.compile import compile_stablehlo
from aotc_runtime import load_bytes

jax.config.update("jax_platforms", "cpu")

RNG = np.random.default_rng(1)
AOTC = types.SimpleNamespace(vmap=aotc.vmap, grad=aotc.grad, value_and_grad=aotc.value_and_grad,
                             hessian=aotc.hessian, lax=alax, np=anp, nn=ann)
JAX = types.SimpleNamespace(vmap=jax.vmap, grad=jax.grad, value_and_grad=jax.value_and_grad,
                            hessian=jax.hessian, lax=jax.lax, np=jnp, nn=jax.nn)


def normal(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def positive(*shape) -> np.ndarray:
    return RNG.uniform(0.5, 3.0, shape).astype(np.float32)


def mlp_params(sizes=(3, 8, 2)) -> dict:
    return {"w1": normal(sizes[0], sizes[1]) * 0.5, "b1": normal(sizes[1]) * 0.1,
            "w2": normal(sizes[1], sizes[2]) * 0.5, "b2": normal(sizes[2]) * 0.1}


def mlp_loss(T, p, x, y):
    h = T.np.tanh(x @ p["w1"] + p["b1"])
    out = h @ p["w2"] + p["b2"]
    return T.np.mean((out - y) ** 2) + 0.1 * T.nn.logsumexp(out)


def newton_sqrt(T, a):
    """Newton iterations for sqrt(a) that stop when this example has converged."""

    def cond(state):
        k, y = state
        return (T.np.abs(y * y - a) > 1e-5 * a) & (k < 50)

    def body(state):
        k, y = state
        return k + 1, 0.5 * (y + a / y)

    return T.lax.while_loop(cond, body, (0, a + 1.0))


# ---- parity with jax.vmap: (name, program(T, *args), args) -------------------------------------

P, XS, YS = mlp_params(), normal(6, 3), normal(6, 2)
PARITY = [
    ("elementwise_unmapped_scale", lambda T, x, s: T.vmap(
        lambda a, b: T.np.sin(a) * b + 1.0, (0, None))(x, s), (normal(5, 3), normal(3))),
    ("matvec_axis_1", lambda T, w, x: T.vmap(lambda a, b: a @ b, (None, 1))(w, x),
     (normal(4, 3), normal(3, 5))),
    ("batched_matmul_axes_0_2", lambda T, a, b: T.vmap(T.np.matmul, (0, 2))(a, b),
     (normal(5, 2, 3), normal(3, 4, 5))),
    ("reductions_out_axes", lambda T, x: T.vmap(lambda a: (a.sum(0), T.np.max(a, 1)),
                                                in_axes=-1, out_axes=(0, 1))(x),
     (normal(4, 3, 5),)),
    ("softmax_dict_in_axes", lambda T, d: T.vmap(lambda e: T.nn.softmax(e["a"]) * e["b"],
                                                 in_axes=({"a": 1, "b": None},))(d),
     ({"a": normal(4, 5), "b": normal(4)},)),
    ("pairwise_distances_nested", lambda T, p, q: T.vmap(T.vmap(
        lambda u, v: T.np.sqrt(T.np.sum((u - v) ** 2)), (None, 0)), (0, None))(p, q),
     (normal(4, 3), normal(5, 3))),
    ("per_example_gradients", lambda T, p, x, y: T.vmap(
        T.grad(lambda *a: mlp_loss(T, *a)), (None, 0, 0))(p, x, y), (P, XS, YS)),
    ("per_example_value_and_grad", lambda T, p, x, y: T.vmap(
        T.value_and_grad(lambda *a: mlp_loss(T, *a), argnums=1), (None, 0, 0))(p, x, y),
     (P, XS, YS)),
    ("grad_of_vmap", lambda T, p, x: T.grad(lambda q: T.vmap(
        lambda r, v: T.np.tanh(v @ r["w1"] + r["b1"]).sum(), (None, 0))(q, x).sum())(p),
     (P, XS)),
    ("per_example_hessian", lambda T, x: T.vmap(T.hessian(
        lambda a: T.np.sum(T.np.sin(a) * a ** 2)))(x), (normal(3, 4),)),
    ("batched_while_newton", lambda T, a: T.vmap(lambda v: newton_sqrt(T, v))(a),
     (np.array([1e-3, 0.5, 2.0, 30.0, 1e4], np.float32),)),
    ("batched_cond", lambda T, p, x: T.vmap(lambda q, v: T.lax.cond(
        q > 0, lambda u: u * 2.0, lambda u: u - 1.0, v))(p, x), (normal(5), normal(5, 3))),
    ("unbatched_cond", lambda T, p, x: T.vmap(lambda q, v: T.lax.cond(
        q > 0, lambda u: T.np.cos(u), lambda u: u * u, v), (None, 0))(p, x),
     (np.float32(0.3), normal(5, 3))),
    ("switch_batched_index", lambda T, i, x: T.vmap(lambda k, v: T.lax.switch(
        k, [lambda u: u, lambda u: -u, lambda u: u * 3.0], v))(i, x),
     (np.array([0, 2, 1, 1, 0], np.int32), normal(5, 2))),
    ("fori_loop_batched_carry", lambda T, x: T.vmap(lambda v: T.lax.fori_loop(
        0, 5, lambda i, c: 0.5 * c + T.np.sin(c) * i, v), in_axes=1)(x), (normal(3, 4),)),
    ("scan_in_axes_1", lambda T, c, xs: T.vmap(lambda c0, s: T.lax.scan(
        lambda a, v: (a * 0.9 + v, a.sum()), c0, s), (None, 1))(c, xs),
     (normal(3), normal(6, 4, 3))),
    ("concatenate_reshape", lambda T, x, y: T.vmap(lambda a, b: T.np.concatenate(
        [a.T, b], 0).reshape(-1), (2, None))(x, y), (normal(2, 3, 4), normal(2, 2))),
    ("cumsum_argmax", lambda T, x: T.vmap(lambda a: (T.np.cumsum(a, 0), T.np.argmax(a)),
                                          in_axes=1)(x), (normal(4, 5),)),
    ("axis_size_only", lambda T, x: T.vmap(lambda a: a * 2.0, in_axes=None, axis_size=3)(x),
     (normal(2),)),
    ("clip_where", lambda T, x, lo: T.vmap(lambda a, b: T.np.where(
        a > 0, T.np.clip(a, b, 1.0), a * b))(x, lo), (normal(5, 4), normal(5) - 1.0)),
]


def _jax_values(out):
    return jax.tree_util.tree_map(np.asarray, out)


@pytest.mark.parametrize("name,program,args", PARITY, ids=[p[0] for p in PARITY])
def test_parity_with_jax_vmap(name, program, args):
    expected = _jax_values(program(JAX, *args))
    assert_tree_close(program(AOTC, *args), expected, 2e-5, 2e-5)


def test_parity_programs_through_iree():
    def everything(*arg_groups):
        return [program(AOTC, *args) for (_, program, _), args in zip(PARITY, arg_groups)]

    got = aotc.jit(everything)(*[args for _, _, args in PARITY])
    for (name, program, args), out in zip(PARITY, got):
        try:
            assert_tree_close(out, _jax_values(program(JAX, *args)), 5e-5, 5e-5)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


# ---- axes, pytrees, nesting ---------------------------------------------------------------------


def test_in_axes_pytree_prefix_none_and_negative_axes():
    x, w = normal(4, 6), normal(3, 4)
    params = {"w": w, "scale": np.float32(2.0)}

    def fn(p, pair):
        a, b = pair
        return p["scale"] * (p["w"] @ a) + b

    got = aotc.vmap(fn, in_axes=(None, (-1, None)))(params, (x, np.float32(1.0)))
    np.testing.assert_allclose(got, 2.0 * (w @ x).T + 1.0, rtol=1e-5)
    lists = aotc.vmap(fn, in_axes=[{"w": None, "scale": None}, [1, None]])(
        params, [x, np.float32(1.0)])
    np.testing.assert_allclose(lists, got, rtol=1e-6)


def test_out_axes_pytree_and_none():
    x, y = normal(3, 4), normal(3)

    def fn(a, b):
        return {"mapped": a * b, "shared": b * 2.0, "rows": (a.sum(), a)}

    got = aotc.vmap(fn, in_axes=(1, None),
                    out_axes={"mapped": -1, "shared": None, "rows": (0, 1)})(x, y)
    np.testing.assert_allclose(got["mapped"], x * y[:, None], rtol=1e-6)
    np.testing.assert_allclose(got["shared"], y * 2.0, rtol=1e-6)
    np.testing.assert_allclose(got["rows"][0], x.sum(0), rtol=1e-5)
    np.testing.assert_allclose(got["rows"][1], x, rtol=1e-6)


def test_unmapped_output_is_broadcast_along_the_mapped_axis():
    a, b = normal(5), normal(2)
    got = aotc.vmap(lambda a, b: (a + 1.0, b * 3.0), in_axes=(0, None))(a, b)
    assert got[1].shape == (5, 2)
    np.testing.assert_allclose(got[0], a + 1.0, rtol=1e-6)
    np.testing.assert_allclose(got[1], np.broadcast_to(b * 3.0, (5, 2)), rtol=1e-6)


def test_nested_vmap_over_two_axes_of_one_argument():
    x = normal(3, 4, 2)
    got = aotc.vmap(aotc.vmap(lambda v: v @ v, in_axes=0), in_axes=1)(x)
    np.testing.assert_allclose(got, np.einsum("ijk,ijk->ji", x, x), rtol=1e-5)


def test_jit_of_vmap_matches_eager_and_is_compiled_once():
    fn = aotc.vmap(lambda p, x, y: mlp_loss(AOTC, p, x, y), (None, 0, 0))
    compiled = aotc.jit(fn)
    eager = fn(P, XS, YS)
    assert_tree_close(compiled(P, XS, YS), eager, 1e-5, 1e-5)
    text = str(compiled.lower(P, XS, YS).module)
    assert "stablehlo.while" not in text and text.count("func.call") <= 2


def test_vmap_of_jit_traces_through():
    inner = aotc.jit(lambda a: anp.tanh(a) * 2.0)
    x = normal(4, 3)
    np.testing.assert_allclose(aotc.vmap(inner, in_axes=1)(x), np.tanh(x.T) * 2.0, rtol=1e-5)


def test_dynamic_unmapped_dimensions_compile_once_and_run_at_any_size():
    fn = aotc.vmap(lambda a, b: anp.tanh(a) * b + a.sum(), in_axes=(1, None))
    traced = aotc.lower(fn, aotc.ShapeSpec(("n", 4)), aotc.ShapeSpec(("n",)))
    compiled = load_bytes(compile_stablehlo(traced.text), require_aotc=False)[traced.name]
    for n in (2, 7):
        x, b = normal(n, 4), normal(n)
        expected = np.stack([np.tanh(col) * b + col.sum() for col in x.T])
        (interpreted,) = aotc.interpret(traced.module, traced.name, x, b)
        np.testing.assert_allclose(interpreted, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(compiled(x, b)[0], expected, rtol=1e-5, atol=1e-6)


def test_per_example_gradients_match_a_loop_of_grads():
    per_example = aotc.vmap(aotc.grad(lambda *a: mlp_loss(AOTC, *a)), (None, 0, 0))(P, XS, YS)
    single = aotc.grad(lambda *a: mlp_loss(AOTC, *a))
    for i in range(len(XS)):
        assert_tree_close(tree.map(lambda g, i=i: g[i], per_example), single(P, XS[i], YS[i]),
                          1e-5, 1e-6)


def test_exported_vmapped_function(tmp_path):
    model = tmp_path / "batched_model.py"
    model.write_text(
        "import aotc, aotc.numpy as anp\n"
        "def predict(w, x):\n"
        "    return anp.tanh(x @ w)\n"
        "@aotc.export(w=aotc.ShapeSpec((3, 2)), xs=aotc.ShapeSpec((5, 3)))\n"
        "def predict_batch(w, xs):\n"
        "    return aotc.vmap(predict, in_axes=(None, 0))(w, xs)\n")
    from aotc.tools.export import ExportOutput

    module = load_bytes(ExportOutput.from_file(str(model)).compile().vmfb)
    w, xs = normal(3, 2), normal(5, 3)
    np.testing.assert_allclose(module.predict_batch(w, xs), np.tanh(xs @ w), rtol=1e-5)


# ---- errors -------------------------------------------------------------------------------------


def _raises(exc_type, fn, *args) -> str:
    with pytest.raises(exc_type) as info:
        fn(*args)
    return str(info.value)


def test_mismatched_mapped_sizes_name_each_argument_and_size():
    message = _raises(TracingError, aotc.vmap(lambda a, b: a + b.sum()), normal(4, 3),
                      {"u": normal(5, 3)})
    assert "args[0] has size 4" in message and "args[1]['u'] has size 5" in message
    assert "test_vmap_api.py" in message
    message = _raises(TracingError, aotc.vmap(lambda a: a, axis_size=3), normal(4))
    assert "args[0] has size 4" in message and "axis_size=3" in message


def test_axis_out_of_range_names_the_argument():
    message = _raises(TracingError, aotc.vmap(lambda a, b: a + b, in_axes=(0, 2)), normal(4, 3),
                      normal(4, 3))
    assert "args[1]" in message and "in_axes 2" in message and "(4, 3)" in message
    message = _raises(TracingError, aotc.vmap(lambda a, b: a, in_axes=(0, -3)), normal(4, 3),
                      normal(4, 3))
    assert "args[1]" in message and "-3" in message
    message = _raises(TracingError, aotc.vmap(lambda a: a * 2.0, out_axes=2), normal(4, 3))
    assert "out_axes 2" in message and "output" in message


def test_out_axes_none_on_a_mapped_output_is_an_error():
    def fn(a, b):
        return {"mapped": a * b, "shared": b}

    message = _raises(TracingError, aotc.vmap(fn, in_axes=(0, None), out_axes=None),
                      normal(4, 3), normal(3))
    assert "['mapped']" in message and "out_axes is None" in message and "'fn'" in message
    assert "test_vmap_api.py" in message


def test_in_axes_structure_mismatch_is_an_error():
    message = _raises(TracingError, aotc.vmap(lambda a, b: a + b, in_axes=(0, 0, 0)),
                      normal(2), normal(2))
    assert "in_axes" in message
    message = _raises(TracingError, aotc.vmap(lambda a: a, in_axes=None), normal(2))
    assert "axis_size" in message


def test_op_without_batch_rule_raises_missing_rule_error(monkeypatch):
    monkeypatch.delitem(registry.BATCH, "stablehlo.sine")

    def model(x):
        return anp.sin(x) * 2.0  # this line is named in the error

    with pytest.raises(MissingRuleError) as info:
        aotc.vmap(model)(normal(3, 2))
    message = str(info.value)
    assert info.value.transform == "batch" and info.value.op == "stablehlo.sine"
    line = model.__code__.co_firstlineno + 1
    assert f"test_vmap_api.py:{line}" in message
    # an op that does not depend on the mapped axis needs no rule
    a, b = normal(3, 2), normal(2)
    got = aotc.vmap(lambda a, b: a * anp.sin(b), in_axes=(0, None))(a, b)
    assert got.shape == (3, 2)
    np.testing.assert_allclose(got, a * np.sin(b), rtol=1e-6)


# ---- aotc.vectorize on StableHLO exported by JAX ---------------------------------------------


def _jax_export(fn, *examples) -> str:
    return jax.jit(fn).lower(*examples).as_text()


def jax_mlp(w, b, x):
    return jnp.tanh(x @ w + b).sum(-1) + jnp.clip(x, -0.5, 0.5).mean()


def jax_newton(a):
    return newton_sqrt(JAX, a)[1]


def jax_branchy(x, k):
    return jax.lax.cond(x.sum() > 0, lambda v: v * 2.0, lambda v: jnp.sin(v), x) + k


VECTORIZE = [
    ("mlp", jax_mlp, (normal(3, 4), normal(4), normal(3)), (None, None, 0), 0),
    ("newton", jax_newton, (np.float32(2.0),), (0,), 0),
    ("cond", jax_branchy, (normal(4), np.float32(1.0)), (0, 0), 1),
]


def _batched_args(examples, in_axes, size=5):
    return [np.asarray(a) if ax is None else
            np.moveaxis(np.asarray(RNG.uniform(0.2, 2.0, (size, *np.shape(a))), np.float32),
                        0, ax) for a, ax in zip(examples, in_axes)]


@pytest.mark.parametrize("name,fn,examples,in_axes,out_axis", VECTORIZE,
                         ids=[v[0] for v in VECTORIZE])
def test_vectorize_jax_export_matches_jax_vmap(name, fn, examples, in_axes, out_axis):
    module = aotc.vectorize(_jax_export(fn, *examples), in_axes=in_axes, axis_size=5,
                            out_axes=out_axis)
    args = _batched_args(examples, in_axes)
    (got,) = aotc.interpret(module, "main_vmap", *args)
    expected = np.asarray(jax.vmap(fn, in_axes, out_axis)(*args))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


def test_vectorize_jax_export_through_iree():
    _, fn, examples, in_axes, _ = VECTORIZE[0]
    module = aotc.vectorize(_jax_export(fn, *examples), in_axes=in_axes, axis_size=5)
    args = _batched_args(examples, in_axes)
    compiled = load_bytes(compile_stablehlo(str(module)), require_aotc=False)["main_vmap"]
    (got,) = compiled(*args)
    np.testing.assert_allclose(got, np.asarray(jax.vmap(fn, in_axes)(*args)), rtol=2e-5,
                               atol=2e-5)


def test_vectorize_keeps_the_original_and_numbers_a_second_batched_function():
    text = _jax_export(jax_mlp, normal(3, 4), normal(4), normal(3))
    module = aotc.vectorize(text, in_axes=(None, None, 0), axis_size=2)
    module = aotc.vectorize(module, in_axes=(None, None, 0), axis_size=7)
    names = [str(op.attributes["sym_name"]).strip('"') for op in module.body.operations]
    assert "main" in names and "main_vmap" in names
    assert len([n for n in names if n.startswith("main_vmap")]) == 2
    with pytest.raises(TracingError, match="axis_size"):
        aotc.vectorize(text, in_axes=(None, None, 0))


def test_vmap_of_a_closure_over_traced_values_inside_jit():
    w = np.float32(3.0)
    x = np.arange(4, dtype=np.float32)
    out = aotc.jit(lambda w, x: aotc.vmap(lambda r: r * w + x.sum())(x))(w, x)
    np.testing.assert_allclose(out, x * 3.0 + x.sum())
