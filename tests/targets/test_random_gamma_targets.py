"""aotc.random's gamma family (gamma, loggamma, beta, dirichlet) on aarch64 under qemu, against
jax.random: the float32 draws of tests/frontend/test_random_gamma.py's table for 16 keys,
vmapped into one program (cpu is in that file). aarch64 runs gamma with a < 1, beta and
dirichlet (ON_TARGET: the boost through pow and the log-space sampler); the other entries take
the same code paths with other parameters and run on the interpreter and cpu. Results come
back as raw bits (floats bitcast to unsigned ints of their width). aarch64 rounds as XLA:CPU
does (IREE's llvm-cpu contracts the float64 multiply-adds into fmas), so the entries must be
bit-equal except those through pow (gamma with a < 1).

vmvx and Vulkan run gamma with a < 1 (the pow boost, run-time rsqrt of vector alphas, the
rejection loop), and Vulkan beta too (two loggammas: the log-space boost, a folded scalar c,
then exp), each its own program. Each fma there is rewritten into ~75 exact float32 ops
(aotc.frontend.ops.exact_fma), so one sampler costs 20-40 s of iree-compile, and one program of
four entries took 184 s (Vulkan) and 218 s (vmvx). vmvx is bit-equal (beta was too when it ran
there), pow included (it calls the C library's powf, as XLA:CPU does); Vulkan is bit-equal on
beta and within 128 ulps through lavapipe's pow (54 measured). Before
aotc.tools.vulkan_devices, Vulkan's loop conditions were lost and these entries were wrong by
~2**23 ulps.
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
# aarch64: gamma with a < 1 (pow's boost, the rejection loop) and the log-space sampler through
# beta (two loggammas) and dirichlet (loggamma of a vector alpha, then softmax); loggamma and
# gamma with a >= 1 alone run on x86-64 (test_random_gamma.py's cpu table).
ON_TARGET = ("gamma_small", "beta", "dirichlet")
# vmvx and Vulkan: one program each; gamma with a < 1 on both (their pows differ), beta with
# scalar parameters on Vulkan, whose float ops differ from the C library's
PORTABLE = [("gamma_small", "vmvx"), ("gamma_small", "vulkan"), ("beta_scalar", "vulkan")]


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
@pytest.mark.parametrize(("name", "target"), PORTABLE)
def test_gamma_draws_on_portable_targets(name, target, request):
    if target == "vulkan":
        request.getfixturevalue("vulkan")  # skips without a Vulkan driver, saying why
    T.require_modelled_rsqrt()
    expected = T.jax_draws(FLOATS, (name,))
    module = aotc_runtime.load_bytes(_compile(target, (name,)), device=TARGETS[target].driver)
    got = _from_bits(module["program"](T.KEYS), expected)
    print(target, T.compare(got, expected, target))
