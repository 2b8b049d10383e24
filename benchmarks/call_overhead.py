"""What one call costs beyond the computation: aotc_runtime and aotc.jit against jax.jit.

    .venv/bin/python benchmarks/call_overhead.py [--rounds 30] [--size 4194304]

Times, interleaved in one process (medians of per-call wall time over rounds):
- fixed cost: f(x, y) = x * y + 1 on two 4-float arrays, called through aotc_runtime (a sealed
  artifact from aotc.compile, loaded with aotc_runtime.load_bytes: Signature.bind checks every
  call), through aotc.jit, each on IREE's local-sync and local-task devices, and through jax.jit;
- a 4M-float elementwise chain, the same five ways, plus aotc.jit on inputs whose data starts on
  a 64-byte boundary (used in place; others are copied once), plus the floor: the same IREE
  program called with its inputs already on the device and its result left there.
Checks that every variant agrees with NumPy before timing.
"""

import argparse

import iree.runtime as rt
import jax
import jax.numpy as jnp
import numpy as np
from timing import median_times

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc_runtime.devices import ALIGNMENT, aligned_empty

DEVICES = ("local-sync", "local-task")


def fixed(np_like):
    def f(x, y):
        return x * y + 1.0

    return f


def chain(np_like):
    def f(x, y):
        z = np_like.tanh(x) * y + 1.0
        return np_like.maximum(z * x - y, 0.5 * z)

    return f


def variants(make, x, y) -> dict:
    """name -> zero-argument callable, for every way of calling make(np_like) on (x, y)."""
    fns = {}
    spec = aotc.ShapeSpec(x.shape, x.dtype)
    vmfb = aotc.compile(make(anp), spec, spec, name="f")
    for device in DEVICES:
        module = aotc_runtime.load_bytes(vmfb, device=device)
        fns[f"aotc_runtime {device}"] = (lambda m: lambda: m.f(x, y))(module)
    for device in DEVICES:
        jitted = aotc.jit(make(anp), device=device)
        fns[f"aotc.jit {device}"] = (lambda j: lambda: j(x, y))(jitted)
    jax_fn = jax.jit(make(jnp))
    fns["jax.jit"] = lambda: jax_fn(x, y).block_until_ready()
    return fns


def device_floor(make, x, y, device: str):
    """The IREE program called on device-resident inputs, its result left on the device."""
    module = aotc_runtime.load_bytes(aotc.compile(make(anp), x, y, name="f"), device=device)
    invoker = module._bound["f"]
    dx = rt.asdevicearray(module.device, x)
    dy = rt.asdevicearray(module.device, y)
    return lambda: invoker(dx, dy)


def check(fns: dict, expected: np.ndarray) -> None:
    for name, fn in fns.items():
        out = fn()
        np.testing.assert_allclose(np.asarray(out), expected, rtol=2e-5, atol=2e-5,
                                   err_msg=name)


def table(title: str, times: dict, unit: float, unit_name: str) -> None:
    jax_time = times["jax.jit"][0]
    print(title)
    print(f"  {'':<29}{'median':>10}{'best':>10}  (vs jax.jit median)")
    for name, (median, best) in times.items():
        print(f"  {name:<29}{median / unit:>8.2f}{unit_name}{best / unit:>8.2f}{unit_name}  "
              f"{median / jax_time:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--size", type=int, default=4 * 1024 * 1024,
                        help="floats per array of the elementwise chain")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    x, y = (rng.standard_normal(4).astype(np.float32) for _ in range(2))
    fns = variants(fixed, x, y)
    check(fns, x * y + 1.0)
    table("fixed cost per call, f(x, y) = x * y + 1 on two 4-float arrays",
          median_times(fns, args.rounds), 1e-6, "us")

    x, y = (rng.standard_normal(args.size).astype(np.float32) for _ in range(2))
    fns = variants(chain, x, y)
    check(fns, chain(np)(x, y))
    xa, ya = aligned_empty(x.shape, x.dtype), aligned_empty(y.shape, y.dtype)
    xa[...], ya[...] = x, y
    for device in DEVICES:
        jitted = aotc.jit(chain(anp), device=device)
        fns[f"aotc.jit {device} aligned"] = (lambda j: lambda: j(xa, ya))(jitted)
    for device in DEVICES:
        fns[f"IREE floor {device}"] = device_floor(chain, x, y, device)
    print(f"(inputs start {x.ctypes.data % ALIGNMENT} and {y.ctypes.data % ALIGNMENT} bytes past "
          f"a {ALIGNMENT}-byte boundary; the 'aligned' copies 0)")
    times = median_times({k: fns[k] for k in fns}, max(5, args.rounds // 3))
    table(f"elementwise chain on two {args.size}-float arrays (tanh, *, +, -, maximum)",
          times, 1e-3, "ms")


if __name__ == "__main__":
    main()
