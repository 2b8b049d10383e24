"""complex64 through artifacts: signatures, aotc_runtime inputs (numpy complex64 arrays, Python
complex scalars and literals) and outputs (complex64 numpy arrays), the CLI's --input literals,
and the targets: vulkan (lavapipe) runs complex select/sign/power through aotc's by-parts
rewrite, vmvx runs them with complex values split into float pairs."""

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc import ShapeSpec as S
from aotc.tools.cli import main
from aotc.tools.targets import TARGETS, runs_here
from aotc_runtime import InputError

RNG = np.random.default_rng(3)
Z = (RNG.standard_normal(5) + 1j * RNG.standard_normal(5)).astype(np.complex64)
X = RNG.standard_normal(5).astype(np.float32)


def rotate(z, x, c):
    """A complex program with complex, float and complex-scalar inputs and mixed outputs."""
    y = z * anp.exp(1j * x) + c
    return {"y": y, "abs": anp.abs(y), "parts": (y.real, y.imag)}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    vmfb = aotc.compile(rotate, S((5,), "complex64"), S((5,), "float32"), S((), "complex64"))
    path = tmp_path_factory.mktemp("complex") / "rotate.vmfb"
    path.write_bytes(vmfb)
    return str(path)


def _expected(z, x, c):
    y = z * np.exp(1j * x.astype(np.float64)) + c
    return {"y": y, "abs": np.abs(y), "parts": (y.real, y.imag)}


def _assert_close(got, expected):
    assert got["y"].dtype == np.complex64 and got["abs"].dtype == np.float32
    np.testing.assert_allclose(got["y"], expected["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["abs"], expected["abs"], rtol=1e-5, atol=1e-6)
    for g, e in zip(got["parts"], expected["parts"]):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_signature_and_calls_with_arrays_and_python_complex(artifact):
    fn = aotc_runtime.load(artifact).rotate
    assert str(fn.signature).startswith("rotate(z: complex64[5], x: float32[5], c: complex64[])")
    _assert_close(fn(Z, X, np.complex64(0.5 - 1j)), _expected(Z, X, 0.5 - 1j))
    # Python complex, float and int scalars and literals take the complex64 spec
    _assert_close(fn(Z, X, 2j), _expected(Z, X, 2j))
    _assert_close(fn(Z, X, 3), _expected(Z, X, 3))
    literal = [complex(v) for v in Z]
    _assert_close(fn(literal, X, 1.5), _expected(Z, X, 1.5))


def test_wrong_complex_inputs_are_input_errors(artifact):
    fn = aotc_runtime.load(artifact).rotate
    with pytest.raises(InputError, match=r"z.*complex64\[5\].*complex128.*astype\(np.complex64\)"):
        fn(Z.astype(np.complex128), X, 1j)
    with pytest.raises(InputError, match=r"x.*float32\[5\].*complex64"):
        fn(Z, Z, 1j)  # a complex array for a float argument
    with pytest.raises(InputError, match=r"the Python complex 1j"):
        fn(Z, 1j, 1j)  # a complex literal does not fit float32


def test_cli_run_parses_complex_literals(artifact, capsys):
    z = "[" + ", ".join(repr(complex(v)) for v in Z) + "]"
    x = "[" + ", ".join(repr(float(v)) for v in X) + "]"
    assert main(["run", artifact, "rotate", "--input", f"z={z}", "--input", f"x={x}",
                 "--input", "c=(1-2j)"]) == 0
    printed = capsys.readouterr().out
    assert "complex64[5]" in printed
    expected = _expected(Z, X, 1 - 2j)["y"]
    assert f"{expected[0].real:.4f}"[:5] in printed


def _vulkan_here() -> bool:
    return runs_here(TARGETS["vulkan"])[0] == "yes"


@pytest.mark.skipif(not _vulkan_here(), reason="no Vulkan driver (lavapipe) on this machine")
def test_vulkan_runs_select_sign_and_power_by_parts():
    z = Z.copy()
    w = (RNG.standard_normal(5) + 1j * RNG.standard_normal(5)).astype(np.complex64)
    z[1], w[1] = 0, 0  # 0 ** 0 = 1
    z[2], w[2] = 0, 2  # 0 ** 2 = 0

    def f(x, z, w):
        return anp.where(x > 0, z, w), anp.sign(z), anp.power(z, w), anp.sum(z * anp.conj(w))

    got = aotc.jit(f, target="vulkan", device="vulkan")(X, z, w)
    expected = (np.where(X > 0, z, w), np.sign(z), np.power(z.astype(np.complex128), w),
                np.sum(z * np.conj(w)))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=2e-5, atol=2e-6)


def test_vmvx_artifact_takes_and_returns_complex64():
    # vmvx cannot load complex elements: aotc splits complex values into float pairs inside and
    # keeps complex64 at the boundary (flow.tensor.bitcast to float32[..., 2])
    vmfb = aotc.compile(rotate, S((5,), "complex64"), S((5,), "float32"), S((), "complex64"),
                        target="vmvx")
    fn = aotc_runtime.load_bytes(vmfb).rotate
    assert str(fn.signature).startswith("rotate(z: complex64[5], x: float32[5], c: complex64[])")
    _assert_close(fn(Z, X, np.complex64(0.5 - 1j)), _expected(Z, X, 0.5 - 1j))
    _assert_close(fn(Z, X, 2j), _expected(Z, X, 2j))
