"""Numerical derivative checks shared by the autodiff tests (JAX's `check_grads`, on aotc).

A function is traced once together with its JVP and VJP (`aotc.jvp`, `aotc.vjp` staged inside
`aotc.lower`) and evaluated by the reference interpreter in float64. The JVP along a random
direction must match central finite differences of the function; the VJP must satisfy
<ct, J t> = <J^T ct, t> against the same finite differences. Second order checks the same on
the function's VJP (reverse over reverse, forward over reverse) and on its JVP.
"""

from dataclasses import dataclass

import numpy as np

import aotc
from aotc.frontend.core import tree
from aotc.frontend.core.ir import shape_of
from aotc.passes import functions as util

EPS = 1e-5  # central differences in float64: truncation ~EPS^2, rounding ~1e-16 / EPS


@dataclass(frozen=True)
class Arg:
    """A float argument: its shape and sampling domain [lo, hi) (nonzero: either sign)."""

    shape: tuple
    lo: float = -2.0
    hi: float = 2.0
    nonzero: bool = False

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        x = rng.uniform(self.lo, self.hi, self.shape)
        if self.nonzero:
            x = x * rng.choice([-1.0, 1.0], self.shape)
        return np.asarray(x, np.float64)


def interpreted(fn, specs):
    """Trace fn on ShapeSpecs once; returns run(*arrays) evaluating it in float64 (pytree out)."""
    traced = aotc.lower(fn, *specs)

    def run(*args):
        leaves = [np.asarray(a, np.float64) for a in tree.leaves(args)]
        return tree.unflatten(traced.out_tree, aotc.interpret(traced.module, traced.name, *leaves))

    run.traced = traced
    with traced.module.context:
        result_types = util.function_type(util.find_function(traced.module, traced.name)).results
        run.traced_out_shape = shape_of(result_types[0]) if result_types else ()
    return run


def _inner(a, b) -> float:
    return float(sum(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64))
                     for x, y in zip(tree.leaves(a), tree.leaves(b))))


def _scale(tree_value) -> float:
    leaves = [np.abs(np.asarray(v, np.float64)).max(initial=0.0) for v in tree.leaves(tree_value)]
    return max([1.0, *leaves])


def _close(actual, expected, rtol, what: str) -> None:
    scale = _scale(expected)
    for a, e in zip(tree.leaves(actual), tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64),
                                   rtol=rtol, atol=rtol * scale, err_msg=what)


def _random_like(rng, value):
    return tree.map(lambda v: rng.standard_normal(np.shape(v)), value)


def check_derivatives(fn, args, dtype=np.float32, *, modes=("fwd", "rev"), rtol=1e-5,
                      seed=0) -> None:
    """fn's JVP and/or VJP at args (float64 arrays) against central finite differences.

    The function is traced with float arguments of `dtype` and evaluated in float64, so the
    check measures the derivative rules, not float32 rounding.
    """
    rng = np.random.default_rng(seed)
    specs = [aotc.ShapeSpec(np.shape(a), dtype) for a in args]
    forward = interpreted(lambda *xs: fn(*xs), specs)
    out = forward(*args)
    tangents = [rng.standard_normal(np.shape(a)) for a in args]
    cotangent = _random_like(rng, out)

    def fd(direction):
        plus = forward(*[a + EPS * t for a, t in zip(args, direction)])
        minus = forward(*[a - EPS * t for a, t in zip(args, direction)])
        return tree.map(lambda p, m: (np.asarray(p) - np.asarray(m)) / (2 * EPS), plus, minus)

    expected = fd(tangents)
    if "fwd" in modes:
        jvp = interpreted(lambda xs, ts: aotc.jvp(fn, tuple(xs), tuple(ts)), [specs, specs])
        value, tangent_out = jvp(list(args), tangents)
        _close(value, out, 1e-12, "jvp primal output")
        _close(tangent_out, expected, rtol, "jvp vs finite differences")
    if "rev" in modes:
        out_specs = tree.map(lambda v: aotc.ShapeSpec(np.shape(v), dtype), out)
        vjp = interpreted(lambda xs, ct: aotc.vjp(fn, *xs)[1](ct), [specs, out_specs])
        arg_cts = vjp(list(args), cotangent)
        lhs, rhs = _inner(arg_cts, tangents), _inner(cotangent, expected)
        scale = max(1.0, abs(rhs), _scale(arg_cts) * _scale(tangents))
        assert abs(lhs - rhs) <= rtol * scale * 10, (
            f"<vjp(ct), t> = {lhs} but <ct, J t> = {rhs} (finite differences)")


def check_second_order(fn, args, dtype=np.float32, *, modes=("fwd", "rev"), rtol=1e-5,
                       seed=1) -> None:
    """Derivatives of fn's derivatives: the VJP (rev) and/or JVP (fwd) along fixed directions
    are checked like fn itself, forward and reverse."""
    rng = np.random.default_rng(seed)
    out = interpreted(lambda *xs: fn(*xs), [aotc.ShapeSpec(np.shape(a), dtype) for a in args])(
        *args)
    if "rev" in modes:
        cotangent = tree.map(lambda v: rng.standard_normal(np.shape(v)).astype(dtype), out)

        def pullback(*xs):
            return aotc.vjp(fn, *xs)[1](cotangent)

        check_derivatives(pullback, args, dtype, rtol=rtol, seed=seed, modes=modes)
    if "fwd" in modes:
        tangents = tuple(rng.standard_normal(np.shape(a)).astype(dtype) for a in args)

        def pushforward(*xs):
            return aotc.jvp(fn, xs, tangents)[1]

        check_derivatives(pushforward, args, dtype, rtol=rtol, seed=seed, modes=modes)
