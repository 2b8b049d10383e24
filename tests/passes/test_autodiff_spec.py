"""Spec table for autodiff, in the style of JAX's LAX_GRAD_OPS: one row per differentiable op or
function, checked forward (JVP) and reverse (VJP) against central finite differences along
random directions, in float64 through the reference interpreter, and to second order for the
rows marked so. Domains avoid singularities and kinks (tests/passes/test_kinks_vs_jax.py checks
the values there against JAX). Which ops need which rule is derived from the registry in
tests/passes/test_rule_coverage.py.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from autodiff_checks import Arg, check_derivatives, check_second_order, interpreted
from hypothesis import given, settings
from hypothesis import strategies as st

import aotc
import aotc.lax as lax
import aotc.nn as nn
import aotc.numpy as anp
from aotc.frontend.core import registry
from aotc.frontend.linalg import lapack_calls
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.trace.tracer import Tracer, to_tracer

F32, F16 = np.dtype(np.float32), np.dtype(np.float16)
SMALL = (2, 3)

@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable
    args: tuple
    order: int = 1
    modes: tuple = ("fwd", "rev")
    dtypes: tuple = (F32,)
    rtol: float = 1e-5


def unary(name, fn, lo=-2.0, hi=2.0, nonzero=False, order=2, shapes=((), SMALL), **kw):
    """One row per shape of an elementwise function, in float32 and float16."""
    return [Case(f"{name}{list(s)}", fn, (Arg(s, lo, hi, nonzero),), order,
                 dtypes=(F32, F16), **kw) for s in shapes]


def binary(name, fn, a=None, b=None, order=2, **kw):
    a, b = a or Arg(SMALL), b or Arg(SMALL)
    return [Case(name, fn, (a, b), order, dtypes=(F32, F16), **kw)]


def op(builder):
    """An op builder on ir.Values as a function on arrays (for ops only imports emit)."""
    return lambda x: Tracer(builder(to_tracer(x).value))


POS = dict(lo=0.3, hi=2.0)
UNIT = dict(lo=-0.8, hi=0.8)
M34, M42 = Arg((3, 4)), Arg((4, 2))
V3 = Arg((3,))
ZERO_MASK = np.array([[0, 1, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1]], np.float32)  # 1, 2, 0 zeros

ELEMENTWISE = [
    *unary("sin", anp.sin), *unary("cos", anp.cos), *unary("tan", anp.tan, -1.2, 1.2),
    *unary("arcsin", anp.arcsin, **UNIT), *unary("arccos", anp.arccos, **UNIT),
    *unary("arctan", anp.arctan), *unary("sinh", anp.sinh), *unary("cosh", anp.cosh),
    *unary("tanh", anp.tanh), *unary("arcsinh", anp.arcsinh),
    *unary("arccosh", anp.arccosh, 1.2, 3.0), *unary("arctanh", anp.arctanh, **UNIT),
    *unary("exp", anp.exp), *unary("exp2", anp.exp2), *unary("expm1", anp.expm1),
    *unary("log", anp.log, **POS), *unary("log2", anp.log2, **POS),
    *unary("log10", anp.log10, **POS), *unary("log1p", anp.log1p, -0.5, 2.0),
    *unary("sqrt", anp.sqrt, **POS), *unary("rsqrt", lax.rsqrt, **POS),
    *unary("cbrt", anp.cbrt, 0.3, 2.0, nonzero=True), *unary("square", anp.square),
    *unary("reciprocal", anp.reciprocal, 0.3, 2.0, nonzero=True),
    *unary("abs", anp.abs, 0.1, 2.0, nonzero=True), *unary("negative", anp.negative),
    *unary("positive", anp.positive), *unary("erf", lax.erf), *unary("logistic", lax.logistic),
    *unary("chlo.erfc", op(ew.erfc)), *unary("chlo.square", op(ew.square)),
    *unary("sign", lambda x: anp.sign(x) * x, 0.1, 2.0, nonzero=True),
    *unary("floor", lambda x: anp.floor(x) + x), *unary("ceil", lambda x: anp.ceil(x) * x),
    *unary("round", lambda x: anp.round(x) * x), *unary("trunc", lambda x: anp.trunc(x) + x),
    *unary("pow_int", lambda x: x ** 3), *unary("pow_half", lambda x: x ** 0.5, **POS),
    *binary("add", anp.add), *binary("subtract", anp.subtract),
    *binary("multiply", anp.multiply),
    *binary("divide", anp.divide, b=Arg(SMALL, 0.5, 2.0, nonzero=True)),
    *binary("power", anp.power, a=Arg(SMALL, **POS), b=Arg(SMALL, -1.5, 1.5)),
    *binary("maximum", anp.maximum), *binary("minimum", anp.minimum),
    *binary("arctan2", anp.arctan2, b=Arg(SMALL, 0.5, 2.0, nonzero=True)),
    *binary("remainder", anp.remainder, a=Arg(SMALL, 0.1, 5.0), b=Arg(SMALL, 0.7, 1.3)),
    *binary("fmod", anp.fmod, a=Arg(SMALL, 0.1, 5.0), b=Arg(SMALL, 0.7, 1.3)),
    *binary("lax.rem", lax.rem, a=Arg(SMALL, 0.1, 5.0), b=Arg(SMALL, 0.7, 1.3)),
    *binary("hypot", anp.hypot, a=Arg(SMALL, 0.3, 2.0, nonzero=True)),
    *binary("broadcasting", lambda x, y: x * y - x / (1.5 + y[0]), b=Arg((3,), 0, 1)),
    *binary("where", lambda x, y: anp.where(x > 0, anp.sin(y) * x, y * y)),
    *binary("select", lambda x, y: lax.select(x < y, x, anp.exp(y))),
    Case("clamp", lambda lo, x, hi: lax.clamp(lo, x, hi),
         (Arg((), -1.0, -0.5), Arg(SMALL), Arg((), 0.5, 1.0)), order=2),
    Case("clamp_arrays", lambda lo, x, hi: lax.clamp(lo, x, hi),
         (Arg(SMALL, -1.0, -0.5), Arg(SMALL), Arg(SMALL, 0.5, 1.0))),
    Case("clip", lambda x: anp.clip(x, -0.7, 0.9), (Arg(SMALL),), order=2),
    Case("astype_f16", lambda x: anp.astype(x, anp.float16) * 3, (Arg(SMALL),), order=2),
    Case("astype_int", lambda x: anp.astype(x * 2, anp.int32) * x, (Arg(SMALL),)),
    Case("float16_in", lambda x: anp.sin(x) * 2, (Arg(SMALL),), order=2, dtypes=(F16,),
         rtol=2e-3),
    Case("where_constant", lambda x: anp.where(x > 0, x, 0.0), (Arg(SMALL),)),
]

SHAPES = [
    Case("reshape", lambda x: anp.reshape(x, (4, 3)) * anp.arange(3.0), (M34,), order=2),
    Case("transpose", lambda x: anp.transpose(x) @ anp.ones((3, 2)), (M34,)),
    Case("expand_squeeze", lambda x: anp.squeeze(anp.expand_dims(x, 1), 1) ** 2, (M34,)),
    Case("broadcast_to", lambda x: anp.broadcast_to(x, (2, 3, 4)) * anp.arange(4.0), (M34,)),
    Case("lax.broadcast_in_dim", lambda x: lax.broadcast_in_dim(x, (4, 2, 3), (2,)) ** 2,
         (V3,)),
    Case("slice_static", lambda x: x[1:3, ::2] ** 2, (M34,), order=2),
    Case("slice_negative_step", lambda x: x[::-1, 3:0:-2] * 3, (M34,)),
    Case("index_newaxis", lambda x: x[None, ..., 1] * x[:, None, 2], (M34,)),
    Case("lax.slice_strided", lambda x: lax.slice(x, (0, 1), (3, 4), (2, 2)) ** 3, (M34,)),
    Case("pad", lambda x: anp.pad(x, ((1, 2), (0, 1))) ** 2, (M34,), order=2),
    Case("lax.pad_interior_negative",
         lambda x, v: lax.pad(x, v, ((1, -1, 1), (-1, 2, 0))) ** 2, (M34, Arg(()))),
    Case("concatenate", lambda x, y: anp.concatenate([x, y, x * y], axis=0) ** 2, (M34, M34)),
    Case("stack", lambda x, y: anp.stack([x, anp.sin(y)], axis=1), (M34, M34)),
    Case("flip", lambda x: anp.flip(x, 1) * anp.arange(4.0), (M34,), order=2),
    Case("roll", lambda x: anp.roll(x, 2, axis=1) * anp.arange(4.0), (M34,)),
    Case("tile", lambda x: anp.tile(x, (2, 1)) ** 2, (M34,)),
    Case("repeat", lambda x: anp.repeat(x, 2, axis=0) ** 2, (M34,)),
    Case("tril_triu", lambda x: anp.tril(x) * 2 + anp.triu(x, 1) ** 2, (Arg((3, 3)),)),
    Case("moveaxis", lambda x: anp.moveaxis(x[None], 0, 2) ** 2, (M34,)),
    Case("split", lambda x: anp.split(x, 2, axis=1)[1] * 2, (M34,)),
    Case("diagonal", lambda x: anp.diagonal(x) ** 2, (Arg((3, 3)),)),
    Case("dynamic_slice", lambda x: lax.dynamic_slice(x, (1, 2), (2, 2)) ** 2, (M34,),
         order=2),
    Case("dynamic_slice_clamped", lambda x: lax.dynamic_slice(x, (2, 3), (2, 2)) ** 2, (M34,)),
    Case("dynamic_update_slice", lambda x, u: lax.dynamic_update_slice(x, u * u, (1, 1)) ** 2,
         (M34, Arg((2, 2))), order=2),
    Case("astype_roundtrip", lambda x: anp.astype(anp.astype(x, anp.float16), anp.float32) * x,
         (M34,), rtol=1e-3),
]

REDUCTIONS = [
    Case("sum", lambda x: anp.sum(x ** 2), (M34,), order=2),
    Case("sum_axis", lambda x: anp.sum(anp.sin(x), axis=1, keepdims=True), (M34,), order=2),
    Case("mean", lambda x: anp.mean(x ** 3, axis=0), (M34,), order=2),
    Case("max", lambda x: anp.max(x, axis=1), (M34,), order=2),
    Case("min", lambda x: anp.min(x * x, axis=0), (M34,), order=2),
    Case("max_all", lambda x: anp.max(x), (M34,)),
    Case("prod", lambda x: anp.prod(x, axis=1), (Arg((3, 4), 0.5, 2.0, nonzero=True),),
         order=2),
    Case("prod_with_zeros", lambda x: anp.prod(x * ZERO_MASK, axis=1), (M34,), order=2),
    Case("prod_axes", lambda x: anp.prod(x, axis=(0, 2)), (Arg((2, 3, 2), 0.5, 1.5),), order=2),
    Case("var_std", lambda x: anp.var(x, axis=1) + anp.std(x), (M34,), order=2),
    Case("cumsum", lambda x: anp.cumsum(x, axis=1) ** 2, (M34,), order=2),
    Case("cumsum_flat", lambda x: anp.cumsum(x) * anp.arange(12.0), (M34,)),
    Case("cumprod", lambda x: anp.cumprod(x, axis=0), (Arg((3, 4), 0.5, 2.0),)),
    Case("cummax", lambda x: anp.cummax(x, axis=1), (M34,)),
    Case("diff", lambda x: anp.diff(x, axis=1) ** 2, (M34,)),
    Case("trace", lambda x: anp.trace(x * x), (Arg((3, 3)),)),
    Case("logsumexp", lambda x: nn.logsumexp(x, axis=1), (M34,), order=2),
    Case("softmax", lambda x: nn.softmax(x, axis=-1), (M34,), order=2),
    Case("log_softmax", lambda x: nn.log_softmax(x), (M34,), order=2),
    Case("nansum", lambda x: anp.nansum(x * x), (M34,)),
    Case("lax.reduce_sum", lambda x: lax.reduce(x * x, 0.0, lax.add, (0,)), (M34,)),
    Case("argmax_index", lambda x: x * anp.argmax(x, axis=1)[:, None] + anp.argmin(x), (M34,),
         order=2),
    Case("max_with_index", lambda x: _max_with_index(x), (M34,), order=2),
]


def _max_with_index(x):
    """A variadic reduce whose float result picks an element: (max value, its index)."""

    def pick(a, b):
        take_a = a[0] >= b[0]
        return lax.select(take_a, a[0], b[0]), lax.select(take_a, a[1], b[1])

    index = anp.broadcast_to(anp.arange(x.shape[1]), x.shape)
    value, where = lax.reduce((x, index), (-np.inf, 0), pick, (1,))
    return value * 2.0 + where

LINALG = [
    Case("matmul", anp.matmul, (M34, M42), order=2),
    Case("matmul_batched", anp.matmul, (Arg((2, 3, 4)), M42), order=2),
    Case("matvec", anp.matmul, (M34, Arg((4,)))),
    Case("vecmat", anp.matmul, (Arg((3,)), M34)),
    Case("dot_1d", anp.dot, (V3, V3), order=2),
    Case("einsum_bmm", lambda a, b: anp.einsum("bij,bjk->bik", a, b),
         (Arg((2, 3, 4)), Arg((2, 4, 2))), order=2),
    Case("einsum_contract_all", lambda a, b: anp.einsum("ij,ij->", a, b), (M34, M34)),
    Case("einsum_outer_sum", lambda a, b: anp.einsum("ij,k->ik", a, b), (M34, V3)),
    Case("tensordot", lambda a, b: anp.tensordot(a, b, axes=([1], [0])), (M34, M42)),
    Case("outer", anp.outer, (V3, Arg((4,)))),
    Case("inner_vdot", lambda a, b: anp.inner(a, b) + anp.vdot(a, b), (V3, V3)),
    Case("lax.dot_general_batch",
         lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
         (Arg((2, 3, 4)), Arg((2, 4, 5))), order=2),
]

NN = [
    *[Case(f"nn.{name}", fn, (M34,), order=2) for name, fn in [
        ("relu", nn.relu), ("relu6", lambda x: nn.relu6(x * 4)), ("sigmoid", nn.sigmoid),
        ("softplus", nn.softplus), ("log_sigmoid", nn.log_sigmoid), ("silu", nn.silu),
        ("gelu_tanh", nn.gelu), ("gelu_exact", lambda x: nn.gelu(x, approximate=False)),
        ("elu", nn.elu), ("celu", nn.celu), ("selu", nn.selu), ("leaky_relu", nn.leaky_relu),
        ("hard_tanh", nn.hard_tanh), ("hard_sigmoid", lambda x: nn.hard_sigmoid(x * 4)),
        ("hard_silu", lambda x: nn.hard_silu(x * 4)), ("soft_sign", nn.soft_sign),
        ("standardize", nn.standardize)]],
    Case("nn.glu", nn.glu, (M34,)),
]


def _scan_rnn(h, xs, w):
    def step(h, x):
        h = anp.tanh(h * w + x)
        return h, h * h

    return lax.scan(step, h, xs)


CONTROL = [
    Case("cond", lambda x, y: lax.cond(anp.sum(x) > 0, lambda a, b: anp.sin(a) * b,
                                      lambda a, b: a - b * b, x, y), (M34, M34), order=2),
    Case("cond_false", lambda x: lax.cond(anp.sum(x) > 100, lambda a: a, lambda a: a ** 3, x),
         (M34,), order=2),
    Case("cond_closure", lambda x, y: lax.cond(x[0] > -5, lambda: anp.exp(y) * x[1],
                                               lambda: y), (V3, V3), order=2),
    Case("switch", lambda x: lax.switch(1, [lambda a: a, lambda a: anp.sin(a) * a,
                                            lambda a: -a], x), (M34,), order=2),
    Case("switch_traced_index", lambda i, x: lax.switch(
        anp.astype(anp.abs(i) * 2.9, anp.int32), [anp.sin, anp.cos, anp.tanh], x * i),
        (Arg((), 0.1, 0.9), V3), order=2),
    Case("fori_loop", lambda x: lax.fori_loop(0, 4, lambda i, c: anp.sin(c) * 1.5 + i, x),
         (V3,), order=2),
    Case("fori_loop_closure", lambda x, w: lax.fori_loop(1, 4, lambda i, c: c * w + x, x),
         (V3, Arg((3,), -1, 1)), order=2),
    Case("fori_loop_pytree", lambda x, y: lax.fori_loop(
        0, 3, lambda i, c: (c[0] * c[1], c[1] + anp.sin(c[0])), (x, y))[0], (V3, V3)),
    Case("scan", lambda h, xs, w: _scan_rnn(h, xs, w), (V3, Arg((4, 3)), Arg((3,), -1, 1)),
         order=2),
    Case("scan_reverse", lambda xs: lax.scan(lambda c, x: (c * x + 1, c), 1.0, xs,
                                             reverse=True), (Arg((5,), 0.5, 1.5),)),
    Case("lax.map", lambda xs: lax.map(lambda x: anp.sum(anp.sin(x) * x), xs), (M34,)),
    Case("while_loop_counted", lambda x: lax.while_loop(lambda c: c[0] < 3, lambda c: (
        c[0] + 1, c[1] * anp.cos(c[1])), (0, x))[1], (V3,), order=2),
    Case("while_loop_fwd", lambda x: lax.while_loop(
        lambda c: anp.max(anp.abs(c)) < 10.0, lambda c: c * 1.7 + anp.sin(c), x),
         (Arg((3,), 0.5, 2.0),), modes=("fwd",), order=2),
    Case("nested_cond_in_loop", lambda x: lax.fori_loop(0, 3, lambda i, c: lax.cond(
        i % 2 == 0, lambda v: v * 2.0, lambda v: anp.sin(v), c), x), (V3,), order=2),
]

INDEXING_AND_WINDOWS = [
    Case("take", lambda x: anp.take(x, np.array([2, 0, 2]), axis=1) ** 2, (M34,), order=2),
    Case("take_along_axis", lambda x: anp.take_along_axis(x, np.array([[1], [0], [3]]), 1),
         (M34,)),
    Case("index_array", lambda x: x[np.array([2, 0]), 1:] * 2, (M34,)),
    Case("index_traced", lambda i, x: x[anp.astype(anp.abs(i) * 2.9, anp.int32)] ** 2,
         (Arg((2,), 0.1, 0.9), M34)),
    Case("at_set", lambda x, y: x.at[1].set(y * y) * x, (M34, Arg((4,))), order=2),
    Case("at_add_repeated", lambda x, y: x.at[np.array([0, 2, 0])].add(y) ** 2,
         (M34, Arg((3, 4)))),
    Case("sort", lambda x: anp.sort(x, axis=1) * anp.arange(4.0), (M34,)),
    Case("max_pool", lambda x: lax.max_pool(x, (2, 2), (1, 1)), (Arg((1, 4, 4, 2)),)),
    Case("avg_pool", lambda x: lax.avg_pool(x, (2, 2), (2, 1)), (Arg((1, 4, 4, 2)),)),
    Case("conv", lambda x, w: lax.conv(x, w, (1, 1), "SAME"),
         (Arg((1, 2, 5, 5)), Arg((3, 2, 3, 3))), order=2),
    Case("conv_strided_dilated", lambda x, w: lax.conv_general_dilated(
        x, w, (2, 1), ((1, 0), (2, 1)), lhs_dilation=(1, 2), rhs_dilation=(2, 1)),
         (Arg((2, 2, 5, 4)), Arg((3, 2, 2, 3)))),
    Case("conv_groups", lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "VALID", feature_group_count=2),
         (Arg((1, 4, 4, 4)), Arg((6, 2, 2, 2)))),
]

TABLE = ELEMENTWISE + SHAPES + REDUCTIONS + LINALG + NN + CONTROL + INDEXING_AND_WINDOWS


def _args(case: Case, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [a.sample(rng) for a in case.args]


def _rows(cases):
    """pytest params per (case, dtype)."""
    return [pytest.param(case, dt, id=f"{case.name}-{dt.name}")
            for case in cases for dt in case.dtypes]


def _rtol(case: Case, dt) -> float:
    return max(case.rtol, 2e-3 if dt == F16 else 0.0)


@pytest.mark.parametrize("case, dt", _rows(TABLE))
def test_first_order(case: Case, dt):
    check_derivatives(case.fn, _args(case, 0), dt, modes=case.modes, rtol=_rtol(case, dt))


@pytest.mark.parametrize("case, dt", _rows([c for c in TABLE if c.order >= 2]))
def test_second_order(case: Case, dt):
    check_second_order(case.fn, _args(case, 1), dt, modes=case.modes,
                       rtol=max(_rtol(case, dt), 1e-4))


def test_while_loop_reverse_mode_names_fori_loop_and_scan():
    case = next(c for c in CONTROL if c.name == "while_loop_fwd")
    with pytest.raises(aotc.TracingError, match=r"fori_loop.*scan"):
        check_derivatives(case.fn, _args(case, 0), modes=("rev",))


def _ops_in(case: Case) -> set[str]:
    traced = interpreted(case.fn, [aotc.ShapeSpec(a.shape) for a in case.args]).traced
    names = set()

    def visit(op):
        from aotc.frontend.core.ir import ir

        names.add(registry.rule_key(op.operation))
        return ir.WalkResult.ADVANCE

    traced.module.operation.walk(visit)
    return names


# Ops with a JVP rule that no row of TABLE emits, and why.
DYNAMIC = "dynamic shapes: grad/vmap checked in tests/passes/test_dynamic_slice_rules.py"
NOT_IN_TABLE = {
    "stablehlo.dynamic_broadcast_in_dim": DYNAMIC,
    "stablehlo.dynamic_reshape": "dynamic shapes (tests/frontend/test_papercuts.py, via IREE)",
    "stablehlo.real_dynamic_slice": DYNAMIC, "stablehlo.get_dimension_size": DYNAMIC,
    "stablehlo.optimization_barrier": "emitted by checkpoint: tests/passes/test_autodiff_api.py",
    "stablehlo.shift_left": "integer only: its zero JVP is checked by registry.is_zero_jvp",
    "stablehlo.shift_right_arithmetic": "integer only: zero JVP",
    "stablehlo.shift_right_logical": "integer only: zero JVP",
    "stablehlo.xor": "integer/bool only: zero JVP",
    "stablehlo.round_nearest_afz": "piecewise constant: zero JVP (anp.round emits round_even)",
    "stablehlo.popcnt": "integer only: zero JVP", "stablehlo.count_leading_zeros": "integer only",
    "stablehlo.bitcast_convert": "reinterprets bits: zero JVP (tests/frontend/test_lax_more.py)",
    "stablehlo.custom_call @aotc.debug_print": "no results: nothing to differentiate",
    **{f"stablehlo.custom_call @{target}": "JAX's LAPACK calls expand into frontend/linalg: "
       "grads and jvps vs JAX in tests/passes/test_lapack_import.py"
       for target in lapack_calls.targets()},
    "stablehlo.custom_call @aotc.transfer": "device moves: tests/frontend/test_shard_map.py",
    "stablehlo.custom_call @aotc.collective": "mapped bodies: grads in "
                                               "tests/frontend/test_collectives.py",
    **{f"chlo.{name}": "special function: grads vs jax.grad in tests/frontend/test_lax_more.py"
       for name in ("lgamma", "digamma", "erf_inv", "polygamma", "zeta", "bessel_i1e")},
    **{f"chlo.{name}": "on JAX's exports vs jax.grad/jvp: tests/passes/test_jax_export_rules.py"
       for name in ("top_k", "next_after")},
    **{f"stablehlo.{name}": "complex64: grads/jvp vs JAX in tests/frontend/test_complex_grad.py"
       for name in ("complex", "real", "imag")},
    "stablehlo.fft": "complex64: grads/jvp vs JAX in tests/frontend/test_fft.py",
    "stablehlo.dynamic_iota": "symbolic dims: grad vs JAX in tests/frontend/test_symbolic_dims.py",
}


def test_table_covers_every_op_with_a_derivative_rule():
    """Every op with a JVP rule is emitted by some row (the table cannot silently lag), and
    every op of NOT_IN_TABLE is a zero-JVP op or has a reason pointing elsewhere."""
    covered = set().union(*[_ops_in(case) for case in TABLE])
    missing = set(registry.JVP) - covered - set(NOT_IN_TABLE)
    assert not missing, f"ops with JVP rules that no spec row exercises: {sorted(missing)}"
    stale = (set(NOT_IN_TABLE) & covered) | (set(NOT_IN_TABLE) - set(registry.JVP))
    assert not stale, f"NOT_IN_TABLE rows that a row covers or the registry lacks: {stale}"


# ---- the transpose identity <ct, L t> = <L^T ct, t>, on random compositions of linear ops ------

def _linear_step(draw, shape):
    """Draw one linear op applicable to `shape`: (description, fn on tracers)."""
    rank = len(shape)
    kinds = ["scale", "broadcast", "concatenate", "pad", "matmul"]
    if rank:
        kinds += ["transpose", "reshape", "slice", "reverse", "sum", "cumsum", "dynamic_slice",
                  "dynamic_update_slice", "select"]
    kind = draw(st.sampled_from(kinds))
    axis = draw(st.integers(0, rank - 1)) if rank else 0
    seed = draw(st.integers(0, 2**16))
    const = np.random.default_rng(seed).uniform(-1, 1, shape)
    if kind == "scale":
        return kind, lambda x: x * const - x
    if kind == "broadcast":
        return kind, lambda x: anp.broadcast_to(x, (2, *shape))
    if kind == "concatenate":
        return kind, lambda x: anp.concatenate([anp.atleast_1d(x), anp.atleast_1d(x) * 2.0],
                                               axis=min(axis, max(rank - 1, 0)))
    if kind == "pad":
        pads = [(draw(st.integers(-1, 2)) if n > 1 else 0, draw(st.integers(0, 2)),
                 draw(st.integers(0, 1))) for n in shape]
        return f"pad{pads}", lambda x: lax.pad(x, 0.0, pads)
    if kind == "matmul":
        m = np.random.default_rng(seed).uniform(-1, 1, (shape[-1] if rank else 1, 2))
        return kind, lambda x: anp.atleast_1d(x) @ m
    if kind == "transpose":
        perm = draw(st.permutations(range(rank)))
        return f"transpose{perm}", lambda x: anp.transpose(x, perm)
    if kind == "reshape":
        return kind, lambda x: anp.reshape(x, shape[::-1])
    if kind == "slice":
        n = shape[axis]
        start, step = draw(st.integers(0, n - 1)), draw(st.sampled_from([1, 2, -1]))
        index = tuple([slice(None)] * axis + [slice(start, None, step)])
        return f"slice{index}", lambda x: x[index]
    if kind == "reverse":
        return kind, lambda x: anp.flip(x, axis)
    if kind == "sum":
        return kind, lambda x: anp.sum(x, axis=axis)
    if kind == "cumsum":
        return kind, lambda x: anp.cumsum(x, axis=axis)
    if kind == "select":
        return kind, lambda x: anp.where(const > 0, x, 0.0)
    starts = [draw(st.integers(0, n)) for n in shape]
    if kind == "dynamic_slice":
        sizes = [max(1, n - 1) for n in shape]
        return kind, lambda x: lax.dynamic_slice(x, starts, sizes)
    return kind, lambda x: lax.dynamic_update_slice(anp.zeros((2, *shape)), x[None] * 3.0,
                                                    [1, *starts])


@st.composite
def linear_programs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    steps, current = [], shape
    for _ in range(draw(st.integers(1, 4))):
        name, step = _linear_step(draw, current)
        steps.append((name, step))
        current = interpreted(lambda x, s=steps: _compose(s, x),
                              [aotc.ShapeSpec(shape)]).traced_out_shape
    return shape, steps


def _compose(steps, x):
    for _, step in steps:
        x = step(x)
    return x


@settings(max_examples=40, deadline=None, derandomize=True)
@given(linear_programs())
def test_transpose_identity_on_random_linear_programs(program):
    shape, steps = program
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal(shape), rng.standard_normal(shape)
    out_shape = interpreted(lambda v: _compose(steps, v), [aotc.ShapeSpec(shape)]) \
        .traced_out_shape
    ct = rng.standard_normal(out_shape)

    def pair(x, t, ct):
        fn = lambda v: _compose(steps, v)
        return aotc.jvp(fn, (x,), (t,))[1], aotc.vjp(fn, x)[1](ct)[0]

    specs = [aotc.ShapeSpec(shape), aotc.ShapeSpec(shape), aotc.ShapeSpec(out_shape)]
    tangent_out, x_ct = interpreted(pair, specs)(x, t, ct)
    lhs, rhs = float(np.vdot(ct, tangent_out)), float(np.vdot(x_ct, t))
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs)), [name for name, _ in steps]


# ---- a few rows through IREE (float32), grouped into one compiled function --------------------

IREE_ROWS = ["tanh[2, 3]", "power", "arctan2", "maximum", "clamp", "lax.pad_interior_negative",
             "dynamic_update_slice", "prod", "logsumexp", "cumsum", "matmul_batched",
             "einsum_bmm", "nn.gelu_exact", "cond", "switch_traced_index", "scan",
             "while_loop_counted"]


def test_derivatives_through_iree_match_interpreter():
    cases = [next(c for c in TABLE if c.name == name) for name in IREE_ROWS]
    rng = np.random.default_rng(3)
    inputs = [[a.astype(np.float32) for a in _args(c, 2)] for c in cases]
    tangents = [[rng.standard_normal(a.shape).astype(np.float32) for a in xs] for xs in inputs]

    def all_rows(inputs, tangents):
        results = {}
        for case, xs, ts in zip(cases, inputs, tangents):
            def scalar(*v, fn=case.fn):  # <f(x), 1>: its gradient is the VJP of ones
                return sum(anp.sum(o) for o in aotc.tree.leaves(fn(*v)))

            grads = aotc.grad(scalar, argnums=tuple(range(len(xs))))(*xs)
            results[case.name] = (grads, aotc.jvp(case.fn, tuple(xs), tuple(ts))[1])
        return results

    compiled = aotc.jit(all_rows)(inputs, tangents)
    reference = interpreted(all_rows, [aotc.tree.map(lambda a: aotc.ShapeSpec(a.shape), inputs),
                                       aotc.tree.map(lambda a: aotc.ShapeSpec(a.shape),
                                                     tangents)])(inputs, tangents)
    for name in IREE_ROWS:
        for got, want in zip(aotc.tree.leaves(compiled[name]), aotc.tree.leaves(reference[name])):
            np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4, err_msg=name)
