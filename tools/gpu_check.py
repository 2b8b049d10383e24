"""GPU check: compile the MLP, the CNN and the attention block for a GPU target, run them
against the cpu artifacts, and print compile and call times. Takes about a minute.

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
import statistics
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


def check(target: str, folder: str, batch: int, calls: int) -> int:
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
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cuda", help="a GPU target (default: cuda)")
    parser.add_argument("--models", default=MODELS, help="folder with mlp.py, cnn.py, "
                        "attention.py (default: this checkout's models/)")
    parser.add_argument("--batch", type=int, default=256, help="MLP batch (CNN: batch / 8)")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per artifact")
    args = parser.parse_args(argv)
    return check(args.target, args.models, args.batch, args.calls)


if __name__ == "__main__":
    sys.exit(main())
