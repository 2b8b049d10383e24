"""`aotc compile` on bad model files and unwritable outputs: one line naming file:line, exit 1,
and never a partial artifact."""

import os
import textwrap

import pytest

from aotc.tools.export import ExportOutput, ModelError, OutputError, load_model
from aotc_runtime import files as files_mod

GOOD = """
import aotc
import aotc.numpy as anp

@aotc.export(x=aotc.ShapeSpec((None, 3)))
def double(x):
    return x * 2.0
"""


def model(tmp_path, source: str, name="model.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


BAD_MODELS = {
    "syntax_error": ("import aotc\n\ndef f(:\n    pass\n", 3, "syntax error"),
    "raises_at_import": ("import aotc\nx = 1\nraise RuntimeError('no weights file')\n", 3,
                         "RuntimeError while importing: no weights file"),
    "raises_in_helper": ("import aotc\n\ndef load():\n    return 1 / 0\n\nW = load()\n", 4,
                         "ZeroDivisionError while importing"),
    "exits_at_import": ("import sys\nsys.exit(3)\n", 2, "SystemExit while importing"),
    "exports_nothing": ("import aotc\n\ndef f(x):\n    return x\n", 1, "exports nothing"),
    "missing_spec": ("import aotc\n\n@aotc.export(aotc.ShapeSpec((3,)))\ndef f(x, y):\n"
                     "    return x + y\n", 3, "no spec for argument 'y'"),
    "too_many_specs": ("import aotc\n\n@aotc.export(aotc.ShapeSpec((3,)), z=1.0)\ndef f(x):\n"
                       "    return x\n", 3, "specs do not fit f()"),
    "reserved_name": ("import aotc\n\n@aotc.export(aotc.ShapeSpec((3,)))\ndef close(x):\n"
                      "    return x\n", 3, "cannot export 'close'"),
    "bare_decorator": ("import aotc\n\n@aotc.export\ndef f(x):\n    return x\n", 3,
                       "write @aotc.export(...)"),
    "duplicate_name": ("import aotc\nS = aotc.ShapeSpec((3,))\n\n@aotc.export(S)\ndef f(x):\n"
                       "    return x\n\n@aotc.export(S, name='f')\ndef g(x):\n    return x\n",
                       8, "'f' is already exported"),
    "shape_mismatch_while_tracing": (
        "import aotc\nimport aotc.numpy as anp\n\n"
        "@aotc.export(aotc.ShapeSpec((3,)), aotc.ShapeSpec((4,)))\ndef f(x, y):\n"
        "    return anp.add(x, y)\n", 6, "(3,)"),
    "python_error_while_tracing": (
        "import aotc\n\n@aotc.export(aotc.ShapeSpec((3,)))\ndef f(x):\n"
        "    return x.no_such_method()\n", 5, "AttributeError while tracing f()"),
    "custom_pytree_output": (
        "import aotc\n\nclass Box:\n    pass\n\naotc.tree.register(Box, lambda b: ((b.v,), None),"
        " lambda a, c: Box())\n\n@aotc.export(aotc.ShapeSpec((3,)))\ndef f(x):\n    b = Box()\n"
        "    b.v = x\n    return b\n", 8, "cannot describe"),
}


@pytest.mark.parametrize("case", sorted(BAD_MODELS))
def test_bad_model_files_give_one_line_with_file_and_line(aotc, tmp_path, case):
    source, line, words = BAD_MODELS[case]
    path = model(tmp_path, source, name=f"{case}.py")
    out_path = tmp_path / "out.vmfb"
    code, _, err = aotc("compile", path, "-o", out_path)
    assert code == 1
    assert err.startswith("aotc: error: ") and err.count("\n") == 1, err
    assert f"{case}.py:{line}" in err and words in err, err
    assert not out_path.exists()
    assert sorted(os.listdir(tmp_path)) == [f"{case}.py"]


def test_missing_model_file(aotc, tmp_path):
    code, _, err = aotc("compile", tmp_path / "model.py")
    assert code == 1 and err == f"aotc: error: {tmp_path / 'model.py'}: no such file\n"


@pytest.mark.parametrize("output", ["missing_folder/out.vmfb", "folder_is_a_file/out.vmfb", "."])
def test_unwritable_outputs(aotc, tmp_path, output):
    path = model(tmp_path, GOOD)
    (tmp_path / "folder_is_a_file").write_text("not a folder")
    before = sorted(os.listdir(tmp_path))
    code, _, err = aotc("compile", path, "-o", tmp_path / output)
    assert code == 1 and err.count("\n") == 1
    assert "does not exist" in err or "is a directory" in err
    assert sorted(os.listdir(tmp_path)) == before


def test_a_failed_write_leaves_no_file_and_keeps_the_old_artifact(tmp_path, monkeypatch):
    path = model(tmp_path, GOOD)
    out_path = tmp_path / "model.mlir"
    out_path.write_text("the previous artifact")

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_mod.os, "fsync", failing_fsync)
    message = r"model.mlir: cannot write \(No space left on device\); nothing was written"
    with pytest.raises(OutputError, match=message):
        ExportOutput.from_file(path).write(str(out_path), emit="stablehlo")
    assert out_path.read_text() == "the previous artifact"
    assert sorted(os.listdir(tmp_path)) == ["model.mlir", "model.py"]


def test_a_failed_compile_keeps_the_old_artifact(aotc, tmp_path):
    out_path = tmp_path / "model.vmfb"
    out_path.write_bytes(b"old")
    bad = model(tmp_path, GOOD.replace("x * 2.0", "anp.ones(4) + x"), name="bad.py")
    code, _, err = aotc("compile", bad, "-o", out_path)
    assert code == 1 and "bad.py:7" in err, err
    assert out_path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["bad.py", "model.vmfb"]


def test_exports_keep_definition_order_and_static_defaults(tmp_path):
    path = model(tmp_path, """
        import numpy as np
        import aotc

        @aotc.export(np.zeros((2, 3), np.float64), scale=3)
        def second(x, scale, power=2):
            return x ** power * scale

        @aotc.export(x=aotc.ShapeSpec((None,), "int8"))
        def first(x):
            return x
    """)
    exports = load_model(path)
    assert [e.name for e in exports] == ["second", "first"]
    assert exports[0].arg_names == ("x", "scale") and exports[0].static == {"power": 2}
    with pytest.raises(ModelError, match="no such file"):
        load_model(str(tmp_path / "nope.py"))


def test_signature_metadata_from_example_arrays(tmp_path):
    import json
    import re

    path = model(tmp_path, """
        import numpy as np
        import aotc

        @aotc.export(np.zeros((2, 3), np.float64), scale=3)
        def f(x, scale, power=2):
            return {"y": x ** power * scale, "pair": (x, scale)}
    """)
    text = ExportOutput.from_file(path).write(str(tmp_path / "m.mlir"), emit="stablehlo")[0]
    mlir = open(text).read()
    match = re.search(r'aotc.signature = "((?:[^"\\]|\\.)*)"', mlir)
    sig = json.loads(match[1].replace("\\22", '"'))
    assert sig["args"] == [
        {"name": "x", "tree": {"kind": "array", "shape": [2, 3], "dtype": "float32"}},
        {"name": "scale", "tree": {"kind": "array", "shape": [], "dtype": "int32"}}]
    assert sig["results"]["kind"] == "dict" and sig["results"]["keys"] == ["pair", "y"]
    assert "func.func @f(%arg0: tensor<2x3xf32>, %arg1: tensor<i32>)" in mlir


def test_exports_that_use_transforms_keep_their_helpers_private(tmp_path):
    import numpy as np

    import aotc_runtime

    path = model(tmp_path, """
        import aotc
        import aotc.numpy as anp

        @aotc.export(w=aotc.ShapeSpec((3,)), x=aotc.ShapeSpec((4, 3)))
        def loss_grad(w, x):
            return aotc.grad(lambda w: anp.sum((x @ w) ** 2))(w)

        @aotc.export(x=aotc.ShapeSpec((2, 3)))
        def per_row(x):
            return aotc.vmap(lambda r: anp.sum(r * r))(x)
    """)
    m = aotc_runtime.load(ExportOutput.from_file(path).write(str(tmp_path / "t.vmfb"))[0])
    assert m.functions == ["loss_grad", "per_row"]
    w, x = np.array([1, -1, 2], np.float32), np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    np.testing.assert_allclose(m.loss_grad(w, x), 2 * x.T @ (x @ w), rtol=1e-5)
    np.testing.assert_allclose(m.per_row(x[:2]), (x[:2] ** 2).sum(axis=1), rtol=1e-6)
