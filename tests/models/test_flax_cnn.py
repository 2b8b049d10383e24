"""models/flax_cnn.py end to end: a Flax CNN trained in JAX with Optax, compiled by `aotc
compile` (weights in the .irpa), bundled for aarch64 by `aotc bundle` and run under qemu; the
predicted labels equal JAX's on the test split."""

import importlib.util
import json
import os
import subprocess

import numpy as np
import pytest

import aotc_runtime
from aotc.tools.cli import main
from aotc.tools.targets import edge_runtime, qemu_command

pytest.importorskip("flax")
pytest.importorskip("optax")
pytest.importorskip("sklearn")

MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "models", "flax_cnn.py")
STEPS = "200"  # enough for > 90% test accuracy, few enough for a short test


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """models/flax_cnn.py imported once (trained once); its weights cached in an .npz that the
    `aotc compile` and `aotc bundle` runs below load instead of training again."""
    cache = tmp_path_factory.mktemp("flax_cnn") / "params.npz"
    saved = {k: os.environ.get(k) for k in ("FLAX_CNN_PARAMS", "FLAX_CNN_STEPS")}
    os.environ.update(FLAX_CNN_PARAMS=str(cache), FLAX_CNN_STEPS=STEPS)
    try:
        spec = importlib.util.spec_from_file_location("flax_cnn_under_test", MODEL)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def test_split(trained):
    _, x_test, _, y_test = trained.load_data()
    logits = np.asarray(trained.MODEL.apply(trained.PARAMS, x_test))
    return x_test, y_test, logits


def test_compiled_flax_cnn_predicts_jaxs_labels(trained, test_split, tmp_path, capsys):
    x_test, y_test, want = test_split
    assert (want.argmax(1) == y_test).mean() > 0.9  # the model learned the digits
    out = tmp_path / "flax_cnn.vmfb"
    assert main(["compile", MODEL, "-o", str(out)]) == 0, capsys.readouterr().err
    assert (tmp_path / "flax_cnn.irpa").exists()
    m = aotc_runtime.load(out)
    assert m.signature("classify").arg_names == ("images",)
    assert sorted(m.weights) == sorted(f"params/{k}" for k, _ in trained._flat(trained.PARAMS))
    got = m.classify(x_test)
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_bundled_for_aarch64_runs_under_qemu_with_jaxs_labels(trained, test_split, tmp_path,
                                                              capsys):
    x_test, _, want = test_split
    dist = tmp_path / "dist"
    argv = ["bundle", MODEL, "--target", "aarch64", "-o", str(dist)]
    if edge_runtime():
        argv += ["--runtime", edge_runtime()]
    assert main(argv) == 0, capsys.readouterr().err
    assert {"flax_cnn.irpa", "flax_cnn.json", "flax_cnn.vmfb", "run.sh"} <= {
        p.name for p in dist.iterdir()}
    outputs = json.loads((dist / "flax_cnn.json").read_text())["functions"]["classify"]["outputs"]
    qemu = qemu_command()
    if qemu is None:
        pytest.skip("needs qemu-aarch64 with /usr/aarch64-linux-gnu (`make system-deps`) and "
                    "the aarch64 iree-run-module (`make edge-runtime`)")
    runner, sysroot_flag, sysroot, tool = qemu
    np.save(tmp_path / "x.npy", x_test)
    env = {**os.environ, "IREE_RUNNER": f"{runner} {sysroot_flag} {sysroot}",
           "OUT_DIR": str(tmp_path / "results")}
    if not (dist / "bin" / "iree-run-module").exists():
        env["IREE_RUN_MODULE"] = tool
    done = subprocess.run(["sh", str(dist / "run.sh"), "classify", str(tmp_path / "x.npy")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "results" / outputs[0]["file"])
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
