"""jax.numpy.fft's transforms, frequencies and shifts.

Each transform emits one `stablehlo.fft` per transformed axis (moved last, cropped or
zero-padded to its length), as JAX does for up to three axes; `aotc.frontend.ops.fft` has the
op's rules and the portable lowering the compile pipeline uses where IREE has no FFT.
"""

import math
import operator

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import complex as cx
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import fft as fft_ops
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.trace.tracer import Tracer, to_tracer

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "fftn", "ifftn", "rfftn", "irfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = ("backward", "ortho", "forward")


def _fail(message: str) -> TracingError:
    return TracingError(f"{caller_site()}: {message}")


def _as_complex(name: str, x: Tracer) -> ir.Value:
    if dtypes.is_complex(x.dtype):
        return x.value
    return cx.to_complex(_as_float(name, x))


def _as_float(name: str, x: Tracer) -> ir.Value:
    if dtypes.is_complex(x.dtype):
        raise _fail(f"{name} takes a real array, got {x.dtype}; use fft for complex input")
    f32 = ir.F32Type.get()
    return x.value if values.element(x.value) == f32 else ew.convert(x.value, f32)


def _fit(v: ir.Value, axis: int, size: int) -> ir.Value:
    """v cropped or zero-padded to `size` along axis."""
    shape = list(shape_of(v))
    if shape[axis] == size:
        return v
    if shape[axis] > size:
        shape[axis] = size
        return shape_ops.slice(v, [0] * len(shape), shape)
    high = [0] * len(shape)
    high[axis] = size - shape[axis]
    return shape_ops.pad(v, values.scalar(0, values.element(v)), [0] * len(shape), high)


def _one_axis(v: ir.Value, axis: int, fft_type: str, n: int) -> ir.Value:
    """One stablehlo.fft of length n along axis (input fitted: n, or n // 2 + 1 for IRFFT)."""
    last = len(shape_of(v)) - 1
    v = values.move_axis(v, axis, last)
    v = _fit(v, last, n // 2 + 1 if fft_type == "IRFFT" else n)
    return values.move_axis(fft_ops.fft(v, fft_type, [n]), last, axis)


def _norm_factor(name: str, norm, total: int, inverse: bool) -> float:
    norm = "backward" if norm is None else norm
    if norm not in _NORMS:
        raise _fail(f"{name}: invalid norm {norm!r}; use 'backward', 'ortho' or 'forward'")
    if norm == "backward":
        return 1.0
    if norm == "ortho":
        return math.sqrt(total) if inverse else 1.0 / math.sqrt(total)
    return float(total) if inverse else 1.0 / total


def _axes_and_lengths(name: str, x: Tracer, s, axes, fft_type: str):
    """numpy's rules: axes default to the last len(s) (or all) axes; s to their sizes (IRFFT:
    2 (m - 1) for the last)."""
    if s is not None:
        try:
            s = [operator.index(n) for n in s]
        except TypeError:
            raise _fail(f"{name}: s must be a sequence of Python ints, got {s!r}") from None
    if axes is None:
        axes = range(x.ndim) if s is None else range(x.ndim - len(s), x.ndim)
    axes = [int(a) for a in axes]
    if any(not -x.ndim <= a < x.ndim for a in axes):
        raise _fail(f"{name}: axes {axes} out of range for an array of {x.ndim} dimensions")
    axes = [a % x.ndim for a in axes]
    if len(set(axes)) != len(axes):
        raise _fail(f"{name}: repeated axes {axes}")
    if s is not None and len(s) != len(axes):
        raise _fail(f"{name}: s {s} and axes {axes} have different lengths")
    shape = x.shape
    if any(not isinstance(shape[a], int) for a in axes):
        raise _fail(f"{name}: the transformed axes need static sizes, got shape {shape}")
    if s is None:
        s = [shape[a] for a in axes]
        if fft_type == "IRFFT" and axes:
            s[-1] = 2 * (shape[axes[-1]] - 1)
    if any(n < 1 for n in s):
        raise _fail(f"{name}: invalid number of data points {s}; each must be at least 1")
    return axes, s


def _transform(name, a, s, axes, norm, fft_type) -> Tracer:
    x = to_tracer(a) if not isinstance(a, (list, tuple)) else anp.asarray(a)
    axes, lengths = _axes_and_lengths(name, x, s, axes, fft_type)
    inverse = fft_type in ("IFFT", "IRFFT")
    if fft_type == "RFFT":
        v = _as_float(name, x)
        if axes:
            v = _one_axis(v, axes[-1], "RFFT", lengths[-1])
        pairs = list(zip(axes[:-1], lengths[:-1]))
        kind = "FFT"
    elif fft_type == "IRFFT":
        v = _as_complex(name, x)
        for axis, n in zip(axes[:-1], lengths[:-1]):
            v = _one_axis(v, axis, "IFFT", n)
        if axes:
            v = _one_axis(v, axes[-1], "IRFFT", lengths[-1])
        pairs, kind = [], "IFFT"
    else:
        v, pairs, kind = _as_complex(name, x), list(zip(axes, lengths)), fft_type
    for axis, n in pairs:
        v = _one_axis(v, axis, kind, n)
    factor = _norm_factor(name, norm, math.prod(lengths), inverse)
    if factor != 1.0:
        v = ew.multiply(v, values.full_like(v, factor))
    return Tracer(v)


def _one_d(name: str, a, n, axis: int, norm, fft_type: str) -> Tracer:
    return _transform(name, a, None if n is None else [n], [axis], norm, fft_type)


def fft(a, n=None, axis: int = -1, norm=None):
    """The discrete Fourier transform along axis, like jnp.fft.fft.

    n crops or zero-pads the axis first; norm is 'backward' (default), 'ortho' or 'forward'.

    Example:
        >>> anp.fft.fft(anp.array([1.0, 0.0, 0.0, 0.0]))   # [1, 1, 1, 1] (complex64)
    """
    return _one_d("fft", a, n, axis, norm, "FFT")


def ifft(a, n=None, axis: int = -1, norm=None):
    """The inverse discrete Fourier transform along axis, like jnp.fft.ifft.

    Example:
        >>> anp.fft.ifft(anp.fft.fft(x))   # x, as complex64
    """
    return _one_d("ifft", a, n, axis, norm, "IFFT")


def rfft(a, n=None, axis: int = -1, norm=None):
    """The DFT of a real array along axis: its n // 2 + 1 non-negative frequencies, like
    jnp.fft.rfft.

    Example:
        >>> anp.fft.rfft(anp.ones(8)).shape   # (5,)
    """
    return _one_d("rfft", a, n, axis, norm, "RFFT")


def irfft(a, n=None, axis: int = -1, norm=None):
    """The inverse of rfft: a real signal of length n (default 2 (m - 1)), like jnp.fft.irfft.

    Example:
        >>> anp.fft.irfft(anp.fft.rfft(x), n=x.shape[-1])   # x
    """
    return _one_d("irfft", a, n, axis, norm, "IRFFT")


def _swap(norm):
    return {None: "forward", "backward": "forward", "forward": "backward"}.get(norm, norm)


def hfft(a, n=None, axis: int = -1, norm=None):
    """The FFT of a signal with Hermitian symmetry given by its first half (a real result of
    length n, default 2 (m - 1)), like jnp.fft.hfft.

    Example:
        >>> anp.fft.hfft(anp.array([1.0, 2.0, 3.0])).shape   # (4,)
    """
    x = anp.asarray(a)
    if n is None and isinstance(x.shape[axis % max(x.ndim, 1)], int):
        n = 2 * (x.shape[axis] - 1)
    return irfft(anp.conj(x), n, axis, _swap(norm))


def ihfft(a, n=None, axis: int = -1, norm=None):
    """The inverse of hfft: the Hermitian half-spectrum of a real signal, like jnp.fft.ihfft.

    Example:
        >>> anp.fft.ihfft(anp.ones(4)).shape   # (3,)
    """
    return anp.conj(rfft(a, n, axis, _swap(norm)))


def fftn(a, s=None, axes=None, norm=None):
    """The n-dimensional DFT over axes (default all, or the last len(s)), like jnp.fft.fftn.

    Example:
        >>> anp.fft.fftn(anp.ones((2, 3, 4)))[0, 0, 0]   # 24
    """
    return _transform("fftn", a, s, axes, norm, "FFT")


def ifftn(a, s=None, axes=None, norm=None):
    """The n-dimensional inverse DFT, like jnp.fft.ifftn.

    Example:
        >>> anp.fft.ifftn(anp.fft.fftn(x))   # x, as complex64
    """
    return _transform("ifftn", a, s, axes, norm, "IFFT")


def rfftn(a, s=None, axes=None, norm=None):
    """The n-dimensional DFT of a real array (the last axis halved), like jnp.fft.rfftn.

    Example:
        >>> anp.fft.rfftn(anp.ones((4, 6))).shape   # (4, 4)
    """
    return _transform("rfftn", a, s, axes, norm, "RFFT")


def irfftn(a, s=None, axes=None, norm=None):
    """The inverse of rfftn, like jnp.fft.irfftn.

    Example:
        >>> anp.fft.irfftn(anp.fft.rfftn(x), s=x.shape)   # x
    """
    return _transform("irfftn", a, s, axes, norm, "IRFFT")


def fft2(a, s=None, axes=(-2, -1), norm=None):
    """The 2-D DFT over axes (default the last two), like jnp.fft.fft2.

    Example:
        >>> anp.fft.fft2(anp.ones((3, 4)))[0, 0]   # 12
    """
    return _transform("fft2", a, s, axes, norm, "FFT")


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    """The 2-D inverse DFT, like jnp.fft.ifft2.

    Example:
        >>> anp.fft.ifft2(anp.fft.fft2(x))   # x, as complex64
    """
    return _transform("ifft2", a, s, axes, norm, "IFFT")


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    """The 2-D DFT of a real array, like jnp.fft.rfft2.

    Example:
        >>> anp.fft.rfft2(anp.ones((4, 6))).shape   # (4, 4)
    """
    return _transform("rfft2", a, s, axes, norm, "RFFT")


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    """The inverse of rfft2, like jnp.fft.irfft2.

    Example:
        >>> anp.fft.irfft2(anp.fft.rfft2(x), s=x.shape)   # x
    """
    return _transform("irfft2", a, s, axes, norm, "IRFFT")


def _frequencies(name: str, n, d, dtype, positive_only: bool):
    try:
        n = operator.index(n)
    except TypeError:
        raise _fail(f"{name}: n must be a Python int, got {n!r}") from None
    if n < 1:
        raise _fail(f"{name}: n must be at least 1, got {n}")
    if positive_only:
        k = np.arange(n // 2 + 1)
    else:
        k = np.concatenate([np.arange((n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    out = anp.asarray(k.astype(np.float32)) / (anp.asarray(d) * n)
    return out if dtype is None else out.astype(dtype)


def fftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies of an n-point DFT with sample spacing d, like jnp.fft.fftfreq.

    Example:
        >>> anp.fft.fftfreq(4)   # [0, 0.25, -0.5, -0.25]
    """
    return _frequencies("fftfreq", n, d, dtype, positive_only=False)


def rfftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies of an n-point rfft with sample spacing d, like jnp.fft.rfftfreq.

    Example:
        >>> anp.fft.rfftfreq(4)   # [0, 0.25, 0.5]
    """
    return _frequencies("rfftfreq", n, d, dtype, positive_only=True)


def _shift(name: str, x, axes, sign: int):
    x = anp.asarray(x)
    if axes is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axes, int):
        axes = (axes,)
    if any(not isinstance(x.shape[a], int) for a in axes):
        raise _fail(f"{name}: the shifted axes need static sizes, got shape {x.shape}")
    shifts = tuple(sign * (x.shape[a] // 2) for a in axes)
    return anp.roll(x, shifts, tuple(axes)) if axes else x


def fftshift(x, axes=None):
    """x with the zero frequency moved to the center (numpy's roll by n // 2), like
    jnp.fft.fftshift.

    Example:
        >>> anp.fft.fftshift(anp.fft.fftfreq(4))   # [-0.5, -0.25, 0, 0.25]
    """
    return _shift("fftshift", x, axes, 1)


def ifftshift(x, axes=None):
    """The inverse of fftshift, like jnp.fft.ifftshift.

    Example:
        >>> anp.fft.ifftshift(anp.fft.fftshift(x))   # x
    """
    return _shift("ifftshift", x, axes, -1)
