"""Which IREE flags should `aotc.jit` use on this CPU? Times programs under flag sets vs JAX/NumPy.

    .venv/bin/python benchmarks/jit_flags.py

Prints the median per-call time of each program for each flag set, and ratios against
jax.jit and NumPy measured in the same run (< 1 means aotc is faster).
"""

import time

import numpy as np

import aotc
import aotc.numpy as anp
from aotc.tools import compile as compile_mod
from aotc_runtime import load_bytes

BASE = [f for f in compile_mod.CPU_FLAGS
        if not f.startswith(("--iree-opt-", "--iree-llvmcpu-enable"))]
FLAG_SETS = {
    "host": [],
    "host+data-tiling": ["--iree-opt-data-tiling"],
    "host+O3": ["--iree-opt-level=O3"],
    "host+data-tiling+O3": ["--iree-opt-data-tiling", "--iree-opt-level=O3"],
    "host+data-tiling+ukernels": ["--iree-opt-data-tiling", "--iree-llvmcpu-enable-ukernels=all"],
}


def mlp(params, x):
    h = anp.tanh(x @ params["w1"] + params["b1"])
    h = anp.tanh(h @ params["w2"] + params["b2"])
    logits = h @ params["w3"] + params["b3"]
    return logits - anp.log(anp.sum(anp.exp(logits), axis=-1, keepdims=True))


def elementwise(x):
    return anp.sum(anp.sin(x) * anp.exp(-x * x) + anp.sqrt(anp.abs(x)), axis=0)


def reductions(x):
    return anp.mean(x, axis=0) + anp.std(x, axis=0) + anp.max(x, axis=0)


def _median_time(fn, *args, repeat=200) -> float:
    fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((784, 256), np.float32) * 0.05,
              "b1": np.zeros(256, np.float32),
              "w2": rng.standard_normal((256, 256), np.float32) * 0.05,
              "b2": np.zeros(256, np.float32),
              "w3": rng.standard_normal((256, 10), np.float32) * 0.05,
              "b3": np.zeros(10, np.float32)}
    x_mlp = rng.standard_normal((128, 784), np.float32)
    x_big = rng.standard_normal((1024, 1024), np.float32)
    programs = {"mlp forward (128x784)": (mlp, (params, x_mlp)),
                "elementwise chain (1024^2)": (elementwise, (x_big,)),
                "reductions (1024^2)": (reductions, (x_big,))}
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    for title, (fn, args) in programs.items():
        print(f"\n{title}")
        leaves = aotc.tree.leaves(args)
        traced = aotc.lower(fn, *args)
        text = traced.text_with_locations()
        numpy_fn = {"mlp forward (128x784)": lambda p, x: _numpy_mlp(p, x)}.get(title)
        ref = _median_time(numpy_fn, *args) if numpy_fn else None
        jax_time = None
        if jax is not None:
            jfn = jax.jit(_jax_version(fn, jnp))
            jax_args = jax.tree_util.tree_map(jnp.asarray, args)
            jax_time = _median_time(lambda *a: jfn(*a).block_until_ready(), *jax_args)
        for name, extra in FLAG_SETS.items():
            compile_mod.TARGET_FLAGS["bench"] = BASE + extra
            vmfb = compile_mod.compile_stablehlo(text, "bench")
            f = load_bytes(vmfb)[traced.name]
            t = _median_time(f, *leaves)
            ratios = f"  vs JAX {t / jax_time:5.2f}x" if jax_time else ""
            ratios += f"  vs NumPy {t / ref:5.2f}x" if ref else ""
            print(f"  {name:28s} {t * 1e3:8.3f} ms{ratios}")


def _numpy_mlp(p, x):
    h = np.tanh(x @ p["w1"] + p["b1"])
    h = np.tanh(h @ p["w2"] + p["b2"])
    logits = h @ p["w3"] + p["b3"]
    return logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))


def _jax_version(fn, jnp):
    """The same program written against jax.numpy (anp's API mirrors it)."""
    import types

    clone = types.FunctionType(fn.__code__, {**fn.__globals__, "anp": jnp}, fn.__name__)
    return clone


if __name__ == "__main__":
    main()
