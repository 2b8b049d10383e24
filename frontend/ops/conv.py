"""Windowed ops: stablehlo.convolution and stablehlo.reduce_window.

Both share the window arithmetic: a spatial dim of size n, base (lhs) dilation b, padding
(lo, hi), window size k with window (rhs) dilation d and stride s gives
`((n - 1) * b + 1 + lo + hi - ((k - 1) * d + 1)) // s + 1` outputs (0 when the window does not fit).

Rules follow JAX's: a convolution is bilinear, its transposes are convolutions (of the cotangent
with the reversed kernel, or of the input with the cotangent), and vmap folds the batch into the
conv's batch or feature groups. A sum window is linear (its transpose pads and sums the
cotangent again); a max or min window's tangent is the tangent of the element it picked.
Windows with other bodies are differentiated in reduce_window_jvp.py (a fold of the body).
"""

import re

import numpy as np

from aotc.frontend.core.emit import Attrs, emit, emit1, i64, i64_array
from aotc.frontend.core.errors import MissingRuleError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import defop, register
from aotc.frontend.ops import conv_taps
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.control import build_region
from aotc.frontend.ops.reduction import batched_reduction, body_ufunc, fold_trailing
from aotc.frontend.ops.rules import defbilinear, structural_jvp


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


def dilate_and_pad(x, axes, dilation, pads, fill):
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
    floats = "fV"  # "V": ml_dtypes' bfloat16 and float8 types
    work = np.float64 if lhs.dtype.kind in floats or rhs.dtype.kind in floats else np.int64
    lhs = np.transpose(lhs, lhs_spec).astype(work)
    rhs = np.transpose(rhs, rhs_spec).astype(work)
    spatial_axes = list(range(2, lhs.ndim))
    lhs = dilate_and_pad(lhs, spatial_axes, lhs_dil, pads, 0)
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
    x = dilate_and_pad(x, range(x.ndim), base, pads, init)
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
    return fold_trailing(ctx, windows, inits, inputs[0].ndim)


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


# ---- shared by the rules -----------------------------------------------------------------------


def _dilated(sizes, dilation) -> list[int]:
    """Sizes after inserting dilation - 1 holes between elements (JAX's _dilate_shape)."""
    return [0 if n == 0 else (n - 1) * d + 1 for n, d in zip(sizes, dilation)]


def transpose_lhs_padding(in_sizes, window, strides, out_sizes, pads, lhs_dilation,
                          rhs_dilation) -> list[tuple[int, int]]:
    """Padding of the window op that maps an output cotangent back onto the input (JAX's
    _conv_general_vjp_lhs_padding): the full correlation with the reversed window."""
    lhs_d, rhs_d = _dilated(in_sizes, lhs_dilation), _dilated(window, rhs_dilation)
    out_d = _dilated(out_sizes, strides)
    before = [k - lo - 1 for k, (lo, _) in zip(rhs_d, pads)]
    return [(b, n + k - 1 - o - b) for b, n, k, o in zip(before, lhs_d, rhs_d, out_d)]


def _transpose_rhs_padding(in_sizes, window, strides, out_sizes, pads, lhs_dilation,
                           rhs_dilation) -> list[tuple[int, int]]:
    """JAX's _conv_general_vjp_rhs_padding."""
    lhs_d, rhs_d = _dilated(in_sizes, lhs_dilation), _dilated(window, rhs_dilation)
    out_d = _dilated(out_sizes, strides)
    return [(lo, o - n + k - lo - 1) for n, k, o, (lo, _) in zip(lhs_d, rhs_d, out_d, pads)]


def _static_shape(t, transform: str, op_name: str, location: str) -> list[int]:
    shape = shape_of(t)
    if None in shape:
        raise MissingRuleError(transform, f"{op_name} with dynamic shapes", location)
    return shape


def _axis_into(src: int, dst: int, x: ir.Value) -> ir.Value:
    """Merge axis src into axis dst (numbered without src) as its major part (JAX's
    _reshape_axis_into)."""
    shape = shape_of(x)
    order = [d for d in range(len(shape)) if d != src]
    order.insert(dst, src)
    merged = [shape[d] for d in range(len(shape)) if d != src]
    merged[dst] *= shape[src]
    return shape_ops.reshape(shape_ops.transpose(x, order), merged)


def _axis_out_of(src: int, size: int, x: ir.Value) -> ir.Value:
    """Split axis src into (size, rest) (JAX's _reshape_axis_out_of)."""
    shape = list(shape_of(x))
    shape[src:src + 1] = [size, shape[src] // size]
    return shape_ops.reshape(x, shape)


# ---- convolution: autodiff and batching --------------------------------------------------------


def _conv_params(attrs, rank: int) -> dict:
    """The keyword arguments of `convolution` that rebuild an op with these attributes."""
    strides, pads, lhs_dil, rhs_dil = _conv_geometry(attrs, rank - 2)
    return {"dimension_numbers": conv_dimensions(attrs.text("dimension_numbers")),
            "window_strides": strides, "padding": pads, "lhs_dilation": lhs_dil,
            "rhs_dilation": rhs_dil,
            "feature_group_count": attrs.int("feature_group_count", 1),
            "batch_group_count": attrs.int("batch_group_count", 1)}


def _conv_transpose_lhs(ct, rhs, lhs_shape, rhs_shape, p) -> ir.Value:
    """JAX's _conv_general_dilated_transpose_lhs: ct correlated with the reversed kernel, the
    strides becoming lhs dilation. Groups move from the kernel's output features to its input
    features; batch groups come back out of the result's features into its batch."""
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    feature_groups, batch_groups = p["feature_group_count"], p["batch_group_count"]
    groups = max(feature_groups, batch_groups)
    if groups > 1:
        rhs = _axis_into(rhs_spec[0], rhs_spec[1], _axis_out_of(rhs_spec[0], groups, rhs))
    ct_shape = shape_of(ct)
    pads = transpose_lhs_padding(
        [lhs_shape[d] for d in lhs_spec[2:]], [rhs_shape[d] for d in rhs_spec[2:]],
        p["window_strides"], [ct_shape[d] for d in out_spec[2:]], p["padding"],
        p["lhs_dilation"], p["rhs_dilation"])
    t_rhs_spec = (rhs_spec[1], rhs_spec[0], *rhs_spec[2:])
    out = convolution(ct, shape_ops.reverse(rhs, list(rhs_spec[2:])),
                      (out_spec, t_rhs_spec, lhs_spec), p["lhs_dilation"], pads,
                      p["window_strides"], p["rhs_dilation"], feature_group_count=groups)
    if batch_groups > 1:
        out = _axis_into(lhs_spec[1], lhs_spec[0], _axis_out_of(lhs_spec[1], batch_groups, out))
    return out


def _conv_transpose_rhs(ct, lhs, lhs_shape, rhs_shape, p) -> ir.Value:
    """The kernel's cotangent: one dot_general per kernel tap where conv_taps.use_taps says
    so (the form IREE compiles well), else JAX's _conv_general_dilated_transpose_rhs: lhs
    correlated with ct, batch and feature roles swapped (feature groups become batch groups
    and back)."""
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    kernel_sizes = [rhs_shape[d] for d in rhs_spec[2:]]
    if conv_taps.use_taps(kernel_sizes, p["feature_group_count"], p["batch_group_count"]):
        return conv_taps.filter_gradient(
            lhs, ct, p["dimension_numbers"], kernel_sizes, p["window_strides"], p["padding"],
            p["lhs_dilation"], p["rhs_dilation"])
    ct_shape = shape_of(ct)
    pads = _transpose_rhs_padding(
        [lhs_shape[d] for d in lhs_spec[2:]], [rhs_shape[d] for d in rhs_spec[2:]],
        p["window_strides"], [ct_shape[d] for d in out_spec[2:]], p["padding"],
        p["lhs_dilation"], p["rhs_dilation"])
    swap = [(s[1], s[0], *s[2:]) for s in (lhs_spec, rhs_spec, out_spec)]
    return convolution(lhs, ct, (swap[0], swap[2], swap[1]), p["rhs_dilation"], pads,
                       p["lhs_dilation"], p["window_strides"],
                       feature_group_count=p["batch_group_count"],
                       batch_group_count=p["feature_group_count"])


def _shapes_and_params(ctx):
    shapes = [_static_shape(t, "transpose", "stablehlo.convolution", ctx.location)
              for t in ctx.operand_types]
    return shapes, _conv_params(ctx.attrs, len(shapes[0]))


def _as_element(v: ir.Value, like: ir.Value | ir.Type) -> ir.Value:
    """v converted to like's element type: a convolution with a preferred element type (bf16
    operands, f32 result) transposes in the cotangent's type, and each cotangent returns to its
    operand's type (JAX's rule)."""
    element = values.element(like)
    return v if values.element(v) == element else ew.convert(v, element)


def _conv_lhs_transpose(ctx, ct, rhs):
    shapes, p = _shapes_and_params(ctx)
    return _as_element(_conv_transpose_lhs(ct, _as_element(rhs, ct), *shapes, p),
                       ctx.operand_types[0])


def _conv_rhs_transpose(ctx, ct, lhs):
    shapes, p = _shapes_and_params(ctx)
    if 0 in shape_of(ct):
        return values.zeros_like(ctx.operand_types[1])
    return _as_element(_conv_transpose_rhs(ct, _as_element(lhs, ct), *shapes, p),
                       ctx.operand_types[1])


# conv(lhs_dot, rhs) + conv(lhs, rhs_dot), each a clone of the op
defbilinear("stablehlo.convolution", _conv_lhs_transpose, _conv_rhs_transpose)


def _conv_batch(ctx, operands, batched):
    """JAX's _conv_general_dilated_batch_rule with every batch dim first: a batched lhs folds
    its batch into the conv's batch (inside each batch group); a batched rhs folds it into the
    output features (inside each group); both batched become feature (or batch) groups."""
    (lhs, rhs), (lhs_batched, rhs_batched), size = operands, batched, ctx.size
    for v in operands:
        _static_shape(v.type, "batch", "stablehlo.convolution", ctx.location)
    # a preferred element type (bf16 operands, f32 result): products of the operands are exact
    # in it, so converting first computes the same result
    lhs, rhs = _as_element(lhs, ctx.result_types[0]), _as_element(rhs, ctx.result_types[0])
    if size == 0:
        return [values.zeros_like(ctx.batched_types()[0])], [True]
    p = _conv_params(ctx.attrs, len(shape_of(ctx.op.operands[0])))
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    feature_groups, batch_groups = p["feature_group_count"], p["batch_group_count"]

    def unfold(out, axis):
        return [values.move_axis(_axis_out_of(axis, size, out), axis, 0)], [True]

    if lhs_batched and rhs_batched:
        if batch_groups > 1:
            lhs = _axis_into(0, lhs_spec[0], lhs)
            p["batch_group_count"] = batch_groups * size
        else:
            lhs = _axis_into(0, lhs_spec[1], lhs)
            p["feature_group_count"] = feature_groups * size
        return unfold(convolution(lhs, _axis_into(0, rhs_spec[0], rhs), **p), out_spec[1])
    if lhs_batched:
        if batch_groups > 1:  # keep the groups outermost: (group, example, batch in group)
            lhs = _axis_into(0, lhs_spec[0] + 1, _axis_out_of(lhs_spec[0] + 1, batch_groups, lhs))
            lhs = _axis_into(lhs_spec[0], lhs_spec[0], lhs)
        else:
            lhs = _axis_into(0, lhs_spec[0], lhs)
        return unfold(convolution(lhs, rhs, **p), out_spec[0])
    groups = max(feature_groups, batch_groups)
    if groups == 1:
        return unfold(convolution(lhs, _axis_into(0, rhs_spec[0], rhs), **p), out_spec[1])
    # (group, example, features in group) on the kernel, then (example, group, ...) on the output
    rhs = _axis_into(0, rhs_spec[0] + 1, _axis_out_of(rhs_spec[0] + 1, groups, rhs))
    out = convolution(lhs, _axis_into(rhs_spec[0], rhs_spec[0], rhs), **p)
    out = _axis_out_of(out_spec[1] + 1, size, _axis_out_of(out_spec[1], groups, out))
    out = _axis_into(out_spec[1], out_spec[1] + 1, out)
    return [values.move_axis(out, out_spec[1], 0)], [True]


register("batch", "stablehlo.convolution", _conv_batch)


# ---- reduce_window: autodiff and batching ------------------------------------------------------


def window_taps(x: ir.Value, fill: ir.Value, geometry, out_shape) -> list[ir.Value]:
    """For each offset in the window (row-major), the element at that offset of every window:
    slices of x dilated and padded with `fill`, each shaped like the output."""
    dims, strides, base, window, pads = geometry
    if any(b != 1 for b in base) or any(p != (0, 0) for p in pads):
        x = shape_ops.pad(x, fill, [lo for lo, _ in pads], [hi for _, hi in pads],
                          [b - 1 for b in base])
    taps = []
    for offset in np.ndindex(*dims):
        start = [k * d for k, d in zip(offset, window)]
        limit = [s + st * (n - 1) + 1 for s, st, n in zip(start, strides, out_shape)]
        taps.append(shape_ops.slice(x, start, limit, strides))
    return taps


def _chosen_tangent(attrs, x, init, x_dot, out) -> ir.Value:
    """Tangent of a max (min) window reduction: in each window, the tangent of the first
    element (in window order) equal to the result, or 0 where only padding was. Written with
    pads, slices and selects, so reverse mode and vmap follow from their rules (IREE 3.13
    cannot lower stablehlo.select_and_scatter, the transpose of JAX's select_and_gather_add)."""
    geometry = _window_geometry(attrs, len(shape_of(x)))
    out_shape = shape_of(out)
    if 0 in out_shape:
        return values.zeros_like(out)
    if _tiles(geometry, shape_of(x), out_shape):
        return _tiled_chosen_tangent(x, init, x_dot, out, geometry)
    zero = values.scalar(0, values.element(x_dot))
    taps = window_taps(x, init, geometry, out_shape)
    tangent = values.zeros_like(out)
    for tap, tap_dot in reversed(list(zip(taps, window_taps(x_dot, zero, geometry,
                                                              out_shape)))):
        tangent = ew.select(ew.compare("EQ", tap, out), tap_dot, tangent)
    return tangent


def _tiles(geometry, shape, out_shape) -> bool:
    """Whether the windows tile x exactly: window = strides, no padding or dilation, and
    every dim a whole number of windows (2x2 max pooling with stride 2 on even sizes)."""
    dims, strides, base, window, pads = geometry
    return (list(dims) == list(strides) and all(b == 1 for b in base)
            and all(w == 1 for w in window) and all(p == (0, 0) for p in pads)
            and all(n == o * k for n, o, k in zip(shape, out_shape, dims)))


def _tiled_chosen_tangent(x, init, x_dot, out, geometry) -> ir.Value:
    """_chosen_tangent for windows that tile x: the (row-major) position of the first element
    equal to the result in each window, from a select chain over the window's strided slices;
    then x_dot as (out_0, k_0, out_1, k_1, ...), where that position matches, summed over the
    window axes. Its transpose is a broadcast, a select and a reshape, where the general form
    transposes to one interior-padded scatter per window offset (0.18 ms of CPU for the
    backward of grad.py's CNN max pool, 16x28x28x8). A min-reduce of positions over the
    window axes instead of the select chain was slower (strided: 0.9 ms for 64x28x28x16)."""
    from aotc.frontend.ops.reduction import reduce_binary

    dims, out_shape = geometry[0], shape_of(out)
    tiled = [n for pair in zip(out_shape, dims) for n in pair]
    outer, inner = list(range(0, 2 * len(dims), 2)), list(range(1, 2 * len(dims), 2))
    taps, i32 = window_taps(x, init, geometry, out_shape), ir.IntegerType.get_signless(32)
    first = values.broadcast_scalar(values.scalar(len(taps), i32), out)  # none: past the end
    for k in reversed(range(len(taps))):
        here = values.broadcast_scalar(values.scalar(k, i32), out)
        first = ew.select(ew.compare("EQ", taps[k], out), here, first)
    positions = np.arange(len(taps), dtype=np.int32).reshape(dims)
    position = shape_ops.broadcast_in_dim(shape_ops.constant(positions), tiled, inner)
    chosen = ew.compare("EQ", position, shape_ops.broadcast_in_dim(first, tiled, outer))
    tangents = shape_ops.reshape(x_dot, tiled)
    picked = ew.select(chosen, tangents, values.zeros_like(tangents))
    return reduce_binary(picked, values.scalar(0, values.element(x_dot)), inner, ew.add)


def _product_tangent(attrs, x, init, x_dot, out) -> ir.Value:
    """Tangent of a product window reduction (JAX's cumprod): sum over window offsets i of
    x_dot_i times the product of the other taps, from prefix and suffix products (no division,
    so zeros in x are exact), times the init value."""
    geometry = _window_geometry(attrs, len(shape_of(x)))
    out_shape = shape_of(out)
    if 0 in out_shape:
        return values.zeros_like(out)
    zero = values.scalar(0, values.element(x_dot))
    taps = window_taps(x, init, geometry, out_shape)
    dots = window_taps(x_dot, zero, geometry, out_shape)

    def running_products(items):
        products, acc = [], None
        for item in items:
            products.append(acc)
            acc = item if acc is None else ew.multiply(acc, item)
        return products

    before, after = running_products(taps), running_products(taps[::-1])[::-1]
    tangent = None
    for dot, left, right in zip(dots, before, after):
        term = dot
        for factor in (left, right):
            term = term if factor is None else ew.multiply(term, factor)
        tangent = term if tangent is None else ew.add(tangent, term)
    return ew.multiply(tangent, values.broadcast_scalar(init, out))


_sum_window_jvp = structural_jvp(0, 1)  # the sum with its init is linear in both


def special_window_jvp(ctx, primals, tangents):
    """The JVP of a sum, product, max or min window reduction (the first two with a constant
    init value), or None for other bodies (reduce_window_jvp folds those)."""
    ufunc = body_ufunc(ctx.op.regions[0]) if len(primals) == 2 else None
    if ufunc is np.add:
        return _sum_window_jvp(ctx, primals, tangents)
    if ufunc not in (np.maximum, np.minimum, np.multiply) or not values.is_zero(tangents[1]):
        return None
    (x, init), x_dot = primals, tangents[0]
    if values.is_zero(x_dot):
        return [values.Zero.of(ctx.results[0])]
    _static_shape(x.type, "jvp", "stablehlo.reduce_window", ctx.location)
    tangent_of = _product_tangent if ufunc is np.multiply else _chosen_tangent
    return [tangent_of(ctx.attrs, x, init, x_dot, ctx.results[0])]


def window_geometry(ctx) -> tuple:
    """(window dims, strides, base dilations, window dilations, padding) of a reduce_window."""
    return _window_geometry(ctx.attrs, len(shape_of(ctx.op.operands[0])))


def _reduce_window_transpose(ctx, cts, operands):
    """JAX's _reduce_window_sum_transpose_rule: pad ct (strides as interior padding), then sum
    windows again with the base dilation as strides."""
    if len(operands) != 2 or body_ufunc(ctx.op.regions[0]) is not np.add or ctx.linear[1]:
        raise MissingRuleError("transpose", "stablehlo.reduce_window (only sums with a constant "
                               "init value are linear)", ctx.location)
    shape = _static_shape(ctx.operand_types[0], "transpose", "stablehlo.reduce_window",
                          ctx.location)
    rank, ct = len(shape), cts[0]
    dims, strides, base, window, pads = _window_geometry(ctx.attrs, rank)
    pads = transpose_lhs_padding(shape, dims, strides, shape_of(ct), pads, base, window)
    zero = values.scalar(0, values.element(ct))
    padded = shape_ops.pad(ct, zero, [lo for lo, _ in pads], [hi for _, hi in pads],
                           [s - 1 for s in strides])
    summed = reduce_window([padded], [zero], dims, base, [(0, 0)] * rank, [1] * rank, window,
                           lambda acc, x: [ew.add(acc, x)])
    return [summed[0], None]


register("transpose", "stablehlo.reduce_window", _reduce_window_transpose)


def _reduce_window_batch(ctx, operands, batched):
    """A window of size 1 over the leading batch dim."""
    n = len(operands) // 2
    new = batched_reduction(ctx, operands, batched)
    rank = len(shape_of(ctx.op.operands[0]))
    dims, strides, base, window, pads = _window_geometry(ctx.attrs, rank)
    for name, value in (("window_dimensions", dims), ("window_strides", strides),
                        ("base_dilations", base), ("window_dilations", window)):
        new.attributes[name] = i64_array([1, *value])
    new.attributes["padding"] = padding_attr([(0, 0), *pads])
    return list(new.results), [True] * n


register("batch", "stablehlo.reduce_window", _reduce_window_batch)
