"""Registry completeness: every op aotc defines has a type rule, a numpy reference, and an example.

Each example is a hand-written StableHLO module (the spelling other tools export) that uses the
op. The test parses it, checks that the op's type rule gives the result types the module states,
evaluates it with the reference interpreter and compares with a numpy expectation written here,
independently of the op's IMPL.
"""

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import special

import aotc
from aotc.frontend.core import registry
from aotc.frontend.core.emit import Attrs
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.linalg import lapack_calls

f32, i32 = np.float32, np.int32


@dataclass(frozen=True)
class Example:
    text: str
    inputs: tuple
    expected: tuple


def _type(array) -> str:
    dtype = {np.dtype(f32): "f32", np.dtype(i32): "i32", np.dtype(bool): "i1",
             np.dtype(np.complex64): "complex<f32>"}[array.dtype]
    return f"tensor<{''.join(f'{d}x' for d in array.shape)}{dtype}>"


def example(body: str, inputs: dict, outputs: dict, result_types=None) -> Example:
    """A module whose @main takes `inputs` (name -> array) and returns `outputs` (name -> array).

    `body` uses %name for the inputs and defines each output's %name; `result_types` overrides
    the returned types (for dynamic shapes).
    """
    inputs = {k: np.asarray(v) for k, v in inputs.items()}
    outputs = {k: np.asarray(v) for k, v in outputs.items()}
    types = result_types or [_type(v) for v in outputs.values()]
    params = ", ".join(f"%{k}: {_type(v)}" for k, v in inputs.items())
    lines = "\n    ".join(line.strip() for line in body.strip().splitlines())
    text = (f"func.func @main({params}) -> ({', '.join(types)}) {{\n    {lines}\n"
            f"    return {', '.join('%' + k for k in outputs)} : {', '.join(types)}\n}}")
    return Example(text, tuple(inputs.values()), tuple(outputs.values()))


def _f64(fn):
    """fn evaluated in float64, rounded to float32."""
    return lambda *xs: np.asarray(fn(*[np.asarray(x, np.float64) for x in xs])).astype(f32)


X = np.array([-1.5, -0.5, 0.5, 2.5], f32)  # halves: rounding modes differ
P = np.array([0.1, 0.3, 0.5, 0.9], f32)  # inside (-1, 1)
G = np.array([1.2, 1.5, 2.0, 3.0], f32)  # at least 1
A = np.array([-7, -8, 5, 3], i32)
B = np.array([2, 3, -2, 1], i32)
M = np.arange(6, dtype=f32).reshape(2, 3)
T4 = "tensor<4xf32>"

_UNARY = {  # op: (input, numpy expectation)
    "stablehlo.abs": (X, np.abs), "stablehlo.cbrt": (X, np.cbrt), "stablehlo.ceil": (X, np.ceil),
    "stablehlo.cosine": (X, np.cos), "stablehlo.exponential": (X, np.exp),
    "stablehlo.exponential_minus_one": (X, np.expm1), "stablehlo.floor": (X, np.floor),
    "stablehlo.log": (G, np.log), "stablehlo.log_plus_one": (P, np.log1p),
    "stablehlo.logistic": (X, lambda x: 1 / (1 + np.exp(-x))), "stablehlo.negate": (X, np.negative),
    "stablehlo.round_nearest_afz": (X, lambda x: np.array([-2, -1, 1, 3])),
    "stablehlo.round_nearest_even": (X, lambda x: np.array([-2, 0, 0, 2])),
    "stablehlo.rsqrt": (G, lambda x: 1 / np.sqrt(x)), "stablehlo.sign": (X, np.sign),
    "stablehlo.sine": (X, np.sin), "stablehlo.sqrt": (G, np.sqrt), "stablehlo.tan": (P, np.tan),
    "stablehlo.tanh": (X, np.tanh), "chlo.asin": (P, np.arcsin), "chlo.acos": (P, np.arccos),
    "chlo.atan": (X, np.arctan), "chlo.sinh": (X, np.sinh), "chlo.cosh": (X, np.cosh),
    "chlo.asinh": (X, np.arcsinh), "chlo.acosh": (G, np.arccosh), "chlo.atanh": (P, np.arctanh),
    "chlo.erf": (X, np.vectorize(math.erf)), "chlo.erfc": (X, np.vectorize(math.erfc)),
    "chlo.square": (X, np.square), "chlo.lgamma": (G, special.gammaln),
    "chlo.digamma": (X, special.digamma), "chlo.erf_inv": (P, special.erfinv),
    "chlo.bessel_i1e": (X, special.i1e),
}
_BINARY = {  # op on f32: (lhs, rhs, numpy expectation)
    "stablehlo.add": (X, G, np.add), "stablehlo.subtract": (X, G, np.subtract),
    "stablehlo.multiply": (X, G, np.multiply), "stablehlo.power": (G, X, np.power),
    "stablehlo.maximum": (X, P, np.maximum), "stablehlo.minimum": (X, P, np.minimum),
    "stablehlo.atan2": (X, G, np.arctan2), "chlo.zeta": (G, P, special.zeta),
    "chlo.polygamma": (np.array([0, 1, 2, 3], f32), G,
                       lambda n, x: special.polygamma(n.astype(int), x)),
}
_INT_BINARY = {  # op on i32 (and i1 where given): (rhs, numpy expectation)
    "stablehlo.shift_left": (np.array([1, 2, 3, 31], i32), np.left_shift),
    "stablehlo.shift_right_arithmetic": (np.array([1, 2, 3, 31], i32), np.right_shift),
    "stablehlo.shift_right_logical": (np.array([1, 28, 3, 31], i32), lambda a, b: (
        a.view(np.uint32) >> b.view(np.uint32)).view(i32)),
}
_BITWISE = {"stablehlo.and": np.bitwise_and, "stablehlo.or": np.bitwise_or,
            "stablehlo.xor": np.bitwise_xor}
TF = np.array([True, True, False, False])
FT = np.array([True, False, True, False])

OP_EXAMPLES = {
    **{op: example(f'%r = "{op}"(%x) : ({T4}) -> {T4}', {"x": x}, {"r": _f64(fn)(x)})
       for op, (x, fn) in _UNARY.items()},
    **{op: example(f'%r = "{op}"(%x, %y) : ({T4}, {T4}) -> {T4}', {"x": x, "y": y},
                   {"r": _f64(fn)(x, y)})
       for op, (x, y, fn) in _BINARY.items()},
    **{op: example(f'%r = "{op}"(%a, %b) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>',
                   {"a": A, "b": b}, {"r": fn(A, b)}) for op, (b, fn) in _INT_BINARY.items()},
    **{op: example(f"""
        %r = "{op}"(%a, %b) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
        %s = "{op}"(%p, %q) : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>""",
                   {"a": A, "b": B, "p": TF, "q": FT}, {"r": fn(A, B), "s": fn(TF, FT)})
       for op, fn in _BITWISE.items()},
    "stablehlo.divide": example("""
        %r = stablehlo.divide %x, %y : tensor<4xf32>
        %s = stablehlo.divide %a, %b : tensor<4xi32>""", {"x": X, "y": G, "a": A, "b": B},
        {"r": X / G, "s": np.array([-3, -2, -2, 3], i32)}),  # integers truncate toward zero
    "stablehlo.remainder": example("""
        %r = stablehlo.remainder %x, %y : tensor<4xf32>
        %s = stablehlo.remainder %a, %b : tensor<4xi32>""", {"x": X * 3, "y": G, "a": A, "b": B},
        {"r": np.fmod(X * 3, G), "s": np.array([-1, -2, 1, 0], i32)}),  # sign of the dividend
    "stablehlo.not": example("""
        %r = stablehlo.not %a : tensor<4xi32>
        %s = stablehlo.not %p : tensor<4xi1>""", {"a": A, "p": TF}, {"r": ~A, "s": ~TF}),
    "stablehlo.is_finite": example(
        "%r = stablehlo.is_finite %x : (tensor<4xf32>) -> tensor<4xi1>",
        {"x": np.array([np.inf, np.nan, 1.0, -np.inf], f32)},
        {"r": np.array([False, False, True, False])}),
    "stablehlo.compare": example("""
        %r = stablehlo.compare LT, %x, %y, FLOAT : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
        %s = stablehlo.compare GE, %a, %b, SIGNED : (tensor<4xi32>, tensor<4xi32>) ->
            tensor<4xi1>
        %t = stablehlo.compare NE, %x, %x, FLOAT : (tensor<4xf32>, tensor<4xf32>) ->
            tensor<4xi1>""",
        {"x": X, "y": P, "a": A, "b": B}, {"r": X < P, "s": A >= B, "t": X != X}),
    "stablehlo.select": example(
        "%r = stablehlo.select %p, %x, %y : tensor<4xi1>, tensor<4xf32>",
        {"p": TF, "x": X, "y": G}, {"r": np.where(TF, X, G)}),
    "stablehlo.clamp": example(
        "%r = stablehlo.clamp %lo, %x, %hi : (tensor<f32>, tensor<4xf32>, tensor<f32>) -> "
        "tensor<4xf32>", {"lo": f32(-1), "x": X, "hi": f32(1)}, {"r": np.clip(X, -1, 1)}),
    "stablehlo.convert": example("""
        %r = stablehlo.convert %x : (tensor<4xf32>) -> tensor<4xi32>
        %s = stablehlo.convert %a : (tensor<4xi32>) -> tensor<4xf32>""", {"x": X, "a": A},
        {"r": np.array([-1, 0, 0, 2], i32), "s": A.astype(f32)}),
    "stablehlo.constant": example(
        "%r = stablehlo.constant dense<[[1.5, 2.0], [3.0, -4.0]]> : tensor<2x2xf32>", {},
        {"r": np.array([[1.5, 2], [3, -4]], f32)}),
    "stablehlo.iota": example("%r = stablehlo.iota dim = 1 : tensor<2x3xi32>", {},
                              {"r": np.tile(np.arange(3, dtype=i32), (2, 1))}),
    "stablehlo.dynamic_iota": example(
        "%r = stablehlo.dynamic_iota %s, dim = 1 : (tensor<2xi32>) -> tensor<2x?xi32>",
        {"s": np.array([2, 3], i32)}, {"r": np.tile(np.arange(3, dtype=i32), (2, 1))},
        ["tensor<2x?xi32>"]),
    "stablehlo.broadcast_in_dim": example(
        "%r = stablehlo.broadcast_in_dim %v, dims = [1] : (tensor<3xf32>) -> tensor<2x3xf32>",
        {"v": M[1]}, {"r": np.stack([M[1], M[1]])}),
    "stablehlo.dynamic_broadcast_in_dim": example(
        "%r = stablehlo.dynamic_broadcast_in_dim %v, %s, dims = [1] : "
        "(tensor<3xf32>, tensor<2xi32>) -> tensor<?x3xf32>",
        {"v": M[1], "s": np.array([2, 3], i32)}, {"r": np.stack([M[1], M[1]])},
        ["tensor<?x3xf32>"]),
    "stablehlo.reshape": example("%r = stablehlo.reshape %m : (tensor<2x3xf32>) -> tensor<3x2xf32>",
                                 {"m": M}, {"r": M.reshape(3, 2)}),
    "stablehlo.dynamic_reshape": example(
        "%r = stablehlo.dynamic_reshape %m, %s : (tensor<2x3xf32>, tensor<2xi32>) -> "
        "tensor<?x2xf32>", {"m": M, "s": np.array([3, 2], i32)}, {"r": M.reshape(3, 2)},
        ["tensor<?x2xf32>"]),
    "stablehlo.transpose": example(
        "%r = stablehlo.transpose %m, dims = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>",
        {"m": M}, {"r": M.T}),
    "stablehlo.get_dimension_size": example(
        "%r = stablehlo.get_dimension_size %m, dim = 1 : (tensor<2x3xf32>) -> tensor<i32>",
        {"m": M}, {"r": i32(3)}),
    "stablehlo.slice": example(
        '%r = "stablehlo.slice"(%m) {start_indices = array<i64: 0, 0>, limit_indices = '
        'array<i64: 2, 3>, strides = array<i64: 1, 2>} : (tensor<2x3xf32>) -> tensor<2x2xf32>',
        {"m": M}, {"r": M[:, ::2]}),
    "stablehlo.dynamic_slice": example(
        '%r = "stablehlo.dynamic_slice"(%m, %i, %j) {slice_sizes = array<i64: 1, 2>} : '
        "(tensor<2x3xf32>, tensor<i32>, tensor<i32>) -> tensor<1x2xf32>",
        {"m": M, "i": i32(1), "j": i32(5)}, {"r": M[1:, 1:]}),  # starts clamp into bounds
    "stablehlo.dynamic_update_slice": example(
        '%r = "stablehlo.dynamic_update_slice"(%m, %u, %i, %j) : (tensor<2x3xf32>, '
        "tensor<1x2xf32>, tensor<i32>, tensor<i32>) -> tensor<2x3xf32>",
        {"m": M, "u": np.array([[10, 20]], f32), "i": i32(0), "j": i32(-4)},
        {"r": np.array([[10, 20, 2], [3, 4, 5]], f32)}),
    "stablehlo.concatenate": example(
        '%r = "stablehlo.concatenate"(%m, %n) {dimension = 1 : i64} : '
        "(tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>",
        {"m": M, "n": np.array([[9], [8]], f32)}, {"r": np.array([[0, 1, 2, 9], [3, 4, 5, 8]],
                                                                 f32)}),
    "stablehlo.pad": example(
        '%r = "stablehlo.pad"(%m, %v) {edge_padding_low = array<i64: 1, -1>, edge_padding_high '
        "= array<i64: 0, 1>, interior_padding = array<i64: 1, 0>} : (tensor<2x3xf32>, "
        "tensor<f32>) -> tensor<4x3xf32>", {"m": M, "v": f32(-1)},
        {"r": np.array([[-1, -1, -1], [1, 2, -1], [-1, -1, -1], [4, 5, -1]], f32)}),
    "stablehlo.reverse": example(
        '%r = "stablehlo.reverse"(%m) {dimensions = array<i64: 1>} : (tensor<2x3xf32>) -> '
        "tensor<2x3xf32>", {"m": M}, {"r": M[:, ::-1]}),
    "stablehlo.dot_general": example(
        '%r = "stablehlo.dot_general"(%a, %b) {dot_dimension_numbers = #stablehlo.dot<'
        "lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], "
        "lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]>} : "
        "(tensor<2x2x3xf32>, tensor<2x3x1xf32>) -> tensor<2x2x1xf32>",
        {"a": np.arange(12, dtype=f32).reshape(2, 2, 3), "b": np.ones((2, 3, 1), f32)},
        {"r": np.arange(12, dtype=f32).reshape(2, 2, 3).sum(-1, keepdims=True)}),
    "stablehlo.optimization_barrier": example(
        '%r, %s = "stablehlo.optimization_barrier"(%x, %a) : (tensor<4xf32>, tensor<4xi32>) -> '
        "(tensor<4xf32>, tensor<4xi32>)", {"x": X, "a": A}, {"r": X, "s": A}),
    "stablehlo.real_dynamic_slice": example(
        '%r = "stablehlo.real_dynamic_slice"(%v, %lo, %hi, %st) : (tensor<6xf32>, tensor<1xi32>, '
        "tensor<1xi32>, tensor<1xi32>) -> tensor<?xf32>",
        {"v": np.arange(6, dtype=f32), "lo": np.array([1], i32), "hi": np.array([5], i32),
         "st": np.array([2], i32)}, {"r": np.array([1, 3], f32)}, ["tensor<?xf32>"]),
}


# ---- ops with regions --------------------------------------------------------------------------

V = np.arange(12, dtype=f32).reshape(3, 4)
W = np.array([[3, 1, 2, 1], [0, -1, 5, -1]], f32)


def _conv1d(x, w, pad):
    """[b, f, 0] x [o, i, 0] -> [b, f, 0] cross-correlation with stride 1."""
    x = np.pad(x, [(0, 0), (0, 0), pad])
    k = w.shape[-1]
    return np.stack([np.einsum("bik,oik->bo", x[:, :, t:t + k], w)
                     for t in range(x.shape[-1] - k + 1)], axis=-1)


CONV_X = np.arange(10, dtype=f32).reshape(1, 2, 5)
CONV_W = np.arange(12, dtype=f32).reshape(3, 2, 2) - 5

OP_EXAMPLES |= {
    "stablehlo.reduce": example("""
        %zero = stablehlo.constant dense<0.0> : tensor<f32>
        %r = "stablehlo.reduce"(%v, %zero) ({
          ^bb0(%acc: tensor<f32>, %e: tensor<f32>):
            %s = stablehlo.add %acc, %e : tensor<f32>
            stablehlo.return %s : tensor<f32>
        }) {dimensions = array<i64: 1>} : (tensor<3x4xf32>, tensor<f32>) -> tensor<3xf32>
        %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
        %big = stablehlo.constant dense<99> : tensor<i32>
        %m, %i = "stablehlo.reduce"(%w, %idx, %ninf, %big) ({
          ^bb0(%av: tensor<f32>, %ai: tensor<i32>, %bv: tensor<f32>, %bi: tensor<i32>):
            %gt = stablehlo.compare GT, %bv, %av, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
            %v2 = stablehlo.select %gt, %bv, %av : tensor<i1>, tensor<f32>
            %i2 = stablehlo.select %gt, %bi, %ai : tensor<i1>, tensor<i32>
            stablehlo.return %v2, %i2 : tensor<f32>, tensor<i32>
        }) {dimensions = array<i64: 1>} : (tensor<2x4xf32>, tensor<2x4xi32>, tensor<f32>,
                                           tensor<i32>) -> (tensor<2xf32>, tensor<2xi32>)""",
        {"v": V, "w": W, "idx": np.tile(np.arange(4, dtype=i32), (2, 1))},
        {"r": V.sum(1), "m": W.max(1), "i": W.argmax(1).astype(i32)}),
    "stablehlo.while": example("""
        %one = stablehlo.constant dense<1> : tensor<i32>
        %two = stablehlo.constant dense<2.0> : tensor<4xf32>
        %n, %r = stablehlo.while(%i = %a0, %acc = %x) : tensor<i32>, tensor<4xf32>
          cond {
            %lt = stablehlo.compare LT, %i, %limit, SIGNED : (tensor<i32>, tensor<i32>) ->
                tensor<i1>
            stablehlo.return %lt : tensor<i1>
          } do {
            %i1 = stablehlo.add %i, %one : tensor<i32>
            %acc1 = stablehlo.multiply %acc, %two : tensor<4xf32>
            stablehlo.return %i1, %acc1 : tensor<i32>, tensor<4xf32>
          }""", {"a0": i32(0), "x": X, "limit": i32(5)}, {"n": i32(5), "r": X * 32}),
    "stablehlo.if": example("""
        %r = "stablehlo.if"(%p) ({
            %s = stablehlo.add %x, %x : tensor<4xf32>
            stablehlo.return %s : tensor<4xf32>
          }, {
            %s = stablehlo.negate %x : tensor<4xf32>
            stablehlo.return %s : tensor<4xf32>
          }) : (tensor<i1>) -> tensor<4xf32>
        %q = "stablehlo.if"(%f) ({
            stablehlo.return %x : tensor<4xf32>
          }, {
            %s = stablehlo.negate %x : tensor<4xf32>
            stablehlo.return %s : tensor<4xf32>
          }) : (tensor<i1>) -> tensor<4xf32>""", {"p": np.bool_(True), "f": np.bool_(False),
                                                  "x": X}, {"r": X + X, "q": -X}),
    "stablehlo.case": example("""
        %r = "stablehlo.case"(%k) ({
            stablehlo.return %x : tensor<4xf32>
          }, {
            %s = stablehlo.negate %x : tensor<4xf32>
            stablehlo.return %s : tensor<4xf32>
          }, {
            %s = stablehlo.abs %x : tensor<4xf32>
            stablehlo.return %s : tensor<4xf32>
          }) : (tensor<i32>) -> tensor<4xf32>
        %q = "stablehlo.case"(%big) ({
            stablehlo.return %x : tensor<4xf32>
          }, {
            %s = stablehlo.negate %x : tensor<4xf32>
            stablehlo.return %s : tensor<4xf32>
          }) : (tensor<i32>) -> tensor<4xf32>""", {"k": i32(1), "big": i32(7), "x": X},
        {"r": -X, "q": -X}),  # an out-of-range index runs the last branch
    "stablehlo.gather": example(
        '%r = "stablehlo.gather"(%v, %idx) {dimension_numbers = #stablehlo.gather<offset_dims = '
        "[1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, "
        "indices_are_sorted = false, slice_sizes = array<i64: 1, 4>} : (tensor<3x4xf32>, "
        "tensor<2x1xi32>) -> tensor<2x4xf32>", {"v": V, "idx": np.array([[2], [0]], i32)},
        {"r": V[[2, 0]]}),
    "stablehlo.scatter": example("""
        %r = "stablehlo.scatter"(%v, %idx, %u) ({
          ^bb0(%old: tensor<f32>, %new: tensor<f32>):
            %s = stablehlo.add %old, %new : tensor<f32>
            stablehlo.return %s : tensor<f32>
        }) {indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<
            update_window_dims = [1], inserted_window_dims = [0],
            scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false}
          : (tensor<3x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<3x4xf32>""",
        {"v": V, "idx": np.array([[2], [0], [2]], i32), "u": np.ones((3, 4), f32)},
        {"r": V + np.array([[1], [0], [2]], f32)}),  # repeated indices accumulate
    "stablehlo.convolution": example(
        "%r = stablehlo.convolution(%x, %w) dim_numbers = [b, f, 0]x[o, i, 0]->[b, f, 0], "
        "window = {stride = [1], pad = [[1, 1]], lhs_dilate = [1], rhs_dilate = [1]} "
        "{batch_group_count = 1 : i64, feature_group_count = 1 : i64} : "
        "(tensor<1x2x5xf32>, tensor<3x2x2xf32>) -> tensor<1x3x6xf32>",
        {"x": CONV_X, "w": CONV_W}, {"r": _conv1d(CONV_X, CONV_W, (1, 1))}),
    "stablehlo.reduce_window": example("""
        %zero = stablehlo.constant dense<0.0> : tensor<f32>
        %r = "stablehlo.reduce_window"(%v, %zero) ({
          ^bb0(%a: tensor<f32>, %b: tensor<f32>):
            %s = stablehlo.add %a, %b : tensor<f32>
            stablehlo.return %s : tensor<f32>
        }) {base_dilations = array<i64: 1, 1>, padding = dense<0> : tensor<2x2xi64>,
            window_dilations = array<i64: 1, 1>, window_dimensions = array<i64: 2, 2>,
            window_strides = array<i64: 1, 2>} : (tensor<3x4xf32>, tensor<f32>) ->
            tensor<2x2xf32>""", {"v": V},
        {"r": np.array([[V[i:i + 2, j:j + 2].sum() for j in (0, 2)] for i in (0, 1)], f32)}),
    "stablehlo.sort": example("""
        %r = "stablehlo.sort"(%w) ({
          ^bb0(%a: tensor<f32>, %b: tensor<f32>):
            %lt = stablehlo.compare LT, %a, %b, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
            stablehlo.return %lt : tensor<i1>
        }) {dimension = 1 : i64, is_stable = true} : (tensor<2x4xf32>) -> tensor<2x4xf32>
        %vals, %keys = "stablehlo.sort"(%idx, %w) ({
          ^bb0(%i: tensor<i32>, %j: tensor<i32>, %a: tensor<f32>, %b: tensor<f32>):
            %gt = stablehlo.compare GT, %a, %b, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
            stablehlo.return %gt : tensor<i1>
        }) {dimension = 1 : i64, is_stable = true} : (tensor<2x4xi32>, tensor<2x4xf32>) ->
            (tensor<2x4xi32>, tensor<2x4xf32>)""",
        {"w": W, "idx": np.tile(np.arange(4, dtype=i32), (2, 1))},
        {"r": np.sort(W, 1), "vals": np.argsort(-W, 1, kind="stable").astype(i32),
         "keys": -np.sort(-W, 1)}),  # descending by the second operand, stable on ties
}
# A terminator has no example of its own: the reduce example uses it.
_I4 = "(tensor<4xi32>) -> tensor<4xi32>"
OP_EXAMPLES |= {  # bit ops on two's complement i32
    "stablehlo.popcnt": example(f'%r = "stablehlo.popcnt"(%a) : {_I4}', {"a": A},
                                {"r": np.array([30, 29, 2, 2], i32)}),
    "stablehlo.count_leading_zeros": example(
        f'%r = "stablehlo.count_leading_zeros"(%a) : {_I4}', {"a": A},
        {"r": np.array([0, 0, 29, 30], i32)}),
    "stablehlo.bitcast_convert": example(
        '%r = "stablehlo.bitcast_convert"(%x) : (tensor<4xf32>) -> tensor<4xi32>', {"x": X},
        {"r": X.view(i32)}),
}

OP_EXAMPLES["stablehlo.return"] = OP_EXAMPLES["stablehlo.reduce"]
OP_EXAMPLES["chlo.next_after"] = example(  # in f32 itself (one f32 ulp, not a float64 one)
    f'%r = "chlo.next_after"(%x, %y) : ({T4}, {T4}) -> {T4}', {"x": X, "y": G},
    {"r": np.nextafter(X, G)})
OP_EXAMPLES["chlo.top_k"] = example(  # ties (the two 1s, the two -1s) keep the lower index
    "%v, %i = chlo.top_k(%w, k = 3) : tensor<2x4xf32> -> (tensor<2x3xf32>, tensor<2x3xi32>)",
    {"w": W}, {"v": -np.sort(-W, 1)[:, :3],
               "i": np.argsort(-W, 1, kind="stable")[:, :3].astype(i32)})
Z = (X + 1j * G).astype(np.complex64)
OP_EXAMPLES["stablehlo.complex"] = example(
    '%r = "stablehlo.complex"(%x, %y) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xcomplex<f32>>',
    {"x": X, "y": G}, {"r": Z})
OP_EXAMPLES["stablehlo.real"] = example(
    '%r = "stablehlo.real"(%z) : (tensor<4xcomplex<f32>>) -> tensor<4xf32>', {"z": Z}, {"r": X})
OP_EXAMPLES["stablehlo.imag"] = example(
    '%r = "stablehlo.imag"(%z) : (tensor<4xcomplex<f32>>) -> tensor<4xf32>', {"z": Z}, {"r": G})
OP_EXAMPLES["stablehlo.fft"] = example(
    "%r = stablehlo.fft %z, type = FFT, length = [4] : "
    "(tensor<4xcomplex<f32>>) -> tensor<4xcomplex<f32>>",
    {"z": Z}, {"r": np.fft.fft(Z).astype(np.complex64)})
OP_EXAMPLES["stablehlo.custom_call @aotc.debug_print"] = example(  # prints, no results
    'stablehlo.custom_call @aotc.debug_print(%x) {backend_config = "{\\"aotc.debug.print\\": '
    '\\"x = {}\\", \\"names\\": []}", has_side_effect = true} : (tensor<4xf32>) -> ()\n'
    "%r = stablehlo.add %x, %x : tensor<4xf32>", {"x": X}, {"r": X + X})
OP_EXAMPLES["stablehlo.custom_call @aotc.transfer"] = example(  # a device move: the identity
    '%r = stablehlo.custom_call @aotc.transfer(%x) {backend_config = "0->1"} : '
    "(tensor<4xf32>) -> tensor<4xf32>", {"x": X}, {"r": X})
# A collective resolves only inside a mapped body; interpreted alone it names the problem.
OP_EXAMPLES["stablehlo.custom_call @aotc.collective"] = example(
    '%r = stablehlo.custom_call @aotc.collective(%x) {backend_config = "{\\"axes\\": '
    '[\\"i\\"], \\"dim\\": 0, \\"kind\\": \\"all_gather\\", \\"size\\": 2}"} : '
    "(tensor<4xf32>) -> tensor<8xf32>", {"x": X}, {"r": np.concatenate([X, X])})
RAISES = {"stablehlo.custom_call @aotc.collective": "outside a mapped context"}


# ---- tests ---------------------------------------------------------------------------------------


def test_every_op_has_a_type_rule_and_a_reference_implementation():
    assert set(registry.TYPE_RULE) == set(registry.IMPL), (
        f"type rule only: {sorted(set(registry.TYPE_RULE) - set(registry.IMPL))}; "
        f"impl only: {sorted(set(registry.IMPL) - set(registry.TYPE_RULE))}")


# JAX's LAPACK calls: each routine's outputs, type rules and derivatives are checked against
# JAX (and scipy's LAPACK) in tests/passes/test_lapack_import.py.
TESTED_ELSEWHERE = {f"stablehlo.custom_call @{t}" for t in lapack_calls.targets()}


def test_every_registered_op_has_an_example():
    missing = sorted(set(registry.TYPE_RULE) - set(OP_EXAMPLES) - TESTED_ELSEWHERE)
    assert not missing, f"ops without an entry in OP_EXAMPLES: {', '.join(missing)}"


def test_examples_name_registered_ops():
    stale = sorted(set(OP_EXAMPLES) - set(registry.TYPE_RULE))
    assert not stale, f"OP_EXAMPLES names ops that are not registered: {', '.join(stale)}"


def _ops_named(module: ir.Module, name: str) -> list:
    found = []

    def visit(op):
        if registry.rule_key(op.operation) == name:
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


@pytest.mark.parametrize("op_name", sorted(OP_EXAMPLES))
def test_op_example_type_rule_and_interpretation(op_name):
    ex = OP_EXAMPLES[op_name]
    with new_context(), ir.Location.unknown():
        module = ir.Module.parse(ex.text)
        assert module.operation.verify()
        uses = _ops_named(module, op_name)
        assert uses, f"the example of {op_name} does not use it"
        rule = registry.TYPE_RULE[op_name]
        for op in uses:
            stated = [str(r.type) for r in op.results]
            try:
                inferred = [str(t) for t in rule([v.type for v in op.operands],
                                                 Attrs.of(op))]
            except TypeError as exc:  # ops whose builders give the result types
                assert "given by" in str(exc), f"{op_name}: type rule failed: {exc}"
                continue
            assert inferred == stated, f"{op_name}: type rule gives {inferred}, IR has {stated}"
        if op_name in RAISES:
            with pytest.raises(aotc.TracingError, match=RAISES[op_name]):
                aotc.interpret(module, "main", *ex.inputs)
            return
        outs = aotc.interpret(module, "main", *ex.inputs)
    assert len(outs) == len(ex.expected)
    for out, want in zip(outs, ex.expected, strict=True):
        assert out.shape == want.shape and out.dtype == want.dtype, (out, want)
        if want.dtype.kind == "f":
            np.testing.assert_allclose(out, want, rtol=2e-6, atol=1e-6, err_msg=op_name)
        else:
            np.testing.assert_array_equal(out, want, err_msg=op_name)
