"""Operators and NumPy-style methods of `Tracer`, installed from the aotc.numpy functions."""

from aotc.frontend import numpy as anp
from aotc.frontend.numpy import indexing as np_indexing
from aotc.frontend.trace.tracer import Tracer


def _swap(fn):
    return lambda self, other: fn(other, self)


_OPERATORS = {
    "__add__": anp.add, "__radd__": _swap(anp.add),
    "__sub__": anp.subtract, "__rsub__": _swap(anp.subtract),
    "__mul__": anp.multiply, "__rmul__": _swap(anp.multiply),
    "__truediv__": anp.divide, "__rtruediv__": _swap(anp.divide),
    "__floordiv__": anp.floor_divide, "__rfloordiv__": _swap(anp.floor_divide),
    "__mod__": anp.remainder, "__rmod__": _swap(anp.remainder),
    "__pow__": anp.power, "__rpow__": _swap(anp.power),
    "__matmul__": anp.matmul, "__rmatmul__": _swap(anp.matmul),
    "__and__": anp.bitwise_and, "__rand__": _swap(anp.bitwise_and),
    "__or__": anp.bitwise_or, "__ror__": _swap(anp.bitwise_or),
    "__xor__": anp.bitwise_xor, "__rxor__": _swap(anp.bitwise_xor),
    "__lshift__": anp.left_shift, "__rlshift__": _swap(anp.left_shift),
    "__rshift__": anp.right_shift, "__rrshift__": _swap(anp.right_shift),
    "__lt__": anp.less, "__le__": anp.less_equal, "__gt__": anp.greater,
    "__ge__": anp.greater_equal, "__eq__": anp.equal, "__ne__": anp.not_equal,
    "__neg__": anp.negative, "__pos__": anp.positive, "__abs__": anp.abs,
    "__invert__": anp.invert,
}

_METHODS = {
    "sum": anp.sum, "mean": anp.mean, "prod": anp.prod, "max": anp.max, "min": anp.min,
    "argmax": anp.argmax, "argmin": anp.argmin, "var": anp.var, "std": anp.std, "all": anp.all,
    "any": anp.any, "astype": anp.astype, "ravel": anp.ravel, "flatten": anp.ravel,
    "squeeze": anp.squeeze, "swapaxes": anp.swapaxes, "clip": anp.clip, "round": anp.round,
    "dot": anp.dot,
}


def _reshape(self, *shape, order="C"):
    return anp.reshape(self, *shape, order=order)


def _transpose(self, *axes):
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = axes[0]
    return anp.transpose(self, axes or None)


# Methods that exist as aotc.numpy functions of the same name, installed when present.
_OPTIONAL_METHODS = ("cumsum", "cumprod", "sort", "argsort", "repeat", "nonzero", "trace")


def install() -> None:
    for name, fn in {**_OPERATORS, **_METHODS}.items():
        setattr(Tracer, name, fn)
    for name in _OPTIONAL_METHODS:
        if name in vars(anp):
            setattr(Tracer, name, vars(anp)[name])
    Tracer.__getitem__ = np_indexing.getitem
    Tracer.at = property(np_indexing.IndexUpdateHelper)
    Tracer.reshape = _reshape
    Tracer.transpose = _transpose
    Tracer.T = property(lambda self: anp.transpose(self))
    Tracer.mT = property(lambda self: anp.swapaxes(self, -1, -2))
    Tracer.real = property(anp.real)
    Tracer.imag = property(anp.imag)
    Tracer.conj = Tracer.conjugate = anp.conj


install()
