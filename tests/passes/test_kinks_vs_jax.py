"""Derivatives at ties and kinks, and of dot_general/conv with permuted dimension numbers, checked
against jax.jvp / jax.vjp (not against aotc itself), traced and interpreted in float64.

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
import aotc.nn as ann
import aotc.numpy as anp
from aotc.frontend import nn as frontend_nn
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
        lambda x: Tracer(ew.clamp(to_tracer(anp.zeros((), x.dtype)).value, to_tracer(x).value,
                                  to_tracer(anp.full((), 2.0, x.dtype)).value)),
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
    "where_ge_at_switch": (lambda x: anp.where(x >= 0, x * x + x, 3.0 * x),
                           lambda x: jnp.where(x >= 0, x * x + x, 3.0 * x), (TIES,)),
    "clip_at_both_bounds": (lambda x: anp.clip(x, 0.0, 3.0), lambda x: jnp.clip(x, 0.0, 3.0),
                            (TIES,)),
    "sort_all_equal": (lambda x: anp.sort(x) * anp.arange(1.0, 5.0),
                       lambda x: jnp.sort(x) * jnp.arange(1.0, 5.0), (np.full(4, 1.5),)),
}

# Piecewise-constant functions: a zero derivative everywhere, at their jumps too (JAX's rule).
STEPS = np.array([[-1.5, -0.5, 0.0], [0.5, 1.0, 2.5]])  # jumps of round/floor/ceil/sign


def _times_x(step):
    return lambda x: step(x) * x


for _name in ("floor", "ceil", "round", "sign", "trunc"):
    KINKS[f"{_name}_zero_derivative"] = (_times_x(getattr(anp, _name)),
                                         _times_x(getattr(jnp, _name)), (STEPS,))

# Every elementwise activation of aotc.nn at its kinks: 0 (relu, leaky_relu, elu, celu, selu,
# softplus, log_sigmoid, soft_sign; log1mexp's pole), -1 and 1 (hard_tanh, sparse_plus,
# sparse_sigmoid), -3 and 3 (hard_sigmoid, hard_silu), 6 (relu6). jax.nn's conventions there
# come from custom JVPs (relu, relu6, log1mexp) or from how each function
# is written (hard_tanh's nested where has derivative 1 at +-1).
KINK_POINTS = np.array([[-3.0, -1.0, 0.0, -0.0], [1.0, 3.0, 6.0, 0.5]])
NOT_ELEMENTWISE = {  # aotc.nn names without a kink row, and why
    "glu": "splits an axis: no kinks", "one_hot": "integer classes, not differentiable",
    "softmax": "smooth; tested in tests/frontend/test_nn.py",
    "log_softmax": "smooth; tested in tests/frontend/test_nn.py",
    "logsumexp": "ties of the max shift are tested in tests/frontend/test_nn.py",
    "standardize": "smooth", "normalize": "alias of standardize",
    "logmeanexp": "a reduction; logsumexp's ties cover it (tests/frontend/test_nn_more.py)",
    "dot_product_attention": "not elementwise: tested in tests/frontend/test_nn_more.py",
}
for _name in sorted(set(frontend_nn.__all__) - set(NOT_ELEMENTWISE)):
    KINKS[f"nn.{_name}"] = (getattr(ann, _name), getattr(jax.nn, _name), (KINK_POINTS,))
KINKS["nn.gelu_erf"] = (lambda x: ann.gelu(x, approximate=False),
                        lambda x: jax.nn.gelu(x, approximate=False), (KINK_POINTS,))
KINKS["nn.leaky_relu_slope"] = (lambda x: ann.leaky_relu(x, 0.3),
                                lambda x: jax.nn.leaky_relu(x, 0.3), (KINK_POINTS,))
KINKS["nn.squareplus_b0"] = (lambda x: ann.squareplus(x, 0.0),
                            lambda x: jax.nn.squareplus(x, 0.0), (KINK_POINTS,))
KINKS["nn.celu_alpha"] = (lambda x: ann.celu(x, 2.0), lambda x: jax.nn.celu(x, 2.0),
                          (KINK_POINTS,))


def _specs(args):
    return [aotc.ShapeSpec(np.shape(a), "float64") for a in args]


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


@pytest.mark.parametrize("name", ["softplus", "log_sigmoid", "relu", "relu6", "hard_tanh",
                                  "sparse_plus", "sparse_sigmoid"])
def test_second_derivative_at_kinks_matches_jax(name):
    """softplus is logaddexp(x, 0) in JAX: 1/4 at 0, which a max-based form would lose."""
    points = KINK_POINTS.ravel()

    def second(f, grad):
        return grad(grad(f))

    want = [second(getattr(jax.nn, name), jax.grad)(p) for p in points]
    got = [_interpret(second(getattr(ann, name), aotc.grad), [np.float64(p)]) for p in points]
    np.testing.assert_allclose(np.array(got, np.float64), np.array(want), rtol=1e-12, atol=1e-12)


def test_relu_family_forward_keeps_nan():
    x = np.array([np.nan, -np.inf, np.inf, 0.0])
    for name in ("relu", "relu6", "hard_tanh", "softplus", "celu"):
        got = _interpret(getattr(ann, name), [x])
        np.testing.assert_array_equal(got, np.asarray(getattr(jax.nn, name)(x)), err_msg=name)


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
