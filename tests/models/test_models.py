"""models/mlp.py and models/cnn.py compile with `aotc compile` and match NumPy references."""

import importlib.util
import os

import numpy as np
import pytest

import aotc_runtime
from aotc.tools.cli import main

MODELS = os.path.join(os.path.dirname(__file__), "..", "..", "models")


def import_model(name: str):
    spec = importlib.util.spec_from_file_location(f"model_{name}", os.path.join(MODELS,
                                                                               f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Compile a model with the CLI once per module: name -> (python module, loaded artifact)."""
    cache = {}

    def get(name):
        if name not in cache:
            out = str(tmp_path_factory.mktemp(name) / f"{name}.vmfb")
            assert main(["compile", os.path.join(MODELS, f"{name}.py"), "-o", out]) == 0
            cache[name] = (import_model(name), aotc_runtime.load(out), out)
        return cache[name]

    return get


@pytest.mark.parametrize("n", [1, 4, 33])
def test_mlp_predict_matches_numpy(compiled, n):
    mlp, m, _ = compiled("mlp")
    params, x = mlp.init_params(seed=5), mlp.example_batch(n, seed=n)
    np.testing.assert_allclose(m.predict(params, x), mlp.reference_predict(params, x),
                               rtol=1e-4, atol=1e-5)


def test_mlp_classify_uses_the_baked_weights(compiled):
    mlp, m, _ = compiled("mlp")
    assert m.signature("classify").arg_names == ("x",)
    x = mlp.example_batch(7, seed=3)
    logits = mlp.reference_predict(mlp.init_params(0), x)
    out = m.classify(x)
    np.testing.assert_array_equal(out["label"], np.argmax(logits, axis=-1))
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(out["probs"], probs / probs.sum(axis=-1, keepdims=True),
                               rtol=1e-4, atol=1e-6)
    assert out["label"].dtype == np.int32 and out["probs"].shape == (7, 10)


def test_mlp_demo_script(compiled, capsys):
    mlp, _, path = compiled("mlp")
    assert mlp.main([path]) == 0
    out = capsys.readouterr().out
    assert "classify(x) labels = [" in out and "max |IREE - NumPy|" in out


@pytest.mark.parametrize("n", [1, 3])
def test_cnn_predict_matches_numpy(compiled, n):
    cnn, m, _ = compiled("cnn")
    params, images = cnn.init_params(seed=1), cnn.example_images(n, seed=n)
    assert str(m.signature("predict")).endswith("images: float32[?, 28, 28, 1]) -> float32[?, 10]")
    np.testing.assert_allclose(m.predict(params, images), cnn.reference_predict(params, images),
                               rtol=1e-4, atol=1e-5)
