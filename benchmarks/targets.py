"""The MLP on every target that runs on this machine: per-call time and artifact size.

    .venv/bin/python benchmarks/targets.py [--batch 64] [--calls 200]

Compiles models/mlp.py for cpu, x86_64, vmvx, vulkan and aarch64 and times `classify(x)`
(weights from mlp.irpa, a batch of --batch images): in-process through aotc_runtime for the
targets this machine runs, and for aarch64 with the aarch64 `iree-benchmark-module` under
qemu-aarch64 (emulated: it says nothing about a real Arm board's speed); the same tool run
natively on the x86_64 artifact gives the row to compare that one with. Targets without a
device here are reported as skipped, with the reason. Last, the runtime-only install
footprint: what a device needs to run artifacts from Python, and without Python.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_TARGETS = ("cpu", "x86_64", "vmvx", "vulkan")


def time_calls(fn, calls: int) -> float:
    """Median milliseconds per call over `calls` calls, after 3 warm-up calls."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def benchmark_module(prefix: list[str], vmfb: str, x_npy: str, seconds: float) -> float:
    """Mean ms per call of classify, as measured by iree-benchmark-module (prefix runs it)."""
    irpa = os.path.splitext(vmfb)[0] + ".irpa"
    out = subprocess.run([*prefix, f"--module={vmfb}", f"--parameters=model={irpa}",
                          "--function=classify", f"--input=@{x_npy}", "--device=local-task",
                          "--benchmark_format=json", f"--benchmark_min_time={seconds}s"],
                         capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout)["benchmarks"][0]
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[result["time_unit"]]
    return result["real_time"] * scale


def kib(path: str) -> str:
    return f"{os.path.getsize(path) / 1024:.0f}" if os.path.exists(path) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="images per call")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per target")
    args = parser.parse_args()

    sys.path.insert(0, os.path.join(ROOT, "models"))
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import iree._runtime_libs as iree_libs
    import mlp
    from cold_start import runtime_footprint

    import aotc_runtime
    from aotc.tools.export import ExportOutput
    from aotc.tools.targets import TARGETS, qemu_command, runs_here

    x = mlp.example_batch(args.batch, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        x_npy = os.path.join(tmp, "x.npy")
        np.save(x_npy, x)
        paths = {}
        exported = ExportOutput.from_file(os.path.join(ROOT, "models", "mlp.py"))
        for target in (*PYTHON_TARGETS, "aarch64"):
            paths[target] = exported.write(os.path.join(tmp, f"mlp-{target}.vmfb"), target)[0]
        reference = aotc_runtime.load(paths["cpu"]).classify(x)["probs"]
        for target in PYTHON_TARGETS:
            status, detail = runs_here(TARGETS[target])
            if status != "yes":
                rows.append((target, f"skipped: {detail}", None, paths[target], None))
                continue
            m = aotc_runtime.load(paths[target])
            error = float(np.abs(m.classify(x)["probs"] - reference).max())
            ms = time_calls(lambda m=m: m.classify(x), args.calls)
            rows.append((target, "aotc_runtime, in process", ms, paths[target], error))
        native = os.path.join(os.path.dirname(iree_libs.__file__), "iree-benchmark-module")
        rows.append(("x86_64", "iree-benchmark-module, native",
                     benchmark_module([native], paths["x86_64"], x_npy, 1.0),
                     paths["x86_64"], None))
        qemu = qemu_command("iree-benchmark-module")
        if qemu is None:
            rows.append(("aarch64", "skipped: needs qemu-aarch64 and `make edge-runtime`", None,
                         paths["aarch64"], None))
        else:
            rows.append(("aarch64", "iree-benchmark-module, qemu-aarch64",
                         benchmark_module(qemu, paths["aarch64"], x_npy, 2.0),
                         paths["aarch64"], None))
        print(f"MLP classify(x), x float32[{args.batch}, 784], weights in mlp.irpa "
              f"({kib(os.path.splitext(paths['cpu'])[0] + '.irpa')} KiB); median of "
              f"{args.calls} calls in process, iree-benchmark-module's mean otherwise\n")
        print("| target | run with | ms per call | .vmfb KiB | max abs diff vs cpu |")
        print("|---|---|---:|---:|---:|")
        for target, how, ms, path, error in rows:
            time_text = f"{ms:.3f}" if ms is not None else "-"
            error_text = f"{error:.1e}" if error is not None else "-"
            print(f"| {target} | {how} | {time_text} | {kib(path)} | {error_text} |")

    sizes = runtime_footprint()
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]))
    print(f"\nruntime-only install, from Python: {sum(sizes.values()):.0f} MiB of packages "
          f"({parts})")
    edge_tool = qemu_command("iree-run-module")
    if edge_tool:
        size = os.path.getsize(edge_tool[-1]) / 2**20
        print(f"without Python (`aotc bundle`): the aarch64 iree-run-module, {size:.1f} MiB, "
              "plus libc and libstdc++")


if __name__ == "__main__":
    main()
