"""Edge values and empty arrays, checked against JAX, for every elementwise, reduction,
cumulative, sort and search function of aotc.numpy, aotc.lax and aotc.nn.

Three tables (one per facade), each written once against a namespace `m`, are run with JAX
and with aotc (interpreted, and one IREE compile per table, by helpers.check_table). Their
inputs hold 0, -0.0, +-inf, NaN, the smallest normal float32 and huge values (EDGE), integer
extremes (EDGE_INT) and empty arrays of shapes (0,) and (0, 3). A call is an "edge row" when
its arguments are EDGE, MODERATE, OTHER (NaN, +-inf, -0.0 and 0 each) or the integer ones (0
and both extremes), and an "empty row" when its arguments are empty; which names have them is
derived from the rows the tables run (test_edge_inputs_hold_every_edge_value checks the inputs).
Every other public name is in EXEMPT or DIFFERS_FROM_JAX with its reason; a name whose empty
variants JAX itself rejects (max of an empty array, ...) gets no empty row: found with
jax.eval_shape, not kept in a list.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_table

import aotc.lax as alax
import aotc.nn as ann
import aotc.numpy as anp

jax.config.update("jax_platforms", "cpu")

TINY = np.finfo(np.float32).tiny  # smallest normal: subnormals flush to zero on XLA's CPU
HUGE = np.float32(3e38)
EDGE = np.array([[0.0, -0.0, np.inf, -np.inf, np.nan, 1.0],
                 [TINY, -TINY, HUGE, -HUGE, 0.5, -2.5],
                 [-1.0, 2.0, 0.0, 3.0, -0.0, np.nan],
                 [7.0, -0.5, 1.5, -np.inf, np.inf, 0.25]], np.float32)
# the same pattern with the huge values made moderate: trigonometric functions of 3e38 are
# argument-reduction noise that no two libraries agree on
MODERATE = np.where(np.abs(EDGE) == HUGE, np.sign(EDGE) * 3.0, EDGE).astype(np.float32)
OTHER = np.roll(EDGE, 1, axis=1)  # second operand: every edge value meets every other
I32 = np.iinfo(np.int32)
EDGE_INT = np.array([[0, -1, 1, I32.min, I32.max, 7],
                     [-7, 3, 0, 2, -2, 31]], np.int32)
OTHER_INT = np.array([[1, 0, -1, 2, 3, I32.max],
                      [5, -3, 31, 0, 1, I32.min]], np.int32)
E0 = np.zeros((0,), np.float32)
E03 = np.zeros((0, 3), np.float32)
E0_INT = np.zeros((0,), np.int32)


def _args():
    return [EDGE, MODERATE, OTHER, EDGE_INT, OTHER_INT, E0, E03, E0_INT]

# ---- rows: (name, call(m, *arrays), edge argument names, empty argument-name tuples) ----------

UNARY_EMPTY = (("e0",), ("e03",))
BINARY_EMPTY = (("e0", "e0"), ("e03", "e03"))


def _unary(names, edge="x"):
    return [(n, lambda m, a, n=n: getattr(m, n)(a), (edge,), UNARY_EMPTY) for n in names]


def _binary(names, edge=("x", "y"), empty=BINARY_EMPTY):
    return [(n, lambda m, a, b, n=n: getattr(m, n)(a, b), edge, empty) for n in names]


def _reduction(names, **kw):
    """Over all entries and along axis 1; empties: (0,) whole, (0, 3) along both axes."""
    def call(m, a, n, axis):
        return getattr(m, n)(a, axis=axis, **kw)

    return [row for n in names for row in (
        (n, lambda m, a, n=n: [call(m, a, n, None), call(m, a, n, 1)], ("x",), UNARY_EMPTY),
        (n, lambda m, a, n=n: call(m, a, n, 0), ("x",), (("e03",),)),
        (n, lambda m, a, n=n: call(m, a, n, 1), ("x",), (("e03",),)))]


NUMPY_ROWS = [
    # elementwise, one argument
    *_unary(["abs", "absolute", "fabs", "negative", "positive", "sign", "signbit", "square",
             "sqrt", "cbrt", "exp", "exp2", "expm1", "log", "log10", "log1p", "log2",
             "reciprocal", "ceil", "floor", "trunc", "rint", "round", "around", "isfinite",
             "isinf", "isnan", "isneginf", "isposinf", "isreal", "iscomplex", "real", "imag",
             "conj", "conjugate", "angle", "nan_to_num", "deg2rad", "degrees", "rad2deg",
             "radians", "logical_not", "spacing", "frexp", "modf", "tanh", "arctan", "atan",
             "arcsinh", "asinh", "arccosh", "acosh", "arctanh", "atanh", "arcsin", "asin",
             "arccos", "acos", "cosh", "sinh", "i0"]),
    *_unary(["sin", "cos", "tan", "sinc"], edge="mod"),
    # elementwise, two arguments
    *_binary(["add", "subtract", "multiply", "divide", "true_divide", "floor_divide",
              "remainder", "mod", "fmod", "divmod", "power", "pow", "float_power", "maximum",
              "minimum", "fmax", "fmin", "equal", "not_equal", "less", "less_equal", "greater",
              "greater_equal", "logical_and", "logical_or", "logical_xor", "arctan2", "atan2",
              "hypot", "copysign", "heaviside", "logaddexp", "logaddexp2", "isclose",
              "allclose", "array_equal", "array_equiv"]),
    ("where", lambda m, c, a, b: m.where(c > 0, a, b), ("x", "x", "y"), (("e0",) * 3,
                                                                          ("e03",) * 3)),
    ("clip", lambda m, a: m.clip(a, -1.0, 2.0), ("x",), UNARY_EMPTY),
    ("astype", lambda m, a: m.astype(a, np.float16), ("x",), UNARY_EMPTY),  # huge -> inf
    ("ldexp", lambda m, a, i: m.ldexp(a[:2], m.clip(i, -200, 200)), ("x", "i"),
     (("e0", "e0i"),)),
    # integers: wrapping, shifts past the width (gcd/lcm: see EXEMPT)
    *_binary(["bitwise_and", "bitwise_or", "bitwise_xor", "add", "subtract", "multiply",
              "maximum"], ("i", "j"), (("e0i", "e0i"),)),
    *_binary(["left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift"],
             ("i", "j"), (("e0i", "e0i"),)),
    *[(n, lambda m, i, n=n: getattr(m, n)(i), ("i",), (("e0i",),))
      for n in ("invert", "bitwise_not", "bitwise_invert", "bitwise_count", "abs", "negative",
                "sign", "square")],
    # reductions
    *_reduction(["sum", "prod", "mean", "max", "min", "amax", "amin", "all", "any", "argmax",
                 "argmin", "nanargmax", "nanargmin", "std", "var", "median", "ptp", "nanmax",
                 "nanmin", "nansum", "nanprod", "nanmean", "nanstd", "nanvar", "nanmedian",
                 "count_nonzero", "average"]),
    *[(n, lambda m, a, n=n: [getattr(m, n)(a, 30.0 if "percent" in n else 0.3),
                             getattr(m, n)(a, 70.0 if "percent" in n else 0.7, axis=1)],
       ("x",), UNARY_EMPTY) for n in ("percentile", "quantile", "nanpercentile", "nanquantile")],
    ("trace", lambda m, a: m.trace(a), ("x",), (("e03",),)),
    # cumulative
    *[(n, lambda m, a, n=n: [getattr(m, n)(a, axis=1), getattr(m, n)(a, axis=0)], ("x",),
       (("e03",),)) for n in ("cumsum", "cumprod", "cumulative_sum", "cumulative_prod",
                              "nancumsum", "nancumprod", "diff")],
    *[(n, lambda m, a, n=n: getattr(m, n)(a), ("x",), (("e0",),))
      for n in ("cumsum", "cumprod", "nancumsum", "nancumprod", "ediff1d")],
    ("gradient", lambda m, a: m.gradient(a, axis=1), ("x",), (("e03",),)),
    ("unwrap", lambda m, a: m.unwrap(a), ("mod",), (("e0",),)),
    ("trapezoid", lambda m, a: m.trapezoid(a), ("x",), (("e03",),)),
    # sorting
    *[(n, lambda m, a, n=n: [getattr(m, n)(a, axis=1), getattr(m, n)(a, axis=0)], ("x",),
       (("e03",),)) for n in ("sort", "argsort")],
    *[(n, lambda m, a, n=n: getattr(m, n)(a), ("x",), (("e0",),)) for n in ("sort", "argsort")],
    ("lexsort", lambda m, a: m.lexsort((a[0], a[1])), ("x",), (("e03",),)),
    ("partition", lambda m, a: m.sort(m.partition(a, 2, axis=1), axis=1), ("x",),
     (("e03",),)),
    ("argpartition", lambda m, a: m.sort(m.take_along_axis(a, m.argpartition(a, 2, axis=1),
                                                           axis=1), axis=1), ("x",),
     (("e03",),)),
    *[(n, lambda m, a, n=n: getattr(m, n)(a, size=30, fill_value=0.0), ("x",), (("e0",),))
      for n in ("unique", "unique_values")],
    ("unique_counts", lambda m, a: tuple(m.unique_counts(a, size=30, fill_value=0.0)), ("x",),
     (("e0",),)),
    ("unique_inverse", lambda m, a: tuple(m.unique_inverse(a, size=30, fill_value=0.0)),
     ("x",), (("e0",),)),
    ("unique_all", lambda m, a: tuple(m.unique_all(a, size=30, fill_value=0.0)), ("x",),
     (("e0",),)),
    # searching and sets
    ("searchsorted", lambda m, a, b: [m.searchsorted(m.sort(a.ravel()), b),
                                      m.searchsorted(m.sort(a.ravel()), b, side="right")],
     ("x", "y"), (("e0", "e0"), ("e0", "y"))),
    *[(n, lambda m, a, n=n: getattr(m, n)(a, size=30), ("x",), (("e0",), ("e03",)))
      for n in ("nonzero", "flatnonzero", "argwhere")],
    ("select", lambda m, a, b: m.select([a > 0, b < 1], [a, b], -1.0), ("x", "y"),
     BINARY_EMPTY),
    ("digitize", lambda m, a: m.digitize(a, np.array([-1.0, 0.0, 1.0], np.float32)), ("x",),
     UNARY_EMPTY),
    ("isin", lambda m, a, b: m.isin(a, b), ("x", "y"), (("e0", "y"), ("x", "e0"))),
    *[(n, lambda m, a, b, n=n: getattr(m, n)(a, b, size=40, fill_value=0.0), ("x", "y"),
       (("e0", "y"), ("e0", "e0"))) for n in ("union1d", "intersect1d", "setdiff1d",
                                              "setxor1d")],
    ("interp", lambda m, a: m.interp(a, np.array([-1.0, 0.0, 2.0], np.float32),
                                     np.array([5.0, -1.0, 3.0], np.float32)), ("mod",),
     UNARY_EMPTY),
    ("extract", lambda m, a: m.extract(a > 0, a, size=20), ("x",), (("e0",),)),
    ("compress", lambda m, a: m.compress(a[:, 0] > 0, a, axis=0, size=4), ("x",),
     (("e03",),)),
]

ARG_NAMES = ("x", "mod", "y", "i", "j", "e0", "e03", "e0i")
ORACLES = {"numpy": jnp, "lax": jax.lax, "nn": jax.nn}


@functools.cache
def _jax_accepts(facade: str, row: int, variant: int) -> bool:
    """JAX computes the row's empty variant (it raises, e.g., for max of an empty array)."""
    _, call, _, empties = ROWS[facade][row]
    arrays = dict(zip(ARG_NAMES, _args()))
    try:  # abstract evaluation: JAX's shape checks without running anything
        jax.eval_shape(lambda *a: call(ORACLES[facade], *a),
                       *[jnp.asarray(arrays[a]) for a in empties[variant]])
    except (ValueError, TypeError, IndexError, AssertionError):
        return False
    return True


# Names whose edge rows differ from JAX, left out of the tables (so they count as having no
# edge row) with what differs; each is listed in the report of issue 14.
_EMPTY_SETS = ("of an empty array: aotc raises a TracingError where JAX returns an empty (or "
               "fill_value-padded) result")
DIFFERS_FROM_JAX = {
    "numpy": {
        "cbrt": "IREE's cbrt(+-inf) is NaN (JAX: +-inf)",
        "power": "IREE's stablehlo.power: pow(x, +-0.0) is NaN for x = -0.0, +-inf, NaN (JAX: 1)",
        "arctan2": "IREE's atan2(+-inf, +-inf) is NaN (JAX: +-pi/4, +-3pi/4)",
        "pow": "IREE's stablehlo.power, as numpy's power",
        "float_power": "IREE's stablehlo.power, as numpy's power",
        "atan2": "IREE's atan2, as numpy's arctan2",
        **dict.fromkeys(("argmax", "argmin", "nanargmax", "nanargmin"),
                        "an empty (0, 3) input along axis 1: aotc's interpreter fails to reshape "
                        "a size-0 array (JAX returns an empty result)"),
        **dict.fromkeys(("median", "nanmedian", "argpartition"),
                        "an empty input: aotc builds a gather with a slice past the empty axis "
                        "(invalid IR)"),
        "trace": "trace with an inf and a -inf on the diagonal's edge rows: aotc NaN, JAX -inf "
                 "(summation order)",
        **dict.fromkeys(("cumsum", "cumulative_sum", "nancumsum"),
                        "one element differs by a subnormal (1.2e-38): aotc's scan adds in a "
                        "different order"),
        **dict.fromkeys(("cumprod", "cumulative_prod", "nancumprod"),
                        "0 * inf order: aotc's scan multiplies in a different order, NaN where "
                        "JAX gets 0"),
        "trapezoid": "with inf/nan edge inputs one entry is -1.0 where JAX gives -0.75 "
                     "(untriaged)",
        **dict.fromkeys(("unique", "unique_values", "unique_counts", "unique_inverse",
                         "unique_all", "union1d", "intersect1d", "setdiff1d", "setxor1d"),
                        _EMPTY_SETS),
        **dict.fromkeys(("nonzero", "flatnonzero", "argwhere"),
                        "an empty input: aotc divides by the empty axis's size "
                        "(ZeroDivisionError) where JAX returns empty indices"),
    },
    "lax": {
        "zeta": "zeta(-0.0, 0.0): JAX gives inf, aotc NaN (aotc's zeta is NaN for s <= 1)",
        "polygamma": "polygamma(1, x) at x = 0, -0.0, negative integers and -inf: JAX gives inf "
                     "(NaN at -inf), aotc NaN (0 at +inf where JAX has NaN)",
        "reduce_precision": "+-inf becomes NaN and -0.0 becomes 0.0: the straight-through "
                            "x + stop_gradient(rounded - x) computes inf - inf",
        "digamma": "IREE's chlo.digamma lowering: digamma(+-0.0) is -inf (JAX: NaN) and "
                   "digamma(-TINY) is -5.0e7 (JAX: 8.5e37); the interpreter agrees with JAX",
        "pow": "IREE's stablehlo.power: pow(x, +-0.0) is NaN for x = -0.0, +-inf, NaN "
               "(JAX: 1) and pow(-0.0, y) NaN",
        "atan2": "IREE's atan2(+-inf, +-inf) is NaN (JAX: +-pi/4, +-3pi/4)",
        "cbrt": "IREE's cbrt(+-inf) is NaN (JAX: +-inf), and cbrt(1) = 1.0000001",
        "cumprod": "the Hillis-Steele scan multiplies in another order than XLA's sequential "
                   "one: TINY * -TINY * HUGE * -HUGE is 0 in JAX, (-0) * (-inf) = NaN in aotc",
    },
    "nn": {},
}


def _table_of(facade: str, rows: range | None = None):
    def table(m, *args):
        arrays = dict(zip(ARG_NAMES, args))
        out = {}
        for k, (name, call, edge, empties) in enumerate(ROWS[facade]):
            if name in DIFFERS_FROM_JAX[facade] or (rows is not None and k not in rows):
                continue
            out[f"{k}:{name}"] = call(m, *[arrays[a] for a in edge])
            for v, names in enumerate(empties):
                if _jax_accepts(facade, k, v):
                    out[f"{k}:{name}/empty{v}"] = call(m, *[arrays[a] for a in names])
        return out

    return table


LAX_ROWS = [
    *_unary(["abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "ceil", "exp",
             "exp2", "expm1", "floor", "is_finite", "log", "log1p", "logistic", "neg",
             "reciprocal", "round", "rsqrt", "sign", "sqrt", "square", "tanh", "cosh", "sinh",
             "erf", "erfc", "erf_inv", "lgamma", "digamma", "conj",
             "stop_gradient", "bessel_i0e", "bessel_i1e"]),
    *_unary(["sin", "cos", "tan"], edge="mod"),
    *_binary(["add", "sub", "mul", "div", "rem", "pow", "max", "min", "atan2", "nextafter",
              "eq", "ne", "lt", "le", "gt", "ge", "zeta", "random_gamma_grad"]),
    *_binary(["bitwise_and", "bitwise_or", "bitwise_xor", "shift_left",
              "shift_right_arithmetic", "shift_right_logical", "add", "mul", "max"],
             ("i", "j"), (("e0i", "e0i"),)),
    *[(n, lambda m, i, n=n: getattr(m, n)(i), ("i",), (("e0i",),))
      for n in ("bitwise_not", "clz", "population_count", "abs", "neg", "sign")],
    ("integer_pow", lambda m, a: [m.integer_pow(a, 3), m.integer_pow(a, -2)], ("x",),
     UNARY_EMPTY),
    ("polygamma", lambda m, a: m.polygamma(m.full_like(a, 1.0), a), ("x",), UNARY_EMPTY),
    ("clamp", lambda m, a: m.clamp(np.float32(-1.0), a, np.float32(2.0)), ("x",), UNARY_EMPTY),
    ("select", lambda m, a, b: m.select(a > b, a, b), ("x", "y"), BINARY_EMPTY),
    ("select_n", lambda m, a, b: m.select_n(a > b, a, b), ("x", "y"), BINARY_EMPTY),
    ("reduce_precision", lambda m, a: m.reduce_precision(a, exponent_bits=5, mantissa_bits=10),
     ("x",), UNARY_EMPTY),
    ("convert_element_type", lambda m, a: m.convert_element_type(a, np.float16), ("x",),
     UNARY_EMPTY),
    # reductions
    *[(n, lambda m, a, n=n: [getattr(m, n)(a, (0, 1)), getattr(m, n)(a, (1,))], ("x",),
       (("e03",),)) for n in ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min")],
    *[(n, lambda m, i, n=n: getattr(m, n)(i, (0,)), ("i",), (("e0i",),)) for n in (
        "reduce_and", "reduce_or", "reduce_xor")],
    *[(n, lambda m, a, n=n: [getattr(m, n)(a, 1, np.int32), getattr(m, n)(a, 0, np.int32)],
       ("x",), (("e03",),)) for n in ("argmax", "argmin")],
    # cumulative
    *[(n, lambda m, a, n=n: [getattr(m, n)(a, axis=1), getattr(m, n)(a, axis=0, reverse=True)],
       ("x",), (("e03",),)) for n in ("cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp")],
    # sorting
    ("sort", lambda m, a: [m.sort(a, dimension=1), m.sort(a, dimension=0)], ("x",),
     (("e03",),)),
    ("sort", lambda m, a, b: m.sort((a, b), dimension=1, num_keys=2), ("x", "y"),
     (("e03", "e03"),)),
    ("sort_key_val", lambda m, a, b: m.sort_key_val(a, b, dimension=1), ("x", "y"),
     (("e03", "e03"),)),
    *[(n, lambda m, a, n=n: getattr(m, n)(a, 3), ("x",), (("e03",),)) for n in (
        "top_k", "approx_max_k", "approx_min_k")],
    ("associative_scan", lambda m, a: m.associative_scan(lambda u, v: u + v, a, axis=1),
     ("x",), (("e03",),)),
    ("mulhi", lambda m, i, j: m.mulhi(i, j), ("i", "j"), (("e0i", "e0i"),)),
]

NN_ROWS = [
    *_unary(["celu", "elu", "gelu", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
             "identity", "leaky_relu", "log_sigmoid", "mish", "relu", "relu6", "selu",
             "sigmoid", "silu", "soft_sign", "softplus", "sparse_plus", "sparse_sigmoid",
             "squareplus", "swish", "tanh"]),
    ("log1mexp", lambda m, a: m.log1mexp(a), ("x",), UNARY_EMPTY),
    # empty: along the (0, 3) array's axis 1; over its empty axis 0 aotc raises "max of an
    # empty axis has no identity" where JAX returns an empty result (issue 14 report)
    *[(n, lambda m, a, n=n: getattr(m, n)(a, axis=1), ("x",), (("e03",),))
      for n in ("softmax", "log_softmax", "logsumexp", "standardize")],
    *[(n, lambda m, a, n=n: getattr(m, n)(a, axis=0), ("x",), ())
      for n in ("softmax", "log_softmax", "logsumexp", "standardize")],
    ("logmeanexp", lambda m, a: m.logmeanexp(a, axis=1), ("x",), (("e03",),)),
    ("logmeanexp", lambda m, a: m.logmeanexp(a), ("x",), ()),
    ("glu", lambda m, a: m.glu(a, axis=1), ("x",), (("e03",),)),
    ("one_hot", lambda m, i: m.one_hot(i, 4), ("i",), (("e0i",),)),
]

ROWS = {"numpy": NUMPY_ROWS, "lax": LAX_ROWS, "nn": NN_ROWS}


# ---- the checks: values against JAX (interpreter and one IREE compile per table) ------------


# One IREE compile per CHUNK rows: IREE's compile time grows faster than the program, and the
# whole numpy table in one program took over 7 minutes.
CHUNK = 40
NAMESPACES = {"numpy": anp, "lax": alax, "nn": ann}


@pytest.mark.parametrize("facade, start", [(f, start) for f in ("numpy", "lax", "nn")
                                           for start in range(0, len(ROWS[f]), CHUNK)])
def test_edge_rows(facade, start):
    check_table(_table_of(facade, range(start, start + CHUNK)), ORACLES[facade],
                NAMESPACES[facade], _args())


# ---- which names have rows ---------------------------------------------------------------------


def _covered(facade: str) -> tuple[set, set]:
    """(names with an edge row, names with an empty row) in the tables as check_table runs them:
    the rows not left out, and their empty variants that JAX accepts."""
    edge, empty = set(), set()
    for k, (name, _, edge_args, empties) in enumerate(ROWS[facade]):
        if name in DIFFERS_FROM_JAX[facade]:
            continue
        if any(a in ("x", "mod", "y", "i", "j") for a in edge_args):
            edge.add(name)
        if any(_jax_accepts(facade, k, v) for v in range(len(empties))):
            empty.add(name)
    return edge, empty


def test_edge_inputs_hold_every_edge_value():
    for a in (EDGE, MODERATE, OTHER):
        assert np.isnan(a).any() and np.isposinf(a).any() and np.isneginf(a).any()
        assert ((a == 0) & np.signbit(a)).any() and ((a == 0) & ~np.signbit(a)).any()
    assert (np.abs(EDGE) == TINY).any() and (np.abs(EDGE) == HUGE).any()
    for a in (EDGE_INT, OTHER_INT):
        assert {0, I32.min, I32.max} <= set(a.ravel().tolist())


# ---- names without rows, and why ---------------------------------------------------------------

_CREATION = "creates values from shapes, scalars or ranges, not from an input array"
_LAYOUT = ("moves, copies or selects entries without computing on their values; edge values "
           "pass through unchanged (test_numpy_spec / test_numpy_manipulation check the layout)")
_STATIC = "returns Python values, dtypes or shapes, not arrays"
_PRODUCT = ("a matrix/tensor product or convolution (sums of products, not elementwise); "
            "IEEE specials propagate through its adds and multiplies, checked in its own tests")
_HIGHER = "takes a user function or control flow; its rows are the rows of what it calls"
_IO = "file, buffer or printing I/O"
_POLY = "polynomial helpers built on convolve and arithmetic, with rows in test_numpy_more"
_INDEX = "index bookkeeping on integer shapes and positions (no float values to edge-test)"


def _exempt(reason: str, names: str) -> dict:
    return dict.fromkeys(names.split(), reason)


EXEMPT = {
    "numpy": {
        **_exempt("jnp.gcd/lcm never return on INT_MIN (JAX's Euclid loop; |INT_MIN| "
                  "overflows), so JAX cannot be the oracle at integer extremes; their values are "
                  "checked in the numpy spec tables", "gcd lcm"),
        **_exempt(_CREATION, "arange array asarray empty empty_like eye full full_like geomspace "
                  "identity linspace logspace ones ones_like tri zeros zeros_like fromfunction "
                  "vander"),
        **_exempt(_LAYOUT, "append array_split atleast_1d atleast_2d atleast_3d block "
                  "broadcast_arrays broadcast_to choose column_stack concat concatenate copy "
                  "delete diag diagflat diagonal dsplit dstack expand_dims fill_diagonal flip "
                  "fliplr flipud hsplit hstack insert matrix_transpose moveaxis pad permute_dims "
                  "place put put_along_axis ravel repeat reshape resize roll rollaxis rot90 "
                  "split squeeze stack swapaxes take take_along_axis tile transpose tril triu "
                  "unstack vsplit vstack trim_zeros"),
        **_exempt(_STATIC, "broadcast_shapes can_cast iscomplexobj isdtype isrealobj isscalar "
                  "issubdtype iterable ndim promote_types result_type shape size "
                  "get_printoptions printoptions set_printoptions einsum_path"),
        **_exempt(_PRODUCT, "convolve correlate cross dot einsum inner kron matmul matvec "
                  "outer tensordot vdot vecdot vecmat corrcoef cov"),
        **_exempt(_HIGHER, "apply_along_axis apply_over_axes piecewise vectorize"),
        **_exempt(_IO, "array_repr array_str frombuffer fromfile fromiter fromstring load save "
                  "savez"),
        **_exempt(_POLY, "poly polyadd polyder polyint polymul polysub polyval"),
        **_exempt(_INDEX, "diag_indices diag_indices_from indices ix_ mask_indices meshgrid "
                  "ravel_multi_index tril_indices tril_indices_from triu_indices "
                  "triu_indices_from unravel_index packbits unpackbits"),
        "cummax": "no jax.numpy counterpart (no oracle); lax.cummax's rows check the same scan",
        "cummin": "no jax.numpy counterpart (no oracle); lax.cummin's rows check the same scan",
        "fix": "alias of trunc (which has rows); jax.numpy.fix was removed in JAX 0.10",
        "bincount": "counts non-negative integers: float edge values are not valid input",
        "histogram": "bins from the data's min/max: with +-inf or NaN the bin edges are NaN in "
                     "numpy and JAX alike (no meaningful row); finite rows in test_numpy_more",
        "histogram_bin_edges": "as histogram: the edges of +-inf/NaN data are not finite",
        "sort_complex": "complex result: belongs with the complex-number tables (test_complex)",
    },
    "lax": {
        **_exempt(_LAYOUT, "broadcast broadcast_in_dim broadcast_like broadcast_to_rank collapse "
                  "concatenate dynamic_index_in_dim dynamic_slice dynamic_slice_in_dim "
                  "dynamic_update_index_in_dim dynamic_update_slice dynamic_update_slice_in_dim "
                  "expand_dims index_in_dim pad reshape rev slice slice_in_dim split squeeze "
                  "stack tile transpose unstack optimization_barrier bitcast_convert_type"),
        **_exempt(_CREATION, "broadcasted_iota full full_like iota complex"),
        **_exempt(_STATIC, "broadcast_shapes conv_dimension_numbers conv_general_permutations "
                  "conv_general_shape_tuple conv_shape_tuple conv_transpose_shape_tuple "
                  "padtype_to_pads reduce_window_shape_tuple"),
        **_exempt(_PRODUCT, "batch_matmul conv conv_general_dilated conv_general_dilated_patches "
                  "conv_transpose conv_with_general_padding dot dot_general"),
        **_exempt(_HIGHER, "cond fori_loop map scan switch while_loop reduce reduce_window"),
        "max_pool": "windowed max built on reduce_window (no jax.lax counterpart)",
        "avg_pool": "windowed mean built on reduce_window (no jax.lax counterpart)",
        **_exempt("collectives act only inside aotc.shard_map / pmap / vmap(axis_name=), "
                  "over a mapped axis; tests/frontend/test_collectives.py checks each against "
                  "numpy and JAX", "all_gather all_to_all axis_index pmax pmean pmin ppermute "
                  "psum psum_scatter"),
        "real": "complex input only (JAX rejects float32); test_complex checks it",
        "imag": "complex input only (JAX rejects float32); test_complex checks it",
    },
    "nn": {
        "normalize": "alias of standardize (which has rows); jax.nn no longer has normalize",
        "dot_product_attention": _PRODUCT,
    },
}
def _public(facade: str) -> set:
    module = {"numpy": anp, "lax": alax, "nn": ann}[facade]
    return {n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
            and not isinstance(getattr(module, n), type)
            and type(getattr(module, n)).__name__ != "IndexTrick"}


def _rejected_by_jax(facade: str) -> set:
    """Names every one of whose empty variants JAX rejects (so aotc has no oracle there)."""
    accepted, tried = set(), set()
    for k, (name, _, _, empties) in enumerate(ROWS[facade]):
        if name in DIFFERS_FROM_JAX[facade]:
            continue
        for v in range(len(empties)):
            tried.add(name)
            if _jax_accepts(facade, k, v):
                accepted.add(name)
    return tried - accepted


@pytest.mark.parametrize("facade", ["numpy", "lax", "nn"])
def test_every_name_has_edge_and_empty_rows_or_a_reason(facade):
    public, exempt = _public(facade), EXEMPT[facade]
    edge, empty = (names & public for names in _covered(facade))
    missing = sorted(public - edge - set(exempt) - set(DIFFERS_FROM_JAX[facade]))
    assert not missing, f"aotc.{facade}: add edge rows (or EXEMPT entries) for {missing}"
    no_empty = sorted(edge - empty - _rejected_by_jax(facade))
    assert not no_empty, f"aotc.{facade}: add empty-array rows for {no_empty}"
    stale = sorted(set(exempt) & edge)
    assert not stale, f"aotc.{facade}: these have edge rows now; drop them from EXEMPT: {stale}"
    unknown = sorted(set(exempt) - public)
    assert not unknown, f"aotc.{facade}: EXEMPT names that are not public: {unknown}"
    print(f"aotc.{facade}: {len(public)} names, {len(edge)} with edge rows, {len(empty)} with "
          f"empty rows, {len(_rejected_by_jax(facade) & edge)} empty rejected by JAX, "
          f"{len(exempt)} exempt")
