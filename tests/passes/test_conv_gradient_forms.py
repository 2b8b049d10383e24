"""The forms of convolution gradients that aotc emits for IREE (frontend/ops/conv_taps.py and
the transpose rules of frontend/ops/conv.py).

- The filter gradient of an ungrouped convolution is one dot_general per kernel tap (no
  convolution); grouped convolutions and kernels of more than MAX_TAPS taps keep JAX's
  filter-gradient convolution. The input gradient stays JAX's convolution.
- An ungrouped convolution with one input feature is emitted with a zero feature added to both
  operands (lax.conv_general_dilated; conv_taps.widen_single_channel).
- Numbers: over strides, SAME/VALID/explicit and negative padding, lhs and rhs dilation,
  feature and batch groups, NHWC/NCHW/odd layouts and 1-d to 3-d, the new forms equal the old
  ones (JAX's convolution transposes, MAX_TAPS = 0) in float64 through the interpreter, and
  both equal jax.grad; through IREE (one compile holding every geometry) they equal jax.grad.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close

import aotc
import aotc.lax as lax
from aotc.frontend.core import tree
from aotc.frontend.core.ir import ir
from aotc.frontend.ops import conv_taps

NHWC = ("NHWC", "HWIO", "NHWC")
NCHW = ("NCHW", "OIHW", "NCHW")

# name: (conv_general_dilated keywords, lhs shape, rhs shape)
GEOMETRIES = {
    "nhwc_same": (dict(window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC),
                  (2, 6, 5, 3), (3, 3, 3, 4)),
    "nhwc_valid_strided": (dict(window_strides=(2, 2), padding="VALID", dimension_numbers=NHWC),
                           (2, 7, 8, 2), (3, 2, 2, 3)),
    "nchw_same_strided": (dict(window_strides=(2, 1), padding="SAME", dimension_numbers=NCHW),
                          (2, 3, 7, 6), (4, 3, 3, 3)),
    "nchw_rhs_dilation": (dict(window_strides=(1, 1), padding=((2, 1), (0, 2)),
                               rhs_dilation=(2, 3), dimension_numbers=NCHW),
                          (1, 2, 8, 9), (3, 2, 3, 2)),
    "lhs_dilation": (dict(window_strides=(1, 2), padding=((1, 0), (2, 1)), lhs_dilation=(2, 2),
                          dimension_numbers=NHWC), (2, 4, 5, 2), (2, 3, 2, 3)),
    "negative_padding": (dict(window_strides=(3,), padding=((-1, 2),), rhs_dilation=(2,)),
                         (2, 3, 10), (2, 3, 2)),
    "feature_groups": (dict(window_strides=(1, 2), padding="SAME", feature_group_count=2,
                            dimension_numbers=NCHW), (2, 4, 5, 6), (6, 2, 2, 3)),
    "depthwise_nhwc": (dict(window_strides=(2, 1), padding="SAME", feature_group_count=3,
                            dimension_numbers=NHWC), (2, 5, 4, 3), (3, 2, 1, 6)),
    "batch_groups": (dict(window_strides=(2,), padding=((1, -1),), batch_group_count=2,
                          lhs_dilation=(2,)), (4, 3, 7), (6, 3, 3)),
    "batch_groups_odd_layout": (dict(window_strides=(1, 1), padding="VALID", batch_group_count=2,
                                     dimension_numbers=("HWNC", "OHWI", "CHWN")),
                                (4, 4, 4, 3), (4, 2, 2, 3)),
    "conv3d": (dict(window_strides=(1, 2, 1), padding="SAME"), (1, 2, 4, 5, 3), (2, 2, 2, 3, 2)),
    "single_channel_nhwc": (dict(window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC),
                            (2, 6, 5, 1), (3, 3, 1, 4)),
    "single_channel_nchw_strided": (dict(window_strides=(2, 1), padding="VALID",
                                         dimension_numbers=NCHW), (2, 1, 7, 6), (3, 1, 2, 3)),
}


def _loss(L, kw):
    """A scalar of the convolution that weighs every output differently (so no cotangent is
    uniform): sum(conv(x, w) * r)."""
    return lambda x, w, r: (L.conv_general_dilated(x, w, **kw) * r).sum()


def _inputs(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kw, lhs, rhs = GEOMETRIES[name]
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(lhs), rng.standard_normal(rhs)
    out = jax.eval_shape(lambda x, w: jax.lax.conv_general_dilated(x, w, **kw),
                         jnp.zeros(lhs, jnp.float32), jnp.zeros(rhs, jnp.float32)).shape
    return x, w, rng.standard_normal(out)


def _jax_grads(name: str, args) -> tuple:
    kw = GEOMETRIES[name][0]
    return tuple(np.asarray(g) for g in jax.grad(_loss(jax.lax, kw), argnums=(0, 1))(
        *[np.float32(a) for a in args]))


def _grads_fn(name: str):
    return aotc.grad(_loss(lax, GEOMETRIES[name][0]), argnums=(0, 1))


def _interpreted_grads(name: str, args) -> tuple:
    traced = aotc.lower(_grads_fn(name), *[np.float32(a) for a in args])
    out = aotc.interpret(traced.module, traced.name, *[np.asarray(a, np.float64) for a in args])
    return tuple(out)


def _close(actual, expected, rtol: float) -> None:
    scale = max(1.0, *[np.abs(e).max(initial=0.0) for e in tree.leaves(expected)])
    assert_tree_close([np.asarray(a, np.float64) for a in actual],
                      [np.asarray(e, np.float64) for e in expected], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name", GEOMETRIES)
def test_new_forms_equal_old_forms_and_jax(name, monkeypatch):
    args = _inputs(name)
    new = _interpreted_grads(name, args)
    monkeypatch.setattr(conv_taps, "MAX_TAPS", 0)  # JAX's convolution form of the filter grad
    old = _interpreted_grads(name, args)
    _close(new, old, 1e-12)
    _close(new, _jax_grads(name, args), 1e-4)


def _ops(fn, *args) -> tuple[list[str], list[str]]:
    """The names of the operations in fn's traced module (every function: the loss and its
    VJP), and the dimension numbers of its convolutions."""
    traced = aotc.lower(fn, *args)
    names, conv_dims = [], []

    def visit(op):
        names.append(op.operation.name)
        if op.operation.name == "stablehlo.convolution":
            conv_dims.append(str(op.operation.attributes["dimension_numbers"]))
        return ir.WalkResult.ADVANCE

    traced.module.operation.walk(visit)
    return names, conv_dims


def test_filter_gradient_is_one_product_per_tap_and_no_convolution():
    x, w, r = (np.float32(a) for a in _inputs("nhwc_same"))
    loss = _loss(lax, GEOMETRIES["nhwc_same"][0])
    names, dims = _ops(aotc.grad(loss, argnums=(0, 1)), x, w, r)
    assert names.count("stablehlo.dot_general") == 9  # a 3x3 kernel
    # the forward conv (traced in the loss and in its VJP) and the input gradient (JAX's form)
    assert set(dims) == {"#stablehlo.conv<[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]>",
                         "#stablehlo.conv<[b, 0, 1, f]x[0, 1, o, i]->[b, 0, 1, f]>"}


@pytest.mark.parametrize("name", ["large_kernel", "depthwise_nhwc", "batch_groups"])
def test_large_kernels_and_groups_keep_the_convolution_form(name):
    """A kernel of more than MAX_TAPS taps (9x9 = 81) or a grouped convolution keeps JAX's
    filter-gradient convolution: no products, and a convolution of its own form."""
    if name == "large_kernel":
        kw = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC)
        x = np.zeros((1, 10, 10, 2), np.float32)
        w, r = np.zeros((9, 9, 2, 3), np.float32), np.zeros((1, 10, 10, 3), np.float32)
    else:
        kw = GEOMETRIES[name][0]
        x, w, r = (np.float32(a) for a in _inputs(name))
    names, dims = _ops(aotc.grad(_loss(lax, kw), argnums=1), x, w, r)
    assert "stablehlo.dot_general" not in names
    assert len(set(dims)) == 2  # the forward (in the loss and its VJP) and the filter gradient


@pytest.mark.parametrize("name", ["single_channel_nhwc", "single_channel_nchw_strided"])
def test_single_channel_convolutions_are_widened_and_equal_jax(name):
    kw = GEOMETRIES[name][0]
    x, w, _ = _inputs(name)
    names, _ = _ops(lambda x, w: lax.conv_general_dilated(x, w, **kw), np.float32(x),
                    np.float32(w))
    assert names.count("stablehlo.pad") == 2
    traced = aotc.lower(lambda x, w: lax.conv_general_dilated(x, w, **kw), np.float32(x),
                        np.float32(w))
    (ours,) = aotc.interpret(traced.module, traced.name, x, w)
    theirs = jax.lax.conv_general_dilated(np.float32(x), np.float32(w), **kw)
    _close((ours,), (np.asarray(theirs),), 1e-5)


# ---- through IREE: every geometry in one compiled program --------------------------------------


def _all_grads(*flat):
    """The gradients of every geometry's loss, from flat (x, w, r) triples."""
    return [_grads_fn(name)(*flat[3 * i:3 * i + 3]) for i, name in enumerate(GEOMETRIES)]


@pytest.fixture(scope="module")
def iree_grads():
    args = [np.float32(a) for name in GEOMETRIES for a in _inputs(name, seed=1)]
    return aotc.jit(_all_grads)(*args)


@pytest.mark.parametrize("name", GEOMETRIES)
def test_new_forms_on_iree_equal_jax(name, iree_grads):
    got = iree_grads[list(GEOMETRIES).index(name)]
    _close(tuple(np.asarray(g) for g in got), _jax_grads(name, _inputs(name, seed=1)), 2e-4)
