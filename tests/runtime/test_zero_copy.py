"""Calls copy each array at most once (aotc_runtime.devices.Transfer): aligned inputs are used
in place, large results are numpy views of IREE's buffers, and neither shortcut may let a
result change later or alias memory the caller owns."""

import functools
import gc
import os
import subprocess
import sys
import textwrap
import threading

import iree.runtime as rt
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc_runtime import devices

LARGE = 1 << 18  # floats: 1 MiB, above devices.ZERO_COPY_MIN_BYTES
DEVICES = ("local-sync", "local-task")
VEC = aotc.ShapeSpec(("n",))


def affine(x, y):
    return x * 2.0 + y


def passthrough(x):
    """x itself twice (IREE hands back the input buffer) and a computed result."""
    return x, x + 1.0, x


def mixed(i, b, h, s):
    return i * 3 + 1, anp.logical_not(b), h * 2.0, s - 1


@pytest.fixture(scope="module")
def vmfbs() -> dict:
    return {
        "affine": aotc.compile(affine, VEC, VEC, name="affine"),
        "passthrough": aotc.compile(passthrough, VEC, name="passthrough"),
        "mixed": aotc.compile(mixed, aotc.ShapeSpec(("n",), "int32"),
                              aotc.ShapeSpec(("n",), "bool"),
                              aotc.ShapeSpec(("n",), "float16"),
                              aotc.ShapeSpec(("n",), "int8"), name="mixed"),
    }


@pytest.fixture(scope="module", params=DEVICES)
def modules(request, vmfbs) -> dict:
    return {k: aotc_runtime.load_bytes(v, device=request.param) for k, v in vmfbs.items()}


def counted(fn):
    """(fn(), how many inputs/results each transfer kind moved during it)."""
    before = dict(devices.TRANSFERS)
    out = fn()
    return out, {k: devices.TRANSFERS[k] - before[k] for k in before}


def aligned(n: int, offset: int = 0, dtype=np.float32) -> np.ndarray:
    """n values of dtype starting offset bytes past a 64-byte boundary, filled with data."""
    dtype = np.dtype(dtype)
    raw = devices.aligned_empty((n * dtype.itemsize + 64,), np.dtype(np.uint8))
    out = raw[offset:offset + n * dtype.itemsize].view(dtype)
    out[...] = np.random.default_rng(n + offset).standard_normal(n)
    return out


def test_aligned_input_is_used_in_place(modules):
    x, y = aligned(LARGE), aligned(LARGE)
    assert x.ctypes.data % devices.ALIGNMENT == 0
    out, moved = counted(lambda: modules["affine"].affine(x, y))
    np.testing.assert_allclose(out, x * 2 + y, rtol=1e-6)
    assert moved == {"imported": 2, "copied": 0, "viewed": 1, "read": 0}
    assert isinstance(out.base, devices._HostResult)  # a view of IREE's result buffer
    # Independent of the counters: IREE returns an imported input's own buffer for `x`, so
    # the result of passthrough lies inside x's memory, and the call detects and copies it.
    _, moved = counted(lambda: modules["passthrough"].passthrough(x))
    assert moved["imported"] == 1 and moved["read"] == 2 and moved["viewed"] == 1


@pytest.mark.parametrize("offset", [16, 32, 48])
def test_inputs_at_numpy_malloc_alignment_are_used_in_place(modules, offset):
    """aotc compiles CPU programs for 16-byte aligned inputs (flags_policy.ALIGNMENT_FLAG), so
    numpy's large arrays (16 bytes past a 64-byte boundary) are not copied; the affine program's
    code loads them with full-width vector moves, which fault if the code assumed 64."""
    x, y = aligned(LARGE, offset=offset), aligned(LARGE, offset=offset)
    assert modules["affine"]._input_alignment == 16
    out, moved = counted(lambda: modules["affine"].affine(x, y))
    np.testing.assert_allclose(out, x * 2 + y, rtol=1e-6)
    assert moved == {"imported": 2, "copied": 0, "viewed": 1, "read": 0}
    same, plus, again = modules["passthrough"].passthrough(x)  # IREE returns x's own buffer
    np.testing.assert_allclose(plus, x + 1, rtol=1e-6)
    assert not np.shares_memory(same, x) and not np.shares_memory(again, x)
    np.testing.assert_array_equal(again, x)


def test_artifacts_without_a_declared_alignment_get_only_64_byte_aligned_inputs_in_place():
    """A program compiled without aotc's per-program flags (replace=True: IREE's default 64-byte
    assumption, no aotc.input_alignment) gets 16-byte aligned inputs copied."""
    from aotc.tools.compile import compile_stablehlo
    from aotc.tools.targets import flags

    text = str(aotc.lower(affine, VEC, VEC))
    module = aotc_runtime.load_bytes(compile_stablehlo(text, "cpu", flags("cpu"), replace=True),
                                     device="local-sync", require_aotc=False)
    assert module._input_alignment == devices.ALIGNMENT
    x, y = aligned(LARGE, offset=16), aligned(LARGE)
    (out,), moved = counted(lambda: module["affine"](x, y))
    np.testing.assert_allclose(out, x * 2 + y, rtol=1e-6)
    assert moved == {"imported": 1, "copied": 1, "viewed": 1, "read": 0}


@pytest.mark.parametrize("declared, expected", [
    ({"f": {"aotc.input_alignment": "16"}}, 16),
    ({"f": {"aotc.input_alignment": "16"}, "g": {"aotc.input_alignment": "32"}}, 32),
    ({"f": {"aotc.input_alignment": "16"}, "g": {}}, 64),
    ({"f": {"aotc.input_alignment": "8"}}, 64),
    ({"f": {"aotc.input_alignment": "48"}}, 64),
    ({"f": {"aotc.input_alignment": "128"}}, 64),
    ({"f": {"aotc.input_alignment": "x16"}}, 64),
    ({}, 64),
])
def test_declared_input_alignment(declared, expected):
    assert devices.input_alignment(declared) == expected


def test_results_do_not_alias_inputs_or_each_other(modules):
    x = aligned(LARGE)
    kept = x.copy()
    same, plus, again = modules["passthrough"].passthrough(x)
    assert not np.shares_memory(same, x) and not np.shares_memory(again, x)
    assert not np.shares_memory(same, again)
    x[:] = -7.0  # the caller changes its input after the call
    np.testing.assert_array_equal(same, kept)
    np.testing.assert_array_equal(again, kept)
    np.testing.assert_allclose(plus, kept + 1, rtol=1e-6)
    same[:] = 3.0  # and its results: each is its own
    np.testing.assert_array_equal(again, kept)


def test_results_survive_the_reuse_of_aligned_copies(modules):
    """A misaligned input is copied into an aligned buffer that the next call reuses; results
    that IREE returned inside that buffer were copied out, so they do not change."""
    f = modules["passthrough"].passthrough
    x = aligned(LARGE, offset=4)
    (same, plus, again), moved = counted(lambda: f(x))
    assert moved["copied"] == 1 and moved["read"] == 2
    kept = x.copy()
    for k in range(3):
        f(aligned(LARGE, offset=4 * (k + 2)) * 0 - k)  # the same buffer, other values
    np.testing.assert_array_equal(same, kept)
    np.testing.assert_array_equal(again, kept)
    np.testing.assert_allclose(plus, kept + 1, rtol=1e-6)


def test_results_do_not_change_when_the_next_call_runs(modules):
    f = modules["affine"].affine
    for n in (4, LARGE):  # copied and viewed results
        x, y = aligned(n), aligned(n, dtype=np.float32)
        first = f(x, y)
        kept = first.copy()
        for k in range(3):
            later = f(x + k, y - k)
            assert not np.shares_memory(first, later)
        np.testing.assert_array_equal(first, kept)
        first += 1.0  # writing into a result does not disturb the next call
        np.testing.assert_allclose(f(x, y), kept, rtol=1e-6)


@pytest.mark.parametrize("n", [5, LARGE])
def test_any_layout_is_copied_exactly_once(modules, n):
    base = np.random.default_rng(n).standard_normal(2 * n + 64).astype(np.float32)
    layouts = {
        "strided": base[: 2 * n : 2],
        "misaligned": aligned(n, offset=4),
        "big-endian": base[:n].astype(">f4"),
        "read-only": np.frombuffer(base[:n].tobytes(), np.float32),
        "reversed": base[:n][::-1],
    }
    y = aligned(n)
    for name, x in layouts.items():
        out, moved = counted(lambda x=x: modules["affine"].affine(x, y))
        np.testing.assert_allclose(out, x.astype(np.float32) * 2 + y, rtol=1e-6, err_msg=name)
        copied_y = 1 if n * 4 < devices.ZERO_COPY_MIN_BYTES else 0
        assert moved["copied"] == 1 + copied_y and moved["imported"] == 1 - copied_y, name


def test_empty_scalar_like_and_large_inputs(modules):
    f = modules["affine"].affine
    empty = np.zeros(0, np.float32)
    assert f(empty, empty).shape == (0,)
    x = np.random.default_rng(1).standard_normal(4 << 20).astype(np.float32)  # 16 MiB
    np.testing.assert_allclose(f(x, x), x * 3, rtol=1e-6)


def test_dtypes_round_trip(modules):
    rng = np.random.default_rng(2)
    for n in (3, LARGE):
        i = rng.integers(-1000, 1000, n).astype(">i4")  # big-endian ints too
        b = rng.random(n) > 0.5
        h = rng.standard_normal(n).astype(np.float16)
        s = rng.integers(-100, 100, n).astype(np.int8)
        out = modules["mixed"].mixed(i, b, h, s)
        np.testing.assert_array_equal(out[0], i.astype(np.int32) * 3 + 1)
        np.testing.assert_array_equal(out[1], ~b)
        np.testing.assert_array_equal(out[2], h * np.float16(2))
        np.testing.assert_array_equal(out[3], s - np.int8(1))
        assert [o.dtype for o in out] == [np.int32, np.bool_, np.float16, np.int8]


def test_calls_from_threads(modules):
    f = modules["affine"].affine
    xs = [aligned(LARGE, offset=0 if k % 2 else 8) for k in range(8)]
    results = [None] * len(xs)

    def work(k):
        for _ in range(5):
            results[k] = f(xs[k], xs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, out in zip(xs, results):
        np.testing.assert_allclose(out, x * 3, rtol=1e-6)


def test_jit_takes_the_same_path():
    jitted = aotc.jit(affine, device="local-sync")
    x = aligned(LARGE)
    y = aligned(LARGE, offset=12)
    out, moved = counted(lambda: jitted(x, y))
    np.testing.assert_allclose(out, x * 2 + y, rtol=1e-6)
    assert moved == {"imported": 1, "copied": 1, "viewed": 1, "read": 0}
    reversed_x, moved = counted(lambda: jitted(x[::-1], y))
    np.testing.assert_allclose(reversed_x, x[::-1] * 2 + y, rtol=1e-6)
    assert moved["copied"] == 2 and moved["imported"] == 0  # each input copied once
    kept = out.copy()
    jitted(y, x)
    np.testing.assert_array_equal(out, kept)


OUTLIVE = textwrap.dedent("""
    import gc, sys
    import numpy as np
    import aotc_runtime
    from aotc_runtime import devices
    kept = []
    for device, path in (arg.split("=", 1) for arg in sys.argv[1:]):
        m = aotc_runtime.load_bytes(open(path, "rb").read(), device=device)
        x = np.arange(1 << 18, dtype=np.float32)
        kept += [m.affine(x, x), m.affine(x[:3], x[:3])]
        assert device == "vulkan" or isinstance(kept[-2].base, devices._HostResult)
        if device == "local-task":
            m.close()
        del m
    gc.collect()
    devices.release()  # aotc's shared devices forgotten, as at exit,
    devices._iree_device_cache().clear()  # and iree.runtime's: nothing else holds them now
    gc.collect()
    late = np.ones(1 << 18, np.float32) * 5  # memory the old buffers would be reused for
    print(float(sum(a.astype(np.float64).sum() for a in kept)))
""")


@pytest.mark.slow
def test_results_outlive_module_and_devices(vmfbs, tmp_path):
    """Result arrays kept past the module, its context and aotc's devices stay valid, and the
    process exits cleanly (IREE_NOTES: a buffer that outlives its device crashed at exit)."""
    paths = {}
    for target in ("cpu", *(["vulkan"] if _vulkan_works() else [])):
        paths[target] = tmp_path / f"affine-{target}.vmfb"
        paths[target].write_bytes(vmfbs["affine"] if target == "cpu" else _vulkan_affine())
    runs = [f"{d}={paths['cpu']}" for d in DEVICES] + [f"vulkan={p}" for t, p in paths.items()
                                                       if t == "vulkan"]
    proc = subprocess.run([sys.executable, "-c", OUTLIVE, *runs],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, proc.stderr
    x = np.arange(1 << 18, dtype=np.float64)
    expected = len(runs) * (3 * x.sum() + 3 * x[:3].sum())
    assert float(proc.stdout.split()[-1]) == pytest.approx(expected, rel=1e-6)


@functools.cache
def _vulkan_works() -> bool:
    if "vulkan" not in rt.query_available_drivers():
        return False
    try:
        rt.get_device("vulkan")
        return True
    except Exception:  # noqa: BLE001 (no Vulkan driver here)
        return False


@functools.cache
def _vulkan_affine() -> bytes:
    return aotc.compile(affine, VEC, VEC, name="affine", target="vulkan")


def test_vulkan_inputs_and_results():
    if not _vulkan_works():
        pytest.skip("no Vulkan device here (apt-get install libvulkan1 mesa-vulkan-drivers)")
    m = aotc_runtime.load_bytes(_vulkan_affine())
    assert m.driver == "vulkan"
    f = m.affine
    for n in (5, 1025, LARGE):
        x = np.random.default_rng(n).standard_normal(2 * n).astype(np.float32)
        y = x[:n].astype(">f4")
        out, moved = counted(functools.partial(f, x[::2], y))
        np.testing.assert_allclose(out, x[::2] * 2 + y, rtol=1e-6)
        assert moved == {"imported": 0, "copied": 2, "viewed": 0, "read": 1}
        assert out.base is None or out.base.flags.owndata  # numpy memory, not a mapping
    del m, f
    gc.collect()
    np.testing.assert_allclose(out, x[::2] * 2 + y, rtol=1e-6)


def _weights_and_constant(w, x):
    return w, x + 1.0, anp.asarray(np.full(LARGE, 3.0, np.float32))


def test_results_never_alias_weights_or_constants(tmp_path):
    """A result that is a weight (aotc.Param, from the .irpa) or a constant comes back as a
    view of a buffer of its own: writing into it changes neither the weights nor the next
    call's constant."""
    weights = np.arange(LARGE, dtype=np.float32)
    path = str(tmp_path / "weights.vmfb")
    aotc.compile(_weights_and_constant, aotc.Param(weights, name="w"), aotc.ShapeSpec((4,)),
                 path=path, name="get")
    for device in DEVICES:
        m = aotc_runtime.load(path, device=device)
        (w, _, c), moved = counted(lambda m=m: m.get(np.ones(4, np.float32)))
        assert moved["viewed"] == 2  # both large results are views, and writable
        w[:] = -1.0
        c[:] = -5.0
        w_again, _, c_again = m.get(np.ones(4, np.float32))
        np.testing.assert_array_equal(w_again, weights)
        assert (c_again == 3.0).all()
