"""Training end to end: models/mlp.py's train_step compiled for the digits and driven by
models/train_digits.py through aotc_runtime alone."""

import os

import numpy as np
import pytest
from test_models import MODELS, import_model

import aotc_runtime
from aotc.tools.cli import main as aotc_main

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
pytest.importorskip("sklearn")
pytest.importorskip("tqdm")


@pytest.fixture(scope="module")
def digits():
    return import_model("train_digits")


@pytest.fixture(scope="module")
def artifact(digits, tmp_path_factory) -> str:
    """models/mlp.py compiled for 64 inputs: one IREE compile for the whole file."""
    out = str(tmp_path_factory.mktemp("digits") / "digits.vmfb")
    assert digits.compile_artifact(out) == out
    return out


@pytest.fixture(scope="module")
def module(artifact):
    return aotc_runtime.load(artifact)


def jax_loss(params, x, y):
    h = x
    for i in range(1, len(params) // 2):
        h = jnp.maximum(h @ params[f"w{i}"] + params[f"b{i}"], 0.0)
    n = len(params) // 2
    logits = h @ params[f"w{n}"] + params[f"b{n}"]
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.sum(log_probs * jax.nn.one_hot(y, logits.shape[-1]), axis=-1))


def test_artifact_holds_predict_and_train_step_for_64_inputs(module, digits):
    assert set(module.functions) == {"predict", "classify", "train_step"}
    sig = str(module.signature("train_step"))
    assert "'w1': float32[64, 128]" in sig and "x: float32[64, 64], y: int32[64]" in sig
    assert str(module.signature("predict")).endswith("x: float32[?, 64]) -> float32[?, 10]")
    assert digits._layer_sizes(module) == digits.DIGITS_SIZES


def test_train_step_is_one_sgd_step_of_the_cross_entropy(module, digits):
    mlp = digits.load_mlp()
    params = mlp.init_params(3, digits.DIGITS_SIZES)
    rng = np.random.default_rng(0)
    x = rng.random((64, 64), dtype=np.float32)
    y = rng.integers(0, 10, 64).astype(np.int32)
    opt_state = {"learning_rate": np.float32(0.5), "step": np.int32(7)}
    new_params, new_state, loss = module.train_step(params, opt_state, x, y)
    want_loss, grads = jax.value_and_grad(jax_loss)(params, x, y)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    assert set(new_params) == set(params)
    for k, p in params.items():
        np.testing.assert_allclose(new_params[k], p - 0.5 * np.asarray(grads[k]), rtol=1e-4,
                                   atol=1e-6, err_msg=k)
        assert not np.allclose(new_params[k], p), k  # every layer moved
    assert new_state["step"] == 8 and new_state["step"].dtype == np.int32
    assert new_state["learning_rate"] == np.float32(0.5)


def test_short_training_run_reduces_the_loss(module, digits, capsys):
    data = digits.load_data(seed=1)
    assert data[0].shape == (1347, 64) and data[1].shape == (450, 64)
    assert data[0].dtype == np.float32 and 0 <= data[0].min() and data[0].max() <= 1
    result = digits.train(module, data, epochs=3, seed=1)
    assert "training: 100%" in capsys.readouterr().err  # the tqdm progress bar
    losses = result.epoch_losses
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2]
    assert losses[2] < 0.6 * losses[0]
    assert result.accuracy > 0.8  # chance is 0.1
    assert result.accuracy == digits.accuracy(module, result.params, data[1], data[3])


def test_full_run_reaches_95_percent(artifact, digits, capsys):
    assert digits.main(["--artifact", artifact, "--no-progress"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split("%")[0]) / 100
    assert accuracy >= 0.95, out
    assert "1347 training and 450 test images of 64 pixels" in out


def test_wrong_artifact_and_sizes_are_clear_errors(module, digits, tmp_path, capsys,
                                                   monkeypatch):
    data = digits.load_data()
    narrow = (data[0][:, :10], data[1][:, :10], data[2], data[3])
    with pytest.raises(ValueError, match="takes 64 inputs but the digits have 10"):
        digits.train(module, narrow, epochs=1, progress=False)
    monkeypatch.setenv("AOTC_MLP_SIZES", "64,ten")
    out = tmp_path / "bad.vmfb"
    assert aotc_main(["compile", os.path.join(MODELS, "mlp.py"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "mlp.py:" in err and "AOTC_MLP_SIZES='64,ten'" in err and not out.exists()
