"""The first aotc.jit call of a fresh process, with an empty and with a warm compilation cache
(aotc.tools.cache), against the first jax.jit call of a fresh process.

    .venv/bin/python benchmarks/compile_cache.py [--runs 5]

Each run starts three processes in turn (so that drifts in machine load hit all alike):
- aotc cold: an empty AOTC_CACHE_DIR, so the first call traces, runs IREE, loads and calls;
- aotc warm: the same folder again, now holding what the cold process compiled;
- JAX: import jax, jax.jit, first call (JAX's own persistent cache is off by default).
Every process times the first call of two programs in turn (an MLP forward pass, and one
SGD step of the same MLP through value_and_grad) from just before the call to the result in
hand, and reports its import time; the parent times the whole process. Prints medians, and
checks that aotc's and JAX's results agree.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = (784, 128, 10)
BATCH = 64

CHILD_COMMON = """
import json, sys, time
start = time.perf_counter()
import numpy as np
{imports}
imported = time.perf_counter()
rng = np.random.default_rng(0)
sizes = {sizes}
params = {{}}
for i, (a, b) in enumerate(zip(sizes, sizes[1:]), start=1):
    params[f"w{{i}}"] = (rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype("f4")
    params[f"b{{i}}"] = np.zeros(b, "f4")
x = rng.standard_normal(({batch}, sizes[0])).astype("f4")
y = np.eye(sizes[-1], dtype="f4")[np.arange({batch}) % sizes[-1]]


def predict(params, x):
    h = x
    for i in range(1, len(sizes)):
        h = h @ params[f"w{{i}}"] + params[f"b{{i}}"]
        if i < len(sizes) - 1:
            h = np_.maximum(h, 0.0)
    return h


def loss(params, x, y):
    logits = predict(params, x)
    shifted = logits - np_.max(logits, axis=-1, keepdims=True)
    log_probs = shifted - np_.log(np_.sum(np_.exp(shifted), axis=-1, keepdims=True))
    return -np_.mean(np_.sum(log_probs * y, axis=-1))


def train_step(params, x, y):
    value, grads = value_and_grad(loss)(params, x, y)
    return {{k: params[k] - 0.1 * grads[k] for k in params}}, value


times = {{}}
outs = {{}}
for name, fn, args in (("predict", predict, (params, x)), ("train_step", train_step,
                                                          (params, x, y))):
    t0 = time.perf_counter()
    out = jit(fn)(*args)
    leaves = [np.asarray(v) for v in (out.values() if isinstance(out, dict) else
                                      (out[0].values() if isinstance(out, tuple) else [out]))]
    times[name] = time.perf_counter() - t0
    outs[name] = float(sum(float(np.sum(v)) for v in leaves))
print(json.dumps({{"import": imported - start, "first_calls": times, "checks": outs}}))
"""

AOTC_IMPORTS = """import aotc, aotc.numpy as np_
jit, value_and_grad = aotc.jit, aotc.value_and_grad"""
JAX_IMPORTS = """import jax, jax.numpy as np_
jit, value_and_grad = jax.jit, jax.value_and_grad"""


def child(imports: str, env: dict) -> dict:
    code = CHILD_COMMON.format(imports=imports, sizes=SIZES, batch=BATCH)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes of each kind")
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AOTC_CACHE")}
    base_env["JAX_PLATFORMS"] = "cpu"
    results = {"aotc cold cache": [], "aotc warm cache": [], "jax.jit": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            env = {**base_env, "AOTC_CACHE_DIR": os.path.join(tmp, f"cache{run}")}
            results["aotc cold cache"].append(child(AOTC_IMPORTS, env))
            results["aotc warm cache"].append(child(AOTC_IMPORTS, env))
            results["jax.jit"].append(child(JAX_IMPORTS, base_env))
    checks = {k: v[-1]["checks"] for k, v in results.items()}
    for name in ("predict", "train_step"):
        got, want = checks["aotc warm cache"][name], checks["jax.jit"][name]
        assert np.isclose(got, want, rtol=1e-3), (name, got, want)
    print(f"first call in a fresh process, median of {args.runs} processes each "
          f"(MLP {SIZES}, batch {BATCH}); aotc and JAX results agree")
    print(f"  {'':<17}{'predict':>10}{'train_step':>12}{'import':>10}{'process':>10}")
    for name, runs in results.items():
        first = {p: statistics.median(r["first_calls"][p] for r in runs)
                 for p in ("predict", "train_step")}
        imp = statistics.median(r["import"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        print(f"  {name:<17}{first['predict'] * 1e3:>8.0f}ms{first['train_step'] * 1e3:>10.0f}ms"
              f"{imp * 1e3:>8.0f}ms{wall * 1e3:>8.0f}ms")


if __name__ == "__main__":
    main()
