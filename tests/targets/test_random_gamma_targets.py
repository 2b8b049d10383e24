"""aotc.random's gamma family (gamma, loggamma, beta, dirichlet) on aarch64 under qemu, against
jax.random: the float32 draws of tests/frontend/test_random_gamma.py's table for 16 keys,
vmapped into one program (cpu is in that file). Results come back as raw bits (floats bitcast
to unsigned ints of their width). aarch64 rounds as XLA:CPU does (IREE's llvm-cpu contracts
the float64 multiply-adds into fmas), so the entries must be bit-equal except those through
pow (gamma with a < 1).

Not tested: vmvx and Vulkan. IREE 3.13's compiles of this program for them (two nested while
loops per sampler, each fma rewritten into ~75 exact float32 ops there) ran over 16
CPU-minutes without finishing, so their results are unmeasured.
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


def _as_bits(x):
    return alax.bitcast_convert_type(x, _RAW[x.dtype.itemsize])


def _compile(target: str) -> bytes:
    def program(keys):
        out = aotc.vmap(lambda k: T.draws(ar, k, FLOATS))(keys)
        return [_as_bits(out[name]) for name in sorted(out)]

    return aotc.compile(program, aotc.ShapeSpec(T.KEYS.shape, "uint32"), target=target)


def _from_bits(got: list, expected: dict) -> dict:
    names = sorted(expected)
    assert len(got) == len(names)
    return {name: np.asarray(g).view(expected[name].dtype) for name, g in zip(names, got)}


@pytest.mark.slow  # compiling for aarch64 and running under qemu take minutes
def test_gamma_draws_on_aarch64(qemu, run, tmp_path):
    T.require_modelled_rsqrt()
    expected = T.jax_draws(FLOATS)
    got = run_keys_program_on_aarch64(qemu, run, tmp_path, _compile("aarch64"), T.KEYS,
                                      len(expected))
    print("aarch64", T.compare(_from_bits(got, expected), expected, "aarch64"))
