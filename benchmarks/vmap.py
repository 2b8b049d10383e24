"""Per-example gradients of an MLP loss: one vectorized program against a Python loop and JAX.

    .venv/bin/python benchmarks/vmap.py [--batch 64] [--rounds 30]

Times, in one run and on the same inputs (medians of per-call wall time):
- aotc vmap: aotc.jit(aotc.vmap(aotc.grad(loss), in_axes=(None, 0, 0))), one call per batch;
- aotc loop: the unbatched aotc.jit(aotc.grad(loss)) called once per example (target: the
  vmapped program at least 10x faster);
- JAX: jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))) (target: aotc / JAX <= 1.0).
Checks that all three agree before timing, then prints medians and ratios.
"""

import argparse
import itertools
import os
import time

import numpy as np
from timing import median_times

import aotc
import aotc.numpy as anp

SIZES = (32, 64, 64, 10)  # input features, two hidden layers, classes


def init_params(rng: np.random.Generator, sizes=SIZES) -> dict:
    params = {}
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        params[f"w{k}"] = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        params[f"b{k}"] = np.zeros(n_out, np.float32)
    return params


def make_loss(np_like):
    """The loss of one example (x: features, y: one-hot label) against a numpy-like module."""

    def loss(params, x, y):
        h = np_like.tanh(x @ params["w1"] + params["b1"])
        h = np_like.tanh(h @ params["w2"] + params["b2"])
        logits = h @ params["w3"] + params["b3"]
        shifted = logits - np_like.max(logits)
        log_probs = shifted - np_like.log(np_like.sum(np_like.exp(shifted)))
        return -np_like.sum(log_probs * y)

    return loss


# Compile presets to compare: the cpu target plus these extra IREE flags (passed explicitly).
PRESET_FLAGS = {"cpu": (), "bench-small": ("--iree-opt-level=O3",)}


def presets() -> dict:
    """Compile presets to compare: aotc.jit's default and one tuned for small programs."""
    return {"cpu": "aotc.jit default target: host CPU, data tiling",
            "bench-small": "host CPU, --iree-opt-level=O3"}


def compiled_function(fn, preset: str, *args):
    """fn compiled as aotc.jit compiles it, as a bare aotc_runtime function (flat arrays in)."""
    from aotc.tools.compile import compile_stablehlo
    from aotc_runtime import load_bytes

    traced = aotc.lower(fn, *args)
    vmfb = compile_stablehlo(traced.text_with_locations(), "cpu", PRESET_FLAGS[preset])
    return load_bytes(vmfb, require_aotc=False)[traced.name]


def check_close(actual: dict, expected: dict) -> None:
    for name, g in actual.items():
        np.testing.assert_allclose(g, np.asarray(expected[name]), rtol=1e-4, atol=1e-5)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=30, help="interleaved timing rounds")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    params = init_params(rng)
    xs = rng.standard_normal((args.batch, SIZES[0])).astype(np.float32)
    ys = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], args.batch)]
    loss = make_loss(anp)
    flat = aotc.tree.leaves((params, xs, ys))

    fns, calls, compile_seconds = {}, {}, {}
    for target in presets():
        start = time.perf_counter()
        per_example = aotc.vmap(aotc.grad(loss), in_axes=(None, 0, 0))
        batched = aotc.jit(per_example, flags=PRESET_FLAGS[target])
        grads = batched(params, xs, ys)
        compile_seconds[target] = time.perf_counter() - start
        single = aotc.jit(aotc.grad(loss), flags=PRESET_FLAGS[target])
        loop_grads = [single(params, x, y) for x, y in zip(xs, ys)]
        check_close(grads, {k: np.stack([g[k] for g in loop_grads]) for k in grads})
        fns[f"vmap/{target}"] = lambda f=batched: f(params, xs, ys)
        runtime_fn = compiled_function(per_example, target, params, xs, ys)
        fns[f"runtime/{target}"] = lambda f=runtime_fn: f(*flat)
        calls[f"runtime/{target}"] = 20
        fns[f"loop/{target}"] = lambda f=single: [f(params, x, y) for x, y in zip(xs, ys)]
        calls[f"vmap/{target}"], calls[f"loop/{target}"] = 20, 1

    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    if jax is not None:
        jax.config.update("jax_platforms", "cpu")
        jax_fn = jax.jit(jax.vmap(jax.grad(make_loss(jnp)), in_axes=(None, 0, 0)))
        jax_args = jax.tree_util.tree_map(jnp.asarray, (params, xs, ys))
        check_close(grads, jax_fn(*jax_args))
        fns["jax"] = lambda: jax.block_until_ready(jax_fn(*jax_args))
        calls["jax"] = 20

    t = median_times(fns, args.rounds, calls)
    print(f"per-example gradients, MLP {'-'.join(map(str, SIZES))}, batch {args.batch}: median "
          f"(best) ms per call over {args.rounds} interleaved rounds; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    def row(label: str, key: str, note: str = "") -> None:
        median, best = t[key]
        print(f"    {label:28s}{median * 1e3:8.3f} ({best * 1e3:.3f}) ms  {note}")

    def ratio(label: str, num: str, den: str, target: str) -> None:
        print(f"    {label:28s}{t[num][0] / t[den][0]:8.2f}x ({t[num][1] / t[den][1]:.2f}x)   "
              f"target {target}")

    for target, description in presets().items():
        print(f"  target {target}: {description}")
        row("aotc jit(vmap(grad))", f"vmap/{target}",
            f"first call incl. trace + compile {compile_seconds[target]:.2f} s")
        row("  in the runtime alone", f"runtime/{target}",
            "the compiled function on flat arrays, without jit's pytree handling")
        row(f"aotc jit(grad) x {args.batch}", f"loop/{target}")
        ratio("loop / vmap", f"loop/{target}", f"vmap/{target}", ">= 10x")
        if jax is not None:
            ratio("vmap / jax", f"vmap/{target}", "jax", "<= 1.0x")
    if jax is None:
        print("  jax is not installed: no JAX comparison")
    else:
        row("jax.jit(jax.vmap(jax.grad))", "jax")

if __name__ == "__main__":
    main()
