"""aotc.lax's convolution helpers (via aotc.frontend.lax.more): conv_transpose, layouts as
ConvDimensionNumbers, and static output-shape helpers.
"""

import builtins
from typing import NamedTuple

import numpy as np

from aotc.frontend import numpy as anp
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.source import caller_site
from aotc.frontend.lax.more_shapes import rev
from aotc.frontend.trace.tracer import to_tracer

__all__ = [
    "ConvDimensionNumbers",
    "conv_dimension_numbers",
    "conv_general_dilated_patches",
    "conv_general_permutations",
    "conv_general_shape_tuple",
    "conv_shape_tuple",
    "conv_transpose",
    "conv_transpose_shape_tuple",
    "conv_with_general_padding",
    "reduce_window_shape_tuple",
]


class ConvDimensionNumbers(NamedTuple):
    """A convolution's layouts as dim permutations: (batch, feature, *spatial) of lhs and out,
    (out feature, in feature, *spatial) of rhs."""

    lhs_spec: tuple
    rhs_spec: tuple
    out_spec: tuple


# ---- convolutions ------------------------------------------------------------------------------


def conv_general_permutations(dimension_numbers):
    """The (lhs, rhs, out) dim permutations of three layout strings such as
    ("NHWC", "HWIO", "NHWC"); spatial dims are ordered as in the rhs layout.

    Example:
        >>> lax.conv_general_permutations(("NHWC", "HWIO", "NHWC"))   # ((0, 3, 1, 2), ...)
    """
    from aotc.frontend.lax import _conv_specs

    return _conv_specs(dimension_numbers, len(dimension_numbers[0]))


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers):
    """ConvDimensionNumbers from None (NCHW, OIHW, NCHW), layout strings or integer specs.

    Example:
        >>> dn = lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))
    """
    from aotc.frontend.lax import _conv_specs

    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return dimension_numbers
    if len(lhs_shape) != len(rhs_shape):
        raise TracingError(f"{caller_site()}: lax.conv_dimension_numbers: lhs rank "
                           f"{len(lhs_shape)} and rhs rank {len(rhs_shape)} differ")
    return ConvDimensionNumbers(*_conv_specs(dimension_numbers, len(lhs_shape)))


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    """conv_general_dilated in the default NCHW/OIHW layout, with dilations.

    Example:
        >>> lax.conv_with_general_padding(x, w, (1, 1), [(1, 1), (0, 0)], None, (2, 2))
    """
    from aotc.frontend.lax import conv_general_dilated

    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_general_dilated_patches(lhs, filter_shape, window_strides, padding, lhs_dilation=None,
                                 rhs_dilation=None, dimension_numbers=None, precision=None,
                                 preferred_element_type=None):
    """The patches (im2col) a convolution with a kernel of spatial filter_shape would see: each
    output position gets n_channels * prod(filter_shape) features, channel-major (JAX's layout:
    a grouped convolution with an identity kernel).

    Example:
        >>> lax.conv_general_dilated_patches(x, (3, 3), (1, 1), "SAME").shape   # NCHW: C*9
    """
    from aotc.frontend.lax import conv_general_dilated

    x = to_tracer(lhs)
    filter_shape = tuple(int(d) for d in filter_shape)
    dn = conv_dimension_numbers(x.shape, (1, 1, *filter_shape), dimension_numbers)
    spatial_size = int(np.prod(filter_shape, dtype=np.int64))
    n_channels = x.shape[dn.lhs_spec[1]]
    eye = np.eye(spatial_size, dtype=x.dtype)
    kernel = np.broadcast_to(eye, (n_channels, spatial_size, spatial_size))
    kernel = kernel.reshape((n_channels * spatial_size, 1, *filter_shape))
    kernel = np.moveaxis(kernel, (0, 1), (dn.rhs_spec[0], dn.rhs_spec[1]))
    return conv_general_dilated(x, anp.asarray(kernel), window_strides, padding, lhs_dilation,
                                rhs_dilation, dn, feature_group_count=n_channels,
                                preferred_element_type=preferred_element_type)


def _conv_transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else -(-pad_len // 2)
    elif padding == "VALID":
        pad_len = k + s - 2 + builtins.max(k - s, 0)
        pad_a = k - 1
    else:
        raise TracingError(f"{caller_site()}: lax.conv_transpose: padding {padding!r}; use "
                           "'SAME', 'VALID' or (low, high) pairs")
    return pad_a, pad_len - pad_a


_DEFAULT_TRANSPOSE_LAYOUTS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                              4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel: bool = False, precision=None, preferred_element_type=None):
    """The transposed ("deconvolution") convolution: lhs dilated by strides, then convolved
    (JAX's definition; default layouts NHWC / HWIO; transpose_kernel flips the kernel's spatial
    dims and swaps its feature dims, the gradient of conv).

    Example:
        >>> lax.conv_transpose(x, w, (2, 2), "SAME")   # NHWC in and out, spatial size x2
    """
    from aotc.frontend.lax import conv_general_dilated

    lhs, rhs = to_tracer(lhs), to_tracer(rhs)
    ndim = lhs.ndim
    if dimension_numbers is None:
        dimension_numbers = _DEFAULT_TRANSPOSE_LAYOUTS.get(ndim)
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    rhs_dilation = tuple(rhs_dilation) if rhs_dilation else (1,) * (ndim - 2)
    if isinstance(padding, str):
        kernel = [rhs.shape[d] for d in dn.rhs_spec[2:]]
        pads = [_conv_transpose_padding(0 if k == 0 else 1 + r * (k - 1), s, padding.upper())
                for k, r, s in zip(kernel, rhs_dilation, strides)]
    else:
        pads = padding
    if transpose_kernel:
        rhs = rev(rhs, dn.rhs_spec[2:])
        rhs = anp.swapaxes(rhs, dn.rhs_spec[0], dn.rhs_spec[1])
    return conv_general_dilated(lhs, rhs, (1,) * (ndim - 2), pads, tuple(strides), rhs_dilation,
                                dn, precision=precision,
                                preferred_element_type=preferred_element_type)


# ---- static shape helpers (Python ints in, a tuple of Python ints out) -------------------------


def _window_count(size: int, window: int, stride: int) -> int:
    return builtins.max(0, (size - window) // stride + 1)


def conv_shape_tuple(lhs_shape, rhs_shape, strides, pads, batch_group_count: int = 1) -> tuple:
    """The output shape of a convolution in the default NCHW/OIHW layout; pads is a padding
    string or (low, high) pairs.

    Example:
        >>> lax.conv_shape_tuple((1, 2, 5, 5), (4, 2, 3, 3), (2, 2), "SAME")   # (1, 4, 3, 3)
    """
    from aotc.frontend.lax import padtype_to_pads

    if isinstance(pads, str):
        pads = padtype_to_pads(lhs_shape[2:], rhs_shape[2:], strides, pads)
    space = tuple(_window_count(int(n) + int(lo) + int(hi), int(k), int(s))
                  for n, k, s, (lo, hi) in zip(lhs_shape[2:], rhs_shape[2:], strides, pads))
    return (int(lhs_shape[0]) // batch_group_count, int(rhs_shape[0]), *space)


def _permuted(shape, perm) -> tuple:
    return tuple(int(shape[p]) for p in perm)


def _unpermuted(shape, perm) -> tuple:
    return tuple(int(shape[i]) for i in np.argsort(perm))


def conv_general_shape_tuple(lhs_shape, rhs_shape, window_strides, padding,
                             dimension_numbers) -> tuple:
    """The output shape of conv_general_dilated (no dilation) with these layouts.

    Example:
        >>> lax.conv_general_shape_tuple((1, 5, 5, 2), (3, 3, 2, 4), (1, 1), "VALID",
        ...                              ("NHWC", "HWIO", "NHWC"))   # (1, 3, 3, 4)
    """
    lhs_perm, rhs_perm, out_perm = conv_dimension_numbers(lhs_shape, rhs_shape,
                                                          dimension_numbers)
    out = conv_shape_tuple(_permuted(lhs_shape, lhs_perm), _permuted(rhs_shape, rhs_perm),
                           window_strides, padding)
    return _unpermuted(out, out_perm)


def conv_transpose_shape_tuple(lhs_shape, rhs_shape, window_strides, padding,
                               dimension_numbers) -> tuple:
    """The output shape of conv_transpose with these layouts (no rhs dilation).

    Example:
        >>> lax.conv_transpose_shape_tuple((1, 5, 5, 2), (3, 3, 2, 4), (2, 2), "SAME",
        ...                                ("NHWC", "HWIO", "NHWC"))   # (1, 10, 10, 4)
    """
    lhs_perm, rhs_perm, out_perm = conv_dimension_numbers(lhs_shape, rhs_shape,
                                                          dimension_numbers)
    lhs_t, rhs_t = _permuted(lhs_shape, lhs_perm), _permuted(rhs_shape, rhs_perm)
    if isinstance(padding, str):
        padding = [_conv_transpose_padding(k, s, padding.upper())
                   for k, s in zip(rhs_t[2:], window_strides)]
    space = tuple((n - 1) * s - k + 2 + int(lo) + int(hi)
                  for n, k, s, (lo, hi) in zip(lhs_t[2:], rhs_t[2:], window_strides, padding))
    return _unpermuted((lhs_t[0], rhs_t[0], *space), out_perm)


def reduce_window_shape_tuple(operand_shape, window_dimensions, window_strides, padding,
                              base_dilation=None, window_dilation=None) -> tuple:
    """The output shape of reduce_window with (low, high) padding pairs and dilations.

    Example:
        >>> lax.reduce_window_shape_tuple((6, 6), (2, 2), (2, 2), ((0, 0), (1, 1)))   # (3, 4)
    """
    def dilate(shape, rates):
        if rates is None:
            return [int(d) for d in shape]
        return [0 if d == 0 else 1 + int(r) * (int(d) - 1) for d, r in zip(shape, rates)]

    sizes, windows = dilate(operand_shape, base_dilation), dilate(window_dimensions,
                                                                  window_dilation)
    return tuple(_window_count(n + int(lo) + int(hi), w, int(s))
                 for n, w, s, (lo, hi) in zip(sizes, windows, window_strides, padding))
