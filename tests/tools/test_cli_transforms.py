"""`aotc grad` and `aotc vmap` on StableHLO exported by JAX: the written modules are checked
numerically (aotc's interpreter in float64) against jax.grad / jax.jvp / jax.vmap."""

import os

import numpy as np
import pytest

from aotc import interpret

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
lax = jax.lax
jax.config.update("jax_platforms", "cpu")

RNG = np.random.default_rng(0)
W, B, X = (RNG.standard_normal(s).astype(np.float32) for s in ((3, 2), (2,), (4, 3)))


@jax.jit
def layer(w, x):  # exported as a private function and a func.call; gelu brings chlo.erfc
    return jax.nn.gelu(x @ w, approximate=False)


def loss(w, b, x):
    h = layer(w, x) + b
    h = lax.fori_loop(0, 3, lambda i, h: jnp.sin(h) * 1.5, h)  # a counted stablehlo.while
    return jnp.mean(h**2) + jax.nn.logsumexp(h)


def per_example(x, w):
    return jnp.tanh(x @ w) + jnp.sum(x)


def export(fn, *args) -> str:
    return jax.jit(fn).lower(*args).as_text()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlir")
    sources = {
        "loss": export(loss, W, B, X),
        "per_example": export(per_example, X[0], W),
        "while": export(lambda x: lax.while_loop(lambda c: c[1] < 10.0, lambda c: (
            c[0] * 1.1, c[1] + c[0]), (x, x))[0], np.float32(1)),  # data-dependent stop
        "fft": export(lambda x: jax.lax.reduce_precision(x, exponent_bits=5, mantissa_bits=10),
                      np.ones(4, np.float32)),
        "ints": export(lambda x, k: x * k, np.ones(2, np.float32), np.int32(2)),
        "bad": "module {\n  func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n"
               "    %0 = stablehlo.bogus %a : tensor<2xf32>\n    return %0 : tensor<2xf32>\n"
               "  }\n}\n",
        "empty": "module {\n}\n",
    }
    paths = {}
    for name, text in sources.items():
        paths[name] = folder / f"{name}.mlir"
        paths[name].write_text(text)
    return paths


def run_to_file(aotc, tmp_path, *argv):
    out = tmp_path / "out.mlir"
    code, stdout, err = aotc(*argv, "-o", out)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}: added @")
    added = stdout.split("added @")[1].split("(")[0]
    return out.read_text(), added


def f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def test_grad_reverse_matches_jax_grad(aotc, files, tmp_path):
    text, added = run_to_file(aotc, tmp_path, "grad", files["loss"], "--argnums", "0,1")
    assert added.startswith("main_vjp") and "func.func public @main(" in text
    value, g_w, g_b = interpret(text, added, *f64(W, B, X, 1.0))
    want_value, (want_w, want_b) = jax.value_and_grad(loss, argnums=(0, 1))(W, B, X)
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    np.testing.assert_allclose(g_w, want_w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_b, want_b, rtol=1e-4, atol=1e-6)
    (doubled,) = interpret(text, added, *f64(W, B, X, 2.0))[2:]
    np.testing.assert_allclose(doubled, 2 * want_b, rtol=1e-4, atol=1e-6)  # the cotangent seed


def test_grad_forward_matches_jax_jvp(aotc, files, tmp_path):
    text, added = run_to_file(aotc, tmp_path, "grad", files["loss"], "--mode", "forward",
                              "--argnums", "2")
    assert added.startswith("main_jvp")
    t_x = RNG.standard_normal(X.shape).astype(np.float32)
    value, tangent = interpret(text, added, *f64(W, B, X, t_x))
    want_value, want_tangent = jax.jvp(lambda x: loss(W, B, x), (X,), (t_x,))
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    np.testing.assert_allclose(tangent, want_tangent, rtol=1e-4, atol=1e-6)


def test_grad_of_a_private_helper_with_function(aotc, files, tmp_path):
    text, added = run_to_file(aotc, tmp_path, "grad", files["loss"], "--function", "layer")
    assert added.startswith("layer_vjp")
    ct = RNG.standard_normal((4, 2))
    out, g_w = interpret(text, added, *f64(W, X), ct)
    want_out, pullback = jax.vjp(lambda w: layer(w, X), W)
    np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_w, pullback(ct.astype(np.float32))[0], rtol=1e-4, atol=1e-6)


def test_grad_output_compiles_with_iree(aotc, files, tmp_path):
    from aotc.tools.compile import compile_stablehlo
    from aotc_runtime import load_bytes

    text, added = run_to_file(aotc, tmp_path, "grad", files["loss"], "--argnums", "0")
    function = load_bytes(compile_stablehlo(text), require_aotc=False)[added]
    value, g_w = function(W, B, X, np.float32(1))
    np.testing.assert_allclose(value, loss(W, B, X), rtol=1e-4)
    np.testing.assert_allclose(g_w, jax.grad(loss)(W, B, X), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("in_axes,out_axes,x_axis,w_axis", [
    ("0,none", "0", 0, None),
    ("-1,none", "1", 1, None),
    ("none,0", "-1", None, 0),
    ("1", "0", 1, 1),  # one value: every argument
])
def test_vmap_matches_jax_vmap(aotc, files, tmp_path, in_axes, out_axes, x_axis, w_axis):
    size = 5
    xs = RNG.standard_normal((size, 3) if x_axis == 0 else (3, size)).astype(np.float32)
    ws = RNG.standard_normal((3, size, 2) if w_axis == 1 else (size, 3, 2)).astype(np.float32)
    x = xs if x_axis is not None else X[0]
    w = ws if w_axis is not None else W
    text, added = run_to_file(aotc, tmp_path, "vmap", files["per_example"],
                              f"--in-axes={in_axes}", f"--out-axes={out_axes}", "--axis-size", size)
    assert added == "main_vmap"
    (got,) = interpret(text, added, *f64(x, w))
    want = jax.vmap(per_example, in_axes=(x_axis, w_axis), out_axes=int(out_axes))(x, w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_stdout_and_default_output(aotc, files, tmp_path, monkeypatch):
    code, out, err = aotc("grad", files["loss"], "-o", "-")
    assert code == 0 and err == ""
    assert out.startswith("module @jit_loss") and "@main_vjp" in out
    monkeypatch.chdir(tmp_path)
    code, out, _ = aotc("vmap", files["per_example"], "--in-axes", "0,none", "--axis-size", 2)
    assert code == 0 and out.startswith("wrote per_example_vmap.mlir: added @main_vmap(")
    assert "tensor<2x3xf32>" in (tmp_path / "per_example_vmap.mlir").read_text()


@pytest.mark.parametrize("argv,code,words", [
    (["grad", "{dir}/nope.mlir"], 1, ["nope.mlir: no such file"]),
    (["grad", "{bad}"], 1, ["bad.mlir:3:10: not valid StableHLO", "stablehlo.bogus"]),
    (["grad", "{empty}"], 1, ["empty.mlir: the module has no functions"]),
    (["grad", "{loss}", "--function", "nope"], 1, ["no function 'nope'", "@main, @layer"]),
    (["grad", "{loss}", "--argnums", "0,x"], 2, ["--argnums", "got '0,x'"]),
    (["grad", "{loss}", "--argnums", "3"], 1, ["@main:", "argnums 3 is out of range"]),
    (["grad", "{ints}", "--argnums", "1"], 1, ["argument 1", "only float arguments"]),
    (["grad", "{loss}", "--mode", "sideways"], 2, ["--mode", "invalid choice"]),
    (["grad", "{while}"], 1, ["while.mlir:", "fori_loop"]),
    (["grad", "{loss}", "-o", "{dir}"], 1, ["is a directory"]),
    (["vmap", "{per_example}", "--in-axes", "0,none"], 2, ["required", "--axis-size"]),
    (["vmap", "{per_example}", "--in-axes", "0,x", "--axis-size", "2"], 2, ["got '0,x'"]),
    (["vmap", "{per_example}", "--axis-size", "0"], 2, ["positive integer"]),
    (["vmap", "{per_example}", "--in-axes", "0,none,0", "--axis-size", "2"], 1,
     ["3 in_axes for 2 arguments"]),
    (["vmap", "{per_example}", "--in-axes", "2,none", "--axis-size", "2"], 1,
     ["in_axes 2 is out of range for argument 0"]),
    (["vmap", "{fft}", "--axis-size", "2"], 1, ["no batch rule for 'stablehlo.reduce_precision'",
                                               "fft.mlir:"]),
])
def test_errors_are_one_line(aotc, files, tmp_path, argv, code, words):
    paths = {k: str(v) for k, v in files.items()} | {"dir": str(tmp_path)}
    got, out, err = aotc(*[a.format(**paths) for a in argv])
    assert got == code, err
    assert out == ""
    message = err.strip().splitlines()[-1]
    for word in words:
        assert word in message, message
    if code == 1:
        assert len(err.strip().splitlines()) == 1 and err.startswith("aotc: error: ")
    assert not os.listdir(tmp_path)


def test_help_lists_the_commands(aotc):
    code, out, _ = aotc("--help")
    assert code == 0 and "grad" in out and "vmap" in out
    code, out, _ = aotc("grad", "--help")
    assert code == 0 and "--argnums" in out and "--mode" in out
