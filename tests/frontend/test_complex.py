"""complex64 end to end, forward: dtypes and promotion, the tracer (Python complex scalars,
`1j * x`, `.real`, `.imag`, `.conj()`), elementwise ops, reductions, products and data movement,
checked against jax.numpy (which agrees with NumPy on these) through the numpy reference
interpreter and one IREE compile, and a few against NumPy directly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_entries_close, check_table, interpret_fn

import aotc
import aotc.lax as alax
import aotc.numpy as anp
from aotc.frontend.core import dtypes

RNG = np.random.default_rng(7)


def _complex(*shape):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(np.complex64)


Z = _complex(3, 4)
W = _complex(3, 4)
R = RNG.standard_normal((3, 4)).astype(np.float32)


# ---- dtypes and promotion ----------------------------------------------------------------------

_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "float16", "bfloat16", "float32",
           "complex64"]
_WEAK = {"weak int": 2, "weak float": 2.0, "weak complex": 2j}


@pytest.mark.parametrize("a", _DTYPES + list(_WEAK))
@pytest.mark.parametrize("b", ["complex64", "weak complex"])
def test_promotion_matches_jax(a, b):
    def typed(name, ns):
        if name in _WEAK:
            return _WEAK[name]
        return ns.zeros((), jnp.bfloat16 if name == "bfloat16" else name)

    expected = jnp.result_type(typed(a, jnp), typed(b, jnp))
    got = anp.result_type(typed(a, anp), typed(b, anp))
    assert np.dtype(got) == np.dtype(expected), (a, b, got, expected)


def test_dtype_names_and_demotion():
    assert anp.complex64 is np.complex64 and anp.csingle is np.complex64
    assert anp.issubdtype(anp.complex64, anp.complexfloating)
    assert anp.issubdtype(anp.complex64, anp.inexact)
    assert dtypes.canonicalize(complex) == np.complex64
    # complex128 arrays become complex64, like float64 -> float32 (JAX without x64)
    traced = aotc.lower(lambda z: z * 2, Z.astype(np.complex128))
    assert "complex<f32>" in traced.text and "complex<f64>" not in traced.text
    with pytest.warns(UserWarning, match="complex128.*complex64"):
        out = aotc.lower(lambda x: anp.asarray(x, anp.complex128), R)
    assert "complex<f32>" in out.text


def test_iscomplexobj_and_weak_complex_scalar():
    def f(x, z):
        assert anp.iscomplexobj(z) and not anp.iscomplexobj(x)
        y = x * 1j  # a weak complex scalar makes a float32 array complex64
        assert y.dtype == np.complex64
        return y, (1 + 2j) * anp.ones(2, anp.float16), anp.asarray(3j)

    y, h, s = aotc.jit(f)(R, Z)
    np.testing.assert_array_equal(y, R * 1j)
    assert h.dtype == np.complex64 and s.dtype == np.complex64
    np.testing.assert_array_equal(h, np.full(2, 1 + 2j, np.complex64))


# ---- one table of forward ops, interpreted and compiled ----------------------------------------


def _table(m, z, w, x):
    lax = alax if m is anp else jax.lax
    idx = m.asarray([2, 0, 1])
    return {
        "add": z + w, "sub": z - 1.5, "mul": z * w, "div": z / w, "neg": -z,
        "scalar": 1j * x + 2, "literal": z * (0.5 - 2j),
        "exp": m.exp(z), "log": m.log(z), "sqrt": m.sqrt(z), "rsqrt": lax.rsqrt(z),
        "sin": m.sin(z), "cos": m.cos(z), "tanh": m.tanh(z), "expm1": m.expm1(z),
        "log1p": m.log1p(z), "power": m.power(z, w), "int_power": z ** 3, "square": m.square(z),
        "abs": m.abs(z), "sign": m.sign(z), "conj": m.conj(z), "conjugate": m.conjugate(z),
        "method_conj": z.conj(), "real": m.real(z), "imag": m.imag(z), "attr_real": z.real,
        "attr_imag": z.imag, "angle": m.angle(z), "angle_deg": m.angle(z, deg=True),
        "eq": z == w, "ne": m.not_equal(z, z), "lt": m.round(z) < m.round(w),
        "ge": m.greater_equal(m.round(z), m.conj(m.round(w))),
        "maximum": m.maximum(m.round(z), m.round(w)), "minimum": m.minimum(m.round(z), w),
        "iscomplex": m.iscomplex(m.real(z) + 0j),
        "isreal": m.isreal(z), "where": m.where(x > 0, z, w), "to_complex": x.astype(m.complex64),
        "lax_complex": lax.complex(x, 2 * x), "lax_real": lax.real(z), "lax_imag": lax.imag(z),
        "lax_conj": lax.conj(z),
        "sum": m.sum(z, axis=0), "prod": m.prod(z, axis=1), "mean": m.mean(z),
        "matmul": z @ w.T, "einsum": m.einsum("ij,kj->ik", z, w), "vdot": m.vdot(z, w),
        "dot_real": m.dot(x, w.T), "reshape": m.reshape(z, (4, 3)), "transpose": z.T,
        "concat": m.concatenate([z, w], axis=1), "slice": z[1:, ::2], "take": m.take(z, idx, 1),
        "gather": z[idx, 1], "scatter_set": z.at[idx, 0].set(w[:, 1]),
        "scatter_add": z.at[idx].add(w), "broadcast": m.broadcast_to(z[0], (2, 4)),
        "stack": m.stack([z, w]), "flip": m.flip(z, 0),
        "sort_complex": m.sort_complex(m.round(z)), "isnan": m.isnan(lax.complex(x, m.log(x))),
        "isinf": m.isinf(lax.complex(x, 1 / (x - x))),
        "isfinite": m.isfinite(lax.complex(m.log(x), x)),
    }


def test_forward_table_matches_jax():
    check_table(_table, jnp, anp, [Z, W, R], rtol=2e-5, atol=2e-5)


def test_forward_matches_numpy():
    got = interpret_fn(lambda z, w: {"vdot": anp.vdot(z, w), "angle": anp.angle(z),
                                     "abs": anp.abs(z), "sqrt": anp.sqrt(z), "div": z / w}, Z, W)
    expected = {"vdot": np.vdot(Z, W), "angle": np.angle(Z), "abs": np.abs(Z),
                "sqrt": np.sqrt(Z), "div": Z / W}
    assert_entries_close(got, expected, rtol=1e-5, atol=1e-6)


def test_interpreter_computes_complex128_with_float64_inputs():
    traced = aotc.lower(lambda z, x: z * anp.exp(z) + x, aotc.ShapeSpec((3,), "complex64"),
                        aotc.ShapeSpec((3,), "float32"))
    z, x = Z[0, :3].astype(np.complex128), R[0, :3].astype(np.float64)
    (out,) = aotc.interpret(traced.module, traced.name, z, x)
    assert out.dtype == np.complex128
    np.testing.assert_allclose(out, z * np.exp(z) + x, rtol=1e-14)


# ---- errors ------------------------------------------------------------------------------------


def test_order_comparison_of_complex_lax_values_is_an_error():
    with pytest.raises(aotc.TracingError, match=r"test_complex.py:\d+: lax.lt does not accept "
                                                r"complex operands"):
        aotc.lower(lambda z: alax.lt(z, z), Z)
    with pytest.raises(aotc.TracingError, match=r"test_complex.py:\d+: lax.ge .*complex "
                                                r"numbers have no order"):
        aotc.lower(lambda x: alax.ge(x, 1j), R)  # a weak complex scalar makes x complex


def test_complex_of_int_parts_is_an_error():
    with pytest.raises(aotc.TracingError, match="float32 or float64 operands"):
        aotc.lower(lambda i: alax.complex(i, i), np.ones(3, np.int32))
