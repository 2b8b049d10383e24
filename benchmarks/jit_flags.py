"""Which IREE flags should the cpu preset use? Median per-call time of several programs under
candidate flag sets, with jax.jit on the same program in the same run (ratio < 1: aotc faster).

    .venv/bin/python benchmarks/jit_flags.py

Measured on the dev machine (2 cores, AVX-512), medians in ms; FAIL = IREE 3.13 rejected it:
    program      opt-data-tiling  global-dt+nofusemr  nofusemr  opt-dt+nofusemr
    mlp_fwd      0.221            0.233               0.269     0.256
    mlp_grad     0.494            0.474               0.584     0.469
    per_example  0.131            0.117               0.121     0.144
    adam         FAIL             2.474               2.675     FAIL
    cnn_grad     0.192            0.175               0.171     0.180
so tools/targets.py uses --iree-global-opt-data-tiling with multi-reduction fusion off.
"""

import time

import numpy as np

import aotc
import aotc.lax as lax
import aotc.nn as nn
import aotc.numpy as anp
from aotc.tools.compile import compile_stablehlo
from aotc.tools.targets import TARGETS
from aotc_runtime import load_bytes

BASE = [f for f in TARGETS["cpu"].flags if "data-tiling" not in f and "multi-reduction" not in f]
NO_FUSION = "--iree-dispatch-creation-element-wise-fuse-multi-reduction=false"
FLAG_SETS = {
    "opt-data-tiling": ["--iree-opt-data-tiling"],
    "global-dt+nofusemr": ["--iree-global-opt-data-tiling", NO_FUSION],
    "nofusemr": [NO_FUSION],
    "opt-dt+nofusemr": ["--iree-opt-data-tiling", NO_FUSION],
}


def mlp(p, x, np_=anp, nn_=nn):
    h = np_.tanh(x @ p["w1"] + p["b1"])
    return nn_.log_softmax(h @ p["w2"] + p["b2"])


def loss(p, x, y, np_=anp, nn_=nn):
    return -np_.mean(np_.sum(mlp(p, x, np_, nn_) * y, axis=-1))


def cnn_loss(k, images):
    h = lax.conv_general_dilated(images, k, (1, 1), "SAME",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    h = lax.max_pool(anp.maximum(h, 0.0), (2, 2), (2, 2), "VALID")
    return anp.sum(h * h)


def adam_step(p, m, v, x, y):
    value, g = aotc.value_and_grad(loss)(p, x, y)
    m = aotc.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = aotc.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    p = aotc.tree.map(lambda p, m, v: p - 1e-3 * m / (anp.sqrt(v) + 1e-8), p, m, v)
    return p, m, v, value


def per_example_grads(p, x, y):
    one = aotc.grad(lambda p, x, y: loss(p, x[None], y[None]))
    return aotc.vmap(one, (None, 0, 0))(p, x, y)


def median_ms(fn, args, repeat: int = 100) -> float:
    fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def programs(rng):
    p = {"w1": rng.standard_normal((784, 256), np.float32) * 0.05,
         "b1": np.zeros(256, np.float32),
         "w2": rng.standard_normal((256, 10), np.float32) * 0.05,
         "b2": np.zeros(10, np.float32)}
    x = rng.standard_normal((128, 784), np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    small = {"w1": p["w1"][:32, :64], "b1": p["b1"][:64],
             "w2": rng.standard_normal((64, 10), np.float32) * 0.1, "b2": p["b2"]}
    kernel = rng.standard_normal((3, 3, 1, 8), np.float32) * 0.3
    images = rng.standard_normal((16, 16, 16, 1), np.float32)
    return {
        "mlp_fwd": (mlp, (p, x)),
        "mlp_grad": (aotc.grad(loss), (p, x, y)),
        "per_example": (per_example_grads, (small, rng.standard_normal((64, 32), np.float32),
                                            y[:64])),
        "adam": (adam_step, (p, p, p, x, y)),
        "cnn_grad": (aotc.grad(cnn_loss), (kernel, images)),
    }


def jax_reference():
    """jax.jit versions of the MLP programs, for scale."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    fwd = jax.jit(lambda p, x: mlp(p, x, jnp, jax.nn))
    grad = jax.jit(jax.grad(lambda p, x, y: loss(p, x, y, jnp, jax.nn)))
    return {"mlp_fwd": lambda *a: jax.block_until_ready(fwd(*a)),
            "mlp_grad": lambda *a: jax.block_until_ready(grad(*a))}


def main() -> None:
    rng = np.random.default_rng(0)
    jax_fns = jax_reference()
    print(f"{'program':12s} " + " ".join(f"{name:>20s}" for name in FLAG_SETS) + "   jax.jit")
    for name, (fn, args) in programs(rng).items():
        traced = aotc.lower(fn, *args)
        text = traced.text_with_locations()
        leaves = aotc.tree.leaves(args)
        cells = []
        for extra in FLAG_SETS.values():
            try:
                vmfb = compile_stablehlo(text, "cpu", BASE + extra, replace=True)
                compiled = load_bytes(vmfb, require_aotc=False)[traced.name]
                cells.append(f"{median_ms(compiled, leaves):17.3f} ms")
            except aotc.CompileError:
                cells.append(f"{'FAIL':>20s}")
        reference = ""
        if name in jax_fns:
            reference = f"{median_ms(jax_fns[name], args):7.3f} ms"
        print(f"{name:12s} " + " ".join(cells) + "   " + reference, flush=True)


if __name__ == "__main__":
    main()
