"""Cold start: a fresh process that loads the MLP artifact with aotc_runtime and makes the first
call, against a fresh process that imports JAX, jits the same function and makes the first call.

    .venv/bin/python benchmarks/cold_start.py [--runs 5] [--fresh-venv]

Prints the median wall time of each (process start to exit), their ratio, the median peak RSS of
each process, and the installed size of a runtime-only environment (aotc-runtime and its
dependencies; with --fresh-venv, of a new venv with `pip install ./runtime`, measured on disk).
"""

import argparse
import importlib.metadata as metadata
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PEAK_RSS = """
import resource


def peak_rss_kib():  # VmHWM restarts at exec; ru_maxrss would include the forked parent
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

RUNTIME_CHILD = """
import sys
import numpy as np
import aotc_runtime
inputs = np.load(sys.argv[2])
params = {k: inputs[k] for k in ("w1", "b1", "w2", "b2")}
out = aotc_runtime.load(sys.argv[1]).predict(params, inputs["x"])
np.save(sys.argv[3], out)
print(peak_rss_kib())
"""

JAX_CHILD = """
import sys
import numpy as np
import jax
import jax.numpy as jnp
inputs = np.load(sys.argv[2])
params = {k: inputs[k] for k in ("w1", "b1", "w2", "b2")}

@jax.jit
def predict(params, x):
    hidden = jnp.maximum(x @ params["w1"] + params["b1"], 0.0)
    return hidden @ params["w2"] + params["b2"]

np.save(sys.argv[3], np.asarray(predict(params, inputs["x"])))
print(peak_rss_kib())
"""


def run_child(code: str, *args: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of a fresh `python -c code args...`."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS + code, *args], capture_output=True,
                          text=True, env=env, timeout=300)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr}")
    return wall, int(proc.stdout.split()[-1]) / 1024


def _dist_size(name: str) -> int:
    files = metadata.distribution(name).files or []
    return sum(os.path.getsize(p) for p in (f.locate() for f in files) if os.path.isfile(p))


def runtime_footprint() -> dict[str, float]:
    """MiB on disk of aotc-runtime and its dependency closure, from this environment."""
    sizes, todo = {}, ["aotc-runtime"]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in sizes:
            continue
        sizes[key] = _dist_size(name) / 2**20
        todo.extend(re.split(r"[ ;<>=!~\[]", req, maxsplit=1)[0]
                    for req in metadata.requires(name) or [] if "extra ==" not in req)
    return sizes


def fresh_venv_size() -> float:
    """MiB of a new venv after `pip install ./runtime` (needs a package index)."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = os.path.join(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q",
                        os.path.join(ROOT, "runtime")], check=True)
        du = subprocess.run(["du", "-sm", venv], capture_output=True, text=True, check=True)
        return float(du.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes of each kind")
    parser.add_argument("--batch", type=int, default=8, help="rows of the input batch")
    parser.add_argument("--fresh-venv", action="store_true",
                        help="also build a runtime-only venv and measure it on disk")
    args = parser.parse_args()

    sys.path.insert(0, os.path.join(ROOT, "models"))
    import mlp

    from aotc.tools.export import ExportOutput

    with tempfile.TemporaryDirectory() as tmp:
        artifact = ExportOutput.from_file(os.path.join(ROOT, "models", "mlp.py")).write(
            os.path.join(tmp, "mlp.vmfb"))[0]
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, x=mlp.example_batch(args.batch), **mlp.init_params(0))
        outs = {"aotc_runtime": os.path.join(tmp, "aotc.npy"), "jax": os.path.join(tmp, "jax.npy")}
        results = {"aotc_runtime": [], "jax": []}
        children = {"aotc_runtime": (RUNTIME_CHILD, artifact), "jax": (JAX_CHILD, "-")}
        for _ in range(args.runs):  # interleaved, so drifts in machine load hit both alike
            for name, (code, path) in children.items():
                results[name].append(run_child(code, path, inputs, outs[name]))
        error = float(np.max(np.abs(np.load(outs["aotc_runtime"]) - np.load(outs["jax"]))))

    medians = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v))
               for k, v in results.items()}
    print(f"cold start, first call of the MLP (batch {args.batch}), median of {args.runs} fresh "
          f"processes; outputs agree within {error:.1e}")
    for name, (wall, rss) in medians.items():
        print(f"  {name:<13} {wall * 1000:7.0f} ms   peak RSS {rss:6.1f} MiB")
    ratio = medians["jax"][0] / medians["aotc_runtime"][0]
    print(f"  aotc_runtime starts {ratio:.1f}x faster, with "
          f"{medians['jax'][1] / medians['aotc_runtime'][1]:.1f}x less memory")
    sizes = runtime_footprint()
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]))
    print(f"runtime-only install: {sum(sizes.values()):.0f} MiB of packages ({parts})")
    if args.fresh_venv:
        print(f"fresh venv with `pip install ./runtime`: {fresh_venv_size():.0f} MiB on disk "
              "(including pip and setuptools)")


if __name__ == "__main__":
    main()
