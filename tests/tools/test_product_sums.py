"""Sums of matrix products as one product (aotc.tools.product_sums): which sums merge (alike
products in a loop body's add tree), the layout of the merged product, what is left alone,
and compiled results against numpy float64 (the RNN gradient against jax.grad)."""

import jax
import numpy as np
import pytest
from helpers import rewritten_by, stablehlo_lines

import aotc
import aotc.numpy as anp
from aotc.tools import product_sums

RNG = np.random.default_rng(5)


def weight_grads(xs, ds):
    """acc + sum_t xs[t].T @ ds[t], unrolled 4 steps per iteration (a scan gradient's shape)."""
    def body(i, acc):
        return acc + xs[i].T @ ds[i]
    return aotc.lax.fori_loop(0, 8, body, anp.zeros((xs.shape[2], ds.shape[2]), np.float32),
                              unroll=4)


def transposed_grads(xs, ds):
    """acc + sum_t (ds[t].T @ xs[t]).T: transposed products, as the loop VJP emits them."""
    def body(i, acc):
        return acc + (ds[i].T @ xs[i]).T
    return aotc.lax.fori_loop(0, 8, body, anp.zeros((xs.shape[2], ds.shape[2]), np.float32),
                              unroll=4)


XS = RNG.normal(size=(8, 5, 12)).astype(np.float32)
DS = RNG.normal(size=(8, 5, 7)).astype(np.float32)
WANT = np.einsum("tbi,tbj->ij", XS.astype(np.float64), DS.astype(np.float64))


@pytest.mark.parametrize("fn", [weight_grads, transposed_grads])
def test_alike_products_merge_into_one_standard_layout_product(fn):
    count, text = rewritten_by(product_sums.rewrite, fn, XS, DS)
    assert count == 3  # four products per iteration become one
    (dot,) = stablehlo_lines(text, "dot_general")
    assert "contracting_dims = [1] x [0]" in dot
    assert "(tensor<12x20xf32>, tensor<20x7xf32>) -> tensor<12x7xf32>" in dot
    assert len(stablehlo_lines(text, "concatenate")) == 2


def test_left_alone():
    """Products of other shapes, products with other uses, and sums outside loops."""
    def mixed(xs, ds, b):
        def body(i, acc):
            p = xs[i].T @ ds[i]
            return acc + p + xs[i].T @ (ds[i] * 2) + (b @ b)[:12, :7] * 0 + p * 0
        return aotc.lax.fori_loop(0, 8, body, anp.zeros((12, 7), np.float32), unroll=1)

    count, text = rewritten_by(product_sums.rewrite, mixed, XS, DS, np.ones((12, 12), np.float32))
    assert count == 0 and not stablehlo_lines(text, "concatenate")
    straight = lambda x, d: x[0].T @ d[0] + x[1].T @ d[1]
    count, _ = rewritten_by(product_sums.rewrite, straight, XS, DS)
    assert count == 0


@pytest.mark.parametrize("fn", [weight_grads, transposed_grads])
def test_compiled_results_match_numpy(fn):
    np.testing.assert_allclose(aotc.jit(fn)(XS, DS), WANT, rtol=1e-5, atol=1e-5)


def test_rnn_gradient_matches_jax():
    """The suite's RNN gradient shape (scan, unrolled), whose weight and input-weight
    gradients are merged sums, against jax.grad."""
    def loss(ns, params, xs):
        def cell(h, x):
            h = ns.tanh(x @ params["wx"] + h @ params["wh"] + params["b"])
            return h, h
        scan = aotc.lax.scan if ns is anp else jax.lax.scan
        _, hs = scan(cell, ns.zeros((xs.shape[1], 16), np.float32), xs)
        return ns.mean(hs ** 2)

    params = {"wx": RNG.normal(size=(6, 16)).astype(np.float32) / 3,
              "wh": RNG.normal(size=(16, 16)).astype(np.float32) / 5,
              "b": RNG.normal(size=16).astype(np.float32) / 10}
    xs = RNG.normal(size=(12, 4, 6)).astype(np.float32)
    assert rewritten_by(product_sums.rewrite, aotc.grad(lambda p, x: loss(anp, p, x)),
                        params, xs)[0] > 0
    got = aotc.jit(aotc.grad(lambda p, x: loss(anp, p, x)))(params, xs)
    want = jax.grad(lambda p, x: loss(jax.numpy, p, x))(params, xs)
    for key in params:
        np.testing.assert_allclose(got[key], want[key], rtol=2e-4, atol=1e-6, err_msg=key)
