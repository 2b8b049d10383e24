"""Bounds legalization on the other targets: out-of-range gathers clamp and out-of-range scatter
updates drop on vmvx, Vulkan (lavapipe) and aarch64 (qemu) as on the CPU, against JAX.

One artifact per target: JAX's export of a vmapped program (gathers and scatters with batching
dims, the form IREE spills across lanes), each lane one index case beside an in-range index.
"""

import jax
import numpy as np
import pytest

import aotc_runtime
from aotc.tools.compile import compile_stablehlo
from aotc.tools.targets import TARGETS

BIG = 2**31 - 1
CASES = [0, -1, 5, -5, 6, -6, BIG, -BIG]  # rows of a (5, 4) array
X = np.tile(np.arange(20, dtype=np.float32).reshape(1, 5, 4) - 7.0, (len(CASES), 1, 1))
X = X * np.arange(1, len(CASES) + 1, dtype=np.float32).reshape(-1, 1, 1)
IDS = np.array([[c, 2] for c in CASES], np.int32)
U = np.full((len(CASES), 2, 4), 50.0, np.float32)


def lane(x, i, u):
    return x[i], x.at[i].set(u), x.at[i].add(u), jax.lax.dynamic_slice(x, (i[0], 1), (2, 3))


PROGRAM = jax.vmap(lane)


@pytest.fixture(scope="module")
def expected():
    return [np.asarray(r) for r in PROGRAM(X, IDS, U)]


def _text() -> str:
    return jax.jit(PROGRAM).lower(X, IDS, U).as_text()


def _check(got, expected):
    assert len(got) == len(expected)
    for name, g, e in zip(["x[i]", ".at[i].set", ".at[i].add", "dynamic_slice"], got, expected):
        np.testing.assert_array_equal(g, e, err_msg=name)


@pytest.mark.parametrize("target", ["vmvx", "vulkan"])
def test_out_of_range_indices_like_jax(target, expected, request):
    if target == "vulkan":
        request.getfixturevalue("vulkan")  # skips without a Vulkan driver, saying why
    vmfb = compile_stablehlo(_text(), target)
    module = aotc_runtime.load_bytes(vmfb, device=TARGETS[target].driver, require_aotc=False)
    _check(module["main"](X, IDS, U), expected)


@pytest.mark.slow
def test_out_of_range_indices_like_jax_on_aarch64(qemu, run, tmp_path, expected):
    (tmp_path / "m.vmfb").write_bytes(compile_stablehlo(_text(), "aarch64"))
    inputs = []
    for k, array in enumerate([X, IDS, U]):
        np.save(tmp_path / f"in{k}.npy", array)
        inputs.append(f"--input=@{tmp_path / f'in{k}.npy'}")
    outputs = [f"--output=@{tmp_path / f'out{k}.npy'}" for k in range(len(expected))]
    done = run([*qemu, f"--module={tmp_path / 'm.vmfb'}", "--device=local-task",
                "--function=main", *inputs, *outputs])
    assert done.returncode == 0, done.stderr
    _check([np.load(tmp_path / f"out{k}.npy") for k in range(len(expected))], expected)
