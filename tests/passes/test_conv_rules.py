"""Autodiff and batching rules of stablehlo.convolution and stablehlo.reduce_window
(frontend/ops/conv.py).

- Derivatives: JVP and VJP against central finite differences, in float64 through the reference
  interpreter, for every convolution feature (strides, padding including negative, lhs and rhs
  dilation, feature and batch groups, layouts, 1-d to 3-d) and for sum, max and min windows
  (padding, strides, base and window dilation); second order for a few. Random geometries and
  layouts are checked against jax.jvp, jax.vjp and jax.vmap.
- Batching: vmap of convolutions with the lhs, the rhs or both batched, under every group form,
  and of reduce_window, against jax.vmap; a batched conv stays one convolution.
- IREE: a small CNN (conv, relu, max_pool, grouped conv, avg_pool, dense): its gradient, its
  forward-mode derivative and its per-example gradients (vmap of grad) against JAX, plus the
  batched convs and windows, in three compiles.
"""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_checks import check_derivatives, check_second_order, interpreted
from helpers import assert_tree_close

import aotc
import aotc.lax as lax
import aotc.nn as nn
import aotc.numpy as anp
from aotc.frontend.core import tree
from aotc.frontend.core.ir import ir
from aotc.frontend.ops.conv import window_output_size
from aotc.passes import autodiff, batching
from aotc.passes import functions as util

NHWC = ("NHWC", "HWIO", "NHWC")
B = 3  # mapped axis size
RTOL = 1e-4  # aotc (float64 interpreter or float32 IREE) against JAX in float32

# name: (conv_general_dilated keywords, lhs shape, rhs shape)
CONVS = {
    "same": (dict(window_strides=(1, 1), padding="SAME"), (2, 2, 5, 5), (3, 2, 3, 3)),
    "strided_dilated": (dict(window_strides=(2, 1), padding=((1, 0), (2, 1)),
                             lhs_dilation=(1, 2), rhs_dilation=(2, 1)), (2, 2, 5, 4), (3, 2, 2, 3)),
    "negative_padding_unused_inputs": (dict(window_strides=(3,), padding=((-1, 2),),
                                            rhs_dilation=(2,)), (2, 3, 10), (2, 3, 2)),
    "feature_groups": (dict(window_strides=(1, 2), padding=((1, 0), (0, 1)),
                            feature_group_count=2, rhs_dilation=(2, 1)),
                       (2, 4, 5, 6), (6, 2, 2, 2)),
    "batch_groups": (dict(window_strides=(2,), padding=((1, -1),), batch_group_count=2,
                          lhs_dilation=(2,)), (4, 3, 7), (6, 3, 3)),
    "depthwise_nhwc": (dict(window_strides=(2, 1), padding="SAME", feature_group_count=3,
                            dimension_numbers=NHWC), (2, 5, 4, 3), (3, 2, 1, 6)),
    "batch_groups_odd_layout": (dict(window_strides=(1, 1), padding="VALID", batch_group_count=2,
                                     dimension_numbers=("HWNC", "OHWI", "CHWN")),
                                (4, 4, 4, 3), (4, 2, 2, 3)),
    "conv3d": (dict(window_strides=(1, 2, 1), padding="SAME"), (1, 2, 4, 5, 3), (2, 2, 2, 3, 2)),
}

# name: (fn(L, x) for aotc.lax or jax.lax, operand shape)
WINDOWS = {
    "max_pool": (lambda L, x: L.reduce_window(x, -np.inf, L.max, (1, 2, 2, 1), (1, 1, 1, 1),
                                              "VALID"), (2, 4, 5, 3)),
    "max_pool_same": (lambda L, x: L.reduce_window(x, -np.inf, L.max, (1, 3, 3, 1),
                                                   (1, 2, 2, 1), "SAME"), (2, 5, 6, 2)),
    "min_dilated": (lambda L, x: L.reduce_window(x, np.inf, L.min, (2, 3), (1, 2),
                                                 ((1, 0), (2, 1)), base_dilation=(2, 1),
                                                 window_dilation=(1, 2)), (4, 6)),
    "max_negative_padding": (lambda L, x: L.reduce_window(x, -np.inf, L.max, (2, 2), (2, 1),
                                                          ((-1, 1), (0, -1))), (5, 4)),
    "sum_dilated": (lambda L, x: L.reduce_window(x, 0.0, L.add, (2, 3), (1, 2),
                                                 ((1, 0), (2, 1)), base_dilation=(2, 1),
                                                 window_dilation=(1, 2)), (4, 6)),
    # no padding: XLA skips padded elements where StableHLO (and IREE) pads with the init value
    "sum_nonzero_init": (lambda L, x: L.reduce_window(x, 1.5, L.add, (3,), (2,), "VALID"),
                         (8,)),
}


def _conv(L, kw):
    return lambda x, w: L.conv_general_dilated(x, w, **kw)


def _normal(rng, shape) -> np.ndarray:
    return rng.standard_normal(shape)


# ---- derivatives against finite differences ----------------------------------------------------


@pytest.mark.parametrize("name", CONVS)
def test_conv_derivatives(name):
    kw, lhs, rhs = CONVS[name]
    rng = np.random.default_rng(0)
    check_derivatives(_conv(lax, kw), [_normal(rng, lhs), _normal(rng, rhs)])


@pytest.mark.parametrize("name", ["feature_groups", "batch_groups"])
def test_conv_second_order(name):
    kw, lhs, rhs = CONVS[name]
    rng = np.random.default_rng(1)
    check_second_order(_conv(lax, kw), [_normal(rng, lhs), _normal(rng, rhs)], rtol=1e-4)


@pytest.mark.parametrize("name", WINDOWS)
def test_reduce_window_derivatives(name):
    fn, shape = WINDOWS[name]
    check_derivatives(lambda x: fn(lax, x), [_normal(np.random.default_rng(2), shape)])


@pytest.mark.parametrize("name", ["max_pool_same", "sum_dilated"])
def test_reduce_window_second_order(name):
    fn, shape = WINDOWS[name]
    check_second_order(lambda x: fn(lax, x), [_normal(np.random.default_rng(3), shape)],
                       rtol=1e-4)


def test_pooling_helpers_derivatives():
    rng = np.random.default_rng(4)
    x = _normal(rng, (2, 5, 5, 2))
    check_derivatives(lambda v: lax.max_pool(v, (2, 2), (2, 2), "SAME"), [x])
    check_derivatives(lambda v: lax.avg_pool(v, (3, 2), (1, 2), "SAME",
                                             count_include_pad=False), [x])


def test_max_window_tangent_is_the_first_maximum_and_zero_on_padding():
    """Ties pick the first element of the window; a window of padding only has tangent 0, and
    the VJP sends each cotangent to the same element (so grad is the JVP's adjoint)."""
    fn = lambda x: lax.reduce_window(x, -np.inf, lax.max, (2,), (1,), ((2, 0),))
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    jvp = interpreted(lambda x, t: aotc.jvp(fn, (x,), (t,)), [aotc.ShapeSpec((5,))] * 2)
    out, tangent = jvp(np.zeros(5), t)
    np.testing.assert_array_equal(out, [-np.inf, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(tangent, [0, 1, 1, 2, 3, 4])
    vjp = interpreted(lambda x, ct: aotc.vjp(fn, x)[1](ct)[0],
                      [aotc.ShapeSpec((5,)), aotc.ShapeSpec((6,))])
    np.testing.assert_array_equal(vjp(np.zeros(5), np.ones(6)), [2, 1, 1, 1, 0])


# ---- random geometries and layouts against JAX -------------------------------------------------


def _random_conv(rng):
    """conv_general_dilated keywords with random geometry, groups and (integer) layouts, plus
    fitting lhs and rhs shapes."""
    nspatial = int(rng.integers(1, 3))
    rank = nspatial + 2
    groups_kind = rng.choice(["none", "feature", "batch"])
    groups = 1 if groups_kind == "none" else 2
    batch = int(rng.integers(1, 3)) * (groups if groups_kind == "batch" else 1)
    in_features = int(rng.integers(1, 3))
    out_features = groups * int(rng.integers(1, 3))
    while True:
        kernel = rng.integers(1, 4, nspatial)
        sizes = rng.integers(3, 7, nspatial)
        strides, lhs_dil, rhs_dil = (rng.integers(1, 3, nspatial) for _ in range(3))
        pads = rng.integers(-1, 3, (nspatial, 2))
        outs = [window_output_size(int(n), int(k), int(s), tuple(p), int(b), int(d))
                for n, k, s, p, b, d in zip(sizes, kernel, strides, pads, lhs_dil, rhs_dil)]
        if min(outs) > 0:
            break
    specs = [tuple(int(d) for d in rng.permutation(rank)) for _ in range(3)]

    def shaped(spec, first, second, spatial):
        shape = [0] * rank
        shape[spec[0]], shape[spec[1]] = first, second
        for d, n in zip(spec[2:], spatial):
            shape[d] = int(n)
        return tuple(shape)

    lhs = shaped(specs[0], batch, in_features * (groups if groups_kind == "feature" else 1), sizes)
    rhs = shaped(specs[1], out_features, in_features, kernel)
    kw = dict(window_strides=tuple(int(s) for s in strides),
              padding=tuple((int(lo), int(hi)) for lo, hi in pads),
              lhs_dilation=tuple(int(d) for d in lhs_dil),
              rhs_dilation=tuple(int(d) for d in rhs_dil),
              feature_group_count=groups if groups_kind == "feature" else 1,
              batch_group_count=groups if groups_kind == "batch" else 1)
    return kw, specs, lhs, rhs


def _close(actual, expected) -> None:
    scale = max(1.0, *[np.abs(np.asarray(e)).max(initial=0.0) for e in tree.leaves(expected)])
    assert_tree_close([np.asarray(a, np.float64) for a in tree.leaves(actual)],
                      [np.asarray(e, np.float64) for e in tree.leaves(expected)],
                      rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("seed", range(12))
def test_random_conv_jvp_vjp_vmap_match_jax(seed):
    rng = np.random.default_rng(100 + seed)
    kw, specs, lhs_shape, rhs_shape = _random_conv(rng)
    ours = lambda x, w: lax.conv_general_dilated(x, w, dimension_numbers=specs, **kw)
    dn = jax.lax.ConvDimensionNumbers(*specs)
    theirs = lambda x, w: jax.lax.conv_general_dilated(x, w, dimension_numbers=dn, **kw)
    x, w, tx, tw = (_normal(rng, s) for s in (lhs_shape, rhs_shape, lhs_shape, rhs_shape))
    out = np.asarray(theirs(np.float32(x), np.float32(w)))
    ct = _normal(rng, out.shape)
    specs_of = [aotc.ShapeSpec(a.shape) for a in (x, w, tx, tw)]
    jvp = interpreted(lambda x, w, tx, tw: aotc.jvp(ours, (x, w), (tx, tw))[1], specs_of)
    _close(jvp(x, w, tx, tw), jax.jvp(theirs, (np.float32(x), np.float32(w)),
                                     (np.float32(tx), np.float32(tw)))[1])
    vjp = interpreted(lambda x, w, ct: aotc.vjp(ours, x, w)[1](ct),
                      [*specs_of[:2], aotc.ShapeSpec(ct.shape)])
    _close(vjp(x, w, ct), jax.vjp(theirs, np.float32(x), np.float32(w))[1](np.float32(ct)))
    in_axes = [(0, None), (None, 0), (0, 0), (1, -1)][seed % 4]
    xs, ws = (a if ax is None else np.moveaxis(_normal(rng, (B, *a.shape)), 0, ax)
              for a, ax in zip((x, w), in_axes))
    batched = interpreted(aotc.vmap(ours, in_axes=in_axes), [aotc.ShapeSpec(xs.shape),
                                                             aotc.ShapeSpec(ws.shape)])
    _close(batched(xs, ws), jax.vmap(theirs, in_axes=in_axes)(np.float32(xs), np.float32(ws)))


# ---- batching -----------------------------------------------------------------------------------


def _batched_conv_inputs(name, in_axes, rng):
    _, lhs, rhs = CONVS[name]
    return [_normal(rng, s) if ax is None else np.moveaxis(_normal(rng, (B, *s)), 0, ax)
            for s, ax in zip((lhs, rhs), in_axes)]


CONV_AXES = [(0, None), (None, 0), (0, 0), (2, 1)]


@pytest.mark.parametrize("name", CONVS)
def test_vmap_conv_matches_jax(name):
    kw = CONVS[name][0]
    rng = np.random.default_rng(5)
    for in_axes in CONV_AXES:
        x, w = _batched_conv_inputs(name, in_axes, rng)
        got = interpreted(aotc.vmap(_conv(lax, kw), in_axes=in_axes),
                          [aotc.ShapeSpec(x.shape), aotc.ShapeSpec(w.shape)])(x, w)
        expected = jax.vmap(_conv(jax.lax, kw), in_axes=in_axes)(np.float32(x), np.float32(w))
        try:
            _close(got, expected)
        except AssertionError as exc:
            raise AssertionError(f"in_axes={in_axes}: {exc}") from None


def _variadic_window(L, x, y):
    """A two-operand window reduction: the max of x and the y where it is."""

    def body(acc, new):
        pick = new[0] > acc[0]
        return (L.select(pick, new[0], acc[0]), L.select(pick, new[1], acc[1]))

    return L.reduce_window((x, y), (-np.inf, 0.0), body, (2, 2), (1, 2), ((1, 0), (0, 1)))


@pytest.mark.parametrize("name", WINDOWS)
def test_vmap_reduce_window_matches_jax(name):
    fn, shape = WINDOWS[name]
    rng = np.random.default_rng(6)
    for axis in sorted({0, len(shape) // 2, len(shape)}):
        x = np.moveaxis(_normal(rng, (B, *shape)), 0, axis)
        got = interpreted(aotc.vmap(lambda v: fn(lax, v), in_axes=axis),
                          [aotc.ShapeSpec(x.shape)])(x)
        _close(got, jax.vmap(lambda v: fn(jax.lax, v), in_axes=axis)(np.float32(x)))


def test_vmap_variadic_reduce_window_with_an_unbatched_operand():
    rng = np.random.default_rng(7)
    x, y = _normal(rng, (B, 4, 5)), _normal(rng, (4, 5))
    got = interpreted(aotc.vmap(lambda a, b: _variadic_window(lax, a, b), in_axes=(0, None)),
                      [aotc.ShapeSpec(x.shape), aotc.ShapeSpec(y.shape)])(x, y)
    expected = jax.vmap(lambda a, b: _variadic_window(jax.lax, a, b), in_axes=(0, None))(
        np.float32(x), np.float32(y))
    _close(got, expected)


def _ops_in_function(module, name: str) -> list[str]:
    names = []

    def visit(op):
        names.append(op.operation.name)
        return ir.WalkResult.ADVANCE

    util.find_function(module, name).operation.walk(visit)
    return names


@pytest.mark.parametrize("name", ["same", "feature_groups", "batch_groups"])
def test_batched_conv_is_one_convolution_and_grad_adds_two_ops_or_a_product_per_tap(name):
    """Batches fold into the conv's batch or feature groups (no per-example copies), whatever
    the batch size; the VJP of a conv adds two convs, or for an ungrouped conv one conv (the
    input gradient) and one dot_general per kernel tap (the filter gradient,
    frontend/ops/conv_taps.py)."""
    kw, lhs, rhs = CONVS[name]
    grouped = kw.get("feature_group_count", 1) > 1 or kw.get("batch_group_count", 1) > 1
    taps = 0 if grouped else int(np.prod(rhs[2:]))  # default layout: OI + spatial
    fn = lambda x, w: (lax.conv_general_dilated(x, w, **kw) ** 2).sum()
    for in_axes in CONV_AXES[:3]:
        counts = []
        for size in (2, 5):
            traced = aotc.lower(fn, np.zeros(lhs, np.float32), np.zeros(rhs, np.float32))
            vjp = autodiff.vjp(traced.module, traced.name, [0, 1])
            vmapped = batching.vmap(traced.module, vjp, [*in_axes, None], size)
            counts.append(_ops_in_function(traced.module, vmapped))
        assert counts[0] == counts[1]
        assert counts[0].count("stablehlo.convolution") == (3 if grouped else 2)
        assert counts[0].count("stablehlo.dot_general") == taps


# ---- a small CNN through IREE ------------------------------------------------------------------


def _jax_pool(kind):
    def pool(x, window, strides, padding="VALID"):
        dims, steps = (1, *window, 1), (1, *strides, 1)
        if kind == "max":
            return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, steps, padding)
        total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, steps, padding)
        return total / np.prod(window)

    return pool


AOTC = SimpleNamespace(conv=lax.conv_general_dilated, relu=nn.relu, max_pool=lax.max_pool,
                       avg_pool=lax.avg_pool, log_softmax=nn.log_softmax, np=anp)
JAX = SimpleNamespace(conv=jax.lax.conv_general_dilated, relu=jax.nn.relu,
                      max_pool=_jax_pool("max"), avg_pool=_jax_pool("avg"),
                      log_softmax=jax.nn.log_softmax, np=jnp)


def cnn_loss(ns):
    """Cross entropy of a conv, relu, max_pool, grouped conv, relu, avg_pool, dense network."""

    def loss(params, images, labels):
        h = ns.conv(images, params["w1"], (1, 1), "SAME", dimension_numbers=NHWC) + params["b1"]
        h = ns.max_pool(ns.relu(h), (2, 2), (2, 2))
        h = ns.conv(h, params["w2"], (1, 1), "VALID", dimension_numbers=NHWC,
                    feature_group_count=2)
        h = ns.avg_pool(ns.relu(h), (2, 2), (1, 1), "SAME")
        logits = h.reshape(h.shape[0], -1) @ params["w3"] + params["b3"]
        return -ns.np.mean(ns.np.sum(ns.log_softmax(logits) * labels, axis=-1))

    return loss


def example_loss(ns):
    loss = cnn_loss(ns)
    return lambda params, image, label: loss(params, image[None], label[None])


@pytest.fixture(scope="module")
def cnn_inputs():
    rng = np.random.default_rng(8)
    shapes = {"w1": (3, 3, 2, 4), "b1": (4,), "w2": (3, 3, 2, 6), "w3": (24, 5), "b3": (5,)}
    params = {k: (rng.standard_normal(s) * 0.4).astype(np.float32) for k, s in shapes.items()}
    images = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    labels = np.eye(5, dtype=np.float32)[[0, 3, 1]]
    tangents = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
    return params, images, labels, tangents


def _derivatives(ns, grad, jvp, vmap):
    loss = cnn_loss(ns)

    def fn(params, images, labels, tangents):
        return {"grad": grad(loss)(params, images, labels),
                "jvp": jvp(lambda p: loss(p, images, labels), (params,), (tangents,))[1],
                "per_example": vmap(grad(example_loss(ns)), in_axes=(None, 0, 0))(
                    params, images, labels)}

    return fn


@pytest.fixture(scope="module")
def cnn_expected(cnn_inputs):
    return _derivatives(JAX, jax.grad, jax.jvp, jax.vmap)(*cnn_inputs)


def test_cnn_derivatives_match_jax_in_the_interpreter(cnn_inputs, cnn_expected):
    fn = _derivatives(AOTC, aotc.grad, aotc.jvp, aotc.vmap)
    run = interpreted(fn, tree.map(lambda a: aotc.ShapeSpec(a.shape), list(cnn_inputs)))
    _close(run(*cnn_inputs), cnn_expected)


def test_cnn_derivatives_match_jax_on_iree(cnn_inputs, cnn_expected):
    got = aotc.jit(_derivatives(AOTC, aotc.grad, aotc.jvp, aotc.vmap))(*cnn_inputs)
    _close(got, cnn_expected)
    assert got["per_example"]["w2"].shape == (3, 3, 3, 2, 6)


def test_batched_convs_and_windows_on_iree():
    rng = np.random.default_rng(9)
    cases = [(name, axes) for name in ("same", "feature_groups", "batch_groups",
                                       "depthwise_nhwc") for axes in CONV_AXES[:3]]
    arrays = [a for name, axes in cases for a in _batched_conv_inputs(name, axes, rng)]
    windows = [np.float32(_normal(rng, (B, *shape))) for _, shape in WINDOWS.values()]
    arrays = [np.float32(a) for a in arrays]

    def program(L, vmap):
        def fn(arrays, windows):
            out = {f"{name}{axes}": vmap(_conv(L, CONVS[name][0]), in_axes=axes)(
                arrays[2 * i], arrays[2 * i + 1]) for i, (name, axes) in enumerate(cases)}
            for (name, (window_fn, _)), x in zip(WINDOWS.items(), windows):
                out[name] = vmap(lambda v, f=window_fn: f(L, v))(x)
            return out

        return fn

    got = aotc.jit(program(lax, aotc.vmap))(arrays, windows)
    _close(got, program(jax.lax, jax.vmap)(arrays, windows))
