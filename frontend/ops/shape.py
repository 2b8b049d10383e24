"""Shape and data-movement ops: constant, iota, broadcast, reshape, transpose, slices, pad, ..."""

import builtins

import numpy as np

from aotc.frontend.core import dtypes
from aotc.frontend.core.emit import emit1, i64, i64_array
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import defop, defzero, register
from aotc.frontend.core.source import location_text
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.rules import deflinear


def _explicit_type(types, attrs):
    raise TypeError("this op's result type must be given by its builder")


def _element(x: ir.Value) -> ir.Type:
    return ir.RankedTensorType(x.type).element_type


# ---- constant, iota ----------------------------------------------------------------------------


def _constant_impl(ctx):
    value = ctx.attrs.array("value")
    return np.broadcast_to(value, ctx.result_shape(0)).astype(ctx.result_dtype(0))


defop("stablehlo.constant", lambda types, attrs: [attrs.raw("value").type], _constant_impl)


def constant(value, dtype=None) -> ir.Value:
    """A dense constant from a numpy array (or scalar) of an aotc dtype."""
    array = np.asarray(value, dtype=dtypes.canonicalize(dtype) if dtype is not None else None)
    dt = dtypes.canonicalize(array.dtype)
    element = dtypes.to_mlir(dt)
    if dt == dtypes.bfloat16:  # no bf16 DenseElementsAttr round trip: build f32 and convert
        from aotc.frontend.ops.elementwise import convert

        return convert(constant(array.astype(np.float32)), element)
    if dt.kind == "c":  # the bindings cannot read complex DenseElementsAttrs back: two parts
        parts = [constant(part) for part in (array.real, array.imag)]
        return emit1("stablehlo.complex", parts, result_types=[tensor_type(array.shape, element)])
    attr = ir.DenseElementsAttr.get(array.copy(order="C"), type=element, shape=list(array.shape))
    return emit1("stablehlo.constant", [], {"value": attr})


def _iota_impl(ctx):
    shape, dim = ctx.result_shape(0), ctx.attrs.int("iota_dimension")
    index = np.arange(shape[dim]).reshape([-1 if i == dim else 1 for i in range(len(shape))])
    return np.broadcast_to(index, shape)


defop("stablehlo.iota", _explicit_type, _iota_impl)


def iota(shape, dimension: int, element: ir.Type) -> ir.Value:
    return emit1("stablehlo.iota", [], {"iota_dimension": i64(dimension)},
                 result_types=[tensor_type(shape, element)])


def _dynamic_iota_impl(ctx, output_shape):
    shape, dim = tuple(int(d) for d in output_shape), ctx.attrs.int("iota_dimension")
    index = np.arange(shape[dim]).reshape([-1 if i == dim else 1 for i in range(len(shape))])
    return np.broadcast_to(index, shape)


defop("stablehlo.dynamic_iota", _explicit_type, _dynamic_iota_impl)


def dynamic_iota(output_shape: ir.Value, shape, dimension: int, element: ir.Type) -> ir.Value:
    """An iota whose dynamic sizes (None in `shape`) come from the 1-D tensor output_shape."""
    return emit1("stablehlo.dynamic_iota", [output_shape], {"iota_dimension": i64(dimension)},
                 result_types=[tensor_type(shape, element)])


# ---- broadcast, reshape, transpose -------------------------------------------------------------


def _broadcast_impl(ctx, x, *output_shape):
    shape = tuple(int(d) for d in output_shape[0]) if output_shape else ctx.result_shape(0)
    dims = ctx.attrs.ints("broadcast_dimensions")
    expanded = [1] * len(shape)
    for i, d in enumerate(dims):
        expanded[d] = x.shape[i]
    return np.broadcast_to(x.reshape(expanded), shape)


defop("stablehlo.broadcast_in_dim", _explicit_type, _broadcast_impl)
defop("stablehlo.dynamic_broadcast_in_dim", _explicit_type, _broadcast_impl)


def broadcast_in_dim(x: ir.Value, shape, dims, output_dimensions: ir.Value | None = None):
    """Broadcast x into `shape`, operand dim i going to result dim dims[i].

    With dynamic dims in `shape`, `output_dimensions` (a 1-D i32 tensor) gives their runtime sizes.
    """
    result = tensor_type(shape, _element(x))
    if any(d is None for d in shape):
        # IREE folds a chain of dynamic broadcasts into one that has lost the facts below and
        # then cannot lower it: compose the chain here instead.
        owner = x.owner.operation if isinstance(x, ir.OpResult) else None
        if owner is not None and owner.name in ("stablehlo.broadcast_in_dim",
                                                 "stablehlo.dynamic_broadcast_in_dim"):
            inner = [int(d) for d in ir.DenseI64ArrayAttr(owner.attributes["broadcast_dimensions"])]
            x, dims = owner.operands[0], [dims[d] for d in inner]
        # A dynamic operand dim keeps its size (as in JAX); static 1s to other sizes expand.
        operand = shape_of(x)
        attrs = {
            "broadcast_dimensions": i64_array(dims),
            "known_nonexpanding_dimensions": i64_array(
                [i for i, d in enumerate(operand) if d is None or d == shape[dims[i]]]),
            "known_expanding_dimensions": i64_array(
                [i for i, d in enumerate(operand) if d == 1 and shape[dims[i]] != 1]),
        }
        return emit1("stablehlo.dynamic_broadcast_in_dim", [x, output_dimensions], attrs,
                     result_types=[result])
    return emit1("stablehlo.broadcast_in_dim", [x], {"broadcast_dimensions": i64_array(dims)},
                 result_types=[result])


def _reshape_impl(ctx, x, *output_shape):
    shape = tuple(int(d) for d in output_shape[0]) if output_shape else ctx.result_shape(0)
    return np.reshape(x, shape)


defop("stablehlo.reshape", _explicit_type, _reshape_impl)
defop("stablehlo.dynamic_reshape", _explicit_type, _reshape_impl)


def reshape(x: ir.Value, shape, output_shape: ir.Value | None = None) -> ir.Value:
    result = tensor_type(shape, _element(x))
    if any(d is None for d in shape):
        return emit1("stablehlo.dynamic_reshape", [x, output_shape], result_types=[result])
    return emit1("stablehlo.reshape", [x], result_types=[result])


def _transpose_type(types, attrs):
    shape = shape_of(types[0])
    return [tensor_type([shape[p] for p in attrs.ints("permutation")],
                        ir.RankedTensorType(types[0]).element_type)]


defop("stablehlo.transpose", _transpose_type,
      lambda ctx, x: np.transpose(x, ctx.attrs.ints("permutation")))


def transpose(x: ir.Value, permutation) -> ir.Value:
    if list(permutation) == list(range(len(permutation))):
        return x
    return emit1("stablehlo.transpose", [x], {"permutation": i64_array(permutation)})


def _get_dimension_size_type(types, attrs):
    return [tensor_type((), ir.IntegerType.get_signless(32))]


defop("stablehlo.get_dimension_size", _get_dimension_size_type,
      lambda ctx, x: np.int32(x.shape[ctx.attrs.int("dimension")]))


def get_dimension_size(x: ir.Value, dimension: int) -> ir.Value:
    return emit1("stablehlo.get_dimension_size", [x], {"dimension": i64(dimension)})


# ---- slicing, concatenation, padding, reversal -------------------------------------------------


def _slice_type(types, attrs):
    start, limit = attrs.ints("start_indices"), attrs.ints("limit_indices")
    strides = attrs.ints("strides")
    shape = [max(0, -(-(hi - lo) // st)) for lo, hi, st in zip(start, limit, strides)]
    return [tensor_type(shape, ir.RankedTensorType(types[0]).element_type)]


def _slice_impl(ctx, x):
    start, limit = ctx.attrs.ints("start_indices"), ctx.attrs.ints("limit_indices")
    strides = ctx.attrs.ints("strides")
    return x[tuple(builtins.slice(lo, hi, st) for lo, hi, st in zip(start, limit, strides))]


defop("stablehlo.slice", _slice_type, _slice_impl)


def slice(x: ir.Value, start, limit, strides=None) -> ir.Value:
    strides = strides or [1] * len(start)
    return emit1("stablehlo.slice", [x], {
        "start_indices": i64_array(start),
        "limit_indices": i64_array(limit),
        "strides": i64_array(strides),
    })


def _clamped_starts(shape, sizes, starts):
    return [int(np.clip(int(s), 0, n - k)) for s, n, k in zip(starts, shape, sizes)]


def _dynamic_slice_type(types, attrs):
    return [tensor_type(attrs.ints("slice_sizes"), ir.RankedTensorType(types[0]).element_type)]


def _dynamic_slice_impl(ctx, x, *starts):
    sizes = ctx.attrs.ints("slice_sizes")
    lo = _clamped_starts(x.shape, sizes, starts)
    return x[tuple(np.s_[s:s + k] for s, k in zip(lo, sizes))]


defop("stablehlo.dynamic_slice", _dynamic_slice_type, _dynamic_slice_impl)


def dynamic_slice(x: ir.Value, starts, sizes) -> ir.Value:
    """Slice of `sizes` at scalar-tensor `starts`, clamped to stay in bounds (StableHLO rule)."""
    return emit1("stablehlo.dynamic_slice", [x, *starts], {"slice_sizes": i64_array(sizes)})


def _dynamic_update_slice_impl(ctx, x, update, *starts):
    lo = _clamped_starts(x.shape, update.shape, starts)
    out = x.copy()
    out[tuple(np.s_[s:s + k] for s, k in zip(lo, update.shape))] = update
    return out


defop("stablehlo.dynamic_update_slice", lambda types, attrs: [types[0]],
      _dynamic_update_slice_impl)


def dynamic_update_slice(x: ir.Value, update: ir.Value, starts) -> ir.Value:
    return emit1("stablehlo.dynamic_update_slice", [x, update, *starts])


def _concatenate_type(types, attrs):
    dim = attrs.int("dimension")
    shapes = [shape_of(t) for t in types]
    shape = list(shapes[0])
    sizes = [s[dim] for s in shapes]
    shape[dim] = None if None in sizes else sum(sizes)
    return [tensor_type(shape, ir.RankedTensorType(types[0]).element_type)]


defop("stablehlo.concatenate", _concatenate_type,
      lambda ctx, *xs: np.concatenate(xs, axis=ctx.attrs.int("dimension")))


def concatenate(xs, dimension: int) -> ir.Value:
    if len(xs) == 1:
        return xs[0]
    return emit1("stablehlo.concatenate", list(xs), {"dimension": i64(dimension)})


def _pad_type(types, attrs):
    lo, hi = attrs.ints("edge_padding_low"), attrs.ints("edge_padding_high")
    interior = attrs.ints("interior_padding")
    shape = [None if n is None else n + a + b + max(n - 1, 0) * c
             for n, a, b, c in zip(shape_of(types[0]), lo, hi, interior)]
    return [tensor_type(shape, ir.RankedTensorType(types[0]).element_type)]


def _pad_impl(ctx, x, value):
    lo, hi = ctx.attrs.ints("edge_padding_low"), ctx.attrs.ints("edge_padding_high")
    interior = ctx.attrs.ints("interior_padding")
    # place x on a grid with interior spacing inside a full, then crop negative padding
    grown = [n + max(n - 1, 0) * c for n, c in zip(x.shape, interior)]
    full = np.full([g + max(a, 0) + max(b, 0) for g, a, b in zip(grown, lo, hi)], value,
                   dtype=x.dtype)
    full[tuple(np.s_[max(a, 0):max(a, 0) + g:c + 1] for a, g, c in zip(lo, grown, interior))] = x
    shape = [g + a + b for g, a, b in zip(grown, lo, hi)]  # from x: the type may be dynamic
    crop = tuple(np.s_[max(-a, 0):max(-a, 0) + n] for a, n in zip(lo, shape))
    return full[crop]


defop("stablehlo.pad", _pad_type, _pad_impl)


def pad(x: ir.Value, value: ir.Value, low, high, interior=None) -> ir.Value:
    interior = interior or [0] * len(low)
    return emit1("stablehlo.pad", [x, value], {
        "edge_padding_low": i64_array(low),
        "edge_padding_high": i64_array(high),
        "interior_padding": i64_array(interior),
    })


defop("stablehlo.reverse", lambda types, attrs: [types[0]],
      lambda ctx, x: np.flip(x, ctx.attrs.ints("dimensions")) if ctx.attrs.ints("dimensions")
      else x)


def reverse(x: ir.Value, dims) -> ir.Value:
    if not dims:
        return x
    return emit1("stablehlo.reverse", [x], {"dimensions": i64_array(dims)})


# ---- autodiff rules ----------------------------------------------------------------------------


# Every op here is linear in its array operands (`deflinear`: the JVP is the op applied to the
# tangents); its transpose follows. Start indices and shape operands are not linear.
defzero("stablehlo.constant", "stablehlo.iota", "stablehlo.get_dimension_size",
        "stablehlo.dynamic_iota")


# Sums over at least this many leading elements (with features kept after them) are split in two.
MIN_TWO_STAGE_ROWS = 1024


def _two_stage_split(rows: int) -> int | None:
    """The inner block size for summing `rows` leading elements in two stages: the largest
    divisor of rows in [8, 64], or None."""
    return next((k for k in range(64, 7, -1) if rows % k == 0), None)


def _sum_axes(ct: ir.Value, summed: list) -> ir.Value:
    """Sum ct over the axes `summed`. A sum over a static leading prefix of many elements,
    with features after it, runs in two stages: (rows/k, k, features) summed over k, then
    over rows/k.

    IREE 3.13 compiles a one-stage sum over N, H, W of an NHWC tensor as one strided
    reduction with the features outside the loop: 1.26 ms of CPU for 64x28x28x16, against
    0.56 ms in two stages (and 0.070 vs 0.024 ms for 16x28x28x8); that reduction was the
    largest dispatch of a CNN's gradient (the bias gradient)."""
    from aotc.frontend.ops.reduction import reduce_binary

    zero = values.scalar(0, values.element(ct))
    shape = shape_of(ct)
    leading = (None not in shape and summed == list(range(len(summed)))
               and len(summed) < len(shape))
    rows = int(np.prod(shape[:len(summed)])) if leading else 0
    k = _two_stage_split(rows)
    if rows < MIN_TWO_STAGE_ROWS or k is None:
        return reduce_binary(ct, zero, summed, ew.add)
    blocks = reshape(ct, [rows // k, k, *shape[len(summed):]])
    return reduce_binary(reduce_binary(blocks, zero, [1], ew.add), zero, [0], ew.add)


def _sum_to_shape(ct: ir.Value, shape, dims, like=None) -> ir.Value:
    """Sum ct (of a broadcast result) back to an operand of `shape` mapped to result `dims`
    (`like()` gives a value of that shape, for dynamic shapes)."""
    out_shape = shape_of(ct)
    summed = [d for d in range(len(out_shape)) if d not in dims]
    expanded = [i for i, d in enumerate(dims) if shape[i] == 1 and out_shape[d] != 1]
    summed = sorted(summed + [dims[i] for i in expanded])
    if summed:
        ct = _sum_axes(ct, summed)
    if list(shape_of(ct)) != list(shape):  # the expanded unit dims are missing
        if None in shape:  # a dynamic broadcast (IREE cannot lower dynamic reshapes)
            kept = [i for i in range(len(shape)) if i not in expanded]
            return broadcast_in_dim(ct, shape, kept, values.shape_tensor_of(like()))
        ct = reshape(ct, shape)
    return ct


def _broadcast_transpose(ctx, cts, operands):
    shape = shape_of(ctx.operand_types[0])
    return [_sum_to_shape(cts[0], shape, ctx.attrs.ints("broadcast_dimensions"),
                          lambda: ctx.like(0)), None]


def _reshape_transpose(ctx, cts, operands):
    shape = shape_of(ctx.operand_types[0])
    output = values.shape_tensor_of(ctx.like(0)) if None in shape else None
    return [reshape(cts[0], shape, output), None]


def _transpose_transpose(ctx, cts, operands):
    perm = ctx.attrs.ints("permutation")
    inverse = [perm.index(i) for i in range(len(perm))]
    return [transpose(cts[0], inverse)]


def _slice_transpose(ctx, cts, operands):
    shape = shape_of(ctx.operand_types[0])
    start, strides = ctx.attrs.ints("start_indices"), ctx.attrs.ints("strides")
    out = shape_of(cts[0])
    high = [n - (s + max(k - 1, 0) * st + 1) if k else n - s
            for n, s, k, st in zip(shape, start, out, strides)]
    zero = values.scalar(0, values.element(cts[0]))
    return [pad(cts[0], zero, start, high, [st - 1 for st in strides])]


def _pad_transpose(ctx, cts, operands):
    lo, hi = ctx.attrs.ints("edge_padding_low"), ctx.attrs.ints("edge_padding_high")
    interior = ctx.attrs.ints("interior_padding")
    ct = cts[0]
    zero = values.scalar(0, values.element(ct))
    unpadded = pad(ct, zero, [-a for a in lo], [-b for b in hi])
    shape = shape_of(unpadded)
    operand_ct = slice(unpadded, [0] * len(shape), shape, [c + 1 for c in interior])
    value_ct = None
    if ctx.linear[1]:
        from aotc.frontend.ops.reduction import reduce_binary

        dims = list(range(len(shape)))
        value_ct = ew.subtract(reduce_binary(ct, zero, dims, ew.add),
                               reduce_binary(operand_ct, zero, dims, ew.add))
    return [operand_ct, value_ct]


def _concatenate_transpose(ctx, cts, operands):
    dim = ctx.attrs.int("dimension")
    out = shape_of(cts[0])
    results, offset = [], 0
    for t, is_linear in zip(ctx.operand_types, ctx.linear):
        size = shape_of(t)[dim]
        if is_linear:
            start = [0] * len(out)
            limit = list(out)
            start[dim], limit[dim] = offset, offset + size
            results.append(slice(cts[0], start, limit))
        else:
            results.append(None)
        offset += size
    return results


def _reverse_transpose(ctx, cts, operands):
    return [reverse(cts[0], ctx.attrs.ints("dimensions"))]


def _dynamic_slice_transpose(ctx, cts, operands):
    operand = ctx.operand_types[0]
    zeros = values.zeros_like(ctx.like(0) if None in shape_of(operand) else operand)
    return [dynamic_update_slice(zeros, cts[0], operands[1:])] + [None] * (len(operands) - 1)


def _dynamic_update_slice_transpose(ctx, cts, operands):
    ct, starts = cts[0], operands[2:]
    update_type = ctx.operand_types[1]
    operand_ct = dynamic_update_slice(ct, values.zeros_like(update_type), starts)
    update_ct = dynamic_slice(ct, starts, shape_of(update_type)) if ctx.linear[1] else None
    return [operand_ct, update_ct] + [None] * len(starts)


deflinear("stablehlo.broadcast_in_dim", _broadcast_transpose)
deflinear("stablehlo.dynamic_broadcast_in_dim", _broadcast_transpose, operands=(0,))
deflinear("stablehlo.reshape", _reshape_transpose)
deflinear("stablehlo.dynamic_reshape", _reshape_transpose, operands=(0,))
deflinear("stablehlo.transpose", _transpose_transpose)
deflinear("stablehlo.slice", _slice_transpose)
deflinear("stablehlo.pad", _pad_transpose)  # in the operand and the padding value
deflinear("stablehlo.concatenate", _concatenate_transpose)
deflinear("stablehlo.reverse", _reverse_transpose)
deflinear("stablehlo.dynamic_slice", _dynamic_slice_transpose, operands=(0,))
deflinear("stablehlo.dynamic_update_slice", _dynamic_update_slice_transpose, operands=(0, 1))


# ---- batching rules (batch dimension first) ----------------------------------------------------


def _shift(dims) -> list[int]:
    return [d + 1 for d in dims]


def _with_size(size: int, shape_tensor: ir.Value) -> ir.Value:
    return concatenate([constant(np.array([size], np.int32)), shape_tensor], 0)


def _broadcast_batch(ctx, operands, batched):
    x = operands[0]
    shape = (ctx.size, *shape_of(ctx.op.results[0]))
    dims = [0, *_shift(ctx.attrs.ints("broadcast_dimensions"))]
    output = _with_size(ctx.size, operands[1]) if len(operands) > 1 else None
    return [broadcast_in_dim(x, shape, dims, output)], [True]


def _reshape_batch(ctx, operands, batched):
    shape = (ctx.size, *shape_of(ctx.op.results[0]))
    output = _with_size(ctx.size, operands[1]) if len(operands) > 1 else None
    return [reshape(operands[0], shape, output)], [True]


def _transpose_batch(ctx, operands, batched):
    return [transpose(operands[0], [0, *_shift(ctx.attrs.ints("permutation"))])], [True]


def _slice_batch(ctx, operands, batched):
    a = ctx.attrs
    return [slice(operands[0], [0, *a.ints("start_indices")],
                  [ctx.size, *a.ints("limit_indices")], [1, *a.ints("strides")])], [True]


def _reverse_batch(ctx, operands, batched):
    return [reverse(operands[0], _shift(ctx.attrs.ints("dimensions")))], [True]


def _concatenate_batch(ctx, operands, batched):
    parts = [v if b else values.broadcast_batch(v, ctx.size) for v, b in zip(operands, batched)]
    return [concatenate(parts, ctx.attrs.int("dimension") + 1)], [True]


def _get_dimension_size_batch(ctx, operands, batched):
    return [get_dimension_size(operands[0], ctx.attrs.int("dimension") + 1)], [False]


def _dynamic_iota_batch(ctx, operands, batched):
    raise TracingError(f"{location_text(ctx.op.location)}: vmap of an iota whose size depends "
                       "on the mapped axis: each lane would need its own length; compute the "
                       "size from unmapped arguments")


def _pad_batch(ctx, operands, batched):
    (x, value), size = operands, ctx.size
    lo, hi = ctx.attrs.ints("edge_padding_low"), ctx.attrs.ints("edge_padding_high")
    interior = ctx.attrs.ints("interior_padding")
    if not batched[0]:
        x = values.broadcast_batch(x, size)
    if not batched[1]:
        return [pad(x, value, [0, *lo], [0, *hi], [0, *interior])], [True]
    # a batched padding value: pad with zeros, then select each lane's value where padding went
    padded = pad(x, values.scalar(0, values.element(x)), [0, *lo], [0, *hi], [0, *interior])
    i1 = ir.IntegerType.get_signless(1)
    inside = values.full_like(tensor_type(shape_of(ctx.op.operands[0]), i1), True)
    mask = pad(inside, values.scalar(False, i1), lo, hi, interior)
    mask = values.broadcast_batch(mask, size)
    fill = broadcast_in_dim(value, shape_of(padded), [0])
    return [ew.select(mask, padded, fill)], [True]


def _dynamic_slice_batch(ctx, operands, batched):
    x, starts = operands[0], operands[1:]
    if any(batched[1:]):
        from aotc.frontend.ops.indexing import batched_dynamic_slice

        return [batched_dynamic_slice(x, batched[0], starts, batched[1:],
                                      ctx.attrs.ints("slice_sizes"), ctx.size)], [True]
    zero = values.scalar(0, values.element(starts[0]))
    return [dynamic_slice(x, [zero, *starts], [ctx.size, *ctx.attrs.ints("slice_sizes")])], [True]


def _dynamic_update_slice_batch(ctx, operands, batched):
    x, update, starts = operands[0], operands[1], operands[2:]
    if not batched[0]:
        x = values.broadcast_batch(x, ctx.size)
    if not batched[1]:
        update = values.broadcast_batch(update, ctx.size)
    if any(batched[2:]):
        from aotc.frontend.ops.indexing import batched_dynamic_update_slice

        return [batched_dynamic_update_slice(x, update, starts, batched[2:], ctx.size)], [True]
    zero = values.scalar(0, values.element(starts[0]))
    return [dynamic_update_slice(x, update, [zero, *starts])], [True]


register("batch", "stablehlo.broadcast_in_dim", _broadcast_batch)
register("batch", "stablehlo.dynamic_broadcast_in_dim", _broadcast_batch)
register("batch", "stablehlo.reshape", _reshape_batch)
register("batch", "stablehlo.dynamic_reshape", _reshape_batch)
register("batch", "stablehlo.transpose", _transpose_batch)
register("batch", "stablehlo.slice", _slice_batch)
register("batch", "stablehlo.reverse", _reverse_batch)
register("batch", "stablehlo.concatenate", _concatenate_batch)
register("batch", "stablehlo.get_dimension_size", _get_dimension_size_batch)
register("batch", "stablehlo.dynamic_iota", _dynamic_iota_batch)
register("batch", "stablehlo.pad", _pad_batch)
register("batch", "stablehlo.dynamic_slice", _dynamic_slice_batch)
register("batch", "stablehlo.dynamic_update_slice", _dynamic_update_slice_batch)


# ---- dims (aotc.passes.dims): which result dims are which operand dims ----


def _constant_dims(ctx):
    value = ctx.attrs.array("value")
    small = value.dtype.kind in "iu" and value.ndim <= 1 and value.size <= 16
    return [ctx.info(value.shape, [int(v) for v in value.ravel()] if small else None)]


def _broadcast_dims(ctx):
    shape = list(shape_of(ctx.op.results[0]))
    if ctx.op.name == "stablehlo.dynamic_broadcast_in_dim" and ctx.content(1) is not None:
        shape = [t if t is not None else c for t, c in zip(shape, ctx.content(1))]
    for i, d in enumerate(ctx.attrs.ints("broadcast_dimensions")):
        operand = ctx.dims(0)[i]
        if operand == 1 and shape[d] != 1:
            continue  # a 1 expands to any size
        shape[d] = operand if shape[d] is None else ctx.walker.unify(ctx.op, operand, shape[d])
    return [ctx.info(shape, ctx.content(0))]


def _reshape_dims(ctx):
    shape = list(shape_of(ctx.op.results[0]))
    if ctx.op.name == "stablehlo.dynamic_reshape" and ctx.content(1) is not None:
        shape = [t if t is not None else c for t, c in zip(shape, ctx.content(1))]
    unknown = [k for k, d in enumerate(shape) if d is None]
    if len(unknown) == 1:  # the one unknown dim is what the others leave of the operand's size
        known = [d for d in shape if d is not None]
        if all(isinstance(d, int) for d in known):
            shape[unknown[0]] = ctx.divide(ctx.product(ctx.dims(0)), ctx.product(known))
    return [ctx.info(shape, ctx.content(0))]


def _dynamic_iota_dims(ctx):
    typed = shape_of(ctx.op.results[0])
    content = ctx.content(0) or [None] * len(typed)
    return [[t if t is not None else c for t, c in zip(typed, content)]]


def _slice_dims(ctx):
    start, strides = ctx.attrs.ints("start_indices"), ctx.attrs.ints("strides")
    typed = shape_of(ctx.op.results[0])
    return [[ctx.dims(0)[k] if t is None and lo == 0 and st == 1 else None
             for k, (t, lo, st) in enumerate(zip(typed, start, strides))]]


def _concatenate_dims(ctx):
    dim = ctx.attrs.int("dimension")
    others = [k for k in range(len(ctx.dims(0))) if k != dim]
    shape = list(ctx.dims(0))
    for i in range(1, ctx.num_operands):
        for k in others:
            shape[k] = ctx.walker.unify(ctx.op, shape[k], ctx.dims(i)[k])
    sizes = [ctx.dims(i)[dim] for i in range(ctx.num_operands)]
    shape[dim] = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
    contents = [ctx.content(i) for i in range(ctx.num_operands)]
    joined = None if None in contents else [c for content in contents for c in content]
    return [ctx.info(shape, joined)]


def _pad_dims(ctx):
    lo, hi = ctx.attrs.ints("edge_padding_low"), ctx.attrs.ints("edge_padding_high")
    interior = ctx.attrs.ints("interior_padding")
    return [[d if (a, b, c) == (0, 0, 0) else None
             for d, a, b, c in zip(ctx.dims(0), lo, hi, interior)]]


register("dims", "stablehlo.constant", _constant_dims)
register("dims", "stablehlo.broadcast_in_dim", _broadcast_dims)
register("dims", "stablehlo.dynamic_broadcast_in_dim", _broadcast_dims)
register("dims", "stablehlo.reshape", _reshape_dims)
register("dims", "stablehlo.dynamic_reshape", _reshape_dims)
register("dims", "stablehlo.transpose",
         lambda ctx: [[ctx.dims(0)[p] for p in ctx.attrs.ints("permutation")]])
register("dims", "stablehlo.dynamic_iota", _dynamic_iota_dims)
register("dims", "stablehlo.get_dimension_size",
         lambda ctx: [ctx.info((), [ctx.dims(0)[ctx.attrs.int("dimension")]])])
register("dims", "stablehlo.slice", _slice_dims)
register("dims", "stablehlo.concatenate", _concatenate_dims)
register("dims", "stablehlo.pad", _pad_dims)
register("dims", "stablehlo.reverse", lambda ctx: [ctx.dims(0)])
register("dims", "stablehlo.dynamic_update_slice", lambda ctx: [ctx.dims(0)])


# ---- bounds legalization: start indices clamped before IREE sees them -------------------------


def start_bound(x: ir.Value, dim: int, size, element: ir.Type):
    """The largest in-bounds start of a window of `size` (an int, or a 0-d i32 value) along
    x's `dim`, as an int when static, else as a 0-d value of the integer type `element`; either
    saturates at the type's maximum (a narrow index cannot exceed it anyway)."""
    top = int(np.iinfo(dtypes.from_mlir(element)).max)
    n = shape_of(x)[dim]
    if n is not None and isinstance(size, int):
        return min(n - size, top)
    i32 = ir.IntegerType.get_signless(32)
    n = get_dimension_size(x, dim) if n is None else values.scalar(n, i32)
    high = ew.subtract(n, values.scalar(size, i32) if isinstance(size, int) else size)
    if top < 2**31 - 1:
        high = ew.minimum(high, values.scalar(top, i32))
    return ew.convert(high, element)


def constant_ints(v: ir.Value) -> np.ndarray | None:
    """The value of a `stablehlo.constant` operand (or a reshape of one), else None."""
    owner = v.owner.operation if isinstance(v, ir.OpResult) else None
    if owner is not None and owner.name == "stablehlo.reshape":
        inner = constant_ints(owner.operands[0])
        return None if inner is None else inner.reshape(shape_of(v))
    if owner is None or owner.name != "stablehlo.constant":
        return None
    value = np.asarray(ir.DenseElementsAttr(owner.attributes["value"]))
    return np.broadcast_to(value, shape_of(v))  # a splat reads back as one element


def clamp_start(x: ir.Value, dim: int, start: ir.Value, size) -> ir.Value:
    """A 0-d start index clamped into [0, x.shape[dim] - size] (StableHLO's dynamic_slice and
    dynamic_update_slice rule); a constant already in range is returned as it is."""
    element = values.element(start)
    high = start_bound(x, dim, size, element)
    known = constant_ints(start)
    if known is not None and isinstance(high, int) and 0 <= int(known) <= high:
        return start
    if isinstance(high, int):
        high = values.scalar(high, element)
    # minimum(maximum(...)), not stablehlo.clamp: IREE 3.13 computes 0-d integer max/min on the
    # host but runs a clamp as a device dispatch whose result the host then reads back, one
    # device round-trip per step of a loop that slices at its counter.
    return ew.minimum(ew.maximum(start, values.scalar(0, element)), high)


def window_size(update: ir.Value, dim: int):
    """update's size along dim: an int, or a 0-d i32 value when dynamic."""
    n = shape_of(update)[dim]
    return n if n is not None else get_dimension_size(update, dim)


def _dynamic_slice_bounds(ctx, operands):
    x, starts, sizes = operands[0], operands[1:], ctx.attrs.ints("slice_sizes")
    clamped = [clamp_start(x, d, s, n) for d, (s, n) in enumerate(zip(starts, sizes))]
    if clamped == list(starts):
        return None
    return list(values.clone_with(ctx.op, [x, *clamped], ctx.result_types).results)


def _dynamic_update_slice_bounds(ctx, operands):
    x, update, starts = operands[0], operands[1], operands[2:]
    clamped = [clamp_start(x, d, s, window_size(update, d)) for d, s in enumerate(starts)]
    if clamped == list(starts):
        return None
    return list(values.clone_with(ctx.op, [x, update, *clamped], ctx.result_types).results)


register("bounds", "stablehlo.dynamic_slice", _dynamic_slice_bounds)
register("bounds", "stablehlo.dynamic_update_slice", _dynamic_update_slice_bounds)


def _dynamic_reshape_bounds(ctx, operands):
    """IREE 3.13 cannot lower stablehlo.dynamic_reshape: flatten with tensor.collapse_shape and
    split again with tensor.expand_shape (both metadata-only), the dynamic output sizes read
    from the shape operand."""
    x, sizes = operands
    result = ctx.result_types[0]
    in_shape, out_shape = shape_of(x), shape_of(result)
    loc = ctx.op.location
    dynamic = ir.ShapedType.get_dynamic_size()
    flat_size = None if None in in_shape else int(np.prod(in_shape, dtype=np.int64))
    flat = x
    if len(in_shape) != 1:
        flat_type = tensor_type((flat_size,), _element(x))
        groups = ir.ArrayAttr.get([i64_array_attr(range(len(in_shape)))])
        flat = ir.Operation.create("tensor.collapse_shape", results=[flat_type], operands=[x],
                                   attributes={"reassociation": groups}, loc=loc).result
    if len(out_shape) == 1:
        if shape_of(flat) == out_shape:
            return [flat]
        return [ir.Operation.create("tensor.cast", results=[result], operands=[flat],
                                    loc=loc).result]
    index = ir.IndexType.get()
    extents = []
    for i, d in enumerate(out_shape):
        if d is not None:
            continue
        position = ir.Operation.create("arith.constant", results=[index], attributes={
            "value": ir.IntegerAttr.get(index, i)}, loc=loc).result
        size = ir.Operation.create("tensor.extract", results=[_element(sizes)],
                                   operands=[sizes, position], loc=loc).result
        extents.append(ir.Operation.create("arith.index_cast", results=[index], operands=[size],
                                           loc=loc).result)
    groups = ir.ArrayAttr.get([i64_array_attr(range(len(out_shape)))])
    static = i64_array([dynamic if d is None else d for d in out_shape])
    return [ir.Operation.create("tensor.expand_shape", results=[result],
                                operands=[flat, *extents],
                                attributes={"reassociation": groups, "static_output_shape": static},
                                loc=loc).result]


def i64_array_attr(values) -> ir.Attribute:
    """An ArrayAttr of i64 IntegerAttrs (tensor.collapse_shape's reassociation groups)."""
    return ir.ArrayAttr.get([i64(v) for v in values])


register("bounds", "stablehlo.dynamic_reshape", _dynamic_reshape_bounds)


# ---- SPMD partitioning (aotc.passes.sharding) ----


def _everywhere_shard(ctx, operands):
    return ctx.everywhere()  # replicated; a consumer that wants blocks slices them locally


def _broadcast_shard(ctx, operands):
    """Operand dims keep their split in the result; an expanded size-1 dim and the new dims are
    replicated (each device broadcasts its block)."""
    (x,) = operands
    dims = ctx.attrs.ints("broadcast_dimensions")
    shape, out_shape = shape_of(ctx.op.operands[0]), shape_of(ctx.op.results[0])
    spec, out = list(x.spec), [()] * len(out_shape)
    for i, d in enumerate(dims):
        if shape[i] != out_shape[d]:
            spec[i] = ()
        out[d] = spec[i]
    return ctx.local([ctx.reshard(x, spec)], [out])


def _reshape_target(shape, out_shape, spec, axes_size) -> tuple[list, list]:
    """(operand spec, result spec) of a local reshape: a split dim keeps its split when it maps
    onto one result dim whole (same prefix size; merged with minor dims or split into minor
    dims, the result dim divisible); other splits are dropped (gathered first)."""
    def prefix(dims):  # prefix[i]: the product of dims before i (len(dims) + 1 entries)
        out = [1]
        for d in dims:
            out.append(out[-1] * d)
        return out

    pre_in, pre_out = prefix(shape), prefix(out_shape)
    keep, out = list(spec), [()] * len(out_shape)
    for i, axes in enumerate(spec):
        if not axes:
            continue
        j = next((j for j in range(len(out_shape))
                  if pre_out[j] == pre_in[i] and out_shape[j] > 1), None)
        whole = j is not None and out[j] == () and (
            pre_in[i + 1] in pre_out[j + 1:] or pre_out[j + 1] in pre_in[i + 1:])
        if whole and out_shape[j] % axes_size(axes) == 0:
            out[j] = axes
        else:
            keep[i] = ()
    return keep, out


def _reshape_shard(ctx, operands):
    (x,) = operands
    keep, out = _reshape_target(shape_of(ctx.op.operands[0]), shape_of(ctx.op.results[0]),
                                x.spec, ctx.axes_size)
    return ctx.local([ctx.reshard(x, keep)], [out])


def _transpose_shard(ctx, operands):
    (x,) = operands
    return ctx.local([x], [[x.spec[d] for d in ctx.attrs.ints("permutation")]])


def _slice_shard(ctx, operands):
    """Dims taken whole keep their split (each device slices its blocks); sliced dims are
    replicated first."""
    (x,) = operands
    shape = shape_of(ctx.op.operands[0])
    start, limit = ctx.attrs.ints("start_indices"), ctx.attrs.ints("limit_indices")
    strides = ctx.attrs.ints("strides") or [1] * len(shape)
    whole = [s == 0 and e == n and k == 1 for s, e, k, n in zip(start, limit, strides, shape)]
    x = ctx.reshard(x, [axes if w else () for axes, w in zip(x.spec, whole)])
    blocks = []
    for b in x.blocks:
        local = shape_of(b)
        blocks.append(slice(b, start, [n if w else e for n, e, w in zip(local, limit, whole)],
                            strides))
    return [ctx.sharded(x.spec, blocks)]


register("shard", "stablehlo.constant", _everywhere_shard)
register("shard", "stablehlo.iota", _everywhere_shard)
register("shard", "stablehlo.broadcast_in_dim", _broadcast_shard)
register("shard", "stablehlo.reshape", _reshape_shard)
register("shard", "stablehlo.transpose", _transpose_shard)
register("shard", "stablehlo.slice", _slice_shard)
