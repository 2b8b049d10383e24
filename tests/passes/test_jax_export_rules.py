"""Rules for the ops that real JAX exports use, checked on JAX's own StableHLO.

Each program is exported with `jax.jit(f).lower(...).as_text()`, then aotc.differentiate (reverse
and forward) and aotc.vectorize add `main_vjp`, `main_jvp` and `main_vmap` to the one module; the
reference interpreter and one IREE compile of that module are compared with jax.grad, jax.jvp and
jax.vmap of the same function. Then the same fixes through aotc's own API, and the verifier
switch (AOTC_VERIFY_PASSES) that the suite runs with.
"""

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
import pytest
from helpers import check_vjp_jvp_vmap

import aotc
import aotc.lax as alax
import aotc.numpy as anp
import aotc.ops as aops
from aotc.frontend.core import registry
from aotc.frontend.core.ir import ir
from aotc.frontend.ops import elementwise as ew
from aotc.tools.cli import main as aotc_cli
from aotc.tools.compile import compile_stablehlo
from aotc_runtime import load_bytes

jax.config.update("jax_platforms", "cpu")

RNG = np.random.default_rng(7)
F32 = np.float32
SEG = np.array([0, 0, 1, 2, 2, 2, 4], np.int32)  # segment 3 is empty
TIED = np.array([1.5, 1.5, -2.0, 0.5, 3.0, 3.0, 7.0], F32)  # ties inside segments 0 and 2


def normal(*shape):
    return RNG.standard_normal(shape).astype(F32)


def _masked_prod(x, seg, n):  # a differentiable oracle for segment_prod (JAX refuses its grad)
    return jnp.stack([jnp.prod(jnp.where(seg == j, x, 1.0)) for j in range(n)])


def _window_cumulative(x, op, init):
    return jax.lax.reduce_window(x, init, op, (x.shape[0],), (1,), ((x.shape[0] - 1, 0),))


def _mixed_mlp(dtype):
    def loss(w1, b1, w2, x):
        h = jnp.dot(x.astype(dtype), w1.astype(dtype), preferred_element_type=jnp.float32) + b1
        h = jax.nn.relu(h)
        out = jnp.dot(h.astype(dtype), w2.astype(dtype), preferred_element_type=jnp.float32)
        return jnp.mean(out ** 2) + jnp.sum((w1.astype(dtype) ** 2).astype(jnp.float32))
    return loss


def _mixed_conv(x, w):  # bf16 operands, f32 result; w also feeds a bf16 op
    y = jax.lax.conv_general_dilated(
        x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), (1, 1), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"), preferred_element_type=jnp.float32)
    return jnp.sum(jnp.tanh(y * 0.1)) + jnp.sum((w.astype(jnp.bfloat16) ** 2).astype(jnp.float32))


def _cast_weights_loss(w, x):  # the bf16 weights feed a dot (f32 cotangent) and a bf16 op
    wb = w.astype(jnp.bfloat16)
    h = jnp.dot(x.astype(jnp.bfloat16), wb, preferred_element_type=jnp.float32)
    return jnp.sum(jnp.tanh(h)) + jnp.sum((wb * wb).astype(jnp.float32))


def _doubling_loop(x):  # the predicate is not batched, the first carry is
    return jax.lax.while_loop(lambda c: c[1] < 5, lambda c: (c[0] * 1.5, c[1] + 1), (x, 0))[0]


def _newton_sqrt(a):  # a data-dependent trip count per lane
    return jax.lax.while_loop(lambda c: jnp.abs(c * c - a) > 1e-4 * a,
                              lambda c: 0.5 * (c + a / c), a)


def _collatz_steps(x):
    def body(c):
        n, k, acc = c
        return jnp.where(n % 2 == 0, n // 2, 3 * n + 1), k + 1, acc * x
    n = jnp.round(x * 10).astype(jnp.int32)
    return jax.lax.while_loop(lambda c: c[0] != 1, body, (n, 0, x))[2]


# (name, function, example args, in_axes for vectorize, reference for grad/jvp or None = JAX's,
#  tolerance)
CASES = [
    ("top_k", lambda x, w: (jax.lax.top_k(x, 3)[0] * w).sum(),
     (normal(4, 6), normal(4, 3)), (0, None), None, 1e-5),
    ("bessel_i1e", lambda x: (jss.i1e(x) * x).sum() + jss.i1(x).sum(),
     (np.array([-40.0, -3.0, -0.5, 1e-9, 0.2, 2.0, 9.0, 35.0], F32),), (0,), None, 1e-5),
    ("zeta", lambda s, q: (jss.zeta(s, q) * q).sum(),  # JAX: a series derivative in s
     (np.array([1.5, 2.0, 3.3, 7.0], F32), np.array([0.4, 1.0, 2.5, 10.0], F32)), (0, 0), None,
     1e-4),
    ("next_after", lambda x: (jnp.nextafter(x, 5.0) * x).sum(), (normal(5),), (0,),
     lambda x: (x * x).sum(), 1e-5),
    ("cumprod", lambda x: (jnp.cumprod(x, axis=1) * jnp.arange(5.0)).sum(),
     (np.array([[1.5, -0.5, 0.0, 2.0, 1.1], [0.9, 1.2, -1.3, 0.7, 2.0]], F32),), (0,), None,
     1e-5),
    ("cummax_cummin", lambda x: (jax.lax.cummax(x) * 2 + jax.lax.cummin(x)).sum(),
     (normal(7),), (0,), None, 1e-6),
    # With ties JAX's cummax splits the tangent along its associative-scan tree; aotc's
    # reduce_window rule gives it to the first maximal element, as JAX's own reduce_window
    # (max_pool) rule does: that is the oracle here.
    ("cummax_cummin_ties", lambda x: (jax.lax.cummax(x) * 2 + jax.lax.cummin(x)).sum(),
     (TIED,), (0,), lambda x: (_window_cumulative(x, jax.lax.max, -jnp.inf) * 2
                               + _window_cumulative(x, jax.lax.min, jnp.inf)).sum(), 1e-6),
    ("segment_max_min", lambda x: (jax.ops.segment_max(x, SEG, 5)[np.array([0, 1, 2, 4])]
                                   * jnp.arange(1.0, 5.0)).sum()
     + jax.ops.segment_min(x * x, SEG, 5)[np.array([0, 2])].sum(), (TIED,), (0,), None, 1e-5),
    ("at_min_max", lambda x: (jnp.full(5, 1.5).at[SEG[:5]].max(x[:5])
                              + (x[2:] * 0.5).at[SEG[:5]].min(x[:5]) * x[2:]).sum(),
     (TIED,), (0,), None, 1e-5),
    ("segment_prod", lambda x: (jax.ops.segment_prod(x, SEG, 5) * jnp.arange(1.0, 6.0)).sum(),
     (np.array([1.5, 0.0, -2.0, 0.5, 3.0, 0.0, 7.0], F32),), (0,),
     lambda x: (_masked_prod(x, SEG, 5) * jnp.arange(1.0, 6.0)).sum(), 1e-5),
    ("at_multiply_unique", lambda x: (x * 0.5).at[np.array([0, 2, 4])].multiply(
        x[1:4], unique_indices=True).sum(), (normal(6),), (0,), None, 1e-5),
    ("mixed_bf16_mlp", _mixed_mlp(jnp.bfloat16),
     (normal(5, 8) * 0.3, normal(8), normal(8, 3) * 0.3, normal(4, 5)), (None, None, None, 0),
     None, 2e-2),
    ("mixed_f16_mlp", _mixed_mlp(jnp.float16),
     (normal(5, 8) * 0.3, normal(8), normal(8, 3) * 0.3, normal(4, 5)), (None, None, None, 0),
     None, 5e-3),
    ("mixed_bf16_conv", _mixed_conv, (normal(2, 6, 6, 3), normal(3, 3, 3, 4)), (0, None), None,
     2e-2),
    ("cast_weights", _cast_weights_loss, (normal(5, 8), normal(4, 5)), (None, 0), None, 2e-2),
]
LOOPS = [  # vectorize only (reverse mode of a while loop needs a counted loop)
    ("doubling_loop", _doubling_loop, (F32(1.0),)),
    ("newton_sqrt", _newton_sqrt, (F32(2.0),)),
    ("collatz", _collatz_steps, (F32(0.7),)),
]
SIZE = 3


def _float_args(args):
    return [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]


def _lanes(args, in_axes):
    return [np.asarray(a) if ax is None else
            np.stack([np.asarray(a) * F32(1 + 0.25 * k) for k in range(SIZE)], ax)
            for a, ax in zip(args, in_axes)]


def _build(fn, args, in_axes):
    module = aotc.differentiate(jax.jit(fn).lower(*args).as_text(),
                                argnums=tuple(_float_args(args)))
    aotc.differentiate(module, argnums=tuple(_float_args(args)), mode="forward")
    return aotc.vectorize(module, in_axes=in_axes, axis_size=SIZE)


def _expected(fn, reference, args, in_axes):
    argnums = tuple(_float_args(args))
    grads = jax.jit(jax.grad(reference or fn, argnums=argnums))(*args)
    rng = np.random.default_rng(11)  # the same directions whichever cases ran before
    directions = [rng.standard_normal(np.shape(args[i])).astype(F32) for i in argnums]

    def along(*xs):
        full = list(args)
        for i, x in zip(argnums, xs):
            full[i] = x
        return (reference or fn)(*full)

    _, tangent = jax.jit(lambda p, t: jax.jvp(along, p, t))([args[i] for i in argnums],
                                                             directions)
    batched = _lanes(args, in_axes)
    return grads, directions, tangent, batched, jax.jit(jax.vmap(fn, in_axes))(*batched)


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request):
    name, fn, args, in_axes, reference, tol = request.param
    module = _build(fn, args, in_axes)
    return name, module, _expected(fn, reference, args, in_axes), args, tol


def _check(run, args, expected, tol):
    check_vjp_jvp_vmap(run, args, *expected, tol)


def test_jax_export_through_the_interpreter(case):
    _, module, expected, args, tol = case
    _check(lambda name, *a: aotc.interpret(module, name, *a), args, expected, tol)


@pytest.mark.slow
def test_jax_export_through_iree(case):
    _, module, expected, args, tol = case
    with module.context:
        compiled = load_bytes(compile_stablehlo(str(module)), require_aotc=False)
    _check(lambda name, *a: compiled[name](*a), args, expected, max(tol, 1e-4))


def test_loops_with_batched_predicates_match_jax_vmap():
    lanes = np.array([0.3, 2.0, 9.0, 0.7, 1.3], F32)
    for name, fn, args in LOOPS:
        module = aotc.vectorize(jax.jit(fn).lower(*args).as_text(), axis_size=5)
        (got,) = aotc.interpret(module, "main_vmap", lanes)
        np.testing.assert_allclose(got, jax.vmap(fn)(lanes), rtol=1e-5, err_msg=name)


def test_loops_with_batched_predicates_through_iree():
    """All three loops vectorized into one module, one compile."""
    text = jax.jit(lambda a, b, c: (_doubling_loop(a), _newton_sqrt(b), _collatz_steps(c))
                   ).lower(F32(1), F32(2), F32(0.7)).as_text()
    module = aotc.vectorize(text, in_axes=(0, 0, 0), axis_size=5)
    with module.context:
        compiled = load_bytes(compile_stablehlo(str(module)), require_aotc=False)
    lanes = [np.array([0.3, 2.0, 9.0, 0.7, 1.3], F32)] * 3
    got = compiled["main_vmap"](*lanes)
    for g, fn, x in zip(got, (_doubling_loop, _newton_sqrt, _collatz_steps), lanes):
        np.testing.assert_allclose(g, jax.vmap(fn)(x), rtol=1e-5)


# ---- the same rules through aotc's own API ----------------------------------------------------


def _aotc_program(x, w, seg_x, v):
    top = (alax.top_k(x, 3)[0] * w).sum()
    prod = (anp.cumprod(x, axis=1) * anp.arange(6.0)).sum()
    extremes = (aops.segment_max(seg_x, SEG, 5)[np.array([0, 1, 2, 4])]).sum() + (
        anp.full(5, 1.5).at[SEG[:5]].min(seg_x[:5])).sum()
    h = anp.dot(x.astype(anp.bfloat16), v.astype(anp.bfloat16),
                preferred_element_type=anp.float32)
    return top + prod + extremes + anp.tanh(h).sum()


def _jax_program(x, w, seg_x, v):
    top = (jax.lax.top_k(x, 3)[0] * w).sum()
    prod = (jnp.cumprod(x, axis=1) * jnp.arange(6.0)).sum()
    extremes = (jax.ops.segment_max(seg_x, SEG, 5)[np.array([0, 1, 2, 4])]).sum() + (
        jnp.full(5, 1.5).at[SEG[:5]].min(seg_x[:5])).sum()
    h = jnp.dot(x.astype(jnp.bfloat16), v.astype(jnp.bfloat16),
                preferred_element_type=jnp.float32)
    return top + prod + extremes + jnp.tanh(h).sum()


@pytest.mark.slow
def test_aotc_api_grad_and_vmap_of_the_same_ops():
    args = (normal(4, 6), normal(4, 3), TIED, normal(6, 2))
    got = aotc.jit(aotc.grad(_aotc_program, argnums=(0, 1, 2, 3)))(*args)
    want = jax.grad(_jax_program, argnums=(0, 1, 2, 3))(*args)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=2e-2, atol=2e-2)

    def loop(a):
        return alax.while_loop(lambda c: c[1] < 5, lambda c: (c[0] * 1.5, c[1] + 1), (a, 0))[0]

    lanes = np.array([0.5, 1.0, 2.0], F32)
    np.testing.assert_allclose(aotc.jit(aotc.vmap(loop))(lanes), jax.vmap(_doubling_loop)(lanes))


# ---- the verifier after every pass ------------------------------------------------------------


def test_verify_switch_names_the_pass_that_built_invalid_ir(monkeypatch):
    """A rule that adds tensors of two element types: with AOTC_VERIFY_PASSES=1 the
    autodiff pass itself fails and names itself, instead of IREE failing later."""
    text = jax.jit(lambda x: jnp.tanh(x).sum()).lower(normal(3)).as_text()

    def wrong_tanh_jvp(ctx, primals, tangents):  # adds an f16 and an f32 tensor
        return [ew.add(ew.convert(tangents[0], ir.F16Type.get()), tangents[0])]

    monkeypatch.setitem(registry.JVP, "stablehlo.tanh", wrong_tanh_jvp)
    monkeypatch.setenv("AOTC_VERIFY_PASSES", "1")
    with pytest.raises(aotc.TracingError, match=r"autodiff \(jvp\) pass built invalid IR"):
        aotc.differentiate(text, mode="forward")
    monkeypatch.setenv("AOTC_VERIFY_PASSES", "0")  # without it, differentiate's final check
    with pytest.raises(Exception, match=r"same element type|compatible types") as e:
        aotc.differentiate(text, mode="forward")
    assert "pass built invalid IR" not in str(e.value)


# ---- the same through the CLI: `aotc grad` and `aotc vmap` on a JAX export ---------------------


def _export_mix(x):
    return (jax.lax.top_k(x, 2)[0].sum() + jnp.cumprod(x).sum()
            + jax.ops.segment_max(x, SEG[:6], 5)[np.array([0, 1, 2, 4])].sum())


def test_cli_grad_and_vmap_of_a_jax_export(tmp_path):
    x = np.array([0.5, 1.5, 1.5, -0.7, 2.0, 0.9], F32)
    source = tmp_path / "mix.mlir"
    source.write_text(jax.jit(_export_mix).lower(x).as_text())
    assert aotc_cli(["grad", str(source), "-o", str(tmp_path / "grad.mlir")]) == 0
    assert aotc_cli(["vmap", str(source), "-o", str(tmp_path / "vmap.mlir"),
                     "--in-axes", "0", "--axis-size", "2"]) == 0
    grad_module = (tmp_path / "grad.mlir").read_text()
    (_, got) = aotc.interpret(grad_module, "main_vjp", x, F32(1.0))
    np.testing.assert_allclose(got, jax.grad(_export_mix)(x), rtol=1e-5, atol=1e-6)
    lanes = np.stack([x, x[::-1]])
    (got,) = aotc.interpret((tmp_path / "vmap.mlir").read_text(), "main_vmap", lanes)
    np.testing.assert_allclose(got, jax.vmap(_export_mix)(lanes), rtol=1e-5)
