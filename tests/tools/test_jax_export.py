"""Functions written with JAX (jax.numpy, Flax) exported by aotc: lowered by JAX, compiled by
IREE, run by aotc_runtime, checked against JAX's own outputs."""

import builtins
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import aotc
import aotc_runtime
from aotc.tools.export import ExportOutput, ModelError
from aotc.tools.jax_bridge import JaxExportError

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
nn = pytest.importorskip("flax.linen")

TOL = {"rtol": 1e-5, "atol": 1e-5}


def layer(params, x):
    hidden = jnp.tanh(x @ params["w"] + params["b"])
    pair = (jnp.max(x, axis=1), hidden * 2)
    return {"hidden": hidden, "total": jnp.sum(hidden, axis=1), "pair": pair}


def layer_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(4, 3)).astype(np.float32),
            "b": rng.normal(size=(3,)).astype(np.float32)}


class Small(nn.Module):
    """Conv with strides and SAME padding, then Dense: the layers of models/flax_cnn.py."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3), strides=(2, 2), padding="SAME")(x))
        return nn.Dense(5)(x.reshape((x.shape[0], -1)))


@pytest.fixture(scope="module")
def small():
    module = Small()
    params = module.init(jax.random.PRNGKey(0), jnp.ones((1, 6, 6, 2)))
    return module, jax.tree_util.tree_map(np.asarray, params)


def _close(got, want):
    got_leaves = jax.tree_util.tree_leaves(got)
    want_leaves = jax.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        np.testing.assert_allclose(g, np.asarray(w), **TOL)


@pytest.mark.parametrize("frontend", ["jax", "auto"])
def test_jnp_function_with_pytrees_and_a_dynamic_batch(frontend):
    params = layer_params()
    vmfb = aotc.compile(layer, params, aotc.ShapeSpec(("batch", 4)), frontend=frontend)
    m = aotc_runtime.load_bytes(vmfb)
    sig = m.signature("layer")
    assert sig.arg_names == ("params", "x")
    for batch in (1, 7):
        x = np.random.default_rng(batch).normal(size=(batch, 4)).astype(np.float32)
        got = m.layer(params, x)
        assert set(got) == {"hidden", "total", "pair"} and isinstance(got["pair"], tuple)
        _close(got, layer(params, x))


def test_flax_module_with_param_weights(small, tmp_path):
    module, params = small

    def classify(params, x):
        return module.apply(params, x)

    exported = ExportOutput.from_function(classify, aotc.Param(params),
                                          aotc.ShapeSpec((None, 6, 6, 2)), frontend="jax")
    assert sorted(exported.weights) == ["params/params/Conv_0/bias", "params/params/Conv_0/kernel",
                                        "params/params/Dense_0/bias",
                                        "params/params/Dense_0/kernel"]
    files = exported.write(str(tmp_path / "small.vmfb"))
    assert [os.path.basename(f) for f in files] == ["small.vmfb", "small.irpa"]
    m = aotc_runtime.load(files[0])
    assert m.signature("classify").arg_names == ("x",)
    x = np.random.default_rng(3).normal(size=(3, 6, 6, 2)).astype(np.float32)
    _close(m.classify(x), module.apply(params, x))


def test_flax_apply_is_found_to_be_jax_without_being_told(small):
    module, params = small
    apply = lambda params, x: module.apply(params, x)
    m = aotc_runtime.load_bytes(aotc.compile(apply, params, aotc.ShapeSpec((2, 6, 6, 2))))
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 2)).astype(np.float32)
    _close(m.main(params, x), module.apply(params, x))


def test_optax_train_step_with_its_optimizer_state():
    optax = pytest.importorskip("optax")
    optimizer = optax.adam(1e-2)

    def loss(params, x, y):
        return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)

    def train_step(params, state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    params = {"w": layer_params()["w"][:3, :2], "b": np.zeros(2, np.float32)}
    state = jax.tree_util.tree_map(np.asarray, optimizer.init(params))
    m = aotc_runtime.load_bytes(aotc.compile(train_step, params, state, aotc.ShapeSpec(("n", 3)),
                                             aotc.ShapeSpec(("n", 2)), frontend="jax"))
    rng = np.random.default_rng(7)
    got, want = (params, state), (params, state)
    for n in (8, 5):  # two steps, the state fed back
        x, y = (rng.normal(size=(n, k)).astype(np.float32) for k in (3, 2))
        *got, got_loss = m.train_step(*got, x, y)
        *want, want_loss = train_step(*want, x, y)
        _close((got, got_loss), (want, want_loss))


def test_model_file_with_jax_and_aotc_exports(tmp_path):
    model = tmp_path / "mixed.py"
    model.write_text(
        "import aotc, aotc.numpy as anp, jax, jax.numpy as jnp, numpy as np\n"
        "W = np.arange(6, dtype=np.float32).reshape(3, 2) / 6\n"
        "@aotc.export(x=aotc.ShapeSpec((None, 3)), frontend='jax')\n"
        "def first(x):\n    return jax.nn.relu(x @ W - 0.5)\n"
        "@aotc.export(x=aotc.ShapeSpec((None, 3)), frontend='jax')\n"
        "def second(x):\n    return jax.nn.relu(x - 0.25)\n"
        "@aotc.export(x=aotc.ShapeSpec((None, 3)))\n"
        "def third(x):\n    return anp.tanh(x)\n")
    path = ExportOutput.from_file(str(model)).write(str(tmp_path / "mixed.vmfb"))[0]
    m = aotc_runtime.load(path)
    x = np.random.default_rng(5).normal(size=(4, 3)).astype(np.float32)
    w = np.arange(6, dtype=np.float32).reshape(3, 2) / 6
    np.testing.assert_allclose(m.first(x), jax.nn.relu(x @ w - 0.5), **TOL)
    np.testing.assert_allclose(m.second(x), jax.nn.relu(x - 0.25), **TOL)
    np.testing.assert_allclose(m.third(x), np.tanh(x), **TOL)


def test_jax_missing_names_the_install_command(monkeypatch):
    real_import = builtins.__import__

    def no_jax(name, *args, **kwargs):
        if name == "jax" or name.startswith("jax."):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jax)
    with pytest.raises(JaxExportError, match=r"pip install aotc\[jax\]"):
        aotc.compile(layer, layer_params(), aotc.ShapeSpec((2, 4)), frontend="jax")


def test_aotc_works_without_jax_installed():
    script = ("import sys; sys.modules['jax'] = None\n"
              "import numpy as np, aotc, aotc.numpy as anp, aotc_runtime\n"
              "m = aotc_runtime.load_bytes(aotc.compile(lambda x: anp.tanh(x),"
              " aotc.ShapeSpec((2,))))\n"
              "print(m.main(np.zeros(2, np.float32)).tolist())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.0, 0.0]"


def test_jax_lowering_errors_name_the_function():
    def broken(x):
        return jnp.reshape(x, (5,))

    with pytest.raises(JaxExportError, match=r"JAX could not lower broken\(\)"):
        aotc.compile(broken, aotc.ShapeSpec((2, 4)), frontend="jax")
    with pytest.raises(ModelError, match="unknown frontend='torch'"):
        aotc.compile(broken, aotc.ShapeSpec((2, 4)), frontend="torch")


def test_float64_specs_without_x64_are_refused():
    with pytest.raises(JaxExportError, match="jax_enable_x64"):
        aotc.compile(lambda x: jnp.sin(x), aotc.ShapeSpec((3,), "float64"), frontend="jax")


@pytest.fixture(scope="module")
def layer_mlir(tmp_path_factory):
    """A StableHLO file as JAX prints it: @main(w, b, x) with a dynamic batch."""
    (batch,) = jax.export.symbolic_shape("batch")
    f = lambda w, b, x: jnp.tanh(x @ w + b)
    structs = [jax.ShapeDtypeStruct((4, 3), np.float32), jax.ShapeDtypeStruct((3,), np.float32),
               jax.ShapeDtypeStruct((batch, 4), np.float32)]
    path = tmp_path_factory.mktemp("mlir") / "layer.mlir"
    path.write_text(jax.export.export(jax.jit(f), platforms=["cpu"])(*structs).mlir_module())
    return path


def test_cli_compiles_stablehlo_text_with_named_specs(layer_mlir, tmp_path, capsys):
    from aotc.tools.cli import main

    out = tmp_path / "layer.vmfb"
    assert main(["compile", str(layer_mlir), "--function", "main", "--spec", "w=f32[4,3]",
                 "--spec", "b=f32[3]", "--spec", "x=f32[batch,4]", "-o", str(out)]) == 0
    m = aotc_runtime.load(out)
    assert m.signature("main").arg_names == ("w", "b", "x")
    p = layer_params(1)
    x = np.random.default_rng(6).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(m.main(w=p["w"], b=p["b"], x=x),
                               np.tanh(x @ p["w"] + p["b"]), **TOL)
    default = ExportOutput.from_mlir(str(layer_mlir))
    assert default.signatures["main"].arg_names == ("arg0", "arg1", "arg2")
    dist = tmp_path / "dist"
    assert main(["bundle", str(layer_mlir), "--target", "cpu", "-o", str(dist)]) == 0
    inputs = json.loads((dist / "layer.json").read_text())["functions"]["main"]["inputs"]
    assert [(i["name"], i["shape"]) for i in inputs] == [("arg0", [4, 3]), ("arg1", [3]),
                                                         ("arg2", [None, 4])]


@pytest.mark.parametrize("argv, message", [
    (["--function", "predict"], "has no function 'predict'; it has main"),
    (["--spec", "w=f32[4,3]"], "@main takes 3 arguments"),
    (["--spec", "w=f32[4,3]", "--spec", "b=f32[3]", "--spec", "x=f32[?,5]"],
     r"the spec x=float32\[\?, 5\] does not fit argument 2 of @main, which is float32\[\?, 4\]"),
    (["--spec", "w=f32[4,3]", "--spec", "b=i32[3]", "--spec", "x=f32[?,4]"],
     "does not fit argument 1"),
    (["--spec", "w=f32(4,3)", "--spec", "b=f32[3]", "--spec", "x=f32[?,4]"],
     "cannot read the spec 'w=f32\\(4,3\\)'"),
])
def test_cli_stablehlo_errors(layer_mlir, tmp_path, capsys, argv, message):
    from aotc.tools.cli import main

    assert main(["compile", str(layer_mlir), *argv, "-o", str(tmp_path / "x.vmfb")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aotc: error: ") and re_search(message, err), err
    assert not (tmp_path / "x.vmfb").exists()


def test_cli_refuses_to_overwrite_the_stablehlo_input(layer_mlir, capsys):
    from aotc.tools.cli import main

    before = layer_mlir.read_text()
    assert main(["compile", str(layer_mlir), "--emit", "stablehlo", "-o", str(layer_mlir)]) == 1
    assert "is the input file" in capsys.readouterr().err
    assert layer_mlir.read_text() == before


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_a_function_neither_aotc_nor_jax_can_trace_says_both():
    import aotc.numpy as anp

    def mixed(x):
        return jnp.sin(anp.cos(x))

    with pytest.raises(ModelError, match=r"tracing mixed\(\) with aotc ran into JAX code .*"
                                         r"lowering it with JAX failed too"):
        aotc.compile(mixed, aotc.ShapeSpec((3,)))


def test_iree_errors_of_a_jax_export_point_at_the_users_line():
    def first_column(x):
        return x[:, 0] * 2  # a gather of a dynamic size: IREE 3.13 cannot compile it

    line = first_column.__code__.co_firstlineno + 1
    with pytest.raises(aotc.CompileError) as info:
        aotc.compile(first_column, aotc.ShapeSpec((None, 4)), frontend="jax")
    assert f"test_jax_export.py:{line}:" in str(info.value)
    assert "pytest" not in str(info.value)  # only the user's frame, not the whole stack
