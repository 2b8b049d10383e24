"""Edge targets: the aarch64 artifact runs under qemu-aarch64 with the aarch64 iree-run-module
and matches the x86 artifact; `aotc bundle` writes a deploy folder whose run.sh needs no
Python. (riscv64's embedded code is checked in test_target_presets.py.)"""

import json
import os

import iree._runtime_libs
import numpy as np
import pytest

import aotc_runtime
from aotc.tools.bundle import bundle
from aotc.tools.cli import main
from aotc.tools.targets import edge_runtime, host_arch

MODELS = os.path.join(os.path.dirname(__file__), "..", "..", "models")
RELATIVE = {"rtol": 1e-5, "atol": 1e-6}


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """models/mlp.py bundled for aarch64 (with the aarch64 iree-run-module when fetched)."""
    out = tmp_path_factory.mktemp("bundle") / "dist"
    files = bundle(os.path.join(MODELS, "mlp.py"), str(out), "aarch64",
                   runtime=edge_runtime())
    return out, files


def test_bundle_holds_the_artifact_weights_description_and_run_sh(dist, model):
    out, files = dist
    names = sorted(os.path.relpath(f, out) for f in files)
    expected = ["mlp.irpa", "mlp.json", "mlp.vmfb", "run.sh"]
    assert names == (sorted([*expected, "bin/iree-run-module"]) if edge_runtime() else expected)
    assert (out / "mlp.vmfb").stat().st_size < 100 * 1024
    assert os.access(out / "run.sh", os.X_OK)
    info = aotc_runtime.inspect(out / "mlp.vmfb")
    assert (info.target, info.arch) == ("aarch64", "aarch64")
    description = json.loads((out / "mlp.json").read_text())
    assert description["target"] == "aarch64" and description["device"] == "local-task"
    assert description["weights"]["file"] == "mlp.irpa"
    assert description["weights"]["entries"]["params/w1"] == {"shape": [784, 128],
                                                              "dtype": "float32"}
    classify = description["functions"]["classify"]
    assert classify["inputs"] == [{"name": "x", "shape": [None, 784], "dtype": "float32"}]
    assert [(o["name"], o["dtype"], o["file"]) for o in classify["outputs"]] == [
        ("label", "int32", "classify.label.npy"), ("probs", "float32", "classify.probs.npy")]
    predict_inputs = [i["name"] for i in description["functions"]["predict"]["inputs"]]
    assert predict_inputs == ["params/b1", "params/b2", "params/w1", "params/w2", "x"]
    script = (out / "run.sh").read_text()
    commands = [ln for ln in script.splitlines() if not ln.lstrip().startswith("#")]
    assert script.startswith("#!/bin/sh\n") and not any("python" in ln for ln in commands)
    assert '--parameters=model="$here/mlp.irpa"' in script


def test_run_sh_rejects_bad_calls(dist, run, tmp_path):
    out, _ = dist
    usage = run(["sh", out / "run.sh"])
    assert usage.returncode == 2 and "./run.sh FUNCTION INPUT.npy..." in usage.stderr
    assert "classify x:float32[?,784]" in usage.stderr
    wrong = run(["sh", out / "run.sh", "classify"])
    assert wrong.returncode == 2 and "classify takes 1 input file(s) (.npy), got 0" in wrong.stderr
    unknown = run(["sh", out / "run.sh", "train"])
    assert unknown.returncode == 2 and "functions: classify predict train_step" in unknown.stderr
    missing = run(["sh", out / "run.sh", "classify", tmp_path / "nope.npy"])
    assert missing.returncode == 2 and "no such input file" in missing.stderr


@pytest.mark.slow
def test_aarch64_under_qemu_matches_x86(artifact, model, qemu, run, tmp_path):
    mlp = model("mlp")
    x86 = aotc_runtime.load(artifact("mlp", "x86_64"))
    arm = artifact("mlp", "aarch64")
    x = mlp.example_batch(3, seed=11)
    params = mlp.init_params(2)
    inputs = [*(params[k] for k in sorted(params)), x]  # the flat ABI: dict keys sorted
    for i, array in enumerate(inputs):
        np.save(tmp_path / f"in{i}.npy", array)
    weights = os.path.splitext(arm)[0] + ".irpa"  # classify's; the module binds them at load
    done = run([*qemu, f"--module={arm}", "--device=local-task", "--function=predict",
                f"--parameters=model={weights}",
                *(f"--input=@{tmp_path}/in{i}.npy" for i in range(len(inputs))),
                f"--output=@{tmp_path}/logits.npy"])
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), x86.predict(params, x),
                               **RELATIVE)


@pytest.mark.slow
def test_bundle_run_sh_under_qemu_matches_x86(dist, artifact, model, qemu, run, tmp_path):
    out, _ = dist
    mlp = model("mlp")
    x = mlp.example_batch(4, seed=12)
    np.save(tmp_path / "x.npy", x)
    runner, sysroot_flag, sysroot, tool = qemu
    env = {**os.environ, "IREE_RUNNER": f"{runner} {sysroot_flag} {sysroot}",
           "OUT_DIR": str(tmp_path / "results")}
    if not (out / "bin" / "iree-run-module").exists():
        env["IREE_RUN_MODULE"] = tool
    done = run(["sh", out / "run.sh", "classify", tmp_path / "x.npy"], env=env)
    assert done.returncode == 0, done.stderr
    want = aotc_runtime.load(artifact("mlp", "x86_64")).classify(x)
    np.testing.assert_array_equal(np.load(tmp_path / "results" / "classify.label.npy"),
                                  want["label"])
    np.testing.assert_allclose(np.load(tmp_path / "results" / "classify.probs.npy"),
                               want["probs"], **RELATIVE)


def test_cli_bundle_and_its_errors(tmp_path, capsys):
    model = tmp_path / "tiny.py"
    model.write_text("import aotc\n@aotc.export(x=aotc.ShapeSpec((2, 2)))\ndef twice(x):\n"
                     "    return {'a': x * 2, 'b': (x, x + 1)}\n")
    out = tmp_path / "tiny-dist"
    assert main(["bundle", str(model), "--target", "riscv64", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["run.sh", "tiny.json", "tiny.vmfb"]  # no weights
    description = json.loads((out / "tiny.json").read_text())
    assert description["weights"] is None and description["arch"] == "riscv64"
    assert [o["file"] for o in description["functions"]["twice"]["outputs"]] == [
        "twice.a.npy", "twice.b.0.npy", "twice.b.1.npy"]
    assert main(["bundle", str(model), "-o", str(out), "--runtime", str(model)]) == 1
    assert "not an ELF program, but target 'aarch64' runs on aarch64" in capsys.readouterr().err
    host_tool = os.path.join(os.path.dirname(iree._runtime_libs.__file__), "iree-run-module")
    assert main(["bundle", str(model), "-o", str(out), "--runtime", host_tool]) == 1
    assert f"a program for {host_arch()}, but target 'aarch64'" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["bundle", str(model), "-o", str(tmp_path / "file")]) == 1
    assert "exists and is not a folder" in capsys.readouterr().err
