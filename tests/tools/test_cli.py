"""The `aotc` command line: compile, inspect, run, targets, --version, --help, exit codes."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import SAMPLE_MODEL

PARAMS = {"w": np.arange(12, dtype=np.float32).reshape(4, 3) / 12, "b": np.ones(3, np.float32)}
X = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
EXPECTED = np.tanh(X.astype(np.float64) @ PARAMS["w"] + PARAMS["b"])


def test_compile_writes_one_artifact_with_every_export(cli_artifact, aotc):
    code, out, err = aotc("inspect", cli_artifact)
    assert code == 0, err
    assert "aotc artifact, format 1" in out and "target   cpu (IREE driver local-task)" in out
    for line in ["predict(params: {'b': float32[3], 'w': float32[4, 3]}, x: float32[?, 4])",
                 "in  params['w']  float32[4, 3]", "out result       float32[?, 3]",
                 "stats(x: float32[?, 4], k: int32[])", "combine(xs: [float32[n, m]"]:
        assert line in out, line
    code, out, _ = aotc("inspect", cli_artifact, "--json")
    info = json.loads(out)
    assert sorted(info["functions"]) == ["combine", "predict", "stats"]
    assert info["format"] == 1 and info["size"] == os.path.getsize(cli_artifact)


def test_run_with_npz_npy_and_literal_inputs(cli_artifact, aotc, tmp_path):
    np.savez(tmp_path / "params.npz", **PARAMS)
    np.save(tmp_path / "x.npy", X)
    code, out, err = aotc("run", cli_artifact, "predict", "--input",
                          f"params=@{tmp_path}/params.npz", "--input", f"x=@{tmp_path}/x.npy",
                          "--output", tmp_path / "out.npy")
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), EXPECTED, rtol=1e-5, atol=1e-6)
    code, _, err = aotc("run", cli_artifact, "stats", "-i", "[[1, 2, 3, 4]]", "-i", "k=6",
                          "-o", tmp_path / "stats.npz")
    assert code == 0, err
    saved = np.load(tmp_path / "stats.npz")
    assert sorted(saved.files) == ["count", "pair/hi", "pair/lo", "sum"]
    assert saved["count"] == 7 and saved["count"].dtype == np.int32
    code, out, err = aotc("run", cli_artifact, "predict", "-i", f"@{tmp_path}/params.npz",
                          "-i", X.tolist())
    assert code == 0, err
    assert out.startswith("result: float32[2, 3]\n")
    printed = np.array([[float(v) for v in row.strip(" []").split()]
                        for row in out.splitlines()[1:]])
    np.testing.assert_allclose(printed, EXPECTED, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("argv,words", [
    (["predict", "-i", "x=[[1, 2, 3, 4]]"], "missing argument(s) ['params']"),
    (["predict", "-i", "params=@/no/such/params.npz", "-i", "x=[[1,2,3,4]]"], "cannot read input"),
    (["predict", "-i", "x=not a literal"], "cannot parse 'not a literal'"),
    (["nope"], "has no function 'nope'"),
    (["stats", "-i", "[[1,2,3,4]]", "-i", "2.5"], "argument k expects int32[]"),
    (["stats", "-i", "[[1,2,3,4]]", "-i", "2", "-i", "3"], "takes 2 inputs"),
    (["stats", "-i", "[[1,2,3,4]]", "-i", "2", "-o", "out.txt"], "saved as .npy"),
])
def test_run_errors_are_one_line_and_exit_1(cli_artifact, aotc, argv, words):
    code, _, err = aotc("run", cli_artifact, *argv)
    assert code == 1
    assert err.startswith("aotc: error: ") and err.count("\n") == 1 and words in err, err


def test_run_on_a_bad_artifact_exits_1(aotc, tmp_path):
    (tmp_path / "bad.vmfb").write_bytes(b"PK\x03\x04 not really")
    code, _, err = aotc("run", tmp_path / "bad.vmfb", "f")
    assert code == 1 and "not an IREE .vmfb" in err and err.count("\n") == 1
    code, _, err = aotc("inspect", tmp_path / "missing.vmfb")
    assert code == 1 and "no such file" in err


def test_iree_run_module_runs_the_artifact(cli_artifact, tmp_path):
    tool = shutil.which("iree-run-module") or os.path.join(os.path.dirname(sys.executable),
                                                           "iree-run-module")
    inputs = [PARAMS["b"], PARAMS["w"], X]  # flat argument order: dict keys sorted, then x
    for i, array in enumerate(inputs):
        np.save(tmp_path / f"in{i}.npy", array)
    proc = subprocess.run(
        [tool, f"--module={cli_artifact}", "--function=predict", "--device=local-task",
         *[f"--input=@{tmp_path}/in{i}.npy" for i in range(3)], f"--output=@{tmp_path}/out.npy"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), EXPECTED, rtol=1e-5, atol=1e-6)


def test_targets_version_and_help(aotc):
    code, out, _ = aotc("targets")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines()[1:]}
    assert rows["cpu"] == ["local-task", "yes"] and rows["vmvx"] == ["local-task", "yes"]
    assert {"x86_64", "aarch64", "riscv64", "vulkan", "cuda"} <= set(rows)
    code, out, _ = aotc("--version")
    assert code == 0 and out.startswith("aotc 0.1.0 (IREE 3.13")
    for command in ([], ["compile"], ["run"], ["inspect"], ["targets"]):
        code, out, _ = aotc(*command, "--help")
        assert code == 0 and out.startswith("usage: aotc"), command


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["compile"], ["run", "a.vmfb"],
                                  ["compile", "m.py", "--target", "tpu"], ["--no-such-flag"],
                                  ["compile", "m.py", "--emit", "llvm"]])
def test_usage_errors_exit_2(aotc, argv):
    code, _, err = aotc(*argv)
    assert code == 2 and "usage: aotc" in err


def test_emit_stablehlo(aotc, tmp_path):
    code, out, err = aotc("compile", SAMPLE_MODEL, "--emit", "stablehlo", "-o", "-")
    assert code == 0, err
    assert out.startswith("module @sample_model")
    for name in ("predict", "stats", "combine"):
        assert f"func.func @{name}(" in out
    assert out.count("iree.reflection") == 3 and "aotc.signature" in out
    code, _, err = aotc("compile", SAMPLE_MODEL, "--emit", "stablehlo", "-o",
                        tmp_path / "s.mlir")
    assert code == 0 and (tmp_path / "s.mlir").read_text().startswith("module @sample_model")


def test_vmvx_target_compiles_and_runs(aotc, tmp_path):
    out_path = tmp_path / "sample_vmvx.vmfb"
    code, _, err = aotc("compile", SAMPLE_MODEL, "--target", "vmvx", "-o", out_path)
    assert code == 0, err
    import aotc_runtime

    m = aotc_runtime.load(str(out_path))
    assert m.target == "vmvx"
    np.testing.assert_allclose(m.predict(PARAMS, X), EXPECTED, rtol=1e-5, atol=1e-6)


def test_the_installed_console_script(cli_artifact):
    script = shutil.which("aotc") or os.path.join(os.path.dirname(sys.executable), "aotc")
    proc = subprocess.run([script, "inspect", cli_artifact], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "predict(" in proc.stdout


def test_output_piped_into_a_reader_that_quits_early_is_not_an_error(cli_artifact):
    script = shutil.which("aotc") or os.path.join(os.path.dirname(sys.executable), "aotc")
    # `true` exits at once, long before aotc has imported numpy and IREE: every write fails
    proc = subprocess.run(f"'{script}' inspect '{cli_artifact}' | true", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
