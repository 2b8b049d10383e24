"""complex64 and aotc.numpy.fft on vmvx, IREE's portable interpreter backend, which cannot load or
store complex elements: aotc splits every complex value into (real, imag) float pairs
(aotc.frontend.ops.complex_pairs) and keeps complex64 at the artifact boundary. Each program is
compiled once for vmvx and checked against numpy (complex128) or jax.grad; an op the split has
no rule for is a CompileError naming the op and the target."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_complex
from helpers import assert_entries_close
from test_complex_grad import REAL_FUNCTIONS
from test_fft import _close

import aotc
import aotc.lax as alax
import aotc.numpy as anp
from aotc.tools.compile import compile_stablehlo

jax.config.update("jax_platforms", "cpu")

RNG = np.random.default_rng(23)


def _complex(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


Z, W = _complex(8), _complex(8)
Z[0], W[0] = 0, 0  # 0 / 0, sign(0), 0 ** 0
Z[1], W[1] = 1 + 2j, 0  # (1+2j) / 0 = inf+infj (numpy, JAX)
Z[2], W[2] = 0, 2  # 0 ** 2 = 0
Z[3], W[3] = -4, 1  # sqrt and log on the negative real axis
X = RNG.standard_normal(8).astype(np.float32)
TABLE_ARGS = (test_complex.Z, test_complex.W, test_complex.R)


def elementwise(m, z, w, x):
    """Every complex elementwise rule of the split, with float and Python complex operands."""
    return {"add": z + w, "sub": z - w, "mul": z * w, "div": z / w, "neg": -z,
            "exp": m.exp(z), "log": m.log(w + 3), "sqrt": m.sqrt(z), "rsqrt": 1 / m.sqrt(w + 3),
            "sin": m.sin(z), "cos": m.cos(z), "tan": m.tan(z), "tanh": m.tanh(z),
            "sinh": m.sinh(z), "cosh": m.cosh(z),
            "expm1": m.expm1(z * 1e-3), "log1p": m.log1p(z * 1e-3), "abs": m.abs(z),
            "sign": m.sign(z), "eq": z == w, "ne": z != w, "where": m.where(x > 0, z, w),
            "by_float": z * x + x / (w + 3), "real": m.real(z), "imag": m.imag(z),
            "conj": m.conj(z), "power": m.power(z, w), "square": z ** 2, "angle": m.angle(z),
            "scalar": 1j * x + (0.5 - 2j), "astype": x.astype(np.complex64),
            "pad": m.pad(z, (1, 2)), "einsum": m.einsum("i,i->", z, w)}


def _numpy(fn, *args):
    """fn on complex128 / float64 copies of args (numpy's reference values, no warnings)."""
    wide = [a.astype(np.complex128 if np.iscomplexobj(a) else np.float64) for a in args]
    with np.errstate(all="ignore"):
        return fn(np, *wide)


def _assert_close(got, expected, rtol=2e-5, atol=2e-6):
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = np.asarray(got[key])
        assert have.dtype == np.asarray(want).astype(have.dtype).dtype, key
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=key)


def test_elementwise_matches_numpy():
    got = aotc.jit(lambda z, w, x: elementwise(anp, z, w, x), target="vmvx")(Z, W, X)
    assert got["div"][1] == complex(np.inf, np.inf) and got["sign"][0] == 0
    assert got["power"][0] == 1 and got["power"][2] == 0
    assert got["mul"].dtype == np.complex64 and got["abs"].dtype == np.float32
    _assert_close(got, _numpy(elementwise, Z, W, X))


def test_complex_forward_table_matches_jax():
    # test_complex.py's table of 66 forward ops (products, reductions, gathers, scatters, order
    # comparisons, sort_complex, isnan/isfinite, ...)
    table = test_complex._table
    expected = jax.tree.map(np.asarray, table(jnp, *map(jnp.asarray, TABLE_ARGS)))
    got = aotc.jit(lambda *args: table(anp, *args), target="vmvx")(*TABLE_ARGS)
    assert_entries_close(got, expected, rtol=2e-5, atol=2e-5)


def loops(z):
    """Complex loop carries and branches (stablehlo.while, stablehlo.if) in one program."""
    c = alax.fori_loop(0, 5, lambda i, c: c * 0.5 + z * c[::-1], z)
    branch = alax.cond(anp.real(z[0]) > 0, lambda v: v * 1j, lambda v: anp.conj(v), z)
    return {"loop": c, "cond": branch}


def test_loop_and_cond_carry_complex_values():
    compiled = aotc.jit(loops, target="vmvx")
    for sign in (1, -1):
        z = _complex(4)
        z[0] = sign * (abs(z[0].real) + 0.1) + 1j  # each branch once
        c = z.astype(np.complex128)
        for _ in range(5):
            c = c * 0.5 + z * c[::-1]
        branch = z * 1j if z[0].real > 0 else np.conj(z)
        _assert_close(compiled(z), {"loop": c, "cond": branch}, rtol=2e-5, atol=2e-5)


SIZES = (7, 8, 12, 64, 101, 128)  # DFT matmul (n <= 64), Bluestein (101), Cooley-Tukey (128)


def transforms(m, args):
    out = {}
    for n, z, x in zip(SIZES, args["z"], args["x"]):
        out.update({f"fft{n}": m.fft.fft(z), f"ifft{n}": m.fft.ifft(z, norm="ortho"),
                    f"rfft{n}": m.fft.rfft(x), f"irfft{n}": m.fft.irfft(z, n=n)})
    z2, x3 = args["z2"], args["x3"]
    out.update(fft2=m.fft.fft2(z2), ifft2=m.fft.ifft2(z2, norm="forward"),
               irfft2=m.fft.irfft2(z2, s=(6, 10)), rfftn=m.fft.rfftn(x3), fftn=m.fft.fftn(x3),
               ifftn=m.fft.ifftn(x3, axes=(0, 2), norm="forward"))
    return out


def test_fft_matches_numpy():
    zs = [_complex(2, n) for n in SIZES]
    args = {"z": zs, "x": [z.real.copy() for z in zs], "z2": _complex(6, 12),
            "x3": _complex(2, 4, 6).real.copy()}
    got = aotc.jit(lambda a: transforms(anp, a), target="vmvx")(args)
    expected = {k: v.astype(np.complex64 if np.iscomplexobj(v) else np.float32)
                for k, v in transforms(np, args).items()}
    _close(got, expected, 1e-5)


GRAD_FUNCTIONS = {**REAL_FUNCTIONS,
                  "fft": lambda m, z, x: m.sum(m.abs(m.fft.fft(z * x)) ** 2),
                  "irfft": lambda m, z, x: m.sum(m.fft.irfft(z, n=6) * m.fft.irfft(z * 1j))}


def _grads(m, transforms_module, z, x):
    return {name: transforms_module.grad(lambda z, x, f=f: f(m, z, x), argnums=(0, 1))(z, x)
            for name, f in GRAD_FUNCTIONS.items()}


def test_grad_of_real_functions_of_complex_inputs_matches_jax():
    z, x = _complex(4), RNG.standard_normal(4).astype(np.float32)
    got = aotc.jit(lambda z, x: _grads(anp, aotc, z, x), target="vmvx")(z, x)
    expected = jax.tree.map(np.asarray, _grads(jnp, jax, z, x))
    assert_entries_close(got, expected, rtol=5e-5, atol=5e-5)


def test_op_without_a_pair_rule_is_a_compile_error():
    text = """func.func @main(%a: tensor<4xcomplex<f32>>, %b: tensor<4xcomplex<f32>>)
        -> tensor<4xcomplex<f32>> {
      %0 = stablehlo.maximum %a, %b : tensor<4xcomplex<f32>>
      return %0 : tensor<4xcomplex<f32>>
    }"""
    with pytest.raises(aotc.CompileError, match=r"stablehlo.maximum on complex values does not "
                                                r"compile for target 'vmvx'.*'cpu'"):
        compile_stablehlo(text, "vmvx")


def test_jax_export_with_complex_constants_runs():
    # JAX writes complex dense constants (inline and, above 100 elements, hex), which the MLIR
    # Python bindings cannot read back: the split parses their text
    import iree.runtime as rt

    z = _complex(300)
    table = _complex(300)

    def f(z):
        return (z * jnp.asarray(table) + (2 - 1j), jnp.fft.fft(z[:12], norm="ortho"),
                jnp.abs(z * jnp.complex64(1j)))

    vmfb = compile_stablehlo(jax.jit(f).lower(z).as_text(), "vmvx")
    context = rt.SystemContext(config=rt.Config("local-task"))
    context.add_vm_module(rt.VmModule.copy_buffer(context.instance, vmfb))
    got = [out.to_host() for out in context.modules.jit_f.main(z)]
    for have, want in zip(got, f(z)):
        np.testing.assert_allclose(have, np.asarray(want), rtol=2e-6, atol=2e-6)


def test_dynamic_complex_argument_is_a_compile_error():
    text = """func.func @main(%a: tensor<?xcomplex<f32>>) -> tensor<?xcomplex<f32>> {
      %0 = stablehlo.add %a, %a : tensor<?xcomplex<f32>>
      return %0 : tensor<?xcomplex<f32>>
    }"""
    with pytest.raises(aotc.CompileError, match=r"complex argument with dynamic dimensions does "
                                                r"not compile for target 'vmvx'"):
        compile_stablehlo(text, "vmvx")
