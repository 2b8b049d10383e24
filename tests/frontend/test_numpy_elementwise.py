"""More elementwise jnp names (array-API aliases, angles, signs, frexp/ldexp/modf, gcd/lcm,
bitwise_count, sinc, i0, the real forms of the complex helpers) against jax.numpy.

One table is written once against a numpy-like module `m` and run with `m = anp` (interpreted,
and one IREE compile of the whole table) and `m = jax.numpy`; float entries are also
differentiated with aotc.grad and compared with jax.grad.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_grads, check_table

import aotc.numpy as anp
from aotc.frontend.core.errors import TracingError

jax.config.update("jax_platforms", "cpu")

_rng = np.random.default_rng(0)
X = np.concatenate([np.round(_rng.normal(size=14) * 4) / 2,
                    [0.0, -0.0, np.inf, -np.inf, np.nan, 3e38, -1e-30, 0.5, 2.5, -1.5]])
X = X.astype(np.float32).reshape(4, 6)
Y = np.roll(X, 5).astype(np.float32)
UNIT = np.linspace(-0.95, 0.95, 24, dtype=np.float32).reshape(4, 6)
INTS = np.array([[12, -18, 0, 7, 2147483647, -2147483647],
                 [0, 5, 21, -4, 1 << 20, 255]], np.int32)
INTS2 = np.array([[18, 12, 0, 0, 3, 6], [9, -15, 14, 6, 1 << 12, 17]], np.int32)
EXPS = np.array([[3, -2, 0, 1, -140, 200], [-1, 0, 5, 2, 100, -100]], np.int32)


def _table(m, x, y, unit, i, j, k):
    row, mant = y[0], unit[1]
    return {
        # array-API aliases
        "acos": m.acos(unit), "acosh": m.acosh(abs(x) + 1), "asin": m.asin(unit),
        "asinh": m.asinh(x), "atan": m.atan(x), "atan2": m.atan2(unit, y), "atanh": m.atanh(unit),
        "pow": m.pow(unit, 3), "pow_int": m.pow(i, 2), "bitwise_invert": m.bitwise_invert(i),
        "bitwise_left_shift": m.bitwise_left_shift(i, 3),
        "bitwise_right_shift": m.bitwise_right_shift(i, 2),
        # angles, signs, rounding
        "deg2rad": m.deg2rad(x), "radians": m.radians(i), "rad2deg": m.rad2deg(unit),
        "degrees": m.degrees(2.0), "fabs": m.fabs(x), "fabs_int": m.fabs(i),
        "rint": m.rint(x), "rint_int": m.rint(i), "signbit": m.signbit(x),
        "signbit_int": m.signbit(i), "copysign": m.copysign(x, y),
        "copysign_int": m.copysign(i, -0.0),
        "heaviside": m.heaviside(x, 0.5), "heaviside_arr": m.heaviside(i, y[:2]),
        "fmax": m.fmax(x, y), "fmin": m.fmin(x, y), "fmax_int": m.fmax(i, j),
        "fmin_scalar": m.fmin(x, 1.0),
        "isposinf": m.isposinf(x), "isneginf": m.isneginf(x), "isneginf_int": m.isneginf(i),
        "sinc": m.sinc(x), "sinc_int": m.sinc(i % 3),
        # the complex helpers (complex inputs: tests/frontend/test_complex.py)
        "sort_complex": [m.sort_complex(x + 2j * y), m.sort_complex(i)],
        "real": m.real(x), "imag": m.imag(x), "imag_int": m.imag(i), "conj": m.conj(i),
        "conjugate": m.conjugate(x), "angle": m.angle(x), "angle_int": m.angle(i),
        "angle_deg": m.angle(row, deg=True), "isreal": m.isreal(x), "iscomplex": m.iscomplex(i),
        "isobj": m.asarray([m.isrealobj(x), m.iscomplexobj(i)]),
        # float decomposition
        "frexp": m.frexp(x), "frexp_int": m.frexp(i), "frexp_unit": m.frexp(unit * 1e5),
        "ldexp": m.ldexp(mant, k[0]), "ldexp_mixed": m.ldexp(x[:2], k),
        "spacing": m.spacing(x), "spacing_int": m.spacing(i),
        "spacing_f16": m.spacing((unit * 4).astype(np.float16)),
        "ldexp_int": m.ldexp(i, 3), "modf": m.modf(x), "modf_int": m.modf(i),
        "divmod": m.divmod(i, j + (j == 0)), "divmod_float": m.divmod(unit * 7, unit[::-1] + 2),
        # integers
        "bitwise_count": m.bitwise_count(i), "bitwise_count_u8": m.bitwise_count(
            (i % 256).astype(np.uint8)), "bitwise_count_i16": m.bitwise_count(i.astype(np.int16)),
        "gcd": m.gcd(i, j), "gcd_scalar": m.gcd(i, 6), "lcm": m.lcm(i % 1000, j),
        # Bessel
        "i0": m.i0(x[:, :4]), "i0_wide": m.i0(unit * 30), "i0_int": m.i0(i % 5),
    }


def _args():
    return X, Y, UNIT, INTS, INTS2, EXPS




def test_table_matches_jax_interpreted_and_compiled():
    check_table(_table, jnp, anp, _args(), 2e-6, 1e-6)


def test_python_scalars_stay_weak_and_predicates_are_static():
    assert int(anp.gcd(12, 18)) == 6 and anp.gcd(np.array([4], np.int16), 6).dtype == np.int16
    assert anp.deg2rad(anp.ones(2, anp.float16)).dtype == np.float16
    assert anp.isrealobj(np.ones(2)) and not anp.iscomplexobj(np.ones(2))


def _grad_table(m, x, y):
    """Float functions JAX differentiates, on finite inputs away from their kinks."""
    return {
        "acos": m.acos(x * 0.3), "atan2": m.atan2(x, y), "pow": m.pow(m.abs(x) + 1, y),
        "deg2rad": m.deg2rad(x), "rad2deg": m.rad2deg(y), "fabs": m.fabs(x),
        "copysign": m.copysign(x, y), "fmax": m.fmax(x, y), "fmin": m.fmin(x, y),
        "sinc": m.sinc(m.concatenate([x[:1] * 0, x[1:]])), "angle": m.angle(x) * x,
        "modf": m.modf(x * 3)[0], "modf_whole": m.modf(x * 3)[1] * y, "ldexp": m.ldexp(x, 3),
        "frexp": m.frexp(x)[0],
        "heaviside": m.heaviside(x, y), "rint": m.rint(x) * y, "real": m.real(x) * m.conj(y),
        "i0": m.i0(x * 3),
    }


def test_grads_match_jax():
    rng = np.random.default_rng(4)
    x, y = (rng.normal(size=(3, 4)).astype(np.float32) for _ in range(2))
    check_grads(_grad_table, jnp, anp, x, y)


@pytest.mark.parametrize("call", [
    lambda: anp.gcd(np.ones(2, np.float32), 2), lambda: anp.bitwise_count(np.ones(2)),
    lambda: anp.ldexp(np.ones(2, np.float32), 1.5),
], ids=["gcd", "bitwise_count", "ldexp"])
def test_integer_only_arguments_reject_floats(call):
    with pytest.raises(TracingError, match="integer"):
        call()
