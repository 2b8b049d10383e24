"""`stablehlo.fft` (FFT, IFFT, RFFT, IRFFT over the trailing `len(fft_length)` dims) with all its
rules, and its portable lowering into dot_general, reshapes, transposes and complex elementwise
ops.

The op's semantics are NumPy's: IFFT and IRFFT include the 1/N scale; RFFT keeps the
`n // 2 + 1` non-negative frequencies of the last dim, IRFFT reads them. Derivatives and
transposes are JAX's (`jax/_src/lax/fft.py`): FFT and IFFT are their own transposes (the DFT
matrix is symmetric); RFFT's transpose is real(FFT(t zero-padded)); IRFFT's is conj(RFFT(t)
with the doubled frequencies weighted 2, scaled by 1/N).

IREE 3.13 compiles `stablehlo.fft` only on llvm-cpu and only for one transformed dim of a
power-of-two length (through linalg_ext.fft); everything else fails to legalize (vulkan fails on
every size). Even those it compiles can fail inside larger programs: the gradient of
sum(|rfft(x, n=16)|^2) for a 10-vector x ("'linalg.generic' op write affecting operations on
global resources are restricted to workgroup distributed contexts"). So `lower_ffts` rewrites,
before IREE, every fft on every target (native=True keeps those IREE lowers, for measuring):

- length n <= 64: one dot_general with the DFT matrix (a constant);
- other n with a divisor 1 < n1 <= 64: Cooley-Tukey four-step, n = n1 * n2: a DFT matmul of
  size n1 over the strided rows, a twiddle multiply, then length n2 recursively (so n = 4096 is
  two 64-point matmul passes);
- n with no divisor <= 64 (a large prime): Bluestein's chirp-z through a power-of-two FFT.
"""

import math

import numpy as np

from aotc.frontend.core.emit import emit1, enum, i64_array
from aotc.frontend.core.errors import CompileError, TracingError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import defop, register
from aotc.frontend.core.source import at_location, location_text
from aotc.frontend.ops import complex as cx
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.linalg import dot_general
from aotc.frontend.ops.rules import deflinear

FFT_TYPES = ("FFT", "IFFT", "RFFT", "IRFFT")
DIRECT_MAX = 64  # lengths up to this are one DFT matmul in the portable lowering


def _type_rule(types, attrs):
    kind, lengths = attrs.enum("fft_type"), attrs.ints("fft_length")
    shape, element = list(shape_of(types[0])), values.element(types[0])
    if kind == "RFFT":
        shape[-1] = lengths[-1] // 2 + 1
        element = cx.complex_element(element)
    elif kind == "IRFFT":
        shape[-1] = lengths[-1]
        element = cx.part_element(element)
    return [tensor_type(shape, element)]


def _impl(ctx, x):
    kind, lengths = ctx.attrs.enum("fft_type"), ctx.attrs.ints("fft_length")
    axes = list(range(x.ndim - len(lengths), x.ndim))
    wide = x.dtype in (np.float64, np.complex128)
    if kind == "FFT":
        out = np.fft.fftn(x, lengths, axes)
    elif kind == "IFFT":
        out = np.fft.ifftn(x, lengths, axes)
    elif kind == "RFFT":
        out = np.fft.rfftn(x, lengths, axes)
    else:
        out = np.fft.irfftn(x, lengths, axes)
    if kind == "IRFFT":
        return out.astype(np.float64 if wide else np.float32)
    return out.astype(np.complex128 if wide else np.complex64)


defop("stablehlo.fft", _type_rule, _impl)


def fft(x: ir.Value, fft_type: str, fft_length) -> ir.Value:
    """`stablehlo.fft` of `fft_type` (FFT, IFFT, RFFT, IRFFT) over the trailing
    len(fft_length) dims of x."""
    if fft_type not in FFT_TYPES:
        raise TracingError(f"fft_type must be one of {FFT_TYPES}, not {fft_type!r}")
    return emit1("stablehlo.fft", [x], {"fft_type": enum("fft_type", fft_type),
                                        "fft_length": i64_array(fft_length)})


# ---- autodiff: linear; JAX's transposes --------------------------------------------------------


def _scale(v: ir.Value, factor: float) -> ir.Value:
    return ew.multiply(v, values.full_like(v, factor))


def _rfft_transpose(ct: ir.Value, lengths) -> ir.Value:
    """Transpose of x -> FFT(complex(x))[..., :n//2+1]: zero-pad, FFT, real part."""
    n, kept = lengths[-1], shape_of(ct)[-1]
    zero = values.scalar(0, values.element(ct))
    rank = len(shape_of(ct))
    padded = shape_ops.pad(ct, zero, [0] * rank, [0] * (rank - 1) + [n - kept])
    return cx.real(fft(padded, "FFT", lengths))


def _irfft_transpose(ct: ir.Value, lengths) -> ir.Value:
    x = fft(ct, "RFFT", lengths)
    m, odd = shape_of(x)[-1], lengths[-1] % 2
    mask = np.concatenate([[1.0], np.full(m - 2 + odd, 2.0), np.ones(1 - odd)])
    mask = (mask / math.prod(lengths)).astype(np.float32)
    weights = shape_ops.broadcast_in_dim(cx.to_complex(shape_ops.constant(mask)),
                                         shape_of(x), [len(shape_of(x)) - 1])
    return cx.conj(ew.multiply(x, weights))


def _fft_transpose(ctx, cts, operands):
    kind, lengths = ctx.attrs.enum("fft_type"), ctx.attrs.ints("fft_length")
    ct = values.instantiate(cts[0], ctx.results[0])
    if kind == "RFFT":
        return [_rfft_transpose(ct, lengths)]
    if kind == "IRFFT":
        return [_irfft_transpose(ct, lengths)]
    return [fft(ct, kind, lengths)]


deflinear("stablehlo.fft", _fft_transpose)


def _fft_batch(ctx, operands, batched):
    # the transformed dims are the trailing ones: a leading batch dim is one more batch dim
    return [values.clone_with(ctx.op, operands, ctx.batched_types()).result], [True]


register("batch", "stablehlo.fft", _fft_batch)


# ---- the portable lowering ---------------------------------------------------------------------


def _roots(n: int, products: np.ndarray, inverse: bool) -> np.ndarray:
    """exp(-+2 pi i p / n) for integer products p, reduced mod n first (exact angles)."""
    sign = 1.0 if inverse else -1.0
    return np.exp(sign * 2j * np.pi * (products % n) / n).astype(np.complex64)


def _complex_constant(array: np.ndarray) -> ir.Value:
    return shape_ops.constant(np.asarray(array, np.complex64))


def _times_constant(z: ir.Value, array: np.ndarray) -> ir.Value:
    """z * array, the constant broadcast over z's leading dims (it matches z's trailing ones)."""
    shape = shape_of(z)
    tail = list(range(len(shape) - array.ndim, len(shape)))
    return ew.multiply(z, shape_ops.broadcast_in_dim(_complex_constant(array), shape, tail))


def _divisor(n: int) -> int:
    """The largest divisor of n in [2, DIRECT_MAX] (1 if none)."""
    return next((d for d in range(min(n - 1, DIRECT_MAX), 1, -1) if n % d == 0), 1)


def _matmul_dft(z: ir.Value, inverse: bool) -> ir.Value:
    n = shape_of(z)[-1]
    k = np.arange(n)
    matrix = _complex_constant(_roots(n, np.outer(k, k), inverse))
    return dot_general(z, matrix, ([len(shape_of(z)) - 1], [0]))


def _swap_last(z: ir.Value) -> ir.Value:
    rank = len(shape_of(z))
    return shape_ops.transpose(z, [*range(rank - 2), rank - 1, rank - 2])


def dft_last(z: ir.Value, inverse: bool = False) -> ir.Value:
    """The unnormalized DFT (inverse: exponent sign +) of complex z along its last dim."""
    *batch, n = shape_of(z)
    if n == 1:
        return z
    if n <= DIRECT_MAX:
        return _matmul_dft(z, inverse)
    n1 = _divisor(n)
    if n1 == 1:
        return _bluestein(z, inverse)
    n2 = n // n1
    # x[j1 n2 + j2]: DFT over j1, twiddle w^(j2 k1), DFT over j2; X[k1 + n1 k2]
    rows = shape_ops.reshape(z, [*batch, n1, n2])
    y = _matmul_dft(_swap_last(rows), inverse)                       # [..., j2, k1]
    y = _times_constant(y, _roots(n, np.outer(np.arange(n2), np.arange(n1)), inverse))
    y = dft_last(_swap_last(y), inverse)                             # [..., k1, k2]
    return shape_ops.reshape(_swap_last(y), [*batch, n])


def _bluestein(z: ir.Value, inverse: bool) -> ir.Value:
    """Chirp-z: X_k = c_k sum_j (x_j c_j) conj(c_(k-j)), c_k = exp(-+i pi k^2 / n), the sum a
    circular convolution of power-of-two length m >= 2n - 1 (b's transform is a constant)."""
    *batch, n = shape_of(z)
    m = 1 << (2 * n - 2).bit_length()
    k = np.arange(n)
    sign = 1.0 if inverse else -1.0
    chirp = np.exp(sign * 1j * np.pi * ((k * k) % (2 * n)) / n)
    b = np.zeros(m, np.complex128)
    b[:n] = np.conj(chirp)
    b[m - n + 1:] = np.conj(chirp[1:])[::-1]
    b_hat = np.fft.fft(b) / m
    zero = values.scalar(0, values.element(z))
    rank = len(batch) + 1
    a = shape_ops.pad(_times_constant(z, chirp), zero, [0] * rank, [0] * len(batch) + [m - n])
    conv = dft_last(_times_constant(dft_last(a), b_hat), inverse=True)
    conv = shape_ops.slice(conv, [0] * rank, [*batch, n])
    return _times_constant(conv, chirp)


def _over_axes(z: ir.Value, axes, inverse: bool) -> ir.Value:
    rank = len(shape_of(z))
    for axis in axes:
        z = values.move_axis(dft_last(values.move_axis(z, axis, rank - 1), inverse), rank - 1,
                             axis)
    return z


def _hermitian_full(z: ir.Value, n: int) -> ir.Value:
    """The n-point spectrum of a real signal from its n // 2 + 1 leading entries."""
    *batch, m = shape_of(z)
    rank = len(batch) + 1
    if n - m <= 0:
        return shape_ops.slice(z, [0] * rank, [*batch, n])
    tail = shape_ops.slice(z, [0] * rank, [*batch, n - m + 1])
    tail = shape_ops.slice(tail, [0] * (rank - 1) + [1], [*batch, n - m + 1])
    return shape_ops.concatenate([z, shape_ops.reverse(cx.conj(tail), [rank - 1])], rank - 1)


def portable_fft(x: ir.Value, fft_type: str, lengths) -> ir.Value:
    """`stablehlo.fft` of static shape, built from dot_general, reshapes, transposes and
    complex elementwise ops (what `lower_ffts` emits)."""
    rank, count = len(shape_of(x)), len(lengths)
    axes = list(range(rank - count, rank))
    if None in shape_of(x):
        raise TracingError(f"the portable FFT needs static shapes, got {shape_of(x)}")
    if fft_type == "FFT":
        return _over_axes(x, axes, inverse=False)
    if fft_type == "IFFT":
        return _scale(_over_axes(x, axes, inverse=True), 1.0 / math.prod(lengths))
    if fft_type == "RFFT":
        y = _over_axes(cx.to_complex(x), axes, inverse=False)
        return shape_ops.slice(y, [0] * rank, [*shape_of(y)[:-1], lengths[-1] // 2 + 1])
    z = _hermitian_full(_over_axes(x, axes[:-1], inverse=True), lengths[-1])
    return _scale(cx.real(dft_last(z, inverse=True)), 1.0 / math.prod(lengths))


def native_fft(fft_type: str, lengths, backend: str) -> bool:
    """Whether IREE 3.13 compiles this fft itself: llvm-cpu, one dim of power-of-two length."""
    n = lengths[-1]
    return backend == "llvm-cpu" and len(lengths) == 1 and n & (n - 1) == 0


def lower_ffts(module: ir.Module, backend: str | None = None, native: bool = False
               ) -> ir.Module:
    """Replace, in place, every `stablehlo.fft` by `portable_fft`; returns the module. With
    native=True, those that IREE lowers itself on `backend` (native_fft) stay."""
    found = []

    def collect(op):
        if op.operation.name == "stablehlo.fft":
            found.append(op.operation)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    for op in found:
        kind = str(op.attributes["fft_type"]).rstrip(">").split()[-1]
        lengths = [int(v) for v in ir.DenseI64ArrayAttr(op.attributes["fft_length"])]
        if native and native_fft(kind, lengths, backend):
            continue
        if None in shape_of(op.operands[0]):
            raise CompileError(f"{location_text(op.location)}: this {kind} has dynamic dims "
                               f"{shape_of(op.operands[0])}, which the portable FFT (what "
                               "every target compiles) cannot take; give the array a static "
                               "shape")
        with ir.InsertionPoint(op), op.location, at_location(op.location):
            new = portable_fft(op.operands[0], kind, lengths)
        op.results[0].replace_all_uses_with(new)
        op.erase()
    return module
