"""Contractions: dot_general (convolution lives in conv.py)."""

import re

import numpy as np

from aotc.frontend.core.emit import Attrs, emit1, with_element
from aotc.frontend.core.ir import ir, shape_of, tensor_type
from aotc.frontend.core.registry import defop, register
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import tensors as values
from aotc.frontend.ops.rules import defbilinear
from aotc.frontend.ops.shape import transpose

_DIMS = ("lhs_batching_dimensions", "rhs_batching_dimensions",
         "lhs_contracting_dimensions", "rhs_contracting_dimensions")


def dot_dimensions(attr_text: str) -> dict[str, list[int]]:
    """Parse '#stablehlo.dot<lhs_batching_dimensions = [0], ...>' into lists (absent = [])."""
    found = {k: [int(d) for d in v.split(",") if d.strip()]
             for k, v in re.findall(r"(\w+) = \[([\d, ]*)\]", attr_text)}
    return {k: found.get(k, []) for k in _DIMS}


def _free(rank, batch, contract):
    return [d for d in range(rank) if d not in batch and d not in contract]


def _dot_general_type(types, attrs):
    dims = dot_dimensions(attrs.text("dot_dimension_numbers"))
    lhs, rhs = shape_of(types[0]), shape_of(types[1])
    lb, rb, lc, rc = (dims[k] for k in _DIMS)
    shape = [lhs[d] for d in lb] + [lhs[d] for d in _free(len(lhs), lb, lc)]
    shape += [rhs[d] for d in _free(len(rhs), rb, rc)]
    return [tensor_type(shape, ir.RankedTensorType(types[0]).element_type)]


def _dot_general_impl(ctx, lhs, rhs):
    dims = dot_dimensions(ctx.attrs.text("dot_dimension_numbers"))
    lb, rb, lc, rc = (dims[k] for k in _DIMS)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    lhs_sub = [next(letters) for _ in range(lhs.ndim)]
    rhs_sub = [next(letters) for _ in range(rhs.ndim)]
    for left, right in zip(lb + lc, rb + rc):
        rhs_sub[right] = lhs_sub[left]
    out = [lhs_sub[d] for d in lb] + [lhs_sub[d] for d in _free(lhs.ndim, lb, lc)]
    out += [rhs_sub[d] for d in _free(rhs.ndim, rb, rc)]
    spec = f"{''.join(lhs_sub)},{''.join(rhs_sub)}->{''.join(out)}"
    if lhs.dtype.itemsize == 2 and lhs.dtype.kind in "fV":
        # f16 / bf16 products in float32, as XLA and IREE compute them: numpy's float16 einsum
        # returns float16, which lost a preferred_element_type=f32 result's precision (5e-4
        # off JAX); numpy has no bfloat16 loop at all
        lhs, rhs = lhs.astype(np.float32), rhs.astype(np.float32)
    return np.einsum(spec, lhs, rhs)


defop("stablehlo.dot_general", _dot_general_type, _dot_general_impl)


def dot_general(lhs: ir.Value, rhs: ir.Value, contracting, batch=((), ()),
                element: ir.Type | None = None) -> ir.Value:
    """`stablehlo.dot_general`: result dims are batch, lhs free, rhs free (in that order).
    `element`: the result's element type (JAX's preferred_element_type; default the lhs's)."""
    (lc, rc), (lb, rb) = contracting, batch
    text = ", ".join(f"{name} = [{', '.join(str(d) for d in dims)}]"
                     for name, dims in zip(_DIMS, (lb, rb, lc, rc)) if dims)
    attributes = {"dot_dimension_numbers": ir.Attribute.parse(f"#stablehlo.dot<{text}>")}
    (result,) = _dot_general_type([lhs.type, rhs.type], Attrs(attributes))
    if element is not None:
        result = with_element(result, element)
    return emit1("stablehlo.dot_general", [lhs, rhs], attributes, result_types=[result])


# ---- autodiff rules ----------------------------------------------------------------------------



def _ranges_like(*lists):
    start = 0
    for items in lists:
        yield list(range(start, start + len(items)))
        start += len(items)


def _transpose_lhs(ct, y, x_rank, y_rank, x_contract, y_contract, x_batch, y_batch, swap=False):
    """JAX's _dot_general_transpose_lhs: the cotangent of the lhs of a dot_general."""
    x_kept = _free(x_rank, x_batch, x_contract)
    y_kept = _free(y_rank, y_batch, y_contract)
    if swap:
        ans_batch, ans_y, _ = _ranges_like(x_batch, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(x_batch, x_kept, y_kept)
    x_contract_sorted_by_y = [x_contract[i] for i in np.argsort(y_contract)]
    out_axes = np.argsort(list(x_batch) + x_kept + x_contract_sorted_by_y)
    if values.element(y.type) != values.element(ct.type):  # mixed precision: y is upcast
        y = ew.convert(y, values.element(ct.type))
    result = dot_general(ct, y, (ans_y, y_kept), (ans_batch, y_batch))
    return transpose(result, [int(a) for a in out_axes])


def _dimensions_and_ranks(ctx):
    dims = dot_dimensions(ctx.attrs.text("dot_dimension_numbers"))
    return [dims[k] for k in _DIMS], [len(shape_of(t)) for t in ctx.operand_types]


def _as_element_of(v: ir.Value, t: ir.Type) -> ir.Value:
    """A cotangent converted to its operand's element type (bf16 operands of an f32 dot)."""
    element = values.element(t)
    return v if values.element(v.type) == element else ew.convert(v, element)


def _dot_general_transpose_lhs(ctx, ct, y):
    (lb, rb, lc, rc), (x_rank, y_rank) = _dimensions_and_ranks(ctx)
    return _as_element_of(_transpose_lhs(ct, y, x_rank, y_rank, lc, rc, lb, rb),
                          ctx.operand_types[0])


def _dot_general_transpose_rhs(ctx, ct, x):
    (lb, rb, lc, rc), (x_rank, y_rank) = _dimensions_and_ranks(ctx)
    return _as_element_of(_transpose_lhs(ct, x, y_rank, x_rank, rc, lc, rb, lb, swap=True),
                          ctx.operand_types[1])


defbilinear("stablehlo.dot_general", _dot_general_transpose_lhs, _dot_general_transpose_rhs)


def _dot_general_batch(ctx, operands, batched):
    """Both batched: one more batching dimension. One batched: its batch dim is a free dim that
    lands after the batching dims in the result; move it to the front."""
    (x, y), (bx, by) = operands, batched
    dims = dot_dimensions(ctx.attrs.text("dot_dimension_numbers"))
    lb, rb, lc, rc = (dims[k] for k in _DIMS)
    shift = lambda ds, on: [d + 1 for d in ds] if on else list(ds)
    contracting = (shift(lc, bx), shift(rc, by))
    element = values.element(ctx.result_types[0])  # kept: a preferred element type
    if bx and by:
        return [dot_general(x, y, contracting, ([0, *shift(lb, True)], [0, *shift(rb, True)]),
                            element)], [True]
    out = dot_general(x, y, contracting, (shift(lb, bx), shift(rb, by)), element)
    if bx:
        position = len(lb)
    else:
        lhs_free = len(shape_of(x)) - len(lb) - len(lc)
        position = len(lb) + lhs_free
    return [values.move_axis(out, position, 0) if position else out], [True]


register("batch", "stablehlo.dot_general", _dot_general_batch)


# ---- dims (aotc.passes.dims): batch and contracting dims pair up ----


def _dot_general_dims(ctx):
    dims = dot_dimensions(ctx.attrs.text("dot_dimension_numbers"))
    lb, rb, lc, rc = (dims[k] for k in _DIMS)
    batch = [ctx.equal(0, a, 1, b) for a, b in zip(lb, rb)]
    for a, b in zip(lc, rc):
        ctx.equal(0, a, 1, b)
    lhs, rhs = ctx.dims(0), ctx.dims(1)
    return [batch + [lhs[d] for d in _free(len(lhs), lb, lc)]
            + [rhs[d] for d in _free(len(rhs), rb, rc)]]


register("dims", "stablehlo.dot_general", _dot_general_dims)


# ---- SPMD partitioning (aotc.passes.sharding) ----


def _dot_general_shard(ctx, operands):
    """Batch and contracting dims are split alike on both sides (the lhs's split wins, a
    replicated side is sliced for free), free dims keep theirs where no mesh axis is taken twice.
    A split contraction leaves partial sums: a local dot, then an all-reduce over its axes
    (Megatron's row-parallel matmul; the weight gradient of data parallelism)."""
    lhs, rhs = operands
    dims = dot_dimensions(ctx.attrs.text("dot_dimension_numbers"))
    lb, rb, lc, rc = (dims[k] for k in _DIMS)
    lshape, rshape = shape_of(ctx.op.operands[0]), shape_of(ctx.op.operands[1])
    lspec, rspec, used = list(lhs.spec), list(rhs.spec), set()

    def claim(axes, *sizes):
        if not axes or used.intersection(axes) or any(n % ctx.axes_size(axes) for n in sizes):
            return ()
        used.update(axes)
        return axes

    for left, right in zip(lb + lc, rb + rc):
        lspec[left] = rspec[right] = claim(lspec[left] or rspec[right], lshape[left])
    for d in _free(len(lshape), lb, lc):
        lspec[d] = claim(lspec[d], lshape[d])
    for d in _free(len(rshape), rb, rc):
        rspec[d] = claim(rspec[d], rshape[d])
    out = ([lspec[d] for d in lb] + [lspec[d] for d in _free(len(lshape), lb, lc)]
           + [rspec[d] for d in _free(len(rshape), rb, rc)])
    (result,) = ctx.local([ctx.reshard(lhs, lspec), ctx.reshard(rhs, rspec)], [out])
    return [ctx.all_reduce(result, [a for d in lc for a in lspec[d]], "sum")]


register("shard", "stablehlo.dot_general", _dot_general_shard)
