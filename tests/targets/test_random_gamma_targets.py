"""aotc.random's gamma family (gamma, loggamma, beta, dirichlet) on aarch64 under qemu, against
jax.random: the float32 draws of tests/frontend/test_random_gamma.py's table for 16 keys,
vmapped into one program (cpu is in that file). aarch64 runs one entry per code path
(ON_TARGET: loggamma, gamma with a >= 1 and with a < 1, beta, dirichlet); the other entries
differ from these only in parameter shapes and run on the interpreter and cpu. Results come
back as raw bits (floats bitcast to unsigned ints of their width). aarch64 rounds as XLA:CPU
does (IREE's llvm-cpu contracts the float64 multiply-adds into fmas), so the entries must be
bit-equal except those through pow (gamma with a < 1).

Not tested here: vmvx and Vulkan. Their compiles are too slow for a test (each fma is rewritten
into ~75 exact float32 ops there, aotc.frontend.ops.exact_fma): with IREE's const-eval off
(tools/compile.py, which cut one gamma(key, 3.0, (64,)) from 70 s to 22 s of iree-compile CPU on
vmvx), a compact program (gamma with alphas 0.3, 1, 2.5, 7; loggamma with 0.01, 0.5, 1, 3; beta;
dirichlet; 8 keys vmapped) still took 240 s of CPU on vmvx and 221 s on Vulkan. Measured once
with it against jax.jit(jax.random.*), float32: on vmvx all 192 samples bit-equal; on Vulkan
loggamma and dirichlet bit-equal, but gamma with a = 0.3 differed on 13 of 16 samples and beta
on 2 of 16, by ~2**23 ulps (a value near 0 against a normal one; cause not found: a plain
pow(x, 1/0.3) is right on Vulkan).
"""


import numpy as np
import pytest
from helpers import load_test_module, run_keys_program_on_aarch64

import aotc
import aotc.lax as alax
import aotc.random as ar

T = load_test_module("frontend", "test_random_gamma")  # its table of draws
_RAW = {4: np.uint32, 2: np.uint16}
FLOATS = (np.float32,)  # 16-bit floats: interpreter and cpu only (test_random_gamma.py)
ON_TARGET = ("loggamma", "gamma_big", "gamma_small", "beta", "dirichlet")


def _as_bits(x):
    return alax.bitcast_convert_type(x, _RAW[x.dtype.itemsize])


def _compile(target: str) -> bytes:
    def program(keys):
        out = aotc.vmap(lambda k: T.draws(ar, k, FLOATS, ON_TARGET))(keys)
        return [_as_bits(out[name]) for name in sorted(out)]

    return aotc.compile(program, aotc.ShapeSpec(T.KEYS.shape, "uint32"), target=target)


def _from_bits(got: list, expected: dict) -> dict:
    names = sorted(expected)
    assert len(got) == len(names)
    return {name: np.asarray(g).view(expected[name].dtype) for name, g in zip(names, got)}


@pytest.mark.slow  # compiling for aarch64 and running under qemu take minutes
def test_gamma_draws_on_aarch64(qemu, run, tmp_path):
    T.require_modelled_rsqrt()
    expected = T.jax_draws(FLOATS, ON_TARGET)
    got = run_keys_program_on_aarch64(qemu, run, tmp_path, _compile("aarch64"), T.KEYS,
                                      len(expected))
    print("aarch64", T.compare(_from_bits(got, expected), expected, "aarch64"))
