"""Vulkan artifacts run through aotc_runtime (Mesa lavapipe in CI) and match the cpu artifacts.

Results come back through a staging buffer (aotc_runtime.devices.to_numpy): IREE's own
`to_host()` fails on Vulkan for buffers that are not 4096-byte aligned.
"""

import ml_dtypes
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime

pytestmark = pytest.mark.usefixtures("vulkan")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def both(artifact, name):
    """The cpu and vulkan artifacts of models/NAME.py, loaded."""
    cpu, gpu = (aotc_runtime.load(artifact(name, t)) for t in ("cpu", "vulkan"))
    assert (gpu.driver, gpu.target) == ("vulkan", "vulkan")
    assert cpu.driver in ("local-sync", "local-task")  # by its cost: aotc_runtime.policy
    return cpu, gpu


def assert_tree_close(got, want):
    leaves_got, tree_got = aotc.tree.flatten(got)
    leaves_want, tree_want = aotc.tree.flatten(want)
    assert tree_got == tree_want
    for g, w in zip(leaves_got, leaves_want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, **TOLERANCE)


@pytest.mark.slow
def test_mlp_on_vulkan_matches_cpu(artifact, model):
    mlp = model("mlp")
    cpu, gpu = both(artifact, "mlp")
    params, x = mlp.init_params(4), mlp.example_batch(5, seed=7)
    assert_tree_close(gpu.predict(params, x), cpu.predict(params, x))
    out = gpu.classify(x)  # external weights from mlp.irpa, bound on the Vulkan device
    assert_tree_close(out, cpu.classify(x))
    np.testing.assert_allclose(out["probs"].sum(-1), 1, rtol=1e-5)
    step_x = mlp.example_batch(mlp.TRAIN_BATCH, seed=1)
    labels = (np.arange(mlp.TRAIN_BATCH) % 10).astype(np.int32)
    state = mlp.init_opt_state(0.1)
    assert_tree_close(gpu.train_step(params, state, step_x, labels),
                      cpu.train_step(params, state, step_x, labels))


@pytest.mark.slow
def test_cnn_on_vulkan_matches_cpu(artifact, model):
    cnn = model("cnn")
    cpu, gpu = both(artifact, "cnn")
    params = cnn.init_params(1)
    for n in (1, 3):
        images = cnn.example_images(n, seed=n)
        got = gpu.predict(params, images)
        assert_tree_close(got, cpu.predict(params, images))
        np.testing.assert_allclose(got, cnn.reference_predict(params, images), rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.slow
def test_attention_block_on_vulkan_matches_cpu(artifact, model):
    attention = model("attention")
    cpu, gpu = both(artifact, "attention")
    params, x = attention.init_params(2), attention.example_input(5)
    got = gpu.block(params, x)
    assert_tree_close(got, cpu.block(params, x))
    np.testing.assert_allclose(got, attention.reference_block(params, x), rtol=1e-4, atol=1e-4)


def odd_results(x, k):
    """Results of several dtypes and byte sizes that are not multiples of 4096."""
    return {"sum": anp.sum(x), "positive": x > 0, "count": anp.sum(k, axis=0),
            "rows": x * 2.0, "scaled": anp.arange(1025, dtype="float32") * anp.max(x)}


def test_results_of_any_dtype_and_size_read_back_from_vulkan():
    vmfb = aotc.compile(odd_results, aotc.ShapeSpec((None, 3)), aotc.ShapeSpec((None, 2), "int32"),
                        target="vulkan")
    m = aotc_runtime.load_bytes(vmfb, require_aotc=True)
    assert m.driver == "vulkan"
    for n in (1, 7):  # an empty batch fails in IREE 3.13 on Vulkan (empty buffer binding)
        x = np.linspace(-1, 1, 3 * n, dtype=np.float32).reshape(n, 3)
        k = np.arange(2 * n, dtype=np.int32).reshape(n, 2)
        out = m.odd_results(x, k)
        assert out["sum"].shape == () and out["positive"].dtype == np.bool_
        np.testing.assert_allclose(out["sum"], x.sum(), atol=1e-6)
        np.testing.assert_array_equal(out["positive"], x > 0)
        np.testing.assert_array_equal(out["count"], k.sum(axis=0))
        np.testing.assert_array_equal(out["rows"], x * 2)
        np.testing.assert_allclose(out["scaled"], np.arange(1025) * x.max(), rtol=1e-6)
        assert all(a.flags.owndata or a.base is None or a.base.flags.owndata
                   for a in out.values())


def narrow(x, b, n):
    """Results and inputs of 1- and 2-byte elements whose buffers are not whole 32-bit words,
    and a while loop whose rank-0 bool condition is computed on the device."""
    count = aotc.lax.while_loop(lambda s: anp.any(s < n), lambda s: s + 1, anp.zeros((), "int32"))
    return {"any": anp.any(x > 0.5), "none": anp.any(x > 9.0), "positive": x > 0,
            "int8": anp.astype(x * 10, "int8"), "float16": anp.astype(x[:3], "float16"),
            "bfloat16": anp.astype(x, "bfloat16"), "int16": anp.astype(x[:3] * 100, "int16"),
            "doubled": b * anp.asarray(np.int8(2)), "count": count}


def test_narrow_elements_and_loop_conditions_on_vulkan():
    """IREE's baseline Vulkan target keeps these in 32-bit words and drops the last partial word
    under robust buffer access (aotc.tools.vulkan_devices): each result here came back wrong."""
    vmfb = aotc.compile(narrow, aotc.ShapeSpec((5,)), aotc.ShapeSpec((5,), "int8"),
                        aotc.ShapeSpec((), "int32"), target="vulkan")
    m = aotc_runtime.load_bytes(vmfb)
    x = np.array([0.25, -1.5, 0.75, 2.0, 1.25], np.float32)
    b = np.array([1, -2, 3, -4, 5], np.int8)
    out = m.narrow(x, b, np.int32(7))
    want = {"any": np.True_, "none": np.False_, "positive": x > 0,
            "int8": (x * 10).astype(np.int8), "float16": x[:3].astype(np.float16),
            "bfloat16": x.astype(ml_dtypes.bfloat16), "int16": (x[:3] * 100).astype(np.int16),
            "doubled": b * np.int8(2), "count": np.int32(7)}
    assert sorted(out) == sorted(want)
    for name, value in want.items():
        assert out[name].dtype == value.dtype and out[name].shape == np.shape(value), name
        np.testing.assert_array_equal(out[name], value, err_msg=name)
