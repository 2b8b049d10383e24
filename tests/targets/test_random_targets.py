"""aotc.random on every target that runs here, against jax.random: the draws table of
tests/frontend/test_random.py (every sampler, several shapes and dtypes) for 20 keys, vmapped
into ONE program per target (cpu, vmvx, Vulkan on lavapipe, aarch64 under qemu).

Results come back as raw bits (floats bitcast to unsigned ints of their width, booleans as
uint8) so that iree-run-module's .npy files carry bfloat16 too; they are compared with JAX's
exactly (bit-equal entries) or in ulps (entries ending in a transcendental function).
"""


import jax
import ml_dtypes
import numpy as np
import pytest
from helpers import load_test_module, run_keys_program_on_aarch64

import aotc
import aotc.lax as alax
import aotc.numpy as anp
import aotc.random as ar
import aotc_runtime
from aotc.tools.targets import TARGETS

T = load_test_module("frontend", "test_random")  # its table of draws
_RAW = {4: np.uint32, 2: np.uint16, 1: np.uint8}


def _as_bits(x):
    """x's bits as an unsigned int array (floats bitcast, booleans as uint8)."""
    if x.dtype == np.bool_:
        return anp.astype(x, np.uint8)
    if x.dtype.kind == "f" or x.dtype == ml_dtypes.bfloat16:
        return alax.bitcast_convert_type(x, _RAW[x.dtype.itemsize])
    return x


# IREE 3.13's vmvx cannot compile 16-bit float arithmetic ("failed to legalize operation
# 'arith.constant' that was explicitly marked illegal: ... f16" / bf16): its table draws float32.
# On Vulkan (lavapipe) IREE 3.13 computes float16 wrongly (x * 2 and float16 <-> float32
# converts give garbage), so Vulkan's table leaves float16 out.
FLOATS = {"vmvx": (np.float32,), "vulkan": (np.float32, ml_dtypes.bfloat16)}
# vmvx cannot compile tan (math.tan is illegal there): no cauchy.
TAN = {"vmvx": False}
# Targets where the float32 log/log1p/erf/tan samplers (test_random.EXACT_FLOAT32) are bit-equal
# to JAX: all of them. aotc.random writes out XLA:CPU's algorithms, whose fmas it gets from
# float64 multiply-adds: IREE demotes them to float32 and the CPU backends contract them; vmvx
# and Vulkan contract nothing, so aotc rewrites them there into exact fmas from float32 ops
# (aotc.frontend.ops.exact_fma; uniform's ranges are exact there through the same rewrite).
EXACT_FLOAT32 = {"cpu", "aarch64", "vmvx", "vulkan"}


def program_for(target: str):
    floats = FLOATS.get(target, T.FLOATS)

    def program(keys):
        out = aotc.vmap(lambda k: T.draws(ar, k, floats, TAN.get(target, True)))(keys)
        return [_as_bits(out[name]) for name in sorted(out)]

    return program


def _from_bits(got: list, expected: dict) -> dict:
    """got (raw bits, in sorted entry order) as arrays of expected's dtypes, by entry name."""
    names = sorted(expected)
    assert len(got) == len(names)
    return {name: np.asarray(g).view(expected[name].dtype) if expected[name].dtype != np.bool_
            else np.asarray(g).astype(np.bool_) for name, g in zip(names, got)}


def expected_on(target: str) -> dict:
    """JAX's draws for the entries target's table has."""
    names = set(jax.eval_shape(lambda k: T.draws(jax.random, k, FLOATS.get(target, T.FLOATS),
                                                 TAN.get(target, True)), T.KEYS[0]))
    return {name: value for name, value in T.jax_draws().items() if name in names}


def _compile(target: str) -> bytes:
    program = program_for(target)
    program.__name__ = "program"
    return aotc.compile(program, aotc.ShapeSpec(T.KEYS.shape, "uint32"), target=target)


@pytest.mark.slow  # one large program per target: ~40 s of IREE compile CPU each
@pytest.mark.parametrize("target", ["cpu", "vmvx", "vulkan"])
def test_draws_match_jax_on_target(target, request):
    if target == "vulkan":
        request.getfixturevalue("vulkan")  # skips without a Vulkan driver, saying why
    expected = expected_on(target)
    module = aotc_runtime.load_bytes(_compile(target), device=TARGETS[target].driver)
    got = _from_bits(module["program"](T.KEYS), expected)
    T.compare(got, expected, target, exact_float32=target in EXACT_FLOAT32)


@pytest.mark.slow  # compiling for aarch64 takes ~100 s of CPU
def test_draws_match_jax_on_aarch64(qemu, run, tmp_path):
    expected = expected_on("aarch64")
    got = run_keys_program_on_aarch64(qemu, run, tmp_path, _compile("aarch64"), T.KEYS,
                                      len(expected))
    T.compare(_from_bits(got, expected), expected, "aarch64", exact_float32=True)
