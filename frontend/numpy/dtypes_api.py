"""jax.numpy's names about dtypes and arrays that a ported program reads: dtype classes and
aliases, dtype predicates (isdtype, issubdtype, can_cast), array predicates (array_equal,
array_equiv, isscalar, iterable), einsum_path, printing options and host I/O (load, save, savez,
frombuffer, fromstring, fromiter, fromfile).

The dtype classes are numpy's own, as in jax.numpy. The printing and I/O functions run on the
host with concrete arrays (numpy arrays or aotc's eager results); they return numpy arrays under
JAX's default dtype rules (64-bit values become 32-bit), which aotc functions accept as inputs.
Calling them on a traced value raises a ConcretizationError, as in JAX.
"""

import builtins
import math

import ml_dtypes
import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import ConcretizationError, TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy import core
from aotc.frontend.numpy.math import equal, isnan, logical_and, logical_or
from aotc.frontend.numpy.reductions import all as _all
from aotc.frontend.trace.tracer import Tracer, constant

__all__ = [
    "array_equal", "array_equiv", "array_repr", "array_str", "broadcast_shapes", "can_cast",
    "cdouble", "character", "complex_", "complexfloating", "copy", "csingle", "double",
    "einsum_path", "euler_gamma", "flexible", "float_",
    "frombuffer", "fromfile", "fromiter", "fromstring", "generic", "get_printoptions", "inexact",
    "int_", "integer", "isdtype", "isscalar", "issubdtype", "iterable", "load", "number",
    "printoptions", "save", "savez", "set_printoptions", "signedinteger", "single", "uint",
    "unsignedinteger",
]
# jnp.bool and jnp.floating are left out of __all__ and bound in aotc/numpy.py: in the package
# aotc.frontend.numpy they would shadow the builtin bool (its functions test `isinstance(x, bool)`)
# and the submodule floating.
bool = np.bool_

# jnp's aliases name the 64-bit types, as numpy's do; values of them follow aotc's dtype rules.
double, single, float_ = np.float64, np.float32, np.float64
cdouble, csingle, complex_ = np.complex128, np.complex64, np.complex128
int_, uint = np.int64, np.uint64
# numpy's abstract dtype classes, for issubdtype; jnp exposes the same objects.
generic, number, inexact, floating = np.generic, np.number, np.inexact, np.floating
complexfloating = np.complexfloating
integer, signedinteger, unsignedinteger = np.integer, np.signedinteger, np.unsignedinteger
flexible, character = np.flexible, np.character

euler_gamma = float(np.euler_gamma)

_KINDS = {
    "bool": lambda dt: dt == np.bool_,
    "signed integer": lambda dt: dt.kind == "i",
    "unsigned integer": lambda dt: dt.kind == "u",
    "integral": lambda dt: dt.kind in "iu",
    "real floating": lambda dt: dt.kind == "f" or dt == dtypes.bfloat16,
    "complex floating": lambda dt: dt.kind == "c",
    "numeric": lambda dt: dt.kind in "iufc" or dt == dtypes.bfloat16,
}


def _to_dtype(dtype) -> np.dtype:
    """Any dtype spelling, bfloat16 included, as an np.dtype (64-bit names stay 64-bit)."""
    if isinstance(dtype, Tracer):
        return dtype.dtype
    if isinstance(dtype, str) and dtype == "bfloat16":
        return dtypes.bfloat16
    if isinstance(dtype, type) or isinstance(dtype, (str, np.dtype)):
        return np.dtype(dtype)
    return np.dtype(getattr(dtype, "dtype", dtype))  # an array: its dtype


def isdtype(dtype, kind) -> builtins.bool:
    """Whether `dtype` is of `kind` (the array API's predicate, like jnp.isdtype).

    `kind` is a dtype, one of 'bool', 'signed integer', 'unsigned integer', 'integral',
    'real floating' (bfloat16 included), 'complex floating', 'numeric', or a tuple of these.

    Example:
        >>> anp.isdtype(anp.bfloat16, "real floating")   # True
    """
    dt = _to_dtype(dtype)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if isinstance(k, str):
            if k not in _KINDS:
                raise ValueError(f"isdtype: unknown kind {k!r}; use one of {sorted(_KINDS)}")
            if _KINDS[k](dt):
                return True
        elif dt == _to_dtype(k):
            return True
    return False


def issubdtype(arg1, arg2) -> builtins.bool:
    """Whether arg1 is a subtype of arg2 in numpy's dtype hierarchy, bfloat16 being a floating
    type (like jnp.issubdtype).

    Example:
        >>> anp.issubdtype(anp.bfloat16, anp.floating), anp.issubdtype(anp.int32, anp.inexact)
        (True, False)
    """
    bf16 = dtypes.bfloat16
    if not (isinstance(arg1, type) and issubclass(arg1, np.generic)) or arg1 is bf16.type:
        arg1 = _to_dtype(arg1)
    if arg1 == bf16:
        if isinstance(arg2, type) and issubclass(arg2, np.generic) and arg2 is not bf16.type:
            return arg2 in (np.floating, np.inexact, np.number, np.generic)
        return _to_dtype(arg2) == bf16
    if (isinstance(arg2, str) and arg2 == "bfloat16") or arg2 is bf16.type:
        return False
    return builtins.bool(np.issubdtype(arg1, arg2))


def can_cast(from_, to, casting="safe") -> builtins.bool:
    """Whether numpy's casting rule `casting` allows from_ -> to (like jnp.can_cast, which is
    numpy's). Example: `anp.can_cast(anp.int8, anp.float32)` is True."""
    if isinstance(from_, Tracer):
        from_ = from_.dtype
    return builtins.bool(np.can_cast(from_, to, casting))


def isscalar(element) -> builtins.bool:
    """Whether element is a scalar: a Python or numpy scalar, or an array of rank 0 (like
    jnp.isscalar, which counts 0-d arrays as scalars).

    Example:
        >>> anp.isscalar(1.0), anp.isscalar(np.ones(())), anp.isscalar(np.ones(2))
        (True, True, False)
    """
    if np.isscalar(element):
        return True
    if isinstance(element, (np.ndarray, Tracer)):
        return element.ndim == 0
    return False


def iterable(y) -> builtins.bool:
    """Whether `iter(y)` works (numpy.iterable, as jnp.iterable). Example: `anp.iterable([1])`."""
    return builtins.bool(np.iterable(y))


def broadcast_shapes(*shapes) -> tuple:
    """The shape that arrays of `shapes` broadcast to (like jnp.broadcast_shapes); an int is a
    1-d shape and None is a dynamic dim, which broadcasts against 1 and matches any size.

    Example:
        >>> anp.broadcast_shapes((3, 1), (4,))   # (3, 4)
    """
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    try:
        return core.broadcast_shapes("broadcast_shapes", *shapes)
    except TracingError as error:
        raise ValueError(str(error)) from None


def _same_dtype_or_none(a1, a2):
    try:
        return core.promote("array_equal", a1, a2, broadcast=False)
    except (TypeError, TracingError):
        return None


def array_equal(a1, a2, equal_nan=False):
    """Whether two arrays have the same shape and elements, as a bool scalar (like
    jnp.array_equal). With equal_nan=True, NaNs in the same places count as equal.

    Example:
        >>> anp.array_equal(np.ones(3), np.ones(3))   # True
    """
    pair = _same_dtype_or_none(a1, a2)
    if pair is None or pair[0].shape != pair[1].shape:
        return constant(np.bool_(False))
    return _all(_elementwise_equal(*pair, equal_nan))


def array_equiv(a1, a2):
    """Whether two arrays are equal elementwise after broadcasting, as a bool scalar (like
    jnp.array_equiv); shapes that do not broadcast give False.

    Example:
        >>> anp.array_equiv(np.ones((2, 3)), np.ones(3))   # True
    """
    pair = _same_dtype_or_none(a1, a2)
    if pair is None:
        return constant(np.bool_(False))
    try:
        core.broadcast_shapes("array_equiv", pair[0].shape, pair[1].shape)
    except TracingError:
        return constant(np.bool_(False))
    return _all(_elementwise_equal(*pair, False))


def _elementwise_equal(x, y, equal_nan):
    eq = equal(x, y)
    if equal_nan and dtypes.is_float(x.dtype):
        eq = logical_or(eq, logical_and(isnan(x), isnan(y)))
    return eq


def copy(a, order=None):
    """A copy of `a` (like jnp.copy; aotc's arrays are values, so this is `asarray(a)`).

    Example:
        >>> anp.copy(np.arange(3))
    """
    del order  # layouts are IREE's choice
    return core.asarray(a)


def einsum_path(subscripts: str, *operands, optimize="greedy"):
    """The pairwise contraction order aotc.numpy.einsum uses, as opt_einsum's path (a list of
    operand-index pairs, each result appended last) and a text describing each step, like
    jnp.einsum_path. aotc's order is greedy (smallest intermediate first) whatever `optimize` is.

    Example:
        >>> anp.einsum_path("ij,jk,kl->il", a, b, c)[0]   # e.g. [(0, 1), (0, 1)]
    """
    del optimize
    spec = subscripts.replace(" ", "")
    inputs, output = spec.split("->") if "->" in spec else (spec, None)
    names = inputs.split(",")
    if output is None:
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(names) != len(operands):
        raise ValueError(f"einsum_path '{subscripts}' names {len(names)} operands, "
                         f"got {len(operands)}")
    sizes = {}
    for name, x in zip(names, operands):
        sizes.update(zip(name, np.shape(x) if not isinstance(x, Tracer) else x.shape))
    items = [set(name) for name in names]
    path, steps = [], []
    while len(items) > 1:
        best = None
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                others = set().union(*(s for k, s in enumerate(items) if k not in (i, j)))
                kept = (items[i] | items[j]) & (set(output) | others)
                cost = math.prod(sizes[c] or 1 for c in kept)
                if best is None or cost < best[0]:
                    best = (cost, i, j, kept)
        _, i, j, kept = best
        path.append((i, j))
        steps.append(f"{''.join(sorted(items[i]))},{''.join(sorted(items[j]))}"
                     f"->{''.join(sorted(kept))} ({best[0]} elements)")
        items = [s for k, s in enumerate(items) if k not in (i, j)] + [kept]
    if not path:
        path.append((0,))
    text = f"Complete contraction: {spec}\n" + "\n".join(steps)
    return path, text


def _concrete(x, name: str) -> np.ndarray:
    if isinstance(x, Tracer):
        raise ConcretizationError(f"{caller_site()}: {name} needs a concrete array, not a traced "
                                  "value; call it outside the traced function")
    return np.asarray(x)


def array_repr(arr, max_line_width=None, precision=None, suppress_small=None) -> str:
    """numpy.array_repr of a concrete array (host; like jnp.array_repr, which is numpy's).

    Example:
        >>> anp.array_repr(anp.arange(3))   # 'array([0, 1, 2], dtype=int32)'
    """
    return np.array_repr(_concrete(arr, "array_repr"), max_line_width, precision, suppress_small)


def array_str(a, max_line_width=None, precision=None, suppress_small=None) -> str:
    """numpy.array_str of a concrete array (host; like jnp.array_str, which is numpy's).

    Example:
        >>> anp.array_str(anp.arange(3))   # '[0 1 2]'
    """
    return np.array_str(_concrete(a, "array_str"), max_line_width, precision, suppress_small)


def get_printoptions() -> dict:
    """numpy's print options (jnp.get_printoptions forwards to numpy too)."""
    return np.get_printoptions()


def set_printoptions(*args, **kwargs) -> None:
    """Set numpy's print options, which format aotc's (numpy) results; like
    jnp.set_printoptions. Example: `anp.set_printoptions(precision=3)`."""
    np.set_printoptions(*args, **kwargs)


def printoptions(*args, **kwargs):
    """A context manager setting numpy's print options for its block (like jnp.printoptions).

    Example:
        >>> with anp.printoptions(precision=2):
        ...     print(anp.array_str(x))
    """
    return np.printoptions(*args, **kwargs)


def _host_result(array: np.ndarray) -> np.ndarray:
    """An array read on the host as aotc sees arrays: 64-bit values become 32-bit (JAX's
    default); a 2-byte void array (how numpy saves bfloat16) is read back as bfloat16."""
    if array.dtype == np.dtype("V2"):
        array = array.view(ml_dtypes.bfloat16)
    return dtypes.canonicalize_array(array)


def load(file, *args, **kwargs):
    """numpy.load on the host (like jnp.load): a .npy file gives a numpy array under JAX's default
    dtype rules (bfloat16 restored), which aotc functions accept; a .npz file gives numpy's
    NpzFile as it is.

    Example:
        >>> x = anp.load("x.npy")
    """
    out = np.load(file, *args, **kwargs)
    if isinstance(out, np.ndarray):
        try:
            return _host_result(out)
        except TypeError:  # a dtype aotc has no type for: numpy's array as it is
            return out
    return out


def save(file, arr, allow_pickle=True) -> None:
    """numpy.save of a concrete array (host; like jnp.save, which is numpy's).

    Example:
        >>> anp.save("x.npy", anp.ones(3))
    """
    np.save(file, _concrete(arr, "save"), allow_pickle=allow_pickle)


def savez(file, *args, allow_pickle=True, **kwds) -> None:
    """numpy.savez of concrete arrays into one .npz file (host; like jnp.savez).

    Example:
        >>> anp.savez("params.npz", w=w, b=b)
    """
    arrays = [_concrete(a, "savez") for a in args]
    named = {k: _concrete(v, "savez") for k, v in kwds.items()}
    np.savez(file, *arrays, allow_pickle=allow_pickle, **named)


def _parse_dtype(dtype) -> np.dtype:
    return dtypes.bfloat16 if isinstance(dtype, str) and dtype == "bfloat16" else np.dtype(dtype)


def frombuffer(buffer, dtype=float, count=-1, offset=0) -> np.ndarray:
    """A 1-d array read from a bytes-like buffer (host; like jnp.frombuffer): parsed as `dtype`
    (float64 by default), then 64-bit values become 32-bit.

    Example:
        >>> anp.frombuffer(b"\\x01\\x02", dtype=anp.uint8)   # [1, 2]
    """
    return _host_result(np.frombuffer(buffer, _parse_dtype(dtype), count, offset))


def fromstring(string, dtype=float, count=-1, *, sep) -> np.ndarray:
    """A 1-d array parsed from text separated by `sep` (host; like jnp.fromstring, which
    requires sep as numpy's binary mode is deprecated).

    Example:
        >>> anp.fromstring("1 2 3", sep=" ")   # float32 [1, 2, 3]
    """
    return _host_result(np.fromstring(string, _parse_dtype(dtype), count, sep=sep))


def fromiter(iterable, dtype, count=-1) -> np.ndarray:
    """A 1-d array of the values an iterable yields (host). jnp.fromiter refuses, because
    consuming an iterator is not pure; aotc reads it on the host, outside any trace.

    Example:
        >>> anp.fromiter(range(4), dtype=anp.int32)   # [0, 1, 2, 3]
    """
    return _host_result(np.fromiter(iterable, _parse_dtype(dtype), count))


def fromfile(file, dtype=float, count=-1, sep="", offset=0) -> np.ndarray:
    """A 1-d array read from a binary (sep='') or text file (host). jnp.fromfile refuses, because
    reading a file is not pure; aotc reads it on the host, outside any trace.

    Example:
        >>> anp.fromfile("data.bin", dtype=anp.float32)
    """
    return _host_result(np.fromfile(file, _parse_dtype(dtype), count, sep, offset))
