"""aotc.numpy.fft against numpy.fft and jax.numpy.fft, through the numpy interpreter: forward
values (every function, n / s, axes, norms, sizes 1 ... 4096, 2-D and 3-D), the portable
lowering (aotc.frontend.ops.fft.lower_ffts, what targets without an FFT compile) on the same
programs, grad / jvp against JAX, vmap against a Python loop, and errors. Compiled targets:
test_fft_targets.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_entries_close

import aotc
import aotc.numpy as anp
from aotc.frontend.ops.fft import DIRECT_MAX, lower_ffts

jax.config.update("jax_platforms", "cpu")

RNG = np.random.default_rng(0)
SIZES = (1, 2, 7, 8, 12, 64, 100, 1024, 4096)


def _complex(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


def _close(got: dict, expected: dict, rtol=1e-5, prefix=""):
    """Entries equal within rtol of each expected array's RMS (float32 FFTs err by ~eps log n
    relative to the signal's norm, not to each entry)."""
    assert set(got) == set(expected), (set(got) ^ set(expected))
    for key, want in expected.items():
        have, want = np.asarray(got[key]), np.asarray(want)
        assert have.shape == want.shape, (prefix + key, have.shape, want.shape)
        assert have.dtype == want.dtype, (prefix + key, have.dtype, want.dtype)
        scale = max(float(np.sqrt(np.mean(np.abs(want.astype(np.complex128)) ** 2))), 1e-30)
        error = float(np.max(np.abs(have.astype(np.complex128) - want))) / scale
        assert error < rtol, f"{prefix}{key}: max error {error:.2e} of the RMS {scale:.3g}"


def one_d_table(m, z, x):
    """Every 1-D transform of a complex z and a real x of shape (3, n), default n."""
    out = {"fft": m.fft.fft(z), "ifft": m.fft.ifft(z), "rfft": m.fft.rfft(x),
           "ihfft": m.fft.ihfft(x)}
    if z.shape[-1] > 1:
        out.update(irfft=m.fft.irfft(z), hfft=m.fft.hfft(z))
    return out


def options_table(m, z, x):
    """n (crop and pad, odd and even), axis, norms, 2-D and 3-D, s and axes, shifts, freqs."""
    z3, x3 = z[:, :6].reshape(3, 2, 3), x[:, :6].reshape(3, 2, 3)
    return {
        "fft_pad": m.fft.fft(z, n=11), "fft_crop": m.fft.fft(z, n=5, axis=1),
        "fft_axis0": m.fft.fft(z, axis=0), "fft_ortho": m.fft.fft(z, norm="ortho"),
        "fft_forward": m.fft.fft(z, norm="forward"), "ifft_ortho": m.fft.ifft(z, n=6,
                                                                            norm="ortho"),
        "ifft_forward": m.fft.ifft(z, norm="forward"), "rfft_odd": m.fft.rfft(x, n=9),
        "rfft_forward": m.fft.rfft(x, n=8, norm="forward"), "irfft_odd": m.fft.irfft(z, n=9),
        "irfft_ortho": m.fft.irfft(z, n=10, norm="ortho"), "irfft_axis0": m.fft.irfft(z, axis=0),
        "hfft_n": m.fft.hfft(z, n=7, norm="ortho"), "ihfft_n": m.fft.ihfft(x, n=10,
                                                                         norm="forward"),
        "fft2": m.fft.fft2(z), "ifft2_s": m.fft.ifft2(z, s=(4, 5), axes=(0, 1)),
        "rfft2": m.fft.rfft2(x, norm="ortho"), "irfft2": m.fft.irfft2(z, s=(3, 8)),
        "fftn": m.fft.fftn(z3), "ifftn_axes": m.fft.ifftn(z3, axes=(0, 2)),
        "rfftn": m.fft.rfftn(x3, s=(2, 4, 6), axes=(0, 1, 2)),
        "irfftn": m.fft.irfftn(z3, norm="forward"), "rfftn_axes": m.fft.rfftn(x3, axes=(2, 0)),
        "fftn_s": m.fft.fftn(z3, s=(3, 5), axes=(1, 2)),
        "fftshift": m.fft.fftshift(x), "ifftshift": m.fft.ifftshift(z, axes=1),
        "fftshift_odd": m.fft.fftshift(x3, axes=(0, 2)),
        "fftfreq": m.fft.fftfreq(7, 0.5), "rfftfreq": m.fft.rfftfreq(8),
        "fftfreq_even": m.fft.fftfreq(8, d=2.0), "rfftfreq_odd": m.fft.rfftfreq(9, 0.1),
    }


def _numpy(table, *args):
    out = table(np, *args)
    # numpy computes in complex128; jnp.fft's (and aotc's) results are complex64 / float32
    return {k: v.astype(np.complex64 if np.iscomplexobj(v) else np.float32)
            for k, v in out.items()}


def _inputs(n, rows=3):
    z = _complex(rows, n)
    return z, (z.real * 2).astype(np.float32)


def _interpret(table, args, portable: bool):
    specs = [aotc.ShapeSpec(a.shape, str(a.dtype)) for a in args]
    traced = aotc.lower(lambda *a: table(anp, *a), *specs)
    if portable:
        with traced.module.context:
            lower_ffts(traced.module, None)
        assert "stablehlo.fft" not in str(traced.module)
    outs = aotc.interpret(traced.module, traced.name, *args)
    return dict(zip(sorted(table(np, *args)), outs))


@pytest.mark.parametrize("n", SIZES)
def test_one_d_transforms_match_numpy(n):
    z, x = _inputs(n)
    expected = _numpy(one_d_table, z, x)
    _close({k: np.asarray(v) for k, v in one_d_table(anp, z, x).items()}, expected)
    # the portable lowering (DFT matmul, four-step, Bluestein), interpreted in float32
    _close(_interpret(one_d_table, (z, x), portable=True), expected, 4e-6, "portable ")


def test_portable_lowering_of_large_primes_and_mixed_sizes():
    # 101 and 4099 are primes > DIRECT_MAX (Bluestein); 202 = 2 * 101; 2 * 3 * 5 * 7 * 11
    for n in (101, 202, 2310, 4099):
        z, x = _inputs(n, rows=2)
        _close(_interpret(one_d_table, (z, x), portable=True), _numpy(one_d_table, z, x), 4e-6,
               f"n={n} ")
    assert DIRECT_MAX == 64


def test_options_match_numpy_and_jax():
    z, x = _inputs(8)
    expected = _numpy(options_table, z, x)
    got = {k: np.asarray(v) for k, v in options_table(anp, z, x).items()}
    _close(got, expected)
    _close(got, {k: np.asarray(v) for k, v in options_table(jnp, z, x).items()}, prefix="jax ")
    _close(_interpret(options_table, (z, x), portable=True), expected, 4e-6, "portable ")


def test_integer_and_float64_inputs_give_complex64():
    assert anp.fft.fft(np.arange(4)).dtype == np.complex64
    assert anp.fft.rfft(np.arange(5.0)).dtype == np.complex64
    assert anp.fft.irfft(np.ones(3)).dtype == np.float32
    np.testing.assert_allclose(anp.fft.fft(np.arange(4)), np.fft.fft(np.arange(4)), atol=1e-6)


# ---- derivatives against JAX -------------------------------------------------------------------


def _loss(m, x, n, norm):
    w = m.cos(x * 0.7)
    spectrum = m.fft.fft(x * w, n=n, norm=norm)
    half = m.fft.rfft(x, n=n, norm=norm)
    back = m.fft.irfft(half * (1 + 0.5j), n=n, norm=norm)
    return (m.sum(m.real(spectrum) * m.arange(spectrum.shape[-1]))
            + m.sum(m.abs(half) ** 2) + m.sum(back * back[::-1])
            + m.sum(m.imag(m.fft.ifft(spectrum, norm=norm)) ** 2))


@pytest.mark.parametrize("n, norm", [(None, None), (6, "ortho"), (9, "forward"), (12, None),
                                     (5, "backward")])
def test_grad_matches_jax(n, norm):
    x = RNG.standard_normal(8).astype(np.float32)
    got = aotc.grad(lambda x: _loss(anp, x, n, norm))(x)
    expected = jax.grad(lambda x: _loss(jnp, x, n, norm))(x)
    assert_entries_close({"grad": got}, {"grad": np.asarray(expected)}, rtol=2e-4, atol=2e-4)


def test_grad_of_complex_input_and_2d_matches_jax():
    z = _complex(3, 4)
    x = z.real.copy()

    def f(m, z, x):
        return (m.sum(m.abs(m.fft.fft2(z, norm="ortho")) ** 2 * m.arange(4.0))
                + m.sum(m.fft.irfftn(m.fft.rfftn(x) * m.fft.fftn(z)[:, :3], s=(3, 4)) ** 3))

    got = aotc.grad(lambda z, x: f(anp, z, x), argnums=(0, 1))(z, x)
    expected = jax.grad(lambda z, x: f(jnp, z, x), argnums=(0, 1))(z, x)
    assert_entries_close({"g": got}, {"g": jax.tree.map(np.asarray, expected)},
                         rtol=2e-4, atol=2e-4)


def test_jvp_matches_jax():
    z, t = _complex(2, 7), _complex(2, 7)
    x, u = z.real.copy(), t.imag.copy()

    def f(m, z, x):
        return {"fft": m.fft.fft(z, n=9), "irfft": m.fft.irfft(z, n=12, norm="ortho"),
                "rfft2": m.fft.rfft2(x * x, norm="forward"), "hfft": m.fft.hfft(z)}

    got = aotc.jvp(lambda z, x: f(anp, z, x), (z, x), (t, u))
    expected = jax.jvp(lambda z, x: f(jnp, z, x), (z, x), (t, u))
    assert_entries_close({"jvp": got}, {"jvp": jax.tree.map(np.asarray, expected)},
                         rtol=2e-5, atol=2e-5)


def test_vmap_matches_a_python_loop():
    z = _complex(4, 3, 12)
    x = z.real.copy()

    def f(z, x):
        return {"fft": anp.fft.fft(z, axis=0), "rfft": anp.fft.rfft(x, n=10),
                "irfft2": anp.fft.irfft2(z), "ifft": anp.fft.ifft(z[0] * x[1])}

    got = aotc.vmap(f)(z, x)
    loop = [f(z[i], x[i]) for i in range(4)]
    expected = {k: np.stack([np.asarray(o[k]) for o in loop]) for k in loop[0]}
    _close({k: np.asarray(v) for k, v in got.items()}, expected, 1e-6)
    grads = aotc.vmap(aotc.grad(lambda x: anp.sum(anp.abs(anp.fft.rfft(x, n=16)))))(x[:, 0])
    expected = np.stack([jax.grad(lambda x: jnp.sum(jnp.abs(jnp.fft.rfft(x, n=16))))(r)
                         for r in x[:, 0]])
    np.testing.assert_allclose(grads, expected, rtol=1e-4, atol=1e-5)


# ---- errors ------------------------------------------------------------------------------------


def test_errors_name_the_line_and_the_fix():
    x = np.ones((2, 4), np.float32)
    with pytest.raises(aotc.TracingError, match=r"test_fft.py:\d+: rfft takes a real array.*"
                                                r"use fft"):
        anp.fft.rfft(_complex(4))
    with pytest.raises(aotc.TracingError, match=r"test_fft.py:\d+: fft: invalid norm 'none'"):
        anp.fft.fft(x, norm="none")
    with pytest.raises(aotc.TracingError, match=r"test_fft.py:\d+: fftn: s \[4\] and axes"):
        anp.fft.fftn(x, s=(4,), axes=(0, 1))
    with pytest.raises(aotc.TracingError, match=r"invalid number of data points \[0\]"):
        anp.fft.fft(x, n=0)
    with pytest.raises(aotc.TracingError, match=r"repeated axes"):
        anp.fft.fft2(x, axes=(1, 1))
    with pytest.raises(aotc.TracingError, match=r"axes \[2\] out of range"):
        anp.fft.fft(x, axis=2)
    with pytest.raises(aotc.TracingError, match=r"test_fft.py:\d+: fftfreq: n must be a Python"):
        anp.fft.fftfreq(2.5)
