"""The cost of a gradient, and the MLP train step against JAX.

    .venv/bin/python benchmarks/grad.py [--rounds 15] [--presets cpu,bench-o3]

Times, in one run and on the same inputs (medians of per-call wall time, interleaved rounds):
- time(grad f) / time(f) for three losses, each compiled with aotc.jit: the MLP of
  models/mlp.py (batch 64), the CNN of models/cnn.py (batch 16, NHWC) and a self-attention block
  (batch 8, 64 tokens of width 64); target <= 3. JAX's own ratio is printed beside it;
- models/mlp.py's train_step (value_and_grad + SGD update), and the same step with Adam, against
  jax.jit of the same step written with jax.numpy (target: aotc / JAX <= 1.0).
Each aotc program runs two ways: through aotc.jit (numpy in and out, IREE's default local-task
device: a pool of worker threads) and through aotc_runtime on the local-sync device (inline on
the calling thread; aotc_runtime.load(path, device="local-sync")). JAX runs on device arrays,
and for the train steps also with numpy in and out, as aotc is called. Every compiled result is
checked against JAX before timing. Each compile preset (IREE flags) is measured separately; see
IREE_NOTES.md for what the flags do. A program IREE fails to compile is reported, not fatal.
"""

import argparse
import importlib.util
import os
import types
from functools import partial

import numpy as np
from timing import median_times

import aotc
import aotc.numpy as anp

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS = {
    "cpu": ("aotc.jit's default: host CPU, --iree-opt-data-tiling", None),
    "bench-global-dt": ("host CPU, --iree-global-opt-data-tiling",
                        ["--iree-global-opt-data-tiling"]),
    "bench-o3": ("host CPU, --iree-opt-level=O3, no data tiling", ["--iree-opt-level=O3"]),
}


def load_model(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "..", "models",
                                                                     f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def choose_presets(names) -> dict:
    """The benchmark's compile presets by name -> description (each is the cpu target plus the
    extra IREE flags of preset_flags, passed explicitly to aotc.jit and compile_stablehlo)."""
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise SystemExit(f"unknown presets {unknown}; choose from {', '.join(PRESETS)}")
    return {name: PRESETS[name][0] for name in names}


def preset_flags(name: str) -> list:
    """The extra IREE flags of a preset (after the cpu target's own)."""
    return list(PRESETS[name][1] or ())


# ---- the losses, written once against aotc or JAX ----------------------------------------------


def backend(kind: str) -> types.SimpleNamespace:
    """numpy, nn, lax and pooling of aotc or JAX under the same names."""
    if kind == "aotc":
        return types.SimpleNamespace(np=anp, nn=aotc.nn, lax=aotc.lax,
                                     max_pool=lambda x: aotc.lax.max_pool(x, (2, 2), (2, 2)),
                                     avg_pool=lambda x: aotc.lax.avg_pool(x, (2, 2), (2, 2)))
    import jax
    import jax.numpy as jnp

    def pool(x, init, op):
        return jax.lax.reduce_window(x, init, op, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    return types.SimpleNamespace(np=jnp, nn=jax.nn, lax=jax.lax,
                                 max_pool=lambda x: pool(x, -jnp.inf, jax.lax.max),
                                 avg_pool=lambda x: pool(x, 0.0, jax.lax.add) / 4)


def cross_entropy(b, logits, labels):
    log_probs = b.nn.log_softmax(logits, axis=-1)
    return -b.np.mean(b.np.sum(log_probs * b.nn.one_hot(labels, logits.shape[-1]), axis=-1))


def mlp_loss(b, params, x, labels):
    h = b.np.maximum(x @ params["w1"] + params["b1"], 0.0)
    return cross_entropy(b, h @ params["w2"] + params["b2"], labels)


def cnn_loss(b, params, images, labels):
    layout = ("NHWC", "HWIO", "NHWC")
    x = b.lax.conv_general_dilated(images, params["conv1"], (1, 1), "SAME",
                                   dimension_numbers=layout)
    x = b.max_pool(b.np.maximum(x + params["bias1"], 0.0))
    x = b.lax.conv_general_dilated(x, params["conv2"], (1, 1), "SAME", dimension_numbers=layout)
    x = b.avg_pool(b.np.maximum(x + params["bias2"], 0.0))
    logits = b.np.max(x, axis=(1, 2)) @ params["dense"] + params["bias3"]
    return cross_entropy(b, logits, labels)


def attention_loss(b, params, x, target):
    q, k, v = (x @ params[w] for w in ("wq", "wk", "wv"))
    scores = q @ b.np.swapaxes(k, -1, -2) / np.float32(np.sqrt(x.shape[-1]))
    out = b.nn.softmax(scores, axis=-1) @ v @ params["wo"] + x
    return b.np.mean((out - target) ** 2)


def sgd_step(b, value_and_grad, params, opt_state, x, y):
    """models/mlp.py's train_step, for JAX (and to check that the two agree)."""
    value, grads = value_and_grad(lambda p: mlp_loss(b, p, x, y))(params)
    rate = opt_state["learning_rate"]
    new = {k: p - rate * grads[k] for k, p in params.items()}
    return new, {"learning_rate": rate, "step": opt_state["step"] + 1}, value


def adam_step(b, value_and_grad, params, opt_state, x, y, rate=1e-3, b1=0.9, b2=0.999):
    """The same MLP step with Adam, whose update reads each gradient three times."""
    value, grads = value_and_grad(lambda p: mlp_loss(b, p, x, y))(params)
    step = opt_state["step"] + 1
    t = step.astype(np.float32)
    m = {k: b1 * opt_state["m"][k] + (1 - b1) * g for k, g in grads.items()}
    v = {k: b2 * opt_state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
    scale = rate * b.np.sqrt(1 - b2**t) / (1 - b1**t)
    new = {k: p - scale * m[k] / (b.np.sqrt(v[k]) + 1e-8) for k, p in params.items()}
    return new, {"step": step, "m": m, "v": v}, value


def problems(rng: np.random.Generator) -> dict:
    """name -> (loss, params, inputs...)."""
    mlp, cnn = load_model("mlp"), load_model("cnn")
    n = mlp.TRAIN_BATCH
    mlp_args = (mlp.init_params(0, mlp.DEFAULT_SIZES),
                rng.random((n, mlp.DEFAULT_SIZES[0]), dtype=np.float32),
                rng.integers(0, 10, n).astype(np.int32))
    cnn_args = (cnn.init_params(0), cnn.example_images(16, seed=1),
                rng.integers(0, 10, 16).astype(np.int32))
    d = 64
    attn_params = {w: (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
                   for w in ("wq", "wk", "wv", "wo")}
    attn_args = (attn_params, rng.standard_normal((8, 64, d)).astype(np.float32),
                 rng.standard_normal((8, 64, d)).astype(np.float32))
    return {"mlp": (mlp_loss, *mlp_args), "cnn": (cnn_loss, *cnn_args),
            "attention": (attention_loss, *attn_args)}


# ---- timing ------------------------------------------------------------------------------------


def check_close(actual, expected, what: str) -> None:
    for a, e in zip(aotc.tree.leaves(actual), aotc.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=2e-3, atol=1e-4,
                                   err_msg=what)


class Bench:
    """The timed programs (key -> callable) and why some could not be measured.

    Each aotc program is timed twice: through aotc.jit (the default device, local-task: a pool
    of worker threads) and through aotc_runtime on `local-sync` (inline on the calling thread),
    on flat arrays, from the same compile preset.
    """

    def __init__(self):
        self.fns: dict = {}
        self.failed: dict = {}

    def add_aotc(self, key: str, fn, args: tuple, want, preset: str) -> None:
        from aotc.frontend.core.errors import CompileError
        from aotc.tools.compile import compile_stablehlo
        from aotc_runtime import load_bytes

        jitted = aotc.jit(fn, target="cpu", flags=preset_flags(preset))
        try:
            check_close(jitted(*args), want, key)
        except CompileError as exc:
            line = next((ln for ln in str(exc).splitlines() if "error:" in ln), str(exc))
            self.failed[f"{key}/jit"] = self.failed[f"{key}/sync"] = (
                f"{key.split('/')[0]}: IREE: " + line.split("error:", 1)[-1].strip()[:80])
            return
        self.fns[f"{key}/jit"] = lambda: jitted(*args)
        traced = aotc.lower(fn, *args)
        vmfb = compile_stablehlo(traced.text_with_locations(), "cpu", preset_flags(preset))
        inline = load_bytes(vmfb, device="local-sync", require_aotc=False)[traced.name]
        flat = aotc.tree.leaves(args)
        check_close(inline(*flat), aotc.tree.leaves(want), f"{key} on local-sync")
        self.fns[f"{key}/sync"] = lambda: inline(*flat)

    def add_jax(self, key: str, fn, args: tuple):
        """jax.jit(fn) on device arrays, and on numpy arrays in and out (as aotc is called)."""
        import jax

        compiled = jax.jit(fn)
        on_device = jax.tree_util.tree_map(jax.numpy.asarray, args)
        self.fns[key] = lambda: jax.block_until_ready(compiled(*on_device))
        self.fns[f"{key}/numpy"] = lambda: jax.tree_util.tree_map(np.asarray, compiled(*args))
        return compiled(*on_device)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds")
    parser.add_argument("--presets", default=",".join(PRESETS),
                        help=f"compile presets to measure (of {', '.join(PRESETS)})")
    args = parser.parse_args(argv)
    presets = choose_presets(args.presets.split(","))

    import jax

    jax.config.update("jax_platforms", "cpu")
    aotc_b, jax_b = backend("aotc"), backend("jax")
    cases = problems(np.random.default_rng(0))
    mlp = load_model("mlp")
    bench = Bench()
    for name, (loss, *inputs) in cases.items():
        inputs = tuple(inputs)
        want_f = bench.add_jax(f"{name}/f/jax", partial(loss, jax_b), inputs)
        want_g = bench.add_jax(f"{name}/grad/jax", jax.grad(partial(loss, jax_b)), inputs)
        for target in presets:
            bench.add_aotc(f"{name}/f/{target}", partial(loss, aotc_b), inputs, want_f, target)
            bench.add_aotc(f"{name}/grad/{target}", aotc.grad(partial(loss, aotc_b)), inputs,
                           want_g, target)

    params, x, y = cases["mlp"][1:]
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    steps = {"sgd": (mlp.train_step, partial(sgd_step, jax_b, jax.value_and_grad),
                     (params, mlp.init_opt_state(0.1), x, y)),
             "adam": (partial(adam_step, aotc_b, aotc.value_and_grad),
                      partial(adam_step, jax_b, jax.value_and_grad),
                      (params, {"step": np.int32(0), "m": zeros, "v": zeros}, x, y))}
    for name, (aotc_step, jax_step, step_args) in steps.items():
        want = bench.add_jax(f"{name}/jax", jax_step, step_args)
        for target in presets:
            bench.add_aotc(f"{name}/{target}", aotc_step, step_args, want, target)

    times = median_times(bench.fns, args.rounds)
    report(times, bench.failed, presets, list(cases), args.rounds)


def report(t: dict, failed: dict, presets: dict, losses: list, rounds: int) -> None:
    print(f"median (best) ms per call over {rounds} interleaved rounds; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    def ms(key: str) -> str:
        if key in failed:
            return "compile failed"
        return f"{t[key][0] * 1e3:.3f} ({t[key][1] * 1e3:.3f})" if key in t else "-"

    def ratio(num: str, den: str) -> str:
        if num not in t or den not in t:
            return "-"
        return f"{t[num][0] / t[den][0]:.2f}x ({t[num][1] / t[den][1]:.2f}x)"

    print("\nJAX (jax.jit on device arrays), ms:")
    for n in losses:
        print(f"  {n:11s}f {ms(f'{n}/f/jax'):18s}grad {ms(f'{n}/grad/jax'):18s}grad/f "
              f"{ratio(f'{n}/grad/jax', f'{n}/f/jax')}")
    for n, label in (("sgd", "MLP train step, SGD"), ("adam", "MLP train step, Adam")):
        print(f"  {label}: {ms(f'{n}/jax')}; with numpy in and out {ms(f'{n}/jax/numpy')}")
    runs = (("jit", "aotc.jit (local-task)"), ("sync", "runtime, local-sync"))
    for target, description in presets.items():
        print(f"\ntarget {target}: {description}")
        print(f"  {'loss':11s}{'how':23s}{'f ms':17s}{'grad ms':17s}{'grad/f (<= 3)':17s}"
              "grad / JAX grad")
        for n in losses:
            for run, how in runs:
                f, g = f"{n}/f/{target}/{run}", f"{n}/grad/{target}/{run}"
                print(f"  {n:11s}{how:23s}{ms(f):17s}{ms(g):17s}{ratio(g, f):17s}"
                      f"{ratio(g, f'{n}/grad/jax')}")
        print(f"  {'MLP train step, batch 64':34s}{'how':23s}{'ms':17s}aotc / JAX (<= 1.0x)")
        for n, label in (("sgd", "models/mlp.py train_step (SGD)"), ("adam", "Adam step")):
            for run, how in runs:
                key = f"{n}/{target}/{run}"
                print(f"  {label:34s}{how:23s}{ms(key):17s}{ratio(key, f'{n}/jax')}")
        reasons = sorted({why for key, why in failed.items() if f"/{target}/" in key})
        for why in reasons:
            print(f"  compile failed: {why}")


if __name__ == "__main__":
    main()
