"""Derivatives at ties and kinks, and of dot_general/conv with permuted dimension numbers, checked
against jax.jvp / jax.vjp (not against aotc itself), in float64 through aotc's interpreter.

Finite differences cannot see these points: at a tie or kink the derivative is a convention.
aotc follows JAX's for the core StableHLO ops (maximum/minimum split ties 0.5/0.5, so
grad(maximum(x, x)) is 1; a max reduction shares the gradient among equal maxima; ...).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aotc
import aotc.lax as lax
import aotc.numpy as anp
from aotc.frontend.core import tree
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.trace.tracer import Tracer, to_tracer


@pytest.fixture(autouse=True)
def _x64():
    """float64 in JAX for this module's oracles only (x64 is process-wide state)."""
    with jax.enable_x64(True):
        yield


TIES = np.array([[1.0, -0.5, 2.0], [0.0, 0.0, 3.0]])  # zeros and repeated values
OTHER = np.array([[1.0, 0.5, 2.0], [-1.0, 0.0, 4.0]])  # equal to TIES at 4 of 6 places

# name -> (aotc function, jax function, arguments)
KINKS = {
    "maximum_same": (lambda x: anp.maximum(x, x), lambda x: jnp.maximum(x, x), (TIES,)),
    "minimum_same": (lambda x: anp.minimum(x, x), lambda x: jnp.minimum(x, x), (TIES,)),
    "maximum_ties": (anp.maximum, jnp.maximum, (TIES, OTHER)),
    "minimum_ties": (anp.minimum, jnp.minimum, (TIES, OTHER)),
    "abs_at_zero": (anp.abs, jnp.abs, (TIES,)),
    "clamp_at_bounds": (lambda x: lax.clamp(0.0, x, 2.0), lambda x: jax.lax.clamp(0.0, x, 2.0),
                        (TIES,)),
    "stablehlo.clamp_at_bounds": (
        lambda x: Tracer(ew.clamp(to_tracer(anp.zeros(())).value, to_tracer(x).value,
                                  to_tracer(anp.full((), 2.0)).value)),
        lambda x: jax.lax.clamp(0.0, x, 2.0), (TIES,)),
    "clip_at_bounds": (lambda x: anp.clip(x, -0.5, 2.0), lambda x: jnp.clip(x, -0.5, 2.0),
                       (TIES,)),
    "select_equal_branches": (lambda x: anp.where(x > 0, x, x),
                              lambda x: jnp.where(x > 0, x, x), (TIES,)),
    "where_at_switch": (lambda x: anp.where(x > 0, x * 2, -x), lambda x: jnp.where(
        x > 0, x * 2, -x), (TIES,)),
    "max_reduce_ties": (lambda x: anp.max(x, axis=1), lambda x: jnp.max(x, axis=1),
                        (np.array([[2.0, 2.0, 1.0], [0.0, 0.0, 0.0]]),)),
    "min_all_ties": (anp.min, jnp.min, (np.array([[1.0, -1.0], [-1.0, 3.0]]),)),
    "sort_ties": (lambda x: anp.sort(x, axis=1) * anp.arange(1.0, 4.0),
                  lambda x: jnp.sort(x, axis=1) * jnp.arange(1.0, 4.0),
                  (np.array([[2.0, 1.0, 2.0], [0.0, 0.0, 0.0]]),)),
    "argmax_ties_pick": (lambda x: anp.take_along_axis(x, anp.argmax(x, axis=1)[:, None], 1),
                         lambda x: jnp.take_along_axis(x, jnp.argmax(x, axis=1)[:, None], 1),
                         (np.array([[2.0, 2.0, 1.0], [0.0, 0.0, 0.0]]),)),
    "sign_times_x_at_zero": (lambda x: anp.sign(x) * x, lambda x: jnp.sign(x) * x, (TIES,)),
    "sqrt_of_square": (lambda x: anp.sqrt(x * x + 1.0), lambda x: jnp.sqrt(x * x + 1.0),
                       (TIES,)),
}


def _specs(args):
    return [aotc.ShapeSpec(np.shape(a)) for a in args]


def _interpret(fn, args):
    traced = aotc.lower(fn, *_specs(args))
    leaves = [np.asarray(a, np.float64) for a in tree.leaves(list(args))]
    return tree.unflatten(traced.out_tree, aotc.interpret(traced.module, traced.name, *leaves))


def check_against_jax(ours, theirs, args, seed=0):
    """JVP along a random direction and VJP of a random cotangent, against JAX's."""
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, np.float64) for a in args]
    tangents = [rng.standard_normal(a.shape) for a in args]
    want_out, want_tangent = jax.jvp(theirs, tuple(args), tuple(tangents))
    ct = rng.standard_normal(np.shape(want_out))
    want_cts = jax.vjp(theirs, *args)[1](ct)
    n = len(args)
    got_out, got_tangent = _interpret(
        lambda *v: aotc.jvp(ours, tuple(v[:n]), tuple(v[n:])), [*args, *tangents])
    got_cts = _interpret(lambda *v: aotc.vjp(ours, *v[:n])[1](v[n]), [*args, ct])
    np.testing.assert_allclose(got_out, want_out, rtol=1e-12, atol=1e-12, err_msg="value")
    np.testing.assert_allclose(got_tangent, want_tangent, rtol=1e-12, atol=1e-12,
                               err_msg="jvp")
    for got, want in zip(got_cts, want_cts):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg="vjp")


@pytest.mark.parametrize("name", sorted(KINKS))
def test_derivative_at_kinks_matches_jax(name):
    ours, theirs, args = KINKS[name]
    check_against_jax(ours, theirs, args)


def test_grad_of_maximum_of_x_with_itself_is_one():
    grad = _interpret(aotc.grad(lambda x: anp.sum(anp.maximum(x, x))), [TIES])
    np.testing.assert_array_equal(grad, np.ones_like(TIES))


# ---- dot_general and conv with permuted dimension numbers (hypothesis) -------------------------


@st.composite
def dot_generals(draw):
    """Shapes and dimension numbers: batch, contracting and free dims at random positions, the
    contracting dims paired in different orders on the two sides."""
    n_batch, n_contract = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    n_free_l, n_free_r = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sizes = draw(st.lists(st.integers(1, 3), min_size=n_batch + n_contract,
                          max_size=n_batch + n_contract))
    batch, contract = sizes[:n_batch], sizes[n_batch:]

    def side(n_free):
        free = draw(st.lists(st.integers(1, 3), min_size=n_free, max_size=n_free))
        order = draw(st.permutations(range(n_batch + n_contract + n_free)))
        shape = [0] * len(order)
        for k, size in enumerate(batch + contract + free):
            shape[order[k]] = size
        return shape, list(order[:n_batch]), list(order[n_batch:n_batch + n_contract])

    lhs_shape, lhs_batch, lhs_contract = side(n_free_l)
    rhs_shape, rhs_batch, rhs_contract = side(n_free_r)
    dims = ((tuple(lhs_contract), tuple(rhs_contract)), (tuple(lhs_batch), tuple(rhs_batch)))
    return tuple(lhs_shape), tuple(rhs_shape), dims


@settings(max_examples=25, deadline=None, derandomize=True)
@given(dot_generals())
def test_dot_general_permuted_dims_matches_jax(case):
    lhs_shape, rhs_shape, dims = case
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(lhs_shape), rng.standard_normal(rhs_shape)
    check_against_jax(lambda x, y: lax.dot_general(x, y, dims),
                      lambda x, y: jax.lax.dot_general(x, y, dims), (a, b))


def test_tensordot_contracting_dims_in_permuted_order():
    """The surviving mutant: tensordot(axes=([1, 2], [1, 0]))."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3, 5))
    check_against_jax(lambda x, y: anp.tensordot(x, y, axes=([1, 2], [1, 0])),
                      lambda x, y: jnp.tensordot(x, y, axes=([1, 2], [1, 0])), (a, b))


LAYOUTS = ["NCHW", "NHWC", "HNWC", "CWHN"]
KERNELS = ["OIHW", "HWIO", "IOHW", "WHOI"]


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.sampled_from(LAYOUTS), st.sampled_from(KERNELS), st.sampled_from(LAYOUTS),
       st.sampled_from([(1, 1), (2, 1)]), st.sampled_from(["VALID", "SAME", ((1, 0), (0, 2))]),
       st.sampled_from([(1, 1), (1, 2)]))
def test_conv_permuted_dimension_numbers_matches_jax(lhs_spec, rhs_spec, out_spec, strides,
                                                     padding, rhs_dilation):
    sizes = {"N": 2, "C": 2, "H": 5, "W": 4}
    kernel = {"O": 3, "I": 2, "H": 2, "W": 3}
    rng = np.random.default_rng(2)
    x = rng.standard_normal([sizes[c] for c in lhs_spec])
    w = rng.standard_normal([kernel[c] for c in rhs_spec])
    dn = (lhs_spec, rhs_spec, out_spec)
    check_against_jax(
        lambda a, b: lax.conv_general_dilated(a, b, strides, padding, rhs_dilation=rhs_dilation,
                                              dimension_numbers=dn),
        lambda a, b: jax.lax.conv_general_dilated(a, b, strides, padding,
                                                  rhs_dilation=rhs_dilation,
                                                  dimension_numbers=dn), (x, w))
