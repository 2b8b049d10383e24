"""Per-program compiler flags and device choice (issue 15, items 3 and 6):
aotc.tools.flags_policy reads features off the StableHLO program (structure, not timing),
compile_stablehlo applies the flag choice and records the cost, and aotc_runtime.policy picks
local-sync or local-task from that cost when no device is given. Results must not change:
every compiled program is checked against numpy.
"""

import itertools
import json
import statistics
import time

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.trace.lower import spec_of
from aotc.tools import cache, flags_policy, loop_matvec, product_sums
from aotc.tools.compile import compile_stablehlo
from aotc.tools.jit import _Compiled
from aotc.tools.targets import DATA_TILING, flags
from aotc_runtime import artifact, policy
from aotc_runtime.module import ArtifactInfo

RNG = np.random.default_rng(7)


def rnn(w, h):
    """A loop multiplying a matrix by a loop-invariant matrix: data tiling repacks w."""
    return aotc.lax.fori_loop(0, 6, lambda i, h: anp.tanh(h @ w), h, unroll=1)


def power(a, v):
    """A loop of matrix-vector products (a is invariant, but the product is a matvec)."""
    return aotc.lax.fori_loop(0, 6, lambda i, v: a @ v / anp.sqrt(anp.sum(v * v)), v, unroll=1)


def carried(w, h):
    """A while_loop carrying w unchanged: invariant although it is a loop argument."""
    def body(state):
        i, w, h = state
        return i + 1, w, anp.tanh(h @ w)
    return aotc.lax.while_loop(lambda s: s[0] < 5, body, (0, w, h))[2]


def matmul(a, b):
    return a @ b


def mlp(w1, w2, x):
    return anp.tanh(x @ w1) @ w2


W = (RNG.normal(size=(16, 16)) * 0.3).astype(np.float32)
H = RNG.normal(size=(4, 16)).astype(np.float32)
V = RNG.normal(size=16).astype(np.float32)
M128 = np.ones((128, 128), np.float32)  # a 128^2 product: 4.2e6 FLOPs, past SMALL_PRODUCT
MLP_ARGS = ((RNG.normal(size=(32, 64)) * 0.2).astype(np.float32),
            (RNG.normal(size=(64, 10)) * 0.2).astype(np.float32),
            RNG.normal(size=(8, 32)).astype(np.float32))
BIG = np.ones((2048, 2048), np.float32)


def text_of(fn, *args) -> str:
    return aotc.jit(fn).lower(*args).text_with_locations()


def features_of(fn, *args) -> flags_policy.ProgramFeatures:
    with new_context():
        return flags_policy.features(ir.Module.parse(text_of(fn, *args)))


def numpy_rnn(w, h, steps=6):
    for _ in range(steps):
        h = np.tanh(h.astype(np.float64) @ w)
    return h


# ---- features and flag choice (structure) ----
def test_loop_invariant_matmul_is_found_and_turns_data_tiling_off():
    feats = features_of(rnn, W, H)
    assert feats.loops == 1 and feats.invariant_loop_matmuls == 1
    assert feats.loop_dot_flops == 2 * 4 * 16 * 16 and feats.dot_flops == 0
    chosen = flags_policy.choose_flags(feats, flags("cpu"))
    assert DATA_TILING in flags("cpu") and DATA_TILING not in chosen
    assert chosen == [f for f in flags("cpu") if f != DATA_TILING] + [flags_policy.ALIGNMENT_FLAG]


def test_carried_invariant_matrix_counts():
    feats = features_of(carried, W, H)
    assert feats.loops == 1 and feats.invariant_loop_matmuls == 1


def test_straight_line_matmuls_keep_data_tiling():
    line = features_of(matmul, M128, M128)
    assert line.loops == 0 and line.invariant_loop_matmuls == 0
    assert line.invariant_loop_matvecs == 0
    assert line.dot_flops == line.largest_product == 2 * 128 ** 3 and line.loop_dot_flops == 0
    assert flags_policy.choose_flags(line, flags("cpu")) == [
        *flags("cpu"), flags_policy.INNER_TILED_FLAG, flags_policy.ALIGNMENT_FLAG]


def test_programs_of_small_products_drop_data_tiling():
    """Every product below SMALL_PRODUCT (small linear algebra: packing costs more than it
    saves); a program without products, or one with a large product, keeps it; the user's
    data tiling flags win."""
    small = features_of(lambda a, b: (a @ b) @ b.T, W, W)
    assert small.largest_product == 2 * 16 ** 3
    chosen = flags_policy.choose_flags(small, flags("cpu"))
    assert chosen == [f for f in flags("cpu") if f != DATA_TILING] + [flags_policy.ALIGNMENT_FLAG]
    mixed = features_of(lambda a, b, w: (a @ b, w @ w), M128, M128, W)
    assert mixed.largest_product == 2 * 128 ** 3
    assert DATA_TILING in flags_policy.choose_flags(mixed, flags("cpu"))
    none = features_of(lambda a: anp.tanh(a) * 2, W)
    assert none.largest_product == 0
    assert DATA_TILING in flags_policy.choose_flags(none, flags("cpu"))
    assert DATA_TILING in flags_policy.choose_flags(small, flags("cpu"), [DATA_TILING])


@pytest.mark.parametrize("unroll", [1, 6])
def test_invariant_matrix_vector_loops_drop_data_tiling_and_get_the_tuning_spec(unroll):
    """However many products per iteration (the suite's power iteration has 10, RK4 40): the
    spec's vecmat tiles beat data tiling's repacking on x86-64 (aotc.tools.loop_matvec)."""
    feats = features_of(lambda a, v: aotc.lax.fori_loop(
        0, 6, lambda i, v: a @ v / anp.sqrt(anp.sum(v * v)), v, unroll=unroll), W, V)
    assert feats.loops == 1 and feats.invariant_loop_matmuls == 0
    assert feats.invariant_loop_matvecs == unroll
    chosen = flags_policy.choose_flags(feats, flags("x86_64"))
    assert DATA_TILING in flags("x86_64") and DATA_TILING not in chosen
    assert chosen[-2:] == [loop_matvec.tuning_spec_flag(), flags_policy.ALIGNMENT_FLAG]


def test_tuning_spec_only_on_x86_and_when_the_user_names_none():
    feats = features_of(power, W, V)
    spec = loop_matvec.tuning_spec_flag()
    arm = flags_policy.choose_flags(feats, flags("aarch64"))
    assert spec not in arm and arm[-1] == flags_policy.ALIGNMENT_FLAG
    assert spec in flags_policy.choose_flags(feats, flags("x86_64"))
    mine = ["--iree-codegen-tuning-spec-path=/elsewhere.mlir"]
    assert spec not in flags_policy.choose_flags(feats, [*flags("cpu"), *mine], mine)


def test_matmul_bound_programs_get_inner_tiling():
    feats = features_of(matmul, M128, M128)
    assert feats.plain_matmuls == 1 and feats.other_dots == 0 and feats.elements == 0
    assert flags_policy.INNER_TILED_FLAG in flags_policy.choose_flags(feats, flags("x86_64"))
    assert flags_policy.INNER_TILED_FLAG not in flags_policy.choose_flags(feats,
                                                                          flags("aarch64"))
    mine = ["--iree-llvmcpu-enable-inner-tiled=false"]
    assert flags_policy.choose_flags(feats, [*flags("cpu"), *mine], mine) == [
        *flags("cpu"), *mine, flags_policy.ALIGNMENT_FLAG]
    assert flags_policy.INNER_TILED_FLAG not in flags_policy.choose_flags(
        feats, [f for f in flags("cpu") if f != DATA_TILING])


@pytest.mark.parametrize("name, fn, args", [
    # 2 * 8 * (32 * 64 + 64 * 10) FLOPs, 8 * 64 tanh elements: 85 per element, elementwise-bound
    ("mlp", mlp, MLP_ARGS),
    # IREE 3.13 fails to compile batched matmuls with inner tiling (and data tiling)
    ("batched", matmul, (np.ones((4, 16, 8), np.float32), np.ones((4, 8, 16), np.float32))),
    ("matvec", matmul, (W, V)),
    ("int", matmul, (np.ones((16, 16), np.int32), np.ones((16, 16), np.int32))),
    ("loop", rnn, (W, H)),
])
def test_other_programs_get_no_inner_tiling(name, fn, args):
    feats = features_of(fn, *args)
    assert flags_policy.INNER_TILED_FLAG not in flags_policy.choose_flags(feats, flags("cpu"))


def test_inner_tiled_matmuls_are_right():
    """Odd sizes (IREE pads to its 29x16 tile), compiled with the chosen flags (checked to hold
    INNER_TILED_FLAG), against numpy in float64."""
    for m, k, n in ((130, 131, 145), (1, 2049, 517)):  # past SMALL_PRODUCT: data tiled
        a = RNG.normal(size=(m, k)).astype(np.float32)
        b = RNG.normal(size=(k, n)).astype(np.float32)
        text = text_of(matmul, a, b)
        with new_context():
            feats = flags_policy.features(ir.Module.parse(text))
        assert flags_policy.INNER_TILED_FLAG in flags_policy.choose_flags(feats, flags("cpu"))
        module = aotc_runtime.load_bytes(compile_stablehlo(text, "cpu", use_cache=False),
                                         require_aotc=False)
        (got,) = module[module.functions[0]](a, b)
        # float32 sums of k products: within 1e-5 of the sum of their magnitudes
        error = np.abs(got - a.astype(np.float64) @ b)
        assert np.all(error <= 1e-5 * (np.abs(a).astype(np.float64) @ np.abs(b))), error.max()


def test_merged_product_sums_turn_transpose_propagation_off():
    """A scan gradient's weight sums, merged by tools/product_sums.py, keep their layout only
    without IREE's transpose propagation; a loop without merged sums keeps it, and the user's
    flags about it win."""
    def grads(xs, ds):
        return aotc.lax.fori_loop(0, 4, lambda i, acc: acc + xs[i].T @ ds[i],
                                  anp.zeros((3, 5), np.float32), unroll=2)

    xs, ds = np.ones((4, 2, 3), np.float32), np.ones((4, 2, 5), np.float32)
    with new_context():
        module = ir.Module.parse(text_of(grads, xs, ds))
        assert flags_policy.features(module).loop_concat_products == 0
        assert product_sums.rewrite(module) == 1
        feats = flags_policy.features(module)
    assert feats.loop_concat_products == 1
    assert flags_policy.NO_TRANSPOSE_PROPAGATION in flags_policy.choose_flags(feats, flags("cpu"))
    assert flags_policy.NO_TRANSPOSE_PROPAGATION not in flags_policy.choose_flags(
        features_of(rnn, W, H), flags("cpu"))
    mine = ["--iree-global-opt-propagate-transposes=true"]
    assert flags_policy.NO_TRANSPOSE_PROPAGATION not in flags_policy.choose_flags(
        feats, [*flags("cpu"), *mine], mine)


TABLE = RNG.normal(size=(500, 37)).astype(np.float32)
IDS = RNG.integers(-700, 700, 333).astype(np.int32)  # out of range too: clamped or NaN-filled


def take_rows(t, i):
    return anp.take(t, i, axis=0)


@pytest.mark.parametrize("name, fn, args, flagged", [
    ("rows", take_rows, (TABLE, IDS), True),
    ("rows_2d_ids", take_rows, (TABLE, IDS[:35].reshape(5, 7)), True),
    ("int_rows_into_matmul", lambda t, i, w: anp.tanh(anp.take(t, i, axis=0, mode="clip") @ w),
     (TABLE, IDS, RNG.normal(size=(37, 16)).astype(np.float32)), True),
    ("rows_gradient", lambda t, i: aotc.grad(
        lambda t: anp.sum(anp.take(t, i, axis=0, mode="clip") ** 2))(t), (TABLE, IDS), True),
    # IREE 3.13 fails to compile these with TRANSFER_GATHER_FLAG
    ("columns", lambda t, i: anp.take(t, i, axis=1, mode="clip"), (TABLE, IDS[:20]), False),
    ("along_axis", lambda t, c: anp.take_along_axis(t, c, axis=1, mode="clip"),
     (TABLE, RNG.integers(0, 37, (500, 3)).astype(np.int32)), False),
    ("rows_of_3d", lambda x, i: x[i], (TABLE.reshape(50, 10, 37), IDS % 50), False),
    ("rows_in_a_loop", lambda t, i: aotc.lax.fori_loop(
        0, 3, lambda k, acc: acc + anp.take(t, i + k, axis=0, mode="clip"),
        anp.zeros((333, 37), np.float32)), (TABLE, IDS), False),
    # and reverses, which IREE reads by computed indices too (a strided convolution's gradient
    # flips its filter; this failed to compile with the flag)
    ("rows_and_a_flip", lambda t, i, w: (anp.take(t, i, axis=0, mode="clip"), anp.flip(w, (0, 1))),
     (TABLE, IDS, RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)), False),
])
def test_row_gathers_get_transfer_gathers_and_stay_right(name, fn, args, flagged):
    """The flag only where every gather takes matrix rows outside loops, and the program
    compiled with the chosen flags equals JAX (JAX's clamp and NaN-fill index rules)."""
    import jax
    import jax.numpy as jnp

    text = text_of(fn, *args)
    with new_context():
        feats = flags_policy.features(ir.Module.parse(text))
    chosen = flags_policy.choose_flags(feats, flags("cpu"))
    assert (flags_policy.TRANSFER_GATHER_FLAG in chosen) == flagged
    module = aotc_runtime.load_bytes(compile_stablehlo(text, "cpu", use_cache=False),
                                     require_aotc=False)
    got = module[module.functions[0]](*args)
    jax_fn = {"rows": lambda t, i: jnp.take(t, i, axis=0),
              "rows_2d_ids": lambda t, i: jnp.take(t, i, axis=0)}.get(name)
    if jax_fn is None:  # the same code on JAX's modules
        jax_fn = _on_jax(fn)
    want = jax.tree_util.tree_leaves(jax.jit(jax_fn)(*args))
    for g, w in zip(jax.tree_util.tree_leaves(got), want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-5, equal_nan=True)


def _on_jax(fn):
    """fn with aotc.numpy, aotc.lax and aotc.grad swapped for JAX's (its globals replaced)."""
    import types

    import jax
    import jax.numpy as jnp

    jax_aotc = types.SimpleNamespace(lax=jax.lax, grad=jax.grad)
    return types.FunctionType(fn.__code__, {**fn.__globals__, "anp": jnp, "aotc": jax_aotc},
                              fn.__name__, fn.__defaults__, fn.__closure__)


def test_user_flags_about_transfer_gathers_win():
    feats = features_of(take_rows, TABLE, IDS)
    mine = ["--iree-llvmcpu-experimental-vectorize-to-transfer-gather=false"]
    assert flags_policy.TRANSFER_GATHER_FLAG not in flags_policy.choose_flags(
        feats, [*flags("cpu"), *mine], mine)
    assert flags_policy.TRANSFER_GATHER_FLAG not in flags_policy.choose_flags(feats,
                                                                             flags("aarch64"))


def test_user_flags_about_data_tiling_win():
    feats = features_of(rnn, W, H)
    mine = [f"{DATA_TILING}=true"]
    assert flags_policy.choose_flags(feats, [*flags("cpu"), *mine], mine) == [
        *flags("cpu"), *mine, flags_policy.ALIGNMENT_FLAG]


def test_an_update_slice_counts_the_update_not_the_buffer():
    """A scan writing one row per step into its (steps, n) output: the work of an iteration is
    the row (the RNN gradient's loop_elements were 1.7e7 per iteration with the whole buffer
    counted, over aotc_runtime.policy.LOOP_ELEMENTS, and it went to local-task)."""
    def rows(x):
        return aotc.lax.fori_loop(
            0, 100, lambda i, ys: aotc.lax.dynamic_update_slice(ys, x[None] * 2, (i, 0)),
            anp.zeros((100, 64), np.float32), unroll=1)

    feats = features_of(rows, np.ones(64, np.float32))
    assert feats.loops == 1 and 2 * 64 <= feats.loop_elements < 100 * 64


def test_convolution_flops():
    def conv(x, k):
        return aotc.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
    feats = features_of(conv, np.ones((2, 8, 8, 3), np.float32), np.ones((3, 3, 3, 5),
                                                                          np.float32))
    assert feats.dot_flops == 2 * (2 * 8 * 8 * 5) * (3 * 3 * 3)


# ---- compile_stablehlo: chosen flags in the cache key, cost recorded, results unchanged ----
def test_compile_uses_the_chosen_flags_in_the_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("AOTC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AOTC_CACHE", raising=False)
    keyed = []
    real_key = cache.key
    monkeypatch.setattr(cache, "key", lambda text, fl, *a: keyed.append((text, fl))
                        or real_key(text, fl, *a))
    compile_stablehlo(text_of(rnn, W, H), "cpu")
    compile_stablehlo(text_of(matmul, M128, M128), "cpu")
    (rnn_text, rnn_flags), (mm_text, mm_flags) = keyed
    assert DATA_TILING not in rnn_flags and DATA_TILING in mm_flags
    assert artifact.KEY_COST in rnn_text and artifact.KEY_COST in mm_text


@pytest.fixture(scope="module")
def rnn_modules():
    """The RNN compiled with the chosen flags (no data tiling) and with the preset's."""
    text = text_of(rnn, W, H)
    chosen = aotc_runtime.load_bytes(compile_stablehlo(text, "cpu", use_cache=False),
                                     require_aotc=False)
    preset = aotc_runtime.load_bytes(compile_stablehlo(text, "cpu", flags("cpu"), replace=True,
                                                       use_cache=False), require_aotc=False)
    return chosen, preset


def test_results_unchanged_by_the_chosen_flags(rnn_modules):
    chosen, preset = rnn_modules
    want = numpy_rnn(W, H)
    (got,), (ref,) = chosen["rnn"](W, H), preset["rnn"](W, H)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_recorded_cost_and_replace_records_nothing(rnn_modules):
    chosen, preset = rnn_modules
    assert chosen.driver == "local-sync"  # a small loop
    assert preset.driver == "local-task"  # replace=True: the user's flags, no policy
    with new_context():
        module = ir.Module.parse(text_of(rnn, W, H))
        feats = flags_policy.features(module)
    cost = json.loads(flags_policy.cost_metadata(feats))
    assert cost["loops"] == 1 and cost["loop_dot_flops"] == feats.loop_dot_flops


# ---- device choice ----
@pytest.fixture(scope="module")
def jitted():
    """_Compiled (aotc.jit's per-signature program) of a small MLP, a loop and a 2048 matmul."""
    def compiled(fn, *args, **kw):
        return _Compiled(aotc.jit(fn).lower(*args), "cpu", [spec_of(a) for a in args], **kw)

    return {"mlp": compiled(mlp, *MLP_ARGS), "loop": compiled(rnn, W, H),
            "matmul": compiled(matmul, BIG, BIG),
            "mlp_task": compiled(mlp, *MLP_ARGS, device="local-task"),
            "matmul_sync": compiled(matmul, BIG, BIG, device="local-sync")}


def test_small_programs_and_loops_run_on_local_sync(jitted):
    assert jitted["mlp"].module.driver == "local-sync"
    assert jitted["loop"].module.driver == "local-sync"
    w1, w2, x = MLP_ARGS
    np.testing.assert_allclose(jitted["mlp"].call(*MLP_ARGS)[0], np.tanh(x @ w1) @ w2, rtol=1e-5,
                               atol=1e-5)


def test_large_matmul_runs_on_local_task(jitted):
    assert jitted["matmul"].module.driver == "local-task"
    a = RNG.normal(size=(2048, 2048)).astype(np.float32)
    (got,) = jitted["matmul"].call(a, BIG)
    np.testing.assert_allclose(got[:4, :4], np.tile(a.sum(1)[:4, None], (1, 4)), rtol=1e-4,
                               atol=1e-2)


def test_explicit_device_wins(jitted):
    assert jitted["mlp_task"].module.driver == "local-task"
    assert jitted["matmul_sync"].module.driver == "local-sync"


def test_exported_artifact_loads_on_the_chosen_device(tmp_path):
    path = str(tmp_path / "mlp.vmfb")
    aotc.compile(mlp, *MLP_ARGS, path=path)
    assert ArtifactInfo(open(path, "rb").read(), path).driver == "local-task"  # the target's
    assert aotc_runtime.load(path).driver == "local-sync"
    assert aotc_runtime.load(path, device="local-task").driver == "local-task"


def test_sharded_programs_keep_local_task():
    text = """module @m {
  func.func public @main(%a: tensor<4xf32>, %b: tensor<4xf32> {aotc.device = 1 : i64})
      -> (tensor<4xf32>, tensor<4xf32> {aotc.device = 1 : i64}) {
    %b2 = stablehlo.multiply %b, %b : tensor<4xf32>
    %bt = stablehlo.custom_call @aotc.transfer(%b2) {backend_config = "1->0"}
        : (tensor<4xf32>) -> tensor<4xf32>
    %s = stablehlo.add %a, %bt : tensor<4xf32>
    %s1 = stablehlo.custom_call @aotc.transfer(%s) {backend_config = "0->1"}
        : (tensor<4xf32>) -> tensor<4xf32>
    return %s, %s1 : tensor<4xf32>, tensor<4xf32>
  }
}
"""
    module = aotc_runtime.load_bytes(compile_stablehlo(text, "cpu", use_cache=False),
                                     require_aotc=False)
    assert module.device_count == 2 and module.driver == "local-task"
    a, b = np.arange(4, dtype=np.float32), np.full(4, 2, np.float32)
    got = module["main"](a, b)
    np.testing.assert_allclose(got[0], a + b * b)
    np.testing.assert_allclose(got[1], a + b * b)


def test_mid_size_programs_are_timed_on_both_devices():
    a = RNG.normal(size=(256, 256)).astype(np.float32)
    compiled = _Compiled(aotc.jit(matmul).lower(a, a), "cpu", [spec_of(a)] * 2)
    choice = compiled.call
    assert isinstance(choice, policy.TimedChoice)
    assert set(choice.calls) == {"local-sync", "local-task"}
    for _ in range(2 * choice.rounds + 2):
        (got,) = choice(a, a)
        np.testing.assert_allclose(got, a.astype(np.float64) @ a, rtol=1e-4, atol=1e-3)
    assert choice.chosen in ("local-sync", "local-task") and list(choice.calls) == [choice.chosen]
    assert all(len(t) == choice.rounds for t in choice.times.values())


def test_timed_choice_keeps_the_faster_function():
    def slow(x):
        time.sleep(0.02)
        return x + 1

    choice = policy.TimedChoice({"slow": slow, "fast": lambda x: x + 1}, rounds=3)
    assert [choice(i) for i in range(8)] == list(range(1, 9))
    assert choice.chosen == "fast" and choice.times["slow"][1] >= 0.02


def test_timed_choice_weighs_the_slow_calls_of_a_bimodal_function():
    """Fast on most calls but slow on some (local-task's worker hand-offs): its median beats
    the steady function, its mean (what the calls cost in all) does not."""
    count = itertools.count()

    def bimodal(x):
        time.sleep(0.04 if next(count) % 3 == 2 else 0.0)
        return x + 1

    def steady(x):
        time.sleep(0.01)
        return x + 1

    choice = policy.TimedChoice({"bimodal": bimodal, "steady": steady}, rounds=7)
    assert [choice(i) for i in range(16)] == list(range(1, 17))
    timed = choice.times["bimodal"][1:]
    assert statistics.median(timed) < min(choice.times["steady"][1:]) <= statistics.fmean(timed)
    assert choice.chosen == "steady"


def test_runtime_policy_decisions():
    assert policy.driver_for({"dot_flops": 2 * 2048 ** 3}) == "local-task"
    assert policy.driver_for({"elements": 5e7}) == "local-task"
    assert policy.driver_for({"loop_dot_flops": 2.1e9, "loops": 1}) == "local-task"
    assert policy.driver_for({"loop_dot_flops": 2e8, "loops": 3}) == "local-sync"  # the RNN
    assert policy.driver_for({"dot_flops": 1.7e8, "elements": 8e5}) == "local-sync"
    assert policy.driver_for({"loop_dot_flops": 5e6, "loops": 1}) == "local-sync"
    small = {"f": {artifact.KEY_COST: '{"dot_flops": 10}'}}
    assert policy.choose_driver("local-task", small, 1) == "local-sync"
    assert policy.choose_driver("local-task", small, 2) == "local-task"  # sharded
    assert policy.choose_driver("vulkan", small, 1) == "vulkan"
    assert policy.choose_driver("local-task", {"f": {}}, 1) == "local-task"  # no cost recorded
    bad = {"f": {artifact.KEY_COST: "not json"}}
    assert policy.choose_driver("local-task", bad, 1) == "local-task"
    assert not policy.uncertain({"dot_flops": 10, "elements": 100})  # tiny: local-sync
    assert not policy.uncertain({"dot_flops": 2 * 2048 ** 3})  # large: local-task
    assert not policy.uncertain({"loop_dot_flops": 2.1e9, "loops": 1})  # large loop: local-task
    assert not policy.uncertain({"loop_dot_flops": 5e6, "loops": 1})  # small loop: local-sync
    assert policy.uncertain({"dot_flops": 1.7e8, "elements": 8e5})  # an MLP forward: timed
