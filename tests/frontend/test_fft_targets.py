"""aotc.numpy.fft compiled by IREE: one program of many transforms (sizes 1 ... 4096, 2-D and
3-D) per target against numpy.fft: cpu, vulkan (lavapipe), aarch64 under qemu, all through the
portable lowering; vmvx (complex values as float pairs); a gradient whose IREE-lowered FFT fails
to compile; and JAX's own exports of stablehlo.fft through aotc.differentiate and
aotc.vectorize, compiled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_fft import _close, _complex

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc.frontend.ops.fft import native_fft
from aotc.tools.compile import compile_stablehlo
from aotc.tools.targets import TARGETS, qemu_command, runs_here

jax.config.update("jax_platforms", "cpu")

SIZES = (1, 2, 7, 8, 12, 64, 100, 1024, 4096)


def _inputs():
    zs = [_complex(2, n) for n in SIZES]
    return {"z": zs, "x": [(z.real * 2).astype(np.float32) for z in zs],
            "z2": _complex(6, 12), "x3": _complex(2, 4, 6).real.copy()}


def program(m, args):
    """fft, ifft, rfft, irfft of every size, and 2-D / 3-D transforms."""
    out = {}
    for n, z, x in zip(SIZES, args["z"], args["x"]):
        out.update({f"fft{n}": m.fft.fft(z), f"ifft{n}": m.fft.ifft(z, norm="ortho"),
                    f"rfft{n}": m.fft.rfft(x)})
        if n > 1:
            out[f"irfft{n}"] = m.fft.irfft(z, n=n)
    z2, x3 = args["z2"], args["x3"]
    out.update(fft2d=m.fft.fft2(z2), irfft2d=m.fft.irfft2(z2, s=(6, 10)),
               rfftn=m.fft.rfftn(x3), ifftn=m.fft.ifftn(x3, axes=(0, 2), norm="forward"))
    return out


def _expected(args):
    return {k: v.astype(np.complex64 if np.iscomplexobj(v) else np.float32)
            for k, v in program(np, args).items()}


@pytest.fixture(scope="module")
def args():
    return _inputs()


def test_cpu_matches_numpy(args):
    got = aotc.jit(lambda a: program(anp, a))(args)
    _close(got, _expected(args), 1e-5)


def test_which_lowering_each_size_gets():
    assert [n for n in SIZES if native_fft("FFT", [n], "llvm-cpu")] == [1, 2, 8, 64, 1024, 4096]
    assert not native_fft("FFT", [8, 8], "llvm-cpu")  # IREE 3.13 lowers one dim only
    assert not any(native_fft(k, [8], "vulkan-spirv") for k in ("FFT", "RFFT"))
    text = str(aotc.lower(lambda z: anp.fft.fft(z), aotc.ShapeSpec((2, 8), "complex64")).module)
    assert "stablehlo.fft" in text  # traced as JAX does; the compile pipeline lowers it


def test_gradient_that_iree_own_fft_fails_on_compiles_and_matches_jax():
    # with IREE's linalg_ext.fft kept (native=True), this gradient fails to compile on
    # llvm-cpu ("write affecting operations on global resources ..."); portable, it runs
    x = np.random.default_rng(2).standard_normal(10).astype(np.float32)
    got = aotc.jit(aotc.grad(lambda x: anp.sum(anp.abs(anp.fft.rfft(x, n=16)) ** 2)))(x)
    expected = jax.grad(lambda x: jnp.sum(jnp.abs(jnp.fft.rfft(x, n=16)) ** 2))(x)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


@pytest.mark.slow
def test_vulkan_matches_numpy(args):
    status, detail = runs_here(TARGETS["vulkan"])
    if status != "yes":
        pytest.skip(f"no vulkan device here: {detail}")
    got = aotc.jit(lambda a: program(anp, a), target="vulkan", device="vulkan")(args)
    _close(got, _expected(args), 1e-5)


def test_vmvx_runs_rfft_through_real_pairs():
    # vmvx cannot load complex elements; aotc splits complex values into float pairs there (the
    # full transform table for vmvx is in test_complex_vmvx.py)
    x = np.random.default_rng(5).standard_normal((2, 8)).astype(np.float32)
    got = aotc.jit(lambda x: anp.fft.rfft(x), target="vmvx")(x)
    _close({"rfft": got}, {"rfft": np.fft.rfft(x).astype(np.complex64)}, 1e-5)


@pytest.mark.slow
def test_aarch64_under_qemu_matches_numpy(tmp_path):
    qemu = qemu_command()
    if qemu is None:
        pytest.skip("needs qemu-aarch64 and the aarch64 iree-run-module (`make edge-runtime`)")
    import subprocess

    sizes = (7, 8, 100, 1024)
    zs = [_complex(2, n) for n in sizes]

    def parts(*planes):  # real in, real out: iree-run-module's .npy I/O of float32 only
        out = []
        for n, re, im in zip(sizes, planes[::2], planes[1::2]):
            spectrum = anp.fft.fft(re + 1j * im)
            out += [anp.real(spectrum), anp.imag(spectrum), anp.fft.irfft(re + 1j * im, n=n)]
        return tuple(out)

    inputs = [p for z in zs for p in (z.real.copy(), z.imag.copy())]
    traced = aotc.lower(parts, *[aotc.ShapeSpec(a.shape, "float32") for a in inputs])
    module = tmp_path / "fft.vmfb"
    module.write_bytes(compile_stablehlo(traced.text_with_locations(), "aarch64"))
    for i, a in enumerate(inputs):
        np.save(tmp_path / f"in{i}.npy", a)
    outputs = [tmp_path / f"out{i}.npy" for i in range(3 * len(sizes))]
    done = subprocess.run([*qemu, f"--module={module}", "--device=local-task",
                           f"--function={traced.name}",
                           *(f"--input=@{tmp_path}/in{i}.npy" for i in range(len(inputs))),
                           *(f"--output=@{o}" for o in outputs)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got, expected = {}, {}
    for k, (n, z) in enumerate(zip(sizes, zs)):
        spectrum = np.fft.fft(z).astype(np.complex64)
        got[f"fft{n}"] = np.load(outputs[3 * k]) + 1j * np.load(outputs[3 * k + 1])
        expected[f"fft{n}"] = spectrum
        got[f"irfft{n}"], expected[f"irfft{n}"] = (np.load(outputs[3 * k + 2]),
                                                   np.fft.irfft(z, n=n).astype(np.float32))
    _close({k: np.asarray(v, expected[k].dtype) for k, v in got.items()}, expected, 1e-5)


# ---- JAX's exports of stablehlo.fft ------------------------------------------------------------


def _jax_loss(x, z):
    return (jnp.sum(jnp.abs(jnp.fft.rfft(x, n=12)) ** 2)
            + jnp.sum(jnp.real(jnp.fft.fft(z * x[:8], n=8)) * jnp.arange(8.0))
            + jnp.sum(jnp.fft.irfft(jnp.fft.fft(z)[:5], n=9) ** 2)
            + jnp.sum(jnp.imag(jnp.fft.ifft2(jnp.outer(z, z))[1:3])))


@pytest.mark.slow
def test_jax_exports_differentiate_and_vectorize_like_jax():
    x = np.random.default_rng(1).standard_normal(10).astype(np.float32)
    z = _complex(8)
    text = jax.jit(_jax_loss).lower(x, z).as_text()
    assert "stablehlo.fft" in text
    module = aotc.differentiate(text, argnums=(0, 1))
    aotc.vectorize(module, in_axes=(0, None), axis_size=3)
    names = [op.attributes["sym_name"].value for op in module.body.operations]
    vjp, vmap = (next(n for n in names if n.startswith(p)) for p in ("main_vjp", "main_vmap"))
    xs = np.stack([x, x[::-1], 2 * x])
    value, grads = jax.value_and_grad(_jax_loss, argnums=(0, 1))(x, z)
    expected = {"value": np.asarray(value), "gx": np.asarray(grads[0]),
                "gz": np.asarray(grads[1]),
                "vmap": np.asarray(jax.vmap(_jax_loss, in_axes=(0, None))(xs, z))}

    def results(call):
        v, gx, gz = call(vjp, x, z, np.float32(1.0))
        (batched,) = call(vmap, xs, z)
        return {"value": v, "gx": gx, "gz": gz, "vmap": batched}

    interpreted = results(lambda name, *a: aotc.interpret(module, name, *a))
    _close(interpreted, expected, 2e-5, "interpreted ")
    compiled = aotc_runtime.load_bytes(compile_stablehlo(str(module), "cpu"), require_aotc=False)
    _close(results(lambda name, *a: compiled[name](*a)), expected, 2e-5, "compiled ")


def test_portable_fft_of_dynamic_dims_is_a_clear_error():
    traced = aotc.lower(lambda z: anp.fft.fft(z), aotc.ShapeSpec((None, 12), "complex64"))
    with pytest.raises(aotc.CompileError, match=r"test_fft_targets.py:\d+:\d+: this FFT has "
                                                r"dynamic dims \(None, 12\).*static shape"):
        compile_stablehlo(traced.text_with_locations(), "cpu")
