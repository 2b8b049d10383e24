"""aotc.lax against jax.lax (the oracle), NumPy and plain Python loops.

Each program is written once against a lax-like module `L` and a numpy-like module `m`, then run
with (aotc.lax, aotc.numpy) through the interpreter and IREE, and with (jax.lax, jax.numpy).
IREE compiles are grouped: one per program and signature.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_tree_close, check, interpret_fn

import aotc
import aotc.frontend.core.ir
import aotc.lax as lax
import aotc.numpy as anp
from aotc.frontend.ops.conv import conv_dimensions, conv_dimensions_attr

jax.config.update("jax_platforms", "cpu")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3)).astype(np.float32)


def _jax(program, *args):
    out = jax.jit(lambda *a: program(jax.lax, jnp, *a))(*args)
    return jax.tree_util.tree_map(np.asarray, out)


def _ours(program):
    return lambda *a: program(lax, anp, *a)


def _against_jax(program, *args, jit=False, rtol=1e-5, atol=1e-5):
    expected = _jax(program, *args)
    assert_tree_close(interpret_fn(_ours(program), *args), expected, rtol, atol)
    if jit:
        assert_tree_close(aotc.jit(_ours(program))(*args), expected, rtol, atol)


# ---- control flow ------------------------------------------------------------------------------


def control_program(L, m, x, n):
    """cond, switch, while, fori (static and traced bounds), scan, map; closures over x."""

    def body(i, acc):
        inner, _ = L.scan(lambda c, r: (c + r * i, c), acc, x)  # nested loop, captures x
        return L.cond(i % 2 == 0, lambda a: a, lambda a: a - 1.0, inner)

    def newton(state):
        k, y = state
        return k + 1, 0.5 * (y + 2.0 / y)

    return {
        "cond": L.cond(x.sum() > 0, lambda v: (v * 2, v.sum()), lambda v: (-v, v.max()), x),
        "cond_number_pred": L.cond(n, lambda: x[0], lambda: x[1]),
        "switch": [L.switch(k, [lambda v: v, lambda v: v * 2, lambda v: v - 1], x[0])
                   for k in (n - 5, n, n + 1, n + 9)],
        "while": L.while_loop(lambda s: s[0] < 6, newton, (0, m.float32(1.0))),
        "fori_static": L.fori_loop(0, 3, body, m.zeros(3)),
        "fori_traced": L.fori_loop(n, 2 * n + 1, lambda i, c: c * 1.5 + i, x[:, 0]),
        "scan": L.scan(lambda c, xs: (c + xs["a"], {"y": c * xs["b"], "s": xs["a"].sum()}),
                       m.zeros(3), {"a": x, "b": x[:, ::-1]}),
        "scan_reverse": L.scan(lambda c, r: (c * 0.5 + r, c), x[0], x, reverse=True),
        "scan_length": L.scan(lambda c, _: (c * 2.0, c + n), 1.0, None, length=5),
        "map": L.map(lambda r: m.tanh(r).sum(), x),
    }


@pytest.mark.parametrize("n", [np.int32(1), np.int32(2)])
def test_control_flow_matches_jax_interpreter_and_iree(n):
    _against_jax(control_program, X, n, jit=True)
    _against_jax(control_program, -X, n)  # the other cond branch


def test_control_flow_matches_python_loops():
    def program(x):
        total = lax.fori_loop(0, 4, lambda i, c: c + x[i] * i, anp.zeros(3))
        count = lax.while_loop(lambda c: c[1] < 100.0, lambda c: (c[0] + 1, c[1] * 3.0), (0, 1.0))
        carry, ys = lax.scan(lambda c, r: (c * r, c.sum()), anp.ones(3), x)
        return total, count, carry, ys

    def reference(x):
        total = sum(x[i] * i for i in range(4))
        k, v = 0, 1.0
        while v < 100.0:
            k, v = k + 1, v * 3.0
        carry, ys = np.ones(3, np.float32), []
        for r in x:
            ys.append(carry.sum())
            carry = carry * r
        return total, (np.int32(k), np.float32(v)), carry, np.array(ys, np.float32)

    check(program, reference, X, jit=False)


def test_concrete_pred_and_index_call_only_the_chosen_branch():
    called = []

    def branch(name):
        return lambda v: called.append(name) or v * len(name)

    def program(x):
        return (lax.cond(True, branch("t"), branch("ff"), x),
                lax.switch(7, [branch("a"), branch("bbb")], x))

    out = interpret_fn(program, X)
    assert called == ["t", "bbb"]
    assert_tree_close(out, (X, X * 3))
    assert "stablehlo.if" not in aotc.lower(program, X).text


def test_fori_loop_is_a_counted_while():
    traced = aotc.lower(lambda x, n: lax.fori_loop(0, n, lambda i, c: c + i, x), X, np.int32(3))
    text = traced.text
    (got,) = aotc.interpret(traced.module, traced.name, X, np.int32(3))
    np.testing.assert_allclose(got, X + (0 + 1 + 2), rtol=1e-6)
    assert text.count("stablehlo.while") == 1
    cond = text.split("cond {")[1].split("} do {")[0]
    assert "stablehlo.compare LT, %iterArg, %arg1" in cond
    body = text.split("} do {")[1]
    assert "stablehlo.add %iterArg, %c" in body


def test_cond_with_pytree_operands_and_both_branches():
    def program(p, x):
        return lax.cond(p, lambda a, b: {"s": a["w"] @ b, "n": a["k"]},
                        lambda a, b: {"s": -(a["w"] @ b), "n": a["k"] * 2}, {"w": x.T, "k": 3}, x)

    def reference(p, x):
        sign, k = (1, 3) if p else (-1, 6)
        return {"s": sign * (x.T @ x), "n": np.int32(k)}

    for p in (np.bool_(True), np.bool_(False)):
        check(program, reference, p, X, jit=False, rtol=1e-5, atol=1e-5)


def test_weak_types_follow_jax():
    h = np.float16(1.5)

    def program(L, m, h):
        # a Python-scalar carry is weak: promoted to float16 by the body, as in JAX
        return (L.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] + h), (0, 0)),
                L.fori_loop(0, 3, lambda i, c: c + 0.5, 0))

    _against_jax(program, h)
    traced = aotc.lower(lambda x: (lax.cond(x.sum() > 0, lambda: 1.0, lambda: 2.0),
                                   lax.cond(x.sum() > 0, lambda: x[0, 0], lambda: 0.0),
                                   lax.fori_loop(0, 2, lambda i, c: c + 1, 0)), X)
    assert traced.out_weak == [True, False, True]


def test_zero_length_scan_keeps_types():
    def program(L, m, x):
        return L.scan(lambda c, r: (c + r.sum(), r * 2), 0.0, x)

    _against_jax(program, np.zeros((0, 3), np.float32))


def test_control_flow_errors_name_both_sides():
    with pytest.raises(aotc.TracingError, match=r"output\[1\].*true_fn returns float32\[4, 3\], "
                       r"false_fn returns float32\[3\]"):
        aotc.lower(lambda x: lax.cond(x.sum() > 0, lambda: (x, x), lambda: (x, x[0])), X)
    with pytest.raises(aotc.TracingError, match=r"true_fn returns structure .* false_fn"):
        aotc.lower(lambda x: lax.cond(x.sum() > 0, lambda: {"a": x}, lambda: [x]), X)
    with pytest.raises(aotc.TracingError, match=r"branch 0 returns int32.*branch 1 returns float"):
        aotc.lower(lambda x, k: lax.switch(k, [lambda: k, lambda: x[0, 0]]), X, np.int32(0))
    with pytest.raises(aotc.TracingError, match=r"carry\['b'\] from float32\[4, 3\] to int32"):
        aotc.lower(lambda x: lax.while_loop(lambda c: c["a"] < 3,
                                            lambda c: {"a": c["a"] + 1, "b": c["b"].astype(int)},
                                            {"a": 0, "b": x}), X)
    with pytest.raises(aotc.TracingError, match=r"carry\[0\] from float32\[3\] to float32\[1, 3\]"):
        aotc.lower(lambda x: lax.fori_loop(0, 2, lambda i, c: (c[0][None], c[1]), (x[0], 1)), X)
    with pytest.raises(aotc.TracingError, match=r"scan: the body changes carry from float32\[3\] "
                       r"to float16\[3\]"):
        aotc.lower(lambda x: lax.scan(lambda c, r: (c.astype(anp.float16), r), x[0], x), X)
    with pytest.raises(aotc.TracingError, match="boolean scalar"):
        aotc.lower(lambda x: lax.while_loop(lambda c: c, lambda c: c - 1, 3), X)
    with pytest.raises(aotc.TracingError, match="structure"):
        aotc.lower(lambda x: lax.while_loop(lambda c: c[0] < 3, lambda c: c[0] + 1, (0, x)), X)
    with pytest.raises(aotc.TracingError, match="disagree"):
        aotc.lower(lambda x: lax.scan(lambda c, r: (c, r), 0.0, x, length=3), X)
    with pytest.raises(aotc.TracingError, match="index must be an integer"):
        aotc.lower(lambda x: lax.switch(x[0, 0], [lambda: 1.0, lambda: 2.0]), X)


# ---- convolution -------------------------------------------------------------------------------

CONV_CASES = {
    "nchw_valid": ((2, 3, 9, 8), (4, 3, 3, 2), dict(window_strides=(1, 1), padding="VALID")),
    "nchw_same_strided": ((2, 3, 9, 8), (4, 3, 3, 2), dict(window_strides=(2, 3), padding="SAME")),
    "explicit_dilated": ((2, 3, 9, 8), (4, 3, 3, 2), dict(
        window_strides=(2, 1), padding=((1, 2), (0, 1)), lhs_dilation=(2, 1),
        rhs_dilation=(1, 2))),
    "nhwc_groups": ((2, 9, 8, 6), (3, 2, 3, 4), dict(
        window_strides=(1, 2), padding="SAME_LOWER", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=2)),
    "depthwise_to_nchw": ((2, 7, 5, 3), (3, 3, 1, 6), dict(
        window_strides=(2, 2), padding="SAME", dimension_numbers=("NHWC", "HWIO", "NCHW"),
        rhs_dilation=(2, 1), feature_group_count=3)),
    "conv1d_batch_groups_negative_pad": ((4, 6, 7), (6, 6, 3), dict(
        window_strides=(1,), padding=((-1, 2),), dimension_numbers=("NCH", "OIH", "NCH"),
        batch_group_count=2)),
    "odd_layouts": ((1, 5, 6, 2), (4, 2, 3, 3), dict(
        window_strides=(1, 1), padding="VALID", dimension_numbers=("NWHC", "OIWH", "CHWN"))),
    "conv3d": ((1, 2, 5, 4, 4), (3, 2, 2, 3, 2), dict(window_strides=(1, 2, 1), padding="SAME")),
}


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv_general_dilated_matches_jax(name):
    lhs_shape, rhs_shape, kw = CONV_CASES[name]
    lhs = RNG.standard_normal(lhs_shape).astype(np.float32)
    rhs = RNG.standard_normal(rhs_shape).astype(np.float32)
    _against_jax(lambda L, m, a, b: L.conv_general_dilated(a, b, **kw), lhs, rhs, rtol=1e-4)


def test_convolutions_compile_with_iree():
    names = ["nchw_same_strided", "explicit_dilated", "nhwc_groups",
             "conv1d_batch_groups_negative_pad"]
    args = []
    for name in names:
        lhs_shape, rhs_shape, _ = CONV_CASES[name]
        args += [RNG.standard_normal(lhs_shape).astype(np.float32),
                 RNG.standard_normal(rhs_shape).astype(np.float32)]

    def program(L, m, *arrays):
        return {name: L.conv_general_dilated(arrays[2 * i], arrays[2 * i + 1],
                                             **CONV_CASES[name][2])
                for i, name in enumerate(names)}

    _against_jax(program, *args, jit=True, rtol=1e-4)


def test_conv_convenience_and_int_operands():
    lhs = RNG.integers(-3, 4, (1, 2, 5, 5)).astype(np.int32)
    rhs = RNG.integers(-3, 4, (3, 2, 2, 2)).astype(np.int32)
    _against_jax(lambda L, m, a, b: (L.conv(a, b, (1, 1), "SAME"),
                                     L.conv(a.astype(m.float32), b.astype(m.float32), (2, 2),
                                            "VALID")), lhs, rhs)


def test_conv_dimension_numbers_round_trip_and_errors():
    with aotc.frontend.core.ir.new_context():
        specs = ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
        attr = conv_dimensions_attr(*specs)
        assert str(attr) == "#stablehlo.conv<[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]>"
        assert conv_dimensions(str(attr)) == specs
    x, w = np.ones((1, 4, 5, 5), np.float32), np.ones((2, 3, 3, 3), np.float32)
    with pytest.raises(aotc.TracingError, match="do not fit"):
        aotc.lower(lambda x, w: lax.conv(x, w, (1, 1), "SAME"), x, w)
    with pytest.raises(aotc.TracingError, match="spatial letters"):
        aotc.lower(lambda x, w: lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHX", "NCHW")), x, w)


# ---- windowed reductions -----------------------------------------------------------------------

WINDOWS = {
    "valid_2x2": ((1, 2, 2, 1), (1, 2, 2, 1), "VALID", None, None),
    "same_strided": ((1, 3, 2, 1), (1, 2, 1, 1), "SAME", None, None),
    "explicit_dilated": ((1, 2, 2, 1), (1, 1, 2, 1), ((0, 0), (1, 2), (2, 1), (0, 0)),
                         (1, 2, 1, 1), (1, 1, 2, 1)),
}


def window_program(L, m, x, xi):
    out = {}
    for name, (dims, strides, padding, base, dilation) in WINDOWS.items():
        kw = dict(base_dilation=base, window_dilation=dilation)
        out[name] = {
            "max": L.reduce_window(x, -np.inf, L.max, dims, strides, padding, **kw),
            "sum": L.reduce_window(x, 0.0, L.add, dims, strides, padding, **kw),
            "int_min": L.reduce_window(xi, np.int32(2**31 - 1), L.min, dims, strides, padding,
                                       **kw),
            # not a single-op body: the general region path
            "softsum": L.reduce_window(x, 0.0, lambda a, b: a + m.abs(b) * 0.5, dims, strides,
                                       padding, **kw),
        }
    return out


def test_reduce_window_matches_jax_interpreter_and_iree():
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    xi = RNG.integers(-50, 50, (2, 7, 6, 3)).astype(np.int32)
    _against_jax(window_program, x, xi, jit=True)


def test_reduce_window_variadic_operands():
    x = RNG.standard_normal((6, 5)).astype(np.float32)

    def program(L, m, x):
        # running (max, sum) pair through one general body
        return L.reduce_window((x, x * 2), (-np.inf, 0.0),
                               lambda a, b: (L.max(a[0], b[0]), a[1] + b[1]), (2, 3), (1, 2),
                               "SAME")

    _against_jax(program, x)


def _pool_reference(x, window, strides, padding, kind):
    dims, steps = (1, *window, 1), (1, *strides, 1)
    if kind == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, steps, padding)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, steps, padding)
    if kind == "avg":
        return total / np.prod(window)
    return total / jax.lax.reduce_window(jnp.ones_like(x), 0.0, jax.lax.add, dims, steps, padding)


def test_pooling_helpers():
    x = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)

    def program(x):
        return (lax.max_pool(x, (2, 2), (2, 2)), lax.avg_pool(x, (3, 3), (2, 2), "SAME"),
                lax.avg_pool(x, (3, 3), (2, 2), "SAME", count_include_pad=False),
                lax.max_pool(x[0], (3, 2), padding=((1, 1), (0, 1))))

    def reference(x):
        return tuple(np.asarray(r) for r in (
            _pool_reference(x, (2, 2), (2, 2), "VALID", "max"),
            _pool_reference(x, (3, 3), (2, 2), "SAME", "avg"),
            _pool_reference(x, (3, 3), (2, 2), "SAME", "avg_valid"),
            jax.lax.reduce_window(x[0], -jnp.inf, jax.lax.max, (3, 2, 1), (1, 1, 1),
                                  ((1, 1), (0, 1), (0, 0)))))

    check(program, reference, x, jit=False)


# ---- dot_general, reduce, simple wrappers ------------------------------------------------------


def wrappers_program(L, m, a, b, k):
    i = m.arange(6, dtype=m.int32).reshape(2, 3) - 2
    return {
        "dot_batched": L.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
        "dot_no_batch": L.dot_general(a, b, (((2,), (1,)), ((), ()))),
        "dot_pref": L.dot_general(i, i.T, (((1,), (0,)), ((), ())),
                                  preferred_element_type=m.float32),
        "dot": L.dot(a[0], b[0]),
        "reduce_sum": L.reduce(a, np.float32(0), L.add, (0, 2)),
        "reduce_max": L.reduce(i, np.int32(-(2**31)), L.max, (1,)),
        "arith": (L.add(a, 1.0), L.sub(a, a), L.mul(a, 2.0), L.div(a, 4.0), L.max(a, 0.0),
                  L.min(a, 0.0), L.neg(a), L.abs(a), L.square(a), L.sign(a), L.floor(a * 2),
                  L.ceil(a * 2), L.pow(L.abs(a) + 0.5, b[:, :3, :4])),
        "int_div_rem": (L.div(i, 2), L.rem(i, 2)),
        "math": (L.exp(a), L.log(L.abs(a) + 1), L.tanh(a), L.sin(a), L.cos(a),
                 L.sqrt(L.abs(a)), L.rsqrt(L.abs(a) + 1), L.erf(a), L.logistic(a)),
        "compare": (L.eq(i, 0), L.ne(i, 0), L.lt(i, 0), L.le(i, 0), L.gt(i, 0), L.ge(i, 0)),
        "select": L.select(a > 0, a, -a),
        "clamp": L.clamp(-0.5, a, 0.5),
        "broadcast_in_dim": L.broadcast_in_dim(a[0, :, 0], (2, 3, 4), (1,)),
        "reshape": (L.reshape(a, (6, 4)), L.reshape(a, (4, 6), (2, 0, 1))),
        "transpose": L.transpose(a, (2, 0, 1)),
        "slice": L.slice(a, (0, 1, 0), (2, 3, 4), (1, 1, 2)),
        "dynamic_slice": L.dynamic_slice(a, (k, k + 1, 7), (1, 2, 2)),
        "dynamic_update_slice": L.dynamic_update_slice(a, m.ones((1, 2, 2), m.float32),
                                                       (1, k, 3)),
        "concatenate": L.concatenate([a, a * 2], 1),
        "pad": L.pad(a[0], -1.0, ((1, 2, 1), (-1, 0, 0))),
        "iota": L.iota(m.int32, 5),
        "convert": L.convert_element_type(a, m.int32),
        "stop_gradient": L.stop_gradient({"x": a * 3}),
        "expand_squeeze": L.squeeze(L.expand_dims(a, (0,)), (0,)),
        "conv": L.conv(a[:, None], b[:, None, :2, :3], (1, 1), "SAME"),
        "conv_general_dilated": L.conv_general_dilated(
            a[:, None], b[:, None, :2, :2], (1, 2), "VALID", rhs_dilation=(1, 2)),
        "padtype_to_pads": m.asarray(L.padtype_to_pads((7, 6), (3, 2), (2, 2), "SAME")),
    }


def test_wrappers_match_jax_interpreter_and_iree():
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    b = RNG.standard_normal((2, 4, 5)).astype(np.float32)
    _against_jax(wrappers_program, a, b, np.int32(1), jit=True)


def test_wrappers_match_numpy():
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    b = RNG.standard_normal((2, 4, 5)).astype(np.float32)

    def program(a, b):
        return (lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
                lax.reduce_window(a, 0.0, lax.add, (1, 2, 2), (1, 1, 2)),
                lax.pad(a[0], 0.0, ((0, 0, 2), (1, 1, 0))),
                lax.reduce(a, 1.0, lambda x, y: x * y, (1,)))

    def reference(a, b):
        windows = np.stack([np.stack([a[:, r:r + 2, c:c + 2].sum(axis=(1, 2))
                                      for c in (0, 2)], -1) for r in (0, 1)], 1)
        padded = np.zeros((7, 6), np.float32)
        padded[::3, 1:-1] = a[0]
        return np.einsum("bij,bjk->bik", a, b), windows, padded, a.prod(axis=1)

    check(program, reference, a, b, jit=False, rtol=1e-5, atol=1e-5)


def test_wrapper_errors():
    with pytest.raises(aotc.TracingError, match="boolean"):
        aotc.lower(lambda x: lax.select(x, x, x), X)
    with pytest.raises(aotc.TracingError, match="broadcast_in_dim"):
        aotc.lower(lambda x: lax.broadcast_in_dim(x, (3, 4), (0, 1)), X)
    with pytest.raises(aotc.TracingError, match="differ in size"):
        aotc.lower(lambda x: lax.dot_general(x, x, (((1,), (0,)), ((), ()))), X)
    with pytest.raises(aotc.TracingError, match="window_dimensions"):
        aotc.lower(lambda x: lax.reduce_window(x, 0.0, lax.add, (2,), (1,)), X)


def test_public_names():
    from aotc.frontend import lax as lax_module

    assert set(lax_module.__all__) <= set(dir(lax))
    for name in ("cond", "switch", "while_loop", "fori_loop", "scan", "map", "max_pool",
                 "avg_pool", "conv_general_dilated", "reduce_window", "dot_general"):
        assert name in lax_module.__all__
