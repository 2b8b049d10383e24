"""External weights: aotc.Param exports, NAME.irpa beside NAME.vmfb, swapping weights without
recompiling, and clear errors at load for a missing or mismatched weights file."""

import os
import shutil
import sys

import numpy as np
import pytest

import aotc
import aotc_runtime
from aotc.tools.cli import main
from aotc.tools.export import ExportOutput
from aotc.tools.params import ParamError

SPEC = aotc.ShapeSpec((None, 4))


@pytest.fixture(scope="module")
def mlp_files(artifact, tmp_path_factory):
    """A private copy of the compiled MLP (mlp.vmfb and mlp.irpa): tests may add files."""
    folder = tmp_path_factory.mktemp("mlp-weights")
    vmfb = artifact("mlp")
    for path in (vmfb, os.path.splitext(vmfb)[0] + ".irpa"):
        shutil.copy(path, folder)
    return folder / "mlp.vmfb", folder / "mlp.irpa"


def reference_classify(mlp, params, x):
    logits = mlp.reference_predict(params, x)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return np.argmax(logits, -1), probs / probs.sum(-1, keepdims=True)


def test_mlp_artifact_stays_small_and_weights_go_beside_it(mlp_files, model):
    mlp = model("mlp")
    vmfb, irpa = mlp_files
    assert vmfb.stat().st_size < 100 * 1024
    assert irpa.stat().st_size > sum(a.nbytes for a in mlp.WEIGHTS.values())
    m = aotc_runtime.load(vmfb)
    assert m.weights_path == str(irpa)
    assert {k: (v.shape, v.dtype.name) for k, v in m.weights.items()} == {
        f"params/{k}": (a.shape, "float32") for k, a in mlp.WEIGHTS.items()}
    assert m.signature("classify").arg_names == ("x",)
    x = mlp.example_batch(6, seed=4)
    labels, probs = reference_classify(mlp, mlp.WEIGHTS, x)
    out = m.classify(x)
    np.testing.assert_array_equal(out["label"], labels)
    np.testing.assert_allclose(out["probs"], probs, rtol=1e-5, atol=1e-6)


def test_swapping_the_weights_file_changes_results_without_recompiling(mlp_files, model,
                                                                       tmp_path):
    mlp = model("mlp")
    vmfb, _ = mlp_files
    code = vmfb.read_bytes()
    x = mlp.example_batch(8, seed=5)
    before = aotc_runtime.load(vmfb).classify(x)["probs"]
    retrained = mlp.init_params(9)
    other = aotc_runtime.save_weights(tmp_path / "retrained.irpa", {"params": retrained})
    after = aotc_runtime.load(vmfb, weights=other).classify(x)["probs"]
    np.testing.assert_allclose(after, reference_classify(mlp, retrained, x)[1], rtol=1e-5,
                               atol=1e-6)
    assert np.abs(after - before).max() > 0.05
    deployed = tmp_path / "deployed"  # the same artifact beside a new mlp.irpa
    deployed.mkdir()
    shutil.copy(vmfb, deployed)
    shutil.copy(other, deployed / "mlp.irpa")
    # the artifact records its .irpa's SHA-256: other weights beside it are refused, and are
    # used when named on purpose
    with pytest.raises(aotc_runtime.AotcError, match="does not match the digest"):
        aotc_runtime.load(deployed / "mlp.vmfb")
    np.testing.assert_array_equal(
        aotc_runtime.load(deployed / "mlp.vmfb", weights=deployed / "mlp.irpa")
        .classify(x)["probs"], after)
    assert vmfb.read_bytes() == code


def test_weights_errors_are_clear_and_raised_at_load(mlp_files, model, tmp_path):
    mlp = model("mlp")
    vmfb, irpa = mlp_files
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(vmfb, alone)
    with pytest.raises(aotc_runtime.WeightsError,
                       match=r"needs its weights file, and .*alone/mlp.irpa does not exist"):
        aotc_runtime.load(alone / "mlp.vmfb")
    good = dict(mlp.WEIGHTS)
    cases = {
        "name": ({**{k: v for k, v in good.items() if k != "w1"}, "W1": good["w1"]},
                 r"no entry 'params/w1' \(float32\[784, 128\]\).*has: params/W1, params/b1"),
        "shape": ({**good, "w1": good["w1"].T.copy()},
                  r"entry 'params/w1' has shape float32\[128, 784\], expected float32\[784, 128"),
        "dtype": ({**good, "b2": good["b2"].astype(np.int32)},
                  r"entry 'params/b2' has dtype int32\[10\], expected float32\[10\] \(convert"),
    }
    for kind, (weights, message) in cases.items():
        path = aotc_runtime.save_weights(tmp_path / f"{kind}.irpa", {"params": weights})
        with pytest.raises(aotc_runtime.WeightsError, match=message):
            aotc_runtime.load(vmfb, weights=path)
    not_irpa = tmp_path / "weights.irpa"
    not_irpa.write_bytes(b"not a parameter archive" * 10)
    with pytest.raises(aotc_runtime.WeightsError, match="not an IREE parameter archive"):
        aotc_runtime.load(vmfb, weights=not_irpa)
    with pytest.raises(aotc_runtime.WeightsError, match="pass weights=PATH"):
        aotc_runtime.load_bytes(vmfb.read_bytes())
    m = aotc_runtime.load_bytes(vmfb.read_bytes(), weights=irpa)
    x = mlp.example_batch(1)
    label = m.classify(x)["label"]
    assert label.shape == (1,)
    np.testing.assert_array_equal(label, reference_classify(mlp, mlp.WEIGHTS, x)[0])
    assert issubclass(aotc_runtime.WeightsError, aotc_runtime.ArtifactError)


def test_iree_run_module_binds_the_weights_file(mlp_files, model, tmp_path, run):
    mlp = model("mlp")
    vmfb, irpa = mlp_files
    x = mlp.example_batch(3, seed=8)
    np.save(tmp_path / "x.npy", x)
    tool = os.path.join(os.path.dirname(sys.executable), "iree-run-module")  # the wheel's
    done = run([tool, f"--module={vmfb}", "--function=classify", f"--input=@{tmp_path}/x.npy",
                f"--parameters=model={irpa}", f"--output=@{tmp_path}/label.npy",
                f"--output=@{tmp_path}/probs.npy"])
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "probs.npy"),
                               reference_classify(mlp, mlp.WEIGHTS, x)[1], rtol=1e-5, atol=1e-6)


def test_cli_shows_and_takes_weights(mlp_files, model, tmp_path, capsys):
    mlp = model("mlp")
    vmfb, _ = mlp_files
    assert main(["inspect", str(vmfb)]) == 0
    assert "weights  " in capsys.readouterr().out
    np.save(tmp_path / "x.npy", mlp.example_batch(2))
    zeros = aotc_runtime.save_weights(tmp_path / "zeros.irpa", {"params": {
        k: np.zeros_like(v) for k, v in mlp.WEIGHTS.items()}})
    assert main(["run", str(vmfb), "classify", "-i", f"@{tmp_path}/x.npy", "--weights", zeros,
                 "-o", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["probs"], 0.1, rtol=1e-6)  # zero weights: uniform


W = {"w": np.arange(12, dtype=np.float32).reshape(4, 3), "b": [np.ones(3, np.float32)]}


def affine(params, x):
    return x @ params["w"] + params["b"][0]


def test_aotc_compile_with_params_writes_the_irpa_beside(tmp_path):
    path = tmp_path / "affine.vmfb"
    aotc.compile(affine, aotc.Param(W), SPEC, path=str(path))
    m = aotc_runtime.load(path)
    assert sorted(m.weights) == ["params/b/0", "params/w"]  # the argument's name, then paths
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(m.affine(x), x @ W["w"] + 1)
    named = tmp_path / "named.vmfb"
    aotc.compile(affine, aotc.Param(W, name="layer"), SPEC, path=str(named))
    assert sorted(aotc_runtime.inspect(named).weights) == ["layer/b/0", "layer/w"]
    with pytest.raises(aotc.AotcError, match="pass path="):
        aotc.compile(affine, aotc.Param(W), SPEC)


def test_param_errors(tmp_path):
    with pytest.raises(ParamError, match="holds a ShapeSpec at w; give numpy arrays"):
        aotc.compile(affine, aotc.Param({"w": aotc.ShapeSpec((4, 3)), "b": [W["b"][0]]}), SPEC,
                     path=str(tmp_path / "a.vmfb"))
    model = tmp_path / "clash.py"
    model.write_text(
        "import numpy as np\nimport aotc\n"
        "@aotc.export(w=aotc.Param(np.zeros(3, np.float32)), x=aotc.ShapeSpec((3,)))\n"
        "def f(w, x):\n    return w + x\n"
        "@aotc.export(w=aotc.Param(np.ones(3, np.float32)), x=aotc.ShapeSpec((3,)))\n"
        "def g(w, x):\n    return w * x\n")
    with pytest.raises(ParamError, match="both named 'w' but differ"):
        ExportOutput.from_file(str(model)).write(str(tmp_path / "clash.vmfb"))
    assert not (tmp_path / "clash.vmfb").exists()
    with pytest.raises(ValueError, match="non-empty string"):
        aotc.Param(W, name="/")


def test_exports_sharing_a_param_share_one_entry(tmp_path):
    model = tmp_path / "shared.py"
    model.write_text(
        "import numpy as np\nimport aotc\nimport aotc.numpy as anp\n"
        "W = aotc.Param(np.arange(3, dtype=np.float32), name='w')\n"
        "@aotc.export(w=W, x=aotc.ShapeSpec((3,)))\ndef add(w, x):\n    return w + x\n"
        "@aotc.export(v=W, x=aotc.ShapeSpec((3,)))\ndef total(v, x):\n"
        "    return anp.sum(v * x)\n")
    out = ExportOutput.from_file(str(model)).write(str(tmp_path / "shared.vmfb"))[0]
    m = aotc_runtime.load(out)
    assert list(m.weights) == ["w"]
    x = np.ones(3, np.float32)
    np.testing.assert_array_equal(m.add(x), [1, 2, 3])
    assert m.total(x) == 3.0
