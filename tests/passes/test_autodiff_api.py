"""The autodiff API: grad, value_and_grad, jvp, vjp, jacfwd, jacrev, hessian, stop_gradient,
custom_jvp, custom_vjp, checkpoint and differentiate: pytrees, argnums, has_aux, composition,
and the errors users see. Values are checked against closed forms; everything runs eagerly (the
reference interpreter) except one jit."""

import os

import numpy as np
import pytest
from helpers import assert_tree_close

import aotc
import aotc.lax as lax
import aotc.numpy as anp
from aotc.frontend.core.ir import functions

X = np.array([0.1, 0.55, 1.0], np.float32)
ONES = np.ones(3, np.float32)


def close(actual, expected, rtol=1e-5):
    assert_tree_close(actual, expected, rtol=rtol, atol=1e-6, check_dtype=False)


# ---- grad and value_and_grad -------------------------------------------------------------------


def test_grad_argnums():
    f = lambda a, b: anp.sum(a * b * b)
    close(aotc.grad(f)(X, 2 * X), (2 * X) ** 2)
    close(aotc.grad(f, argnums=1)(X, 2 * X), 2 * X * 2 * X)
    close(aotc.grad(f, argnums=-1)(X, 2 * X), 2 * X * 2 * X)
    close(aotc.grad(f, argnums=(0, 1))(X, 2 * X), ((2 * X) ** 2, 2 * X * 2 * X))
    with pytest.raises(aotc.TracingError, match="argnums 2 is out of range"):
        aotc.grad(f, argnums=2)(X, X)


def test_grad_of_pytrees_keeps_their_structure():
    def loss(params, x):
        return anp.sum(anp.tanh(x @ params["w"]) * params["scale"][0]) + params["scale"][1]

    params = {"w": np.eye(3, dtype=np.float32), "scale": [np.float32(2.0), np.float32(5.0)]}
    grads = aotc.grad(loss)(params, X)
    assert set(grads) == {"w", "scale"} and len(grads["scale"]) == 2
    close(grads["scale"], [np.sum(np.tanh(X)), 1.0])
    close(grads["w"], 2.0 * np.outer(X, 1 - np.tanh(X) ** 2))


def test_has_aux_and_value_and_grad():
    def f(a):
        return anp.sum(a ** 3), {"mean": anp.mean(a)}

    g, aux = aotc.grad(f, has_aux=True)(X)
    close((g, aux), (3 * X ** 2, {"mean": X.mean()}))
    (value, aux), g = aotc.value_and_grad(f, has_aux=True)(X)
    close((value, aux, g), (np.sum(X ** 3), {"mean": X.mean()}, 3 * X ** 2))
    value, g = aotc.value_and_grad(lambda a: anp.sum(anp.sin(a)))(X)
    close((value, g), (np.sum(np.sin(X)), np.cos(X)))
    with pytest.raises(aotc.TracingError, match="pair"):
        aotc.grad(lambda a: anp.sum(a), has_aux=True)(X)


def test_grad_of_python_scalars():
    close(aotc.grad(lambda s: s * s * s)(2.0), 12.0)


def test_grad_errors_name_the_problem():
    with pytest.raises(aotc.TracingError, match=r"float inputs.*int32"):
        aotc.grad(lambda s: anp.sum(s * 2.0))(np.arange(3))
    with pytest.raises(aotc.TracingError, match=r"float scalar.*jacrev or vjp"):
        aotc.grad(lambda s: s * 2.0)(X)
    with pytest.raises(aotc.TracingError, match=r"tangent \(4,\).*primal \(3,\)"):
        aotc.jvp(lambda a: a, (X,), (np.ones(4, np.float32),))


# ---- jvp and vjp -------------------------------------------------------------------------------


def test_jvp_with_pytrees():
    out, tangent = aotc.jvp(lambda p: {"prod": p["a"] * p["b"], "sin": anp.sin(p["a"])},
                            ({"a": X, "b": 2 * X},), ({"a": ONES, "b": 0 * ONES},))
    close(out, {"prod": 2 * X * X, "sin": np.sin(X)})
    close(tangent, {"prod": 2 * X, "sin": np.cos(X)})


def test_vjp_with_pytrees_several_args_and_aux():
    y, pullback = aotc.vjp(lambda p: {"s": p["a"] * p["b"], "t": anp.sin(p["a"])},
                           {"a": X, "b": 2 * X})
    close(y, {"s": 2 * X * X, "t": np.sin(X)})
    (cts,) = pullback({"s": ONES, "t": 2 * ONES})
    close(cts, {"a": 2 * X + 2 * np.cos(X), "b": X})
    _, pullback = aotc.vjp(lambda a, b: a * b, X, 3 * X)
    close(pullback(ONES), (3 * X, X))
    y, pullback, aux = aotc.vjp(lambda a: (a * a, anp.sum(a)), X, has_aux=True)
    close((y, aux, pullback(ONES)), (X * X, X.sum(), (2 * X,)))


# ---- Jacobians and Hessians --------------------------------------------------------------------


def test_jacobian_shapes_and_values():
    f = lambda a: anp.outer(a, a)[:2]  # (2, 3) from (3,)
    expected = np.zeros((2, 3, 3), np.float32)
    for i in range(2):
        for j in range(3):
            expected[i, j, i] += X[j]
            expected[i, j, j] += X[i]
    close(aotc.jacfwd(f)(X), expected)
    close(aotc.jacrev(f)(X), expected)
    close(aotc.jacrev(lambda a: anp.sum(a ** 2))(X), 2 * X)
    close(aotc.jacfwd(lambda a, b: a * b, argnums=1)(X, 2 * X), np.diag(X))
    hessian = aotc.hessian(lambda a: anp.sum(a ** 3) + a[0] * a[1])(X)
    expected = np.diag(6 * X) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    close(hessian, expected)


# ---- composition -------------------------------------------------------------------------------


def test_higher_order_composition():
    close(aotc.grad(aotc.grad(lambda s: s ** 3))(np.float32(2.0)), 12.0)
    close(aotc.grad(aotc.grad(aotc.grad(anp.sin)))(np.float32(0.5)), -np.cos(0.5))
    f = lambda a: anp.sum(anp.sin(a) * a[::-1])
    h = aotc.hessian(f)(X)
    close(aotc.jacfwd(aotc.jacrev(f))(X), h)
    close(aotc.jacrev(aotc.jacfwd(f))(X), h)
    close(aotc.jacrev(aotc.jacrev(f))(X), h)


def test_transforms_compose_with_vmap_and_control_flow():
    xs = np.stack([X, 2 * X])
    close(aotc.vmap(aotc.grad(lambda a: anp.sum(a ** 3)))(xs), 3 * xs ** 2)
    close(aotc.grad(lambda a: anp.sum(aotc.vmap(lambda r: anp.sin(r) * r)(a)))(xs),
          np.cos(xs) * xs + np.sin(xs))

    def grads_in_scan(rows):  # grad inside a scan body, closing over the carry
        def step(c, row):
            return c + 1.0, aotc.grad(lambda r: anp.sum(anp.sin(r * c)))(row)

        return lax.scan(step, 1.0, rows)[1]

    close(grads_in_scan(xs), np.array([1.0, 2.0])[:, None] * np.cos(xs * [[1.0], [2.0]]))
    close(aotc.grad(lambda a: anp.sum(grads_in_scan(a)))(xs),
          -np.array([[1.0], [4.0]]) * np.sin(xs * [[1.0], [2.0]]))


def test_jit_of_grad_closing_over_traced_values():
    @aotc.jit
    def step(w, x):
        loss, g = aotc.value_and_grad(lambda w: anp.sum(anp.tanh(x * w) ** 2))(w)
        return loss, w - 0.5 * g

    w = np.float32(0.7) * ONES
    t = np.tanh(X * w)
    close(step(w, X), (np.sum(t ** 2), w - 0.5 * 2 * t * (1 - t ** 2) * X), rtol=1e-5)


def test_export_of_a_function_that_calls_grad(tmp_path):
    from aotc.tools.export import ExportOutput

    path = os.path.join(tmp_path, "model.py")
    with open(path, "w") as f:
        f.write("import aotc, aotc.numpy as anp\n"
                "@aotc.export(w=aotc.ShapeSpec((3,)), x=aotc.ShapeSpec((3,)))\n"
                "def train_step(w, x):\n"
                "    loss, g = aotc.value_and_grad(lambda w: anp.sum((w * x) ** 2))(w)\n"
                "    return loss, w - 0.1 * g\n")
    module = ExportOutput.from_file(path).module
    w = np.array([1.0, 2.0, 3.0])
    loss, new_w = aotc.interpret(module, "train_step", w, X.astype(np.float64))
    close((loss, new_w), (np.sum((w * X) ** 2), w - 0.1 * 2 * w * X * X))


# ---- stop_gradient, custom rules, checkpoint ---------------------------------------------------


def test_stop_gradient():
    for stop in (aotc.stop_gradient, lax.stop_gradient):
        close(aotc.grad(lambda a, s=stop: anp.sum(a * s(a)))(X), X)
        close(aotc.jvp(lambda a, s=stop: a * s(a), (X,), (ONES,))[1], X)
    stopped = aotc.grad(lambda p: anp.sum(p["a"] * aotc.stop_gradient(p)["b"]))(
        {"a": X, "b": 2 * X})
    close(stopped, {"a": 2 * X, "b": 0 * X})


@aotc.custom_jvp
def doubled_sine(x):
    return anp.sin(x)


@doubled_sine.defjvp
def _doubled_sine_jvp(primals, tangents):  # twice the true derivative: shows the rule is used
    (x,), (t,) = primals, tangents
    return anp.sin(x), 2.0 * anp.cos(x) * t


def test_custom_jvp_rule_is_used_forward_reverse_and_twice():
    close(doubled_sine(X), np.sin(X))
    close(aotc.jvp(doubled_sine, (X,), (ONES,)), (np.sin(X), 2 * np.cos(X)))
    close(aotc.grad(lambda a: anp.sum(doubled_sine(a)))(X), 2 * np.cos(X))
    close(aotc.grad(lambda a: anp.sum(aotc.grad(lambda b: anp.sum(doubled_sine(b)))(a)))(X),
          -2 * np.sin(X))


def test_custom_jvp_errors():
    undefined = aotc.custom_jvp(lambda x: x)
    with pytest.raises(aotc.TracingError, match="defjvp"):
        undefined(X)

    def closes_over(a):
        w = a * 2

        @aotc.custom_jvp
        def h(b):
            return b * w

        h.defjvp(lambda p, t: (p[0] * w, t[0] * w))
        return anp.sum(h(a))

    with pytest.raises(aotc.TracingError, match="pass them as arguments"):
        aotc.grad(closes_over)(X)


@aotc.custom_vjp
def clip_gradient(x):
    return x * 1.0


clip_gradient.defvjp(lambda x: (x * 1.0, None), lambda _, g: (anp.clip(g, -0.5, 0.5),))


@aotc.custom_vjp
def scaled_product(a, b):
    return a * b


scaled_product.defvjp(lambda a, b: (a * b, (a, b)), lambda res, g: (10 * g * res[1], g * res[0]))


def test_custom_vjp_rule_is_used():
    weights = np.array([3.0, 0.2, -2.0], np.float32)
    close(clip_gradient(X), X)
    close(aotc.grad(lambda a: anp.sum(clip_gradient(a) * weights))(X),
          np.array([0.5, 0.2, -0.5]))
    close(aotc.grad(lambda a, b: anp.sum(scaled_product(a, b)), argnums=(0, 1))(X, 2 * X),
          (20 * X, X))
    # reverse over reverse: the inner bwd rule is differentiated like any traced code
    close(aotc.grad(lambda a: anp.sum(aotc.grad(lambda b: anp.sum(scaled_product(b, b)))(a)))(X),
          11 * ONES)
    with pytest.raises(aotc.TracingError, match="custom_jvp, or reverse mode"):
        aotc.jvp(clip_gradient, (X,), (ONES,))


def test_custom_vjp_bwd_with_wrong_structure_is_a_clear_error():
    bad = aotc.custom_vjp(lambda a, b: a * b)
    bad.defvjp(lambda a, b: (a * b, None), lambda _, g: (g,))
    with pytest.raises(aotc.TracingError, match="one cotangent per argument"):
        aotc.grad(lambda a: anp.sum(bad(a, a)))(X)


def test_checkpoint_gives_the_same_values_and_derivatives():
    block = lambda a: anp.tanh(anp.sin(a) * a)
    remat = aotc.checkpoint(block)
    plain = lambda a: anp.sum(block(a) ** 2)
    checked = lambda a: anp.sum(remat(a) ** 2)
    close(remat(X), np.tanh(np.sin(X) * X))
    close(aotc.grad(checked)(X), aotc.grad(plain)(X))
    close(aotc.jvp(checked, (X,), (X,)), aotc.jvp(plain, (X,), (X,)))
    close(aotc.hessian(checked)(X), aotc.hessian(plain)(X))

    def closes_over(a):  # checkpointed code may use traced values of the enclosing function
        w = a * 2
        return anp.sum(aotc.checkpoint(lambda b: anp.sin(b * w))(a))

    close(aotc.grad(closes_over)(X), 4 * X * np.cos(2 * X * X))


def test_checkpoint_recomputes_in_the_backward_pass():
    """Without checkpoint, the VJP computes cos(a) with the forward values, before it uses the
    cotangent; with checkpoint, the block is recomputed in the backward part, after it."""

    def cosine_after_cotangent(block) -> bool:
        traced = aotc.lower(aotc.grad(lambda a: anp.sum(block(a) ** 2)), X)
        (body,) = [text.split("{", 1)[1] for name, text in _function_texts(traced.module)
                   if "_vjp" in name]
        return body.index("stablehlo.cosine") > body.index("%arg1")

    assert not cosine_after_cotangent(lambda a: anp.sin(a) * a)
    assert cosine_after_cotangent(aotc.checkpoint(lambda a: anp.sin(a) * a))


def _function_texts(module):
    with module.context:
        return [(name, str(fn)) for name, fn in functions(module).items()]


# ---- dynamic shapes ----------------------------------------------------------------------------


def _mlp_step(params, x, y):
    def loss(p):
        logits = anp.tanh(x @ p["w1"]) @ p["w2"]
        return -anp.mean(anp.sum(y * aotc.nn.log_softmax(logits), axis=1)) + anp.max(x) * 0.0

    value, grads = aotc.value_and_grad(loss)(params)
    return value, grads, aotc.grad(lambda x: anp.sum(anp.sin(x) * x))(x)


def test_reverse_mode_with_a_dynamic_batch_dimension():
    """grad of a loss over a batch of unknown size: one artifact serves every batch size."""
    from aotc.tools.compile import compile_stablehlo
    from aotc_runtime import load_bytes

    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((3, 4)).astype(np.float32),
              "w2": rng.standard_normal((4, 2)).astype(np.float32)}
    specs = (aotc.tree.map(lambda a: aotc.ShapeSpec(a.shape), params),
             aotc.ShapeSpec(("batch", 3)), aotc.ShapeSpec(("batch", 2)))
    traced = aotc.lower(_mlp_step, *specs)
    compiled = load_bytes(compile_stablehlo(traced.text_with_locations()),
                          require_aotc=False)[traced.name]
    for batch in (5, 2):
        x = rng.standard_normal((batch, 3)).astype(np.float32)
        y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, batch)]
        expected = _mlp_step(params, x, y)  # eager, static shapes
        leaves = aotc.tree.leaves((params, x, y))
        close(aotc.tree.unflatten(traced.out_tree, aotc.interpret(traced.module, traced.name,
                                                                  *leaves)), expected)
        close(aotc.tree.unflatten(traced.out_tree, compiled(*leaves)), expected, rtol=1e-4)


# ---- loops -------------------------------------------------------------------------------------


def test_reverse_mode_through_while_loop_names_fori_loop_and_scan():
    grows = lambda a: lax.while_loop(lambda c: anp.sum(c) < 10.0, lambda c: c * 2.0, a)
    with pytest.raises(aotc.TracingError, match=r"while_loop.*fori_loop.*scan"):
        aotc.grad(lambda a: anp.sum(grows(a)))(X)
    close(aotc.jvp(grows, (X,), (ONES,)), (8 * X, 8 * ONES))  # forward mode works


def test_counted_loops_work_in_reverse_mode():
    counted = lambda a: lax.while_loop(
        lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * c[1]), (0, a))[1]
    close(aotc.grad(lambda a: anp.sum(counted(a)))(X), 8 * X ** 7)
    close(aotc.grad(lambda a: anp.sum(lax.fori_loop(0, 3, lambda i, c: c * a, a)))(X),
          4 * X ** 3)


# ---- differentiate: imported StableHLO ---------------------------------------------------------

UNKNOWN_OP = """
func.func @main(%arg0: tensor<3xf32>) -> tensor<f32> {
  %0 = stablehlo.reduce_precision %arg0, format = e5m10 : tensor<3xf32> loc("model.py":7:3)
  %cst = stablehlo.constant dense<0.0> : tensor<f32>
  %1 = stablehlo.reduce(%0 init: %cst) applies stablehlo.add across dimensions = [0]
      : (tensor<3xf32>, tensor<f32>) -> tensor<f32>
  return %1 : tensor<f32>
}
"""

TANH_SUM = """
func.func @main(%arg0: tensor<3xf32>, %arg1: tensor<3xi32>) -> (tensor<f32>, tensor<3xi32>) {
  %0 = stablehlo.tanh %arg0 : tensor<3xf32>
  %cst = stablehlo.constant dense<0.0> : tensor<f32>
  %1 = stablehlo.reduce(%0 init: %cst) applies stablehlo.add across dimensions = [0]
      : (tensor<3xf32>, tensor<f32>) -> tensor<f32>
  return %1, %arg1 : tensor<f32>, tensor<3xi32>
}
"""


def test_missing_rule_error_names_op_transform_and_location():
    for mode in ("reverse", "forward"):
        with pytest.raises(aotc.MissingRuleError,
                           match=r"'stablehlo.reduce_precision'.*model.py:7:3") as e:
            aotc.differentiate(UNKNOWN_OP, mode=mode)
        assert e.value.op == "stablehlo.reduce_precision"


def test_missing_rule_error_in_traced_code_points_at_the_users_line():
    def weighted(a):
        return lax.reduce(a, 0.0, lambda acc, x: acc + 2.0 * x, (0,))  # no rule for this body

    line = weighted.__code__.co_firstlineno + 1
    with pytest.raises(aotc.MissingRuleError,
                       match=rf"jvp rule for 'stablehlo.reduce.*test_autodiff_api.py:{line}:"):
        aotc.grad(weighted)(X)


def test_differentiate_adds_vjp_and_jvp_functions():
    module = aotc.differentiate(TANH_SUM)
    (vjp,) = [n for n in functions(module) if n.startswith("main_vjp")]
    ints = np.arange(3, dtype=np.int32)
    value, ints_out, grad = aotc.interpret(module, vjp, X, ints, np.float32(2.0))
    close((value, ints_out, grad), (np.tanh(X).sum(), ints, 2 * (1 - np.tanh(X) ** 2)))
    aotc.differentiate(module, mode="forward")
    (jvp,) = [n for n in functions(module) if n.startswith("main_jvp")]
    outs = aotc.interpret(module, jvp, X, ints, ONES)
    assert len(outs) == 3  # two outputs, one tangent (of the float output only)
    close(outs[2], np.sum(1 - np.tanh(X) ** 2))


def test_differentiate_errors():
    with pytest.raises(ValueError, match="'reverse' or 'forward'"):
        aotc.differentiate(TANH_SUM, mode="sideways")
    with pytest.raises(aotc.TracingError, match="no function 'nope'"):
        aotc.differentiate(TANH_SUM, function="nope")
    with pytest.raises(aotc.TracingError, match="out of range"):
        aotc.differentiate(TANH_SUM, argnums=(3,))
    with pytest.raises(aotc.TracingError, match="only float arguments"):
        aotc.differentiate(TANH_SUM, argnums=(1,))
    with pytest.raises(aotc.TracingError, match="could not parse"):
        aotc.differentiate("func.func @main(")
