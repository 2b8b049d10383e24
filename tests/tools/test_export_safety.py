"""The export pipeline's safety: the .vmfb + .irpa pair written together or not at all, the
weights digest recorded, run.sh free of injection, and the CLI's one-line errors (no
tracebacks, no hangs, no silent success)."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from aotc.tools import export as export_mod
from aotc.tools.bundle import read_metadata, run_script
from aotc.tools.export import ExportOutput, ModelError, OutputError

PARAM_MODEL = """
import numpy as np
import aotc
import aotc.numpy as anp

W = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}

@aotc.export(params=aotc.Param(W), x=aotc.ShapeSpec((None, 2)))
def predict(params, x):
    return x @ params["w"]
"""


def write_model(folder, source: str, name: str = "m.py") -> str:
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(source))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """PARAM_MODEL compiled once: (ExportOutput, Artifact)."""
    folder = tmp_path_factory.mktemp("param_model")
    exported = ExportOutput.from_file(write_model(folder, PARAM_MODEL, "pm.py"))
    return exported, exported.compile("cpu")


@pytest.fixture(scope="module")
def param_artifact(built, tmp_path_factory):
    """(pm.vmfb, pm.irpa) written by Artifact.write."""
    path = str(tmp_path_factory.mktemp("written") / "pm.vmfb")
    vmfb, irpa = built[1].write(path)
    return vmfb, irpa


def cli(*argv, timeout=120):
    """`python -m aotc.tools.cli ARGS` in a child process: (status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "aotc.tools.cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("aotc: error: "), err
    return lines[0]


# ---- (6) the .vmfb + .irpa pair ------------------------------------------------------------------


def test_the_artifact_records_the_sha256_of_its_weights(built, param_artifact):
    vmfb, irpa = param_artifact
    with open(irpa, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(vmfb, "rb") as f:
        metadata = read_metadata(f.read())
    assert metadata["predict"]["weights_digest"] == digest
    assert built[1].irpa is not None and hashlib.sha256(built[1].irpa).hexdigest() == digest


def old_pair(folder):
    vmfb, irpa = folder / "pm.vmfb", folder / "pm.irpa"
    vmfb.write_bytes(b"old artifact")
    irpa.write_bytes(b"old weights")
    return vmfb, irpa


def test_a_full_disk_keeps_both_old_files(built, tmp_path, monkeypatch):
    vmfb, irpa = old_pair(tmp_path)
    real_fill = export_mod._fill

    def fill(tmp, data):  # the .irpa fits, the .vmfb does not
        if ".pm.vmfb." in tmp:
            raise OSError(28, "No space left on device")
        real_fill(tmp, data)

    monkeypatch.setattr(export_mod, "_fill", fill)
    with pytest.raises(OutputError, match=r"pm.vmfb: cannot write \(No space left on device\); "
                       r"nothing was written \(.*pm.irpa and .*pm.vmfb are unchanged\)"):
        built[1].write(str(vmfb))
    assert irpa.read_bytes() == b"old weights" and vmfb.read_bytes() == b"old artifact"
    assert sorted(os.listdir(tmp_path)) == ["pm.irpa", "pm.vmfb"]


def test_a_failed_second_rename_puts_the_old_weights_back(built, tmp_path, monkeypatch):
    vmfb, irpa = old_pair(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("pm.vmfb"):
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(export_mod.os, "replace", replace)
    with pytest.raises(OutputError, match=r"pm.vmfb: cannot write .* are unchanged"):
        built[1].write(str(vmfb))
    assert irpa.read_bytes() == b"old weights" and vmfb.read_bytes() == b"old artifact"
    assert sorted(os.listdir(tmp_path)) == ["pm.irpa", "pm.vmfb"]


def test_a_written_pair_loads_and_runs(param_artifact):
    import aotc_runtime

    m = aotc_runtime.load(param_artifact[0])
    x = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_allclose(m.predict(x), x @ np.arange(6, dtype=np.float32).reshape(2, 3))


# ---- (7) names that reach run.sh -----------------------------------------------------------------

EVIL = "w\ntouch PWNED #"


def test_run_sh_quotes_every_name(tmp_path):
    leaf = {"name": f"params/{EVIL}", "shape": [2], "dtype": "float32"}
    out = {"name": "result", "shape": [2], "dtype": "float32", "file": "f.result.npy"}
    description = {"module": "m", "target": "cpu", "device": "local-task",
                   "weights": {"file": "m $(touch PWNED).irpa", "scope": "model"},
                   "functions": {"f": {"inputs": [leaf], "outputs": [out]}}}
    with pytest.raises(OutputError, match=r"cannot write the name 'm \$\(touch PWNED\).irpa'"):
        run_script(description)
    description["weights"]["file"] = "m.irpa"
    script = run_script(description)
    assert not any(line.lstrip().startswith("touch") for line in script.splitlines()), script
    (tmp_path / "run.sh").write_text(script)
    for argv in (["--help"], ["f", "x.npy"], ["nope"]):
        subprocess.run(["sh", "run.sh", *argv], cwd=tmp_path, capture_output=True, timeout=30,
                       env={**os.environ, "IREE_RUN_MODULE": "true"})
    assert not (tmp_path / "PWNED").exists()


def test_export_rejects_a_dict_key_with_a_newline(tmp_path):
    path = write_model(tmp_path, f"""
        import aotc
        @aotc.export(p={{{EVIL!r}: aotc.ShapeSpec((2,))}})
        def f(p):
            return p[{EVIL!r}]
    """)
    with pytest.raises(ModelError, match=r"dict key 'w\\ntouch PWNED #'.*control character"):
        ExportOutput.from_file(path)


# ---- (10) one-line CLI errors ----------------------------------------------------------------


def test_param_key_with_a_quote_is_one_line(aotc, tmp_path):
    path = write_model(tmp_path, PARAM_MODEL.replace('{"w":', '{\'w"\':').replace(
        'params["w"]', "params['w\"']"))
    code, _, err = aotc("compile", path, "-o", tmp_path / "q.vmfb")
    assert code == 1
    line = one_error_line(err)
    assert "weight name 'params/w\"'" in line and "quotes" in line
    assert sorted(os.listdir(tmp_path)) == ["m.py"]


def test_stdout_output_needs_emit_stablehlo(aotc, tmp_path):
    path = write_model(tmp_path, PARAM_MODEL)
    code, out, err = aotc("compile", path, "-o", "-")
    assert code == 1 and out == ""
    assert "--emit stablehlo" in one_error_line(err)
    code, out, err = aotc("compile", path, "-o", "-", "--emit", "stablehlo")
    assert code == 0 and "aotc.signature" in out and "func.func @predict" in out


@pytest.mark.parametrize("content,words", [
    (b"", "the file is empty"),
    (b"PK\x03\x04 this is not a zip archive at all", "not a valid .npy or .npz file"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "not a valid"),
])
def test_bad_input_files_are_one_line(cli_artifact, aotc, tmp_path, content, words):
    bad = tmp_path / ("x.npz" if content.startswith(b"PK") else "x.npy")
    bad.write_bytes(content)
    code, _, err = aotc("run", cli_artifact, "stats", "-i", f"x=@{bad}", "-i", "k=1")
    assert code == 1
    assert words in one_error_line(err)


def test_truncated_weights_are_one_line(param_artifact, aotc, tmp_path):
    with open(param_artifact[1], "rb") as f:
        data = f.read()
    short = tmp_path / "short.irpa"
    short.write_bytes(data[:100])  # the index is cut (the file's tail is only padding)
    code, _, err = aotc("run", param_artifact[0], "predict", "-i", "x=[[1.0, 2.0]]",
                        "--weights", short)
    assert code == 1, err
    assert "short.irpa" in one_error_line(err)


def test_fifos_do_not_hang(cli_artifact, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = cli("run", cli_artifact, "stats", "-i", f"x=@{fifo}", "-i", "k=1", timeout=60)
    assert code == 1 and "FIFO" in one_error_line(err)
    code, _, err = cli("inspect", fifo, timeout=60)
    assert code == 1 and "FIFO" in one_error_line(err)


def test_os_exit_in_a_model_file_is_an_error(tmp_path):
    path = write_model(tmp_path, "import os\nimport aotc\nos._exit(0)\n")
    code, _, err = cli("compile", path, "-o", tmp_path / "m.vmfb")
    assert code == 1
    line = one_error_line(err)
    assert "m.py:3: os._exit(0) called" in line and "must not end the process" in line
    assert not (tmp_path / "m.vmfb").exists()


def test_inspect_json_uses_the_signature_format(cli_artifact, aotc):
    code, out, _ = aotc("inspect", cli_artifact, "--json")
    assert code == 0
    sig = json.loads(out)["functions"]["predict"]
    assert sig["args"][1] == {"name": "x", "tree": {"kind": "array", "shape": [None, 4],
                                                    "dtype": "float32"}}
