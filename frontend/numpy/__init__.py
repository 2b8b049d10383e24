"""`aotc.numpy`: the NumPy API, traced into StableHLO with JAX's semantics.

    import aotc, aotc.numpy as anp

    def predict(w, x):
        return anp.tanh(x @ w).sum(axis=-1)

    aotc.jit(predict)(w, x)
"""

import math as _math

import numpy as _np

from aotc.frontend.core import dtypes as _dtypes
from aotc.frontend.core.missing import missing_attribute as _missing_attribute
from aotc.frontend.numpy.arrays import *  # noqa: F403
from aotc.frontend.numpy.core import asarray, astype
from aotc.frontend.numpy.creation import (
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    identity,
    linspace,
    ones,
    ones_like,
    tri,
    tril,
    triu,
    zeros,
    zeros_like,
)
from aotc.frontend.numpy.cumulative import *  # noqa: F403
from aotc.frontend.numpy.dtypes_api import *  # noqa: F403
from aotc.frontend.numpy.elementwise_more import *  # noqa: F403
from aotc.frontend.numpy.floating import *  # noqa: F403
from aotc.frontend.numpy.index_tricks import *  # noqa: F403
from aotc.frontend.numpy.indexing import *  # noqa: F403
from aotc.frontend.numpy.manipulation import *  # noqa: F403
from aotc.frontend.numpy.math import (
    abs,
    absolute,
    add,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    around,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cbrt,
    ceil,
    clip,
    cos,
    cosh,
    divide,
    equal,
    exp,
    exp2,
    expm1,
    fix,
    float_power,
    floor,
    floor_divide,
    fmod,
    greater,
    greater_equal,
    hypot,
    invert,
    isfinite,
    isinf,
    isnan,
    left_shift,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    positive,
    power,
    reciprocal,
    remainder,
    right_shift,
    round,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    true_divide,
    trunc,
    where,
)
from aotc.frontend.numpy.numerics import *  # noqa: F403
from aotc.frontend.numpy.polynomial import *  # noqa: F403
from aotc.frontend.numpy.products import dot, einsum, inner, matmul, outer, tensordot, trace, vdot
from aotc.frontend.numpy.rearranging import *  # noqa: F403  (cumulative ops, sorting, tile, ...)
from aotc.frontend.numpy.reductions import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from aotc.frontend.numpy.searching import *  # noqa: F403
from aotc.frontend.numpy.sets import *  # noqa: F403
from aotc.frontend.numpy.shape import (
    atleast_1d,
    atleast_2d,
    broadcast_to,
    concatenate,
    expand_dims,
    flip,
    fliplr,
    flipud,
    hstack,
    moveaxis,
    ravel,
    reshape,
    split,
    squeeze,
    stack,
    swapaxes,
    transpose,
    vstack,
)
from aotc.frontend.numpy.statistics import *  # noqa: F403
from aotc.frontend.trace.tracer import Tracer as ndarray

array = asarray
pi = _math.pi
e = _math.e
inf = float("inf")
nan = float("nan")
newaxis = None

float16, float32, float64 = _np.float16, _np.float32, _np.float64
bfloat16 = _dtypes.bfloat16.type
int8, int16, int32, int64 = _np.int8, _np.int16, _np.int32, _np.int64
uint8, uint16, uint32, uint64 = _np.uint8, _np.uint16, _np.uint32, _np.uint64
bool_ = _np.bool_
complex64, complex128 = _np.complex64, _np.complex128  # complex128 computes as complex64
dtype = _np.dtype
promote_types = _dtypes.promote_types


def result_type(*args):
    """JAX's result dtype of arrays, dtypes and Python scalars."""
    typed = []
    for a in args:
        if isinstance(a, ndarray):
            typed.append((a.dtype, a.weak_type))
        elif isinstance(a, (bool, int, float, complex)):
            typed.append((_dtypes.python_scalar_dtype(a), not isinstance(a, bool)))
        elif isinstance(a, _np.ndarray):
            typed.append((_dtypes.canonical_default(a.dtype), False))
        else:
            typed.append((_dtypes.canonicalize(a), False))
    return _dtypes.promote(*typed)[0]


def shape(x):
    """x's shape as a tuple (static), as numpy.shape."""
    return x.shape if isinstance(x, ndarray) else _np.shape(x)


def ndim(x):
    """x's number of dimensions, as numpy.ndim."""
    return x.ndim if isinstance(x, ndarray) else _np.ndim(x)


def size(x):
    """x's number of elements, as numpy.size."""
    return x.size if isinstance(x, ndarray) else _np.size(x)


_INSTEAD = {
    "polyfit": "aotc.numpy.linalg.lstsq on aotc.numpy.vander(x, deg + 1)",
    "nextafter": "aotc.numpy.finfo(x.dtype).eps-sized steps (aotc has no bitcast op yet)",
    "random": "numpy.random outside the traced function, passing the arrays in as arguments",
}


def __getattr__(name):
    """A missing name is an AttributeError (so hasattr works) that says what to use instead."""
    reference = "numpy" if hasattr(_np, name) else None
    public = [n for n in globals() if not n.startswith("_")]
    raise _missing_attribute("aotc.numpy", name, public, reference, _INSTEAD)
