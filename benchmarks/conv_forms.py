"""Each convolution of a CNN gradient alone: XLA (jax.jit) against IREE on the form JAX emits
and IREE on the form aotc emits.

    .venv/bin/python benchmarks/conv_forms.py [--rounds 7] [--only conv2,strided]

For every case, three directions: the forward convolution, its input gradient and its filter
gradient (each the VJP of the convolution at zeros; the forward convolution of the primal is
unused and the compilers drop it). Each direction is timed three ways, interleaved in one
process (benchmarks/timing.py, medians): jax.jit on device arrays; JAX's own StableHLO compiled
by IREE with aotc's default flags (the convolution transposes aotc emitted before
frontend/ops/conv_taps.py, which followed JAX's); and aotc's StableHLO compiled the same way.
Results are checked against JAX before timing. aotc's forward convolution differs from JAX's
only with one input feature (conv_taps.widen_single_channel); its input gradient is JAX's (a
convolution with lhs dilation; with the kernel transposed to the forward's layout it took the
same CPU time). This is what chose the forms in frontend/ops/conv_taps.py.
"""

import argparse
import os

import numpy as np
from timing import median_times

NHWC = ("NHWC", "HWIO", "NHWC")
NCHW = ("NCHW", "OIHW", "NCHW")

# name: (lhs shape, rhs shape, strides, padding, dimension numbers, feature groups)
CASES = {
    "conv1": ((64, 28, 28, 1), (3, 3, 1, 16), (1, 1), "SAME", NHWC, 1),
    "conv2": ((64, 14, 14, 16), (3, 3, 16, 32), (1, 1), "SAME", NHWC, 1),
    "strided": ((64, 28, 28, 16), (3, 3, 16, 32), (2, 2), "SAME", NHWC, 1),
    "nchw": ((64, 16, 14, 14), (32, 16, 3, 3), (1, 1), "SAME", NCHW, 1),
    "depthwise": ((64, 14, 14, 32), (3, 3, 1, 32), (1, 1), "SAME", NHWC, 32),
}
DIRECTIONS = ("forward", "input grad", "filter grad")


def programs(ns, lhs_shape, rhs_shape, strides, padding, dims, groups):
    """(forward(x, w), input_grad(ct, w), filter_grad(ct, x)) written against ns (jax or aotc),
    whose vjp and lax.conv_general_dilated are used."""

    def conv(x, w):
        return ns.lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=dims,
                                           feature_group_count=groups)

    x_zeros, w_zeros = np.zeros(lhs_shape, np.float32), np.zeros(rhs_shape, np.float32)

    def input_grad(ct, w):
        return ns.vjp(lambda x: conv(x, w), x_zeros)[1](ct)[0]

    def filter_grad(ct, x):
        return ns.vjp(lambda w: conv(x, w), w_zeros)[1](ct)[0]

    return conv, input_grad, filter_grad


def build(name: str, rng: np.random.Generator) -> tuple[dict, dict]:
    """name/direction/how -> timed call; and name/direction -> (JAX result, IREE results)."""
    import jax
    import jax.numpy as jnp

    import aotc
    from aotc.tools.compile import compile_stablehlo
    from aotc_runtime import load_bytes

    lhs_shape, rhs_shape, strides, padding, dims, groups = CASES[name]
    x = rng.standard_normal(lhs_shape).astype(np.float32)
    w = rng.standard_normal(rhs_shape).astype(np.float32)
    geometry = (lhs_shape, rhs_shape, strides, padding, dims, groups)
    jax_fns = programs(jax, *geometry)
    aotc_fns = programs(aotc, *geometry)
    ct = rng.standard_normal(jax.eval_shape(jax_fns[0], x, w).shape).astype(np.float32)
    operands = ((x, w), (ct, w), (ct, x))
    fns, checks = {}, {}

    def iree(text: str):
        module = load_bytes(compile_stablehlo(text, "cpu", use_cache=False), require_aotc=False)
        (function,) = (module[f] for f in module.functions)
        return lambda *a: function(*a)[0]  # a flat call returns the list of results

    for direction, jax_fn, aotc_fn, args in zip(DIRECTIONS, jax_fns, aotc_fns, operands):
        key = f"{name}/{direction}"
        jitted, on_device = jax.jit(jax_fn), [jnp.asarray(a) for a in args]
        fns[f"{key}/jax"] = lambda f=jitted, a=on_device: jax.block_until_ready(f(*a))
        want = np.asarray(jitted(*on_device))
        forms = {"iree_jax_form": iree(jitted.lower(*on_device).as_text())}
        if direction != "input grad":  # aotc emits JAX's input-gradient convolution
            forms["iree_aotc_form"] = iree(str(aotc.lower(aotc_fn, *args)))
        for how, fn in forms.items():
            fns[f"{key}/{how}"] = lambda f=fn, a=args: f(*a)
        checks[key] = (want, {how: np.asarray(fn(*args)) for how, fn in forms.items()})
    return fns, checks


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--only", default=",".join(CASES), help="comma-separated cases")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_platforms", "cpu")
    names = args.only.split(",")
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    rng = np.random.default_rng(0)
    fns, checks = {}, {}
    for name in names:
        more_fns, more_checks = build(name, rng)
        fns.update(more_fns)
        checks.update(more_checks)
    for key, (want, got) in checks.items():
        for how, value in got.items():
            np.testing.assert_allclose(value, want, rtol=2e-3, atol=2e-3 * np.abs(want).max(),
                                       err_msg=f"{key} {how}")
    times = median_times(fns, args.rounds)
    print(f"median ms per call over {args.rounds} interleaved rounds; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'case':10s}{'direction':13s}{'JAX':>9s}{'IREE, JAX form':>16s}"
          f"{'IREE, aotc form':>17s}   aotc form / JAX")
    for key in checks:
        case, direction = key.split("/")
        jax_ms = times[f"{key}/jax"][0] * 1e3
        old = times[f"{key}/iree_jax_form"][0] * 1e3
        new = times.get(f"{key}/iree_aotc_form", times[f"{key}/iree_jax_form"])[0] * 1e3
        same = " (same form)" if direction == "input grad" else ""
        print(f"{case:10s}{direction:13s}{jax_ms:9.3f}{old:16.3f}{new:17.3f}   "
              f"{new / jax_ms:.2f}x{same}")


if __name__ == "__main__":
    main()
