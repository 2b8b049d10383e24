"""aotc.numpy.fft compiled by IREE (llvm-cpu, host CPU) against jax.numpy.fft (XLA/ducc) and
numpy.fft, interleaved in one process, medians of the rounds.

    .venv/bin/python benchmarks/fft.py [--sizes 64 100 1024 4096] [--batch 64] [--rounds 9]

For each length n, a complex64 FFT (fft) and a real one (rfft) of a (batch, n) array, each in
up to two aotc forms: `portable` is what aotc.jit compiles (the lowering of
aotc.frontend.ops.fft: DFT matmul, four-step, Bluestein), `native` keeps IREE's own
linalg_ext.fft where IREE 3.13 has one (power-of-two n). Prints microseconds per call and the
ratio portable / native.
"""

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from iree.compiler import compile_str

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.frontend.ops.fft import lower_ffts, native_fft
from aotc.tools.targets import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_times

jax.config.update("jax_platforms", "cpu")


def _compiled(fn, x, native: bool):
    """fn compiled for this CPU, its FFTs lowered portably (native: IREE's own where it has
    one; compiled with the preset's flags directly, as compile_stablehlo lowers them all)."""
    traced = aotc.lower(fn, aotc.ShapeSpec(x.shape, str(x.dtype)))
    with traced.module.context:
        lower_ffts(traced.module, "llvm-cpu", native=native)
    vmfb = compile_str(str(traced.module), input_type="stablehlo", extra_args=flags("cpu"))
    function = aotc_runtime.load_bytes(vmfb, require_aotc=False)[traced.name]
    return lambda: function(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 100, 1024, 4096])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'kind':6} {'n':>6} {'native':>10} {'portable':>10} {'jax':>10} {'numpy':>10}  "
          "(us per call, batch of " f"{args.batch}); portable/native")
    for n in args.sizes:
        x = rng.standard_normal((args.batch, n)).astype(np.float32)
        z = (x + 1j * rng.standard_normal((args.batch, n))).astype(np.complex64)
        for kind, a, afn, jfn, nfn in (("fft", z, anp.fft.fft, jnp.fft.fft, np.fft.fft),
                                       ("rfft", x, anp.fft.rfft, jnp.fft.rfft, np.fft.rfft)):
            native = native_fft(kind.upper(), [n], "llvm-cpu")
            fns = {"portable": _compiled(afn, a, native=False)}
            if native:
                fns["native"] = _compiled(afn, a, native=True)
            jitted = jax.jit(jfn)
            fns["jax"] = lambda jitted=jitted, a=a: jitted(a).block_until_ready()
            fns["numpy"] = lambda nfn=nfn, a=a: nfn(a)
            times = median_times(fns, args.rounds)
            us = {k: f"{v[0] * 1e6:10.1f}" for k, v in times.items()}
            ratio = (f"{times['portable'][0] / times['native'][0]:.2f}" if native else "-")
            print(f"{kind:6} {n:6d} {us.get('native', ' ' * 9 + '-')} {us['portable']} "
                  f"{us['jax']} {us['numpy']}  {ratio}", flush=True)


if __name__ == "__main__":
    main()
