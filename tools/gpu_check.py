"""GPU check: compile the MLP, the CNN and the attention block for a GPU target, run them
against the cpu artifacts, and print compile and call times; then (cuda, or --mesh N) a
data-parallel program on a mesh of N devices (one GPU serves several), checked against numpy.
Takes about a minute.

On a machine with an NVIDIA GPU and only the Python wheels installed (from a checkout:
`python3 -m venv v && v/bin/pip install ./runtime .`; no JAX, no system packages):

    v/bin/python tools/gpu_check.py                  # cuda (sm_80 PTX; Ampere and newer)
    v/bin/python tools/gpu_check.py --target vulkan  # any Vulkan driver, Mesa lavapipe too

Exit status: 0 when every model matches the cpu artifact, 1 on a mismatch, 2 when the
target's device is missing here (the reason is printed).
"""

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _import(folder: str, name: str):
    spec = importlib.util.spec_from_file_location(f"gpu_check_{name}",
                                                  os.path.join(folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(folder: str, batch: int) -> list[tuple[str, str, tuple]]:
    """(model file stem, function, arguments) of each check."""
    mlp, cnn, attention = (_import(folder, n) for n in ("mlp", "cnn", "attention"))
    return [
        ("mlp", "predict", (mlp.init_params(1), mlp.example_batch(batch))),
        ("cnn", "predict", (cnn.init_params(1), cnn.example_images(max(batch // 8, 1)))),
        ("attention", "block", (attention.init_params(1), attention.example_input())),
    ]


def median_ms(fn, args: tuple, calls: int) -> float:
    """Median milliseconds of fn(*args) over calls, after one warm-up call."""
    fn(*args)  # first-call allocations and, on GPUs, kernel loading
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def data_parallel_text(n: int, rows: int = 4, cols: int = 3) -> str:
    """StableHLO of a data-parallel step on n devices, in aotc's traced multi-device form:
    main(x0..x{n-1}: f32[rows, cols] on devices 0..n-1, w: f32[cols] on device 0) ->
    (y_p = 2 x_p + w on device p, for each p; s = column sums of every x_p, on device 0).
    w reaches each device and the partial sums reach device 0 through @aotc.transfer."""
    block, vec = f"tensor<{rows}x{cols}xf32>", f"tensor<{cols}xf32>"
    lines, results = [], []
    for p in range(n):
        w = "%w"
        if p:
            w = f"%w{p}"
            lines.append(f"{w} = stablehlo.custom_call @aotc.transfer(%w) "
                         f'{{backend_config = "0->{p}"}} : ({vec}) -> {vec}')
        lines += [
            f"%wb{p} = stablehlo.broadcast_in_dim {w}, dims = [1] : ({vec}) -> {block}",
            f"%two{p} = stablehlo.constant dense<2.0> : {block}",
            f"%xx{p} = stablehlo.multiply %x{p}, %two{p} : {block}",
            f"%y{p} = stablehlo.add %xx{p}, %wb{p} : {block}",
            f"%zero{p} = stablehlo.constant dense<0.0> : tensor<f32>",
            f"%s{p} = stablehlo.reduce(%x{p} init: %zero{p}) applies stablehlo.add across "
            f"dimensions = [0] : ({block}, tensor<f32>) -> {vec}",
        ]
        results.append(f"%y{p}")
    total = "%s0"
    for p in range(1, n):
        lines.append(f"%t{p} = stablehlo.custom_call @aotc.transfer(%s{p}) "
                     f'{{backend_config = "{p}->0"}} : ({vec}) -> {vec}')
        lines.append(f"%acc{p} = stablehlo.add {total}, %t{p} : {vec}")
        total = f"%acc{p}"
    args = ", ".join(f"%x{p}: {block} {{aotc.device = {p} : i64}}" for p in range(n))
    outs = ", ".join(f"{block} {{aotc.device = {p} : i64}}" for p in range(n))
    body = "\n    ".join(lines)
    return (f"module @data_parallel_{n} {{\n"
            f"  func.func public @main({args}, %w: {vec}) -> ({outs}, {vec}) {{\n"
            f"    {body}\n"
            f"    return {', '.join(results)}, {total} : {', '.join([block] * n + [vec])}\n"
            "  }\n}\n")


def data_parallel_reference(xs: list, w: np.ndarray) -> list:
    """numpy's results of data_parallel_text's main."""
    return [2 * x + w for x in xs] + [np.concatenate(xs).sum(0)]


def mesh_check(target: str, n: int, folder: str) -> tuple[str, bool]:
    """Compile data_parallel_text(n) for target on n devices and run it: through
    aotc_runtime, or through iree-run-module where IREE's Python runtime cannot group the
    target's devices (Vulkan in iree-base-runtime 3.13). Returns (how it ran, matched)."""
    import aotc_runtime
    from aotc.tools.compile import compile_stablehlo
    from aotc.tools.targets import get_target

    vmfb = compile_stablehlo(data_parallel_text(n, 256, 64), target)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((256, 64), np.float32) for _ in range(n)]
    w = rng.standard_normal(64, np.float32)
    try:
        module = aotc_runtime.load_bytes(vmfb, get_target(target).driver, require_aotc=False)
        got, how = module["main"](*xs, w), "aotc_runtime"
    except aotc_runtime.ArtifactError:
        got, how = _run_module(vmfb, get_target(target).driver, n, [*xs, w], folder), \
            "iree-run-module"
    want = data_parallel_reference(xs, w)
    return how, all(np.allclose(g, r, **TOLERANCE) for g, r in zip(got, want))


# Two Vulkan devices on one lavapipe device in iree-run-module (IREE 3.13) now and then end in
# "vkSignalSemaphore: VK_ERROR_DEVICE_LOST" at the first fence: 1 run in 8-24 with three such
# processes at once, none alone. A new process gets new devices, so the run is tried again.
_DEVICE_LOST_TRIES = 3


def _run_module(vmfb: bytes, driver: str, n: int, inputs: list, folder: str) -> list:
    """main's results from IREE's iree-run-module with n --device flags (.npy in and out)."""
    runner = shutil.which("iree-run-module") or os.path.join(
        os.path.dirname(sys.executable), "iree-run-module")
    path = os.path.join(folder, "mesh.vmfb")
    with open(path, "wb") as f:
        f.write(vmfb)
    argv = [runner, f"--module={path}", "--function=main", *[f"--device={driver}"] * n]
    for i, array in enumerate(inputs):
        np.save(os.path.join(folder, f"in{i}.npy"), array)
        argv.append(f"--input=@{os.path.join(folder, f'in{i}.npy')}")
    outs = [os.path.join(folder, f"out{i}.npy") for i in range(n + 1)]
    argv += [f"--output=@{o}" for o in outs]
    for _ in range(_DEVICE_LOST_TRIES):
        done = subprocess.run(argv, capture_output=True, text=True)
        if "VK_ERROR_DEVICE_LOST" not in done.stderr:
            break
    if done.returncode != 0:
        raise RuntimeError(f"iree-run-module with {n} {driver} devices exited with "
                           f"{done.returncode}: {(done.stderr or done.stdout).strip()[:1500]}")
    return [np.load(o) for o in outs]


def check(target: str, folder: str, batch: int, calls: int, mesh: int = 2) -> int:
    """Run every case; print one row each; returns the exit status."""
    import aotc_runtime
    from aotc.tools.export import ExportOutput
    from aotc.tools.targets import get_target, runs_here

    status, detail = runs_here(get_target(target))
    if status != "yes":
        print(f"gpu_check: no {target} device here: {detail}", file=sys.stderr)
        return 2
    print(f"{target}: {detail or 'device found'}; batch {batch}, median of {calls} calls")
    print(f"{'model':<10}{'compile s':>10}{'cpu ms':>10}{f'{target} ms':>11}{'max |diff|':>12}"
          "  result")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn, args in cases(folder, batch):
            modules, seconds = {}, 0.0
            for t in ("cpu", target):
                start = time.perf_counter()
                exported = ExportOutput.from_file(os.path.join(folder, f"{name}.py"))
                path = exported.write(os.path.join(tmp, f"{name}-{t}.vmfb"), t)[0]
                seconds = time.perf_counter() - start  # the GPU compile's, reported
                modules[t] = aotc_runtime.load(path)
            want, got = (modules[t][fn](*args) for t in ("cpu", target))
            diff = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
            ok = np.allclose(got, want, **TOLERANCE)
            failures += not ok
            times = [median_ms(modules[t][fn], args, calls) for t in ("cpu", target)]
            print(f"{name:<10}{seconds:>10.2f}{times[0]:>10.3f}{times[1]:>11.3f}{diff:>12.1e}  "
                  f"{'ok' if ok else 'MISMATCH'}")
        if mesh > 1:
            how, ok = mesh_check(target, mesh, tmp)
            failures += not ok
            print(f"mesh of {mesh} {target} devices (data-parallel step, through {how}): "
                  f"{'ok' if ok else 'MISMATCH'}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cuda", help="a GPU target (default: cuda)")
    parser.add_argument("--models", default=MODELS, help="folder with mlp.py, cnn.py, "
                        "attention.py (default: this checkout's models/)")
    parser.add_argument("--batch", type=int, default=256, help="MLP batch (CNN: batch / 8)")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per artifact")
    parser.add_argument("--mesh", type=int, default=None, help="devices of the multi-device "
                        "check (default: 2 on cuda, none elsewhere; 1 skips it)")
    args = parser.parse_args(argv)
    mesh = args.mesh if args.mesh is not None else 2 if args.target == "cuda" else 1
    return check(args.target, args.models, args.batch, args.calls, mesh)


if __name__ == "__main__":
    sys.exit(main())
