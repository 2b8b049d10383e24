"""dtypes: numpy dtypes <-> MLIR element types, and JAX's type-promotion lattice.

Python scalars are *weakly typed*: `x_f16 * 2.0` stays float16, as in JAX. Standing alone a
weak float is float32, a weak int int32 and a weak complex complex64 (JAX's defaults without x64).
"""

import functools
import os
import sys
import threading
import warnings

import ml_dtypes
import numpy as np

from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import user_frame

bfloat16 = np.dtype(ml_dtypes.bfloat16)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
bool_ = np.dtype(np.bool_)
complex64 = np.dtype(np.complex64)
complex128 = np.dtype(np.complex128)  # demoted to complex64 like float64 to float32

_MLIR_NAMES = {
    bool_: "i1",
    int8: "i8",
    int16: "i16",
    int32: "i32",
    int64: "i64",
    uint8: "ui8",
    uint16: "ui16",
    uint32: "ui32",
    uint64: "ui64",
    bfloat16: "bf16",
    float16: "f16",
    float32: "f32",
    float64: "f64",
    complex64: "complex<f32>",
    complex128: "complex<f64>",
}
_FROM_MLIR = {name: dt for dt, name in _MLIR_NAMES.items()}


def canonicalize(dtype) -> np.dtype:
    """Any dtype spelling ("float32", np.float32, float, int, bool, bfloat16) -> np.dtype."""
    if dtype is float:
        return float32
    if dtype is int:
        return int32
    if dtype is bool:
        return bool_
    if dtype is complex:
        return complex64
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bfloat16
    dt = np.dtype(dtype)
    if dt not in _MLIR_NAMES:
        names = ", ".join(sorted(str(d) for d in _MLIR_NAMES))
        raise TypeError(f"dtype {dt} is not supported by aotc; use one of: {names}")
    return dt


def to_mlir(dtype) -> ir.Type:
    return ir.Type.parse(_MLIR_NAMES[canonicalize(dtype)])


def from_mlir(element_type: ir.Type) -> np.dtype:
    name = str(element_type)
    if name not in _FROM_MLIR:
        raise TypeError(f"MLIR element type {name} has no aotc dtype")
    return _FROM_MLIR[name]


def is_float(dtype) -> bool:
    return canonicalize(dtype) in (bfloat16, float16, float32, float64)


def is_complex(dtype) -> bool:
    return canonicalize(dtype) in (complex64, complex128)


def is_inexact(dtype) -> bool:
    """Float or complex: the dtypes that carry derivatives."""
    return is_float(dtype) or is_complex(dtype)


def real_dtype(dtype) -> np.dtype:
    """The dtype of the real and imaginary parts of a complex dtype (a real dtype itself)."""
    dt = canonicalize(dtype)
    return {complex64: float32, complex128: float64}.get(dt, dt)


def complex_dtype(dtype) -> np.dtype:
    """The complex dtype whose parts have this real float dtype (float64 -> complex128, any
    other float -> complex64, as JAX)."""
    dt = canonicalize(dtype)
    return complex128 if dt in (float64, complex128) else complex64


def is_int(dtype) -> bool:
    dt = canonicalize(dtype)
    return dt != bool_ and dt.kind in "iu"


def is_unsigned(dtype) -> bool:
    return canonicalize(dtype).kind == "u"


def is_bool(dtype) -> bool:
    return canonicalize(dtype) == bool_


def finfo_or_iinfo(dtype):
    dt = canonicalize(dtype)
    if dt == bfloat16:
        return ml_dtypes.finfo(dt)
    return np.finfo(dt) if is_float(dt) else np.iinfo(dt)


# JAX's type-promotion lattice (jax._src.dtypes). "i*", "f*" and "c*" are the weak Python int,
# float and complex; promotion is the least upper bound. Inputs of at most 32 bits promote
# as in JAX without x64; explicit 64-bit dtypes as in JAX with x64 (the two lattices differ only
# where a 32-bit program would grow a 64-bit type).
_LATTICE = {
    "b1": ["i*"],
    "i*": ["u8", "i8", "f*"],
    "u8": ["i16", "u16"],
    "u16": ["i32", "u32"],
    "u32": ["i32", "u64"],  # JAX's x32 lattice: no 64-bit result from 32-bit inputs
    "u64": ["f*"],
    "i8": ["i16"],
    "i16": ["i32"],
    "i32": ["i64"],
    "i64": ["f*"],
    "f*": ["c*", "f16", "bf16"],
    "c*": ["c64"],
    "f16": ["f32"],
    "bf16": ["f32"],
    "f32": ["f64", "c64"],
    "f64": ["c128"],
    "c64": ["c128"],
    "c128": [],
}
_NODE = {
    bool_: "b1",
    uint8: "u8",
    uint16: "u16",
    uint32: "u32",
    uint64: "u64",
    int8: "i8",
    int16: "i16",
    int32: "i32",
    int64: "i64",
    float16: "f16",
    bfloat16: "bf16",
    float32: "f32",
    float64: "f64",
    complex64: "c64",
    complex128: "c128",
}
_DTYPE_OF_NODE = {node: dt for dt, node in _NODE.items()} | {"i*": int32, "f*": float32,
                                                             "c*": complex64}


@functools.cache
def _upper_set(node: str) -> frozenset:
    seen, todo = {node}, [node]
    while todo:
        for parent in _LATTICE[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return frozenset(seen)


@functools.cache
def _join(a: str, b: str) -> str:
    common = _upper_set(a) & _upper_set(b)
    return next(n for n in common if _upper_set(n) == common)


def _node(dtype, weak: bool) -> str:
    dt = canonicalize(dtype)
    if weak and dt != bool_:
        return "c*" if is_complex(dt) else "f*" if is_float(dt) else "i*"
    return _NODE[dt]


def promote(*typed) -> tuple[np.dtype, bool]:
    """JAX's result type of (dtype, weak_type) pairs: returns (dtype, weak_type)."""
    if all(weak for _, weak in typed):  # weak values of one kind keep their widths (JAX)
        dt, _ = promote(*[(dt, False) for dt, _ in typed])
        return dt, dt != bool_
    nodes = [_node(dt, weak) for dt, weak in typed]
    node = functools.reduce(_join, nodes)
    if node in ("f*", "c*") and ("i64" in nodes or "u64" in nodes):
        # explicit 64-bit integers meet floats in float64 (x64 lattice)
        return (float64, True) if node == "f*" else (complex128, True)
    return _DTYPE_OF_NODE[node], node in ("i*", "f*", "c*")


def promote_types(a, b) -> np.dtype:
    """`jnp.promote_types` for two strong dtypes."""
    return promote((a, False), (b, False))[0]


def python_scalar_dtype(value) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, int):
        return int32
    if isinstance(value, float):
        return float32
    if isinstance(value, complex):
        return complex64
    raise TypeError(f"{type(value).__name__} is not a Python scalar aotc can trace")


_X32 = {float64: float32, int64: int32, uint64: uint32, complex128: complex64}


def canonical_default(dtype) -> np.dtype:
    """JAX's default-precision rule for dtypes arriving implicitly from numpy: 64-bit -> 32-bit."""
    dt = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    return _X32.get(dt, canonicalize(dt))


def canonicalize_array(array: np.ndarray) -> np.ndarray:
    """A numpy array as aotc sees it: float64/int64/complex128 become float32/int32/complex64,
    as in JAX."""
    return array.astype(canonical_default(array.dtype), copy=False)


_WARNED_FLOAT64: list[bool] = []
_FLOAT64_TRACE = threading.local()


class float64_inputs:
    """Context of a trace whose arguments are float64 (an explicit float64 ShapeSpec, e.g. for
    checking with the float64 interpreter): there float64 requests keep their dtype, so that
    `anp.zeros(n, x.dtype)` matches x."""

    def __init__(self, active: bool):
        self.active = active

    def __enter__(self):
        self.saved = getattr(_FLOAT64_TRACE, "active", False)
        _FLOAT64_TRACE.active = self.saved or self.active

    def __exit__(self, *exc):
        _FLOAT64_TRACE.active = self.saved


_LIBRARY_DIRS = tuple(os.path.join(os.path.dirname(os.path.dirname(__file__)), d) + os.sep
                      for d in ("core", "ops", "numpy", "lax", "nn"))


def requested(dtype, api: str) -> np.dtype:
    """A dtype the user asked for explicitly (`dtype=` of asarray, zeros, arange, ..., astype):
    float64 becomes float32, as in JAX without x64, with one warning per process. Implicit
    canonicalization (numpy float64 inputs, np.float64 scalars) stays silent. Call it from the
    public function itself: only a call made by user code counts as a request (aotc's own
    promotions, e.g. int64 + uint64 -> float64, keep their dtype)."""
    dt = canonicalize(dtype)
    caller = sys._getframe(2).f_code.co_filename
    if (dt not in (float64, complex128) or caller.startswith(_LIBRARY_DIRS)
            or getattr(_FLOAT64_TRACE, "active", False)):
        return dt
    narrow = float32 if dt == float64 else complex64
    frame = user_frame()
    if not _WARNED_FLOAT64:
        _WARNED_FLOAT64.append(True)
        message = (f"Explicitly requested dtype {dt} requested in {api} is not available, "
                   f"and will be truncated to dtype {narrow} (aotc follows JAX's default without "
                   "x64; IREE computes float64 in float32 anyway). Ask for {narrow} to silence "
                   "this warning.")
        if frame is None:
            warnings.warn(message, UserWarning, stacklevel=3)
        else:
            warnings.warn_explicit(message, UserWarning, frame.f_code.co_filename,
                                   frame.f_lineno, module=frame.f_globals.get("__name__"))
    return narrow
