"""The batching pass (passes/batching.py) against Python loops.

Every batchable op family is vmapped under every combination of in_axes (0, 1, -1, None) and
compared with a loop over the mapped axis that runs the unbatched function once per example
through the reference interpreter and stacks the results with np.stack. The same cases run through
IREE grouped by family (one compile per family returns a dict of every case). Then: vmap of vmap
against nested loops, hypothesis property tests over random shapes and axes, control flow with
batched and unbatched predicates, and the structure of the batched StableHLO.
"""

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import assert_tree_close
from hypothesis import given, settings
from hypothesis import strategies as st

import aotc
import aotc.lax as lax
import aotc.nn as nn
import aotc.numpy as anp
from aotc.frontend.core import tree
from aotc.frontend.core.ir import ir
from aotc.passes import batching
from aotc.passes import functions as util

B = 3  # the mapped axis size used throughout
RNG = np.random.default_rng(0)

SAMPLERS = {
    "normal": lambda rng, shape: rng.standard_normal(shape).astype(np.float32),
    "positive": lambda rng, shape: rng.uniform(0.5, 2.0, shape).astype(np.float32),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, shape).astype(np.float32),
    "int": lambda rng, shape: rng.integers(-20, 20, shape).astype(np.int32),
    "bool": lambda rng, shape: rng.random(shape) < 0.5,
}


def sample(shape, kind: str = "normal", rng=RNG) -> np.ndarray:
    return np.asarray(SAMPLERS[kind](rng, tuple(shape)))


def batched_sample(shape, kind: str, axis: int | None, size: int = B, rng=RNG) -> np.ndarray:
    """An argument of `shape` with a mapped axis of `size` inserted at `axis` (None: none)."""
    if axis is None:
        return sample(shape, kind, rng)
    return np.moveaxis(sample((size, *shape), kind, rng), 0, axis)


def example(args, in_axes, i: int) -> list:
    return [a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)]


def loop_reference(fn, in_axes, args, out_axes=0):
    """fn on each example (reference interpreter, traced once), stacked along out_axes."""
    size = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    traced = aotc.lower(fn, *example(args, in_axes, 0))
    runs = [aotc.interpret(traced.module, traced.name, *example(args, in_axes, i))
            for i in range(size)]
    columns = [np.stack([run[k] for run in runs], axis=out_axes) for k in range(len(runs[0]))]
    return tree.unflatten(traced.out_tree, columns)


def check_vmap(fn, args, in_axes, out_axes=0, rtol=1e-5, atol=1e-6):
    got = aotc.vmap(fn, in_axes=tuple(in_axes), out_axes=out_axes)(*args)
    expected = loop_reference(fn, in_axes, args, out_axes)
    try:
        assert_tree_close(got, expected, rtol, atol)
    except AssertionError as exc:
        raise AssertionError(f"in_axes={tuple(in_axes)} out_axes={out_axes}: {exc}") from None


# ---- the spec table: one row per op (family) -------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    fn: object
    args: tuple  # (shape, sampler kind) per argument, without the mapped axis
    family: str
    tol: float = 1.0


def case(name, fn, *args, family, tol=1.0) -> Case:
    return Case(name, fn, tuple((tuple(s), k) for s, k in args), family, tol)


M, V3, V4, S = ((4, 3), "normal"), ((3,), "normal"), ((4,), "normal"), ((), "normal")
POS = ((4, 3), "positive")
E, R, L, SH, C = "elementwise", "reduction", "linalg", "shape", "control"

CASES = [
    *(case(n, f, M, family=E) for n, f in [
        ("sin", anp.sin), ("exp", anp.exp), ("tanh", anp.tanh), ("abs", anp.abs),
        ("floor", anp.floor), ("sign", anp.sign), ("erf", lax.erf), ("logistic", lax.logistic),
        ("negative", anp.negative), ("square", anp.square), ("round", anp.round),
        ("isfinite", anp.isfinite), ("gelu", nn.gelu), ("relu", nn.relu)]),
    *(case(n, f, POS, family=E) for n, f in [
        ("log", anp.log), ("sqrt", anp.sqrt), ("rsqrt", lax.rsqrt), ("log1p", anp.log1p)]),
    case("arcsin", anp.arcsin, ((4, 3), "unit"), family=E),
    *(case(n, f, M, M, family=E) for n, f in [
        ("add", anp.add), ("subtract", anp.subtract), ("multiply", anp.multiply),
        ("maximum", anp.maximum), ("minimum", anp.minimum), ("arctan2", anp.arctan2),
        ("less", anp.less), ("not_equal", anp.not_equal)]),
    case("divide", anp.divide, M, POS, family=E),
    case("power", anp.power, POS, M, family=E),
    case("remainder", anp.remainder, M, POS, family=E),
    case("add_row", anp.add, M, V3, family=E),
    case("multiply_column", anp.multiply, M, ((4, 1), "normal"), family=E),
    case("add_scalar", anp.add, M, S, family=E),
    case("where", anp.where, ((4, 3), "bool"), M, M, family=E),
    case("where_row", anp.where, ((3,), "bool"), M, S, family=E),
    case("clamp", lax.clamp, S, M, ((), "positive"), family=E),
    case("clamp_arrays", lax.clamp, M, M, POS, family=E),
    case("astype", lambda x: (x * 4).astype(np.int32), M, family=E),
    case("int_ops", lambda a, b: (a & b, a | b, a ^ b, a << 2, a >> 1, a // 3, a % 5, -a,
                                  anp.maximum(a, b)),
         ((5,), "int"), ((5,), "int"), family=E),
    case("logical", lambda p, q: (p & q, p | ~q, anp.logical_xor(p, q)), ((4,), "bool"),
         ((4,), "bool"), family=E),
    *(case(n, f, M, family=R) for n, f in [
        ("sum", anp.sum), ("sum_0", lambda x: x.sum(0)), ("sum_1", lambda x: x.sum(axis=1)),
        ("max_1", lambda x: anp.max(x, 1)), ("min", anp.min), ("prod_0", lambda x: anp.prod(x, 0)),
        ("mean_keepdims", lambda x: anp.mean(x, axis=-1, keepdims=True)), ("var", anp.var),
        ("std_0", lambda x: anp.std(x, 0)), ("argmax_1", lambda x: anp.argmax(x, 1)),
        ("argmin", anp.argmin), ("any_1", lambda x: anp.any(x > 0, 1)),
        ("all", lambda x: anp.all(x > -1)), ("logsumexp", nn.logsumexp),
        ("softmax", nn.softmax), ("log_softmax_0", lambda x: nn.log_softmax(x, axis=0)),
        ("cumsum_0", lambda x: anp.cumsum(x, 0)), ("cumprod_1", lambda x: anp.cumprod(x, 1)),
        ("cummax_0", lambda x: anp.cummax(x, 0)),
        ("lax_reduce", lambda x: lax.reduce(x, np.float32(0), lambda a, b: a + b * b, (0,))),
        ("norm", lambda x: anp.sqrt(anp.sum(x * x)))]),
    case("matmul", anp.matmul, M, ((3, 5), "normal"), family=L),
    case("matvec", anp.matmul, M, V3, family=L),
    case("vecmat", anp.matmul, V4, M, family=L),
    case("dot_vv", anp.dot, V3, V3, family=L),
    case("batch_matmul", anp.matmul, ((2, 4, 3), "normal"), ((2, 3, 5), "normal"), family=L),
    case("einsum_nt", lambda a, b: anp.einsum("ij,kj->ki", a, b), M, M, family=L),
    case("outer", anp.outer, V3, V4, family=L),
    case("tensordot_0", lambda a, b: anp.tensordot(a, b, axes=([0], [0])), M, M, family=L),
    case("dot_general_batch", lambda a, b: lax.dot_general(a, b, (([1], [2]), ([0], [0]))),
         ((2, 3, 4), "normal"), ((2, 5, 3), "normal"), family=L),
    case("dot_general_k1", lambda a, b: lax.dot_general(a, b, (([2], [0]), ([1], [2]))),
         ((3, 2, 1), "normal"), ((1, 4, 2), "normal"), family=L),
    case("mlp_layer", lambda x, w, b: anp.tanh(x @ w + b), V3, ((3, 5), "normal"),
         ((5,), "normal"), family=L),
    *(case(n, f, M, family=SH) for n, f in [
        ("reshape", lambda x: x.reshape(3, 4)), ("ravel", anp.ravel),
        ("transpose", anp.transpose), ("broadcast_to", lambda x: anp.broadcast_to(x, (2, 4, 3))),
        ("expand_dims", lambda x: anp.expand_dims(x, 1)), ("slice", lambda x: x[1:3, ::2]),
        ("index", lambda x: x[2]), ("index_last", lambda x: x[:, -1]),
        ("flip", lambda x: anp.flip(x, 0)), ("pad", lambda x: anp.pad(x, ((1, 2), (0, 1)))),
        ("dynamic_slice", lambda x: lax.dynamic_slice(x, (1, 0), (2, 2))),
        ("roll", lambda x: anp.roll(x, 1, 0)), ("tile", lambda x: anp.tile(x, (2, 1))),
        ("repeat", lambda x: anp.repeat(x, 2, 0)), ("diff", lambda x: anp.diff(x, axis=0)),
        ("split", lambda x: anp.split(x, 2, 0)), ("times_iota", lambda x: x * anp.arange(3)),
        ("times_eye", lambda x: x @ anp.eye(3))]),
    case("transpose_3d", lambda x: anp.transpose(x, (2, 0, 1)), ((2, 3, 4), "normal"), family=SH),
    case("squeeze", lambda x: anp.squeeze(x, 0), ((1, 3), "normal"), family=SH),
    case("concatenate", lambda a, b: anp.concatenate([a, b], 1), M, M, family=SH),
    case("stack", lambda a, b: anp.stack([a, b], -1), M, M, family=SH),
    case("lax_pad_value", lambda x, v: lax.pad(x, v, [(1, 0, 1), (0, 2, 0)]), M, S, family=SH),
    case("dynamic_update_slice", lambda x, u: lax.dynamic_update_slice(x, u, (1, 1)), M,
         ((2, 2), "normal"), family=SH),
    case("tril", anp.tril, ((3, 3), "normal"), family=SH),
    case("trace", anp.trace, ((3, 3), "normal"), family=SH),
]


def axes_choices(rank: int) -> tuple:
    return (0, 1, -1, None) if rank >= 1 else (0, -1, None)


def in_axes_combinations(args) -> list[tuple]:
    """Every mix of in_axes over the arguments, except all-None."""
    combos = itertools.product(*(axes_choices(len(shape)) for shape, _ in args))
    return [c for c in combos if any(a is not None for a in c)]


def case_args(c: Case, in_axes) -> list[np.ndarray]:
    return [batched_sample(shape, kind, ax) for (shape, kind), ax in zip(c.args, in_axes)]


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_op_matches_loop_for_every_in_axes(c):
    for in_axes in in_axes_combinations(c.args):
        check_vmap(c.fn, case_args(c, in_axes), in_axes, rtol=1e-5 * c.tol, atol=1e-5 * c.tol)


@pytest.mark.parametrize("out_axes", [1, -1])
@pytest.mark.parametrize("c", [c for c in CASES if c.name in
                               ("add_row", "sum_0", "matmul", "transpose_3d", "where")],
                         ids=lambda c: c.name)
def test_out_axes_match_loop(c, out_axes):
    in_axes = (0,) * len(c.args)
    check_vmap(c.fn, case_args(c, in_axes), in_axes, out_axes=out_axes)


def test_unbatched_arguments_with_axis_size_broadcast_the_result():
    x = sample((4, 3))
    got = aotc.vmap(lambda a: anp.sin(a).sum(0), in_axes=None, axis_size=5)(x)
    np.testing.assert_allclose(got, np.broadcast_to(np.sin(x).sum(0), (5, 3)), rtol=1e-6)


# ---- the same cases through IREE, one compile per family -------------------------------------


def _iree_selection(family: str):
    """(case, in_axes, args) for every case of a family, cycling through its in_axes mixes."""
    rows = []
    for k, c in enumerate(cs for cs in CASES if cs.family == family):
        combos = in_axes_combinations(c.args)
        picks = {combos[k % len(combos)], combos[-1 - k % len(combos)]}
        rows.extend((c, in_axes, case_args(c, in_axes)) for in_axes in sorted(picks, key=str))
    return rows


@pytest.mark.parametrize("family", [E, R, L, SH])
def test_family_through_iree_matches_loop(family):
    rows = _iree_selection(family)

    def program(*groups):
        return [aotc.vmap(c.fn, in_axes=in_axes)(*args)
                for (c, in_axes, _), args in zip(rows, groups)]

    got = aotc.jit(program)(*[tuple(args) for _, _, args in rows])
    for out, (c, in_axes, args) in zip(got, rows):
        try:
            assert_tree_close(out, loop_reference(c.fn, in_axes, args), 2e-5 * c.tol,
                              2e-5 * c.tol)
        except AssertionError as exc:
            raise AssertionError(f"{c.name} in_axes={in_axes}: {exc}") from None


# ---- vmap of vmap against nested loops --------------------------------------------------------


def nested_loop_reference(fn, outer_axes, inner_axes, args):
    """The outer loop over vmap's outer mapped axis, the inner loop over the inner one."""
    size = next(a.shape[ax] for a, ax in zip(args, outer_axes) if ax is not None)
    results = []
    for i in range(size):
        inner_args = example(args, outer_axes, i)
        results.append(loop_reference(fn, inner_axes, inner_args))
    return tree.map(lambda *xs: np.stack(xs), *results)


NESTED = [
    ("elementwise", lambda a, b: a * b + anp.sin(a), ((2,), (2,)), (1, None), (0, 0)),
    ("matvec", lambda w, x: anp.tanh(w @ x), ((4, 3), (3,)), (None, 0), (0, None)),
    ("rows_times_cols", lambda r, c: anp.dot(r, c), ((3,), (3,)), (0, None), (None, 1)),
    ("reduce_both", lambda x, y: (anp.sum(x * y), anp.max(x, 0)), ((4, 3), (3,)), (0, 0),
     (-1, None)),
]


@pytest.mark.parametrize("name,fn,shapes,outer,inner", NESTED, ids=[n[0] for n in NESTED])
def test_vmap_of_vmap_matches_nested_loops(name, fn, shapes, outer, inner):
    inner_size, outer_size = 4, 3
    args = []
    for shape, out_ax, in_ax in zip(shapes, outer, inner):
        x = batched_sample(shape, "normal", in_ax, inner_size)
        args.append(batched_sample(x.shape, "normal", out_ax, outer_size) if out_ax is not None
                    else x)
    got = aotc.vmap(aotc.vmap(fn, in_axes=inner), in_axes=outer)(*args)
    assert_tree_close(got, nested_loop_reference(fn, outer, inner, args))


# ---- hypothesis: random compositions, shapes and axes ----------------------------------------

UNARY = {"tanh": anp.tanh, "exp_neg_sq": lambda v: anp.exp(-v * v), "abs": anp.abs,
         "relu": nn.relu}
BINARY = {"add": anp.add, "multiply": anp.multiply, "maximum": anp.maximum,
          "subtract": anp.subtract}
REDUCE = {"sum": anp.sum, "max": anp.max, "mean": anp.mean}


@st.composite
def compositions(draw):
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    size = draw(st.integers(1, 4))
    unary = draw(st.sampled_from(sorted(UNARY)))
    binary = draw(st.sampled_from(sorted(BINARY)))
    reduce = draw(st.sampled_from(sorted(REDUCE)))
    reduce_axis = draw(st.sampled_from([None, 0, 1, -1]))
    in_axes = tuple(draw(st.sampled_from([0, 1, 2, -1, None])) for _ in range(3))
    in_axes = tuple(None if a is not None and a > rank else a
                    for a, rank in zip(in_axes, (2, 2, 1)))
    if all(a is None for a in in_axes):
        in_axes = (0, *in_axes[1:])
    out_axis = draw(st.sampled_from([0, -1]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))

    def fn(x, w, b):
        h = UNARY[unary](BINARY[binary](x @ w, b))
        return REDUCE[reduce](h, axis=reduce_axis), h.T

    shapes = ((m, k), (k, n), (n,))
    args = [batched_sample(s, "normal", ax, size, rng) for s, ax in zip(shapes, in_axes)]
    return fn, args, in_axes, out_axis


@settings(max_examples=40, deadline=None)
@given(compositions())
def test_random_compositions_match_loop(drawn):
    fn, args, in_axes, out_axis = drawn
    check_vmap(fn, args, in_axes, out_axes=out_axis, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       data=st.data())
def test_random_reductions_and_transposes_match_loop(shape, seed, data):
    rank = len(shape)
    axis = data.draw(st.integers(-rank - 1, rank))
    reduce_axis = data.draw(st.integers(-rank, rank - 1))
    perm = data.draw(st.permutations(range(rank)))

    def fn(x):
        return anp.transpose(x, perm) * 2.0, anp.max(x, axis=reduce_axis), anp.cumsum(x, axis=-1)

    x = batched_sample(shape, "normal", axis, rng=np.random.default_rng(seed))
    check_vmap(fn, [x], (axis,))


# ---- control flow -----------------------------------------------------------------------------


def newton_sqrt(a):
    """sqrt(a) by Newton's method; stops when this example's residual is small."""

    def cond(state):
        k, y = state
        return (anp.abs(y * y - a) > 1e-6 * a) & (k < 60)

    def body(state):
        k, y = state
        return k + 1, 0.5 * (y + a / y)

    return lax.while_loop(cond, body, (0, a + 1.0))


CONTROL = [
    ("cond_batched_pred", lambda p, x: lax.cond(p > 0, lambda v: v * 2, lambda v: -v, x),
     ((), "normal"), M),
    ("cond_on_data", lambda x: lax.cond(x.sum() > 0, lambda v: (v * 2, v.sum()),
                                        lambda v: (-v, v.max()), x), M),
    ("cond_closure", lambda x, y: lax.cond(x[0, 0] > 0, lambda: x + y, lambda: x - y), M, M),
    ("switch", lambda i, x: lax.switch(i, [lambda v: v, lambda v: v * 2, lambda v: v - 1], x),
     ((), "int"), M),
    ("newton", newton_sqrt, ((), "positive")),
    ("while_counted", lambda a, n: lax.while_loop(
        lambda s: s[0] < n, lambda s: (s[0] + 1, 0.5 * (s[1] + a / s[1])), (0, a)),
     ((4,), "positive"), ((), "int")),
    ("fori", lambda x: lax.fori_loop(0, 4, lambda i, c: c * 0.5 + anp.sin(c) * i, x), M),
    ("fori_traced_bound", lambda x, n: lax.fori_loop(0, n, lambda i, c: c * 0.5 + 1.0, x), M,
     ((), "int")),
    ("scan", lambda c, xs: lax.scan(lambda c, x: (c + x, c * x), c, xs), V3,
     ((5, 3), "normal")),
    ("scan_reverse", lambda c, xs: lax.scan(lambda c, x: (c * 0.9 + x, c.sum()), c, xs,
                                            reverse=True), V3, ((5, 3), "normal")),
    ("map", lambda xs: lax.map(lambda r: r * r.sum(), xs), M),
]
CONTROL_CASES = [case(name, fn, *args, family=C) for name, fn, *args in CONTROL]


def _control_args(c: Case, in_axes):
    args = case_args(c, in_axes)
    if c.name == "switch":  # indices 0..2 plus out-of-range ones, which take the last branch
        args[0] = np.asarray(np.abs(args[0]) % 5 - 1, np.int32)
    if c.name in ("while_counted", "fori_traced_bound"):
        args[1] = np.asarray(np.abs(args[1]) % 6, np.int32)
    return args


@pytest.mark.parametrize("c", CONTROL_CASES, ids=lambda c: c.name)
def test_control_flow_matches_loop(c):
    for in_axes in in_axes_combinations(c.args):
        check_vmap(c.fn, _control_args(c, in_axes), in_axes, rtol=1e-5, atol=1e-5)


def test_control_flow_through_iree_matches_loop():
    rows = [(c, in_axes, _control_args(c, in_axes)) for c in CONTROL_CASES
            for in_axes in in_axes_combinations(c.args)[:2]]

    def program(*groups):
        return [aotc.vmap(c.fn, in_axes=in_axes)(*args)
                for (c, in_axes, _), args in zip(rows, groups)]

    got = aotc.jit(program)(*[tuple(args) for _, _, args in rows])
    for out, (c, in_axes, args) in zip(got, rows):
        assert_tree_close(out, loop_reference(c.fn, in_axes, args), 1e-5, 1e-5)


def test_batched_while_freezes_finished_lanes():
    a = np.array([1e-4, 1.0, 2.0, 9.0, 1e4], np.float32)
    steps, roots = aotc.vmap(newton_sqrt)(a)
    per_example = [newton_sqrt(np.float32(v)) for v in a]
    np.testing.assert_array_equal(steps, [int(s) for s, _ in per_example])
    assert len(set(steps.tolist())) > 2  # the lanes really stop at different iterations
    np.testing.assert_allclose(roots, np.sqrt(a), rtol=1e-5)


# ---- the batched StableHLO --------------------------------------------------------------------


def batched_text(fn, *args, in_axes=0) -> str:
    """The text of the vmapped function only (not of the per-example function it came from)."""
    traced = aotc.lower(aotc.vmap(fn, in_axes=in_axes), *args)
    with traced.module.context:
        functions = [op for op in util.module_body(traced.module).operations
                     if "_vmap" in ir.StringAttr(op.attributes["sym_name"]).value]
    assert len(functions) == 1
    return str(functions[0])


def test_op_count_does_not_grow_with_the_batch():
    def fn(x, w):
        return anp.tanh(x @ w).sum() + lax.cond(x[0] > 0, lambda: x.max(), lambda: x.min())

    w, x = sample((3, 5)), sample((17, 3))
    small = batched_text(fn, sample((2, 3)), w, in_axes=(0, None))
    large = batched_text(fn, x, w, in_axes=(0, None))
    assert small.count("stablehlo.") == large.count("stablehlo.")
    assert "stablehlo.while" not in large
    want = [np.tanh(r @ w).sum() + (r.max() if r[0] > 0 else r.min()) for r in x]
    np.testing.assert_allclose(aotc.vmap(fn, in_axes=(0, None))(x, w), want, rtol=1e-5)


def test_dot_general_uses_batching_dimensions():
    a, b = sample((B, 4, 3)), sample((B, 3, 5))
    text = batched_text(lambda a, b: a @ b, a, b)
    assert "batching_dims = [0] x [0]" in text
    np.testing.assert_allclose(aotc.vmap(lambda a, b: a @ b)(a, b), np.einsum("bij,bjk->bik", a, b),
                               rtol=1e-5, atol=1e-6)


def test_batched_predicate_selects_and_unbatched_predicate_keeps_the_if():
    fn = lambda p, x: lax.cond(p > 0, lambda: x * 2, lambda: x - 1)
    p, x = sample((B,)), sample((B, 3))
    batched = batched_text(fn, p, x)
    assert "stablehlo.if" not in batched and "stablehlo.select" in batched
    np.testing.assert_allclose(aotc.vmap(fn)(p, x), np.where(p[:, None] > 0, x * 2, x - 1),
                               rtol=1e-6)
    unbatched = batched_text(fn, p[0], x, in_axes=(None, 0))
    assert "stablehlo.if" in unbatched
    for p0 in (np.float32(1.0), np.float32(-1.0)):
        np.testing.assert_allclose(aotc.vmap(fn, in_axes=(None, 0))(p0, x),
                                   x * 2 if p0 > 0 else x - 1, rtol=1e-6)


def _function_text(module, name: str) -> str:
    return str(util.find_function(module, name))


def test_pass_adds_a_function_and_leaves_its_input_alone():
    traced = aotc.lower(lambda x, w: (x @ w, w.sum()), sample((3,)), sample((3, 2)))
    before = _function_text(traced.module, traced.name)
    name = batching.vmap(traced.module, traced.name, [0, None], 6, out_axes=[1, None])
    assert name != traced.name and _function_text(traced.module, traced.name) == before
    x, w = sample((6, 3)), sample((3, 2))
    out, total = aotc.interpret(traced.module, name, x, w)
    np.testing.assert_allclose(out, (x @ w).T, rtol=1e-5)
    np.testing.assert_allclose(total, w.sum(), rtol=1e-5)


def test_calls_are_inlined_while_batching():
    inner = aotc.checkpoint(lambda v: anp.sin(v) * 2)  # staged as a func.call
    fn = lambda x, y: inner(x) + aotc.stop_gradient(y)
    assert "call @" in str(aotc.lower(fn, sample((3,)), sample((3,))).module)
    check_vmap(fn, [sample((B, 3)), sample((3,))], (0, None))


# ---- against jax.vmap: an oracle outside aotc ---------------------------------------------------

def _jax_twins():
    """Row name -> the same function in JAX, for control flow and a selection of ops."""
    import jax
    import jax.numpy as jnp

    jl = jax.lax

    def newton(a):
        def cond(s):  # as newton_sqrt: each example stops at its own residual
            return (jnp.abs(s[1] * s[1] - a) > 1e-6 * a) & (s[0] < 60)

        return jl.while_loop(cond, lambda s: (s[0] + 1, 0.5 * (s[1] + a / s[1])), (0, a + 1.0))

    return {
        "cond_batched_pred": lambda p, x: jl.cond(p > 0, lambda v: v * 2, lambda v: -v, x),
        "cond_on_data": lambda x: jl.cond(x.sum() > 0, lambda v: (v * 2, v.sum()),
                                          lambda v: (-v, v.max()), x),
        "cond_closure": lambda x, y: jl.cond(x[0, 0] > 0, lambda: x + y, lambda: x - y),
        "switch": lambda i, x: jl.switch(i, [lambda v: v, lambda v: v * 2, lambda v: v - 1], x),
        "newton": newton,
        "while_counted": lambda a, n: jl.while_loop(
            lambda s: s[0] < n, lambda s: (s[0] + 1, 0.5 * (s[1] + a / s[1])), (0, a)),
        "fori": lambda x: jl.fori_loop(0, 4, lambda i, c: c * 0.5 + jnp.sin(c) * i, x),
        "fori_traced_bound": lambda x, n: jl.fori_loop(0, n, lambda i, c: c * 0.5 + 1.0, x),
        "scan": lambda c, xs: jl.scan(lambda c, x: (c + x, c * x), c, xs),
        "scan_reverse": lambda c, xs: jl.scan(lambda c, x: (c * 0.9 + x, c.sum()), c, xs,
                                              reverse=True),
        "map": lambda xs: jl.map(lambda r: r * r.sum(), xs),
        "maximum": jnp.maximum, "where_row": jnp.where, "clamp": jl.clamp,
        "max_1": lambda x: jnp.max(x, 1), "argmin": jnp.argmin,
        "logsumexp": jax.nn.logsumexp,
        "tensordot_0": lambda a, b: jnp.tensordot(a, b, axes=([0], [0])),
        "dot_general_batch": lambda a, b: jl.dot_general(a, b, (([1], [2]), ([0], [0]))),
        "dot_general_k1": lambda a, b: jl.dot_general(a, b, (([2], [0]), ([1], [2]))),
        "slice": lambda x: x[1:3, ::2], "index_last": lambda x: x[:, -1],
        "pad": lambda x: jnp.pad(x, ((1, 2), (0, 1))),
        "dynamic_slice": lambda x: jl.dynamic_slice(x, (1, 0), (2, 2)),
        "roll": lambda x: jnp.roll(x, 1, 0), "split": lambda x: jnp.split(x, 2, 0),
    }


JAX_TWINS = _jax_twins()
TWIN_CASES = [c for c in CASES + CONTROL_CASES if c.name in JAX_TWINS]


def test_every_jax_twin_names_a_row():
    assert len(TWIN_CASES) == len(JAX_TWINS), set(JAX_TWINS) - {c.name for c in TWIN_CASES}


@pytest.mark.parametrize("c", TWIN_CASES, ids=lambda c: c.name)
def test_vmap_matches_jax_vmap(c):
    import jax

    combos = in_axes_combinations(c.args)
    for in_axes in [combos[0], combos[-1]]:  # the first and last mixes (all mapped, last only)
        args = _control_args(c, in_axes) if c.family == C else case_args(c, in_axes)
        got = aotc.vmap(c.fn, in_axes=tuple(in_axes))(*args)
        want = jax.vmap(JAX_TWINS[c.name], in_axes=tuple(in_axes))(*args)
        assert_tree_close(got, tree.map(np.asarray, want), 1e-5 * c.tol, 1e-5 * c.tol)
