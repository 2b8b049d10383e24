"""Windowed ops: stablehlo.convolution and stablehlo.reduce_window.

Both share the window arithmetic: a spatial dim of size n, base (lhs) dilation b, padding
(lo, hi), window size k with window (rhs) dilation d and stride s gives
`((n - 1) * b + 1 + lo + hi - ((k - 1) * d + 1)) // s + 1` outputs (0 when the window does not fit).
"""

import re

import numpy as np

from aotc.frontend.ir import ir, shape_of, tensor_type
from aotc.frontend.ops.control import build_region
from aotc.frontend.ops.reduction import body_ufunc
from aotc.frontend.registry import Attrs, defop, emit, emit1, i64, i64_array


def window_output_size(n, k, stride=1, pad=(0, 0), base_dilation=1, window_dilation=1):
    """Outputs of a window of size k sliding over a dim of size n (None stays dynamic)."""
    if n is None:
        return None
    padded = (n - 1) * base_dilation + 1 + pad[0] + pad[1] if n > 0 else pad[0] + pad[1]
    window = (k - 1) * window_dilation + 1
    return max(0, (padded - window) // stride + 1) if padded >= window else 0


def padding_attr(pads) -> ir.Attribute:
    """A (rank, 2) int64 DenseElementsAttr of (low, high) pairs."""
    array = np.asarray([[int(lo), int(hi)] for lo, hi in pads], np.int64).reshape(-1, 2)
    return ir.DenseElementsAttr.get(array)


def _pads(attrs, rank):
    if "padding" not in attrs:
        return [(0, 0)] * rank
    return [tuple(p) for p in attrs.array("padding").reshape(-1, 2).tolist()]


def _dilate_and_pad(x, axes, dilation, pads, fill):
    """Insert dilation-1 `fill` values between elements along axes, then pad (negative crops)."""
    shape = list(x.shape)
    grown = list(shape)
    for a, b in zip(axes, dilation):
        grown[a] = (shape[a] - 1) * b + 1 if shape[a] > 0 else 0
    full_shape = list(grown)
    for a, (lo, hi) in zip(axes, pads):
        full_shape[a] += max(lo, 0) + max(hi, 0)
    out = np.full(full_shape, fill, dtype=x.dtype)
    place = [np.s_[:]] * x.ndim
    for a, b, (lo, _) in zip(axes, dilation, pads):
        place[a] = np.s_[max(lo, 0):max(lo, 0) + grown[a]:b]
    out[tuple(place)] = x
    crop = [np.s_[:]] * x.ndim
    for a, (lo, hi) in zip(axes, pads):
        crop[a] = np.s_[max(-lo, 0):full_shape[a] - max(-hi, 0)]
    return out[tuple(crop)]


# ---- convolution -------------------------------------------------------------------------------
# Dimension numbers are kept in JAX's form: lhs (batch, feature, *spatial), rhs (out feature,
# in feature, *spatial), out (batch, feature, *spatial), each entry an operand dimension.


def conv_dimensions_attr(lhs_spec, rhs_spec, out_spec) -> ir.Attribute:
    """'#stablehlo.conv<[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]>' from JAX-style specs."""

    def roles(spec, first, second):
        names = [""] * len(spec)
        names[spec[0]], names[spec[1]] = first, second
        for i, d in enumerate(spec[2:]):
            names[d] = str(i)
        return "[" + ", ".join(names) + "]"

    text = (f"{roles(lhs_spec, 'b', 'f')}x{roles(rhs_spec, 'o', 'i')}->"
            f"{roles(out_spec, 'b', 'f')}")
    return ir.Attribute.parse(f"#stablehlo.conv<{text}>")


def conv_dimensions(attr_text: str) -> tuple[tuple, tuple, tuple]:
    """Parse the compact convolution dimension numbers back into JAX-style specs."""
    match = re.search(r"\[([^\]]*)\]x\[([^\]]*)\]->\[([^\]]*)\]", attr_text)
    if match is None:
        raise ValueError(f"cannot read convolution dimension numbers {attr_text}")

    def spec(text, first, second):
        names = [n.strip() for n in text.split(",") if n.strip()]
        spatial = sorted((int(n), i) for i, n in enumerate(names) if n.isdigit())
        return (names.index(first), names.index(second), *[i for _, i in spatial])

    return (spec(match[1], "b", "f"), spec(match[2], "o", "i"), spec(match[3], "b", "f"))


def _conv_geometry(attrs, nspatial):
    ones = [1] * nspatial
    return (attrs.ints("window_strides", ones), _pads(attrs, nspatial),
            attrs.ints("lhs_dilation", ones), attrs.ints("rhs_dilation", ones))


def _conv_type(types, attrs):
    lhs_spec, rhs_spec, out_spec = conv_dimensions(attrs.text("dimension_numbers"))
    lhs, rhs = shape_of(types[0]), shape_of(types[1])
    strides, pads, lhs_dil, rhs_dil = _conv_geometry(attrs, len(lhs) - 2)
    batch = lhs[lhs_spec[0]]
    batch = None if batch is None else batch // attrs.int("batch_group_count", 1)
    shape = [0] * len(lhs)
    shape[out_spec[0]], shape[out_spec[1]] = batch, rhs[rhs_spec[0]]
    for i, d in enumerate(out_spec[2:]):
        shape[d] = window_output_size(lhs[lhs_spec[2 + i]], rhs[rhs_spec[2 + i]], strides[i],
                                      pads[i], lhs_dil[i], rhs_dil[i])
    return [tensor_type(shape, ir.RankedTensorType(types[0]).element_type)]


def _conv_core(lhs, rhs, strides, rhs_dil, out_spatial):
    """lhs (N, C, *S) already dilated and padded, rhs (O, C, *K): a sum over kernel offsets."""
    out = np.zeros((lhs.shape[0], rhs.shape[0], *out_spatial), dtype=np.result_type(lhs, rhs))
    for offset in np.ndindex(*rhs.shape[2:]):
        window = tuple(np.s_[k * d:k * d + s * (n - 1) + 1:s] if n > 0 else np.s_[0:0]
                       for k, d, s, n in zip(offset, rhs_dil, strides, out_spatial))
        taps = rhs[(np.s_[:], np.s_[:], *offset)]
        out += np.einsum("nc...,oc->no...", lhs[(np.s_[:], np.s_[:], *window)], taps)
    return out


def _conv_impl(ctx, lhs, rhs):
    lhs_spec, rhs_spec, out_spec = conv_dimensions(ctx.attrs.text("dimension_numbers"))
    nspatial = lhs.ndim - 2
    strides, pads, lhs_dil, rhs_dil = _conv_geometry(ctx.attrs, nspatial)
    work = np.float64 if lhs.dtype.kind == "f" or rhs.dtype.kind == "f" else np.int64
    lhs = np.transpose(lhs, lhs_spec).astype(work)
    rhs = np.transpose(rhs, rhs_spec).astype(work)
    spatial_axes = list(range(2, lhs.ndim))
    lhs = _dilate_and_pad(lhs, spatial_axes, lhs_dil, pads, 0)
    out_spatial = [window_output_size(n, k, s, window_dilation=d) for n, k, s, d in
                   zip(lhs.shape[2:], rhs.shape[2:], strides, rhs_dil)]
    batch_groups = ctx.attrs.int("batch_group_count", 1)
    feature_groups = ctx.attrs.int("feature_group_count", 1)
    # StableHLO: split lhs batch (or feature) and rhs output feature into groups, concatenate.
    lhs_parts = (np.split(lhs, batch_groups, axis=0) if batch_groups > 1
                 else np.split(lhs, feature_groups, axis=1))
    rhs_parts = np.split(rhs, max(batch_groups, feature_groups), axis=0)
    out = np.concatenate([_conv_core(lp, rp, strides, rhs_dil, out_spatial)
                          for lp, rp in zip(lhs_parts, rhs_parts)], axis=1)
    return np.transpose(out, np.argsort(out_spec))


defop("stablehlo.convolution", _conv_type, _conv_impl)


def convolution(lhs: ir.Value, rhs: ir.Value, dimension_numbers, window_strides, padding,
                lhs_dilation, rhs_dilation, feature_group_count: int = 1,
                batch_group_count: int = 1) -> ir.Value:
    """`stablehlo.convolution`; dimension_numbers = (lhs_spec, rhs_spec, out_spec) as in JAX."""
    return emit1("stablehlo.convolution", [lhs, rhs], {
        "dimension_numbers": conv_dimensions_attr(*dimension_numbers),
        "window_strides": i64_array(window_strides),
        "padding": padding_attr(padding),
        "lhs_dilation": i64_array(lhs_dilation),
        "rhs_dilation": i64_array(rhs_dilation),
        "feature_group_count": i64(feature_group_count),
        "batch_group_count": i64(batch_group_count),
    })


# ---- reduce_window -----------------------------------------------------------------------------


def _window_geometry(attrs, rank):
    ones = [1] * rank
    return (attrs.ints("window_dimensions"), attrs.ints("window_strides", ones),
            attrs.ints("base_dilations", ones), attrs.ints("window_dilations", ones),
            _pads(attrs, rank))


def _reduce_window_type(types, attrs):
    n = len(types) // 2
    shape = shape_of(types[0])
    dims, strides, base, window, pads = _window_geometry(attrs, len(shape))
    out = [window_output_size(*args) for args in zip(shape, dims, strides, pads, base, window)]
    return [tensor_type(out, ir.RankedTensorType(t).element_type) for t in types[:n]]


def _windows(x, init, dims, strides, base, window, pads):
    """All windows of x as an array of shape (*output shape, *window dims)."""
    x = _dilate_and_pad(x, range(x.ndim), base, pads, init)
    spans = [(k - 1) * d + 1 for k, d in zip(dims, window)]
    if any(n < s for n, s in zip(x.shape, spans)):
        out = [0 if n < s else (n - s) // st + 1 for n, s, st in zip(x.shape, spans, strides)]
        return np.empty((*out, *dims), x.dtype)
    views = np.lib.stride_tricks.sliding_window_view(x, spans)
    outer = tuple(np.s_[::s] for s in strides)
    inner = tuple(np.s_[::d] for d in window)
    return views[(*outer, *inner)]


def _reduce_window_impl(ctx, *operands):
    n = len(operands) // 2
    inputs, inits = operands[:n], operands[n:]
    geometry = _window_geometry(ctx.attrs, inputs[0].ndim)
    windows = [_windows(x, init[()], *geometry) for x, init in zip(inputs, inits)]
    rank = inputs[0].ndim
    axes = tuple(range(rank, 2 * rank))
    ufunc = body_ufunc(ctx.region(0)) if n == 1 else None
    if ufunc is not None:
        w = windows[0]
        if w.dtype == np.bool_ and ufunc in (np.bitwise_and, np.bitwise_or):
            ufunc = np.logical_and if ufunc is np.bitwise_and else np.logical_or
        return ufunc.reduce(w, axis=axes, initial=inits[0][()])
    # General body: fold each window's elements in row-major order through the region.
    out_shape = windows[0].shape[:rank]
    flat = [w.reshape(int(np.prod(out_shape, dtype=int)), -1) for w in windows]
    results = [np.empty(flat[0].shape[0], dtype=ctx.result_dtype(i)) for i in range(n)]
    for row in range(flat[0].shape[0]):
        acc = list(inits)
        for k in range(flat[0].shape[1]):
            acc = ctx.run_region(0, *acc, *[w[row, k] for w in flat])
        for i in range(n):
            results[i][row] = acc[i]
    return [r.reshape(out_shape) for r in results]


defop("stablehlo.reduce_window", _reduce_window_type, _reduce_window_impl)


def reduce_window(operands, inits, window_dimensions, window_strides, padding, base_dilations,
                  window_dilations, body) -> list[ir.Value]:
    """`stablehlo.reduce_window`; body(*accumulators, *elements) -> new accumulators."""
    attrs = {
        "window_dimensions": i64_array(window_dimensions),
        "window_strides": i64_array(window_strides),
        "base_dilations": i64_array(base_dilations),
        "window_dilations": i64_array(window_dilations),
        "padding": padding_attr(padding),
    }
    types = [x.type for x in [*operands, *inits]]
    result_types = _reduce_window_type(types, Attrs(attrs))
    op = emit("stablehlo.reduce_window", [*operands, *inits], attrs, result_types=result_types,
              regions=1)
    scalars = [tensor_type((), ir.RankedTensorType(x.type).element_type) for x in operands]
    build_region(op.regions[0], scalars * 2, body)
    return list(op.results)
