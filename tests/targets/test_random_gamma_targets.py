"""aotc.random's gamma family (gamma, loggamma, beta, dirichlet) on aarch64 under qemu, against
jax.random: the float32 draws of tests/frontend/test_random_gamma.py's table for 16 keys,
vmapped into one program (cpu is in that file). aarch64 runs one entry per code path
(ON_TARGET: loggamma, gamma with a >= 1 and with a < 1, beta, dirichlet); the other entries
differ from these only in parameter shapes and run on the interpreter and cpu. Results come
back as raw bits (floats bitcast to unsigned ints of their width). aarch64 rounds as XLA:CPU
does (IREE's llvm-cpu contracts the float64 multiply-adds into fmas), so the entries must be
bit-equal except those through pow (gamma with a < 1).

vmvx and Vulkan run two entries, each its own program: gamma with a < 1 (the pow boost, run-time
rsqrt of vector alphas, the rejection loop) and beta (two loggammas: the log-space boost, a
folded scalar c, then exp). Each fma there is rewritten into ~75 exact float32 ops
(aotc.frontend.ops.exact_fma), so one sampler costs 20-40 s of iree-compile, and one program of four
entries took 184 s (Vulkan) and 218 s (vmvx). vmvx is bit-equal on both entries, pow
included (it calls the C library's powf, as XLA:CPU does); Vulkan is bit-equal on beta and
within 128 ulps through lavapipe's pow (54 measured). Before aotc.tools.vulkan_devices, Vulkan's
loop conditions were lost and these entries were wrong by ~2**23 ulps.
"""


import numpy as np
import pytest
from helpers import load_test_module, run_keys_program_on_aarch64

import aotc
import aotc.lax as alax
import aotc.random as ar
import aotc_runtime
from aotc.tools.targets import TARGETS

T = load_test_module("frontend", "test_random_gamma")  # its table of draws
_RAW = {4: np.uint32, 2: np.uint16}
FLOATS = (np.float32,)  # 16-bit floats: interpreter and cpu only (test_random_gamma.py)
ON_TARGET = ("loggamma", "gamma_big", "gamma_small", "beta", "dirichlet")
PORTABLE = ("gamma_small", "beta_scalar")  # vmvx and Vulkan: one program each


def _as_bits(x):
    return alax.bitcast_convert_type(x, _RAW[x.dtype.itemsize])


def _compile(target: str, names=ON_TARGET) -> bytes:
    def program(keys):
        out = aotc.vmap(lambda k: T.draws(ar, k, FLOATS, names))(keys)
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


@pytest.mark.slow  # 20-40 s of iree-compile each (see the module docstring)
@pytest.mark.parametrize("target", ["vmvx", "vulkan"])
@pytest.mark.parametrize("name", PORTABLE)
def test_gamma_draws_on_portable_targets(target, name, request):
    if target == "vulkan":
        request.getfixturevalue("vulkan")  # skips without a Vulkan driver, saying why
    T.require_modelled_rsqrt()
    expected = T.jax_draws(FLOATS, (name,))
    module = aotc_runtime.load_bytes(_compile(target, (name,)), device=TARGETS[target].driver)
    got = _from_bits(module["program"](T.KEYS), expected)
    print(target, T.compare(got, expected, target))
