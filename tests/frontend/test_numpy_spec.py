"""Spec tables for aotc.numpy, in the style of JAX's LAX_OPS: one row per function.

Each row is a `Case`: how to call the function on a namespace `m` (aotc.numpy, numpy or
jax.numpy), the argument shapes and keyword variants, an input sampler per argument (domains
avoid singularities) and the dtypes it accepts. Every (case, dtype) is checked
- through the reference interpreter, against numpy values (computed in float64 for float
  results) and against jax.numpy result dtypes, weak types and integer/bool values;
- through IREE, grouped: one compiled function per family and dtype returns a dict of all its
  cases' results (about 30 compiles for the whole file).
The jax.numpy oracle is grouped the same way: one `jax.jit` per family and dtype.
"""

import functools
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc.frontend.core import tree

F32, F16, BF16 = np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)
I32, I8, U8, BOOL = np.dtype(np.int32), np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.bool_)
FLOATS = (F32, F16, BF16)
INTS = (I32, I8, U8)
NUMBERS = FLOATS + INTS
ALL = (*NUMBERS, BOOL)
INTS_BOOL = (*INTS, BOOL)
# (rtol, atol) by result dtype; a case's `tol` scales them.
TOL = {F32: (1e-5, 1e-6), F16: (4e-3, 4e-3), BF16: (3e-2, 3e-2)}

# ---- input samplers: (rng, shape, dtype) -> array ----------------------------------------------


def _int_range(dt, lo, hi):
    info = np.iinfo(dt)
    return max(math.ceil(lo), int(info.min)), min(math.floor(hi), int(info.max))


def uniform(lo, hi):
    """Floats uniform in [lo, hi); integers in [ceil(lo), floor(hi)]; random bools."""

    def sample(rng, shape, dt):
        if dt == BOOL:
            return rng.random(shape) < 0.5
        if dt.kind in "iu":
            a, b = _int_range(dt, lo, hi)
            return rng.integers(a, b + 1, shape).astype(dt)
        return rng.uniform(lo, hi, shape).astype(dt)

    return sample


def grid(lo, hi, step=0.25):
    """Multiples of `step` (exact in every float dtype): ties, equal values and exact sums."""

    def sample(rng, shape, dt):
        if dt == BOOL or dt.kind in "iu":
            return uniform(lo, hi)(rng, shape, dt)
        steps = rng.integers(math.ceil(lo / step), math.floor(hi / step) + 1, shape)
        return (steps * step).astype(dt)

    return sample


def choice(*values):
    """Values drawn from a list (integer dtypes keep the integral values they can hold)."""

    def sample(rng, shape, dt):
        if dt == BOOL:
            return rng.random(shape) < 0.5
        pool = values
        if dt.kind in "iu":
            info = np.iinfo(dt)
            pool = [v for v in values if float(v).is_integer() and info.min <= v <= info.max]
        return np.asarray(rng.choice(pool, shape)).astype(dt)

    return sample


def nonzero(hi, step=0.25):
    """Divisors: +-[step, hi] on a grid (ints: +-[1, hi]; unsigned: positive; bool: True)."""

    def sample(rng, shape, dt):
        if dt == BOOL:
            return np.ones(shape, bool)
        sign = rng.choice([-1, 1], shape) if dt.kind != "u" else 1
        if dt.kind in "iu":
            return (sign * rng.integers(1, int(hi) + 1, shape)).astype(dt)
        return (sign * rng.integers(1, int(hi / step) + 1, shape) * step).astype(dt)

    return sample


def shift_amount(rng, shape, dt):
    return rng.integers(0, dt.itemsize * 8, shape).astype(dt)


def condition(rng, shape, dt):
    return rng.random(shape) < 0.5


def fixed(*values):
    """Exactly these values (the variant's shape must be (len(values),))."""
    return lambda rng, shape, dt: np.asarray(values, np.float64).astype(dt).reshape(shape)


def divisor(rng, shape, dt):
    """Divisors whose quotients of grid values are never near (but not at) an integer."""
    if dt in FLOATS:
        return choice(-2.5, -1.5, -0.75, 0.75, 1.5, 2.5, 3)(rng, shape, dt)
    return nonzero(5)(rng, shape, dt)


SPECIAL = choice(-np.inf, np.inf, np.nan, 0.0, 1.5, -2.0, 7.0)

# ---- cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One aotc.numpy function (or operator) with its argument variants and dtypes.

    `call(m, *arrays, **kwargs)` runs it with m = aotc.numpy, numpy or jax.numpy; each variant
    is (shapes of the array arguments, kwargs); `pass_dtype` adds `dtype=<the case dtype>`.
    """

    name: str
    call: Callable
    variants: tuple
    samplers: tuple
    dtypes: tuple
    tol: float = 1.0
    pass_dtype: bool = False

    def kwargs(self, variant: int, dt) -> dict:
        kw = dict(self.variants[variant][1])
        return {**kw, "dtype": dt} if self.pass_dtype else kw


def fn(name):
    return lambda m, *xs, **kw: getattr(m, name)(*xs, **kw)


def elementwise(name, call, samplers, dtypes, tol=1.0):
    shapes = {1: UNARY_SHAPES, 2: BINARY_SHAPES, 3: TERNARY_SHAPES}[len(samplers)]
    return Case(name, call, tuple((s, {}) for s in shapes), tuple(samplers), tuple(dtypes), tol)


UNARY_SHAPES = [((),), ((2, 3),)]
BINARY_SHAPES = [((), ()), ((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3))]
TERNARY_SHAPES = [((), (), ()), ((2, 3),) * 3, ((2, 3), (3,), ()), ((2, 1), (1, 3), (2, 3))]

# float math: integer inputs are promoted to float32 (integer samples come from the domain)
FLOAT_MATH = {
    "exp": (-3, 3), "exp2": (-3, 3), "expm1": (-1, 1), "log": (0.1, 5), "log1p": (-0.5, 3),
    "log2": (0.1, 5), "log10": (0.1, 5), "sqrt": (0, 5), "cbrt": (-5, 5), "sin": (-3, 3),
    "cos": (-3, 3), "tan": (-1.2, 1.2), "arcsin": (-0.95, 0.95), "arccos": (-0.95, 0.95),
    "arctan": (-3, 3), "sinh": (-2, 2), "cosh": (-2, 2), "tanh": (-3, 3), "arcsinh": (-3, 3),
    "arccosh": (1.05, 4), "arctanh": (-0.9, 0.9), "reciprocal": None,
}
_MATH_TOL = {"tan": 4.0, "arccosh": 4.0, "arctanh": 4.0, "exp2": 2.0, "log2": 2.0, "log10": 2.0}

UNARY = [
    elementwise(name, fn(name), [uniform(*dom) if dom else nonzero(3)], NUMBERS,
                _MATH_TOL.get(name, 1.0))
    for name, dom in FLOAT_MATH.items()
] + [
    elementwise("sqrt_bool", fn("sqrt"), [uniform(0, 1)], (BOOL,)),
    elementwise("abs", fn("abs"), [grid(-3, 3)], ALL),
    elementwise("absolute", fn("absolute"), [grid(-3, 3)], ALL),
    elementwise("positive", fn("positive"), [grid(-3, 3)], NUMBERS),
    elementwise("sign", fn("sign"), [grid(-3, 3)], NUMBERS),
    elementwise("negative", fn("negative"), [grid(-3, 3)], NUMBERS),
    elementwise("square", fn("square"), [grid(-3, 3)], NUMBERS),
    *[elementwise(name, fn(name), [grid(-3, 3)], NUMBERS) for name in ("floor", "ceil", "trunc")],
    elementwise("ceil_bool", fn("ceil"), [uniform(0, 1)], (BOOL,)),
    elementwise("round", fn("round"), [grid(-3, 3, 0.5)], NUMBERS),
    elementwise("round_decimals", lambda m, x: m.round(x, 1), [grid(-3, 3, 0.125)], (F32,)),
    elementwise("around", lambda m, x: m.around(x), [grid(-3, 3, 0.5)], NUMBERS),
    elementwise("clip", lambda m, x: m.clip(x, 1, 4), [grid(-1, 6)], NUMBERS),
    elementwise("clip_float_bounds", lambda m, x: m.clip(x, 0.5, 2.5), [grid(-1, 4)], NUMBERS),
    *[elementwise(name, fn(name), [SPECIAL], ALL) for name in ("isnan", "isinf", "isfinite")],
    elementwise("logical_not", fn("logical_not"), [grid(-1, 1)], ALL),
    elementwise("bitwise_not", fn("bitwise_not"), [uniform(-50, 50)], INTS_BOOL),
    elementwise("invert", fn("invert"), [uniform(-50, 50)], INTS_BOOL),
    elementwise("invert_op", lambda m, x: ~x, [uniform(-50, 50)], INTS_BOOL),
    elementwise("neg_op", lambda m, x: -x, [grid(-3, 3)], NUMBERS),
    elementwise("abs_op", lambda m, x: abs(x), [grid(-3, 3)], NUMBERS),
    # Python scalars are weakly typed: the array's dtype wins unless the kind changes
    elementwise("add_int_scalar", lambda m, x: x + 3, [grid(-3, 3)], NUMBERS),
    elementwise("mul_float_scalar", lambda m, x: x * 2.5, [grid(-3, 3)], ALL),
    elementwise("rsub_int_scalar", lambda m, x: 2 - x, [grid(-3, 3)], NUMBERS),
    elementwise("truediv_int_scalar", lambda m, x: x / 2, [grid(-3, 3)], ALL),
    elementwise("rtruediv_float_scalar", lambda m, x: 1.5 / x, [nonzero(3)], NUMBERS),
    elementwise("floordiv_int_scalar", lambda m, x: x // 3, [grid(-9, 9)], NUMBERS),
    elementwise("mod_int_scalar", lambda m, x: x % 3, [grid(-9, 9)], NUMBERS),
    elementwise("rmod_int_scalar", lambda m, x: 7 % x, [nonzero(5)], NUMBERS),
    elementwise("pow_int_scalar", lambda m, x: x**3, [grid(-3, 3)], NUMBERS),
    elementwise("pow_zero", lambda m, x: x**0, [grid(-3, 3)], NUMBERS),
    elementwise("pow_float_scalar", lambda m, x: x**0.5, [grid(0, 4)], NUMBERS, 2.0),
    elementwise("rpow_float_scalar", lambda m, x: 2.0**x, [grid(-3, 3)], NUMBERS, 2.0),
    elementwise("gt_int_scalar", lambda m, x: x > 1, [grid(-3, 3)], ALL),
    elementwise("eq_float_scalar", lambda m, x: x == 0.5, [grid(-1, 1)], NUMBERS),
    elementwise("maximum_int_scalar", lambda m, x: m.maximum(x, 2), [grid(-3, 3)], NUMBERS),
    elementwise("and_int_scalar", lambda m, x: x & 6, [uniform(-50, 50)], INTS),
    elementwise("rshift_int_scalar", lambda m, x: x >> 2, [uniform(-50, 50)], INTS),
]

BINARY = [
    *[elementwise(name, fn(name), [grid(-3, 3)] * 2, ALL)
      for name in ("add", "multiply", "maximum", "minimum", "equal", "not_equal", "less",
                   "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
                   "logical_xor")],
    elementwise("subtract", fn("subtract"), [grid(-3, 3)] * 2, NUMBERS),
    elementwise("divide", fn("divide"), [grid(-3, 3), nonzero(3)], ALL),
    elementwise("true_divide", fn("true_divide"), [grid(-3, 3), nonzero(3)], ALL),
    *[elementwise(name, fn(name), [grid(-9, 9), divisor], NUMBERS)
      for name in ("floor_divide", "remainder", "mod", "fmod")],
    Case("divmod_inexact", lambda m, x, y: (m.floor_divide(x, y), m.remainder(x, y)),
         ((((5,), (5,)), {}),), (fixed(1, -1, 0.7, 5, -5), fixed(0.1, 0.1, 0.1, -0.1, 0.3)),
         FLOATS),
    elementwise("power", fn("power"), [uniform(0.1, 3), uniform(-2, 2)], FLOATS),
    elementwise("power_int", fn("power"), [uniform(-4, 4), uniform(0, 3)], INTS),
    elementwise("float_power", fn("float_power"), [uniform(0.1, 3), uniform(-2, 2)], (F32, I32)),
    elementwise("logaddexp", fn("logaddexp"), [uniform(-5, 5)] * 2, NUMBERS),
    elementwise("arctan2", fn("arctan2"), [uniform(-3, 3)] * 2, NUMBERS),
    elementwise("hypot", fn("hypot"), [uniform(-3, 3)] * 2, NUMBERS),
    *[elementwise(name, fn(name), [uniform(-50, 200)] * 2, INTS_BOOL)
      for name in ("bitwise_and", "bitwise_or", "bitwise_xor")],
    *[elementwise(name, fn(name), [uniform(-50, 200), shift_amount], INTS)
      for name in ("left_shift", "right_shift")],
    elementwise("where", lambda m, c, x, y: m.where(c, x, y), [condition, grid(-3, 3),
                                                                grid(-3, 3)], ALL),
    elementwise("clip_arrays", lambda m, x, lo, hi: m.clip(x, lo, hi),
                [grid(-3, 3), grid(-3, 0), grid(1, 3)], NUMBERS),
    elementwise("add_op", lambda m, x, y: x + y, [grid(-3, 3)] * 2, NUMBERS),
    elementwise("sub_op", lambda m, x, y: x - y, [grid(-3, 3)] * 2, NUMBERS),
    elementwise("mul_op", lambda m, x, y: x * y, [grid(-3, 3)] * 2, NUMBERS),
    elementwise("truediv_op", lambda m, x, y: x / y, [grid(-3, 3), nonzero(3)], NUMBERS),
    elementwise("floordiv_op", lambda m, x, y: x // y, [grid(-9, 9), divisor], NUMBERS),
    elementwise("mod_op", lambda m, x, y: x % y, [grid(-9, 9), divisor], NUMBERS),
    elementwise("pow_op", lambda m, x, y: x**y, [uniform(0.5, 2), grid(-2, 2)], FLOATS),
    elementwise("lt_op", lambda m, x, y: x < y, [grid(-1, 1)] * 2, NUMBERS),
    elementwise("ne_op", lambda m, x, y: x != y, [grid(-1, 1)] * 2, NUMBERS),
    elementwise("or_op", lambda m, x, y: x | y, [uniform(-50, 50)] * 2, INTS_BOOL),
    elementwise("rshift_op", lambda m, x, y: x >> y, [uniform(-50, 50), shift_amount], INTS),
]


def reduction(name, variants, dtypes, sampler=None, tol=1.0, shape=(2, 3, 4)):
    return Case(name, fn(name), tuple(((shape,), kw) for kw in variants), (sampler or grid(-2, 2),),
                tuple(dtypes), tol)


AXES = [{}, {"axis": 0}, {"axis": -1}, {"axis": (0, 2)}, {"axis": (-1, 0)},
        {"axis": 1, "keepdims": True}, {"axis": None, "keepdims": True},
        {"axis": (0, 1), "keepdims": True}]
ARG_AXES = [{}, {"axis": 0}, {"axis": -1}, {"axis": 1, "keepdims": True},
            {"axis": None, "keepdims": True}]

REDUCE = [
    reduction("sum", AXES, ALL),
    reduction("prod", AXES, ALL, choice(-1, 1, 2, 0.5, 1, -1)),
    reduction("max", AXES, ALL),
    reduction("min", AXES, ALL),
    reduction("amax", AXES[:3], ALL),
    reduction("amin", AXES[:3], ALL),
    reduction("all", AXES, ALL, grid(-1, 1)),
    reduction("any", AXES, ALL, choice(0, 0, 0, 0, 0, 2)),
    reduction("mean", AXES, ALL),
    reduction("var", [*AXES, {"axis": 1, "ddof": 1}], ALL, tol=3.0),
    reduction("std", [*AXES[:4], {"axis": (0, 2), "ddof": 1, "keepdims": True}], NUMBERS,
              uniform(-2, 2), tol=3.0),
    reduction("argmax", ARG_AXES, ALL),
    reduction("argmin", ARG_AXES, ALL),
    Case("sum_dtype", lambda m, x: m.sum(x, axis=1, dtype=np.float32), ((((2, 3),), {}),),
         (grid(-2, 2),), (I8, U8, BOOL, F16)),
]


def shaped(name, call, variants, n_args=1, dtypes=(F32, BF16, I8, BOOL)):
    return Case(name, call, tuple(variants), (uniform(-50, 50),) * n_args, dtypes)


S234 = ((2, 3, 4),)
SHAPE = [
    shaped("reshape", lambda m, x, shape: m.reshape(x, shape), [(S234, {"shape": s}) for s in
                                       [(6, -1), (-1,), (4, 3, 2), (24, 1), (-1, 2, 2)]]),
    shaped("reshape_method", lambda m, x: x.reshape(4, -1), [(S234, {})]),
    shaped("ravel", fn("ravel"), [(S234, {}), (((),), {})]),
    shaped("transpose", fn("transpose"),
           [(S234, {}), (S234, {"axes": (1, 0, 2)}), (S234, {"axes": (-1, 0, 1)})]),
    shaped("T", lambda m, x: x.T, [(((2, 3),), {})]),
    shaped("swapaxes", fn("swapaxes"),
           [(S234, {"axis1": 0, "axis2": -1}), (S234, {"axis1": 2, "axis2": 1})]),
    shaped("moveaxis", fn("moveaxis"), [(S234, {"source": 0, "destination": -1}),
                                        (S234, {"source": (0, 1), "destination": (-1, -3)}),
                                        (S234, {"source": -1, "destination": 1})]),
    shaped("expand_dims", fn("expand_dims"),
           [(S234, {"axis": 0}), (S234, {"axis": -1}), (S234, {"axis": (0, 2)}),
            (((),), {"axis": 0})]),
    shaped("squeeze", fn("squeeze"),
           [(((1, 3, 1),), {}), (((1, 3, 1),), {"axis": 0}), (((1, 3, 1),), {"axis": (0, -1)}),
            (((1, 3, 1),), {"axis": -1}), (((1,),), {})]),
    shaped("broadcast_to", fn("broadcast_to"),
           [(((3,),), {"shape": (2, 3)}), (((2, 1),), {"shape": (2, 4)}),
            (((),), {"shape": (2, 2)}), (((1, 3),), {"shape": (2, 2, 3)})]),
    shaped("concatenate", lambda m, *xs, **kw: m.concatenate(xs, **kw),
           [(((2, 3), (4, 3)), {"axis": 0}), (((2, 3), (2, 1)), {"axis": -1}),
            (((2, 3), (3,)), {"axis": None})], 2),
    shaped("concatenate3", lambda m, *xs: m.concatenate(xs, 1), [(((2, 1), (2, 2), (2, 3)), {})],
           3),
    shaped("stack", lambda m, *xs, **kw: m.stack(xs, **kw),
           [(((2, 3),) * 2, {"axis": 0}), (((2, 3),) * 2, {"axis": -1}),
            (((2, 3),) * 2, {"axis": 1}), (((),) * 2, {})], 2),
    shaped("hstack", lambda m, *xs: m.hstack(xs),
           [(((3,), (2,)), {}), (((2, 3), (2, 1)), {}), (((), ()), {})], 2),
    shaped("vstack", lambda m, *xs: m.vstack(xs),
           [(((3,), (3,)), {}), (((2, 3), (1, 3)), {}), (((2, 3), (3,)), {})], 2),
    shaped("split", lambda m, x, **kw: m.split(x, **kw),
           [(((6, 4),), {"indices_or_sections": 3}), (((6, 4),), {"indices_or_sections": [1, 3],
                                                                   "axis": 1}),
            (((6, 4),), {"indices_or_sections": 2, "axis": -1})]),
    shaped("flip", fn("flip"), [(S234, {}), (S234, {"axis": 0}), (S234, {"axis": (0, 2)}),
                                (S234, {"axis": -1})]),
    shaped("fliplr", fn("fliplr"), [(S234, {}), (((2, 3),), {})]),
    shaped("flipud", fn("flipud"), [(S234, {}), (((3,),), {})]),
    shaped("atleast_1d", fn("atleast_1d"), [(((),), {}), (((3,),), {}), (S234, {})]),
    shaped("atleast_2d", fn("atleast_2d"), [(((),), {}), (((3,),), {}), (S234, {})]),
]


def linear(name, call, variants, dtypes=(F32, F16, BF16, I32, I8), tol=1.0):
    n_args = max(len(shapes) for shapes, _ in variants)
    return Case(name, call, tuple(variants), (grid(-3, 3),) * n_args, dtypes, tol)


def two(*pairs):
    return [((a, b), {}) for a, b in pairs]


def einsum(m, *xs, spec):
    return m.einsum(spec, *xs)


LINALG = [
    linear("matmul", fn("matmul"), two(
        ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 5)), ((3, 4), (2, 4, 5)),
        ((2, 3, 4), (4,)))),
    linear("matmul_op", lambda m, x, y: x @ y, two(((3, 4), (4, 2)), ((2, 3, 4), (4,)))),
    linear("dot", fn("dot"), two(((3, 4), (4, 5)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                                 ((2, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((), (2, 3)),
                                 ((2, 3, 4), (4,)))),
    linear("vdot", fn("vdot"), two(((2, 3), (3, 2)), ((4,), (4,)))),
    linear("inner", fn("inner"), two(((2, 3), (4, 3)), ((3,), (3,)), ((2, 2, 3), (3,)))),
    linear("outer", fn("outer"), two(((3,), (4,)), ((2, 2), (3,)))),
    linear("tensordot", fn("tensordot"), [
        (((2, 3, 4), (3, 4, 5)), {}), (((2, 3), (3, 4)), {"axes": 1}),
        (((2, 3, 4), (4, 3, 2)), {"axes": ([1, 2], [1, 0])}), (((2, 3), (4, 5)), {"axes": 0}),
        (((2, 3), (2, 4)), {"axes": (0, 0)})]),
    linear("einsum", einsum, [
        (((3, 4), (4, 5)), {"spec": "ij,jk->ik"}), (((3, 4), (4, 5)), {"spec": "ij,jk"}),
        (((2, 3, 4), (2, 4, 5)), {"spec": "bij,bjk->bik"}),
        (((3, 4), (5, 4)), {"spec": "ij,kj->ki"}), (((4,), (4,)), {"spec": "i,i->"}),
        (((3,), (4,)), {"spec": "i,j->ij"}), (((3, 4), (4,)), {"spec": "ij,j->i"}),
        (((2, 3, 4), (2, 4, 5)), {"spec": "ijk,ikl->jl"}),
        (((2, 3), (3, 4)), {"spec": "ij,jk->k"}),
        (((3, 4),), {"spec": "ij->ji"}), (((3, 4),), {"spec": "ij->"}),
        (((2, 3, 4),), {"spec": "ijk->kj"}), (((2, 3, 4),), {"spec": "ijk"})]),
    linear("trace", fn("trace"), [
        (((3, 3),), {}), (((3, 4),), {"offset": 1}), (((4, 3),), {"offset": -1}),
        (((2, 3, 3),), {"axis1": 1, "axis2": 2}), (((3, 2, 3),), {"axis1": 0, "axis2": 2,
                                                                  "offset": 1})]),
    linear("triu", fn("triu"), [(((3, 4),), {}), (((3, 4),), {"k": 1}), (((2, 3, 3),), {"k": -1})],
           ALL),
    linear("tril", fn("tril"), [(((3, 4),), {}), (((4, 3),), {"k": -1}), (((2, 3, 3),), {"k": 1})],
           ALL),
]


def created(name, call, variants, dtypes=(F32,), pass_dtype=False, n_args=0):
    return Case(name, call, tuple(variants), (uniform(-3, 3),) * n_args, dtypes,
                pass_dtype=pass_dtype)


def arange(m, args, **kw):
    return m.arange(*args, **kw)


CREATION = [
    created("zeros", fn("zeros"), [((), {"shape": (2, 3)}), ((), {"shape": 4})], ALL, True),
    created("ones", fn("ones"), [((), {"shape": (2, 3)}), ((), {"shape": ()})], ALL, True),
    created("full", fn("full"), [((), {"shape": (2, 3), "fill_value": 2})], ALL, True),
    created("full_weak", fn("full"), [((), {"shape": (2, 3), "fill_value": 2}),
                                      ((), {"shape": 3, "fill_value": 1.5}),
                                      ((), {"shape": 3, "fill_value": True})]),
    created("zeros_like", fn("zeros_like"), [(((2, 3),), {})], ALL, n_args=1),
    created("ones_like", fn("ones_like"), [(((2, 3),), {}), (((2, 3),), {"dtype": I8})], ALL,
            n_args=1),
    created("full_like", fn("full_like"), [(((2, 3),), {"fill_value": 1.5}),
                                           (((3,),), {"fill_value": 2, "dtype": F16})], ALL,
            n_args=1),
    created("arange", arange, [
        ((), {"args": (5,)}), ((), {"args": (1, 10, 3)}), ((), {"args": (10, 1, -2)}),
        ((), {"args": (0.0, 1.0, 0.25)}), ((), {"args": (1.5, 4)}),
        ((), {"args": (3,), "dtype": F32}), ((), {"args": (-2, 3), "dtype": I8})]),
    created("arange_dtype", arange, [((), {"args": (6,)}), ((), {"args": (1, 7, 2)})], NUMBERS,
            True),
    created("linspace", fn("linspace"), [
        ((), {"start": 0, "stop": 1, "num": 5}), ((), {"start": -1.0, "stop": 2.0, "num": 7,
                                                       "endpoint": False}),
        ((), {"start": 2, "stop": -2, "num": 3}), ((), {"start": 0, "stop": 1, "num": 1})]),
    created("linspace_dtype", fn("linspace"), [((), {"start": 0, "stop": 1, "num": 5})],
            FLOATS, True),
    created("eye", fn("eye"), [((), {"N": 3}), ((), {"N": 2, "M": 4, "k": 1}),
                               ((), {"N": 4, "M": 3, "k": -2})], ALL, True),
    created("identity", fn("identity"), [((), {"n": 3})], ALL, True),
    created("asarray", fn("asarray"), [(((2, 3),), {}), (((),), {})], ALL, n_args=1),
    created("array", fn("array"), [(((2, 3),), {})], ALL, n_args=1),
    created("tri", fn("tri"), [((), {"N": 3}), ((), {"N": 2, "M": 4, "k": 1}),
                               ((), {"N": 4, "M": 3, "k": -1})], ALL, True),
]

_SIGNED = choice(-100, -2.75, -1, -0.25, 0, 0, 0.25, 1, 2.5, 100)
_UNSIGNED = choice(0, 0.25, 1, 2.75, 100)
ASTYPE = [
    Case("astype", lambda m, x, to: x.astype(to),
         tuple((((2, 5),), {"to": d}) for d in ALL if d != U8), (_SIGNED,), ALL),
    Case("astype_uint8", lambda m, x: x.astype(U8), ((((2, 5),), {}),), (_UNSIGNED,), ALL),
    Case("astype_function", lambda m, x, to: m.astype(x, to),
         tuple((((2, 5),), {"to": d}) for d in (F32, I32, BOOL)), (_SIGNED,), ALL),
]

FAMILIES = {"unary": UNARY, "binary": BINARY, "reduce": REDUCE, "shape": SHAPE,
            "linalg": LINALG, "creation": CREATION, "astype": ASTYPE}
# IREE compiles one function per (family, dtype); None: one function for all dtypes.
IREE_DTYPES = {"unary": ALL, "binary": ALL, "reduce": ALL, "shape": (F32, BF16, BOOL),
               "linalg": (F32, F16, BF16, I32, I8), "creation": None, "astype": None}
# Broadcasting is the frontend's: IREE sees the 0-d and the (2, 3) + (3,) binary variants only.
IREE_VARIANTS = {"binary": (0, 2)}
CASES = {(family, c.name): c for family, cases in FAMILIES.items() for c in cases}
assert len(CASES) == sum(len(cases) for cases in FAMILIES.values()), "case names must be unique"

# ---- running a case ------------------------------------------------------------------------------


def _key(family, case, dt, variant) -> str:
    return f"{family}.{case.name}.{dt.name}.{variant}"


@functools.cache
def _inputs(family, name, dt) -> dict:
    case = CASES[family, name]
    out = {}
    for v, (shapes, _) in enumerate(case.variants):
        key = _key(family, case, dt, v)
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        out[key] = tuple(sample(rng, shape, dt) for sample, shape in zip(case.samplers, shapes))
    return out


def _program(m, entries):
    """A function of {key: args} running each entry's case in namespace m."""

    def run(inputs):
        return {key: case.call(m, *inputs[key], **case.kwargs(v, dt))
                for key, (case, dt, v) in entries.items()}

    return run


def _entries(family, names_dtypes):
    return {_key(family, CASES[family, n], dt, v): (CASES[family, n], dt, v)
            for n, dt in names_dtypes for v in range(len(CASES[family, n].variants))}


def _group(family, dt):
    """The (case name, dtype) pairs compiled together with dtype dt (None: all dtypes)."""
    return [(c.name, d) for c in FAMILIES[family] for d in c.dtypes if dt is None or d == dt]


def _is_float(dt) -> bool:
    return np.dtype(dt) in (F16, F32, BF16, np.dtype(np.float64))


def _leaves(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


@functools.cache
def _jax_types(family, name, dt) -> dict:
    """jax.numpy's (shape, dtype, weak_type) of each variant's results, by abstract evaluation."""
    out = jax.eval_shape(_program(jnp, _entries(family, [(name, dt)])), _inputs(family, name, dt))
    return {k: [(s.shape, s.dtype, s.weak_type) for s in _leaves(v)] for k, v in out.items()}


@functools.cache
def _iree_group(family, dt):
    """aotc's IREE results for a whole family (and dtype), from one aotc.jit; errors are kept."""
    entries = {k: e for k, e in _entries(family, _group(family, dt)).items()
               if e[2] in IREE_VARIANTS.get(family, range(len(e[0].variants)))}
    inputs = {k: _inputs(family, case.name, d)[k] for k, (case, d, _) in entries.items()}
    try:
        return aotc.jit(_program(anp, entries))(inputs)
    except Exception as exc:  # noqa: BLE001  re-raised by every test of the group
        return exc


def _numpy_reference(case, dt, v, args, inexact):
    """numpy's result; float results are computed in float64 from the (exact) upcast inputs."""
    kw = case.kwargs(v, dt)
    if inexact:
        args = tuple(a if a.dtype == BOOL else a.astype(np.float64) for a in args)
        if "dtype" in kw:
            kw["dtype"] = np.float64
    with np.errstate(all="ignore"):
        return _leaves(case.call(np, *args, **kw))


def _compare(actual, weak, ref, oracle, where, tol):
    assert len(actual) == len(ref) == len(oracle), f"{where}: number of results"
    for i, (a, r, (o_shape, o_dtype, o_weak)) in enumerate(zip(actual, ref, oracle)):
        a, r = np.asarray(a), np.asarray(r)
        at = f"{where} result {i}"
        assert a.shape == o_shape == r.shape, f"{at}: shape {a.shape}, jax {o_shape}, np {r.shape}"
        assert a.dtype == o_dtype, f"{at}: dtype {a.dtype}, jax.numpy gives {o_dtype}"
        if weak is not None and a.dtype != BOOL:  # a weak bool promotes like a strong one
            assert weak[i] == o_weak, f"{at}: weak_type {weak[i]}, jax.numpy gives {o_weak}"
        if _is_float(a.dtype):
            rtol, atol = TOL[a.dtype]
            np.testing.assert_allclose(a.astype(np.float64), r.astype(np.float64), rtol * tol,
                                       atol * tol, equal_nan=True, err_msg=f"{at}: vs numpy")
        else:
            np.testing.assert_array_equal(a, r.astype(a.dtype), err_msg=f"{at}: vs numpy")


def _check(family, name, dt, results, weak_of):
    """Compare each variant's results (key -> leaves) with numpy and the jax.numpy oracle."""
    case = CASES[family, name]
    oracle = _jax_types(family, name, dt)
    for key, args in _inputs(family, name, dt).items():
        if key not in results:  # a variant IREE does not compile
            continue
        v = int(key.rsplit(".", 1)[1])
        inexact = any(_is_float(o_dtype) for _, o_dtype, _ in oracle[key])
        ref = _numpy_reference(case, dt, v, args, inexact)
        where = f"{name}[{dt.name}, variant {v}: {case.variants[v]}]"
        _compare(_leaves(results[key]), weak_of(key), ref, oracle[key], where, case.tol)


def _items(families, dtype_filter=None):
    for family in families:
        for case in FAMILIES[family]:
            for dt in case.dtypes:
                if dtype_filter is None or dtype_filter(family, dt):
                    yield pytest.param(family, case.name, dt, id=f"{family}-{case.name}-{dt.name}")


@functools.cache
def _interpreted(family, name, dt):
    """aotc's results for one case and dtype through the reference interpreter: (values, weak)."""
    inputs = _inputs(family, name, dt)
    traced = aotc.lower(_program(anp, _entries(family, [(name, dt)])), inputs)
    outs = aotc.interpret(traced.module, traced.name, *tree.leaves(inputs))
    return (tree.unflatten(traced.out_tree, outs),
            tree.unflatten(traced.out_tree, traced.out_weak))


@pytest.mark.parametrize("family,name,dt", list(_items(FAMILIES)))
def test_interpreter_matches_numpy_and_jax(family, name, dt):
    results, weak = _interpreted(family, name, dt)
    _check(family, name, dt, results, lambda key: _leaves(weak[key]))


# Integer semantics checked value by value against jax.numpy (floor division and modulo of
# negatives, arithmetic shifts, wrapping, float -> int truncation): the (2, 3) variant of each
# integer case, and float -> integer casts. Division by zero is out of scope.
INT_SEMANTICS = [
    *[("binary", n) for n in ("floor_divide", "remainder", "fmod", "left_shift", "right_shift",
                              "power_int", "floordiv_op", "mod_op", "rshift_op", "subtract")],
    *[("unary", n) for n in ("floordiv_int_scalar", "mod_int_scalar", "rmod_int_scalar",
                             "rshift_int_scalar", "neg_op", "abs", "sign", "bitwise_not",
                             "pow_int_scalar", "rsub_int_scalar")],
]
INT_ITEMS = [(f, n, dt, 1) for f, n in INT_SEMANTICS for dt in INTS] + [
    ("astype", name, dt, v) for name in ("astype", "astype_uint8") for dt in FLOATS
    for v, (_, kw) in enumerate(CASES["astype", name].variants) if kw.get("to", U8) in INTS]


@functools.cache
def _jax_integer_values() -> dict:
    """jax.numpy's values for every INT_ITEMS entry, from one jax.jit."""
    entries, inputs = {}, {}
    for family, name, dt, v in INT_ITEMS:
        key = _key(family, CASES[family, name], dt, v)
        entries[key] = (CASES[family, name], dt, v)
        inputs[key] = _inputs(family, name, dt)[key]
    out = jax.jit(_program(jnp, entries))(inputs)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("family,name,dt,v", [pytest.param(
    *item, id=f"{item[0]}-{item[1]}-{item[2].name}-{item[3]}") for item in INT_ITEMS])
def test_integer_semantics_match_jax(family, name, dt, v):
    key = _key(family, CASES[family, name], dt, v)
    actual, expected = _interpreted(family, name, dt)[0][key], _jax_integer_values()[key]
    assert actual.dtype == expected.dtype, f"{key}: dtype {actual.dtype} vs {expected.dtype}"
    np.testing.assert_array_equal(actual, expected, err_msg=f"{key} vs jax.numpy")


def _compiled(family, dt):
    return IREE_DTYPES[family] is None or dt in IREE_DTYPES[family]


@pytest.mark.slow
@pytest.mark.parametrize("family,name,dt", list(_items(FAMILIES, _compiled)))
def test_iree_matches_numpy_and_jax(family, name, dt):
    results = _iree_group(family, dt if IREE_DTYPES[family] is not None else None)
    if isinstance(results, Exception):
        raise results
    _check(family, name, dt, results, lambda key: None)
