"""Floating-point helpers of aotc.numpy: finfo/iinfo, isclose/allclose, nan_to_num, logaddexp2."""

import math

import ml_dtypes
import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.numpy.core import promote, scalar_like
from aotc.frontend.numpy.math import (
    abs,
    add,
    divide,
    equal,
    isinf,
    isnan,
    less_equal,
    logaddexp,
    logical_and,
    logical_not,
    logical_or,
    multiply,
    where,
)
from aotc.frontend.numpy.reductions import all as reduce_all
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = ["allclose", "finfo", "iinfo", "isclose", "logaddexp2", "nan_to_num"]


def _dtype_of(x) -> np.dtype:
    if isinstance(x, Tracer):
        return x.dtype
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype
    return np.dtype(x)


class finfo:
    """Machine limits of a float dtype (or of an array's dtype), like jnp.finfo; bfloat16 too.

    Example:
        >>> anp.finfo(anp.float32).max   # 3.4028235e+38
    """

    def __new__(cls, dtype):
        return ml_dtypes.finfo(_dtype_of(dtype))


class iinfo:
    """Machine limits of an integer dtype (or of an array's dtype), like jnp.iinfo.

    Example:
        >>> anp.iinfo(anp.int32).max   # 2147483647
    """

    def __new__(cls, int_type):
        return ml_dtypes.iinfo(_dtype_of(int_type))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |a - b| <= atol + rtol * |b|, with infinities equal only to themselves and NaN
    to nothing (or to NaN with equal_nan=True), like jnp.isclose; integers compare as float32.

    Example:
        >>> anp.isclose(anp.array([1.0, anp.inf]), anp.array([1.0 + 1e-7, anp.inf]))   # [T, T]
    """
    a, b = promote("isclose", a, b, inexact=True)
    tolerance = add(scalar_like(atol, a), multiply(scalar_like(rtol, a), abs(b)))
    out = less_equal(abs(a - b), tolerance)
    a_inf, b_inf = isinf(a), isinf(b)
    out = logical_and(out, logical_not(logical_or(a_inf, b_inf)))
    out = logical_or(out, logical_and(logical_and(a_inf, b_inf), equal(a, b)))
    a_nan, b_nan = isnan(a), isnan(b)
    out = logical_and(out, logical_not(logical_or(a_nan, b_nan)))
    if equal_nan:
        out = logical_or(out, logical_and(a_nan, b_nan))
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether isclose(a, b) holds everywhere, as a traced bool scalar, like jnp.allclose.

    Example:
        >>> anp.allclose(anp.array([1.0, 2.0]), anp.array([1.0, 2.0 + 1e-6]))   # True
    """
    return reduce_all(isclose(a, b, rtol, atol, equal_nan))


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """x with NaN replaced by `nan` and +-inf by `posinf`/`neginf` (default: the dtype's largest
    and smallest finite values), like jnp.nan_to_num; integer and bool arrays pass unchanged.

    Example:
        >>> anp.nan_to_num(anp.array([anp.nan, anp.inf, 1.0]))   # [0.0, 3.4028235e+38, 1.0]
    """
    x = to_tracer(x)
    if not dtypes.is_float(x.dtype):
        return x
    info = ml_dtypes.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = where(isnan(x), scalar_like(nan, x), x)
    out = where(logical_and(isinf(x), x > 0), scalar_like(posinf, x), out)
    return where(logical_and(isinf(x), x < 0), scalar_like(neginf, x), out)


def logaddexp2(x1, x2):
    """log2(2**x1 + 2**x2) without overflow, like jnp.logaddexp2; integers become float32.

    Computed as logaddexp(x1 ln 2, x2 ln 2) / ln 2, so its derivatives (the softmax weights of
    x1 and x2, 1/2 each at ties) are those of logaddexp.

    Example:
        >>> anp.logaddexp2(anp.array([1.0, 100.0]), 1.0)   # [2.0, 100.0]
    """
    x1, x2 = promote("logaddexp2", x1, x2, inexact=True)
    ln2 = scalar_like(math.log(2), x1)
    return divide(logaddexp(multiply(x1, ln2), multiply(x2, ln2)), ln2)
