"""Every way in for JAX's StableHLO text reads its LAPACK exports, whose custom_calls carry a
Shardy `sdy.sharding_rule` attribute (not a sharding; dropped), and refuses real Shardy
shardings with the caller's own clear error: `aotc.interpret(text)`, `aotc.compile(f,
frontend="jax")`, `aotc compile model.mlir`, `aotc grad model.mlir` and compile_stablehlo."""

import numpy as np
import pytest
from helpers import SHARDED_JAX_TEXT as SHARDED  # what JAX exports for a sharded jit

import aotc
import aotc_runtime
from aotc.tools.compile import compile_stablehlo

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

N = 4


def chol_solve(a, b):
    """A Cholesky solve of a b: JAX's CPU export calls lapack_spotrf_ffi and trsm."""
    return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(a), b)


def inputs():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(N, N)).astype(np.float32)
    return m @ m.T + N * np.eye(N, dtype=np.float32), rng.normal(size=(N,)).astype(np.float32)


def want(a, b):
    return np.linalg.solve(a.astype(np.float64), b.astype(np.float64))


@pytest.fixture(scope="module")
def jax_text():
    text = jax.jit(chol_solve).lower(*inputs()).as_text()
    assert "sdy.sharding_rule" in text and "lapack_spotrf_ffi" in text  # the real form
    return text


@pytest.fixture(scope="module")
def mlir_file(jax_text, tmp_path_factory):
    path = tmp_path_factory.mktemp("sdy") / "chol.mlir"
    path.write_text(jax_text)
    return path


def test_interpret_text(jax_text):
    (got,) = aotc.interpret(jax_text, "main", *inputs())
    np.testing.assert_allclose(got, want(*inputs()), rtol=1e-5, atol=1e-6)


def test_compile_stablehlo_raw_jax_text(jax_text):
    main = aotc_runtime.load_bytes(compile_stablehlo(jax_text, "cpu"), require_aotc=False)["main"]
    (got,) = main(*inputs())
    np.testing.assert_allclose(np.asarray(got), want(*inputs()),
                               rtol=1e-5, atol=1e-6)


def test_export_with_the_jax_frontend():
    spec = aotc.ShapeSpec((N, N)), aotc.ShapeSpec((N,))
    module = aotc_runtime.load_bytes(aotc.compile(chol_solve, *spec, frontend="jax"))
    np.testing.assert_allclose(np.asarray(module.chol_solve(*inputs())), want(*inputs()),
                               rtol=1e-5, atol=1e-6)


def test_cli_compile_and_grad_of_the_mlir_file(mlir_file, tmp_path):
    from aotc.tools.cli import main

    out = tmp_path / "chol.vmfb"
    assert main(["compile", str(mlir_file), "--function", "main", "-o", str(out)]) == 0
    got = aotc_runtime.load(out).main(*inputs())
    np.testing.assert_allclose(np.asarray(got), want(*inputs()), rtol=1e-5, atol=1e-6)
    grad_out = tmp_path / "chol_grad.mlir"
    assert main(["grad", str(mlir_file), "--function", "main", "-o", str(grad_out)]) == 0
    assert "sdy" not in grad_out.read_text()


def test_shardings_refused_by_each_tool(tmp_path, capsys):
    from aotc.tools.cli import main

    path = tmp_path / "sharded.mlir"
    path.write_text(SHARDED)
    for argv in (["compile", str(path), "-o", str(tmp_path / "x.vmfb")],
                 ["grad", str(path), "-o", str(tmp_path / "x.mlir")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Shardy shardings ('sdy.mesh')" in err and "without shardings" in err, err
    assert not list(tmp_path.glob("x.*"))
    with pytest.raises(aotc.CompileError, match=r"Shardy shardings \('sdy\.mesh'\)"):
        compile_stablehlo(SHARDED, "cpu")
